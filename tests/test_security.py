"""covet.security's schemes, class providers, Security scopes, app-level dependencies and overrides, on every
transport, interpreted and compiled (tests/apps/secured.py), and the order FastAPI answers in: a dependency that
refuses the request (401) is heard before the body's 422."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest

from conftest import TRANSPORTS, app_client, build_project
from covet import Covet, Depends, Security
from covet.exceptions import RouteDefinitionError
from covet.security import HTTPBasic, OAuth2PasswordBearer, SecurityScopes
from covet.testing import TestClient

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def built_secured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_project(tmp_path_factory, TESTS / "apps" / "secured.py", TESTS / "apps" / "secured_models.py")


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def sclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from app_client(request, "secured", "built_secured")


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def refused(r: Any, challenge: str) -> None:
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (401, {"detail": "Not authenticated"},
                                                                        challenge)


# -- classes and callable instances as providers -----------------------------------------------------------


def test_a_class_provider_takes_its_constructors_parameters(sclient: Any) -> None:
    assert sclient.get("/items", params={"q": "a", "skip": "2"}).json() == {"q": "a", "skip": 2, "limit": 100}
    assert sclient.get("/items/strict", params={"limit": "5"}).json() == {"q": None, "skip": 0, "limit": 5}
    r = sclient.get("/items/strict", params={"limit": "500"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "limit"]]
    assert sclient.get("/flags", params={"verbose": "true"}).json() == {"verbose": True}  # a dataclass


def test_a_callable_instance_takes_its_calls_parameters(sclient: Any) -> None:
    assert sclient.get("/prefixed", params={"word": "w"}).text == "pre-w"
    assert sclient.get("/prefixed").text == "pre-x"


# -- OAuth2 ------------------------------------------------------------------------------------------------


def test_the_password_form(sclient: Any) -> None:
    r = sclient.post("/token", data={"username": "ann", "password": "secret", "scope": "me  items",
                                     "grant_type": "password", "client_id": "cli"})
    assert r.json() == {"access_token": "ann:me items", "token_type": "bearer", "grant_type": "password",
                        "client_id": "cli"}
    r = sclient.post("/token", data={"username": "ann"})
    assert r.status_code == 422
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [("missing", ["body", "password"])]
    r = sclient.post("/token", data={"username": "ann", "password": "secret", "grant_type": "other"})
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [("string_pattern_mismatch", ["body", "grant_type"])]
    r = sclient.post("/token/strict", data={"username": "ann", "password": "secret"})
    assert [(e["type"], e["loc"]) for e in r.json()["detail"]] == [("missing", ["body", "grant_type"])]
    r = sclient.post("/token/strict", data={"username": "ann", "password": "secret", "grant_type": "password"})
    assert r.json() == {"username": "ann", "grant_type": "password"}


def test_the_bearer_token(sclient: Any) -> None:
    assert sclient.get("/token/read", headers={"authorization": "Bearer abc"}).json() == {"token": "abc"}
    assert sclient.get("/token/read", headers={"authorization": "bearer  abc"}).json() == {"token": "abc"}
    refused(sclient.get("/token/read"), "Bearer")
    refused(sclient.get("/token/read", headers={"authorization": "Basic abc"}), "Bearer")
    refused(sclient.get("/token/read", headers={"authorization": "Bearerabc"}), "Bearer")
    assert sclient.get("/code", headers={"authorization": "Bearer c"}).json() == {"token": "c"}
    refused(sclient.get("/code"), "Bearer")
    assert sclient.get("/oidc", headers={"authorization": "Bearer o"}).text == "Bearer o"
    refused(sclient.get("/oidc"), "Bearer")


def test_a_dependency_refuses_before_the_body_is_found_invalid(sclient: Any) -> None:
    refused(sclient.post("/items", json={"nope": 1}), "Bearer")
    r = sclient.post("/items", json={"nope": 1}, headers={"authorization": "Bearer t"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "name"], ["body", "price"]]
    r = sclient.post("/items", json={"name": "n", "price": 1}, headers={"authorization": "Bearer t"})
    assert r.json() == {"token": "t", "name": "n"}
    # A body that is not JSON at all is answered first, as FastAPI reads the body before solving dependencies.
    r = sclient.post("/items", content=b"{not json", headers={"content-type": "application/json"})
    assert (r.status_code, [e["type"] for e in r.json()["detail"]]) == (422, ["json_invalid"])


def test_a_dependency_with_invalid_parameters_is_skipped_and_the_others_run(sclient: Any) -> None:
    """As in FastAPI: ``page``'s invalid query does not keep the token check from answering 401; once the token is
    there, the 422 names the query."""
    refused(sclient.get("/paged", params={"n": "0"}), "Bearer")
    r = sclient.get("/paged", params={"n": "0"}, headers={"authorization": "Bearer t"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "n"]]
    assert sclient.get("/paged", params={"n": "2"}, headers={"authorization": "Bearer t"}).json() == {
        "n": 2, "token": "t"}


def test_security_scopes_add_up_along_the_chain(sclient: Any) -> None:
    r = sclient.get("/users/me", headers={"authorization": "Bearer ann:me"})
    assert r.json() == {"user": "ann", "required": ["me"]}
    r = sclient.get("/users/me/items", headers={"authorization": "Bearer ann:me"})
    assert (r.status_code, r.json()) == (401, {"detail": "Not enough permissions"})
    assert r.headers["www-authenticate"] == 'Bearer scope="items me"'
    r = sclient.get("/users/me/items", headers={"authorization": "Bearer ann:me items"})
    assert r.json() == {"user": "ann", "required": ["items", "me"]}


def test_auto_error_false_gives_none(sclient: Any) -> None:
    assert sclient.get("/maybe").json() == {"token": None}
    assert sclient.get("/maybe", headers={"authorization": "Bearer t"}).json() == {"token": "t"}
    assert sclient.get("/basic/optional").json() == {"credentials": None}
    assert sclient.get("/basic/optional", headers=basic("u", "p")).json() == {"credentials": "u"}
    assert sclient.get("/bearer/optional", headers={"authorization": "Basic x"}).json() == {"credentials": None}
    assert sclient.get("/key/optional").json() == {"key": None}
    # Credentials sent but unreadable are refused even so, as FastAPI does: the client did try.
    refused(sclient.get("/basic/optional", headers={"authorization": "Basic !!!"}), "Basic")


# -- HTTP schemes ------------------------------------------------------------------------------------------


def test_http_basic(sclient: Any) -> None:
    assert sclient.get("/basic", headers=basic("ann", "pa:ss")).json() == {"username": "ann", "password": "pa:ss"}
    assert sclient.get("/basic", headers=basic("", "")).json() == {"username": "", "password": ""}
    refused(sclient.get("/basic"), "Basic")
    refused(sclient.get("/basic/realm"), 'Basic realm="staff area"')
    assert sclient.get("/basic/realm", headers=basic("ann", "x")).text == "ann"


HOSTILE_BASIC = [
    "Basic",  # no credentials
    "Basic !!!!",  # not base64
    "Basic " + base64.b64encode(b"no colon").decode(),
    "Basic " + base64.b64encode("\xe9t\xe9:x".encode()).decode(),  # not ASCII
    "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),  # not text
    "Basic abc",  # bad padding
    "Basic " + "QUFB" * 1000,  # 4 kB of "AAA..." without a colon
    "Bearer " + base64.b64encode(b"u:p").decode(),  # another scheme
    "Basic\t" + base64.b64encode(b"u:p").decode(),  # not the separator
]


@pytest.mark.parametrize("header", HOSTILE_BASIC)
def test_http_basic_refuses_hostile_credentials_with_401(sclient: Any, header: str) -> None:
    refused(sclient.get("/basic", headers={"authorization": header}), "Basic")


def test_http_basic_refuses_bytes_that_are_not_utf8(sclient: Any) -> None:
    if sclient.server is None:
        r = sclient.raw(b"GET /basic HTTP/1.1\r\nhost: t\r\nauthorization: Basic \xff\xfe\x80\r\n\r\n")[0]
    else:
        r = httpx.get(str(sclient.base_url) + "/basic", headers={"authorization": b"Basic \xff\xfe\x80"})
    refused(r, "Basic")


def test_http_bearer_and_digest(sclient: Any) -> None:
    r = sclient.get("/bearer", headers={"authorization": "Bearer tok"})
    assert r.json() == {"scheme": "Bearer", "credentials": "tok"}
    refused(sclient.get("/bearer"), "Bearer")
    refused(sclient.get("/bearer", headers={"authorization": "Bearer"}), "Bearer")
    refused(sclient.get("/bearer", headers={"authorization": "Digest x"}), "Bearer")
    assert sclient.get("/digest", headers={"authorization": "Digest a=1"}).json() == {
        "scheme": "Digest", "credentials": "a=1"}
    refused(sclient.get("/digest", headers={"authorization": "Bearer x"}), "Digest")


# -- API keys ----------------------------------------------------------------------------------------------


def test_api_keys(sclient: Any) -> None:
    assert sclient.get("/key/header", headers={"x-api-key": "k1"}).text == "k1"
    assert sclient.get("/key/query", params={"api_key": "k2"}).text == "k2"
    assert sclient.get("/key/cookie", cookies={"session": "k3"}).text == "k3"
    for path in ("/key/header", "/key/query", "/key/cookie"):
        refused(sclient.get(path), "APIKey")
    refused(sclient.get("/key/query", params={"api_key": ""}), "APIKey")


# -- application and router dependencies -------------------------------------------------------------------


def test_the_applications_dependencies_run_first_on_every_route(sclient: Any) -> None:
    r = sclient.get("/items", headers={"x-trace": "refuse"})
    assert (r.status_code, r.json()) == (418, {"detail": "refused by the application's dependency"})
    assert sclient.get("/admin/ping", headers={"x-trace": "refuse"}).status_code == 418  # routers' routes too
    r = sclient.get("/admin/ping", headers={"x-trace": "t1", "x-router": "r1", "x-api-key": "k"})
    assert r.text == "pong"
    assert sclient.get("/seen").json()[-2:] == ["t1", "router r1"]
    refused(sclient.get("/admin/ping", headers={"x-trace": "t2", "x-router": "r2"}), "APIKey")
    assert sclient.get("/seen").json()[-2:] == ["t2", "router r2"]


# -- the OpenAPI document ----------------------------------------------------------------------------------


def test_security_schemes_in_the_openapi_document(sclient: Any) -> None:
    doc = sclient.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"] == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "token", "scopes": {"me": "Read yourself.", "items": "Read items."}}},
    }
    assert schemes["OAuth2AuthorizationCodeBearer"] == {"type": "oauth2", "flows": {"authorizationCode": {
        "authorizationUrl": "https://auth.example/authorize", "tokenUrl": "https://auth.example/token",
        "scopes": {"read": "Read."}}}}
    assert schemes["OpenIdConnect"] == {
        "type": "openIdConnect", "openIdConnectUrl": "https://auth.example/.well-known/openid-configuration"}
    assert schemes["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert schemes["StaffBasic"] == {"type": "http", "scheme": "basic", "description": "Staff only."}
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["HTTPDigest"] == {"type": "http", "scheme": "digest"}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schemes["APIKeyQuery"] == {"type": "apiKey", "in": "query", "name": "api_key"}
    assert schemes["APIKeyCookie"] == {"type": "apiKey", "in": "cookie", "name": "session"}
    paths = doc["paths"]
    assert paths["/users/me"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"]}]
    assert paths["/users/me/items"]["get"]["security"] == [{"OAuth2PasswordBearer": ["items", "me"]}]
    assert paths["/items"]["post"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/admin/ping"]["get"]["security"] == [{"APIKeyHeader": []}]
    assert "security" not in paths["/items"]["get"]
    form = paths["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    form = doc["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]  # Body_<operation id>, as in FastAPI
    assert form["required"] == ["username", "password"]
    assert list(form["properties"]) == ["grant_type", "username", "password", "scope", "client_id", "client_secret"]
    # Swagger UI shows a password input for these, as for FastAPI's form.
    assert form["properties"]["password"] == {"type": "string", "format": "password", "title": "Password"}
    assert form["properties"]["client_secret"]["format"] == "password"


def test_the_docs_page_has_the_oauth2_redirect_page(sclient: Any) -> None:
    assert b'"/docs/oauth2-redirect"' in sclient.get("/docs/init.js").content
    r = sclient.get("/docs/oauth2-redirect")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "swaggerUIRedirectOauth2" in r.text


# -- overrides, in process -----------------------------------------------------------------------------------

scheme = OAuth2PasswordBearer(tokenUrl="token")


def user(scopes: SecurityScopes, token: Annotated[str, Depends(scheme)]) -> str:
    return f"{token}:{scopes.scope_str}"


def test_dependency_overrides_apply_to_the_next_request() -> None:
    app = Covet()

    @app.get("/who")
    def who(u: Annotated[str, Security(user, scopes=["a", "b"])]) -> str:
        return u

    client = TestClient(app)
    assert client.get("/who").status_code == 401
    app.dependency_overrides[scheme] = lambda: "fake"
    assert client.get("/who").text == "fake:a b"
    app.dependency_overrides[user] = lambda: "nobody"
    assert client.get("/who").text == "nobody"
    app.dependency_overrides.clear()
    assert client.get("/who").status_code == 401
    app.dependency_overrides = {scheme: lambda: "again"}
    assert client.get("/who").text == "again:a b"


def test_a_default_dependency_keeps_its_module_interpreted_in_a_build() -> None:
    """``x: T = Depends()`` works interpreted (tests/test_depends.py), but mypyc would refuse the module at import:
    the build keeps the module interpreted (its route's glue compiled all the same), saying how to compile it."""
    from covet.compiler.build import _marker_defaults

    app = Covet()

    def common(q: str | None = None) -> dict[str, str | None]:
        return {"q": q}

    @app.get("/x")
    def handler(commons: dict[str, str | None] = Depends(common)) -> int:
        return 1

    spec = app.plans[0].spec
    assert spec is not None
    found = _marker_defaults(spec)
    assert list(found) == [__name__]
    why, fix = found[__name__]
    assert "parameter 'commons' of" in why and "has Depends(...) as its default" in why
    assert fix.endswith("commons: Annotated[T, Depends(...)] = default")


def test_a_build_imports_a_scheme_from_the_module_that_assigns_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict mypy refuses ``from users import scheme`` when ``users`` only imported it from ``auth``."""
    import importlib

    from covet.compiler.sourcetypes import read_handler

    (tmp_path / "zz_auth_mod.py").write_text(
        "from covet.security import OAuth2PasswordBearer\nscheme = OAuth2PasswordBearer(tokenUrl='t')\n")
    (tmp_path / "aa_users_mod.py").write_text("from zz_auth_mod import scheme\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    users = importlib.import_module("aa_users_mod")
    source = read_handler(users.scheme)
    assert (source.module, source.name, source.scope) == ("zz_auth_mod", "scheme", "covet.security.oauth2")
    assert list(source.annotations) == ["request"]


# -- definition errors, at start-up ------------------------------------------------------------------------


class NoInit:
    pass


def test_declaration_mistakes_are_refused() -> None:
    app = Covet()

    @app.get("/a")
    def a(n: Annotated[int | None, Depends()]) -> int | None:
        return n

    with pytest.raises(RouteDefinitionError, match=r"Depends\(\) without a provider needs a class"):
        app.dispatcher()
    app = Covet()

    @app.get("/b")
    def b(n: Annotated[NoInit, Depends()]) -> int:
        return 1

    with pytest.raises(RouteDefinitionError, match="class without an __init__"):
        app.dispatcher()
    with pytest.raises(RouteDefinitionError, match="must name their provider"):
        Covet(dependencies=[Depends()])
    with pytest.raises(ValueError, match="realm"):
        HTTPBasic(realm='a"\r\nX-Evil: 1')
    with pytest.raises(TypeError, match="list of scopes"):
        Security(user, scopes="me")
