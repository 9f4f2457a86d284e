/*
 * One server-side HTTP/2 connection on nghttp2: see h2_server.h.  The rules are h2_core.py's; where a function here
 * has a twin there, it has the twin's name.
 */
#include "h2_server.h"

#include <stdlib.h>
#include <string.h>

/* Frame types and flags the guard reads (RFC 9113 section 6). */
enum {
    F_DATA = 0x0,
    F_HEADERS = 0x1,
    F_PRIORITY = 0x2,
    F_RST_STREAM = 0x3,
    F_SETTINGS = 0x4,
    F_PING = 0x6,
    F_WINDOW_UPDATE = 0x8,
    F_CONTINUATION = 0x9
};
enum {
    FL_END_STREAM = 0x1,
    FL_ACK = 0x1,
    FL_END_HEADERS = 0x4
};

#define PREFACE_LEN 24
#define ENCODER_TABLE 4096       /* the most HPACK table we keep for our responses, whatever the client offers */
#define MAX_UNKNOWN_SETTINGS 16  /* distinct unknown SETTINGS ids a connection may send */
#define SMALL_WINDOW_UPDATE 1024 /* increments below this, unearned, are charged to the empty-frame bucket */
/* nghttp2's own limit on CONTINUATION frames per header block (its default, 8, refuses blocks a client may well
 * split finer): the guard's byte limit on the block is what bounds the work. */
#define MAX_CONTINUATIONS 1024
#define MAX_SEND_BLOCK (16 * 1024 * 1024)

void h2_limits_default(h2_limits *lim) {
    lim->max_concurrent_streams = 100;
    lim->max_header_bytes = 65536;
    lim->max_body = 1024 * 1024;
    lim->max_held = 8 * 1024 * 1024;
    lim->window = 1024 * 1024;
    lim->max_frame_size = 16384;
    lim->resets_burst = 1000;
    lim->resets_rate = 100;
    lim->control_burst = 1000;
    lim->control_rate = 100;
    lim->empty_burst = 1000;
    lim->empty_rate = 100;
}

/* -- buffers ------------------------------------------------------------------------------------------------------- */

