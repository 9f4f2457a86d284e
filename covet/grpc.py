"""Typed gRPC services: methods written as routes are, sharing their dependencies (docs/grpc.md).

::

    greeter = GrpcService("helloworld.Greeter")

    @greeter.method
    async def SayHello(request: HelloRequest, user: User = Depends(current_user)) -> HelloReply:
        return HelloReply(message=f"Hello, {request.name}, from {user.name}")

    app.include_grpc(greeter)

The first parameter is the call's request message (``AsyncIterator[Msg]``: the client's stream of them); the
result is the reply (an async generator declared ``-> AsyncIterator[Msg]`` streams replies). Every other
parameter is resolved as a route's: ``Depends`` (generator dependencies finish once the call has ended),
``Header`` (the call's metadata), ``Request``, security schemes. An ``HTTPException`` becomes the gRPC status that
says the same (401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``...); grpclib's ``GRPCError`` passes as raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, final, overload

from covet.exceptions import RouteDefinitionError
from covet.params import Depends
from covet.runtime.grpc_method import GrpcMethod

__all__ = ["GrpcService"]

F = TypeVar("F", bound=Callable[..., Any])


@final
class GrpcService:
    """A gRPC service of typed methods; ``name`` is its full name in the ``.proto``: ``package.Service``.

    ``dependencies`` run before each of its methods, after the application's, for their effect (a check)."""

    def __init__(self, name: str, *, dependencies: Sequence[Depends] = ()) -> None:
        if not name or "/" in name or any(c.isspace() for c in name):
            raise RouteDefinitionError(f"GrpcService({name!r}): the service's full name, as its .proto declares "
                                       "it: package.Service")
        self.name = name
        self.dependencies = list(dependencies)
        self.methods: dict[str, GrpcMethod] = {}

    @overload
    def method(self, handler: F, /) -> F: ...

    @overload
    def method(self, name: str | None = None, /, *, dependencies: Sequence[Depends] = ()) -> Callable[[F], F]: ...

    def method(self, name: Any = None, /, *, dependencies: Sequence[Depends] = ()) -> Any:
        """Serve the decorated function as the method ``name`` (the function's name when not given):
        ``@service.method`` or ``@service.method("SayHello")``."""
        if callable(name):
            return self._add(name, None, ())

        def register(handler: F) -> F:
            return self._add(handler, name, dependencies)

        return register

    def _add(self, handler: F, name: str | None, dependencies: Sequence[Depends]) -> F:
        rpc = name or getattr(handler, "__name__", "")
        if not rpc or "/" in rpc or any(c.isspace() for c in rpc):
            raise RouteDefinitionError(f"{self.name}: {rpc!r} cannot name a gRPC method")
        if rpc in self.methods:
            raise RouteDefinitionError(f"{self.name}/{rpc} is declared twice")
        self.methods[rpc] = GrpcMethod(f"/{self.name}/{rpc}", handler, [*self.dependencies, *dependencies])
        return handler
