/*
 * HTTP/1 on the io_uring server's connections (see uring_http1.h).
 *
 * The C parser (h1_parser.c) runs straight on each received buffer; each complete request is one call of the
 * handler's ``request(cid, Request)``, which returns the response bytes, or None when Python keeps the connection (a
 * handler suspended, a response streams) and answers later through reply(), write() and finish() (uring_server.c).
 */
#define _GNU_SOURCE
#include "uring_http1.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "events.h"
#include "uring_direct.h"
#include "uring_tls.h"
#include "ws_binding.h"

/* Ticks a lingering close waits for the client to close its side. */
#define LINGER_TICKS 2
/* Connections one slice of the timeout sweep may close or answer; process() runs one slice per pass. A close costs
 * ~20 us of kernel time (its FIN and the peer's answer over loopback), and 15,000 keep-alive connections may expire
 * in the same second: closed in one go they held the loop for 300 ms, and every request that arrived meanwhile.
 * Measured with that crowd, a request waited up to 140 ms with slices of 512 and under 6 ms with slices of 64, for
 * the same total time spent closing. */
#define SWEEP_SLICE 64
/* While draining, an idle keep-alive connection closes once it has made no progress for this many ticks (a second at
 * least), not at once: a client may be sending its next request as we close, and would read a reset or an early EOF
 * where it expected an answer. One that is busy gets `connection: close` on its next response instead. Under load
 * (wrk against a reload) every connection is busy, so none is cut; an idle browser connection waits out a second. */
#define DRAIN_IDLE_TICKS 2

int http_idle_for_a_tick(const UringServer *s, const struct conn *c) {
    int st = c->act != NULL ? h1_conn_state(&c->act->p) : H1_STATE_IDLE;
    return st == H1_STATE_IDLE && !(c->flags & (C_BODY | C_BUSY)) && c->nreq == c->seen_nreq &&
           c->seen_state == H1_STATE_IDLE && s->now - c->mark >= DRAIN_IDLE_TICKS;
}

static void notify_drain(UringServer *s, struct conn *c) {
    c->flags &= ~C_DRAIN;
    PyObject *cid = conn_cid(c);
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
static int body_event(UringServer *s, struct conn *c, PyObject *item) {
    if (item == NULL)
        return -1;
    if (s->on_body == NULL) { /* cleared by the GC (RS_clear): the Python half is garbage too, nobody to tell */
        Py_DECREF(item);
        return 0;
    }
    PyObject *cid = conn_cid(c);
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
static void settle_dead(UringServer *s, struct conn *c) {
    /* C_INRUN while Python hears of it: whatever Python does meanwhile (an abort() settles c again), c is freed here,
     * once. */
    uint32_t inrun = c->flags & C_INRUN;
    c->flags |= C_INRUN;
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
    c->flags = (c->flags & ~C_INRUN) | inrun;
    if (c->ops == 0 && !inrun)
        conn_free(s, c);
}

/* Decides what c does next, after anything happened to it: read more, pause, send, close, free. */
void http_settle(UringServer *s, struct conn *c) {
    if (c->flags & C_INRUN)
        return;
    if (c->flags & C_DEAD) {
        settle_dead(s, c);
        return;
    }
    size_t pending = conn_out_bytes(c);
    /* C_INRUN while Python hears of it: whatever it does meanwhile (an abort() settles c again), c stays, and is
     * settled below. */
    int told = 0;
    if ((c->flags & C_DRAIN) && pending <= s->low_water) {
        c->flags |= C_INRUN;
        notify_drain(s, c);
        told = 1;
    } else if ((c->flags & (C_EOF | C_BUSY | C_TOLD)) == (C_EOF | C_BUSY) && s->on_drain != NULL) {
        /* The client sent FIN while its handler runs: most clients leave so (its answer is still sent). */
        c->flags |= C_TOLD | C_INRUN;
        notify_drain(s, c);
        told = 1;
    }
    if (told) {
        c->flags &= ~C_INRUN;
        if (c->flags & C_DEAD) {
            settle_dead(s, c);
            return;
        }
        pending = conn_out_bytes(c);
    }
    if (pending > 0 && !(c->flags & C_SEND))
        uring_mark_dirty(s, c);
    int busy = (c->flags & C_BUSY) != 0;
    if ((c->flags & (C_CLOSING | C_EOF)) && !busy && pending == 0 && !(c->flags & C_SEND)) {
        if ((c->flags & (C_TLS | C_TLSDOWN)) == C_TLS && tls_close_notify(s, c))
            return; /* TLS says goodbye first: settled again once it is sent */
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
                uring_arm_recv(s, c);
            return;
        }
        conn_kill(s, c, 0); /* a body being dropped may still stream: Python learns it is gone */
        settle_dead(s, c);
        return;
    }
    size_t saved = c->act != NULL ? c->act->saved_len : 0;
    int want = !(c->flags & (C_CLOSING | C_EOF | C_BODYWAIT)) && pending < s->high_water && saved <= s->max_saved;
    if (want && !(c->flags & C_RECV))
        uring_arm_recv(s, c);
    else if (!want)
        uring_cancel_recv(s, c);
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

/* The access log's record of a response the core sends (``response``: its bytes), for a request whose head parts
 * are given (NULL: no request, a framing error or a timeout; then no client id is taken either). The client's address
 * is asked of the kernel once per connection. */
void http_log(UringServer *s, struct conn *c, PyObject *method, PyObject *path, PyObject *query, int minor,
              PyObject *response, int route, int64_t received) {
    struct alog_peer *peer = &s->peers[c->fd];
    if (peer->family == 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        peer->family = 0xff; /* asked: unknown unless the kernel says */
        if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;
                peer->family = AF_INET;
                peer->port = ntohs(a->sin_port);
                memcpy(peer->addr, &a->sin_addr, 4);
            } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;
                peer->port = ntohs(a->sin6_port);
                if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
                    peer->family = AF_INET;
                    memcpy(peer->addr, &a->sin6_addr.s6_addr[12], 4);
                } else {
                    peer->family = AF_INET6;
                    memcpy(peer->addr, &a->sin6_addr, 16);
                }
            }
        }
    }
    const struct active *a = c->act;
    size_t rid_len = method != NULL && a != NULL ? a->rid_len : 0;
    covet_alog_add(s->access_log, NULL, peer, method, path, query, minor, rid_len ? a->rid : NULL, rid_len, response, 0,
                   -1, 0, route, received);
}