static int buf_append(h2_buf *b, const void *data, size_t len) {
    if (len == 0)
        return 0;
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (len > b->cap - b->len) {
        if (b->off > 0 && b->off >= b->cap / 2) { /* taken from the front: slide what is left down first */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (len > b->cap - b->len) {
            if (len > SIZE_MAX / 2 - b->len)
                return -1;
            size_t cap = b->cap ? b->cap : 256;
            while (cap < b->len + len)
                cap *= 2;
            uint8_t *p = realloc(b->p, cap);
            if (p == NULL)
                return -1;
            b->p = p;
            b->cap = cap;
        }
    }
    if (data != NULL) /* (NULL: room reserved, filled by the caller) */
        memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static size_t buf_held(const h2_buf *b) {
    return b->len - b->off;
}

static void buf_free(h2_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->off = b->cap = 0;
}

/* -- the guard (h2_core._Guard) ----------------------------------------------------------------------------------- */

static void bucket_init(h2_bucket *b, uint32_t burst, uint32_t rate) {
    b->tokens = b->burst = (double)burst;
    b->rate = (double)rate;
    b->at = 0.0;
}

static int bucket_take(h2_bucket *b, double now) {
    if (now > b->at) {
        b->tokens += (now - b->at) * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->at = now;
    }
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

/* The connection ends with ``code``; -1 for the caller to return. */
static int fail(h2_server *s, uint32_t code, const char *why) {
    if (!s->failing) {
        s->failing = 1;
        s->fail_code = code;
        s->fail_why = why;
    }
    return -1;
}

static int charge(h2_server *s, h2_bucket *b, const char *why) {
    return bucket_take(b, s->now) ? 0 : fail(s, H2_ENHANCE_YOUR_CALM, why);
}

static int guard_frame(h2_server *s, unsigned kind, unsigned flags, uint32_t length, int32_t sid) {
    h2_guard *g = &s->guard;
    if ((kind == F_DATA || kind == F_HEADERS) && (sid & 1)) {
        /* After the stream ended both ways (RFC 9113 section 5.1, "closed"): a connection error. (nghttp2 keeps no
         * closed stream without priorities, and would ignore the frame.) */
        for (size_t i = 0; i < sizeof s->closed_sids / sizeof s->closed_sids[0]; i++)
            if (s->closed_sids[i] == sid)
                return fail(s, H2_STREAM_CLOSED, "a frame on a closed stream");
    }
    if (kind == F_PRIORITY && sid == 0)
        return fail(s, H2_PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (kind == F_HEADERS || kind == F_CONTINUATION) {
        g->block = (kind == F_CONTINUATION && g->block >= 0 ? g->block : 0) + (int64_t)length;
        if (g->block > (int64_t)s->lim.max_header_bytes)
            return fail(s, H2_ENHANCE_YOUR_CALM, "a header block over the limit (CONTINUATION flood)");
        if (flags & FL_END_HEADERS)
            g->block = -1;
        else if (length == 0)
            return charge(s, &g->empty, "too many empty CONTINUATION frames");
    } else if (kind == F_RST_STREAM) {
        return charge(s, &g->resets, "too many streams reset (rapid reset)");
    } else if (kind == F_PING || kind == F_SETTINGS) {
        if (kind == F_SETTINGS && (flags & FL_ACK) && length)
            return fail(s, H2_FRAME_SIZE_ERROR, "a SETTINGS acknowledgement with a payload");
        if (!(flags & FL_ACK))
            return charge(s, &g->control, "too many PING or SETTINGS frames");
    } else if ((kind == F_DATA && length == 0 && !(flags & FL_END_STREAM)) || kind == F_PRIORITY) {
        return charge(s, &g->empty, "too many frames that carry nothing");
    }
    return 0;
}

/* One byte of a SETTINGS or WINDOW_UPDATE payload, at g->pos. */
static int guard_payload_byte(h2_server *s, uint8_t byte) {
    h2_guard *g = &s->guard;
    uint32_t at = g->pos++;
    if (g->kind == F_WINDOW_UPDATE || g->kind == F_PRIORITY) {
        if (at < 4)
            g->acc = (g->acc << 8) | byte;
        return 0;
    }
    uint32_t in_entry = at % 6;
    if (in_entry == 0)
        g->acc = (uint32_t)byte << 8;
    else if (in_entry == 1)
        g->acc |= byte;
    else if (in_entry == 5 && (g->acc < 1 || g->acc > 9)) {
        for (uint32_t i = 0; i < g->nunknown; i++)
            if (g->unknown[i] == g->acc)
                return 0;
        if (g->nunknown >= MAX_UNKNOWN_SETTINGS)
            return fail(s, H2_ENHANCE_YOUR_CALM, "more than 16 unknown SETTINGS identifiers");
        g->unknown[g->nunknown++] = (uint16_t)g->acc;
    }
    return 0;
}

static int guard_scan(h2_server *s, const uint8_t *data, size_t n) {
    h2_guard *g = &s->guard;
    size_t i = 0;
    while (i < n) {
        if (g->want) {
            size_t step = n - i < g->want ? n - i : g->want;
            for (size_t j = 0; j < step; j++)
                if (guard_payload_byte(s, data[i + j]) < 0)
                    return -1;
            g->want -= (uint32_t)step;
            i += step;
            /* A stream cannot depend on itself (section 5.3.1): the connection ends, as with h2 (a stream error on
             * an open stream would let a client drop streams past max_concurrent_streams unseen). */
            if (!g->want && g->kind == F_PRIORITY && (int32_t)(g->acc & 0x7fffffffu) == g->sid)
                return fail(s, H2_PROTOCOL_ERROR, "a stream that depends on itself");
            if (!g->want && g->kind == F_WINDOW_UPDATE && g->pos == 4) {
                uint32_t increment = g->acc & 0x7fffffffu;
                uint64_t *owed = g->sid == 0 ? &g->owed_conn : &g->owed_streams;
                int earned = increment <= *owed;
                *owed = earned ? *owed - increment : 0;
                if (increment > 0 && increment < SMALL_WINDOW_UPDATE && !earned &&
                    charge(s, &g->empty, "too many tiny WINDOW_UPDATE frames") < 0)
                    return -1;
            }
            continue;
        }
        if (g->skip) {
            size_t step = (uint64_t)(n - i) < g->skip ? n - i : (size_t)g->skip;
            g->skip -= step;
            i += step;
            continue;
        }
        size_t need = 9 - g->head_len;
        size_t take = n - i < need ? n - i : need;
        memcpy(g->head + g->head_len, data + i, take);
        g->head_len += (uint32_t)take;
        i += take;
        if (g->head_len < 9)
            break;
        g->head_len = 0;
        uint32_t length = ((uint32_t)g->head[0] << 16) | ((uint32_t)g->head[1] << 8) | g->head[2];
        unsigned kind = g->head[3], flags = g->head[4];
        int32_t sid = (int32_t)((((uint32_t)g->head[5] & 0x7f) << 24) | ((uint32_t)g->head[6] << 16) |
                                ((uint32_t)g->head[7] << 8) | g->head[8]);
        if (guard_frame(s, kind, flags, length, sid) < 0)
            return -1;
        g->sid = sid;
        if ((kind == F_SETTINGS || kind == F_WINDOW_UPDATE || (kind == F_PRIORITY && length == 5)) && length > 0 &&
            length <= 16384) {
            g->kind = (int)kind;
            g->want = length;
            g->pos = 0;
            g->acc = 0;
        } else {
            g->skip = length;
        }
    }
    return 0;
}

/* -- streams ------------------------------------------------------------------------------------------------------- */

static h2_stream *stream_new(h2_server *s, int32_t sid) {
    h2_stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->sid = sid;
    st->declared = -1;
    st->progress = st->heard = s->now;
    st->anext = s->all; /* every stream is on the ``all`` list until it is freed */
    if (s->all)
        s->all->aprev = st;
    s->all = st;
    return st;
}

static void stream_free(h2_server *s, h2_stream *st) {
    if (st->aprev)
        st->aprev->anext = st->anext;
    else
        s->all = st->anext;
    if (st->anext)
        st->anext->aprev = st->aprev;
    buf_free(&st->head);
    buf_free(&st->body);
    buf_free(&st->out);
    buf_free(&st->trail);
    free(st->fields);
    free(st);
}

static void open_link(h2_server *s, h2_stream *st) {
    st->open = 1;
    st->prev = NULL;
    st->next = s->open;
    if (s->open)
        s->open->prev = st;
    s->open = st;
    s->nopen++;
}

/* The stream leaves the open list (answered, reset, or refused): what its body held is let go. */
static void open_unlink(h2_server *s, h2_stream *st) {
    if (!st->open)
        return;
    st->open = 0;
    if (st->prev)
        st->prev->next = st->next;
    else
        s->open = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    s->nopen--;
    s->held_bodies -= buf_held(&st->body);
    buf_free(&st->body);
}

h2_stream *h2_find(h2_server *s, int32_t sid) {
    if (sid <= 0 || s->session == NULL)
        return NULL;
    return nghttp2_session_get_stream_user_data(s->session, sid);
}

static int head_add(h2_stream *st, h2_field *f, const uint8_t *name, size_t name_len, const uint8_t *value,
                    size_t value_len) {
    if (name_len > UINT32_MAX / 4 || value_len > UINT32_MAX / 4 || st->head.len > UINT32_MAX / 4)
        return -1;
    f->name = (uint32_t)st->head.len;
    f->name_len = (uint32_t)name_len;
    if (buf_append(&st->head, name, name_len) < 0)
        return -1;
    f->value = (uint32_t)st->head.len;
    f->value_len = (uint32_t)value_len;
    return buf_append(&st->head, value, value_len);
}

static int field_push(h2_stream *st, const h2_field *f) {
    if (st->nfields == st->fields_cap) {
        uint32_t cap = st->fields_cap ? st->fields_cap * 2 : 16;
        h2_field *p = realloc(st->fields, cap * sizeof *p);
        if (p == NULL)
            return -1;
        st->fields = p;
        st->fields_cap = cap;
    }
    st->fields[st->nfields++] = *f;
    return 0;
}

int h2_stream_add_field(h2_stream *st, const char *name, size_t name_len, const char *value, size_t value_len) {
    h2_field f;
    if (head_add(st, &f, (const uint8_t *)name, name_len, (const uint8_t *)value, value_len) < 0)
        return -1;
    return field_push(st, &f);
}

static void find_query(h2_stream *st) {
    const char *path = h2_at(st, st->path.value);
    const char *q = memchr(path, '?', st->path.value_len);
    st->query_at = q ? (uint32_t)(q - path) + 1 : st->path.value_len + 1;
}

int h2_stream_set_head(h2_stream *st, const char *method, size_t method_len, const char *path, size_t path_len) {
    static const uint8_t m[] = ":method", p[] = ":path";
    if (head_add(st, &st->method, m, sizeof m - 1, (const uint8_t *)method, method_len) < 0 ||
        head_add(st, &st->path, p, sizeof p - 1, (const uint8_t *)path, path_len) < 0)
        return -1;
    find_query(st);
    return 0;
}

h2_stream *h2_upgraded_stream(h2_server *s) {
    return h2_find(s, 1);
}

static int emit(h2_server *s, int kind, int32_t sid, uint32_t code, const h2_stream *st, const uint8_t *data,
                size_t len) {
    if (s->emit_failed)
        return -1;
    h2_event ev = {kind, sid, code, st, data, len};
    if (s->emit(s->ctx, &ev) != 0) {
        s->emit_failed = 1;
        return -1;
    }
    return 0;
}

static int64_t declared_length(const h2_stream *st) {
    static const char cl[] = "content-length";
    for (uint32_t i = 0; i < st->nfields; i++) {
        const h2_field *f = &st->fields[i];
        if (f->name_len != sizeof cl - 1 || memcmp(h2_at(st, f->name), cl, sizeof cl - 1) != 0)
            continue;
        /* (nghttp2 checked it is digits, and that the DATA agrees with it) */
        int64_t v = 0;
        const char *d = h2_at(st, f->value);
        for (uint32_t j = 0; j < f->value_len; j++) {
            if (d[j] < '0' || d[j] > '9' || v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (d[j] - '0');
        }
        return v;
    }
    return -1;
}

/* Cookie fields, which HTTP/2 sends apart, become one as HTTP/1.1 would carry it (RFC 9113 section 8.2.3), at the
 * first one's place. */
static int join_cookies(h2_stream *st) {
    static const char cookie[] = "cookie";
    uint32_t first = UINT32_MAX, count = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < st->nfields; i++) {
        const h2_field *f = &st->fields[i];
        if (f->name_len == 6 && memcmp(h2_at(st, f->name), cookie, 6) == 0) {
            if (count++ == 0)
                first = i;
            total += f->value_len + 2;
        }
    }
    if (count < 2)
        return 0;
    /* Room first: the values are copied from the buffer they join. */
    size_t at = st->head.len;
    if (buf_append(&st->head, NULL, total) < 0 || st->head.len > UINT32_MAX / 2)
        return -1;
    st->head.len = at;
    h2_field joined = st->fields[first];
    joined.value = (uint32_t)at;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < st->nfields; i++) {
        h2_field f = st->fields[i];
        if (f.name_len == 6 && memcmp(h2_at(st, f.name), cookie, 6) == 0) {
            if (i != first) {
                memcpy(st->head.p + st->head.len, "; ", 2);
                st->head.len += 2;
            }
            memcpy(st->head.p + st->head.len, st->head.p + f.value, f.value_len);
            st->head.len += f.value_len;
            if (i != first)
                continue;
        }
        st->fields[kept++] = f;
    }
    joined.value_len = (uint32_t)(st->head.len - at);
    st->fields[first] = joined;
    st->nfields = kept;
    return 0;
}

static void submit_reset(h2_server *s, int32_t sid, uint32_t code) {
    (void)nghttp2_submit_rst_stream(s->session, NGHTTP2_FLAG_NONE, sid, code);
}

/* A gRPC call's request: its content-type starts application/grpc, in any case (h2_core.is_grpc). */
static int is_grpc(const h2_stream *st) {
    static const char ct[] = "content-type", grpc[] = "application/grpc";
    for (uint32_t i = 0; i < st->nfields; i++) {
        const h2_field *f = &st->fields[i];
        if (f->name_len != sizeof ct - 1 || memcmp(h2_at(st, f->name), ct, sizeof ct - 1) != 0)
            continue;
        if (f->value_len < sizeof grpc - 1)
            return 0;
        const uint8_t *v = (const uint8_t *)h2_at(st, f->value);
        for (size_t j = 0; j < sizeof grpc - 1; j++)
            if ((v[j] >= 'A' && v[j] <= 'Z' ? v[j] + 32 : v[j]) != grpc[j])
                return 0;
        return 1;
    }
    return 0;
}

static int host_differs(const h2_stream *st) {
    for (uint32_t i = 0; i < st->nfields; i++) {
        const h2_field *f = &st->fields[i];
        if (f->name_len == 4 && memcmp(h2_at(st, f->name), "host", 4) == 0)
            return f->value_len != st->authority.value_len ||
                   memcmp(h2_at(st, f->value), h2_at(st, st->authority.value), f->value_len) != 0;
    }
    return 0;
}

/* A request's head is complete (h2_core._request): refused, reset as malformed, or taken. */
static int request_head(h2_server *s, h2_stream *st, int ends) {
    int32_t sid = st->sid;
    if ((s->last_sid >= 0 && sid > s->last_sid) || s->nopen >= s->lim.max_concurrent_streams) {
        /* Opened after our graceful GOAWAY, or past max_concurrent_streams: refused, so the client may retry it.
         * It costs as a reset does (a client that keeps opening streams it knows are refused is flooding). */
        submit_reset(s, sid, H2_REFUSED_STREAM);
        return charge(s, &s->guard.resets, "too many streams refused");
    }
    const char *path = h2_at(st, st->path.value);
    uint32_t plen = st->path.value_len;
    int star_ok = plen == 1 && path[0] == '*' && st->method.value_len == 7 &&
                  memcmp(h2_at(st, st->method.value), "OPTIONS", 7) == 0;
    if (st->path.name_len == 0 || plen == 0 || !(path[0] == '/' || star_ok)) {
        submit_reset(s, sid, H2_PROTOCOL_ERROR); /* malformed (RFC 9113 section 8.3.1): a stream error */
        return 0;
    }
    if (st->authority.name_len && st->has_host && host_differs(st)) {
        submit_reset(s, sid, H2_PROTOCOL_ERROR); /* malformed (section 8.3.1): which would a route believe? */
        return 0;
    }
    if (st->authority.name_len && !st->has_host) { /* routes see what HTTP/1.1 would give them */
        /* (room first: the value is copied from the buffer it is appended to) */
        uint32_t vlen = st->authority.value_len;
        size_t at = st->head.len;
        if (buf_append(&st->head, NULL, 4 + (size_t)vlen) < 0 || st->head.len > UINT32_MAX / 2)
            return fail(s, H2_INTERNAL_ERROR, "out of memory");
        memcpy(st->head.p + at, "host", 4);
        memcpy(st->head.p + at + 4, st->head.p + st->authority.value, vlen);
        h2_field f = {(uint32_t)at, 4, (uint32_t)at + 4, vlen};
        if (field_push(st, &f) < 0)
            return fail(s, H2_INTERNAL_ERROR, "out of memory");
        memmove(st->fields + 1, st->fields, (st->nfields - 1) * sizeof *st->fields);
        st->fields[0] = f;
    }
    if (join_cookies(st) < 0)
        return fail(s, H2_INTERNAL_ERROR, "out of memory");
    find_query(st);
    st->declared = declared_length(st);
    st->is_request = 1;
    open_link(s, st);
    if (ends) {
        st->ended = 1;
        st->reported = 1;
        return emit(s, H2_EV_REQUEST, sid, 0, st, (const uint8_t *)"", 0);
    }
    if ((st->declared > 0 && (uint64_t)st->declared > s->lim.max_body) || is_grpc(st)) {
        /* It cannot be held whole: its route starts now, and may refuse it before any of it arrives. (A gRPC call's
         * messages stream whatever their size: its handler reads each as it comes.) */
        st->streaming = 1;
        st->reported = 1;
        return emit(s, H2_EV_STREAM, sid, 0, st, NULL, 0);
    }
    return 0;
}

/* The request's body is complete (h2_core._ended). */
static int ended(h2_server *s, h2_stream *st) {
    if (!st->open || st->ended)
        return 0;
    st->ended = 1;
    if (st->streaming)
        return emit(s, H2_EV_END, st->sid, 0, NULL, NULL, 0);
    st->reported = 1;
    int rv = emit(s, H2_EV_REQUEST, st->sid, 0, st, st->body.p ? st->body.p + st->body.off : (const uint8_t *)"",
                  buf_held(&st->body));
    s->held_bodies -= buf_held(&st->body);
    buf_free(&st->body);
    return rv;
}

/* The response went out whole (h2_core._done): answered before its body ended, the rest of it is not wanted
 * (RFC 9113 section 8.1). */
static void done(h2_server *s, h2_stream *st) {
    if (!st->open)
        return;
    int was_ended = st->ended;
    open_unlink(s, st);
    if (st->waited) /* what was held for it went out: its sender may go on (the stream is done, too) */
        (void)emit(s, H2_EV_WINDOW, st->sid, 0, NULL, NULL, 0);
    if (!was_ended)
        submit_reset(s, st->sid, H2_NO_ERROR);
}

static void ahead_add(h2_server *s, int32_t sid, uint64_t n) {
    for (uint32_t i = 0; i < s->nahead; i++)
        if (s->ahead[i].sid == sid) {
            s->ahead[i].n += n;
            return;
        }
    if (s->nahead == s->ahead_cap) {
        uint32_t cap = s->ahead_cap ? s->ahead_cap * 2 : 4;
        h2_ahead *p = realloc(s->ahead, cap * sizeof *p);
        if (p == NULL) /* credit given twice for this body, at worst: the client may send that much more */
            return;
        s->ahead = p;
        s->ahead_cap = cap;
    }
    s->ahead[s->nahead].sid = sid;
    s->ahead[s->nahead].n = n;
    s->nahead++;
}

static int recently_reset(const h2_server *s, int32_t sid);

/* -- nghttp2's callbacks ------------------------------------------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user) {
    h2_server *s = user;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) { /* trailers: their list is bounded as the head's was */
        h2_stream *known = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (known != NULL)
            known->decoded = 0;
        return 0;
    }
    h2_stream *st = stream_new(s, frame->hd.stream_id);
    if (st == NULL) {
        fail(s, H2_INTERNAL_ERROR, "out of memory");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (nghttp2_session_set_stream_user_data(session, st->sid, st) != 0) {
        stream_free(s, st);
        return 0;
    }
    return 0;
}

static int same(const uint8_t *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, blen) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t name_len,
                     const uint8_t *value, size_t value_len, uint8_t flags, void *user) {
    h2_server *s = user;
    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    /* An HPACK bomb: a small block that decodes to a huge list (RFC 9113 section 6.5.2 counts 32 per field). */
    uint64_t decoded = (uint64_t)st->decoded + name_len + value_len + 32;
    if (decoded > s->lim.max_header_bytes) {
        fail(s, H2_ENHANCE_YOUR_CALM, "a header list over the limit (HPACK bomb)");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    st->decoded = (uint32_t)decoded;
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers are read and dropped, as over HTTP/1.1 */
    h2_field f;
    if (head_add(st, &f, name, name_len, value, value_len) < 0)
        goto nomem;
    if (name_len && name[0] == ':') {
        if (same(name, name_len, ":method", 7))
            st->method = f;
        else if (same(name, name_len, ":path", 5))
            st->path = f;
        else if (same(name, name_len, ":authority", 10))
            st->authority = f;
        return 0;
    }
    if (same(name, name_len, "host", 4))
        st->has_host = 1;
    if (field_push(st, &f) < 0)
        goto nomem;
    return 0;
nomem:
    fail(s, H2_INTERNAL_ERROR, "out of memory");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user) {
    h2_server *s = user;
    int32_t sid = frame->hd.stream_id;
    int ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    h2_stream *st;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = nghttp2_session_get_stream_user_data(session, sid);
        if (st == NULL)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && !st->is_request) {
            if ((frame->hd.flags & NGHTTP2_FLAG_PRIORITY) && frame->headers.pri_spec.stream_id == sid) {
                submit_reset(s, sid, H2_PROTOCOL_ERROR); /* a stream cannot depend on itself (section 5.3.1) */
                return 0;
            }
            if (request_head(s, st, ends) < 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        } else if (ends && ended(s, st) < 0) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    case NGHTTP2_DATA:
        st = nghttp2_session_get_stream_user_data(session, sid);
        if (st != NULL)
            st->heard = s->now;
        /* A DATA frame of padding alone that does not end its stream carries nothing (an empty one was charged by
         * the guard). */
        if (frame->hd.length > 0 && frame->hd.length == frame->data.padlen && !ends &&
            charge(s, &s->guard.empty, "too many DATA frames that carry nothing") < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if (st != NULL && ends && ended(s, st) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    case NGHTTP2_GOAWAY:
        s->peer_goaway = 1;
        s->peer_code = frame->goaway.error_code;
        return NGHTTP2_ERR_PAUSE;
    default:
        return 0;
    }
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
                              void *user) {
    h2_server *s = user;
    (void)flags;
    h2_stream *st = nghttp2_session_get_stream_user_data(session, sid);
    if (st != NULL)
        st->heard = s->now;
    if (len == 0)
        return 0;
    if (st == NULL || !st->open) { /* a stream answered or reset meanwhile: its credit comes back */
        (void)nghttp2_session_consume(session, sid, len);
        return 0;
    }
    if (st->streaming)
        return emit(s, H2_EV_DATA, sid, 0, NULL, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    size_t have = buf_held(&st->body);
    if (have + len <= s->lim.max_body && s->held_bodies + len > s->lim.max_held) {
        /* Bodies held whole would pass max_held: refused, nothing of it processed. */
        (void)nghttp2_session_consume(session, sid, len);
        open_unlink(s, st);
        submit_reset(s, sid, H2_REFUSED_STREAM);
        return 0;
    }
    if (have + len > s->lim.max_body) {
        st->streaming = 1;
        st->reported = 1;
        if (emit(s, H2_EV_STREAM, sid, 0, st, NULL, 0) < 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        int rv;
        if (have) { /* what it held was acknowledged as it came: consume() does not give it twice */
            ahead_add(s, sid, have);
            if (buf_append(&st->body, data, len) < 0) {
                fail(s, H2_INTERNAL_ERROR, "out of memory");
                return NGHTTP2_ERR_CALLBACK_FAILURE;
            }
            s->held_bodies += len;
            rv = emit(s, H2_EV_DATA, sid, 0, NULL, st->body.p + st->body.off, buf_held(&st->body));
        } else {
            rv = emit(s, H2_EV_DATA, sid, 0, NULL, data, len);
        }
        s->held_bodies -= buf_held(&st->body);
        buf_free(&st->body);
        return rv < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    if (buf_append(&st->body, data, len) < 0) {
        fail(s, H2_INTERNAL_ERROR, "out of memory");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    s->held_bodies += len;
    /* Held whole up to max_body: the credit comes back at once, or a body larger than the window would wait. */
    (void)nghttp2_session_consume(session, sid, len);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t sid, uint32_t code, void *user) {
    h2_server *s = user;
    h2_stream *st = nghttp2_session_get_stream_user_data(session, sid);
    if (st == NULL)
        return 0;
    int rv = 0;
    if (st->open) {
        open_unlink(s, st);
        if (!s->closed)
            rv = emit(s, H2_EV_RESET, sid, code, NULL, NULL, 0);
    }
    if (code == H2_NO_ERROR && st->ended && !recently_reset(s, sid))
        s->closed_sids[s->nclosed++ % (sizeof s->closed_sids / sizeof s->closed_sids[0])] = sid;
    (void)nghttp2_session_set_stream_user_data(session, sid, NULL);
    stream_free(s, st);
    return rv < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user) {
    h2_server *s = user;
    if (frame->hd.type == NGHTTP2_DATA) { /* (what the client's tiny WINDOW_UPDATEs may give back: guard_scan) */
        s->guard.owed_conn += frame->hd.length;
        s->guard.owed_streams += frame->hd.length;
    }
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        s->resets[s->nresets++ % (sizeof s->resets / sizeof s->resets[0])] = frame->hd.stream_id;
        return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        if (frame->goaway.error_code != H2_NO_ERROR && !s->own_goaway) {
            s->lib_goaway = 1;
            s->lib_code = frame->goaway.error_code;
        }
        return 0;
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        h2_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (st != NULL)
            done(s, st);
    }
    return 0;
}

static int recently_reset(const h2_server *s, int32_t sid) {
    for (size_t i = 0; i < sizeof s->resets / sizeof s->resets[0]; i++)
        if (s->resets[i] == sid)
            return 1;
    return 0;
}

/* A request's HEADERS on a stream id below one the client used already, on a stream nghttp2 no longer knows (it
 * ignores those): a connection error (RFC 9113 section 5.1.1), unless we reset that stream lately (the client may
 * have sent its trailers before it heard) or it came after our graceful GOAWAY. */
static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user) {
    h2_server *s = user;
    int32_t sid = hd->stream_id;
    if (hd->type != NGHTTP2_HEADERS || !(sid & 1))
        return 0;
    if (sid > s->highest) {
        s->highest = sid;
        return 0;
    }
    if (sid < s->highest && !(s->last_sid >= 0 && sid > s->last_sid) &&
        nghttp2_session_find_stream(session, sid) == NULL && !recently_reset(s, sid)) {
        fail(s, H2_PROTOCOL_ERROR, "HEADERS on a stream id below one already used");
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

/* A frame of ours nghttp2 could not send (a response head past MAX_SEND_BLOCK): the stream is reset, or its client
 * would wait for it forever. */
static int on_frame_not_send(nghttp2_session *session, const nghttp2_frame *frame, int lib_error, void *user) {
    h2_server *s = user;
    (void)lib_error;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2_stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (st != NULL && st->open) {
        open_unlink(s, st);
        submit_reset(s, frame->hd.stream_id, H2_INTERNAL_ERROR);
    }
    return 0;
}

/* A frame nghttp2 refused as the client's error on its stream (it resets the stream): such resets cost as the
 * client's own do (MadeYouReset, CVE-2025-8671). */
static int on_invalid_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, int lib_error, void *user) {
    h2_server *s = user;
    (void)session;
    (void)frame;
    (void)lib_error;
    return charge(s, &s->guard.resets, "too many streams reset for errors") < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_error(nghttp2_session *session, int lib_error, const char *msg, size_t len, void *user) {
    h2_server *s = user;
    (void)session;
    (void)lib_error;
    size_t n = len < sizeof s->lib_why - 1 ? len : sizeof s->lib_why - 1;
    memcpy(s->lib_why, msg, n);
    s->lib_why[n] = '\0';
    return 0;
}

/* The trailers go out as the DATA's end: END_STREAM moves to their HEADERS. */
static int submit_trailers(nghttp2_session *session, h2_stream *st) {
    nghttp2_nv *nva = calloc(st->ntrail ? st->ntrail : 1, sizeof *nva);
    if (nva == NULL)
        return -1;
    size_t at = 0;
    for (uint32_t i = 0; i < st->ntrail; i++) {
        uint32_t lens[2];
        memcpy(lens, st->trail.p + at, sizeof lens);
        at += sizeof lens;
        nva[i] = (nghttp2_nv){st->trail.p + at, st->trail.p + at + lens[0], lens[0], lens[1], NGHTTP2_NV_FLAG_NONE};
        at += (size_t)lens[0] + lens[1];
    }
    int rv = nghttp2_submit_trailer(session, st->sid, nva, st->ntrail);
    free(nva);
    return rv;
}

static ssize_t read_body(nghttp2_session *session, int32_t sid, uint8_t *buf, size_t length, uint32_t *data_flags,
                         nghttp2_data_source *source, void *user) {
    h2_server *s = user;
    h2_stream *st = source->ptr;
    (void)session;
    (void)sid;
    size_t held = buf_held(&st->out);
    size_t n = held < length ? held : length;
    if (n) {
        memcpy(buf, st->out.p + st->out.off, n);
        st->out.off += n;
        st->progress = s->now;
    }
    if (st->out.off == st->out.len) {
        st->out.off = st->out.len = 0;
        if (st->end_after) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            if (st->trailed)
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (st->trailed && submit_trailers(session, st) != 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* (no memory: the stream is reset) */
        } else if (n == 0) {
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

/* An h2c upgrade's SETTINGS payload, judged as a SETTINGS frame's would be (RFC 9113 section 6.5.2): nghttp2 takes
 * one that is not valid and ends the connection later; the request that carried it deserves its 400 now. */
static int settings_valid(const uint8_t *p, size_t len) {
    if (len % 6)
        return 0;
    for (size_t i = 0; i < len; i += 6) {
        uint32_t id = ((uint32_t)p[i] << 8) | p[i + 1];
        uint32_t v = ((uint32_t)p[i + 2] << 24) | ((uint32_t)p[i + 3] << 16) | ((uint32_t)p[i + 4] << 8) | p[i + 5];
        if (((id == NGHTTP2_SETTINGS_ENABLE_PUSH || id == 8 || id == 9) && v > 1) || /* (8, 9: RFC 8441, 9218) */
            (id == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE && v > 0x7fffffffu) ||
            (id == NGHTTP2_SETTINGS_MAX_FRAME_SIZE && (v < 16384 || v > 16777215)))
            return 0;
    }
    return 1;
}

/* -- the connection ----------------------------------------------------------------------------------------------- */

int h2_server_init(h2_server *s, const h2_limits *lim, h2_emit_fn emit_fn, void *ctx, const uint8_t *settings,
                   size_t settings_len, int head_request) {
    memset(s, 0, sizeof *s);
    s->lim = *lim;
    s->emit = emit_fn;
    s->ctx = ctx;
    s->last_sid = -1;
    s->guard.skip = PREFACE_LEN;
    s->guard.block = -1;
    s->guard.kind = -1;
    bucket_init(&s->guard.resets, lim->resets_burst, lim->resets_rate);
    bucket_init(&s->guard.control, lim->control_burst, lim->control_rate);
    bucket_init(&s->guard.empty, lim->empty_burst, lim->empty_rate);

    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame_recv);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return -1;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1); /* credit goes back as the application consumes */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, ENCODER_TABLE);
    /* Without priorities nghttp2 keeps no closed stream: s->closed_sids remembers the last ones instead. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    /* A response's fields are the application's: nghttp2 would drop a block over 64 KiB without a word. */
    nghttp2_option_set_max_send_header_block_length(opt, MAX_SEND_BLOCK);
    /* The guard's bucket counts resets, on the transport's clock: nghttp2's own (1000, then 33 a second, on its
     * clock) would end a client that resets steadily within the guard's rate. */
    nghttp2_option_set_stream_reset_rate_limit(opt, UINT64_MAX / 2, UINT64_MAX / 2);
    int rv = nghttp2_session_server_new2(&s->session, cb, s, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        s->session = NULL;
        return -1;
    }
    if (settings != NULL) {
        if (!settings_valid(settings, settings_len)) {
            h2_server_free(s);
            return -2;
        }
        h2_stream *st = stream_new(s, 1);
        if (st == NULL)
            goto nomem;
        rv = nghttp2_session_upgrade2(s->session, settings, settings_len, head_request, st);
        if (rv != 0) {
            stream_free(s, st);
            h2_server_free(s);
            return rv == NGHTTP2_ERR_NOMEM ? -1 : -2;
        }
        /* (nghttp2 keeps the user data it is given here for a client only) */
        if (nghttp2_session_set_stream_user_data(s->session, 1, st) != 0) {
            stream_free(s, st);
            goto nomem;
        }
        st->is_request = st->ended = st->reported = 1;
        open_link(s, st);
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_header_bytes},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, lim->window},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, lim->max_frame_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1}, /* priorities are ignored (RFC 9113 section 5.3.1) */
    };
    if (nghttp2_submit_settings(s->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        goto nomem;
    if (lim->window > 65535 && /* the connection's window, which SETTINGS cannot open */
        nghttp2_session_set_local_window_size(s->session, NGHTTP2_FLAG_NONE, 0, (int32_t)lim->window) != 0)
        goto nomem;
    return 0;
nomem:
    h2_server_free(s);
    return -1;
}

void h2_server_free(h2_server *s) {
    if (s->session != NULL) {
        nghttp2_session_del(s->session); /* (it calls no stream-close callback) */
        s->session = NULL;
    }
    while (s->all)
        stream_free(s, s->all);
    s->open = NULL;
    s->nopen = 0;
    buf_free(&s->wire);
    free(s->ahead);
    s->ahead = NULL;
    s->nahead = s->ahead_cap = 0;
    s->closed = 1;
}

int h2_pump(h2_server *s) {
    if (s->session == NULL || s->closed)
        return -1;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s->session, &data);
        if (n == 0)
            return 0;
        if (n < 0 || buf_append(&s->wire, data, (size_t)n) < 0)
            return fail(s, H2_INTERNAL_ERROR, n < 0 ? nghttp2_strerror((int)n) : "out of memory");
    }
}

void h2_wire_taken(h2_server *s) {
    s->wire.len = s->wire.off = 0;
}

/* The connection is over (h2_core._end): every open stream is reset, then the GOAWAY event. */
static void end(h2_server *s, uint32_t code, const char *why) {
    while (s->open) {
        h2_stream *st = s->open;
        int32_t sid = st->sid;
        open_unlink(s, st);
        (void)emit(s, H2_EV_RESET, sid, H2_CANCEL, NULL, NULL, 0);
    }
    s->closed = 1;
    (void)emit(s, H2_EV_GOAWAY, 0, code, NULL, (const uint8_t *)why, strlen(why));
}

/* We end the connection (h2_core._goaway): our GOAWAY goes out, then the end's events. */
static void goaway(h2_server *s, uint32_t code, const char *why) {
    if (s->closed)
        return;
    if (why == NULL) /* (an emit that failed: no memory for the event) */
        why = "out of memory";
    int32_t last = nghttp2_session_get_last_proc_stream_id(s->session);
    if (s->last_sid >= 0 && s->last_sid < last)
        last = (int32_t)s->last_sid;
    size_t why_len = strlen(why);
    s->own_goaway = 1;
    (void)nghttp2_submit_goaway(s->session, NGHTTP2_FLAG_NONE, last, code, (const uint8_t *)why,
                                why_len < 256 ? why_len : 256);
    (void)h2_pump(s);
    end(s, code, why);
}

int h2_feed(h2_server *s, const uint8_t *data, size_t len, double now) {
    if (s->closed)
        return 0;
    s->now = now;
    /* What was answered goes out before more is read: a stream answered whole is no longer open. */
    if (h2_pump(s) < 0) {
        goaway(s, s->fail_code, s->fail_why);
        return s->emit_failed ? -1 : 0;
    }
    for (h2_stream *st = s->open; st; st = st->next)
        st->waited = buf_held(&st->out) > 0;
    if (guard_scan(s, data, len) < 0) {
        goaway(s, s->fail_code, s->fail_why);
        return s->emit_failed ? -1 : 0;
    }
    ssize_t rv = nghttp2_session_mem_recv(s->session, data, len);
    if (s->emit_failed) {
        goaway(s, H2_INTERNAL_ERROR, "out of memory");
        return -1;
    }
    if (s->peer_goaway) {
        end(s, s->peer_code, "the client sent GOAWAY");
        return s->emit_failed ? -1 : 0;
    }
    if (s->failing) {
        goaway(s, s->fail_code, s->fail_why);
    } else if (rv < 0) {
        uint32_t code = rv == NGHTTP2_ERR_FLOODED ? H2_ENHANCE_YOUR_CALM : H2_PROTOCOL_ERROR;
        goaway(s, code,
               rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? "not the HTTP/2 connection preface" : nghttp2_strerror((int)rv));
    } else if (h2_pump(s) < 0) {
        goaway(s, s->fail_code, s->fail_why);
    } else if (s->lib_goaway) {
        end(s, s->lib_code, s->lib_why[0] ? s->lib_why : "a protocol error");
    } else {
        for (h2_stream *st = s->open; st; st = st->next)
            if (st->waited && buf_held(&st->out) == 0 && emit(s, H2_EV_WINDOW, st->sid, 0, NULL, NULL, 0) < 0)
                break;
    }
    for (h2_stream *st = s->open; st; st = st->next)
        st->waited = 0;
    return s->emit_failed ? -1 : 0;
}

int h2_respond(h2_server *s, int32_t sid, const nghttp2_nv *nva, size_t nvlen, const uint8_t *body, size_t len,
               int end_stream) {
    h2_stream *st = h2_find(s, sid);
    if (s->closed || st == NULL || !st->open || st->headed)
        return 0;
    int rv;
    if (end_stream && len == 0) {
        rv = nghttp2_submit_response(s->session, sid, nva, nvlen, NULL);
    } else {
        if (buf_append(&st->out, body, len) < 0)
            return -1;
        st->end_after = (uint8_t)(end_stream != 0);
        st->progress = s->now;
        nghttp2_data_provider prd;
        prd.source.ptr = st;
        prd.read_callback = read_body;
        rv = nghttp2_submit_response(s->session, sid, nva, nvlen, &prd);
        st->providing = rv == 0;
    }
    if (rv == NGHTTP2_ERR_NOMEM)
        return -1;
    if (rv != 0) {
        h2_reset(s, sid, H2_INTERNAL_ERROR);
        return 0;
    }
    st->headed = 1;
    return 1;
}

int64_t h2_send(h2_server *s, int32_t sid, const uint8_t *data, size_t len, int end_stream) {
    h2_stream *st = h2_find(s, sid);
    if (s->closed || st == NULL || !st->open)
        return -1;
    if (!st->headed)
        return -2;
    if (len) {
        if (buf_held(&st->out) == 0)
            st->progress = s->now;
        if (buf_append(&st->out, data, len) < 0)
            return -3;
    }
    if (end_stream)
        st->end_after = 1;
    if (st->providing)
        (void)nghttp2_session_resume_data(s->session, sid);
    if (h2_pump(s) < 0)
        return -1;
    st = h2_find(s, sid); /* (the pump may have sent it all, and the stream be gone) */
    return st == NULL || !st->open ? 0 : (int64_t)buf_held(&st->out);
}

int h2_trailers(h2_server *s, int32_t sid, const nghttp2_nv *nva, size_t nvlen) {
    h2_stream *st = h2_find(s, sid);
    if (s->closed || st == NULL || !st->open || st->end_after)
        return 0;
    if (!st->headed || !st->providing)
        return st->headed ? 0 : -2;
    for (size_t i = 0; i < nvlen; i++) {
        if (nva[i].namelen > UINT32_MAX / 4 || nva[i].valuelen > UINT32_MAX / 4)
            return -1;
        uint32_t lens[2] = {(uint32_t)nva[i].namelen, (uint32_t)nva[i].valuelen};
        if (buf_append(&st->trail, lens, sizeof lens) < 0 || buf_append(&st->trail, nva[i].name, lens[0]) < 0 ||
            buf_append(&st->trail, nva[i].value, lens[1]) < 0)
            return -1;
    }
    st->ntrail = (uint32_t)nvlen;
    st->trailed = 1;
    st->end_after = 1;
    (void)nghttp2_session_resume_data(s->session, sid);
    return h2_pump(s) < 0 ? 0 : 1;
}

void h2_consume(h2_server *s, int32_t sid, uint64_t n) {
    if (sid <= 0 || n == 0 || s->closed)
        return;
    for (uint32_t i = 0; i < s->nahead; i++) {
        if (s->ahead[i].sid != sid)
            continue;
        uint64_t taken = s->ahead[i].n < n ? s->ahead[i].n : n;
        n -= taken;
        s->ahead[i].n -= taken;
        if (s->ahead[i].n == 0)
            s->ahead[i] = s->ahead[--s->nahead];
        break;
    }
    while (n > 0) { /* (a closed stream's credit is the connection's) */
        size_t step = n > (uint64_t)INT32_MAX ? (size_t)INT32_MAX : (size_t)n;
        (void)nghttp2_session_consume(s->session, sid, step);
        n -= step;
    }
}

void h2_reset(h2_server *s, int32_t sid, uint32_t code) {
    h2_stream *st = h2_find(s, sid);
    if (st == NULL || !st->open || s->closed)
        return;
    open_unlink(s, st);
    submit_reset(s, sid, code);
}

void h2_shutdown(h2_server *s) {
    if (s->closed || s->last_sid >= 0)
        return;
    s->last_sid = nghttp2_session_get_last_proc_stream_id(s->session);
    (void)nghttp2_submit_goaway(s->session, NGHTTP2_FLAG_NONE, (int32_t)s->last_sid, H2_NO_ERROR, NULL, 0);
}

int h2_finished(h2_server *s) {
    if (!s->closed)
        (void)h2_pump(s);
    return s->closed || (s->last_sid >= 0 && s->nopen == 0);
}

int64_t h2_held(h2_server *s, int32_t sid) {
    h2_stream *st = h2_find(s, sid);
    return st == NULL || !st->open ? -1 : (int64_t)buf_held(&st->out);
}

uint64_t h2_held_out(h2_server *s) {
    uint64_t total = 0;
    (void)h2_pump(s); /* (what was submitted and the windows let out is not held) */
    for (h2_stream *st = s->open; st; st = st->next)
        total += buf_held(&st->out);
    return total;
}
