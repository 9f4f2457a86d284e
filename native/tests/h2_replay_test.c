/*
 * The HTTP/2 core's fuzz corpus (native/fuzz/corpus_h2/), replayed through the harness's checks (fuzz_h2.c): every
 * input the fuzzer kept, in both modes, whole and split.  Run by native/tests/run.sh under ASan and UBSan, and by
 * tests/coverage.sh for the core's line coverage.  Arguments: the corpus files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../fuzz/fuzz_h2.c"

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        static uint8_t data[1 << 16];
        size_t len = fread(data, 1, sizeof data, f);
        fclose(f);
        (void)LLVMFuzzerTestOneInput(data, len);
        n++;
    }
    printf("h2_replay_test: %d inputs replayed\n", n);
    return n > 0 ? 0 : 1;
}
