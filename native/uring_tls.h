/* TLS on the io_uring server's connections (see uring_server.h): OpenSSL drives each TLS connection through two BIOs
 * in memory, never through the socket. Ciphertext the engine receives goes in, the plaintext that comes out goes up to
 * HTTP/1 (uring_http1.c) exactly as cleartext input would; plaintext the connection queues is encrypted on the way
 * into the output queue, so the queue, the flush path and the kernel only ever see ciphertext bytes objects.
 *
 * Only a server given set_tls() has any of this: its connections' SSL objects live in a table beside the connection
 * table (s->tls_conns, by descriptor), so that struct conn does not grow, and a cleartext server allocates nothing. */
#ifndef COVET_URING_TLS_H
#define COVET_URING_TLS_H

#include "uring_conns.h"

/* set_tls(certfile, keyfile, password, ca_certs, cert_reqs, ciphers, alpn) -> None: UringServer.set_tls. Builds a
 * server SSL_CTX from settings covet.runtime.tls has already validated; new connections get it, open ones keep
 * theirs. ssl.SSLError when OpenSSL refuses them (the context in service then stays). */
PyObject *tls_set(UringServer *s, PyObject *const *args, Py_ssize_t nargs);

/* Gives c (new, not yet in the table) its SSL object when the server serves TLS; 0, or -1 when out of memory. */
int tls_attach(UringServer *s, struct conn *c);

/* Frees c's SSL object, if it has one. */
void tls_detach(UringServer *s, struct conn *c);

/* Encrypts ``data`` (plaintext bytes, borrowed) onto c's output queue; 0, or -1 when the connection failed. */
int tls_enqueue(UringServer *s, struct conn *c, PyObject *data);

/* Frees c's record buffers when it has had no ciphertext in or out for a whole tick (the timeout sweep asks, for every
 * connection); OpenSSL allocates them again with its next record. */
void tls_lean(UringServer *s, struct conn *c);

/* c is about to close: queues its close_notify once. Returns 1 when bytes were queued (close after they are sent). */
int tls_close_notify(UringServer *s, struct conn *c);

/* Releases the server's context and table (every connection is freed already). */
void tls_free(UringServer *s);

#endif
