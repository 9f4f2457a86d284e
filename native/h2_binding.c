/*
 * covet._h2native.H2Native: an HTTP/2 server connection framed by nghttp2 (h2_server.c), with the same methods and
 * events as covet/runtime/h2_core.H2Core (the h2_session.H2Framing contract), so the session takes either.
 *
 * This file only turns the core's events into objects and the session's responses into nghttp2's name/value
 * pairs; the protocol is the core's.  Built only where nghttp2's headers are (setup.py): without it, the server
 * frames HTTP/2 with h2 (docs/http2.md, "Framing").
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <string.h>

#include "fields.h"
#include "h2_server.h"

typedef struct {
    PyObject_HEAD
    h2_server s;
    PyObject *events; /* what emit() appended since the last feed() returned (NULL: none) */
    int ready;
} H2NativeObject;

/* -- events as tuples --------------------------------------------------------------------------------------------- */

static PyObject *latin1(const h2_stream *st, uint32_t off, size_t len) {
    return PyUnicode_DecodeLatin1(h2_at(st, off), (Py_ssize_t)len, NULL);
}

/* method, path, query, headers: the items of a request's head (h2_core's order). */
static int head_items(const h2_stream *st, PyObject *items[4]) {
    uint32_t plen = st->path.value_len, q = st->query_at;
    items[0] = latin1(st, st->method.value, st->method.value_len);
    items[1] = latin1(st, st->path.value, q <= plen ? q - 1 : plen);
    items[2] = q <= plen ? latin1(st, st->path.value + q, plen - q) : PyUnicode_New(0, 0);
    items[3] = PyList_New(st->nfields);
    if (!items[0] || !items[1] || !items[2] || !items[3])
        goto fail;
    for (uint32_t i = 0; i < st->nfields; i++) {
        const h2_field *f = &st->fields[i];
        PyObject *name = latin1(st, f->name, f->name_len);
        PyObject *value = name ? latin1(st, f->value, f->value_len) : NULL;
        PyObject *pair = value ? PyTuple_Pack(2, name, value) : NULL;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (pair == NULL)
            goto fail;
        PyList_SET_ITEM(items[3], i, pair);
    }
    return 0;
fail:
    for (int i = 0; i < 4; i++)
        Py_CLEAR(items[i]);
    return -1;
}

static PyObject *event_tuple(const h2_event *ev) {
    PyObject *items[4];
    switch (ev->kind) {
    case H2_EV_REQUEST:
        if (head_items(ev->stream, items) < 0)
            return NULL;
        return Py_BuildValue("(iiNNNNy#)", ev->kind, ev->sid, items[0], items[1], items[2], items[3], ev->data,
                             (Py_ssize_t)ev->len);
    case H2_EV_STREAM:
        if (head_items(ev->stream, items) < 0)
            return NULL;
        return Py_BuildValue("(iiNNNN)", ev->kind, ev->sid, items[0], items[1], items[2], items[3]);
    case H2_EV_DATA:
        return Py_BuildValue("(iiy#)", ev->kind, ev->sid, ev->data, (Py_ssize_t)ev->len);
    case H2_EV_RESET:
        return Py_BuildValue("(iik)", ev->kind, ev->sid, (unsigned long)ev->code);
    case H2_EV_GOAWAY:
        return Py_BuildValue("(ikN)", ev->kind, (unsigned long)ev->code,
                             PyUnicode_DecodeLatin1((const char *)ev->data, (Py_ssize_t)ev->len, NULL));
    default: /* END, WINDOW */
        return Py_BuildValue("(ii)", ev->kind, ev->sid);
    }
}

static int emit(void *ctx, const h2_event *ev) {
    H2NativeObject *self = ctx;
    if (self->events == NULL && (self->events = PyList_New(0)) == NULL)
        return -1;
    PyObject *t = event_tuple(ev);
    if (t == NULL)
        return -1;
    int rv = PyList_Append(self->events, t);
    Py_DECREF(t);
    return rv;
}

