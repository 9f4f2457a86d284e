/*
 * The WebSocket frame core: see ws_frame.h for the rules it enforces and the API.
 *
 * The parser is a loop over two phases: a frame's header, read byte by byte into p->hdr (at most 14 bytes, each
 * checked the moment it arrives), and its payload, unmasked in bulk from the input straight to where it is kept.
 * Nothing is decided at a feed boundary, so any split of the input gives the same events.
 */
#include "ws_frame.h"

#include <stdlib.h>
#include <string.h>

/* A message buffer larger than this is freed once its message was reported, so that an idle connection does not
 * keep its largest message's worth of memory: 10,000 idle connections that each once took a 60 KB message would
 * otherwise hold 600 MB. Reallocating for each larger message costs little beside reading it. */
#define WS_KEEP_BUFFER 4096
/* The first allocation of a message buffer. */
#define WS_MIN_BUFFER 256

/* Where an empty payload points: events never carry NULL. */
static const uint8_t ws_empty[1] = {0};

/* ------------------------------------------------------------------ UTF-8 */

/*
 * A DFA over byte classes.  States: 0 between characters, 1 rejected, 2/3/4 expecting that many more
 * continuation bytes (80..BF), and four states for the second byte whose range is narrowed: after E0 (A0..BF, no
 * overlong 3-byte forms), ED (80..9F, no surrogates), F0 (90..BF, no overlong 4-byte forms), F4 (80..8F, nothing
 * above U+10FFFF).
 */
enum {
    U8_ACCEPT = 0,
    U8_REJECT = WS_UTF8_REJECT,
    U8_NEED1 = 2,
    U8_NEED2 = 3,
    U8_NEED3 = 4,
    U8_AFTER_E0 = 5,
    U8_AFTER_ED = 6,
    U8_AFTER_F0 = 7,
    U8_AFTER_F4 = 8
};

/* Byte classes: 0 ASCII, 1 80..8F, 2 90..9F, 3 A0..BF, 4 never valid (C0, C1, F5..FF), 5 C2..DF, 6 E0,
 * 7 E1..EC and EE..EF, 8 ED, 9 F0, 10 F1..F3, 11 F4. */
static const uint8_t utf8_class[256] = {
    /* 00..7F */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
    /* 80..8F, 90..9F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
    /* A0..BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* */
    /* C0..C1, C2..DF */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* */
    /* E0, E1..EC, ED, EE..EF, F0, F1..F3, F4, F5..FF */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, 9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* */
};

static const uint8_t utf8_next[9][12] = {
    /*              ASCII 80-8F 90-9F A0-BF bad C2-DF E0 E1-EF ED F0 F1-F3 F4 */
    [U8_ACCEPT] = {U8_ACCEPT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_NEED1, U8_AFTER_E0, U8_NEED2, U8_AFTER_ED,
                   U8_AFTER_F0, U8_NEED3, U8_AFTER_F4},
    [U8_REJECT] = {U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                   U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_NEED1] = {U8_REJECT, U8_ACCEPT, U8_ACCEPT, U8_ACCEPT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                  U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_NEED2] = {U8_REJECT, U8_NEED1, U8_NEED1, U8_NEED1, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                  U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_NEED3] = {U8_REJECT, U8_NEED2, U8_NEED2, U8_NEED2, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                  U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_AFTER_E0] = {U8_REJECT, U8_REJECT, U8_REJECT, U8_NEED1, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                     U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_AFTER_ED] = {U8_REJECT, U8_NEED1, U8_NEED1, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                     U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_AFTER_F0] = {U8_REJECT, U8_REJECT, U8_NEED2, U8_NEED2, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                     U8_REJECT, U8_REJECT, U8_REJECT},
    [U8_AFTER_F4] = {U8_REJECT, U8_NEED2, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT, U8_REJECT,
                     U8_REJECT, U8_REJECT, U8_REJECT},
};

void ws_utf8_init(ws_utf8 *u) {
    u->state = U8_ACCEPT;
}

