/* covet._native.Metrics: the Prometheus counters of every worker, in one shared memory segment (docs/metrics.md).
 *
 * The segment is a header and a row of slots. Slot 0 is the past: what workers that exited had counted, folded in
 * by the supervisor. Every other slot belongs to one live worker, which alone writes it (plain stores, no locks, no
 * atomics: one writer per slot); a scrape, in any worker, reads every slot and sums. Aligned 64-bit loads and
 * stores are single instructions on x86-64 and arm64, so a reader sees a counter's old value or its new one, never
 * half of each. */
#ifndef COVET_METRICS_H
#define COVET_METRICS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* A route is a plan's route_id (31 bits of its template's CRC-32; covet/runtime/dispatch.py), -1 for none: stored
 * plus one (0: none), and METRICS_OVERFLOW for the series past a slot's tables. */
#define METRICS_OVERFLOW 0xffffffffu
/* Histogram buckets: upper bounds in ns, log-spaced 1-2.5-5 from 100 us to 10 s (then +Inf). */
#define METRICS_BUCKETS 16
/* (route, method, status) series and (route, method) histograms one slot holds; past them, counted as overflow. */
#define METRICS_SERIES 4096
#define METRICS_HISTS 1024

typedef struct Metrics Metrics;

extern PyTypeObject covet_MetricsType;

int covet_metrics_ready(void);

/* A method's label index: 1..7 for GET HEAD POST PUT DELETE PATCH OPTIONS, 0 for any other. */
unsigned covet_metrics_method(PyObject *method);

/* One response: its route id (-1: none), method index, status (0: none sent), body bytes out and in, duration (< 0:
 * none, the series counted alone). */
void covet_metrics_count(Metrics *m, int route, unsigned method, int status, int64_t out, int64_t in, int64_t dur_ns);

/* Requests an exchange holds (entered now, left at its count with ``entered``), and open connections. */
void covet_metrics_enter(Metrics *m);
void covet_metrics_leave(Metrics *m);
void covet_metrics_conn(Metrics *m, int delta);

#endif
