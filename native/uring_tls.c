/*
 * TLS on the io_uring server's connections (see uring_tls.h).
 *
 * Rules:
 * 1. A TLS connection is an SSL object with two BIOs in memory, both ours, neither holding bytes between calls: the
 *    input BIO reads the received buffer the engine lends (OpenSSL copies what it takes into its own record buffer,
 *    which tls_lean() frees once the connection has been idle for a second), and the output BIO appends to the one
 *    bytes object the server is collecting (s->tls_out). OpenSSL's own memory BIOs would keep, per connection, a
 *    buffer as large as the largest record burst that ever went through them, and cost a second copy on the way out.
 * 2. Every SSL call is followed by tls_flush(): whatever it wrote is queued on that connection's output, so s->tls_out
 *    is empty between calls and never carries one connection's bytes to another's queue.
 * 3. Ciphertext in: the handshake is driven as it arrives (C_HANDSHAKE until it completes); then every record's
 *    plaintext goes up to HTTP/1 (the upcalls of uring_http1.c), which cannot tell it from cleartext input.
 * 4. Plaintext out: conn_enqueue() hands it here, it is encrypted straight into the bytes object that goes on the
 *    queue (one copy, out of OpenSSL's record buffer), and the queue, the send path and the kernel see only ciphertext.
 * 5. A handshake that fails (garbage, an old protocol, a refused client certificate) gets OpenSSL's alert, if it has
 *    one, and the connection closes: nothing is logged. A connection that closes after its handshake sends its
 *    close_notify first (tls_close_notify), unless TLS failed on it.
 * 6. The context (s->tls_ctx) is replaced by a reload; an SSL object holds a reference to the context it was made
 *    with, so connections already open keep theirs.
 */
#define _GNU_SOURCE
#include "uring_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#include "uring_engine.h"
#include "uring_http1.h"

/* Plaintext encrypted per SSL_write: a bytes object of about this much goes on the queue per call. */
#define TLS_CHUNK ((size_t)1 << 20)
/* The plaintext of one record, and what a record adds to it at most (header, explicit nonce, tag, content type). */
#define TLS_RECORD 16384
#define TLS_RECORD_OVERHEAD 32
/* The first guess for a flush that is not a write's: an alert, session tickets or a close_notify are a few hundred
 * bytes; the handshake's flight, with the certificate chain, grows it (out_write) once or twice. */
#define TLS_OUT_HINT 1024
/* Ticks of the core's clock (seconds) without ciphertext in or out after which a connection's record buffers are
 * freed (tls_lean): 2, so that it saw none for at least one whole second (1 would free the buffers of every busy
 * connection once a second, at each tick). */
#define TLS_LEAN_TICKS 2

/* The received buffer the input BIO reads (lent by the engine for one tls_input call). */
struct tls_cursor {
    const char *p;
    size_t n;
};

/* The ALPN protocols of a context, in the wire format, owned by the context (its ex_data, freed with it). */
struct tls_alpn {
    unsigned len;
    unsigned char data[];
};

static BIO_METHOD *in_method, *out_method;
static int alpn_index = -1;
static struct uring_upcalls tls_upcalls; /* HTTP/1's, with tls_input in front of its input */

/* Before an SSL call whose failure SSL_get_error reads: the thread's error queue must be empty. PERF: OpenSSL 3.0's
 * ERR_clear_error clears all of the queue's slots on every call, 3.4% of the server's CPU under keep-alive load
 * (two calls a request); the queue is almost always empty already, which ERR_peek_error sees for much less. */
