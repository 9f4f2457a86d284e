"""The events of the C parser (``covet._native``), by name: the first item of each event says its kind.

The values are the C enum ``covet_event_kind`` (``native/events.h``); ``tests/test_contract.py`` checks that both
sides agree. They are ``Final`` ints, so that mypyc inlines them in the compiled runtime.

A request head is a ``covet._native.Request``: a tuple with named fields, built once (when the message is complete,
or when its body starts to stream) and never changed after. Its fields, in order:

    kind        EV_REQUEST or EV_STREAM
    method      str, as sent ("GET")
    path        str, percent-encoded as sent, without the query
    query       str, without its "?" ("" when none)
    minor       int: 1 for HTTP/1.1, 0 for HTTP/1.0
    headers     list of (lower-case name, value) str pairs, in order
    keep_alive  bool: the connection may carry another request after this one
    body        bytes; None for EV_STREAM

So ``_, method, path, query, minor, headers, keep_alive, body = ev`` and ``ev.path`` both work.
"""

from typing import Final

__all__ = ["EV_CONTINUE", "EV_DATA", "EV_END", "EV_ERROR", "EV_REQUEST", "EV_STREAM", "EV_UPGRADE", "PREFACE_HEAD",
           "REQUEST_FIELDS"]

EV_REQUEST: Final = 0
"""``Request(EV_REQUEST, method, path, query, minor, headers, keep_alive, body)``: a complete request."""

EV_CONTINUE: Final = 1
"""``(EV_CONTINUE,)``: the client sent ``Expect: 100-continue`` and waits for the go-ahead."""

EV_ERROR: Final = 2
"""``(EV_ERROR, status, message)``: the request broke the protocol; answer ``status`` and close (the parser is
dead)."""

EV_STREAM: Final = 3
"""``Request(EV_STREAM, method, path, query, minor, headers, keep_alive, None)``: a head whose body (over
``max_body``) follows in pieces."""

EV_DATA: Final = 4
"""``(EV_DATA, bytes)``: one piece of a streamed body."""

EV_END: Final = 5
"""``(EV_END,)``: the end of a streamed body."""

EV_UPGRADE: Final = 6
"""``Request(EV_UPGRADE, method, path, query, minor, headers, keep_alive, rest)``: a GET with an ``Upgrade`` field
and no body. The parser stops after it: ``rest`` is the input that followed, unparsed. A transport that switches
protocols hands it to the new one; one that does not answers the request as a GET and feeds ``rest`` again.

A connection whose first bytes are HTTP/2's preface is reported so too, as ``Request(EV_UPGRADE, "PRI", "*", "",
1, [], True, rest)``: ``PREFACE_HEAD + rest`` is what it sent. (No other request with method ``PRI`` is an upgrade.)"""

PREFACE_HEAD: Final = b"PRI * HTTP/2.0\r\n\r\n"
"""The part of HTTP/2's connection preface the parser reads as a head (``H1_PREFACE_HEAD``, ``native/h1_parser.h``)."""

REQUEST_FIELDS: Final = ("kind", "method", "path", "query", "minor", "headers", "keep_alive", "body")
"""The fields of ``covet._native.Request``, in order."""
