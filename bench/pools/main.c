/*
 * pools_bench: the pool benchmark driver. One subcommand per scenario, one JSON record per run
 * on stdout. bench/run.sh runs it (under LD_PRELOAD for the malloc peers) and collects the
 * records; bench/README.md explains each scenario.
 *
 *   pools_bench info
 *   pools_bench calls    --allocator A [--iterations N]
 *   pools_bench batch    --allocator A --size S [--calls batch|single] [--batches N]
 *   pools_bench threads  --allocator A --threads T [--seconds S] [--size 1024] [--window 8]
 *   pools_bench fresh    --allocator A [--count 1000000] [--size 264]
 *   pools_bench cross    --allocator A --pairs P --mode cross|same [--seconds S] [--ring 256]
 *   pools_bench churn    [--threads 10000] [--wave 100] [--blocks 32] [--keep 4]
 *   pools_bench metadata --size S --blocks N
 *
 * A is nativepools, mutex_pool, glibc, jemalloc, mimalloc or tcmalloc.
 */
#include <stdio.h>
#include <string.h>

#include "bench_scenarios.h"
#include "bench_util.h"
#include "nativepools.h"

int bench_info_main(int argc, char** argv)
{
    (void)argc;
    (void)argv;
    bench_ticks_calibrate();
    printf("{\"scenario\": \"info\", \"library_version\": \"%s\", \"library_version_number\": %u, \"header_version_number\": %u, "
           "\"ticks_per_ns\": %.4f, \"timer_overhead_ticks\": %llu}\n",
           np_version_string(), np_version(), NP_VERSION_NUMBER, bench_ticks_per_ns(),
           (unsigned long long)bench_ticks_overhead());
    return 0;
}

static const struct {
    const char* name;
    int (*run)(int, char**);
} subcommands[] = {
    {"info", bench_info_main},       {"calls", bench_calls_main},     {"batch", bench_batch_main},
    {"threads", bench_threads_main}, {"fresh", bench_fresh_main},     {"cross", bench_cross_main},
    {"churn", bench_churn_main},     {"metadata", bench_metadata_main},
};

int main(int argc, char** argv)
{
    if (argc >= 2)
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc, argv);
    fprintf(stderr, "usage: pools_bench info|calls|batch|threads|fresh|cross|churn|metadata [--options]\n"
                    "see the comment at the top of bench/pools/main.c\n");
    return 2;
}