static inline void clear_errors(void) {
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* ------------------------------------------------------------------ the BIOs */

static int in_read(BIO *b, char *buf, size_t want, size_t *got) {
    struct tls_cursor *in = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *got = 0;
    if (in == NULL || in->n == 0) {
        BIO_set_retry_read(b); /* no more now: OpenSSL says WANT_READ and keeps what it has */
        return 0;
    }
    size_t k = want < in->n ? want : in->n;
    memcpy(buf, in->p, k);
    in->p += k;
    in->n -= k;
    *got = k;
    return 1;
}

/* Appends a record to s->tls_out (set as the BIO's data by tls_attach). Bounded: one SSL call writes at most
 * TLS_CHUNK bytes of plaintext as records, or a handshake flight. */
static int out_write(BIO *b, const char *data, size_t n, size_t *put) {
    UringServer *s = BIO_get_data(b);
    *put = 0;
    size_t need = s->tls_out_len + n;
    size_t have = s->tls_out != NULL ? (size_t)PyBytes_GET_SIZE(s->tls_out) : 0;
    if (need > have) {
        size_t cap = have != 0 ? have * 2 : s->tls_out_hint;
        cap = cap < need ? need : cap;
        if (s->tls_out == NULL)
            s->tls_out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
        else
            (void)_PyBytes_Resize(&s->tls_out, (Py_ssize_t)cap); /* NULL on failure, the old one freed */
        if (s->tls_out == NULL) {
            PyErr_Clear(); /* OpenSSL fails the connection: the caller sees the SSL error */
            s->tls_out_len = 0;
            return 0;
        }
    }
    memcpy(PyBytes_AS_STRING(s->tls_out) + s->tls_out_len, data, n);
    s->tls_out_len = need;
    *put = n;
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    PyMem_RawFree(ptr);
}

/* A BIO method of ours: the input one (reads the lent buffer) or the output one (appends to s->tls_out); NULL when
 * out of memory. */
static BIO_METHOD *bio_method(const char *name, int input) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);
    int ok = m != NULL && BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create) &&
             (input ? BIO_meth_set_read_ex(m, in_read) : BIO_meth_set_write_ex(m, out_write));
    if (!ok)
        BIO_meth_free(m); /* (NULL is fine) */
    return ok ? m : NULL;
}

/* The BIO methods and the ALPN ex_data index, made once per process (kept until exit); 0, or -1 with MemoryError. */
static int tls_once(void) {
    if (in_method == NULL)
        in_method = bio_method("covet ring input", 1);
    if (out_method == NULL)
        out_method = bio_method("covet ring output", 0);
    if (alpn_index < 0)
        alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
    if (in_method == NULL || out_method == NULL || alpn_index < 0) {
        PyErr_NoMemory();
        return -1;
    }
    tls_upcalls = uring_http1_upcalls;
    return 0;
}

/* ------------------------------------------------------------ connections */

/* Queues what the last SSL call wrote (s->tls_out) on c's output. Out of memory, c is killed (C_DEAD): its stream
 * would miss records. */
static void tls_flush(UringServer *s, struct conn *c) {
    PyObject *out = s->tls_out;
    size_t len = s->tls_out_len;
    s->tls_out = NULL;
    s->tls_out_len = 0;
    s->tls_out_hint = TLS_OUT_HINT;
    if (out == NULL)
        return;
    /* _PyBytes_Resize shrinks it to what was written, in place; on failure it frees it and sets NULL */
    if (len > 0 && !(c->flags & C_DEAD) &&
        (((size_t)PyBytes_GET_SIZE(out) != len && _PyBytes_Resize(&out, (Py_ssize_t)len) < 0) ||
         conn_enqueue_raw(s, c, out) < 0)) {
        PyErr_Clear();
        conn_kill(s, c, 1);
    }
    Py_XDECREF(out);
}

/* TLS failed on c: what OpenSSL wrote (an alert) goes out, nothing more is read or written through its SSL. */
static void tls_failed(UringServer *s, struct conn *c) {
    ERR_clear_error();
    c->flags |= C_TLSDOWN;
    tls_flush(s, c);
}

int tls_attach(UringServer *s, struct conn *c) {
    if (s->tls_ctx == NULL)
        return 0;
    SSL *ssl = SSL_new(s->tls_ctx);
    BIO *in = BIO_new(in_method), *out = BIO_new(out_method);
    if (ssl == NULL || in == NULL || out == NULL) {
        SSL_free(ssl);
        BIO_free(in);
        BIO_free(out);
        ERR_clear_error();
        return -1;
    }
    BIO_set_data(out, s);
    SSL_set_bio(ssl, in, out); /* the SSL owns both from here */
    SSL_set_accept_state(ssl);
    s->tls_conns[c->fd] = ssl;
    c->flags |= C_TLS | C_HANDSHAKE;
    s->n_tls++;
    return 0;
}

/* c's SSL object is about to read or write a record, which gives it record buffers if it had none: counted, and
 * kept for a while (tls_lean). */
static inline void tls_busy(UringServer *s, struct conn *c) {
    if (!(c->flags & C_TLSBUF)) {
        c->flags |= C_TLSBUF;
        s->n_tlsbuf++;
    }
    c->tls_at = s->now;
}

void tls_detach(UringServer *s, struct conn *c) {
    if (!(c->flags & C_TLS))
        return;
    if (c->flags & C_TLSBUF) {
        c->flags &= ~(unsigned)C_TLSBUF;
        s->n_tlsbuf--;
    }
    SSL_free(s->tls_conns[c->fd]);
    s->tls_conns[c->fd] = NULL;
    c->flags &= ~(unsigned)C_TLS;
    s->n_tls--;
}

