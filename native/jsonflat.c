#include "jsonflat.h"

#include <string.h>

const char covet_json_flat_doc[] =
    "json_flat(value, mask) -> bytes | None: a dict of str keys and scalar values as pydantic-core's to_json writes "
    "it; None when a key or value is of another type (mask: the JSON_* value types taken).";

/* A growing output buffer; it owns data until buf_take hands it to a bytes object. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} Buf;

static int buf_reserve(Buf *b, size_t more) {
    if (more > PY_SSIZE_T_MAX - b->len) {
        return -1;
    }
    size_t need = b->len + more;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > PY_SSIZE_T_MAX / 2 ? need : cap * 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* 1 written, 0 declined (not valid UTF-8: a lone surrogate), -1 out of memory. */
static int put_string(Buf *b, PyObject *s) {
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(s, &len);
    if (utf8 == NULL) {
        PyErr_Clear(); /* pydantic-core's path says what is wrong with it */
        return 0;
    }
    if ((size_t)len > (PY_SSIZE_T_MAX - 2) / 6 || buf_reserve(b, (size_t)len * 6 + 2) < 0) {
        return -1;
    }
    b->data[b->len++] = '"';
    b->len += covet_json_escape(b->data + b->len, utf8, (size_t)len);
    b->data[b->len++] = '"';
    return 1;
}

/* 1 written, 0 declined, -1 out of memory. */
static int put_value(Buf *b, PyObject *v, long mask) {
    char num[40];
    if (PyUnicode_CheckExact(v)) {
        return (mask & COVET_JSON_STR) ? put_string(b, v) : 0;
    }
    if (v == Py_True || v == Py_False) {
        if (!(mask & COVET_JSON_BOOL)) {
            return 0;
        }
        return buf_put(b, v == Py_True ? "true" : "false", v == Py_True ? 4 : 5) < 0 ? -1 : 1;
    }
    if (v == Py_None) {
        return !(mask & COVET_JSON_NONE) ? 0 : buf_put(b, "null", 4) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(v)) {
        if (!(mask & COVET_JSON_INT)) {
            return 0;
        }
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow != 0) {
            return 0;
        }
        return buf_put(b, num, covet_json_int(num, x)) < 0 ? -1 : 1;
    }
    if (PyFloat_CheckExact(v)) {
        if (!(mask & COVET_JSON_FLOAT)) {
            return 0;
        }
        size_t n = covet_json_float(num, PyFloat_AS_DOUBLE(v));
        return n == 0 ? 0 : buf_put(b, num, n) < 0 ? -1 : 1;
    }
    return 0;
}

/* The fields of one record, exactly of class cls: "{" key ":" value, ... "}"; 1, 0 or -1 as put_value. */
static int put_record(Buf *b, PyObject *obj, PyObject *names, PyObject *masks) {
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (buf_put(b, "{", 1) < 0) {
        return -1;
    }
    /* Fields are read from the instance's __dict__ where it has one (a model's, a plain dataclass's: where
     * pydantic-core reads them too, and no descriptor of the class shadows them: gluekit.record_fields checks),
     * else by getattr (a slotted or mypyc-compiled class). */
    int mapping = PyDict_CheckExact(obj); /* a TypedDict's value: its keys are the fields */
    PyObject *dict = mapping                            ? Py_NewRef(obj)
                     : Py_TYPE(obj)->tp_dictoffset != 0 ? PyObject_GenericGetDict(obj, NULL)
                                                        : NULL;
    if (dict == NULL) {
        PyErr_Clear();
    }
    int rc = 1;
    for (Py_ssize_t i = 0; rc == 1 && i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if ((i > 0 && buf_put(b, ",", 1) < 0) || (rc = put_string(b, name)) != 1 || buf_put(b, ":", 1) < 0) {
            rc = rc == 0 ? 0 : -1;
            break;
        }
        PyObject *value = dict != NULL ? Py_XNewRef(PyDict_GetItemWithError(dict, name)) : NULL;
        if (value == NULL) {
            /* (getattr may run the class's own code; the caller holds what is being written.) */
            value = PyErr_Occurred() || mapping ? NULL : PyObject_GetAttr(obj, name);
            if (value == NULL) {
                PyErr_Clear();
                rc = 0;
                break;
            }
        }
        rc = put_value(b, value, PyLong_AsLong(PyTuple_GET_ITEM(masks, i)));
        Py_DECREF(value);
    }
    Py_XDECREF(dict);
    if (rc != 1) {
        return rc;
    }
    return buf_put(b, "}", 1) < 0 ? -1 : 1;
}

