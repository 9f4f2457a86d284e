/* The metrics segment (see metrics.h): layout, counting, folding a dead worker's slot, and merging for a scrape.
 *
 * Each slot holds its worker's gauges and byte counters, then two open-addressing tables: series by (route, method,
 * status), histograms by (route, method). A key is written after its entry's counts are zero, so a reader that sees
 * the key sees counts that belong to it. The supervisor folds the slot of a worker that exited into slot 0 (the
 * past) under a sequence number, odd while it folds; a scrape that saw it change (or odd) reads again, so a counter
 * never shows twice or not at all. */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC 0x31534349525445edull /* "covet metrics", version 1 */
#define HEAD_SIZE 4096
#define USED (1ull << 63)
#define FILL_SERIES (METRICS_SERIES * 3 / 4) /* past it, new keys of a route count as the overflow route's */
#define FILL_HISTS (METRICS_HISTS * 3 / 4)

/* Upper bounds of the buckets, in ns (the last bucket, +Inf, has none). */
static const int64_t bounds[METRICS_BUCKETS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

struct head {
    uint64_t magic;
    uint64_t nslots; /* slots after the past's */
    uint64_t slot_size;
    uint64_t restarts; /* workers the supervisor replaced after they died */
    uint64_t seq;      /* odd while the supervisor folds a slot */
};

struct series {
    uint64_t key; /* USED | stored route id (32 bits) << 24 | method << 16 | status */
    uint64_t count;
};

struct hist {
    uint64_t key; /* USED | route id << 24 | method << 16 */
    uint64_t count, sum_ns;
    uint64_t b[METRICS_BUCKETS + 1]; /* per bucket, not cumulative (the scrape sums) */
};

struct slot {
    int64_t in_flight, conns;
    uint64_t bytes_in, bytes_out;
    uint64_t n_series, n_hists; /* entries used, the writer's own count */
    uint64_t pad[2];
    struct series s[METRICS_SERIES];
    struct hist h[METRICS_HISTS];
};

struct Metrics {
    PyObject_HEAD
    char *base;
    size_t size;
    struct head *head;
    struct slot *mine; /* the slot this process writes, or NULL (the supervisor) */
    int fd;            /* the memfd when this object made it (the supervisor's), else -1 */
    int slot;
};

static struct slot *slot_at(const Metrics *m, uint64_t i) {
    return (struct slot *)(void *)(m->base + HEAD_SIZE + i * sizeof(struct slot));
}

static unsigned spot(uint64_t key, unsigned cap) {
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 40) & (cap - 1);
}

/* The entry of key in t, an open-addressed table of cap (a power of two) entries of size bytes that each begin with
 * their uint64_t key (0: free), made (the rest zeroed) when absent while fewer than fill are used; NULL when the
 * table has no room for it. */
static void *entry_at(void *t, size_t size, unsigned cap, uint64_t *used, uint64_t fill, uint64_t key) {
    for (unsigned i = spot(key, cap), n = 0; n < cap; i = (i + 1) & (cap - 1), n++) {
        char *e = (char *)t + (size_t)i * size;
        uint64_t *k = (uint64_t *)(void *)e;
        if (*k == key)
            return e;
        if (*k == 0) {
            if (*used >= fill)
                return NULL;
            (*used)++;
            memset(e + sizeof *k, 0, size - sizeof *k);
            __atomic_store_n(k, key, __ATOMIC_RELEASE);
            return e;
        }
    }
    return NULL;
}

static struct series *series_at(struct series *t, unsigned cap, uint64_t *used, uint64_t fill, uint64_t key) {
    return entry_at(t, sizeof *t, cap, used, fill, key);
}

static struct hist *hist_at(struct hist *t, unsigned cap, uint64_t *used, uint64_t fill, uint64_t key) {
    return entry_at(t, sizeof *t, cap, used, fill, key);
}

static uint64_t route_id(int route) {
    return route < 0 ? 0 : (uint64_t)route + 1;
}

unsigned covet_metrics_method(PyObject *method) {
    if (method == NULL || !PyUnicode_Check(method) || PyUnicode_KIND(method) != PyUnicode_1BYTE_KIND)
        return 0;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(method);
    switch (PyUnicode_GET_LENGTH(method)) {
    case 3:
        return memcmp(p, "GET", 3) == 0 ? 1 : memcmp(p, "PUT", 3) == 0 ? 4 : 0;
    case 4:
        return memcmp(p, "HEAD", 4) == 0 ? 2 : memcmp(p, "POST", 4) == 0 ? 3 : 0;
    case 5:
        return memcmp(p, "PATCH", 5) == 0 ? 6 : 0;
    case 6:
        return memcmp(p, "DELETE", 6) == 0 ? 5 : 0;
    case 7:
        return memcmp(p, "OPTIONS", 7) == 0 ? 7 : 0;
    default:
        return 0;
    }
}

