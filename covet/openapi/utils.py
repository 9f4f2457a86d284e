"""FastAPI's ``fastapi.openapi.utils.get_openapi``: a document from a list of routes, to edit and serve instead of
the application's own (``app.openapi = custom_openapi``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from covet.openapi import build_document
from covet.routing import RouteDef

__all__ = ["get_openapi"]


def get_openapi(*, title: str, version: str, openapi_version: str = "3.1.0", summary: str | None = None,
                description: str | None = None, routes: Sequence[RouteDef],
                webhooks: Sequence[RouteDef] | None = None, tags: list[dict[str, Any]] | None = None,
                servers: list[dict[str, Any]] | None = None, terms_of_service: str | None = None,
                contact: dict[str, Any] | None = None, license_info: dict[str, Any] | None = None,
                separate_input_output_schemas: bool = True,
                external_docs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (``app.routes``) and ``webhooks`` (``app.webhooks.routes``), with this
    ``info``. Each route documents its own dependencies' parameters (not the application's ``dependencies=``)."""
    return build_document(
        list(routes), list(webhooks or ()), lambda rd: rd.dependencies, title=title, version=version,
        openapi_version=openapi_version, summary=summary, description=description,
        terms_of_service=terms_of_service, contact=contact, license_info=license_info, tags=tags, servers=servers,
        separate_input_output_schemas=separate_input_output_schemas, external_docs=external_docs)
