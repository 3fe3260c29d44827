/*
 * IPC across processes, I01-I02: a server in the test process, clients in child processes (this
 * binary started again, see np_ipc_support.h).
 *
 * I01 many client processes make checksummed calls of mixed sizes, 0 B to 64 KiB, to an "echo"
 *     route served by two workers. Every response must be its request byte for byte; the handler
 *     marks each (client, seq) it serves in a bitmap, so a lost or duplicated request shows there;
 *     the server's counters must add up to exactly what the children report.
 * I02 hundreds of connections from several processes held open at once (connections_now reaches
 *     the number, one more is refused with NP_E_SERVER_FULL), then every connection has a request
 *     in flight at the same time and gets its own answer.
 */
#include "np_ipc_support.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* ------------------------------------------------------------------ I01 */

enum { I01_LARGEST = 64 * 1024 };

/* The size of call `seq` of client `client`: 0 B, 64 KiB and the header boundary always occur; the
 * rest is mostly small, sometimes large (the mix of a real service, with ring wraps). */
static uint32_t i01_size(uint32_t client, uint32_t seq)
{
    switch (seq) {
    case 0: return 0;
    case 1: return I01_LARGEST;
    case 2: return NP_IPC_HEADER - 1;
    case 3: return NP_IPC_HEADER;
    default: break;
    }
    uint64_t state = (((uint64_t)client << 32) | seq) * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    uint64_t r = np_random_next(&state);
    uint32_t pick = (uint32_t)(r % 100), v = (uint32_t)(r >> 16);
    if (pick < 8) return v % NP_IPC_HEADER;                   /* 0..23: too short for a header */
    if (pick < 55) return NP_IPC_HEADER + v % 1001;            /* up to 1 KiB */
    if (pick < 85) return 1025 + v % 7168;                     /* up to 8 KiB */
    if (pick < 97) return 8193 + v % (I01_LARGEST - 8193 - 64); /* up to 64 KiB */
    return I01_LARGEST - v % 64;                               /* at the maximum */
}

/* What the handler saw; file scope, so a handler can never write into a dead test's stack. */
static struct {
    _Atomic uint64_t *seen; /* one bit per (client, seq) */
    uint32_t clients, calls;
    atomic_ullong identified, small, duplicates, unidentified, foreign;
} i01;

static np_status i01_echo(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                          uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    np_status status = np_ipc_echo_handler(user_data, route_id, request, request_length, response, response_capacity,
                                           response_length);
    if (request_length < NP_IPC_HEADER) {
        atomic_fetch_add(&i01.small, 1);
        return status;
    }
    uint32_t writer, seq;
    if (!np_ipc_payload_identify(request, request_length, &writer, &seq)) {
        atomic_fetch_add(&i01.unidentified, 1);
        return status;
    }
    if (writer >= i01.clients || seq >= i01.calls) {
        atomic_fetch_add(&i01.foreign, 1);
        return status;
    }
    uint64_t index = (uint64_t)writer * i01.calls + seq, bit = 1ULL << (index % 64);
    if (atomic_fetch_or(&i01.seen[index / 64], bit) & bit) atomic_fetch_add(&i01.duplicates, 1);
    else atomic_fetch_add(&i01.identified, 1);
    return status;
}

/* Child: address, client index, calls. Prints "done client=C calls=N bytes=B". */
int np_ipc_child_i01_client(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    uint32_t client_index = (uint32_t)np_child_number(argc, argv, 2);
    uint32_t calls = (uint32_t)np_child_number(argc, argv, 3);
    np_client client;
    uint32_t echo;
    NP_CHILD_OK(np_client_connect(address, 30000, &client));
    NP_CHILD_OK(np_client_resolve(client, "echo", &echo));
    uint8_t *request = malloc(I01_LARGEST), *response = malloc(I01_LARGEST + 64);
    NP_CHILD_CHECK(request != NULL && response != NULL, "out of memory");
    unsigned long long bytes = 0;
    for (uint32_t seq = 0; seq < calls; seq++) {
        uint32_t size = i01_size(client_index, seq), length = 0;
        np_ipc_payload_fill(request, size, client_index, seq);
        memset(response, 0xEE, size + 64 < I01_LARGEST + 64 ? size + 64 : I01_LARGEST + 64);
        NP_CHILD_OK(np_client_call(client, echo, request, size, response, I01_LARGEST + 64, &length, 60000));
        NP_CHILD_CHECK(length == size, "client %u call %u: %u bytes sent, %u came back", client_index, seq, size, length);
        uint32_t at = np_ipc_payload_mismatch(response, length, client_index, seq);
        NP_CHILD_CHECK(at == length, "client %u call %u (%u bytes): response differs from the request at byte %u",
                       client_index, seq, size, at);
        bytes += size;
    }
    NP_CHILD_OK(np_client_close(client));
    np_child_say("done client=%u calls=%u bytes=%llu", client_index, calls, bytes);
    free(request);
    free(response);
    return 0;
}

