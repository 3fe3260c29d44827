#include "latency_histogram.h"

#include <stdio.h>

void latency_merge(latency_histogram* into, const latency_histogram* from)
{
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
    into->running_count += from->running_count;
    into->running_sum_ns += from->running_sum_ns;
    for (int i = 0; i < LATENCY_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}

double latency_mean_ns(const latency_histogram* h)
{
    return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}

double latency_running_mean_ns(const latency_histogram* h)
{
    return h->running_count ? (double)h->running_sum_ns / (double)h->running_count : 0.0;
}

/* Lower bound and width of a bucket, the inverse of latency_bucket. */
static void bucket_range(int bucket, double* low, double* width)
{
    if (bucket < LATENCY_LINEAR_LIMIT) {
        *low = bucket;
        *width = 1;
        return;
    }
    int exponent = (bucket - LATENCY_LINEAR_LIMIT) / LATENCY_SUB_BUCKETS + 4;
    int sub = (bucket - LATENCY_LINEAR_LIMIT) % LATENCY_SUB_BUCKETS;
    double step = (double)(1ull << (exponent - 3));
    *low = (double)(1ull << exponent) + sub * step;
    *width = step;
}

double latency_quantile_ns(const latency_histogram* h, double q)
{
    if (h->count == 0) return 0.0;
    uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1;  /* 1-based rank of the sample */
    uint64_t seen = 0;
    for (int i = 0; i < LATENCY_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            double low, width;
            bucket_range(i, &low, &width);
            double middle = low + (width - 1) / 2;
            return middle > (double)h->max_ns ? (double)h->max_ns : middle;
        }
    }
    return (double)h->max_ns;
}

void latency_record_metrics(bench_record* record, const char* prefix, const latency_histogram* h)
{
    static const struct {
        const char* suffix;
        double q;
    } quantiles[] = {{"p50_ns", 0.50}, {"p99_ns", 0.99}, {"p999_ns", 0.999}};
    char name[96];
    snprintf(name, sizeof name, "%s_mean_ns", prefix);
    bench_record_double(record, name, latency_mean_ns(h));
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++) {
        snprintf(name, sizeof name, "%s_%s", prefix, quantiles[i].suffix);
        bench_record_double(record, name, latency_quantile_ns(h, quantiles[i].q));
    }
    snprintf(name, sizeof name, "%s_max_ns", prefix);
    bench_record_u64(record, name, h->max_ns);
    snprintf(name, sizeof name, "%s_samples", prefix);
    bench_record_u64(record, name, h->count);
    snprintf(name, sizeof name, "%s_running_mean_ns", prefix);
    bench_record_double(record, name, latency_running_mean_ns(h));
    snprintf(name, sizeof name, "%s_preempted_share", prefix);
    bench_record_double(record, name, h->count ? (double)(h->count - h->running_count) / (double)h->count : 0.0);
}
