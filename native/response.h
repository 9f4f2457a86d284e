/* Response rendering for the HTTP/1.1 writer: one allocation, one copy per part. */
#ifndef COVET_RESPONSE_H
#define COVET_RESPONSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *covet_render(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *covet_render_fields(PyObject *module, PyObject *headers);
PyObject *covet_check_field(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