static void i01_many_processes_checksummed_calls(void)
{
    np_ipc_cleanup();
    uint32_t clients = NP_SIZE(20, 100), calls = NP_SIZE(2000, 10000);
    size_t words = ((size_t)clients * calls + 63) / 64;
    memset(&i01, 0, sizeof i01);
    i01.seen = calloc(words, sizeof *i01.seen);
    NP_ASSERT_NOT_NULL(i01.seen);
    i01.clients = clients;
    i01.calls = calls;

    char address[96];
    np_ipc_address(address, sizeof address, "i01");
    np_server_options options = np_ipc_options(address);
    options.worker_threads = 2;
    options.max_message_size = I01_LARGEST;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", i01_echo, NULL);
    NP_ASSERT_OK(np_server_start(server));

    np_ipc_child *children = calloc(clients, sizeof *children);
    NP_ASSERT_NOT_NULL(children);
    char index_text[16], calls_text[16];
    snprintf(calls_text, sizeof calls_text, "%u", calls);
    for (uint32_t c = 0; c < clients; c++) {
        snprintf(index_text, sizeof index_text, "%u", c);
        NP_IPC_SPAWN(&children[c], "i01-client", address, index_text, calls_text);
    }
    double deadline = np_ipc_now() + NP_SIZE(240.0, 1800.0);
    unsigned long long total_calls = 0, total_bytes = 0;
    for (uint32_t c = 0; c < clients; c++) {
        double left = deadline - np_ipc_now();
        NP_IPC_CHILD_OK(&children[c], left > 1 ? left : 1);
        char line[128];
        unsigned reported_client = 0, reported_calls = 0;
        unsigned long long reported_bytes = 0;
        NP_IPC_CHILD_LINE(&children[c], "done", 0, line, sizeof line);
        NP_ASSERT_MSG(sscanf(line, "done client=%u calls=%u bytes=%llu", &reported_client, &reported_calls,
                             &reported_bytes) == 3, "child report: %s", line);
        NP_ASSERT_EQ(c, reported_client);
        NP_ASSERT_EQ(calls, reported_calls);
        total_calls += reported_calls;
        total_bytes += reported_bytes;
    }
    NP_ASSERT_EQ((unsigned long long)clients * calls, total_calls);

    /* Every child closed its client: the server sees each hang-up. */
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0 && s.peer_hangups == clients && s.responses >= total_calls, 10);
    NP_ASSERT_EQ(total_calls, s.requests);
    NP_ASSERT_EQ(total_calls, s.responses);
    NP_ASSERT_EQ(0, s.error_responses);
    NP_ASSERT_EQ(total_bytes, s.bytes_in);
    NP_ASSERT_EQ(total_bytes, s.bytes_out);
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(0, s.handler_errors);
    NP_ASSERT_EQ(0, s.unknown_routes);
    NP_ASSERT_EQ(0, s.pending_requests);
    NP_ASSERT_EQ(clients, s.connections_total);
    NP_ASSERT_EQ(0, s.connections_rejected);
    NP_ASSERT_CMP(s.connections_peak, <=, clients);
    NP_ASSERT_CMP(s.connections_peak, >=, 1);
    /* Each request took a buffer from the server's message pool, mostly a reused one. */
    NP_ASSERT_CMP(s.buffers_created + s.buffers_reused, >=, total_calls);
    NP_ASSERT_CMP(s.buffers_reused, >, s.buffers_created);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, echo);
    NP_ASSERT_EQ(total_calls, r.requests);
    NP_ASSERT_EQ(total_calls, r.responses);
    NP_ASSERT_EQ(0, r.errors);
    NP_ASSERT_EQ(total_bytes, r.bytes_in);
    NP_ASSERT_EQ(total_bytes, r.bytes_out);

    /* The handler saw each (client, seq) exactly once: none lost, none duplicated, none corrupted. */
    NP_ASSERT_EQ(0, atomic_load(&i01.duplicates));
    NP_ASSERT_EQ(0, atomic_load(&i01.unidentified));
    NP_ASSERT_EQ(0, atomic_load(&i01.foreign));
    unsigned long long small = 0, missing = 0;
    for (uint32_t c = 0; c < clients; c++) {
        for (uint32_t seq = 0; seq < calls; seq++) {
            if (i01_size(c, seq) < NP_IPC_HEADER) {
                small++;
                continue;
            }
            uint64_t index = (uint64_t)c * calls + seq;
            if ((atomic_load(&i01.seen[index / 64]) & (1ULL << (index % 64))) == 0) missing++;
        }
    }
    NP_ASSERT_EQ(0, missing);
    NP_ASSERT_EQ(small, atomic_load(&i01.small));
    NP_ASSERT_EQ(total_calls - small, atomic_load(&i01.identified));

    np_ipc_destroy(server);
    printf("   I01: %u processes x %u calls, %llu calls, %.1f MiB each way, server peak %llu connections, "
           "buffer reuse %.2f %%\n",
           clients, calls, total_calls, (double)total_bytes / 1048576.0, (unsigned long long)s.connections_peak,
           100.0 * (double)s.buffers_reused / (double)(s.buffers_created + s.buffers_reused));
    free(children);
    free(i01.seen);
    i01.seen = NULL;
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I02 */