/* -- construction ------------------------------------------------------------------------------------------------- */

static int limit(PyObject *limits, const char *name, uint64_t most, uint64_t *out) {
    PyObject *v = PyObject_GetAttrString(limits, name);
    if (v == NULL)
        return -1;
    unsigned long long n = PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    if (n == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (n > most) {
        PyErr_Format(PyExc_ValueError, "H2Limits.%s is too large: %llu", name, n);
        return -1;
    }
    *out = n;
    return 0;
}

static int read_limits(PyObject *limits, h2_limits *lim) {
    h2_limits_default(lim);
    if (limits == NULL || limits == Py_None)
        return 0;
    uint64_t v[12];
    static const char *const names[12] = {
        "max_concurrent_streams", "max_header_bytes", "max_body",      "max_held",     "window",      "max_frame_size",
        "resets_burst",           "resets_rate",      "control_burst", "control_rate", "empty_burst", "empty_rate"};
    for (int i = 0; i < 12; i++) {
        uint64_t most = i == 2 || i == 3 ? (uint64_t)INT64_MAX : i == 4 ? 0x7fffffffu : UINT32_MAX;
        if (limit(limits, names[i], most, &v[i]) < 0)
            return -1;
    }
    if (v[5] < 16384 || v[5] > 16777215) {
        PyErr_SetString(PyExc_ValueError, "H2Limits.max_frame_size must be 16384-16777215 (RFC 9113 section 6.5.2)");
        return -1;
    }
    lim->max_concurrent_streams = (uint32_t)v[0];
    lim->max_header_bytes = (uint32_t)v[1];
    lim->max_body = v[2];
    lim->max_held = v[3];
    lim->window = (uint32_t)v[4];
    lim->max_frame_size = (uint32_t)v[5];
    lim->resets_burst = (uint32_t)v[6];
    lim->resets_rate = (uint32_t)v[7];
    lim->control_burst = (uint32_t)v[8];
    lim->control_rate = (uint32_t)v[9];
    lim->empty_burst = (uint32_t)v[10];
    lim->empty_rate = (uint32_t)v[11];
    return 0;
}

static int H2Native_init(H2NativeObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"limits", "upgrade", NULL};
    PyObject *limits = Py_None;
    Py_buffer settings = {0};
    settings.buf = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Oz*:H2Native", kwlist, &limits, &settings))
        return -1;
    h2_limits lim;
    int rv = read_limits(limits, &lim);
    if (rv == 0) {
        if (self->ready)
            h2_server_free(&self->s);
        self->ready = 0;
        rv = h2_server_init(&self->s, &lim, emit, self, settings.buf, (size_t)settings.len, 0);
        if (rv == -1)
            PyErr_NoMemory();
        else if (rv == -2)
            PyErr_SetString(PyExc_ValueError, "HTTP2-Settings not valid: not a SETTINGS payload");
        else
            self->ready = 1;
    }
    if (settings.buf != NULL)
        PyBuffer_Release(&settings);
    return rv == 0 ? 0 : -1;
}

static void H2Native_dealloc(H2NativeObject *self) {
    if (self->ready)
        h2_server_free(&self->s);
    Py_XDECREF(self->events);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(H2NativeObject *self) {
    if (self->ready)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "H2Native.__init__ was not called");
    return 0;
}

static PyObject *take_events(H2NativeObject *self) {
    PyObject *events = self->events;
    self->events = NULL;
    return events != NULL ? events : PyList_New(0);
}

/* -- input -------------------------------------------------------------------------------------------------------- */

static PyObject *H2Native_feed(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "feed(data, now)");
        return NULL;
    }
    if (!ready(self))
        return NULL;
    double now = PyFloat_AsDouble(args[1]);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    int rv = h2_feed(&self->s, data.buf, (size_t)data.len, now);
    PyBuffer_Release(&data);
    if (rv < 0) { /* an event could not be built: the connection is ended, the exception stands */
        Py_CLEAR(self->events);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    return take_events(self);
}

