/*
 * render(prefix, head_lines, body, tail, with_body) -> bytes
 *
 *   prefix      status line and header lines, already rendered (cached by the caller)
 *   head_lines  the per-second "date:" and "server:" lines
 *   body        the body; its length becomes the Content-Length
 *   tail        extra header lines, e.g. "connection: close\r\n" (may be empty)
 *   with_body   false for HEAD: the length is announced, the body is not sent
 *
 * render_reply(prefix, status, head_lines, body, keep_alive, is_head, minor) -> bytes
 *
 *   the same, with the tail chosen here ("connection: close" unless keep_alive, "connection: keep-alive" for a
 *   kept HTTP/1.0 connection, nothing otherwise) and the statuses without a body (204, 304) known here only: the
 *   Python writer (covet/runtime/h1_response.py render()) and the io_uring core's direct routes both render with it.
 *
 * Building this in Python costs five allocations and a %-format (about 170 ns
 * measured, perf/micro.py); here it is one allocation and four memcpy calls.
 */
#include "response.h"

#include <string.h>

#include "fields.h"
#include "h1_parser.h"
#include "jsontext.h"

static int as_bytes(PyObject *o, const char *what, const char **data, Py_ssize_t *len) {
    if (!PyBytes_CheckExact(o)) {
        PyErr_Format(PyExc_TypeError, "render(): %s must be bytes, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    *data = PyBytes_AS_STRING(o);
    *len = PyBytes_GET_SIZE(o);
    return 0;
}

/* prefix + head_lines + [content-length] + tail + CRLF + [body], in one allocation. */
static PyObject *render_parts(const char *prefix, Py_ssize_t prefix_len, const char *lines, Py_ssize_t lines_len,
                              const char *body, Py_ssize_t body_len, const char *tail, Py_ssize_t tail_len,
                              int with_length, int with_body) {
    char digits[24];
    int ndigits = 0;
    if (with_length) /* PERF: not snprintf, which was ~30 ns of every response */
        ndigits = (int)covet_json_int(digits, (long long)body_len);
    /* sizes are of existing objects, so their sum cannot overflow Py_ssize_t
     * unless the process holds more than half its address space in them */
    Py_ssize_t total = prefix_len + lines_len + tail_len + 2 + (with_body ? body_len : 0);
    if (with_length)
        total += (Py_ssize_t)(sizeof "content-length: \r\n" - 1) + ndigits;
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (!out)
        return NULL;
    char *p = PyBytes_AS_STRING(out);
    memcpy(p, prefix, (size_t)prefix_len);
    p += prefix_len;
    memcpy(p, lines, (size_t)lines_len);
    p += lines_len;
    if (with_length) {
        memcpy(p, "content-length: ", 16);
        p += 16;
        memcpy(p, digits, (size_t)ndigits);
        p += ndigits;
        *p++ = '\r';
        *p++ = '\n';
    }
    memcpy(p, tail, (size_t)tail_len);
    p += tail_len;
    *p++ = '\r';
    *p++ = '\n';
    if (with_body)
        memcpy(p, body, (size_t)body_len);
    return out;
}

PyObject *covet_render(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    const char *prefix, *lines, *body, *tail;
    Py_ssize_t prefix_len, lines_len, body_len, tail_len;
    int with_body;

    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "render() takes exactly 5 arguments");
        return NULL;
    }
    if (as_bytes(args[0], "prefix", &prefix, &prefix_len) < 0 ||
        as_bytes(args[1], "head_lines", &lines, &lines_len) < 0 || as_bytes(args[2], "body", &body, &body_len) < 0 ||
        as_bytes(args[3], "tail", &tail, &tail_len) < 0)
        return NULL;
    with_body = PyObject_IsTrue(args[4]);
    if (with_body < 0)
        return NULL;
    return render_parts(prefix, prefix_len, lines, lines_len, body, body_len, tail, tail_len, 1, with_body);
}

int covet_status_has_body(long status) {
    /* RFC 9110 15.3.5 and 15.4.5: a 204 or a 304 ends at its head, with no Content-Length of a body it lacks. */
    return status != 204 && status != 304;
}

PyObject *covet_render_reply_parts(PyObject *prefix, long status, PyObject *head_lines, PyObject *body, int keep_alive,
                                   int is_head, long minor) {
    static const char close[] = "connection: close\r\n", keep10[] = "connection: keep-alive\r\n";
    const char *tail = "";
    Py_ssize_t tail_len = 0;
    if (!keep_alive) {
        tail = close;
        tail_len = (Py_ssize_t)sizeof close - 1;
    } else if (minor == 0) { /* HTTP/1.0 closes unless told otherwise */
        tail = keep10;
        tail_len = (Py_ssize_t)sizeof keep10 - 1;
    }
    int has_body = covet_status_has_body(status);
    return render_parts(PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix), PyBytes_AS_STRING(head_lines),
                        PyBytes_GET_SIZE(head_lines), PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body), tail, tail_len,
                        has_body, has_body && !is_head);
}

