/*
 * CovetPy WebSocket (RFC 6455) frames: the pure C core, server side.
 *
 * No Python here, and no I/O: like h1_parser.h, the core only sees byte ranges handed to it, so it can be fuzzed
 * standalone (native/fuzz/fuzz_ws.c) and reused by any binding.  It parses the frames a client sends and builds
 * the headers of the frames a server sends.
 *
 * Three parts, each usable on its own:
 *
 *   ws_utf8_*        an incremental UTF-8 validator (a DFA): text messages, close reasons, and the text of a
 *                    compressed message once the binding has inflated it.
 *   ws_parser_*      a connection's incoming frames.  Pull API: ws_parser_feed() hands over bytes,
 *                    ws_parser_next() returns one event at a time until WS_EV_NONE.
 *   ws_frame_header  the header of an (unmasked) server-to-client frame.
 *
 * The parser's rules, each checked as soon as the byte that breaks it arrives (so the events never depend on how
 * the input is split into feeds, and a violation is reported before the rest of a frame is waited for):
 *
 *   1. Every frame from a client is masked (RFC 6455 5.1, 5.3).                                      -> 1002
 *   2. RSV2 and RSV3 are 0; RSV1 is 0 unless rsv1_allowed (an extension such as permessage-deflate was
 *      negotiated), and then only on the first frame of a data message, never on a continuation or
 *      control frame (RFC 7692 6).                                                                    -> 1002
 *   3. The opcode is one of 0 (continuation), 1 (text), 2 (binary), 8 (close), 9 (ping), 10 (pong).  -> 1002
 *   4. A control frame has FIN set and at most 125 payload bytes (5.5).                               -> 1002
 *   5. A continuation frame continues a message; a text or binary frame does not start while another
 *      message is unfinished (5.4).  Control frames may come between the fragments of a message and are
 *      delivered at once.                                                                             -> 1002
 *   6. A length uses the fewest bytes that hold it, and a 64-bit length has its top bit clear (5.2).  -> 1002
 *   7. A frame's payload is at most max_frame bytes, a message's at most max_message: checked from the
 *      frame's header, before its payload is read (and before anything is allocated for it).          -> 1009
 *   8. An uncompressed text message is UTF-8 (8.1), checked as its bytes arrive: an invalid sequence is
 *      reported at its first byte that cannot continue it, even in the middle of a fragment; a character
 *      split across fragments is fine; a message that ends inside a character is invalid.            -> 1007
 *   9. A close frame's payload is empty (reported as code 1005, "no status") or a code a peer may send
 *      (ws_close_code_valid) followed by a UTF-8 reason (5.5.1, 7.4).          1 byte, bad code -> 1002;
 *                                                                               bad reason      -> 1007
 *
 * A violation is reported once, as WS_EV_ERROR with the close code to send and a static English sentence; the
 * parser is dead from then on and ignores all input.  A close frame ends the stream too: what a client sends after
 * its close frame is ignored (it must not send anything, RFC 6455 5.5.1).  Out of memory is an error 1011.
 *
 * Memory: the parser allocates nothing but the buffer of the message being assembled, which never grows past
 * max_message (nor past the lengths announced so far); it keeps no pointer into the caller's input once
 * ws_parser_next() returned WS_EV_NONE (a partial header is copied into the struct, payload bytes are unmasked
 * straight into the message buffer or, for a control frame, into the struct).
 */
#ifndef COVET_WS_FRAME_H
#define COVET_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opcodes (RFC 6455 5.2). */
enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/* The close codes the parser reports its errors with (RFC 6455 7.4.1). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: what an empty close payload is reported as */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL_ERROR = 1011
};

/* The most payload a control frame may carry (RFC 6455 5.5). */
#define WS_MAX_CONTROL 125
/* The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask. */
#define WS_MAX_HEADER 14

/* ------------------------------------------------------------------ UTF-8 */

/* Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).  The input
 * may be split anywhere, also inside a character. */
typedef struct {
    uint8_t state; /* 0: between characters; WS_UTF8_REJECT: invalid (sticky); else inside a character */
} ws_utf8;

#define WS_UTF8_REJECT 1

void ws_utf8_init(ws_utf8 *u);
/* Takes in p[0..n); 0 while the text so far can still be valid, -1 once it cannot (sticky). */
int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n);
/* 0 when everything fed is valid UTF-8 and ends between characters, else -1. */
int ws_utf8_done(const ws_utf8 *u);
/* All of p[0..n) at once: 1 if valid UTF-8, else 0. */
int ws_utf8_valid(const uint8_t *p, size_t n);

/* 1 if a peer may send `code` in a close frame: 1000-1003, 1007-1014 and 3000-4999.  Never 1004 (reserved),
 * 1005, 1006 or 1015 (RFC 6455 7.4.1: for reporting only, never sent), nor anything unassigned.  1012-1014 are
 * registered with IANA (service restart, try again later, bad gateway); Autobahn|Testsuite counts 1012 and 1013
 * valid and tests 1014 neither way. */
