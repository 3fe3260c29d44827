/*
 * fuzz_api: random call sequences from 4 threads over every np_status export of nativepools.h.
 *
 *   fuzz_api [--seeds K] [--calls N] [--seed S]   runner: runs K seeds (or seed S) in child processes
 *   fuzz_api --child --seed S --calls N           one run in this process (what the runner starts)
 *
 * Each run is a child process, so a signal (a crash in the library) or a hang is a failure that
 * names its seed; `fuzz_api --seed S --calls N` runs it again. Four threads share pools, message
 * pools, IPC servers (on abstract addresses this process names itself) and clients, and call with
 * valid, stale, wrong-kind and garbage handles, hostile pointers and absurd sizes. Checks:
 *   - every return value is a status the header documents for that function (read from the
 *     header's @return paragraphs at start-up);
 *   - a shadow model of the blocks each thread owns: a free of an owned block succeeds, a free of
 *     anything else fails; a block handed out is owned by nobody else (a global set), and the stamp
 *     written at allocation is intact at its free;
 *   - a failed call leaves its status in np_last_error_status(); calls with bad handles never
 *     succeed; echo routes answer with the bytes sent; validate finds every pool intact.
 * The seed fixes each thread's choices; the interleaving of the threads is the OS's.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "adv_common.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { THREADS = 4 };

/* ------------------------------------------------------------------ functions and their checks */

#define FUNCTIONS(X)                                                                              \
    X(np_pool_options_init) X(np_pool_options_preset) X(np_pool_create) X(np_pool_destroy)        \
    X(np_pool_alloc) X(np_pool_free) X(np_pool_alloc_batch) X(np_pool_free_batch)                 \
    X(np_pool_reserve) X(np_pool_trim) X(np_pool_owns) X(np_pool_validate) X(np_pool_get_stats)   \
    X(np_pool_reset_stats) X(np_msgpool_options_init) X(np_msgpool_create) X(np_msgpool_destroy)  \
    X(np_msgpool_acquire) X(np_msgpool_release) X(np_msgpool_reserve) X(np_msgpool_get_stats)     \
    X(np_msgpool_get_class_stats) X(np_msgpool_reset_stats) X(np_server_options_init)             \
    X(np_server_create) X(np_server_add_route) X(np_server_start) X(np_server_stop)               \
    X(np_server_destroy) X(np_server_get_stats) X(np_server_get_route_stats) X(np_server_receive) \
    X(np_server_reply) X(np_server_reply_error) X(np_client_connect) X(np_client_close)           \
    X(np_client_resolve) X(np_client_call) X(np_client_send) X(np_client_receive)                 \
    X(np_client_claim) X(np_client_commit) X(np_client_abort) X(np_client_max_message_size)     \
    X(np_client_options_init) X(np_client_connect_with)

#define AS_ENUM(name) F_##name,
#define AS_NAME(name) #name,
enum fn_id { FUNCTIONS(AS_ENUM) F_COUNT };
static const char *const fn_names[F_COUNT] = {FUNCTIONS(AS_NAME)};

/* The calls that return no status; they are called and their results checked too. */
enum { X_VERSION, X_VERSION_STRING, X_STATUS_NAME, X_STATUS_MESSAGE, X_LAST_ERROR_STATUS, X_LAST_ERROR_MESSAGE, X_COUNT };
static const char *const extra_names[X_COUNT] = {"np_version", "np_version_string", "np_status_name", "np_status_message",
                                                 "np_last_error_status", "np_last_error_message"};

static adv_docs docs;
static const adv_doc_fn *doc_of[F_COUNT];
static _Atomic uint64_t calls_of[F_COUNT];
static _Atomic uint64_t status_count[F_COUNT][ADV_MAX_STATUS];
static _Atomic uint64_t extra_calls[X_COUNT];
static _Atomic uint64_t total_calls;
static _Atomic uint64_t findings;
static uint64_t target_calls;
static uint64_t run_seed;
static atomic_int stop_all;
static atomic_int control_stamp; /* NP_FUZZ_CONTROL=stamp */

static _Thread_local int thread_index = -1;

static void finding(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void finding(const char *format, ...)
{
    uint64_t n = atomic_fetch_add(&findings, 1) + 1;
    if (n > 40) return;
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    char detail[256];
    np_last_error_message(detail, sizeof detail);
    fprintf(stderr, "FINDING (seed %llu, thread %d, after %llu calls): %s [last detail: %s]\n",
            (unsigned long long)run_seed, thread_index, (unsigned long long)atomic_load(&total_calls), text,
            detail);
}

static const char *status_text(np_status status)
{
    return np_status_name(status);
}

/*
 * Records one call's status and checks it against the header. last_error_checked: a failure must
 * also be the thread's np_last_error_status().
 */
static np_status check_with(enum fn_id fn, np_status status, int last_error_checked)
{
    atomic_fetch_add_explicit(&calls_of[fn], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_calls, 1, memory_order_relaxed);
    if (status <= 0 && status > -ADV_MAX_STATUS)
        atomic_fetch_add_explicit(&status_count[fn][-status], 1, memory_order_relaxed);
    if (!adv_documented(doc_of[fn], status)) {
        char list[512];
        adv_documented_text(&docs, doc_of[fn], list, sizeof list);
        finding("%s returned %s (%d), not in its documented list: %s", fn_names[fn], status_text(status), (int)status,
                list);
    }
    if (status != NP_OK && last_error_checked) {
        np_status last = np_last_error_status();
        if (last != status)
            finding("%s returned %s but np_last_error_status() says %s", fn_names[fn], status_text(status),
                    status_text(last));
        /* The detail says what happened; the status's name is np_status_name()'s, not repeated. */
        char detail[96];
        np_last_error_message(detail, sizeof detail);
        const char *name = np_status_name(status);
        if (detail[0] == '\0' || strncmp(detail, "NP_E_", 5) == 0)
            finding("%s returned %s but the detail message is \"%s\"", fn_names[fn], name, detail);
    }
    return status;
}

static np_status check(enum fn_id fn, np_status status)
{
    return check_with(fn, status, 1);
}

/* A call with a handle that names no live object of its kind must fail (0 is a no-op for destroy). */
static void expect_failure(enum fn_id fn, np_status status, const char *why)
{
    if (status == NP_OK) finding("%s returned NP_OK for %s", fn_names[fn], why);
}

static void expect_ok(enum fn_id fn, np_status status, const char *why)
{
    if (status != NP_OK) finding("%s returned %s for %s", fn_names[fn], status_text(status), why);
}

/* ------------------------------------------------------------------ hostile memory */

enum { NOACCESS_BYTES = 1 << 16 };
static uint8_t *noaccess;      /* PROT_NONE: an address the library must never touch */
static uint8_t *readonly_data; /* PROT_READ, pattern-filled: request payloads the library only reads */
enum { READONLY_BYTES = 1 << 17 };

static uint8_t pattern_byte(uint64_t seed, size_t i)
{
    return (uint8_t)((seed * 31 + i * 7 + (i >> 8)) & 0xFF);
}

/* A page per thread that holds option structs and strings, read-only while the library reads it. */
typedef struct ro_page {
    uint8_t *base;
    size_t size;
} ro_page;

static void ro_open(ro_page *page)
{
    mprotect(page->base, page->size, PROT_READ | PROT_WRITE);
}

static void ro_seal(ro_page *page)
{
    mprotect(page->base, page->size, PROT_READ);
}

/* ------------------------------------------------------------------ the owned-block set */

/*
 * Every block or message any thread owns, keyed by address, with the handle of the pool it came
 * from. A block of a destroyed pool may still be listed (its owner drops it later); a live pool
 * never hands out an address of another live pool, so an entry with another handle is stale and
 * is replaced, while an entry with the same handle means the pool handed out a block twice.
 */
enum { SET_CAPACITY = 1 << 17 };
typedef struct set_entry {
    uintptr_t ptr;
    uint64_t handle;
} set_entry;
static set_entry owned_set[SET_CAPACITY];
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t set_home(uintptr_t ptr)
{
    return (size_t)((ptr * 0x9E3779B97F4A7C15ull) >> 47) & (SET_CAPACITY - 1);
}

/* Adds ptr; returns 0 when a live entry with the same handle was there already. */
static int set_add(uintptr_t ptr, uint64_t handle)
{
    pthread_mutex_lock(&set_lock);
    size_t i = set_home(ptr);
    int fresh = 1;
    while (owned_set[i].ptr != 0 && owned_set[i].ptr != ptr) i = (i + 1) & (SET_CAPACITY - 1);
    if (owned_set[i].ptr == ptr && owned_set[i].handle == handle) fresh = 0;
    owned_set[i].ptr = ptr;
    owned_set[i].handle = handle;
    pthread_mutex_unlock(&set_lock);
    return fresh;
}

/* Removes ptr if it is listed with this handle (linear probing with backward-shift deletion). */
static void set_remove(uintptr_t ptr, uint64_t handle)
{
    pthread_mutex_lock(&set_lock);
    size_t i = set_home(ptr);
    while (owned_set[i].ptr != 0 && owned_set[i].ptr != ptr) i = (i + 1) & (SET_CAPACITY - 1);
    if (owned_set[i].ptr == ptr && owned_set[i].handle == handle) {
        size_t hole = i;
        for (size_t j = (hole + 1) & (SET_CAPACITY - 1); owned_set[j].ptr != 0; j = (j + 1) & (SET_CAPACITY - 1)) {
            size_t home = set_home(owned_set[j].ptr);
            /* Move j into the hole unless its home lies cyclically in (hole, j]. */
            int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!stays) {
                owned_set[hole] = owned_set[j];
                hole = j;
            }
        }
        owned_set[hole].ptr = 0;
        owned_set[hole].handle = 0;
    }
    pthread_mutex_unlock(&set_lock);
}

/* ------------------------------------------------------------------ owned blocks per thread */

enum { KIND_POOL = 1, KIND_MSGPOOL = 2, KIND_SERVER = 3, KIND_CLIENT = 4 };

typedef struct owned {
    uint8_t *ptr;
    uint64_t handle; /* the pool or message pool it came from */
    int kind;        /* KIND_POOL or KIND_MSGPOOL */
    int slot;        /* shared slot index, or -1 for the thread's private pool */
    size_t size;     /* usable bytes (block size or message capacity) */
    uint64_t stamp;
} owned;

static void stamp_write(owned *o) { adv_stamp_write(o->ptr, o->size, o->stamp); }

static int stamp_intact(const owned *o) { return adv_stamp_intact(o->ptr, o->size, o->stamp); }

/* A finding when an owned block or message was changed behind the model's back. */
static void check_stamp(const owned *o)
{
    if (!stamp_intact(o))
        finding("%s %p lost its stamp while owned", o->kind == KIND_MSGPOOL ? "message" : "block", (void *)o->ptr);
}

/* Blocks handed from one thread to another (cross-thread frees). */
enum { EXCHANGE_MAX = 256 };
static owned exchange[EXCHANGE_MAX];
static int exchange_count;
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------ shared objects */

/*
 * Destroy must not race with other calls on the same object, so each slot has a rwlock: calls
 * take it shared, create and destroy exclusive (writer-preferring, so a destroy is not starved).
 * A server also has a mutex that serialises np_server_stop with its other calls except
 * np_server_receive and the replies: the header documents a receive that waits until a stop and
 * a reply that finds its request already answered by the stop, so those race with stop here.
 */
enum { POOL_SLOTS = 4, MSGPOOL_SLOTS = 3, SERVER_SLOTS = 2, CLIENT_SLOTS = 6 };

typedef struct pool_slot {
    pthread_rwlock_t rw;
    uint64_t handle; /* 0 when empty */
    np_pool_options options;
    uint64_t stride;
    _Atomic uint64_t published; /* a copy read without the lock, for wrong-kind calls */
} pool_slot;

typedef struct msgpool_slot {
    pthread_rwlock_t rw;
    uint64_t handle;
    uint32_t class_count;
    uint32_t largest;
    _Atomic uint64_t published;
} msgpool_slot;

enum { ROUTE_ECHO, ROUTE_FAIL, ROUTE_SLOW, ROUTE_PULL, ROUTE_COUNT };
static const char *const route_names[ROUTE_COUNT] = {"echo", "fail", "slow", "pull"};

typedef struct server_slot {
    pthread_rwlock_t rw;
    pthread_mutex_t control;
    uint64_t handle;
    char address[108];
    uint32_t max_message_size;
    uint32_t route_count; /* routes added so far: ids 1..route_count */
    int started;
    int stopped;
    _Atomic uint64_t published;
} server_slot;

/* Pipelined requests of a client: id -> payload seed and length, to check their responses. */
enum { SENT_MAX = 64 };
typedef struct sent_request {
    uint64_t request_id;
    uint64_t payload_seed;
    uint32_t length;
    int route; /* ROUTE_*, or -1 */
} sent_request;

typedef struct client_slot {
    pthread_rwlock_t rw;
    uint64_t handle;
    uint32_t route_ids[ROUTE_COUNT]; /* 0 when the route did not resolve */
    uint32_t max_message_size;
    pthread_mutex_t sent_lock;
    sent_request sent[SENT_MAX];
    /*
     * Held from a claim to its commit or abort, and around sends and calls: the thread that
     * claimed writes into the ring after the claim returns, so no other thread of this program
     * may abort its claim and reuse that room meanwhile (which would corrupt another request).
     */
    pthread_mutex_t claim_lock;
    _Atomic uint64_t published;
} client_slot;

static pool_slot pools[POOL_SLOTS];
static msgpool_slot msgpools[MSGPOOL_SLOTS];
static server_slot servers[SERVER_SLOTS];
static client_slot clients[CLIENT_SLOTS];