int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n) {
    uint8_t s = u->state;
    size_t i = 0;
    if (s == U8_REJECT)
        return -1;
    while (i < n) {
        if (s == U8_ACCEPT) {
            /* PERF: runs of ASCII 8 bytes at a time (memcpy: no alignment assumed) */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080u)
                    break;
                i += 8;
            }
            if (i == n)
                break;
        }
        s = utf8_next[s][utf8_class[p[i]]];
        i++;
        if (s == U8_REJECT) {
            u->state = s;
            return -1;
        }
    }
    u->state = s;
    return 0;
}

int ws_utf8_done(const ws_utf8 *u) {
    return u->state == U8_ACCEPT ? 0 : -1;
}

int ws_utf8_valid(const uint8_t *p, size_t n) {
    ws_utf8 u;
    ws_utf8_init(&u);
    return ws_utf8_feed(&u, p, n) == 0 && ws_utf8_done(&u) == 0;
}

int ws_close_code_valid(unsigned code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* ----------------------------------------------------------------- parser */

int ws_parser_init(ws_parser *p, const ws_limits *lim) {
    memset(p, 0, sizeof *p);
    p->lim = *lim;
    p->hneed = 2;
    ws_utf8_init(&p->utf8);
    return 0;
}

void ws_parser_free(ws_parser *p) {
    free(p->buf);
    p->buf = NULL;
    p->blen = p->bcap = 0;
}

static void forget_input(ws_parser *p) {
    p->in = NULL;
    p->in_len = p->in_pos = 0;
}

void ws_parser_abort(ws_parser *p) {
    p->state = WS_STATE_DEAD;
    forget_input(p);
}

int ws_parser_feed(ws_parser *p, const uint8_t *data, size_t len) {
    if (p->in_pos < p->in_len)
        return -1;
    if (p->state != WS_STATE_OPEN)
        return 0;
    p->in = data;
    p->in_len = len;
    p->in_pos = 0;
    return 0;
}

static int fail(ws_parser *p, ws_event *ev, int code, const char *message) {
    p->state = WS_STATE_DEAD;
    forget_input(p);
    ev->kind = WS_EV_ERROR;
    ev->code = code;
    ev->message = message;
    return WS_EV_ERROR;
}

static int is_control(unsigned opcode) {
    return (opcode & 0x8) != 0;
}

/* The first header byte: FIN, RSV1-3, opcode.  Returns an error sentence (1002), or NULL.  A text or binary frame
 * starts its message here. */
static const char *check_first(ws_parser *p, uint8_t b) {
    unsigned op = b & 0x0f;
    int rsv1 = (b & 0x40) != 0;
    p->fin = (uint8_t)(b >> 7);
    p->opcode = (uint8_t)op;
    if (b & 0x30)
        return "Reserved bit RSV2 or RSV3 is set";
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE && op != WS_OP_PING &&
        op != WS_OP_PONG)
        return "Reserved opcode";
    if (rsv1 && !p->rsv1_allowed)
        return "Reserved bit RSV1 is set but no extension was negotiated";
    if (is_control(op)) {
        if (rsv1)
            return "RSV1 is set on a control frame";
        if (!p->fin)
            return "Fragmented control frame";
        return NULL;
    }
    if (op == WS_OP_CONT) {
        if (!p->msg_op)
            return "Continuation frame without a message to continue";
        if (rsv1)
            return "RSV1 is set on a continuation frame";
        return NULL;
    }
    if (p->msg_op)
        return "New data frame while a fragmented message is unfinished";
    p->msg_op = (uint8_t)op;
    p->msg_compressed = (uint8_t)rsv1;
    p->msg_check_utf8 = (uint8_t)(op == WS_OP_TEXT && !rsv1);
    p->msg_announced = 0;
    ws_utf8_init(&p->utf8);
    return NULL;
}

/* The frame's payload length is known: the limits.  Returns the close code of a violation, or 0. */
static int check_length(ws_parser *p, const char **msg) {
    uint64_t len = p->frame_len;
    if (len > p->lim.max_frame) {
        *msg = "Frame payload over the size limit";
        return WS_CLOSE_TOO_BIG;
    }
    if (!is_control(p->opcode)) {
        /* (SIZE_MAX: the whole message must fit in the buffer; a bound only where size_t is narrower) */
        uint64_t room = p->lim.max_message < (uint64_t)SIZE_MAX ? p->lim.max_message : (uint64_t)SIZE_MAX;
        if (len > room - p->msg_announced) {
            *msg = "Message over the size limit";
            return WS_CLOSE_TOO_BIG;
        }
        p->msg_announced += len;
    }
    return 0;
}

