/* The io_uring server's connection table (see uring_conns.h). */
#define _GNU_SOURCE
#include "uring_conns.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "uring_engine.h"
#include "uring_tls.h"

struct conn *conn_new(UringServer *s, int fd) {
    struct conn *c = PyMem_Calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->gen = ++s->gen;
    if ((c->gen & 0xffffffu) == 0)
        c->gen = ++s->gen;
    c->mark = s->now;
    if (tls_attach(s, c) < 0) {
        PyMem_Free(c);
        return NULL;
    }
    s->conns[fd] = c;
    if (s->peers != NULL)
        s->peers[fd].family = 0; /* another client than the descriptor's last */
    s->n_conns++;
    if (s->access_log != NULL)
        covet_alog_conn(s->access_log, 1);
    return c;
}

void conn_outq_free(UringServer *s, struct conn *c) {
    struct outq *q = c->out;
    if (q == NULL)
        return;
    for (unsigned i = 0; i < q->n; i++)
        Py_DECREF(q->items[q->start + i]);
    s->n_out_items -= q->n;
    c->out = NULL;
    s->n_outq--;
    /* PERF: a queue (~600 bytes: past pymalloc, so calloc and its memset) was made and freed for every response
     * sent through the queue, which is every response over TLS; a few dozen are kept for the next. A queue whose
     * item array grew past its first size gives that back. */
    if (s->nfree_outq < FREE_OUTQ && q->cap <= OUTQ_FIRST_CAP) {
        q->start = q->n = 0;
        q->sending = 0;
        q->off = q->bytes = 0;
        s->free_outq[s->nfree_outq++] = q;
        return;
    }
    PyMem_Free(q->items);
    PyMem_Free(q);
}

void conn_outq_release_all(UringServer *s) {
    while (s->nfree_outq > 0) {
        struct outq *q = s->free_outq[--s->nfree_outq];
        PyMem_Free(q->items);
        PyMem_Free(q);
    }
}

void conn_active_release(UringServer *s, struct conn *c) {
    struct active *a = c->act;
    if (a == NULL)
        return;
    c->act = NULL;
    covet_head_clear(&a->head);
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

struct active *conn_active_get(UringServer *s, struct conn *c) {
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

void conn_free(UringServer *s, struct conn *c) {
    s->conns[c->fd] = NULL;
    conn_active_release(s, c);
    conn_outq_free(s, c);
    Py_CLEAR(c->ws);
    tls_detach(s, c);
    if (c->flags & C_RESET) {
        struct linger lg = {1, 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    PyMem_Free(c);
    s->n_conns--;
    if (s->access_log != NULL)
        covet_alog_conn(s->access_log, -1);
}

void conn_kill(UringServer *s, struct conn *c, int reset) {
    if (c->flags & C_DEAD)
        return;
    c->flags |= C_DEAD;
    if (reset)
        c->flags |= C_RESET;
    if (c->flags & C_BUSY)
        c->flags |= C_DRAIN; /* Python holds it (a stream): http_settle() tells it once that it is gone */
    uring_kill_ops(s, c);
    if (c->out != NULL && !(c->flags & C_SEND))
        conn_outq_free(s, c);
    if (c->act != NULL && !(c->flags & C_INRUN)) /* run_events releases it when it returns */
        conn_active_release(s, c);
}

int conn_enqueue(UringServer *s, struct conn *c, PyObject *data) {
    if (c->flags & C_TLS)
        return tls_enqueue(s, c, data);
    return conn_enqueue_raw(s, c, data);
}

int conn_enqueue_raw(UringServer *s, struct conn *c, PyObject *data) {
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (len == 0)
        return 0;
    struct outq *q = c->out;
    if (q == NULL) {
        q = s->nfree_outq > 0 ? s->free_outq[--s->nfree_outq] : PyMem_Calloc(1, sizeof *q);
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
            unsigned cap = q->cap ? q->cap * 2 : OUTQ_FIRST_CAP;
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
    uring_mark_dirty(s, c);
    return 0;
}

/* The kernel sent res bytes of the send in flight. */
void conn_consume(UringServer *s, struct conn *c, size_t res) {
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
        conn_outq_free(s, c);
}