/* Handles of destroyed objects of every kind. */
enum { STALE_MAX = 64 };
static _Atomic uint64_t stale_handles[STALE_MAX];
static atomic_uint stale_next;

static void remember_stale(uint64_t handle)
{
    unsigned i = atomic_fetch_add(&stale_next, 1) % STALE_MAX;
    atomic_store(&stale_handles[i], handle);
}

/* Pull requests taken and answered later: the request's bytes are copied at receive time. */
enum { DEFERRED_MAX = 64 };
typedef struct deferred_reply {
    uint64_t server;
    uint64_t token;
    uint32_t length;
    uint8_t *data;
} deferred_reply;
static deferred_reply deferred[DEFERRED_MAX];
static int deferred_count;
static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_uint address_counter;
static _Atomic uint64_t connect_micros;

/* ------------------------------------------------------------------ per thread */

enum { OWNED_MAX = 1024, FREED_MAX = 64 };
static const size_t OWNED_BYTES_MAX = (size_t)48 << 20; /* what one thread holds at most */

typedef struct fuzz_thread {
    int index;
    adv_rng rng;
    owned own[OWNED_MAX];
    int own_count;
    size_t owned_bytes;
    /* A pool only this thread uses, where double frees are deterministic. */
    uint64_t private_pool;
    uint64_t private_stride;
    uint64_t private_block_size;
    uint32_t private_flags;
    uint64_t private_alignment;
    uint8_t *freed[FREED_MAX]; /* blocks this thread freed in its private pool */
    int freed_count;
    int private_trimmed; /* the private pool was trimmed since freed[] was cleared */
    uint64_t stamps;
    ro_page ro;
    uint8_t buffer[1 << 17]; /* responses and payloads */
    uint8_t payload[1 << 17];
} fuzz_thread;

static uint64_t next_stamp(fuzz_thread *t)
{
    return ((uint64_t)(t->index + 1) << 56) ^ (++t->stamps * 0x9E3779B97F4A7C15ull);
}

static void own_push(fuzz_thread *t, uint8_t *ptr, uint64_t handle, int kind, int slot, size_t size)
{
    if (!set_add((uintptr_t)ptr, handle))
        finding("%s handed out %p, which a thread already owns", kind == KIND_POOL ? "a pool" : "a message pool",
                (void *)ptr);
    owned *o = &t->own[t->own_count++];
    o->ptr = ptr;
    o->handle = handle;
    o->kind = kind;
    o->slot = slot;
    o->size = size;
    o->stamp = next_stamp(t);
    stamp_write(o);
    t->owned_bytes += size;
}

static owned own_take(fuzz_thread *t, int i)
{
    owned o = t->own[i];
    t->own[i] = t->own[--t->own_count];
    t->owned_bytes -= o.size;
    return o;
}

/* Takes owned entry i to give it back: its stamp must be intact, and it leaves the shared set. */
static owned own_take_to_return(fuzz_thread *t, int i)
{
    owned o = own_take(t, i);
    check_stamp(&o);
    set_remove((uintptr_t)o.ptr, o.handle);
    return o;
}

/* Index of a random owned entry of (kind, handle), or -1. */
static int own_find(fuzz_thread *t, int kind, uint64_t handle)
{
    if (t->own_count == 0) return -1;
    int start = (int)adv_below(&t->rng, (uint64_t)t->own_count);
    for (int k = 0; k < t->own_count; k++) {
        int i = (start + k) % t->own_count;
        if (t->own[i].kind == kind && t->own[i].handle == handle) return i;
    }
    return -1;
}

static void freed_remember(fuzz_thread *t, uint8_t *ptr)
{
    if (t->freed_count < FREED_MAX) t->freed[t->freed_count++] = ptr;
    else t->freed[adv_below(&t->rng, FREED_MAX)] = ptr;
}

/* A handle that names no live object of `kind`. */
static uint64_t hostile_handle(fuzz_thread *t, int kind, const char **why)
{
    switch (adv_below(&t->rng, 6)) {
    case 0: *why = "handle 0"; return 0;
    case 1: *why = "a garbage handle"; return adv_next(&t->rng) | (1ull << 63);
    case 2: {
        uint64_t h = atomic_load(&stale_handles[adv_below(&t->rng, STALE_MAX)]);
        if (h) {
            *why = "a stale handle";
            return h;
        }
        *why = "handle ~0";
        return ~0ull;
    }
    case 3: {
        /* A live handle of another kind. */
        int other = 1 + (int)adv_below(&t->rng, 4);
        if (other == kind) other = other % 4 + 1;
        uint64_t h = 0;
        switch (other) {
        case KIND_POOL: h = atomic_load(&pools[adv_below(&t->rng, POOL_SLOTS)].published); break;
        case KIND_MSGPOOL: h = atomic_load(&msgpools[adv_below(&t->rng, MSGPOOL_SLOTS)].published); break;
        case KIND_SERVER: h = atomic_load(&servers[adv_below(&t->rng, SERVER_SLOTS)].published); break;
        default: h = atomic_load(&clients[adv_below(&t->rng, CLIENT_SLOTS)].published); break;
        }
        if (kind != KIND_POOL && other != KIND_POOL && t->private_pool && adv_chance(&t->rng, 30)) h = t->private_pool;
        *why = h ? "a handle of another kind" : "handle 0";
        return h;
    }
    case 4: *why = "handle ~0"; return ~0ull;
    default: *why = "a small garbage handle"; return adv_below(&t->rng, 1u << 20) << 32 | (1u << 31);
    }
}

/*
 * A pointer that is not the start of a block of the object `handle` names (so a free of it must
 * fail), given the thread's blocks of that object; stride is the object's block stride (0 when
 * unknown: no interior pointer is made then).
 */
static uint8_t *hostile_pointer(fuzz_thread *t, int kind, uint64_t handle, uint64_t stride, const char **why)
{
    static uint8_t heap_like[64];
    switch (adv_below(&t->rng, 11)) {
    case 0: *why = "NULL"; return NULL;
    case 1: *why = "a PROT_NONE address"; return noaccess + 8 * adv_below(&t->rng, NOACCESS_BYTES / 8);
    case 2: *why = "a low address"; return (uint8_t *)(uintptr_t)(0x1000 + 8 * adv_below(&t->rng, 512));
    case 3: *why = "a kernel address"; return (uint8_t *)(uintptr_t)0xffff800000001000ull;
    case 4: *why = "a non-canonical address"; return (uint8_t *)(uintptr_t)0x8000000000001000ull;
    case 5: *why = "a stack address"; return (uint8_t *)((uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)7);
    case 6: *why = "a static address"; return heap_like + 8 * adv_below(&t->rng, 8);
    case 7: *why = "a read-only address"; return readonly_data + 8 * adv_below(&t->rng, READONLY_BYTES / 8);
    case 8: {
        /* A block of another pool or message pool that this thread owns. */
        /* Only blocks of a pool known live: a destroyed pool's range may now belong to the target. */
        for (int k = 0; k < 8 && t->own_count > 0; k++) {
            owned *o = &t->own[adv_below(&t->rng, (uint64_t)t->own_count)];
            int live = o->slot < 0 ? o->handle == t->private_pool
                                   : o->kind == KIND_POOL ? atomic_load(&pools[o->slot].published) == o->handle
                                                          : atomic_load(&msgpools[o->slot].published) == o->handle;
            if (o->handle != handle && live) {
                *why = "a block of another pool";
                return o->ptr;
            }
        }
        *why = "NULL";
        return NULL;
    }
    case 9:
        /* Not after a trim of the private pool: a pool that gives address ranges back could
           see another pool reuse them, and then the pointer may be a block of the target. */
        if (t->freed_count > 0 && handle != t->private_pool && !t->private_trimmed) {
            *why = "a block freed in another pool";
            return t->freed[adv_below(&t->rng, (uint64_t)t->freed_count)];
        }
        /* fall through */
    default: {
        /* Inside one of this object's blocks that this thread owns, not at its start. */
        int i = own_find(t, kind, handle);
        uint64_t span = i >= 0 ? (stride ? stride : t->own[i].size) : 0;
        if (i >= 0 && span > 1 && t->own[i].size > 1) {
            uint64_t limit = span < t->own[i].size ? span : t->own[i].size;
            *why = "an interior or misaligned pointer";
            return t->own[i].ptr + 1 + adv_below(&t->rng, limit - 1);
        }
        *why = "a PROT_NONE address";
        return noaccess + 16;
    }
    }
}

/* A size from a list of boundaries and ordinary values, sometimes absurd. */
static uint64_t random_size(adv_rng *rng)
{
    static const uint64_t sizes[] = {0, 1, 2, 7, 8, 9, 63, 64, 65, 100, 264, 265, 1000, 1024, 4096, 10240, 65536};
    return sizes[adv_below(rng, sizeof sizes / sizeof sizes[0])];
}

static uint64_t absurd_size(adv_rng *rng)
{
    static const uint64_t sizes[] = {UINT64_MAX, UINT64_MAX - 7, 1ull << 63, 1ull << 40, (1ull << 32) + 1, 0xFFFFFFFFull};
    return sizes[adv_below(rng, sizeof sizes / sizeof sizes[0])];
}

/* ------------------------------------------------------------------ block pools */

/* Random pool options; *absurd is set when some field is out of its documented range. */
static void random_pool_options(fuzz_thread *t, np_pool_options *o, int *absurd)
{
    adv_rng *r = &t->rng;
    check(F_np_pool_options_init, np_pool_options_init(o));
    if (adv_chance(r, 20)) check(F_np_pool_options_preset, np_pool_options_preset(o, 1 + (int32_t)adv_below(r, 3)));
    static const uint64_t block_sizes[] = {1, 2, 7, 8, 16, 24, 64, 100, 264, 1024, 4000, 10240, 65536, 1 << 20};
    static const uint64_t alignments[] = {0, 1, 2, 8, 16, 64, 4096};
    o->block_size = block_sizes[adv_below(r, sizeof block_sizes / sizeof block_sizes[0])];
    o->alignment = alignments[adv_below(r, sizeof alignments / sizeof alignments[0])];
    o->flags = (uint32_t)adv_below(r, 8);
    int large = o->block_size >= 65536;
    o->initial_blocks = adv_below(r, large ? 4 : 64);
    o->growth_blocks = adv_below(r, large ? 4 : 128);
    o->max_blocks = adv_chance(r, 50) ? 0 : 1 + adv_below(r, large ? 32 : 256);
    if (o->max_blocks && o->initial_blocks > o->max_blocks) o->initial_blocks = o->max_blocks;
    *absurd = 0;
    if (adv_chance(r, 8)) {
        *absurd = 1;
        switch (adv_below(r, 9)) {
        case 0: o->block_size = 0; break;
        case 1: o->block_size = NP_POOL_MAX_BLOCK_SIZE + 1; break;
        case 2: o->block_size = absurd_size(r); break;
        case 3: o->alignment = 3 + 2 * adv_below(r, 100); break;
        case 4: o->alignment = NP_POOL_MAX_ALIGNMENT * 2; break;
        case 5: o->flags = 8u << adv_below(r, 28); break;
        case 6: o->max_blocks = 4; o->initial_blocks = 5 + adv_below(r, 1000); break;
        case 7: o->initial_blocks = 1ull << (40 + adv_below(r, 20)); break;
        default: o->struct_size = (uint32_t)adv_below(r, 2) ? 0 : sizeof *o + 8 * (1 + (uint32_t)adv_below(r, 4)); break;
        }
    }
}

/* Creates a pool from options held in the thread's read-only page; returns the status. */
static np_status create_pool_readonly(fuzz_thread *t, const np_pool_options *options, np_pool *pool)
{
    ro_open(&t->ro);
    np_pool_options *copy = (np_pool_options *)t->ro.base;
    *copy = *options;
    char *name = (char *)t->ro.base + 512;
    snprintf(name, 64, "fuzz-%d", t->index);
    if (adv_chance(&t->rng, 50)) copy->name = name;
    ro_seal(&t->ro);
    return check(F_np_pool_create, np_pool_create(adv_chance(&t->rng, 3) ? NULL : copy, pool));
}

static uint64_t pool_stride(uint64_t handle)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    if (check(F_np_pool_get_stats, np_pool_get_stats(handle, &stats)) != NP_OK) return 0;
    return stats.block_stride;
}

static void forget_private_blocks(fuzz_thread *t)
{
    for (int i = t->own_count - 1; i >= 0; i--)
        if (t->own[i].slot < 0 && t->own[i].kind == KIND_POOL) {
            owned o = own_take(t, i);
            set_remove((uintptr_t)o.ptr, o.handle);
        }
    t->freed_count = 0;
    t->private_trimmed = 0;
}

static void op_pool_create(fuzz_thread *t)
{
    np_pool_options options;
    int absurd;
    random_pool_options(t, &options, &absurd);
    int s = (int)adv_below(&t->rng, POOL_SLOTS + 1);
    np_pool handle = 0;
    if (s == POOL_SLOTS) {
        /* The private pool: destroyed with its blocks out and created again. */
        if (t->private_pool) {
            expect_ok(F_np_pool_destroy, check(F_np_pool_destroy, np_pool_destroy(t->private_pool)), "a live pool");
            remember_stale(t->private_pool);
            forget_private_blocks(t);
            t->private_pool = 0;
        }
        np_status status = create_pool_readonly(t, &options, &handle);
        if (status == NP_OK && absurd) finding("np_pool_create accepted options out of range");
        if (status == NP_OK) {
            t->private_pool = handle;
            t->private_stride = pool_stride(handle);
            t->private_block_size = options.block_size;
            t->private_flags = options.flags;
            t->private_alignment = options.alignment;
        }
        return;
    }
    pool_slot *slot = &pools[s];
    pthread_rwlock_wrlock(&slot->rw);
    if (slot->handle) {
        expect_ok(F_np_pool_destroy, check(F_np_pool_destroy, np_pool_destroy(slot->handle)), "a live pool");
        remember_stale(slot->handle);
        slot->handle = 0;
        atomic_store(&slot->published, 0);
    }
    np_status status = create_pool_readonly(t, &options, &handle);
    if (status == NP_OK && absurd) finding("np_pool_create accepted options out of range");
    if (status == NP_OK) {
        slot->handle = handle;
        slot->options = options;
        slot->stride = pool_stride(handle);
        atomic_store(&slot->published, handle);
    } else if (handle != 0) {
        finding("np_pool_create failed with %s but wrote handle %llu", status_text(status), (unsigned long long)handle);
    }
    pthread_rwlock_unlock(&slot->rw);
}

