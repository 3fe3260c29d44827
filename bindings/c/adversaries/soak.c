/*
 * soak: pools, message pools and IPC under mixed load with thread and connection churn, for a
 * fixed time, while the main thread samples the process's resident memory, open descriptors and
 * threads once a second and prints the series.
 *
 *   soak [SECONDS]        default 25 s; NP_STRESS=full: 600 s; NP_SOAK_SECONDS overrides both
 *
 * Load, all at once:
 *   - pool churn: batches of short-lived threads allocate, stamp, hand blocks to each other
 *     through a shared ring and free them (cross-thread), on an unbounded and a bounded pool;
 *   - message pool churn: the same with mixed sizes on one message pool;
 *   - object churn: pools and message pools created, used and destroyed with blocks out;
 *   - connection churn: batches of short-lived client threads connect to a long-lived server,
 *     call its echo and pull routes (a puller thread answers) and pipeline, then close;
 *   - server churn: a second server is created, started, called, stopped and destroyed in turn.
 * Every payload and block is checked (echoes equal what was sent, stamps survive).
 *
 * It passes when every check held and the series is flat after warm-up. Warm-up is the first
 * fifth of the samples (at least 3). The rest is split into its first two thirds (the
 * reference) and its last third. Flat means:
 *   - resident memory: max(last third) <= max(reference) + max(5 %, 4 MiB), and so is its min
 *     (it settles slowly: allocator arenas and the runtime's heap grow for minutes);
 *   - descriptors and threads: max(last third) <= max(reference) + 2 (room for a thread or
 *     descriptor the runtime opens late), and min(last third) <= max(reference): a count that
 *     grows steadily lifts its floor above the earlier ceiling.
 * Samples are taken at quiet points (see park_point), so these counts hold nothing in flight.
 */
#include "adv_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int stopping;
static _Atomic uint64_t operations;
static _Atomic uint64_t failures;
static _Atomic uint64_t connections;
static _Atomic uint64_t threads_started;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (atomic_fetch_add(&failures, 1) < 20) {                                                 \
            char detail_[256];                                                                     \
            np_last_error_message(detail_, sizeof detail_);                                        \
            fprintf(stderr, "FAIL: soak: " __VA_ARGS__);                                           \
            fprintf(stderr, " [%s]\n", detail_);                                                   \
        }                                                                                          \
    } while (0)

