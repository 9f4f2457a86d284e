"""covet.security's schemes, class providers, Security scopes and app-level dependencies, for
tests/test_security.py: served interpreted and compiled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from covet import Covet, Depends, Header, HTTPError, Query, Router, Security
from covet.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    OpenIdConnect,
    SecurityScopes,
)
from secured_models import Item  # served from tests/apps, or built as a project of its own

seen: list[str] = []


def trace(x_trace: Annotated[str, Header()] = "") -> None:
    """Runs before every route (the application's own dependency)."""
    if x_trace == "refuse":
        raise HTTPError(418, "refused by the application's dependency")
    if x_trace:
        seen.append(x_trace)


app = Covet(dependencies=[Depends(trace)])


@app.get("/seen")
def get_seen() -> list[str]:
    return seen


# -- classes as providers ----------------------------------------------------------------------------


class CommonQueryParams:
    def __init__(self, q: str | None = None, skip: int = 0, limit: Annotated[int, Query(le=100)] = 100) -> None:
        self.q = q
        self.skip = skip
        self.limit = limit


@app.get("/items")
def items(commons: Annotated[CommonQueryParams, Depends()]) -> dict[str, Any]:
    return {"q": commons.q, "skip": commons.skip, "limit": commons.limit}


@app.get("/items/strict")
def items_strict(commons: Annotated[CommonQueryParams, Depends(CommonQueryParams)]) -> dict[str, Any]:
    return {"q": commons.q, "skip": commons.skip, "limit": commons.limit}


class Prefixed:
    """A callable instance with parameters of its own."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, word: str = "x") -> str:
        return self.prefix + word


prefixed = Prefixed("pre-")


@app.get("/prefixed")
def get_prefixed(value: Annotated[str, Depends(prefixed)]) -> str:
    return value


# -- OAuth2 password flow ----------------------------------------------------------------------------

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read yourself.", "items": "Read items."})


@app.post("/token")
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
    if form.password != "secret":
        raise HTTPError(400, "Incorrect username or password")
    return {"access_token": f"{form.username}:{' '.join(form.scopes)}", "token_type": "bearer",
            "grant_type": form.grant_type, "client_id": form.client_id}


@app.post("/token/strict")
def login_strict(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]) -> dict[str, Any]:
    return {"username": form.username, "grant_type": form.grant_type}


@app.get("/token/read")
def read_token(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, str]:
    return {"token": token}


@app.post("/items")
def create_item(token: Annotated[str, Depends(oauth2_scheme)], item: Item) -> dict[str, Any]:
    """A body that does not validate is a 422 only once the token is there: the 401 comes first."""
    return {"token": token, "name": item.name}


def page(n: Annotated[int, Query(ge=1)] = 1) -> int:
    return n


@app.get("/paged")
def paged(n: Annotated[int, Depends(page)], token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    return {"n": n, "token": token}


def current_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    user, _, granted = token.partition(":")
    for scope in security_scopes.scopes:
        if scope not in granted.split():
            challenge = f'Bearer scope="{security_scopes.scope_str}"'
            raise HTTPError(401, "Not enough permissions", headers={"WWW-Authenticate": challenge})
    return {"user": user, "required": security_scopes.scopes}


def active_user(user: Annotated[dict[str, Any], Security(current_user, scopes=["me"])]) -> dict[str, Any]:
    return user


@app.get("/users/me")
def read_me(user: Annotated[dict[str, Any], Depends(active_user)]) -> dict[str, Any]:
    return user


@app.get("/users/me/items")
def read_my_items(user: Annotated[dict[str, Any], Security(active_user, scopes=["items"])]) -> dict[str, Any]:
    return user


optional_oauth2 = OAuth2PasswordBearer(tokenUrl="token", scheme_name="Optional", auto_error=False)


@app.get("/maybe")
def maybe(token: Annotated[str | None, Depends(optional_oauth2)]) -> dict[str, Any]:
    return {"token": token}


code_flow = OAuth2AuthorizationCodeBearer(authorizationUrl="https://auth.example/authorize",
                                          tokenUrl="https://auth.example/token", scopes={"read": "Read."})


@app.get("/code")
def code(token: Annotated[str, Depends(code_flow)]) -> dict[str, str]:
    return {"token": token}


oidc = OpenIdConnect(openIdConnectUrl="https://auth.example/.well-known/openid-configuration")


@app.get("/oidc")
def get_oidc(authorization: Annotated[str, Depends(oidc)]) -> str:
    return authorization


# -- HTTP schemes ------------------------------------------------------------------------------------

basic = HTTPBasic()
basic_realm = HTTPBasic(realm="staff area", scheme_name="StaffBasic", description="Staff only.")
basic_optional = HTTPBasic(scheme_name="OptionalBasic", auto_error=False)
bearer = HTTPBearer(bearerFormat="JWT")
bearer_optional = HTTPBearer(scheme_name="OptionalBearer", auto_error=False)
digest = HTTPDigest()


@app.get("/basic")
def get_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> dict[str, str]:
    return {"username": credentials.username, "password": credentials.password}


@app.get("/basic/realm")
def get_basic_realm(credentials: Annotated[HTTPBasicCredentials, Depends(basic_realm)]) -> str:
    return credentials.username


@app.get("/basic/optional")
def get_basic_optional(credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_optional)]) -> dict[str, Any]:
    return {"credentials": None if credentials is None else credentials.username}


@app.get("/bearer")
def get_bearer(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> dict[str, str]:
    return {"scheme": credentials.scheme, "credentials": credentials.credentials}


@app.get("/bearer/optional")
def get_bearer_optional(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_optional)]) -> dict[str, Any]:
    return {"credentials": None if credentials is None else credentials.credentials}


@app.get("/digest")
def get_digest(credentials: Annotated[HTTPAuthorizationCredentials, Depends(digest)]) -> dict[str, str]:
    return {"scheme": credentials.scheme, "credentials": credentials.credentials}


# -- API keys ----------------------------------------------------------------------------------------

key_header = APIKeyHeader(name="x-api-key")
key_query = APIKeyQuery(name="api_key")
key_cookie = APIKeyCookie(name="session")
key_optional = APIKeyHeader(name="x-api-key", scheme_name="OptionalKey", auto_error=False)


@app.get("/key/header")
def get_key_header(key: Annotated[str, Depends(key_header)]) -> str:
    return key


@app.get("/key/query")
def get_key_query(key: Annotated[str, Depends(key_query)]) -> str:
    return key


@app.get("/key/cookie")
def get_key_cookie(key: Annotated[str, Depends(key_cookie)]) -> str:
    return key


@app.get("/key/optional")
def get_key_optional(key: Annotated[str | None, Depends(key_optional)]) -> dict[str, Any]:
    return {"key": key}


# -- a router's dependency runs after the application's ----------------------------------------------


def router_check(x_router: Annotated[str, Header()] = "") -> Iterator[None]:
    seen.append(f"router {x_router}")
    yield


admin = Router(prefix="/admin", dependencies=[Depends(router_check)])


@admin.get("/ping", dependencies=[Depends(key_header)])
def ping() -> str:
    return "pong"


app.include_router(admin)


@dataclass
class Flags:
    verbose: bool = False


@app.get("/flags")
def flags(f: Annotated[Flags, Depends()]) -> dict[str, bool]:
    return {"verbose": f.verbose}