enum { I02_RING = 16 * 1024, I02_MAX_MESSAGE = 4 * 1024 };

static uint32_t i02_size(uint32_t k) { return NP_IPC_HEADER + (k * 37) % 512; }

/* Child: address, count, index. Holds `count` connections; on "go" each sends one request, then
 * every answer is received and checked; on "exit" all close. */
int np_ipc_child_i02_holder(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    uint32_t count = (uint32_t)np_child_number(argc, argv, 2);
    uint32_t index = (uint32_t)np_child_number(argc, argv, 3);
    struct rlimit limit;
    NP_CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &limit) == 0, "getrlimit failed");
    limit.rlim_cur = limit.rlim_max;
    NP_CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit failed");
    NP_CHILD_CHECK((unsigned long long)limit.rlim_cur > 3ULL * count + 64, "RLIMIT_NOFILE %llu is too low for %u clients",
                   (unsigned long long)limit.rlim_cur, count);

    np_client *clients = calloc(count, sizeof *clients);
    uint32_t *routes = calloc(count, sizeof *routes);
    uint64_t *ids = calloc(count, sizeof *ids);
    uint8_t request[I02_MAX_MESSAGE], response[I02_MAX_MESSAGE];
    NP_CHILD_CHECK(clients != NULL && routes != NULL && ids != NULL, "out of memory");
    for (uint32_t k = 0; k < count; k++) {
        NP_CHILD_OK(np_client_connect(address, 30000, &clients[k]));
        NP_CHILD_OK(np_client_resolve(clients[k], "echo", &routes[k]));
    }
    np_child_say("connected %u", count);

    char line[64];
    NP_CHILD_CHECK(np_child_read_line(line, sizeof line) && strcmp(line, "go") == 0, "expected 'go'");
    /* Every connection gets a request in flight before any answer is read. */
    for (uint32_t k = 0; k < count; k++) {
        np_ipc_payload_fill(request, i02_size(k), index * 100000 + k, 2);
        NP_CHILD_OK(np_client_send(clients[k], routes[k], request, i02_size(k), &ids[k], 10000));
    }
    for (uint32_t k = 0; k < count; k++) {
        uint64_t id = 0;
        uint32_t length = 0;
        NP_CHILD_OK(np_client_receive(clients[k], &id, response, sizeof response, &length, 60000));
        NP_CHILD_CHECK(id == ids[k], "connection %u: answer carries request id %llu, sent %llu", k,
                       (unsigned long long)id, (unsigned long long)ids[k]);
        NP_CHILD_CHECK(length == i02_size(k), "connection %u: %u bytes back, %u sent", k, length, i02_size(k));
        uint32_t at = np_ipc_payload_mismatch(response, length, index * 100000 + k, 2);
        NP_CHILD_CHECK(at == length, "connection %u: the answer is not its own (differs at byte %u)", k, at);
    }
    np_child_say("served %u", count);

    NP_CHILD_CHECK(np_child_read_line(line, sizeof line) && strcmp(line, "exit") == 0, "expected 'exit'");
    for (uint32_t k = 0; k < count; k++) NP_CHILD_OK(np_client_close(clients[k]));
    np_child_say("closed %u", count);
    free(clients);
    free(routes);
    free(ids);
    return 0;
}