#define OK(expression)                                                                             \
    do {                                                                                           \
        np_status s_ = (expression);                                                               \
        if (s_ != NP_OK) FAIL("%s:%d: %s returned %s", __FILE__, __LINE__, #expression, np_status_name(s_)); \
    } while (0)

static int running(void)
{
    return !atomic_load_explicit(&stopping, memory_order_relaxed);
}

/*
 * The sampler reads the process at a quiet point: it asks the churn loops to park between two
 * batches, waits until all have (and the server has closed the connections they left), samples,
 * and lets them go on. So the series shows what stays behind, not what is in flight.
 */
static atomic_int park_requested;
static atomic_int parked;

static void park_point(void)
{
    if (!atomic_load(&park_requested)) return;
    atomic_fetch_add(&parked, 1);
    while (atomic_load(&park_requested) && running()) adv_sleep_us(1000);
    atomic_fetch_sub(&parked, 1);
}

/* ------------------------------------------------------------------ stamped blocks */

typedef struct stamped {
    uint8_t *ptr;
    uint64_t stamp;
    size_t size;
} stamped;

static void stamp_put(stamped *b) { adv_stamp_write(b->ptr, b->size, b->stamp); }

static int stamp_ok(const stamped *b) { return adv_stamp_intact(b->ptr, b->size, b->stamp); }

/* A ring of blocks handed from thread to thread; whoever takes one frees it. */
enum { HANDOFF_MAX = 4096 };
typedef struct handoff {
    pthread_mutex_t lock;
    stamped items[HANDOFF_MAX];
    int count;
} handoff;

static int handoff_put(handoff *h, stamped b)
{
    pthread_mutex_lock(&h->lock);
    int put = h->count < HANDOFF_MAX;
    if (put) h->items[h->count++] = b;
    pthread_mutex_unlock(&h->lock);
    return put;
}

static int handoff_take(handoff *h, stamped *b)
{
    pthread_mutex_lock(&h->lock);
    int took = h->count > 0;
    if (took) *b = h->items[--h->count];
    pthread_mutex_unlock(&h->lock);
    return took;
}

/* Runs `count` threads of `body` and joins them: one batch of thread churn. */
static void run_batch(void *(*body)(void *), void *arg, int count)
{
    pthread_t ids[16];
    int started = 0;
    for (int i = 0; i < count && i < 16; i++) {
        if (pthread_create(&ids[started], NULL, body, arg) == 0) started++;
        else FAIL("pthread_create failed");
    }
    atomic_fetch_add(&threads_started, (uint64_t)started);
    for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
}

/* ------------------------------------------------------------------ pool churn */

typedef struct pool_load {
    np_pool pool;
    size_t block_size;
    handoff ring;
    _Atomic uint64_t stamps;
} pool_load;

static void pool_give_back(pool_load *load, stamped b)
{
    if (!stamp_ok(&b)) FAIL("a pool block lost its stamp (%p)", (void *)b.ptr);
    OK(np_pool_free(load->pool, b.ptr));
}

static void *pool_worker(void *arg)
{
    pool_load *load = arg;
    uint64_t seed = atomic_fetch_add(&load->stamps, 1) * 0x9E3779B97F4A7C15ull + 1;
    adv_rng rng = {seed};
    void *blocks[16];
    for (int round = 0; round < 300 && running(); round++) {
        size_t want = 1 + (size_t)adv_below(&rng, 16), got = 0;
        np_status status = np_pool_alloc_batch(load->pool, blocks, want, &got);
        if (status != NP_OK && status != NP_E_POOL_EXHAUSTED) FAIL("np_pool_alloc_batch returned %s", np_status_name(status));
        for (size_t i = 0; i < got; i++) {
            stamped b = {blocks[i], adv_next(&rng), load->block_size};
            stamp_put(&b);
            /* Half go to other threads; the rest come straight back. */
            if (!(adv_chance(&rng, 50) && handoff_put(&load->ring, b))) pool_give_back(load, b);
        }
        stamped other;
        for (int k = 0; k < 8 && handoff_take(&load->ring, &other); k++) pool_give_back(load, other);
        atomic_fetch_add_explicit(&operations, got * 2, memory_order_relaxed);
    }
    return NULL;
}

static void *pool_churn(void *arg)
{
    while (running()) {
        park_point();
        run_batch(pool_worker, arg, 3);
        adv_sleep_us(2000);
    }
    return NULL;
}

/* ------------------------------------------------------------------ message pool churn */

typedef struct msg_load {
    np_msgpool pool;
    handoff ring;
    _Atomic uint64_t stamps;
} msg_load;

static void msg_give_back(msg_load *load, stamped b)
{
    if (!stamp_ok(&b)) FAIL("a message lost its stamp (%p)", (void *)b.ptr);
    OK(np_msgpool_release(load->pool, b.ptr));
}

static void *msg_worker(void *arg)
{
    msg_load *load = arg;
    adv_rng rng = {atomic_fetch_add(&load->stamps, 1) * 0xBF58476D1CE4E5B9ull + 7};
    static const size_t sizes[] = {1, 60, 64, 200, 264, 1000, 4000, 10000, 60000, 200000};
    for (int round = 0; round < 2000 && running(); round++) {
        size_t size = sizes[adv_below(&rng, sizeof sizes / sizeof sizes[0])];
        if (adv_chance(&rng, 1)) size = 1000000;
        void *message = NULL;
        size_t capacity = 0;
        np_status status = np_msgpool_acquire(load->pool, size, &message, &capacity);
        if (status != NP_OK) {
            FAIL("np_msgpool_acquire(%zu) returned %s", size, np_status_name(status));
            continue;
        }
        if (capacity < size) FAIL("np_msgpool_acquire(%zu) gave capacity %zu", size, capacity);
        stamped b = {message, adv_next(&rng), size};
        stamp_put(&b);
        if (!(adv_chance(&rng, 50) && handoff_put(&load->ring, b))) msg_give_back(load, b);
        stamped other;
        if (handoff_take(&load->ring, &other)) msg_give_back(load, other);
        atomic_fetch_add_explicit(&operations, 2, memory_order_relaxed);
    }
    return NULL;
}

static void *msg_churn(void *arg)
{
    while (running()) {
        park_point();
        run_batch(msg_worker, arg, 2);
        adv_sleep_us(2000);
    }
    return NULL;
}

/* ------------------------------------------------------------------ object churn */

/* Pools and message pools created, used and destroyed with blocks out, one at a time. */
static void *object_churn(void *arg)
{
    (void)arg;
    adv_rng rng = {42};
    while (running()) {
        park_point();
        np_pool_options options;
        OK(np_pool_options_init(&options));
        options.block_size = 8 + adv_below(&rng, 5000);
        options.max_blocks = adv_chance(&rng, 50) ? 0 : 1000;
        np_pool pool = 0;
        OK(np_pool_create(&options, &pool));
        for (int i = 0; i < 200 && pool; i++) {
            void *block;
            np_status status = np_pool_alloc(pool, &block);
            if (status != NP_OK) FAIL("np_pool_alloc of a fresh pool returned %s", np_status_name(status));
            else memset(block, 0x5A, options.block_size);
        }
        OK(np_pool_destroy(pool));
        np_msgpool_options message_options;
        OK(np_msgpool_options_init(&message_options));
        np_msgpool messages = 0;
        OK(np_msgpool_create(&message_options, &messages));
        for (int i = 0; i < 20 && messages; i++) {
            void *message;
            OK(np_msgpool_acquire(messages, (size_t)adv_below(&rng, 70000), &message, NULL));
        }
        OK(np_msgpool_destroy(messages));
        atomic_fetch_add_explicit(&operations, 220, memory_order_relaxed);
        adv_sleep_us(5000);
    }
    return NULL;
}

/* ------------------------------------------------------------------ IPC */

static np_status echo_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    if (request_length > response_capacity) return NP_E_BUFFER_TOO_SMALL;
    if (request_length) memcpy(response, request, request_length);
    *response_length = request_length;
    return NP_OK;
}

