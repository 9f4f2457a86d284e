/* covet._native.AccessLog: the access log's record buffer. A request's fixed fields go into a C array in one call
 * (from Python, or from the io_uring core in C for the requests it answers itself); lines are formatted later, off
 * the request path, by whoever drains it (covet/runtime/accesslog.py's writer thread). See docs/logging.md. */
#ifndef COVET_ACCESSLOG_H
#define COVET_ACCESSLOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "h1_parser.h"

/* Longest X-Request-ID taken from a client; a longer one, or one with any byte outside [A-Za-z0-9._:/+=@~-], is
 * replaced by a generated id. */
#define ALOG_RID_MAX 64

/* A peer address as the io_uring core caches it per connection (family 0: unknown). */
struct alog_peer {
    uint8_t family; /* AF_INET or AF_INET6, 0 when unknown */
    uint16_t port;  /* host order */
    uint8_t addr[16];
};

typedef struct AccessLog AccessLog;

extern PyTypeObject covet_AccessLogType;

/* Readies the type; 0, or -1 with an exception set. */
int covet_accesslog_ready(void);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t covet_alog_now(void);

/* Where the requests of the input being handled now started (set once per read; durations count from it). */
void covet_alog_begin(AccessLog *al);

/* The client's X-Request-ID among the head's raw fields, when sane: copied into out (ALOG_RID_MAX bytes); its
 * length, 0 for none. */
size_t covet_alog_rid_raw(const h1_request *r, char *out);

/* Records one response. ``client`` ((host, port)) or ``peer`` says who asked (either may be NULL/unknown); method,
 * path and query are str or NULL (no request: a framing error, a timeout); rid[0..rid_len) the sane client id (0:
 * generate one). ``response`` is the rendered response, whose status and body length are read from it; without it,
 * ``status`` and ``bytes``. start_ns 0: from the last covet_alog_begin. ``route`` is the plan's route_id (-1:
 * none), ``received`` the request body's bytes: both for the metrics, which count every record when the log has
 * them (metrics.h). Never fails: a full buffer drops the record and counts it. */
void covet_alog_add(AccessLog *al, PyObject *client, const struct alog_peer *peer, PyObject *method, PyObject *path,
                    PyObject *query, int minor, const char *rid, size_t rid_len, PyObject *response, int status,
                    int64_t bytes, int64_t start_ns, int route, int64_t received);

/* The route Python answered the last request with (its ``route`` attribute; -1 none), for the io_uring core's
 * record of that response. */
int covet_alog_route(const AccessLog *al);

/* Whether a record's client id is printed (kept for a JSON log; the uvicorn-style line has none): 0, and none need
 * be read. */
int covet_alog_wants_rid(const AccessLog *al);

/* Connections opened (+1) or closed (-1), for the metrics. */
void covet_alog_conn(AccessLog *al, int delta);

#endif
