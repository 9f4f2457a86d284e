/*
 * covet._native.RingServer: HTTP/1.1 connections on io_uring, with Python entered once per request.
 *
 * The request path: a multishot accept hands over sockets; each gets a multishot recv into the provided-buffer
 * ring; the C parser (http1.c) runs straight on the received buffer, which goes back to the kernel as soon as it is
 * parsed; each complete request is one call of ``on_request(cid, event)``, which returns the response bytes, or None
 * when Python keeps the connection (a handler suspended, a response streams) and answers later through reply(),
 * write() and finish().  Responses are queued per connection and sent by one SEND/SENDMSG each, all connections'
 * sends going to the kernel in one io_uring_enter.
 *
 * Ownership:
 * - received buffers belong to the ring; a completion lends one until it is parsed (never across a Python call that
 *   could keep it: input held while Python keeps the connection is copied into the connection's ``saved``);
 * - response bytes objects are referenced by the connection's output queue until the kernel has sent them;
 * - a connection struct lives until its socket is closed and no operation of it is in flight; an idle connection is
 *   that struct alone (no parser, no buffer, no Python object).
 *
 * Completions are copied out of the ring first and dispatched after, so no Python runs while the ring is walked.
 * Everything happens on the thread that created the server (single-issuer ring), under the GIL.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "events.h"
#include "ring.h"
#include "response.h"
#include "ringserver.h"

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_CANCEL = 4 };

#define UD(op, gen, fd) (((uint64_t)(op) << 56) | ((uint64_t)((gen) & 0xffffffu) << 32) | (uint32_t)(fd))
#define UD_OP(ud) ((unsigned)((ud) >> 56))
#define UD_GEN(ud) ((uint32_t)(((ud) >> 32) & 0xffffffu))
#define UD_FD(ud) ((int)(uint32_t)(ud))

enum {
    C_RECV = 1u << 0,    /* a multishot recv is armed */
    C_SEND = 1u << 1,    /* a send is in flight */
    C_BUSY = 1u << 2,    /* Python holds the connection: a handler suspended, or a response streams */
    C_CLOSING = 1u << 3, /* close once the output is sent */
    C_EOF = 1u << 4,     /* the peer sent FIN */
    C_DEAD = 1u << 5,    /* being closed: freed when no operation of it is in flight */
    C_DRAIN = 1u << 6,   /* Python waits for the output to drain */
    C_DIRTY = 1u << 7,   /* on the flush list */
    C_RESET = 1u << 8,   /* close with a reset (SO_LINGER 0) */
    C_CANCEL = 1u << 9,  /* a cancel of the recv is in flight */
    C_INRUN = 1u << 10,  /* its events are being run: free later */
    C_SENDCANCEL = 1u << 11, /* a cancel of the send is in flight */
    C_BODY = 1u << 12,   /* the body of its request streams to Python (on_body) */
    C_BODYWAIT = 1u << 13, /* Python has enough of that body for now: no reading until resume_body() */
    C_LINGER = 1u << 14, /* closing while a request was arriving: shut our side, read and drop, then close */
    C_SHUTWR = 1u << 15, /* our side is shut (lingering since c->mark) */
    C_TOLD = 1u << 16    /* Python was told (on_drain) that the client of its handler left */
};

#define LINGER_TICKS 2

#define OUT_IOV 32
#define REAP_BATCH 256
#define MAX_ROUNDS 8
#define FREE_ACTIVE 64
/* The most bytes one send carries. The SQE's length is 32 bits: a response of 4 GiB or more wrapped (4 GiB + 100
 * went out as 100 bytes, then as sends of 0 bytes, forever). The kernel takes at most ~2 GiB per call anyway. */
#define SEND_MAX ((size_t)1 << 30)
/* Connections one slice of the timeout sweep may close or answer; process() runs one slice per pass. A close costs
 * ~20 us of kernel time (its FIN and the peer's answer over loopback), and 15,000 keep-alive connections may expire
 * in the same second: closed in one go they held the loop for 300 ms, and every request that arrived meanwhile.
 * Measured with that crowd, a request waited up to 140 ms with slices of 512 and under 6 ms with slices of 64, for
 * the same total time spent closing. */
#define SWEEP_SLICE 64

struct outq {
    PyObject **items; /* bytes objects; items[start .. start+n) are unsent */
    unsigned start, n, cap;
    unsigned sending; /* items in the send in flight */
    size_t off;       /* bytes of items[start] already sent */
    size_t bytes;     /* unsent bytes */
    struct msghdr msg;
    struct iovec iov[OUT_IOV];
};

/* A route the core calls directly: a static path whose handler is sync. Python decides which (RingHTTP.install). */
struct route {
    char *path; /* NULL: empty slot */
    size_t len;
    PyObject *path_str;
    PyObject *glue;
    PyObject *plan;
    uint8_t method;  /* enum h1_method */
    uint8_t headers; /* the glue reads the request headers */
};

/* What a connection holds only while a request is in progress. */
struct active {
    h1_conn p;
    PyObject *pending; /* head tuple whose body is still arriving */
    const struct route *route; /* the direct route of that head, or NULL */
    char *saved;       /* input held while Python keeps the connection */
    size_t saved_len, saved_cap;
};

struct conn {
    int fd;
    uint32_t gen;
    uint32_t flags;
    uint32_t nreq, seen_nreq;
    uint32_t mark; /* tick of the last progress */
    uint16_t ops;  /* operations in flight */
    uint8_t seen_state;
    struct active *act;
    struct outq *out;
};

typedef struct {
    PyObject_HEAD
    struct ring ring;
    int ring_ok;
    int listen_fd;
    int accepting;    /* a multishot accept is armed */
    int accept_errno; /* why accepting stopped (EMFILE...), re-armed by tick() */
    struct conn **conns;
    unsigned conns_cap;
    uint32_t gen;
    uint32_t now;
    unsigned sweep_fd; /* where the timeout sweep of this tick goes on */
    int sweeping;      /* the sweep is not through the table yet */
    int closing;
    int in_process;
    int wake_pending;
    h1_limits lim;
    size_t high_water, low_water, max_saved;
    uint32_t keepalive_ticks, header_ticks, body_ticks, write_ticks;
    unsigned *dirty;
    unsigned ndirty, dirty_cap;
    struct active *free_act[FREE_ACTIVE];
    unsigned nfree_act;
    PyObject *on_request, *on_error, *on_wake, *on_drain, *on_body;
    PyObject *continue_bytes;
    PyObject *timeout_bytes;
    /* direct routes */
    struct route *routes;
    unsigned routes_cap, nroutes;
    PyObject *header_set_type, *on_reply, *on_fail, *unused_conn, *head_lines, *h1_name;
    PyObject *tail_close, *tail_keep10, *tail_none;
    /* accounting: every one is back to zero once the server is closed */
    long n_conns, n_active, n_ops, n_outq, n_out_items;
    unsigned long long accepted, requests, passes, enters, completions;
} RingServer;

/* ------------------------------------------------------------------ helpers */

static PyObject *os_error(int err, const char *what) {
    errno = err;
    return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
}

static struct io_uring_sqe *get_sqe(RingServer *s) {
    struct io_uring_sqe *sqe = ring_sqe(&s->ring);
    if (sqe == NULL) {
        /* queue full: hand what is there to the kernel and take a fresh slot */
        (void)ring_enter(&s->ring, 0, 0);
        sqe = ring_sqe(&s->ring);
    }
    return sqe;
}

static struct conn *lookup(RingServer *s, int fd, uint32_t gen24) {
    if (fd < 0 || (unsigned)fd >= s->conns_cap)
        return NULL;
    struct conn *c = s->conns[fd];
    if (c == NULL || (c->gen & 0xffffffu) != gen24)
        return NULL;
    return c;
}

