/* The access log's record buffer (see accesslog.h).
 *
 * Recording is a copy of a few words and new references to strings the request already has (method and path are
 * interned or already built): no formatting, no allocation but the array's growth, no I/O. Draining swaps the array
 * out and formats every record into one ASCII str: the uvicorn-style line or a JSON object. Everything a client sent
 * is escaped there (quotes, backslashes, control bytes, CR/LF, anything past ASCII), so a line stays one line and
 * JSON stays JSON. */
#define _GNU_SOURCE
#include "accesslog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

struct rec {
    PyObject *client;                /* the client's host (str, its port in peer.port), or NULL */
    PyObject *method, *path, *query; /* str, or NULL */
    int64_t start_ns, end_ns, bytes;
    uint64_t seq; /* the generated id's number, when rid_len is 0 */
    int status;
    uint8_t minor, rid_len;
    struct alog_peer peer;
    char rid[ALOG_RID_MAX];
};

enum {
    ALOG_DRAIN_EVERY = 1024
};

static const char hexd[] = "0123456789abcdef";

struct AccessLog {
    PyObject_HEAD
    struct rec *recs;
    size_t n, cap, max;
    size_t soon; /* on_full is called when n reaches it */
    int asked;   /* on_full was called since the last drain */
    int json;
    int echo; /* responses carry the id (x-request-id): it is read back from them */
    int64_t mark;
    uint64_t seq;
    unsigned long long dropped, recorded;
    int store;        /* 0: metrics only, nothing kept for the log */
    int route;        /* the route of the response the io_uring core records next (set by Python; -1: none) */
    Metrics *metrics; /* counted into at each record, or NULL */
    PyObject *on_full;
    char prefix[9]; /* the generated ids' per-process part: 8 hex digits */
};

int64_t covet_alog_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void covet_alog_begin(AccessLog *al) {
    al->mark = covet_alog_now();
}

static int rid_char(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.' || ch == ':' || ch == '/' || ch == '+' || ch == '=' || ch == '@' || ch == '~';
}

static int rid_sane(const char *p, size_t n) {
    if (n == 0 || n > ALOG_RID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!rid_char((unsigned char)p[i]))
            return 0;
    return 1;
}

size_t covet_alog_rid_raw(const h1_request *r, char *out) {
    for (size_t i = 0; i < r->num_headers; i++) {
        const h1_header *h = &r->headers[i];
        if (h->name_len == 12 && strncasecmp(h->name, "x-request-id", 12) == 0) {
            if (!rid_sane(h->value, h->value_len))
                return 0;
            memcpy(out, h->value, h->value_len);
            return h->value_len;
        }
    }
    return 0;
}

/* The sane X-Request-ID in a header list [(name, value), ...] (names lower case), copied into out; its length. */
static size_t rid_from_list(PyObject *headers, char *out) {
    if (headers != NULL && PyUnicode_Check(headers) && PyUnicode_IS_ASCII(headers)) { /* the id itself */
        size_t len = (size_t)PyUnicode_GET_LENGTH(headers);
        const char *p = (const char *)PyUnicode_1BYTE_DATA(headers);
        if (!rid_sane(p, len))
            return 0;
        memcpy(out, p, len);
        return len;
    }
    if (headers == NULL || !PyList_Check(headers))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(headers);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
            continue;
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        if (!PyUnicode_Check(name) || !PyUnicode_IS_ASCII(name) || PyUnicode_GET_LENGTH(name) != 12 ||
            memcmp(PyUnicode_1BYTE_DATA(name), "x-request-id", 12) != 0)
            continue;
        if (!PyUnicode_Check(value) || !PyUnicode_IS_ASCII(value))
            return 0;
        size_t len = (size_t)PyUnicode_GET_LENGTH(value);
        const char *p = (const char *)PyUnicode_1BYTE_DATA(value);
        if (!rid_sane(p, len))
            return 0;
        memcpy(out, p, len);
        return len;
    }
    return 0;
}

/* The id an echoing server put in a response's head (``x-request-id: ...``), copied into out; its length (0: none). */
static size_t rid_from_response(PyObject *response, char *out) {
    const char *p = PyBytes_AS_STRING(response);
    size_t n = (size_t)PyBytes_GET_SIZE(response);
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    size_t head = end != NULL ? (size_t)(end - p) : n;
    const char *at = memmem(p, head, "\r\nx-request-id: ", 16);
    if (at == NULL)
        return 0;
    at += 16;
    size_t limit = end != NULL ? head + 1 : n; /* the head's last CR included */
    const char *stop = memchr(at, '\r', limit - (size_t)(at - p));
    size_t len = stop != NULL ? (size_t)(stop - at) : 0;
    if (!rid_sane(at, len))
        return 0;
    memcpy(out, at, len);
    return len;
}

/* Just past the blank line that ends a rendered response's head, or NULL. PERF: a memchr a line; glibc's memmem
 * prepares its search on every call, which cost more than the rest of a record (~700 instructions). */
