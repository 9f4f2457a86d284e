/* Direct routes of the io_uring server (see uring_direct.h): an open-addressing table by (method, path), and the call
 * of a route's glue with the request's parts, its plain reply rendered here. */
#include "uring_direct.h"

#include <string.h>

#include "events.h"
#include "response.h"
#include "uring_http1.h"

static uint64_t route_hash(const char *p, size_t n, unsigned method) {
    uint64_t h = 1469598103934665603ull ^ method;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

const struct route *direct_route_find(const UringServer *s, const char *path, size_t len, unsigned method) {
    if (s->nroutes == 0 || method == H1_M_OTHER)
        return NULL;
    unsigned mask = s->routes_cap - 1;
    for (unsigned i = (unsigned)route_hash(path, len, method) & mask;; i = (i + 1) & mask) {
        const struct route *r = &s->routes[i];
        if (r->path == NULL)
            return NULL;
        if (r->method == method && r->len == len && memcmp(r->path, path, len) == 0)
            return r;
    }
}

void direct_routes_free(UringServer *s) {
    for (unsigned i = 0; i < s->routes_cap; i++) {
        struct route *r = &s->routes[i];
        if (r->path == NULL)
            continue;
        PyMem_Free(r->path);
        Py_CLEAR(r->path_str);
        Py_CLEAR(r->glue);
        Py_CLEAR(r->plan);
    }
    PyMem_Free(s->routes);
    s->routes = NULL;
    s->routes_cap = s->nroutes = 0;
}

/* The slot r went into, or NULL when its method and path are there already. */
static struct route *route_put(struct route *slots, unsigned cap, const struct route *r) {
    unsigned mask = cap - 1;
    for (unsigned i = (unsigned)route_hash(r->path, r->len, r->method) & mask;; i = (i + 1) & mask) {
        if (slots[i].path == NULL) {
            slots[i] = *r;
            return &slots[i];
        }
        if (slots[i].method == r->method && slots[i].len == r->len && memcmp(slots[i].path, r->path, r->len) == 0)
            return NULL;
    }
}

/* add_route(method, path, glue, plan, headers) -> bool (False: a method the parser does not name) */
PyObject *direct_add_route(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "add_route(method: str, path: str, glue, plan, headers: int)");
        return NULL;
    }
    const char *m = PyUnicode_AsUTF8(args[0]);
    Py_ssize_t plen;
    const char *path = PyUnicode_AsUTF8AndSize(args[1], &plen);
    if (m == NULL || path == NULL)
        return NULL;
    unsigned method = H1_M_OTHER;
    for (unsigned i = 1; i < H1_M__COUNT; i++)
        if (strcmp(m, h1_method_names[i]) == 0)
            method = i;
    long headers = PyLong_AsLong(args[4]);
    if (headers == -1 && PyErr_Occurred())
        return NULL;
    if (headers != COVET_HEADERS_NONE && headers != COVET_HEADERS_ALL && headers != COVET_HEADERS_CONTENT_TYPE) {
        PyErr_Format(PyExc_ValueError,
                     "add_route: headers must be HEADERS_NONE, HEADERS_ALL or "
                     "HEADERS_CONTENT_TYPE, not %ld",
                     headers);
        return NULL;
    }
    if (method == H1_M_OTHER)
        Py_RETURN_FALSE;
    if ((s->nroutes + 1) * 2 > s->routes_cap) {
        unsigned cap = s->routes_cap ? s->routes_cap * 2 : 64;
        struct route *slots = PyMem_Calloc(cap, sizeof *slots);
        if (slots == NULL)
            return PyErr_NoMemory();
        for (unsigned i = 0; i < s->routes_cap; i++)
            if (s->routes[i].path != NULL)
                (void)route_put(slots, cap, &s->routes[i]);
        PyMem_Free(s->routes);
        s->routes = slots;
        s->routes_cap = cap;
    }
    struct route r;
    memset(&r, 0, sizeof r);
    r.path = PyMem_Malloc((size_t)plen + 1);
    if (r.path == NULL)
        return PyErr_NoMemory();
    memcpy(r.path, path, (size_t)plen + 1);
    r.len = (size_t)plen;
    r.method = (uint8_t)method;
    r.headers = (uint8_t)headers;
    /* The plan's route_id (covet/runtime/dispatch.py): the metrics count this route's responses under it. */
    PyObject *index = PyObject_GetAttrString(args[3], "route_id");
    long idx = index != NULL ? PyLong_AsLong(index) : -1;
    Py_XDECREF(index);
    if (idx == -1 && PyErr_Occurred())
        PyErr_Clear(); /* a plan without one (a test's stand-in) counts as no route */
    r.route_id = (int)idx;
    struct route *placed = route_put(s->routes, s->routes_cap, &r);
    if (placed == NULL) {
        PyMem_Free(r.path);
        PyErr_Format(PyExc_ValueError, "add_route(): %s %s is already added", m, path);
        return NULL;
    }
    Py_INCREF(args[1]);
    Py_INCREF(args[2]);
    Py_INCREF(args[3]);
    placed->path_str = args[1];
    placed->glue = args[2];
    placed->plan = args[3];
    s->nroutes++;
    Py_RETURN_TRUE;
}