/* Takes header byte number p->hlen (just stored).  Returns the close code of a violation (with *msg), or 0. */
static int header_byte(ws_parser *p, uint8_t b, const char **msg) {
    if (p->hlen == 1) {
        *msg = check_first(p, b);
        return *msg ? WS_CLOSE_PROTOCOL_ERROR : 0;
    }
    if (p->hlen == 2) {
        unsigned len7 = b & 0x7f;
        unsigned ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        if (!(b & 0x80)) {
            *msg = "Client frame is not masked";
            return WS_CLOSE_PROTOCOL_ERROR;
        }
        if (is_control(p->opcode) && len7 > WS_MAX_CONTROL) {
            *msg = "Control frame payload over 125 bytes";
            return WS_CLOSE_PROTOCOL_ERROR;
        }
        p->hneed = (uint8_t)(2 + ext + 4);
        if (ext)
            return 0;
        p->frame_len = len7;
        return check_length(p, msg);
    }
    if (p->hneed == 2 + 2 + 4 && p->hlen == 4) {
        p->frame_len = (uint64_t)p->hdr[2] << 8 | p->hdr[3];
        if (p->frame_len < 126) {
            *msg = "Frame length not in its shortest form";
            return WS_CLOSE_PROTOCOL_ERROR;
        }
        return check_length(p, msg);
    }
    if (p->hneed == 2 + 8 + 4 && p->hlen == 10) {
        uint64_t len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | p->hdr[i];
        if (len >> 63) {
            *msg = "Frame length has its most significant bit set";
            return WS_CLOSE_PROTOCOL_ERROR;
        }
        if (len <= 0xffff) {
            *msg = "Frame length not in its shortest form";
            return WS_CLOSE_PROTOCOL_ERROR;
        }
        p->frame_len = len;
        return check_length(p, msg);
    }
    return 0;
}

/* Room for n more bytes of the message.  The buffer grows by doubling, but never past the payload announced by
 * the message's headers so far (at most max_message): a client that announces a large frame and sends little of
 * it costs little.  0, or -1 when out of memory. */
static int reserve(ws_parser *p, size_t n) {
    size_t need = p->blen + n; /* <= msg_announced, which fits in size_t */
    size_t cap;
    uint8_t *nb;
    if (need <= p->bcap)
        return 0;
    cap = p->bcap ? p->bcap : WS_MIN_BUFFER;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > p->msg_announced)
        cap = (size_t)p->msg_announced;
    nb = realloc(p->buf, cap);
    if (!nb)
        return -1;
    p->buf = nb;
    p->bcap = cap;
    return 0;
}

/* dst[i] = src[i] ^ mask[(phase + i) % 4] for i < n.  PERF: 8 bytes per step; memcpy keeps it free of alignment
 * and aliasing assumptions (compilers turn it into plain loads and stores), and the mask rotated by the phase is
 * laid out in memory order, so no byte order is assumed either. */
