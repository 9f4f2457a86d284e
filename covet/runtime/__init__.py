"""The request path.  Never imports ``covet.compiler``.

Stages, in the order a request meets them:

1. ``server``    - event loop, listening socket, signals, lifespan hooks; ``accept``
                   accepts for the plain asyncio loop (pausing at the descriptor limit).
2. ``http1``     - HTTP/1.1 connection: bytes to the C parser (``covet._native``),
                   parsed requests to dispatch, rendered responses back, in order;
                   every head checked on its way out (``native/fields.c``).
3. ``dispatch``  - protocol-neutral: (method, path) to a route plan, looked up in a
                   ``pathtrie`` (which refuses NUL and dot segments).
4. ``glue``      - the route's generated function: extract and convert parameters
                   (``formdata``, pydantic-core), call the handler, filter and encode the
                   result by its declared type (``encode``).
5. ``resume``    - continues an async handler in a Task only if it suspended;
                   ``lifetime`` holds that Task's deadline and disconnect policy.

File work (static files, uploads) runs on its own pool (``fileio``).

Planning (``signature`` then ``glue``) runs once per route at start-up.
"""

# True when the runtime's hot modules were compiled with mypyc (checked, not assumed).
RUNTIME_COMPILED: bool = str(
    getattr(__import__("covet.runtime.pathtrie", fromlist=["_"]), "__file__", "")).endswith(".so")
