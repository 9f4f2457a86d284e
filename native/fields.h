/*
 * Response header fields: the check every field passes before it is written.
 *
 * A response header is the one place where an application's text reaches the
 * wire unframed: a CR or LF in a value (an error's header, a media type, a
 * redirect built from user input) would end the field and start another, or
 * a whole second response that a pipelining client reads as the answer to
 * its next request.  So every field goes through h1_field_check() on its way
 * out, on every path, and anything RFC 9110 5.5 does not allow is refused,
 * not repaired.  Pure C, no Python: fuzzed with native/fuzz/fuzz_fields.c.
 */
#ifndef COVET_FIELDS_H
#define COVET_FIELDS_H

#include <stddef.h>

/* What h1_field_check() found: 0 for a field fit to send, else one of these. */
enum h1_field_fault {
    H1_FIELD_OK = 0,
    H1_FIELD_EMPTY_NAME, /* a name of no bytes */
    H1_FIELD_BAD_NAME,   /* a byte of the name is not a token character (RFC 9110 5.6.2) */
    H1_FIELD_BAD_VALUE,  /* a control byte (CR, LF, NUL, ...) or DEL in the value (RFC 9110 5.5) */
    H1_FIELD_EDGE_SPACE, /* the value starts or ends with SP or HTAB, which a reader would strip */
};

/* Checks one field; *at is set to the offending byte's offset (in the name
 * or the value, as the fault says), 0 for H1_FIELD_OK and EMPTY_NAME. */
enum h1_field_fault h1_field_check(const char *name, size_t name_len, const char *value, size_t value_len, size_t *at);

/* A sentence for a fault, for the developer's log. */
const char *h1_field_fault_text(enum h1_field_fault fault);

/* Bytes h1_field_line() writes for a field: name ": " value CRLF. 0 if the
 * sum would overflow size_t. */
size_t h1_field_line_len(size_t name_len, size_t value_len);

/* Writes a checked field's line into out (h1_field_line_len() bytes);
 * returns the bytes written. */
size_t h1_field_line(char *out, const char *name, size_t name_len, const char *value, size_t value_len);

#endif
