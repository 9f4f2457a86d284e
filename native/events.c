/* Python objects of parser events, shared by the Parser type and the io_uring server (see events.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "events.h"

PyObject *g_methods[H1_M__COUNT];
PyObject *g_hnames[H1_H__COUNT];
PyObject *g_empty_str, *g_slash, *g_star;
PyObject *g_ev_error;
PyObject *g_continue_event;
PyObject *g_body_end;
PyObject *g_empty_list;

PyTypeObject covet_RequestType;

static PyStructSequence_Field request_fields[] = {
    {"kind", "EV_REQUEST (a complete request) or EV_STREAM (a head whose body follows in pieces)"},
    {"method", "the method, as sent (str)"},
    {"path", "the path, percent-encoded as sent, without the query (str)"},
    {"query", "the query, without its '?' (str, '' when none)"},
    {"minor", "the minor version: 1 for HTTP/1.1, 0 for HTTP/1.0 (int)"},
    {"headers", "the header fields in order, as [(lower-case name, value)] (list of (str, str))"},
    {"keep_alive", "whether the connection may carry another request after this one (bool)"},
    {"body", "the body (bytes); None for EV_STREAM"},
    {NULL, NULL},
};

static PyStructSequence_Desc request_desc = {
    "covet._native.Request",
    "A request head, and its body once complete: built once, never changed (fields named as in covet.runtime.events).",
    request_fields,
    8,
};

/* PERF: a Request is made for every request that reaches Python, and PyStructSequence_New and its deallocator look
 * the field count up in the type's dict each time (two lookups to make one, one to free it): ~45 ns a request more
 * than a tuple (perf/seam.py, the in-process path). Requests are made here with their size known, and kept on a
 * free list as tuples are. Like PyStructSequence_New's, they are not tracked by the GC: what they hold cannot make a
 * cycle through them. */
#define REQUEST_SIZE 8
#if PY_VERSION_HEX < 0x030D0000
#define REQUEST_FREE_MAX 64
static PyObject *request_free[REQUEST_FREE_MAX];
static int request_nfree;
#endif

static PyObject *request_new(void) {
#if PY_VERSION_HEX < 0x030D0000
    if (request_nfree > 0) {
        PyObject *op = request_free[--request_nfree];
        _Py_NewReference(op);
        return op;
    }
#endif
    PyTupleObject *t = PyObject_GC_NewVar(PyTupleObject, &covet_RequestType, REQUEST_SIZE);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < REQUEST_SIZE; i++)
        t->ob_item[i] = NULL;
    return (PyObject *)t;
}

static void request_dealloc(PyObject *op) {
    PyTupleObject *t = (PyTupleObject *)op;
    PyObject_GC_UnTrack(op);
    for (Py_ssize_t i = 0; i < Py_SIZE(op) && i < REQUEST_SIZE; i++)
        Py_CLEAR(t->ob_item[i]);
#if PY_VERSION_HEX < 0x030D0000
    if (Py_SIZE(op) == REQUEST_SIZE && request_nfree < REQUEST_FREE_MAX) {
        request_free[request_nfree++] = op;
        return;
    }
#endif
    PyObject_GC_Del(op);
}

static PyObject *ascii_str(const char *s, size_t n) {
    PyObject *u = PyUnicode_New((Py_ssize_t)n, 127);
    if (u && n)
        memcpy(PyUnicode_1BYTE_DATA(u), s, n);
    return u;
}

static PyObject *name_str(const h1_header *h) {
    PyObject *u;
    Py_UCS1 *d;
    size_t i;
    if (h->id != H1_H_OTHER) {
        Py_INCREF(g_hnames[h->id]);
        return g_hnames[h->id];
    }
    u = PyUnicode_New((Py_ssize_t)h->name_len, 127);
    if (!u)
        return NULL;
    d = PyUnicode_1BYTE_DATA(u);
    for (i = 0; i < h->name_len; i++)
        d[i] = h1_tchar_lc[(unsigned char)h->name[i]];
    return u;
}

static PyObject *value_str(const h1_header *h) {
    if (!h->value_8bit)
        return ascii_str(h->value, h->value_len);
    return PyUnicode_DecodeLatin1(h->value, (Py_ssize_t)h->value_len, NULL);
}

/* (name, value) of every header of r, or of those whose id is ``only`` (H1_H_OTHER: every header). */
static PyObject *headers_list(const h1_request *r, unsigned only) {
    Py_ssize_t n = 0;
    size_t i;
    for (i = 0; i < r->num_headers; i++)
        n += only == H1_H_OTHER || r->headers[i].id == only;
    PyObject *list = PyList_New(n);
    if (!list)
        return NULL;
    n = 0;
    for (i = 0; i < r->num_headers; i++) {
        const h1_header *h = &r->headers[i];
        if (only != H1_H_OTHER && h->id != only)
            continue;
        PyObject *pair = PyTuple_New(2), *o;
        if (!pair)
            goto fail;
        PyList_SET_ITEM(list, n++, pair);
        if (!(o = name_str(h)))
            goto fail;
        PyTuple_SET_ITEM(pair, 0, o);
        if (!(o = value_str(h)))
            goto fail;
        PyTuple_SET_ITEM(pair, 1, o);
    }
    return list;
fail:
    /* list and tuple deallocators skip the NULL slots */
    Py_DECREF(list);
    return NULL;
}

