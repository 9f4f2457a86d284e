/*
 * One server-side HTTP/2 connection on nghttp2, sans-IO: bytes in, events out, responses queued per stream.
 *
 * The native twin of covet/runtime/h2_core.py, with the same events and the same rules (its docstrings hold them):
 * request bodies held whole up to max_body and streamed past it, with flow-control credit given back as the
 * application consumes them; responses held per stream while the peer's windows are shut; and a guard that reads
 * every frame header before nghttp2 does and ends a connection that abuses the protocol (rapid reset, CONTINUATION
 * and control-frame floods, empty frames, HPACK bombs).  nghttp2 does the framing, HPACK and the protocol's rules.
 *
 * Pure C, no Python: covet._h2native wraps it (h2_binding.c) and native/fuzz/fuzz_h2.c fuzzes it.
 * Ownership: the server owns its nghttp2 session, every stream and every buffer; an event's pointers are lent
 * for the emit call only.
 */
#ifndef COVET_H2_SERVER_H
#define COVET_H2_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

/* Event kinds: h2_core.H2_REQUEST... (the Python side's constants, tested equal in tests/test_h2_core.py). */
enum h2_event_kind {
    H2_EV_REQUEST = 0,
    H2_EV_STREAM = 3,
    H2_EV_DATA = 4,
    H2_EV_END = 5,
    H2_EV_RESET = 7,
    H2_EV_WINDOW = 8,
    H2_EV_GOAWAY = 9
};

enum {
    H2_NO_ERROR = 0x0,
    H2_PROTOCOL_ERROR = 0x1,
    H2_INTERNAL_ERROR = 0x2,
    H2_STREAM_CLOSED = 0x5,
    H2_FRAME_SIZE_ERROR = 0x6,
    H2_REFUSED_STREAM = 0x7,
    H2_CANCEL = 0x8,
    H2_COMPRESSION_ERROR = 0x9,
    H2_ENHANCE_YOUR_CALM = 0xb
};

/* h2_core.H2Limits, field for field. */
typedef struct h2_limits {
    uint32_t max_concurrent_streams;
    uint32_t max_header_bytes;
    uint64_t max_body;
    uint64_t max_held;
    uint32_t window;
    uint32_t max_frame_size;
    uint32_t resets_burst, resets_rate;
    uint32_t control_burst, control_rate;
    uint32_t empty_burst, empty_rate;
} h2_limits;

void h2_limits_default(h2_limits *lim);

typedef struct h2_buf {
    uint8_t *p;
    size_t len; /* bytes held, from p */
    size_t off; /* of which the first off are taken */
    size_t cap;
} h2_buf;

/* A request field: offsets into its stream's head buffer. */
typedef struct h2_field {
    uint32_t name, name_len, value, value_len;
} h2_field;

typedef struct h2_stream h2_stream;

/* What a request stream keeps (see h2_core._Stream). */
struct h2_stream {
    int32_t sid;
    h2_stream *prev, *next;   /* the server's open streams (those h2_core keeps in ``streams``) */
    h2_stream *aprev, *anext; /* every stream the server allocated, until nghttp2 closes it */
    h2_buf head;              /* the request's names and values, pseudo-headers' too */
    h2_field *fields;         /* its fields, pseudo-headers excepted, host first when :authority stood for it */
    uint32_t nfields, fields_cap;
    h2_field method, path, authority; /* name_len 0: absent */
    uint32_t query_at;                /* where the query starts in path's value (after '?'), value_len+1: none */
    uint32_t decoded;                 /* the header list's size as RFC 9113 counts it */
    int64_t declared;                 /* content-length, -1: none */
    h2_buf body;                      /* held whole, up to max_body */
    h2_buf out;                       /* response bytes held for the peer's windows */
    h2_buf trail;                     /* trailer fields, each: name and value lengths (uint32), name, value */
    uint32_t ntrail;
    double progress, heard;
    uint8_t open;       /* in the open list */
    uint8_t is_request; /* a request head arrived (not trailers alone) */
    uint8_t has_host;
    uint8_t streaming; /* past max_body: pieces go out as H2_EV_DATA */
    uint8_t headed;    /* the response head was submitted */
    uint8_t providing; /* the response has a data provider */
    uint8_t end_after; /* the response ends once ``out`` is sent */
    uint8_t trailed;   /* ...with trailers */
    uint8_t ended;     /* the request's body is complete */
    uint8_t reported;  /* its head went out as an event */
    uint8_t waited;    /* held output was reported: H2_EV_WINDOW once it is all sent */
};

/* One event.  REQUEST and STREAM: ``stream`` has the head; REQUEST: data/len is the body; DATA: the piece;
 * RESET: code; GOAWAY: code, and data/len says why. */
typedef struct h2_event {
    int kind;
    int32_t sid;
    uint32_t code;
    const h2_stream *stream;
    const uint8_t *data;
    size_t len;
} h2_event;

/* Called for each event as it happens; nonzero stops the server (out of memory: the connection ends). */
typedef int (*h2_emit_fn)(void *ctx, const h2_event *ev);

typedef struct h2_bucket {
    double tokens, burst, rate, at;
} h2_bucket;

