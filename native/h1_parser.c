/*
 * CovetPy HTTP/1.1 request parser: the pure C core.  See h1_parser.h for the API.
 *
 * How a head is handled: the connection layer first finds where the head
 * ends (one memchr per line, resumable across feeds so a client sending one
 * byte at a time costs linear time), and only then parses the complete head
 * in one pass.  Splitting the two keeps the parser free of "need more data"
 * paths, and means a head is parsed exactly once however it was split.
 * Every decision made early on a partial head (431, 414, bare LF, bad method
 * byte) is one the full parse would make too, with the same status, so the
 * result never depends on how the bytes were split.
 */
#include "h1_parser.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define H1_HAVE_SSE2 1
#endif

/* ------------------------------------------------------------ messages */

#define M_BAD_METHOD "Invalid request method"
#define M_EMPTY_TARGET "Empty request target"
#define M_BAD_TARGET "Invalid character in request target"
#define M_FRAGMENT "Fragment (#) in request target"
#define M_LONG_TARGET "Request target too long"
#define M_BAD_REQLINE "Malformed request line"
#define M_BAD_VERSION "Invalid HTTP version"
#define M_VERSION "HTTP version not supported"
#define M_BARE_LF "Line ending without CR (bare LF)"
#define M_BAD_CR "CR not followed by LF"
#define M_EMPTY_LINES "Too many empty lines before the request line"
#define M_BAD_FORM "Invalid request target form"
#define M_ASTERISK "Asterisk-form target is only allowed with OPTIONS"
#define M_ABS_AUTHORITY "Invalid authority in absolute-form target"
#define M_CONNECT "CONNECT is not supported"
#define M_OBS_FOLD "Obsolete line folding is not allowed"
#define M_EMPTY_NAME "Empty header field name"
#define M_BAD_NAME "Invalid character in header field name"
#define M_WS_COLON "Whitespace between header field name and colon"
#define M_BAD_VALUE "Invalid character in header field value"
#define M_TOO_MANY "Too many header fields"
#define M_HEAD_LARGE "Request header section too large"
#define M_NO_HOST "Missing Host header"
#define M_MULTI_HOST "More than one Host header"
#define M_BAD_HOST "Invalid Host header"
#define M_BAD_CL "Invalid Content-Length"
#define M_CL_CONFLICT "Conflicting Content-Length values"
#define M_BODY_LARGE "Request body too large"
#define M_TE_CL "Content-Length and Transfer-Encoding together"
#define M_TE_10 "Transfer-Encoding in an HTTP/1.0 request"
#define M_BAD_TE "Invalid Transfer-Encoding"
#define M_TE_NOT_LAST "Transfer coding chunked is not the final one"
#define M_TE_TWICE "Transfer coding chunked is applied twice"
#define M_TE_UNSUPPORTED "Unsupported transfer coding"
#define M_CK_SIZE "Invalid chunk size"
#define M_CK_BIG "Chunk size has too many digits"
#define M_CK_EXT "Invalid chunk extension"
#define M_CK_QUOTE "Unterminated quoted string in chunk extension"
#define M_CK_LINE "Chunk size line too long"
#define M_CK_CRLF "Chunk data not followed by CRLF"
#define M_TRAILER_LARGE "Trailer section too large"
#define M_NOMEM "Out of memory"
#define M_INTERNAL "Header storage too small"

/* -------------------------------------------------------------- tables */

/* clang-format off: 16 byte values a row, so a byte's row and column read as its hex digits */
const unsigned char h1_tchar_lc[256] = {
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   33,  0,   35,  36,  37,  38,  39,  0,   0,   42,  43,
    0,   45,  46,  0,   48,  49,  50,  51,  52,  53,  54,  55,  56,  57,  0,   0,   0,   0,   0,   0,   0,   97,
    98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119,
    120, 121, 122, 0,   0,   0,   94,  95,  96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
    110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 0,   124, 0,   126, 0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
};
/* clang-format on */

const char *const h1_method_names[H1_M__COUNT] = {
    "", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
};

const char *const h1_header_names[H1_H__COUNT] = {
    "",
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "connection",
    "transfer-encoding",
    "expect",
    "cookie",
    "authorization",
    "cache-control",
    "origin",
    "referer",
    "upgrade",
    "if-none-match",
    "if-modified-since",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-request-id",
    "pragma",
    "range",
    "te",
    "keep-alive",
    "content-encoding",
    "if-match",
    "upgrade-insecure-requests",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-fetch-user",
    "dnt",
    "date",
    "forwarded",
    "via",
    "accept-charset",
    "sec-websocket-key",
    "sec-websocket-version",
    "trailer",
};

/* Candidates by name length, so a lookup compares against at most six
 * names of the right length; each row ends with a 0. */
static const uint8_t hdr_by_len[26][7] = {
    [2] = {H1_H_TE},
    [3] = {H1_H_DNT, H1_H_VIA},
    [4] = {H1_H_HOST, H1_H_DATE},
    [5] = {H1_H_RANGE},
    [6] = {H1_H_ACCEPT, H1_H_EXPECT, H1_H_COOKIE, H1_H_ORIGIN, H1_H_PRAGMA},
    [7] = {H1_H_REFERER, H1_H_UPGRADE, H1_H_TRAILER},
    [8] = {H1_H_IF_MATCH},
    [9] = {H1_H_X_REAL_IP, H1_H_FORWARDED},
    [10] = {H1_H_USER_AGENT, H1_H_CONNECTION, H1_H_KEEP_ALIVE},
    [12] = {H1_H_CONTENT_TYPE, H1_H_X_REQUEST_ID},
    [13] = {H1_H_AUTHORIZATION, H1_H_CACHE_CONTROL, H1_H_IF_NONE_MATCH},
    [14] = {H1_H_CONTENT_LENGTH, H1_H_SEC_FETCH_SITE, H1_H_SEC_FETCH_MODE, H1_H_SEC_FETCH_DEST, H1_H_SEC_FETCH_USER,
            H1_H_ACCEPT_CHARSET},
    [15] = {H1_H_ACCEPT_ENCODING, H1_H_ACCEPT_LANGUAGE, H1_H_X_FORWARDED_FOR},
    [16] = {H1_H_X_FORWARDED_HOST, H1_H_CONTENT_ENCODING},
    [17] = {H1_H_TRANSFER_ENCODING, H1_H_IF_MODIFIED_SINCE, H1_H_X_FORWARDED_PROTO, H1_H_SEC_WEBSOCKET_KEY},
    [21] = {H1_H_SEC_WEBSOCKET_VERSION},
    [25] = {H1_H_UPGRADE_INSECURE_REQUESTS},
};

/* Case-insensitive compare of a validated token with a lower-case literal.
 * Going through h1_tchar_lc (rather than |0x20) keeps it exact for any
 * byte, should a caller ever pass something that is not a token. */
static int token_ieq(const unsigned char *s, size_t n, const char *lc) {
    size_t i;
    for (i = 0; i < n; i++)
        if (h1_tchar_lc[s[i]] != (unsigned char)lc[i] || lc[i] == '\0')
            return 0;
    return lc[n] == '\0';
}

