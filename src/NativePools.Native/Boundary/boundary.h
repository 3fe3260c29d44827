/*
 * The C boundary of libnativepools: what the exported C functions (exports.g.c, generated, and
 * FastPath/pool_fast_path.c) share. Internal to the library; never installed.
 *
 * Every export is a C function. While its calling thread runs normally it calls the managed
 * entry point directly; once the thread has begun to exit it runs the call on a proxy thread
 * instead (thread_exit.c says why and how).
 */
#ifndef NP_BOUNDARY_H
#define NP_BOUNDARY_H

#include <stddef.h>
#include <stdint.h>

#include "nativepools.h"

#define NP_BOUNDARY_EXPORT __attribute__((visibility("default")))
#define NP_BOUNDARY_INTERNAL __attribute__((visibility("hidden")))
#define NP_BOUNDARY_LIKELY(x) __builtin_expect(!!(x), 1)

/* Where the calling thread is in its life, as far as the library is concerned. */
enum {
    NP_PHASE_NEW = 0,     /* no call yet: the exit callback is not registered */
    NP_PHASE_RUNNING = 1, /* calls enter the managed code directly */
    NP_PHASE_EXITING = 2  /* thread-exit callbacks have begun: calls run on a proxy thread */
};

extern _Thread_local uint8_t np_boundary_phase NP_BOUNDARY_INTERNAL;

/*
 * The slow part of a call on a thread not in NP_PHASE_RUNNING. On a thread's first call it
 * registers the thread-exit callback, before the runtime attaches the thread, and returns 1:
 * enter the managed code. Returns 0 once the thread is exiting (or when the callback cannot be
 * registered): run the call elsewhere.
 */
NP_BOUNDARY_INTERNAL int np_boundary_first_call(void);

/*
 * Runs thunk(args) on a proxy thread and waits for it. Returns 1 when it ran, 0 when no proxy
 * thread could be started (the calling thread's exit-phase error then says so, and the
 * generated shim returns its failure value).
 */
NP_BOUNDARY_INTERNAL int np_boundary_run_elsewhere(void (*thunk)(void *), void *args);

/* Called by a thunk, on the proxy thread, when its call failed: keeps the failure's status and
 * detail message for the thread that asked, whose np_last_error_* answer from that copy. */
NP_BOUNDARY_INTERNAL void np_boundary_capture_failure(void);

/* np_last_error_status / np_last_error_message on an exiting thread. */
NP_BOUNDARY_INTERNAL np_status np_exit_phase_last_error_status(void);
NP_BOUNDARY_INTERNAL size_t np_exit_phase_last_error_message(char *buffer, size_t capacity);

/* Managed entry points the boundary itself calls (their shims are in exports.g.c). */
np_status managed_np_last_error_status(void);
size_t managed_np_last_error_message(char *buffer, size_t capacity);

/* FastPath/pool_fast_path.c: forgets the calling thread's remembered pool caches. */
NP_BOUNDARY_INTERNAL void np_fast_path_forget_thread(void);

#endif
