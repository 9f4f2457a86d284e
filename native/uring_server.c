/*
 * covet._native.UringServer, the Python type (see uring_server.h for the map of the io_uring server): its methods,
 * set-up, garbage collection and statistics. The work is done by the engine (uring_engine.c), the connection table
 * (uring_conns.c), HTTP/1 (uring_http1.c) and direct routes (uring_direct.c).
 */
#define _GNU_SOURCE
#include "uring_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "uring_direct.h"
#include "uring_engine.h"
#include "uring_http1.h"
#include "uring_tls.h"
#include "ws_binding.h"

static void wake(UringServer *s) {
    /* Work queued outside uring_process() (a suspended handler answered): have the loop call flush() soon. */
    if (s->in_process || s->wake_pending || s->on_wake == NULL)
        return;
    s->wake_pending = 1;
    PyObject *r = PyObject_CallNoArgs(s->on_wake);
    if (r == NULL)
        PyErr_WriteUnraisable(s->on_wake);
    Py_XDECREF(r);
}

static PyObject *RS_process(UringServer *s, PyObject *Py_UNUSED(ignored)) {
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (uring_process(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *RS_flush(UringServer *s, PyObject *Py_UNUSED(ignored)) {
    s->wake_pending = 0;
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (s->in_process)
        Py_RETURN_NONE;
    uring_flush_dirty(s);
    if (ring_pending(&s->ring) > 0 && uring_enter(s, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Python lets go of a connection it kept: with ``data`` (may be NULL) as the last of its response, then the input
 * held meanwhile is run, or the connection closes. */
static PyObject *let_go(UringServer *s, PyObject *cid, PyObject *data, PyObject *keep_alive, const char *what) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_FALSE;
    }
    int keep = PyObject_IsTrue(keep_alive);
    if (keep < 0)
        return NULL;
    if (c->flags & C_DEAD)
        Py_RETURN_FALSE;
    if (c->flags & C_INRUN) {
        PyErr_Format(PyExc_RuntimeError, "%s() for a request that request() has not returned from", what);
        return NULL;
    }
    if (data != NULL && conn_enqueue(s, c, data) < 0) {
        conn_kill(s, c, 1);
        http_settle(s, c);
        return PyErr_NoMemory();
    }
    c->flags &= ~(C_BUSY | C_BODYWAIT); /* a body the handler left unread is read on, and dropped */
    c->mark = s->now;
    if (!keep)
        http_stop_reading(c);
    else
        http_resume_input(s, c);
    http_settle(s, c);
    wake(s);
    Py_RETURN_TRUE;
}

static PyObject *RS_reply(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "reply(cid, data: bytes, keep_alive: bool)");
        return NULL;
    }
    return let_go(s, args[0], args[1], args[2], "reply");
}

static PyObject *RS_write(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write(cid, data: bytes)");
        return NULL;
    }
    struct conn *c = conn_lookup_cid(s, args[0]);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return PyLong_FromLong(-1);
    }
    if (c->flags & C_DEAD)
        return PyLong_FromLong(-1);
    if (conn_enqueue(s, c, args[1]) < 0) {
        conn_kill(s, c, 1);
        http_settle(s, c);
        return PyErr_NoMemory();
    }
    wake(s);
    if (conn_out_bytes(c) >= s->high_water) {
        c->flags |= C_DRAIN;
        return PyLong_FromLong(1);
    }
    return PyLong_FromLong(0);
}

static PyObject *RS_finish(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "finish(cid, keep_alive: bool)");
        return NULL;
    }
    return let_go(s, args[0], NULL, args[1], "finish");
}

/* Python wants more of a streamed body it had asked the core to hold back. */
static PyObject *RS_resume_body(UringServer *s, PyObject *cid) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (c->flags & C_BODYWAIT) {
        c->flags &= ~C_BODYWAIT;
        if (!(c->flags & C_INRUN)) {
            http_settle(s, c);
            wake(s);
        }
    }
    Py_RETURN_NONE;
}

