"""The request path.  Never imports ``covet.compiler``.

Stages, in the order a request meets them:

1. ``server``    - event loop, listening socket, signals, lifespan hooks.
2. ``http1``     - HTTP/1.1 connection: bytes to the C parser (``covet._native``),
                   parsed requests to dispatch, rendered responses back, in order.
3. ``dispatch``  - protocol-neutral: (method, path) to a route plan (``router``).
4. ``glue``      - the route's generated function: extract and convert parameters
                   (``formdata``, pydantic-core), call the handler, encode (``encode``).
5. ``resume``    - continues an async handler in a Task only if it suspended.

Planning (``signature`` then ``glue``) runs once per route at start-up.
"""

# True when the runtime's hot modules were compiled with mypyc (checked, not assumed).
RUNTIME_COMPILED: bool = str(getattr(__import__("covet.runtime.router", fromlist=["_"]), "__file__", "")).endswith(".so")
