"""The parameter models of tests/apps/parammodels.py (a module that defines pydantic models stays interpreted in a
build)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class FilterParams(BaseModel):
    limit: int = Field(100, gt=0, le=100)
    offset: int = Field(0, ge=0)
    order_by: Literal["created_at", "updated_at"] = "created_at"
    tags: list[str] = []


class StrictFilter(BaseModel):
    model_config = {"extra": "forbid"}

    limit: int = 10
    tags: list[str] = []


class DateRange(BaseModel):
    start: date
    end: date


class CommonHeaders(BaseModel):
    host: str
    save_data: bool
    if_modified_since: str | None = None
    x_tag: list[str] = []


class StrictHeaders(BaseModel):
    model_config = {"extra": "forbid"}

    host: str
    x_token: str


class Aliased(BaseModel):
    item_query: str = Field(alias="item-query")


class Cookies(BaseModel):
    session_id: str
    tracker: str | None = None


class Preferences(BaseModel):
    theme: str
    locale: str


class Login(BaseModel):
    model_config = {"extra": "forbid"}

    username: str
    password: str
    remember: bool = False


class Profile(BaseModel):
    name: str
    tags: list[str] = []


class Person(BaseModel):
    kind: Literal["person"]
    name: str
    tags: list[str] = []


class Company(BaseModel):
    kind: Literal["company"]
    company_name: str
