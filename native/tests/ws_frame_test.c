/*
 * Tests of the WebSocket frame core (native/ws_frame.c), run by native/tests/run.sh under ASan and UBSan.
 *
 * Every input is fed in pieces that are separate heap blocks, freed as soon as the parser has drained them, so
 * ASan reports any pointer the parser keeps into its input.  Events are written down as a transcript (one line per
 * event) and compared as strings: the same input split differently must give the same transcript.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/ref_utf8.h"
#include "ws_frame.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_STR(got, want)                                                                            \
    do {                                                                                                \
        const char *g_ = (got), *w_ = (want);                                                           \
        if (strcmp(g_, w_) != 0) {                                                                      \
            fprintf(stderr, "%s:%d: transcript\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, g_, w_); \
            failures++;                                                                                 \
        }                                                                                               \
    } while (0)

/* ------------------------------------------------------------ byte buffers */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s) {
    put(b, s, strlen(s));
}

static void reset(buf *b) {
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

/* ---------------------------------------------------------- client frames */

enum {
    LEN_MIN = 0,
    LEN_16 = 16,
    LEN_64 = 64
};

static uint32_t mask_seed = 0x9e3779b9u;

/* Appends a client frame: first byte b0, payload masked with a fresh mask, the length in its shortest form
 * (LEN_MIN) or forced into 16 or 64 bits; `masked` 0 leaves the mask bit clear and no key. */
static void frame_ex(buf *out, int b0, const void *payload, size_t n, int lenform, int masked) {
    uint8_t h[14];
    size_t hl = 0;
    const uint8_t *pl = payload;
    h[hl++] = (uint8_t)b0;
    if (lenform == LEN_MIN && n <= 125) {
        h[hl++] = (uint8_t)n;
    } else if (lenform == LEN_16 || (lenform == LEN_MIN && n <= 0xffff)) {
        h[hl++] = 126;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    } else {
        h[hl++] = 127;
        for (int i = 0; i < 8; i++)
            h[hl++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    if (masked) {
        h[1] |= 0x80;
        mask_seed = mask_seed * 1103515245u + 12345u;
        for (int i = 0; i < 4; i++)
            h[hl++] = (uint8_t)(mask_seed >> (8 * i));
    }
    put(out, h, hl);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = pl[i];
        if (masked)
            c ^= h[hl - 4 + (i & 3)];
        put(out, &c, 1);
    }
}

static void frame(buf *out, int b0, const char *payload) {
    frame_ex(out, b0, payload, strlen(payload), LEN_MIN, 1);
}

/* A header alone (for lengths whose payload is never sent). */
static void header_only(buf *out, int b0, int b1, const uint8_t *ext, size_t ext_len) {
    uint8_t h[2] = {(uint8_t)b0, (uint8_t)b1};
    static const uint8_t key[4] = {1, 2, 3, 4};
    put(out, h, 2);
    put(out, ext, ext_len);
    if (b1 & 0x80)
        put(out, key, 4);
}

/* ------------------------------------------------------------- transcripts */

static const ws_limits big = {1u << 20, 1u << 20};

static void describe_bytes(buf *t, const uint8_t *p, size_t n) {
    char tmp[8];
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '|') {
            put(t, p + i, 1);
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
            puts_(t, tmp);
        }
    }
}

static void drain(ws_parser *p, buf *t) {
    ws_event ev;
    int k;
    char tmp[64];
    while ((k = ws_parser_next(p, &ev)) != WS_EV_NONE) {
        CHECK(ev.data != NULL);
        switch (k) {
        case WS_EV_TEXT:
        case WS_EV_BINARY:
            puts_(t, k == WS_EV_TEXT ? "T" : "B");
            if (ev.compressed)
                puts_(t, "z");
            puts_(t, ":");
            if (ev.len > 200) {
                /* long payloads: their length and a checksum */
                uint32_t sum = 0;
                for (size_t i = 0; i < ev.len; i++)
                    sum = sum * 31u + ev.data[i];
                snprintf(tmp, sizeof tmp, "<%zu bytes, %08x>", ev.len, (unsigned)sum);
                puts_(t, tmp);
            } else {
                describe_bytes(t, ev.data, ev.len);
            }
            break;
        case WS_EV_PING:
        case WS_EV_PONG:
            puts_(t, k == WS_EV_PING ? "PING:" : "PONG:");
            describe_bytes(t, ev.data, ev.len);
            break;
        case WS_EV_CLOSE:
            snprintf(tmp, sizeof tmp, "C%d:", ev.code);
            puts_(t, tmp);
            describe_bytes(t, ev.data, ev.len);
            break;
        case WS_EV_ERROR:
            CHECK(ev.message != NULL && ev.message[0] != 0);
            snprintf(tmp, sizeof tmp, "E%d", ev.code);
            puts_(t, tmp);
            break;
        default:
            CHECK(0);
        }
        puts_(t, "|");
    }
}