enum { MAX_MESSAGE = 4096 };

static np_server start_server(const char *address, uint32_t workers)
{
    np_server_options options;
    OK(np_server_options_init(&options));
    options.address = address;
    options.max_message_size = MAX_MESSAGE;
    options.worker_threads = workers;
    options.max_clients = 64;
    np_server server = 0;
    OK(np_server_create(&options, &server));
    uint32_t id;
    OK(np_server_add_route(server, "echo", echo_handler, NULL, &id));
    OK(np_server_add_route(server, "pull", NULL, NULL, &id));
    OK(np_server_start(server));
    return server;
}

static void fill(uint8_t *buffer, uint32_t length, uint64_t seed)
{
    for (uint32_t i = 0; i < length; i++) buffer[i] = (uint8_t)(seed + i * 13 + (i >> 7));
}

/* Connects, calls both routes and pipelines, then closes; every answer is checked. */
static void client_session(const char *address, uint64_t seed, int calls, int with_pull)
{
    np_client client = 0;
    np_status status = np_client_connect(address, 10000, &client);
    if (status != NP_OK) {
        FAIL("np_client_connect(%s) returned %s", address, np_status_name(status));
        return;
    }
    atomic_fetch_add(&connections, 1);
    uint32_t echo = 0, pull = 0;
    OK(np_client_resolve(client, "echo", &echo));
    OK(np_client_resolve(client, "pull", &pull));
    adv_rng rng = {seed};
    uint8_t request[MAX_MESSAGE], response[MAX_MESSAGE];
    for (int i = 0; i < calls && running(); i++) {
        uint32_t length = (uint32_t)adv_below(&rng, MAX_MESSAGE + 1);
        uint64_t fill_seed = adv_next(&rng);
        fill(request, length, fill_seed);
        uint32_t got = 0;
        uint32_t route = with_pull && adv_chance(&rng, 30) ? pull : echo;
        status = np_client_call(client, route, request, length, response, sizeof response, &got, 10000);
        if (status != NP_OK) FAIL("np_client_call returned %s", np_status_name(status));
        else if (got != length || memcmp(request, response, length) != 0) FAIL("an echo differs from its request");
        atomic_fetch_add_explicit(&operations, 1, memory_order_relaxed);
    }
    /* Pipelined: a few sends, then their responses in order. */
    uint64_t ids[8];
    int sent = 0;
    for (int i = 0; i < 8 && running(); i++) {
        uint32_t length = 64 + (uint32_t)i;
        fill(request, length, (uint64_t)i);
        if (np_client_send(client, echo, request, length, &ids[sent], 10000) == NP_OK) sent++;
        else FAIL("np_client_send failed");
    }
    for (int i = 0; i < sent; i++) {
        uint64_t id = 0;
        uint32_t got = 0;
        status = np_client_receive(client, &id, response, sizeof response, &got, 10000);
        if (status != NP_OK) FAIL("np_client_receive returned %s", np_status_name(status));
        else if (id != ids[i] || got != 64 + (uint32_t)i) FAIL("a pipelined response is out of order or resized");
        atomic_fetch_add_explicit(&operations, 1, memory_order_relaxed);
    }
    OK(np_client_close(client));
}