static PyObject *H2Native_data_to_send(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    h2_server *s = &self->s;
    (void)h2_pump(s);
    size_t n = s->wire.len - s->wire.off;
    PyObject *out = PyBytes_FromStringAndSize(n ? (const char *)s->wire.p + s->wire.off : "", (Py_ssize_t)n);
    if (out != NULL)
        h2_wire_taken(s);
    return out;
}

/* upgraded(method, path, query, headers) -> the H2_REQUEST of stream 1 */
static PyObject *H2Native_upgraded(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char *const dropped[] = {"connection", "upgrade", "http2-settings"};
    if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || !PyUnicode_Check(args[2]) ||
        !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "upgraded(method: str, path: str, query: str, headers: list)");
        return NULL;
    }
    if (!ready(self))
        return NULL;
    h2_stream *st = h2_upgraded_stream(&self->s);
    if (st == NULL || st->method.name_len) {
        PyErr_SetString(PyExc_RuntimeError, "upgraded(): not a connection upgraded from HTTP/1.1");
        return NULL;
    }
    PyObject *target =
        PyUnicode_GET_LENGTH(args[2]) ? PyUnicode_FromFormat("%U?%U", args[1], args[2]) : Py_NewRef(args[1]);
    if (target == NULL)
        return NULL;
    /* (Latin-1 both ways: what HTTP/1.1's parser decoded, and what the events decode) */
    PyObject *mb = PyUnicode_AsLatin1String(args[0]);
    PyObject *pb = mb ? PyUnicode_AsLatin1String(target) : NULL;
    Py_DECREF(target);
    int rv = pb ? h2_stream_set_head(st, PyBytes_AS_STRING(mb), (size_t)PyBytes_GET_SIZE(mb), PyBytes_AS_STRING(pb),
                                     (size_t)PyBytes_GET_SIZE(pb))
                : 0;
    Py_XDECREF(mb);
    Py_XDECREF(pb);
    if (pb == NULL)
        return NULL;
    for (Py_ssize_t i = 0; rv == 0 && i < PyList_GET_SIZE(args[3]); i++) {
        PyObject *pair = PyList_GET_ITEM(args[3], i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "upgraded(): headers are (str, str) pairs");
            return NULL;
        }
        PyObject *nb = PyUnicode_AsLatin1String(PyTuple_GET_ITEM(pair, 0));
        PyObject *vb = nb ? PyUnicode_AsLatin1String(PyTuple_GET_ITEM(pair, 1)) : NULL;
        if (vb == NULL) {
            Py_XDECREF(nb);
            return NULL;
        }
        const char *name = PyBytes_AS_STRING(nb);
        size_t nlen = (size_t)PyBytes_GET_SIZE(nb);
        int skip = 0;
        for (int j = 0; j < 3; j++)
            skip |= nlen == strlen(dropped[j]) && memcmp(name, dropped[j], nlen) == 0;
        if (!skip)
            rv = h2_stream_add_field(st, name, nlen, PyBytes_AS_STRING(vb), (size_t)PyBytes_GET_SIZE(vb));
        Py_DECREF(nb);
        Py_DECREF(vb);
    }
    if (rv < 0)
        return PyErr_NoMemory();
    h2_event ev = {H2_EV_REQUEST, 1, 0, st, (const uint8_t *)"", 0};
    return event_tuple(&ev);
}

static PyObject *H2Native_consume(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    long long sid, n;
    if (nargs != 2 || ((sid = PyLong_AsLongLong(args[0])) == -1 && PyErr_Occurred()) ||
        ((n = PyLong_AsLongLong(args[1])) == -1 && PyErr_Occurred())) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "consume(sid, n)");
        return NULL;
    }
    if (!ready(self))
        return NULL;
    if (sid > 0 && sid <= INT32_MAX && n > 0)
        h2_consume(&self->s, (int32_t)sid, (uint64_t)n);
    Py_RETURN_NONE;
}

/* -- output ------------------------------------------------------------------------------------------------------- */