static const char *head_end(const char *p, size_t n) {
    const char *end = p + n;
    const char *q = p;
    while (q < end && (q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        if (q > p && q[-1] == '\r' && end - q >= 3 && q[1] == '\r' && q[2] == '\n')
            return q + 3;
        q++;
    }
    return NULL;
}

/* Status and body length of a rendered HTTP/1.x response; 0 when it is not one. ``expected`` (-1: none) is the body
 * length the caller expects it to carry, at least what it carries (a HEAD's or a 204's is dropped): when the head's
 * blank line sits just before that many bytes it is the head's end, since a head holds no other blank line, and
 * the scan for it is skipped. */
static int response_facts(PyObject *response, int64_t expected, int64_t *body) {
    const char *p = PyBytes_AS_STRING(response);
    Py_ssize_t n = PyBytes_GET_SIZE(response);
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0)
        return 0;
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (expected >= 0 && expected <= (int64_t)n - 16 && memcmp(p + n - expected - 4, "\r\n\r\n", 4) == 0) {
        *body = expected;
        return status;
    }
    const char *end = head_end(p, (size_t)n);
    *body = end != NULL ? (int64_t)(n - (end - p)) : 0;
    return status;
}

void covet_alog_add(AccessLog *al, PyObject *client, const struct alog_peer *peer, PyObject *method, PyObject *path,
                    PyObject *query, int minor, const char *rid, size_t rid_len, PyObject *response, int status,
                    int64_t bytes, int64_t start_ns, int route, int64_t received) {
    int64_t now = covet_alog_now();
    if (response != NULL)
        status = response_facts(response, bytes, &bytes);
    /* A response with no request (a framing error, a timeout) has no duration: 0. */
    int64_t start = method == NULL ? now : start_ns ? start_ns : al->mark;
    Metrics *m = al->metrics;
    if (m != NULL) {
        if (start_ns != 0) /* an exchange's record: started() counted it in flight */
            covet_metrics_leave(m);
        covet_metrics_count(m, route, covet_metrics_method(method), status, bytes, received, now - start);
    }
    if (!al->store)
        return;
    if (al->n == al->cap) {
        size_t cap = al->cap ? al->cap * 2 : 1024;
        if (cap > al->max)
            cap = al->max;
        struct rec *recs = al->n < cap ? PyMem_Realloc(al->recs, cap * sizeof *recs) : NULL;
        if (recs == NULL) { /* full (the writer is behind), or out of memory: counted, said at the next drain */
            al->dropped++;
            return;
        }
        al->recs = recs;
        al->cap = cap;
    }
    struct rec *r = &al->recs[al->n++];
    al->recorded++;
    r->end_ns = now;
    r->start_ns = start;
    char echoed[ALOG_RID_MAX];
    if (response != NULL) {
        if (al->echo && al->json) { /* (only a JSON line prints the id) */
            size_t len = rid_from_response(response, echoed);
            if (len > 0) {
                rid = echoed;
                rid_len = len;
            }
        }
    }
    r->status = status;
    r->bytes = bytes;
    r->minor = (uint8_t)minor;
    r->client = NULL;
    if (client != NULL && PyTuple_Check(client) && PyTuple_GET_SIZE(client) == 2 &&
        PyUnicode_Check(PyTuple_GET_ITEM(client, 0))) {
        long port = PyLong_AsLong(PyTuple_GET_ITEM(client, 1));
        if (port == -1 && PyErr_Occurred())
            PyErr_Clear();
        r->client = Py_NewRef(PyTuple_GET_ITEM(client, 0));
        r->peer.port = (uint16_t)port;
    }
    r->method = Py_XNewRef(method);
    r->path = Py_XNewRef(path);
    r->query = Py_XNewRef(query);
    if (peer != NULL)
        r->peer = *peer;
    else
        r->peer.family = 0; /* (its port is the client's, above) */
    if (rid_len > 0) {
        memcpy(r->rid, rid, rid_len);
        r->rid_len = (uint8_t)rid_len;
    } else {
        r->rid_len = 0;
        r->seq = ++al->seq;
    }
    if (al->n >= al->soon && !al->asked && al->on_full != NULL) {
        al->asked = 1;
        PyObject *res = PyObject_CallNoArgs(al->on_full);
        if (res == NULL)
            PyErr_WriteUnraisable(al->on_full);
        Py_XDECREF(res);
    }
}

static void recs_release(struct rec *recs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        Py_XDECREF(recs[i].client);
        Py_XDECREF(recs[i].method);
        Py_XDECREF(recs[i].path);
        Py_XDECREF(recs[i].query);
    }
    PyMem_Free(recs);
}

/* -- formatting ---------------------------------------------------------------------------------------------- */

struct out {
    char *p;
    size_t n, cap;
    int failed;
};

