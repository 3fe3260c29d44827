/*
 * Calls made while a thread exits.
 *
 * A thread exits in phases: first its C++ thread_local destructors and other callbacks
 * registered with __cxa_thread_atexit_impl, in reverse order of registration; then its pthread
 * key destructors, in up to PTHREAD_DESTRUCTOR_ITERATIONS rounds. The NativeAOT runtime detaches
 * a thread that ran managed code in one of these steps (a pthread key destructor on Linux), and
 * a detached thread that enters managed code again aborts the process. Freeing pooled buffers
 * from such destructors is an everyday C++ pattern, so every export must still work there.
 *
 * So every export is a C shim (exports.g.c). On a thread's first call, before the shim enters
 * the managed code (which attaches the thread to the runtime), np_boundary_first_call registers
 * on_thread_exit with __cxa_thread_atexit_impl. Callbacks registered that way run before every
 * pthread key destructor, and after every one registered later, such as the runtime's own where
 * it detaches that way. So on_thread_exit runs before the runtime lets the thread go, and
 * nothing of the thread runs between the two. From then on the thread's calls run on a proxy
 * thread that the library starts (it stays attached as long as the process lives) while the
 * caller waits. on_thread_exit also forgets the thread's pool fast-path slot: once the runtime
 * has detached the thread, any other thread may reclaim its pool caches.
 *
 * The proxy keeps the calling thread's view of its own failures: a failed proxied call copies
 * its status and detail message back, and np_last_error_* answer from that copy on an exiting
 * thread (the managed per-thread detail of the exiting thread is out of reach by then).
 *
 * Proxy threads are started on demand, when every one is busy (a proxied call may wait, for
 * example np_client_call), up to MAX_PROXIES; they wait for work for the rest of the process.
 */
#include "boundary.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { MAX_PROXIES = 64, ERROR_COPY_BYTES = 256 };

_Thread_local uint8_t np_boundary_phase;

/* The exiting thread's failures since it began to exit (see the file comment). */
static _Thread_local np_status exit_error_status;
static _Thread_local char exit_error_message[ERROR_COPY_BYTES];

/* ------------------------------------------------------------------ knowing when a thread exits */

#if defined(__APPLE__)
extern void _tlv_atexit(void (*func)(void *), void *arg);
#else
extern void *__dso_handle;
extern int __cxa_thread_atexit_impl(void (*func)(void *), void *arg, void *dso_symbol) __attribute__((weak));
#endif

static void on_thread_exit(void *unused)
{
    (void)unused;
    np_boundary_phase = NP_PHASE_EXITING;
    np_fast_path_forget_thread();
}

/*
 * A pthread key of the library's, made on the first call in the process, before the runtime
 * starts and makes its own: in every round of key destructors, ours runs before the runtime's.
 * It covers a thread whose first call comes from a pthread key destructor (too late for the
 * thread-exit callbacks, which have all run by then) and platforms without
 * __cxa_thread_atexit_impl.
 */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ready;

