"""Jinja2 templates on every transport, interpreted and compiled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TRANSPORTS, app_client, build_project

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def built_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The templates go in with the build, once: every worker shares the project
    proj = build_project(tmp_path_factory, TESTS / "apps" / "pages.py", TESTS / "apps" / "templates")
    return proj


@pytest.fixture(scope="module", params=["inprocess", *TRANSPORTS])
def pclient(request: pytest.FixtureRequest) -> Iterator[Any]:
    env = None
    if request.param.startswith("compiled"):
        # A compiled module's __file__ is its extension in .covet/build: the app is told where its templates are.
        env = {"COVET_TEST_TEMPLATES": str(request.getfixturevalue("built_pages") / "templates")}
    yield from app_client(request, "pages", "built_pages", env=env)


def test_a_template_renders_with_inheritance_and_escaping(pclient: Any) -> None:
    r = pclient.get("/hello/<b>ada", params={"n": "3"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == ("<!doctype html><title>Hello &lt;b&gt;ada</title><main><p>Hello, "
                      "&lt;b&gt;ada!</p><ul><li>0</li><li>1</li><li>2</li></ul></main>")


def test_every_template_is_escaped_whatever_its_name(tmp_path: Path) -> None:
    from covet.templating import Templates

    (tmp_path / "page.jinja2").write_text("<p>{{ q }}</p>")
    assert Templates(tmp_path).render("page.jinja2", {"q": "<script>"}) == "<p>&lt;script&gt;</p>"


def test_async_rendering(pclient: Any) -> None:
    r = pclient.get("/async/bob")
    assert r.status_code == 201 and "<p>Hello, bob!</p>" in r.text


def test_an_undefined_name_is_a_500_not_an_empty_string(pclient: Any) -> None:
    assert pclient.get("/broken").status_code == 500
