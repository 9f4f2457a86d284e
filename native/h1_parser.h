/*
 * CovetPy HTTP/1.1 request parser: the pure C core.
 *
 * No Python here, and no I/O: the core only ever sees byte ranges handed to
 * it, so it can be fuzzed standalone (native/fuzz) and reused by any binding.
 * Untrusted input is never read past the length it was given with.
 *
 * Three layers, each usable on its own:
 *
 *   h1_parse_head()     one complete request head (request line + fields +
 *                       the empty line) -> h1_request, or an HTTP error.
 *   h1_chunked_*        incremental decoder for a chunked message body.
 *   h1_conn_*           a connection: buffering across feeds, finding the end
 *                       of each head, body framing, pipelining.  Pull API:
 *                       h1_conn_feed() hands over bytes, h1_conn_next() returns
 *                       one event at a time until H1_EV_NONE.
 *
 * Errors are reported as an HTTP status (400, 413, 414, 431, 501, 505; 500
 * only if memory runs out) plus a static English sentence; a connection
 * that reported an error is dead.
 *
 * Conformance target: RFC 9112 (message syntax) with the strict choices
 * documented at each check; nothing is "repaired" (no bare LF, no
 * obs-fold, no whitespace before the colon).
 */
#ifndef COVET_H1_PARSER_H
#define COVET_H1_PARSER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t max_target;        /* request-target bytes; more -> 414 */
    size_t max_header_bytes;  /* request line + fields + CRLF CRLF; more -> 431;
                                 also bounds a chunked trailer section */
    size_t max_headers;       /* field lines; more -> 431 */
    uint64_t max_body;        /* decoded body bytes; more -> 413 */
    uint64_t max_stream_body; /* above max_body: a body up to this many bytes
                                 is handed out in pieces (H1_EV_STREAM);
                                 0 or not above max_body: never */
} h1_limits;

/* Leading empty lines tolerated before a request line (RFC 9112 2.2). */
#define H1_MAX_EMPTY_LINES 8
/* Longest chunk-size line (size + extensions), CRLF excluded. */
#define H1_MAX_CHUNK_LINE 4096

enum h1_method {
    H1_M_OTHER = 0,
    H1_M_GET,
    H1_M_POST,
    H1_M_PUT,
    H1_M_PATCH,
    H1_M_DELETE,
    H1_M_HEAD,
    H1_M_OPTIONS,
    H1_M_CONNECT,
    H1_M_TRACE,
    H1_M__COUNT
};

/* Field names the parser recognises; a binding can map each to a
 * preallocated (interned) string instead of building a new one. */
enum h1_header_id {
    H1_H_OTHER = 0,
    H1_H_HOST,
    H1_H_USER_AGENT,
    H1_H_ACCEPT,
    H1_H_ACCEPT_ENCODING,
    H1_H_ACCEPT_LANGUAGE,
    H1_H_CONTENT_TYPE,
    H1_H_CONTENT_LENGTH,
    H1_H_CONNECTION,
    H1_H_TRANSFER_ENCODING,
    H1_H_EXPECT,
    H1_H_COOKIE,
    H1_H_AUTHORIZATION,
    H1_H_CACHE_CONTROL,
    H1_H_ORIGIN,
    H1_H_REFERER,
    H1_H_UPGRADE,
    H1_H_IF_NONE_MATCH,
    H1_H_IF_MODIFIED_SINCE,
    H1_H_X_FORWARDED_FOR,
    H1_H_X_FORWARDED_PROTO,
    H1_H_X_FORWARDED_HOST,
    H1_H_X_REAL_IP,
    H1_H_X_REQUEST_ID,
    H1_H_PRAGMA,
    H1_H_RANGE,
    H1_H_TE,
    H1_H_KEEP_ALIVE,
    H1_H_CONTENT_ENCODING,
    H1_H_IF_MATCH,
    H1_H_UPGRADE_INSECURE_REQUESTS,
    H1_H_SEC_FETCH_SITE,
    H1_H_SEC_FETCH_MODE,
    H1_H_SEC_FETCH_DEST,
    H1_H_SEC_FETCH_USER,
    H1_H_DNT,
    H1_H_DATE,
    H1_H_FORWARDED,
    H1_H_VIA,
    H1_H_ACCEPT_CHARSET,
    H1_H_SEC_WEBSOCKET_KEY,
    H1_H_SEC_WEBSOCKET_VERSION,
    H1_H_TRAILER,
    H1_H__COUNT
};

/* Canonical spellings: methods as sent, field names lower-cased.
 * Index 0 (OTHER) is "". */
