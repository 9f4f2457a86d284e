/* io_uring capability probe (see uring_probe.h). */
#define _GNU_SOURCE
#include "uring_probe.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned nargs) {
    return (int)syscall(__NR_io_uring_register, fd, op, arg, nargs);
}

const char *covet_uring_mode_name(enum uring_setup_mode mode) {
    switch (mode) {
    case URING_SETUP_DEFER:
        return "single-issuer+defer-taskrun";
    case URING_SETUP_COOP:
        return "coop-taskrun";
    case URING_SETUP_PLAIN:
        return "plain";
    case URING_SETUP_NONE:
        break;
    }
    return "none";
}

static const unsigned mode_flags[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    0,
};

unsigned covet_uring_mode_flags(enum uring_setup_mode mode) {
    return mode < URING_SETUP_NONE ? mode_flags[mode] : 0;
}

/* The operations the core submits, by name for the report. */
static const struct {
    unsigned op;
    const char *name;
} needed_ops[] = {
    {IORING_OP_ACCEPT, "accept"}, {IORING_OP_RECV, "recv"},   {IORING_OP_SEND, "send"},
    {IORING_OP_WRITEV, "writev"}, {IORING_OP_CLOSE, "close"}, {IORING_OP_ASYNC_CANCEL, "async_cancel"},
};

static void check_ops(int fd, struct uring_probe_result *out) {
    size_t n = 256;
    size_t size = sizeof(struct io_uring_probe) + n * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, size);
    if (probe == NULL) {
        out->missing[out->nmissing++] = "probe (out of memory)";
        return;
    }
    if (sys_register(fd, IORING_REGISTER_PROBE, probe, (unsigned)n) < 0) {
        out->missing[out->nmissing++] = "register_probe";
        free(probe);
        return;
    }
    for (size_t i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
        unsigned op = needed_ops[i].op;
        int ok = op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED);
        if (!ok && out->nmissing < URING_MAX_MISSING)
            out->missing[out->nmissing++] = needed_ops[i].name;
    }
    free(probe);
}

/* Receives into a provided-buffer ring (so idle connections hold no buffer): register one, then unregister it. */
static int check_buf_ring(int fd) {
    long page = sysconf(_SC_PAGESIZE);
    size_t len = page > 0 ? (size_t)page : 4096;
    void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        return errno;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long long)(unsigned long)ring;
    reg.ring_entries = (unsigned)(len / sizeof(struct io_uring_buf));
    reg.bgid = 0;
    int err = 0;
    if (sys_register(fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        err = errno;
    } else {
        struct io_uring_buf_reg unreg;
        memset(&unreg, 0, sizeof unreg);
        unreg.bgid = 0;
        (void)sys_register(fd, IORING_UNREGISTER_PBUF_RING, &unreg, 1);
    }
    munmap(ring, len);
    return err;
}

int covet_uring_probe(struct uring_probe_result *out) {
    memset(out, 0, sizeof *out);
    out->mode = URING_SETUP_NONE;
    for (int m = URING_SETUP_DEFER; m <= URING_SETUP_PLAIN; m++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = mode_flags[m];
        int fd = sys_setup(8, &p);
        if (fd < 0) {
            out->setup_errno = errno;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                return -1; /* not a question of support: the caller reports it as what it is */
            continue;
        }
        out->mode = (enum uring_setup_mode)m;
        out->setup_errno = 0;
        out->features = p.features;
        check_ops(fd, out);
        out->buf_ring_errno = check_buf_ring(fd);
        close(fd);
        return 0;
    }
    return 0;
}
