/*
 * covet._native: the CPython face of the C HTTP/1.1 parser (h1_parser.c).
 *
 * All parsing lives in the C core; this file only turns its events into
 * Python objects.  Hot-path choices: common methods and field names come
 * from interned strings (no allocation), ASCII text is copied straight into
 * a fresh compact str (no decoder), and bytes objects skip the buffer
 * protocol.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "accesslog.h"
#include "events.h"
#include "h1_parser.h"
#include "jsonflat.h"
#include "metrics.h"
#include "percent.h"
#include "response.h"
#include "ws_binding.h"
#ifdef __linux__
#include "uring_probe.h"
#include "uring_server.h"
#endif

typedef struct {
    PyObject_HEAD
    h1_conn conn;
    /* the parts of a head whose body is still arriving: its Request is
     * built once the message is complete */
    struct covet_head head;
    int busy;
    int streaming; /* the body of the last head comes in pieces */
    int upgrade;   /* the last head asks to switch protocols (a GET with an Upgrade field and no body) */
} ParserObject;

static int parser_setup(ParserObject *self, Py_ssize_t max_target, Py_ssize_t max_header_bytes, Py_ssize_t max_headers,
                        long long max_body, long long max_stream_body) {
    h1_limits lim;
    if (max_target < 1 || max_header_bytes < 1 || max_headers < 0 || max_body < 0 || max_stream_body < 0) {
        PyErr_SetString(PyExc_ValueError, "max_target and max_header_bytes must be positive, "
                                          "max_headers, max_body and max_stream_body not "
                                          "negative");
        return -1;
    }
    lim.max_target = (size_t)max_target;
    lim.max_header_bytes = (size_t)max_header_bytes;
    lim.max_headers = (size_t)max_headers;
    lim.max_body = (uint64_t)max_body;
    lim.max_stream_body = (uint64_t)max_stream_body;
    h1_conn_free(&self->conn);
    h1_conn_init(&self->conn, &lim);
    covet_head_clear(&self->head);
    self->streaming = self->upgrade = 0;
    return 0;
}

static PyObject *Parser_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    ParserObject *self = (ParserObject *)type->tp_alloc(type, 0);
    (void)args;
    (void)kw;
    if (self && parser_setup(self, 8192, 65536, 100, 1048576, 0) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int Parser_init(ParserObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"max_target", "max_header_bytes", "max_headers", "max_body", "max_stream_body", NULL};
    Py_ssize_t max_target = 8192, max_header_bytes = 65536, max_headers = 100;
    long long max_body = 1048576, max_stream_body = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$nnnLL:Parser", kwlist, &max_target, &max_header_bytes, &max_headers,
                                     &max_body, &max_stream_body))
        return -1;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Parser is busy");
        return -1;
    }
    return parser_setup(self, max_target, max_header_bytes, max_headers, max_body, max_stream_body);
}

