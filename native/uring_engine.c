/*
 * The io_uring server's submission engine (see uring_engine.h and uring_server.h).
 *
 * An accept, re-armed as each completes, hands over sockets; each gets a multishot recv into the provided-buffer ring,
 * whose completions lend a buffer to the input upcall and recycle it right after; each connection's output queue goes
 * out by one SEND/SENDMSG at a time, all connections' sends going to the kernel in one io_uring_enter. Completions are
 * copied out of the ring first and dispatched after, so no Python runs while the ring is walked.
 */
#define _GNU_SOURCE
#include "uring_engine.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

PyObject *uring_os_error(int err, const char *what) {
    errno = err;
    return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
}

static struct io_uring_sqe *get_sqe(UringServer *s) {
    struct io_uring_sqe *sqe = ring_sqe(&s->ring);
    if (sqe == NULL) {
        /* queue full: hand what is there to the kernel and take a fresh slot */
        (void)ring_enter(&s->ring, 0, 0);
        sqe = ring_sqe(&s->ring);
    }
    return sqe;
}

void uring_mark_dirty(UringServer *s, struct conn *c) {
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

/* ------------------------------------------------------------- operations */

/* One connection per accept, re-armed as it completes (on_accept), not a multishot accept: workers share one listening
 * socket, and a multishot accept lets the busiest worker, whose ring runs its task work first, take every connection
 * (measured with two workers under wrk: 94% of the CPU on one). Armed one at a time, the others' accepts get the
 * connections that arrive while this one is between passes, and the two shared 168:163. */
void uring_arm_accept(UringServer *s) {
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL)
        return;
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = s->listen_fd;
    sqe->ioprio = 0;
    sqe->accept_flags = SOCK_CLOEXEC;
    sqe->user_data = UD(OP_ACCEPT, 0, 0);
    s->accepting = 1;
    s->n_ops++;
}

/* Cancels the one operation whose user_data is ``target``. The kernel finds it in a hash table by that value; a
 * cancel by descriptor instead walks every request pending on the ring. Returns 0, or -1 without a free SQE. */
int uring_cancel(UringServer *s, uint64_t target) {
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

void uring_arm_recv(UringServer *s, struct conn *c) {
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

void uring_cancel_recv(UringServer *s, struct conn *c) {
    if (!(c->flags & C_RECV) || (c->flags & C_CANCEL))
        return;
    if (uring_cancel(s, UD(OP_RECV, c->gen, c->fd)) == 0)
        c->flags |= C_CANCEL;
}

void uring_start_send(UringServer *s, struct conn *c) {
    struct outq *q = c->out;
    if (q == NULL || q->n == 0 || (c->flags & (C_SEND | C_DEAD)))
        return;
    struct io_uring_sqe *sqe = get_sqe(s);
    if (sqe == NULL) {
        uring_mark_dirty(s, c);
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

/* Cancels c's operations in flight (its receive, and a send stuck behind a client that does not read), each by its
 * own user_data. Not by descriptor: that walks every request pending on the ring, so closing N connections at once
 * cost N^2 (15,000 idle connections timing out together held the loop for 6 s of kernel time). The user_data names
 * the connection's generation, so a cancel still in flight cannot reach a later connection on the same descriptor;
 * the descriptor stays open until the cancelled operations have completed (they are counted in c->ops). A cancel
 * that found no free SQE is retried by the next tick. */
void uring_kill_ops(UringServer *s, struct conn *c) {
    uring_cancel_recv(s, c);
    if ((c->flags & (C_SEND | C_SENDCANCEL)) == C_SEND && uring_cancel(s, UD(OP_SEND, c->gen, c->fd)) == 0)
        c->flags |= C_SENDCANCEL;
}

/* ---------------------------------------------------------------- completions */

/* A connection accepted: a table entry and its first receive, or closed when there is no room. */
static void serve_accepted(UringServer *s, int fd) {
    struct conn *c = (unsigned)fd < s->conns_cap ? conn_new(s, fd) : NULL;
    if (c == NULL) {
        close(fd);
        return;
    }
    s->accepted++;
    uring_arm_recv(s, c);
}

static void on_accept(UringServer *s, const struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        s->accepting = 0;
        s->n_ops--;
        /* Out of descriptors, accepting waits for the tick (a second) rather than spin; otherwise at once. */
        int res = cqe->res;
        if (!s->closing && res != -ECANCELED && res != -EINVAL && res != -EMFILE && res != -ENFILE && res != -ENOBUFS &&
            res != -ENOMEM)
            uring_arm_accept(s);
    }
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED)
            s->accept_errno = -cqe->res;
        return;
    }
    /* Accepted while the drain began (the accept's cancel raced it): the kernel has taken it off the queue that other
     * workers share, so it is served like the rest, and closes after its response. */
    if (s->stopping)
        close(cqe->res);
    else
        serve_accepted(s, cqe->res);
}

/* Before a graceful stop closes the listening socket: a client whose handshake the kernel completed counts its
 * connection taken, and closing the socket would reset it (its request written, unanswered). Bounded by what is
 * queued now (the listen backlog) plus what arrives meanwhile (none, once covet.runtime.listener refuses new SYNs),
 * and by the table's size. */
void uring_take_queued(UringServer *s) {
    if (s->listen_fd < 0)
        return;
    for (unsigned n = 0; n < s->conns_cap; n++) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
            return;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC); /* (the listening socket is non-blocking) */
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* (EAGAIN: another worker took it; EMFILE: nothing more can be served anyway) */
        }
        serve_accepted(s, fd);
    }
}

