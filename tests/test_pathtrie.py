"""PathTrie (the runtime's path matching) unit and property tests."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, strategies as st

from covet.exceptions import RouteDefinitionError
from covet.runtime.pathtrie import BadPath, PathTrie


def make(*templates: str) -> PathTrie[str]:
    r: PathTrie[str] = PathTrie()
    for t in templates:
        r.add(t, t)
    return r


def test_static_beats_param_beats_catchall() -> None:
    r = make("/users/me", "/users/{id}", "/users/{rest:path}", "/")
    assert r.match("/users/me") == ("/users/me", [])
    assert r.match("/users/7") == ("/users/{id}", ["7"])
    assert r.match("/users/7/posts") == ("/users/{rest:path}", ["7/posts"])
    assert r.match("/") == ("/", [])
    assert r.match("/nope") is None


def test_backtracking() -> None:
    r = make("/a/{x}/c", "/a/b/d")
    assert r.match("/a/b/c") == ("/a/{x}/c", ["b"])
    assert r.match("/a/b/d") == ("/a/b/d", [])


def test_percent_decoding_never_splits_segments() -> None:
    r = make("/files/{name}", "/static/a b")
    assert r.match("/files/a%2Fb") == ("/files/{name}", ["a/b"])
    assert r.match("/static/a%20b") == ("/static/a b", [])
    assert r.match("/files/%ff") is None  # not UTF-8


def test_empty_segment_does_not_match_param() -> None:
    r = make("/users/{id}")
    assert r.match("/users/") is None
    assert r.match("/users") is None


@pytest.mark.parametrize(
    "template",
    ["users", "/a/{x", "/a/{x}{y}", "/a/pre{x}", "/{rest:path}/more", "/{x}/{x}", "/{1x}", "/a?b", "/a\nb", "/a#"],
)
def test_bad_templates(template: str) -> None:
    with pytest.raises(RouteDefinitionError):
        make(template)


@pytest.mark.parametrize("path", ["/x/.", "/x/..", "/x/a/../b", "/x/%2e%2e", "/x/a%2F..%2Fb", "/x/a%00"])
def test_dot_segments_are_refused(path: str) -> None:
    with pytest.raises(BadPath):
        make("/x/{rest:path}").match(path)


def test_duplicate_shape_is_refused() -> None:
    with pytest.raises(RouteDefinitionError):
        make("/users/{id}", "/users/{name}")


# "." and ".." are refused as BadPath (see test_dot_segments_are_refused), so no route captures them.
segment = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=12).filter(
    lambda s: s not in (".", ".."))


@given(st.lists(segment, min_size=1, max_size=6), st.data())
def test_param_templates_capture_their_segments(segments: list[str], data: st.DataObject) -> None:
    params = [i for i in range(len(segments)) if data.draw(st.booleans())]
    template = "/" + "/".join(f"{{p{i}}}" if i in params else s for i, s in enumerate(segments))
    r = make(template)
    hit = r.match("/" + "/".join(segments))
    assert hit is not None
    assert hit[1] == [segments[i] for i in params]


@given(st.lists(segment, min_size=1, max_size=6))
def test_catchall_takes_everything(segments: list[str]) -> None:
    r = make("/x/{rest:path}")
    assert r.match("/x/" + "/".join(segments)) == ("/x/{rest:path}", ["/".join(segments)])
