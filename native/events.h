/* Python objects of parser events, shared by the Parser type (module.c) and the io_uring server (uring_http1.c).
 * Common methods and field names come from interned strings (no allocation); ASCII text is copied straight into a
 * fresh compact str.
 *
 * The events, as Python sees them (covet/runtime/events.py says the same; tests/test_contract.py checks they agree):
 *   Request(EV_REQUEST, method, path, query, minor, headers, keep_alive, body)  a complete request
 *   (EV_CONTINUE,)                        the client waits for 100 Continue
 *   (EV_ERROR, status, message)           the request broke the protocol; the parser is dead
 *   Request(EV_STREAM, method, path, query, minor, headers, keep_alive, None)  a head whose body follows in pieces
 *   (EV_DATA, bytes)                      one piece of that body
 *   (EV_END,)                             its end
 *   Request(EV_UPGRADE, method, path, query, minor, headers, keep_alive, rest)  a GET with an Upgrade field and no
 *                                         body; the parser stops after it: ``rest`` is what followed it in the
 *                                         input, unparsed (the first bytes of the new protocol, or more HTTP/1.1 to
 *                                         feed again if the upgrade is not taken)
 * A Request is a struct sequence (a tuple with named fields), built once, complete, and never changed after. */
#ifndef COVET_EVENTS_H
#define COVET_EVENTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "h1_parser.h"

/* The kind of an event: its first item. The values are the contract with Python: never renumber. */
enum covet_event_kind {
    EV_REQUEST = 0,
    EV_CONTINUE = 1,
    EV_ERROR = 2,
    EV_STREAM = 3,
    EV_DATA = 4,
    EV_END = 5,
    EV_UPGRADE = 6,
};

extern PyObject *g_methods[H1_M__COUNT];
extern PyObject *g_hnames[H1_H__COUNT];
extern PyObject *g_empty_str, *g_slash, *g_star;
extern PyObject *g_ev_error;       /* EV_ERROR as an int */
extern PyObject *g_continue_event; /* the immutable (EV_CONTINUE,) */
extern PyObject *g_body_end;       /* the immutable (EV_END,) */
extern PyObject *g_empty_list;     /* shared, never mutated: headers of routes that read none */

/* covet._native.Request: kind, method, path, query, minor, headers, keep_alive, body. */
extern PyTypeObject covet_RequestType;

/* Creates the shared objects and the Request type once; 0 or -1 with an exception set. */
int covet_events_init(void);

/* The parts of a request head, held (owned references) while its body arrives. Nothing is built into a Request until
 * the message is complete, so a Request never changes once Python can see it. A zeroed struct holds nothing. */
struct covet_head {
    PyObject *method, *path, *query, *headers; /* method NULL: nothing held */
    long minor;
    int keep_alive;
};

static inline int covet_head_held(const struct covet_head *h) {
    return h->method != NULL;
}

/* Which of a request's headers its Python half is given (``with_headers``; covet.runtime.uring_contract names them
 * for Python): all, none (a route known to read none), or only Content-Type (a route that reads only its JSON
 * body's type). */
enum covet_headers {
    COVET_HEADERS_NONE = 0,
    COVET_HEADERS_ALL = 1,
    COVET_HEADERS_CONTENT_TYPE = 2
};

/* Takes the parts of r's head into h (whatever h held is released first); ``path`` (when not NULL) stands for the
 * request's path, and the header list holds what ``with_headers`` (enum covet_headers) says.
 * 0, or -1 with an exception set and h empty. */
int covet_head_set(struct covet_head *h, const h1_request *r, PyObject *path, int with_headers);

/* Releases what h holds; h is empty after. */
void covet_head_clear(struct covet_head *h);

/* Request(kind, ...h's parts..., body): the parts move out of h, which is empty after (also on failure). ``body`` is
 * borrowed (a new reference is taken). NULL with an exception set on failure. */
PyObject *covet_head_request(struct covet_head *h, int kind, PyObject *body);

/* (EV_DATA, bytes): one piece of a streamed body; NULL with an exception set on failure. */
PyObject *covet_make_data(const char *p, size_t n);

#endif