static uint8_t header_id(const unsigned char *s, size_t n) {
    const uint8_t *cand;
    if (n >= sizeof hdr_by_len / sizeof hdr_by_len[0])
        return H1_H_OTHER;
    for (cand = hdr_by_len[n]; *cand; cand++) {
        const char *k = h1_header_names[*cand];
        /* the first letter rules out most candidates cheaply */
        if (h1_tchar_lc[s[0]] == (unsigned char)k[0] && token_ieq(s, n, k))
            return *cand;
    }
    return H1_H_OTHER;
}

static uint8_t method_id(const unsigned char *m, size_t n) {
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return H1_M_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return H1_M_PUT;
        break;
    case 4:
        if (memcmp(m, "POST", 4) == 0)
            return H1_M_POST;
        if (memcmp(m, "HEAD", 4) == 0)
            return H1_M_HEAD;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0)
            return H1_M_PATCH;
        if (memcmp(m, "TRACE", 5) == 0)
            return H1_M_TRACE;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return H1_M_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return H1_M_OPTIONS;
        if (memcmp(m, "CONNECT", 7) == 0)
            return H1_M_CONNECT;
        break;
    default:
        break;
    }
    return H1_M_OTHER;
}

/* ------------------------------------------------------------ scanners */

/* First byte that cannot be part of a request-target (<= 0x20, >= 0x7f, or
 * '#'), or end.  '#' starts a fragment, which RFC 9112 3.2 leaves out of
 * every request-target form: stopping the scan there lets the request line
 * refuse it by the same path, early check included, as any other bad byte. */
static const unsigned char *scan_target(const unsigned char *p, const unsigned char *end) {
#ifdef H1_HAVE_SSE2
    /* A signed compare against 0x21 catches 0x00-0x20 and, as negative
     * numbers, 0x80-0xff in one instruction; DEL and '#' need their own. */
    const __m128i lo = _mm_set1_epi8(0x21);
    const __m128i del = _mm_set1_epi8(0x7f);
    const __m128i hash = _mm_set1_epi8('#');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i bad =
            _mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmpeq_epi8(v, hash)));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    /* 0x20 < *p, not *p > 0x20: clang-format (C++ rules) reads "p < end && *p >" as a template */
    while (p < end && 0x20 < *p && *p < 0x7f && *p != '#')
        p++;
    return p;
}

/* First byte that is a CTL other than HTAB (0x00-0x08, 0x0a-0x1f, 0x7f),
 * or end.  *high collects whether a byte >= 0x80 was passed. */
static const unsigned char *scan_value(const unsigned char *p, const unsigned char *end, unsigned *high) {
    unsigned hi = 0;
#ifdef H1_HAVE_SSE2
    /* Unsigned "v <= 0x1f" is "min(v, 0x1f) == v"; HTAB is then masked out
     * so that tab-separated values stay on the vector path. */
    const __m128i c1f = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    const __m128i tab = _mm_set1_epi8('\t');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
        __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        unsigned h = (unsigned)_mm_movemask_epi8(v);
        if (m) {
            unsigned i = (unsigned)__builtin_ctz(m);
            *high |= hi | (h & ((1u << i) - 1u));
            return p + i;
        }
        hi |= h;
        p += 16;
    }
#endif
    while (p < end) {
        unsigned c = *p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            break;
        hi |= c & 0x80u;
        p++;
    }
    *high |= hi;
    return p;
}

static inline int is_ows(unsigned c) {
    return c == ' ' || c == '\t';
}

static int hexval(unsigned c) {
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

/* ------------------------------------------------------- field semantics */

/* Content-Length: "1*DIGIT" or a list of identical ones ("5, 5"), also
 * across repeated fields.  Values are compared as digit strings with
 * leading zeros dropped, so no length is ever too long to compare. */
static int cl_merge(const unsigned char *v, size_t n, const unsigned char **digits, size_t *ndig, const char **msg) {
    const unsigned char *p = v, *end = v + n;
    for (;;) {
        const unsigned char *s, *e;
        while (p < end && is_ows(*p))
            p++;
        s = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        e = p;
        while (p < end && is_ows(*p))
            p++;
        if (s == e || (p < end && *p != ',')) {
            *msg = M_BAD_CL;
            return 400;
        }
        while (e - s > 1 && *s == '0')
            s++;
        if (*digits == NULL) {
            *digits = s;
            *ndig = (size_t)(e - s);
        } else if (*ndig != (size_t)(e - s) || memcmp(*digits, s, *ndig) != 0) {
            *msg = M_CL_CONFLICT;
            return 400;
        }
        if (p == end)
            return 0;
        p++;
    }
}

/* ---------------------------------------------------------------- hosts */

/* unreserved / sub-delims (RFC 3986 2.3, 2.2): the reg-name bytes besides
 * pct-encoded ones; also what IPvFuture allows after its '.', with ':'. */
static int regname_char(unsigned c) {
    if ((c | 0x20) - 'a' < 26 || c - '0' < 10)
        return 1;
    switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
        return 1;
    default:
        return 0;
    }
}

static int is_digit(unsigned c) {
    return c - '0' < 10;
}

/* IPv4address (RFC 3986 3.2.2): four dec-octets, 0-255, no leading 0. */
static int ipv4_ok(const unsigned char *p, size_t n) {
    size_t i = 0;
    int part;
    for (part = 0; part < 4; part++) {
        size_t s;
        unsigned v = 0;
        if (part) {
            if (i == n || p[i] != '.')
                return 0;
            i++;
        }
        s = i;
        while (i < n && i - s < 3 && is_digit(p[i]))
            v = v * 10 + (unsigned)(p[i++] - '0');
        if (i == s || v > 255 || (i - s > 1 && p[s] == '0'))
            return 0;
    }
    return i == n;
}

/* IPv6address (RFC 3986 3.2.2), said shortly: pieces of 1-4 hex digits
 * separated by ':', the last two of which may be an IPv4address; eight
 * pieces, or fewer and exactly one "::" standing for at least one. */
static int ipv6_ok(const unsigned char *p, size_t n) {
    size_t i = 0, pieces = 0;
    int gap = 0;
    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 1;
        i = 2;
    }
    while (i < n) {
        size_t s = i;
        while (i < n && i - s < 5 && hexval(p[i]) >= 0)
            i++;
        if (i < n && p[i] == '.') {
            /* only as the last piece; counts as two */
            if (!ipv4_ok(p + s, n - s))
                return 0;
            pieces += 2;
            break;
        }
        if (i == s || i - s > 4)
            return 0;
        pieces++;
        if (i == n)
            break;
        if (p[i] != ':' || ++i == n)
            return 0; /* a ':' ends no address */
        if (p[i] == ':') {
            if (gap)
                return 0;
            gap = 1;
            i++;
        }
    }
    return gap ? pieces <= 7 : pieces == 8;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static int ipfuture_ok(const unsigned char *p, size_t n) {
    size_t i = 1;
    if (n == 0 || (p[0] | 0x20) != 'v')
        return 0;
    while (i < n && hexval(p[i]) >= 0)
        i++;
    if (i == 1 || i == n || p[i] != '.' || ++i == n)
        return 0;
    for (; i < n; i++)
        if (!regname_char(p[i]) && p[i] != ':')
            return 0;
    return 1;
}