/* Feeds in[0..n) cut at cuts[0..ncuts) (ascending), each piece in its own heap block; the transcript into t. */
static void run_cuts(const ws_limits *lim, int rsv1, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
                     buf *t) {
    ws_parser p;
    size_t start = 0;
    reset(t);
    ws_parser_init(&p, lim);
    p.rsv1_allowed = (uint8_t)rsv1;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        uint8_t *piece = malloc(end - start + 1);
        if (!piece)
            abort();
        memcpy(piece, in + start, end - start);
        CHECK(ws_parser_feed(&p, piece, end - start) == 0);
        drain(&p, t);
        free(piece);
        start = end;
    }
    ws_parser_free(&p);
}

static const char *run_whole(const ws_limits *lim, int rsv1, const buf *in, buf *t) {
    run_cuts(lim, rsv1, in->p, in->len, NULL, 0, t);
    return (const char *)t->p;
}

/* The transcript of the whole input, checked to be the same one byte at a time and at every 2-way split. */
static const char *run_all_splits(const ws_limits *lim, int rsv1, const buf *in, buf *t) {
    buf other = {0};
    size_t *cuts = malloc((in->len + 1) * sizeof *cuts);
    if (!cuts)
        abort();
    run_cuts(lim, rsv1, in->p, in->len, NULL, 0, t);
    for (size_t i = 0; i < in->len; i++)
        cuts[i] = i + 1;
    run_cuts(lim, rsv1, in->p, in->len, cuts, in->len ? in->len - 1 : 0, &other);
    CHECK_STR((const char *)other.p, (const char *)t->p);
    for (size_t c = 0; c <= in->len; c++) {
        run_cuts(lim, rsv1, in->p, in->len, &c, 1, &other);
        if (strcmp((const char *)other.p, (const char *)t->p) != 0) {
            fprintf(stderr, "split at %zu:\n", c);
            CHECK_STR((const char *)other.p, (const char *)t->p);
        }
    }
    free(cuts);
    free(other.p);
    return (const char *)t->p;
}

/* ------------------------------------------------------------------ tests */

static void test_rfc_example(void) {
    /* RFC 6455 5.7: a single-frame masked text message "Hello" */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    buf in = {0}, t = {0};
    put(&in, hello, sizeof hello);
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "T:Hello|");
    free(in.p);
    free(t.p);
}

/* Several frames of every kind in one stream, and the same events however it is split. */
static void test_splits(void) {
    buf in = {0}, t = {0};
    uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);

    frame(&in, 0x01, "Hel");            /* text, not final */
    frame(&in, 0x89, "ping!");          /* a ping between the fragments */
    frame(&in, 0x00, "lo \xc3");        /* an a-acute split across fragments */
    frame(&in, 0x8A, "");               /* an empty pong */
    frame(&in, 0x00, "\xa1 w\xf0\x9f"); /* ... and an emoji */
    frame(&in, 0x80, "\x98\x80rld");
    frame_ex(&in, 0x82, bin, sizeof bin, LEN_MIN, 1);
    frame(&in, 0x81, "");
    frame(&in, 0x88,
          "\x03\xe8"
          "bye");
    frame(&in, 0x81, "ignored after close");
    CHECK_STR(run_all_splits(&big, 0, &in, &t),
              "PING:ping!|PONG:|T:Hello \\xc3\\xa1 w\\xf0\\x9f\\x98\\x80rld|B:<300 bytes, c672041a>|T:|C1000:bye|");

    /* an error after some events: the same ones before it, for every split */
    reset(&in);
    frame(&in, 0x82, "abc");
    frame(&in, 0x01, "x");
    frame(&in, 0x89, "");
    frame(&in, 0x81, "y");
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "B:abc|PING:|E1002|");

    /* a text error in the middle of a long frame */
    reset(&in);
    {
        char s[200];
        memset(s, 'a', sizeof s);
        s[150] = (char)0xff;
        frame(&in, 0x8A, "pong");
        frame_ex(&in, 0x81, s, sizeof s, LEN_MIN, 1);
    }
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "PONG:pong|E1007|");
    free(in.p);
    free(t.p);
}

