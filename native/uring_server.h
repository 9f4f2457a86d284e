/*
 * covet._native.UringServer: HTTP/1.1 connections on io_uring, with Python entered once per request. Linux only.
 *
 * The io_uring server is six files, each one job, lowest first:
 *
 *   uring_engine.c  the submission engine: user_data encoding, SQEs of accept/recv/send/cancel, completion dispatch,
 *                   process()/flush/enter. It knows sockets and bytes, not HTTP: what arrives goes UP through
 *                   struct uring_upcalls (uring_engine.h).
 *   uring_conns.c   the connection table: struct conn, lookup by descriptor or cid, the output queue, kill and free,
 *                   and the free list of the per-request state (struct active).
 *   uring_tls.c     TLS on a connection, for a server given set_tls(): OpenSSL in memory-BIO mode between the engine
 *                   and HTTP/1 (ciphertext in, plaintext up; plaintext out is encrypted as it is queued).
 *   uring_http1.c   HTTP/1 on a connection: the parser's events, Python's answers, streamed bodies, lingering close,
 *                   the timeout sweep. It implements the engine's upcalls.
 *   uring_direct.c  direct routes: static paths with sync handlers whose glue the core calls itself.
 *   uring_server.c  the Python type: methods, set-up, GC, stats.
 *
 * This private header holds the one struct all of them share. Everything happens on the thread that created the
 * server (single-issuer ring), under the GIL.
 *
 * Ownership:
 * - received buffers belong to the ring; a completion lends one until it is parsed (never across a Python call that
 *   could keep it: input held while Python keeps the connection is copied into the connection's ``saved``);
 * - response bytes objects are referenced by the connection's output queue until the kernel has sent them;
 * - a connection struct lives until its socket is closed and no operation of it is in flight; an idle connection is
 *   that struct alone (no parser, no buffer, no Python object).
 */
#ifndef COVET_URING_SERVER_H
#define COVET_URING_SERVER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "h1_parser.h"
#include "uring_ring.h"

struct conn;
struct active;
struct route;
struct uring_upcalls;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX and SSL, known by name only outside uring_tls.c */
struct ssl_st;

/* Per-request state structs kept for reuse (uring_conns.c). */
#define FREE_ACTIVE 64
#define FREE_OUTQ 64

typedef struct UringServer {
    PyObject_HEAD
    /* engine (uring_engine.c) */
    struct ring ring;
    int ring_ok;
    int listen_fd;
    int accepting;    /* an accept is armed */
    int accept_errno; /* why accepting stopped (EMFILE...), re-armed by tick() */
    int closing;      /* draining (shutdown) or closed: no new connection is accepted */
    int stopping;     /* close(): every connection is reset, and one accepted meanwhile too */
    int in_process;
    const struct uring_upcalls *up; /* what the engine calls for a connection's input, FIN, and after each event */
    unsigned *dirty;                /* descriptors with output to send */
    unsigned ndirty, dirty_cap;
    /* connection table (uring_conns.c) */
    struct conn **conns;
    unsigned conns_cap;
    uint32_t gen;
    struct active *free_act[FREE_ACTIVE];
    unsigned nfree_act;
    struct outq *free_outq[FREE_OUTQ];
    unsigned nfree_outq;
    /* HTTP/1 (uring_http1.c) */
    uint32_t now;
    unsigned sweep_fd; /* where the timeout sweep of this tick goes on */
    int sweeping;      /* the sweep is not through the table yet */
    int wake_pending;
    h1_limits lim;
    size_t high_water, low_water, max_saved;
    uint32_t keepalive_ticks, header_ticks, body_ticks, write_ticks;
    PyObject *handler; /* the Python half: its methods below are looked up once (uring_server.c, handler_methods) */
    PyObject *on_request, *on_error, *on_wake, *on_drain, *on_body; /* request, error, wake, drained, body */
    PyObject *continue_bytes;
    PyObject *timeout_bytes;
    /* direct routes (uring_direct.c) */
    struct route *routes;
    unsigned routes_cap, nroutes;
    PyObject *on_reply, *on_fail; /* the handler's reply_for and failed */
    PyObject *header_set_type, *unused_conn, *head_lines, *h1_name;
    long max_conns; /* --limit-concurrency: past this many connections, requests are answered 503 */
    /* the access log (accesslog.c), or NULL: the core records the responses it sends without Python's help */
    struct AccessLog *access_log;
    /* its clients' addresses, by descriptor, asked once per connection (family 0: not yet); kept beside the table,
     * not in struct conn, so that an idle connection stays 48 bytes and costs nothing more without an access log */
    struct alog_peer *peers;
    /* TLS (uring_tls.c), once set_tls() was called; all NULL on a cleartext server */
    struct ssl_ctx_st *tls_ctx; /* the context new connections get (a reference; open ones hold their own) */
    struct ssl_st **tls_conns;  /* by descriptor: each TLS connection's SSL object, owned (freed by conn_free) */
    PyObject *tls_out;          /* the ciphertext the output BIO collects during one SSL call (uring_tls.c, rule 2) */
    size_t tls_out_len, tls_out_hint;
    /* accounting: every one is back to zero once the server is closed */
    long n_conns, n_active, n_ops, n_outq, n_out_items, n_tls;
    long n_tlsbuf; /* TLS connections whose SSL objects may hold record buffers (C_TLSBUF) */
    unsigned long long accepted, requests, passes, enters, completions;
} UringServer;

extern PyTypeObject covet_UringServerType;

/* Readies the type, with its class attribute HANDLER_METHODS; 0, or -1 with an exception set. */
int covet_ringserver_ready(void);

#endif
