/*
 * libFuzzer harness of the JSON text writers (native/jsontext.c) behind covet._native.json_flat.
 *
 * Properties: an escaped string reads back as the input, byte for byte, and holds no raw control byte, quote or
 * backslash; an integer reads back as itself; a float, when written, reads back as the same double, in fixed
 * notation (digits, one '.', at least one digit after it) within its 40 bytes.  tests/test_json_flat.py compares
 * the same writers with pydantic-core's output.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static void check_escape(const uint8_t *data, size_t size) {
    char *out = malloc(6 * size + 1);
    char *back = malloc(size + 1);
    if (out == NULL || back == NULL) {
        abort();
    }
    size_t n = covet_json_escape(out, (const char *)data, size);
    if (n > 6 * size) {
        abort();
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == '"') {
            abort(); /* must have been escaped */
        }
        if (c != '\\') {
            back[m++] = (char)c;
            continue;
        }
        if (++i >= n) {
            abort();
        }
        switch (out[i]) {
        case '"':
            back[m++] = '"';
            break;
        case '\\':
            back[m++] = '\\';
            break;
        case 'b':
            back[m++] = '\b';
            break;
        case 't':
            back[m++] = '\t';
            break;
        case 'n':
            back[m++] = '\n';
            break;
        case 'f':
            back[m++] = '\f';
            break;
        case 'r':
            back[m++] = '\r';
            break;
        case 'u': {
            if (i + 4 >= n || out[i + 1] != '0' || out[i + 2] != '0') {
                abort();
            }
            int hi = hexval(out[i + 3]);
            int lo = hexval(out[i + 4]);
            if (hi < 0 || lo < 0) {
                abort();
            }
            back[m++] = (char)(hi * 16 + lo);
            i += 4;
            break;
        }
        default:
            abort();
        }
        if (m > size) {
            abort();
        }
    }
    if (m != size || memcmp(back, data, size) != 0) {
        abort();
    }
    free(out);
    free(back);
}

static void check_numbers(const uint8_t *data, size_t size) {
    if (size < 8) {
        return;
    }
    char buf[48];
    long long i;
    memcpy(&i, data, sizeof i);
    size_t n = covet_json_int(buf, i);
    if (n == 0 || n > 20) {
        abort();
    }
    buf[n] = '\0';
    if (strtoll(buf, NULL, 10) != i) {
        abort();
    }
    double x;
    memcpy(&x, data, sizeof x);
    /* Also the decimal-looking values the writer is for: a few random digits with a few decimals. */
    double values[2] = {x, (double)(i % 100000000) / (double)(1 + (size % 8) * (size % 8) * 100)};
    for (int v = 0; v < 2; v++) {
        n = covet_json_float(buf, values[v]);
        if (n == 0) {
            continue;
        }
        if (n >= 40) {
            abort();
        }
        buf[n] = '\0';
        const char *dot = strchr(buf, '.');
        if (dot == NULL || dot[1] == '\0' || strchr(buf, 'e') != NULL || strchr(dot + 1, '.') != NULL) {
            abort();
        }
        double back = strtod(buf, NULL);
        if (back != values[v] || signbit(back) != signbit(values[v])) {
            fprintf(stderr, "%.17g written as %s\n", values[v], buf);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_escape(data, size);
    check_numbers(data, size);
    return 0;
}
