/*
 * libFuzzer harness for the C core of the HTTP/1.1 parser (native/h1_parser.c).
 *
 * Input layout: byte 0 seeds how the stream is split into feeds, byte 1
 * picks a set of limits (small ones reach 413/414/431 with short inputs),
 * the rest is the byte stream a client would send.
 *
 * Besides crashes and sanitizer reports, the harness checks properties:
 *   - the events do not depend on how the stream is split (one feed, random
 *     pieces, one byte at a time), except where CONTINUE is emitted;
 *   - every piece is a separate heap block freed right after it was fed, so
 *     ASan reports any pointer the parser keeps into the caller's buffer;
 *   - everything a HEAD event returns obeys the grammar it was checked
 *     against (token method and names, visible-ASCII target without a
 *     fragment, clean values, a Host that is a uri-host[:port]);
 *   - an absolute-form target's authority is the one Host reported
 *     (RFC 9112 3.2.2), added only to an HTTP/1.0 request without one;
 *   - the Host and authority checks agree with an oracle written apart
 *     from them (IPv6 through inet_pton), both ways, on the input taken as
 *     a Host value and as an authority;
 *   - the chunked decoder alone gives the same result for any split;
 *   - a streamed body (STREAM, DATA..., an empty MESSAGE) carries the same
 *     bytes for any split, never more than max_stream_body of them.
 *
 * Build and run: native/fuzz/run.sh.  With -DH1_FUZZ_MAIN it is a plain
 * program that runs the files named on its command line (for gcc/ASan).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1_parser.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

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

static void put_str(sink *s, const char *p, size_t n) {
    put_u64(s, n);
    put(s, p, n);
}

static int is_tchar_str(const char *p, size_t n) {
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (!h1_tchar_lc[(unsigned char)p[i]])
            return 0;
    return 1;
}

static const h1_limits limit_sets[4] = {
    {8192, 65536, 100, 1048576, 0},
    {16, 96, 4, 10, 100},
    {64, 256, 8, 1000, 5000},
    {1, 40, 1, 0, 0},
};

/* ------------------------------------------------------- uri-host oracle */

/* Written from RFC 3986 apart from h1_parser.c's host_ok(), on purpose: the
 * IPv6 part is the C library's inet_pton, which takes the same text forms
 * (RFC 4291 2.2: "::" stands for at least one group, a dotted quad only
 * last, no leading zeros in it). */
static int oracle_sub(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=", c));
}