static int out_room(struct out *o, size_t more) {
    if (o->failed)
        return 0;
    if (o->n + more <= o->cap)
        return 1;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->n + more)
        cap *= 2;
    char *p = realloc(o->p, cap); /* (not PyMem: drain formats without the GIL) */
    if (p == NULL) {
        o->failed = 1;
        return 0;
    }
    o->p = p;
    o->cap = cap;
    return 1;
}

/* PERF: inlined, so that the many short copies of constant length become moves; a short one of variable length is
 * two overlapping moves of a fixed width, where a call to memcpy cost ~25 instructions a field. */
static inline __attribute__((always_inline)) void out_put(struct out *o, const char *s, size_t n) {
    if (n == 0 || (o->n + n > o->cap && !out_room(o, n)))
        return;
    char *d = o->p + o->n;
    if (__builtin_constant_p(n) || n > 16)
        memcpy(d, s, n);
    else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    o->n += n;
}

static inline __attribute__((always_inline)) void out_cstr(struct out *o, const char *s) {
    out_put(o, s, strlen(s));
}

/* PERF: decimal digits by hand; snprintf cost more than the rest of a line. */
static void out_uint(struct out *o, unsigned long long v) {
    char b[24];
    int i = (int)sizeof b;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out_put(o, b + i, sizeof b - (size_t)i);
}

static void out_int(struct out *o, long long v) {
    if (v < 0) {
        out_put(o, "-", 1);
        v = -v;
    }
    out_uint(o, (unsigned long long)v);
}

/* A status: three digits, as every one but a broken record's is. */
static void out_status(struct out *o, int status) {
    if (status >= 100 && status <= 999) {
        char b[3] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10), (char)('0' + status % 10)};
        out_put(o, b, 3);
    } else
        out_int(o, status);
}

/* v in exactly ``width`` digits, zero-padded. */
static void out_digits(struct out *o, unsigned long long v, int width) {
    char b[24];
    for (int i = width - 1; i >= 0; i--) {
        b[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out_put(o, b, (size_t)width);
}

/* 1 for the bytes client-sent text keeps as they are (printable ASCII but the quote and the backslash); filled by
 * covet_accesslog_ready. PERF: one load a byte where four comparisons were. */
static unsigned char plain_byte[256];

/* One code point of client-sent text: printable ASCII as is (but the quote and the backslash), anything else
 * escaped, JSON's way (\u00XX) or the line's (\xXX, \uXXXX, \UXXXXXXXX). The output is ASCII either way. */
static void out_char(struct out *o, Py_UCS4 ch, int json) {
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
        if (out_room(o, 1))
            o->p[o->n++] = (char)ch;
        return;
    }
    char b[12];
    if (ch == '"' || ch == '\\') {
        b[0] = '\\';
        b[1] = (char)ch;
        out_put(o, b, 2);
    } else if (json) {
        if (ch > 0xffff) { /* a surrogate pair */
            Py_UCS4 v = ch - 0x10000;
            out_char(o, 0xd800 + (v >> 10), json);
            out_char(o, 0xdc00 + (v & 0x3ff), json);
            return;
        }
        b[0] = '\\';
        b[1] = 'u';
        for (int i = 0; i < 4; i++)
            b[2 + i] = hexd[(ch >> (12 - 4 * i)) & 0xf];
        out_put(o, b, 6);
    } else if (ch < 0x100) {
        b[0] = '\\';
        b[1] = 'x';
        b[2] = hexd[ch >> 4];
        b[3] = hexd[ch & 0xf];
        out_put(o, b, 4);
    } else {
        int digits = ch > 0xffff ? 8 : 4;
        b[0] = '\\';
        b[1] = digits == 8 ? 'U' : 'u';
        for (int i = 0; i < digits; i++)
            b[2 + i] = hexd[(ch >> (4 * (digits - 1 - i))) & 0xf];
        out_put(o, b, (size_t)(2 + digits));
    }
}

static void out_text(struct out *o, PyObject *s, int json) {
    if (s == NULL || !PyUnicode_Check(s))
        return;
    if (PyUnicode_IS_ASCII(s)) { /* the common case: scan for what needs escaping, copy the rest */
        const unsigned char *p = PyUnicode_1BYTE_DATA(s);
        size_t n = (size_t)PyUnicode_GET_LENGTH(s), run = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = p[i];
            if (plain_byte[ch])
                continue;
            out_put(o, (const char *)p + run, i - run); /* PERF: runs that need no escaping are copied whole */
            out_char(o, ch, json);
            run = i + 1;
        }
        out_put(o, (const char *)p + run, n - run);
        return;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < n; i++)
        out_char(o, PyUnicode_READ(kind, data, i), json);
}

/* The last client formatted in a drain, and its text. PERF: a connection's requests come in a row, and formatting a
 * client (its host escaped, its port in digits, or the io_uring core's address through inet_ntop) cost more than
 * the rest of the line. A drain holds every record's client alive, so one seen at the same address in the same
 * drain is the same object. */