/* render_reply(prefix, status, head_lines, body, keep_alive, is_head, minor) -> bytes */
PyObject *covet_render_reply(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    const char *unused;
    Py_ssize_t unused_len;
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "render_reply() takes exactly 7 arguments");
        return NULL;
    }
    if (as_bytes(args[0], "prefix", &unused, &unused_len) < 0 ||
        as_bytes(args[2], "head_lines", &unused, &unused_len) < 0 ||
        as_bytes(args[3], "body", &unused, &unused_len) < 0)
        return NULL;
    long status = PyLong_AsLong(args[1]);
    if (status == -1 && PyErr_Occurred())
        return NULL;
    long minor = PyLong_AsLong(args[6]);
    if (minor == -1 && PyErr_Occurred())
        return NULL;
    int keep_alive = PyObject_IsTrue(args[4]);
    if (keep_alive < 0)
        return NULL;
    int is_head = PyObject_IsTrue(args[5]);
    if (is_head < 0)
        return NULL;
    return covet_render_reply_parts(args[0], status, args[2], args[3], keep_alive, is_head, minor);
}

/* ValueError naming the field and what is wrong with it; the message goes to the developer's log, never the wire. */
static void field_error(PyObject *name, enum h1_field_fault fault, size_t at) {
    if (fault == H1_FIELD_EMPTY_NAME)
        PyErr_SetString(PyExc_ValueError, "invalid response header: the name is empty");
    else
        PyErr_Format(PyExc_ValueError, "invalid response header %R: %s (at byte %zu)", name, h1_field_fault_text(fault),
                     at);
}

static int field_parts(PyObject *pair, PyObject **name, PyObject **value) {
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)) ||
        !PyBytes_Check(PyTuple_GET_ITEM(pair, 1))) {
        PyErr_Format(PyExc_TypeError, "a response header must be a (bytes, bytes) pair, not %.200R", pair);
        return -1;
    }
    *name = PyTuple_GET_ITEM(pair, 0);
    *value = PyTuple_GET_ITEM(pair, 1);
    return 0;
}

/* check_field(name, value): raises ValueError unless the field may be sent as it is. */
PyObject *covet_check_field(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    size_t at;
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "check_field(name: bytes, value: bytes)");
        return NULL;
    }
    enum h1_field_fault fault = h1_field_check(PyBytes_AS_STRING(args[0]), (size_t)PyBytes_GET_SIZE(args[0]),
                                               PyBytes_AS_STRING(args[1]), (size_t)PyBytes_GET_SIZE(args[1]), &at);
    if (fault != H1_FIELD_OK) {
        field_error(args[0], fault, at);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The framing fields are the server's to write (RFC 9112 6): a handler's are dropped, but for Connection: close. */
enum {
    F_KEEP = 0,
    F_DROP,
    F_CONNECTION
};

static int framing_kind(const char *name, size_t len) {
    static const char *const names[3] = {"content-length", "transfer-encoding", "connection"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(names[i]);
        if (len != n)
            continue;
        size_t j = 0;
        while (j < n && h1_tchar_lc[(unsigned char)name[j]] == (unsigned char)names[i][j])
            j++;
        if (j == n)
            return i == 2 ? F_CONNECTION : F_DROP;
    }
    return F_KEEP;
}

static int is_close(const char *value, size_t len) {
    static const char close[] = "close";
    if (len != sizeof close - 1)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((value[i] | 0x20) != close[i])
            return 0;
    return 1;
}

/*
 * render_fields(headers) -> (bytes, close): the header lines of a response, every field checked (fields.h).
 *
 * headers is a sequence of (name, value) bytes pairs.  Content-Length,
 * Transfer-Encoding and Connection are left out (the server frames the
 * message); close is true when a Connection field said "close".
 */
PyObject *covet_render_fields(PyObject *module, PyObject *headers) {
    (void)module;
    PyObject *seq = PySequence_Fast(headers, "render_fields(): headers must be a sequence of pairs");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    size_t total = 0;
    int close = 0;
    /* First pass: check every field and size the output, so it is built in one allocation. */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *value;
        size_t at;
        if (field_parts(items[i], &name, &value) < 0)
            goto fail;
        const char *nm = PyBytes_AS_STRING(name), *val = PyBytes_AS_STRING(value);
        size_t nlen = (size_t)PyBytes_GET_SIZE(name), vlen = (size_t)PyBytes_GET_SIZE(value);
        enum h1_field_fault fault = h1_field_check(nm, nlen, val, vlen, &at);
        if (fault != H1_FIELD_OK) {
            field_error(name, fault, at);
            goto fail;
        }
        int kind = framing_kind(nm, nlen);
        if (kind != F_KEEP) {
            if (kind == F_CONNECTION && is_close(val, vlen))
                close = 1;
            continue;
        }
        size_t line = h1_field_line_len(nlen, vlen);
        if (line == 0 || total + line < total || total + line > (size_t)PY_SSIZE_T_MAX) {
            PyErr_SetString(PyExc_OverflowError, "render_fields(): the header lines are too long");
            goto fail;
        }
        total += line;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (out == NULL)
        goto fail;
    char *p = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(items[i], 0), *value = PyTuple_GET_ITEM(items[i], 1);
        const char *nm = PyBytes_AS_STRING(name);
        size_t nlen = (size_t)PyBytes_GET_SIZE(name);
        if (framing_kind(nm, nlen) != F_KEEP)
            continue;
        p += h1_field_line(p, nm, nlen, PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value));
    }
    Py_DECREF(seq);
    return Py_BuildValue("(NO)", out, close ? Py_True : Py_False);
fail:
    Py_DECREF(seq);
    return NULL;
}
