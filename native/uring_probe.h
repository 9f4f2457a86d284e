/* io_uring capability probe: which ring set-up the kernel accepts, and which operations the core needs are missing.
 * Raw system calls only (no liburing): the kernel's UAPI header is all a pip install may assume. */
#ifndef COVET_URING_PROBE_H
#define COVET_URING_PROBE_H

#include <stddef.h>

/* Ring set-up modes, best first; the probe steps down until the kernel accepts one. */
enum uring_setup_mode {
    URING_SETUP_DEFER = 0, /* SINGLE_ISSUER | DEFER_TASKRUN: completions run only when we ask (6.1+) */
    URING_SETUP_COOP = 1,  /* COOP_TASKRUN: no interrupting IPIs for task work (5.19+) */
    URING_SETUP_PLAIN = 2,
    URING_SETUP_NONE = 3 /* io_uring_setup refused every mode */
};

#define URING_MAX_MISSING 8

struct uring_probe_result {
    enum uring_setup_mode mode;
    int setup_errno;   /* errno of the last refused set-up (0 when one was accepted) */
    unsigned features; /* IORING_FEAT_* the kernel reported */
    int nmissing;      /* operations the core needs that the kernel lacks */
    const char *missing[URING_MAX_MISSING];
    int buf_ring_errno; /* 0 when a provided-buffer ring could be registered */
};

/* Fills ``out``; every ring and mapping it creates is released before it returns. Returns 0, or -1 with errno set
 * when something other than io_uring support failed (out of memory, descriptors). */
int covet_uring_probe(struct uring_probe_result *out);

const char *covet_uring_mode_name(enum uring_setup_mode mode);

/* The io_uring_setup flags of a mode. */
unsigned covet_uring_mode_flags(enum uring_setup_mode mode);

#endif