struct client_cache {
    const PyObject *client;
    struct alog_peer peer;
    size_t len; /* 0: empty */
    char text[64];
};

static int same_client(const struct client_cache *c, const struct rec *r) {
    if (c->len == 0 || c->client != r->client || c->peer.port != r->peer.port)
        return 0;
    return r->client != NULL ||
           (c->peer.family == r->peer.family && memcmp(c->peer.addr, r->peer.addr, sizeof r->peer.addr) == 0);
}

static int out_client_uncached(struct out *o, const struct rec *r, int json);

/* host:port of the client (as uvicorn prints it, IPv6 without brackets); 0 when unknown. */
static int out_client(struct out *o, const struct rec *r, int json, struct client_cache *cache) {
    if (same_client(cache, r)) {
        out_put(o, cache->text, cache->len);
        return 1;
    }
    size_t at = o->n;
    if (!out_client_uncached(o, r, json))
        return 0;
    size_t len = o->n - at;
    cache->len = 0;
    if (!o->failed && len <= sizeof cache->text) {
        memcpy(cache->text, o->p + at, len);
        cache->client = r->client;
        cache->peer = r->peer;
        cache->len = len;
    }
    return 1;
}

static int out_client_uncached(struct out *o, const struct rec *r, int json) {
    if (r->client != NULL) {
        out_text(o, r->client, json);
        out_put(o, ":", 1);
        out_uint(o, r->peer.port);
        return 1;
    }
    if (r->peer.family == AF_INET || r->peer.family == AF_INET6) {
        char host[INET6_ADDRSTRLEN];
        if (inet_ntop(r->peer.family, r->peer.addr, host, sizeof host) == NULL)
            return 0;
        out_cstr(o, host);
        out_put(o, ":", 1);
        out_uint(o, r->peer.port);
        return 1;
    }
    return 0;
}

static void out_rid(struct out *o, const AccessLog *al, const struct rec *r) {
    if (r->rid_len > 0)
        out_put(o, r->rid, r->rid_len); /* only characters that need no escaping (rid_char) */
    else {
        char b[8 + 1 + 12];
        memcpy(b, al->prefix, 8);
        b[8] = '-';
        for (int i = 0; i < 12; i++)
            b[9 + i] = hexd[(r->seq >> (4 * (11 - i))) & 0xf];
        out_put(o, b, sizeof b);
    }
}

static void out_target(struct out *o, const struct rec *r, int json) {
    out_text(o, r->path, json);
    if (r->query != NULL && PyUnicode_Check(r->query) && PyUnicode_GET_LENGTH(r->query) > 0) {
        out_put(o, "?", 1);
        out_text(o, r->query, json);
    }
}

/* prefix 127.0.0.1:5000 - "GET /path?q HTTP/1.1" 200 OK */
static void format_line(struct out *o, const struct rec *r, const char *prefix, size_t plen,
                        struct client_cache *cache) {
    out_put(o, prefix, plen);
    if (!out_client(o, r, 0, cache))
        out_put(o, "-", 1);
    out_put(o, " - \"", 4);
    if (r->method != NULL) {
        out_text(o, r->method, 0);
        out_put(o, " ", 1);
        out_target(o, r, 0);
        out_put(o, " ", 1);
    }
    /* the version's "minor" is 2 for HTTP/2 (covet.runtime.access_record.HTTP2) */
    out_cstr(o, r->minor == 2 ? "HTTP/2\" " : r->minor ? "HTTP/1.1\" " : "HTTP/1.0\" ");
    out_status(o, r->status);
    const char *phrase = NULL;
    if (r->status >= 100 && r->status <= 599) {
        /* HTTPStatus's phrases come from Python, once per drain would cost more than this table lookup in C */
        switch (r->status) {
        case 200:
            phrase = "OK";
            break;
        case 201:
            phrase = "Created";
            break;
        case 204:
            phrase = "No Content";
            break;
        case 301:
            phrase = "Moved Permanently";
            break;
        case 302:
            phrase = "Found";
            break;
        case 304:
            phrase = "Not Modified";
            break;
        case 400:
            phrase = "Bad Request";
            break;
        case 401:
            phrase = "Unauthorized";
            break;
        case 403:
            phrase = "Forbidden";
            break;
        case 404:
            phrase = "Not Found";
            break;
        case 405:
            phrase = "Method Not Allowed";
            break;
        case 408:
            phrase = "Request Timeout";
            break;
        case 413:
            phrase = "Content Too Large";
            break;
        case 414:
            phrase = "URI Too Long";
            break;
        case 422:
            phrase = "Unprocessable Content";
            break;
        case 431:
            phrase = "Request Header Fields Too Large";
            break;
        case 500:
            phrase = "Internal Server Error";
            break;
        case 501:
            phrase = "Not Implemented";
            break;
        case 503:
            phrase = "Service Unavailable";
            break;
        default:
            break;
        }
    }
    if (phrase != NULL) {
        out_put(o, " ", 1);
        out_cstr(o, phrase);
    }
    out_put(o, "\n", 1);
}

