/*
 * Shared parts of the adversaries (fuzz_api.c, soak.c): a seeded random generator, the
 * documented-status table read from nativepools.h at start-up, clocks, /proc sampling and the
 * child-process runner that turns a signal or a hang into a failure that names the seed.
 */
#ifndef NP_ADV_COMMON_H
#define NP_ADV_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nativepools.h"

/* ------------------------------------------------------------------ random numbers */

/* splitmix64: one 64-bit state, good enough for choosing operations, cheap, reproducible. */
typedef struct adv_rng {
    uint64_t state;
} adv_rng;

uint64_t adv_next(adv_rng *rng);
/* Uniform in [0, bound) (bound > 0). */
uint64_t adv_below(adv_rng *rng, uint64_t bound);
/* 1 with probability percent / 100. */
int adv_chance(adv_rng *rng, unsigned percent);

/* ------------------------------------------------------------------ documented statuses */

/*
 * The statuses the header documents for each np_status function: the status tokens (NP_OK,
 * NP_E_*) in the @return paragraph of its doc comment, plus those of every function the paragraph
 * refers to with "as np_other()". Status values come from the header's #define lines, so new
 * statuses and completed return lists are followed without a change here.
 */
enum { ADV_MAX_STATUS = 64 }; /* statuses are 0 .. -(ADV_MAX_STATUS - 1) */

typedef struct adv_doc_fn {
    char name[64];
    uint8_t documented[ADV_MAX_STATUS]; /* documented[-status] */
    char refers[4][64];                 /* "as np_x()" references */
    int refer_count;
} adv_doc_fn;

typedef struct adv_docs {
    adv_doc_fn fns[128];
    int fn_count;
    char status_names[ADV_MAX_STATUS][48]; /* names from the header's #defines */
    int status_defined[ADV_MAX_STATUS];
} adv_docs;

/* Parses the header at `path`; returns 0 and fills docs, or -1 with a message on stderr. */
int adv_docs_load(adv_docs *docs, const char *path);
/* The function's entry, or NULL when the header declares no np_status function of that name. */
const adv_doc_fn *adv_docs_find(const adv_docs *docs, const char *name);
/* 1 when `status` is in fn's documented list. */
int adv_documented(const adv_doc_fn *fn, np_status status);
/* The documented list as text ("NP_OK NP_E_NULL_POINTER ..."), into buffer. */
void adv_documented_text(const adv_docs *docs, const adv_doc_fn *fn, char *buffer, size_t capacity);
/* The header path: $NP_HEADER, else the path compiled in. */
const char *adv_header_path(void);

/* ------------------------------------------------------------------ time and sleeping */

double adv_now(void);
void adv_sleep_us(unsigned microseconds);

/* ------------------------------------------------------------------ /proc/self */

/* Resident set in KiB (from /proc/self/statm), -1 on error. */
long adv_rss_kib(void);
/* Open descriptors (entries of /proc/self/fd), -1 on error. */
long adv_open_fds(void);
/* Threads of the process (Threads: in /proc/self/status), -1 on error. */
long adv_threads(void);

/* ------------------------------------------------------------------ child processes */

/*
 * Runs this program again (/proc/self/exe) with argv, stdout and stderr shared with the parent,
 * and waits up to `seconds` (a safety bound; SIGKILL after it). Returns the child's exit code,
 * 128 + signal when a signal ended it, or -1 when it hung past the bound (then *hung is set).
 */
int adv_run_child(char *const argv[], double seconds, int *hung);

/* 1 when NP_STRESS=full. */
int adv_full_size(void);

/* A stamp in a block's first and (when it has 16 bytes or more) last 8 bytes; shorter blocks hold
 * as much of it as fits. adv_stamp_intact tells whether both copies are still there. */
void adv_stamp_write(uint8_t *block, size_t size, uint64_t stamp);
int adv_stamp_intact(const uint8_t *block, size_t size, uint64_t stamp);

#endif /* NP_ADV_COMMON_H */