/* upgrade(cid, head) -> bytes: Python switched the connection it holds to another protocol (uring_http1.h). */
static PyObject *RS_upgrade(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "upgrade(cid, head: bytes)");
        return NULL;
    }
    struct conn *c = conn_lookup_cid(s, args[0]);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        PyErr_SetString(PyExc_ConnectionResetError, "the connection is gone");
        return NULL;
    }
    if (c->flags & C_DEAD) {
        PyErr_SetString(PyExc_ConnectionResetError, "the connection is gone");
        return NULL;
    }
    PyObject *held = http_switch(s, c, args[1]);
    wake(s);
    return held;
}

/* ws_attach(cid, parser): the switched connection's input goes through parser (a WSParser) here. */
static PyObject *RS_ws_attach(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyObject_TypeCheck(args[1], &covet_WSParserType)) {
        PyErr_SetString(PyExc_TypeError, "ws_attach(cid, parser: WSParser)");
        return NULL;
    }
    struct conn *c = conn_lookup_cid(s, args[0]);
    if (c == NULL || (c->flags & C_DEAD)) {
        if (PyErr_Occurred())
            return NULL;
        PyErr_SetString(PyExc_ConnectionResetError, "the connection is gone");
        return NULL;
    }
    if (!(c->flags & C_RAW)) {
        PyErr_SetString(PyExc_RuntimeError, "ws_attach() of a connection that was not switched (upgrade)");
        return NULL;
    }
    Py_XSETREF(c->ws, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

static PyObject *RS_close_after(UringServer *s, PyObject *cid) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    http_stop_reading(c);
    Py_RETURN_NONE;
}

static PyObject *RS_abort(UringServer *s, PyObject *cid) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    conn_kill(s, c, 1);
    http_settle(s, c);
    wake(s);
    Py_RETURN_NONE;
}

static PyObject *addr_tuple(const struct sockaddr_storage *ss) {
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
        if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof host) == NULL)
            Py_RETURN_NONE;
        return Py_BuildValue("(si)", host, (int)ntohs(a->sin_port));
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            if (inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host) == NULL)
                Py_RETURN_NONE;
        } else if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host) == NULL) {
            Py_RETURN_NONE;
        }
        return Py_BuildValue("(si)", host, (int)ntohs(a->sin6_port));
    }
    Py_RETURN_NONE;
}

/* (host, port) of the peer (which=0) or of our end (1); None once the connection is gone. */
static PyObject *address(UringServer *s, PyObject *cid, int which) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int r = which ? getsockname(c->fd, (struct sockaddr *)&ss, &len) : getpeername(c->fd, (struct sockaddr *)&ss, &len);
    if (r < 0)
        Py_RETURN_NONE;
    return addr_tuple(&ss);
}

static PyObject *RS_peer(UringServer *s, PyObject *cid) {
    return address(s, cid, 0);
}

/* gone(cid) -> bool: the client closed, reset or half-closed the connection (or it no longer exists). */
static PyObject *RS_gone(UringServer *s, PyObject *cid) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(c == NULL || (c->flags & (C_DEAD | C_EOF)) != 0);
}