/* {"time": ..., "client": ..., "method": ..., "path": ..., "status": ..., "bytes": ..., "duration": ...,
 *  "request_id": ...} */
struct clock_cache {
    struct timespec wall; /* now, and the monotonic clock at the same moment: a record's time is now - its age */
    int64_t mono;
    int64_t sec; /* the second "date" holds, -1 for none */
    char date[20];
};

static void format_json(struct out *o, const AccessLog *al, const struct rec *r, const char *prefix, size_t plen,
                        struct clock_cache *cc, struct client_cache *cache) {
    int64_t ago = cc->mono - r->end_ns;
    int64_t wall = (int64_t)cc->wall.tv_sec * 1000000000 + cc->wall.tv_nsec - (ago > 0 ? ago : 0);
    int64_t sec = wall / 1000000000;
    if (sec != cc->sec) { /* PERF: the date is formatted once a second of records */
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        struct out d = {cc->date, 0, sizeof cc->date, 0};
        out_digits(&d, (unsigned long long)(tm.tm_year + 1900), 4);
        out_put(&d, "-", 1);
        out_digits(&d, (unsigned long long)(tm.tm_mon + 1), 2);
        out_put(&d, "-", 1);
        out_digits(&d, (unsigned long long)tm.tm_mday, 2);
        out_put(&d, "T", 1);
        out_digits(&d, (unsigned long long)tm.tm_hour, 2);
        out_put(&d, ":", 1);
        out_digits(&d, (unsigned long long)tm.tm_min, 2);
        out_put(&d, ":", 1);
        out_digits(&d, (unsigned long long)tm.tm_sec, 2);
        cc->sec = sec;
    }
    out_put(o, prefix, plen);
    out_cstr(o, "{\"time\":\"");
    out_put(o, cc->date, 19);
    out_put(o, ".", 1);
    out_digits(o, (unsigned long long)((wall % 1000000000) / 1000), 6);
    out_cstr(o, "Z\",\"client\":");
    size_t at = o->n;
    out_put(o, "\"", 1);
    if (out_client(o, r, 1, cache))
        out_put(o, "\"", 1);
    else if (!o->failed) {
        o->n = at;
        out_cstr(o, "null");
    }
    if (r->method != NULL) {
        out_cstr(o, ",\"method\":\"");
        out_text(o, r->method, 1);
        out_cstr(o, "\",\"path\":\"");
        out_target(o, r, 1);
        out_put(o, "\"", 1);
    } else {
        out_cstr(o, ",\"method\":null,\"path\":null");
    }
    int64_t dur = r->end_ns - r->start_ns;
    if (dur < 0 || r->start_ns == 0)
        dur = 0;
    int64_t us = (dur + 500) / 1000;
    out_cstr(o, ",\"status\":");
    out_status(o, r->status);
    out_cstr(o, ",\"bytes\":");
    out_int(o, (long long)r->bytes);
    out_cstr(o, ",\"duration\":");
    out_uint(o, (unsigned long long)(us / 1000000));
    out_put(o, ".", 1);
    out_digits(o, (unsigned long long)(us % 1000000), 6);
    out_cstr(o, ",\"request_id\":\"");
    out_rid(o, al, r);
    out_cstr(o, "\"}\n");
}

/* -- the Python type ------------------------------------------------------------------------------------------ */

static PyObject *AL_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"json", "on_full", "capacity", "echo", "metrics", "store", NULL};
    int json = 0, echo = 0, store = 1;
    PyObject *on_full = Py_None, *metrics = Py_None;
    Py_ssize_t capacity = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pOnpOp:AccessLog", kwlist, &json, &on_full, &capacity, &echo,
                                     &metrics, &store))
        return NULL;
    if (metrics != Py_None && !PyObject_TypeCheck(metrics, &covet_MetricsType)) {
        PyErr_SetString(PyExc_TypeError, "AccessLog(metrics=...) must be a Metrics or None");
        return NULL;
    }
    if (capacity < 16) {
        PyErr_SetString(PyExc_ValueError, "AccessLog(capacity=...) must be at least 16");
        return NULL;
    }
    if (on_full != Py_None && !PyCallable_Check(on_full)) {
        PyErr_SetString(PyExc_TypeError, "AccessLog(on_full=...) must be callable or None");
        return NULL;
    }
    AccessLog *al = (AccessLog *)type->tp_alloc(type, 0);
    if (al == NULL)
        return NULL;
    al->json = json;
    al->echo = echo;
    al->store = store;
    al->route = -1;
    al->metrics = metrics == Py_None ? NULL : (Metrics *)Py_NewRef(metrics);
    al->max = (size_t)capacity;
    /* PERF: a drain every 1,024 records (a quarter of a smaller buffer) keeps the records and the strings they hold
     * in the caches until the writer formats and releases them: at 16,384 records (2.6 MB of them) the request
     * path paid ~0.04 us a request more on both loops (perf/serving.py --only observability), far more than the
     * writer's extra wake-ups (a few hundred a second at full load) cost. */
    al->soon = al->max / 4 < ALOG_DRAIN_EVERY ? al->max / 4 : ALOG_DRAIN_EVERY;
    al->on_full = on_full == Py_None ? NULL : Py_NewRef(on_full);
    unsigned char rnd[4];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) { /* the clock is unique enough per process */
        uint64_t t = (uint64_t)covet_alog_now() ^ (uint64_t)getpid();
        memcpy(rnd, &t, sizeof rnd);
    }
    for (int i = 0; i < 4; i++) {
        al->prefix[2 * i] = hexd[rnd[i] >> 4];
        al->prefix[2 * i + 1] = hexd[rnd[i] & 0xf];
    }
    al->prefix[8] = '\0';
    al->mark = covet_alog_now();
    return (PyObject *)al;
}