static int sid_arg(PyObject *arg, int32_t *sid) {
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred())
        return -1;
    *sid = v > 0 && v <= INT32_MAX ? (int32_t)v : 0; /* (0 names no stream: nothing is found by it) */
    return 0;
}

/* How the methods that name a stream begin: their argument count, the object ready, args[0] a stream id. */
static int stream_call(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t least, Py_ssize_t most,
                       const char *usage, int32_t *sid) {
    if (nargs < least || nargs > most) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    return ready(self) && sid_arg(args[0], sid) == 0 ? 0 : -1;
}

/* Fields a response's handler may set that the server writes (content-length) or HTTP/2 forbids (RFC 9113 8.2.2). */
static int framing(const char *name, size_t len) {
    static const char *const names[] = {"content-length",   "connection",        "keep-alive",
                                        "proxy-connection", "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i]) && memcmp(name, names[i], len) == 0)
            return 1;
    return 0;
}

/* A response's fields as nghttp2's pairs: lower-cased names (in ``names``), values lent by the bytes objects
 * ``seq`` holds, the framing fields left out, each checked as HTTP/1.1's writer would. */
typedef struct {
    nghttp2_nv stack_nv[32];
    char stack_names[1024];
    nghttp2_nv *nva;
    char *names;
    size_t n;
    PyObject *seq;
} nvlist;

static void nvlist_free(nvlist *l) {
    if (l->nva != NULL && l->nva != l->stack_nv)
        PyMem_Free(l->nva);
    if (l->names != NULL && l->names != l->stack_names)
        PyMem_Free(l->names);
    Py_CLEAR(l->seq);
}

/* ``first`` entries are left for the caller before the fields, and one after them. 0, or -1 with an exception. */
static int nvlist_build(nvlist *l, PyObject *headers, size_t first) {
    l->nva = NULL;
    l->names = NULL;
    l->n = first;
    l->seq = PySequence_Fast(headers, "response fields must be an iterable of (bytes, bytes) pairs");
    if (l->seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(l->seq);
    PyObject **items = PySequence_Fast_ITEMS(l->seq);
    size_t names_len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = items[i];
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_Format(PyExc_TypeError, "a response header must be a (bytes, bytes) pair, not %.200R", pair);
            goto fail;
        }
        names_len += (size_t)PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0));
    }
    size_t slots = (size_t)n + first + 1;
    l->nva = slots <= 32 ? l->stack_nv : PyMem_Malloc(slots * sizeof *l->nva);
    l->names = names_len <= sizeof l->stack_names ? l->stack_names : PyMem_Malloc(names_len);
    if (l->nva == NULL || l->names == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    size_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(items[i], 0), *value = PyTuple_GET_ITEM(items[i], 1);
        size_t nlen = (size_t)PyBytes_GET_SIZE(name), vlen = (size_t)PyBytes_GET_SIZE(value);
        const char *src = PyBytes_AS_STRING(name);
        char *low = l->names + at;
        for (size_t j = 0; j < nlen; j++) {
            char c = src[j];
            low[j] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        if (framing(low, nlen))
            continue; /* the server frames the message; connection-specific fields are malformed in HTTP/2 */
        size_t bad_at = 0;
        enum h1_field_fault fault = h1_field_check(low, nlen, PyBytes_AS_STRING(value), vlen, &bad_at);
        if (fault != H1_FIELD_OK) {
            if (fault == H1_FIELD_EMPTY_NAME)
                PyErr_SetString(PyExc_ValueError, "invalid response header: the name is empty");
            else
                PyErr_Format(PyExc_ValueError, "invalid response header %R: %s (at byte %zu)", name,
                             h1_field_fault_text(fault), bad_at);
            goto fail;
        }
        at += nlen;
        l->nva[l->n++] =
            (nghttp2_nv){(uint8_t *)low, (uint8_t *)PyBytes_AS_STRING(value), nlen, vlen, NGHTTP2_NV_FLAG_NONE};
    }
    return 0;
fail:
    nvlist_free(l);
    return -1;
}

