"""Authentication schemes as dependencies, under FastAPI's names.

Each scheme is a callable instance taking the ``Request``: use it as a provider (``Depends(oauth2_scheme)``), and
it answers 401 (or returns None when ``auto_error=False``) when the request does not carry its credentials. It
also describes itself to the OpenAPI document (``components.securitySchemes`` and each operation's
``security``), so ``/docs`` shows the Authorize button. Checking the credentials is left to the application.

- ``api_key``: ``APIKeyHeader``, ``APIKeyQuery``, ``APIKeyCookie``
- ``http``: ``HTTPBasic``, ``HTTPBearer``, ``HTTPDigest`` and their credentials
- ``utils``: ``get_authorization_scheme_param``
- ``oauth2``: ``OAuth2PasswordBearer``, ``OAuth2AuthorizationCodeBearer``, ``OAuth2``, the password form,
  ``SecurityScopes``
- ``open_id_connect_url``: ``OpenIdConnect``
"""

from covet.security.api_key import APIKeyCookie, APIKeyHeader, APIKeyQuery
from covet.security.base import SecurityBase
from covet.security.http import (
    HTTPAuthorizationCredentials,
    HTTPBase,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
)
from covet.security.oauth2 import (
    OAuth2,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    SecurityScopes,
)
from covet.security.open_id_connect_url import OpenIdConnect

__all__ = [
    "APIKeyCookie", "APIKeyHeader", "APIKeyQuery", "HTTPAuthorizationCredentials", "HTTPBase", "HTTPBasic",
    "HTTPBasicCredentials", "HTTPBearer", "HTTPDigest", "OAuth2", "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer", "OAuth2PasswordRequestForm", "OAuth2PasswordRequestFormStrict", "OpenIdConnect",
    "SecurityBase", "SecurityScopes",
]
