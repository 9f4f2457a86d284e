/*
 * The inside of a JSON string as serde_json (and so pydantic-core) writes it:
 * pure C, apart from jsonflat.c's Python binding so that native/tests can
 * test it alone under ASan and UBSan.
 */
#ifndef COVET_JSONESCAPE_H
#define COVET_JSONESCAPE_H

#include <stddef.h>

/* Escapes in[0..len) as the inside of a JSON string into out, which has room
 * for 6 * len bytes; returns the bytes written.  '"' and '\\' and the control
 * bytes below 0x20 are escaped (\b \t \n \f \r, else \u00xx in lower-case
 * hex); every other byte, DEL and UTF-8 included, is copied. */
size_t covet_json_escape(char *out, const char *in, size_t len);

#endif