static void on_recv(UringServer *s, const struct io_uring_cqe *cqe) {
    unsigned bid = 0;
    int has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
    if (has_buf)
        bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    struct conn *c = conn_lookup(s, UD_FD(cqe->user_data), UD_GEN(cqe->user_data));
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
            s->up->input(s, c, ring_buf(&s->ring, bid), (size_t)cqe->res);
    } else if (cqe->res == 0) {
        c->flags |= C_EOF;
        s->up->eof(s, c);
    } else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
        conn_kill(s, c, 1); /* reset by the peer, or another socket error */
    }
    if (has_buf)
        ring_buf_recycle(&s->ring, bid);
    s->up->settle(s, c);
}

static void on_send(UringServer *s, const struct io_uring_cqe *cqe) {
    struct conn *c = conn_lookup(s, UD_FD(cqe->user_data), UD_GEN(cqe->user_data));
    if (c == NULL)
        return;
    c->flags &= ~(C_SEND | C_SENDCANCEL);
    c->ops--;
    s->n_ops--;
    if (c->flags & C_DEAD) {
        conn_outq_free(s, c);
    } else if (cqe->res < 0) {
        if (cqe->res == -EINTR || cqe->res == -EAGAIN) {
            uring_mark_dirty(s, c);
        } else {
            conn_outq_free(s, c);
            conn_kill(s, c, 1);
        }
    } else if (cqe->res == 0) {
        /* A send of at least one byte that sent none is no progress (the write timeout must still see the client
         * stall), and a retry would get the same: drop the connection. */
        conn_outq_free(s, c);
        conn_kill(s, c, 1);
    } else {
        c->mark = s->now;
        conn_consume(s, c, (size_t)cqe->res);
    }
    s->up->settle(s, c);
}

void uring_dispatch(UringServer *s, const struct io_uring_cqe *cqe) {
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

void uring_flush_dirty(UringServer *s) {
    /* start_send may re-mark a connection when the queue is full: take the list first */
    unsigned n = s->ndirty;
    for (unsigned i = 0; i < n; i++) {
        unsigned fd = s->dirty[i];
        struct conn *c = fd < s->conns_cap ? s->conns[fd] : NULL;
        if (c == NULL)
            continue;
        c->flags &= ~C_DIRTY;
        uring_start_send(s, c);
    }
    if (s->ndirty > n)
        memmove(s->dirty, s->dirty + n, (s->ndirty - n) * sizeof *s->dirty);
    s->ndirty -= n;
}

int uring_enter(UringServer *s, int getevents) {
    s->enters++;
    for (;;) {
        int r = ring_enter(&s->ring, getevents, 0);
        if (r >= 0 || r == -EBUSY || r == -EAGAIN)
            return 0; /* EBUSY: completions to reap first */
        if (r != -EINTR) {
            uring_os_error(-r, "io_uring_enter");
            return -1;
        }
    }
}

/* One pass: submit, run completion work, reap, dispatch, send; repeated while completions keep coming. */
int uring_process(UringServer *s) {
    struct io_uring_cqe cqes[REAP_BATCH];
    if (s->in_process)
        return 0;
    s->in_process = 1;
    s->passes++;
    ring_eventfd_quiet(&s->ring, 1);
    ring_eventfd_clear(&s->ring);
    int rc = 0;
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (uring_enter(s, 1) < 0) {
            rc = -1;
            break;
        }
        unsigned n = ring_reap(&s->ring, cqes, REAP_BATCH);
        if (n == 0)
            break;
        s->completions += n;
        for (unsigned i = 0; i < n; i++)
            uring_dispatch(s, &cqes[i]);
        uring_flush_dirty(s);
    }
    if (rc == 0 && s->sweeping) {
        /* One slice of the timeout sweep per pass: the completions of its closes are the next pass's, behind which
         * at most one slice of them waits. */
        s->up->sweep(s);
        uring_flush_dirty(s);
    }
    if (rc == 0 && ring_pending(&s->ring) > 0)
        rc = uring_enter(s, 0);
    if (ring_eventfd_quiet(&s->ring, 0) || s->sweeping)
        ring_eventfd_signal(&s->ring); /* work came in after the last look, or the sweep goes on: come back */
    s->in_process = 0;
    return rc;
}
