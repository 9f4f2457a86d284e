/*
 * libFuzzer harness for the WebSocket frame core (native/ws_frame.c).
 *
 * Input layout: byte 0 picks the limits (bits 0-1), rsv1_allowed (bit 2) and the mode (bit 3); bytes 1-2 pick
 * where the stream is split in two; the rest is, in raw mode, the bytes a client sends, and in frame mode a list of
 * frames for the harness to encode (so that the fuzzer reaches deep into valid streams without learning masks):
 *
 *   b0            the frame's first byte (FIN, RSV, opcode), as is
 *   b1            bits 0-6: the payload length (127: two more bytes give it, up to 65535);
 *                 bit 7: an oddity byte follows: 0 no mask, 1 a 16-bit length, 2 a 64-bit length (both whatever the
 *                 length), 3 a 64-bit length with its top bit set
 *   key           4 bytes, the mask
 *   payload       the length's worth of plain bytes (fewer if the input ends), masked by the harness
 *
 * Besides crashes and sanitizer reports, the harness checks properties:
 *   - the events are the same whether the stream comes whole, split in two where bytes 1-2 say, one byte at a time,
 *     or in pseudo-random pieces; every piece is its own heap block, freed once drained, so ASan reports any
 *     pointer the parser keeps into its input;
 *   - every uncompressed TEXT event and every close reason is UTF-8 by a validator written apart (it decodes, then
 *     checks ranges); a close code is 1005 with no payload or one a peer may send, checked apart too;
 *   - no message is longer than max_message, no control payload longer than 125 bytes or max_frame, and the
 *     message buffer never grows past max_message;
 *   - an ERROR (1002, 1007, 1009 or 1011, with a sentence) or a CLOSE is the last event, also after more input;
 *     compressed messages only with rsv1_allowed;
 *   - in frame mode, the events and the error (its close code, after the same events) are those a model of the
 *     protocol predicts, written apart from the parser (whole frames, the RFC's rules one after the other; UTF-8
 *     failing fast by trying completions of an unfinished character at the end of each frame);
 *   - the UTF-8 DFA agrees with that validator on the input, whole and split;
 *   - a frame built with ws_frame_header (then masked) parses back to its payload.
 *
 * Build and run: native/fuzz/run.sh.  With -DWS_FUZZ_MAIN it is a plain program that runs the files named on its
 * command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/ref_utf8.h"
#include "ws_frame.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static const ws_limits limit_sets[4] = {
    {1u << 20, 1u << 20},
    {16, 40},
    {125, 200},
    {3, 1u << 20},
};

/* ----------------------------------------------------------- transcript */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} sink;

static void put(sink *s, const void *data, size_t n) {
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n)
            cap *= 2;
        s->p = realloc(s->p, cap);
        CHECK(s->p != NULL);
        s->cap = cap;
    }
    if (n)
        memcpy(s->p + s->len, data, n);
    s->len += n;
}

static void put_u64(sink *s, uint64_t v) {
    put(s, &v, sizeof v);
}

static void put_bytes(sink *s, const uint8_t *p, size_t n) {
    put_u64(s, n);
    put(s, p, n);
}

/* ----------------------------------------------------------- oracles */

/* RFC 6455 7.4.1 and the IANA registry: the codes a peer may put in a close frame. */
static int ref_close_code(int c) {
    if (c >= 3000 && c <= 4999)
        return 1;
    switch (c) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
        return 1;
    default:
        return 0;
    }
}

/* --------------------------------------------------------------- driver */

typedef struct {
    sink out;       /* the transcript */
    int events;     /* events so far */
    int ended;      /* ERROR or CLOSE seen */
    int error;      /* ERROR seen */
    int error_code; /* its close code */
    sink evs[64];   /* the first 64 events' kind, code and payload, in order, for the model check */
    int kinds[64];
    int codes[64];
} run_result;