static void op_pool_destroy(fuzz_thread *t)
{
    int s = (int)adv_below(&t->rng, POOL_SLOTS);
    pool_slot *slot = &pools[s];
    pthread_rwlock_wrlock(&slot->rw);
    if (slot->handle) {
        expect_ok(F_np_pool_destroy, check(F_np_pool_destroy, np_pool_destroy(slot->handle)), "a live pool");
        remember_stale(slot->handle);
        slot->handle = 0;
        atomic_store(&slot->published, 0);
    } else {
        const char *why;
        uint64_t h = hostile_handle(t, KIND_POOL, &why);
        np_status status = check(F_np_pool_destroy, np_pool_destroy(h));
        if (h != 0) expect_failure(F_np_pool_destroy, status, why);
        else expect_ok(F_np_pool_destroy, status, "handle 0");
    }
    pthread_rwlock_unlock(&slot->rw);
}

/*
 * Picks the pool of the next call: the private pool, a shared slot (held shared until
 * pool_release), or a hostile handle. Returns the handle; *valid says whether it names a live pool.
 */
typedef struct pool_pick {
    uint64_t handle;
    uint64_t stride;
    int slot; /* -1 private, -2 hostile */
    int valid;
    const char *why;
} pool_pick;

static pool_pick pool_acquire(fuzz_thread *t)
{
    pool_pick p = {0, 0, -2, 0, "?"};
    unsigned roll = (unsigned)adv_below(&t->rng, 100);
    if (roll < 8) {
        p.handle = hostile_handle(t, KIND_POOL, &p.why);
        return p;
    }
    if (roll < 40 && t->private_pool) {
        p.handle = t->private_pool;
        p.stride = t->private_stride;
        p.slot = -1;
        p.valid = 1;
        return p;
    }
    /* The first live slot from a random start; a hostile handle when every slot is empty. */
    int s = (int)adv_below(&t->rng, POOL_SLOTS);
    for (int k = 0;; k++, s = (s + 1) % POOL_SLOTS) {
        pthread_rwlock_rdlock(&pools[s].rw);
        if (pools[s].handle) break;
        pthread_rwlock_unlock(&pools[s].rw);
        if (k == POOL_SLOTS - 1) {
            p.handle = hostile_handle(t, KIND_POOL, &p.why);
            return p;
        }
    }
    p.handle = pools[s].handle;
    p.stride = pools[s].stride;
    p.slot = s;
    p.valid = 1;
    return p;
}

static void pool_release(pool_pick *p)
{
    if (p->slot >= 0) pthread_rwlock_unlock(&pools[p->slot].rw);
}

/* Checks a block the pool just handed out and takes it into the model. */
static void took_block(fuzz_thread *t, pool_pick *p, uint8_t *block)
{
    if (block == NULL) {
        finding("a pool allocation returned NP_OK and NULL");
        return;
    }
    if (t->own_count == OWNED_MAX) {
        /* The model is full: give the block straight back. */
        check(F_np_pool_free, np_pool_free(p->handle, block));
        return;
    }
    size_t size = p->slot >= 0 ? pools[p->slot].options.block_size : t->private_block_size;
    uint64_t alignment = p->slot >= 0 ? pools[p->slot].options.alignment : t->private_alignment;
    if (alignment > 1 && ((uintptr_t)block % alignment) != 0)
        finding("a pool with alignment %llu handed out %p", (unsigned long long)alignment, (void *)block);
    uint32_t flags = p->slot >= 0 ? pools[p->slot].options.flags : t->private_flags;
    if (flags & NP_POOL_ZERO_ON_ALLOC) {
        for (size_t k = 0; k < size && k < 64; k++)
            if (block[k] != 0) {
                finding("a zero-on-alloc pool handed out %p with byte %zu = %u", (void *)block, k, block[k]);
                break;
            }
    }
    own_push(t, block, p->handle, KIND_POOL, p->slot, size);
}

static void op_pool_alloc(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    if (t->owned_bytes > OWNED_BYTES_MAX || t->own_count == OWNED_MAX) {
        pool_release(&p);
        return;
    }
    void *block = (void *)1;
    int null_out = adv_chance(&t->rng, 3);
    np_status status = check(F_np_pool_alloc, np_pool_alloc(p.handle, null_out ? NULL : &block));
    if (!p.valid) expect_failure(F_np_pool_alloc, status, p.why);
    if (null_out) expect_failure(F_np_pool_alloc, status, "a NULL out-parameter");
    if (status == NP_OK && p.valid && !null_out) took_block(t, &p, (uint8_t *)block);
    else if (!null_out && status != NP_OK && block != NULL)
        finding("np_pool_alloc failed with %s and left %p in its out-parameter", status_text(status), block);
    pool_release(&p);
}

/* Frees one owned block of the chosen pool, checking its stamp. */
static void op_pool_free(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    int i = p.valid ? own_find(t, KIND_POOL, p.handle) : -1;
    if (i >= 0 && adv_chance(&t->rng, 80)) {
        owned o = own_take_to_return(t, i);
        expect_ok(F_np_pool_free, check(F_np_pool_free, np_pool_free(p.handle, o.ptr)), "an owned block");
        if (p.slot == -1) {
            freed_remember(t, o.ptr);
            /* A second free of it now is a double free: nobody else allocates from this pool. */
            if (adv_chance(&t->rng, 30)) {
                np_status again = check(F_np_pool_free, np_pool_free(p.handle, o.ptr));
                if (again != NP_E_DOUBLE_FREE)
                    finding("a second free of %p returned %s, not NP_E_DOUBLE_FREE", (void *)o.ptr, status_text(again));
            }
        }
    } else {
        const char *why;
        uint8_t *ptr = hostile_pointer(t, KIND_POOL, p.handle, p.stride, &why);
        if (p.slot == -1 && t->freed_count > 0 && adv_chance(&t->rng, 30)) {
            ptr = t->freed[adv_below(&t->rng, (uint64_t)t->freed_count)];
            why = "a block this thread freed";
            /* It may have been handed out again to this thread: then it is owned, not hostile. */
            for (int k = 0; k < t->own_count; k++)
                if (t->own[k].ptr == ptr) ptr = NULL, why = "NULL";
        }
        np_status status = check(F_np_pool_free, np_pool_free(p.handle, ptr));
        expect_failure(F_np_pool_free, status, p.valid ? why : p.why);
    }
    pool_release(&p);
}

static void op_pool_alloc_batch(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    size_t count = (size_t)adv_below(&t->rng, 33);
    if (t->owned_bytes > OWNED_BYTES_MAX || t->own_count + (int)count >= OWNED_MAX) count = 0;
    void *blocks[34];
    for (size_t k = 0; k < 34; k++) blocks[k] = (void *)(uintptr_t)0x10;
    size_t allocated = 777;
    int null_array = count > 0 && adv_chance(&t->rng, 3);
    if (null_array && adv_chance(&t->rng, 50)) count = (size_t)absurd_size(&t->rng); /* NULL checked before the count */
    int null_count = adv_chance(&t->rng, 3);
    np_status status = check(F_np_pool_alloc_batch,
                             np_pool_alloc_batch(p.handle, null_array ? NULL : blocks, count, null_count ? NULL : &allocated));
    if (!p.valid) expect_failure(F_np_pool_alloc_batch, status, p.why);
    if (null_array) expect_failure(F_np_pool_alloc_batch, status, "a NULL array");
    if (null_count) expect_failure(F_np_pool_alloc_batch, status, "a NULL count out-parameter");
    if (!p.valid || null_array || null_count) {
        pool_release(&p);
        return;
    }
    if (allocated > count || (status == NP_OK) != (allocated == count)) {
        finding("np_pool_alloc_batch of %zu returned %s with %zu allocated", count, status_text(status), allocated);
        pool_release(&p);
        return;
    }
    if (blocks[count] != (void *)(uintptr_t)0x10) finding("np_pool_alloc_batch wrote past its count");
    for (size_t k = allocated; k < count; k++)
        if (blocks[k] != NULL) finding("np_pool_alloc_batch left entry %zu of %zu non-NULL after %zu", k, count, allocated);
    for (size_t k = 0; k < allocated; k++) took_block(t, &p, (uint8_t *)blocks[k]);
    pool_release(&p);
}

static void op_pool_free_batch(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    void *entries[24];
    size_t count = (size_t)adv_below(&t->rng, 24);
    size_t valid = 0, invalid = 0;
    const char *first_why = NULL;
    for (size_t k = 0; k < count; k++) {
        int i = p.valid ? own_find(t, KIND_POOL, p.handle) : -1;
        if (i >= 0 && adv_chance(&t->rng, 75)) {
            owned o = own_take_to_return(t, i);
            if (p.slot == -1) freed_remember(t, o.ptr);
            entries[k] = o.ptr;
            valid++;
        } else if (p.slot == -1 && valid > 0 && adv_chance(&t->rng, 30)) {
            /* The same block twice in one batch: the second is a double free (private pool). */
            entries[k] = entries[adv_below(&t->rng, k)];
            if (!first_why) first_why = "a block already in the batch";
            invalid++;
        } else {
            const char *why;
            entries[k] = hostile_pointer(t, KIND_POOL, p.handle, p.stride, &why);
            if (!first_why) first_why = why;
            invalid++;
        }
    }
    size_t freed = 777;
    int null_freed = adv_chance(&t->rng, 30);
    np_status status;
    int null_array = 0;
    if (count == 0 && adv_chance(&t->rng, 50)) {
        status = np_pool_free_batch(p.handle, NULL, 0, null_freed ? NULL : &freed);
    } else if (count == 0 && adv_chance(&t->rng, 20)) {
        null_array = 1; /* NULL with an absurd count: refused before any entry is read */
        status = np_pool_free_batch(p.handle, NULL, (size_t)absurd_size(&t->rng), null_freed ? NULL : &freed);
    } else if (adv_chance(&t->rng, 30)) {
        /* The library only reads the array: hand it over in a read-only page. */
        ro_open(&t->ro);
        memcpy(t->ro.base, entries, count * sizeof entries[0]);
        ro_seal(&t->ro);
        status = np_pool_free_batch(p.handle, (void *const *)t->ro.base, count, null_freed ? NULL : &freed);
    } else {
        status = np_pool_free_batch(p.handle, entries, count, null_freed ? NULL : &freed);
    }
    check(F_np_pool_free_batch, status); /* the last error describes the first invalid entry */
    if (!p.valid || null_array) {
        expect_failure(F_np_pool_free_batch, status, p.valid ? "a NULL array" : p.why);
    } else {
        if (invalid > 0) expect_failure(F_np_pool_free_batch, status, first_why);
        if (invalid == 0) expect_ok(F_np_pool_free_batch, status, "a batch of owned blocks");
        if (!null_freed && freed != valid)
            finding("np_pool_free_batch freed %zu of a batch with %zu owned blocks and %zu others", freed, valid, invalid);
    }
    pool_release(&p);
}

static void op_pool_owns(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    int32_t result = -77;
    int i = p.valid ? own_find(t, KIND_POOL, p.handle) : -1;
    if (i >= 0 && adv_chance(&t->rng, 50)) {
        np_status status = check(F_np_pool_owns, np_pool_owns(p.handle, t->own[i].ptr, &result));
        expect_ok(F_np_pool_owns, status, "an owned block");
        if (status == NP_OK && result != NP_BLOCK_ALLOCATED)
            finding("np_pool_owns says %d for an allocated block", (int)result);
    } else if (p.slot == -1 && t->freed_count > 0 && adv_chance(&t->rng, 30)) {
        uint8_t *ptr = t->freed[adv_below(&t->rng, (uint64_t)t->freed_count)];
        int mine = 0;
        for (int k = 0; k < t->own_count; k++) mine |= t->own[k].ptr == ptr;
        np_status status = check(F_np_pool_owns, np_pool_owns(p.handle, ptr, &result));
        expect_ok(F_np_pool_owns, status, "a freed block");
        /* Free, or not owned once trim gave its chunk back. */
        if (status == NP_OK && !mine && result != NP_BLOCK_FREE && result != NP_BLOCK_NOT_OWNED)
            finding("np_pool_owns says %d for a freed block", (int)result);
    } else {
        const char *why;
        uint8_t *ptr = hostile_pointer(t, KIND_POOL, p.handle, p.stride, &why);
        int null_result = adv_chance(&t->rng, 5);
        np_status status = check(F_np_pool_owns, np_pool_owns(p.handle, ptr, null_result ? NULL : &result));
        if (!p.valid) expect_failure(F_np_pool_owns, status, p.why);
        else if (null_result) expect_failure(F_np_pool_owns, status, "a NULL result");
        else {
            expect_ok(F_np_pool_owns, status, "any pointer value");
            if (status == NP_OK && result != NP_BLOCK_NOT_OWNED && ptr != NULL)
                finding("np_pool_owns says %d for %s %p", (int)result, why, (void *)ptr);
        }
    }
    pool_release(&p);
}

