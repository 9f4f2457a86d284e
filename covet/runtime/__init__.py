"""The request path.  Never imports ``covet.compiler``.

Stages, in the order a request meets them:

1. ``server``    - event loop, listening socket, signals, lifespan hooks; ``accept``
                   accepts for the plain asyncio loop (pausing at the descriptor limit);
                   ``tls`` builds the listener's TLS context and reloads it on SIGHUP.
2. transports    - ``asyncio_http1`` (asyncio/uvloop) or ``uring_http1`` (the io_uring
                   core's Python half): bytes to the C parser (``covet._native``),
                   requests to dispatch and the exchange, responses back in order.
3. ``dispatch``  - protocol-neutral: (method, path) to a route plan, looked up in a
                   ``pathtrie`` (which refuses NUL and dot segments).
4. ``glue``      - the route's generated function: extract and convert parameters
                   (``formdata``, ``parammodels``, pydantic-core), call the handler, filter
                   and encode the result by its declared type (``encode``).
5. ``exchange``  - one request's life, once for every transport: the glue is called
                   (an async handler with ``send(None)``; ``resume`` continues it in a
                   Task only if it suspended, under ``lifetime``'s deadline), errors
                   become replies, and what is not answered on the spot answers
                   through a channel: ``h1_response`` renders HTTP/1.1 (every head
                   checked on its way out, ``native/fields.c``). ``state`` is what a
                   server's connections share.

File work (static files, uploads) runs on its own pool (``fileio``).

Planning (``signature`` then ``glue``) runs once per route at start-up.
"""

# True when the runtime's hot modules were compiled with mypyc (checked, not assumed).
RUNTIME_COMPILED: bool = str(
    getattr(__import__("covet.runtime.pathtrie", fromlist=["_"]), "__file__", "")).endswith(".so")
