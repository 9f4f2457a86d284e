/* A WebSocket load generator for perf/ws_bench.py (`--client c`): the same protocol as its picows client, in C.
 *
 *   ws_load echo|broadcast PORT CONNS WINDOW
 *
 * Opens CONNS connections to 127.0.0.1:PORT (/echo, or /sub plus one /pub), prints "ready", reads "t0 t1" (wall
 * clock seconds) on stdin, then loads the server: echo, every connection sends a 32-byte text message and the next
 * when its echo arrives; broadcast, the publisher keeps WINDOW messages in flight across all subscribers. Prints
 * one JSON line: what arrived between t0 and t1, and this process's CPU time over that window.
 *
 * One thread, epoll, level-triggered; no permessage-deflate offered. Compiled at run time by ws_bench.py (cc -O2).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char MESSAGE[] = "covet-ws-bench-32-byte-message..";
enum { MSG = 32, FRAME = 2 + 4 + MSG, BUF = 16384 };

struct conn {
    int fd;
    int sub; /* a subscriber (counts deliveries) rather than an echo connection or the publisher */
    size_t have;
    unsigned char buf[BUF];
};

static unsigned char frame[FRAME]; /* the message as a masked client frame, made once */
static long long count, bad, sent, need, outstanding;
static int running, nconns;
static struct conn *pub;

static void die(const char *what) {
    printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
    exit(1);
}

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static double usage(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void send_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { usleep(50); continue; } /* (never with one message in flight) */
            die("send");
        }
        p += n;
        len -= (size_t)n;
    }
}

/* A masked control frame (pong, close) with a short payload. */
static void send_control(int fd, int opcode, const unsigned char *payload, size_t len) {
    unsigned char out[2 + 4 + 125];
    if (len > 125) len = 125;
    out[0] = (unsigned char)(0x80 | opcode);
    out[1] = (unsigned char)(0x80 | len);
    memcpy(out + 2, frame + 2, 4);
    for (size_t i = 0; i < len; i++) out[6 + i] = payload[i] ^ frame[2 + (i & 3)];
    send_all(fd, out, 6 + len);
}

static struct conn *open_conn(int port, const char *path) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) die("calloc");
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    send_all(c->fd, req, (size_t)n);
    for (;;) { /* the 101 and its headers; what follows them stays in buf */
        ssize_t r = recv(c->fd, c->buf + c->have, BUF - c->have - 1, 0);
        if (r <= 0) die("handshake");
        c->have += (size_t)r;
        c->buf[c->have] = 0;
        char *end = strstr((char *)c->buf, "\r\n\r\n");
        if (!end) continue;
        if (strncmp((char *)c->buf, "HTTP/1.1 101", 12) != 0) {
            errno = EPROTO;
            die("no 101");
        }
        size_t head = (size_t)(end + 4 - (char *)c->buf);
        memmove(c->buf, c->buf + head, c->have - head);
        c->have -= head;
        return c;
    }
}

/* Handle every whole frame in c->buf; returns 0, or -1 once the server closed. */
static int frames(struct conn *c) {
    size_t at = 0;
    int closed = 0;
    while (c->have - at >= 2) {
        unsigned char *p = c->buf + at;
        int op = p[0] & 0x0F;
        size_t len = p[1] & 0x7F, head = 2;
        if (len == 126) {
            if (c->have - at < 4) break;
            len = (size_t)p[2] << 8 | p[3];
            head = 4;
        } else if (len == 127) {
            if (c->have - at < 10) break;
            len = 0;
            for (int i = 2; i < 10; i++) len = len << 8 | p[i];
            head = 10;
        }
        if (len > BUF - 16) {
            errno = EMSGSIZE;
            die("frame too large");
        }
        if (c->have - at < head + len) break;
        unsigned char *payload = p + head;
        at += head + len;
        if (op == 1 || op == 2) {
            if (c == pub) continue;
            if (len != MSG || memcmp(payload, MESSAGE, MSG) != 0) {
                if (!(c->sub && len == 6 && memcmp(payload, "joined", 6) == 0)) bad++;
                continue;
            }
            count++;
            if (c->sub) {
                if (running && count >= need) {
                    send_all(pub->fd, frame, FRAME);
                    sent++;
                    need += nconns;
                }
            } else if (running) {
                send_all(c->fd, frame, FRAME);
            } else {
                outstanding--;
            }
        } else if (op == 9) {
            send_control(c->fd, 10, payload, len);
        } else if (op == 8) {
            closed = 1;
        }
    }
    memmove(c->buf, c->buf + at, c->have - at);
    c->have -= at;
    return closed ? -1 : 0;
}