static void op_pool_misc(fuzz_thread *t)
{
    pool_pick p = pool_acquire(t);
    switch (adv_below(&t->rng, 6)) {
    case 0: {
        uint64_t wanted = adv_chance(&t->rng, 10) ? absurd_size(&t->rng) : adv_below(&t->rng, 64);
        np_status status = check(F_np_pool_reserve, np_pool_reserve(p.handle, wanted));
        if (!p.valid) expect_failure(F_np_pool_reserve, status, p.why);
        if (wanted >= (1ull << 40)) expect_failure(F_np_pool_reserve, status, "an absurd count");
        break;
    }
    case 1: {
        uint64_t released = 0;
        if (p.slot == -1) t->private_trimmed = 1;
        np_status status = check(F_np_pool_trim, np_pool_trim(p.handle, adv_chance(&t->rng, 50) ? NULL : &released));
        if (!p.valid) expect_failure(F_np_pool_trim, status, p.why);
        else expect_ok(F_np_pool_trim, status, "a pool nobody corrupted");
        break;
    }
    case 2: {
        np_pool_validation report;
        memset(&report, 0, sizeof report);
        report.struct_size = adv_chance(&t->rng, 10) ? (uint32_t)adv_below(&t->rng, 100) : sizeof report;
        int with_report = adv_chance(&t->rng, 70);
        np_status status = check(F_np_pool_validate, np_pool_validate(p.handle, with_report ? &report : NULL));
        if (!p.valid) expect_failure(F_np_pool_validate, status, p.why);
        else if (!with_report || report.struct_size == sizeof report) {
            expect_ok(F_np_pool_validate, status, "a pool nobody corrupted");
            if (status == NP_OK && with_report && report.errors != 0)
                finding("np_pool_validate returned NP_OK with %llu errors", (unsigned long long)report.errors);
        }
        break;
    }
    case 3: {
        np_pool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = adv_chance(&t->rng, 10) ? (uint32_t)adv_below(&t->rng, 400) : sizeof stats;
        int null_stats = adv_chance(&t->rng, 5);
        np_status status = check(F_np_pool_get_stats, np_pool_get_stats(p.handle, null_stats ? NULL : &stats));
        if (!p.valid) expect_failure(F_np_pool_get_stats, status, p.why);
        if (null_stats) expect_failure(F_np_pool_get_stats, status, "NULL stats");
        if (p.valid && !null_stats && stats.struct_size == sizeof stats) {
            expect_ok(F_np_pool_get_stats, status, "a live pool");
            /* Exact in a pool only this thread uses. */
            if (status == NP_OK && p.slot == -1) {
                uint64_t mine = 0;
                for (int k = 0; k < t->own_count; k++) mine += t->own[k].handle == p.handle;
                if (stats.in_use != mine)
                    finding("the private pool reports %llu blocks in use; the thread owns %llu",
                            (unsigned long long)stats.in_use, (unsigned long long)mine);
            }
        }
        break;
    }
    case 4: {
        np_status status = check(F_np_pool_reset_stats, np_pool_reset_stats(p.handle));
        if (!p.valid) expect_failure(F_np_pool_reset_stats, status, p.why);
        else expect_ok(F_np_pool_reset_stats, status, "a live pool");
        break;
    }
    default: {
        np_pool_options options;
        np_status status = check(F_np_pool_options_preset,
                                 np_pool_options_preset(adv_chance(&t->rng, 10) ? NULL : &options,
                                                        (int32_t)adv_below(&t->rng, 6) - 1));
        (void)status;
        status = check(F_np_pool_options_init, np_pool_options_init(adv_chance(&t->rng, 20) ? NULL : &options));
        (void)status;
        break;
    }
    }
    pool_release(&p);
}

/* Hands an owned block of a shared pool or message pool to whichever thread takes it next. */
static void op_exchange(fuzz_thread *t)
{
    pthread_mutex_lock(&exchange_lock);
    if (adv_chance(&t->rng, 50) && exchange_count > 0 && t->own_count < OWNED_MAX) {
        owned o = exchange[--exchange_count];
        t->own[t->own_count++] = o;
        t->owned_bytes += o.size;
    } else if (exchange_count < EXCHANGE_MAX && t->own_count > 0) {
        int i = (int)adv_below(&t->rng, (uint64_t)t->own_count);
        if (t->own[i].slot >= 0) exchange[exchange_count++] = own_take(t, i);
    }
    pthread_mutex_unlock(&exchange_lock);
}

/* ------------------------------------------------------------------ message pools */

static void op_msgpool_create(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    np_msgpool_options options;
    check(F_np_msgpool_options_init, np_msgpool_options_init(&options));
    uint32_t sizes[NP_MSGPOOL_MAX_CLASSES + 2];
    uint32_t count = 0, largest = 1048576;
    if (adv_chance(r, 70)) {
        static const uint32_t steps[] = {1, 3, 8, 24, 64, 100, 264, 1024, 4096, 10000, 65536, 262144};
        uint32_t want = 1 + (uint32_t)adv_below(r, 6);
        for (size_t k = adv_below(r, 4); k < sizeof steps / sizeof steps[0] && count < want; k++)
            if (adv_chance(r, 60)) sizes[count++] = steps[k];
        if (count == 0) sizes[count++] = 64;
        largest = sizes[count - 1];
    }
    options.retain_per_class = adv_below(r, 3) == 0 ? 0 : adv_below(r, 64);
    options.retain_bytes_per_class = adv_chance(r, 50) ? options.retain_bytes_per_class : adv_below(r, 1 << 20);
    int absurd = 0;
    if (adv_chance(r, 10)) {
        absurd = 1;
        switch (adv_below(r, 6)) {
        case 0: count = NP_MSGPOOL_MAX_CLASSES + 1; for (uint32_t k = 0; k < count; k++) sizes[k] = 8 * (k + 1); break;
        case 1: sizes[0] = 0; if (!count) count = 1; break;
        case 2: sizes[count ? count - 1 : 0] = NP_MSGPOOL_MAX_CLASS_SIZE + 1; if (!count) count = 1; break;
        case 3: sizes[0] = 64; sizes[1] = 64; count = 2; break;
        case 4: sizes[0] = 1024; sizes[1] = 64; count = 2; break;
        default: options.struct_size = (uint32_t)adv_below(r, 2) ? 0 : sizeof options + 8; break;
        }
    }
    int null_sizes = count > 0 && adv_chance(r, 3);
    int s = (int)adv_below(r, MSGPOOL_SLOTS);
    msgpool_slot *slot = &msgpools[s];
    pthread_rwlock_wrlock(&slot->rw);
    if (slot->handle) {
        expect_ok(F_np_msgpool_destroy, check(F_np_msgpool_destroy, np_msgpool_destroy(slot->handle)), "a live message pool");
        remember_stale(slot->handle);
        slot->handle = 0;
        atomic_store(&slot->published, 0);
    }
    /* Options, class sizes and name are read-only while the library reads them. */
    ro_open(&t->ro);
    np_msgpool_options *copy = (np_msgpool_options *)t->ro.base;
    uint32_t *ro_sizes = (uint32_t *)(t->ro.base + 256);
    memcpy(ro_sizes, sizes, sizeof sizes);
    *copy = options;
    copy->class_count = count;
    copy->class_sizes = count && !null_sizes ? ro_sizes : NULL;
    char *name = (char *)t->ro.base + 512;
    snprintf(name, 64, "fuzz-msg-%d", t->index);
    copy->name = adv_chance(r, 50) ? name : NULL;
    ro_seal(&t->ro);
    np_msgpool handle = 0;
    np_status status = check(F_np_msgpool_create, np_msgpool_create(copy, &handle));
    if (status == NP_OK && (absurd || null_sizes)) finding("np_msgpool_create accepted options out of range");
    if (status == NP_OK) {
        slot->handle = handle;
        slot->class_count = count ? count : NP_MSGPOOL_DEFAULT_CLASS_COUNT;
        slot->largest = largest;
        atomic_store(&slot->published, handle);
    }
    pthread_rwlock_unlock(&slot->rw);
}

static void op_msgpool_destroy(fuzz_thread *t)
{
    msgpool_slot *slot = &msgpools[adv_below(&t->rng, MSGPOOL_SLOTS)];
    pthread_rwlock_wrlock(&slot->rw);
    if (slot->handle) {
        expect_ok(F_np_msgpool_destroy, check(F_np_msgpool_destroy, np_msgpool_destroy(slot->handle)), "a live message pool");
        remember_stale(slot->handle);
        slot->handle = 0;
        atomic_store(&slot->published, 0);
    } else {
        const char *why;
        uint64_t h = hostile_handle(t, KIND_MSGPOOL, &why);
        np_status status = check(F_np_msgpool_destroy, np_msgpool_destroy(h));
        if (h) expect_failure(F_np_msgpool_destroy, status, why);
        else expect_ok(F_np_msgpool_destroy, status, "handle 0");
    }
    pthread_rwlock_unlock(&slot->rw);
}

typedef struct msg_pick {
    uint64_t handle;
    int slot; /* -2 hostile */
    int valid;
    uint32_t largest, class_count;
    const char *why;
} msg_pick;

static msg_pick msg_acquire_slot(fuzz_thread *t)
{
    msg_pick p = {0, -2, 0, 0, 0, "?"};
    int s = (int)adv_below(&t->rng, MSGPOOL_SLOTS);
    if (adv_chance(&t->rng, 8)) {
        p.handle = hostile_handle(t, KIND_MSGPOOL, &p.why);
        return p;
    }
    for (int k = 0;; k++, s = (s + 1) % MSGPOOL_SLOTS) {
        pthread_rwlock_rdlock(&msgpools[s].rw);
        if (msgpools[s].handle) break;
        pthread_rwlock_unlock(&msgpools[s].rw);
        if (k == MSGPOOL_SLOTS - 1) {
            p.handle = hostile_handle(t, KIND_MSGPOOL, &p.why);
            return p;
        }
    }
    p.handle = msgpools[s].handle;
    p.slot = s;
    p.valid = 1;
    p.largest = msgpools[s].largest;
    p.class_count = msgpools[s].class_count;
    return p;
}

static void msg_release_slot(msg_pick *p)
{
    if (p->slot >= 0) pthread_rwlock_unlock(&msgpools[p->slot].rw);
}

static void op_msgpool_acquire(fuzz_thread *t)
{
    msg_pick p = msg_acquire_slot(t);
    size_t size;
    int oversize = 0;
    switch (adv_below(&t->rng, 5)) {
    case 0: size = p.largest; break;
    case 1: size = (size_t)p.largest + 1; oversize = 1; break;
    case 2: size = (size_t)absurd_size(&t->rng); oversize = 1; break;
    default: size = (size_t)random_size(&t->rng); oversize = size > p.largest; break;
    }
    if (!oversize && (t->owned_bytes + size > OWNED_BYTES_MAX || t->own_count == OWNED_MAX)) {
        msg_release_slot(&p);
        return;
    }
    void *message = (void *)1;
    size_t capacity = 999;
    int null_message = adv_chance(&t->rng, 3);
    int with_capacity = adv_chance(&t->rng, 80);
    np_status status = check(F_np_msgpool_acquire, np_msgpool_acquire(p.handle, size, null_message ? NULL : &message,
                                                                      with_capacity ? &capacity : NULL));
    if (!p.valid) expect_failure(F_np_msgpool_acquire, status, p.why);
    else if (null_message) expect_failure(F_np_msgpool_acquire, status, "a NULL out-parameter");
    else if (oversize) {
        if (status != NP_E_INVALID_ARGUMENT)
            finding("np_msgpool_acquire of %zu bytes (largest class %u) returned %s", size, p.largest, status_text(status));
    } else if (status == NP_OK) {
        uint8_t *m = (uint8_t *)message;
        if (!m) finding("np_msgpool_acquire returned NP_OK and NULL");
        else if (with_capacity && (capacity < size || capacity > p.largest))
            finding("np_msgpool_acquire of %zu bytes gave capacity %zu (largest class %u)", size, capacity, p.largest);
        else if (with_capacity && capacity >= 8 && ((uintptr_t)m & 7) != 0)
            finding("np_msgpool_acquire returned %p, not 8-byte aligned", (void *)m);
        else
            own_push(t, m, p.handle, KIND_MSGPOOL, p.slot, with_capacity ? capacity : (size ? size : 1));
    } else if (status != NP_E_POOL_EXHAUSTED && status != NP_E_OUT_OF_MEMORY) {
        finding("np_msgpool_acquire of %zu bytes failed with %s", size, status_text(status));
    }
    if (!null_message && status != NP_OK && message != NULL)
        finding("np_msgpool_acquire failed with %s and left %p in its out-parameter", status_text(status), message);
    msg_release_slot(&p);
}

static void op_msgpool_release(fuzz_thread *t)
{
    msg_pick p = msg_acquire_slot(t);
    int i = p.valid ? own_find(t, KIND_MSGPOOL, p.handle) : -1;
    if (i >= 0 && adv_chance(&t->rng, 80)) {
        owned o = own_take_to_return(t, i);
        expect_ok(F_np_msgpool_release, check(F_np_msgpool_release, np_msgpool_release(p.handle, o.ptr)),
                  "an owned message");
    } else {
        const char *why;
        uint8_t *ptr = hostile_pointer(t, KIND_MSGPOOL, p.handle, 0, &why);
        np_status status = check(F_np_msgpool_release, np_msgpool_release(p.handle, ptr));
        expect_failure(F_np_msgpool_release, status, p.valid ? why : p.why);
    }
    msg_release_slot(&p);
}

