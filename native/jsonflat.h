/*
 * JSON for the results handlers most often return: a flat dict of str keys
 * and scalar values, written in C instead of through pydantic-core's
 * serializer (a call, a schema walk and a validation when the type is
 * declared).  The bytes are exactly pydantic-core's to_json: compact, UTF-8
 * as it is, serde_json's escapes.  Anything else (another type, a float that
 * repr writes with an exponent, an int past 64 bits, a string that is not
 * valid UTF-8) is declined, and the caller takes pydantic-core's path.
 */
#ifndef COVET_JSONFLAT_H
#define COVET_JSONFLAT_H

#include <Python.h>

#include "jsontext.h"

/* The value types json_flat takes (its mask argument): a value of another
 * type, or of a type not in the mask, declines the dict.  Exact types only:
 * a bool is not an int here, a str subclass (an Enum's) is not a str. */
enum {
    COVET_JSON_STR = 1,
    COVET_JSON_INT = 2,
    COVET_JSON_FLOAT = 4,
    COVET_JSON_BOOL = 8,
    COVET_JSON_NONE = 16,
};

/* json_flat(value, mask) -> bytes | None (a METH_FASTCALL function). */
PyObject *covet_json_flat(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

extern const char covet_json_flat_doc[];

/* json_records(value, cls, names, masks) -> bytes | None: an instance of exactly cls (a dataclass, a model), or a
 * list of them, written as an object of the fields names, field i holding a value of masks[i]'s types. */
PyObject *covet_json_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

extern const char covet_json_records_doc[];

#endif
