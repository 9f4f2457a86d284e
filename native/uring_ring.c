/* One io_uring instance by raw system calls (see uring_ring.h). */
#define _GNU_SOURCE
#include "uring_ring.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static int sys_register(int fd, unsigned op, void *arg, unsigned nargs) {
    return (int)syscall(__NR_io_uring_register, fd, op, arg, nargs);
}

static void unmap(void **p, size_t len) {
    if (*p != NULL && *p != MAP_FAILED)
        munmap(*p, len);
    *p = NULL;
}

void ring_free(struct ring *r) {
    if (r->br != NULL && r->fd >= 0) {
        struct io_uring_buf_reg unreg;
        memset(&unreg, 0, sizeof unreg);
        unreg.bgid = r->bgid;
        (void)sys_register(r->fd, IORING_UNREGISTER_PBUF_RING, &unreg, 1);
    }
    void *br = r->br, *bufs = r->bufs, *sqes = r->sqes;
    unmap(&br, r->br_len);
    unmap(&bufs, (size_t)r->nbufs * r->buf_size);
    unmap(&sqes, r->sqes_len);
    if (r->cq_map != r->sq_map)
        unmap(&r->cq_map, r->cq_map_len);
    unmap(&r->sq_map, r->sq_map_len);
    if (r->fd >= 0)
        close(r->fd);
    if (r->efd >= 0)
        close(r->efd);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->efd = -1;
}

int ring_eventfd(struct ring *r) {
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -errno;
    if (sys_register(r->fd, IORING_REGISTER_EVENTFD, &efd, 1) < 0) {
        int err = -errno;
        close(efd);
        return err;
    }
    r->efd = efd;
    return 0;
}

int ring_eventfd_quiet(struct ring *r, int quiet) {
    if (r->cq_flags == NULL || r->efd < 0)
        return 0;
    if (quiet) {
        __atomic_or_fetch(r->cq_flags, IORING_CQ_EVENTFD_DISABLED, __ATOMIC_SEQ_CST);
        return 0;
    }
    __atomic_and_fetch(r->cq_flags, ~(unsigned)IORING_CQ_EVENTFD_DISABLED, __ATOMIC_SEQ_CST);
    /* The kernel flags pending work before it looks at ours: one of the two sees the other. */
    return (__atomic_load_n(r->sq_flags, __ATOMIC_SEQ_CST) & IORING_SQ_TASKRUN) != 0 ||
           __atomic_load_n(r->cq_tail, __ATOMIC_SEQ_CST) != *r->cq_head;
}

void ring_eventfd_signal(struct ring *r) {
    uint64_t one = 1;
    if (r->efd >= 0)
        (void)!write(r->efd, &one, sizeof one);
}

void ring_eventfd_clear(struct ring *r) {
    uint64_t v;
    if (r->efd >= 0)
        (void)!read(r->efd, &v, sizeof v);
}

static int map_rings(struct ring *r, const struct io_uring_params *p) {
    r->sq_map_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
    r->cq_map_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_len > r->sq_map_len)
            r->sq_map_len = r->cq_map_len;
        r->cq_map_len = r->sq_map_len;
    }
    r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED)
        return -errno;
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        r->cq_map = r->sq_map;
    } else {
        r->cq_map =
            mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED)
            return -errno;
    }
    r->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED)
        return -errno;
    r->sqes = sqes;

    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_head = (unsigned *)(void *)(sq + p->sq_off.head);
    r->sq_tail = (unsigned *)(void *)(sq + p->sq_off.tail);
    r->sq_flags = (unsigned *)(void *)(sq + p->sq_off.flags);
    r->sq_mask = *(unsigned *)(void *)(sq + p->sq_off.ring_mask);
    r->sq_entries = p->sq_entries;
    unsigned *array = (unsigned *)(void *)(sq + p->sq_off.array);
    for (unsigned i = 0; i < p->sq_entries; i++)
        array[i] = i; /* slot i always names SQE i: we fill SQEs in ring order */
    r->sq_local = *r->sq_tail;
    r->cq_head = (unsigned *)(void *)(cq + p->cq_off.head);
    r->cq_tail = (unsigned *)(void *)(cq + p->cq_off.tail);
    r->cq_overflow = (unsigned *)(void *)(cq + p->cq_off.overflow);
    r->cq_flags = p->cq_off.flags ? (unsigned *)(void *)(cq + p->cq_off.flags) : NULL;
    r->cq_mask = *(unsigned *)(void *)(cq + p->cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(void *)(cq + p->cq_off.cqes);
    return 0;
}