/*
 * uri-host [ ":" port ] (RFC 9110 7.2 and 4.2.1, RFC 3986 3.2.2-3.2.3):
 * an IP-literal in brackets (IPv6address or IPvFuture; no RFC 6874 zone
 * ID, which HTTP does not take), or a reg-name (which also covers
 * IPv4address), then optional port digits.  The empty value is allowed
 * only if allow_empty: a Host field may be empty (RFC 9112 3.2), an
 * authority may not.  A host is never empty when a port follows: ":80"
 * names no host, the one thing a Host or an authority is for.
 */
static int host_ok(const unsigned char *p, size_t n, int allow_empty) {
    size_t i = 0;
    if (n == 0)
        return allow_empty;
    if (p[0] == '[') {
        const unsigned char *close = memchr(p, ']', n);
        size_t m;
        if (!close)
            return 0;
        m = (size_t)(close - p) - 1;
        if (!ipv6_ok(p + 1, m) && !ipfuture_ok(p + 1, m))
            return 0;
        i = m + 2;
    } else {
        while (i < n && p[i] != ':') {
            if (p[i] == '%') {
                if (n - i < 3 || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
                    return 0;
                i += 3;
            } else if (regname_char(p[i])) {
                i++;
            } else {
                return 0;
            }
        }
        if (i == 0)
            return 0;
    }
    if (i < n) {
        if (p[i] != ':')
            return 0;
        for (i++; i < n; i++)
            if (!is_digit(p[i]))
                return 0;
    }
    return 1;
}

typedef struct {
    unsigned chunked; /* how often "chunked" appeared */
    unsigned other;   /* codings other than plain "chunked" */
    int last_chunked; /* the final coding so far is chunked */
} te_state;

/* Transfer-Encoding elements accumulate across fields in order, as if the
 * fields were one comma list (RFC 9110 5.3). */
static int te_merge(const unsigned char *v, size_t n, te_state *te, const char **msg) {
    const unsigned char *p = v, *end = v + n;
    for (;;) {
        const unsigned char *s, *e;
        int params = 0;
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p == end)
            return 0;
        s = p;
        while (p < end && h1_tchar_lc[*p])
            p++;
        e = p;
        while (p < end && is_ows(*p))
            p++;
        if (s == e || (p < end && *p != ',' && *p != ';')) {
            *msg = M_BAD_TE;
            return 400;
        }
        if (p < end && *p == ';') {
            /* Parameters are not interpreted: a coding with parameters is
             * refused either way (chunked takes none; others are 501), so
             * only finding where the element ends matters. */
            params = 1;
            while (p < end && *p != ',')
                p++;
        }
        if (token_ieq(s, (size_t)(e - s), "chunked")) {
            if (params) {
                *msg = M_BAD_TE;
                return 400;
            }
            te->chunked++;
            te->last_chunked = 1;
        } else {
            te->other++;
            te->last_chunked = 0;
        }
    }
}

/* Connection options: only "close" and "keep-alive" matter here. */
static void connection_tokens(const unsigned char *v, size_t n, int *close, int *keep) {
    const unsigned char *p = v, *end = v + n;
    while (p < end) {
        const unsigned char *s, *e;
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        s = p;
        while (p < end && *p != ',')
            p++;
        e = p;
        while (e > s && is_ows(e[-1]))
            e--;
        if (token_ieq(s, (size_t)(e - s), "close"))
            *close = 1;
        else if (token_ieq(s, (size_t)(e - s), "keep-alive"))
            *keep = 1;
    }
}