/* The response bytes of a plain (status, HeaderSet, bytes) reply whose head is cached, or NULL (no exception) when
 * the reply needs Python to render it. */
static PyObject *render_direct(UringServer *s, PyObject *reply, int keep, int is_head, long minor) {
    if (!PyTuple_CheckExact(reply) || PyTuple_GET_SIZE(reply) != 3 || s->head_lines == NULL)
        return NULL;
    PyObject *status = PyTuple_GET_ITEM(reply, 0), *headers = PyTuple_GET_ITEM(reply, 1);
    PyObject *body = PyTuple_GET_ITEM(reply, 2);
    if (!PyLong_CheckExact(status) || Py_TYPE(headers) != (PyTypeObject *)s->header_set_type ||
        !PyBytes_CheckExact(body))
        return NULL;
    long code = PyLong_AsLong(status);
    if (code < 200 || code > 999) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *cache = PyObject_GetAttr(headers, s->h1_name);
    if (cache == NULL || !PyDict_CheckExact(cache)) {
        Py_XDECREF(cache);
        PyErr_Clear();
        return NULL;
    }
    PyObject *prefix = PyDict_GetItemWithError(cache, status);
    Py_DECREF(cache); /* the HeaderSet keeps the dict, and the dict the prefix */
    if (prefix == NULL || !PyBytes_CheckExact(prefix)) {
        PyErr_Clear();
        return NULL;
    }
    return covet_render_reply_parts(prefix, code, s->head_lines, body, keep, is_head, minor);
}

/* Runs a direct route: its glue is called here, and a plain reply rendered here; anything else goes to Python. */
int direct_answer(UringServer *s, struct conn *c, const struct route *rt, const struct covet_head *h, PyObject *body) {
    long minor = h->minor;
    int keep = h->keep_alive;
    int is_head = h->method == g_methods[H1_M_HEAD];
    PyObject *args[7] = {h->method, h->path, h->query, h->headers, body, g_empty_list, s->unused_conn};
    c->nreq++;
    s->requests++;
    PyObject *reply = PyObject_Vectorcall(rt->glue, args, 7, NULL);
    PyObject *out = NULL;
    if (reply != NULL) {
        out = render_direct(s, reply, keep, is_head, minor);
        if (out != NULL) {
            if (!keep)
                c->flags |= C_CLOSING;
        } else if (!PyErr_Occurred()) {
            PyObject *cid = conn_cid(c);
            PyObject *minor_obj = cid != NULL ? PyLong_FromLong(minor) : NULL;
            PyObject *line = minor_obj != NULL ? PyTuple_Pack(3, h->method, h->path, h->query) : NULL;
            if (line != NULL) {
                PyObject *flags[2] = {keep ? Py_True : Py_False, is_head ? Py_True : Py_False};
                PyObject *a[7] = {cid, rt->plan, reply, flags[0], flags[1], minor_obj, line};
                out = PyObject_Vectorcall(s->on_reply, a, 7, NULL);
            }
            Py_XDECREF(cid);
            Py_XDECREF(minor_obj);
            Py_XDECREF(line);
        }
        Py_DECREF(reply);
    } else {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        PyObject *cid = conn_cid(c);
        PyObject *minor_obj = cid != NULL ? PyLong_FromLong(minor) : NULL;
        PyObject *line = minor_obj != NULL ? PyTuple_Pack(3, h->method, h->path, h->query) : NULL;
        if (line != NULL && value != NULL) {
            PyObject *a[7] = {cid,       rt->plan, value, keep ? Py_True : Py_False, is_head ? Py_True : Py_False,
                              minor_obj, line};
            out = PyObject_Vectorcall(s->on_fail, a, 7, NULL);
        }
        Py_XDECREF(cid);
        Py_XDECREF(minor_obj);
        Py_XDECREF(line);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    if (s->access_log != NULL && out != NULL && PyBytes_Check(out))
        http_log(s, c, h->method, h->path, h->query, (int)minor, out, rt->route_id, 0);
    return http_take_answer(s, c, out, rt->glue);
}