static void i02_many_connections_held_open_each_served(void)
{
    np_ipc_cleanup();
    uint32_t connections = NP_SIZE(300, 1000), processes = NP_SIZE(3, 4);
    uint32_t per_process = connections / processes;
    NP_ASSERT_EQ(connections, per_process * processes);

    char address[96];
    np_ipc_address(address, sizeof address, "i02");
    np_server_options options = np_ipc_options(address);
    options.ring_size = I02_RING;
    options.max_message_size = I02_MAX_MESSAGE;
    options.max_clients = connections;
    options.worker_threads = 2;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));

    np_ipc_child children[4];
    char count_text[16], index_text[16], line[64];
    snprintf(count_text, sizeof count_text, "%u", per_process);
    for (uint32_t p = 0; p < processes; p++) {
        snprintf(index_text, sizeof index_text, "%u", p);
        NP_IPC_SPAWN(&children[p], "i02-holder", address, count_text, index_text);
    }
    for (uint32_t p = 0; p < processes; p++) NP_IPC_CHILD_LINE(&children[p], "connected", 120, line, sizeof line);

    /* All connections are open at once. */
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.connections_now == connections, 30);
    NP_ASSERT_EQ(connections, s.connections_total);
    NP_ASSERT_EQ(connections, s.connections_peak);
    NP_ASSERT_EQ(0, s.connections_rejected);

    /* max_clients is a real limit: one more is refused, and nobody else is disturbed. */
    np_client extra = 0;
    NP_ASSERT_STATUS(NP_E_SERVER_FULL, np_client_connect(address, 2000, &extra));
    NP_ASSERT_EQ(0, extra);
    NP_ASSERT_CMP(np_last_error_message(NULL, 0), >, 0);
    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(1, s.connections_rejected);
    NP_ASSERT_EQ(connections, s.connections_now);

    for (uint32_t p = 0; p < processes; p++) np_ipc_child_tell(&children[p], "go");
    for (uint32_t p = 0; p < processes; p++) NP_IPC_CHILD_LINE(&children[p], "served", 120, line, sizeof line);
    NP_IPC_WAIT_FOR(server, s, s.responses >= connections, 10); /* counted just after the answer is written */
    NP_ASSERT_EQ(connections, s.requests);
    NP_ASSERT_EQ(connections, s.responses);
    NP_ASSERT_EQ(0, s.error_responses);
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(connections, s.connections_now);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, echo);
    NP_ASSERT_EQ(connections, r.requests);
    NP_ASSERT_EQ(connections, r.responses);

    for (uint32_t p = 0; p < processes; p++) np_ipc_child_tell(&children[p], "exit");
    for (uint32_t p = 0; p < processes; p++) NP_IPC_CHILD_OK(&children[p], 60);
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0 && s.peer_hangups == connections, 30);
    NP_ASSERT_EQ(0, s.protocol_errors);
    np_ipc_destroy(server);
    printf("   I02: %u connections from %u processes held at once, each served\n", connections, processes);
    np_ipc_cleanup();
}

static const np_test_case cases[] = {
    {"I01", "many_processes_checksummed_calls_none_lost", i01_many_processes_checksummed_calls},
    {"I02", "many_connections_held_open_each_served", i02_many_connections_held_open_each_served},
};

const np_test_suite np_suite_ipc_processes = {"ipc_processes", cases, NP_COUNT_OF(cases)};