static void drain(ws_parser *p, const ws_limits *lim, int rsv1, run_result *rr) {
    ws_event ev;
    int k;
    while ((k = ws_parser_next(p, &ev)) != WS_EV_NONE) {
        CHECK(!rr->ended);
        CHECK(ev.kind == k && ev.data != NULL);
        put_u64(&rr->out, (uint64_t)k);
        switch (k) {
        case WS_EV_TEXT:
        case WS_EV_BINARY:
            CHECK(ev.len <= lim->max_message);
            CHECK(!ev.compressed || rsv1);
            if (k == WS_EV_TEXT && !ev.compressed)
                CHECK(ref_utf8(ev.data, ev.len));
            put_u64(&rr->out, (uint64_t)ev.compressed);
            put_bytes(&rr->out, ev.data, ev.len);
            break;
        case WS_EV_PING:
        case WS_EV_PONG:
            CHECK(ev.len <= WS_MAX_CONTROL && ev.len <= lim->max_frame);
            put_bytes(&rr->out, ev.data, ev.len);
            break;
        case WS_EV_CLOSE:
            CHECK(ev.len <= WS_MAX_CONTROL - 2 && (ev.len == 0 || ev.len + 2 <= lim->max_frame));
            CHECK(ref_utf8(ev.data, ev.len));
            CHECK(ref_close_code(ev.code) || (ev.code == WS_CLOSE_NO_STATUS && ev.len == 0));
            CHECK(p->state == WS_STATE_CLOSED);
            put_u64(&rr->out, (uint64_t)ev.code);
            put_bytes(&rr->out, ev.data, ev.len);
            rr->ended = 1;
            break;
        case WS_EV_ERROR:
            CHECK(ev.code == 1002 || ev.code == 1007 || ev.code == 1009 || ev.code == 1011);
            CHECK(ev.message != NULL && ev.message[0] != '\0');
            CHECK(p->state == WS_STATE_DEAD);
            put_u64(&rr->out, (uint64_t)ev.code);
            put(&rr->out, ev.message, strlen(ev.message));
            rr->ended = 1;
            rr->error = 1;
            rr->error_code = ev.code;
            break;
        default:
            CHECK(0);
        }
        if (rr->events < 64) {
            rr->kinds[rr->events] = k;
            rr->codes[rr->events] = k == WS_EV_TEXT || k == WS_EV_BINARY ? ev.compressed : ev.code;
            put(&rr->evs[rr->events], ev.data, ev.len);
        }
        rr->events++;
    }
    CHECK(p->bcap <= lim->max_message);
    CHECK(p->in == NULL);
}

static void free_result(run_result *rr) {
    free(rr->out.p);
    for (int i = 0; i < 64; i++)
        free(rr->evs[i].p);
}

/* Feeds data in pieces; mode 0: whole, 1: split at `cut`, 2: single bytes, 3: pseudo-random sizes. */
static void run(const uint8_t *data, size_t len, const ws_limits *lim, int rsv1, int mode, size_t cut, uint32_t seed,
                run_result *rr) {
    ws_parser p;
    size_t off = 0;
    memset(rr, 0, sizeof *rr);
    CHECK(ws_parser_init(&p, lim) == 0);
    p.rsv1_allowed = (uint8_t)rsv1;
    do {
        size_t n = len - off;
        uint8_t *piece;
        if (mode == 1 && off < cut)
            n = cut - off;
        else if (mode == 2)
            n = n ? 1 : 0;
        else if (mode == 3) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % 64;
            if (n > len - off)
                n = len - off;
        }
        piece = malloc(n ? n : 1);
        CHECK(piece != NULL);
        if (n)
            memcpy(piece, data + off, n);
        CHECK(ws_parser_feed(&p, piece, n) == 0);
        drain(&p, lim, rsv1, rr);
        free(piece);
        off += n;
    } while (off < len);
    /* more input changes nothing once the stream ended */
    if (rr->ended) {
        size_t before = rr->out.len;
        CHECK(ws_parser_feed(&p, (const uint8_t *)"\x81\x80\0\0\0\0", 6) == 0);
        drain(&p, lim, rsv1, rr);
        CHECK(rr->out.len == before);
    }
    ws_parser_free(&p);
}

static void same(const run_result *a, const run_result *b) {
    CHECK(a->events == b->events);
    CHECK(a->out.len == b->out.len);
    CHECK(a->out.len == 0 || memcmp(a->out.p, b->out.p, a->out.len) == 0);
}

/* ------------------------------------------------------------ frame mode */

