/* Response header fields: see fields.h. */
#include "fields.h"

#include <string.h>

#include "h1_parser.h"

/* field-vchar = VCHAR / obs-text, with SP and HTAB between them (RFC 9110 5.5). */
static int value_byte_ok(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

enum h1_field_fault h1_field_check(const char *name, size_t name_len, const char *value, size_t value_len, size_t *at) {
    *at = 0;
    if (name_len == 0)
        return H1_FIELD_EMPTY_NAME;
    for (size_t i = 0; i < name_len; i++) {
        if (!h1_tchar_lc[(unsigned char)name[i]]) {
            *at = i;
            return H1_FIELD_BAD_NAME;
        }
    }
    for (size_t i = 0; i < value_len; i++) {
        if (!value_byte_ok((unsigned char)value[i])) {
            *at = i;
            return H1_FIELD_BAD_VALUE;
        }
    }
    /* A reader strips leading and trailing whitespace (RFC 9112 5.1), so such a
     * value would not arrive as sent; refusing it keeps what is sent exact. */
    if (value_len > 0) {
        unsigned char first = (unsigned char)value[0], last = (unsigned char)value[value_len - 1];
        if (first == ' ' || first == '\t') {
            *at = 0;
            return H1_FIELD_EDGE_SPACE;
        }
        if (last == ' ' || last == '\t') {
            *at = value_len - 1;
            return H1_FIELD_EDGE_SPACE;
        }
    }
    return H1_FIELD_OK;
}

const char *h1_field_fault_text(enum h1_field_fault fault) {
    switch (fault) {
    case H1_FIELD_OK:
        return "valid";
    case H1_FIELD_EMPTY_NAME:
        return "the name is empty";
    case H1_FIELD_BAD_NAME:
        return "the name has a byte that is not a token character";
    case H1_FIELD_BAD_VALUE:
        return "the value has a control byte (CR, LF, NUL or another below 0x20, or DEL)";
    case H1_FIELD_EDGE_SPACE:
        return "the value starts or ends with whitespace";
    }
    return "invalid";
}

size_t h1_field_line_len(size_t name_len, size_t value_len) {
    size_t n = name_len + value_len;
    if (n < name_len || n > (size_t)-1 - 4)
        return 0;
    return n + 4;
}

size_t h1_field_line(char *out, const char *name, size_t name_len, const char *value, size_t value_len) {
    char *p = out;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    if (value_len)
        memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    return (size_t)(p - out);
}