/* respond(sid, status, headers, body=b"", end=True, length=-1) -> bool */
static PyObject *H2Native_respond(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t sid;
    if (stream_call(self, args, nargs, 3, 6, "respond(sid, status, headers, body=b'', end=True, length=-1)", &sid) < 0)
        return NULL;
    long status = PyLong_AsLong(args[1]);
    if (status == -1 && PyErr_Occurred())
        return NULL;
    int end = nargs > 4 ? PyObject_IsTrue(args[4]) : 1;
    long long length = nargs > 5 ? PyLong_AsLongLong(args[5]) : -1;
    if (end < 0 || (length == -1 && PyErr_Occurred()))
        return NULL;
    h2_stream *st = h2_find(&self->s, sid);
    if (self->s.closed || st == NULL || !st->open || st->headed)
        Py_RETURN_FALSE;
    if (status < 200 || status > 599) {
        PyErr_Format(PyExc_ValueError, "invalid response status %ld: a response's status must be 200-599", status);
        return NULL;
    }
    char status_text[4], length_text[24];
    PyOS_snprintf(status_text, sizeof status_text, "%03ld", status);
    nvlist l;
    if (nvlist_build(&l, args[2], 1) < 0)
        return NULL;
    l.nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_text, 7, 3, NGHTTP2_NV_FLAG_NONE};
    if (length >= 0) {
        int len = PyOS_snprintf(length_text, sizeof length_text, "%lld", length);
        l.nva[l.n++] =
            (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length_text, 14, (size_t)len, NGHTTP2_NV_FLAG_NONE};
    }
    PyObject *result = NULL;
    Py_buffer body = {0};
    body.buf = NULL;
    if (nargs > 3 && PyObject_GetBuffer(args[3], &body, PyBUF_SIMPLE) < 0)
        goto done;
    int rv = h2_respond(&self->s, sid, l.nva, l.n, body.buf, (size_t)body.len, end);
    if (rv < 0)
        PyErr_NoMemory();
    else
        result = PyBool_FromLong(rv);
done:
    if (body.buf != NULL)
        PyBuffer_Release(&body);
    nvlist_free(&l);
    return result;
}

/* send(sid, data, end=False) -> bytes still held for the peer's windows, -1: the stream is gone */
static PyObject *H2Native_send(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t sid;
    if (stream_call(self, args, nargs, 2, 3, "send(sid, data, end=False)", &sid) < 0)
        return NULL;
    int end = nargs > 2 ? PyObject_IsTrue(args[2]) : 0;
    if (end < 0)
        return NULL;
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    int64_t held = h2_send(&self->s, sid, data.buf, (size_t)data.len, end);
    PyBuffer_Release(&data);
    if (held == -2) {
        PyErr_SetString(PyExc_RuntimeError, "send() before respond(): DATA cannot precede the response head");
        return NULL;
    }
    if (held == -3)
        return PyErr_NoMemory();
    return PyLong_FromLongLong(held);
}

/* trailers(sid, fields) -> bool: the response ends with these fields once what was sent is out */
static PyObject *H2Native_trailers(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t sid;
    if (stream_call(self, args, nargs, 2, 2, "trailers(sid, fields)", &sid) < 0)
        return NULL;
    h2_stream *st = h2_find(&self->s, sid);
    if (self->s.closed || st == NULL || !st->open)
        Py_RETURN_FALSE;
    nvlist l;
    if (nvlist_build(&l, args[1], 0) < 0)
        return NULL;
    int rv = h2_trailers(&self->s, sid, l.nva, l.n);
    nvlist_free(&l);
    if (rv == -2) {
        PyErr_SetString(PyExc_RuntimeError, "trailers() before respond(): they end a response");
        return NULL;
    }
    if (rv < 0)
        return PyErr_NoMemory();
    return PyBool_FromLong(rv);
}

