"""The build path: ``covet build``, ``covet check`` and ``covet explain`` (``cli``), run by ``build``.

Stages, in the order a build runs them:

1. load the application interpreted and plan every route with the runtime's own
   planner (``covet.runtime.signature``, ``covet.runtime.glue``);
2. ``sourcetypes`` - each handler's annotations and defaults as written in its source;
3. ``gluegen``     - the glue module: the runtime's glue for every route, its
                     validators bound at import, and the ``ROUTES`` table of ``RouteRow``s;
4. ``typecheck``   - mypy, strict, over the handler modules and the glue; errors
                     mapped to the route they are in;
5. ``mypycrun``    - mypyc compiles them into one group of C extensions;
6. the manifest (``covet.manifest``, the only module the request path shares with
   this package) and the OpenAPI document, for ``covet serve`` to check and use.

The request path never imports this package (``tests/test_sourcecode.py``).
"""