static int oracle_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int oracle_host(const unsigned char *p, size_t n, int allow_empty) {
    size_t i = 0, h;
    if (n == 0)
        return allow_empty;
    if (p[0] == '[') {
        char lit[64];
        size_t m;
        for (m = 1; m < n && p[m] != ']'; m++)
            ;
        if (m == n)
            return 0;
        h = m - 1; /* the literal is p[1..m) */
        if (h > 0 && (p[1] == 'v' || p[1] == 'V')) {
            size_t j = 2, dot;
            while (j < m && oracle_hex(p[j]))
                j++;
            dot = j;
            if (dot == 2 || dot >= m - 1 || p[dot] != '.')
                return 0;
            for (j = dot + 1; j < m; j++)
                if (!oracle_sub(p[j]) && p[j] != ':')
                    return 0;
        } else {
            unsigned char addr[16];
            if (h == 0 || h >= sizeof lit)
                return 0;
            memcpy(lit, p + 1, h);
            lit[h] = '\0';
            if (memchr(lit, '%', h) || inet_pton(AF_INET6, lit, addr) != 1)
                return 0;
        }
        i = m + 1;
    } else {
        while (i < n && p[i] != ':') {
            if (p[i] == '%' && i + 2 < n && oracle_hex(p[i + 1]) && oracle_hex(p[i + 2]))
                i += 3;
            else if (oracle_sub(p[i]))
                i++;
            else
                return 0;
        }
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (p[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* The input as a Host value: the parser must accept it exactly when the
 * oracle does, unless a rule checked before the Host one (field-value
 * bytes) refuses it first. */
static void host_differential(const unsigned char *v, size_t n) {
    static const char pre[] = "GET / HTTP/1.1\r\nHost: ";
    char buf[sizeof pre + 256 + 4];
    const unsigned char *s = v, *e;
    h1_header hdrs[2];
    h1_request req;
    const char *msg = NULL;
    size_t i;
    int st;
    if (n > 256)
        n = 256;
    for (i = 0; i < n; i++)
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return;
    memcpy(buf, pre, sizeof pre - 1);
    memcpy(buf + sizeof pre - 1, v, n);
    memcpy(buf + sizeof pre - 1 + n, "\r\n\r\n", 4);
    st = h1_parse_head(buf, sizeof pre - 1 + n + 4, &limit_sets[0], &req, hdrs, 2, &msg);
    e = v + n;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (oracle_host(s, (size_t)(e - s), 1)) {
        CHECK(st == 0);
        CHECK(req.num_headers == 1 && req.headers[0].id == H1_H_HOST);
        CHECK(req.headers[0].value_len == (size_t)(e - s));
    } else {
        CHECK(st == 400 && strcmp(msg, "Invalid Host header") == 0);
    }
}

/* The input as the authority of an absolute-form target: accepted exactly
 * when the oracle takes it as a host[:port] with a host, and then it is
 * the Host reported, whatever the Host field said. */
static void authority_differential(const unsigned char *v, size_t n) {
    static const char pre[] = "GET http://";
    static const char post[] = "/ HTTP/1.1\r\nHost: h\r\n\r\n";
    char buf[sizeof pre + 256 + sizeof post];
    h1_header hdrs[2];
    h1_request req;
    const char *msg = NULL;
    size_t i, len;
    int st;
    if (n > 256)
        n = 256;
    /* bytes that end the authority or the target are not this check's */
    for (i = 0; i < n; i++)
        if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '/' || v[i] == '?' || v[i] == '#')
            return;
    memcpy(buf, pre, sizeof pre - 1);
    memcpy(buf + sizeof pre - 1, v, n);
    memcpy(buf + sizeof pre - 1 + n, post, sizeof post - 1);
    len = sizeof pre - 1 + n + sizeof post - 1;
    st = h1_parse_head(buf, len, &limit_sets[0], &req, hdrs, 2, &msg);
    if (oracle_host(v, n, 0)) {
        CHECK(st == 0);
        CHECK(req.num_headers == 1 && req.headers[0].id == H1_H_HOST);
        CHECK(req.headers[0].value_len == n);
        CHECK(memcmp(req.headers[0].value, v, n) == 0);
    } else {
        CHECK(st == 400 && strcmp(msg, "Invalid authority in absolute-form target") == 0);
    }
}

static void check_head(const h1_request *r, const h1_limits *lim) {
    size_t i, hosts = 0;
    const h1_header *host = NULL;
    if (r->preface) {
        /* HTTP/2's preface (H1_PREFACE_HEAD): "PRI *", no fields, no body, and a switch of protocols */
        CHECK(r->method_len == 3 && memcmp(r->method, "PRI", 3) == 0);
        CHECK(r->target_len == 1 && r->target[0] == '*' && r->path_len == 1 && r->query_len == 0);
        CHECK(r->num_headers == 0 && r->body == H1_BODY_NONE && h1_asks_upgrade(r));
        return;
    }
    CHECK(is_tchar_str(r->method, r->method_len));
    CHECK(r->method_id != H1_M_CONNECT);
    CHECK(r->target_len >= 1 && r->target_len <= lim->max_target);
    for (i = 0; i < r->target_len; i++)
        CHECK((unsigned char)r->target[i] > 0x20 && (unsigned char)r->target[i] < 0x7f && r->target[i] != '#');
    CHECK(r->path_len >= 1);
    CHECK(r->path[0] == '/' || (r->path[0] == '*' && r->path_len == 1 && r->method_id == H1_M_OPTIONS));
    CHECK(memchr(r->path, '?', r->path_len) == NULL);
    CHECK(r->minor <= 1);
    CHECK(r->num_headers <= lim->max_headers + 1);
    if (r->body == H1_BODY_LENGTH)
        CHECK(r->content_length <= lim->max_body || r->content_length <= lim->max_stream_body);
    if (r->body == H1_BODY_CHUNKED)
        CHECK(r->minor == 1);
    for (i = 0; i < r->num_headers; i++) {
        const h1_header *h = &r->headers[i];
        size_t j;
        int high = 0;
        CHECK(is_tchar_str(h->name, h->name_len));
        CHECK(h->id < H1_H__COUNT);
        if (h->id) {
            const char *k = h1_header_names[h->id];
            CHECK(strlen(k) == h->name_len);
            for (j = 0; j < h->name_len; j++)
                CHECK(h1_tchar_lc[(unsigned char)h->name[j]] == (unsigned char)k[j]);
        }
        for (j = 0; j < h->value_len; j++) {
            unsigned c = (unsigned char)h->value[j];
            CHECK(!((c < 0x20 && c != '\t') || c == 0x7f));
            high |= c >= 0x80;
        }
        CHECK(high == h->value_8bit);
        if (h->id == H1_H_HOST) {
            CHECK(oracle_host((const unsigned char *)h->value, h->value_len, 1));
            hosts++;
            host = h;
        }
        if (h->value_len) {
            CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
    }
    CHECK(hosts <= 1);
    if (r->target[0] != '/' && r->target[0] != '*') {
        /* absolute form: scheme "://" authority [ "/" path ] [ "?" query ] */
        const char *a = memchr(r->target, ':', r->target_len);
        size_t n = 0;
        CHECK(a != NULL);
        a += 3;
        while (a + n < r->target + r->target_len && a[n] != '/' && a[n] != '?')
            n++;
        CHECK(oracle_host((const unsigned char *)a, n, 0));
        CHECK(host != NULL && host->value == a && host->value_len == n);
        if (r->num_headers > lim->max_headers)
            CHECK(r->minor == 0 && host == &r->headers[r->num_headers - 1]);
    } else {
        CHECK(r->num_headers <= lim->max_headers);
    }
}

static void record_head(sink *s, const h1_request *r) {
    size_t i;
    put_u64(s, 1);
    put_str(s, r->method, r->method_len);
    put_str(s, r->target, r->target_len);
    put_str(s, r->path, r->path_len);
    put_str(s, r->query, r->query_len);
    put_u64(s, r->minor);
    put_u64(s, r->keep_alive);
    put_u64(s, r->expect_continue);
    put_u64(s, r->body);
    put_u64(s, r->content_length);
    put_u64(s, r->num_headers);
    for (i = 0; i < r->num_headers; i++) {
        put_str(s, r->headers[i].name, r->headers[i].name_len);
        put_str(s, r->headers[i].value, r->headers[i].value_len);
        put_u64(s, r->headers[i].id);
    }
}

/* --------------------------------------------------------------- driver */

typedef struct {
    sink out;
    int heads, messages, errors;
    int in_request; /* a HEAD was seen, its MESSAGE not yet */
    int continues;  /* CONTINUE events of the current request */
    int streaming;  /* STREAM seen for the current request */
    sink streamed;  /* its DATA so far: pieces depend on the split */
    size_t max_buffered;
} run_result;

static void drain(h1_conn *c, const h1_limits *lim, run_result *rr) {
    for (;;) {
        h1_event ev;
        int k = h1_conn_next(c, &ev);
        if (k == H1_EV_NONE)
            break;
        CHECK(rr->errors == 0);
        switch (k) {
        case H1_EV_HEAD:
            CHECK(!rr->in_request);
            CHECK(!ev.req->preface || rr->heads == 0); /* a connection's first head only */
            check_head(ev.req, lim);
            record_head(&rr->out, ev.req);
            rr->heads++;
            rr->in_request = 1;
            rr->continues = 0;
            break;
        case H1_EV_CONTINUE:
            CHECK(rr->in_request);
            CHECK(++rr->continues == 1);
            break;
        case H1_EV_STREAM:
            CHECK(rr->in_request && !rr->streaming);
            CHECK(lim->max_stream_body > lim->max_body);
            rr->streaming = 1;
            rr->streamed.len = 0;
            put_u64(&rr->out, 4);
            break;
        case H1_EV_DATA:
            CHECK(rr->streaming);
            CHECK(ev.body != NULL && ev.body_len > 0);
            put(&rr->streamed, ev.body, ev.body_len);
            CHECK(rr->streamed.len <= lim->max_stream_body);
            break;
        case H1_EV_MESSAGE:
            CHECK(rr->in_request);
            CHECK(ev.body != NULL);
            put_u64(&rr->out, 2);
            if (rr->streaming) {
                CHECK(ev.body_len == 0);
                CHECK(rr->streamed.len > lim->max_body);
                put_str(&rr->out, (const char *)rr->streamed.p, rr->streamed.len);
                rr->streaming = 0;
            } else {
                CHECK(ev.body_len <= lim->max_body);
                put_str(&rr->out, ev.body, ev.body_len);
            }
            rr->messages++;
            rr->in_request = 0;
            break;
        case H1_EV_ERROR:
            CHECK(ev.status >= 400 && ev.status <= 505);
            CHECK(ev.message != NULL && ev.message[0] != '\0');
            put_u64(&rr->out, 3);
            put_u64(&rr->out, (uint64_t)ev.status);
            put_str(&rr->out, ev.message, strlen(ev.message));
            rr->errors++;
            CHECK(h1_conn_state(c) == H1_STATE_DEAD);
            break;
        default:
            CHECK(0);
        }
    }
    {
        int st = h1_conn_state(c);
        size_t b = h1_conn_buffered(c);
        CHECK(st >= H1_STATE_IDLE && st <= H1_STATE_DEAD);
        if (st == H1_STATE_IDLE)
            CHECK(b == 0);
        if (st == H1_STATE_HEAD)
            CHECK(b > 0 && b <= lim->max_header_bytes);
        if (st == H1_STATE_DEAD)
            CHECK(b == 0);
        if (st == H1_STATE_BODY)
            CHECK(b <= lim->max_header_bytes + lim->max_body);
        if (b > rr->max_buffered)
            rr->max_buffered = b;
    }
}

/* Feeds `data` in pieces; mode 0: one piece, 1: pseudo-random sizes
 * 1..max_piece, 2: single bytes.  Each piece lives in its own exact-size
 * heap block that is freed as soon as it was drained. */
static void run(const unsigned char *data, size_t len, const h1_limits *lim, int mode, uint32_t seed, size_t max_piece,
                run_result *rr) {
    h1_conn c;
    size_t off = 0;
    memset(rr, 0, sizeof *rr);
    CHECK(h1_conn_init(&c, lim) == 0);
    while (off < len || (off == 0 && len == 0)) {
        size_t n;
        char *piece;
        if (mode == 0) {
            n = len;
        } else if (mode == 2) {
            n = 1;
        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % max_piece;
        }
        if (n > len - off)
            n = len - off;
        piece = malloc(n ? n : 1);
        CHECK(piece != NULL);
        if (n)
            memcpy(piece, data + off, n);
        CHECK(h1_conn_feed(&c, piece, n) == 0);
        drain(&c, lim, rr);
        free(piece);
        off += n;
        if (len == 0)
            break;
    }
    /* feeding a dead or drained connection is harmless */
    CHECK(h1_conn_feed(&c, "x", 1) == 0);
    drain(&c, lim, rr);
    free(rr->streamed.p);
    rr->streamed.p = NULL;
    h1_conn_reset(&c);
    CHECK(h1_conn_state(&c) == H1_STATE_IDLE && h1_conn_buffered(&c) == 0);
    h1_conn_free(&c);
}

/* A binding that fails mid-feed aborts the connection: from then on it
 * must produce nothing and must not touch the freed input. */
static void run_abort(const unsigned char *data, size_t len, const h1_limits *lim, size_t cut) {
    h1_conn c;
    h1_event ev;
    char *piece;
    size_t n = cut < len ? cut : len;
    CHECK(h1_conn_init(&c, lim) == 0);
    piece = malloc(n ? n : 1);
    CHECK(piece != NULL);
    if (n)
        memcpy(piece, data, n);
    CHECK(h1_conn_feed(&c, piece, n) == 0);
    (void)h1_conn_next(&c, &ev);
    h1_conn_abort(&c);
    free(piece);
    CHECK(h1_conn_next(&c, &ev) == H1_EV_NONE);
    CHECK(h1_conn_feed(&c, (const char *)data, len) == 0);
    CHECK(h1_conn_next(&c, &ev) == H1_EV_NONE);
    CHECK(h1_conn_state(&c) == H1_STATE_DEAD);
    h1_conn_free(&c);
}

static void same_result(const run_result *a, const run_result *b) {
    CHECK(a->heads == b->heads);
    CHECK(a->messages == b->messages);
    CHECK(a->errors == b->errors);
    CHECK(a->out.len == b->out.len);
    CHECK(a->out.len == 0 || memcmp(a->out.p, b->out.p, a->out.len) == 0);
}

/* The chunked decoder on its own, whole and split. */
static void chunked_run(const unsigned char *data, size_t len, uint32_t seed, int split, sink *out, int *result) {
    h1_chunked d;
    size_t off = 0;
    int r = H1_CHUNK_MORE;
    h1_chunked_init(&d, (seed & 1) ? 1000 : UINT64_MAX, (seed & 2) ? 16 : 4096);
    while (off < len && r != H1_CHUNK_DONE && r != H1_CHUNK_ERROR) {
        size_t n = len - off, used;
        char *piece;
        if (split) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % 7;
            if (n > len - off)
                n = len - off;
        }
        piece = malloc(n);
        CHECK(piece != NULL);
        memcpy(piece, data + off, n);
        {
            size_t p = 0;
            for (;;) {
                const char *dp;
                size_t dl;
                r = h1_chunked_decode(&d, piece + p, n - p, &used, &dp, &dl);
                CHECK(used <= n - p);
                p += used;
                if (r == H1_CHUNK_DATA) {
                    CHECK(dl > 0 && dp >= piece && dp + dl <= piece + n);
                    put(out, dp, dl);
                    if (p < n)
                        continue;
                    break;
                }
                if (r == H1_CHUNK_MORE)
                    CHECK(p == n);
                break;
            }
            if (r == H1_CHUNK_DATA)
                r = H1_CHUNK_MORE;
            off += p;
            if (r == H1_CHUNK_ERROR) {
                CHECK(d.status == 400 || d.status == 413 || d.status == 431);
                put_u64(out, (uint64_t)d.status);
            }
            if (r == H1_CHUNK_DONE)
                put_u64(out, 7777);
            /* bytes after the end of the body stay unconsumed */
            if (r == H1_CHUNK_DONE || r == H1_CHUNK_ERROR)
                off = len;
        }
        free(piece);
    }
    *result = r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t seed;
    const h1_limits *lim;
    run_result whole, pieces, bytes;
    size_t max_piece;

    if (size < 2)
        return 0;
    seed = data[0];
    lim = &limit_sets[data[1] & 3];
    max_piece = 1 + (size_t)(data[0] % 32);
    data += 2;
    size -= 2;

    run(data, size, lim, 0, seed, max_piece, &whole);
    run(data, size, lim, 1, seed, max_piece, &pieces);
    same_result(&whole, &pieces);
    if (size <= 4096) {
        run(data, size, lim, 2, seed, 1, &bytes);
        same_result(&whole, &bytes);
        free(bytes.out.p);
    }
    free(whole.out.p);
    free(pieces.out.p);
    run_abort(data, size, lim, max_piece);

    /* the head parser straight on the input (it need not be a head) */
    {
        h1_header hdrs[8];
        h1_request req;
        const char *msg = NULL;
        int st = h1_parse_head((const char *)data, size, lim, &req, hdrs, 8, &msg);
        if (st == 0)
            check_head(&req, lim);
        else
            CHECK(msg != NULL && st >= 400 && st <= 505);
    }

    host_differential(data, size);
    authority_differential(data, size);

    /* the chunked decoder straight on the input */
    {
        sink a = {0}, b = {0};
        int ra, rb;
        chunked_run(data, size, seed, 0, &a, &ra);
        chunked_run(data, size, seed, 1, &b, &rb);
        CHECK(ra == rb);
        CHECK(a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0));
        free(a.p);
        free(b.p);
    }
    return 0;
}

#ifdef H1_FUZZ_MAIN
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