static void op_msgpool_misc(fuzz_thread *t)
{
    msg_pick p = msg_acquire_slot(t);
    switch (adv_below(&t->rng, 4)) {
    case 0: {
        size_t size = adv_chance(&t->rng, 10) ? (size_t)p.largest + 1 : (size_t)random_size(&t->rng);
        uint64_t count = size > 65536 ? adv_below(&t->rng, 3) : adv_below(&t->rng, 48);
        /* An absurd count cannot be held (reserve promises at least count free blocks). */
        int absurd = adv_chance(&t->rng, 5);
        if (absurd) count = absurd_size(&t->rng) | (1ull << 40);
        np_status status = check(F_np_msgpool_reserve, np_msgpool_reserve(p.handle, size, count));
        if (!p.valid) expect_failure(F_np_msgpool_reserve, status, p.why);
        else if (size > p.largest) expect_failure(F_np_msgpool_reserve, status, "a size above the largest class");
        else if (absurd) expect_failure(F_np_msgpool_reserve, status, "a count no class can hold");
        break;
    }
    case 1: {
        np_msgpool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = adv_chance(&t->rng, 10) ? (uint32_t)adv_below(&t->rng, 400) : sizeof stats;
        int null_stats = adv_chance(&t->rng, 5);
        np_status status = check(F_np_msgpool_get_stats, np_msgpool_get_stats(p.handle, null_stats ? NULL : &stats));
        if (!p.valid || null_stats) expect_failure(F_np_msgpool_get_stats, status, p.valid ? "NULL stats" : p.why);
        else if (stats.struct_size == sizeof stats) {
            expect_ok(F_np_msgpool_get_stats, status, "a live message pool");
            if (status == NP_OK && stats.class_count != p.class_count)
                finding("np_msgpool_get_stats reports %u classes; the pool has %u", stats.class_count, p.class_count);
        }
        break;
    }
    case 2: {
        np_msgpool_class_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = adv_chance(&t->rng, 10) ? (uint32_t)adv_below(&t->rng, 400) : sizeof stats;
        uint32_t index = adv_chance(&t->rng, 10) ? (uint32_t)adv_next(&t->rng) : (uint32_t)adv_below(&t->rng, p.class_count + 2);
        np_status status = check(F_np_msgpool_get_class_stats, np_msgpool_get_class_stats(p.handle, index, &stats));
        if (!p.valid) expect_failure(F_np_msgpool_get_class_stats, status, p.why);
        else if (stats.struct_size == sizeof stats) {
            if (index < p.class_count) expect_ok(F_np_msgpool_get_class_stats, status, "a class index");
            else expect_failure(F_np_msgpool_get_class_stats, status, "an index that is not a class");
        }
        break;
    }
    default: {
        np_status status = check(F_np_msgpool_reset_stats, np_msgpool_reset_stats(p.handle));
        if (!p.valid) expect_failure(F_np_msgpool_reset_stats, status, p.why);
        else expect_ok(F_np_msgpool_reset_stats, status, "a live message pool");
        break;
    }
    }
    msg_release_slot(&p);
}

/* ------------------------------------------------------------------ IPC: handlers */

static np_status handler_echo(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    if (request_length > response_capacity) return NP_E_BUFFER_TOO_SMALL;
    if (request_length) memcpy(response, request, request_length);
    *response_length = request_length;
    return NP_OK;
}

static np_status handler_slow(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    adv_sleep_us((unsigned)(request_length % 7) * 100);
    return handler_echo(user_data, route_id, request, request_length, response, response_capacity, response_length);
}

/*
 * Fails every request, with statuses the transport also uses among others: each must reach the
 * client as NP_E_HANDLER_FAILED.
 */
static np_status handler_fail(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    static const np_status statuses[] = {NP_E_INVALID_ARGUMENT, NP_E_HANDLER_FAILED, NP_E_TIMEOUT, NP_E_SHUTDOWN,
                                         NP_E_UNKNOWN_ROUTE, NP_E_PEER_GONE, NP_E_PROTOCOL, -1000, INT32_MIN};
    (void)user_data;
    (void)route_id;
    (void)request;
    (void)response;
    (void)response_capacity;
    *response_length = 0;
    return statuses[request_length % (sizeof statuses / sizeof statuses[0])];
}

static const np_handler_fn route_handlers[ROUTE_COUNT] = {handler_echo, handler_fail, handler_slow, NULL};

/* A negative status for reply_error, transport statuses included: the client sees NP_E_HANDLER_FAILED. */
static np_status random_error_status(adv_rng *r)
{
    return adv_chance(r, 10) ? INT32_MIN : -1 - (np_status)adv_below(r, 40);
}

/* ------------------------------------------------------------------ IPC: servers */

static uint64_t server_pick_hostile(fuzz_thread *t, const char **why)
{
    return hostile_handle(t, KIND_SERVER, why);
}

static void destroy_server_locked(server_slot *slot)
{
    if (!slot->handle) return;
    expect_ok(F_np_server_destroy, check(F_np_server_destroy, np_server_destroy(slot->handle)), "a live server");
    remember_stale(slot->handle);
    slot->handle = 0;
    slot->started = 0;
    atomic_store(&slot->published, 0);
}

static void op_server_create(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    server_slot *slot = &servers[adv_below(r, SERVER_SLOTS)];
    np_server_options options;
    check(F_np_server_options_init, np_server_options_init(&options));
    static const uint32_t rings[] = {0, 0, 0, 4096, 8192, 65536, 1u << 20};
    static const uint32_t maxima[] = {0, 1, 3, 4, 5, 64, 1000, 4096, 65536};
    options.ring_size = rings[adv_below(r, sizeof rings / sizeof rings[0])];
    options.max_message_size = maxima[adv_below(r, sizeof maxima / sizeof maxima[0])];
    options.max_clients = (uint32_t)adv_below(r, 4);
    options.worker_threads = (uint32_t)adv_below(r, 3);
    options.idle_timeout_ms = adv_chance(r, 20) ? 20 + (uint32_t)adv_below(r, 100) : 0;
    options.spin_us = (uint32_t)adv_below(r, 3) * 10;
    options.max_pending = (uint32_t)adv_below(r, 5);
    char address[160];
    snprintf(address, sizeof address, "@np-fuzz-%d-%u", (int)getpid(), atomic_fetch_add(&address_counter, 1));
    int absurd = 0;
    if (adv_chance(r, 12)) {
        absurd = 1;
        switch (adv_below(r, 7)) {
        case 0: options.ring_size = 5000; break;
        case 1: options.ring_size = 1u << 31; break;
        case 2: options.max_message_size = NP_MAX_MESSAGE_SIZE + 1; break;
        case 3: memset(address, 'a', sizeof address - 1); address[0] = '@'; address[sizeof address - 1] = '\0'; break;
        case 4: address[0] = '\0'; break;
        case 5: options.allowed_uid_count = 3; break; /* with allowed_uids NULL */
        default: options.struct_size = (uint32_t)adv_below(r, 2) ? 0 : sizeof options + 8; break;
        }
    }
    /* Below the size of an error answer: refused, never a server whose error replies break. */
    int too_small = options.max_message_size >= 1 && options.max_message_size <= 3;
    uint32_t own_uid = (uint32_t)getuid();
    ro_open(&t->ro);
    np_server_options *copy = (np_server_options *)t->ro.base;
    char *ro_address = (char *)t->ro.base + 1024;
    uint32_t *uids = (uint32_t *)(t->ro.base + 768);
    snprintf(ro_address, 200, "%s", address);
    uids[0] = own_uid;
    *copy = options;
    copy->address = adv_chance(r, 3) ? NULL : ro_address;
    if (!copy->address) absurd = 1;
    if (!absurd && adv_chance(r, 20)) {
        copy->allowed_uids = uids;
        copy->allowed_uid_count = 1;
    }
    copy->name = adv_chance(r, 50) ? "fuzz-server" : NULL;
    ro_seal(&t->ro);
    pthread_rwlock_wrlock(&slot->rw);
    destroy_server_locked(slot);
    np_server handle = 0;
    np_status status = check(F_np_server_create, np_server_create(copy, &handle));
    if (too_small) expect_failure(F_np_server_create, status, "a max_message_size below an error answer");
    if (status != NP_OK || !handle) {
        pthread_rwlock_unlock(&slot->rw);
        return;
    }
    slot->handle = handle;
    slot->route_count = 0;
    slot->stopped = 0;
    snprintf(slot->address, sizeof slot->address, "%s", address);
    slot->max_message_size = options.max_message_size ? options.max_message_size : NP_DEFAULT_MAX_MESSAGE_SIZE;
    atomic_store(&slot->published, handle);
    for (int k = 0; k < ROUTE_COUNT; k++) {
        uint32_t id = 0;
        np_status added = check(F_np_server_add_route, np_server_add_route(handle, route_names[k], route_handlers[k], NULL, &id));
        expect_ok(F_np_server_add_route, added, "a fresh route");
        if (added == NP_OK) slot->route_count++;
        if (added == NP_OK && id != (uint32_t)k + 1)
            finding("route %s got id %u, not %d (registration order)", route_names[k], id, k + 1);
    }
    /* Names that must be refused. */
    static const char long_name[] = "0123456789012345678901234567890123456789012345678901234567";
    const char *bad[] = {"", long_name, route_names[adv_below(r, ROUTE_COUNT)], NULL};
    uint32_t id;
    const char *name = bad[adv_below(r, 4)];
    expect_failure(F_np_server_add_route,
                   check(F_np_server_add_route, np_server_add_route(handle, name, handler_echo, NULL, &id)),
                   "an empty, long, duplicate or NULL name");
    expect_failure(F_np_server_add_route,
                   check(F_np_server_add_route, np_server_add_route(handle, "other", handler_echo, NULL, NULL)),
                   "a NULL route_id");
    if (adv_chance(r, 90)) {
        status = check(F_np_server_start, np_server_start(handle));
        slot->started = status == NP_OK;
    }
    pthread_rwlock_unlock(&slot->rw);
}

static void op_server_control(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    server_slot *slot = &servers[adv_below(r, SERVER_SLOTS)];
    unsigned what = (unsigned)adv_below(r, 10);
    if (what == 0) {
        pthread_rwlock_wrlock(&slot->rw);
        if (slot->handle) destroy_server_locked(slot);
        else {
            const char *why;
            uint64_t h = server_pick_hostile(t, &why);
            np_status status = check(F_np_server_destroy, np_server_destroy(h));
            if (h) expect_failure(F_np_server_destroy, status, why);
        }
        pthread_rwlock_unlock(&slot->rw);
        return;
    }
    pthread_rwlock_rdlock(&slot->rw);
    const char *why = "?";
    int valid = slot->handle != 0 && adv_chance(r, 92);
    uint64_t h = valid ? slot->handle : server_pick_hostile(t, &why);
    pthread_mutex_lock(&slot->control);
    switch (what) {
    case 1: {
        np_status status = check(F_np_server_stop, np_server_stop(h, (uint32_t)adv_below(r, 5)));
        if (!valid) expect_failure(F_np_server_stop, status, why);
        else slot->stopped = 1;
        break;
    }
    case 3: {
        np_status status = check(F_np_server_start, np_server_start(h));
        if (!valid) expect_failure(F_np_server_start, status, why);
        else if (slot->started) expect_failure(F_np_server_start, status, "a server started before");
        else if (status == NP_OK) slot->started = 1;
        break;
    }
    case 4: {
        uint32_t id;
        np_status status = check(F_np_server_add_route, np_server_add_route(h, "late", handler_echo, NULL, &id));
        if (!valid) expect_failure(F_np_server_add_route, status, why);
        else if (slot->started) expect_failure(F_np_server_add_route, status, "a server started before");
        if (valid && status == NP_OK) slot->route_count++;
        break;
    }
    case 2:
    case 5:
    case 6: {
        np_server_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = adv_chance(r, 10) ? (uint32_t)adv_below(r, 300) : sizeof stats;
        int null_stats = adv_chance(r, 5);
        np_status status = check(F_np_server_get_stats, np_server_get_stats(h, null_stats ? NULL : &stats));
        if (!valid || null_stats) expect_failure(F_np_server_get_stats, status, valid ? "NULL stats" : why);
        else if (stats.struct_size == sizeof stats) expect_ok(F_np_server_get_stats, status, "a live server");
        break;
    }
    default: {
        np_route_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = adv_chance(r, 10) ? (uint32_t)adv_below(r, 300) : sizeof stats;
        uint32_t route = adv_chance(r, 20) ? (uint32_t)adv_next(r) : (uint32_t)adv_below(r, ROUTE_COUNT + 2);
        np_status status = check(F_np_server_get_route_stats, np_server_get_route_stats(h, route, &stats));
        if (!valid) expect_failure(F_np_server_get_route_stats, status, why);
        else if (stats.struct_size == sizeof stats) {
            if (route >= 1 && route <= slot->route_count) expect_ok(F_np_server_get_route_stats, status, "a route id");
            else expect_failure(F_np_server_get_route_stats, status, "a route id the server does not have");
        }
        break;
    }
    }
    pthread_mutex_unlock(&slot->control);
    pthread_rwlock_unlock(&slot->rw);
}