/* The engine's input upcall of a TLS server: n bytes of ciphertext arrived for c (every connection of a TLS server
 * is one: set_tls comes before the first accept). */
static void tls_input(UringServer *s, struct conn *c, const char *data, size_t n) {
    if (c->flags & (C_TLSDOWN | C_CLOSING))
        return; /* its last bytes are decided: what arrives is dropped undecrypted, as HTTP/1 would drop it */
    SSL *ssl = s->tls_conns[c->fd];
    BIO *rbio = SSL_get_rbio(ssl);
    struct tls_cursor in = {data, n};
    tls_busy(s, c);
    BIO_set_data(rbio, &in); /* until this returns: the buffer is only lent */
    if (c->flags & C_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_do_handshake(ssl);
        int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
        if (err == SSL_ERROR_NONE) {
            c->flags &= ~(unsigned)C_HANDSHAKE;
            c->mark = s->now;
            tls_flush(s, c);
        } else if (err == SSL_ERROR_WANT_READ) {
            tls_flush(s, c); /* this side's flight, if any; the rest of the client's is awaited */
        } else {
            tls_failed(s, c); /* garbage, an old protocol, a refused certificate: the alert, and close quietly */
            c->flags |= C_CLOSING;
        }
    }
    char plain[TLS_RECORD];
    /* C_HANDSHAKE: the handshake is still under way (the loop runs once it is done, on what followed it) */
    while (!(c->flags & (C_DEAD | C_CLOSING | C_HANDSHAKE | C_TLSDOWN))) {
        size_t got = 0;
        clear_errors();
        int ok = SSL_read_ex(ssl, plain, sizeof plain, &got);
        int err = ok ? SSL_ERROR_NONE : SSL_get_error(ssl, 0);
        tls_flush(s, c); /* TLS 1.3's session tickets go out once the client's Finished is read */
        if (err == SSL_ERROR_NONE) {
            if (!(c->flags & C_DEAD))
                uring_http1_upcalls.input(s, c, plain, got); /* may call Python, which may write: not in an SSL call */
            /* PERF: all that arrived is read and OpenSSL holds no part of a record: the next SSL_read could only say
             * WANT_READ, and costs a few hundred ns (OpenSSL 3.0) on every request. */
            if (in.n == 0 && !SSL_has_pending(ssl))
                break;
        } else if (err == SSL_ERROR_WANT_READ) {
            break;
        } else if (err == SSL_ERROR_ZERO_RETURN) { /* the client's close_notify: as its FIN */
            c->flags |= C_EOF;
            uring_http1_upcalls.eof(s, c);
            break;
        } else {
            tls_failed(s, c); /* a record that does not decrypt: the stream cannot go on */
            conn_kill(s, c, 1);
        }
    }
    BIO_set_data(rbio, NULL);
}

int tls_enqueue(UringServer *s, struct conn *c, PyObject *data) {
    if (c->flags & (C_HANDSHAKE | C_TLSDOWN))
        return 0; /* no plaintext before the handshake, none after close_notify or a failure: dropped */
    SSL *ssl = s->tls_conns[c->fd];
    const char *p = PyBytes_AS_STRING(data);
    size_t left = (size_t)PyBytes_GET_SIZE(data);
    tls_busy(s, c);
    while (left > 0) {
        size_t chunk = left < TLS_CHUNK ? left : TLS_CHUNK;
        size_t put = 0;
        s->tls_out_hint = chunk + (chunk / TLS_RECORD + 1) * TLS_RECORD_OVERHEAD;
        clear_errors();
        if (!SSL_write_ex(ssl, p, chunk, &put) || put == 0) { /* out of memory: TLS has no other reason here */
            tls_failed(s, c);
            return -1;
        }
        tls_flush(s, c);
        if (c->flags & C_DEAD)
            return -1;
        p += put;
        left -= put;
    }
    return 0;
}

void tls_lean(UringServer *s, struct conn *c) {
    if (!(c->flags & C_TLSBUF) || (c->flags & (C_HANDSHAKE | C_DEAD)) || s->now - c->tls_at < TLS_LEAN_TICKS)
        return;
    /* 0 while a record is partly read or written: kept, and tried again at the next sweep */
    if (SSL_free_buffers(s->tls_conns[c->fd])) {
        c->flags &= ~(unsigned)C_TLSBUF;
        s->n_tlsbuf--;
    }
}

int tls_close_notify(UringServer *s, struct conn *c) {
    if (!(c->flags & C_TLS) || (c->flags & (C_HANDSHAKE | C_TLSDOWN | C_DEAD))) {
        c->flags |= C_TLSDOWN;
        return 0;
    }
    c->flags |= C_TLSDOWN;
    ERR_clear_error();
    (void)SSL_shutdown(s->tls_conns[c->fd]); /* 0: ours is written; the client's is not waited for */
    ERR_clear_error();
    tls_flush(s, c);
    return conn_out_bytes(c) > 0;
}