/* The payload bytes of a binary message of n bytes, sent with every length form that may carry it. */
static void test_lengths(void) {
    static const size_t sizes[] = {0, 1, 125, 126, 127, 1000, 65535, 65536, 70000};
    buf in = {0}, t = {0};
    uint8_t *pl = malloc(70000);
    if (!pl)
        abort();
    for (size_t i = 0; i < 70000; i++)
        pl[i] = (uint8_t)(i ^ (i >> 8));
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        ws_parser p;
        ws_event ev;
        reset(&in);
        frame_ex(&in, 0x82, pl, n, LEN_MIN, 1);
        CHECK(in.len == n + 4 + (n <= 125 ? 2 : n <= 65535 ? 4 : 10));
        ws_parser_init(&p, &big);
        CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
        CHECK(ws_parser_next(&p, &ev) == WS_EV_BINARY);
        CHECK(ev.len == n && memcmp(ev.data, pl, n) == 0);
        CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
        ws_parser_free(&p);
    }
    /* non-minimal forms */
    reset(&in);
    frame_ex(&in, 0x82, pl, 125, LEN_16, 1);
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "E1002|");
    reset(&in);
    frame_ex(&in, 0x82, pl, 0, LEN_16, 1);
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    reset(&in);
    frame_ex(&in, 0x82, pl, 65535, LEN_64, 1);
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    reset(&in);
    frame_ex(&in, 0x82, pl, 3, LEN_64, 1);
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    /* the most significant bit of a 64-bit length: an error without any payload or even the mask */
    {
        static const uint8_t ext[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
        reset(&in);
        header_only(&in, 0x82, 0xff, ext, 8);
        in.len -= 4;
        CHECK_STR(run_all_splits(&big, 0, &in, &t), "E1002|");
    }
    free(pl);
    free(in.p);
    free(t.p);
}