/* Answers a received request; expects a spent or answered token to be refused, not crash. */
static void reply_checked(fuzz_thread *t, uint64_t server, uint64_t token, const uint8_t *data, uint32_t length,
                          uint32_t max_message_size, int live)
{
    adv_rng *r = &t->rng;
    if (adv_chance(r, 8)) {
        /* Larger than the connection carries: refused, and the token stays unanswered. */
        uint32_t too_long = max_message_size + 1;
        if (too_long > sizeof t->buffer || adv_chance(r, 30)) too_long = UINT32_MAX; /* refused before it is read */
        {
            np_status status = check(F_np_server_reply, np_server_reply(server, token, t->buffer, too_long));
            expect_failure(F_np_server_reply, status, "a reply longer than the maximum message size");
        }
    }
    if (adv_chance(r, 5)) {
        expect_failure(F_np_server_reply_error,
                       check(F_np_server_reply_error, np_server_reply_error(server, token, (np_status)adv_below(r, 3))),
                       "a status that is not negative");
    }
    np_status status;
    if (adv_chance(r, 15)) {
        status = check(F_np_server_reply_error, np_server_reply_error(server, token, random_error_status(r)));
    } else {
        status = check(F_np_server_reply,
                       np_server_reply(server, token, length == 0 && adv_chance(r, 50) ? NULL : data, length));
    }
    if (!live) expect_failure(F_np_server_reply, status, "a destroyed server");
    if (adv_chance(r, 10)) {
        np_status again = check(F_np_server_reply, np_server_reply(server, token, data, length));
        expect_failure(F_np_server_reply, again, "a token already answered");
    }
}

static void op_server_pull(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    server_slot *slot = &servers[adv_below(r, SERVER_SLOTS)];
    pthread_rwlock_rdlock(&slot->rw);
    const char *why = "?";
    int valid = slot->handle != 0 && adv_chance(r, 95);
    uint64_t h = valid ? slot->handle : server_pick_hostile(t, &why);
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = adv_chance(r, 5) ? (uint32_t)adv_below(r, 64) : sizeof request;
    int null_request = adv_chance(r, 3);
    np_status status = check(F_np_server_receive,
                             np_server_receive(h, (uint32_t)adv_below(r, 2), null_request ? NULL : &request));
    if (!valid) expect_failure(F_np_server_receive, status, why);
    if (null_request) expect_failure(F_np_server_receive, status, "a NULL request");
    if (status == NP_OK && request.struct_size != sizeof request)
        finding("np_server_receive accepted struct_size %u", request.struct_size);
    if (status == NP_OK && valid && !null_request && request.struct_size == sizeof request) {
        if (request.route_id != ROUTE_PULL + 1)
            finding("np_server_receive handed out a request of route %u, which is not a pull route", request.route_id);
        if (request.length > slot->max_message_size || (request.length && !request.data))
            finding("np_server_receive handed out %u bytes at %p (maximum %u)", request.length, (void *)request.data,
                    slot->max_message_size);
        if (adv_chance(r, 20)) {
            /* Answered later, maybe after a stop or destroy: keep a copy of the bytes. */
            uint8_t *copy = malloc(request.length ? request.length : 1);
            if (request.length) memcpy(copy, request.data, request.length);
            pthread_mutex_lock(&deferred_lock);
            if (deferred_count < DEFERRED_MAX) {
                deferred[deferred_count++] = (deferred_reply){h, request.token, request.length, copy};
                copy = NULL;
            }
            pthread_mutex_unlock(&deferred_lock);
            if (copy) {
                reply_checked(t, h, request.token, request.data, request.length, slot->max_message_size, 1);
                free(copy);
            }
        } else {
            reply_checked(t, h, request.token, request.data, request.length, slot->max_message_size, 1);
        }
    }
    if (valid && adv_chance(r, 5)) {
        /* A token this server never handed out. */
        uint64_t token = adv_next(r);
        expect_failure(F_np_server_reply, check(F_np_server_reply, np_server_reply(h, token, NULL, 0)),
                       "a token never received");
    }
    pthread_rwlock_unlock(&slot->rw);
}

static void op_server_deferred(fuzz_thread *t)
{
    pthread_mutex_lock(&deferred_lock);
    if (deferred_count == 0) {
        pthread_mutex_unlock(&deferred_lock);
        return;
    }
    int i = (int)adv_below(&t->rng, (uint64_t)deferred_count);
    deferred_reply d = deferred[i];
    deferred[i] = deferred[--deferred_count];
    pthread_mutex_unlock(&deferred_lock);
    int done = 0;
    for (int s = 0; s < SERVER_SLOTS && !done; s++) {
        pthread_rwlock_rdlock(&servers[s].rw);
        if (servers[s].handle == d.server) {
            reply_checked(t, d.server, d.token, d.data, d.length, servers[s].max_message_size, 1);
            done = 1;
        }
        pthread_rwlock_unlock(&servers[s].rw);
    }
    if (!done) {
        /* Its server is gone: the handle is stale. */
        np_status status = check(F_np_server_reply, np_server_reply(d.server, d.token, d.data, d.length));
        expect_failure(F_np_server_reply, status, "a destroyed server");
    }
    free(d.data);
}

/* ------------------------------------------------------------------ IPC: clients */

static void fill_payload(uint8_t *buffer, uint32_t length, uint64_t seed)
{
    for (uint32_t i = 0; i < length; i++) buffer[i] = pattern_byte(seed, i);
}

static int payload_matches(const uint8_t *buffer, uint32_t length, uint64_t seed)
{
    for (uint32_t i = 0; i < length; i++)
        if (buffer[i] != pattern_byte(seed, i)) return 0;
    return 1;
}

static void close_client_locked(client_slot *slot)
{
    if (!slot->handle) return;
    expect_ok(F_np_client_close, check(F_np_client_close, np_client_close(slot->handle)), "a live client");
    remember_stale(slot->handle);
    slot->handle = 0;
    atomic_store(&slot->published, 0);
    pthread_mutex_lock(&slot->sent_lock);
    memset(slot->sent, 0, sizeof slot->sent);
    pthread_mutex_unlock(&slot->sent_lock);
}

static void op_client_connect(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    client_slot *slot = &clients[adv_below(r, CLIENT_SLOTS)];
    char address[200];
    snprintf(address, sizeof address, "@np-fuzz-%d-nobody", (int)getpid());
    server_slot *server = &servers[adv_below(r, SERVER_SLOTS)];
    /* Waits are short: 0 tries once; only a started server is given longer. */
    uint32_t timeout = adv_chance(r, 60) ? 0 : 1;
    if (adv_chance(r, 85)) {
        pthread_rwlock_rdlock(&server->rw);
        if (server->handle) snprintf(address, sizeof address, "%s", server->address);
        /* A handshake takes 1-5 ms here: shorter waits exercise the timeout path. */
        if (server->handle && server->started && !server->stopped && adv_chance(r, 75)) timeout = 50;
        pthread_rwlock_unlock(&server->rw);
    }
    int hostile = 0;
    if (adv_chance(r, 6)) {
        hostile = 1;
        switch (adv_below(r, 3)) {
        case 0: address[0] = '\0'; break;
        case 1: memset(address, 'x', sizeof address - 1); address[0] = '@'; address[sizeof address - 1] = '\0'; break;
        default: snprintf(address, sizeof address, "relative/path"); break;
        }
        timeout = 0;
    }
    pthread_rwlock_wrlock(&slot->rw);
    if (adv_chance(r, 70)) close_client_locked(slot);
    if (slot->handle) {
        /* Keep the old one: connect into a local and close it again. */
        np_client extra = 0;
        np_status status = check(F_np_client_connect, np_client_connect(address, timeout, &extra));
        if (status == NP_OK) expect_ok(F_np_client_close, check(F_np_client_close, np_client_close(extra)), "a live client");
        pthread_rwlock_unlock(&slot->rw);
        return;
    }
    int null_args = adv_chance(r, 4);
    np_client handle = 0;
    double t0 = adv_now();
    enum fn_id used = F_np_client_connect;
    np_status status;
    if (adv_chance(r, 50)) {
        status = check(F_np_client_connect, np_client_connect(null_args && adv_chance(r, 50) ? NULL : address, timeout,
                                                              null_args ? NULL : &handle));
    } else {
        /* np_client_connect_with: options from init, with its own uid listed or garbage uids
         * beside it (the server runs under this process's uid, which is always trusted), or a
         * struct_size it does not know. */
        used = F_np_client_connect_with;
        np_client_options options;
        memset(&options, 0xA5, sizeof options);
        int init_null = adv_chance(r, 5);
        np_status init = check(F_np_client_options_init, np_client_options_init(init_null ? NULL : &options));
        if (init_null) expect_failure(F_np_client_options_init, init, "a NULL argument");
        else expect_ok(F_np_client_options_init, init, "a struct to fill");
        uint32_t uids[3] = {(uint32_t)getuid(), (uint32_t)adv_below(r, 1u << 31), 65534};
        int bad_size = 0;
        if (!init_null && adv_chance(r, 30)) {
            options.allowed_server_uids = uids;
            options.allowed_server_uid_count = 1 + (uint32_t)adv_below(r, 3);
        }
        if (!init_null && adv_chance(r, 5)) {
            options.struct_size = (uint32_t)adv_below(r, 64);
            bad_size = options.struct_size != sizeof options;
        }
        status = check(F_np_client_connect_with,
                       np_client_connect_with(null_args && adv_chance(r, 50) ? NULL : address, timeout,
                                              init_null ? NULL : &options, null_args ? NULL : &handle));
        if (init_null || bad_size) expect_failure(F_np_client_connect_with, status, "no valid options");
    }
    connect_micros += (uint64_t)((adv_now() - t0) * 1e6);
    if (null_args) expect_failure(used, status, "a NULL argument");
    if (hostile) expect_failure(used, status, "a bad address");
    if (status == NP_OK && !null_args) {
        slot->handle = handle;
        atomic_store(&slot->published, handle);
        for (int k = 0; k < ROUTE_COUNT; k++) {
            uint32_t id = 0;
            np_status resolved = check(F_np_client_resolve, np_client_resolve(handle, route_names[k], &id));
            expect_ok(F_np_client_resolve, resolved, "a route the server has");
            slot->route_ids[k] = resolved == NP_OK ? id : 0;
        }
        uint32_t max = 0;
        expect_ok(F_np_client_max_message_size,
                  check(F_np_client_max_message_size, np_client_max_message_size(handle, &max)), "a live client");
        slot->max_message_size = max;
        if (max == 0 || max > NP_MAX_MESSAGE_SIZE) finding("np_client_max_message_size says %u", max);
    } else if (status != NP_OK && handle != 0) {
        finding("np_client_connect failed with %s and wrote a handle", status_text(status));
    }
    pthread_rwlock_unlock(&slot->rw);
}

typedef struct client_pick {
    client_slot *slot;
    uint64_t handle;
    int valid;
    const char *why;
} client_pick;

static client_pick client_acquire(fuzz_thread *t)
{
    int s = (int)adv_below(&t->rng, CLIENT_SLOTS);
    client_pick p = {NULL, 0, 0, "?"};
    for (int k = 0; k < CLIENT_SLOTS; k++, s = (s + 1) % CLIENT_SLOTS) {
        p.slot = &clients[s];
        pthread_rwlock_rdlock(&p.slot->rw);
        if (p.slot->handle || k == CLIENT_SLOTS - 1) break;
        pthread_rwlock_unlock(&p.slot->rw);
    }
    p.valid = p.slot->handle != 0 && adv_chance(&t->rng, 93);
    p.handle = p.valid ? p.slot->handle : hostile_handle(t, KIND_CLIENT, &p.why);
    return p;
}

static void client_release(client_pick *p)
{
    pthread_rwlock_unlock(&p->slot->rw);
}

/* A route id and which route it is (-1: an id the server does not have). */
static uint32_t pick_route(fuzz_thread *t, client_pick *p, int *route)
{
    if (p->valid && adv_chance(&t->rng, 92)) {
        int k = (int)adv_below(&t->rng, ROUTE_COUNT);
        if (p->slot->route_ids[k]) {
            *route = k;
            return p->slot->route_ids[k];
        }
    }
    *route = -1;
    static const uint32_t bad[] = {0, ROUTE_COUNT + 3, 999, UINT32_MAX};
    return bad[adv_below(&t->rng, 4)];
}

static uint32_t pick_length(fuzz_thread *t, uint32_t max, int *too_large)
{
    uint32_t cap = sizeof t->payload - 1;
    uint32_t length;
    switch (adv_below(&t->rng, 6)) {
    case 0: length = max; break;
    case 1: length = max + 1; break;
    case 2: length = 0; break;
    default: length = (uint32_t)adv_below(&t->rng, (max < 512 ? max : 512) + 1); break;
    }
    if (length > cap) length = cap;
    /* Far beyond the buffer and any maximum: refused before a byte is read. */
    if (adv_chance(&t->rng, 3)) length = adv_chance(&t->rng, 50) ? UINT32_MAX : NP_MAX_MESSAGE_SIZE + 1;
    *too_large = length > max;
    return length;
}

static int echoes(int route)
{
    return route == ROUTE_ECHO || route == ROUTE_SLOW || route == ROUTE_PULL;
}

static void remember_sent(client_slot *slot, uint64_t id, uint64_t seed, uint32_t length, int route)
{
    pthread_mutex_lock(&slot->sent_lock);
    sent_request *entry = &slot->sent[id % SENT_MAX];
    *entry = (sent_request){id, seed, length, route};
    pthread_mutex_unlock(&slot->sent_lock);
}

/* Checks a response that a receive returned for request `id`. */
static void check_received(client_slot *slot, uint64_t id, np_status status, const uint8_t *data, uint32_t length)
{
    pthread_mutex_lock(&slot->sent_lock);
    sent_request entry = slot->sent[id % SENT_MAX];
    if (entry.request_id == id && status != NP_E_BUFFER_TOO_SMALL) slot->sent[id % SENT_MAX].request_id = 0;
    pthread_mutex_unlock(&slot->sent_lock);
    if (entry.request_id != id || entry.request_id == 0) return;
    if (status == NP_OK && entry.route == ROUTE_FAIL) finding("request %llu of the failing route succeeded", (unsigned long long)id);
    if (status == NP_OK && echoes(entry.route) &&
        (length != entry.length || !payload_matches(data, length, entry.payload_seed)))
        finding("the response to request %llu is not its echo (%u bytes, sent %u)", (unsigned long long)id, length,
                entry.length);
}