static struct conn *lookup_cid(RingServer *s, PyObject *cid) {
    unsigned long long v = PyLong_AsUnsignedLongLong(cid);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    int fd = (int)(uint32_t)v;
    uint32_t gen = (uint32_t)(v >> 32);
    if (fd < 0 || (unsigned)fd >= s->conns_cap)
        return NULL;
    struct conn *c = s->conns[fd];
    return c != NULL && c->gen == gen ? c : NULL;
}

static PyObject *cid_of(const struct conn *c) {
    return PyLong_FromUnsignedLongLong(((unsigned long long)c->gen << 32) | (uint32_t)c->fd);
}

static void mark_dirty(RingServer *s, struct conn *c) {
    if (c->flags & C_DIRTY)
        return;
    if (s->ndirty == s->dirty_cap) {
        unsigned cap = s->dirty_cap ? s->dirty_cap * 2 : 256;
        unsigned *d = PyMem_Realloc(s->dirty, cap * sizeof *d);
        if (d == NULL)
            return; /* settled again by the next completion of this connection */
        s->dirty = d;
        s->dirty_cap = cap;
    }
    s->dirty[s->ndirty++] = (unsigned)c->fd;
    c->flags |= C_DIRTY;
}

static void wake(RingServer *s) {
    /* Work queued outside process() (a suspended handler answered): have the loop call flush() soon. */
    if (s->in_process || s->wake_pending || s->on_wake == NULL)
        return;
    s->wake_pending = 1;
    PyObject *r = PyObject_CallNoArgs(s->on_wake);
    if (r == NULL)
        PyErr_WriteUnraisable(s->on_wake);
    Py_XDECREF(r);
}

/* ------------------------------------------------------------- operations */

static void arm_accept(RingServer *s) {
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL)
        return;
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = s->listen_fd;
    sqe->ioprio = IORING_ACCEPT_MULTISHOT;
    sqe->accept_flags = SOCK_CLOEXEC;
    sqe->user_data = UD(OP_ACCEPT, 0, 0);
    s->accepting = 1;
    s->n_ops++;
}

/* Cancels the one operation whose user_data is ``target``. The kernel finds it in a hash table by that value; a
 * cancel by descriptor instead walks every request pending on the ring. Returns 0, or -1 without a free SQE. */
static int cancel(RingServer *s, uint64_t target) {
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL)
        return -1;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = target;
    sqe->user_data = UD(OP_CANCEL, 0, 0);
    s->n_ops++;
    return 0;
}

static void arm_recv(RingServer *s, struct conn *c) {
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL)
        return;
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = c->fd;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = s->ring.bgid;
    sqe->user_data = UD(OP_RECV, c->gen, c->fd);
    c->flags |= C_RECV;
    c->ops++;
    s->n_ops++;
}

static void cancel_recv(RingServer *s, struct conn *c) {
    if (!(c->flags & C_RECV) || (c->flags & C_CANCEL))
        return;
    if (cancel(s, UD(OP_RECV, c->gen, c->fd)) == 0)
        c->flags |= C_CANCEL;
}

static void start_send(RingServer *s, struct conn *c) {
    struct outq *q = c->out;
    if (q == NULL || q->n == 0 || (c->flags & (C_SEND | C_DEAD)))
        return;
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL) {
        mark_dirty(s, c);
        return;
    }
    unsigned k = q->n < OUT_IOV ? q->n : OUT_IOV;
    size_t total = 0;
    unsigned i = 0;
    for (; i < k && total < SEND_MAX; i++) {
        PyObject *b = q->items[q->start + i];
        size_t skip = i == 0 ? q->off : 0;
        size_t len = (size_t)PyBytes_GET_SIZE(b) - skip;
        if (len > SEND_MAX - total)
            len = SEND_MAX - total; /* the rest of it goes in a later send */
        q->iov[i].iov_base = PyBytes_AS_STRING(b) + skip;
        q->iov[i].iov_len = len;
        total += len;
    }
    k = i;
    q->sending = k;
    if (k == 1) {
        sqe->opcode = IORING_OP_SEND;
        sqe->addr = (uint64_t)(uintptr_t)q->iov[0].iov_base;
        sqe->len = (uint32_t)q->iov[0].iov_len; /* at most SEND_MAX */
    } else {
        memset(&q->msg, 0, sizeof q->msg);
        q->msg.msg_iov = q->iov;
        q->msg.msg_iovlen = k;
        sqe->opcode = IORING_OP_SENDMSG;
        sqe->addr = (uint64_t)(uintptr_t)&q->msg;
        sqe->len = 1;
    }
    sqe->fd = c->fd;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = UD(OP_SEND, c->gen, c->fd);
    c->flags |= C_SEND;
    c->ops++;
    s->n_ops++;
}

/* -------------------------------------------------------- connection state */

static void outq_free(RingServer *s, struct conn *c) {
    struct outq *q = c->out;
    if (q == NULL)
        return;
    for (unsigned i = 0; i < q->n; i++)
        Py_DECREF(q->items[q->start + i]);
    s->n_out_items -= q->n;
    PyMem_Free(q->items);
    PyMem_Free(q);
    c->out = NULL;
    s->n_outq--;
}

static void active_release(RingServer *s, struct conn *c) {
    struct active *a = c->act;
    if (a == NULL)
        return;
    c->act = NULL;
    Py_CLEAR(a->pending);
    PyMem_Free(a->saved);
    a->saved = NULL;
    a->saved_len = a->saved_cap = 0;
    if (s->nfree_act < FREE_ACTIVE && a->p.hdr_cap <= 128) {
        h1_conn_reset(&a->p);
        s->free_act[s->nfree_act++] = a;
    } else {
        h1_conn_free(&a->p);
        PyMem_Free(a);
    }
    s->n_active--;
}

static struct active *active_get(RingServer *s, struct conn *c) {
    if (c->act != NULL)
        return c->act;
    struct active *a;
    if (s->nfree_act > 0) {
        a = s->free_act[--s->nfree_act];
    } else {
        a = PyMem_Calloc(1, sizeof *a);
        if (a == NULL)
            return NULL;
        h1_conn_init(&a->p, &s->lim);
    }
    c->act = a;
    s->n_active++;
    return a;
}

