/*
 * libFuzzer harness for the response-header check (native/fields.c).
 *
 * Input layout: byte 0 says where the name ends (modulo the rest's length),
 * the rest is the name followed by the value.  Properties checked:
 *   - a field the check accepts, written out as a line inside a request
 *     head, parses back (with our own strict parser) as exactly one field
 *     with the same name and value: nothing an accepted field holds can end
 *     the line, start another field, or end the head;
 *   - a field the check refuses really holds what RFC 9110 5.5 forbids at the
 *     offset the check names, and nothing forbidden comes before it.
 *
 * Build and run: native/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "h1_parser.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static int ctl(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* The request head a response field is checked in: a prefix keeps the name
 * clear of the fields the parser gives a meaning to (Host, Content-Length). */
static const char HEAD[] = "GET / HTTP/1.1\r\nhost: h\r\n";
static const char PREFIX[] = "x-f";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    size_t rest = size - 1;
    size_t split = rest ? data[0] % (rest + 1) : 0;
    const char *name = (const char *)data + 1, *value = name + split;
    size_t name_len = split, value_len = rest - split;

    size_t at = 99;
    enum h1_field_fault fault = h1_field_check(name, name_len, value, value_len, &at);
    if (fault == H1_FIELD_EMPTY_NAME) {
        CHECK(name_len == 0 && at == 0);
        return 0;
    }
    if (fault == H1_FIELD_BAD_NAME) {
        CHECK(at < name_len && !h1_tchar_lc[(unsigned char)name[at]]);
        for (size_t i = 0; i < at; i++)
            CHECK(h1_tchar_lc[(unsigned char)name[i]]);
        return 0;
    }
    for (size_t i = 0; i < name_len; i++)
        CHECK(h1_tchar_lc[(unsigned char)name[i]]);
    if (fault == H1_FIELD_BAD_VALUE) {
        CHECK(at < value_len && ctl((unsigned char)value[at]));
        for (size_t i = 0; i < at; i++)
            CHECK(!ctl((unsigned char)value[i]));
        return 0;
    }
    for (size_t i = 0; i < value_len; i++)
        CHECK(!ctl((unsigned char)value[i]));
    if (fault == H1_FIELD_EDGE_SPACE) {
        CHECK(value_len > 0 && (at == 0 || at == value_len - 1));
        CHECK(value[at] == ' ' || value[at] == '\t');
        return 0;
    }
    CHECK(fault == H1_FIELD_OK);
    CHECK(strcmp(h1_field_fault_text(fault), "valid") == 0);

    /* Written out, the field must read back as itself and nothing more. */
    size_t full_name = sizeof PREFIX - 1 + name_len;
    size_t line_len = h1_field_line_len(full_name, value_len);
    CHECK(line_len == full_name + value_len + 4);
    size_t total = sizeof HEAD - 1 + line_len + 2;
    char *buf = malloc(total);
    char *fname = malloc(full_name);
    CHECK(buf != NULL && fname != NULL);
    memcpy(fname, PREFIX, sizeof PREFIX - 1);
    memcpy(fname + sizeof PREFIX - 1, name, name_len);
    memcpy(buf, HEAD, sizeof HEAD - 1);
    size_t wrote = h1_field_line(buf + sizeof HEAD - 1, fname, full_name, value, value_len);
    CHECK(wrote == line_len);
    memcpy(buf + sizeof HEAD - 1 + line_len, "\r\n", 2);

    h1_limits lim = {.max_target = 8192, .max_header_bytes = 1 << 20, .max_headers = 8, .max_body = 1 << 20};
    h1_request req;
    h1_header hdrs[8];
    const char *msg = NULL;
    int status = h1_parse_head(buf, total, &lim, &req, hdrs, 8, &msg);
    CHECK(status == 0);
    CHECK(req.num_headers == 2);
    CHECK(hdrs[1].name_len == full_name && memcmp(hdrs[1].name, fname, full_name) == 0);
    CHECK(hdrs[1].value_len == value_len && (value_len == 0 || memcmp(hdrs[1].value, value, value_len) == 0));
    free(buf);
    free(fname);
    return 0;
}

#ifdef H1_FUZZ_MAIN
/* A plain program over the files named on the command line (for gcc/ASan runs of the corpus). */
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            return 1;
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
