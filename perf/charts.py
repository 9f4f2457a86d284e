"""Bar charts of a benchmark run, one PNG per endpoint, for docs/performance.md."""

from __future__ import annotations

from pathlib import Path


def bar_charts(summary: dict[tuple[str, str], dict[str, float]], targets: list[str], endpoints: list[str],
               out_dir: Path, title_suffix: str = "") -> list[Path]:
    """Write ``bench-<endpoint>.png`` files; returns their paths (none without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ep in endpoints:
        rows = [(t, summary[(t, ep)]) for t in targets if (t, ep) in summary]
        if not rows:
            continue
        rows.sort(key=lambda r: r[1]["rps"])
        names = [r[0] for r in rows]
        rps = [r[1]["rps"] / 1000 for r in rows]
        cpu = [r[1]["cpu_us_per_req"] for r in rows]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
        colors = ["#d9480f" if n.startswith("covet") else ("#495057" if n == "nginx" else "#74c0fc") for n in names]
        bars = ax.barh(names, rps, color=colors)
        for bar, value, us in zip(bars, rps, cpu, strict=True):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value:.1f}k  ({us:.1f} µs CPU/req)",
                    va="center", fontsize=8)
        ax.set_xlabel("requests per second (thousands), median")
        ax.set_title(f"{ep}{title_suffix}")
        ax.set_xlim(0, max(rps) * 1.45)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        path = out_dir / f"bench-{ep}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
