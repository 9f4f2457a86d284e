/*
 * Tests of the JSON string escape (native/jsontext.c), run by native/tests/run.sh under ASan and UBSan.
 *
 * Each input is its own heap block of exactly its length, and the output one of exactly 6 bytes per input byte,
 * so ASan reports a read or write past either.  tests/test_json_flat.py holds the whole encoder to pydantic-core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

static int failures;

/* Escapes in[0..len) in exactly sized heap blocks; the result is NUL-terminated, for comparing. */
static char *escape(const char *in, size_t len) {
    char *copy = malloc(len ? len : 1);
    char *out = malloc(6 * len + 1);
    if (copy == NULL || out == NULL) {
        abort();
    }
    memcpy(copy, in, len);
    size_t n = covet_json_escape(out, copy, len);
    if (n > 6 * len) {
        fprintf(stderr, "wrote %zu bytes for %zu\n", n, len);
        failures++;
        n = 6 * len;
    }
    out[n] = '\0';
    free(copy);
    return out;
}

static void check(const char *in, size_t len, const char *want, int line) {
    char *got = escape(in, len);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "json_text_test.c:%d: got \"%s\", want \"%s\"\n", line, got, want);
        failures++;
    }
    free(got);
}

#define CHECK(in, want) check(in, sizeof(in) - 1, want, __LINE__)

int main(void) {
    CHECK("", "");
    CHECK("plain text / 123", "plain text / 123");
    CHECK("\"quoted\" \\back\\", "\\\"quoted\\\" \\\\back\\\\");
    CHECK("\b\t\n\f\r", "\\b\\t\\n\\f\\r");
    CHECK("\x00\x01\x1f\x0b", "\\u0000\\u0001\\u001f\\u000b");
    CHECK("\x7f\xc3\xa9\xe2\x80\xa8", "\x7f\xc3\xa9\xe2\x80\xa8"); /* DEL and UTF-8 as they are */
    /* Every byte alone: the short escapes, \u00xx below 0x20, and itself for the rest. */
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        char want[8];
        const char *shorts = "\b\t\n\f\r\"\\";
        const char *letters = "btnfr\"\\";
        const char *at = c != 0 ? strchr(shorts, c) : NULL;
        if (at != NULL) {
            snprintf(want, sizeof want, "\\%c", letters[at - shorts]);
        } else if (c < 0x20) {
            snprintf(want, sizeof want, "\\u00%02x", c);
        } else {
            want[0] = (char)c;
            want[1] = '\0';
        }
        check(&in, 1, want, __LINE__);
    }
    /* The worst case fills the 6-bytes-a-byte bound exactly. */
    char worst[4096];
    memset(worst, 1, sizeof worst);
    char *got = escape(worst, sizeof worst);
    if (strlen(got) != 6 * sizeof worst) {
        fprintf(stderr, "json_text_test.c:%d: worst case wrote %zu bytes\n", __LINE__, strlen(got));
        failures++;
    }
    free(got);
    /* Numbers: integers whole, floats as repr() writes them, or declined (0) where repr uses an exponent. */
    struct {
        double x;
        const char *want;
    } floats[] = {{1.5, "1.5"},
                  {100.0, "100.0"},
                  {0.1, "0.1"},
                  {-0.0, "-0.0"},
                  {0.0, "0.0"},
                  {123.456, "123.456"},
                  {0.0001, "0.0001"},
                  {-2.25, "-2.25"},
                  {1e-5, ""},
                  {1e16, ""},
                  {1.0 / 3.0, ""},
                  {19.99, "19.99"},
                  {12345678.9, "12345678.9"}};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        char buf[48];
        size_t n = covet_json_float(buf, floats[i].x);
        buf[n] = '\0';
        if (strcmp(buf, floats[i].want) != 0) {
            fprintf(stderr, "json_text_test.c:%d: %.17g written \"%s\", want \"%s\"\n", __LINE__, floats[i].x, buf,
                    floats[i].want);
            failures++;
        }
    }
    long long ints[] = {0, -1, 42, 9223372036854775807LL, -9223372036854775807LL - 1};
    const char *int_text[] = {"0", "-1", "42", "9223372036854775807", "-9223372036854775808"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        char buf[24];
        buf[covet_json_int(buf, ints[i])] = '\0';
        if (strcmp(buf, int_text[i]) != 0) {
            fprintf(stderr, "json_text_test.c:%d: %lld written \"%s\"\n", __LINE__, ints[i], buf);
            failures++;
        }
    }
    if (failures) {
        fprintf(stderr, "json_text_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("json_text_test: ok\n");
    return 0;
}
