"""The pydantic models of tests/apps/fastsig.py."""

from pydantic import BaseModel, Field


class Item(BaseModel):
    name: str
    description: str | None = None
    price: float
    tax: float = 10.5
    tags: list[str] = []


class UserIn(BaseModel):
    username: str
    password: str
    email: str
    full_name: str | None = None


class UserOut(BaseModel):
    username: str
    email: str
    full_name: str | None = None


class Message(BaseModel):
    message: str


class User(BaseModel):
    username: str
    full_name: str | None = None


class Aliased(BaseModel):
    item_name: str = Field(alias="itemName")
