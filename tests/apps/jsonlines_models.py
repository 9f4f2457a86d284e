"""The item model of tests/apps/jsonlines.py (a module that defines pydantic models stays interpreted in a build)."""

from pydantic import BaseModel


class Item(BaseModel):
    name: str
    description: str | None = None