/* Every check of ws_frame.h's list, with its close code. */
static void test_checks(void) {
    buf in = {0}, t = {0};
    static const ws_limits lim = {1000, 1000};
    struct {
        int b0;
        const char *payload;
        const char *want;
    } one[] = {
        {0x81, "ok", "T:ok|"},
        {0x91, "x", "E1002|"}, /* RSV3 */
        {0xA1, "x", "E1002|"}, /* RSV2 */
        {0xC1, "x", "E1002|"}, /* RSV1, no extension */
        {0xC9, "x", "E1002|"}, /* RSV1 on a ping */
        {0x83, "x", "E1002|"}, /* reserved opcodes */
        {0x84, "x", "E1002|"},
        {0x85, "x", "E1002|"},
        {0x86, "x", "E1002|"},
        {0x87, "x", "E1002|"},
        {0x8B, "x", "E1002|"},
        {0x8C, "x", "E1002|"},
        {0x8D, "x", "E1002|"},
        {0x8E, "x", "E1002|"},
        {0x8F, "x", "E1002|"},
        {0x09, "x", "E1002|"}, /* fragmented control frames */
        {0x0A, "x", "E1002|"},
        {0x08, "", "E1002|"},
        {0x80, "x", "E1002|"}, /* continuation of nothing */
        {0x00, "x", "E1002|"},
        {0x89, "ping", "PING:ping|"},
        {0x8A, "pong", "PONG:pong|"},
        {0x82, "\xff\x01", "B:\\xff\\x01|"},
        {0x81, "\xff", "E1007|"},
        {0x81, "\xc3", "E1007|"},             /* ends inside a character */
        {0x81, "\xc0\x80", "E1007|"},         /* overlong */
        {0x81, "\xe0\x80\x80", "E1007|"},     /* overlong */
        {0x81, "\xed\xa0\x80", "E1007|"},     /* surrogate */
        {0x81, "\xf4\x90\x80\x80", "E1007|"}, /* above U+10FFFF */
        {0x81, "\xf8\x88\x80\x80\x80", "E1007|"},
        {0x81, "\xf4\x8f\xbf\xbf", "T:\\xf4\\x8f\\xbf\\xbf|"},
        {0x81, "\xef\xbf\xbf", "T:\\xef\\xbf\\xbf|"},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        reset(&in);
        frame(&in, one[i].b0, one[i].payload);
        if (strcmp(run_all_splits(&lim, 0, &in, &t), one[i].want) != 0) {
            fprintf(stderr, "case %zu (b0 %#x):\n", i, one[i].b0);
            CHECK_STR((const char *)t.p, one[i].want);
        }
    }

    /* an unmasked frame, and the error comes from its second byte */
    reset(&in);
    frame_ex(&in, 0x81, "hi", 2, LEN_MIN, 0);
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "E1002|");
    reset(&in);
    put(&in, "\x81\x02", 2);
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1002|");
    /* the errors of the first byte come with it alone */
    reset(&in);
    put(&in, "\x83", 1);
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1002|");

    /* control frames over 125 bytes, whatever the length form; the error comes before the extended length */
    {
        char big_ping[126];
        memset(big_ping, 'p', sizeof big_ping);
        reset(&in);
        frame_ex(&in, 0x89, big_ping, 126, LEN_MIN, 1);
        CHECK_STR(run_all_splits(&big, 0, &in, &t), "E1002|");
        reset(&in);
        put(&in, "\x89\xfe", 2);
        CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
        reset(&in);
        frame_ex(&in, 0x89, big_ping, 125, LEN_MIN, 1);
        CHECK(strncmp(run_whole(&big, 0, &in, &t), "PING:ppp", 8) == 0 && t.len == 5 + 125 + 1);
        reset(&in);
        frame_ex(&in, 0x88, big_ping, 5, LEN_16, 1);
        CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    }

    /* a new data frame while a message is unfinished */
    reset(&in);
    frame(&in, 0x01, "a");
    frame(&in, 0x82, "b");
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "E1002|");
    reset(&in);
    frame(&in, 0x02, "a");
    frame(&in, 0x01, "b");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1002|");
    /* a continuation after a finished message */
    reset(&in);
    frame(&in, 0x81, "a");
    frame(&in, 0x80, "b");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "T:a|E1002|");
    /* control frames between fragments, delivered at once; the message after */
    reset(&in);
    frame(&in, 0x02, "a");
    frame(&in, 0x89, "1");
    frame(&in, 0x00, "b");
    frame(&in, 0x8A, "2");
    frame(&in, 0x89, "3");
    frame(&in, 0x80, "c");
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "PING:1|PONG:2|PING:3|B:abc|");
    /* and a close between fragments ends everything */
    reset(&in);
    frame(&in, 0x01, "a");
    frame(&in, 0x88, "\x03\xe9");
    frame(&in, 0x80, "b");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "C1001:|");

    /* UTF-8 fails fast: in the first fragment, before the message ends; and in a frame still arriving */
    reset(&in);
    frame(&in, 0x01, "ok\xc3\x28");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1007|");
    reset(&in);
    frame(&in, 0x81, "abc\xed\xbf\xbfmore text that never comes");
    in.len -= 10;
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1007|");
    /* a character split over three fragments, and a ping in between */
    reset(&in);
    frame(&in, 0x01, "\xf0");
    frame(&in, 0x00, "\x9f\x92");
    frame(&in, 0x89, "");
    frame(&in, 0x80, "\xa9!");
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "PING:|T:\\xf0\\x9f\\x92\\xa9!|");
    /* a fragment that ends inside a character is not an error until the message ends there */
    reset(&in);
    frame(&in, 0x01, "\xe2\x82");
    frame(&in, 0x80, "");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1007|");
    /* invalid only once the next fragment's first byte arrives */
    reset(&in);
    frame(&in, 0x01, "\xe2\x82");
    frame(&in, 0x00, "Z");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1007|");
    /* a binary message is never checked */
    reset(&in);
    frame(&in, 0x02, "\xe2\x82");
    frame(&in, 0x80, "");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "B:\\xe2\\x82|");

    free(in.p);
    free(t.p);
}

