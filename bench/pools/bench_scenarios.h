/*
 * bench_scenarios.h: one entry point per scenario of the pool benchmark (subcommands of
 * pools_bench). Each prints one JSON record per run on stdout; see bench/README.md.
 */
#ifndef BENCH_SCENARIOS_H
#define BENCH_SCENARIOS_H

int bench_calls_main(int argc, char** argv);     /* 1: one call per operation */
int bench_batch_main(int argc, char** argv);     /* 2: 64 blocks per batch */
int bench_threads_main(int argc, char** argv);   /* 3: 1..2000 threads, window of 8 live blocks */
int bench_fresh_main(int argc, char** argv);     /* 4: 1,000,000 allocations in a new process */
int bench_cross_main(int argc, char** argv);     /* 5: producers allocate, consumers free */
int bench_churn_main(int argc, char** argv);     /* 6: 10,000 short-lived threads */
int bench_metadata_main(int argc, char** argv);  /* 7: bytes_metadata / bytes_reserved */
int bench_info_main(int argc, char** argv);      /* library version and timer facts */

#endif /* BENCH_SCENARIOS_H */
