"""FastAPI's parameter models (a pydantic model read field by field from the query, headers, cookies or form), for
tests/test_param_models.py: served interpreted and compiled. The models are in parammodels_models.py."""

from typing import Annotated, Any

from covet import Cookie, Covet, Depends, Form, Header, Query
from parammodels_models import (  # served from tests/apps, or built beside this
    Aliased,
    CommonHeaders,
    Company,
    Cookies,
    DateRange,
    FilterParams,
    Login,
    Person,
    Preferences,
    Profile,
    StrictFilter,
    StrictHeaders,
)

app = Covet()


@app.get("/items")
async def read_items(filter_query: Annotated[FilterParams, Query()]) -> FilterParams:
    return filter_query


@app.get("/strict")
def read_strict(filter_query: Annotated[StrictFilter, Query()]) -> StrictFilter:
    return filter_query


@app.get("/range")
async def read_range(limit: int = 10, date_range: Annotated[DateRange | None, Query()] = None) -> dict[str, Any]:
    return {"limit": limit, "date_range": date_range}


@app.get("/aliased")
async def read_aliased(q: Annotated[Aliased, Query()]) -> dict[str, str]:
    return {"item_query": q.item_query}


@app.get("/headers")
async def read_headers(headers: Annotated[CommonHeaders, Header()]) -> CommonHeaders:
    return headers


@app.get("/headers/raw")
async def read_raw_headers(headers: Annotated[CommonHeaders, Header(convert_underscores=False)]) -> CommonHeaders:
    return headers


@app.get("/headers/strict")
async def read_strict_headers(headers: Annotated[StrictHeaders, Header()]) -> dict[str, str]:
    return {"x_token": headers.x_token}


@app.get("/cookies")
async def read_cookies(cookies: Annotated[Cookies, Cookie()]) -> Cookies:
    return cookies


@app.get("/preferences")
async def read_preferences(preferences: Annotated[Preferences | None, Cookie()] = None) -> dict[str, Any]:
    return {"preferences": preferences}


@app.post("/login")
async def login(data: Annotated[Login, Form()]) -> Login:
    return data


@app.post("/profiles")
async def create_profile(profile: Annotated[Profile, Form()], token: Annotated[str, Form()]) -> dict[str, Any]:
    return {"profile": profile, "token": token}


@app.post("/contacts")
async def create_contact(contact: Annotated[Person | Company, Form(discriminator="kind")],
                         token: Annotated[str, Form()]) -> dict[str, Any]:
    return {"contact": contact, "token": token}


@app.post("/contacts/maybe")
async def maybe_contact(
        contact: Annotated[Person | Company | None, Form(discriminator="kind")] = None) -> dict[str, Any]:
    return {"contact": contact}


def paging(page: Annotated[FilterParams, Query()]) -> int:
    return page.limit * 1000 + page.offset


@app.get("/paged")
async def paged(at: Annotated[int, Depends(paging)]) -> dict[str, int]:
    return {"at": at}