/* Counts n under (rid, method, status); returns the route id it was counted under (the overflow's, past the fill),
 * so that the histogram counts the response under the same route. */
static uint64_t add_series(struct slot *sl, uint64_t rid, uint64_t method, uint64_t status, uint64_t n, uint64_t fill) {
    uint64_t key = USED | rid << 24 | method << 16 | status;
    struct series *e = series_at(sl->s, METRICS_SERIES, &sl->n_series, fill, key);
    if (e == NULL) { /* the table is past the fill: the overflow route's keys (room kept for those) */
        rid = METRICS_OVERFLOW;
        e = series_at(sl->s, METRICS_SERIES, &sl->n_series, METRICS_SERIES, USED | rid << 24 | method << 16 | status);
    }
    if (e != NULL)
        e->count += n;
    return rid;
}

static struct hist *find_hist(struct slot *sl, uint64_t rid, uint64_t method, uint64_t fill) {
    struct hist *h = hist_at(sl->h, METRICS_HISTS, &sl->n_hists, fill, USED | rid << 24 | method << 16);
    if (h == NULL)
        h = hist_at(sl->h, METRICS_HISTS, &sl->n_hists, METRICS_HISTS,
                    USED | (uint64_t)METRICS_OVERFLOW << 24 | method << 16);
    return h;
}

void covet_metrics_count(Metrics *m, int route, unsigned method, int status, int64_t out, int64_t in, int64_t dur_ns) {
    struct slot *sl = m->mine;
    if (sl == NULL)
        return;
    uint64_t rid = add_series(sl, route_id(route), method, (uint64_t)(status & 0xffff), 1, FILL_SERIES);
    struct hist *h = dur_ns >= 0 ? find_hist(sl, rid, method, FILL_HISTS) : NULL;
    if (h != NULL) {
        /* PERF: most responses take less than the first bound, so a scan from the bottom is one compare for them. */
        unsigned b = 0;
        while (b < METRICS_BUCKETS && dur_ns > bounds[b])
            b++;
        h->b[b]++;
        h->sum_ns += dur_ns > 0 ? (uint64_t)dur_ns : 0;
        h->count++;
    }
    sl->bytes_out += out > 0 ? (uint64_t)out : 0;
    sl->bytes_in += in > 0 ? (uint64_t)in : 0;
}

void covet_metrics_enter(Metrics *m) {
    if (m->mine != NULL)
        m->mine->in_flight++;
}

void covet_metrics_leave(Metrics *m) {
    if (m->mine != NULL)
        m->mine->in_flight--;
}

void covet_metrics_conn(Metrics *m, int delta) {
    if (m->mine != NULL)
        m->mine->conns += delta;
}

/* -- the Python type ------------------------------------------------------------------------------------------ */

static PyObject *M_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"slots", "slot", "fd", "shared", NULL};
    int slots = 1, slot = 1, fd = -1, shared = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$iiip:Metrics", kwlist, &slots, &slot, &fd, &shared))
        return NULL;
    Metrics *m = (Metrics *)type->tp_alloc(type, 0);
    if (m == NULL)
        return NULL;
    m->fd = -1;
    if (fd >= 0) { /* a worker's: the supervisor's segment */
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_size < HEAD_SIZE) {
            PyErr_SetString(PyExc_ValueError, "Metrics(fd=...): not a metrics segment");
            goto fail;
        }
        m->size = (size_t)st.st_size;
        m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m->base == MAP_FAILED) {
            m->base = NULL;
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        m->head = (struct head *)(void *)m->base;
        if (m->head->magic != MAGIC || m->head->slot_size != sizeof(struct slot) ||
            HEAD_SIZE + (m->head->nslots + 1) * sizeof(struct slot) > m->size) {
            PyErr_SetString(PyExc_ValueError, "Metrics(fd=...): a segment of another layout (another CovetPy?)");
            goto fail;
        }
    } else {
        if (slots < 1 || slots > 1024) {
            PyErr_SetString(PyExc_ValueError, "Metrics(slots=...) must be 1 to 1024");
            goto fail;
        }
        m->size = HEAD_SIZE + ((size_t)slots + 1) * sizeof(struct slot);
        if (shared) {
            m->fd = memfd_create("covet-metrics", MFD_CLOEXEC);
            if (m->fd < 0 || ftruncate(m->fd, (off_t)m->size) < 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                goto fail;
            }
        }
        /* Untouched pages cost nothing: a slot's tables are mapped in as its worker fills them. */
        m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED | (shared ? 0 : MAP_ANONYMOUS),
                       shared ? m->fd : -1, 0);
        if (m->base == MAP_FAILED) {
            m->base = NULL;
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        m->head = (struct head *)(void *)m->base;
        m->head->nslots = (uint64_t)slots;
        m->head->slot_size = sizeof(struct slot);
        m->head->magic = MAGIC;
    }
    if (slot < 0 || (uint64_t)slot > m->head->nslots) {
        PyErr_Format(PyExc_ValueError, "Metrics(slot=%d): the segment has slots 1 to %d", slot, (int)m->head->nslots);
        goto fail;
    }
    m->slot = slot;
    m->mine = slot > 0 ? slot_at(m, (uint64_t)slot) : NULL;
    return (PyObject *)m;