static PyObject *H2Native_reset(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    int32_t sid;
    long long code = H2_CANCEL;
    if (stream_call(self, args, nargs, 1, 2, "reset(sid, code=CANCEL)", &sid) < 0)
        return NULL;
    if (nargs > 1 && (code = PyLong_AsLongLong(args[1])) == -1 && PyErr_Occurred())
        return NULL;
    h2_reset(&self->s, sid, code >= 0 && code <= 0xffffffffLL ? (uint32_t)code : H2_INTERNAL_ERROR);
    Py_RETURN_NONE;
}

static PyObject *H2Native_shutdown(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    h2_shutdown(&self->s);
    Py_RETURN_NONE;
}

static PyObject *H2Native_lost(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (self->ready)
        self->s.closed = 1;
    Py_RETURN_NONE;
}

static PyObject *H2Native_finished(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    return PyBool_FromLong(h2_finished(&self->s));
}

static PyObject *H2Native_busy(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    if (!self->s.closed)
        (void)h2_pump(&self->s);
    return PyBool_FromLong(self->s.nopen > 0);
}

static PyObject *H2Native_open_streams(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    if (!self->s.closed)
        (void)h2_pump(&self->s);
    PyObject *out = PyList_New(0);
    for (h2_stream *st = self->s.open; out != NULL && st; st = st->next) {
        PyObject *sid = PyLong_FromLong(st->sid);
        if (sid == NULL || PyList_Append(out, sid) < 0)
            Py_CLEAR(out);
        Py_XDECREF(sid);
    }
    return out;
}

static PyObject *H2Native_held(H2NativeObject *self, PyObject *arg) {
    int32_t sid;
    if (!ready(self) || sid_arg(arg, &sid) < 0)
        return NULL;
    return PyLong_FromLongLong(h2_held(&self->s, sid));
}

static PyObject *H2Native_held_out(H2NativeObject *self, PyObject *unused) {
    (void)unused;
    if (!ready(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(h2_held_out(&self->s));
}

static PyObject *H2Native_request_head(H2NativeObject *self, PyObject *arg) {
    int32_t sid;
    if (!ready(self) || sid_arg(arg, &sid) < 0)
        return NULL;
    h2_stream *st = h2_find(&self->s, sid);
    if (st == NULL || !st->open) {
        PyErr_Format(PyExc_KeyError, "no open stream %d", (int)sid);
        return NULL;
    }
    PyObject *items[4];
    if (head_items(st, items) < 0)
        return NULL;
    return Py_BuildValue("(NNNN)", items[0], items[1], items[2], items[3]);
}

/* The open streams whose clock (``held``: output held, for progress; else a request held whole, for heard) has
 * not moved for timeout seconds: stalled() and unfinished(). */
static PyObject *late(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs, int held) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "(now, timeout)");
        return NULL;
    }
    if (!ready(self))
        return NULL;
    double now = PyFloat_AsDouble(args[0]), timeout = PyFloat_AsDouble(args[1]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL || self->s.closed)
        return out;
    if (held)
        (void)h2_pump(&self->s);
    for (h2_stream *st = self->s.open; st; st = st->next) {
        int is_late = held ? st->out.len > st->out.off && now - st->progress >= timeout
                           : !st->ended && !st->streaming && !st->headed && now - st->heard >= timeout;
        if (!is_late)
            continue;
        PyObject *sid = PyLong_FromLong(st->sid);
        if (sid == NULL || PyList_Append(out, sid) < 0) {
            Py_XDECREF(sid);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(sid);
    }
    return out;
}

static PyObject *H2Native_stalled(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return late(self, args, nargs, 1);
}

static PyObject *H2Native_unfinished(H2NativeObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return late(self, args, nargs, 0);
}

static PyObject *H2Native_get_closed(H2NativeObject *self, void *unused) {
    (void)unused;
    return PyBool_FromLong(!self->ready || self->s.closed);
}