static int AL_traverse(AccessLog *al, visitproc visit, void *arg) {
    Py_VISIT(al->on_full);
    Py_VISIT((PyObject *)al->metrics);
    return 0;
}

static int AL_clear(AccessLog *al) {
    Py_CLEAR(al->on_full);
    Py_CLEAR(al->metrics);
    return 0;
}

static void AL_dealloc(AccessLog *al) {
    PyObject_GC_UnTrack(al);
    AL_clear(al);
    recs_release(al->recs, al->n);
    Py_TYPE(al)->tp_free((PyObject *)al);
}

/* record(client, method, path, query, headers, minor, response, nbytes, start, route, received) -> None */
static PyObject *AL_record(AccessLog *al, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "record(client, method, path, query, headers, minor, response, nbytes, "
                                         "start, route, received) takes 11 arguments");
        return NULL;
    }
    PyObject *client = args[0] == Py_None ? NULL : args[0];
    PyObject *method = PyUnicode_Check(args[1]) ? args[1] : NULL;
    PyObject *path = PyUnicode_Check(args[2]) ? args[2] : NULL;
    PyObject *query = PyUnicode_Check(args[3]) ? args[3] : NULL;
    long minor = PyLong_AsLong(args[5]);
    long long nbytes = PyLong_AsLongLong(args[7]);
    long long start = PyLong_AsLongLong(args[8]);
    long route = PyLong_AsLong(args[9]);
    long long received = PyLong_AsLongLong(args[10]);
    if ((minor == -1 || nbytes == -1 || start == -1 || route == -1 || received == -1) && PyErr_Occurred())
        return NULL;
    PyObject *response = NULL;
    int status = 0;
    if (PyBytes_Check(args[6])) {
        response = args[6];
    } else {
        long st = PyLong_AsLong(args[6]);
        if (st == -1 && PyErr_Occurred())
            return NULL;
        status = (int)st;
    }
    char rid[ALOG_RID_MAX];
    /* PERF: the uvicorn-style line prints no id; looking for one cost ~20 ns a request. */
    size_t rid_len = covet_alog_wants_rid(al) ? rid_from_list(args[4], rid) : 0;
    covet_alog_add(al, client, NULL, method, path, query, (int)minor, rid, rid_len, response, status, (int64_t)nbytes,
                   (int64_t)start, (int)route, (int64_t)received);
    Py_RETURN_NONE;
}

/* request_id(headers) -> str: the client's sane X-Request-ID, or a new generated id (for servers that echo it). */
static PyObject *AL_request_id(AccessLog *al, PyObject *headers) {
    char rid[ALOG_RID_MAX + 1];
    size_t len = rid_from_list(headers, rid);
    if (len == 0) {
        int n = snprintf(rid, sizeof rid, "%s-%012llx", al->prefix, (unsigned long long)++al->seq);
        len = n > 0 ? (size_t)n : 0;
    }
    return PyUnicode_FromStringAndSize(rid, (Py_ssize_t)len);
}

static PyObject *AL_begin(AccessLog *al, PyObject *unused) {
    (void)unused;
    covet_alog_begin(al);
    Py_RETURN_NONE;
}

/* Asked by a channel that records its response later, when it ends: in flight until then. */
static PyObject *AL_started(AccessLog *al, PyObject *unused) {
    (void)unused;
    if (al->metrics != NULL)
        covet_metrics_enter(al->metrics);
    return PyLong_FromLongLong(al->mark);
}

/* Takes every record so far out of ``al`` and formats them into ``o`` (each line starting with prefix[0..plen) and
 * ending in "\n"). Called with the GIL; runs ``then(o, arg)`` after formatting, still without it; returns with the
 * GIL again and the records released. */