/*
 * A model of the protocol, written apart from ws_frame.c and as plainly as the RFC reads: it takes each frame whole
 * and says what it means, the event or the error (with its close code) it must give.  Within a frame the parser
 * checks the header (1002) before the limits (1009) before the payload (1007): the model does too, so that a frame
 * with several faults gives the same code.
 */
typedef struct {
    sink wire; /* the encoded stream */
    int n;     /* model events */
    int kinds[64];
    int codes[64]; /* CLOSE: the code; TEXT, BINARY: compressed */
    sink pl[64];
    int fail;     /* the close code of the error after those events, 0 for none */
    int complete; /* the input ended at a frame boundary */
} model;

static void model_event(model *m, int kind, int code, const uint8_t *p, size_t n) {
    if (m->n < 64) {
        m->kinds[m->n] = kind;
        m->codes[m->n] = code;
        put(&m->pl[m->n], p, n);
    }
    m->n++;
}

static size_t seq_len(uint8_t lead) {
    if ((lead & 0xe0) == 0xc0)
        return 2;
    if ((lead & 0xf0) == 0xe0)
        return 3;
    if ((lead & 0xf8) == 0xf0)
        return 4;
    return 0;
}

/* Whether the k bytes of an unfinished sequence can still become a valid character: try continuations from the
 * edges of every range the rules distinguish. */
static int completable(const uint8_t *t, size_t k) {
    static const uint8_t cands[] = {0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf};
    size_t need = seq_len(t[0]), combos = 1;
    uint8_t s[4];
    memcpy(s, t, k);
    for (size_t i = k; i < need; i++)
        combos *= sizeof cands;
    for (size_t c = 0; c < combos; c++) {
        size_t v = c;
        for (size_t i = k; i < need; i++) {
            s[i] = cands[v % sizeof cands];
            v /= sizeof cands;
        }
        if (ref_utf8(s, need))
            return 1;
    }
    return 0;
}

/* The text of a message so far: complete characters checked, an unfinished one kept. */
typedef struct {
    uint8_t tail[4];
    size_t tlen, need;
    int bad;
} text_state;

static void text_take(text_state *t, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n && !t->bad; i++) {
        if (t->tlen == 0) {
            if (p[i] < 0x80)
                continue;
            t->need = seq_len(p[i]);
            if (!t->need) {
                t->bad = 1;
                break;
            }
        }
        t->tail[t->tlen++] = p[i];
        if (t->tlen == t->need) {
            t->bad = !ref_utf8(t->tail, t->need);
            t->tlen = 0;
        }
    }
    /* at the end of a frame, an unfinished character must still be possible */
    if (!t->bad && t->tlen && !completable(t->tail, t->tlen))
        t->bad = 1;
}

typedef struct {
    int msg_op; /* 0 none, else the opcode of the message in progress */
    int compressed;
    uint64_t total;
    sink msg;
    text_state text;
    int closed;
} model_state;

/* The model's verdict on one whole frame (odd: the oddity byte, -1 for none): its event if any, and the close
 * code of its error, or 0. */
