/*
 * ipc_client.c: one client process. Connects, warms up, reports ready, waits at the start gate,
 * then makes calls until the deadline, timing every one with rdtsc, and writes its figures into
 * its slot of the board.
 *
 * Synchronous mode (window 0): one request, wait for its echo, check it, next. Pipelined mode
 * (window W, nativepools only): W requests in flight with np_client_send; each np_client_receive is
 * followed by one more send; the latency of a message is send to receive of its echo.
 *
 * Every request carries a stamp (sequence number, client index) in its first 16 bytes and its
 * last byte; the echo must carry the same, or the call counts as a content error.
 */
#define _GNU_SOURCE
#include "ipc_bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ipc_socket.h"
#include "nativepools.h"

#ifdef IPC_HAVE_ZMQ
#include <zmq.h>
#endif

enum { CALL_TIMEOUT_MS = 30000 };

typedef struct client {
    ipc_options options;
    ipc_board* board;
    ipc_slot* slot;
    uint8_t* request;
    uint8_t* response;
    uint64_t sequence;
    /* transports */
    np_client np;
    uint32_t route;
    ipc_shm_channel shm;
    uint32_t shm_seq;
    uint64_t spin_ticks;
    int fd;
    void* zmq_context;
    void* zmq_socket;
} client;

static client g;

