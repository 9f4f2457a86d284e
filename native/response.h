/* Response rendering for the HTTP/1.1 writer: one allocation, one copy per part. */
#ifndef COVET_RESPONSE_H
#define COVET_RESPONSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *covet_render(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *covet_render_reply(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* Whether a response of this status carries a body (all but 204 and 304). */
int covet_status_has_body(long status);

/* One complete response: prefix (status line and fields, rendered), head_lines (date, server), the framing and
 * connection fields this status, keep_alive and HTTP/1.minor call for, and the body unless is_head or the status
 * has none. prefix, head_lines and body must be bytes (unchecked). NULL with an exception set on failure. */
PyObject *covet_render_reply_parts(PyObject *prefix, long status, PyObject *head_lines, PyObject *body, int keep_alive,
                                   int is_head, long minor);
PyObject *covet_render_fields(PyObject *module, PyObject *headers);
PyObject *covet_check_field(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