extern const char *const h1_method_names[H1_M__COUNT];
extern const char *const h1_header_names[H1_H__COUNT];

/* Token characters (RFC 9110 5.6.2) mapped to their ASCII lower case;
 * 0 for every byte that is not a token character. */
extern const unsigned char h1_tchar_lc[256];

/* All pointers of a parsed head point into the buffer that was parsed,
 * but for a static "/" path (below) and an added Host field's name. */
typedef struct {
    const char *name;  /* as sent; token characters only */
    const char *value; /* leading and trailing SP/HTAB removed */
    size_t name_len;
    size_t value_len;
    uint8_t id;         /* enum h1_header_id */
    uint8_t value_8bit; /* value has bytes >= 0x80 (obs-text) */
} h1_header;

enum h1_body {
    H1_BODY_NONE = 0,
    H1_BODY_LENGTH,
    H1_BODY_CHUNKED
};

typedef struct {
    const char *method;
    const char *target; /* the whole request-target */
    const char *path;   /* may point to a static "/" for "http://host" */
    const char *query;  /* after the first '?'; query_len 0 if none */
    size_t method_len, target_len, path_len, query_len;
    /* The field lines in order.  The Host field (at most one) is the
     * request's host: with an absolute-form target its value is the
     * target's authority (RFC 9112 3.2.2), and an HTTP/1.0 request that
     * sent none gets one ("host", last), so up to max_headers + 1. */
    h1_header *headers;
    size_t num_headers;
    uint64_t content_length; /* H1_BODY_LENGTH only */
    uint8_t method_id;       /* enum h1_method */
    uint8_t minor;           /* 0 or 1: HTTP/1.<minor>; 1.2 .. 1.9 are 1 */
    uint8_t keep_alive;
    uint8_t expect_continue; /* "Expect: 100-continue" on HTTP/1.1 */
    uint8_t body;            /* enum h1_body */
    uint8_t preface;         /* the head is HTTP/2's connection preface (see H1_PREFACE_HEAD) */
} h1_request;

/* The first 18 bytes of HTTP/2's connection preface (RFC 9113 3.4): a complete
 * head to this parser.  As a connection's first head it is reported as a
 * request with no fields and ``preface`` set, which h1_asks_upgrade() says
 * switches protocols; anywhere else its version is a 505. */
#define H1_PREFACE_HEAD "PRI * HTTP/2.0\r\n\r\n"

/*
 * Parses one complete head: buf[0..len) must be exactly the request line,
 * the field lines and the final empty line (the last four bytes CRLF CRLF).
 * hdrs has room for hdr_cap fields; more than lim->max_headers fields is a
 * 431, more than hdr_cap (when hdr_cap < max_headers) a 500.  An HTTP/1.0
 * absolute-form request without Host needs one slot more than its fields.
 * Returns 0, or an HTTP status with *msg set to a static sentence.
 * No allocation; on success req points into buf and hdrs.
 */
int h1_parse_head(const char *buf, size_t len, const h1_limits *lim, h1_request *req, h1_header *hdrs, size_t hdr_cap,
                  const char **msg);

/*
 * Whether a parsed request asks to switch protocols (RFC 9110 7.8): a GET without a body that carries an Upgrade
 * field, as a WebSocket (RFC 6455 4.1) or h2c upgrade does. What follows it on the connection may not be HTTP/1.1,
 * so a binding stops parsing there until it knows whether the switch is taken.
 */
int h1_asks_upgrade(const h1_request *r);

/* ---------------------------------------------------------------- chunked */

typedef struct {
    uint64_t size;  /* chunk bytes still to come (or being parsed) */
    uint64_t total; /* sum of the chunk sizes seen so far */
    uint64_t max_body;
    size_t line;    /* bytes of the current chunk-size line */
    size_t trailer; /* bytes of the trailer section so far */
    size_t max_trailer;
    const char *msg; /* error sentence once state is the error state */
    int status;      /* error status */
    uint8_t state;
    uint8_t ndigits;
} h1_chunked;

enum {
    H1_CHUNK_MORE = 0, /* all input consumed, body not finished */
    H1_CHUNK_DATA = 1, /* *data, *data_len: body bytes, inside `in` */
    H1_CHUNK_DONE = 2, /* body and trailer section finished */
    H1_CHUNK_ERROR = 3 /* d->status / d->msg tell why; sticky */
};

void h1_chunked_init(h1_chunked *d, uint64_t max_body, size_t max_trailer);

/*
 * Decodes from in[0..len).  *consumed is always set (bytes used, including
 * any data returned).  Call again with the rest of the input after
 * H1_CHUNK_DATA.  Chunk extensions and trailer fields are validated and
 * dropped.
 */