static int model_frame(model *m, model_state *st, const ws_limits *lim, int rsv1_allowed, uint8_t b0, int odd,
                       const uint8_t *pl, size_t n) {
    int op = b0 & 0x0f, fin = b0 >> 7, rsv1 = (b0 >> 6) & 1, control = op >= 8;
    /* the header: 1002 */
    if (b0 & 0x30)
        return 1002;
    if (!(op <= 2 || (op >= 8 && op <= 10)))
        return 1002;
    if (rsv1 && (!rsv1_allowed || control || op == WS_OP_CONT))
        return 1002;
    if (control && !fin)
        return 1002;
    if (op == WS_OP_CONT && !st->msg_op)
        return 1002;
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && st->msg_op)
        return 1002;
    if (odd == 0)
        return 1002; /* not masked */
    if (control && (n > 125 || odd > 0))
        return 1002; /* a control frame's length is 7 bits */
    if ((odd == 1 && n < 126) || odd == 2 || odd == 3)
        return 1002; /* not the shortest form (every length here fits in 16 bits), or the top bit set */
    /* the limits: 1009 */
    if (n > lim->max_frame)
        return 1009;
    if (!control && (op == WS_OP_CONT ? st->total : 0) + n > lim->max_message)
        return 1009;
    if (control) {
        if (op != WS_OP_CLOSE) {
            model_event(m, op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG, 0, pl, n);
            return 0;
        }
        if (n == 1)
            return 1002;
        if (n >= 2 && !ref_close_code(pl[0] << 8 | pl[1]))
            return 1002;
        if (n >= 2 && !ref_utf8(pl + 2, n - 2))
            return 1007;
        if (n == 0)
            model_event(m, WS_EV_CLOSE, 1005, pl, 0);
        else
            model_event(m, WS_EV_CLOSE, pl[0] << 8 | pl[1], pl + 2, n - 2);
        st->closed = 1;
        return 0;
    }
    if (op != WS_OP_CONT) {
        st->msg_op = op;
        st->compressed = rsv1;
        st->total = 0;
        st->msg.len = 0;
        memset(&st->text, 0, sizeof st->text);
    }
    st->total += n;
    put(&st->msg, pl, n);
    if (st->msg_op == WS_OP_TEXT && !st->compressed) {
        text_take(&st->text, pl, n);
        if (st->text.bad || (fin && st->text.tlen))
            return 1007;
    }
    if (fin) {
        model_event(m, st->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY, st->compressed, st->msg.p, st->msg.len);
        st->msg_op = 0;
    }
    return 0;
}

static void build(const uint8_t *in, size_t len, const ws_limits *lim, int rsv1_allowed, model *m) {
    size_t i = 0;
    model_state st;
    memset(m, 0, sizeof *m);
    memset(&st, 0, sizeof st);
    m->complete = 1;
    while (i + 2 <= len) {
        uint8_t b0 = in[i], b1 = in[i + 1];
        size_t n = b1 & 0x7f, avail, hl = 0;
        int odd = -1;
        uint8_t h[14], key[4];
        i += 2;
        if (n == 127) {
            if (i + 2 > len)
                break;
            n = (size_t)in[i] << 8 | in[i + 1];
            i += 2;
        }
        if (b1 & 0x80) {
            if (i + 1 > len)
                break;
            odd = in[i++] & 3;
        }
        if (i + 4 > len)
            break;
        memcpy(key, in + i, 4);
        i += 4;
        avail = len - i < n ? len - i : n;
        h[hl++] = b0;
        if (odd == 2 || odd == 3) {
            h[hl++] = 127;
            for (int k = 0; k < 8; k++)
                h[hl++] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
            if (odd == 3)
                h[2] |= 0x80;
        } else if (odd == 1 || n > 125) {
            h[hl++] = 126;
            h[hl++] = (uint8_t)(n >> 8);
            h[hl++] = (uint8_t)n;
        } else {
            h[hl++] = (uint8_t)n;
        }
        if (odd != 0) {
            h[1] |= 0x80;
            memcpy(h + hl, key, 4);
            hl += 4;
        }
        put(&m->wire, h, hl);
        for (size_t k = 0; k < avail; k++) {
            uint8_t c = in[i + k] ^ (odd != 0 ? key[k & 3] : 0);
            put(&m->wire, &c, 1);
        }
        if (avail < n) {
            m->complete = 0;
            break;
        }
        if (!m->fail && !st.closed)
            m->fail = model_frame(m, &st, lim, rsv1_allowed, b0, odd, in + i, n);
        i += n;
    }
    if (i < len)
        m->complete = 0;
    free(st.msg.p);
}

static void check_model(const model *m, const run_result *rr) {
    int n = rr->events - rr->error; /* the events before any error */
    CHECK(n == m->n);
    for (int i = 0; i < n && i < 64; i++) {
        CHECK(rr->kinds[i] == m->kinds[i]);
        CHECK(rr->codes[i] == m->codes[i]);
        CHECK(rr->evs[i].len == m->pl[i].len);
        CHECK(rr->evs[i].len == 0 || memcmp(rr->evs[i].p, m->pl[i].p, rr->evs[i].len) == 0);
    }
    if (m->fail)
        CHECK(rr->error && rr->error_code == m->fail);
    else if (m->complete)
        CHECK(!rr->error); /* (a last frame cut short may be found wrong from what came of it) */
}

