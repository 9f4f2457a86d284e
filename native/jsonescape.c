#include "jsonescape.h"

size_t covet_json_escape(char *out, const char *in, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        out[n++] = '\\';
        switch (c) {
        case '"':
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        case '\b':
            out[n++] = 'b';
            break;
        case '\t':
            out[n++] = 't';
            break;
        case '\n':
            out[n++] = 'n';
            break;
        case '\f':
            out[n++] = 'f';
            break;
        case '\r':
            out[n++] = 'r';
            break;
        default:
            out[n++] = 'u';
            out[n++] = '0';
            out[n++] = '0';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}