static char main_address[64];
static np_server main_server;
static _Atomic uint64_t session_seeds;

static void *client_worker(void *arg)
{
    (void)arg;
    client_session(main_address, atomic_fetch_add(&session_seeds, 1) + 1, 100, 1);
    return NULL;
}

static void *connection_churn(void *arg)
{
    (void)arg;
    while (running()) {
        park_point();
        run_batch(client_worker, NULL, 3);
        adv_sleep_us(2000);
    }
    return NULL;
}

/* Answers the pull route of the main server until it stops. */
static void *puller(void *arg)
{
    (void)arg;
    for (;;) {
        np_request request;
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        np_status status = np_server_receive(main_server, 100, &request);
        if (status == NP_E_TIMEOUT) continue;
        if (status == NP_E_SHUTDOWN) return NULL;
        if (status != NP_OK) {
            FAIL("np_server_receive returned %s", np_status_name(status));
            return NULL;
        }
        status = np_server_reply(main_server, request.token, request.data, request.length);
        if (status != NP_OK && status != NP_E_PEER_GONE) FAIL("np_server_reply returned %s", np_status_name(status));
    }
}

/* A second server created, called, stopped and destroyed in turn. */
static void *server_churn(void *arg)
{
    (void)arg;
    unsigned n = 0;
    while (running()) {
        park_point();
        char address[64];
        snprintf(address, sizeof address, "@np-soak-%d-churn-%u", (int)getpid(), n++);
        np_server server = start_server(address, 1);
        client_session(address, 1000 + n, 20, 0);
        OK(np_server_stop(server, 100));
        OK(np_server_destroy(server));
        for (int i = 0; i < 50 && running() && !atomic_load(&park_requested); i++) adv_sleep_us(10000);
    }
    return NULL;
}

/* ------------------------------------------------------------------ the series */

enum { SAMPLES_MAX = 4000 };
typedef struct sample {
    double t;
    long rss_kib, fds, threads;
    uint64_t operations, connections, threads_started;
} sample;
static sample series[SAMPLES_MAX];

static long max_of(const sample *s, int from, int to, int field)
{
    long best = -1;
    for (int i = from; i < to; i++) {
        long v = field == 0 ? s[i].rss_kib : field == 1 ? s[i].fds : s[i].threads;
        if (v > best) best = v;
    }
    return best;
}

static long min_of(const sample *s, int from, int to, int field)
{
    long best = -1;
    for (int i = from; i < to; i++) {
        long v = field == 0 ? s[i].rss_kib : field == 1 ? s[i].fds : s[i].threads;
        if (best < 0 || v < best) best = v;
    }
    return best;
}

/*
 * The control of the judge (NP_SOAK_CONTROL=leak): after every sample the process keeps one
 * more descriptor, one more thread and 4 MiB more of touched memory, so each rule must break.
 */
static int leak_control;
static char *leaked[SAMPLES_MAX]; /* kept reachable, so the compiler keeps the allocations */
static int leaked_count;

static void *sleeper(void *arg)
{
    (void)arg;
    while (running()) adv_sleep_us(10000);
    return NULL;
}