int ws_close_code_valid(unsigned code);

/* ----------------------------------------------------------------- parser */

typedef struct {
    uint64_t max_frame;   /* payload bytes of one frame (control frames: also at most 125) */
    uint64_t max_message; /* payload bytes of one message, all its fragments together */
} ws_limits;

enum ws_event_kind {
    WS_EV_NONE = 0,   /* input used up */
    WS_EV_TEXT = 1,   /* ev->data/len: a whole text message; UTF-8 unless ev->compressed */
    WS_EV_BINARY = 2, /* ev->data/len: a whole binary message */
    WS_EV_PING = 3,   /* ev->data/len: the payload, to be echoed in a pong */
    WS_EV_PONG = 4,   /* ev->data/len: the payload */
    WS_EV_CLOSE = 5,  /* ev->code, ev->data/len: the reason (UTF-8); 1005 and "" for an empty payload.  Input
                         after it is ignored. */
    WS_EV_ERROR = 6   /* ev->code: the close code to send, ev->message; the parser is dead */
};

typedef struct {
    int kind;
    const uint8_t *data; /* never NULL; valid until the next call on the parser */
    size_t len;
    int code;            /* CLOSE: the peer's code; ERROR: the code to answer with */
    const char *message; /* ERROR: a static sentence; else NULL */
    int compressed;      /* TEXT, BINARY: the first frame had RSV1 (only when rsv1_allowed); the payload is as sent */
} ws_event;

enum ws_parser_state {
    WS_STATE_OPEN = 0,   /* reading frames */
    WS_STATE_CLOSED = 1, /* a close frame was reported; input is ignored */
    WS_STATE_DEAD = 2    /* an error was reported; input is ignored */
};

/* Opaque in spirit: the fields are public only so that the struct can be embedded without an extra allocation. */
typedef struct {
    ws_limits lim;
    uint8_t rsv1_allowed; /* RSV1 marks a compressed message (permessage-deflate); default 0 */
    uint8_t state;        /* enum ws_parser_state */

    /* current feed; referenced only until ws_parser_next() returns WS_EV_NONE */
    const uint8_t *in;
    size_t in_len, in_pos;

    /* the header of the current frame: hdr[0..hlen) of hneed bytes */
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t hlen, hneed;

    /* the current frame, once its header is complete */
    uint8_t in_payload; /* 1: reading its payload */
    uint8_t opcode, fin;
    uint8_t mask[4];
    uint64_t frame_len; /* its payload length */
    uint64_t left;      /* payload bytes still to come; (frame_len - left) % 4 is the mask phase */

    /* the data message in progress (msg_op 0: none) */
    uint8_t msg_op;         /* WS_OP_TEXT or WS_OP_BINARY */
    uint8_t msg_compressed; /* its first frame had RSV1 */
    uint8_t msg_check_utf8; /* text, not compressed */
    uint8_t release;        /* buf holds the message just reported */
    uint64_t msg_announced; /* payload bytes its frames' headers announced so far (at most max_message) */
    uint8_t *buf;
    size_t blen, bcap;
    ws_utf8 utf8;

    /* the payload of the current control frame */
    uint8_t ctl[WS_MAX_CONTROL];
    uint8_t clen;
} ws_parser;

/* Returns 0; the limits are copied.  rsv1_allowed starts at 0: set it after init. */
int ws_parser_init(ws_parser *p, const ws_limits *lim);
void ws_parser_free(ws_parser *p);
/* Marks the parser dead (e.g. the binding failed mid-feed) and forgets the current input. */
void ws_parser_abort(ws_parser *p);

/*
 * Hands over data[0..len), which must stay valid and unchanged until ws_parser_next() returns WS_EV_NONE.
 * Returns -1 if the previous input was not drained yet (the call is then ignored), else 0.  Input to a closed or
 * dead parser is ignored.
 */
int ws_parser_feed(ws_parser *p, const uint8_t *data, size_t len);

/* Produces the next event into *ev; its pointers stay valid until the next call on the parser.  After WS_EV_ERROR
 * or WS_EV_CLOSE, only WS_EV_NONE. */
int ws_parser_next(ws_parser *p, ws_event *ev);

/* ---------------------------------------------------------------- builder */

/* Writes the header of a server-to-client frame (no mask) of `len` payload bytes (len < 2^63) into out and
 * returns its length: 2 (len <= 125), 4 (len <= 65535) or 10.  fin and rsv1 are taken as booleans; opcode is
 * not checked. */
size_t ws_frame_header(uint8_t out[10], int opcode, int fin, int rsv1, uint64_t len);

#ifdef __cplusplus
}
#endif

#endif