static void client_failed(const char* format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void client_failed(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(g.slot->message, sizeof g.slot->message, format, arguments);
    va_end(arguments);
    if (g.slot->status == 0) g.slot->status = -1;
    fprintf(stderr, "ipc_bench client %u: %s\n", g.options.index, g.slot->message);
    _exit(3);
}

static void np_failed(np_status status, const char* what)
{
    char detail[160];
    np_last_error_message(detail, sizeof detail);
    g.slot->status = status;
    client_failed("%s: %s (%s)", what, np_status_name(status), detail);
}

/* ---------------------------------------------------------------- stamps */

static void stamp(uint8_t* request, uint64_t sequence)
{
    uint64_t index = g.options.index;
    memcpy(request, &sequence, 8);
    memcpy(request + 8, &index, 8);
    request[g.options.size - 1] = (uint8_t)(sequence * 31 + 7);
}

static int stamp_matches(const uint8_t* response, uint32_t length, uint64_t sequence)
{
    uint64_t got_sequence, got_index;
    if (length != g.options.size) return 0;
    memcpy(&got_sequence, response, 8);
    memcpy(&got_index, response + 8, 8);
    return got_sequence == sequence && got_index == g.options.index &&
           response[length - 1] == (uint8_t)(sequence * 31 + 7);
}

/* ---------------------------------------------------------------- one synchronous round trip */

static void call_once(void)
{
    uint64_t sequence = ++g.sequence;
    uint32_t size = g.options.size, length = 0;
    stamp(g.request, sequence);
    switch (g.options.transport) {
    case IPC_NATIVEPOOLS: {
        np_status status = np_client_call(g.np, g.route, g.request, size, g.response, size, &length, CALL_TIMEOUT_MS);
        if (status != NP_OK) np_failed(status, "np_client_call");
        break;
    }
    case IPC_SHM: {
        uint32_t seq = ++g.shm_seq;
        memcpy(ipc_shm_payload(g.shm.request, size), g.request, size);
        ipc_shm_publish(g.shm.request, seq, &g.slot->side.futex_wakes);
        uint32_t got = ipc_shm_wait(g.shm.response, seq - 1, g.spin_ticks, g.shm.stop, &g.slot->side.futex_waits);
        if (got != seq) client_failed("shm: response sequence %u, expected %u", got, seq);
        memcpy(g.response, ipc_shm_payload(g.shm.response, size), size);
        length = size;
        break;
    }
    case IPC_UDS:
    case IPC_UDS_EPOLL:
        if (ipc_write_full(g.fd, g.request, size) < 0) client_failed("write: %s", strerror(errno));
        if (ipc_read_full(g.fd, g.response, size) != 1) client_failed("read: %s", strerror(errno));
        length = size;
        break;
    case IPC_ZMQ:
#ifdef IPC_HAVE_ZMQ
    {
        if (zmq_send(g.zmq_socket, g.request, size, 0) < 0) client_failed("zmq_send: %s", zmq_strerror(zmq_errno()));
        int got = zmq_recv(g.zmq_socket, g.response, size, 0);
        if (got < 0) client_failed("zmq_recv: %s", zmq_strerror(zmq_errno()));
        length = (uint32_t)got;
        break;
    }
#else
        client_failed("built without ZeroMQ");
#endif
    }
    if (!stamp_matches(g.response, length, sequence)) g.slot->content_errors++;
}

/* Diagnostics (env IPC_BENCH_SLOW_US=N): the first calls slower than N µs, printed at the end with
 * their start relative to the gate, to see whether slow calls of different clients coincide. */
enum { SLOW_LOG = 32 };
static uint64_t g_slow_ns, g_slow_start[SLOW_LOG], g_slow_length[SLOW_LOG], g_slow_count;

static void note_slow(uint64_t t0, uint64_t ns)
{
    if (g_slow_count < SLOW_LOG) {
        g_slow_start[g_slow_count] = t0;
        g_slow_length[g_slow_count] = ns;
    }
    g_slow_count++;
}

/* Calls until the tick deadline; with a histogram, every call is timed and counted. */
static uint64_t run_sync(uint64_t end_tick, uint64_t max_calls, latency_histogram* h, uint64_t* last_tick)
{
    uint64_t calls = 0, t0 = bench_ticks();
    while (t0 < end_tick && calls < max_calls) {
        call_once();
        uint64_t t1 = bench_ticks();
        if (h) {
            uint64_t ns = ipc_ticks_ns(g.board, t1 - t0);
            latency_record(h, ns);
            if (g_slow_ns && ns >= g_slow_ns) note_slow(t0, ns);
        }
        calls++;
        t0 = t1;
    }
    if (last_tick) *last_tick = t0;
    return calls;
}

/* ---------------------------------------------------------------- pipelined (nativepools) */

typedef struct in_flight {
    uint64_t request_id;
    uint64_t sequence;
    uint64_t sent_tick;
} in_flight;

static in_flight* g_fifo;
static uint32_t g_fifo_head, g_fifo_count;

static void pipeline_send(void)
{
    uint64_t sequence = ++g.sequence, id;
    stamp(g.request, sequence);
    uint64_t tick = bench_ticks();
    np_status status = np_client_send(g.np, g.route, g.request, g.options.size, &id, CALL_TIMEOUT_MS);
    if (status != NP_OK) np_failed(status, "np_client_send");
    in_flight* f = &g_fifo[(g_fifo_head + g_fifo_count++) % g.options.window];
    f->request_id = id;
    f->sequence = sequence;
    f->sent_tick = tick;
}

/* Receives the oldest response; returns the tick it arrived. */
static uint64_t pipeline_receive(latency_histogram* h)
{
    uint64_t id;
    uint32_t length = 0;
    np_status status = np_client_receive(g.np, &id, g.response, g.options.size, &length, CALL_TIMEOUT_MS);
    if (status != NP_OK) np_failed(status, "np_client_receive");
    uint64_t tick = bench_ticks();
    in_flight f = g_fifo[g_fifo_head];
    g_fifo_head = (g_fifo_head + 1) % g.options.window;
    g_fifo_count--;
    if (id != f.request_id) client_failed("np_client_receive: response to request %llu, expected %llu (server order)",
                                          (unsigned long long)id, (unsigned long long)f.request_id);
    if (!stamp_matches(g.response, length, f.sequence)) g.slot->content_errors++;
    if (h) latency_record(h, ipc_ticks_ns(g.board, tick - f.sent_tick));
    return tick;
}

/* Keeps the window full until the deadline, then drains (drained responses are not counted). */
static uint64_t run_pipeline(uint64_t end_tick, uint64_t max_messages, latency_histogram* h, uint64_t* last_tick)
{
    uint64_t received = 0, tick = bench_ticks();
    while (g_fifo_count < g.options.window) pipeline_send();
    while (tick < end_tick && received < max_messages) {
        tick = pipeline_receive(h);
        received++;
        pipeline_send();
    }
    if (last_tick) *last_tick = tick;
    while (g_fifo_count > 0) pipeline_receive(NULL);
    return received;
}

/* ---------------------------------------------------------------- connect */

static void connect_transport(void)
{
    switch (g.options.transport) {
    case IPC_NATIVEPOOLS: {
        np_status status = np_client_connect(g.options.address, CALL_TIMEOUT_MS, &g.np);
        if (status != NP_OK) np_failed(status, "np_client_connect");
        status = np_client_resolve(g.np, "echo", &g.route);
        if (status != NP_OK) np_failed(status, "np_client_resolve");
        break;
    }
    case IPC_SHM:
        g.shm = ipc_shm_map(g.options.channel_fd);
        g.spin_ticks = (uint64_t)((g.options.spin_us ? g.options.spin_us : 200) * 1000.0 * g.board->ticks_per_ns);
        g.shm_seq = __atomic_load_n(&g.shm.request->seq, __ATOMIC_ACQUIRE);
        break;
    case IPC_UDS:
    case IPC_UDS_EPOLL:
        g.fd = ipc_connect(g.options.address, CALL_TIMEOUT_MS);
        break;
    case IPC_ZMQ:
#ifdef IPC_HAVE_ZMQ
        g.zmq_context = zmq_ctx_new();
        g.zmq_socket = zmq_socket(g.zmq_context, ZMQ_REQ);
        if (!g.zmq_socket || zmq_connect(g.zmq_socket, g.options.address) != 0)
            client_failed("zmq_connect %s: %s", g.options.address, zmq_strerror(zmq_errno()));
        break;
#else
        client_failed("built without ZeroMQ");
#endif
    }
}

static void close_transport(void)
{
    switch (g.options.transport) {
    case IPC_NATIVEPOOLS: np_client_close(g.np); break;
    case IPC_UDS:
    case IPC_UDS_EPOLL: close(g.fd); break;
    default: break; /* shm: nothing; zmq: the process exit closes it (zmq_ctx_term would linger) */
    }
}

/* ---------------------------------------------------------------- main */

int ipc_client_main(int argc, char** argv)
{
    prctl(PR_SET_PDEATHSIG, 9);
    ipc_options_parse(&g.options, argc, argv);
    g.board = ipc_board_map(g.options.board_fd, g.options.clients);
    if (g.options.index >= g.board->clients) ipc_fail("--index %u out of range", g.options.index);
    g.slot = &g.board->slots[g.options.index];
    int syscalls = ipc_syscall_counter_open(); /* before the library starts its runtime threads */
    g.request = bench_map(g.options.size);
    g.response = bench_map(g.options.size);
    int pipelined = g.options.window > 0;
    if (pipelined && g.options.transport != IPC_NATIVEPOOLS) ipc_fail("--window needs --transport nativepools");
    if (pipelined) g_fifo = bench_map(sizeof(in_flight) * g.options.window);

    connect_transport();

    /* Warm-up: caches, the server's buffers, the client's spin estimate. */
    uint64_t warm_end = bench_ticks() + (uint64_t)((double)g.options.warmup_ms * 1e6 * g.board->ticks_per_ns);
    g.slot->warmup_calls = pipelined ? run_pipeline(warm_end, g.options.warmup_calls, NULL, NULL)
                                     : run_sync(warm_end, g.options.warmup_calls, NULL, NULL);
    g.slot->content_errors = 0;
    ipc_word_add(&g.board->ready, 1);

    const char* slow = getenv("IPC_BENCH_SLOW_US");
    g_slow_ns = slow ? strtoull(slow, NULL, 10) * 1000u : 0;
    ipc_word_wait_at_least(&g.board->gate, 1, 0);
    uint64_t began_ns = bench_now_ns(), began_tick = bench_ticks();
    uint64_t end_ns = __atomic_load_n(&g.board->end_ns, __ATOMIC_ACQUIRE);
    uint64_t end_tick = began_tick + (end_ns > began_ns ? (uint64_t)((double)(end_ns - began_ns) * g.board->ticks_per_ns) : 0);
    uint64_t waits0 = g.slot->side.futex_waits, wakes0 = g.slot->side.futex_wakes;
    ipc_snapshot before = ipc_snapshot_take(syscalls);

    uint64_t last_tick = began_tick;
    g.slot->calls = pipelined ? run_pipeline(end_tick, UINT64_MAX, &g.slot->latency, &last_tick)
                              : run_sync(end_tick, UINT64_MAX, &g.slot->latency, &last_tick);

    ipc_snapshot after = ipc_snapshot_take(syscalls);
    uint64_t waits = g.slot->side.futex_waits - waits0, wakes = g.slot->side.futex_wakes - wakes0;
    ipc_side_fill(&g.slot->side, before, after);
    g.slot->side.futex_waits = waits;
    g.slot->side.futex_wakes = wakes;
    g.slot->began_ns = began_ns;
    g.slot->ended_ns = began_ns + (uint64_t)((double)(last_tick - began_tick) / g.board->ticks_per_ns);
    for (uint64_t i = 0; i < g_slow_count && i < SLOW_LOG; i++)
        fprintf(stderr, "slow: client %u at %.3f ms took %.3f ms\n", g.options.index,
                (double)(g_slow_start[i] - began_tick) / g.board->ticks_per_ns / 1e6 + (double)(began_ns - g.board->start_ns) / 1e6,
                (double)g_slow_length[i] / 1e6);
    ipc_word_add(&g.board->done, 1);

    ipc_word_wait_at_least(&g.board->release, 1, 0);
    close_transport();
    fflush(NULL);
    _exit(0);
}