fail:
    Py_DECREF(m);
    return NULL;
}

static void M_dealloc(Metrics *m) {
    if (m->base != NULL)
        munmap(m->base, m->size);
    if (m->fd >= 0)
        close(m->fd);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

/* The merged view of every slot, built in private memory. */
struct merged {
    int64_t in_flight, conns;
    uint64_t bytes_in, bytes_out;
    struct series *s;
    struct hist *h;
    unsigned scap, hcap;
    uint64_t ns, nh;
};

/* Sums every slot into g (its tables allocated, scap and hcap set), again until no fold ran meanwhile. */
static void merge(const Metrics *m, struct merged *g) {
    uint64_t n = m->head->nslots + 1;
    for (;;) {
        uint64_t seq = __atomic_load_n(&m->head->seq, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            sched_yield();
            continue;
        }
        memset(g, 0, offsetof(struct merged, s));
        g->ns = g->nh = 0;
        memset(g->s, 0, g->scap * sizeof *g->s);
        memset(g->h, 0, g->hcap * sizeof *g->h);
        for (uint64_t i = 0; i < n; i++) {
            const struct slot *sl = slot_at(m, i);
            g->in_flight += __atomic_load_n(&sl->in_flight, __ATOMIC_RELAXED);
            g->conns += __atomic_load_n(&sl->conns, __ATOMIC_RELAXED);
            g->bytes_in += __atomic_load_n(&sl->bytes_in, __ATOMIC_RELAXED);
            g->bytes_out += __atomic_load_n(&sl->bytes_out, __ATOMIC_RELAXED);
            for (unsigned j = 0; j < METRICS_SERIES; j++) {
                uint64_t key = __atomic_load_n(&sl->s[j].key, __ATOMIC_ACQUIRE);
                if (key == 0)
                    continue;
                struct series *e = series_at(g->s, g->scap, &g->ns, g->scap, key);
                if (e != NULL)
                    e->count += __atomic_load_n(&sl->s[j].count, __ATOMIC_RELAXED);
            }
            for (unsigned j = 0; j < METRICS_HISTS; j++) {
                const struct hist *src = &sl->h[j];
                uint64_t key = __atomic_load_n(&src->key, __ATOMIC_ACQUIRE);
                if (key == 0)
                    continue;
                struct hist *e = hist_at(g->h, g->hcap, &g->nh, g->hcap, key);
                if (e == NULL)
                    continue;
                /* A writer may be between a bucket's increment and the count's: the count is the buckets' sum
                 * here, so _count always equals the +Inf bucket. */
                uint64_t total = 0;
                for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
                    uint64_t v = __atomic_load_n(&src->b[b], __ATOMIC_RELAXED);
                    e->b[b] += v;
                    total += v;
                }
                e->count += total;
                e->sum_ns += __atomic_load_n(&src->sum_ns, __ATOMIC_RELAXED);
            }
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&m->head->seq, __ATOMIC_RELAXED) == seq)
            return;
    }
}

/* snapshot() -> (restarts, in_flight, connections, bytes_in, bytes_out, series, histograms): every slot summed;
 * series are (route, method, status, count), histograms (route, method, sum_ns, [count per bucket, +Inf last]),
 * route -1 for none and -2 for the overflow. */