static void free_model(model *m) {
    free(m->wire.p);
    for (int i = 0; i < 64; i++)
        free(m->pl[i].p);
}

/* ------------------------------------------------------------- the rest */

static void utf8_differential(const uint8_t *data, size_t len, size_t cut) {
    ws_utf8 u;
    int want = ref_utf8(data, len);
    CHECK(ws_utf8_valid(data, len) == want);
    if (cut > len)
        cut = len;
    ws_utf8_init(&u);
    int bad = ws_utf8_feed(&u, data, cut) < 0;
    bad |= ws_utf8_feed(&u, data + cut, len - cut) < 0;
    CHECK((!bad && ws_utf8_done(&u) == 0) == want);
}

/* ws_frame_header, then the mask a client would add: the same payload comes back. */
static void roundtrip(const uint8_t *data, size_t len, int opcode) {
    static const ws_limits lim = {1u << 20, 1u << 20};
    uint8_t *wire = malloc(len + 14);
    uint8_t h[10];
    static const uint8_t key[4] = {0xa1, 0x5e, 0x00, 0xff};
    size_t hl, n = 0;
    ws_parser p;
    ws_event ev;
    int k, fin = 1;
    CHECK(wire != NULL);
    if (opcode >= WS_OP_CLOSE && len > WS_MAX_CONTROL)
        len = WS_MAX_CONTROL;
    hl = ws_frame_header(h, opcode, fin, 0, len);
    CHECK(hl == (len <= 125 ? 2u : len <= 65535 ? 4u : 10u));
    memcpy(wire, h, hl);
    wire[1] |= 0x80;
    memcpy(wire + hl, key, 4);
    n = hl + 4;
    for (size_t i = 0; i < len; i++)
        wire[n++] = data[i] ^ key[i & 3];
    ws_parser_init(&p, &lim);
    CHECK(ws_parser_feed(&p, wire, n) == 0);
    k = ws_parser_next(&p, &ev);
    CHECK(k == (opcode == WS_OP_PING ? WS_EV_PING : WS_EV_BINARY));
    CHECK(ev.len == len && (len == 0 || memcmp(ev.data, data, len) == 0));
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_free(&p);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ws_limits *lim;
    int rsv1, frames;
    size_t cut;
    const uint8_t *stream;
    size_t stream_len;
    model m;
    run_result whole, split, bytes, pieces;

    if (size < 3)
        return 0;
    lim = &limit_sets[data[0] & 3];
    rsv1 = (data[0] >> 2) & 1;
    frames = (data[0] >> 3) & 1;
    cut = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;

    if (frames) {
        build(data, size, lim, rsv1, &m);
        stream = m.wire.p ? m.wire.p : (const uint8_t *)"";
        stream_len = m.wire.len;
    } else {
        stream = data;
        stream_len = size;
    }
    if (cut > stream_len)
        cut = stream_len ? cut % (stream_len + 1) : 0;

    run(stream, stream_len, lim, rsv1, 0, 0, 0, &whole);
    run(stream, stream_len, lim, rsv1, 1, cut, 0, &split);
    same(&whole, &split);
    run(stream, stream_len, lim, rsv1, 3, 0, (uint32_t)cut, &pieces);
    same(&whole, &pieces);
    if (stream_len <= 2048) {
        run(stream, stream_len, lim, rsv1, 2, 0, 0, &bytes);
        same(&whole, &bytes);
        free_result(&bytes);
    }
    if (frames) {
        check_model(&m, &whole);
        free_model(&m);
    }
    free_result(&whole);
    free_result(&split);
    free_result(&pieces);

    utf8_differential(data, size, cut);
    roundtrip(data, size, (cut & 1) ? WS_OP_PING : WS_OP_BINARY);
    return 0;
}

#ifdef WS_FUZZ_MAIN
int main(int argc, char **argv) {
    int i;
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        unsigned char *buf;
        long n;
        CHECK(f != NULL);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc(n > 0 ? (size_t)n : 1);
        CHECK(buf != NULL);
        CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
    }
    printf("ran %d inputs\n", argc - 1);
    return 0;
}
#endif
