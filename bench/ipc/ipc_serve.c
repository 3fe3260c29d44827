/*
 * ipc_serve.c: the server process of one run. It starts the transport's server threads, reports
 * READY on the board, then follows the orchestrator's commands: BEGIN (snapshot CPU, syscalls,
 * requests), END (snapshot again, write the deltas to the board), QUIT (stop and exit).
 *
 *   nativepools  np_server with worker_threads workers and one handler route "echo" (C callback
 *                copying the request into the response)
 *   shm          one thread: wait for the request sequence (spin, then futex), copy, publish
 *   uds          one thread per accepted connection: blocking read of a whole request, write
 *   uds_epoll    one thread: level-triggered epoll over the listener and every connection
 *   zmq          one thread with a REP socket (plus ZeroMQ's own I/O thread)
 */
#define _GNU_SOURCE
#include "ipc_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nativepools.h"
#include "ipc_socket.h"

#ifdef IPC_HAVE_ZMQ
#include <zmq.h>
#endif

static ipc_options g_options;
static ipc_board* g_board;
static uint64_t g_served;          /* requests answered by the peers' server threads (atomic) */
static uint64_t g_futex_waits, g_futex_wakes;

static void count_served(void) { __atomic_add_fetch(&g_served, 1, __ATOMIC_RELAXED); }

/* Marks the run failed on the board (the orchestrator reports it) and exits. */
static void server_failed(const char* format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void server_failed(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(g_board->server_message, sizeof g_board->server_message, format, arguments);
    va_end(arguments);
    g_board->server_status = -1;
    fprintf(stderr, "ipc_bench serve: %s\n", g_board->server_message);
    ipc_word_set(&g_board->server_phase, IPC_PHASE_FAILED);
    _exit(3);
}

/* ---------------------------------------------------------------- nativepools */

static np_status echo_handler(void* user_data, uint32_t route_id, const uint8_t* request, uint32_t request_length,
                              uint8_t* response, uint32_t response_capacity, uint32_t* response_length)
{
    (void)user_data;
    (void)route_id;
    if (request_length > response_capacity) return NP_E_BUFFER_TOO_SMALL;
    memcpy(response, request, request_length);
    *response_length = request_length;
    return NP_OK;
}

static void np_check(np_status status, const char* what)
{
    if (status == NP_OK) return;
    char detail[200];
    np_last_error_message(detail, sizeof detail);
    server_failed("%s: %s (%s)", what, np_status_name(status), detail);
}

static np_server start_nativepools(void)
{
    np_server_options options;
    np_check(np_server_options_init(&options), "np_server_options_init");
    options.address = g_options.address;
    options.worker_threads = g_options.workers;
    options.ring_size = g_options.ring_size;
    options.max_message_size = g_options.max_message;
    options.spin_us = g_options.spin_us;
    options.max_clients = g_options.clients + 16;
    options.name = "ipc_bench";
    np_server server;
    np_check(np_server_create(&options, &server), "np_server_create");
    uint32_t route;
    np_check(np_server_add_route(server, "echo", echo_handler, NULL, &route), "np_server_add_route");
    np_check(np_server_start(server), "np_server_start");
    return server;
}

static void np_counts(np_server server, uint64_t* requests, uint64_t* errors)
{
    np_server_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_check(np_server_get_stats(server, &stats), "np_server_get_stats");
    *requests = stats.requests; /* counted before the handler runs, so before the client can see its answer */
    *errors = stats.error_responses + stats.protocol_errors + stats.handler_errors + stats.unknown_routes;
}

/* ---------------------------------------------------------------- shm */

static void* shm_server(void* unused)
{
    (void)unused;
    ipc_shm_channel c = ipc_shm_map(g_options.channel_fd);
    uint64_t spin_ticks = (uint64_t)((g_options.spin_us ? g_options.spin_us : 200) * 1000.0 * g_board->ticks_per_ns);
    uint32_t size = g_options.size;
    uint8_t* in = ipc_shm_payload(c.request, size);
    uint8_t* out = ipc_shm_payload(c.response, size);
    uint32_t seen = 0;
    for (;;) {
        uint32_t seq = ipc_shm_wait(c.request, seen, spin_ticks, c.stop, &g_futex_waits);
        if (seq == seen) break; /* stop */
        seen = seq;
        memcpy(out, in, size);
        count_served(); /* before the answer: once the client has it, the count must include it */
        ipc_shm_publish(c.response, seq, &g_futex_wakes);
    }
    return NULL;
}

/* ---------------------------------------------------------------- uds (blocking) */

static void* uds_connection(void* argument)
{
    int fd = (int)(intptr_t)argument;
    uint32_t size = g_options.size;
    uint8_t* buffer = malloc(size);
    if (!buffer) server_failed("no memory for a %u B buffer", size);
    for (;;) {
        int got = ipc_read_full(fd, buffer, size);
        if (got == 0) break; /* the client closed */
        if (got < 0) server_failed("uds read: %s", strerror(errno));
        count_served();
        if (ipc_write_full(fd, buffer, size) < 0) server_failed("uds write: %s", strerror(errno));
    }
    close(fd);
    free(buffer);
    return NULL;
}

static void* uds_acceptor(void* argument)
{
    int listener = (int)(intptr_t)argument;
    for (uint32_t i = 0; i < g_options.clients; i++) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) server_failed("accept: %s", strerror(errno));
        pthread_t thread;
        bench_thread_start(&thread, uds_connection, (void*)(intptr_t)fd);
        pthread_detach(thread);
    }
    return NULL;
}