static PyObject *M_snapshot(Metrics *m, PyObject *unused) {
    (void)unused;
    struct merged g;
    uint64_t n = m->head->nslots + 1, used_s = 0, used_h = 0;
    for (uint64_t i = 0; i < n; i++) {
        used_s += __atomic_load_n(&slot_at(m, i)->n_series, __ATOMIC_RELAXED);
        used_h += __atomic_load_n(&slot_at(m, i)->n_hists, __ATOMIC_RELAXED);
    }
    /* Sized by what the slots hold (twice, and room for keys made while this reads): a scrape of many slots with
     * few routes stays small. A key made meanwhile past that room shows at the next scrape. */
    unsigned scap = 64, hcap = 64;
    while (scap < 2 * used_s + 256 && scap < n * METRICS_SERIES)
        scap <<= 1;
    while (hcap < 2 * used_h + 64 && hcap < n * METRICS_HISTS)
        hcap <<= 1;
    g.s = malloc(scap * sizeof *g.s);
    g.h = malloc(hcap * sizeof *g.h);
    if (g.s == NULL || g.h == NULL) {
        free(g.s);
        free(g.h);
        return PyErr_NoMemory();
    }
    g.scap = scap;
    g.hcap = hcap;
    merge(m, &g);
    uint64_t restarts = __atomic_load_n(&m->head->restarts, __ATOMIC_RELAXED);
    PyObject *series = PyList_New(0), *hists = PyList_New(0), *out = NULL;
    if (series == NULL || hists == NULL)
        goto done;
    for (unsigned j = 0; j < g.scap; j++) {
        uint64_t key = g.s[j].key;
        if (key == 0)
            continue;
        long rid = (long)((key >> 24) & 0xffffffffu);
        PyObject *t = Py_BuildValue("(lllK)", rid == METRICS_OVERFLOW ? -2L : rid - 1, (long)((key >> 16) & 0xff),
                                    (long)(key & 0xffff), (unsigned long long)g.s[j].count);
        if (t == NULL || PyList_Append(series, t) < 0) {
            Py_XDECREF(t);
            goto done;
        }
        Py_DECREF(t);
    }
    for (unsigned j = 0; j < g.hcap; j++) {
        const struct hist *h = &g.h[j];
        if (h->key == 0)
            continue;
        long rid = (long)((h->key >> 24) & 0xffffffffu);
        PyObject *b = PyList_New(METRICS_BUCKETS + 1);
        if (b == NULL)
            goto done;
        for (Py_ssize_t i = 0; i <= METRICS_BUCKETS; i++) {
            PyObject *v = PyLong_FromUnsignedLongLong(h->b[i]);
            if (v == NULL) {
                Py_DECREF(b);
                goto done;
            }
            PyList_SET_ITEM(b, i, v);
        }
        PyObject *t = Py_BuildValue("(llKN)", rid == METRICS_OVERFLOW ? -2L : rid - 1, (long)((h->key >> 16) & 0xff),
                                    (unsigned long long)h->sum_ns, b);
        if (t == NULL || PyList_Append(hists, t) < 0) {
            Py_XDECREF(t);
            goto done;
        }
        Py_DECREF(t);
    }
    out = Py_BuildValue("(KLLKKOO)", (unsigned long long)restarts, (long long)g.in_flight, (long long)g.conns,
                        (unsigned long long)g.bytes_in, (unsigned long long)g.bytes_out, series, hists);
done:
    Py_XDECREF(series);
    Py_XDECREF(hists);
    free(g.s);
    free(g.h);
    return out;
}

/* fold(slot) -> None: a worker that exited leaves its counts to the past (slot 0), and its slot empty for another.
 * Its gauges go: its requests and connections are gone with it. */
static PyObject *M_fold(Metrics *m, PyObject *arg) {
    long i = PyLong_AsLong(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 1 || (uint64_t)i > m->head->nslots) {
        PyErr_Format(PyExc_ValueError, "fold(%ld): slots are 1 to %d", i, (int)m->head->nslots);
        return NULL;
    }
    struct slot *past = slot_at(m, 0), *sl = slot_at(m, (uint64_t)i);
    __atomic_store_n(&m->head->seq, m->head->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    past->bytes_in += sl->bytes_in;
    past->bytes_out += sl->bytes_out;
    for (unsigned j = 0; j < METRICS_SERIES; j++) {
        uint64_t key = sl->s[j].key;
        if (key != 0)
            add_series(past, (key >> 24) & 0xffffffffu, (key >> 16) & 0xff, key & 0xffff, sl->s[j].count,
                       METRICS_SERIES);
    }
    for (unsigned j = 0; j < METRICS_HISTS; j++) {
        const struct hist *src = &sl->h[j];
        if (src->key == 0)
            continue;
        struct hist *h = find_hist(past, (src->key >> 24) & 0xffffffffu, (src->key >> 16) & 0xff, METRICS_HISTS);
        if (h == NULL)
            continue;
        for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
            h->b[b] += src->b[b];
        h->count += src->count;
        h->sum_ns += src->sum_ns;
    }
    memset(sl, 0, sizeof *sl);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&m->head->seq, m->head->seq + 1, __ATOMIC_RELEASE);
    Py_RETURN_NONE;
}

