/*
 * libFuzzer harness for the HTTP/2 server core on nghttp2 (native/h2_server.c).
 *
 * Input layout: byte 0 picks the mode (bit 0) and the limits (bits 1-2); the rest is what a client sends (the
 * seeds in corpus_h2/ start with the connection preface, so the fuzzer works past it).
 *
 * Mode 0 (the input alone): each stream's events must be the same whether the input comes whole, one byte at a time,
 * or in pieces of pseudo-random sizes (a streamed body's DATA may be cut differently: pieces of one stream are joined
 * before comparing). The order across streams may differ: a stream nghttp2 resets for the client's error (DATA past
 * its content-length) is closed, and its RESET event given, once the RST_STREAM is written, after the read that
 * caused it, so a whole read may show later streams' requests first; and when the client's own RST_STREAM for it came
 * in the same read, the stream ends with the client's code rather than ours (the RESET's code is not compared: the
 * session treats every reset alike). Where the connection ends (a GOAWAY, which the
 * guard decides a whole read at a time) only the crash checks apply. Every piece is its own heap block, freed after
 * feeding, so ASan reports a pointer kept into the input. Mode 1 (a server that answers): every request is answered (a
 * body, or a streamed response sent in parts, some ended by trailers), streamed bodies are consumed, and every third
 * stream is reset, between pieces of the input: the output paths, flow control and the stream table under any input.
 *
 * Both modes check, after each feed: the open-stream list agrees with its count, the bodies held with their sum,
 * and nothing follows the GOAWAY event.
 *
 * Build and run: native/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_server.h"

typedef struct {
    int32_t sid;
    uint8_t *p;
    size_t len;
} body_t;

typedef struct {
    int32_t sid;
    size_t at, len;
} record_t;

typedef struct {
    uint8_t *p;
    size_t len, cap;
    record_t *rec; /* where each event's record is in p */
    size_t nrec, rec_cap;
    body_t bodies[64]; /* streamed bodies, logged once they END (nghttp2 hands over what arrived before it finds a
                        * stream's error, so what a reset stream was handed depends on the split) */
    int ended;         /* a GOAWAY went out */
    int32_t answer[64];
    size_t nanswer;
} log_t;

static void put(log_t *l, const void *data, size_t len) {
    if (l->len + len > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + len)
            cap *= 2;
        l->p = realloc(l->p, cap);
        if (l->p == NULL)
            abort();
        l->cap = cap;
    }
    memcpy(l->p + l->len, data, len);
    l->len += len;
}

static void put_u32(log_t *l, uint32_t v) {
    put(l, &v, sizeof v);
}

static body_t *body_of(log_t *l, int32_t sid) {
    body_t *free_slot = NULL;
    for (size_t i = 0; i < sizeof l->bodies / sizeof l->bodies[0]; i++) {
        if (l->bodies[i].sid == sid)
            return &l->bodies[i];
        if (l->bodies[i].sid == 0 && free_slot == NULL)
            free_slot = &l->bodies[i];
    }
    if (free_slot == NULL)
        abort();
    free_slot->sid = sid;
    return free_slot;
}

