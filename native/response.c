/*
 * render(prefix, head_lines, body, tail, with_body) -> bytes
 *
 *   prefix      status line and header lines, already rendered (cached by the caller)
 *   head_lines  the per-second "date:" and "server:" lines
 *   body        the body; its length becomes the Content-Length
 *   tail        extra header lines, e.g. "connection: close\r\n" (may be empty)
 *   with_body   false for HEAD: the length is announced, the body is not sent
 *
 * Building this in Python costs five allocations and a %-format (about 170 ns
 * measured, perf/micro.py); here it is one allocation and four memcpy calls.
 */
#include "response.h"

#include <string.h>

static int as_bytes(PyObject *o, const char *what, const char **data, Py_ssize_t *len)
{
    if (!PyBytes_CheckExact(o)) {
        PyErr_Format(PyExc_TypeError, "render(): %s must be bytes, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    *data = PyBytes_AS_STRING(o);
    *len = PyBytes_GET_SIZE(o);
    return 0;
}

PyObject *covet_render(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *prefix, *lines, *body, *tail;
    Py_ssize_t prefix_len, lines_len, body_len, tail_len, total;
    char digits[24];
    int ndigits, with_body;
    PyObject *out;
    char *p;

    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "render() takes exactly 5 arguments");
        return NULL;
    }
    if (as_bytes(args[0], "prefix", &prefix, &prefix_len) < 0 ||
        as_bytes(args[1], "head_lines", &lines, &lines_len) < 0 ||
        as_bytes(args[2], "body", &body, &body_len) < 0 ||
        as_bytes(args[3], "tail", &tail, &tail_len) < 0)
        return NULL;
    with_body = PyObject_IsTrue(args[4]);
    if (with_body < 0)
        return NULL;

    ndigits = snprintf(digits, sizeof digits, "%zd", body_len);
    if (ndigits <= 0 || (size_t)ndigits >= sizeof digits) {
        PyErr_SetString(PyExc_OverflowError, "render(): body length does not fit");
        return NULL;
    }
    /* sizes are of existing objects, so their sum cannot overflow Py_ssize_t
     * unless the process holds more than half its address space in them */
    total = prefix_len + lines_len + (Py_ssize_t)(sizeof "content-length: \r\n" - 1) + ndigits +
            tail_len + 2 + (with_body ? body_len : 0);
    out = PyBytes_FromStringAndSize(NULL, total);
    if (!out)
        return NULL;
    p = PyBytes_AS_STRING(out);
    memcpy(p, prefix, (size_t)prefix_len);
    p += prefix_len;
    memcpy(p, lines, (size_t)lines_len);
    p += lines_len;
    memcpy(p, "content-length: ", 16);
    p += 16;
    memcpy(p, digits, (size_t)ndigits);
    p += ndigits;
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, tail, (size_t)tail_len);
    p += tail_len;
    *p++ = '\r';
    *p++ = '\n';
    if (with_body)
        memcpy(p, body, (size_t)body_len);
    return out;
}