static int has_http_scheme(const unsigned char *t, size_t n, size_t *skip) {
    if (n >= 7 && token_ieq(t, 4, "http") && memcmp(t + 4, "://", 3) == 0) {
        *skip = 7;
        return 1;
    }
    if (n >= 8 && token_ieq(t, 5, "https") && memcmp(t + 5, "://", 3) == 0) {
        *skip = 8;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------- head parser */

#define FAIL(st, m)  \
    do {             \
        *msg = (m);  \
        return (st); \
    } while (0)

int h1_parse_head(const char *buf, size_t len, const h1_limits *lim, h1_request *req, h1_header *hdrs, size_t hdr_cap,
                  const char **msg) {
    const unsigned char *p = (const unsigned char *)buf;
    const unsigned char *const end = p + len;
    const unsigned char *s, *t;
    const unsigned char *cl_digits = NULL;
    const unsigned char *auth = NULL; /* authority of an absolute-form target */
    h1_header *host = NULL;
    size_t n, nh = 0, cl_ndig = 0, n_auth = 0;
    unsigned hosts = 0;
    int te_seen = 0, conn_close = 0, conn_keep = 0, expect = 0, st;
    te_state te = {0, 0, 0};

    *msg = NULL;
    memset(req, 0, sizeof *req);
    if (len > lim->max_header_bytes)
        FAIL(431, M_HEAD_LARGE);

    /* method SP request-target SP HTTP-version CRLF */
    s = p;
    while (p < end && h1_tchar_lc[*p])
        p++;
    if (p == s || p == end || *p != ' ')
        FAIL(400, M_BAD_METHOD);
    req->method = (const char *)s;
    req->method_len = (size_t)(p - s);
    req->method_id = method_id(s, req->method_len);
    p++;

    t = p;
    p = scan_target(p, end);
    n = (size_t)(p - t);
    /* the same order of checks as the early check in rl_precheck() */
    if (n > lim->max_target)
        FAIL(414, M_LONG_TARGET);
    if (p < end && *p == '#')
        FAIL(400, M_FRAGMENT);
    if (n == 0)
        FAIL(400, M_EMPTY_TARGET);
    if (p == end || *p != ' ')
        FAIL(400, (p < end && *p == '\r') ? M_BAD_REQLINE : M_BAD_TARGET);
    req->target = (const char *)t;
    req->target_len = n;
    p++;

    if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0 || (unsigned)(p[5] - '0') > 9 || p[6] != '.' ||
        (unsigned)(p[7] - '0') > 9 || p[8] != '\r')
        FAIL(400, M_BAD_VERSION);
    if (p[5] != '1')
        FAIL(505, M_VERSION);
    if (p[9] != '\n')
        FAIL(400, M_BAD_CR);
    /* RFC 9110 2.5: a later minor version of a major one we implement is
     * processed as the highest minor we conform to, so HTTP/1.2 .. HTTP/1.9
     * are HTTP/1.1 here (and everywhere above: keep-alive, chunked, Host). */
    req->minor = (uint8_t)(p[7] == '0' ? 0 : 1);
    p += 10;

    if (req->method_id == H1_M_CONNECT)
        FAIL(501, M_CONNECT);

    if (t[0] == '/') {
        req->path = (const char *)t;
    } else if (n == 1 && t[0] == '*') {
        if (req->method_id != H1_M_OPTIONS)
            FAIL(400, M_ASTERISK);
        req->path = (const char *)t;
    } else {
        size_t skip;
        const unsigned char *a, *te_ = t + n;
        if (!has_http_scheme(t, n, &skip))
            FAIL(400, M_BAD_FORM);
        a = t + skip;
        s = a;
        while (s < te_ && *s != '/' && *s != '?')
            s++;
        /* host[:port] and nothing else: userinfo is deprecated and a
         * classic spoofing vector, and an http(s) URI without a host is
         * invalid (RFC 9110 4.2.1).  The authority becomes the Host field
         * the request reports (see below), so it obeys the same grammar. */
        if (!host_ok(a, (size_t)(s - a), 0))
            FAIL(400, M_ABS_AUTHORITY);
        auth = a;
        n_auth = (size_t)(s - a);
        if (s == te_ || *s == '?') {
            static const char slash[] = "/";
            req->path = slash;
            req->path_len = 1;
            if (s < te_) {
                req->query = (const char *)s + 1;
                req->query_len = (size_t)(te_ - s) - 1;
            }
            goto fields;
        }
        req->path = (const char *)s;
    }
    {
        const char *tend = req->target + n;
        const char *q = memchr(req->path, '?', (size_t)(tend - req->path));
        if (q) {
            req->path_len = (size_t)(q - req->path);
            req->query = q + 1;
            req->query_len = (size_t)(tend - q) - 1;
        } else {
            req->path_len = (size_t)(tend - req->path);
        }
    }

fields:
    for (;;) {
        const unsigned char *v, *ve;
        h1_header *h;
        unsigned high = 0;

        if (p == end)
            FAIL(400, M_BAD_CR);
        if (*p == '\r') {
            if (end - p != 2 || p[1] != '\n')
                FAIL(400, M_BAD_CR);
            break;
        }
        if (is_ows(*p))
            FAIL(400, M_OBS_FOLD);
        s = p;
        while (p < end && h1_tchar_lc[*p])
            p++;
        if (p == end || *p != ':') {
            if (p < end && p > s && is_ows(*p))
                FAIL(400, M_WS_COLON);
            FAIL(400, M_BAD_NAME);
        }
        if (p == s)
            FAIL(400, M_EMPTY_NAME);
        n = (size_t)(p - s);
        p++;
        while (p < end && is_ows(*p))
            p++;
        v = p;
        p = scan_value(p, end, &high);
        if (p == end || *p != '\r')
            FAIL(400, M_BAD_VALUE);
        if (end - p < 2 || p[1] != '\n')
            FAIL(400, M_BAD_CR);
        ve = p;
        while (ve > v && is_ows(ve[-1]))
            ve--;
        p += 2;

        if (nh >= lim->max_headers)
            FAIL(431, M_TOO_MANY);
        if (nh >= hdr_cap)
            FAIL(500, M_INTERNAL);
        h = &hdrs[nh++];
        h->name = (const char *)s;
        h->name_len = n;
        h->value = (const char *)v;
        h->value_len = (size_t)(ve - v);
        h->value_8bit = high != 0;
        h->id = header_id(s, n);

        switch (h->id) {
        case H1_H_HOST:
            if (++hosts > 1)
                FAIL(400, M_MULTI_HOST);
            /* RFC 9112 3.2: an invalid Host value is a 400, whatever the
             * target's form */
            if (!host_ok(v, h->value_len, 1))
                FAIL(400, M_BAD_HOST);
            host = h;
            break;
        case H1_H_CONTENT_LENGTH:
            st = cl_merge(v, h->value_len, &cl_digits, &cl_ndig, msg);
            if (st)
                return st;
            break;
        case H1_H_TRANSFER_ENCODING:
            te_seen = 1;
            st = te_merge(v, h->value_len, &te, msg);
            if (st)
                return st;
            break;
        case H1_H_CONNECTION:
            connection_tokens(v, h->value_len, &conn_close, &conn_keep);
            break;
        case H1_H_EXPECT:
            if (token_ieq(v, h->value_len, "100-continue"))
                expect = 1;
            break;
        default:
            break;
        }
    }
    if (req->minor == 1 && hosts == 0)
        FAIL(400, M_NO_HOST);
    if (auth) {
        /*
         * RFC 9112 3.2.2: with an absolute-form target the host is the
         * target's authority, and a Host field is ignored.  The layers above
         * (and the routes) learn the host from the Host field only, so
         * rather than report a second host beside it, which each of them
         * would have to know to prefer, the parser reports the authority
         * as the Host field's value: in place, keeping the field order, or,
         * on an HTTP/1.0 request that sent no Host, as a field "host"
         * added last (outside max_headers, which counts field lines).
         * The Host value sent was still checked above: RFC 9112 3.2 makes
         * an invalid one a 400 whatever the target.
         */
        if (!host) {
            static const char host_name[] = "host";
            if (nh >= hdr_cap)
                FAIL(500, M_INTERNAL);
            host = &hdrs[nh++];
            host->name = host_name;
            host->name_len = sizeof host_name - 1;
            host->id = H1_H_HOST;
        }
        host->value = (const char *)auth;
        host->value_len = n_auth;
        host->value_8bit = 0;
    }
    req->headers = hdrs;
    req->num_headers = nh;
    if (te_seen) {
        /* RFC 9112 6.1 and 6.3: both framings at once is the classic
         * request-smuggling shape, so it is refused rather than resolved. */
        if (cl_digits)
            FAIL(400, M_TE_CL);
        if (req->minor == 0)
            FAIL(400, M_TE_10);
        if (te.chunked > 1)
            FAIL(400, M_TE_TWICE);
        if (te.chunked == 1 && !te.last_chunked)
            FAIL(400, M_TE_NOT_LAST);
        if (te.other)
            FAIL(501, M_TE_UNSUPPORTED);
        if (te.chunked == 0)
            FAIL(400, M_BAD_TE);
        req->body = H1_BODY_CHUNKED;
    } else if (cl_digits) {
        uint64_t v = 0;
        size_t i;
        for (i = 0; i < cl_ndig; i++) {
            unsigned d = (unsigned)(cl_digits[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                FAIL(413, M_BODY_LARGE);
            v = v * 10 + d;
        }
        if (v > lim->max_body && v > lim->max_stream_body)
            FAIL(413, M_BODY_LARGE);
        req->content_length = v;
        req->body = H1_BODY_LENGTH;
    }
    req->keep_alive = (uint8_t)(req->minor == 1 ? !conn_close : (conn_keep && !conn_close));
    req->expect_continue = (uint8_t)(req->minor == 1 && expect);
    return 0;
}

/* -------------------------------------------------------------- chunked */

/*
 * Chunk extensions follow RFC 9112 7.1.1 exactly:
 *
 *   chunk-ext     = *( BWS ";" BWS chunk-ext-name
 *                      [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-val = token / quoted-string
 *
 * so whitespace is only allowed next to ';' and '=' (never before the CR),
 * and a quoted string must end on its own line.  They are validated, then
 * dropped: nothing here interprets one, but a message whose framing lines
 * this parser reads differently from the grammar is a smuggling candidate
 * behind a proxy that reads them by the grammar.
 */
enum {
    CK_SIZE0,        /* first hex digit of a chunk size */
    CK_SIZE,         /* more hex digits */
    CK_BWS,          /* whitespace after a size or an extension value */
    CK_EXT_NAME0,    /* after ';': BWS, then the first name byte */
    CK_EXT_NAME,     /* more name bytes */
    CK_EXT_NAME_BWS, /* whitespace after a name: ';' or '=' next */
    CK_EXT_VAL0,     /* after '=': BWS, then a token or a '"' */
    CK_EXT_TOKEN,    /* more token value bytes */
    CK_EXT_QUOTED,   /* inside a quoted-string */
    CK_EXT_QPAIR,    /* after a backslash inside it */
    CK_EXT_QEND,     /* right after its closing '"' */
    CK_SIZE_LF,
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TR_START, /* start of a trailer line, or the final CR */
    CK_TR_NAME,
    CK_TR_VALUE,
    CK_TR_LF,
    CK_END_LF,
    CK_DONE,
    CK_ERROR
};

void h1_chunked_init(h1_chunked *d, uint64_t max_body, size_t max_trailer) {
    memset(d, 0, sizeof *d);
    d->max_body = max_body;
    d->max_trailer = max_trailer;
    d->state = CK_SIZE0;
}

int h1_chunked_decode(h1_chunked *d, const char *in, size_t len, size_t *consumed, const char **data,
                      size_t *data_len) {
    const unsigned char *const start = (const unsigned char *)in;
    const unsigned char *p = start, *const end = start + len;

    *data = NULL;
    *data_len = 0;
    *consumed = 0;
    if (d->state == CK_ERROR)
        return H1_CHUNK_ERROR;
    if (d->state == CK_DONE)
        return H1_CHUNK_DONE;

#define CK_FAIL(st, m)       \
    do {                     \
        d->state = CK_ERROR; \
        d->status = (st);    \
        d->msg = (m);        \
        goto out;            \
    } while (0)

    while (p < end) {
        unsigned c = *p;
        switch (d->state) {
        case CK_DATA: {
            size_t avail = (size_t)(end - p);
            size_t n = d->size < avail ? (size_t)d->size : avail;
            *data = (const char *)p;
            *data_len = n;
            p += n;
            d->size -= n;
            if (d->size == 0)
                d->state = CK_DATA_CR;
            *consumed = (size_t)(p - start);
            return H1_CHUNK_DATA;
        }
        case CK_SIZE0:
        case CK_SIZE: {
            int h = hexval(c);
            if (c != '\r' && ++d->line > H1_MAX_CHUNK_LINE)
                CK_FAIL(400, M_CK_LINE);
            if (h >= 0) {
                if (d->ndigits == 16)
                    CK_FAIL(400, M_CK_BIG);
                d->size = (d->size << 4) | (unsigned)h;
                d->ndigits++;
                d->state = CK_SIZE;
                break;
            }
            if (d->state == CK_SIZE0)
                CK_FAIL(400, M_CK_SIZE);
            /* known before any data byte: refuse now, not after reading */
            if (d->size > d->max_body - d->total)
                CK_FAIL(413, M_BODY_LARGE);
            d->total += d->size;
            if (c == '\r')
                d->state = CK_SIZE_LF;
            else if (c == ';')
                d->state = CK_EXT_NAME0;
            else if (is_ows(c))
                d->state = CK_BWS;
            else
                CK_FAIL(400, M_CK_SIZE);
            break;
        }
        case CK_BWS:
        case CK_EXT_NAME0:
        case CK_EXT_NAME:
        case CK_EXT_NAME_BWS:
        case CK_EXT_VAL0:
        case CK_EXT_TOKEN:
        case CK_EXT_QUOTED:
        case CK_EXT_QPAIR:
        case CK_EXT_QEND:
            /* the rest of a chunk-size line: see the grammar above the
             * state list.  Every byte but the final CR counts against
             * H1_MAX_CHUNK_LINE, so no state can run on unbounded. */
            if (c == '\r') {
                if (d->state == CK_EXT_NAME || d->state == CK_EXT_TOKEN || d->state == CK_EXT_QEND) {
                    d->state = CK_SIZE_LF;
                    break;
                }
                if (d->state == CK_EXT_QUOTED || d->state == CK_EXT_QPAIR)
                    CK_FAIL(400, M_CK_QUOTE);
                CK_FAIL(400, M_CK_EXT);
            }
            if (++d->line > H1_MAX_CHUNK_LINE)
                CK_FAIL(400, M_CK_LINE);
            switch (d->state) {
            case CK_BWS: /* BWS only ever precedes a ';' here */
                if (c == ';')
                    d->state = CK_EXT_NAME0;
                else if (!is_ows(c))
                    CK_FAIL(400, M_CK_EXT);
                break;
            case CK_EXT_NAME0:
                if (h1_tchar_lc[c])
                    d->state = CK_EXT_NAME;
                else if (!is_ows(c))
                    CK_FAIL(400, M_CK_EXT);
                break;
            case CK_EXT_NAME:
            case CK_EXT_NAME_BWS:
                if (c == ';')
                    d->state = CK_EXT_NAME0;
                else if (c == '=')
                    d->state = CK_EXT_VAL0;
                else if (is_ows(c))
                    d->state = CK_EXT_NAME_BWS;
                else if (!h1_tchar_lc[c] || d->state == CK_EXT_NAME_BWS)
                    CK_FAIL(400, M_CK_EXT);
                break;
            case CK_EXT_VAL0:
                if (c == '"')
                    d->state = CK_EXT_QUOTED;
                else if (h1_tchar_lc[c])
                    d->state = CK_EXT_TOKEN;
                else if (!is_ows(c))
                    CK_FAIL(400, M_CK_EXT);
                break;
            case CK_EXT_TOKEN:
            case CK_EXT_QEND:
                if (c == ';')
                    d->state = CK_EXT_NAME0;
                else if (is_ows(c))
                    d->state = CK_BWS;
                else if (!h1_tchar_lc[c] || d->state == CK_EXT_QEND)
                    CK_FAIL(400, M_CK_EXT);
                break;
            case CK_EXT_QUOTED:
                /* qdtext: HTAB, SP, visible ASCII but '"' and '\\',
                 * obs-text (RFC 9110 5.6.4) */
                if (c == '"')
                    d->state = CK_EXT_QEND;
                else if (c == '\\')
                    d->state = CK_EXT_QPAIR;
                else if ((c < 0x20 && c != '\t') || c == 0x7f)
                    CK_FAIL(400, M_CK_EXT);
                break;
            default: /* CK_EXT_QPAIR: HTAB, SP, VCHAR or obs-text */
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    CK_FAIL(400, M_CK_EXT);
                d->state = CK_EXT_QUOTED;
                break;
            }
            break;
        case CK_SIZE_LF:
            if (c != '\n')
                CK_FAIL(400, M_BAD_CR);
            d->line = 0;
            d->ndigits = 0;
            d->state = d->size ? CK_DATA : CK_TR_START;
            break;
        case CK_DATA_CR:
            if (c != '\r')
                CK_FAIL(400, M_CK_CRLF);
            d->state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (c != '\n')
                CK_FAIL(400, M_CK_CRLF);
            d->state = CK_SIZE0;
            d->size = 0;
            break;
        default:
            /* trailer section: validated like header fields, then dropped */
            if (++d->trailer > d->max_trailer)
                CK_FAIL(431, M_TRAILER_LARGE);
            switch (d->state) {
            case CK_TR_START:
                if (c == '\r')
                    d->state = CK_END_LF;
                else if (h1_tchar_lc[c])
                    d->state = CK_TR_NAME;
                else if (is_ows(c))
                    CK_FAIL(400, M_OBS_FOLD);
                else if (c == ':')
                    CK_FAIL(400, M_EMPTY_NAME);
                else
                    CK_FAIL(400, M_BAD_NAME);
                break;
            case CK_TR_NAME:
                if (c == ':')
                    d->state = CK_TR_VALUE;
                else if (is_ows(c))
                    CK_FAIL(400, M_WS_COLON);
                else if (!h1_tchar_lc[c])
                    CK_FAIL(400, M_BAD_NAME);
                break;
            case CK_TR_VALUE:
                if (c == '\r')
                    d->state = CK_TR_LF;
                else if ((c < 0x20 && c != '\t') || c == 0x7f)
                    CK_FAIL(400, M_BAD_VALUE);
                break;
            case CK_TR_LF:
                if (c != '\n')
                    CK_FAIL(400, M_BAD_CR);
                d->state = CK_TR_START;
                break;
            case CK_END_LF:
                if (c != '\n')
                    CK_FAIL(400, M_BAD_CR);
                d->state = CK_DONE;
                *consumed = (size_t)(p + 1 - start);
                return H1_CHUNK_DONE;
            default:
                CK_FAIL(500, M_INTERNAL);
            }
            break;
        }
        p++;
    }
#undef CK_FAIL
    *consumed = len;
    return H1_CHUNK_MORE;
out:
    *consumed = (size_t)(p - start);
    return H1_CHUNK_ERROR;
}

/* ----------------------------------------------------------- connection */

enum {
    PH_HEAD,
    PH_LENGTH,
    PH_CHUNKED,
    PH_DEAD
};
enum {
    RL_METHOD,
    RL_TARGET,
    RL_DONE
};

/* Buffers above this are freed once used, so an idle keep-alive
 * connection does not sit on the memory of its largest request. */
#define KEEP_BUFFER 65536

int h1_conn_init(h1_conn *c, const h1_limits *lim) {
    memset(c, 0, sizeof *c);
    c->lim = *lim;
    c->phase = PH_HEAD;
    return 0;
}

void h1_conn_free(h1_conn *c) {
    free(c->hbuf);
    free(c->bbuf);
    free(c->hdrs);
    c->hbuf = c->bbuf = NULL;
    c->hdrs = NULL;
    c->hlen = c->hcap = c->blen = c->bcap = c->hdr_cap = 0;
    c->in = NULL;
    c->in_len = c->in_pos = 0;
    c->phase = PH_DEAD;
}

static void scan_reset(h1_conn *c) {
    c->sc_line = 0;
    c->sc_lines = 0;
    c->sc_empty = 0;
    c->sc_last = 0;
    c->rl_state = RL_METHOD;
    c->rl_method = 0;
    c->rl_target = 0;
}

static void trim_buffers(h1_conn *c) {
    if (c->hcap > KEEP_BUFFER && c->hlen == 0) {
        free(c->hbuf);
        c->hbuf = NULL;
        c->hcap = 0;
    }
    if (c->bcap > KEEP_BUFFER && c->blen == 0) {
        free(c->bbuf);
        c->bbuf = NULL;
        c->bcap = 0;
    }
}

void h1_conn_reset(h1_conn *c) {
    c->phase = PH_HEAD;
    c->in = NULL;
    c->in_len = c->in_pos = 0;
    c->hlen = c->blen = 0;
    c->body_left = 0;
    c->want_continue = c->release_head = c->release_body = 0;
    c->streaming = c->announce = 0;
    c->started = 0;
    c->held = NULL;
    c->held_len = 0;
    scan_reset(c);
    trim_buffers(c);
}

void h1_conn_abort(h1_conn *c) {
    c->phase = PH_DEAD;
    c->held = NULL;
    c->held_len = 0;
    c->in = NULL;
    c->in_len = c->in_pos = 0;
}

int h1_conn_feed(h1_conn *c, const char *data, size_t len) {
    if (c->in_pos < c->in_len)
        return -1;
    if (c->phase == PH_DEAD)
        return 0;
    c->in = data;
    c->in_len = data ? len : 0;
    c->in_pos = 0;
    return 0;
}

int h1_asks_upgrade(const h1_request *r) {
    if (r->preface)
        return 1;
    if (r->method_id != H1_M_GET || r->body != H1_BODY_NONE)
        return 0;
    /* Upgrade = 1#protocol (RFC 9110 7.8): an empty one names nothing to switch to, and the request is served as
     * what it is, with what follows it parsed as HTTP/1.1, rather than handed over for a protocol to decline. */
    for (size_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].id == H1_H_UPGRADE && r->headers[i].value_len > 0)
            return 1;
    return 0;
}

size_t h1_conn_detach(h1_conn *c, const char **rest) {
    size_t n = c->in_len - c->in_pos;
    *rest = n ? c->in + c->in_pos : NULL;
    c->in = NULL;
    c->in_len = c->in_pos = 0;
    return n;
}

int h1_conn_state(const h1_conn *c) {
    if (c->phase == PH_DEAD)
        return H1_STATE_DEAD;
    if (c->phase != PH_HEAD)
        return H1_STATE_BODY;
    return c->hlen ? H1_STATE_HEAD : H1_STATE_IDLE;
}

size_t h1_conn_buffered(const h1_conn *c) {
    return c->hlen + c->blen;
}

static int ev_none(h1_conn *c, h1_event *ev) {
    /* From here on nothing may point into the caller's buffer. */
    c->in = NULL;
    c->in_len = c->in_pos = 0;
    ev->kind = H1_EV_NONE;
    return H1_EV_NONE;
}

static int ev_fail(h1_conn *c, h1_event *ev, int status, const char *msg) {
    c->phase = PH_DEAD;
    c->held = NULL;
    c->held_len = 0;
    c->in = NULL;
    c->in_len = c->in_pos = 0;
    c->hlen = c->blen = 0;
    free(c->hbuf);
    free(c->bbuf);
    c->hbuf = c->bbuf = NULL;
    c->hcap = c->bcap = 0;
    ev->kind = H1_EV_ERROR;
    ev->status = status;
    ev->message = msg;
    return H1_EV_ERROR;
}

static int grow(char **buf, size_t *cap, size_t need, size_t first, uint64_t ceiling) {
    size_t ncap = *cap ? *cap : first;
    char *nb;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    /* a Content-Length body never needs more than its announced size */
    if ((uint64_t)ncap > ceiling && ceiling >= need)
        ncap = (size_t)ceiling;
    nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int head_append(h1_conn *c, const char *p, size_t n) {
    if (n > SIZE_MAX - c->hlen)
        return -1;
    if (c->hlen + n > c->hcap && grow(&c->hbuf, &c->hcap, c->hlen + n, 1024, UINT64_MAX))
        return -1;
    memcpy(c->hbuf + c->hlen, p, n);
    c->hlen += n;
    return 0;
}

static int body_append(h1_conn *c, const char *p, size_t n, uint64_t ceiling) {
    if (n == 0)
        return 0;
    if (n > SIZE_MAX - c->blen)
        return -1;
    if (c->blen + n > c->bcap && grow(&c->bbuf, &c->bcap, c->blen + n, 4096, ceiling))
        return -1;
    memcpy(c->bbuf + c->blen, p, n);
    c->blen += n;
    return 0;
}

static int ensure_hdrs(h1_conn *c, size_t n) {
    size_t cap;
    h1_header *nh;
    if (n <= c->hdr_cap)
        return 0;
    cap = c->hdr_cap ? c->hdr_cap * 2 : 16;
    if (cap < n)
        cap = n;
    if (cap > c->lim.max_headers)
        cap = c->lim.max_headers > n ? c->lim.max_headers : n;
    if (cap > SIZE_MAX / sizeof *nh)
        return -1;
    nh = realloc(c->hdrs, cap * sizeof *nh);
    if (!nh)
        return -1;
    c->hdrs = nh;
    c->hdr_cap = cap;
    return 0;
}

/*
 * Early look at the request line of a head that is not complete yet, so
 * that an oversized target is refused (414) as soon as it is, and garbage
 * (say a TLS ClientHello) is refused at its first byte instead of after
 * max_header_bytes.  s[0..n) are the bytes of this head that arrived in
 * this feed; each byte is looked at once.  Mirrors the checks and their
 * order in h1_parse_head().
 */
static int rl_precheck(h1_conn *c, const unsigned char *s, size_t n, const char **msg) {
    const unsigned char *p = s, *end = s + n;
    while (p < end && c->rl_state != RL_DONE) {
        const unsigned char *q;
        if (c->rl_state == RL_METHOD) {
            unsigned ch = *p;
            if (h1_tchar_lc[ch]) {
                c->rl_method++;
                p++;
                continue;
            }
            if (ch == ' ' && c->rl_method > 0) {
                c->rl_state = RL_TARGET;
                p++;
                continue;
            }
            if (ch == '\r' && c->rl_method == 0) {
                /* maybe an empty line: the end-of-line logic decides */
                c->rl_state = RL_DONE;
                break;
            }
            FAIL(400, M_BAD_METHOD);
        }
        q = scan_target(p, end);
        c->rl_target += (size_t)(q - p);
        if (c->rl_target > c->lim.max_target)
            FAIL(414, M_LONG_TARGET);
        if (q == end)
            break;
        if (*q == '#')
            FAIL(400, M_FRAGMENT);
        if (c->rl_target == 0)
            FAIL(400, M_EMPTY_TARGET);
        if (*q == ' ') {
            c->rl_state = RL_DONE;
            break;
        }
        FAIL(400, *q == '\r' ? M_BAD_REQLINE : M_BAD_TARGET);
    }
    return 0;
}

/* HTTP/2's preface as a request: "PRI", "*", no fields, no body; the binding hands what follows it over. */
static void preface_request(h1_request *r, const char *head, h1_header *hdrs) {
    memset(r, 0, sizeof *r);
    r->method = head;
    r->method_len = 3;
    r->method_id = H1_M_OTHER;
    r->target = r->path = head + 4;
    r->target_len = r->path_len = 1;
    r->query = head + 5;
    r->headers = hdrs;
    r->minor = 1;
    r->keep_alive = 1;
    r->body = H1_BODY_NONE;
    r->preface = 1;
}

static int can_stream(const h1_conn *c) {
    return c->lim.max_stream_body > c->lim.max_body;
}

static void start_body(h1_conn *c) {
    const h1_request *r = &c->req;
    c->streaming = c->announce = 0;
    if (r->body == H1_BODY_CHUNKED) {
        h1_chunked_init(&c->ck, can_stream(c) ? c->lim.max_stream_body : c->lim.max_body, c->lim.max_header_bytes);
        c->phase = PH_CHUNKED;
        c->want_continue = r->expect_continue;
    } else {
        c->body_left = r->content_length;
        c->phase = PH_LENGTH;
        c->want_continue = (uint8_t)(r->expect_continue && c->body_left > 0);
        /* h1_parse_head refused anything over both limits */
        if (c->body_left > c->lim.max_body)
            c->streaming = c->announce = 1;
    }
}

static int head_step(h1_conn *c, h1_event *ev) {
    const char *in;
    const char *msg = NULL;
    size_t len, pos = 0, head_off = 0, stop;
    int st;

    if (c->in_pos >= c->in_len)
        return ev_none(c, ev);
    in = c->in + c->in_pos;
    len = c->in_len - c->in_pos;

    for (;;) {
        /* Never look further than the largest head allowed could reach:
         * a flood without line ends costs max_header_bytes, not more.
         * Invariant: hlen <= max_header_bytes, and hlen > 0 implies
         * head_off == 0. */
        size_t room = c->lim.max_header_bytes - c->hlen;
        size_t lim = (len - head_off > room) ? head_off + room + 1 : len;
        const char *lf;
        size_t i;
        unsigned char prev;

        if (pos >= lim) {
            if (c->hlen + (pos - head_off) > c->lim.max_header_bytes)
                goto too_large;
            break;
        }
        lf = memchr(in + pos, '\n', lim - pos);
        if (!lf) {
            c->sc_line += lim - pos;
            c->sc_last = (unsigned char)in[lim - 1];
            pos = lim;
            if (c->hlen + (pos - head_off) > c->lim.max_header_bytes)
                goto too_large;
            break;
        }
        i = (size_t)(lf - in);
        c->sc_line += i - pos;
        prev = i > pos ? (unsigned char)in[i - 1] : c->sc_last;
        pos = i + 1;
        c->sc_last = '\n';
        if (prev != '\r') {
            stop = i;
            st = 400;
            msg = M_BARE_LF;
            goto early_error;
        }
        if (c->sc_line == 1) {
            c->sc_line = 0;
            if (c->sc_lines == 0) {
                if (++c->sc_empty > H1_MAX_EMPTY_LINES) {
                    stop = head_off;
                    st = 400;
                    msg = M_EMPTY_LINES;
                    goto early_error;
                }
                /* only the CR of this line can be buffered */
                c->hlen = 0;
                head_off = pos;
                c->rl_state = RL_METHOD;
                c->rl_method = c->rl_target = 0;
                continue;
            }
            if (c->hlen + (pos - head_off) > c->lim.max_header_bytes)
                goto too_large;
            goto found;
        }
        c->sc_line = 0;
        c->sc_lines++;
        if (c->hlen + (pos - head_off) > c->lim.max_header_bytes)
            goto too_large;
        if (c->sc_lines - 1 > c->lim.max_headers) {
            stop = pos;
            st = 431;
            msg = M_TOO_MANY;
            goto early_error;
        }
    }

    /* no end of head in this feed: keep the tail */
    st = rl_precheck(c, (const unsigned char *)in + head_off, len - head_off, &msg);
    if (st)
        return ev_fail(c, ev, st, msg);
    if (len > head_off && head_append(c, in + head_off, len - head_off))
        return ev_fail(c, ev, 500, M_NOMEM);
    c->in_pos = c->in_len;
    return ev_none(c, ev);

too_large:
    stop = pos;
    st = 431;
    msg = M_HEAD_LARGE;
early_error:
    /* an earlier problem in the request line wins, as it would had the
     * bytes come in smaller pieces */
    {
        const char *m2 = NULL;
        int st2 = rl_precheck(c, (const unsigned char *)in + head_off, stop - head_off, &m2);
        if (st2)
            return ev_fail(c, ev, st2, m2);
    }
    return ev_fail(c, ev, st, msg);

found : {
    const char *head;
    size_t hl, nf = c->sc_lines - 1;
    if (c->hlen == 0) {
        head = in + head_off;
        hl = pos - head_off;
    } else {
        if (head_append(c, in, pos))
            return ev_fail(c, ev, 500, M_NOMEM);
        head = c->hbuf;
        hl = c->hlen;
        c->release_head = 1;
    }
    c->in_pos += pos;
    scan_reset(c);
    /* one more than the field lines: h1_parse_head() may add a Host */
    if (ensure_hdrs(c, nf + 1))
        return ev_fail(c, ev, 500, M_NOMEM);
    if (!c->started && hl == sizeof H1_PREFACE_HEAD - 1 && memcmp(head, H1_PREFACE_HEAD, hl) == 0) {
        preface_request(&c->req, head, c->hdrs);
    } else {
        st = h1_parse_head(head, hl, &c->lim, &c->req, c->hdrs, c->hdr_cap, &msg);
        if (st)
            return ev_fail(c, ev, st, msg);
    }
    c->started = 1;
    start_body(c);
    ev->kind = H1_EV_HEAD;
    ev->req = &c->req;
    return H1_EV_HEAD;
}
}

static int ev_message(h1_conn *c, h1_event *ev, const char *body, size_t n) {
    c->phase = PH_HEAD;
    c->want_continue = 0;
    c->streaming = 0;
    ev->kind = H1_EV_MESSAGE;
    ev->body = n ? body : "";
    ev->body_len = n;
    return H1_EV_MESSAGE;
}

static int ev_wait(h1_conn *c, h1_event *ev) {
    if (c->want_continue) {
        c->want_continue = 0;
        ev->kind = H1_EV_CONTINUE;
        return H1_EV_CONTINUE;
    }
    return ev_none(c, ev);
}

static int ev_stream(h1_conn *c, h1_event *ev) {
    c->announce = 0;
    ev->kind = H1_EV_STREAM;
    return H1_EV_STREAM;
}

static int ev_data(h1_event *ev, const char *data, size_t n) {
    ev->kind = H1_EV_DATA;
    ev->body = data;
    ev->body_len = n;
    return H1_EV_DATA;
}

static int length_step(h1_conn *c, h1_event *ev) {
    size_t avail = c->in_len - c->in_pos, n;
    const char *p;

    if (c->announce)
        return ev_stream(c, ev);
    if (c->body_left == 0) /* Content-Length: 0, or none */
        return ev_message(c, ev, NULL, 0);
    if (avail == 0)
        return ev_wait(c, ev);
    p = c->in + c->in_pos;
    if (c->streaming) {
        n = c->body_left < avail ? (size_t)c->body_left : avail;
        c->in_pos += n;
        c->body_left -= n;
        return ev_data(ev, p, n);
    }
    /* whole body in this feed: hand it out where it lies */
    if (c->blen == 0 && c->body_left <= avail) {
        n = (size_t)c->body_left;
        c->in_pos += n;
        c->body_left = 0;
        return ev_message(c, ev, p, n);
    }
    n = c->body_left < avail ? (size_t)c->body_left : avail;
    if (body_append(c, p, n, c->blen + c->body_left))
        return ev_fail(c, ev, 500, M_NOMEM);
    c->in_pos += n;
    c->body_left -= n;
    if (c->body_left == 0) {
        c->release_body = 1;
        return ev_message(c, ev, c->bbuf, c->blen);
    }
    return ev_wait(c, ev);
}

static int chunked_step(h1_conn *c, h1_event *ev) {
    /* Just grown past max_body: STREAM went out; what was buffered follows,
     * then the piece that did not fit (still in the current input). */
    if (c->streaming && c->blen) {
        c->release_body = 1;
        return ev_data(ev, c->bbuf, c->blen);
    }
    if (c->held_len) {
        const char *p = c->held;
        size_t n = c->held_len;
        c->held = NULL;
        c->held_len = 0;
        return ev_data(ev, p, n);
    }
    while (c->in_pos < c->in_len) {
        const char *data;
        size_t used, dlen;
        int r = h1_chunked_decode(&c->ck, c->in + c->in_pos, c->in_len - c->in_pos, &used, &data, &dlen);
        c->in_pos += used;
        /* The chunk sizes seen so far add up past max_body: announce the
         * stream now, before its bytes arrive.  (The decoder's own limit
         * is max_body unless streaming is allowed.)  Only once the chunk's
         * size line is complete, so that an error in that line comes first
         * however the input is split. */
        if (!c->streaming && c->ck.total > c->lim.max_body &&
            (r == H1_CHUNK_DATA || (r == H1_CHUNK_MORE && c->ck.state == CK_DATA))) {
            c->streaming = 1;
            if (r == H1_CHUNK_DATA) {
                c->held = data;
                c->held_len = dlen;
            }
            return ev_stream(c, ev);
        }
        if (r == H1_CHUNK_DATA) {
            if (c->streaming)
                return ev_data(ev, data, dlen);
            if (body_append(c, data, dlen, c->lim.max_body))
                return ev_fail(c, ev, 500, M_NOMEM);
        } else if (r == H1_CHUNK_DONE) {
            c->release_body = 1;
            return ev_message(c, ev, c->bbuf, c->blen);
        } else if (r == H1_CHUNK_ERROR) {
            return ev_fail(c, ev, c->ck.status, c->ck.msg);
        }
    }
    return ev_wait(c, ev);
}

int h1_conn_next(h1_conn *c, h1_event *ev) {
    ev->kind = H1_EV_NONE;
    ev->req = NULL;
    ev->body = NULL;
    ev->body_len = 0;
    ev->status = 0;
    ev->message = NULL;

    if (c->release_head) {
        c->release_head = 0;
        c->hlen = 0;
        trim_buffers(c);
    }
    if (c->release_body) {
        c->release_body = 0;
        c->blen = 0;
        trim_buffers(c);
    }
    switch (c->phase) {
    case PH_HEAD:
        return head_step(c, ev);
    case PH_LENGTH:
        return length_step(c, ev);
    case PH_CHUNKED:
        return chunked_step(c, ev);
    default:
        return ev_none(c, ev);
    }
}
