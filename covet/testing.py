"""The test client's former home: ``covet.testing.TestClient`` is ``covet.testclient.TestClient``.

Import it from ``covet.testclient`` (FastAPI's ``fastapi.testclient``); this name stays for code that used it.
"""

from __future__ import annotations

from covet.testclient import RawResponse, TestClient

TestResponse = RawResponse  # what ``TestClient.raw`` returns (this module's name for it)

__all__ = ["TestClient", "TestResponse"]
