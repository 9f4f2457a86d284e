/*
 * Percent-decoding (RFC 3986 2.1) of form and query text, in one linear pass.
 *
 * Python's unquote_plus takes a slow path per escape (a split, a dict lookup
 * and a join for each '%'): a 1 MiB form of '%' cost half a second of the
 * event loop.  Here each input byte is looked at once.
 */
#ifndef COVET_PERCENT_H
#define COVET_PERCENT_H

#include <stddef.h>

/* Decodes in[0..len) into out (room for len bytes; out may equal in): "%XY"
 * with two hex digits becomes that byte, '+' a space when plus is set, and
 * anything else (a '%' not followed by two hex digits included) is kept as
 * it is, as unquote_plus does.  Returns the bytes written (at most len). */
size_t covet_percent_decode(char *out, const char *in, size_t len, int plus);

#endif