void tls_free(UringServer *s) {
    SSL_CTX_free(s->tls_ctx);
    s->tls_ctx = NULL;
    PyMem_RawFree(s->tls_conns);
    s->tls_conns = NULL;
    Py_CLEAR(s->tls_out);
    s->tls_out_len = 0;
}

/* ------------------------------------------------------------------ the context */

/* The key's password, for the passwd callback while the key is loaded (never a terminal prompt: the callback is set
 * from the start, and without a password it gives none). */
struct tls_password {
    const char *p;
    size_t n;
};

static int passwd_cb(char *buf, int size, int rwflag, void *userdata) {
    (void)rwflag;
    const struct tls_password *pw = userdata;
    if (pw == NULL || pw->p == NULL || size <= 0)
        return 0;
    size_t n = pw->n < (size_t)size ? pw->n : (size_t)size;
    memcpy(buf, pw->p, n);
    return (int)n;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    const struct tls_alpn *a = arg;
    unsigned char *chosen = NULL;
    unsigned char chosen_len = 0;
    if (a == NULL || a->len == 0 ||
        SSL_select_next_proto(&chosen, &chosen_len, a->data, a->len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no protocol in common: no ALPN in the answer, as Python's ssl does */
    *out = chosen;
    *outlen = chosen_len;
    return SSL_TLSEXT_ERR_OK;
}

/* Raises ssl.SSLError(SSL_ERROR_SSL, "<what>: <OpenSSL's reason>") and clears OpenSSL's error queue; returns NULL. */
static PyObject *ssl_error(const char *what, const char *path) {
    char reason[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    PyObject *mod = PyImport_ImportModule("ssl");
    PyObject *cls = mod != NULL ? PyObject_GetAttrString(mod, "SSLError") : NULL;
    Py_XDECREF(mod);
    if (cls == NULL)
        return NULL;
    /* (SSL_ERROR_SSL, message), as the ssl module's own: str() of it is the message */
    PyObject *msg = path != NULL ? PyUnicode_FromFormat("%s %s: %s", what, path, reason)
                                 : PyUnicode_FromFormat("%s: %s", what, reason);
    PyObject *args = msg != NULL ? Py_BuildValue("(iN)", SSL_ERROR_SSL, msg) : NULL;
    if (args != NULL) {
        PyErr_SetObject(cls, args);
        Py_DECREF(args);
    }
    Py_DECREF(cls);
    return NULL;
}

/* A path argument as a file-system bytes object (a new reference), None as NULL with *ok set; -1 on a bad type. */
static int path_arg(PyObject *arg, PyObject **out) {
    *out = NULL;
    if (arg == Py_None)
        return 0;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "set_tls(): paths must be str or None");
        return -1;
    }
    *out = PyUnicode_EncodeFSDefault(arg);
    return *out != NULL ? 0 : -1;
}

/* Builds the context; NULL with ssl.SSLError set. */
static SSL_CTX *build_ctx(const char *certfile, const char *keyfile, const struct tls_password *pw,
                          const char *ca_certs, long cert_reqs, const char *ciphers, const char *alpn,
                          size_t alpn_len) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error("set_tls(): cannot make a context", NULL);
        return NULL;
    }
    /* The same as covet.runtime.tls.build_context: TLS 1.2 and 1.3, the server's order, no compression, and no
     * renegotiation (a client could make the server redo its handshake's work at will). */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE |
                                 SSL_OP_NO_RENEGOTIATION);
    /* No SSL_MODE_RELEASE_BUFFERS: it frees and reallocates both record buffers (~34 KB) around every record, 0.3 us
     * of CPU a keep-alive request. A connection keeps them while it is busy, and tls_lean() gives them back once it
     * has been idle for a second, so thousands of idle keep-alive clients cost no more than they did with it. */
    /* Resumption with client certificates needs an id context; without one OpenSSL fails the resumed handshake. */
    (void)SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"covet", 5);
    SSL_CTX_set_default_passwd_cb(ctx, passwd_cb);
    const char *why = NULL, *path = NULL;
    if (!SSL_CTX_set_cipher_list(ctx, ciphers)) {
        why = "set_tls(): the cipher list selects no cipher";
    } else {
        SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pw);
        if (!SSL_CTX_use_certificate_chain_file(ctx, certfile)) {
            why = "set_tls(): cannot load the certificate";
            path = certfile;
        } else if (!SSL_CTX_use_PrivateKey_file(ctx, keyfile != NULL ? keyfile : certfile, SSL_FILETYPE_PEM)) {
            unsigned long e = ERR_peek_last_error();
            int mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
            /* (loading the key checks it against the certificate: no SSL_CTX_check_private_key needed) */
            why = mismatch ? "set_tls(): the key does not match the certificate" : "set_tls(): cannot load the key";
            path = keyfile != NULL ? keyfile : certfile;
        }
        SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL); /* pw is the caller's: not kept */
    }
    if (why == NULL && ca_certs != NULL) {
        if (!SSL_CTX_load_verify_locations(ctx, ca_certs, NULL)) {
            why = "set_tls(): cannot load the CA certificates";
            path = ca_certs;
        } else {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_certs);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names); /* the CAs a client's certificate may come from */
            ERR_clear_error();
        }
    }
    if (why == NULL) {
        int mode =
            cert_reqs == 0 ? SSL_VERIFY_NONE : SSL_VERIFY_PEER | (cert_reqs == 2 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
        SSL_CTX_set_verify(ctx, mode, NULL);
        struct tls_alpn *a = PyMem_RawMalloc(sizeof *a + alpn_len);
        if (a != NULL) {
            a->len = (unsigned)alpn_len;
            memcpy(a->data, alpn, alpn_len);
        }
        if (a == NULL || !SSL_CTX_set_ex_data(ctx, alpn_index, a)) { /* from here the context frees it (alpn_free) */
            PyMem_RawFree(a);
            why = "set_tls(): out of memory for the ALPN protocols";
        } else {
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select, a);
        }
    }
    if (why != NULL) {
        ssl_error(why, path);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

PyObject *tls_set(UringServer *s, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 || !PyUnicode_Check(args[0]) || (args[2] != Py_None && !PyBytes_Check(args[2])) ||
        !PyLong_Check(args[4]) || !PyUnicode_Check(args[5]) || !PyBytes_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError, "set_tls(certfile: str, keyfile: str | None, password: bytes | None, "
                                         "ca_certs: str | None, cert_reqs: int, ciphers: str, alpn: bytes)");
        return NULL;
    }
    long cert_reqs = PyLong_AsLong(args[4]);
    if (cert_reqs == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t alpn_len = PyBytes_GET_SIZE(args[6]);
    if (cert_reqs < 0 || cert_reqs > 2 || alpn_len > 65535) {
        PyErr_SetString(PyExc_ValueError, "set_tls(): cert_reqs is 0, 1 or 2, and alpn at most 65535 bytes");
        return NULL;
    }
    if (s->tls_ctx == NULL && s->accepted > 0) {
        PyErr_SetString(PyExc_RuntimeError, "set_tls() after connections were accepted in cleartext");
        return NULL;
    }
    const char *ciphers = PyUnicode_AsUTF8(args[5]);
    if (ciphers == NULL || tls_once() < 0)
        return NULL;
    PyObject *cert = NULL, *key = NULL, *ca = NULL;
    SSL_CTX *ctx = NULL;
    if (path_arg(args[0], &cert) == 0 && path_arg(args[1], &key) == 0 && path_arg(args[3], &ca) == 0) {
        struct tls_password pw = {NULL, 0};
        if (args[2] != Py_None) {
            pw.p = PyBytes_AS_STRING(args[2]);
            pw.n = (size_t)PyBytes_GET_SIZE(args[2]);
        }
        ctx = build_ctx(PyBytes_AS_STRING(cert), key != NULL ? PyBytes_AS_STRING(key) : NULL, &pw,
                        ca != NULL ? PyBytes_AS_STRING(ca) : NULL, cert_reqs, ciphers, PyBytes_AS_STRING(args[6]),
                        (size_t)alpn_len);
    }
    Py_XDECREF(cert);
    Py_XDECREF(key);
    Py_XDECREF(ca);
    if (ctx == NULL)
        return NULL;
    if (s->tls_conns == NULL) {
        /* calloc: pages of descriptors never used are never touched (the table is as long as RLIMIT_NOFILE) */
        s->tls_conns = PyMem_RawCalloc(s->conns_cap, sizeof *s->tls_conns);
        if (s->tls_conns == NULL) {
            SSL_CTX_free(ctx);
            return PyErr_NoMemory();
        }
    }
    SSL_CTX_free(s->tls_ctx); /* connections made with it keep their reference */
    s->tls_ctx = ctx;
    s->tls_out_hint = TLS_OUT_HINT;
    tls_upcalls.input = tls_input;
    s->up = &tls_upcalls;
    Py_RETURN_NONE;
}
