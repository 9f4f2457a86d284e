#include "jsontext.h"

#include <math.h>
#include <string.h>

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

size_t covet_json_int(char *out, long long x) {
    char digits[24];
    size_t n = 0;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (x < 0) {
        out[len++] = '-';
    }
    while (n > 0) {
        out[len++] = digits[--n];
    }
    return len;
}

size_t covet_json_float(char *out, double x) {
    static const double tens[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double mag = fabs(x);
    if (x == 0.0) {
        memcpy(out, signbit(x) ? "-0.0" : "0.0", signbit(x) ? 4 : 3);
        return signbit(x) ? 4 : 3;
    }
    if (!(mag >= 1e-4 && mag < 1e15)) {
        return 0; /* repr's exponent notation (from 1e16; below 1e-4), or too many digits for this */
    }
    for (size_t k = 0; k < sizeof tens / sizeof tens[0]; k++) {
        double scaled = mag * tens[k];
        if (scaled >= 1125899906842624.0) {
            return 0; /* past 2^50 two k-decimal numbers could read back as x: leave the choice to repr's rules */
        }
        long long n = llround(scaled);
        if ((double)n / tens[k] != mag) {
            continue;
        }
        char digits[24];
        size_t nd = covet_json_int(digits, n);
        size_t len = 0;
        if (x < 0) {
            out[len++] = '-';
        }
        if (nd <= k) { /* 0.00ddd */
            out[len++] = '0';
            out[len++] = '.';
            for (size_t z = nd; z < k; z++) {
                out[len++] = '0';
            }
            memcpy(out + len, digits, nd);
            return len + nd;
        }
        memcpy(out + len, digits, nd - k);
        len += nd - k;
        out[len++] = '.';
        if (k == 0) {
            out[len++] = '0';
            return len;
        }
        memcpy(out + len, digits + nd - k, k);
        return len + k;
    }
    return 0;
}