/* The result of a writer (rc: 1 written, 0 declined, -1 out of memory), the buffer freed. */
static PyObject *finish(Buf *b, int rc) {
    PyObject *out = NULL;
    if (rc == 1) {
        out = PyBytes_FromStringAndSize(b->data, (Py_ssize_t)b->len);
    } else if (rc == 0) {
        out = Py_NewRef(Py_None);
    } else {
        PyErr_NoMemory();
    }
    PyMem_Free(b->data);
    return out;
}

PyObject *covet_json_flat(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "json_flat(value, mask) takes 2 arguments");
        return NULL;
    }
    long mask = PyLong_AsLong(args[1]);
    if (mask == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *d = args[0];
    if (!PyDict_CheckExact(d)) {
        Py_RETURN_NONE;
    }
    Buf b = {NULL, 0, 0};
    PyObject *key;
    PyObject *value;
    Py_ssize_t pos = 0;
    int first = 1;
    int rc = buf_put(&b, "{", 1) < 0 ? -1 : 1;
    /* No Python code runs below (exact types only), so the dict cannot change while it is walked. */
    while (rc == 1 && PyDict_Next(d, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            rc = 0;
            break;
        }
        if (!first && buf_put(&b, ",", 1) < 0) {
            rc = -1;
            break;
        }
        first = 0;
        rc = put_string(&b, key);
        if (rc == 1) {
            rc = buf_put(&b, ":", 1) < 0 ? -1 : 1;
        }
        if (rc == 1) {
            rc = put_value(&b, value, mask);
        }
    }
    if (rc == 1) {
        rc = buf_put(&b, "}", 1) < 0 ? -1 : 1;
    }
    return finish(&b, rc);
}

const char covet_json_records_doc[] =
    "json_records(value, cls, names, masks) -> bytes | None: an instance of exactly cls, or a list of them, as "
    "pydantic-core's to_json writes its fields names (str) when each holds a value of its mask's types; None else.";

PyObject *covet_json_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4 || !PyType_Check(args[1]) || !PyTuple_CheckExact(args[2]) || !PyTuple_CheckExact(args[3]) ||
        PyTuple_GET_SIZE(args[2]) != PyTuple_GET_SIZE(args[3])) {
        PyErr_SetString(PyExc_TypeError, "json_records(value, cls, names, masks): names and masks tuples alike");
        return NULL;
    }
    PyObject *value = args[0];
    PyTypeObject *cls = (PyTypeObject *)args[1];
    PyObject *names = args[2];
    PyObject *masks = args[3];
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(names, i)) || !PyLong_CheckExact(PyTuple_GET_ITEM(masks, i))) {
            PyErr_SetString(PyExc_TypeError, "json_records: names are str, masks int");
            return NULL;
        }
    }
    Buf b = {NULL, 0, 0};
    int rc;
    if (Py_TYPE(value) == cls) {
        rc = put_record(&b, value, names, masks);
    } else if (PyList_CheckExact(value)) {
        rc = buf_put(&b, "[", 1) < 0 ? -1 : 1;
        /* The list is read by index each time: a getattr cannot run the application's code, but stays safe if it
         * did (a shorter list ends the loop; each item is held while it is written). */
        for (Py_ssize_t i = 0; rc == 1 && i < PyList_GET_SIZE(value); i++) {
            PyObject *item = PyList_GET_ITEM(value, i);
            if (Py_TYPE(item) != cls) {
                rc = 0;
                break;
            }
            if (i > 0 && buf_put(&b, ",", 1) < 0) {
                rc = -1;
                break;
            }
            Py_INCREF(item);
            rc = put_record(&b, item, names, masks);
            Py_DECREF(item);
        }
        if (rc == 1) {
            rc = buf_put(&b, "]", 1) < 0 ? -1 : 1;
        }
    } else {
        rc = 0;
    }
    return finish(&b, rc);
}
