"""The body model of tests/apps/secured.py, kept out of the compiled module (mypyc 2.4.1 fails on a BaseModel
subclass in a compiled module: ``CPyModule_pydantic___main``)."""

from pydantic import BaseModel


class Item(BaseModel):
    name: str
    price: float