static void test_limits(void) {
    static const ws_limits lim = {10, 25};
    buf in = {0}, t = {0};
    /* a frame at the limit, one over it: the error comes with the header, before the payload or the mask */
    reset(&in);
    frame(&in, 0x82, "0123456789");
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "B:0123456789|");
    reset(&in);
    put(&in, "\x82\x8b", 2);
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1009|");
    /* a 64-bit length of 2^62 */
    {
        static const uint8_t ext[8] = {0x40, 0, 0, 0, 0, 0, 0, 0};
        reset(&in);
        header_only(&in, 0x82, 0xff, ext, 8);
        in.len -= 4;
        CHECK_STR(run_whole(&lim, 0, &in, &t), "E1009|");
    }
    /* the message: 10 + 10 + 5 fits, one byte more does not, found at the last fragment's header */
    reset(&in);
    frame(&in, 0x02, "0123456789");
    frame(&in, 0x00, "0123456789");
    frame(&in, 0x80, "01234");
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "B:0123456789012345678901234|");
    reset(&in);
    frame(&in, 0x01, "0123456789");
    frame(&in, 0x89, "ping");
    frame(&in, 0x00, "0123456789");
    put(&in, "\x80\x86", 2);
    CHECK_STR(run_all_splits(&lim, 0, &in, &t), "PING:ping|E1009|");
    /* control frames count against max_frame too */
    reset(&in);
    frame(&in, 0x89, "01234567890");
    CHECK_STR(run_whole(&lim, 0, &in, &t), "E1009|");
    /* the limits apply per message: after one is reported, the next starts from 0 */
    reset(&in);
    for (int i = 0; i < 4; i++) {
        frame(&in, 0x01, "0123456789");
        frame(&in, 0x80, "0123456789");
    }
    CHECK_STR(run_whole(&lim, 0, &in, &t),
              "T:01234567890123456789|T:01234567890123456789|T:01234567890123456789|T:01234567890123456789|");
    /* zero limits: only empty frames */
    {
        static const ws_limits zero = {0, 0};
        reset(&in);
        frame(&in, 0x81, "");
        frame(&in, 0x88, "");
        CHECK_STR(run_whole(&zero, 0, &in, &t), "T:|C1005:|");
        reset(&in);
        frame(&in, 0x89, "x");
        CHECK_STR(run_whole(&zero, 0, &in, &t), "E1009|");
    }
    free(in.p);
    free(t.p);
}

/* The close codes a peer may send, written out apart from ws_close_code_valid. */
static int may_send(unsigned c) {
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (c == ok[i])
            return 1;
    return c >= 3000 && c < 5000;
}

static void test_close(void) {
    buf in = {0}, t = {0};
    char want[64];
    /* empty: 1005 */
    reset(&in);
    frame(&in, 0x88, "");
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "C1005:|");
    /* one byte */
    reset(&in);
    frame(&in, 0x88, "\x03");
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "E1002|");
    /* every code, with a reason */
    for (unsigned c = 0; c < 65536; c++) {
        char pl[8] = {(char)(c >> 8), (char)c, 'o', 'k'};
        reset(&in);
        frame_ex(&in, 0x88, pl, 4, LEN_MIN, 1);
        if (may_send(c))
            snprintf(want, sizeof want, "C%u:ok|", c);
        else
            snprintf(want, sizeof want, "E1002|");
        if (strcmp(run_whole(&big, 0, &in, &t), want) != 0) {
            fprintf(stderr, "close code %u\n", c);
            CHECK_STR((const char *)t.p, want);
        }
        CHECK(ws_close_code_valid(c) == may_send(c));
    }
    /* Autobahn|Testsuite 7.7.x (valid) and 7.9.x (invalid), and the codes for reporting only */
    CHECK(ws_close_code_valid(1000) && ws_close_code_valid(1011) && ws_close_code_valid(1012) &&
          ws_close_code_valid(1013) && ws_close_code_valid(1014) && ws_close_code_valid(3000) &&
          ws_close_code_valid(3999) && ws_close_code_valid(4000) && ws_close_code_valid(4999));
    CHECK(!ws_close_code_valid(0) && !ws_close_code_valid(999) && !ws_close_code_valid(1004) &&
          !ws_close_code_valid(1005) && !ws_close_code_valid(1006) && !ws_close_code_valid(1015) &&
          !ws_close_code_valid(1016) && !ws_close_code_valid(1100) && !ws_close_code_valid(2000) &&
          !ws_close_code_valid(2999) && !ws_close_code_valid(5000) && !ws_close_code_valid(65535));
    /* the reason: UTF-8, up to 123 bytes */
    reset(&in);
    frame(&in, 0x88, "\x03\xe8\xc3\xa9t\xc3\xa9");
    CHECK_STR(run_all_splits(&big, 0, &in, &t), "C1000:\\xc3\\xa9t\\xc3\\xa9|");
    reset(&in);
    frame(&in, 0x88, "\x03\xe8\xc3");
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1007|");
    reset(&in);
    frame(&in, 0x88, "\x0f\xa0\xed\xa0\x80");
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1007|");
    /* the code is checked before the reason */
    reset(&in);
    frame(&in, 0x88, "\x03\xed\xff");
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    {
        char pl[125];
        memset(pl, 'r', sizeof pl);
        pl[0] = 0x0b;
        pl[1] = (char)0xb8; /* 3000 */
        reset(&in);
        frame_ex(&in, 0x88, pl, sizeof pl, LEN_MIN, 1);
        CHECK(strncmp(run_whole(&big, 0, &in, &t), "C3000:rrr", 9) == 0 && t.len == 6 + 123 + 1);
    }
    free(in.p);
    free(t.p);
}