static size_t drain_records(AccessLog *al, const char *prefix, size_t plen, struct out *o, unsigned long long *dropped,
                            void (*then)(struct out *, void *), void *arg) {
    struct rec *recs = al->recs;
    size_t n = al->n;
    *dropped = al->dropped;
    /* The next records get an array as large as this one was, so that a steady load does not grow one from
     * nothing, copying it at each doubling, between every two drains. */
    size_t cap = al->cap;
    al->recs = cap ? PyMem_Malloc(cap * sizeof *recs) : NULL;
    al->cap = al->recs != NULL ? cap : 0;
    al->n = 0;
    al->dropped = 0;
    al->asked = 0;
    /* PERF: room for the usual line at once (prefix, client, request line, status: ~100 bytes), rather than
     * doubling the buffer, and copying it, as it fills. */
    out_room(o, n * (120 + plen));
    struct clock_cache cc;
    cc.sec = -1;
    struct client_cache clients;
    clients.len = 0;
    /* The records own references to what they print, and str data never changes: formatting needs no GIL, so the
     * event loop's thread goes on serving meanwhile. */
    Py_BEGIN_ALLOW_THREADS clock_gettime(CLOCK_REALTIME, &cc.wall);
    cc.mono = covet_alog_now();
    for (size_t i = 0; i < n; i++) {
        if (al->json)
            format_json(o, al, &recs[i], prefix, plen, &cc, &clients);
        else
            format_line(o, &recs[i], prefix, plen, &clients);
    }
    if (then != NULL && !o->failed)
        then(o, arg);
    Py_END_ALLOW_THREADS recs_release(recs, n);
    return n;
}

/* drain(prefix) -> (text, lines, dropped): every record so far, formatted, each line ending in "\n" and starting
 * with ``prefix`` (ASCII). */
static PyObject *AL_drain(AccessLog *al, PyObject *prefix_obj) {
    Py_ssize_t plen;
    const char *prefix = PyUnicode_Check(prefix_obj) ? PyUnicode_AsUTF8AndSize(prefix_obj, &plen) : NULL;
    if (prefix == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "drain(prefix: str)");
        return NULL;
    }
    struct out o = {NULL, 0, 0, 0};
    unsigned long long dropped;
    size_t n = drain_records(al, prefix, (size_t)plen, &o, &dropped, NULL, NULL);
    if (o.failed) {
        free(o.p);
        return PyErr_NoMemory();
    }
    PyObject *text = PyUnicode_New((Py_ssize_t)o.n, 127);
    if (text != NULL && o.n)
        memcpy(PyUnicode_1BYTE_DATA(text), o.p, o.n);
    free(o.p);
    if (text == NULL)
        return NULL;
    return Py_BuildValue("(NnK)", text, (Py_ssize_t)n, dropped);
}

/* All of p[0..n) to fd, through short writes, EINTR and a non-blocking fd's EAGAIN; 0, or the errno that stopped
 * it. */
static int write_fully(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return errno;
        } else {
            return w < 0 ? errno : EIO;
        }
    }
    return 0;
}

struct fd_write {
    int fd;
    int err;
};

/* Whole lines, in writes of at most PIPE_BUF bytes unless fd is a regular file: the workers of a supervisor share
 * stderr, and the kernel keeps a write to a pipe (or a stream socket) in one piece only up to that size, so a larger
 * one could interleave with another worker's in the middle of a line. A line longer than that goes whole. */
static void write_lines(struct out *o, void *arg) {
    struct fd_write *fw = arg;
    struct stat st;
    if (fstat(fw->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        fw->err = write_fully(fw->fd, o->p, o->n);
        return;
    }
    const char *p = o->p, *end = o->p + o->n;
    while (p < end && fw->err == 0) {
        size_t left = (size_t)(end - p);
        size_t take = left;
        if (left > PIPE_BUF) {
            const char *cut = memrchr(p, '\n', PIPE_BUF);
            if (cut == NULL) {
                cut = memchr(p + PIPE_BUF, '\n', left - PIPE_BUF);
                take = cut != NULL ? (size_t)(cut + 1 - p) : left;
            } else {
                take = (size_t)(cut + 1 - p);
            }
        }
        fw->err = write_fully(fw->fd, p, take);
        p += take;
    }
}

/* drain_to(prefix, fd) -> (lines, dropped, errno): drain(prefix), written to fd while the event loop's thread keeps
 * the GIL, instead of a str for Python to write a pipe's buffer at a time (each write took the GIL back from the
 * event loop: hundreds of hand-overs a second at full load). errno is 0, or what stopped the writing. */
static PyObject *AL_drain_to(AccessLog *al, PyObject *const *args, Py_ssize_t nargs) {
    Py_ssize_t plen;
    const char *prefix = nargs == 2 && PyUnicode_Check(args[0]) ? PyUnicode_AsUTF8AndSize(args[0], &plen) : NULL;
    int fd = prefix != NULL ? PyObject_AsFileDescriptor(args[1]) : -1;
    if (prefix == NULL || fd < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "drain_to(prefix: str, fd: int)");
        return NULL;
    }
    struct out o = {NULL, 0, 0, 0};
    unsigned long long dropped;
    struct fd_write fw = {fd, 0};
    size_t n = drain_records(al, prefix, (size_t)plen, &o, &dropped, write_lines, &fw);
    free(o.p);
    if (o.failed)
        return PyErr_NoMemory();
    return Py_BuildValue("(nKi)", (Py_ssize_t)n, dropped, fw.err);
}

