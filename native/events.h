/* Python objects of parser events, shared by the Parser type (module.c) and the io_uring server (ringserver.c).
 * Common methods and field names come from interned strings (no allocation); ASCII text is copied straight into a
 * fresh compact str. */
#ifndef COVET_EVENTS_H
#define COVET_EVENTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "h1_parser.h"

extern PyObject *g_methods[H1_M__COUNT];
extern PyObject *g_hnames[H1_H__COUNT];
extern PyObject *g_empty_str, *g_slash, *g_star;
extern PyObject *g_ev_request, *g_ev_error;
extern PyObject *g_continue_event; /* the immutable (1,) */
extern PyObject *g_ev_stream, *g_ev_data; /* 3 and 4 */
extern PyObject *g_body_end;       /* the immutable (5,) */
extern PyObject *g_empty_list;     /* shared, never mutated: headers of routes that read none */

/* Creates the shared objects once; 0 or -1 with an exception set. */
int covet_events_init(void);

/* (0, method, path, query, minor, headers, keep_alive, <NULL: the body, set later>) */
PyObject *covet_make_head(const h1_request *r);

/* The same, with ``path`` (when not NULL) standing for the request's path, and an empty header list unless
 * ``with_headers``: for a route known to read none. */
PyObject *covet_make_head_with(const h1_request *r, PyObject *path, int with_headers);

/* Turns a head tuple (reference stolen) into (3, ..., keep_alive, None): a request whose body follows in pieces.
 * NULL with an exception set on failure. */
PyObject *covet_stream_head(PyObject *head);

/* (4, bytes): one piece of a streamed body; NULL with an exception set on failure. */
PyObject *covet_make_data(const char *p, size_t n);

#endif
