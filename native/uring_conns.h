/* The io_uring server's connection table (see uring_server.h): a connection's state, its output queue, and the
 * per-request state it holds only while a request is in progress. No HTTP decisions here: those are uring_http1.c's. */
#ifndef COVET_URING_CONNS_H
#define COVET_URING_CONNS_H

#include <sys/socket.h>
#include <sys/uio.h>

#include "accesslog.h"
#include "events.h"
#include "uring_server.h"

enum {
    C_RECV = 1u << 0,        /* a multishot recv is armed */
    C_SEND = 1u << 1,        /* a send is in flight */
    C_BUSY = 1u << 2,        /* Python holds the connection: a handler suspended, or a response streams */
    C_CLOSING = 1u << 3,     /* close once the output is sent */
    C_EOF = 1u << 4,         /* the peer sent FIN */
    C_DEAD = 1u << 5,        /* being closed: freed when no operation of it is in flight */
    C_DRAIN = 1u << 6,       /* Python waits for the output to drain */
    C_DIRTY = 1u << 7,       /* on the flush list */
    C_RESET = 1u << 8,       /* close with a reset (SO_LINGER 0) */
    C_CANCEL = 1u << 9,      /* a cancel of the recv is in flight */
    C_INRUN = 1u << 10,      /* its events are being run: free later */
    C_SENDCANCEL = 1u << 11, /* a cancel of the send is in flight */
    C_BODY = 1u << 12,       /* the body of its request streams to Python (on_body) */
    C_BODYWAIT = 1u << 13,   /* Python has enough of that body for now: no reading until resume_body() */
    C_LINGER = 1u << 14,     /* closing while a request was arriving: shut our side, read and drop, then close */
    C_SHUTWR = 1u << 15,     /* our side is shut (lingering since c->mark) */
    C_TOLD = 1u << 16,       /* Python was told (on_drain) that the client of its handler left */
    C_TLS = 1u << 17,        /* a TLS connection: its SSL object is s->tls_conns[fd] (uring_tls.c) */
    C_HANDSHAKE = 1u << 18,  /* its TLS handshake is not done yet */
    C_TLSDOWN = 1u << 19,    /* its close_notify is sent, or TLS failed on it: no more TLS in or out */
    C_RAW = 1u << 20,        /* switched protocols (a WebSocket after its 101): every byte read goes to Python's
                                on_body as it comes, with C_BODY and C_BUSY set; no HTTP/1.1 parsing */
    C_TLSBUF = 1u << 21      /* its SSL object may hold record buffers: tls_lean() frees them once it is idle */
};

#define OUT_IOV 32
/* Items a queue's array holds at first (it doubles from there). */
#define OUTQ_FIRST_CAP 4

struct outq {
    PyObject **items; /* bytes objects; items[start .. start+n) are unsent */
    unsigned start, n, cap;
    unsigned sending; /* items in the send in flight */
    size_t off;       /* bytes of items[start] already sent */
    size_t bytes;     /* unsent bytes */
    struct msghdr msg;
    struct iovec iov[OUT_IOV];
};

/* What a connection holds only while a request is in progress. */
struct active {
    h1_conn p;
    struct covet_head head;    /* the parts of a head whose body is still arriving */
    const struct route *route; /* the direct route of that head, or NULL */
    char *saved;               /* input held while Python keeps the connection */
    size_t saved_len, saved_cap;
    uint8_t rid_len; /* the sane X-Request-ID of that head, for the access log (0: none) */
    uint8_t upgrade; /* that head asks to switch protocols (h1_asks_upgrade) */
    char rid[ALOG_RID_MAX];
};

struct conn {
    int fd;
    uint32_t gen;
    uint32_t flags;
    uint32_t nreq, seen_nreq;
    uint32_t mark; /* tick of the last progress */
    uint16_t ops;  /* operations in flight */
    uint8_t seen_state;
    uint32_t tls_at; /* TLS: the tick of the last ciphertext in or out (its buffers are kept while it is recent) */
    struct active *act;
    struct outq *out;
    PyObject *ws; /* a switched connection's WebSocket frame parser (a WSParser, owned), fed here: see raw_input */
};

/* The connection on descriptor fd whose generation's low 24 bits are gen24 (from a user_data), or NULL. */
static inline struct conn *conn_lookup(const UringServer *s, int fd, uint32_t gen24) {
    if (fd < 0 || (unsigned)fd >= s->conns_cap)
        return NULL;
    struct conn *c = s->conns[fd];
    if (c == NULL || (c->gen & 0xffffffu) != gen24)
        return NULL;
    return c;
}

/* The connection Python names by ``cid`` (generation << 32 | descriptor), or NULL (with an exception set when cid is
 * not an int that fits). */
static inline struct conn *conn_lookup_cid(const UringServer *s, PyObject *cid) {
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

static inline PyObject *conn_cid(const struct conn *c) {
    return PyLong_FromUnsignedLongLong(((unsigned long long)c->gen << 32) | (uint32_t)c->fd);
}

static inline size_t conn_out_bytes(const struct conn *c) {
    return c->out != NULL ? c->out->bytes : 0;
}

/* A new connection on the accepted descriptor fd, entered in the table; NULL when out of memory (fd untouched). */
struct conn *conn_new(UringServer *s, int fd);

/* Releases c's output queue and the bytes objects still in it. */
void conn_outq_free(UringServer *s, struct conn *c);
/* Frees the queues kept for reuse (at the server's close). */
void conn_outq_release_all(UringServer *s);

/* c's per-request state, from the free list or fresh; NULL when out of memory. */
struct active *conn_active_get(UringServer *s, struct conn *c);

/* Gives c's per-request state back (to the free list when it is small). */
void conn_active_release(UringServer *s, struct conn *c);

/* Closes c's socket (with a reset when C_RESET) and frees it; no operation of it may be in flight. */
void conn_free(UringServer *s, struct conn *c);

/* Stops everything of c; its memory goes once no operation of it is in flight. */
void conn_kill(UringServer *s, struct conn *c, int reset);

/* Queues ``data`` (bytes, a new reference taken) on c's output, encrypted first on a TLS connection; 0, or -1 when
 * out of memory (or TLS failed). */
int conn_enqueue(UringServer *s, struct conn *c, PyObject *data);

/* Queues ``data`` as it is, ciphertext on a TLS connection (uring_tls.c); 0, or -1 when out of memory. */
int conn_enqueue_raw(UringServer *s, struct conn *c, PyObject *data);

/* The kernel sent res bytes of the send in flight. */
void conn_consume(UringServer *s, struct conn *c, size_t res);

#endif