static void leak_something(void)
{
    if (dup(1) < 0) FAIL("dup failed");
    size_t bytes = (size_t)4 << 20;
    char *memory = malloc(bytes);
    if (memory) memset(memory, 1, bytes);
    if (leaked_count < SAMPLES_MAX) leaked[leaked_count++] = memory;
    pthread_t id;
    if (pthread_create(&id, NULL, sleeper, NULL) == 0) pthread_detach(id);
}

/* Applies the flatness rules of the comment at the top; returns the number of rules broken. */
static int judge(int n)
{
    int warm = n / 5 < 3 ? 3 : n / 5;
    if (n - warm < 6) {
        printf("FAIL: soak: %d samples are too few to judge (need %d)\n", n, warm + 6);
        return 1;
    }
    int split = warm + (n - warm) * 2 / 3;
    static const char *const names[] = {"resident memory (KiB)", "open descriptors", "threads"};
    int broken = 0;
    for (int field = 0; field < 3; field++) {
        long reference = max_of(series, warm, split, field);
        long last_max = max_of(series, split, n, field);
        long last_min = min_of(series, split, n, field);
        long margin = field == 0 ? (reference / 20 > 4096 ? reference / 20 : 4096) : 2;
        /* Resident memory settles slowly (allocator arenas, the runtime's heap): its floor gets the margin too. */
        long floor_limit = field == 0 ? reference + margin : reference;
        int ok = last_max <= reference + margin && last_min <= floor_limit;
        printf("  %-22s warm-up %d samples; max of samples %d-%d: %ld; last third (%d-%d): max %ld, min %ld; "
               "allowed max %ld, min %ld: %s\n",
               names[field], warm, warm, split - 1, reference, split, n - 1, last_max, last_min, reference + margin,
               floor_limit, ok ? "flat" : "GROWS");
        if (!ok) {
            printf("FAIL: soak: %s grows after warm-up\n", names[field]);
            broken++;
        }
    }
    return broken;
}