/* closed(cid) -> bool: the connection is closed or reset (or no longer exists); a half-closed one is still open. */
static PyObject *RS_closed(UringServer *s, PyObject *cid) {
    struct conn *c = conn_lookup_cid(s, cid);
    if (c == NULL && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(c == NULL || (c->flags & C_DEAD) != 0);
}

static PyObject *RS_sockname(UringServer *s, PyObject *cid) {
    return address(s, cid, 1);
}

/* Once a second: the clock advances, and a sweep of the connection table for timeouts starts; uring_process() runs its
 * slices, one per pass. Accepting starts again after EMFILE. */
static PyObject *RS_tick(UringServer *s, PyObject *timeout_bytes) {
    if (!PyBytes_Check(timeout_bytes)) {
        PyErr_SetString(PyExc_TypeError, "tick(timeout_response: bytes)");
        return NULL;
    }
    if (!s->ring_ok)
        Py_RETURN_NONE;
    s->now++;
    Py_INCREF(timeout_bytes);
    Py_XSETREF(s->timeout_bytes, timeout_bytes);
    s->sweep_fd = 0; /* a sweep still under way starts over: the clock moved */
    s->sweeping = 1;
    if (!s->accepting && !s->closing && s->listen_fd >= 0) {
        s->accept_errno = 0;
        uring_arm_accept(s);
    }
    /* A whole pass, not only a submit: should a wake-up of the eventfd ever be lost, this second picks it up. */
    if (uring_process(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Graceful shutdown: stop accepting; close connections idle for a tick now, the rest after their next response or once
 * idle for a tick (http_idle_for_a_tick says why not at once).
 * The armed accept is cancelled, the connections in the listening socket's queue are taken (uring_take_queued), and
 * the socket is no longer the core's: its owner closes it right after this call, and once the accept's completion lets
 * go of it too the kernel refuses new connections, instead of completing handshakes nobody will accept (they were reset
 * when the drain ended). */
static PyObject *RS_shutdown(UringServer *s, PyObject *Py_UNUSED(ignored)) {
    if (!s->ring_ok || s->closing)
        Py_RETURN_NONE;
    s->closing = 1;
    if (s->accepting)
        (void)uring_cancel(s, UD(OP_ACCEPT, 0, 0));
    s->in_process = 1;
    uring_take_queued(s); /* (served like the rest below: each closes after its response) */
    s->listen_fd = -1;
    for (unsigned fd = 0; fd < s->conns_cap; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL || (c->flags & (C_DEAD | C_BUSY)))
            continue;
        if (http_idle_for_a_tick(s, c)) {
            c->flags |= C_CLOSING;
            http_settle(s, c);
        }
    }
    s->in_process = 0;
    uring_flush_dirty(s);
    if (uring_enter(s, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Resets every connection and waits (at most about a second) for the kernel to finish their operations, then
 * releases the ring. Every counter in stats() is zero afterwards unless the kernel kept an operation. */
static PyObject *RS_close(UringServer *s, PyObject *Py_UNUSED(ignored)) {
    struct io_uring_cqe cqes[REAP_BATCH];
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (s->in_process) {
        PyErr_SetString(PyExc_RuntimeError, "UringServer.close() from inside one of its callbacks");
        return NULL;
    }
    s->closing = 1;
    s->stopping = 1;
    s->in_process = 1;
    if (s->accepting)
        uring_cancel(s, UD(OP_ACCEPT, 0, 0));
    for (unsigned fd = 0; fd < s->conns_cap; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL)
            continue;
        c->flags &= ~C_BUSY;
        conn_kill(s, c, 1);
        http_settle(s, c);
    }
    for (int i = 0; i < 1000 && s->n_ops > 0; i++) {
        if (ring_enter(&s->ring, 1, 0) < 0 && errno != EINTR && errno != EBUSY)
            break;
        unsigned n = ring_reap(&s->ring, cqes, REAP_BATCH);
        for (unsigned k = 0; k < n; k++)
            uring_dispatch(s, &cqes[k]);
        if (n == 0)
            usleep(1000);
    }
    s->in_process = 0;
    for (unsigned fd = 0; fd < s->conns_cap; fd++) /* operations the kernel never finished: free anyway */
        if (s->conns[fd] != NULL) {
            struct conn *c = s->conns[fd];
            if ((c->flags & C_SEND) && c->out != NULL) {
                c->out = NULL; /* the kernel may still read those bytes: leaked, never freed under it */
                s->n_outq--;
            }
            c->ops = 0;
            conn_free(s, c);
        }
    while (s->nfree_act > 0) {
        struct active *a = s->free_act[--s->nfree_act];
        h1_conn_free(&a->p);
        PyMem_Free(a);
    }
    conn_outq_release_all(s);
    ring_free(&s->ring);
    s->ring_ok = 0;
    Py_RETURN_NONE;
}

static PyObject *RS_stats(UringServer *s, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("{s:l,s:l,s:l,s:l,s:l,s:l,s:l,s:I,s:K,s:K,s:K,s:K,s:K,s:i}", "connections", s->n_conns,
                         "parsers", s->n_active, "operations", s->n_ops, "output_queues", s->n_outq, "output_items",
                         s->n_out_items, "tls_sessions", s->n_tls, "tls_buffered", s->n_tlsbuf, "buffers_out",
                         s->ring.bufs_out, "accepted", s->accepted, "requests", s->requests, "passes", s->passes,
                         "enters", s->enters, "completions", s->completions, "accept_errno", s->accept_errno);
}

static PyObject *RS_get_fd(UringServer *s, void *closure) {
    (void)closure;
    return PyLong_FromLong(s->ring_ok ? s->ring.efd : -1);
}

static PyObject *RS_get_mode(UringServer *s, void *closure) {
    (void)closure;
    return PyUnicode_FromString(covet_uring_mode_name(s->ring.mode));
}

static PyObject *RS_get_connections(UringServer *s, void *closure) {
    (void)closure;
    return PyLong_FromLong(s->n_conns);
}

static PyObject *RS_get_busy(UringServer *s, void *closure) {
    (void)closure;
    long n = 0;
    for (unsigned fd = 0; fd < s->conns_cap; fd++)
        if (s->conns[fd] != NULL && (s->conns[fd]->flags & C_BUSY))
            n++;
    return PyLong_FromLong(n);
}

static uint32_t ticks(double seconds) {
    if (seconds <= 0)
        return 0;
    if (seconds > 4e9)
        return UINT32_MAX;
    uint32_t t = (uint32_t)seconds;
    return (double)t < seconds ? t + 1 : t;
}

/* The methods of the handler the core calls, looked up once by RS_init: each is kept, bound, in its field. The one
 * list of them, exported as UringServer.HANDLER_METHODS; covet/runtime/uring_contract.py declares the same as the
 * Protocol UringHandler (tests/test_contract.py checks that they agree). */
static const struct {
    const char *name;
    size_t offset;
} handler_methods[] = {
    {"request", offsetof(UringServer, on_request)}, /* request(cid, Request) -> bytes | None */
    {"error", offsetof(UringServer, on_error)},     /* error(status, message) -> bytes */
    {"wake", offsetof(UringServer, on_wake)},       /* wake() -> None */
    {"drained", offsetof(UringServer, on_drain)},   /* drained(cid) -> None */
    {"body", offsetof(UringServer, on_body)},       /* body(cid, bytes | (status, message) | bool | None) -> bool */
    {"reply_for", offsetof(UringServer, on_reply)}, /* reply_for(cid, plan, reply, keep_alive, is_head, minor) */
    {"failed", offsetof(UringServer, on_fail)},     /* failed(cid, plan, exc, keep_alive, is_head, minor) */
};

#define N_HANDLER_METHODS (sizeof handler_methods / sizeof handler_methods[0])

static PyObject **handler_method(UringServer *s, size_t i) {
    return (PyObject **)(void *)((char *)s + handler_methods[i].offset);
}

/* Takes handler and its bound methods; 0, or -1 with an exception set (then nothing of the handler is kept). */
static int take_handler(UringServer *s, PyObject *handler) {
    for (size_t i = 0; i < N_HANDLER_METHODS; i++) {
        PyObject *m = PyObject_GetAttrString(handler, handler_methods[i].name);
        if (m != NULL && !PyCallable_Check(m)) {
            PyErr_Format(PyExc_TypeError, "UringServer(): the handler's %s is not callable", handler_methods[i].name);
            Py_CLEAR(m);
        }
        if (m == NULL) {
            for (size_t k = 0; k < i; k++)
                Py_CLEAR(*handler_method(s, k));
            return -1;
        }
        Py_XSETREF(*handler_method(s, i), m);
    }
    Py_XSETREF(s->handler, Py_NewRef(handler));
    return 0;
}

static int RS_init(UringServer *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"listen_fd",    "handler",         "max_target",        "max_header_bytes",
                             "max_headers",  "max_body",        "keepalive_timeout", "header_timeout",
                             "body_timeout", "write_timeout",   "entries",           "buffers",
                             "buffer_size",  "max_stream_body", "max_connections",   NULL};
    int listen_fd;
    PyObject *handler;
    Py_ssize_t max_target = 8192, max_header_bytes = 65536, max_headers = 100;
    long long max_body = 1048576, max_stream_body = 0;
    long max_conns = 0;
    double keepalive = 5, header_to = 10, body_to = 60, write_to = 60;
    unsigned entries = 1024, buffers = 512, buffer_size = 16384;
    if (s->ring_ok) {
        PyErr_SetString(PyExc_RuntimeError, "UringServer is already set up");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iO|$nnnLddddIIILl:UringServer", kwlist, &listen_fd, &handler,
                                     &max_target, &max_header_bytes, &max_headers, &max_body, &keepalive, &header_to,
                                     &body_to, &write_to, &entries, &buffers, &buffer_size, &max_stream_body,
                                     &max_conns))
        return -1;
    if (max_target < 1 || max_header_bytes < 1 || max_headers < 0 || max_body < 0 || max_stream_body < 0 ||
        max_conns < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be positive");
        return -1;
    }
    if (take_handler(s, handler) < 0)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        uring_os_error(errno, "getrlimit");
        return -1;
    }
    rlim_t cap = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 22) ? (1u << 22) : rl.rlim_cur;
    s->conns = PyMem_Calloc((size_t)cap, sizeof *s->conns);
    if (s->conns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->conns_cap = (unsigned)cap;
    int err = ring_init(&s->ring, entries, entries * 4);
    if (err < 0) {
        uring_os_error(-err, "io_uring_setup");
        return -1;
    }
    err = ring_bufs_init(&s->ring, buffers, buffer_size, 0);
    if (err == 0)
        err = ring_eventfd(&s->ring);
    if (err < 0) {
        ring_free(&s->ring);
        uring_os_error(-err, "io_uring_register");
        return -1;
    }
    s->ring_ok = 1;
    s->listen_fd = listen_fd;
    s->lim.max_target = (size_t)max_target;
    s->lim.max_header_bytes = (size_t)max_header_bytes;
    s->lim.max_headers = (size_t)max_headers;
    s->lim.max_body = (uint64_t)max_body;
    s->lim.max_stream_body = (uint64_t)max_stream_body;
    s->max_conns = max_conns > 0 ? max_conns : LONG_MAX; /* 0: no limit */
    s->high_water = 256 * 1024;
    s->low_water = 64 * 1024;
    s->max_saved = 256 * 1024;
    s->keepalive_ticks = ticks(keepalive);
    s->header_ticks = ticks(header_to);
    s->body_ticks = ticks(body_to);
    s->write_ticks = ticks(write_to);
    s->continue_bytes = PyBytes_FromString("HTTP/1.1 100 Continue\r\n\r\n");
    s->h1_name = PyUnicode_InternFromString("h1");
    if (s->continue_bytes == NULL || s->h1_name == NULL)
        return -1;
    uring_arm_accept(s);
    if (uring_enter(s, 0) < 0)
        return -1;
    return 0;
}

static PyObject *RS_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    UringServer *s = (UringServer *)type->tp_alloc(type, 0);
    if (s != NULL) {
        s->ring.fd = -1;
        s->listen_fd = -1;
        s->up = &uring_http1_upcalls;
    }
    return (PyObject *)s;
}

static int RS_traverse(UringServer *s, visitproc visit, void *arg) {
    Py_VISIT(s->handler);
    for (size_t i = 0; i < N_HANDLER_METHODS; i++)
        Py_VISIT(*handler_method(s, i));
    Py_VISIT(s->header_set_type);
    Py_VISIT(s->unused_conn);
    Py_VISIT((PyObject *)s->access_log);
    for (unsigned i = 0; i < s->routes_cap; i++) {
        Py_VISIT(s->routes[i].glue);
        Py_VISIT(s->routes[i].plan);
    }
    return 0;
}

/* The GC breaks a cycle through the core (core -> its handler, UringHTTP1, and its bound methods -> core) by clearing
 * it: from then on its callbacks are NULL, and the release that follows in RS_dealloc closes the connections without
 * telling anyone. Every callback the release may reach (on_drain, on_body, on_wake) is checked for NULL there. */
static int RS_clear(UringServer *s) {
    for (size_t i = 0; i < N_HANDLER_METHODS; i++)
        Py_CLEAR(*handler_method(s, i));
    Py_CLEAR(s->handler);
    Py_CLEAR(s->header_set_type);
    Py_CLEAR(s->unused_conn);
    Py_CLEAR(s->access_log);
    direct_routes_free(s);
    return 0;
}

static void RS_dealloc(UringServer *s) {
    PyObject_GC_UnTrack(s);
    if (s->ring_ok) {
        PyObject *r = RS_close(s, NULL);
        if (r == NULL)
            PyErr_WriteUnraisable((PyObject *)s);
        Py_XDECREF(r);
    }
    RS_clear(s);
    Py_CLEAR(s->continue_bytes);
    Py_CLEAR(s->head_lines);
    Py_CLEAR(s->h1_name);
    Py_CLEAR(s->timeout_bytes);
    tls_free(s);
    PyMem_Free(s->conns);
    PyMem_Free(s->dirty);
    free(s->peers);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

/* set_direct(header_set_type, unused_conn): what calling routes directly needs (their replies go to the handler's
 * reply_for and failed). */
static PyObject *RS_set_direct(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "set_direct(header_set_type: type, unused_conn)");
        return NULL;
    }
    Py_XSETREF(s->header_set_type, Py_NewRef(args[0]));
    Py_XSETREF(s->unused_conn, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

/* set_access_log(log): the core records every response it sends (also those it renders itself) in ``log``, an
 * AccessLog; None stops it. */
static PyObject *RS_set_access_log(UringServer *s, PyObject *log) {
    if (log != Py_None && !PyObject_TypeCheck(log, &covet_AccessLogType)) {
        PyErr_SetString(PyExc_TypeError, "set_access_log(log: AccessLog | None)");
        return NULL;
    }
    if (log != Py_None && s->peers == NULL) {
        /* calloc: pages of descriptors never used are never touched (the table is as long as RLIMIT_NOFILE) */
        s->peers = calloc(s->conns_cap, sizeof *s->peers);
        if (s->peers == NULL)
            return PyErr_NoMemory();
    }
    Py_XSETREF(s->access_log, log == Py_None ? NULL : (struct AccessLog *)Py_NewRef(log));
    Py_RETURN_NONE;
}

static PyObject *RS_set_head_lines(UringServer *s, PyObject *lines) {
    if (!PyBytes_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "set_head_lines(lines: bytes)");
        return NULL;
    }
    Py_INCREF(lines);
    Py_XSETREF(s->head_lines, lines);
    Py_RETURN_NONE;
}

static PyMethodDef RS_methods[] = {
    {"set_access_log", (PyCFunction)RS_set_access_log, METH_O,
     "set_access_log(log) -> None: record every response sent in an AccessLog (None: stop)."},
    {"process", (PyCFunction)RS_process, METH_NOARGS,
     "process() -> None: submit, reap and dispatch completions (the ring fd's reader callback)."},
    {"flush", (PyCFunction)RS_flush, METH_NOARGS, "flush() -> None: send what reply() and write() queued."},
    {"reply", (PyCFunction)(void (*)(void))RS_reply, METH_FASTCALL,
     "reply(cid, data, keep_alive) -> bool: the response of a request Python kept; False when the connection is gone."},
    {"write", (PyCFunction)(void (*)(void))RS_write, METH_FASTCALL,
     "write(cid, data) -> int: 0 queued, 1 queued and handler.drained(cid) will be called, -1 the connection is gone."},
    {"finish", (PyCFunction)(void (*)(void))RS_finish, METH_FASTCALL,
     "finish(cid, keep_alive) -> bool: a streamed response ended; the connection reads on or closes."},
    {"upgrade", (PyCFunction)(void (*)(void))RS_upgrade, METH_FASTCALL,
     "upgrade(cid, head: bytes) -> bytes: queue the 101 head of the connection Python holds, and hand every byte "
     "read from then on to handler.body(cid, data); returns the input held meanwhile."},
    {"ws_attach", (PyCFunction)(void (*)(void))RS_ws_attach, METH_FASTCALL,
     "ws_attach(cid, parser: WSParser) -> None: a switched connection's input is parsed by parser here, and "
     "handler.body(cid, events) gets the list of its events instead of the bytes."},
    {"resume_body", (PyCFunction)RS_resume_body, METH_O,
     "resume_body(cid) -> None: read on after handler.body(cid, data) returned True."},
    {"close_after", (PyCFunction)RS_close_after, METH_O,
     "close_after(cid) -> None: close once the response being returned is sent."},
    {"abort", (PyCFunction)RS_abort, METH_O, "abort(cid) -> None: reset the connection now."},
    {"peer", (PyCFunction)RS_peer, METH_O, "peer(cid) -> (host, port) or None."},
    {"gone", (PyCFunction)RS_gone, METH_O, "gone(cid) -> bool: the client closed, reset or half-closed."},
    {"closed", (PyCFunction)RS_closed, METH_O, "closed(cid) -> bool: closed or reset; a half-closed one is not."},
    {"sockname", (PyCFunction)RS_sockname, METH_O, "sockname(cid) -> (host, port) or None."},
    {"tick", (PyCFunction)RS_tick, METH_O, "tick(timeout_response) -> None: once a second, enforce the timeouts."},
    {"shutdown", (PyCFunction)RS_shutdown, METH_NOARGS,
     "shutdown() -> None: stop accepting, and take the connections queued on the listening socket (the caller "
     "closes it next); idle connections close now, busy ones after their response."},
    {"close", (PyCFunction)RS_close, METH_NOARGS, "close() -> None: reset every connection and release the ring."},
    {"add_route", (PyCFunction)(void (*)(void))direct_add_route, METH_FASTCALL,
     "add_route(method, path, glue, plan, headers) -> bool: call this static route's sync glue directly, handing it "
     "the headers HEADERS_NONE, HEADERS_ALL or HEADERS_CONTENT_TYPE says."},
    {"set_direct", (PyCFunction)(void (*)(void))RS_set_direct, METH_FASTCALL,
     "set_direct(header_set_type, unused_conn) -> None: enable direct routes."},
    {"set_head_lines", (PyCFunction)RS_set_head_lines, METH_O,
     "set_head_lines(lines) -> None: the current date and server header lines."},
    {"set_tls", (PyCFunction)(void (*)(void))tls_set, METH_FASTCALL,
     "set_tls(certfile, keyfile, password, ca_certs, cert_reqs, ciphers, alpn) -> None: serve TLS with a context "
     "built from these (covet.runtime.tls validates them); called again, new connections get the new one."},
    {"stats", (PyCFunction)RS_stats, METH_NOARGS,
     "stats() -> dict: connections, parsers, operations and buffers held."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RS_getset[] = {
    {"fd", (getter)RS_get_fd, NULL,
     "the descriptor to watch for readability: an eventfd the ring signals (-1 once closed)", NULL},
    {"mode", (getter)RS_get_mode, NULL, "the ring set-up the kernel accepted", NULL},
    {"connections", (getter)RS_get_connections, NULL, "open connections", NULL},
    {"busy", (getter)RS_get_busy, NULL, "connections Python holds", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* clang-format off: PyVarObject_HEAD_INIT ends in a comma of its own, which clang-format cannot see */
PyTypeObject covet_UringServerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._native.UringServer",
    .tp_basicsize = sizeof(UringServer),
    .tp_dealloc = (destructor)RS_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    /* The first line, up to "--", is the signature inspect (and mypy's stubtest) read. */
    .tp_doc = "UringServer(listen_fd, handler, *, max_target=8192, max_header_bytes=65536, max_headers=100, "
              "max_body=1048576, keepalive_timeout=5.0, header_timeout=10.0, body_timeout=60.0, write_timeout=60.0, "
              "entries=1024, buffers=512, buffer_size=16384, max_stream_body=0, max_connections=0)\n--\n\n"
              "HTTP/1.1 connections on io_uring; the handler answers each request. It has the methods named in "
              "UringServer.HANDLER_METHODS (covet.runtime.uring_contract.UringHandler).",
    .tp_traverse = (traverseproc)RS_traverse,
    .tp_clear = (inquiry)RS_clear,
    .tp_methods = RS_methods,
    .tp_getset = RS_getset,
    .tp_init = (initproc)RS_init,
    .tp_new = RS_new,
};
/* clang-format on */

int covet_ringserver_ready(void) {
    if (PyType_Ready(&covet_UringServerType) < 0)
        return -1;
    PyObject *names = PyTuple_New((Py_ssize_t)N_HANDLER_METHODS);
    if (names == NULL)
        return -1;
    for (size_t i = 0; i < N_HANDLER_METHODS; i++) {
        PyObject *name = PyUnicode_InternFromString(handler_methods[i].name);
        if (name == NULL) {
            Py_DECREF(names);
            return -1;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, name);
    }
    int rc = PyDict_SetItemString(covet_UringServerType.tp_dict, "HANDLER_METHODS", names);
    Py_DECREF(names);
    PyType_Modified(&covet_UringServerType);
    return rc;
}
