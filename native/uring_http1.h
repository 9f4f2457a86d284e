/* HTTP/1 on the io_uring server's connections (see uring_server.h): the parser's events become Python calls, their
 * answers go on the output queue, and each connection's next step (read, pause, linger, close) is decided here. */
#ifndef COVET_URING_HTTP1_H
#define COVET_URING_HTTP1_H

#include "uring_engine.h"

/* The engine's upcalls: input, FIN, settle, sweep. */
extern const struct uring_upcalls uring_http1_upcalls;

/* Decides what c does next, after anything happened to it: read more, pause, send, close, free. */
void http_settle(UringServer *s, struct conn *c);

/* What Python answered for a request (a reference, stolen; NULL with an exception set): bytes are queued, None
 * means Python keeps the connection. Returns 0 answered, 1 kept, -1 the connection failed (reported as raised by
 * ``origin``). */
int http_take_answer(UringServer *s, struct conn *c, PyObject *r, PyObject *origin);

/* c closes once its output is sent; if a request was arriving (or broke the parser), with a lingering close. */
void http_close_after_output(struct conn *c);

/* Records a response the core sends in the access log (which must be set): ``response`` its bytes; method, path and
 * query of its request (borrowed), or NULL for a framing error or a timeout; ``route`` the plan's route_id (-1:
 * none) and ``received`` the request body's bytes, for the metrics. */
void http_log(UringServer *s, struct conn *c, PyObject *method, PyObject *path, PyObject *query, int minor,
              PyObject *response, int route, int64_t received);

/* c's last response is queued: no later request is parsed or answered. */
void http_stop_reading(struct conn *c);

/* Whether a draining server may close c now: idle, and idle since before the last tick but one (see uring_http1.c). */
int http_idle_for_a_tick(const UringServer *s, const struct conn *c);

/* Python let go of c: run the input held meanwhile. */
void http_resume_input(UringServer *s, struct conn *c);

/* Python accepted the upgrade c asked for (it holds c): ``head`` (the 101) is queued, and from now on every byte read
 * goes to on_body as it comes (C_RAW). Returns the input held meanwhile, or NULL with an exception set. */
PyObject *http_switch(UringServer *s, struct conn *c, PyObject *head);

#endif
