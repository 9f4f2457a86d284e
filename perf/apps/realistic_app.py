"""Routes that do what users' handlers do (issue 19): aggregate typed records, work on strings, run a CRUD step
with branching, call a helper module of the app, compute. perf/realistic.py measures them interpreted and compiled.

The handlers are ``async def``, as most FastAPI apps' are: they run on the loop (a ``def`` would add the thread
pool's hop to each request, the same interpreted or compiled).
"""

from __future__ import annotations

from dataclasses import dataclass

from realistic_models import Document, DocumentSummary, OrderIn, OrderOut
from realistic_text import parse_record, slugify, word_counts

from covet import Covet, HTTPException

app = Covet()


@dataclass
class Sale:
    region: str
    product: str
    units: int
    price: float


@dataclass
class RegionTotal:
    region: str
    units: int
    revenue: float
    best_product: str


@app.post("/aggregate")
async def aggregate(sales: list[Sale]) -> list[RegionTotal]:
    """Group a few hundred records by region: units, revenue, the best-selling product; sorted by revenue."""
    units: dict[str, int] = {}
    revenue: dict[str, float] = {}
    by_product: dict[str, dict[str, int]] = {}
    for s in sales:
        units[s.region] = units.get(s.region, 0) + s.units
        revenue[s.region] = revenue.get(s.region, 0.0) + s.units * s.price
        products = by_product.setdefault(s.region, {})
        products[s.product] = products.get(s.product, 0) + s.units
    out: list[RegionTotal] = []
    for region, n in units.items():
        products = by_product[region]
        best = ""
        most = -1
        for product, count in products.items():
            if count > most or (count == most and product < best):
                best, most = product, count
        out.append(RegionTotal(region, n, round(revenue[region], 2), best))
    out.sort(key=lambda t: (-t.revenue, t.region))
    return out


@app.post("/text")
async def text(doc: Document) -> DocumentSummary:
    """Slug, word counts and the five commonest words, and a small text format parsed (the helper module's)."""
    counts = word_counts(doc.body)
    top = sorted(counts, key=lambda w: (-counts[w], w))[:5]
    records: dict[str, dict[str, str]] = {}
    for line in doc.records:
        name, fields = parse_record(line)
        if name:
            records[name] = fields
    headline = f"{doc.title.strip().title()} ({sum(counts.values())} words, {len(records)} records)"
    return DocumentSummary(slug=slugify(doc.title), words=sum(counts.values()), top=top, records=records,
                           headline=headline)


PRICES: dict[str, float] = {f"sku-{n}": 1.5 + n * 0.25 for n in range(50)}
ORDERS: dict[int, OrderOut] = {}


@app.post("/orders", status_code=201)
async def create_order(order: OrderIn) -> OrderOut:
    """Price an order: unknown products refused, a coupon's rules, free shipping past a threshold."""
    lines: list[str] = []
    subtotal = 0.0
    for sku, qty in sorted(order.items.items()):
        price = PRICES.get(sku)
        if price is None:
            raise HTTPException(422, f"unknown product {sku}")
        if qty <= 0:
            raise HTTPException(422, f"{sku}: a quantity of at least 1")
        subtotal += price * qty
        lines.append(f"{qty} x {sku} @ {price:.2f}")
    discount = 0.0
    if order.coupon == "TEN" and subtotal >= 20:
        discount = round(subtotal * 0.10, 2)
    elif order.coupon == "FIVEOFF":
        discount = min(5.0, subtotal)
    elif order.coupon is not None:
        raise HTTPException(422, f"coupon {order.coupon} is not valid")
    shipping = 0.0 if subtotal - discount >= 50 else (9.5 if order.express else 4.5)
    total = round(subtotal - discount + shipping, 2)
    status = "review" if total > 500 else "accepted"
    out = OrderOut(id=len(ORDERS) + 1, customer=order.customer.strip(), lines=lines, subtotal=round(subtotal, 2),
                   discount=discount, shipping=shipping, total=total, status=status)
    ORDERS[out.id % 100] = out  # (bounded: a benchmark sends the same order many times)
    return out


@app.get("/primes/{limit}")
async def primes(limit: int) -> dict[str, int]:
    """Compute: a sieve to ``limit`` (the tight typed loop)."""
    if limit < 2 or limit > 1_000_000:
        raise HTTPException(422, "limit between 2 and 1,000,000")
    sieve = [True] * (limit + 1)
    sieve[0] = sieve[1] = False
    i = 2
    while i * i <= limit:
        if sieve[i]:
            j = i * i
            while j <= limit:
                sieve[j] = False
                j += i
        i += 1
    count = 0
    last = 0
    for n in range(limit + 1):
        if sieve[n]:
            count += 1
            last = n
    return {"count": count, "last": last}
