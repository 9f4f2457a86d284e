"""The pydantic models of perf/apps/realistic_app.py: in a module of their own, which stays interpreted, so that
`covet build` compiles the handlers (mypyc would erase a compiled model's field types)."""

from __future__ import annotations

from pydantic import BaseModel


class Document(BaseModel):
    title: str
    body: str
    records: list[str]


class DocumentSummary(BaseModel):
    slug: str
    words: int
    top: list[str]
    records: dict[str, dict[str, str]]
    headline: str


class OrderIn(BaseModel):
    customer: str
    items: dict[str, int]
    coupon: str | None = None
    express: bool = False


class OrderOut(BaseModel):
    id: int
    customer: str
    lines: list[str]
    subtotal: float
    discount: float
    shipping: float
    total: float
    status: str
