/* uring_ring.c under AddressSanitizer: a real loopback exchange through multishot accept, multishot recv into provided
 * buffers and send; a full submission queue; descriptors and buffers accounted for; set-up failure leaves nothing. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring_ring.h"

#define CHECK(cond)                                                                                    \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno); \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

enum {
    UD_ACCEPT = 1,
    UD_RECV = 2,
    UD_SEND = 3,
    UD_CANCEL = 4
};

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static int listener(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* Waits for the eventfd, then runs completion work and reaps. */
static unsigned wait_reap(struct ring *r, struct io_uring_cqe *out, unsigned max) {
    for (int i = 0; i < 200; i++) {
        struct pollfd p = {r->efd, POLLIN, 0};
        (void)poll(&p, 1, 10);
        ring_eventfd_clear(r);
        CHECK(ring_enter(r, 1, 0) >= 0);
        unsigned n = ring_reap(r, out, max);
        if (n > 0)
            return n;
    }
    return 0;
}

static void exchange(void) {
    struct ring r;
    struct io_uring_cqe cqes[16];
    int port, before = open_fds();
    int lfd = listener(&port);
    CHECK(ring_init(&r, 8, 32) == 0);
    CHECK(ring_bufs_init(&r, 4, 64, 7) == 0);
    CHECK(ring_eventfd(&r) == 0);

    struct io_uring_sqe *sqe = ring_sqe(&r);
    CHECK(sqe != NULL);
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = lfd;
    sqe->ioprio = IORING_ACCEPT_MULTISHOT;
    sqe->user_data = UD_ACCEPT;
    CHECK(ring_enter(&r, 0, 0) == 1);

    int client = dial(port);
    unsigned n = wait_reap(&r, cqes, 16);
    CHECK(n == 1 && cqes[0].user_data == UD_ACCEPT && cqes[0].res >= 0);
    CHECK(cqes[0].flags & IORING_CQE_F_MORE);
    int conn = cqes[0].res;

    sqe = ring_sqe(&r);
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = conn;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 7;
    sqe->user_data = UD_RECV;
    CHECK(ring_enter(&r, 0, 0) == 1);

    /* 100 bytes across 64-byte buffers: two completions, each lending one buffer */
    char msg[100];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 26);
    CHECK(write(client, msg, sizeof msg) == (ssize_t)sizeof msg);
    char got[100];
    size_t have = 0;
    while (have < sizeof msg) {
        n = wait_reap(&r, cqes, 16);
        CHECK(n > 0);
        for (unsigned i = 0; i < n; i++) {
            CHECK(cqes[i].user_data == UD_RECV && cqes[i].res > 0);
            CHECK(cqes[i].flags & IORING_CQE_F_BUFFER);
            CHECK(cqes[i].flags & IORING_CQE_F_MORE);
            unsigned bid = cqes[i].flags >> IORING_CQE_BUFFER_SHIFT;
            CHECK(bid < 4 && (size_t)cqes[i].res <= 64 && have + (size_t)cqes[i].res <= sizeof got);
            memcpy(got + have, ring_buf(&r, bid), (size_t)cqes[i].res);
            have += (size_t)cqes[i].res;
            ring_buf_recycle(&r, bid);
        }
    }
    CHECK(memcmp(got, msg, sizeof msg) == 0);

    /* echo it back with one send */
    sqe = ring_sqe(&r);
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = conn;
    sqe->addr = (unsigned long long)(uintptr_t)got;
    sqe->len = sizeof got;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = UD_SEND;
    CHECK(ring_enter(&r, 0, 0) == 1);
    n = wait_reap(&r, cqes, 16);
    CHECK(n == 1 && cqes[0].user_data == UD_SEND && cqes[0].res == (int)sizeof got);
    char back[100];
    size_t b = 0;
    while (b < sizeof back) {
        ssize_t k = read(client, back + b, sizeof back - b);
        CHECK(k > 0);
        b += (size_t)k;
    }
    CHECK(memcmp(back, msg, sizeof msg) == 0);

    /* the peer closes: the multishot recv ends with 0 and no F_MORE */
    close(client);
    n = wait_reap(&r, cqes, 16);
    CHECK(n == 1 && cqes[0].user_data == UD_RECV && cqes[0].res == 0 && !(cqes[0].flags & IORING_CQE_F_MORE));
    close(conn);

    /* cancel the multishot accept: two completions (the cancel, and the accept ending) */
    sqe = ring_sqe(&r);
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = UD_ACCEPT;
    sqe->user_data = UD_CANCEL;
    CHECK(ring_enter(&r, 0, 0) == 1);
    unsigned seen = 0;
    while (seen < 2) {
        n = wait_reap(&r, cqes, 16);
        CHECK(n > 0);
        for (unsigned i = 0; i < n; i++) {
            if (cqes[i].user_data == UD_ACCEPT)
                CHECK(cqes[i].res == -ECANCELED && !(cqes[i].flags & IORING_CQE_F_MORE));
            else
                CHECK(cqes[i].user_data == UD_CANCEL && cqes[i].res == 0);
        }
        seen += n;
    }
    CHECK(r.bufs_out == 0);
    ring_free(&r);
    close(lfd);
    CHECK(open_fds() == before);
}

static void full_queue(void) {
    struct ring r;
    CHECK(ring_init(&r, 4, 8) == 0);
    unsigned got = 0;
    while (ring_sqe(&r) != NULL)
        got++;
    CHECK(got == r.sq_entries);
    CHECK(ring_pending(&r) == r.sq_entries);
    ring_free(&r);
    ring_free(&r); /* twice is harmless */
}

static void out_of_descriptors(void) {
    struct rlimit old, low;
    struct ring r;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    int before = open_fds();
    int lowest = dup(0); /* the number the next descriptor would take: a limit of it refuses that one */
    CHECK(lowest >= 0);
    close(lowest);
    low.rlim_cur = (rlim_t)lowest;
    low.rlim_max = old.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int rc = ring_init(&r, 8, 16);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK(rc == -EMFILE);
    CHECK(open_fds() == before);
}

int main(void) {
    exchange();
    full_queue();
    out_of_descriptors();
    for (int i = 0; i < 100; i++) /* no descriptor or mapping is left behind */
        exchange();
    puts("ring tests passed");
    return 0;
}
