"""CovetPy: typed Python API handlers on a native HTTP/1.1 core.

Public API; every other module is internal.
"""

from covet import _purepy

# Before any other covet import: the switch decides which runtime modules load (E402 is allowed here).
_purepy.install_if_asked()

from covet import status
from covet.app import Covet
from covet.background import BackgroundTasks
from covet.compression import CompressionMiddleware
from covet.exceptions import (
    ClientDisconnect,
    HTTPError,
    HTTPException,
    RequestValidationError,
    ResponseValidationError,
    RouteDefinitionError,
)
from covet.grpc import GrpcService
from covet.headers import MutableHeaders
from covet.middleware import AnyResponse, CallNext, Middleware
from covet.param_functions import Depends, Security
from covet.params import Body, Cookie, File, Form, Header, Path, Query
from covet.projectroot import project_root
from covet.requests import Headers, QueryParams, Request
from covet.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from covet.routing import APIRouter, Router
from covet.runtime.connection import ConnectionInfo
from covet.sessions import Session, SessionMiddleware, session
from covet.sse import EventSourceResponse, ServerSentEvent
from covet.staticfiles import StaticFiles
from covet.uploads import UploadFile
from covet.websockets import WebSocket, WebSocketDisconnect, WebSocketException

__version__ = "0.1.0"

__all__ = [
    "Covet",
    "GrpcService",
    "Router",
    "APIRouter",
    "Middleware",
    "CallNext",
    "AnyResponse",
    "Session",
    "SessionMiddleware",
    "session",
    "StaticFiles",
    "EventSourceResponse",
    "ServerSentEvent",
    "CompressionMiddleware",
    "Request",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "Headers",
    "MutableHeaders",
    "QueryParams",
    "ConnectionInfo",
    "Response",
    "JSONResponse",
    "PlainTextResponse",
    "HTMLResponse",
    "RedirectResponse",
    "StreamingResponse",
    "FileResponse",
    "HTTPError",
    "HTTPException",
    "ClientDisconnect",
    "RequestValidationError",
    "ResponseValidationError",
    "RouteDefinitionError",
    "Path",
    "Query",
    "Header",
    "Cookie",
    "Body",
    "Form",
    "File",
    "UploadFile",
    "Depends",
    "Security",
    "BackgroundTasks",
    "status",
    "project_root",
    "__version__",
]
