/* The io_uring probe under AddressSanitizer/UBSan: it leaks no memory, no mapping and no descriptor. */
#include <dirent.h>
#include <stdio.h>

#include "uring_probe.h"

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

int main(void) {
    struct uring_probe_result r;
    int before = open_fds();
    for (int i = 0; i < 500; i++) {
        if (covet_uring_probe(&r) != 0) {
            perror("covet_uring_probe");
            return 1;
        }
    }
    int after = open_fds();
    if (before < 0 || after != before) {
        fprintf(stderr, "descriptors: %d before, %d after\n", before, after);
        return 1;
    }
    printf("uring probe: mode=%s features=%#x missing=%d buf_ring_errno=%d\n", covet_uring_mode_name(r.mode),
           r.features, r.nmissing, r.buf_ring_errno);
    return 0;
}