/* The frame guard's state: see h2_core._Guard, which it mirrors. */
typedef struct h2_guard {
    uint8_t head[9];
    uint32_t head_len;
    uint64_t skip; /* bytes still to pass (the preface, then payloads) */
    int64_t block; /* bytes of the header block being received, -1: none open */
    int kind;      /* the frame whose payload is read as it comes (SETTINGS, WINDOW_UPDATE), -1: none */
    uint32_t want; /* its payload bytes still to read */
    uint32_t pos;  /* bytes of it read */
    uint32_t acc;  /* a SETTINGS identifier, an increment or a PRIORITY's dependency being read */
    int32_t sid;   /* the stream of the frame being read */
    uint16_t unknown[17];
    uint32_t nunknown;
    h2_bucket resets, control, empty;
    /* DATA bytes sent and not yet given back, by the connection's window and by streams' (all streams together): a
     * tiny WINDOW_UPDATE that gives back no more is a client acknowledging what it read, not a flood. */
    uint64_t owed_conn, owed_streams;
} h2_guard;

/* Credit given back before a body streamed (h2_core's ``ahead``). */
typedef struct h2_ahead {
    int32_t sid;
    uint64_t n;
} h2_ahead;

typedef struct h2_server {
    nghttp2_session *session;
    h2_limits lim;
    h2_guard guard;
    h2_emit_fn emit;
    void *ctx;
    h2_buf wire;     /* frames serialized and not yet taken by h2_take */
    h2_stream *open; /* the open streams, newest first */
    h2_stream *all;  /* every stream allocated */
    h2_ahead *ahead;
    uint32_t nahead, ahead_cap;
    uint32_t nopen;
    uint64_t held_bodies; /* bytes of bodies held whole, all streams */
    double now;
    int64_t last_sid;   /* after a graceful GOAWAY: the last stream taken, -1: none */
    int32_t highest;    /* the highest stream id of a client's HEADERS */
    int32_t resets[64]; /* the streams we sent RST_STREAM on lately (a ring) */
    uint32_t nresets;
    int32_t closed_sids[64]; /* the streams that ended both ways lately (a ring) */
    uint32_t nclosed;
    int closed;
    int emit_failed;
    int failing; /* a callback ended the connection: fail_code and fail_why say how */
    uint32_t fail_code;
    const char *fail_why;
    int own_goaway;  /* a GOAWAY of ours was submitted */
    int peer_goaway; /* the client's GOAWAY ended the connection */
    uint32_t peer_code;
    int lib_goaway; /* nghttp2 sent a GOAWAY for an error of the client's */
    uint32_t lib_code;
    char lib_why[128];
} h2_server;

/* A server for a connection; settings: an h2c upgrade's decoded HTTP2-Settings payload (NULL: prior knowledge or
 * ALPN), head_request: that request is a HEAD.  0; -1 for no memory; -2 when the settings are not valid. */
int h2_server_init(h2_server *s, const h2_limits *lim, h2_emit_fn emit, void *ctx, const uint8_t *settings,
                   size_t settings_len, int head_request);
void h2_server_free(h2_server *s);

/* Feed bytes from the peer at ``now`` (seconds); events go to emit.  0, or -1 when an emit failed. */
int h2_feed(h2_server *s, const uint8_t *data, size_t len, double now);

/* Stream 1 after an h2c upgrade: the request's head (method, path with its query, fields) is stored on it. */
h2_stream *h2_upgraded_stream(h2_server *s);
int h2_stream_set_head(h2_stream *st, const char *method, size_t method_len, const char *path, size_t path_len);
int h2_stream_add_field(h2_stream *st, const char *name, size_t name_len, const char *value, size_t value_len);

/* The bytes to send, serialized into s->wire (the caller takes them and calls h2_wire_taken).  0, or -1 (the
 * connection is over: nothing more will be serialized). */
int h2_pump(h2_server *s);
void h2_wire_taken(h2_server *s);

h2_stream *h2_find(h2_server *s, int32_t sid);

/* A response head: nva's :status first (the binding builds and checks it); body (copied) and end as h2_core's
 * respond.  1 sent; 0 the stream is gone; -1 no memory. */
int h2_respond(h2_server *s, int32_t sid, const nghttp2_nv *nva, size_t nvlen, const uint8_t *body, size_t len,
               int end);
/* Body data after h2_respond(end=0): bytes still held for the peer's windows; -1 the stream is gone; -2 before
 * h2_respond; -3 no memory. */
int64_t h2_send(h2_server *s, int32_t sid, const uint8_t *data, size_t len, int end);
/* Ends a response begun with h2_respond(end=0) with trailer fields (copied), after what was sent: 1; 0 the stream
 * is gone; -2 before h2_respond; -1 no memory. */
int h2_trailers(h2_server *s, int32_t sid, const nghttp2_nv *nva, size_t nvlen);
void h2_consume(h2_server *s, int32_t sid, uint64_t n);
void h2_reset(h2_server *s, int32_t sid, uint32_t code);
void h2_shutdown(h2_server *s);
int h2_finished(h2_server *s);
int64_t h2_held(h2_server *s, int32_t sid);
uint64_t h2_held_out(h2_server *s);

/* The bytes of a field of a stream's head. */
static inline const char *h2_at(const h2_stream *st, uint32_t off) {
    return (const char *)st->head.p + off;
}

#endif
