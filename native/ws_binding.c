/*
 * covet._native.WSParser: the frames a WebSocket client sends, parsed by the C core (ws_frame.c), as Python
 * tuples; and ws_frame() / utf8_valid() for the server's side.
 *
 * All the protocol lives in the core; this file only turns its events into objects.  A text message is checked
 * UTF-8 by the core as it arrives, so it becomes a str without a second look at it (PyUnicode_DecodeUTF8 only
 * copies, with its ASCII fast path).
 */
#include "ws_binding.h"

#include <limits.h>

#include <string.h>

#include "ws_frame.h"

/* The defaults of WSParser(): a megabyte per frame and per message (the websockets library's default too). */
#define WS_DEFAULT_MAX 1048576

typedef struct {
    PyObject_HEAD
    ws_parser p;
    int busy;
} WSParserObject;

static void wsparser_setup(WSParserObject *self, long long max_frame, long long max_message, int rsv1_allowed) {
    ws_limits lim;
    lim.max_frame = (uint64_t)max_frame;
    lim.max_message = (uint64_t)max_message;
    ws_parser_free(&self->p);
    ws_parser_init(&self->p, &lim);
    self->p.rsv1_allowed = (uint8_t)(rsv1_allowed != 0);
}

static PyObject *WSParser_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    WSParserObject *self = (WSParserObject *)type->tp_alloc(type, 0);
    (void)args;
    (void)kw;
    if (self)
        wsparser_setup(self, WS_DEFAULT_MAX, WS_DEFAULT_MAX, 0);
    return (PyObject *)self;
}

static int WSParser_init(WSParserObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_frame", "max_message", "rsv1_allowed", NULL};
    long long max_frame = WS_DEFAULT_MAX, max_message = WS_DEFAULT_MAX;
    int rsv1_allowed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$LLp:WSParser", kwlist, &max_frame, &max_message, &rsv1_allowed))
        return -1;
    if (max_frame < 0 || max_message < 0) {
        PyErr_SetString(PyExc_ValueError, "WSParser(): max_frame and max_message cannot be negative");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WSParser is busy");
        return -1;
    }
    wsparser_setup(self, max_frame, max_message, rsv1_allowed);
    return 0;
}

static void WSParser_dealloc(WSParserObject *self) {
    ws_parser_free(&self->p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* (kind, a) or (kind, code, a), stealing `a`; NULL when `a` is NULL or on failure. */
static PyObject *event(int kind, PyObject *a, int code, int with_code) {
    PyObject *t, *k, *c = NULL;
    if (!a)
        return NULL;
    k = PyLong_FromLong(kind);
    if (with_code)
        c = PyLong_FromLong(code);
    t = PyTuple_New(with_code ? 3 : 2);
    if (!k || (with_code && !c) || !t) {
        Py_XDECREF(k);
        Py_XDECREF(c);
        Py_XDECREF(t);
        Py_DECREF(a);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, k);
    if (with_code) {
        PyTuple_SET_ITEM(t, 1, c);
        PyTuple_SET_ITEM(t, 2, a);
    } else {
        PyTuple_SET_ITEM(t, 1, a);
    }
    return t;
}

static PyObject *bytes_of(const ws_event *ev) {
    return PyBytes_FromStringAndSize((const char *)ev->data, (Py_ssize_t)ev->len);
}

/* The core checked the bytes: this cannot fail but for memory. */
static PyObject *str_of(const ws_event *ev) {
    return PyUnicode_DecodeUTF8((const char *)ev->data, (Py_ssize_t)ev->len, NULL);
}

static PyObject *to_python(const ws_event *ev) {
    switch (ev->kind) {
    case WS_EV_TEXT:
        if (ev->compressed)
            return event(COVET_WS_TEXT_COMPRESSED, bytes_of(ev), 0, 0);
        return event(COVET_WS_TEXT, str_of(ev), 0, 0);
    case WS_EV_BINARY:
        return event(ev->compressed ? COVET_WS_BINARY_COMPRESSED : COVET_WS_BINARY, bytes_of(ev), 0, 0);
    case WS_EV_PING:
        return event(COVET_WS_PING, bytes_of(ev), 0, 0);
    case WS_EV_PONG:
        return event(COVET_WS_PONG, bytes_of(ev), 0, 0);
    case WS_EV_CLOSE:
        return event(COVET_WS_CLOSE, str_of(ev), ev->code, 1);
    default:
        return event(COVET_WS_ERROR, PyUnicode_FromString(ev->message), ev->code, 1);
    }
}

PyObject *covet_ws_feed(PyObject *parser, const uint8_t *data, size_t len) {
    WSParserObject *self = (WSParserObject *)parser;
    PyObject *events;
    if (!PyObject_TypeCheck(parser, &covet_WSParserType)) {
        PyErr_SetString(PyExc_TypeError, "covet_ws_feed: not a WSParser");
        return NULL;
    }
    /* Only reachable through a finalizer calling back into this parser while it builds objects; the core holds a
     * pointer into the last input until it is drained, so refuse. */
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "WSParser.feed() re-entered");
        return NULL;
    }
    if (!(events = PyList_New(0)))
        return NULL;
    self->busy = 1;
    ws_parser_feed(&self->p, data, len);
    for (;;) {
        ws_event ev;
        PyObject *item;
        int r;
        if (ws_parser_next(&self->p, &ev) == WS_EV_NONE)
            break;
        item = to_python(&ev);
        if (!item)
            goto fail;
        r = PyList_Append(events, item);
        Py_DECREF(item);
        if (r < 0)
            goto fail;
    }
    self->busy = 0;
    return events;

fail:
    /* the core may still point into `data`: make sure it never looks */
    ws_parser_abort(&self->p);
    Py_DECREF(events);
    self->busy = 0;
    return NULL;
}

