"""The models of tests/apps/openapi_details.py (a module of their own: handler modules are compiled, models stay
interpreted)."""

from __future__ import annotations

from pydantic import BaseModel


class Item(BaseModel):
    name: str
    price: float = 0.0


class Blob(BaseModel):
    data: bytes

    model_config = {"val_json_bytes": "base64", "ser_json_bytes": "base64"}
