/* Direct routes of the io_uring server (see uring_server.h): static paths whose handler is sync; the core calls their
 * glue itself and renders a plain reply, without going through the Python half's request(). Python decides which
 * (UringHTTP1.install). */
#ifndef COVET_URING_DIRECT_H
#define COVET_URING_DIRECT_H

#include "uring_conns.h"

struct route {
    char *path; /* NULL: empty slot */
    size_t len;
    PyObject *path_str;
    PyObject *glue;
    PyObject *plan;
    uint8_t method;  /* enum h1_method */
    uint8_t headers; /* the headers the glue reads: enum covet_headers */
    int route_id;    /* the plan's route_id, for the metrics (-1: none) */
};

/* The route of (method, path), or NULL. */
const struct route *direct_route_find(const UringServer *s, const char *path, size_t len, unsigned method);

/* Releases the route table. */
void direct_routes_free(UringServer *s);

/* add_route(method, path, glue, plan, headers) -> bool: UringServer.add_route; ``headers`` is an enum covet_headers. */
PyObject *direct_add_route(UringServer *s, PyObject *const *args, Py_ssize_t nargs);

/* Runs a direct route for the complete request of head h (its parts borrowed) and body: 0 answered, 1 Python keeps
 * the connection, -1 it failed. */
int direct_answer(UringServer *s, struct conn *c, const struct route *rt, const struct covet_head *h, PyObject *body);

#endif