static void conn_free(RingServer *s, struct conn *c) {
    s->conns[c->fd] = NULL;
    active_release(s, c);
    outq_free(s, c);
    if (c->flags & C_RESET) {
        struct linger lg = {1, 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    PyMem_Free(c);
    s->n_conns--;
}

/* Cancels c's operations in flight (its receive, and a send stuck behind a client that does not read), each by its
 * own user_data. Not by descriptor: that walks every request pending on the ring, so closing N connections at once
 * cost N^2 (15,000 idle connections timing out together held the loop for 6 s of kernel time). The user_data names
 * the connection's generation, so a cancel still in flight cannot reach a later connection on the same descriptor;
 * the descriptor stays open until the cancelled operations have completed (they are counted in c->ops). A cancel
 * that found no free SQE is retried by the next tick. */
static void kill_ops(RingServer *s, struct conn *c) {
    cancel_recv(s, c);
    if ((c->flags & (C_SEND | C_SENDCANCEL)) == C_SEND && cancel(s, UD(OP_SEND, c->gen, c->fd)) == 0)
        c->flags |= C_SENDCANCEL;
}

/* Stops everything of c; its memory goes once no operation of it is in flight. */
static void conn_kill(RingServer *s, struct conn *c, int reset) {
    if (c->flags & C_DEAD)
        return;
    c->flags |= C_DEAD;
    if (reset)
        c->flags |= C_RESET;
    if (c->flags & C_BUSY)
        c->flags |= C_DRAIN; /* Python holds it (a stream): settle() tells it once that it is gone */
    kill_ops(s, c);
    if (c->out != NULL && !(c->flags & C_SEND))
        outq_free(s, c);
    if (c->act != NULL && !(c->flags & C_INRUN)) /* run_events releases it when it returns */
        active_release(s, c);
}

static int enqueue(RingServer *s, struct conn *c, PyObject *data) {
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (len == 0)
        return 0;
    struct outq *q = c->out;
    if (q == NULL) {
        q = PyMem_Calloc(1, sizeof *q);
        if (q == NULL)
            return -1;
        c->out = q;
        s->n_outq++;
    }
    if (q->start + q->n == q->cap) {
        if (q->start > 0 && !(c->flags & C_SEND)) {
            memmove(q->items, q->items + q->start, q->n * sizeof *q->items);
            q->start = 0;
        }
        if (q->start + q->n == q->cap) {
            unsigned cap = q->cap ? q->cap * 2 : 4;
            PyObject **items = PyMem_Realloc(q->items, cap * sizeof *items);
            if (items == NULL)
                return -1;
            q->items = items;
            q->cap = cap;
        }
    }
    Py_INCREF(data);
    q->items[q->start + q->n++] = data;
    q->bytes += (size_t)len;
    s->n_out_items++;
    mark_dirty(s, c);
    return 0;
}

/* The kernel sent res bytes of the send in flight. */
static void consume(RingServer *s, struct conn *c, size_t res) {
    struct outq *q = c->out;
    if (q == NULL)
        return;
    q->bytes -= res < q->bytes ? res : q->bytes;
    while (res > 0 && q->n > 0) {
        PyObject *b = q->items[q->start];
        size_t avail = (size_t)PyBytes_GET_SIZE(b) - q->off;
        if (res < avail) {
            q->off += res;
            break;
        }
        res -= avail;
        q->off = 0;
        Py_DECREF(b);
        q->start++;
        q->n--;
        s->n_out_items--;
    }
    if (q->n == 0)
        outq_free(s, c);
}

static size_t out_bytes(const struct conn *c) {
    return c->out != NULL ? c->out->bytes : 0;
}

static void notify_drain(RingServer *s, struct conn *c) {
    c->flags &= ~C_DRAIN;
    PyObject *cid = cid_of(c);
    if (cid == NULL) {
        PyErr_WriteUnraisable(s->on_drain);
        return;
    }
    PyObject *r = PyObject_CallOneArg(s->on_drain, cid);
    Py_DECREF(cid);
    if (r == NULL)
        PyErr_WriteUnraisable(s->on_drain);
    Py_XDECREF(r);
}

/* Tells Python of c's streamed body (``item``, stolen): bytes, None at its end, (status, message) when its framing
 * broke, False when the connection is gone, True when the client shut its side first.  Returns 1 when Python asks to
 * stop reading for now, 0 to go on, -1 with an exception set. */
static int body_event(RingServer *s, struct conn *c, PyObject *item) {
    if (item == NULL)
        return -1;
    if (s->on_body == NULL) { /* cleared by the GC (RS_clear): the Python half is garbage too, nobody to tell */
        Py_DECREF(item);
        return 0;
    }
    PyObject *cid = cid_of(c);
    if (cid == NULL) {
        Py_DECREF(item);
        return -1;
    }
    PyObject *args[2] = {cid, item};
    PyObject *r = PyObject_Vectorcall(s->on_body, args, 2, NULL);
    Py_DECREF(cid);
    Py_DECREF(item);
    if (r == NULL)
        return -1;
    int pause = PyObject_IsTrue(r);
    Py_DECREF(r);
    return pause;
}

/* c is dead. Python hears of it once (a stream waiting to drain, a streamed body it reads or drops), and c's memory
 * goes once no operation of it is in flight. Every path that kills a connection ends here, so Python never keeps a
 * connection the core has freed. */
static void settle_dead(RingServer *s, struct conn *c) {
    /* Python waits for the output to drain, or its handler may want to know that the client left. */
    if (((c->flags & C_DRAIN) || (c->flags & (C_BUSY | C_TOLD)) == C_BUSY) && s->on_drain != NULL) {
        c->flags |= C_TOLD;
        notify_drain(s, c);
    }
    if (c->flags & C_BODY) {
        c->flags &= ~(C_BODY | C_BODYWAIT);
        if (body_event(s, c, Py_NewRef(Py_False)) < 0)
            PyErr_WriteUnraisable(s->on_body);
    }
    if (c->ops == 0)
        conn_free(s, c);
}

/* Decides what c does next, after anything happened to it: read more, pause, send, close, free. */
static void settle(RingServer *s, struct conn *c) {
    if (c->flags & C_INRUN)
        return;
    if (c->flags & C_DEAD) {
        settle_dead(s, c);
        return;
    }
    size_t pending = out_bytes(c);
    if ((c->flags & C_DRAIN) && pending <= s->low_water)
        notify_drain(s, c);
    else if ((c->flags & (C_EOF | C_BUSY | C_TOLD)) == (C_EOF | C_BUSY) && s->on_drain != NULL) {
        /* The client sent FIN while its handler runs: most clients leave so (its answer is still sent). */
        c->flags |= C_TOLD;
        notify_drain(s, c);
    }
    if (pending > 0 && !(c->flags & C_SEND))
        mark_dirty(s, c);
    int busy = (c->flags & C_BUSY) != 0;
    if ((c->flags & (C_CLOSING | C_EOF)) && !busy && pending == 0 && !(c->flags & C_SEND)) {
        if ((c->flags & (C_LINGER | C_EOF)) == C_LINGER) {
            /* The client may still be sending: a close now would reset the connection with its input unread,
             * and the answer could be lost. Shut our side instead, and drop what arrives until it closes too. */
            if (!(c->flags & C_SHUTWR)) {
                c->flags |= C_SHUTWR;
                c->flags &= ~C_BODYWAIT;
                c->mark = s->now;
                if (shutdown(c->fd, SHUT_WR) < 0) {
                    conn_kill(s, c, 0);
                    settle_dead(s, c);
                    return;
                }
            }
            if (!(c->flags & C_RECV))
                arm_recv(s, c);
            return;
        }
        conn_kill(s, c, 0); /* a body being dropped may still stream: Python learns it is gone */
        settle_dead(s, c);
        return;
    }
    size_t saved = c->act != NULL ? c->act->saved_len : 0;
    int want = !(c->flags & (C_CLOSING | C_EOF | C_BODYWAIT)) && pending < s->high_water && saved <= s->max_saved;
    if (want && !(c->flags & C_RECV))
        arm_recv(s, c);
    else if (!want)
        cancel_recv(s, c);
}

static int save_input(struct active *a, const char *data, size_t n) {
    if (n == 0)
        return 0;
    if (a->saved_len + n > a->saved_cap) {
        size_t cap = a->saved_cap ? a->saved_cap : 1024;
        while (cap < a->saved_len + n)
            cap *= 2;
        char *p = PyMem_Realloc(a->saved, cap);
        if (p == NULL)
            return -1;
        a->saved = p;
        a->saved_cap = cap;
    }
    memcpy(a->saved + a->saved_len, data, n);
    a->saved_len += n;
    return 0;
}

/* What Python answered for a request (a reference, stolen; NULL with an exception set): bytes are queued, None
 * means Python keeps the connection. Returns 0 answered, 1 kept, -1 the connection failed (reported as raised by
 * ``origin``). */
static int take_answer(RingServer *s, struct conn *c, PyObject *r, PyObject *origin) {
    if (r == NULL) {
        PyErr_WriteUnraisable(origin);
        return -1;
    }
    if (r == Py_None) {
        Py_DECREF(r);
        c->flags |= C_BUSY;
        return 1;
    }
    int rc = 0;
    if (!PyBytes_Check(r)) {
        PyErr_Format(PyExc_TypeError, "a request's answer must be bytes or None, not %.100s", Py_TYPE(r)->tp_name);
        PyErr_WriteUnraisable(origin);
        rc = -1;
    } else if (!(c->flags & C_DEAD) && enqueue(s, c, r) < 0) {
        rc = -1;
    }
    Py_DECREF(r);
    return rc;
}

/* Calls Python for one complete request; 0 answered, 1 Python keeps the connection, -1 the connection failed. */
static int answer(RingServer *s, struct conn *c, PyObject *req) {
    PyObject *cid = cid_of(c);
    if (cid == NULL) {
        PyErr_WriteUnraisable(s->on_request);
        return -1;
    }
    PyObject *args[2] = {cid, req};
    c->nreq++;
    s->requests++;
    PyObject *r = PyObject_Vectorcall(s->on_request, args, 2, NULL);
    Py_DECREF(cid);
    return take_answer(s, c, r, s->on_request);
}

static int answer_error(RingServer *s, struct conn *c, int status, const char *message) {
    PyObject *r = PyObject_CallFunction(s->on_error, "is", status, message);
    if (r != NULL && !PyBytes_Check(r)) {
        PyErr_Format(PyExc_TypeError, "on_error must return bytes, not %.100s", Py_TYPE(r)->tp_name);
        Py_CLEAR(r);
    }
    if (r == NULL) {
        PyErr_WriteUnraisable(s->on_error);
        return -1;
    }
    int rc = enqueue(s, c, r);
    Py_DECREF(r);
    return rc;
}

/* -------------------------------------------------------------- direct routes */

static uint64_t route_hash(const char *p, size_t n, unsigned method) {
    uint64_t h = 1469598103934665603ull ^ method;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const struct route *route_find(const RingServer *s, const char *path, size_t len, unsigned method) {
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

static void routes_free(RingServer *s) {
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

/* add_route(method, path, glue, plan, reads_headers) -> bool (False: a method the parser does not name) */
static PyObject *RS_add_route(RingServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "add_route(method: str, path: str, glue, plan, reads_headers: bool)");
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
    int headers = PyObject_IsTrue(args[4]);
    if (headers < 0)
        return NULL;
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

/* set_direct(header_set_type, on_reply, on_fail, unused_conn): what calling routes directly needs. */
static PyObject *RS_set_direct(RingServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "set_direct(header_set_type, on_reply, on_fail, unused_conn)");
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        Py_INCREF(args[i]);
    Py_XSETREF(s->header_set_type, args[0]);
    Py_XSETREF(s->on_reply, args[1]);
    Py_XSETREF(s->on_fail, args[2]);
    Py_XSETREF(s->unused_conn, args[3]);
    Py_RETURN_NONE;
}

static PyObject *RS_set_head_lines(RingServer *s, PyObject *lines) {
    if (!PyBytes_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "set_head_lines(lines: bytes)");
        return NULL;
    }
    Py_INCREF(lines);
    Py_XSETREF(s->head_lines, lines);
    Py_RETURN_NONE;
}

/* The response bytes of a plain (status, HeaderSet, bytes) reply whose head is cached, or NULL (no exception) when
 * the reply needs Python to render it. */
static PyObject *render_direct(RingServer *s, PyObject *reply, int keep, int is_head, long minor) {
    if (!PyTuple_CheckExact(reply) || PyTuple_GET_SIZE(reply) != 3 || s->head_lines == NULL)
        return NULL;
    PyObject *status = PyTuple_GET_ITEM(reply, 0), *headers = PyTuple_GET_ITEM(reply, 1);
    PyObject *body = PyTuple_GET_ITEM(reply, 2);
    if (!PyLong_CheckExact(status) || Py_TYPE(headers) != (PyTypeObject *)s->header_set_type ||
        !PyBytes_CheckExact(body))
        return NULL;
    long code = PyLong_AsLong(status);
    if (code < 200 || code == 204 || code == 304 || code > 999) {
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
    if (prefix == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *tail = keep ? (minor ? s->tail_none : s->tail_keep10) : s->tail_close;
    PyObject *args[5] = {prefix, s->head_lines, body, tail, is_head ? Py_False : Py_True};
    return covet_render(NULL, args, 5);
}

/* Runs a direct route: its glue is called here, and a plain reply rendered here; anything else goes to Python. */
static int answer_direct(RingServer *s, struct conn *c, const struct route *rt, PyObject *req) {
    PyObject *method = PyTuple_GET_ITEM(req, 1);
    long minor = PyLong_AsLong(PyTuple_GET_ITEM(req, 4));
    int keep = PyTuple_GET_ITEM(req, 6) == Py_True;
    int is_head = method == g_methods[H1_M_HEAD];
    PyObject *args[7] = {method, PyTuple_GET_ITEM(req, 2), PyTuple_GET_ITEM(req, 3), PyTuple_GET_ITEM(req, 5),
                         PyTuple_GET_ITEM(req, 7), g_empty_list, s->unused_conn};
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
            PyObject *cid = cid_of(c);
            if (cid != NULL) {
                PyObject *a[6] = {cid, rt->plan, reply, keep ? Py_True : Py_False, is_head ? Py_True : Py_False,
                                  PyTuple_GET_ITEM(req, 4)};
                out = PyObject_Vectorcall(s->on_reply, a, 6, NULL);
                Py_DECREF(cid);
            }
        }
        Py_DECREF(reply);
    } else {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        PyObject *cid = cid_of(c);
        if (cid != NULL && value != NULL) {
            PyObject *a[6] = {cid, rt->plan, value, keep ? Py_True : Py_False, is_head ? Py_True : Py_False,
                              PyTuple_GET_ITEM(req, 4)};
            out = PyObject_Vectorcall(s->on_fail, a, 6, NULL);
        }
        Py_XDECREF(cid);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
    return take_answer(s, c, out, rt->glue);
}

/* c closes once its output is sent; if a request was arriving (or broke the parser), with a lingering close. */
static void close_after_output(struct conn *c) {
    c->flags |= C_CLOSING;
    if ((c->flags & C_BODY) || (c->act != NULL && h1_conn_state(&c->act->p) != H1_STATE_IDLE))
        c->flags |= C_LINGER;
}

/* c's last response is queued: no later request is parsed or answered. */
static void stop_reading(struct conn *c) {
    close_after_output(c);
    if (c->act != NULL) {
        h1_conn_abort(&c->act->p);
        c->act->saved_len = 0;
    }
}

/* After body_event() returned r: whether c is lost (Python failed, or the connection died meanwhile), in which case
 * its parser is stopped and it is killed. */
static int body_lost(RingServer *s, struct conn *c, int r) {
    if (r >= 0 && !(c->flags & C_DEAD))
        return 0;
    if (r < 0)
        PyErr_WriteUnraisable(s->on_body);
    h1_conn_abort(&c->act->p);
    conn_kill(s, c, 1);
    return 1;
}

/* The peer's FIN came before the end of c's streamed body, which can never complete now: Python's reader gets the
 * ClientDisconnect a reset gives (at once, not at the body timeout, so that a peer cannot hold a handler and a
 * descriptor cheaply by half-closing), and c closes once the route has answered. */
static void body_cut(RingServer *s, struct conn *c) {
    c->flags &= ~(C_BODY | C_BODYWAIT);
    stop_reading(c);
    if (body_event(s, c, Py_NewRef(Py_True)) < 0) { /* True: what arrived before the FIN is still read */
        PyErr_WriteUnraisable(s->on_body);
        conn_kill(s, c, 1);
    }
}

/* Runs the parser's events for c until the input is used up, Python keeps the connection, or it closes. */
static void run_events(RingServer *s, struct conn *c) {
    struct active *a = c->act;
    c->flags |= C_INRUN;
    for (;;) {
        h1_event ev;
        int kind = h1_conn_next(&a->p, &ev);
        if (kind == H1_EV_NONE)
            break;
        if (kind == H1_EV_HEAD) {
            Py_CLEAR(a->pending);
            /* A body that may stream goes through on_request, whose Python half decides what takes it. */
            int may_stream = ev.req->body == H1_BODY_CHUNKED || ev.req->content_length > s->lim.max_body;
            a->route = s->on_reply != NULL && !may_stream
                           ? route_find(s, ev.req->path, ev.req->path_len, ev.req->method_id)
                           : NULL;
            a->pending = a->route != NULL ? covet_make_head_with(ev.req, a->route->path_str, a->route->headers)
                                          : covet_make_head(ev.req);
            if (a->pending == NULL) {
                PyErr_WriteUnraisable(s->on_request);
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
            if (s->closing || (c->flags & C_EOF)) {
                Py_INCREF(Py_False);
                Py_SETREF(PyTuple_GET_ITEM(a->pending, 6), Py_False);
            }
        } else if (kind == H1_EV_CONTINUE) {
            if (enqueue(s, c, s->continue_bytes) < 0) {
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
        } else if (kind == H1_EV_STREAM) {
            /* Only Python knows whether the route reads a body this large. */
            PyObject *req = a->pending;
            a->pending = NULL;
            if (req == NULL) {
                if (answer_error(s, c, 413, "Request body too large") < 0)
                    conn_kill(s, c, 1);
                else
                    stop_reading(c);
                break;
            }
            req = covet_stream_head(req);
            int rc = req != NULL ? answer(s, c, req) : -1;
            if (req == NULL)
                PyErr_WriteUnraisable(s->on_request);
            Py_XDECREF(req);
            if (rc < 0 || (c->flags & C_DEAD)) {
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
            if (rc == 0) { /* refused on the spot: the body is not read, nothing after it either */
                stop_reading(c);
                break;
            }
            c->flags |= C_BODY;
        } else if (kind == H1_EV_DATA) {
            if (!(c->flags & C_BODY))
                continue;
            int r = body_event(s, c, PyBytes_FromStringAndSize(ev.body, (Py_ssize_t)ev.body_len));
            if (body_lost(s, c, r))
                break;
            if (r > 0)
                c->flags |= C_BODYWAIT;
        } else if (kind == H1_EV_MESSAGE && (c->flags & C_BODY)) {
            c->flags &= ~(C_BODY | C_BODYWAIT);
            if (body_lost(s, c, body_event(s, c, Py_NewRef(Py_None))))
                break;
            if (c->flags & C_BUSY) { /* the handler still runs: what follows waits for it */
                const char *rest;
                size_t n = h1_conn_detach(&a->p, &rest);
                if (save_input(a, rest, n) < 0)
                    conn_kill(s, c, 1);
                break;
            }
        } else if (kind == H1_EV_MESSAGE) {
            PyObject *req = a->pending;
            a->pending = NULL;
            PyObject *body = req != NULL ? PyBytes_FromStringAndSize(ev.body, (Py_ssize_t)ev.body_len) : NULL;
            if (body == NULL) {
                Py_XDECREF(req);
                PyErr_Clear();
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
            PyTuple_SET_ITEM(req, 7, body);
            int rc = a->route != NULL ? answer_direct(s, c, a->route, req) : answer(s, c, req);
            Py_DECREF(req);
            if (rc < 0 || (c->flags & C_DEAD)) {
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
            if (c->flags & C_CLOSING) { /* the response closes the connection: nothing after it is read */
                h1_conn_abort(&a->p);
                break;
            }
            if (rc == 1) {
                const char *rest;
                size_t n = h1_conn_detach(&a->p, &rest);
                if (save_input(a, rest, n) < 0) {
                    conn_kill(s, c, 1);
                    break;
                }
                break;
            }
        } else if (c->flags & C_BODY) { /* H1_EV_ERROR inside a streamed body: its reader fails, and answers */
            close_after_output(c);
            c->flags &= ~(C_BODY | C_BODYWAIT);
            if (body_event(s, c, Py_BuildValue("(is)", ev.status, ev.message)) < 0) {
                PyErr_WriteUnraisable(s->on_body);
                conn_kill(s, c, 1);
            }
            break;
        } else { /* H1_EV_ERROR: the parser is dead; answer and close */
            Py_CLEAR(a->pending);
            if (answer_error(s, c, ev.status, ev.message) < 0)
                conn_kill(s, c, 1);
            else
                close_after_output(c);
            break;
        }
    }
    c->flags &= ~C_INRUN;
    a = c->act;
    if (a != NULL && !(c->flags & C_BUSY) && a->pending == NULL && a->saved_len == 0 &&
        h1_conn_state(&a->p) == H1_STATE_IDLE)
        active_release(s, c);
}

static void feed(RingServer *s, struct conn *c, const char *data, size_t n) {
    if (c->flags & C_CLOSING)
        return; /* its last response is decided: nothing after it is read (the receive is being cancelled) */
    struct active *a = active_get(s, c);
    if (a == NULL) {
        conn_kill(s, c, 1);
        return;
    }
    if ((c->flags & (C_BUSY | C_BODY)) == C_BUSY) {
        if (save_input(a, data, n) < 0)
            conn_kill(s, c, 1);
        return;
    }
    h1_conn_feed(&a->p, data, n);
    run_events(s, c);
}

/* Python let go of c: run the input held meanwhile. */
static void resume_input(RingServer *s, struct conn *c) {
    struct active *a = c->act;
    if (a == NULL || a->saved_len == 0 || (c->flags & (C_BUSY | C_DEAD | C_CLOSING)))
        return;
    char *buf = a->saved;
    size_t n = a->saved_len;
    a->saved = NULL;
    a->saved_len = a->saved_cap = 0;
    h1_conn_feed(&a->p, buf, n);
    run_events(s, c);
    PyMem_Free(buf);
}

/* ---------------------------------------------------------------- completions */

static void on_accept(RingServer *s, const struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        s->accepting = 0;
        s->n_ops--;
        /* Out of descriptors, accepting waits for the tick (a second) rather than spin; otherwise at once. */
        int res = cqe->res;
        if (!s->closing && res != -ECANCELED && res != -EMFILE && res != -ENFILE && res != -ENOBUFS &&
            res != -ENOMEM)
            arm_accept(s);
    }
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED)
            s->accept_errno = -cqe->res;
        return;
    }
    int fd = cqe->res;
    if (s->closing || (unsigned)fd >= s->conns_cap) {
        close(fd);
        return;
    }
    struct conn *c = PyMem_Calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->gen = ++s->gen;
    if ((c->gen & 0xffffffu) == 0)
        c->gen = ++s->gen;
    c->mark = s->now;
    s->conns[fd] = c;
    s->n_conns++;
    s->accepted++;
    arm_recv(s, c);
}

static void on_recv(RingServer *s, const struct io_uring_cqe *cqe) {
    unsigned bid = 0;
    int has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
    if (has_buf)
        bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    struct conn *c = lookup(s, UD_FD(cqe->user_data), UD_GEN(cqe->user_data));
    if (c == NULL) {
        if (has_buf)
            ring_buf_recycle(&s->ring, bid);
        return;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->flags &= ~(C_RECV | C_CANCEL);
        c->ops--;
        s->n_ops--;
    }
    if (cqe->res > 0 && has_buf) {
        if (!(c->flags & C_DEAD)) /* no progress mark: a client dripping a head byte by byte still times out */
            feed(s, c, ring_buf(&s->ring, bid), (size_t)cqe->res);
    } else if (cqe->res == 0) {
        c->flags |= C_EOF;
        if ((c->flags & (C_BODY | C_DEAD)) == C_BODY)
            body_cut(s, c);
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
        conn_kill(s, c, 1); /* reset by the peer, or another socket error */
    }
    if (has_buf)
        ring_buf_recycle(&s->ring, bid);
    settle(s, c);
}

static void on_send(RingServer *s, const struct io_uring_cqe *cqe) {
    struct conn *c = lookup(s, UD_FD(cqe->user_data), UD_GEN(cqe->user_data));
    if (c == NULL)
        return;
    c->flags &= ~(C_SEND | C_SENDCANCEL);
    c->ops--;
    s->n_ops--;
    if (c->flags & C_DEAD) {
        outq_free(s, c);
    } else if (cqe->res < 0) {
        if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
            mark_dirty(s, c);
        } else {
            outq_free(s, c);
            conn_kill(s, c, 1);
        }
    } else if (cqe->res == 0) {
        /* A send of at least one byte that sent none is no progress (the write timeout must still see the client
         * stall), and a retry would get the same: drop the connection. */
        outq_free(s, c);
        conn_kill(s, c, 1);
    } else {
        c->mark = s->now;
        consume(s, c, (size_t)cqe->res);
    }
    settle(s, c);
}

static void dispatch(RingServer *s, const struct io_uring_cqe *cqe) {
    switch (UD_OP(cqe->user_data)) {
    case OP_ACCEPT:
        on_accept(s, cqe);
        break;
    case OP_RECV:
        if (cqe->flags & IORING_CQE_F_BUFFER)
            s->ring.bufs_out++;
        on_recv(s, cqe);
        break;
    case OP_SEND:
        on_send(s, cqe);
        break;
    case OP_CANCEL:
        s->n_ops--;
        break;
    default:
        break;
    }
}

static void flush_dirty(RingServer *s) {
    /* start_send may re-mark a connection when the queue is full: take the list first */
    unsigned n = s->ndirty;
    for (unsigned i = 0; i < n; i++) {
        unsigned fd = s->dirty[i];
        struct conn *c = fd < s->conns_cap ? s->conns[fd] : NULL;
        if (c == NULL)
            continue;
        c->flags &= ~C_DIRTY;
        start_send(s, c);
    }
    if (s->ndirty > n)
        memmove(s->dirty, s->dirty + n, (s->ndirty - n) * sizeof *s->dirty);
    s->ndirty -= n;
}

static int enter(RingServer *s, int getevents) {
    s->enters++;
    for (;;) {
        int r = ring_enter(&s->ring, getevents, 0);
        if (r >= 0 || r == -EBUSY || r == -EAGAIN)
            return 0; /* EBUSY: completions to reap first */
        if (r != -EINTR) {
            os_error(-r, "io_uring_enter");
            return -1;
        }
    }
}

static void sweep(RingServer *s);

/* One pass: submit, run completion work, reap, dispatch, send; repeated while completions keep coming. */
static int process(RingServer *s) {
    struct io_uring_cqe cqes[REAP_BATCH];
    if (s->in_process)
        return 0;
    s->in_process = 1;
    s->passes++;
    ring_eventfd_quiet(&s->ring, 1);
    ring_eventfd_clear(&s->ring);
    int rc = 0;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (enter(s, 1) < 0) {
            rc = -1;
            break;
        }
        unsigned n = ring_reap(&s->ring, cqes, REAP_BATCH);
        if (n == 0)
            break;
        s->completions += n;
        for (unsigned i = 0; i < n; i++)
            dispatch(s, &cqes[i]);
        flush_dirty(s);
    }
    if (rc == 0 && s->sweeping) {
        /* One slice of the timeout sweep per pass: the completions of its closes are the next pass's, behind which
         * at most one slice of them waits. */
        sweep(s);
        flush_dirty(s);
    }
    if (rc == 0 && ring_pending(&s->ring) > 0)
        rc = enter(s, 0);
    if (ring_eventfd_quiet(&s->ring, 0) || s->sweeping)
        ring_eventfd_signal(&s->ring); /* work came in after the last look, or the sweep goes on: come back */
    s->in_process = 0;
    return rc;
}

/* ------------------------------------------------------------------ Python API */

static PyObject *RS_process(RingServer *s, PyObject *Py_UNUSED(ignored)) {
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (process(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *RS_flush(RingServer *s, PyObject *Py_UNUSED(ignored)) {
    s->wake_pending = 0;
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (s->in_process)
        Py_RETURN_NONE;
    flush_dirty(s);
    if (ring_pending(&s->ring) > 0 && enter(s, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Python lets go of a connection it kept: with ``data`` (may be NULL) as the last of its response, then the input
 * held meanwhile is run, or the connection closes. */
static PyObject *let_go(RingServer *s, PyObject *cid, PyObject *data, PyObject *keep_alive, const char *what) {
    struct conn *c = lookup_cid(s, cid);
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
        PyErr_Format(PyExc_RuntimeError, "%s() for a request that on_request has not returned from", what);
        return NULL;
    }
    if (data != NULL && enqueue(s, c, data) < 0) {
        conn_kill(s, c, 1);
        settle(s, c);
        return PyErr_NoMemory();
    }
    c->flags &= ~(C_BUSY | C_BODYWAIT); /* a body the handler left unread is read on, and dropped */
    c->mark = s->now;
    if (!keep)
        stop_reading(c);
    else
        resume_input(s, c);
    settle(s, c);
    wake(s);
    Py_RETURN_TRUE;
}

static PyObject *RS_reply(RingServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "reply(cid, data: bytes, keep_alive: bool)");
        return NULL;
    }
    return let_go(s, args[0], args[1], args[2], "reply");
}

static PyObject *RS_write(RingServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write(cid, data: bytes)");
        return NULL;
    }
    struct conn *c = lookup_cid(s, args[0]);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return PyLong_FromLong(-1);
    }
    if (c->flags & C_DEAD)
        return PyLong_FromLong(-1);
    if (enqueue(s, c, args[1]) < 0) {
        conn_kill(s, c, 1);
        settle(s, c);
        return PyErr_NoMemory();
    }
    wake(s);
    if (out_bytes(c) >= s->high_water) {
        c->flags |= C_DRAIN;
        return PyLong_FromLong(1);
    }
    return PyLong_FromLong(0);
}

static PyObject *RS_finish(RingServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "finish(cid, keep_alive: bool)");
        return NULL;
    }
    return let_go(s, args[0], NULL, args[1], "finish");
}

/* Python wants more of a streamed body it had asked the core to hold back. */
static PyObject *RS_resume_body(RingServer *s, PyObject *cid) {
    struct conn *c = lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (c->flags & C_BODYWAIT) {
        c->flags &= ~C_BODYWAIT;
        if (!(c->flags & C_INRUN)) {
            settle(s, c);
            wake(s);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *RS_close_after(RingServer *s, PyObject *cid) {
    struct conn *c = lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    stop_reading(c);
    Py_RETURN_NONE;
}

static PyObject *RS_abort(RingServer *s, PyObject *cid) {
    struct conn *c = lookup_cid(s, cid);
    if (c == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    conn_kill(s, c, 1);
    settle(s, c);
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
static PyObject *address(RingServer *s, PyObject *cid, int which) {
    struct conn *c = lookup_cid(s, cid);
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

static PyObject *RS_peer(RingServer *s, PyObject *cid) { return address(s, cid, 0); }

/* gone(cid) -> bool: the client closed, reset or half-closed the connection (or it no longer exists). */
static PyObject *RS_gone(RingServer *s, PyObject *cid) {
    struct conn *c = lookup_cid(s, cid);
    if (c == NULL && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(c == NULL || (c->flags & (C_DEAD | C_EOF)) != 0);
}
static PyObject *RS_sockname(RingServer *s, PyObject *cid) { return address(s, cid, 1); }

/* One slice of the timeout sweep: from s->sweep_fd on, until SWEEP_SLICE connections were closed or answered (the
 * next pass goes on). Connections are judged by how long they made no progress, in ticks. */
static void sweep(RingServer *s) {
    unsigned acted = 0;
    unsigned fd = s->sweep_fd;
    for (; fd < s->conns_cap && acted < SWEEP_SLICE; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL)
            continue;
        if (c->flags & C_DEAD) {
            kill_ops(s, c); /* its cancel found no free SQE before */
            continue;
        }
        uint32_t age = s->now - c->mark;
        if (c->flags & C_SHUTWR) {
            if (age >= LINGER_TICKS) {
                conn_kill(s, c, 0);
                settle(s, c);
                acted++;
            }
            continue;
        }
        if (out_bytes(c) > 0) {
            if (age >= s->write_ticks) {
                conn_kill(s, c, 1); /* the client does not read its responses */
                settle(s, c);
                acted++;
            }
            continue;
        }
        int st = c->act != NULL ? h1_conn_state(&c->act->p) : H1_STATE_IDLE;
        /* a streamed body's pauses are judged by Python, which sees its bytes arrive */
        if ((c->flags & (C_BUSY | C_BODY)) || c->nreq != c->seen_nreq || st != c->seen_state) {
            c->seen_nreq = c->nreq;
            c->seen_state = (uint8_t)st;
            c->mark = s->now;
            continue;
        }
        if (st == H1_STATE_IDLE) {
            if (age >= s->keepalive_ticks || s->closing) {
                c->flags |= C_CLOSING;
                settle(s, c);
                acted++;
            }
        } else if ((st == H1_STATE_HEAD && age >= s->header_ticks) || (st == H1_STATE_BODY && age >= s->body_ticks)) {
            if (s->timeout_bytes == NULL || enqueue(s, c, s->timeout_bytes) < 0)
                conn_kill(s, c, 1);
            else
                close_after_output(c);
            if (c->act != NULL)
                h1_conn_abort(&c->act->p);
            settle(s, c);
            acted++;
        } else if (st == H1_STATE_DEAD) {
            c->flags |= C_CLOSING;
            settle(s, c);
            acted++;
        }
    }
    s->sweep_fd = fd;
    s->sweeping = fd < s->conns_cap;
}

/* Once a second: the clock advances, and a sweep of the connection table for timeouts starts; process() runs its
 * slices, one per pass. Accepting starts again after EMFILE. */
static PyObject *RS_tick(RingServer *s, PyObject *timeout_bytes) {
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
        arm_accept(s);
    }
    /* A whole pass, not only a submit: should a wake-up of the eventfd ever be lost, this second picks it up. */
    if (process(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Graceful shutdown: stop accepting, close idle connections now and the rest after their response.
 * The armed accept is cancelled and the listening socket is no longer the core's: its owner closes it right after
 * this call, and once the accept's completion lets go of it too the kernel refuses new connections, instead of
 * completing handshakes nobody will accept (they were reset when the drain ended). */
static PyObject *RS_shutdown(RingServer *s, PyObject *Py_UNUSED(ignored)) {
    if (!s->ring_ok || s->closing)
        Py_RETURN_NONE;
    s->closing = 1;
    if (s->accepting)
        (void)cancel(s, UD(OP_ACCEPT, 0, 0));
    s->listen_fd = -1;
    s->in_process = 1;
    for (unsigned fd = 0; fd < s->conns_cap; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL || (c->flags & (C_DEAD | C_BUSY)))
            continue;
        int st = c->act != NULL ? h1_conn_state(&c->act->p) : H1_STATE_IDLE;
        if (st == H1_STATE_IDLE) {
            c->flags |= C_CLOSING;
            settle(s, c);
        }
    }
    s->in_process = 0;
    flush_dirty(s);
    if (enter(s, 0) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Resets every connection and waits (at most about a second) for the kernel to finish their operations, then
 * releases the ring. Every counter in stats() is zero afterwards unless the kernel kept an operation. */
static PyObject *RS_close(RingServer *s, PyObject *Py_UNUSED(ignored)) {
    struct io_uring_cqe cqes[REAP_BATCH];
    if (!s->ring_ok)
        Py_RETURN_NONE;
    if (s->in_process) {
        PyErr_SetString(PyExc_RuntimeError, "RingServer.close() from inside one of its callbacks");
        return NULL;
    }
    s->closing = 1;
    s->in_process = 1;
    if (s->accepting)
        cancel(s, UD(OP_ACCEPT, 0, 0));
    for (unsigned fd = 0; fd < s->conns_cap; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL)
            continue;
        c->flags &= ~C_BUSY;
        conn_kill(s, c, 1);
        settle(s, c);
    }
    for (int i = 0; i < 1000 && s->n_ops > 0; i++) {
        if (ring_enter(&s->ring, 1, 0) < 0 && errno != EINTR && errno != EBUSY)
            break;
        unsigned n = ring_reap(&s->ring, cqes, REAP_BATCH);
        for (unsigned k = 0; k < n; k++)
            dispatch(s, &cqes[k]);
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
    ring_free(&s->ring);
    s->ring_ok = 0;
    Py_RETURN_NONE;
}

static PyObject *RS_stats(RingServer *s, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("{s:l,s:l,s:l,s:l,s:l,s:I,s:K,s:K,s:K,s:K,s:K,s:i}", "connections", s->n_conns,
                         "parsers", s->n_active, "operations", s->n_ops, "output_queues", s->n_outq,
                         "output_items", s->n_out_items, "buffers_out", s->ring.bufs_out, "accepted", s->accepted,
                         "requests", s->requests, "passes", s->passes, "enters", s->enters,
                         "completions", s->completions, "accept_errno", s->accept_errno);
}

static PyObject *RS_get_fd(RingServer *s, void *closure) {
    (void)closure;
    return PyLong_FromLong(s->ring_ok ? s->ring.efd : -1);
}

static PyObject *RS_get_mode(RingServer *s, void *closure) {
    (void)closure;
    return PyUnicode_FromString(covet_uring_mode_name(s->ring.mode));
}

static PyObject *RS_get_connections(RingServer *s, void *closure) {
    (void)closure;
    return PyLong_FromLong(s->n_conns);
}

static PyObject *RS_get_busy(RingServer *s, void *closure) {
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

static int RS_init(RingServer *s, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"listen_fd", "on_request", "on_error", "on_wake", "on_drain", "max_target",
                             "max_header_bytes", "max_headers", "max_body", "keepalive_timeout", "header_timeout",
                             "body_timeout", "write_timeout", "entries", "buffers", "buffer_size", "on_body",
                             "max_stream_body", NULL};
    int listen_fd;
    PyObject *on_request, *on_error, *on_wake, *on_drain, *on_body = Py_None;
    Py_ssize_t max_target = 8192, max_header_bytes = 65536, max_headers = 100;
    long long max_body = 1048576, max_stream_body = 0;
    double keepalive = 5, header_to = 10, body_to = 60, write_to = 60;
    unsigned entries = 1024, buffers = 512, buffer_size = 16384;
    if (s->ring_ok) {
        PyErr_SetString(PyExc_RuntimeError, "RingServer is already set up");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iOOOO|$nnnLddddIIIOL:RingServer", kwlist, &listen_fd, &on_request,
                                     &on_error, &on_wake, &on_drain, &max_target, &max_header_bytes, &max_headers,
                                     &max_body, &keepalive, &header_to, &body_to, &write_to, &entries, &buffers,
                                     &buffer_size, &on_body, &max_stream_body))
        return -1;
    if (max_target < 1 || max_header_bytes < 1 || max_headers < 0 || max_body < 0 || max_stream_body < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be positive");
        return -1;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        os_error(errno, "getrlimit");
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
        os_error(-err, "io_uring_setup");
        return -1;
    }
    err = ring_bufs_init(&s->ring, buffers, buffer_size, 0);
    if (err == 0)
        err = ring_eventfd(&s->ring);
    if (err < 0) {
        ring_free(&s->ring);
        os_error(-err, "io_uring_register");
        return -1;
    }
    s->ring_ok = 1;
    s->listen_fd = listen_fd;
    s->lim.max_target = (size_t)max_target;
    s->lim.max_header_bytes = (size_t)max_header_bytes;
    s->lim.max_headers = (size_t)max_headers;
    s->lim.max_body = (uint64_t)max_body;
    /* without someone to hand a large body to, none is streamed */
    s->lim.max_stream_body = on_body != Py_None ? (uint64_t)max_stream_body : 0;
    s->high_water = 256 * 1024;
    s->low_water = 64 * 1024;
    s->max_saved = 256 * 1024;
    s->keepalive_ticks = ticks(keepalive);
    s->header_ticks = ticks(header_to);
    s->body_ticks = ticks(body_to);
    s->write_ticks = ticks(write_to);
    Py_INCREF(on_request);
    Py_INCREF(on_error);
    Py_INCREF(on_wake);
    Py_INCREF(on_drain);
    s->on_request = on_request;
    s->on_error = on_error;
    s->on_wake = on_wake;
    s->on_drain = on_drain;
    s->on_body = on_body != Py_None ? Py_NewRef(on_body) : NULL;
    s->continue_bytes = PyBytes_FromString("HTTP/1.1 100 Continue\r\n\r\n");
    s->h1_name = PyUnicode_InternFromString("h1");
    s->tail_close = PyBytes_FromString("connection: close\r\n");
    s->tail_keep10 = PyBytes_FromString("connection: keep-alive\r\n");
    s->tail_none = PyBytes_FromString("");
    if (s->continue_bytes == NULL || s->h1_name == NULL || s->tail_close == NULL || s->tail_keep10 == NULL ||
        s->tail_none == NULL)
        return -1;
    arm_accept(s);
    if (enter(s, 0) < 0)
        return -1;
    return 0;
}

static PyObject *RS_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    RingServer *s = (RingServer *)type->tp_alloc(type, 0);
    if (s != NULL) {
        s->ring.fd = -1;
        s->listen_fd = -1;
    }
    return (PyObject *)s;
}

static int RS_traverse(RingServer *s, visitproc visit, void *arg) {
    Py_VISIT(s->on_request);
    Py_VISIT(s->on_error);
    Py_VISIT(s->on_wake);
    Py_VISIT(s->on_drain);
    Py_VISIT(s->on_body);
    Py_VISIT(s->on_reply);
    Py_VISIT(s->on_fail);
    Py_VISIT(s->header_set_type);
    Py_VISIT(s->unused_conn);
    for (unsigned i = 0; i < s->routes_cap; i++) {
        Py_VISIT(s->routes[i].glue);
        Py_VISIT(s->routes[i].plan);
    }
    return 0;
}

/* The GC breaks a cycle through the core (core -> RingHTTP's bound methods -> RingHTTP -> core) by clearing it:
 * from then on its callbacks are NULL, and the release that follows in RS_dealloc closes the connections without
 * telling anyone. Every callback the release may reach (on_drain, on_body, on_wake) is checked for NULL there. */
static int RS_clear(RingServer *s) {
    Py_CLEAR(s->on_request);
    Py_CLEAR(s->on_error);
    Py_CLEAR(s->on_wake);
    Py_CLEAR(s->on_drain);
    Py_CLEAR(s->on_body);
    Py_CLEAR(s->on_reply);
    Py_CLEAR(s->on_fail);
    Py_CLEAR(s->header_set_type);
    Py_CLEAR(s->unused_conn);
    routes_free(s);
    return 0;
}

static void RS_dealloc(RingServer *s) {
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
    Py_CLEAR(s->tail_close);
    Py_CLEAR(s->tail_keep10);
    Py_CLEAR(s->tail_none);
    Py_CLEAR(s->timeout_bytes);
    PyMem_Free(s->conns);
    PyMem_Free(s->dirty);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef RS_methods[] = {
    {"process", (PyCFunction)RS_process, METH_NOARGS,
     "process() -> None: submit, reap and dispatch completions (the ring fd's reader callback)."},
    {"flush", (PyCFunction)RS_flush, METH_NOARGS, "flush() -> None: send what reply() and write() queued."},
    {"reply", (PyCFunction)(void (*)(void))RS_reply, METH_FASTCALL,
     "reply(cid, data, keep_alive) -> bool: the response of a request Python kept; False when the connection is gone."},
    {"write", (PyCFunction)(void (*)(void))RS_write, METH_FASTCALL,
     "write(cid, data) -> int: 0 queued, 1 queued and on_drain(cid) will be called, -1 the connection is gone."},
    {"finish", (PyCFunction)(void (*)(void))RS_finish, METH_FASTCALL,
     "finish(cid, keep_alive) -> bool: a streamed response ended; the connection reads on or closes."},
    {"resume_body", (PyCFunction)RS_resume_body, METH_O,
     "resume_body(cid) -> None: read on after on_body(cid, data) returned True."},
    {"close_after", (PyCFunction)RS_close_after, METH_O,
     "close_after(cid) -> None: close once the response being returned is sent."},
    {"abort", (PyCFunction)RS_abort, METH_O, "abort(cid) -> None: reset the connection now."},
    {"peer", (PyCFunction)RS_peer, METH_O, "peer(cid) -> (host, port) or None."},
    {"gone", (PyCFunction)RS_gone, METH_O, "gone(cid) -> bool: the client closed, reset or half-closed."},
    {"sockname", (PyCFunction)RS_sockname, METH_O, "sockname(cid) -> (host, port) or None."},
    {"tick", (PyCFunction)RS_tick, METH_O, "tick(timeout_response) -> None: once a second, enforce the timeouts."},
    {"shutdown", (PyCFunction)RS_shutdown, METH_NOARGS,
     "shutdown() -> None: stop accepting (the caller closes the listening socket next); idle connections close now, "
     "busy ones after their response."},
    {"close", (PyCFunction)RS_close, METH_NOARGS, "close() -> None: reset every connection and release the ring."},
    {"add_route", (PyCFunction)(void (*)(void))RS_add_route, METH_FASTCALL,
     "add_route(method, path, glue, plan, reads_headers) -> bool: call this static route's sync glue directly."},
    {"set_direct", (PyCFunction)(void (*)(void))RS_set_direct, METH_FASTCALL,
     "set_direct(header_set_type, on_reply, on_fail, unused_conn) -> None: enable direct routes."},
    {"set_head_lines", (PyCFunction)RS_set_head_lines, METH_O,
     "set_head_lines(lines) -> None: the current date and server header lines."},
    {"stats", (PyCFunction)RS_stats, METH_NOARGS, "stats() -> dict: connections, parsers, operations and buffers held."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef RS_getset[] = {
    {"fd", (getter)RS_get_fd, NULL, "the descriptor to watch for readability: an eventfd the ring signals (-1 once closed)", NULL},
    {"mode", (getter)RS_get_mode, NULL, "the ring set-up the kernel accepted", NULL},
    {"connections", (getter)RS_get_connections, NULL, "open connections", NULL},
    {"busy", (getter)RS_get_busy, NULL, "connections Python holds", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject covet_RingServerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "covet._native.RingServer",
    .tp_basicsize = sizeof(RingServer),
    .tp_dealloc = (destructor)RS_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RingServer(listen_fd, on_request, on_error, on_wake, on_drain, *, limits, timeouts, entries=1024, "
              "buffers=512, buffer_size=16384)\n\nHTTP/1.1 connections on io_uring; Python answers each request.",
    .tp_traverse = (traverseproc)RS_traverse,
    .tp_clear = (inquiry)RS_clear,
    .tp_methods = RS_methods,
    .tp_getset = RS_getset,
    .tp_init = (initproc)RS_init,
    .tp_new = RS_new,
};
