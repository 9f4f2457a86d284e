/*
 * JSON text as serde_json (and so pydantic-core) writes it: the inside of a
 * string, an integer, a float.  Pure C, apart from jsonflat.c's Python
 * binding, so that native/tests and native/fuzz test it alone.
 */
#ifndef COVET_JSONTEXT_H
#define COVET_JSONTEXT_H

#include <stddef.h>

/* Escapes in[0..len) as the inside of a JSON string into out, which has room
 * for 6 * len bytes; returns the bytes written.  '"' and '\\' and the control
 * bytes below 0x20 are escaped (\b \t \n \f \r, else \u00xx in lower-case
 * hex); every other byte, DEL and UTF-8 included, is copied. */
size_t covet_json_escape(char *out, const char *in, size_t len);

/* Writes x in decimal into out (room for 21 bytes); returns its length. */
size_t covet_json_int(char *out, long long x);

/* Writes x into out (room for 40 bytes) as repr() does (and so pydantic-core: serde_json's shortest digits agree with
 * repr's where repr writes no exponent) when x has at most 8 decimals and repr would write it in fixed notation;
 * returns its length, or 0 to decline (the caller then takes pydantic-core's path).
 *
 * The shortest decimal that reads back as x has the fewest decimals of all that do; with k decimals the only
 * candidate is round(x * 10^k) / 10^k, whose division is exact-then-rounded (IEEE) for numerators below 2^53, so
 * comparing it with x tests the candidate exactly; below 2^50 it is the only k-decimal one that does. */
size_t covet_json_float(char *out, double x);

#endif