static int pump(int ep, int timeout_ms) {
    struct epoll_event ev[256];
    int n = epoll_wait(ep, ev, 256, timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
        struct conn *c = ev[i].data.ptr;
        if (c->fd < 0) continue;
        ssize_t r = recv(c->fd, c->buf + c->have, BUF - c->have, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r > 0) c->have += (size_t)r;
        if (r <= 0 || frames(c) < 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
        }
    }
    return n;
}

static void run_until(int ep, double t) {
    for (double left; (left = t - now()) > 0;) pump(ep, (int)(left * 1000) + 1);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: ws_load echo|broadcast PORT CONNS WINDOW\n");
        return 2;
    }
    int broadcast = strcmp(argv[1], "broadcast") == 0, port = atoi(argv[2]), window = atoi(argv[4]);
    nconns = atoi(argv[3]);
    uint32_t key = (uint32_t)getpid() * 2654435761u;
    frame[0] = 0x81;
    frame[1] = 0x80 | MSG;
    memcpy(frame + 2, &key, 4);
    for (int i = 0; i < MSG; i++) frame[6 + i] = (unsigned char)MESSAGE[i] ^ frame[2 + (i & 3)];

    int ep = epoll_create1(0);
    struct conn **conns = calloc((size_t)nconns, sizeof *conns);
    for (int i = 0; i < nconns; i++) {
        conns[i] = open_conn(port, broadcast ? "/sub" : "/echo");
        conns[i]->sub = broadcast;
        if (broadcast) { /* wait for "joined": subscribed before the first publish */
            while (conns[i]->have < 8) {
                ssize_t r = recv(conns[i]->fd, conns[i]->buf + conns[i]->have, BUF - conns[i]->have, 0);
                if (r <= 0) die("waiting for joined");
                conns[i]->have += (size_t)r;
            }
            long long before = bad;
            frames(conns[i]);
            if (bad != before) {
                errno = EPROTO;
                die("/sub did not say joined");
            }
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i]->fd, &ev) < 0) die("epoll_ctl");
    }
    if (broadcast) {
        pub = open_conn(port, "/pub");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = pub};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, pub->fd, &ev) < 0) die("epoll_ctl");
    }
    printf("ready\n");
    fflush(stdout);
    double t0, t1;
    if (scanf("%lf %lf", &t0, &t1) != 2) die("reading t0 t1");

    running = 1;
    if (broadcast) {
        need = nconns;
        for (int i = 0; i < window; i++, sent++) send_all(pub->fd, frame, FRAME);
    } else {
        outstanding = nconns;
        for (int i = 0; i < nconns; i++) send_all(conns[i]->fd, frame, FRAME);
    }
    run_until(ep, t0);
    long long c0 = count;
    double u0 = usage(), w0 = now();
    run_until(ep, t1);
    long long c1 = count;
    double u1 = usage(), w1 = now();
    running = 0;
    double give_up = now() + 10;
    while (now() < give_up && (broadcast ? count < sent * nconns : outstanding > 0)) pump(ep, 100);
    long long lost = broadcast ? sent * nconns - count : outstanding;

    static const unsigned char bye[2] = {0x03, 0xE8}; /* 1000 */
    for (int i = 0; i <= nconns; i++) {
        struct conn *c = i < nconns ? conns[i] : pub;
        if (c && c->fd >= 0) send_control(c->fd, 8, bye, 2);
    }
    give_up = now() + 5; /* the servers' Close, then their FIN */
    for (int open = 1; open && now() < give_up;) {
        pump(ep, 50);
        open = 0;
        for (int i = 0; i <= nconns; i++) {
            struct conn *c = i < nconns ? conns[i] : pub;
            if (c && c->fd >= 0) open = 1;
        }
    }
    printf("{\"count\": %lld, \"seconds\": %.6f, \"client_cpu\": %.6f, \"bad\": %lld, \"lost\": %lld, \"sent\": %lld}\n",
           c1 - c0, w1 - w0, u1 - u0, bad, lost, sent);
    return 0;
}