int main(int argc, char **argv)
{
    double seconds = adv_full_size() ? 600 : 25;
    const char *env = getenv("NP_SOAK_SECONDS");
    if (env && *env) seconds = atof(env);
    if (argc > 1) seconds = atof(argv[1]);
    if (seconds < 10) seconds = 10;
    const char *control = getenv("NP_SOAK_CONTROL");
    leak_control = control && strcmp(control, "leak") == 0;
    printf("soak: %.0f s of pool, message pool and IPC load with thread and connection churn (%s size)\n", seconds,
           adv_full_size() ? "full" : "CI");

    np_pool_options options;
    OK(np_pool_options_init(&options));
    options.block_size = 264;
    pool_load *unbounded = calloc(1, sizeof *unbounded);
    pool_load *bounded = calloc(1, sizeof *bounded);
    OK(np_pool_create(&options, &unbounded->pool));
    unbounded->block_size = 264;
    options.block_size = 1024;
    options.max_blocks = 8192;
    OK(np_pool_create(&options, &bounded->pool));
    bounded->block_size = 1024;
    pthread_mutex_init(&unbounded->ring.lock, NULL);
    pthread_mutex_init(&bounded->ring.lock, NULL);
    msg_load *messages = calloc(1, sizeof *messages);
    pthread_mutex_init(&messages->ring.lock, NULL);
    np_msgpool_options message_options;
    OK(np_msgpool_options_init(&message_options));
    message_options.retain_per_class = 256;
    OK(np_msgpool_create(&message_options, &messages->pool));
    snprintf(main_address, sizeof main_address, "@np-soak-%d-main", (int)getpid());
    main_server = start_server(main_address, 2);

    pthread_t loads[8];
    int load_count = 0;
    pthread_create(&loads[load_count++], NULL, pool_churn, unbounded);
    pthread_create(&loads[load_count++], NULL, pool_churn, bounded);
    pthread_create(&loads[load_count++], NULL, msg_churn, messages);
    pthread_create(&loads[load_count++], NULL, object_churn, NULL);
    pthread_create(&loads[load_count++], NULL, connection_churn, NULL);
    pthread_create(&loads[load_count++], NULL, server_churn, NULL);
    enum { CHURN_LOOPS = 6 };
    pthread_t pull_thread;
    pthread_create(&pull_thread, NULL, puller, NULL);

    printf("  %6s %10s %5s %7s %12s %11s %13s\n", "t (s)", "rss (KiB)", "fds", "threads", "operations",
           "connections", "threads made");
    double start = adv_now();
    int n = 0;
    for (double next = start + 1; n < SAMPLES_MAX && next <= start + seconds; next += 1) {
        while (adv_now() < next) adv_sleep_us(20000);
        atomic_store(&park_requested, 1);
        double bound = adv_now() + 60; /* a safety bound: a loop that never parks is a failure */
        while (atomic_load(&parked) < CHURN_LOOPS && adv_now() < bound) adv_sleep_us(1000);
        if (atomic_load(&parked) < CHURN_LOOPS) FAIL("the churn loops did not park within 60 s");
        np_server_stats server_stats;
        do {
            memset(&server_stats, 0, sizeof server_stats);
            server_stats.struct_size = sizeof server_stats;
            OK(np_server_get_stats(main_server, &server_stats));
        } while (server_stats.connections_now != 0 && adv_now() < bound && (adv_sleep_us(1000), 1));
        if (server_stats.connections_now != 0) FAIL("the server kept %llu closed connections", (unsigned long long)server_stats.connections_now);
        sample *s = &series[n++];
        s->t = adv_now() - start;
        s->rss_kib = adv_rss_kib();
        s->fds = adv_open_fds();
        s->threads = adv_threads();
        s->operations = atomic_load(&operations);
        s->connections = atomic_load(&connections);
        s->threads_started = atomic_load(&threads_started);
        atomic_store(&park_requested, 0);
        if (leak_control) leak_something();
        if (adv_now() > next + 1) next = adv_now(); /* a slow park delays the next sample, never doubles it */
        printf("  %6.1f %10ld %5ld %7ld %12llu %11llu %13llu\n", s->t, s->rss_kib, s->fds, s->threads,
               (unsigned long long)s->operations, (unsigned long long)s->connections,
               (unsigned long long)s->threads_started);
        fflush(stdout);
    }
    atomic_store(&stopping, 1);
    for (int i = 0; i < load_count; i++) pthread_join(loads[i], NULL);
    OK(np_server_stop(main_server, 1000));
    pthread_join(pull_thread, NULL);
    OK(np_server_destroy(main_server));

    /* Whatever is still handed over goes back; then the pools must be intact and empty. */
    pool_load *pool_loads[2] = {unbounded, bounded};
    for (int k = 0; k < 2; k++) {
        stamped b;
        while (handoff_take(&pool_loads[k]->ring, &b)) pool_give_back(pool_loads[k], b);
        np_pool_validation report;
        memset(&report, 0, sizeof report);
        report.struct_size = sizeof report;
        OK(np_pool_validate(pool_loads[k]->pool, &report));
        np_pool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        OK(np_pool_get_stats(pool_loads[k]->pool, &stats));
        if (stats.in_use != 0) FAIL("a pool has %llu blocks in use at the end", (unsigned long long)stats.in_use);
        OK(np_pool_destroy(pool_loads[k]->pool));
    }
    stamped b;
    while (handoff_take(&messages->ring, &b)) msg_give_back(messages, b);
    np_msgpool_stats message_stats;
    memset(&message_stats, 0, sizeof message_stats);
    message_stats.struct_size = sizeof message_stats;
    OK(np_msgpool_get_stats(messages->pool, &message_stats));
    if (message_stats.in_flight != 0)
        FAIL("the message pool has %llu messages in flight at the end", (unsigned long long)message_stats.in_flight);
    OK(np_msgpool_destroy(messages->pool));

    int broken = judge(n);
    uint64_t failed = atomic_load(&failures);
    printf("  %llu operations, %llu connections, %llu threads started and ended, %llu check failures\n",
           (unsigned long long)atomic_load(&operations), (unsigned long long)atomic_load(&connections),
           (unsigned long long)atomic_load(&threads_started), (unsigned long long)failed);
    int ok = broken == 0 && failed == 0;
    printf("%s soak (%.0f s)\n", ok ? "ok   " : "FAIL:", seconds);
    return ok ? 0 : 1;
}