/* What Python answered for a request (a reference, stolen; NULL with an exception set): bytes are queued, None
 * means Python keeps the connection. Returns 0 answered, 1 kept, -1 the connection failed (reported as raised by
 * ``origin``). */
int http_take_answer(UringServer *s, struct conn *c, PyObject *r, PyObject *origin) {
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
    } else if (!(c->flags & C_DEAD) && conn_enqueue(s, c, r) < 0) {
        rc = -1;
    }
    Py_DECREF(r);
    return rc;
}

/* Calls Python for one complete request; 0 answered, 1 Python keeps the connection, -1 the connection failed. */
static int answer(UringServer *s, struct conn *c, PyObject *req) {
    PyObject *cid = conn_cid(c);
    if (cid == NULL) {
        PyErr_WriteUnraisable(s->on_request);
        return -1;
    }
    PyObject *args[2] = {cid, req};
    c->nreq++;
    s->requests++;
    PyObject *r = PyObject_Vectorcall(s->on_request, args, 2, NULL);
    Py_DECREF(cid);
    if (s->access_log != NULL && r != NULL && PyBytes_Check(r)) {
        long minor = PyLong_AsLong(PyStructSequence_GET_ITEM(req, 4));
        PyObject *body = PyStructSequence_GET_ITEM(req, 7);
        http_log(s, c, PyStructSequence_GET_ITEM(req, 1), PyStructSequence_GET_ITEM(req, 2),
                 PyStructSequence_GET_ITEM(req, 3), (int)minor, r, covet_alog_route(s->access_log),
                 PyBytes_Check(body) ? (int64_t)PyBytes_GET_SIZE(body) : 0);
    }
    return http_take_answer(s, c, r, s->on_request);
}

static int answer_error(UringServer *s, struct conn *c, int status, const char *message) {
    PyObject *r = PyObject_CallFunction(s->on_error, "is", status, message);
    if (r != NULL && !PyBytes_Check(r)) {
        PyErr_Format(PyExc_TypeError, "the handler's error() must return bytes, not %.100s", Py_TYPE(r)->tp_name);
        Py_CLEAR(r);
    }
    if (r == NULL) {
        PyErr_WriteUnraisable(s->on_error);
        return -1;
    }
    if (s->access_log != NULL)
        http_log(s, c, NULL, NULL, NULL, 1, r, -1, 0);
    int rc = conn_enqueue(s, c, r);
    Py_DECREF(r);
    return rc;
}