static void body_drop(body_t *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int on_event(void *ctx, const h2_event *ev) {
    log_t *l = ctx;
    if (l->ended)
        abort();                  /* nothing after the GOAWAY */
    if (ev->kind == H2_EV_DATA) { /* a streamed body's pieces, joined */
        body_t *b = body_of(l, ev->sid);
        b->p = realloc(b->p, b->len + ev->len);
        if (b->p == NULL)
            abort();
        memcpy(b->p + b->len, ev->data, ev->len);
        b->len += ev->len;
        return 0;
    }
    if (l->nrec == l->rec_cap) {
        l->rec_cap = l->rec_cap ? l->rec_cap * 2 : 64;
        l->rec = realloc(l->rec, l->rec_cap * sizeof *l->rec);
        if (l->rec == NULL)
            abort();
    }
    record_t *r = &l->rec[l->nrec++];
    r->sid = ev->sid;
    r->at = l->len;
    if (ev->kind == H2_EV_END || ev->kind == H2_EV_RESET) {
        body_t *b = body_of(l, ev->sid);
        if (ev->kind == H2_EV_END)
            put(l, b->p ? b->p : (const uint8_t *)"", b->len);
        body_drop(b);
    }
    put_u32(l, (uint32_t)ev->kind);
    put_u32(l, (uint32_t)ev->sid);
    put_u32(l, ev->kind == H2_EV_RESET ? 0 : ev->code); /* (whose reset it was depends on the split: see the top) */
    if (ev->kind == H2_EV_REQUEST || ev->kind == H2_EV_STREAM) {
        const h2_stream *st = ev->stream;
        size_t at = l->len;
        put_u32(l, 0);
        put(l, h2_at(st, st->method.value), st->method.value_len);
        put(l, h2_at(st, st->path.value), st->path.value_len);
        for (uint32_t i = 0; i < st->nfields; i++) {
            put(l, h2_at(st, st->fields[i].name), st->fields[i].name_len);
            put(l, ":", 1);
            put(l, h2_at(st, st->fields[i].value), st->fields[i].value_len);
        }
        if (ev->kind == H2_EV_REQUEST)
            put(l, ev->data, ev->len);
        uint32_t len = (uint32_t)(l->len - at - 4);
        memcpy(l->p + at, &len, 4);
        if (l->nanswer < sizeof l->answer / sizeof l->answer[0])
            l->answer[l->nanswer++] = ev->sid;
    } else {
        put_u32(l, (uint32_t)ev->len);
        if (ev->kind == H2_EV_GOAWAY)
            put(l, ev->data, ev->len);
    }
    r->len = l->len - r->at;
    if (ev->kind == H2_EV_GOAWAY)
        l->ended = 1;
    return 0;
}

/* By stream, then in the order given: each stream's events, streams apart. */
static int by_stream(const void *a, const void *b) {
    const record_t *x = a, *y = b;
    if (x->sid != y->sid)
        return x->sid < y->sid ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The log's records regrouped by stream, into a new buffer the caller frees. */
static uint8_t *per_stream(const log_t *l) {
    uint8_t *out = malloc(l->len ? l->len : 1);
    if (out == NULL)
        abort();
    if (l->nrec > 1)
        qsort(l->rec, l->nrec, sizeof *l->rec, by_stream);
    size_t at = 0;
    for (size_t i = 0; i < l->nrec; i++) {
        memcpy(out + at, l->p + l->rec[i].at, l->rec[i].len);
        at += l->rec[i].len;
    }
    return out;
}

static void check(h2_server *s) {
    uint32_t n = 0;
    uint64_t held = 0;
    for (h2_stream *st = s->open; st; st = st->next) {
        if (!st->open || (st->next && st->next->prev != st))
            abort();
        n++;
        held += st->body.len - st->body.off;
    }
    if (n != s->nopen || held != s->held_bodies)
        abort();
}

static void answer(h2_server *s, log_t *l) {
    static const nghttp2_nv nva[] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
                                     {(uint8_t *)"x-a", (uint8_t *)"b", 3, 1, NGHTTP2_NV_FLAG_NONE}};
    static uint8_t body[40000];
    for (size_t i = 0; i < l->nanswer; i++) {
        int32_t sid = l->answer[i];
        if (sid % 6 == 5) {
            h2_reset(s, sid, H2_CANCEL);
        } else if (sid % 4 == 1) {
            (void)h2_respond(s, sid, nva, 2, body, ((size_t)sid * 997) % sizeof body, 1);
        } else if (h2_respond(s, sid, nva, 2, body, 10, 0) == 1) {
            (void)h2_send(s, sid, body, sizeof body, 0);
            if (sid % 8 == 3) /* gRPC's way: the status in trailers */
                (void)h2_trailers(s, sid, nva + 1, 1);
            else
                (void)h2_send(s, sid, body, 3, 1);
        }
        h2_consume(s, sid, 16384);
    }
    l->nanswer = 0;
    (void)h2_held_out(s);
    (void)h2_finished(s);
    if (h2_pump(s) == 0)
        h2_wire_taken(s);
}

/* Feeds data in pieces: step 0 whole, 1 a byte at a time, else pseudo-random sizes from seed. */
static void run(const h2_limits *lim, const uint8_t *data, size_t size, int mode, size_t step, uint32_t seed,
                log_t *l) {
    h2_server s;
    if (h2_server_init(&s, lim, on_event, l, NULL, 0, 0) != 0)
        abort();
    size_t i = 0;
    while (i < size && !s.closed) {
        size_t n = size - i;
        if (step == 1)
            n = 1;
        else if (step > 1) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 97;
            if (n > size - i)
                n = size - i;
        }
        uint8_t *piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, data + i, n);
        (void)h2_feed(&s, piece, n, (double)i / 1000.0);
        free(piece);
        i += n;
        check(&s);
        if (mode == 1)
            answer(&s, l);
    }
    if (mode == 1 && !s.closed) {
        h2_shutdown(&s);
        answer(&s, l);
    }
    h2_server_free(&s);
    for (size_t j = 0; j < sizeof l->bodies / sizeof l->bodies[0]; j++)
        body_drop(&l->bodies[j]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int mode = data[0] & 1;
    h2_limits lim;
    h2_limits_default(&lim);
    switch ((data[0] >> 1) & 3) {
    case 1: /* small: bodies stream, held bodies refuse, few streams */
        lim.max_body = 100;
        lim.max_held = 250;
        if (mode == 1) /* (nghttp2 counts a refused stream until its RST_STREAM is sent: when, depends on the split) */
            lim.max_concurrent_streams = 3;
        lim.window = 65535;
        break;
    case 2: /* tight buckets and header limits */
        lim.max_header_bytes = 200;
        lim.resets_burst = lim.control_burst = lim.empty_burst = 3;
        break;
    default:
        break;
    }
    data++;
    size--;
    if (mode == 1) {
        log_t l = {0};
        run(&lim, data, size, 1, 0, 0, &l);
        free(l.p);
        free(l.rec);
        memset(&l, 0, sizeof l);
        run(&lim, data, size, 1, 2, (uint32_t)size, &l);
        free(l.p);
        free(l.rec);
        return 0;
    }
    log_t whole = {0}, bytes = {0}, pieces = {0};
    run(&lim, data, size, 0, 0, 0, &whole);
    run(&lim, data, size, 0, 1, 0, &bytes);
    run(&lim, data, size, 0, 2, (uint32_t)size * 2654435761u, &pieces);
    if (!whole.ended && !bytes.ended && !pieces.ended) {
        uint8_t *w = per_stream(&whole), *b = per_stream(&bytes), *p = per_stream(&pieces);
        if (whole.len != bytes.len || whole.len != pieces.len ||
            (whole.len && (memcmp(w, b, whole.len) != 0 || memcmp(w, p, whole.len) != 0))) {
            fprintf(stderr, "fuzz_h2: a stream's events depend on how the input was split (%zu, %zu, %zu bytes)\n",
                    whole.len, bytes.len, pieces.len);
            abort();
        }
        free(w);
        free(b);
        free(p);
    }
    free(whole.p);
    free(bytes.p);
    free(pieces.p);
    free(whole.rec);
    free(bytes.rec);
    free(pieces.rec);
    return 0;
}