static void make_exit_key(void)
{
    exit_key_ready = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

static int register_exit_callback(void)
{
    int registered = 0;
#if defined(__APPLE__)
    _tlv_atexit(on_thread_exit, NULL);
    registered = 1;
#else
    if (__cxa_thread_atexit_impl) registered = __cxa_thread_atexit_impl(on_thread_exit, NULL, &__dso_handle) == 0;
#endif
    pthread_once(&exit_key_once, make_exit_key);
    if (exit_key_ready && pthread_setspecific(exit_key, (void *)1) == 0) registered = 1;
    return registered;
}

int np_boundary_first_call(void)
{
    if (np_boundary_phase == NP_PHASE_EXITING) return 0;
    if (!register_exit_callback()) return 0; /* cannot learn when this thread exits: never attach it */
    np_boundary_phase = NP_PHASE_RUNNING;
    return 1;
}

/* ------------------------------------------------------------------ proxy threads */

typedef struct proxy_request {
    void (*thunk)(void *);
    void *args;
    struct proxy_request *next;
    int done;
    int failed;                          /* the call failed: the two fields below hold why */
    np_status error_status;
    char error_message[ERROR_COPY_BYTES];
} proxy_request;

static pthread_mutex_t proxy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_arrived = PTHREAD_COND_INITIALIZER;   /* proxies wait here */
static pthread_cond_t work_finished = PTHREAD_COND_INITIALIZER;  /* callers wait here */
static proxy_request *queue_head, *queue_tail;
static int queued, idle_proxies, proxies;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* The request the calling proxy thread is running (NULL on any other thread). */
static _Thread_local proxy_request *current_request;

static void *proxy_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&proxy_lock);
    for (;;) {
        while (queue_head == NULL) {
            idle_proxies++;
            pthread_cond_wait(&work_arrived, &proxy_lock);
            idle_proxies--;
        }
        proxy_request *request = queue_head;
        queue_head = request->next;
        if (queue_head == NULL) queue_tail = NULL;
        queued--;
        pthread_mutex_unlock(&proxy_lock);

        current_request = request;
        request->thunk(request->args);
        current_request = NULL;

        pthread_mutex_lock(&proxy_lock);
        request->done = 1;
        pthread_cond_broadcast(&work_finished);
    }
    return NULL;
}

/* In a forked child only the forking thread exists: the proxies are gone, and so is whatever
 * they or their callers held. */
static void forget_proxies_in_child(void)
{
    pthread_mutex_t fresh_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
    proxy_lock = fresh_lock;
    work_arrived = fresh_cond;
    work_finished = fresh_cond;
    queue_head = queue_tail = NULL;
    queued = idle_proxies = proxies = 0;
}

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_proxies_in_child);
}

/* Starts one more proxy thread; the caller holds proxy_lock. */
static int start_proxy_locked(void)
{
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0) return 0;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&thread, &attr, proxy_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (started) proxies++;
    return started;
}

static void keep_exit_error(np_status status, const char *message)
{
    exit_error_status = status;
    snprintf(exit_error_message, sizeof exit_error_message, "%s", message);
}

int np_boundary_run_elsewhere(void (*thunk)(void *), void *args)
{
    proxy_request request;
    memset(&request, 0, sizeof request);
    request.thunk = thunk;
    request.args = args;

    pthread_once(&fork_handler_once, install_fork_handler);
    pthread_mutex_lock(&proxy_lock);
    /* Every queued request needs a proxy of its own: a proxied call may wait a long time. */
    if (queued >= idle_proxies && proxies < MAX_PROXIES) start_proxy_locked();
    if (proxies == 0) {
        pthread_mutex_unlock(&proxy_lock);
        keep_exit_error(NP_E_OUT_OF_MEMORY,
                        "no thread could be started to run a call made while the calling thread exits");
        return 0;
    }
    if (queue_tail) queue_tail->next = &request;
    else queue_head = &request;
    queue_tail = &request;
    queued++;
    pthread_cond_signal(&work_arrived);
    while (!request.done) pthread_cond_wait(&work_finished, &proxy_lock);
    pthread_mutex_unlock(&proxy_lock);

    if (request.failed) keep_exit_error(request.error_status, request.error_message);
    return 1;
}

void np_boundary_capture_failure(void)
{
    proxy_request *request = current_request;
    if (request == NULL) return;
    request->failed = 1;
    request->error_status = managed_np_last_error_status();
    managed_np_last_error_message(request->error_message, sizeof request->error_message);
}

np_status np_exit_phase_last_error_status(void)
{
    return exit_error_status;
}

size_t np_exit_phase_last_error_message(char *buffer, size_t capacity)
{
    size_t length = strlen(exit_error_message);
    if (buffer != NULL && capacity > 0) {
        size_t copy = length < capacity - 1 ? length : capacity - 1;
        memcpy(buffer, exit_error_message, copy);
        buffer[copy] = '\0';
    }
    return length;
}