static void Parser_dealloc(ParserObject *self) {
    h1_conn_free(&self->conn);
    covet_head_clear(&self->head);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int append_steal(PyObject *list, PyObject *item) {
    int r;
    if (!item)
        return -1;
    r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

static PyObject *Parser_feed(ParserObject *self, PyObject *arg) {
    Py_buffer view;
    int have_view = 0;
    const char *data;
    Py_ssize_t len;
    PyObject *events = NULL;

    if (PyBytes_CheckExact(arg)) {
        data = PyBytes_AS_STRING(arg);
        len = PyBytes_GET_SIZE(arg);
    } else {
        if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        have_view = 1;
        data = view.buf;
        len = view.len;
    }
    /* Only reachable through a finalizer calling back into this parser
     * while it builds objects; the core holds a pointer into the last
     * input until it is drained, so refuse. */
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Parser.feed() re-entered");
        goto done;
    }
    if (!(events = PyList_New(0)))
        goto done;

    self->busy = 1;
    h1_conn_feed(&self->conn, data, (size_t)len);
    for (;;) {
        h1_event ev;
        int kind = h1_conn_next(&self->conn, &ev);
        if (kind == H1_EV_NONE)
            break;
        if (kind == H1_EV_HEAD) {
            self->streaming = 0;
            self->upgrade = h1_asks_upgrade(ev.req);
            if (covet_head_set(&self->head, ev.req, NULL, COVET_HEADERS_ALL) < 0)
                goto fail;
        } else if (kind == H1_EV_STREAM) {
            self->streaming = 1;
            if (append_steal(events, covet_head_request(&self->head, EV_STREAM, Py_None)) < 0)
                goto fail;
        } else if (kind == H1_EV_DATA) {
            if (append_steal(events, covet_make_data(ev.body, ev.body_len)) < 0)
                goto fail;
        } else if (kind == H1_EV_MESSAGE && self->streaming) {
            self->streaming = 0;
            if (PyList_Append(events, g_body_end) < 0)
                goto fail;
        } else if (kind == H1_EV_MESSAGE && self->upgrade) {
            /* Whatever follows may be another protocol's bytes: stop, and hand them over unparsed. */
            const char *rest;
            size_t n = h1_conn_detach(&self->conn, &rest);
            PyObject *tail = PyBytes_FromStringAndSize(n ? rest : "", (Py_ssize_t)n);
            self->upgrade = 0;
            if (!tail)
                goto fail;
            PyObject *req = covet_head_request(&self->head, EV_UPGRADE, tail);
            Py_DECREF(tail);
            if (append_steal(events, req) < 0)
                goto fail;
            break;
        } else if (kind == H1_EV_MESSAGE) {
            PyObject *body = PyBytes_FromStringAndSize(ev.body, (Py_ssize_t)ev.body_len);
            if (!body)
                goto fail;
            PyObject *req = covet_head_request(&self->head, EV_REQUEST, body);
            Py_DECREF(body);
            if (append_steal(events, req) < 0)
                goto fail;
        } else if (kind == H1_EV_CONTINUE) {
            if (PyList_Append(events, g_continue_event) < 0)
                goto fail;
        } else {
            covet_head_clear(&self->head);
            self->streaming = self->upgrade = 0;
            if (append_steal(events, Py_BuildValue("(Ois)", g_ev_error, ev.status, ev.message)) < 0)
                goto fail;
            break;
        }
    }
    self->busy = 0;
    goto done;

fail:
    /* the core may still point into `data`: make sure it never looks */
    h1_conn_abort(&self->conn);
    covet_head_clear(&self->head);
    self->streaming = self->upgrade = 0;
    Py_CLEAR(events);
    self->busy = 0;
done:
    if (have_view)
        PyBuffer_Release(&view);
    return events;
}

static PyObject *Parser_reset(ParserObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Parser is busy");
        return NULL;
    }
    h1_conn_reset(&self->conn);
    covet_head_clear(&self->head);
    self->streaming = self->upgrade = 0;
    Py_RETURN_NONE;
}

static PyObject *Parser_get_state(ParserObject *self, void *closure) {
    (void)closure;
    return PyLong_FromLong(h1_conn_state(&self->conn));
}

static PyObject *Parser_get_buffered(ParserObject *self, void *closure) {
    (void)closure;
    return PyLong_FromSize_t(h1_conn_buffered(&self->conn));
}

