/* The io_uring server's submission engine (see uring_server.h): operations on the ring and the dispatch of their
 * completions. It knows descriptors, buffers and bytes, never HTTP: a connection's input, its FIN, and the end of
 * each of its completions go up through the upcalls the server was set up with. */
#ifndef COVET_URING_ENGINE_H
#define COVET_URING_ENGINE_H

#include "uring_conns.h"

enum {
    OP_ACCEPT = 1,
    OP_RECV = 2,
    OP_SEND = 3,
    OP_CANCEL = 4
};

/* user_data: the operation, the low 24 bits of the connection's generation, its descriptor. */
#define UD(op, gen, fd) (((uint64_t)(op) << 56) | ((uint64_t)((gen)&0xffffffu) << 32) | (uint32_t)(fd))
#define UD_OP(ud) ((unsigned)((ud) >> 56))
#define UD_GEN(ud) ((uint32_t)(((ud) >> 32) & 0xffffffu))
#define UD_FD(ud) ((int)(uint32_t)(ud))

#define REAP_BATCH 256
#define MAX_ROUNDS 8
/* The most bytes one send carries. The SQE's length is 32 bits: a response of 4 GiB or more wrapped (4 GiB + 100
 * went out as 100 bytes, then as sends of 0 bytes, forever). The kernel takes at most ~2 GiB per call anyway. */
#define SEND_MAX ((size_t)1 << 30)

/* What the engine calls UP. One indirect call per completion: a few nanoseconds against a request's microseconds. */
struct uring_upcalls {
    /* n bytes arrived for c (not dead); data is a received buffer, lent until the call returns */
    void (*input)(UringServer *s, struct conn *c, const char *data, size_t n);
    /* the peer of c sent FIN (C_EOF is set) */
    void (*eof)(UringServer *s, struct conn *c);
    /* after any completion of c: decide what it does next (read, pause, send, close, free) */
    void (*settle)(UringServer *s, struct conn *c);
    /* one slice of the timeout sweep; process() calls it while s->sweeping */
    void (*sweep)(UringServer *s);
};

/* Sets the OSError subclass that matches the errno ``err`` (positive); returns NULL. */
PyObject *uring_os_error(int err, const char *what);

/* Puts c on the list of connections with output to send (flushed at the end of the pass). */
void uring_mark_dirty(UringServer *s, struct conn *c);

void uring_arm_accept(UringServer *s);
/* Accepts, now, every connection waiting in the listening socket's queue, each served as an accepted one is;
 * ``refuse_new``: this process alone holds the socket, which it closes next: new connections are refused first. */
void uring_take_queued(UringServer *s);
void uring_arm_recv(UringServer *s, struct conn *c);
void uring_cancel_recv(UringServer *s, struct conn *c);

/* Cancels the one operation whose user_data is ``target``; 0, or -1 without a free SQE. */
int uring_cancel(UringServer *s, uint64_t target);

/* Sends the head of c's output queue (at most OUT_IOV items, SEND_MAX bytes) unless a send is in flight. */
void uring_start_send(UringServer *s, struct conn *c);

/* Cancels c's operations in flight. */
void uring_kill_ops(UringServer *s, struct conn *c);

/* Dispatches one completion (copied out of the ring). */
void uring_dispatch(UringServer *s, const struct io_uring_cqe *cqe);

/* Starts the sends of the connections marked dirty. */
void uring_flush_dirty(UringServer *s);

/* Submits, and with ``getevents`` runs completion work; 0, or -1 with OSError set. */
int uring_enter(UringServer *s, int getevents);

/* One pass: submit, reap, dispatch, send, repeated while completions keep coming; 0, or -1 with OSError set. */
int uring_process(UringServer *s);

#endif