/* c closes once its output is sent; if a request was arriving (or broke the parser), with a lingering close. */
void http_close_after_output(struct conn *c) {
    c->flags |= C_CLOSING;
    if ((c->flags & C_BODY) || (c->act != NULL && h1_conn_state(&c->act->p) != H1_STATE_IDLE))
        c->flags |= C_LINGER;
}

/* c's last response is queued: no later request is parsed or answered. */
void http_stop_reading(struct conn *c) {
    http_close_after_output(c);
    if (c->act != NULL) {
        h1_conn_abort(&c->act->p);
        c->act->saved_len = 0;
    }
}

/* After body_event() returned r: whether c is lost (Python failed, or the connection died meanwhile), in which case
 * its parser is stopped and it is killed. */
static int body_lost(UringServer *s, struct conn *c, int r) {
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
static void body_cut(UringServer *s, struct conn *c) {
    c->flags &= ~(C_BODY | C_BODYWAIT);
    http_stop_reading(c);
    if (body_event(s, c, Py_NewRef(Py_True)) < 0) { /* True: what arrived before the FIN is still read */
        PyErr_WriteUnraisable(s->on_body);
        conn_kill(s, c, 1);
    }
}

/* Runs the parser's events for c until the input is used up, Python keeps the connection, or it closes. */
static void run_events(UringServer *s, struct conn *c) {
    struct active *a = c->act;
    c->flags |= C_INRUN;
    for (;;) {
        h1_event ev;
        int kind = h1_conn_next(&a->p, &ev);
        if (kind == H1_EV_NONE)
            break;
        if (kind == H1_EV_HEAD) {
            if (s->n_conns > s->max_conns) { /* --limit-concurrency: 503, and this connection closes */
                if (answer_error(s, c, 503, "Service Unavailable") < 0)
                    conn_kill(s, c, 1);
                else
                    http_stop_reading(c);
                break;
            }
            /* A body that may stream goes through the handler's request(), which decides what takes it. */
            int may_stream = ev.req->body == H1_BODY_CHUNKED || ev.req->content_length > s->lim.max_body;
            a->route = s->header_set_type != NULL && !may_stream
                           ? direct_route_find(s, ev.req->path, ev.req->path_len, ev.req->method_id)
                           : NULL;
            int set = a->route != NULL ? covet_head_set(&a->head, ev.req, a->route->path_str, a->route->headers)
                                       : covet_head_set(&a->head, ev.req, NULL, COVET_HEADERS_ALL);
            if (set < 0) {
                PyErr_WriteUnraisable(s->on_request);
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
            if (s->closing || (c->flags & C_EOF))
                a->head.keep_alive = 0;
            /* A request to switch protocols goes to Python (never a direct route): only it knows the WebSocket
             * routes. What follows it is held, unparsed, while Python decides (see answer's "kept"). */
            a->upgrade = (uint8_t)h1_asks_upgrade(ev.req);
            if (a->upgrade && a->route != NULL) {
                a->route = NULL;
                if (covet_head_set(&a->head, ev.req, NULL, COVET_HEADERS_ALL) < 0) {
                    PyErr_WriteUnraisable(s->on_request);
                    h1_conn_abort(&a->p);
                    conn_kill(s, c, 1);
                    break;
                }
            }
            if (s->access_log != NULL && covet_alog_wants_rid(s->access_log))
                a->rid_len = (uint8_t)covet_alog_rid_raw(ev.req, a->rid);
        } else if (kind == H1_EV_CONTINUE) {
            if (conn_enqueue(s, c, s->continue_bytes) < 0) {
                h1_conn_abort(&a->p);
                conn_kill(s, c, 1);
                break;
            }
        } else if (kind == H1_EV_STREAM) {
            /* Only Python knows whether the route reads a body this large. */
            if (!covet_head_held(&a->head)) {
                if (answer_error(s, c, 413, "Request body too large") < 0)
                    conn_kill(s, c, 1);
                else
                    http_stop_reading(c);
                break;
            }
            PyObject *req = covet_head_request(&a->head, EV_STREAM, Py_None);
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
                http_stop_reading(c);
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
            PyObject *body =
                covet_head_held(&a->head) ? PyBytes_FromStringAndSize(ev.body, (Py_ssize_t)ev.body_len) : NULL;
            int rc;
            if (body == NULL) {
                rc = -1;
                PyErr_Clear();
            } else if (a->route != NULL) { /* the glue takes the head's parts as they are: no Request is built */
                rc = direct_answer(s, c, a->route, &a->head, body);
                covet_head_clear(&a->head);
            } else {
                PyObject *req = covet_head_request(&a->head, a->upgrade ? EV_UPGRADE : EV_REQUEST, body);
                rc = req != NULL ? answer(s, c, req) : -1;
                if (req == NULL)
                    PyErr_WriteUnraisable(s->on_request);
                Py_XDECREF(req);
            }
            Py_XDECREF(body);
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
            http_close_after_output(c);
            c->flags &= ~(C_BODY | C_BODYWAIT);
            if (body_event(s, c, Py_BuildValue("(is)", ev.status, ev.message)) < 0) {
                PyErr_WriteUnraisable(s->on_body);
                conn_kill(s, c, 1);
            }
            break;
        } else { /* H1_EV_ERROR: the parser is dead; answer and close */
            covet_head_clear(&a->head);
            if (answer_error(s, c, ev.status, ev.message) < 0)
                conn_kill(s, c, 1);
            else
                http_close_after_output(c);
            break;
        }
    }
    c->flags &= ~C_INRUN;
    a = c->act;
    if (a != NULL && !(c->flags & C_BUSY) && !covet_head_held(&a->head) && a->saved_len == 0 &&
        h1_conn_state(&a->p) == H1_STATE_IDLE)
        conn_active_release(s, c);
}

/* A switched connection's input: to Python as it comes (which may ask to stop reading until resume_body). A
 * WebSocket's goes through its frame parser here first, straight from the read buffer: Python gets the events, and
 * the bytes are never copied into a bytes object on the way. */
static void raw_input(UringServer *s, struct conn *c, const char *data, size_t n) {
    /* C_INRUN: c outlives the call whatever Python does meanwhile (it closes later, on the loop's next turn). */
    c->flags |= C_INRUN;
    PyObject *item =
        c->ws != NULL ? covet_ws_feed(c->ws, (const uint8_t *)data, n) : PyBytes_FromStringAndSize(data, (Py_ssize_t)n);
    int r = body_event(s, c, item);
    c->flags &= ~C_INRUN;
    if (r < 0) {
        PyErr_WriteUnraisable(s->on_body);
        conn_kill(s, c, 1);
    } else if (r > 0) {
        c->flags |= C_BODYWAIT;
    }
}

static void feed(UringServer *s, struct conn *c, const char *data, size_t n) {
    if (c->flags & C_CLOSING)
        return; /* its last response is decided: nothing after it is read (the receive is being cancelled) */
    if (c->flags & C_RAW) {
        raw_input(s, c, data, n);
        return;
    }
    struct active *a = conn_active_get(s, c);
    if (a == NULL) {
        conn_kill(s, c, 1);
        return;
    }
    if ((c->flags & (C_BUSY | C_BODY)) == C_BUSY) {
        if (save_input(a, data, n) < 0)
            conn_kill(s, c, 1);
        return;
    }
    if (s->access_log != NULL)
        covet_alog_begin(s->access_log);
    h1_conn_feed(&a->p, data, n);
    run_events(s, c);
}

/* Python let go of c: run the input held meanwhile. */
void http_resume_input(UringServer *s, struct conn *c) {
    struct active *a = c->act;
    if (a == NULL || a->saved_len == 0 || (c->flags & (C_BUSY | C_DEAD | C_CLOSING)))
        return;
    char *buf = a->saved;
    size_t n = a->saved_len;
    a->saved = NULL;
    a->saved_len = a->saved_cap = 0;
    if (s->access_log != NULL)
        covet_alog_begin(s->access_log);
    h1_conn_feed(&a->p, buf, n);
    run_events(s, c);
    PyMem_Free(buf);
}

/* One slice of the timeout sweep: from s->sweep_fd on, until SWEEP_SLICE connections were closed or answered (the
 * next pass goes on). Connections are judged by how long they made no progress, in ticks. */
static void sweep(UringServer *s) {
    unsigned acted = 0;
    unsigned fd = s->sweep_fd;
    for (; fd < s->conns_cap && acted < SWEEP_SLICE; fd++) {
        struct conn *c = s->conns[fd];
        if (c == NULL)
            continue;
        if (c->flags & C_DEAD) {
            uring_kill_ops(s, c); /* its cancel found no free SQE before */
            continue;
        }
        if (c->flags & C_TLS)
            tls_lean(s, c);
        uint32_t age = s->now - c->mark;
        if (c->flags & C_SHUTWR) {
            if (age >= LINGER_TICKS) {
                conn_kill(s, c, 0);
                http_settle(s, c);
                acted++;
            }
            continue;
        }
        if (conn_out_bytes(c) > 0) {
            if (age >= s->write_ticks) {
                conn_kill(s, c, 1); /* the client does not read its responses */
                http_settle(s, c);
                acted++;
            }
            continue;
        }
        if (c->flags & C_HANDSHAKE) {
            /* A TLS handshake is bounded by the header timeout, as on the other loops; ">": at least that long (the
             * tick may come right after the connection did), at most a tick more. A drain does not wait for it. */
            if (age > s->header_ticks || (s->closing && age >= DRAIN_IDLE_TICKS)) {
                conn_kill(s, c, 0);
                http_settle(s, c);
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
            if (age >= s->keepalive_ticks || (s->closing && age >= DRAIN_IDLE_TICKS)) {
                c->flags |= C_CLOSING;
                http_settle(s, c);
                acted++;
            }
        } else if ((st == H1_STATE_HEAD && age >= s->header_ticks) || (st == H1_STATE_BODY && age >= s->body_ticks)) {
            if (s->timeout_bytes == NULL || conn_enqueue(s, c, s->timeout_bytes) < 0) {
                conn_kill(s, c, 1);
            } else {
                if (s->access_log != NULL)
                    http_log(s, c, NULL, NULL, NULL, 1, s->timeout_bytes, -1, 0);
                http_close_after_output(c);
            }
            if (c->act != NULL)
                h1_conn_abort(&c->act->p);
            http_settle(s, c);
            acted++;
        } else if (st == H1_STATE_DEAD) {
            c->flags |= C_CLOSING;
            http_settle(s, c);
            acted++;
        }
    }
    s->sweep_fd = fd;
    s->sweeping = fd < s->conns_cap;
}

/* The peer's FIN: a streamed body can never complete now. */
static void on_eof(UringServer *s, struct conn *c) {
    if ((c->flags & (C_BODY | C_DEAD)) == C_BODY) {
        c->flags |= C_INRUN; /* the engine settles c after this: Python must not free it meanwhile */
        body_cut(s, c);
        c->flags &= ~C_INRUN;
    }
}

const struct uring_upcalls uring_http1_upcalls = {
    .input = feed,
    .eof = on_eof,
    .settle = http_settle,
    .sweep = sweep,
};

PyObject *http_switch(UringServer *s, struct conn *c, PyObject *head) {
    if ((c->flags & (C_BUSY | C_RAW | C_DEAD)) != C_BUSY) {
        PyErr_SetString(PyExc_RuntimeError, "upgrade() of a connection that is not waiting for Python's answer");
        return NULL;
    }
    if (conn_enqueue(s, c, head) < 0) {
        conn_kill(s, c, 1);
        http_settle(s, c);
        return PyErr_NoMemory();
    }
    c->flags |= C_RAW | C_BODY;
    c->flags &= ~C_BODYWAIT;
    struct active *a = c->act;
    PyObject *held;
    if (a != NULL) {
        held = PyBytes_FromStringAndSize(a->saved_len ? a->saved : "", (Py_ssize_t)a->saved_len);
        a->saved_len = 0;
        h1_conn_abort(&a->p); /* no more HTTP/1.1 on this connection */
        /* Its parser and buffers would be held for the WebSocket's whole life, idle or not (measured: ~0.7 KB a
         * connection). Inside run_events it is released when that returns, or with the connection. */
        if (!(c->flags & C_INRUN))
            conn_active_release(s, c);
    } else {
        held = PyBytes_FromStringAndSize("", 0);
    }
    http_settle(s, c);
    return held;
}