int h1_chunked_decode(h1_chunked *d, const char *in, size_t len, size_t *consumed, const char **data, size_t *data_len);

/* ------------------------------------------------------------- connection */

enum h1_event_kind {
    H1_EV_NONE = 0,     /* input used up; the tail (if any) was copied */
    H1_EV_HEAD = 1,     /* ev->req: a head; its body (maybe empty) follows */
    H1_EV_CONTINUE = 2, /* the client waits for "100 Continue" */
    H1_EV_MESSAGE = 3,  /* ev->body/body_len: the body of the last head */
    H1_EV_ERROR = 4,    /* ev->status/message; the connection is now dead */
    H1_EV_STREAM = 5,   /* the body of the last head is larger than max_body:
                           it comes in DATA events, ended by a MESSAGE with
                           no bytes */
    H1_EV_DATA = 6      /* ev->body/body_len: the next piece of that body */
};

typedef struct {
    int kind;
    const h1_request *req;
    const char *body;
    size_t body_len;
    int status;
    const char *message;
} h1_event;

enum h1_conn_state {
    H1_STATE_IDLE = 0, /* nothing buffered */
    H1_STATE_HEAD = 1, /* part of a head buffered */
    H1_STATE_BODY = 2, /* head done, body incomplete */
    H1_STATE_DEAD = 3  /* an error was reported */
};

/* Opaque in spirit: the fields are public only so that the struct can be
 * embedded without an extra allocation. */
typedef struct {
    h1_limits lim;
    int phase;

    /* current feed; referenced only until h1_conn_next() returns NONE */
    const char *in;
    size_t in_len, in_pos;

    /* the start of a head that did not fit in one feed */
    char *hbuf;
    size_t hlen, hcap;

    /* end-of-head search state, carried across feeds */
    size_t sc_line;    /* bytes in the current (unterminated) line */
    size_t sc_lines;   /* non-empty lines completed */
    unsigned sc_empty; /* leading empty lines skipped */
    unsigned char sc_last;

    /* request-line pre-check on partial heads (for an early 414) */
    uint8_t rl_state;
    size_t rl_method, rl_target;

    h1_request req;
    h1_header *hdrs;
    size_t hdr_cap;

    char *bbuf;
    size_t blen, bcap;
    uint64_t body_left;
    h1_chunked ck;

    /* streamed body: announced yet, and a piece held back meanwhile */
    uint8_t streaming;
    uint8_t announce;
    const char *held;
    size_t held_len;

    uint8_t want_continue;
    uint8_t release_head; /* hbuf holds the head just reported */
    uint8_t release_body; /* bbuf holds the body just reported */
    uint8_t started;      /* a head was reported: an HTTP/2 preface is no longer one */
} h1_conn;

/* Returns 0; the limits are copied. */
int h1_conn_init(h1_conn *c, const h1_limits *lim);
void h1_conn_free(h1_conn *c);
/* Back to a fresh connection with the same limits; keeps small buffers. */
void h1_conn_reset(h1_conn *c);
/* Marks the connection dead (e.g. the binding failed mid-feed) and forgets
 * the current input. */
void h1_conn_abort(h1_conn *c);

/*
 * Hands over data[0..len), which must stay valid and unchanged until
 * h1_conn_next() returns H1_EV_NONE.  Returns -1 if the previous input was
 * not drained yet (the call is then ignored), else 0.  Ignored when dead.
 */
int h1_conn_feed(h1_conn *c, const char *data, size_t len);

/*
 * Produces the next event.  Pointers in *ev stay valid until the next call
 * on the connection.  Each head is followed by exactly one MESSAGE (or by an
 * ERROR); CONTINUE, at most once per request, comes between them.  A body
 * over max_body (and not over max_stream_body) is announced by STREAM,
 * once, then handed out in DATA events, and its MESSAGE carries no bytes.
 * A Content-Length body is announced right after its head; a chunked one
 * as soon as its chunk sizes add up past max_body.
 */
int h1_conn_next(h1_conn *c, h1_event *ev);

/*
 * Right after H1_EV_MESSAGE: hands back the part of the current feed not yet
 * parsed, and forgets it, so a binding can hold that input while it holds
 * the connection back (a handler is still running).  The parser is then
 * between requests.  Returns its length; *rest points into the last feed.

 */
size_t h1_conn_detach(h1_conn *c, const char **rest);

int h1_conn_state(const h1_conn *c);
/* Bytes held in the connection's own buffers. */
size_t h1_conn_buffered(const h1_conn *c);

#ifdef __cplusplus
}
#endif

#endif