static PyMethodDef Parser_methods[] = {
    {"feed", (PyCFunction)Parser_feed, METH_O,
     "feed(data) -> list of events\n\n"
     "Parses a bytes-like chunk of the request stream.  Events, in order:\n"
     "Request(EV_REQUEST, method, path, query, minor, headers, keep_alive,\n"
     "body), (EV_CONTINUE,) when the client waits for 100 Continue,\n"
     "(EV_ERROR, status, message) after which the parser is dead,\n"
     "Request(EV_STREAM, ..., keep_alive, None) for a head whose body\n"
     "(over max_body) follows in pieces: (EV_DATA, bytes) each, then\n"
     "(EV_END,).  Request(EV_UPGRADE, ..., keep_alive, rest) is a GET with\n"
     "an Upgrade field: parsing stops after it, and rest is the input that\n"
     "followed, unparsed (feed it again to go on with HTTP/1.1)."},
    {"reset", (PyCFunction)Parser_reset, METH_NOARGS,
     "reset() -> None\n\nForgets everything buffered; back to a fresh state."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Parser_getset[] = {
    {"state", (getter)Parser_get_state, NULL, "0 idle, 1 receiving a head, 2 receiving a body, 3 dead", NULL},
    {"buffered", (getter)Parser_get_buffered, NULL, "bytes held in the parser's own buffers", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* clang-format off: PyVarObject_HEAD_INIT ends in a comma of its own, which clang-format cannot see */
static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._native.Parser",
    .tp_basicsize = sizeof(ParserObject),
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    /* The first line, up to "--", is the signature inspect (and mypy's stubtest) read. */
    .tp_doc = "Parser(*, max_target=8192, max_header_bytes=65536, "
              "max_headers=100, max_body=1048576, max_stream_body=0)\n--\n\n"
              "Incremental, strict (RFC 9112) HTTP/1.1 request parser.",
    .tp_methods = Parser_methods,
    .tp_getset = Parser_getset,
    .tp_init = (initproc)Parser_init,
    .tp_new = Parser_new,
};
/* clang-format on */

#ifdef __linux__
/* uring_probe() -> (mode, setup_errno, features, missing, buf_ring_errno); OSError when the probe itself failed. */
static PyObject *covet_uring_probe_py(PyObject *self, PyObject *unused) {
    struct uring_probe_result r;
    PyObject *missing;
    int i;

    (void)self;
    (void)unused;
    if (covet_uring_probe(&r) < 0)
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, "io_uring_setup");
    missing = PyList_New(r.nmissing);
    if (!missing)
        return NULL;
    for (i = 0; i < r.nmissing; i++) {
        PyObject *name = PyUnicode_FromString(r.missing[i]);
        if (!name) {
            Py_DECREF(missing);
            return NULL;
        }
        PyList_SET_ITEM(missing, i, name);
    }
    return Py_BuildValue("(siINi)", covet_uring_mode_name(r.mode), r.setup_errno, r.features, missing,
                         r.buf_ring_errno);
}
#endif

/* A percent-decoded copy of in[0..len) as bytes ('+' is a space). */
static PyObject *decoded(const char *in, size_t len) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (out == NULL)
        return NULL;
    size_t n = covet_percent_decode(PyBytes_AS_STRING(out), in, len, 1);
    if (n != len && _PyBytes_Resize(&out, (Py_ssize_t)n) < 0)
        return NULL;
    return out;
}

/*
 * parse_urlencoded(body, max_fields) -> [(name, value), ...] as decoded bytes.
 *
 * Empty parts ("a=1&&b=2") are skipped; a part without "=" is a name with an
 * empty value.  More than max_fields fields raises ValueError as soon as the
 * next one is found, before anything past it is decoded: the work per
 * request is bounded by the body's length and the field limit, never more.
 */
static PyObject *parse_urlencoded(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "parse_urlencoded(body: bytes, max_fields: int)");
        return NULL;
    }
    Py_ssize_t max_fields = PyLong_AsSsize_t(args[1]);
    if (max_fields < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "parse_urlencoded(): max_fields cannot be negative");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(args[0]);
    size_t len = (size_t)PyBytes_GET_SIZE(args[0]);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    size_t start = 0;
    while (start <= len) {
        while (start < len && p[start] == '&') /* a run of empty parts, skipped without a call per byte */
            start++;
        const char *amp = start < len ? memchr(p + start, '&', len - start) : NULL;
        size_t end = amp != NULL ? (size_t)(amp - p) : len;
        if (end > start) {
            if (PyList_GET_SIZE(out) >= max_fields) {
                PyErr_Format(PyExc_ValueError, "the form has more than %zd fields", max_fields);
                goto fail;
            }
            const char *eq = memchr(p + start, '=', end - start);
            size_t name_end = eq != NULL ? (size_t)(eq - p) : end;
            size_t value_start = eq != NULL ? name_end + 1 : end;
            PyObject *name = decoded(p + start, name_end - start);
            PyObject *value = name != NULL ? decoded(p + value_start, end - value_start) : NULL;
            PyObject *pair = value != NULL ? PyTuple_Pack(2, name, value) : NULL;
            Py_XDECREF(name);
            Py_XDECREF(value);
            if (pair == NULL || PyList_Append(out, pair) < 0) {
                Py_XDECREF(pair);
                goto fail;
            }
            Py_DECREF(pair);
        }
        start = end + 1;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"render", (PyCFunction)(void (*)(void))covet_render, METH_FASTCALL,
     "render(prefix, head_lines, body, tail, with_body) -> bytes: one HTTP/1.1 response."},
    {"render_reply", (PyCFunction)(void (*)(void))covet_render_reply, METH_FASTCALL,
     "render_reply(prefix, status, head_lines, body, keep_alive, is_head, minor) -> bytes: one HTTP/1.1 response, "
     "its connection field and whether it has a body decided by its status, keep_alive and minor."},
    {"parse_urlencoded", (PyCFunction)(void (*)(void))parse_urlencoded, METH_FASTCALL,
     "parse_urlencoded(body, max_fields) -> [(name, value)]: a form's fields, percent-decoded, as bytes."},
    {"render_fields", covet_render_fields, METH_O,
     "render_fields(headers) -> (bytes, close): checked header lines, framing fields left out."},
    {"check_field", (PyCFunction)(void (*)(void))covet_check_field, METH_FASTCALL,
     "check_field(name, value): ValueError unless the response header may be sent as it is."},
    {"ws_frame", (PyCFunction)(void (*)(void))covet_ws_frame, METH_FASTCALL | METH_KEYWORDS, covet_ws_frame_doc},
    {"utf8_valid", covet_utf8_valid, METH_O, covet_utf8_valid_doc},
    {"json_flat", (PyCFunction)(void (*)(void))covet_json_flat, METH_FASTCALL, covet_json_flat_doc},
    {"json_records", (PyCFunction)(void (*)(void))covet_json_records, METH_FASTCALL, covet_json_records_doc},
