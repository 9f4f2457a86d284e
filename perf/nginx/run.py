"""Start nginx in the foreground on a port: `python perf/nginx/run.py PORT [--http2 | --ssl CERT KEY]`.

``--http2``: the port speaks HTTP/2 with prior knowledge (perf/h2_bench.py) instead of HTTP/1.1.
``--ssl CERT KEY``: the port speaks HTTPS (HTTP/1.1, TLS 1.2 and 1.3) with that certificate (perf/serving.py).

Fills perf/nginx/nginx.conf in with the port and a scratch directory, then execs nginx, so the
benchmark sees nginx's master process (its one worker being that process's child).
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def main() -> None:
    port = int(sys.argv[1])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    base = Path(tempfile.gettempdir()) / "covet-bench-nginx"
    for old in base.glob("*"):  # scratch directories of nginx runs that are over
        if not alive(old / "nginx.pid"):
            shutil.rmtree(old, ignore_errors=True)
    tmp = base / str(port)
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    args = sys.argv[2:]
    listen = f"{port} http2" if "--http2" in args else str(port)
    ssl = ""
    if "--ssl" in args:
        cert, key = args[args.index("--ssl") + 1:args.index("--ssl") + 3]
        listen += " ssl"
        ssl = (f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
               "        ssl_protocols TLSv1.2 TLSv1.3;\n")
    text = (HERE / "nginx.conf").read_text().replace("{port}", listen).replace("{ssl}", ssl)
    conf.write_text(text.replace("{tmp}", str(tmp)))
    os.execv(nginx, [nginx, "-e", "stderr", "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"])


if __name__ == "__main__":
    main()