static void test_rsv1(void) {
    buf in = {0}, t = {0};
    /* allowed: the first frame of a message marks it compressed; no UTF-8 check on it */
    reset(&in);
    frame(&in, 0x41, "\xff\x01");
    frame(&in, 0x89, "");
    frame(&in, 0x80, "\xfe");
    frame(&in, 0xC2, "zz");
    frame(&in, 0x81, "plain");
    frame(&in, 0xC1, "");
    CHECK_STR(run_all_splits(&big, 1, &in, &t), "PING:|Tz:\\xff\\x01\\xfe|Bz:zz|T:plain|Tz:|");
    /* never on a continuation or a control frame */
    reset(&in);
    frame(&in, 0x41, "a");
    frame(&in, 0xC0, "b");
    CHECK_STR(run_whole(&big, 1, &in, &t), "E1002|");
    reset(&in);
    frame(&in, 0x01, "a");
    frame(&in, 0xC0, "b");
    CHECK_STR(run_whole(&big, 1, &in, &t), "E1002|");
    reset(&in);
    frame(&in, 0xC9, "");
    CHECK_STR(run_whole(&big, 1, &in, &t), "E1002|");
    reset(&in);
    frame(&in, 0xC8, "");
    CHECK_STR(run_whole(&big, 1, &in, &t), "E1002|");
    /* RSV2 and RSV3 stay errors */
    reset(&in);
    frame(&in, 0xE1, "");
    CHECK_STR(run_whole(&big, 1, &in, &t), "E1002|");
    /* not allowed: the compressed message is a protocol error */
    reset(&in);
    frame(&in, 0xC1, "x");
    CHECK_STR(run_whole(&big, 0, &in, &t), "E1002|");
    free(in.p);
    free(t.p);
}