static PyObject *WSParser_feed(WSParserObject *self, PyObject *arg) {
    Py_buffer view;
    PyObject *events;

    if (PyBytes_CheckExact(arg))
        return covet_ws_feed((PyObject *)self, (const uint8_t *)PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg));
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    events = covet_ws_feed((PyObject *)self, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return events;
}

/* configure(*, max_frame, max_message, rsv1_allowed): __init__ again, on the same object (a transport may hold it). */
static PyObject *WSParser_configure(WSParserObject *self, PyObject *args, PyObject *kw) {
    if (WSParser_init(self, args, kw) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef WSParser_methods[] = {
    {"configure", (PyCFunction)(void (*)(void))WSParser_configure, METH_VARARGS | METH_KEYWORDS,
     "configure($self, *, max_frame=1048576, max_message=1048576, rsv1_allowed=False)\n--\n\n"
     "Starts the parser afresh with these limits (as WSParser() would), keeping the object: before any input."},
    {"feed", (PyCFunction)WSParser_feed, METH_O,
     "feed($self, data, /)\n--\n\n"
     "Parses a bytes-like chunk of what the client sent; returns the events it completed, in order:\n"
     "(WS_TEXT, str), (WS_BINARY, bytes), (WS_PING, bytes), (WS_PONG, bytes), (WS_CLOSE, code, reason) with\n"
     "code 1005 and reason '' for an empty close frame, (WS_ERROR, close_code, message) when the client broke\n"
     "the protocol.  With rsv1_allowed, a compressed message is (WS_TEXT_COMPRESSED, bytes) or\n"
     "(WS_BINARY_COMPRESSED, bytes), as sent: inflating it (and checking its text) is the caller's.\n"
     "After WS_CLOSE or WS_ERROR the parser takes no more input: feed() returns [] from then on.\n"
     "An exception raised while building the events (MemoryError) leaves the parser the same way."},
    {NULL, NULL, 0, NULL},
};

/* clang-format off: PyVarObject_HEAD_INIT ends in a comma of its own, which clang-format cannot see */
PyTypeObject covet_WSParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._native.WSParser",
    .tp_basicsize = sizeof(WSParserObject),
    .tp_dealloc = (destructor)WSParser_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    /* The first line, up to "--", is the signature inspect (and mypy's stubtest) read. */
    .tp_doc = "WSParser(*, max_frame=1048576, max_message=1048576, rsv1_allowed=False)\n--\n\n"
              "Incremental, strict (RFC 6455) parser of the frames a WebSocket client sends.\n\n"
              "max_frame bounds one frame's payload and max_message one message's (all its fragments); either\n"
              "over its limit is a WS_ERROR with close code 1009, found from the frame's header.  rsv1_allowed:\n"
              "a permessage-deflate extension was negotiated, and RSV1 marks a compressed message.",
    .tp_methods = WSParser_methods,
    .tp_init = (initproc)WSParser_init,
    .tp_new = WSParser_new,
};
/* clang-format on */

int covet_ws_ready(void) {
    return PyType_Ready(&covet_WSParserType);
}

int covet_ws_add_constants(PyObject *m) {
    static const struct {
        const char *name;
        int value;
    } constants[] = {
        {"WS_TEXT", COVET_WS_TEXT},
        {"WS_BINARY", COVET_WS_BINARY},
        {"WS_PING", COVET_WS_PING},
        {"WS_PONG", COVET_WS_PONG},
        {"WS_CLOSE", COVET_WS_CLOSE},
        {"WS_ERROR", COVET_WS_ERROR},
        {"WS_TEXT_COMPRESSED", COVET_WS_TEXT_COMPRESSED},
        {"WS_BINARY_COMPRESSED", COVET_WS_BINARY_COMPRESSED},
        {"WS_OP_CONT", WS_OP_CONT},
        {"WS_OP_TEXT", WS_OP_TEXT},
        {"WS_OP_BINARY", WS_OP_BINARY},
        {"WS_OP_CLOSE", WS_OP_CLOSE},
        {"WS_OP_PING", WS_OP_PING},
        {"WS_OP_PONG", WS_OP_PONG},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0)
            return -1;
    return 0;
}

const char covet_ws_frame_doc[] =
    "ws_frame(opcode, payload, fin=True, rsv1=False)\n--\n\n"
    "One server-to-client WebSocket frame (unmasked): its header and the payload, as bytes.\n"
    "ValueError for an opcode that is not WS_OP_*, and for a control frame (close, ping, pong) that is not final,\n"
    "has RSV1 set or carries more than 125 bytes.";

/* The frame of opcode, fin and rsv1 around pl[0..len). */
static PyObject *ws_frame_of(int opcode, const char *pl, Py_ssize_t len, int fin, int rsv1) {
    uint8_t head[10];
    if (opcode != WS_OP_CONT && opcode != WS_OP_TEXT && opcode != WS_OP_BINARY && opcode != WS_OP_CLOSE &&
        opcode != WS_OP_PING && opcode != WS_OP_PONG) {
        PyErr_Format(PyExc_ValueError, "ws_frame(): %d is not an opcode (0, 1, 2, 8, 9 or 10)", opcode);
        return NULL;
    }
    if (opcode >= WS_OP_CLOSE && (!fin || rsv1 || len > WS_MAX_CONTROL)) {
        PyErr_SetString(PyExc_ValueError,
                        "ws_frame(): a control frame is final, without RSV1, and carries at most 125 bytes");
        return NULL;
    }
    size_t hl = ws_frame_header(head, opcode, fin, rsv1, (uint64_t)len);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)hl + len);
    if (out) {
        memcpy(PyBytes_AS_STRING(out), head, hl);
        if (len)
            memcpy(PyBytes_AS_STRING(out) + hl, pl, (size_t)len);
    }
    return out;
}