static PyMethodDef H2Native_methods[] = {
    {"feed", (PyCFunction)(void (*)(void))H2Native_feed, METH_FASTCALL,
     "feed(data, now) -> events: what data (any piece of the input) says; now is the transport's clock."},
    {"data_to_send", (PyCFunction)H2Native_data_to_send, METH_NOARGS, "data_to_send() -> bytes"},
    {"upgraded", (PyCFunction)(void (*)(void))H2Native_upgraded, METH_FASTCALL,
     "upgraded(method, path, query, headers): the HTTP/1.1 request that upgraded to h2c, as stream 1's H2_REQUEST."},
    {"respond", (PyCFunction)(void (*)(void))H2Native_respond, METH_FASTCALL,
     "respond(sid, status, headers, body=b'', end=True, length=-1) -> bool (False: the stream is gone); ValueError "
     "for a status or field that cannot be sent, before anything is."},
    {"send", (PyCFunction)(void (*)(void))H2Native_send, METH_FASTCALL,
     "send(sid, data, end=False) -> bytes held for the peer's windows (-1: the stream is gone)"},
    {"consume", (PyCFunction)(void (*)(void))H2Native_consume, METH_FASTCALL,
     "consume(sid, n): the application took n bytes of a streamed body."},
    {"trailers", (PyCFunction)(void (*)(void))H2Native_trailers, METH_FASTCALL,
     "trailers(sid, fields) -> bool: end a response begun with end=False with trailer fields."},
    {"reset", (PyCFunction)(void (*)(void))H2Native_reset, METH_FASTCALL, "reset(sid, code=CANCEL)"},
    {"shutdown", (PyCFunction)H2Native_shutdown, METH_NOARGS, "Graceful GOAWAY: newer streams are refused."},
    {"lost", (PyCFunction)H2Native_lost, METH_NOARGS, "The connection is gone."},
    {"finished", (PyCFunction)H2Native_finished, METH_NOARGS, "After a graceful GOAWAY: every stream finished."},
    {"busy", (PyCFunction)H2Native_busy, METH_NOARGS, "Some stream is open."},
    {"open_streams", (PyCFunction)H2Native_open_streams, METH_NOARGS, "The streams open, in no order."},
    {"held", (PyCFunction)H2Native_held, METH_O, "held(sid) -> response bytes held (-1: the stream is gone)"},
    {"held_out", (PyCFunction)H2Native_held_out, METH_NOARGS, "Response bytes held, all streams."},
    {"request_head", (PyCFunction)H2Native_request_head, METH_O, "request_head(sid) -> (method, path, query, headers)"},
    {"stalled", (PyCFunction)(void (*)(void))H2Native_stalled, METH_FASTCALL,
     "stalled(now, timeout) -> streams whose held output has not moved for timeout seconds"},
    {"unfinished", (PyCFunction)(void (*)(void))H2Native_unfinished, METH_FASTCALL,
     "unfinished(now, timeout) -> requests held whole whose next piece has not come for timeout seconds"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef H2Native_getset[] = {{"closed", (getter)H2Native_get_closed, NULL, "The connection is over.", NULL},
                                        {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject H2NativeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._h2native.H2Native",
    .tp_basicsize = sizeof(H2NativeObject),
    .tp_dealloc = (destructor)H2Native_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "H2Native(limits=None, upgrade=None): one server-side HTTP/2 connection framed by nghttp2 (see "
              "covet/runtime/h2_core.H2Core, whose methods and events it shares). upgrade: the decoded "
              "HTTP2-Settings of an h2c upgrade.",
    .tp_methods = H2Native_methods,
    .tp_getset = H2Native_getset,
    .tp_init = (initproc)H2Native_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef h2native_module = {PyModuleDef_HEAD_INIT,
                                             "covet._h2native",
                                             "HTTP/2 framed by nghttp2 (native/h2_server.c).",
                                             -1,
                                             NULL,
                                             NULL,
                                             NULL,
                                             NULL,
                                             NULL};

PyMODINIT_FUNC PyInit__h2native(void) {
    if (PyType_Ready(&H2NativeType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&h2native_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "H2Native", (PyObject *)&H2NativeType) < 0 ||
        PyModule_AddStringConstant(m, "NGHTTP2_VERSION", nghttp2_version(0)->version_str) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
