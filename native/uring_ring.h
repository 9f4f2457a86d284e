/* One io_uring instance, by raw system calls: the submission and completion rings, and one provided-buffer ring.
 * No Python and no connection logic here (that is uring_engine.c and uring_conns.c), so it can be tested standalone
 * under ASan.
 *
 * Ownership: the ring owns its mappings and the buffer memory; a buffer the kernel hands out in a completion belongs
 * to the caller until ring_buf_recycle() gives it back. */
#ifndef COVET_URING_RING_H
#define COVET_URING_RING_H

#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>

#include "uring_probe.h"

struct ring {
    int fd;
    enum uring_setup_mode mode;
    unsigned setup_flags;

    /* submission queue */
    unsigned *sq_head, *sq_tail, *sq_flags;
    unsigned sq_mask, sq_entries;
    unsigned sq_local; /* our tail: SQEs prepared but not yet published */
    unsigned sq_published;
    struct io_uring_sqe *sqes;

    /* completion queue */
    unsigned *cq_head, *cq_tail, *cq_overflow, *cq_flags;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;

    void *sq_map, *cq_map;
    size_t sq_map_len, cq_map_len, sqes_len;

    /* provided buffers: nbufs of buf_size bytes, group bgid */
    struct io_uring_buf_ring *br;
    size_t br_len;
    char *bufs;
    unsigned nbufs, buf_size, br_mask;
    unsigned short br_tail;
    unsigned short bgid;
    unsigned bufs_out; /* handed out by the kernel, not yet recycled */

    int efd; /* eventfd the kernel signals when completion work is pending (-1: none) */
};

/* Sets up a ring with the best mode the kernel accepts (stepping down as uring_probe does).
 * Returns 0, or -errno with nothing left allocated. */
int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_entries);

/* Registers nbufs (a power of two) buffers of buf_size bytes as group bgid. Returns 0 or -errno. */
int ring_bufs_init(struct ring *r, unsigned nbufs, unsigned buf_size, unsigned short bgid);

/* Registers an eventfd the kernel signals whenever completion work is queued: with deferred task running the ring
 * fd itself is not woken for it, so an event loop watches this instead. Returns 0 or -errno. */
int ring_eventfd(struct ring *r);

/* Resets the eventfd's count (call before reaping, so that no signal is lost). */
void ring_eventfd_clear(struct ring *r);

/* Turns the eventfd's signals off while the caller processes completions anyway (they would only wake the event
 * loop for nothing), and back on. Returns, when turning them on, whether work arrived meanwhile that nobody will
 * be woken for: the caller then processes again or signals the eventfd itself. */
int ring_eventfd_quiet(struct ring *r, int quiet);

/* Wakes whoever watches the eventfd. */
void ring_eventfd_signal(struct ring *r);

/* Releases everything; safe on a zeroed or half-initialised ring. */
void ring_free(struct ring *r);

/* A cleared SQE to fill, or NULL when the queue is full (submit, then ask again). */
struct io_uring_sqe *ring_sqe(struct ring *r);

/* Publishes prepared SQEs and enters the kernel: submits them and, with ``getevents``, runs completion work so
 * that CQEs are posted; ``wait`` completions are waited for (0: never block). Returns SQEs submitted or -errno. */
int ring_enter(struct ring *r, int getevents, unsigned wait);

/* SQEs prepared and not yet submitted. */
unsigned ring_pending(const struct ring *r);

/* Copies up to max completions out of the ring and frees their slots. Returns how many. */
unsigned ring_reap(struct ring *r, struct io_uring_cqe *out, unsigned max);

/* The start of buffer bid. */
char *ring_buf(struct ring *r, unsigned bid);

/* Gives buffer bid back to the kernel. */
void ring_buf_recycle(struct ring *r, unsigned bid);

#endif