/* PERF: every message sent comes here; PyArg_ParseTupleAndKeywords cost ~50 ns a call, so positional calls with
 * a bytes payload (the session's) are read directly, and only the rest go through the general parser. */
PyObject *covet_ws_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    (void)module;
    int overflow = 0;
    long op = 0;
    if (kwnames == NULL && nargs >= 2 && nargs <= 4 && PyLong_CheckExact(args[0]) && PyBytes_CheckExact(args[1]) &&
        (op = PyLong_AsLongAndOverflow(args[0], &overflow), !overflow && op >= INT_MIN && op <= INT_MAX)) {
        /* (an opcode past a C int goes the general way, for its OverflowError) */
        int fin = nargs > 2 ? PyObject_IsTrue(args[2]) : 1;
        int rsv1 = nargs > 3 ? PyObject_IsTrue(args[3]) : 0;
        if (fin < 0 || rsv1 < 0)
            return NULL;
        return ws_frame_of((int)op, PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1]), fin, rsv1);
    }
    static char *kwlist[] = {"opcode", "payload", "fin", "rsv1", NULL};
    int opcode, fin = 1, rsv1 = 0;
    Py_buffer pl;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *tuple = PyTuple_New(nargs);
    PyObject *kw = nkw ? PyDict_New() : NULL;
    PyObject *out = NULL;
    if (tuple == NULL || (nkw && kw == NULL))
        goto fail;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
    for (Py_ssize_t i = 0; i < nkw; i++)
        if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
            goto fail;
    if (PyArg_ParseTupleAndKeywords(tuple, kw, "iy*|pp:ws_frame", kwlist, &opcode, &pl, &fin, &rsv1)) {
        out = ws_frame_of(opcode, pl.buf, pl.len, fin, rsv1);
        PyBuffer_Release(&pl);
    }
fail:
    Py_XDECREF(tuple);
    Py_XDECREF(kw);
    return out;
}

const char covet_utf8_valid_doc[] = "utf8_valid($module, data, /)\n--\n\n"
                                    "Whether the bytes-like data is valid UTF-8 (RFC 3629: no overlong forms, no\n"
                                    "surrogates, nothing past U+10FFFF): the check a text message gets.";

PyObject *covet_utf8_valid(PyObject *module, PyObject *data) {
    Py_buffer view;
    int ok;
    (void)module;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    ok = ws_utf8_valid(view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}