/* ---------------------------------------------------------------- uds_epoll */

typedef struct epoll_connection {
    int fd;
    uint32_t have;          /* request bytes read so far */
    uint8_t buffer[];
} epoll_connection;

static void* uds_epoll_server(void* argument)
{
    int listener = (int)(intptr_t)argument;
    uint32_t size = g_options.size;
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) server_failed("epoll_create1: %s", strerror(errno));
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event) < 0) server_failed("epoll_ctl: %s", strerror(errno));
    struct epoll_event events[128];
    for (;;) {
        int n = epoll_wait(epoll, events, 128, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            server_failed("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            epoll_connection* c = events[i].data.ptr;
            if (c == NULL) { /* the listener */
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                    if (errno == EAGAIN || errno == EINTR) continue;
                    server_failed("accept: %s", strerror(errno));
                }
                c = malloc(sizeof *c + size);
                if (!c) server_failed("no memory for a connection");
                c->fd = fd;
                c->have = 0;
                struct epoll_event add = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &add) < 0) server_failed("epoll_ctl: %s", strerror(errno));
                continue;
            }
            ssize_t got = read(c->fd, c->buffer + c->have, size - c->have);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) { /* closed (or reset): forget it */
                epoll_ctl(epoll, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                continue;
            }
            c->have += (uint32_t)got;
            if (c->have < size) continue;
            c->have = 0;
            /* A synchronous client waits for this answer, so the socket buffer has room; a short
             * write (never seen for small messages) falls back to waiting for POLLOUT. */
            count_served();
            if (ipc_write_full_nonblocking(c->fd, c->buffer, size) < 0) server_failed("uds write: %s", strerror(errno));
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- zmq */

#ifdef IPC_HAVE_ZMQ
static void* zmq_server(void* unused)
{
    (void)unused;
    void* context = zmq_ctx_new();
    void* socket = zmq_socket(context, ZMQ_REP);
    if (!socket) server_failed("zmq_socket: %s", zmq_strerror(zmq_errno()));
    if (zmq_bind(socket, g_options.address) != 0)
        server_failed("zmq_bind %s: %s", g_options.address, zmq_strerror(zmq_errno()));
    uint32_t size = g_options.size;
    uint8_t* buffer = malloc(size);
    ipc_word_set(&g_board->server_phase, IPC_PHASE_READY);
    for (;;) {
        int got = zmq_recv(socket, buffer, size, 0);
        if (got < 0) server_failed("zmq_recv: %s", zmq_strerror(zmq_errno()));
        count_served();
        if (zmq_send(socket, buffer, (size_t)got, 0) < 0) server_failed("zmq_send: %s", zmq_strerror(zmq_errno()));
    }
    return NULL;
}
#endif

/* ---------------------------------------------------------------- main */

int ipc_serve_main(int argc, char** argv)
{
    prctl(PR_SET_PDEATHSIG, 9); /* never outlive the orchestrator */
    ipc_options_parse(&g_options, argc, argv);
    g_board = ipc_board_map(g_options.board_fd, g_options.clients);
    int syscalls = ipc_syscall_counter_open(); /* before any thread starts: inherited by all */

    np_server server = 0;
    pthread_t thread; /* the peers' server thread: it ends with the process */
    int ready_reported = 0;
    switch (g_options.transport) {
    case IPC_NATIVEPOOLS:
        server = start_nativepools();
        break;
    case IPC_SHM:
        bench_thread_start(&thread, shm_server, NULL);
        break;
    case IPC_UDS:
        bench_thread_start(&thread, uds_acceptor, (void*)(intptr_t)ipc_listen(g_options.address, g_options.clients));
        break;
    case IPC_UDS_EPOLL: {
        int listener = ipc_listen(g_options.address, g_options.clients);
        fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK);
        bench_thread_start(&thread, uds_epoll_server, (void*)(intptr_t)listener);
        break;
    }
    case IPC_ZMQ:
#ifdef IPC_HAVE_ZMQ
        bench_thread_start(&thread, zmq_server, NULL);
        ready_reported = 1; /* after zmq_bind */
        break;
#else
        server_failed("this driver was built without ZeroMQ");
#endif
    }
    if (!ready_reported) ipc_word_set(&g_board->server_phase, IPC_PHASE_READY);

    ipc_word_wait_at_least(&g_board->command, IPC_CMD_BEGIN, 0);
    uint64_t requests0 = 0, errors0 = 0, requests1 = 0, errors1 = 0;
    if (server) np_counts(server, &requests0, &errors0);
    else requests0 = __atomic_load_n(&g_served, __ATOMIC_RELAXED);
    uint64_t waits0 = g_futex_waits, wakes0 = g_futex_wakes;
    ipc_snapshot before = ipc_snapshot_take(syscalls);
    ipc_word_set(&g_board->server_phase, IPC_PHASE_BEGUN);

    ipc_word_wait_at_least(&g_board->command, IPC_CMD_END, 0);
    ipc_snapshot after = ipc_snapshot_take(syscalls);
    if (server) np_counts(server, &requests1, &errors1);
    else requests1 = __atomic_load_n(&g_served, __ATOMIC_RELAXED);
    ipc_side_fill(&g_board->server, before, after);
    g_board->server.futex_waits = __atomic_load_n(&g_futex_waits, __ATOMIC_RELAXED) - waits0;
    g_board->server.futex_wakes = __atomic_load_n(&g_futex_wakes, __ATOMIC_RELAXED) - wakes0;
    g_board->server_requests = requests1 - requests0;
    g_board->server_errors = errors1 - errors0;
    ipc_word_set(&g_board->server_phase, IPC_PHASE_ENDED);

    ipc_word_wait_at_least(&g_board->command, IPC_CMD_QUIT, 0);
    if (server) {
        np_check(np_server_stop(server, 1000), "np_server_stop");
        np_check(np_server_destroy(server), "np_server_destroy");
        return 0;
    }
    fflush(NULL);
    _exit(0); /* the peers' threads may sit in blocking calls: end the process with them */
}