static PyObject *AL_pending(AccessLog *al, void *unused) {
    (void)unused;
    return PyLong_FromSize_t(al->n);
}

static PyObject *AL_echo(AccessLog *al, void *unused) {
    (void)unused;
    return PyBool_FromLong(al->echo);
}

static PyObject *AL_store(AccessLog *al, void *unused) {
    (void)unused;
    return PyBool_FromLong(al->store);
}

static PyObject *AL_get_route(AccessLog *al, void *unused) {
    (void)unused;
    return PyLong_FromLong(al->route);
}

static int AL_set_route(AccessLog *al, PyObject *value, void *unused) {
    (void)unused;
    long v = value != NULL ? PyLong_AsLong(value) : -1;
    if (v == -1 && PyErr_Occurred())
        return -1;
    al->route = (int)v;
    return 0;
}

static PyObject *AL_connections(AccessLog *al, PyObject *arg) {
    if (al->metrics != NULL) {
        long d = PyLong_AsLong(arg);
        if (d == -1 && PyErr_Occurred())
            return NULL;
        covet_metrics_conn(al->metrics, (int)d);
    }
    Py_RETURN_NONE;
}

static PyObject *AL_recorded(AccessLog *al, void *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(al->recorded);
}

static PyMethodDef AL_methods[] = {
    {"record", (PyCFunction)(void (*)(void))AL_record, METH_FASTCALL,
     "record(client, method, path, query, headers, minor, response, nbytes, start) -> None: one response; "
     "``response`` is its rendered bytes (``nbytes``: the body it carries at most, a hint; -1 for none), or its "
     "status (with ``nbytes`` of body sent); start 0: since begin(); "
     "``route`` the plan's route_id (-1: none), ``received`` the request body's bytes."},
    {"connections", (PyCFunction)AL_connections, METH_O,
     "connections(delta) -> None: connections opened (1) or closed (-1), for the metrics."},
    {"request_id", (PyCFunction)AL_request_id, METH_O,
     "request_id(headers) -> str: the client's sane X-Request-ID, or a new generated one."},
    {"begin", (PyCFunction)AL_begin, METH_NOARGS, "begin() -> None: the requests of the input read now start here."},
    {"started", (PyCFunction)AL_started, METH_NOARGS, "started() -> int: the monotonic ns of the last begin()."},
    {"drain", (PyCFunction)AL_drain, METH_O, "drain(prefix) -> (text, lines, dropped): the records so far, formatted."},
    {"drain_to", (PyCFunction)(void (*)(void))AL_drain_to, METH_FASTCALL,
     "drain_to(prefix, fd) -> (lines, dropped, errno): the records so far, formatted and written to fd in whole "
     "lines (at most PIPE_BUF bytes a write unless fd is a regular file); errno 0 when all were written."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef AL_getset[] = {
    {"pending", (getter)AL_pending, NULL, "records not drained yet", NULL},
    {"recorded", (getter)AL_recorded, NULL, "records ever made", NULL},
    {"echo", (getter)AL_echo, NULL, "responses carry the request id", NULL},
    {"store", (getter)AL_store, NULL, "records are kept for the log (False: counted in the metrics only)", NULL},
    {"route", (getter)AL_get_route, (setter)AL_set_route,
     "the route of the response the io_uring core records next (-1: none)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject covet_AccessLogType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._native.AccessLog",
    .tp_basicsize = sizeof(AccessLog),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "AccessLog(*, json=False, on_full=None, capacity=65536, echo=False): the access log's record buffer.",
    .tp_new = AL_new,
    .tp_dealloc = (destructor)AL_dealloc,
    .tp_traverse = (traverseproc)AL_traverse,
    .tp_clear = (inquiry)AL_clear,
    .tp_methods = AL_methods,
    .tp_getset = AL_getset,
};

int covet_alog_route(const AccessLog *al) {
    return al->route;
}

int covet_alog_wants_rid(const AccessLog *al) {
    return al->store && al->json;
}

void covet_alog_conn(AccessLog *al, int delta) {
    if (al->metrics != NULL)
        covet_metrics_conn(al->metrics, delta);
}

int covet_accesslog_ready(void) {
    for (int ch = 0x20; ch < 0x7f; ch++)
        plain_byte[ch] = ch != '"' && ch != '\\';
    return PyType_Ready(&covet_AccessLogType) < 0 ? -1 : covet_metrics_ready();
}
