/*
 * latency_histogram.h: a log-linear histogram of nanosecond samples (8 sub-buckets per power of
 * two, so a percentile is within 12.5% of the true value), one per thread, merged at the end.
 * The sum is kept exactly, so the mean (used for Little's law) carries no bucket error.
 */
#ifndef LATENCY_HISTOGRAM_H
#define LATENCY_HISTOGRAM_H

#include <stdint.h>

#include "bench_util.h"

enum {
    LATENCY_LINEAR_LIMIT = 16,  /* values below it get a bucket each */
    LATENCY_SUB_BUCKETS = 8,
    LATENCY_BUCKETS = LATENCY_LINEAR_LIMIT + (64 - 4) * LATENCY_SUB_BUCKETS,
};

/* Samples at or above it are taken as "the thread lost its core meanwhile": a preemption lasts at
 * least a scheduler tick (4 ms at HZ=250), while a cache miss, page fault or futex wake-up stays
 * well below. The mean of the samples under it is the time an operation takes while running. */
#define LATENCY_RUNNING_LIMIT_NS 100000u

typedef struct latency_histogram {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t running_count;     /* samples below LATENCY_RUNNING_LIMIT_NS */
    uint64_t running_sum_ns;
    uint32_t buckets[LATENCY_BUCKETS];
} latency_histogram;

static inline int latency_bucket(uint64_t ns)
{
    if (ns < LATENCY_LINEAR_LIMIT) return (int)ns;
    int exponent = 63 - __builtin_clzll(ns);                /* >= 4 */
    int sub = (int)((ns >> (exponent - 3)) & (LATENCY_SUB_BUCKETS - 1));
    return LATENCY_LINEAR_LIMIT + (exponent - 4) * LATENCY_SUB_BUCKETS + sub;
}

static inline void latency_record(latency_histogram* h, uint64_t ns)
{
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns) h->max_ns = ns;
    h->buckets[latency_bucket(ns)]++;
    if (ns < LATENCY_RUNNING_LIMIT_NS) {
        h->running_count++;
        h->running_sum_ns += ns;
    }
}

void latency_merge(latency_histogram* into, const latency_histogram* from);
double latency_mean_ns(const latency_histogram* h);
/* Mean of the samples below LATENCY_RUNNING_LIMIT_NS. */
double latency_running_mean_ns(const latency_histogram* h);
/* The value at quantile q (0..1): the middle of the bucket holding it; 0 when empty. */
double latency_quantile_ns(const latency_histogram* h, double q);
/* Adds mean/running_mean/p50/p99/p999/max/samples/preempted_share metrics with the given prefix. */
void latency_record_metrics(bench_record* record, const char* prefix, const latency_histogram* h);

#endif /* LATENCY_HISTOGRAM_H */
