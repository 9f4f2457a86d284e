#include "jsonflat.h"

#include <math.h>
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
    char num[32];
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
        int n = snprintf(num, sizeof num, "%lld", x);
        return buf_put(b, num, (size_t)n) < 0 ? -1 : 1;
    }
    if (PyFloat_CheckExact(v)) {
        if (!(mask & COVET_JSON_FLOAT)) {
            return 0;
        }
        double x = PyFloat_AS_DOUBLE(v);
        if (!isfinite(x)) {
            return 0;
        }
        /* repr's shortest round-trip digits are serde_json's too, but not its exponent form (1e-07 vs 1e-7). */
        char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (text == NULL) {
            return -1;
        }
        size_t n = strlen(text);
        int ok = memchr(text, 'e', n) == NULL;
        int rc = ok ? (buf_put(b, text, n) < 0 ? -1 : 1) : 0;
        PyMem_Free(text);
        return rc;
    }
    return 0;
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
    PyObject *out = NULL;
    if (rc == 1) {
        out = PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
    } else if (rc == 0) {
        out = Py_NewRef(Py_None);
    } else {
        PyErr_NoMemory();
    }
    PyMem_Free(b.data);
    return out;
}
