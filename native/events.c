/* Python objects of parser events, shared by the Parser type and the io_uring server (see events.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "events.h"

PyObject *g_methods[H1_M__COUNT];
PyObject *g_hnames[H1_H__COUNT];
PyObject *g_empty_str, *g_slash, *g_star;
PyObject *g_ev_request, *g_ev_error;
PyObject *g_continue_event; /* the immutable (1,) */
PyObject *g_ev_stream, *g_ev_data;
PyObject *g_body_end;
PyObject *g_empty_list;


static PyObject *ascii_str(const char *s, size_t n)
{
    PyObject *u = PyUnicode_New((Py_ssize_t)n, 127);
    if (u && n)
        memcpy(PyUnicode_1BYTE_DATA(u), s, n);
    return u;
}

static PyObject *name_str(const h1_header *h)
{
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

static PyObject *value_str(const h1_header *h)
{
    if (!h->value_8bit)
        return ascii_str(h->value, h->value_len);
    return PyUnicode_DecodeLatin1(h->value, (Py_ssize_t)h->value_len, NULL);
}

static PyObject *headers_list(const h1_request *r)
{
    PyObject *list = PyList_New((Py_ssize_t)r->num_headers);
    size_t i;
    if (!list)
        return NULL;
    for (i = 0; i < r->num_headers; i++) {
        const h1_header *h = &r->headers[i];
        PyObject *pair = PyTuple_New(2), *o;
        if (!pair)
            goto fail;
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
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

PyObject *covet_make_head(const h1_request *r)
{
    return covet_make_head_with(r, NULL, 1);
}

/* (0, method, path, query, minor, headers, keep_alive, <body later>) */
PyObject *covet_make_head_with(const h1_request *r, PyObject *path, int with_headers)
{
    PyObject *t = PyTuple_New(8), *o;
    if (!t)
        return NULL;
    Py_INCREF(g_ev_request);
    PyTuple_SET_ITEM(t, 0, g_ev_request);

    if (r->method_id != H1_M_OTHER) {
        o = g_methods[r->method_id];
        Py_INCREF(o);
    } else if (!(o = ascii_str(r->method, r->method_len))) {
        goto fail;
    }
    PyTuple_SET_ITEM(t, 1, o);

    if (path != NULL) {
        o = path;
        Py_INCREF(o);
    } else if (r->path_len == 1 && (r->path[0] == '/' || r->path[0] == '*')) {
        o = r->path[0] == '/' ? g_slash : g_star;
        Py_INCREF(o);
    } else if (!(o = ascii_str(r->path, r->path_len))) {
        goto fail;
    }
    PyTuple_SET_ITEM(t, 2, o);

    if (r->query_len == 0) {
        o = g_empty_str;
        Py_INCREF(o);
    } else if (!(o = ascii_str(r->query, r->query_len))) {
        goto fail;
    }
    PyTuple_SET_ITEM(t, 3, o);

    if (!(o = PyLong_FromLong(r->minor)))
        goto fail;
    PyTuple_SET_ITEM(t, 4, o);
    if (!with_headers) {
        o = g_empty_list;
        Py_INCREF(o);
    } else if (!(o = headers_list(r))) {
        goto fail;
    }
    PyTuple_SET_ITEM(t, 5, o);
    o = r->keep_alive ? Py_True : Py_False;
    Py_INCREF(o);
    PyTuple_SET_ITEM(t, 6, o);
    return t;
fail:
    Py_DECREF(t);
    return NULL;
}

static PyObject *interned(const char *s)
{
    return PyUnicode_InternFromString(s);
}

int covet_events_init(void)
{
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
    if (!g_ev_request && !(g_ev_request = PyLong_FromLong(0)))
        return -1;
    if (!g_ev_error && !(g_ev_error = PyLong_FromLong(2)))
        return -1;
    if (!g_continue_event && !(g_continue_event = Py_BuildValue("(i)", 1)))
        return -1;
    if (!g_empty_list && !(g_empty_list = PyList_New(0)))
        return -1;
    if (!g_ev_stream && !(g_ev_stream = PyLong_FromLong(3)))
        return -1;
    if (!g_ev_data && !(g_ev_data = PyLong_FromLong(4)))
        return -1;
    if (!g_body_end && !(g_body_end = Py_BuildValue("(i)", 5)))
        return -1;
    return 0;
}

PyObject *covet_stream_head(PyObject *head)
{
    /* The tuple is ours alone (fresh from covet_make_head*, item 7 still NULL): filling it in place is safe. */
    if (head == NULL || Py_REFCNT(head) != 1 || PyTuple_GET_ITEM(head, 7) != NULL) {
        Py_XDECREF(head);
        PyErr_SetString(PyExc_SystemError, "stream head: not a fresh head tuple");
        return NULL;
    }
    Py_INCREF(g_ev_stream);
    Py_SETREF(PyTuple_GET_ITEM(head, 0), g_ev_stream);
    Py_INCREF(Py_None);
    PyTuple_SET_ITEM(head, 7, Py_None);
    return head;
}

PyObject *covet_make_data(const char *p, size_t n)
{
    PyObject *b = PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
    if (b == NULL)
        return NULL;
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    Py_INCREF(g_ev_data);
    PyTuple_SET_ITEM(t, 0, g_ev_data);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}