static PyObject *M_restarted(Metrics *m, PyObject *unused) {
    (void)unused;
    __atomic_store_n(&m->head->restarts, m->head->restarts + 1, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyObject *M_connections(Metrics *m, PyObject *arg) {
    long d = PyLong_AsLong(arg);
    if (d == -1 && PyErr_Occurred())
        return NULL;
    covet_metrics_conn(m, (int)d);
    Py_RETURN_NONE;
}

/* count(route, method, status, out, in, dur_ns) -> None: one response, as the transports count it; dur_ns < 0: a
 * count alone, with no duration (a gRPC call's status, covet/metrics.py). */
static PyObject *M_count(Metrics *m, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "count(route, method, status, out, in, dur_ns) takes 6 arguments");
        return NULL;
    }
    long long v[5];
    for (int i = 0; i < 5; i++) {
        v[i] = PyLong_AsLongLong(args[i < 1 ? 0 : i + 1]);
        if (v[i] == -1 && PyErr_Occurred())
            return NULL;
    }
    covet_metrics_count(m, (int)v[0], covet_metrics_method(args[1]), (int)v[1], (int64_t)v[2], (int64_t)v[3],
                        (int64_t)v[4]);
    Py_RETURN_NONE;
}

static PyObject *M_fd(Metrics *m, void *unused) {
    (void)unused;
    return PyLong_FromLong(m->fd);
}

static PyObject *M_slot(Metrics *m, void *unused) {
    (void)unused;
    return PyLong_FromLong(m->slot);
}

static PyObject *M_slots(Metrics *m, void *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(m->head->nslots);
}

static PyObject *M_buckets(PyObject *unused, void *unused2) {
    (void)unused;
    (void)unused2;
    PyObject *t = PyTuple_New(METRICS_BUCKETS);
    for (Py_ssize_t i = 0; t != NULL && i < METRICS_BUCKETS; i++) {
        PyObject *v = PyLong_FromLongLong(bounds[i]);
        if (v == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyMethodDef M_methods[] = {
    {"snapshot", (PyCFunction)M_snapshot, METH_NOARGS,
     "snapshot() -> (restarts, in_flight, connections, bytes_in, bytes_out, series, histograms): all slots summed."},
    {"fold", (PyCFunction)M_fold, METH_O,
     "fold(slot) -> None: a dead worker's counts into the past; its slot emptied."},
    {"restarted", (PyCFunction)M_restarted, METH_NOARGS, "restarted() -> None: one more worker replaced."},
    {"connections", (PyCFunction)M_connections, METH_O, "connections(delta) -> None: connections opened or closed."},
    {"count", (PyCFunction)(void (*)(void))M_count, METH_FASTCALL,
     "count(route, method, status, out, in, dur_ns) -> None: one response (dur_ns < 0: no duration)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef M_getset[] = {
    {"fd", (getter)M_fd, NULL, "the segment's memfd, when this object made it shared; else -1", NULL},
    {"slot", (getter)M_slot, NULL, "the slot this process writes (0: none)", NULL},
    {"slots", (getter)M_slots, NULL, "the workers' slots (the past's not counted)", NULL},
    {"bounds", (getter)M_buckets, NULL, "the histogram buckets' upper bounds, in ns", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject covet_MetricsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "covet._native.Metrics",
    .tp_basicsize = sizeof(Metrics),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Metrics(*, slots=1, slot=1, fd=-1, shared=False): the Prometheus counters of every worker.",
    .tp_new = M_new,
    .tp_dealloc = (destructor)M_dealloc,
    .tp_methods = M_methods,
    .tp_getset = M_getset,
};

int covet_metrics_ready(void) {
    return PyType_Ready(&covet_MetricsType);
}
