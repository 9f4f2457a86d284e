"""A typed gRPC method's calls: the method planned as a route, its glue run for each call.

The glue (covet.runtime.glue, source "message") resolves the handler's ``Depends``, ``Header``, ``Request`` and the
rest exactly as a REST route's does, from a Request made of the call's head: its metadata are the headers. It is
handed the call's message (or, client streaming, the stream of them) where a body would be, and gives back the
handler's result unencoded: a message, or the async iterator of them. An HTTP answer on the way (a dependency's
``HTTPException``, a validation error) becomes the gRPC status that says the same (``GRPC_STATUS_OF_HTTP``).
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import typing
from collections.abc import Callable, Sequence
from typing import Any, Final, final, get_args, get_origin

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError

from covet.exceptions import HTTPError, RouteDefinitionError
from covet.params import Depends
from covet.runtime.exits import AfterReply, RouteExit
from covet.runtime.glue import RoutePlan
from covet.runtime.gluekit import RESPONSES
from covet.runtime.signature import location

__all__ = ["GrpcMethod", "GRPC_STATUS_OF_HTTP", "grpc_status_of"]

# The gRPC status for an HTTP status a dependency or the glue answers with: gRPC's own table for the other
# direction (doc/http-grpc-status-mapping.md) read backwards where it is one to one, and the codes that name the
# same refusal otherwise.
GRPC_STATUS_OF_HTTP: Final = {
    400: Status.INVALID_ARGUMENT,
    401: Status.UNAUTHENTICATED,
    403: Status.PERMISSION_DENIED,
    404: Status.NOT_FOUND,
    409: Status.ABORTED,
    412: Status.FAILED_PRECONDITION,
    413: Status.RESOURCE_EXHAUSTED,
    422: Status.INVALID_ARGUMENT,
    429: Status.RESOURCE_EXHAUSTED,
    499: Status.CANCELLED,
    501: Status.UNIMPLEMENTED,
    503: Status.UNAVAILABLE,
    504: Status.DEADLINE_EXCEEDED,
}

_ITERATORS: Final = (collections.abc.AsyncIterator, collections.abc.AsyncIterable, collections.abc.AsyncGenerator)


def grpc_status_of(http_status: int) -> Status:
    """The gRPC status that says what ``http_status`` says (UNKNOWN for one with no counterpart, INTERNAL for 5xx)."""
    found = GRPC_STATUS_OF_HTTP.get(http_status)
    if found is not None:
        return found
    return Status.INTERNAL if http_status >= 500 else Status.UNKNOWN


def _message_type(ann: Any, what: str, label: str) -> tuple[bool, Any]:
    """(streamed, message class) of a request or reply annotation: ``Msg`` or ``AsyncIterator[Msg]``."""
    streamed = get_origin(ann) in _ITERATORS
    cls = get_args(ann)[0] if streamed and get_args(ann) else ann
    if not (isinstance(cls, type) and hasattr(cls, "FromString") and hasattr(cls, "SerializeToString")):
        raise RouteDefinitionError(f"{label} the {what} must be annotated with a protobuf message class, or "
                                   f"AsyncIterator[...] of one for a stream; got {ann!r}")
    return streamed, cls


@final
class GrpcMethod:
    """One method of a ``covet.GrpcService``: what grpclib's ``Handler`` needs, and the route it runs as."""

    __slots__ = ("path", "handler", "dependencies", "plan", "client_streams", "server_streams", "request_type",
                 "reply_type", "label", "blocking")

    def __init__(self, path: str, handler: Callable[..., Any], dependencies: Sequence[Depends]) -> None:
        self.path = path
        self.handler = handler
        self.dependencies = list(dependencies)
        self.plan: RoutePlan | None = None  # set when the application plans its routes
        self.label = f"[gRPC {path} -> {location(handler)}]"
        self.request_type: Any = None
        # A ``def`` runs in the thread pool, as a route's does (FastAPI's rule): a unary method only, since the
        # client's messages and the replies of a stream are asynchronous.
        self.blocking = not inspect.iscoroutinefunction(handler) and not inspect.isasyncgenfunction(handler)
        if inspect.isgeneratorfunction(handler):
            raise RouteDefinitionError(f"{self.label} a method that streams its replies is an async generator "
                                       "(async def with yield), not a generator")
        if getattr(handler, "__annotations__", None) is not None:
            self.resolve(None)  # (compiled by mypyc, it has none: the build recorded them, see resolve)

    def resolve(self, declared: tuple[Any, Any] | None) -> None:
        """Read the messages and the shape of the call from the handler's annotations, or from ``declared`` (its
        first parameter's and its result's, as a build records them for a compiled handler)."""
        label = self.label
        handler = self.handler
        if declared is None:
            if self.request_type is not None:
                return
            if not callable(handler) or isinstance(handler, type):
                raise RouteDefinitionError(f"{label} a gRPC method is a function")
            try:
                hints = typing.get_type_hints(handler)
            except Exception as exc:  # NameError and friends from unresolvable annotations
                raise RouteDefinitionError(f"{label} cannot resolve the handler's annotations: {exc}") from exc
            params = list(inspect.signature(handler).parameters.values())
            if not params or params[0].name not in hints:
                raise RouteDefinitionError(f"{label} a gRPC method takes its request message, annotated, as its "
                                           "first parameter")
            if "return" not in hints:
                raise RouteDefinitionError(f"{label} a gRPC method declares its reply: -> Reply, or -> "
                                           "AsyncIterator[Reply] for an async generator")
            declared = (hints[params[0].name], hints["return"])
            generator = inspect.isasyncgenfunction(handler)
        else:
            generator = get_origin(declared[1]) in _ITERATORS  # (an async generator is never compiled)
        self.client_streams, self.request_type = _message_type(declared[0], "first parameter", label)
        self.server_streams, self.reply_type = _message_type(declared[1], "result", label)
        if self.server_streams != generator:
            raise RouteDefinitionError(f"{label} a method that streams its replies is an async generator declared "
                                       "-> AsyncIterator[Reply]; one that does not is an async def -> Reply")
        if self.blocking and self.client_streams:
            raise RouteDefinitionError(f"{label} a def method runs in the thread pool and takes one message; to "
                                       "read the client's stream, make it an async def")

    def grpc_handler(self) -> Handler:
        if self.client_streams:
            kind = Cardinality.STREAM_STREAM if self.server_streams else Cardinality.STREAM_UNARY
        else:
            kind = Cardinality.UNARY_STREAM if self.server_streams else Cardinality.UNARY_UNARY
        return Handler(self, kind, self.request_type, self.reply_type)

    async def __call__(self, stream: Any) -> None:
        """Run one call (``stream``: covet.runtime.grpc_call's CallStream)."""
        plan = self.plan
        if plan is None:
            raise GRPCError(Status.UNAVAILABLE, "the method is not planned yet")
        if self.client_streams:
            message: Any = stream
        else:
            message = await stream.recv_message()
            if message is None:
                raise GRPCError(Status.INTERNAL, "the call sent no request message")
        try:
            await self._run(plan, stream, message)
        except HTTPError as exc:  # a dependency's, or the handler's (a streaming one's too, as it yields)
            raise GRPCError(grpc_status_of(exc.status), _text(exc.detail)) from None

    async def _run(self, plan: RoutePlan, stream: Any, message: Any) -> None:
        call = stream._call
        out = plan.glue("POST", self.path, "", call.headers, message, [], call.info)
        if plan.is_async:
            out = await out
        if type(out) is AfterReply:
            # The generator dependencies finish (and background tasks run) once the call's status has gone out,
            # past its deadline: the call runs them (GrpcCall.after).
            call.after = out.after
            out = out.reply
        try:
            if type(out) is tuple:  # the glue's own answer: the parameters' validation errors (422)
                raise GRPCError(grpc_status_of(out[0]), _text(_detail(out[2])))
            if isinstance(out, RESPONSES):  # an application's exception handler answered, as for a route
                raise GRPCError(grpc_status_of(out.status), _text(_detail(getattr(out, "body", b""))))
            if self.server_streams:
                try:
                    async for reply in out:
                        await stream.send_message(reply)
                finally:
                    # Ended by what it yielded, or by the client: its own ``finally`` runs now, before the
                    # dependencies it uses are finished, not when it is collected.
                    await out.aclose()
            else:
                await stream.send_message(out)
        except BaseException as exc:
            after = call.after
            if isinstance(after, RouteExit):
                after.error = exc  # the generator dependencies see it, as a failed stream's do
            raise


def _detail(body: bytes) -> object:
    try:
        return json.loads(body).get("detail", body.decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")


def _text(detail: object) -> str:
    return detail if isinstance(detail, str) else json.dumps(detail, default=str)