#ifdef __linux__
    {"uring_probe", covet_uring_probe_py, METH_NOARGS,
     "uring_probe() -> (mode, setup_errno, features, missing_ops, buf_ring_errno): what io_uring offers here."},
#endif
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, .m_name = "covet._native",   .m_doc = "Native HTTP/1.1 request parser of CovetPy.",
    .m_size = -1,          .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m;

    if (covet_events_init() < 0)
        return NULL;

    if (PyType_Ready(&ParserType) < 0 || covet_accesslog_ready() < 0 || covet_ws_ready() < 0)
        return NULL;
    m = PyModule_Create(&native_module);
    if (!m)
        return NULL;
#ifdef __linux__
    if (covet_ringserver_ready() < 0)
        return NULL;
#endif
    /* The module's types, added by one loop: PyModule_AddObjectRef takes no reference on failure. */
    struct {
        const char *name;
        PyTypeObject *type;
    } types[] = {
        {"Parser", &ParserType},
#ifdef __linux__
        {"UringServer", &covet_UringServerType},
#endif
        {"AccessLog", &covet_AccessLogType},
        {"Metrics", &covet_MetricsType},
        {"Request", &covet_RequestType},
        {"WSParser", &covet_WSParserType},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyModule_AddObjectRef(m, types[i].name, (PyObject *)types[i].type) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    if (PyModule_AddIntConstant(m, "EV_REQUEST", EV_REQUEST) < 0 ||
        PyModule_AddIntConstant(m, "EV_CONTINUE", EV_CONTINUE) < 0 ||
        PyModule_AddIntConstant(m, "EV_ERROR", EV_ERROR) < 0 ||
        PyModule_AddIntConstant(m, "EV_STREAM", EV_STREAM) < 0 || PyModule_AddIntConstant(m, "EV_DATA", EV_DATA) < 0 ||
        PyModule_AddIntConstant(m, "EV_END", EV_END) < 0 || PyModule_AddIntConstant(m, "EV_UPGRADE", EV_UPGRADE) < 0 ||
        PyModule_AddIntConstant(m, "STATE_IDLE", H1_STATE_IDLE) < 0 ||
        PyModule_AddIntConstant(m, "STATE_HEAD", H1_STATE_HEAD) < 0 ||
        PyModule_AddIntConstant(m, "STATE_BODY", H1_STATE_BODY) < 0 ||
        PyModule_AddIntConstant(m, "STATE_DEAD", H1_STATE_DEAD) < 0 ||
        PyModule_AddIntConstant(m, "HEADERS_NONE", COVET_HEADERS_NONE) < 0 ||
        PyModule_AddIntConstant(m, "HEADERS_ALL", COVET_HEADERS_ALL) < 0 ||
        PyModule_AddIntConstant(m, "HEADERS_CONTENT_TYPE", COVET_HEADERS_CONTENT_TYPE) < 0 ||
        PyModule_AddIntConstant(m, "JSON_STR", COVET_JSON_STR) < 0 ||
        PyModule_AddIntConstant(m, "JSON_INT", COVET_JSON_INT) < 0 ||
        PyModule_AddIntConstant(m, "JSON_FLOAT", COVET_JSON_FLOAT) < 0 ||
        PyModule_AddIntConstant(m, "JSON_BOOL", COVET_JSON_BOOL) < 0 ||
        PyModule_AddIntConstant(m, "JSON_NONE", COVET_JSON_NONE) < 0 || covet_ws_add_constants(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *preface = PyBytes_FromStringAndSize(H1_PREFACE_HEAD, sizeof H1_PREFACE_HEAD - 1);
    int added = preface != NULL ? PyModule_AddObjectRef(m, "PREFACE_HEAD", preface) : -1;
    Py_XDECREF(preface);
    if (added < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