/* After an error or a close, the parser takes nothing more; an undrained feed is refused. */
static void test_state(void) {
    ws_parser p;
    ws_event ev;
    buf in = {0}, good = {0};
    frame(&good, 0x81, "hello");

    ws_parser_init(&p, &big);
    frame(&in, 0x81, "a");
    frame(&in, 0x91, "a");
    frame(&in, 0x81, "b");
    CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_TEXT);
    /* not drained yet */
    CHECK(ws_parser_feed(&p, good.p, good.len) == -1);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_ERROR && ev.code == 1002);
    CHECK(strcmp(ev.message, "Reserved bit RSV2 or RSV3 is set") == 0);
    CHECK(p.state == WS_STATE_DEAD);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    CHECK(ws_parser_feed(&p, good.p, good.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_free(&p);

    ws_parser_init(&p, &big);
    reset(&in);
    frame(&in, 0x88, "\x03\xe8");
    frame(&in, 0x81, "after");
    CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_CLOSE && ev.code == 1000 && ev.len == 0);
    CHECK(p.state == WS_STATE_CLOSED);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    CHECK(ws_parser_feed(&p, good.p, good.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_free(&p);

    /* abort: dead, input forgotten */
    ws_parser_init(&p, &big);
    CHECK(ws_parser_feed(&p, good.p, 3) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_abort(&p);
    CHECK(ws_parser_feed(&p, good.p + 3, good.len - 3) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_free(&p);

    /* the empty feed */
    ws_parser_init(&p, &big);
    CHECK(ws_parser_feed(&p, NULL, 0) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    ws_parser_free(&p);
    free(in.p);
    free(good.p);
}

/* Memory: a frame announced but not sent costs only what arrived; a large buffer is let go after its message. */
static void test_memory(void) {
    static const ws_limits lim = {1u << 24, 1u << 24};
    ws_parser p;
    ws_event ev;
    buf in = {0};
    uint8_t *pl = calloc(1, 200000);
    if (!pl)
        abort();
    {
        static const uint8_t ext[8] = {0, 0, 0, 0, 0, 0x80, 0, 0};
        header_only(&in, 0x82, 0xff, ext, 8); /* the header of an 8 MiB frame... */
        put(&in, "0123456789", 10);           /* ...and 10 bytes of it */
    }
    ws_parser_init(&p, &lim);
    CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    CHECK(p.bcap <= 256 && p.blen == 10);
    ws_parser_free(&p);

    reset(&in);
    frame_ex(&in, 0x82, pl, 200000, LEN_MIN, 1);
    ws_parser_init(&p, &lim);
    CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_BINARY && ev.len == 200000);
    CHECK(p.bcap == 200000);
    CHECK(ws_parser_next(&p, &ev) == WS_EV_NONE);
    CHECK(p.buf == NULL && p.bcap == 0);
    ws_parser_free(&p);

    /* the buffer never outgrows max_message */
    {
        static const ws_limits small = {300, 300};
        reset(&in);
        frame_ex(&in, 0x82, pl, 300, LEN_MIN, 1);
        ws_parser_init(&p, &small);
        CHECK(ws_parser_feed(&p, in.p, in.len) == 0);
        CHECK(ws_parser_next(&p, &ev) == WS_EV_BINARY && ev.len == 300);
        CHECK(p.bcap == 300);
        ws_parser_free(&p);
    }
    free(pl);
    free(in.p);
}

/* Unmasking at every mask phase and every split, against the plain definition. */
static void test_masks(void) {
    uint8_t pl[67];
    buf in = {0};
    uint32_t seed = 12345;
    for (size_t n = 0; n <= sizeof pl; n++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            pl[i] = (uint8_t)(seed >> 16);
        }
        reset(&in);
        frame_ex(&in, 0x82, pl, n, LEN_MIN, 1);
        for (size_t a = 0; a <= in.len; a++) {
            for (size_t b = a; b <= in.len; b += 3) {
                size_t cuts[2] = {a, b};
                ws_parser p;
                ws_event ev;
                int got = 0;
                size_t start = 0;
                ws_parser_init(&p, &big);
                for (int k = 0; k < 3; k++) {
                    size_t end = k < 2 ? cuts[k] : in.len;
                    CHECK(ws_parser_feed(&p, in.p + start, end - start) == 0);
                    while (ws_parser_next(&p, &ev) != WS_EV_NONE) {
                        CHECK(ev.kind == WS_EV_BINARY && ev.len == n && memcmp(ev.data, pl, n) == 0);
                        got++;
                    }
                    start = end;
                }
                CHECK(got == 1);
                ws_parser_free(&p);
            }
        }
    }
    free(in.p);
}

static void test_utf8(void) {
    uint8_t s[8];
    /* every sequence of 1 to 3 bytes, against the oracle, whole and split at every point */
    for (uint32_t v = 0; v < (1u << 24); v++) {
        size_t n = v < 256 ? 1 : v < 65536 ? 2 : 3;
        for (size_t k = 0; k < n; k++)
            s[k] = (uint8_t)(v >> (8 * (n - 1 - k)));
        int want = ref_utf8(s, n);
        if (ws_utf8_valid(s, n) != want) {
            fprintf(stderr, "utf8 %06x\n", (unsigned)v);
            CHECK(0);
            break;
        }
        if (n >= 2 && (v & 0x3f) == 0x17) {
            for (size_t c = 0; c <= n; c++) {
                ws_utf8 u;
                ws_utf8_init(&u);
                int bad = ws_utf8_feed(&u, s, c) < 0;
                bad |= ws_utf8_feed(&u, s + c, n - c) < 0;
                CHECK((!bad && ws_utf8_done(&u) == 0) == want);
            }
        }
    }
    /* 4-byte sequences: every lead byte from F0, with the continuation bytes around every boundary */
    {
        static const uint8_t cont[] = {0x00, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
        for (unsigned a = 0xf0; a <= 0xff; a++)
            for (size_t b = 0; b < sizeof cont; b++)
                for (size_t c = 0; c < sizeof cont; c++)
                    for (size_t d = 0; d < sizeof cont; d++) {
                        s[0] = (uint8_t)a;
                        s[1] = cont[b];
                        s[2] = cont[c];
                        s[3] = cont[d];
                        CHECK(ws_utf8_valid(s, 4) == ref_utf8(s, 4));
                    }
    }
    /* every code point, encoded, is valid; within ASCII runs of every alignment */
    {
        uint8_t text[40];
        for (uint32_t cp = 0; cp <= 0x10ffff; cp += (cp < 0x800 ? 1 : 7)) {
            size_t n;
            if (cp >= 0xd800 && cp <= 0xdfff)
                continue;
            if (cp < 0x80) {
                s[0] = (uint8_t)cp;
                n = 1;
            } else if (cp < 0x800) {
                s[0] = (uint8_t)(0xc0 | cp >> 6);
                s[1] = (uint8_t)(0x80 | (cp & 0x3f));
                n = 2;
            } else if (cp < 0x10000) {
                s[0] = (uint8_t)(0xe0 | cp >> 12);
                s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                s[2] = (uint8_t)(0x80 | (cp & 0x3f));
                n = 3;
            } else {
                s[0] = (uint8_t)(0xf0 | cp >> 18);
                s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                s[3] = (uint8_t)(0x80 | (cp & 0x3f));
                n = 4;
            }
            CHECK(ws_utf8_valid(s, n));
            if ((cp & 0xfff) == 0x123) {
                for (size_t at = 0; at + n <= sizeof text; at++) {
                    memset(text, 'a', sizeof text);
                    memcpy(text + at, s, n);
                    CHECK(ws_utf8_valid(text, sizeof text));
                    text[at] = 0xff;
                    CHECK(!ws_utf8_valid(text, sizeof text));
                }
            }
        }
    }
    /* sticky */
    {
        ws_utf8 u;
        ws_utf8_init(&u);
        CHECK(ws_utf8_feed(&u, (const uint8_t *)"\xff", 1) == -1);
        CHECK(ws_utf8_feed(&u, (const uint8_t *)"abc", 3) == -1);
        CHECK(ws_utf8_done(&u) == -1);
        CHECK(ws_utf8_valid(NULL, 0));
    }
}

static void test_frame_header(void) {
    uint8_t h[10];
    CHECK(ws_frame_header(h, WS_OP_TEXT, 1, 0, 0) == 2 && h[0] == 0x81 && h[1] == 0);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 1, 0, 125) == 2 && h[0] == 0x82 && h[1] == 125);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 0, 1, 126) == 4 && h[0] == 0x42 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK(ws_frame_header(h, WS_OP_CONT, 1, 0, 65535) == 4 && h[0] == 0x80 && h[1] == 126 && h[2] == 0xff &&
          h[3] == 0xff);
    CHECK(ws_frame_header(h, WS_OP_TEXT, 1, 1, 65536) == 10 && h[0] == 0xC1 && h[1] == 127);
    CHECK(memcmp(h + 2, "\0\0\0\0\0\1\0\0", 8) == 0);
    CHECK(ws_frame_header(h, WS_OP_PING, 1, 0, 0x0102030405060708u) == 10 && h[0] == 0x89);
    CHECK(memcmp(h + 2, "\1\2\3\4\5\6\7\10", 8) == 0);
    CHECK(ws_frame_header(h, WS_OP_CLOSE, 7, 9, 5) == 2 && h[0] == 0xC8 && h[1] == 5);
}

int main(void) {
    test_rfc_example();
    test_splits();
    test_lengths();
    test_checks();
    test_limits();
    test_close();
    test_rsv1();
    test_state();
    test_memory();
    test_masks();
    test_utf8();
    test_frame_header();
    if (failures) {
        fprintf(stderr, "ws_frame_test: %d checks failed\n", failures);
        return 1;
    }
    printf("ws_frame_test: all checks passed\n");
    return 0;
}
