"""The message types of tests/apps/ws.py: pydantic models stay interpreted, apart from the compiled handlers."""

from __future__ import annotations

from pydantic import BaseModel


class Move(BaseModel):
    x: int
    y: int