static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], unsigned phase) {
    uint8_t m[8];
    size_t i = 0;
    for (unsigned j = 0; j < 8; j++)
        m[j] = mask[(phase + j) & 3];
    if (n >= 8) {
        uint64_t mw;
        memcpy(&mw, m, 8);
        for (; n - i >= 8; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= mw;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m[i & 3];
}

/* The message just reported is no longer needed. */
static void release_message(ws_parser *p) {
    p->release = 0;
    p->blen = 0;
    p->msg_op = 0;
    p->msg_compressed = 0;
    p->msg_check_utf8 = 0;
    p->msg_announced = 0;
    if (p->bcap > WS_KEEP_BUFFER) {
        free(p->buf);
        p->buf = NULL;
        p->bcap = 0;
    }
}

/* The current frame's payload is complete.  Returns the event it makes (WS_EV_NONE for a fragment that does not
 * end its message). */
static int finish_frame(ws_parser *p, ws_event *ev) {
    switch (p->opcode) {
    case WS_OP_PING:
    case WS_OP_PONG:
        ev->kind = p->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
        ev->data = p->ctl;
        ev->len = p->clen;
        return ev->kind;
    case WS_OP_CLOSE:
        if (p->clen == 0) {
            ev->code = WS_CLOSE_NO_STATUS;
        } else if (p->clen == 1) {
            return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "Close frame payload of 1 byte");
        } else {
            unsigned code = (unsigned)p->ctl[0] << 8 | p->ctl[1];
            if (!ws_close_code_valid(code))
                return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "Close code that a peer may not send");
            if (!ws_utf8_valid(p->ctl + 2, (size_t)p->clen - 2))
                return fail(p, ev, WS_CLOSE_INVALID_DATA, "Close reason is not valid UTF-8");
            ev->code = (int)code;
            ev->data = p->ctl + 2;
            ev->len = (size_t)p->clen - 2;
        }
        p->state = WS_STATE_CLOSED;
        forget_input(p);
        ev->kind = WS_EV_CLOSE;
        return WS_EV_CLOSE;
    default:
        if (!p->fin)
            return WS_EV_NONE;
        if (p->msg_check_utf8 && ws_utf8_done(&p->utf8) < 0)
            return fail(p, ev, WS_CLOSE_INVALID_DATA, "Text message is not valid UTF-8");
        ev->kind = p->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
        ev->data = p->blen ? p->buf : ws_empty;
        ev->len = p->blen;
        ev->compressed = p->msg_compressed;
        p->release = 1;
        return ev->kind;
    }
}

int ws_parser_next(ws_parser *p, ws_event *ev) {
    ev->kind = WS_EV_NONE;
    ev->data = ws_empty;
    ev->len = 0;
    ev->code = 0;
    ev->message = NULL;
    ev->compressed = 0;
    if (p->release)
        release_message(p);
    if (p->state != WS_STATE_OPEN) {
        forget_input(p);
        return WS_EV_NONE;
    }
    for (;;) {
        if (!p->in_payload) {
            while (p->hlen < p->hneed) {
                const char *msg = NULL;
                int code;
                if (p->in_pos == p->in_len)
                    goto drained;
                p->hdr[p->hlen] = p->in[p->in_pos++];
                p->hlen++;
                code = header_byte(p, p->hdr[p->hlen - 1], &msg);
                if (code)
                    return fail(p, ev, code, msg);
            }
            memcpy(p->mask, p->hdr + p->hneed - 4, 4);
            p->left = p->frame_len;
            p->clen = 0;
            p->in_payload = 1;
        }
        if (p->left) {
            size_t avail = p->in_len - p->in_pos;
            size_t n = p->left < avail ? (size_t)p->left : avail;
            unsigned phase = (unsigned)((p->frame_len - p->left) & 3);
            const uint8_t *src = p->in + p->in_pos;
            if (n == 0)
                goto drained;
            if (is_control(p->opcode)) {
                unmask(p->ctl + p->clen, src, n, p->mask, phase);
                p->clen = (uint8_t)(p->clen + n);
            } else {
                uint8_t *dst;
                if (reserve(p, n) < 0)
                    return fail(p, ev, WS_CLOSE_INTERNAL_ERROR, "Out of memory");
                dst = p->buf + p->blen;
                unmask(dst, src, n, p->mask, phase);
                p->blen += n;
                if (p->msg_check_utf8 && ws_utf8_feed(&p->utf8, dst, n) < 0)
                    return fail(p, ev, WS_CLOSE_INVALID_DATA, "Text message is not valid UTF-8");
            }
            p->in_pos += n;
            p->left -= n;
            if (p->left)
                goto drained;
        }
        /* the frame is complete: the next header starts */
        p->in_payload = 0;
        p->hlen = 0;
        p->hneed = 2;
        if (finish_frame(p, ev) != WS_EV_NONE)
            return ev->kind;
    }
drained:
    forget_input(p);
    return WS_EV_NONE;
}

/* ---------------------------------------------------------------- builder */

size_t ws_frame_header(uint8_t out[10], int opcode, int fin, int rsv1, uint64_t len) {
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    if (len <= WS_MAX_CONTROL) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}