void covet_head_clear(struct covet_head *h) {
    Py_CLEAR(h->method);
    Py_CLEAR(h->path);
    Py_CLEAR(h->query);
    Py_CLEAR(h->headers);
}

int covet_head_set(struct covet_head *h, const h1_request *r, PyObject *path, int with_headers) {
    covet_head_clear(h);
    if (r->method_id != H1_M_OTHER)
        h->method = Py_NewRef(g_methods[r->method_id]);
    else if (!(h->method = ascii_str(r->method, r->method_len)))
        goto fail;

    if (path != NULL)
        h->path = Py_NewRef(path);
    else if (r->path_len == 1 && (r->path[0] == '/' || r->path[0] == '*'))
        h->path = Py_NewRef(r->path[0] == '/' ? g_slash : g_star);
    else if (!(h->path = ascii_str(r->path, r->path_len)))
        goto fail;

    if (r->query_len == 0)
        h->query = Py_NewRef(g_empty_str);
    else if (!(h->query = ascii_str(r->query, r->query_len)))
        goto fail;

    if (with_headers == COVET_HEADERS_NONE)
        h->headers = Py_NewRef(g_empty_list);
    else if (!(h->headers =
                   headers_list(r, with_headers == COVET_HEADERS_CONTENT_TYPE ? H1_H_CONTENT_TYPE : H1_H_OTHER)))
        goto fail;
    h->minor = r->minor;
    h->keep_alive = r->keep_alive != 0;
    return 0;
fail:
    covet_head_clear(h);
    return -1;
}

PyObject *covet_head_request(struct covet_head *h, int kind, PyObject *body) {
    PyObject *kind_obj = NULL, *minor = NULL, *req = NULL;
    if (!covet_head_held(h)) {
        PyErr_SetString(PyExc_SystemError, "a request without a head");
        goto fail;
    }
    if (!(kind_obj = PyLong_FromLong(kind)) || !(minor = PyLong_FromLong(h->minor)) || !(req = request_new()))
        goto fail;
    PyStructSequence_SET_ITEM(req, 0, kind_obj);
    PyStructSequence_SET_ITEM(req, 1, h->method);
    PyStructSequence_SET_ITEM(req, 2, h->path);
    PyStructSequence_SET_ITEM(req, 3, h->query);
    PyStructSequence_SET_ITEM(req, 4, minor);
    PyStructSequence_SET_ITEM(req, 5, h->headers);
    PyStructSequence_SET_ITEM(req, 6, Py_NewRef(h->keep_alive ? Py_True : Py_False));
    PyStructSequence_SET_ITEM(req, 7, Py_NewRef(body));
    h->method = h->path = h->query = h->headers = NULL; /* moved into req */
    return req;
fail:
    Py_XDECREF(kind_obj);
    Py_XDECREF(minor);
    covet_head_clear(h);
    return NULL;
}

static PyObject *interned(const char *s) {
    return PyUnicode_InternFromString(s);
}

int covet_events_init(void) {
    int i;
    for (i = 1; i < H1_M__COUNT; i++)
        if (!g_methods[i] && !(g_methods[i] = interned(h1_method_names[i])))
            return -1;
    for (i = 1; i < H1_H__COUNT; i++)
        if (!g_hnames[i] && !(g_hnames[i] = interned(h1_header_names[i])))
            return -1;
    if (!g_empty_str && !(g_empty_str = interned("")))
        return -1;
    if (!g_slash && !(g_slash = interned("/")))
        return -1;
    if (!g_star && !(g_star = interned("*")))
        return -1;
    if (!g_ev_error && !(g_ev_error = PyLong_FromLong(EV_ERROR)))
        return -1;
    if (!g_continue_event && !(g_continue_event = Py_BuildValue("(i)", EV_CONTINUE)))
        return -1;
    if (!g_empty_list && !(g_empty_list = PyList_New(0)))
        return -1;
    if (!g_body_end && !(g_body_end = Py_BuildValue("(i)", EV_END)))
        return -1;
    if (covet_RequestType.tp_name == NULL) {
        if (PyStructSequence_InitType2(&covet_RequestType, &request_desc) < 0)
            return -1;
        covet_RequestType.tp_dealloc = request_dealloc;
    }
    return 0;
}

PyObject *covet_make_data(const char *p, size_t n) {
    PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    if (b == NULL)
        return NULL;
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    PyObject *kind = PyLong_FromLong(EV_DATA);
    if (kind == NULL) {
        Py_DECREF(b);
        Py_DECREF(t);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, kind);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}