int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->efd = -1;
    int err = -ENOSYS;
    for (int m = URING_SETUP_DEFER; m <= URING_SETUP_PLAIN; m++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = covet_uring_mode_flags((enum uring_setup_mode)m) | IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
        int fd = sys_setup(sq_entries, &p);
        if (fd < 0) {
            err = -errno;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                return err;
            continue;
        }
        r->fd = fd;
        r->mode = (enum uring_setup_mode)m;
        r->setup_flags = p.flags;
        err = map_rings(r, &p);
        if (err < 0) {
            ring_free(r);
            return err;
        }
        return 0;
    }
    return err;
}

int ring_bufs_init(struct ring *r, unsigned nbufs, unsigned buf_size, unsigned short bgid) {
    if (nbufs == 0 || (nbufs & (nbufs - 1)) != 0 || nbufs > 32768 || buf_size == 0)
        return -EINVAL;
    r->br_len = nbufs * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, r->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED)
        return -errno;
    r->br = br;
    /* Anonymous memory: pages count towards the resident set only once the kernel first writes into them. */
    void *bufs = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (bufs == MAP_FAILED) {
        int err = -errno;
        unmap(&br, r->br_len);
        r->br = NULL;
        return err;
    }
    r->bufs = bufs;
    r->nbufs = nbufs;
    r->buf_size = buf_size;
    r->br_mask = nbufs - 1;
    r->bgid = bgid;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long long)(uintptr_t)r->br;
    reg.ring_entries = nbufs;
    reg.bgid = bgid;
    if (sys_register(r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int err = -errno;
        unmap(&br, r->br_len);
        unmap(&bufs, (size_t)nbufs * buf_size);
        r->br = NULL;
        r->bufs = NULL;
        r->nbufs = 0;
        return err;
    }
    r->br_tail = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        struct io_uring_buf *b = &r->br->bufs[r->br_tail & r->br_mask];
        b->addr = (unsigned long long)(uintptr_t)(r->bufs + (size_t)i * buf_size);
        b->len = buf_size;
        b->bid = (unsigned short)i;
        r->br_tail++;
    }
    __atomic_store_n(&r->br->tail, r->br_tail, __ATOMIC_RELEASE);
    return 0;
}

char *ring_buf(struct ring *r, unsigned bid) {
    return bid < r->nbufs ? r->bufs + (size_t)bid * r->buf_size : NULL;
}

void ring_buf_recycle(struct ring *r, unsigned bid) {
    if (bid >= r->nbufs)
        return;
    struct io_uring_buf *b = &r->br->bufs[r->br_tail & r->br_mask];
    b->addr = (unsigned long long)(uintptr_t)(r->bufs + (size_t)bid * r->buf_size);
    b->len = r->buf_size;
    b->bid = (unsigned short)bid;
    r->br_tail++;
    __atomic_store_n(&r->br->tail, r->br_tail, __ATOMIC_RELEASE);
    if (r->bufs_out > 0)
        r->bufs_out--;
}

struct io_uring_sqe *ring_sqe(struct ring *r) {
    unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
    if (r->sq_local - head >= r->sq_entries)
        return NULL;
    struct io_uring_sqe *sqe = &r->sqes[r->sq_local & r->sq_mask];
    memset(sqe, 0, sizeof *sqe);
    r->sq_local++;
    return sqe;
}

unsigned ring_pending(const struct ring *r) {
    return r->sq_local - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
}

int ring_enter(struct ring *r, int getevents, unsigned wait) {
    __atomic_store_n(r->sq_tail, r->sq_local, __ATOMIC_RELEASE);
    unsigned submit = ring_pending(r);
    unsigned flags = (getevents || wait) ? IORING_ENTER_GETEVENTS : 0;
    if (submit == 0 && flags == 0)
        return 0;
    int n = sys_enter(r->fd, submit, wait, flags);
    return n < 0 ? -errno : n;
}

unsigned ring_reap(struct ring *r, struct io_uring_cqe *out, unsigned max) {
    unsigned head = *r->cq_head;
    unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    while (head != tail && n < max) {
        out[n++] = r->cqes[head & r->cq_mask];
        head++;
    }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    return n;
}