static void op_client_call(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    client_pick p = client_acquire(t);
    int route, too_large;
    uint32_t route_id = pick_route(t, &p, &route);
    uint32_t max = p.valid ? p.slot->max_message_size : 64;
    uint32_t length = pick_length(t, max, &too_large);
    uint64_t seed = adv_next(r);
    const uint8_t *request = t->payload;
    if (adv_chance(r, 20) && length <= READONLY_BYTES) {
        request = readonly_data; /* read-only: the library only reads a request */
        seed = 0;
    } else {
        fill_payload(t->payload, too_large ? 0 : length, seed);
    }
    int null_request = adv_chance(r, 3);
    uint32_t capacity = adv_chance(r, 15) ? (uint32_t)adv_below(r, (too_large ? 0 : length) + 1) : (uint32_t)sizeof t->buffer;
    /* NULL with a capacity above 0: refused, or unused for an empty response; never written. */
    int null_response = capacity > 0 && adv_chance(r, 3);
    uint32_t response_length = 0;
    int null_length = adv_chance(r, 3);
    uint32_t timeout = adv_chance(r, 10) ? 0 : adv_chance(r, 2) ? 50 : 1 + (uint32_t)adv_below(r, 4);
    if (p.valid) pthread_mutex_lock(&p.slot->claim_lock);
    np_status status = check(F_np_client_call, np_client_call(p.handle, route_id, null_request ? NULL : request, length,
                                                              capacity && !null_response ? t->buffer : NULL, capacity,
                                                              null_length ? NULL : &response_length, timeout));
    if (p.valid) pthread_mutex_unlock(&p.slot->claim_lock);
    if (!p.valid) expect_failure(F_np_client_call, status, p.why);
    else if (null_length || (null_request && length > 0)) expect_failure(F_np_client_call, status, "a NULL argument");
    else if (route < 0) expect_failure(F_np_client_call, status, "a route id the server does not have");
    else if (too_large) expect_failure(F_np_client_call, status, "a request above the maximum message size");
    else if (status == NP_OK && null_response) {
        if (response_length != 0) finding("np_client_call returned NP_OK with %u bytes for a NULL response buffer", response_length);
    } else if (status == NP_OK) {
        if (route == ROUTE_FAIL) finding("a call of the failing route succeeded");
        int same = response_length == length &&
                   memcmp(t->buffer, null_request ? (const uint8_t *)"" : request, length) == 0;
        if (echoes(route) && !same)
            finding("np_client_call on route %s answered %u bytes that are not the %u sent", route_names[route],
                    response_length, length);
    } else if (status == NP_E_BUFFER_TOO_SMALL && response_length <= capacity) {
        finding("np_client_call returned NP_E_BUFFER_TOO_SMALL with %u needed for capacity %u", response_length, capacity);
    }
    client_release(&p);
}

static void op_client_send(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    client_pick p = client_acquire(t);
    int route, too_large;
    uint32_t route_id = pick_route(t, &p, &route);
    uint32_t max = p.valid ? p.slot->max_message_size : 64;
    uint32_t length = pick_length(t, max, &too_large);
    uint64_t seed = adv_next(r);
    fill_payload(t->payload, too_large ? 0 : length, seed);
    uint64_t id = 0;
    int null_id = adv_chance(r, 3);
    if (p.valid) pthread_mutex_lock(&p.slot->claim_lock);
    np_status status = check(F_np_client_send, np_client_send(p.handle, route_id, length || adv_chance(r, 50) ? t->payload : NULL,
                                                              length, null_id ? NULL : &id, (uint32_t)adv_below(r, 4)));
    if (status == NP_OK && p.valid && !null_id) remember_sent(p.slot, id, seed, length, route);
    if (p.valid) pthread_mutex_unlock(&p.slot->claim_lock);
    if (!p.valid) expect_failure(F_np_client_send, status, p.why);
    else if (null_id) expect_failure(F_np_client_send, status, "a NULL request_id");
    else if (route < 0) expect_failure(F_np_client_send, status, "a route id the server does not have");
    else if (too_large) expect_failure(F_np_client_send, status, "a request above the maximum message size");
    client_release(&p);
}

static void op_client_receive(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    client_pick p = client_acquire(t);
    uint64_t id = 0;
    uint32_t length = 0;
    uint32_t capacity = adv_chance(r, 15) ? (uint32_t)adv_below(r, 64) : (uint32_t)sizeof t->buffer;
    int null_args = adv_chance(r, 3);
    np_status status = check(F_np_client_receive,
                             np_client_receive(p.handle, null_args ? NULL : &id, capacity ? t->buffer : NULL, capacity,
                                               &length, (uint32_t)adv_below(r, 4)));
    if (!p.valid) expect_failure(F_np_client_receive, status, p.why);
    else if (null_args) expect_failure(F_np_client_receive, status, "a NULL request_id");
    else if (status == NP_OK || status == NP_E_HANDLER_FAILED || status == NP_E_BUFFER_TOO_SMALL)
        check_received(p.slot, id, status, t->buffer, length);
    client_release(&p);
}

static void op_client_claim(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    client_pick p = client_acquire(t);
    int route, too_large;
    uint32_t route_id = pick_route(t, &p, &route);
    uint32_t max = p.valid ? p.slot->max_message_size : 64;
    uint32_t length = pick_length(t, max, &too_large);
    void *buffer = NULL;
    int null_buffer = adv_chance(r, 3);
    if (p.valid) pthread_mutex_lock(&p.slot->claim_lock);
    np_status status = check(F_np_client_claim, np_client_claim(p.handle, route_id, length, null_buffer ? NULL : &buffer,
                                                                (uint32_t)adv_below(r, 4)));
    if (!p.valid) expect_failure(F_np_client_claim, status, p.why);
    else if (null_buffer) expect_failure(F_np_client_claim, status, "a NULL buffer");
    else if (route < 0) expect_failure(F_np_client_claim, status, "a route id the server does not have");
    else if (too_large) expect_failure(F_np_client_claim, status, "a claim above the maximum message size");
    if (status == NP_OK && p.valid && !null_buffer && too_large) {
        check(F_np_client_abort, np_client_abort(p.handle)); /* reported above; nothing is written */
    } else if (status == NP_OK && p.valid && !null_buffer) {
        if (length && !buffer) finding("np_client_claim returned NP_OK and a NULL buffer");
        uint64_t seed = adv_next(r);
        uint32_t final_length = length ? (uint32_t)adv_below(r, length + 1) : 0;
        if (buffer) fill_payload(buffer, final_length, seed);
        unsigned ending = (unsigned)adv_below(r, 10);
        if (ending == 0) {
            expect_ok(F_np_client_abort, check(F_np_client_abort, np_client_abort(p.handle)), "an open claim");
            expect_failure(F_np_client_abort, check(F_np_client_abort, np_client_abort(p.handle)), "no open claim");
        } else {
            if (ending == 1) {
                uint64_t id;
                expect_failure(F_np_client_commit, check(F_np_client_commit, np_client_commit(p.handle, length + 1, &id)),
                               "a length above the claim");
            }
            if (ending == 2) {
                uint64_t id;
                expect_failure(F_np_client_send,
                               check(F_np_client_send, np_client_send(p.handle, route_id, t->payload, 0, &id, 0)),
                               "a send while a claim is open");
            }
            uint64_t id = 0;
            np_status committed = check(F_np_client_commit, np_client_commit(p.handle, final_length, adv_chance(r, 3) ? NULL : &id));
            if (committed == NP_OK && id) remember_sent(p.slot, id, seed, final_length, route);
            if (committed != NP_OK && committed != NP_E_NULL_POINTER)
                finding("np_client_commit of an open claim returned %s", status_text(committed));
            if (committed == NP_E_NULL_POINTER) check(F_np_client_abort, np_client_abort(p.handle));
        }
    } else if (p.valid && adv_chance(r, 30)) {
        uint64_t id;
        expect_failure(F_np_client_commit, check(F_np_client_commit, np_client_commit(p.handle, 0, &id)), "no open claim");
        expect_failure(F_np_client_abort, check(F_np_client_abort, np_client_abort(p.handle)), "no open claim");
    }
    if (p.valid) pthread_mutex_unlock(&p.slot->claim_lock);
    client_release(&p);
}

static void op_client_misc(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    if (adv_chance(r, 15)) {
        client_slot *slot = &clients[adv_below(r, CLIENT_SLOTS)];
        pthread_rwlock_wrlock(&slot->rw);
        if (slot->handle) close_client_locked(slot);
        else {
            const char *why;
            uint64_t h = hostile_handle(t, KIND_CLIENT, &why);
            np_status status = check(F_np_client_close, np_client_close(h));
            if (h) expect_failure(F_np_client_close, status, why);
            else expect_ok(F_np_client_close, status, "handle 0");
        }
        pthread_rwlock_unlock(&slot->rw);
        return;
    }
    client_pick p = client_acquire(t);
    if (adv_chance(r, 50)) {
        static const char long_name[] = "0123456789012345678901234567890123456789012345678901234567890123456789";
        const char *names[] = {"echo", "pull", "nope", "", long_name, NULL};
        int k = (int)adv_below(r, 6);
        uint32_t id = 0;
        int null_id = adv_chance(r, 5);
        np_status status = check(F_np_client_resolve, np_client_resolve(p.handle, names[k], null_id ? NULL : &id));
        if (!p.valid || k >= 2 || null_id) expect_failure(F_np_client_resolve, status, p.valid ? "a bad name" : p.why);
        else {
            expect_ok(F_np_client_resolve, status, "a route the server has");
            uint32_t want = p.slot->route_ids[k == 0 ? ROUTE_ECHO : ROUTE_PULL];
            if (status == NP_OK && id != want) finding("np_client_resolve gave %u, then %u", want, id);
        }
    } else {
        uint32_t max = 0;
        int null_max = adv_chance(r, 5);
        np_status status = check(F_np_client_max_message_size, np_client_max_message_size(p.handle, null_max ? NULL : &max));
        if (!p.valid || null_max) expect_failure(F_np_client_max_message_size, status, p.valid ? "NULL" : p.why);
        else if (status == NP_OK && max != p.slot->max_message_size)
            finding("np_client_max_message_size changed from %u to %u", p.slot->max_message_size, max);
    }
    client_release(&p);
}

/* ------------------------------------------------------------------ common calls */

static void op_common(fuzz_thread *t)
{
    adv_rng *r = &t->rng;
    switch (adv_below(r, 7)) {
    case 0: {
        atomic_fetch_add(&extra_calls[X_VERSION], 1);
        uint32_t version = np_version();
        if (version != NP_VERSION_NUMBER) finding("np_version() is %u, the header says %u", version, NP_VERSION_NUMBER);
        break;
    }
    case 1: {
        atomic_fetch_add(&extra_calls[X_VERSION_STRING], 1);
        const char *text = np_version_string();
        char want[32];
        snprintf(want, sizeof want, "%d.%d.%d", NP_VERSION_MAJOR, NP_VERSION_MINOR, NP_VERSION_PATCH);
        if (!text || strcmp(text, want) != 0) finding("np_version_string() is %s, not %s", text ? text : "NULL", want);
        break;
    }
    case 2:
    case 3: {
        np_status any = adv_chance(r, 50) ? -(np_status)adv_below(r, 40) : (np_status)adv_next(r);
        atomic_fetch_add(&extra_calls[X_STATUS_NAME], 1);
        const char *name = np_status_name(any);
        atomic_fetch_add(&extra_calls[X_STATUS_MESSAGE], 1);
        const char *message = np_status_message(any);
        if (!name || !message || !*name || !*message) finding("np_status_name/message(%d) gave NULL or empty text", any);
        else if (any <= 0 && any > -ADV_MAX_STATUS && docs.status_defined[-any] &&
                 strcmp(name, docs.status_names[-any]) != 0)
            finding("np_status_name(%d) is %s; the header names it %s", any, name, docs.status_names[-any]);
        break;
    }
    case 4: {
        atomic_fetch_add(&extra_calls[X_LAST_ERROR_STATUS], 1);
        np_status last = np_last_error_status();
        if (last > 0 || last <= -ADV_MAX_STATUS || !docs.status_defined[-last])
            finding("np_last_error_status() is %d, not a status of the header", last);
        break;
    }
    case 5: {
        atomic_fetch_add(&extra_calls[X_LAST_ERROR_MESSAGE], 2);
        char full[1024], part[64];
        size_t length = np_last_error_message(full, sizeof full);
        size_t capacity = (size_t)adv_below(r, sizeof part + 1);
        memset(part, 'Z', sizeof part);
        size_t again = np_last_error_message(capacity ? part : NULL, capacity);
        if (length < sizeof full && strlen(full) != length)
            finding("np_last_error_message returned %zu for a %zu-byte message", length, strlen(full));
        if (again != length) finding("np_last_error_message returned %zu, then %zu", length, again);
        if (capacity > 0) {
            size_t kept = length < capacity - 1 ? length : capacity - 1;
            if (part[kept] != '\0' || (capacity < sizeof part && part[capacity] != 'Z') ||
                (length < sizeof full && memcmp(part, full, kept) != 0))
                finding("np_last_error_message into %zu bytes does not truncate like snprintf", capacity);
        }
        break;
    }
    default:
        check(F_np_pool_options_init, np_pool_options_init(NULL));
        check(F_np_msgpool_options_init, np_msgpool_options_init(NULL));
        check(F_np_server_options_init, np_server_options_init(NULL));
        break;
    }
}

/* ------------------------------------------------------------------ the threads */

typedef void (*op_fn)(fuzz_thread *);
typedef struct weighted_op {
    op_fn run;
    unsigned weight;
} weighted_op;

static const weighted_op ops[] = {
    {op_pool_create, 2},     {op_pool_destroy, 1},      {op_pool_alloc, 90},     {op_pool_free, 80},
    {op_pool_alloc_batch, 15}, {op_pool_free_batch, 15}, {op_pool_owns, 20},      {op_pool_misc, 12},
    {op_exchange, 10},       {op_msgpool_create, 2},    {op_msgpool_destroy, 1}, {op_msgpool_acquire, 40},
    {op_msgpool_release, 36}, {op_msgpool_misc, 8},     {op_server_create, 1},   {op_server_control, 3},
    {op_server_pull, 10},    {op_server_deferred, 3},   {op_client_connect, 6},  {op_client_call, 12},
    {op_client_send, 6},     {op_client_receive, 6},    {op_client_claim, 4},    {op_client_misc, 4},
    {op_common, 10},
};

enum { OP_COUNT = sizeof ops / sizeof ops[0] };
static _Atomic uint64_t op_micros[OP_COUNT];

static void *fuzz_thread_main(void *arg)
{
    fuzz_thread *t = arg;
    thread_index = t->index;
    unsigned total = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) total += ops[k].weight;
    np_pool_options options;
    check(F_np_pool_options_init, np_pool_options_init(&options));
    options.block_size = 24 + 8 * (uint64_t)t->index;
    if (check(F_np_pool_create, np_pool_create(&options, &t->private_pool)) == NP_OK) {
        t->private_stride = pool_stride(t->private_pool);
        t->private_block_size = options.block_size;
        t->private_alignment = 8;
    }
    while (!atomic_load_explicit(&stop_all, memory_order_relaxed) &&
           atomic_load_explicit(&total_calls, memory_order_relaxed) < target_calls) {
        unsigned roll = (unsigned)adv_below(&t->rng, total);
        size_t k = 0;
        while (roll >= ops[k].weight) roll -= ops[k++].weight;
        double before = adv_now();
        ops[k].run(t);
        if (control_stamp && t->index == 0 && t->own_count > 0 && atomic_exchange(&control_stamp, 0)) {
            /* The control: an owned block written behind the model's back, checked as a free checks it. */
            t->own[0].ptr[0] ^= 0xFF;
            check_stamp(&t->own[0]);
        }
        atomic_fetch_add_explicit(&op_micros[k], (uint64_t)((adv_now() - before) * 1e6), memory_order_relaxed);
    }
    return NULL;
}

/* ------------------------------------------------------------------ the end of a run */

/* Frees what the threads still own and checks that every live pool is intact and empty. */
static void drain_and_check(fuzz_thread *threads)
{
    pthread_mutex_lock(&deferred_lock);
    for (int i = 0; i < deferred_count; i++) free(deferred[i].data);
    deferred_count = 0;
    pthread_mutex_unlock(&deferred_lock);
    for (int e = 0; e < exchange_count && threads[0].own_count < OWNED_MAX; e++)
        threads[0].own[threads[0].own_count++] = exchange[e];
    exchange_count = 0;
    for (int k = 0; k < THREADS; k++) {
        fuzz_thread *t = &threads[k];
        thread_index = k;
        while (t->own_count > 0) {
            owned o = own_take(t, t->own_count - 1);
            int live = o.slot < 0 ? o.handle == t->private_pool
                                  : o.kind == KIND_POOL ? pools[o.slot].handle == o.handle
                                                        : msgpools[o.slot].handle == o.handle;
            set_remove((uintptr_t)o.ptr, o.handle);
            if (!live) continue;
            check_stamp(&o);
            if (o.kind == KIND_POOL)
                expect_ok(F_np_pool_free, check(F_np_pool_free, np_pool_free(o.handle, o.ptr)), "an owned block");
            else
                expect_ok(F_np_msgpool_release, check(F_np_msgpool_release, np_msgpool_release(o.handle, o.ptr)),
                          "an owned message");
        }
    }
    thread_index = -1;
    uint64_t pool_handles[POOL_SLOTS + THREADS];
    int n = 0;
    for (int s = 0; s < POOL_SLOTS; s++)
        if (pools[s].handle) pool_handles[n++] = pools[s].handle;
    for (int k = 0; k < THREADS; k++)
        if (threads[k].private_pool) pool_handles[n++] = threads[k].private_pool;
    for (int i = 0; i < n; i++) {
        np_pool_validation report;
        memset(&report, 0, sizeof report);
        report.struct_size = sizeof report;
        expect_ok(F_np_pool_validate, check(F_np_pool_validate, np_pool_validate(pool_handles[i], &report)),
                  "a pool at the end of the run");
        np_pool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        if (check(F_np_pool_get_stats, np_pool_get_stats(pool_handles[i], &stats)) == NP_OK && stats.in_use != 0)
            finding("a pool reports %llu blocks in use after every owned block was freed", (unsigned long long)stats.in_use);
        expect_ok(F_np_pool_destroy, check(F_np_pool_destroy, np_pool_destroy(pool_handles[i])), "a live pool");
    }
    for (int s = 0; s < MSGPOOL_SLOTS; s++) {
        if (!msgpools[s].handle) continue;
        np_msgpool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        if (check(F_np_msgpool_get_stats, np_msgpool_get_stats(msgpools[s].handle, &stats)) == NP_OK && stats.in_flight != 0)
            finding("a message pool reports %llu messages in flight after every one was released",
                    (unsigned long long)stats.in_flight);
        expect_ok(F_np_msgpool_destroy, check(F_np_msgpool_destroy, np_msgpool_destroy(msgpools[s].handle)),
                  "a live message pool");
    }
    for (int s = 0; s < CLIENT_SLOTS; s++) close_client_locked(&clients[s]);
    for (int s = 0; s < SERVER_SLOTS; s++) destroy_server_locked(&servers[s]);
}

/* Prints what was called and seen; returns the number of exports the run never called. */
static int report_coverage(int strict)
{
    int missing = 0;
    fprintf(stdout, "  calls per function (statuses seen):\n");
    for (int f = 0; f < F_COUNT; f++) {
        char seen[512];
        size_t used = 0;
        seen[0] = '\0';
        for (int s = 0; s < ADV_MAX_STATUS && used < sizeof seen; s++) {
            uint64_t c = atomic_load(&status_count[f][s]);
            if (c)
                used += (size_t)snprintf(seen + used, sizeof seen - used, " %s=%llu",
                                         docs.status_defined[s] ? docs.status_names[s] + (s ? 5 : 3) : "?",
                                         (unsigned long long)c);
        }
        uint64_t calls = atomic_load(&calls_of[f]);
        fprintf(stdout, "    %-28s %9llu %s\n", fn_names[f], (unsigned long long)calls, seen);
        if (calls == 0) missing++;
    }
    for (int x = 0; x < X_COUNT; x++) {
        uint64_t calls = atomic_load(&extra_calls[x]);
        fprintf(stdout, "    %-28s %9llu\n", extra_names[x], (unsigned long long)calls);
        if (calls == 0) missing++;
    }
    if (missing && strict) fprintf(stdout, "  %d functions were never called\n", missing);
    return strict ? missing : 0;
}

static int run_child(uint64_t seed, uint64_t calls)
{
    run_seed = seed;
    target_calls = calls;
    if (adv_docs_load(&docs, adv_header_path()) != 0) return 2;
    /* Every np_status function the header declares must be one this program calls. */
    int uncovered = 0;
    for (int i = 0; i < docs.fn_count; i++) {
        int known = 0;
        for (int f = 0; f < F_COUNT; f++) known |= strcmp(docs.fns[i].name, fn_names[f]) == 0;
        for (int x = 0; x < X_COUNT; x++) known |= strcmp(docs.fns[i].name, extra_names[x]) == 0;
        if (!known) {
            fprintf(stderr, "FINDING: the header declares %s, which this fuzzer does not call\n", docs.fns[i].name);
            uncovered++;
        }
    }
    for (int f = 0; f < F_COUNT; f++) {
        doc_of[f] = adv_docs_find(&docs, fn_names[f]);
        if (!doc_of[f]) {
            fprintf(stderr, "the header no longer declares %s (with an @return list)\n", fn_names[f]);
            return 2;
        }
    }
    noaccess = mmap(NULL, NOACCESS_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    readonly_data = mmap(NULL, READONLY_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (noaccess == MAP_FAILED || readonly_data == MAP_FAILED) return 2;
    for (size_t i = 0; i < READONLY_BYTES; i++) readonly_data[i] = pattern_byte(0, i);
    mprotect(readonly_data, READONLY_BYTES, PROT_READ);

    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    for (int s = 0; s < POOL_SLOTS; s++) pthread_rwlock_init(&pools[s].rw, &attr);
    for (int s = 0; s < MSGPOOL_SLOTS; s++) pthread_rwlock_init(&msgpools[s].rw, &attr);
    for (int s = 0; s < SERVER_SLOTS; s++) {
        pthread_rwlock_init(&servers[s].rw, &attr);
        pthread_mutex_init(&servers[s].control, NULL);
    }
    for (int s = 0; s < CLIENT_SLOTS; s++) {
        pthread_rwlock_init(&clients[s].rw, &attr);
        pthread_mutex_init(&clients[s].sent_lock, NULL);
        pthread_mutex_init(&clients[s].claim_lock, NULL);
    }

    fuzz_thread *threads = calloc(THREADS, sizeof *threads);
    pthread_t ids[THREADS];
    double start = adv_now();
    for (int k = 0; k < THREADS; k++) {
        threads[k].index = k;
        threads[k].rng.state = seed * 0x100000001B3ull + (uint64_t)k * 0x9E3779B97F4A7C15ull + 1;
        threads[k].ro.size = 4096;
        threads[k].ro.base = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (threads[k].ro.base == MAP_FAILED) return 2;
        pthread_create(&ids[k], NULL, fuzz_thread_main, &threads[k]);
    }
    for (int k = 0; k < THREADS; k++) pthread_join(ids[k], NULL);
    double elapsed = adv_now() - start;
    if (getenv("NP_FUZZ_PROFILE"))
        {
            for (size_t k = 0; k < OP_COUNT; k++) fprintf(stdout, "  op %2zu: %.2f s\n", k, (double)op_micros[k] / 1e6);
            fprintf(stdout, "  in np_client_connect: %.2f s\n", (double)connect_micros / 1e6);
        }
    drain_and_check(threads);
    int never_called = report_coverage(calls >= 100000);
    uint64_t total = atomic_load(&total_calls);
    uint64_t found = atomic_load(&findings);
    fprintf(stdout, "  %llu calls in %.1f s from %d threads; %llu findings\n", (unsigned long long)total, elapsed,
            THREADS, (unsigned long long)found);
    fflush(stdout);
    return found || uncovered || never_called ? 1 : 0;
}

/* ------------------------------------------------------------------ main: runner or child */

static uint64_t number_arg(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno || *end) {
        fprintf(stderr, "fuzz_api: not a number: %s\n", text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    int child = 0, seeds = 0;
    uint64_t seed = 0, calls = 0;
    int seed_given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--child") == 0) child = 1;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = number_arg(argv[++i]), seed_given = 1;
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) calls = number_arg(argv[++i]);
        else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) seeds = (int)number_arg(argv[++i]);
        else {
            fprintf(stderr, "usage: fuzz_api [--seeds K] [--calls N] [--seed S] (NP_STRESS=full: full size)\n");
            return 2;
        }
    }
    if (child) {
        /* The control of the runner: a child that dies of a signal must be reported as a failure. */
        const char *control = getenv("NP_FUZZ_CONTROL");
        if (control && strcmp(control, "crash") == 0) raise(SIGSEGV);
        /* And a block changed while owned must be reported (its stamp is checked at its free). */
        if (control && strcmp(control, "stamp") == 0) atomic_store(&control_stamp, 1);
        return run_child(seed, calls ? calls : 200000);
    }

    /* CI size: 2 seeds x 100,000 calls; full size: 10 seeds x 1,000,000 calls. */
    int full = adv_full_size();
    if (!calls) calls = full ? 1000000 : 100000;
    if (!seeds) seeds = seed_given ? 1 : (full ? 10 : 2);
    if (!seed_given) {
        const char *env = getenv("NP_FUZZ_SEED");
        if (env && *env) seed = number_arg(env), seed_given = 1;
        else seed = ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
    }
    double bound = full ? 1800 : 300; /* seconds: a hang, not a timing check */
    int passed = 0, failed = 0;
    for (int k = 0; k < seeds; k++) {
        uint64_t s = seed + (uint64_t)k;
        char seed_text[32], calls_text[32];
        snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)s);
        snprintf(calls_text, sizeof calls_text, "%llu", (unsigned long long)calls);
        printf("fuzz_api: seed %s, %s calls (reproduce: bindings/c/build/fuzz_api --seed %s --calls %s)\n", seed_text,
               calls_text, seed_text, calls_text);
        char *child_argv[] = {argv[0], "--child", "--seed", seed_text, "--calls", calls_text, NULL};
        int hung;
        double started = adv_now();
        int rc = adv_run_child(child_argv, bound, &hung);
        double took = adv_now() - started;
        if (rc == 0) {
            printf("ok    fuzz seed %s (%.1f s)\n", seed_text, took);
            passed++;
        } else {
            if (hung) printf("FAIL: fuzz seed %s hung past the %g s bound (killed)\n", seed_text, bound);
            else if (rc > 128) printf("FAIL: fuzz seed %s died of signal %d (%s)\n", seed_text, rc - 128, strsignal(rc - 128));
            else printf("FAIL: fuzz seed %s: exit code %d (findings above)\n", seed_text, rc);
            failed++;
        }
        fflush(stdout);
    }
    printf("fuzz_api: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
