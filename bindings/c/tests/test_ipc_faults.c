/*
 * IPC faults, I03-I06: processes that die, a server that stops with calls in flight, and a client
 * that writes garbage into its shared memory.
 *
 * I03 a client SIGKILLed while blocked in a call on a pull route: the server drops its connection
 *     (connections_now falls, peer_hangups rises), a reply to its received request returns
 *     NP_E_PEER_GONE, its unreceived request is discarded, and a new client is served.
 * I04 the server process SIGKILLed while client threads (in another process) are blocked in calls
 *     with NP_WAIT_FOREVER: every call returns NP_E_PEER_GONE, so does the next one, a new connect
 *     fails, and nobody hangs (the test kills the client process and fails at a deadline instead).
 * I05 np_server_stop() with calls in flight on a pull route: requests replied before the stop and
 *     requests received and replied during the drain get their own answers; requests received
 *     and never replied, and requests never received, get NP_E_SHUTDOWN. The counts are exact.
 * I06 a hostile client does the handshake by hand, proves it got the layout right with one valid
 *     call, then writes garbage into its rings (one variant per process); the server drops that
 *     connection (protocol_errors rises) while a normal client keeps getting correct answers.
 * I10 np_server_stop() while pull requests still wait in the rings behind a full pending table
 *     (10 clients x 60 in flight; and max_pending 3 with five sent, two received): every request
 *     gets exactly one answer, its reply or NP_E_SHUTDOWN with its own id; requests == responses.
 * I16 per-client bounds: a client pins at most max_client_pending pull requests and
 *     max_client_pending_bytes while others get through (client_limit_hits counts it); a client
 *     SIGKILLed while its handler runs leaves connections_now at once, so the peak stays within
 *     max_clients.
 */
#include "np_ipc_support.h"
#include "np_raw_peer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ I03 */

/* Child: address, tag. One echo call, then a call on "never" that nobody answers. */
int np_ipc_child_i03_blocked(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    const char *tag = argc > 2 ? argv[2] : "?";
    np_client client;
    uint32_t never, echo, length = 0;
    char response[64];
    NP_CHILD_OK(np_client_connect(address, 10000, &client));
    NP_CHILD_OK(np_client_resolve(client, "never", &never));
    NP_CHILD_OK(np_client_resolve(client, "echo", &echo));
    NP_CHILD_OK(np_client_call(client, echo, tag, (uint32_t)strlen(tag), response, sizeof response, &length, 10000));
    NP_CHILD_CHECK(length == strlen(tag) && memcmp(response, tag, length) == 0, "echo answered wrong");
    np_child_say("calling");
    np_status status = np_client_call(client, never, tag, (uint32_t)strlen(tag), response, sizeof response, &length,
                                      NP_WAIT_FOREVER);
    np_child_say("returned %s", np_status_name(status));
    return 2;
}

static void i03_client_killed_mid_call(void)
{
    np_ipc_cleanup();
    char address[96];
    np_ipc_address(address, sizeof address, "i03");
    np_server_options options = np_ipc_options(address);
    np_server server = NP_IPC_SERVER(&options);
    uint32_t never = NP_IPC_ROUTE(server, "never", NULL, NULL);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));

    np_ipc_child a, b;
    char line[64];
    NP_IPC_SPAWN(&a, "i03-blocked", address, "A");
    NP_IPC_SPAWN(&b, "i03-blocked", address, "B");
    NP_IPC_CHILD_LINE(&a, "calling", 30, line, sizeof line);
    NP_IPC_CHILD_LINE(&b, "calling", 30, line, sizeof line);
    /* Both calls are inside the server: queued on the pull route, unanswered. */
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.pending_requests == 2 && s.connections_now == 2, 10);

    /* Take one of them (its client will be dead when we answer); leave the other queued. */
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    NP_ASSERT_OK(np_server_receive(server, 5000, &request));
    NP_ASSERT_EQ(never, request.route_id);
    NP_ASSERT_EQ(1, request.length);
    NP_ASSERT(request.data[0] == 'A' || request.data[0] == 'B');
    uint64_t token = request.token;
    np_server_stats before = NP_IPC_STATS(server);

    double killed_at = np_ipc_now();
    np_ipc_child_kill(&a);
    np_ipc_child_kill(&b);
    /* Both were still blocked in their calls when the signal came. */
    NP_ASSERT_MSG(WIFSIGNALED(a.wait_status) && WTERMSIG(a.wait_status) == SIGKILL, "A: %s", np_ipc_child_output(&a, 300));
    NP_ASSERT_MSG(WIFSIGNALED(b.wait_status) && WTERMSIG(b.wait_status) == SIGKILL, "B: %s", np_ipc_child_output(&b, 300));

    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0 && s.peer_hangups == before.peer_hangups + 2, 10);
    /* Reported, not asserted (the bound is 100 ms; timing belongs to the benchmarks). */
    printf("   I03: both connections released %.1f ms after the first SIGKILL (stats polled every 1 ms)\n",
           (np_ipc_now() - killed_at) * 1e3);
    NP_ASSERT_EQ(0, s.protocol_errors);

    /* The received request's client is gone: the reply says so and spends the token. */
    NP_ASSERT_STATUS(NP_E_PEER_GONE, np_server_reply(server, token, "late", 4));
    NP_ASSERT_CMP(np_last_error_message(NULL, 0), >, 0);
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_server_reply(server, token, "late", 4));
    /* The unreceived one is discarded: nobody waits for it. */
    NP_ASSERT_STATUS(NP_E_TIMEOUT, np_server_receive(server, 0, &request));
    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.pending_requests);

    /* A new client is served on both kinds of route. */
    np_client client = NP_IPC_CONNECT(address);
    uint32_t client_echo = NP_IPC_RESOLVE(client, "echo"), client_never = NP_IPC_RESOLVE(client, "never");
    NP_ASSERT_EQ(echo, client_echo);
    char response[64];
    uint32_t length = 0;
    NP_ASSERT_OK(np_client_call(client, client_echo, "still served", 12, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(12, length);
    NP_ASSERT(memcmp(response, "still served", 12) == 0);
    uint64_t id = 0, answered = 0;
    NP_ASSERT_OK(np_client_send(client, client_never, "pull", 4, &id, 10000));
    NP_ASSERT_OK(np_server_receive(server, 10000, &request));
    NP_ASSERT_EQ(4, request.length);
    NP_ASSERT(memcmp(request.data, "pull", 4) == 0);
    NP_ASSERT_OK(np_server_reply(server, request.token, "answer", 6));
    NP_ASSERT_OK(np_client_receive(client, &answered, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(id, answered);
    NP_ASSERT_EQ(6, length);
    NP_ASSERT(memcmp(response, "answer", 6) == 0);
    np_ipc_close(client);
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0 && s.peer_hangups == before.peer_hangups + 3, 10);
    np_ipc_destroy(server);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I04 */

/* Child: address, expected pending. Serves until killed; says "pending N" once N calls wait. */
int np_ipc_child_i04_server(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    unsigned long expected = np_child_number(argc, argv, 2);
    np_server_options options;
    np_server server;
    uint32_t route;
    NP_CHILD_OK(np_server_options_init(&options));
    options.address = address;
    NP_CHILD_OK(np_server_create(&options, &server));
    NP_CHILD_OK(np_server_add_route(server, "never", NULL, NULL, &route));
    NP_CHILD_OK(np_server_add_route(server, "echo", np_ipc_echo_handler, NULL, &route));
    NP_CHILD_OK(np_server_start(server));
    np_child_say("listening");
    np_server_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    for (;;) {
        NP_CHILD_OK(np_server_get_stats(server, &stats));
        if (stats.pending_requests >= expected) break;
        np_ipc_sleep_ms(1);
    }
    np_child_say("pending %llu", (unsigned long long)stats.pending_requests);
    for (;;) pause(); /* until the test kills us (or the watchdog does) */
}

typedef struct i04_caller {
    const char *address;
    np_status first, second;
    double returned_at; /* CLOCK_MONOTONIC, shared by every process of the machine */
    char detail[160];
} i04_caller;

static void *i04_call_forever(void *argument)
{
    i04_caller *caller = argument;
    np_client client;
    uint32_t never, echo, length = 0;
    char response[32];
    caller->first = caller->second = NP_E_INTERNAL;
    np_status s = np_client_connect(caller->address, 10000, &client);
    if (s == NP_OK) s = np_client_resolve(client, "never", &never);
    if (s == NP_OK) s = np_client_resolve(client, "echo", &echo);
    if (s == NP_OK) s = np_client_call(client, echo, "hi", 2, response, sizeof response, &length, 10000);
    if (s != NP_OK) {
        caller->first = s;
        snprintf(caller->detail, sizeof caller->detail, "setup failed: %s", np_status_name(s));
        return NULL;
    }
    caller->first = np_client_call(client, never, "wait", 4, response, sizeof response, &length, NP_WAIT_FOREVER);
    caller->returned_at = np_ipc_now();
    np_last_error_message(caller->detail, sizeof caller->detail);
    /* The connection is dead: the next call must say so too, not wait. */
    caller->second = np_client_call(client, never, "again", 5, response, sizeof response, &length, NP_WAIT_FOREVER);
    np_client_close(client);
    return NULL;
}

/* Child: address, N. N threads block in calls until the server dies; prints what they got. */
int np_ipc_child_i04_clients(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    unsigned n = (unsigned)np_child_number(argc, argv, 2);
    i04_caller *callers = calloc(n, sizeof *callers);
    pthread_t *threads = calloc(n, sizeof *threads);
    NP_CHILD_CHECK(callers != NULL && threads != NULL, "out of memory");
    for (unsigned i = 0; i < n; i++) {
        callers[i].address = address;
        NP_CHILD_CHECK(pthread_create(&threads[i], NULL, i04_call_forever, &callers[i]) == 0, "pthread_create failed");
    }
    unsigned first_gone = 0, second_gone = 0, empty_detail = 0;
    double last_return = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        if (callers[i].returned_at > last_return) last_return = callers[i].returned_at;
        first_gone += callers[i].first == NP_E_PEER_GONE;
        second_gone += callers[i].second == NP_E_PEER_GONE;
        empty_detail += callers[i].detail[0] == '\0';
        if (callers[i].first != NP_E_PEER_GONE || callers[i].second != NP_E_PEER_GONE)
            np_child_say("caller %u: first %s, second %s (%s)", i, np_status_name(callers[i].first),
                         np_status_name(callers[i].second), callers[i].detail);
    }
    /* Nobody listens there any more. The dying server's listening socket may outlive its
     * connections by a moment (the kernel releases a dead process's files in no promised order):
     * a connect that lands in its backlog then sees the hang-up instead of the welcome. */
    np_client client = 0;
    np_status reconnect = np_client_connect(address, 300, &client);
    np_child_say("results first_peer_gone=%u second_peer_gone=%u empty_detail=%u of %u reconnect=%s last_return=%.6f",
                 first_gone, second_gone, empty_detail, n, np_status_name(reconnect), last_return);
    int refused = (reconnect == NP_E_TIMEOUT || reconnect == NP_E_PEER_GONE) && client == 0;
    return first_gone == n && second_gone == n && empty_detail == 0 && refused ? 0 : 1;
}

static void i04_server_killed_blocked_calls_return_peer_gone(void)
{
    np_ipc_cleanup();
    unsigned n = NP_SIZE(8, 32);
    char address[96], n_text[16], line[256];
    np_ipc_address(address, sizeof address, "i04");
    snprintf(n_text, sizeof n_text, "%u", n);
    np_ipc_child server, clients;
    NP_IPC_SPAWN(&server, "i04-server", address, n_text);
    NP_IPC_CHILD_LINE(&server, "listening", 30, line, sizeof line);
    NP_IPC_SPAWN(&clients, "i04-clients", address, n_text);
    /* Every call is inside the server before it dies. */
    NP_IPC_CHILD_LINE(&server, "pending", 60, line, sizeof line);
    double killed_at = np_ipc_now();
    np_ipc_child_kill(&server);
    NP_ASSERT_MSG(WIFSIGNALED(server.wait_status) && WTERMSIG(server.wait_status) == SIGKILL, "server: %s",
                  np_ipc_child_output(&server, 300));
    /* Calls blocked forever must all return; a hang fails here (the child is killed), not the suite. */
    NP_IPC_CHILD_OK(&clients, 30);
    NP_IPC_CHILD_LINE(&clients, "results", 0, line, sizeof line);
    unsigned first = 0, second = 0, empty = 0, of = 0;
    char reconnect[40];
    double last_return = 0;
    NP_ASSERT_MSG(sscanf(line, "results first_peer_gone=%u second_peer_gone=%u empty_detail=%u of %u reconnect=%39s last_return=%lf",
                         &first, &second, &empty, &of, reconnect, &last_return) == 6, "%s", line);
    /* Reported, not asserted (the bound is 100 ms; timing belongs to the benchmarks). */
    printf("   I04: %u calls blocked forever returned NP_E_PEER_GONE, the last %.1f ms after the SIGKILL\n", of,
           (last_return - killed_at) * 1e3);
    NP_ASSERT_EQ(n, of);
    NP_ASSERT_EQ(n, first);
    NP_ASSERT_EQ(n, second);
    NP_ASSERT_EQ(0, empty);
    NP_ASSERT_MSG(strcmp(reconnect, "NP_E_TIMEOUT") == 0 || strcmp(reconnect, "NP_E_PEER_GONE") == 0,
                  "a connect to the dead server's address returned %s", reconnect);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I05 */

/* The server's answer to a request: every byte XOR 0xA5 (so an answer is never its request). */
static void i05_transform(uint8_t *data, uint32_t length)
{
    for (uint32_t i = 0; i < length; i++) data[i] ^= 0xA5;
}

static struct {
    atomic_uint ok, shutdown, other, bad;
    const char *address;
    unsigned k;
    np_client clients[128];
} i05_child;

static int i05_answer_is_own(const uint8_t *response, uint32_t length, uint32_t expected_length, uint32_t writer,
                             uint32_t seq)
{
    if (length != expected_length) return 0;
    uint8_t copy[256];
    memcpy(copy, response, length);
    i05_transform(copy, length);
    return np_ipc_payload_mismatch(copy, length, writer, seq) == length;
}

static void i05_count(np_status status, int own)
{
    if (status == NP_OK) {
        atomic_fetch_add(&i05_child.ok, 1);
        if (!own) atomic_fetch_add(&i05_child.bad, 1);
    } else if (status == NP_E_SHUTDOWN) {
        atomic_fetch_add(&i05_child.shutdown, 1);
    } else {
        atomic_fetch_add(&i05_child.other, 1);
        np_child_say("unexpected status %s", np_status_name(status));
    }
}

static void *i05_caller(void *argument)
{
    unsigned t = (unsigned)(uintptr_t)argument;
    np_client client;
    uint32_t work, length = 0, size = 40 + t;
    uint8_t request[256], response[256];
    NP_CHILD_OK(np_client_connect(i05_child.address, 10000, &client));
    NP_CHILD_OK(np_client_resolve(client, "work", &work));
    i05_child.clients[t] = client;
    np_ipc_payload_fill(request, size, t, 0);
    np_status s = np_client_call(client, work, request, size, response, sizeof response, &length, 60000);
    i05_count(s, s == NP_OK && i05_answer_is_own(response, length, size, t, 0));
    return NULL;
}

static void *i05_pipeliner(void *argument)
{
    unsigned t = (unsigned)(uintptr_t)argument;
    np_client client;
    uint32_t work;
    uint64_t ids[256];
    uint8_t request[256], response[256];
    NP_CHILD_OK(np_client_connect(i05_child.address, 10000, &client));
    NP_CHILD_OK(np_client_resolve(client, "work", &work));
    i05_child.clients[t] = client;
    for (unsigned j = 0; j < i05_child.k; j++) {
        np_ipc_payload_fill(request, 40 + j % 128, t, j);
        NP_CHILD_OK(np_client_send(client, work, request, 40 + j % 128, &ids[j], 10000));
    }
    for (unsigned j = 0; j < i05_child.k; j++) {
        uint64_t id = 0;
        uint32_t length = 0;
        np_status s = np_client_receive(client, &id, response, sizeof response, &length, 60000);
        unsigned seq = 0;
        while (seq < i05_child.k && ids[seq] != id) seq++;
        NP_CHILD_CHECK(seq < i05_child.k, "a response (%s) carries request id %llu, never sent", np_status_name(s),
                       (unsigned long long)id);
        i05_count(s, s == NP_OK && i05_answer_is_own(response, length, 40 + seq % 128, t, seq));
    }
    return NULL;
}

/* Child: address, call threads, pipelining threads, requests per pipelining thread. */
int np_ipc_child_i05_clients(int argc, char **argv)
{
    i05_child.address = argc > 1 ? argv[1] : "";
    unsigned callers = (unsigned)np_child_number(argc, argv, 2), pipeliners = (unsigned)np_child_number(argc, argv, 3);
    i05_child.k = (unsigned)np_child_number(argc, argv, 4);
    NP_CHILD_CHECK(callers + pipeliners <= 128 && i05_child.k <= 256, "too many");
    pthread_t threads[128];
    for (unsigned t = 0; t < callers + pipeliners; t++)
        NP_CHILD_CHECK(pthread_create(&threads[t], NULL, t < callers ? i05_caller : i05_pipeliner, (void *)(uintptr_t)t) == 0,
                       "pthread_create failed");
    for (unsigned t = 0; t < callers + pipeliners; t++) pthread_join(threads[t], NULL);
    np_child_say("results ok=%u shutdown=%u other=%u bad=%u", atomic_load(&i05_child.ok), atomic_load(&i05_child.shutdown),
                 atomic_load(&i05_child.other), atomic_load(&i05_child.bad));
    char line[64];
    NP_CHILD_CHECK(np_child_read_line(line, sizeof line) && strcmp(line, "stopped") == 0, "expected 'stopped'");
    /* The server is gone for good: every client hears NP_E_SHUTDOWN at once. */
    unsigned shutdown = 0;
    for (unsigned t = 0; t < callers + pipeliners; t++) {
        uint8_t response[16];
        uint32_t work, length = 0;
        NP_CHILD_OK(np_client_resolve(i05_child.clients[t], "work", &work));
        np_status s = np_client_call(i05_child.clients[t], work, "late", 4, response, sizeof response, &length, 10000);
        if (s == NP_E_SHUTDOWN) shutdown++;
        else np_child_say("client %u after the stop: %s", t, np_status_name(s));
        NP_CHILD_OK(np_client_close(i05_child.clients[t]));
    }
    np_child_say("after shutdown=%u of %u", shutdown, callers + pipeliners);
    return 0;
}

static struct {
    np_server server;
    uint32_t drain_ms;
    atomic_int started, done;
    np_status status;
} i05_stop;

static void *i05_stopper(void *argument)
{
    (void)argument;
    atomic_store(&i05_stop.started, 1);
    i05_stop.status = np_server_stop(i05_stop.server, i05_stop.drain_ms);
    atomic_store(&i05_stop.done, 1);
    return NULL;
}

/* Receives one pull request and answers it with its transform. */
static void i05_receive_and_answer(np_server server, uint32_t route)
{
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    NP_ASSERT_OK(np_server_receive(server, 10000, &request));
    NP_ASSERT_EQ(route, request.route_id);
    i05_transform(request.data, request.length); /* in place: the reply may be the request's own buffer */
    NP_ASSERT_OK(np_server_reply(server, request.token, request.data, request.length));
}

static void i05_stop_with_calls_in_flight(void)
{
    np_ipc_cleanup();
    unsigned callers = NP_SIZE(6, 24), pipeliners = NP_SIZE(2, 8), k = NP_SIZE(9, 64);
    unsigned total = callers + pipeliners * k, quarter = total / 4;
    unsigned replied_before = quarter, replied_during = quarter, held = quarter;
    unsigned never_received = total - replied_before - replied_during - held;

    char address[96];
    np_ipc_address(address, sizeof address, "i05");
    np_server_options options = np_ipc_options(address);
    np_server server = NP_IPC_SERVER(&options);
    uint32_t work = NP_IPC_ROUTE(server, "work", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));

    np_ipc_child child;
    char c_text[16], p_text[16], k_text[16], line[128];
    snprintf(c_text, sizeof c_text, "%u", callers);
    snprintf(p_text, sizeof p_text, "%u", pipeliners);
    snprintf(k_text, sizeof k_text, "%u", k);
    NP_IPC_SPAWN(&child, "i05-clients", address, c_text, p_text, k_text);
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.pending_requests == total, 60);

    for (unsigned i = 0; i < replied_before; i++) i05_receive_and_answer(server, work);
    uint64_t *held_tokens = calloc(held, sizeof *held_tokens);
    NP_ASSERT_NOT_NULL(held_tokens);
    for (unsigned i = 0; i < held; i++) {
        np_request request;
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        NP_ASSERT_OK(np_server_receive(server, 10000, &request));
        held_tokens[i] = request.token;
    }

    /* The stop drains for 3 s: it cannot end sooner, since requests stay unanswered. */
    memset(&i05_stop, 0, sizeof i05_stop);
    i05_stop.server = server;
    i05_stop.drain_ms = 3000;
    pthread_t stopper;
    np_thread_start(&stopper, i05_stopper, NULL);
    while (!atomic_load(&i05_stop.started)) np_ipc_sleep_ms(1);
    np_ipc_sleep_ms(50);
    for (unsigned i = 0; i < replied_during; i++) i05_receive_and_answer(server, work);
    int stop_ended_early = atomic_load(&i05_stop.done);
    np_thread_join(stopper);
    NP_ASSERT_OK(i05_stop.status);
    NP_ASSERT_MSG(!stop_ended_early, "np_server_stop returned before its drain deadline with requests unanswered");

    /* The stop answered the held requests itself. */
    for (unsigned i = 0; i < held; i++) {
        NP_ASSERT_STATUS(NP_E_SHUTDOWN, np_server_reply(server, held_tokens[i], "late", 4));
        NP_ASSERT_CMP(np_last_error_message(NULL, 0), >, 0);
    }
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    NP_ASSERT_STATUS(NP_E_SHUTDOWN, np_server_receive(server, 0, &request));
    NP_ASSERT_STATUS(NP_E_SHUTDOWN, np_server_receive(server, 1000, &request));

    NP_IPC_CHILD_LINE(&child, "results", 30, line, sizeof line);
    unsigned ok = 0, shutdown = 0, other = 0, bad = 0;
    NP_ASSERT_MSG(sscanf(line, "results ok=%u shutdown=%u other=%u bad=%u", &ok, &shutdown, &other, &bad) == 4, "%s", line);
    NP_ASSERT_EQ(0, other);
    NP_ASSERT_EQ(0, bad);
    NP_ASSERT_EQ(replied_before + replied_during, ok);
    NP_ASSERT_EQ(held + never_received, shutdown);
    np_ipc_child_tell(&child, "stopped");
    NP_IPC_CHILD_LINE(&child, "after", 30, line, sizeof line);
    unsigned after = 0, of = 0;
    NP_ASSERT_MSG(sscanf(line, "after shutdown=%u of %u", &after, &of) == 2, "%s", line);
    NP_ASSERT_EQ(callers + pipeliners, of);
    NP_ASSERT_EQ(of, after);
    NP_IPC_CHILD_OK(&child, 30);

    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(total, s.requests);
    NP_ASSERT_EQ(0, s.pending_requests);
    NP_ASSERT_EQ(0, s.connections_now);
    NP_ASSERT_EQ(0, s.protocol_errors);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, work);
    NP_ASSERT_EQ(total, r.requests);
    /* Every request got exactly one answer written, its reply or the stop's NP_E_SHUTDOWN (the
     * clients saw each one above), so the counters must say so: responses count "error responses
     * included", error_responses count "responses that carried an error status". */
    NP_ASSERT_MSG(s.responses == total && s.error_responses == held + never_received && r.responses == total &&
                      r.errors == held + never_received,
                  "the stop's NP_E_SHUTDOWN answers are not counted: server %s; route responses %llu errors %llu; "
                  "expected responses %u of which errors %u",
                  np_ipc_describe(&s), (unsigned long long)r.responses, (unsigned long long)r.errors, total,
                  held + never_received);
    free(held_tokens);
    np_ipc_destroy(server);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I06 */

/* Child: address, variant. Exits 0 after printing "dropped" (or "kept" for unknown_route). */
int np_ipc_child_i06_hostile(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    const char *variant = argc > 2 ? argv[2] : "";
    raw_connection c;
    raw_connect(&c, address);
    uint16_t echo = raw_route(&c, "echo");
    raw_valid_call(&c, echo, "a hand-made request");
    uint32_t max = c.welcome.max_message;
    uint64_t t = c.request_tail;
    np_child_say("mapped %zu bytes, ring %llu, max message %u, %u routes", c.size, (unsigned long long)c.ring, max,
                 c.welcome.route_count);

    if (strcmp(variant, "unknown_route") == 0) {
        /* Not garbage: a well-formed request for a route id the server lacks. It is answered with
         * NP_E_UNKNOWN_ROUTE, as the server's own error (not a handler's), and the connection stays. */
        uint8_t response[16];
        uint32_t length = 0;
        uint64_t id = ++c.next_id, answered = 0;
        raw_put_record(&c, KIND_REQUEST, 999, id, "??", 2);
        raw_publish(&c);
        uint16_t kind = raw_take_response(&c, &answered, response, sizeof response, &length);
        int32_t status = 0;
        memcpy(&status, response, 4);
        NP_CHILD_CHECK(kind == KIND_SERVER_ERROR && answered == id && length == 4 && status == NP_E_UNKNOWN_ROUTE,
                       "unknown route: kind %u id %llu length %u status %d", kind, (unsigned long long)answered, length,
                       status);
        raw_valid_call(&c, echo, "still here");
        np_child_say("kept");
        return 0;
    }

    if (strcmp(variant, "tail_beyond_ring") == 0) {
        raw_publish_tail(&c, t + c.ring + 16);
    } else if (strcmp(variant, "tail_not_aligned") == 0) {
        raw_bare_header(&c, 0, KIND_REQUEST, echo);
        raw_publish_tail(&c, t + 8);
    } else if (strcmp(variant, "tail_behind_head") == 0) {
        raw_publish_tail(&c, t - 16);
    } else if (strcmp(variant, "length_over_max") == 0) {
        raw_bare_header(&c, max + 1, KIND_REQUEST, echo);
        raw_publish_tail(&c, t + raw_record_size(max + 1));
    } else if (strcmp(variant, "unknown_kind") == 0) {
        raw_bare_header(&c, 8, 9, echo);
        raw_publish_tail(&c, t + raw_record_size(8));
    } else if (strcmp(variant, "padding_wrong_length") == 0) {
        raw_bare_header(&c, 100, KIND_PADDING, 0);
        raw_publish_tail(&c, t + raw_record_size(100));
    } else if (strcmp(variant, "response_kind") == 0) {
        raw_bare_header(&c, 8, KIND_RESPONSE, echo);
        raw_publish_tail(&c, t + raw_record_size(8));
    } else if (strcmp(variant, "error_kind") == 0) {
        raw_bare_header(&c, 4, KIND_ERROR, echo);
        raw_publish_tail(&c, t + raw_record_size(4));
    } else if (strcmp(variant, "record_past_tail") == 0) {
        raw_bare_header(&c, 100, KIND_REQUEST, echo);
        raw_publish_tail(&c, t + 32);
    } else if (strncmp(variant, "random_", 7) == 0) {
        uint64_t state = 0x2545F4914F6CDD1DULL * (uint64_t)(variant[7] + 1);
        uint64_t index = t & (c.ring - 1);
        for (uint64_t i = index; i + 8 <= c.ring; i += 8) {
            uint64_t word = np_random_next(&state);
            memcpy(c.request_data + i, &word, 8);
        }
        uint64_t slots = (c.ring - index) / 16;
        raw_publish_tail(&c, t + 16 * (1 + np_random_below(&state, slots)));
    } else if (strcmp(variant, "response_head_corrupt") == 0) {
        /* Our consumer head of the response ring goes misaligned; the server reads it when its
         * ring looks full, so fill it: three maximum echoes (not consumed), then a fourth. */
        raw_store64(c.response_control + RING_HEAD, c.response_head + 8);
        uint8_t *payload = calloc(1, max);
        NP_CHILD_CHECK(payload != NULL, "out of memory");
        for (int i = 0; i < 3; i++) raw_put_record(&c, KIND_REQUEST, echo, ++c.next_id, payload, max);
        raw_publish(&c);
        double deadline = np_ipc_now() + 10;
        while (raw_load64(c.request_control + RING_HEAD) != c.request_tail) {
            NP_CHILD_CHECK(np_ipc_now() < deadline, "the server did not take the three requests");
            np_ipc_sleep_ms(1);
        }
        raw_put_record(&c, KIND_REQUEST, echo, ++c.next_id, payload, max);
        raw_publish(&c);
        free(payload);
    } else {
        np_child_fail(14, "no variant '%s'", variant);
    }
    if (!raw_dropped(&c)) {
        np_child_say("not dropped within 10 s");
        return 3;
    }
    uint32_t state = raw_load32(c.map + HEADER_SERVER_STATE);
    NP_CHILD_CHECK(state == SERVER_CLOSED, "dropped, but the shared server state is %u, not closed", state);
    np_child_say("dropped");
    return 0;
}

static void i06_normal_call(np_client client, uint32_t echo, uint32_t seq)
{
    uint8_t request[512], response[512];
    uint32_t size = NP_IPC_HEADER + seq % 400, length = 0;
    np_ipc_payload_fill(request, size, 77, seq);
    NP_ASSERT_OK(np_client_call(client, echo, request, size, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(size, length);
    NP_ASSERT_EQ(size, np_ipc_payload_mismatch(response, length, 77, seq));
}

static void i06_hostile_client_garbage_in_shared_memory(void)
{
    static const char *const variants[] = {
        "tail_beyond_ring", "tail_not_aligned", "tail_behind_head", "length_over_max", "unknown_kind",
        "padding_wrong_length", "response_kind", "error_kind", "record_past_tail", "random_1", "random_2",
        "random_3", "response_head_corrupt", "unknown_route",
    };
    np_ipc_cleanup();
    char address[96], line[160];
    np_ipc_address(address, sizeof address, "i06");
    np_server_options options = np_ipc_options(address);
    options.ring_size = 16 * 1024;
    options.max_message_size = 4 * 1024;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_IPC_ROUTE(server, "pull", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client client = NP_IPC_CONNECT(address);
    NP_ASSERT_EQ(echo, NP_IPC_RESOLVE(client, "echo"));

    uint32_t seq = 0;
    unsigned drops = 0;
    for (size_t v = 0; v < NP_COUNT_OF(variants); v++) {
        int keeps = strcmp(variants[v], "unknown_route") == 0;
        i06_normal_call(client, echo, seq++);
        np_server_stats before = NP_IPC_STATS(server), s;
        np_ipc_child hostile;
        NP_IPC_SPAWN(&hostile, "i06-hostile", address, variants[v]);
        NP_IPC_CHILD_OK(&hostile, 60);
        NP_IPC_CHILD_LINE(&hostile, keeps ? "kept" : "dropped", 0, line, sizeof line);
        if (keeps) {
            NP_IPC_WAIT_FOR(server, s, s.connections_now == 1 && s.peer_hangups == before.peer_hangups + 1, 10);
            NP_ASSERT_EQ(before.protocol_errors, s.protocol_errors);
            NP_ASSERT_EQ(before.unknown_routes + 1, s.unknown_routes);
        } else {
            drops++;
            NP_IPC_WAIT_FOR(server, s, s.connections_now == 1 && s.protocol_errors == before.protocol_errors + 1, 10);
            NP_ASSERT_MSG(s.peer_hangups == before.peer_hangups, "variant %s: counted as a hang-up too (%s)", variants[v],
                          np_ipc_describe(&s));
        }
        /* The normal client never noticed. */
        for (int i = 0; i < 3; i++) i06_normal_call(client, echo, seq++);
    }
    np_server_stats s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(drops, s.protocol_errors);
    NP_ASSERT_EQ(NP_COUNT_OF(variants) + 1, s.connections_total);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, echo);
    NP_ASSERT_EQ(0, r.errors);
    np_ipc_close(client);
    np_ipc_destroy(server);
    printf("   I06: %u garbage variants dropped (protocol_errors %llu), 1 unknown-route request answered, "
           "normal client served %u calls\n",
           drops, (unsigned long long)s.protocol_errors, (unsigned)seq);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I10 */

/*
 * I10: np_server_stop() with pull requests still waiting in the rings (the pending table is
 * full, so the workers leave them there). Every request must get exactly one answer: its reply,
 * or NP_E_SHUTDOWN carrying its own request id; never the connection's end without an answer.
 */
enum { I10_MAX_CLIENTS = 16, I10_MAX_IN_FLIGHT = 64 };

typedef struct {
    const char *address;
    unsigned in_flight;
    atomic_int *sent;        /* clients that sent all their requests */
    unsigned ok, shutdown;   /* answers by kind */
    unsigned lost;           /* requests the client stopped waiting for without an answer */
    unsigned wrong;          /* answers to an id not outstanding (duplicates, id 0, unknown) */
    np_status ended_with;    /* the status that ended the wait early, or NP_OK */
    uint64_t ended_id;
} i10_client;

static void *i10_client_thread(void *argument)
{
    i10_client *c = argument;
    np_client client;
    uint32_t route;
    uint8_t answered[I10_MAX_IN_FLIGHT + 1];
    memset(answered, 0, sizeof answered);
    NP_ASSERT_OK(np_client_connect(c->address, 10000, &client));
    NP_ASSERT_OK(np_client_resolve(client, "pull", &route));
    uint64_t first = 0;
    for (unsigned i = 0; i < c->in_flight; i++) {
        uint64_t id = 0;
        uint32_t payload = i;
        NP_ASSERT_OK(np_client_send(client, route, &payload, sizeof payload, &id, 10000));
        if (i == 0) first = id;
        NP_ASSERT_EQ(first + i, id);
    }
    atomic_fetch_add(&c->sent[0], 1);
    unsigned remaining = c->in_flight;
    while (remaining > 0) {
        uint64_t id = 0;
        uint32_t length = 0, payload = 0;
        np_status status = np_client_receive(client, &id, &payload, sizeof payload, &length, 30000);
        if (status != NP_OK && status != NP_E_SHUTDOWN) {
            c->ended_with = status;
            c->ended_id = id;
            c->lost = remaining;
            break;
        }
        if (id < first || id >= first + c->in_flight || answered[id - first]) {
            if (status == NP_E_SHUTDOWN && id == 0) {
                /* The connection ended: nothing more will come. */
                c->ended_with = status;
                c->ended_id = id;
                c->lost = remaining;
                break;
            }
            c->wrong++;
            continue;
        }
        answered[id - first] = 1;
        remaining--;
        if (status == NP_OK) c->ok++;
        else c->shutdown++;
    }
    np_client_close(client);
    return NULL;
}

static struct {
    np_server server;
    atomic_int replied, held;
} i10_receiver;

/* Receives until the stop; replies to every other request and keeps the rest unanswered. */
static void *i10_receive_thread(void *argument)
{
    (void)argument;
    for (unsigned n = 0;; n++) {
        np_request request;
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        np_status status = np_server_receive(i10_receiver.server, 100, &request);
        if (status == NP_E_TIMEOUT) continue;
        if (status != NP_OK) break;
        if (n % 2 == 0) {
            np_status replied = np_server_reply(i10_receiver.server, request.token, request.data, request.length);
            if (replied == NP_OK) atomic_fetch_add(&i10_receiver.replied, 1);
        } else {
            atomic_fetch_add(&i10_receiver.held, 1);
        }
    }
    return NULL;
}

/* One round: clients x in_flight pull requests, max_pending slots, a receiver, then the stop. */
static void i10_round(unsigned clients, unsigned in_flight, unsigned max_pending, uint32_t drain_ms, int receive)
{
    char address[96];
    np_ipc_address(address, sizeof address, "i10");
    np_server_options options = np_ipc_options(address);
    options.max_message_size = 1024;
    options.max_pending = max_pending;
    options.worker_threads = 2;
    np_server server = NP_IPC_SERVER(&options);
    NP_IPC_ROUTE(server, "pull", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));

    atomic_int sent;
    atomic_init(&sent, 0);
    i10_client c[I10_MAX_CLIENTS];
    pthread_t threads[I10_MAX_CLIENTS], receiver;
    memset(c, 0, sizeof c);
    for (unsigned i = 0; i < clients; i++) {
        c[i].address = address;
        c[i].in_flight = in_flight;
        c[i].sent = &sent;
        np_thread_start(&threads[i], i10_client_thread, &c[i]);
    }
    while ((unsigned)atomic_load(&sent) < clients) np_ipc_sleep_ms(1);
    memset(&i10_receiver, 0, sizeof i10_receiver);
    i10_receiver.server = server;
    if (receive) np_thread_start(&receiver, i10_receive_thread, NULL);
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.pending_requests == max_pending, 30);
    NP_ASSERT_OK(np_server_stop(server, drain_ms));
    if (receive) np_thread_join(receiver);
    for (unsigned i = 0; i < clients; i++) np_thread_join(threads[i]);

    unsigned ok = 0, shutdown = 0;
    s = NP_IPC_STATS(server);
    for (unsigned i = 0; i < clients; i++) {
        NP_ASSERT_MSG(c[i].lost == 0 && c[i].wrong == 0,
                      "client %u of %u: %u of %u requests never answered (its wait ended with %s, request id %llu), "
                      "%u answers to ids not outstanding; max_pending %u, drain %u ms; server %s",
                      i, clients, c[i].lost, in_flight, np_status_name(c[i].ended_with),
                      (unsigned long long)c[i].ended_id, c[i].wrong, max_pending, drain_ms, np_ipc_describe(&s));
        ok += c[i].ok;
        shutdown += c[i].shutdown;
    }
    NP_ASSERT_EQ(atomic_load(&i10_receiver.replied), ok);
    NP_ASSERT_EQ(clients * in_flight, ok + shutdown);
    s = NP_IPC_STATS(server);
    NP_ASSERT_MSG(s.requests == clients * in_flight && s.responses == s.requests && s.pending_requests == 0,
                  "after the stop: %s; expected %u requests, each answered once", np_ipc_describe(&s),
                  clients * in_flight);
    np_ipc_destroy(server);
}

static void i10_stop_answers_pull_requests_left_in_rings(void)
{
    np_ipc_cleanup();
    unsigned rounds = NP_SIZE(4, 40);
    for (unsigned round = 0; round < rounds; round++) {
        /* Many clients, many in flight, a receiver replying to half; stop without and with a drain. */
        i10_round(10, 60, 16, round % 2 ? 20 : 0, 1);
        /* Nobody receives: the table fills and the rest wait in the rings. */
        i10_round(4, 20, 8, 0, 0);
    }
    /* The small case: max_pending 3, five sent, two received and not replied, stop(0). */
    for (unsigned round = 0; round < NP_SIZE(10, 100); round++) {
        char address[96];
        np_ipc_address(address, sizeof address, "i10s");
        np_server_options options = np_ipc_options(address);
        options.max_message_size = 1024;
        options.max_pending = 3;
        np_server server = NP_IPC_SERVER(&options);
        NP_IPC_ROUTE(server, "pull", NULL, NULL);
        NP_ASSERT_OK(np_server_start(server));
        atomic_int sent;
        atomic_init(&sent, 0);
        i10_client c;
        memset(&c, 0, sizeof c);
        c.address = address;
        c.in_flight = 5;
        c.sent = &sent;
        pthread_t thread;
        np_thread_start(&thread, i10_client_thread, &c);
        while (atomic_load(&sent) < 1) np_ipc_sleep_ms(1);
        np_server_stats s;
        NP_IPC_WAIT_FOR(server, s, s.pending_requests == 3, 30);
        for (int i = 0; i < 2; i++) {
            np_request request;
            memset(&request, 0, sizeof request);
            request.struct_size = sizeof request;
            NP_ASSERT_OK(np_server_receive(server, 10000, &request));
        }
        NP_ASSERT_OK(np_server_stop(server, 0));
        np_thread_join(thread);
        NP_ASSERT_MSG(c.lost == 0 && c.wrong == 0 && c.shutdown == 5,
                      "round %u: %u of 5 never answered (wait ended with %s, id %llu), %u wrong, %u shutdown", round,
                      c.lost, np_status_name(c.ended_with), (unsigned long long)c.ended_id, c.wrong, c.shutdown);
        s = NP_IPC_STATS(server);
        NP_ASSERT_MSG(s.requests == 5 && s.responses == 5, "round %u: %s", round, np_ipc_describe(&s));
        np_ipc_destroy(server);
    }
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I16 */

/*
 * I16: what one client can make the server hold is bounded. Through a pull route nobody serves,
 * a client pins at most max_client_pending requests and max_client_pending_bytes of server
 * memory (the rest waits in its own ring; client_limit_hits counts each time a client reaches
 * its bound) while other clients' requests still come through; a SIGKILLed client whose handler
 * still runs stops counting as connected at once, so connections_peak never exceeds max_clients.
 */

/* Sends `count` pull requests of `size` bytes whose first byte is `tag`. */
static void i16_send(np_client client, uint32_t route, char tag, unsigned count, uint32_t size)
{
    uint8_t payload[1024];
    memset(payload, tag, sizeof payload);
    for (unsigned i = 0; i < count; i++) {
        uint64_t id = 0;
        NP_ASSERT_OK(np_client_send(client, route, payload, size, &id, 10000));
    }
}

/* Receives every pull request there is now; counts them by tag and keeps their tokens. */
static unsigned i16_receive_all(np_server server, char tag, unsigned *tagged, uint64_t *tokens, unsigned capacity)
{
    unsigned n = 0;
    for (;;) {
        np_request request;
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        np_status status = np_server_receive(server, 0, &request);
        if (status == NP_E_TIMEOUT) break;
        NP_ASSERT_OK(status);
        NP_ASSERT(n < capacity);
        tokens[n++] = request.token;
        if (request.length > 0 && request.data[0] == (uint8_t)tag) (*tagged)++;
    }
    return n;
}

static void i16_bound(uint32_t max_client_pending, uint32_t max_client_pending_bytes, uint32_t size,
                      unsigned expected)
{
    char address[96];
    np_ipc_address(address, sizeof address, "i16");
    np_server_options options = np_ipc_options(address);
    options.max_message_size = 1024;
    options.max_pending = 64;
    options.ring_size = 65536; /* holds all of a client's requests: the bound, not the ring, holds them back */
    options.max_client_pending = max_client_pending;
    options.max_client_pending_bytes = max_client_pending_bytes;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t pull = NP_IPC_ROUTE(server, "pull", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client a = NP_IPC_CONNECT(address), b = NP_IPC_CONNECT(address);
    enum { A_SENDS = 12 };
    i16_send(a, pull, 'A', A_SENDS, size);
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.client_limit_hits >= 1 && s.pending_requests == expected, 10);
    /* B's request comes through although A holds all it may. */
    i16_send(b, pull, 'B', 1, size);
    NP_IPC_WAIT_FOR(server, s, s.pending_requests == expected + 1, 10);
    uint64_t tokens[64];
    unsigned from_b = 0;
    unsigned n = i16_receive_all(server, 'B', &from_b, tokens, 64);
    NP_ASSERT_EQ(1, from_b);
    NP_ASSERT_MSG(n - from_b == expected, "client A pins %u pending requests of %u bytes; its bound is %u (max %u, %u bytes)",
                  n - from_b, size, expected, max_client_pending, max_client_pending_bytes);
    /* Answering frees A's share: the rest of its requests follow, each answered once. */
    unsigned answered_a = 0;
    for (unsigned i = 0; i < n; i++) NP_ASSERT_OK(np_server_reply(server, tokens[i], "r", 1));
    answered_a = n - from_b;
    while (answered_a < A_SENDS) {
        np_request request;
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        NP_ASSERT_OK(np_server_receive(server, 10000, &request));
        NP_ASSERT_OK(np_server_reply(server, request.token, "r", 1));
        answered_a++;
    }
    char response[8];
    uint32_t length = 0;
    for (unsigned i = 0; i < A_SENDS; i++) {
        uint64_t id = 0;
        NP_ASSERT_OK(np_client_receive(a, &id, response, sizeof response, &length, 10000));
    }
    uint64_t id_b = 0;
    NP_ASSERT_OK(np_client_receive(b, &id_b, response, sizeof response, &length, 10000));
    np_ipc_close(a);
    np_ipc_close(b);
    np_ipc_destroy(server);
}

static volatile int i16_release;
static atomic_int i16_entered;

/* Handler of "never": blocks until the test releases it. */
static np_status i16_blocking_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                                      uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    (void)request;
    (void)request_length;
    (void)response;
    (void)response_capacity;
    atomic_fetch_add(&i16_entered, 1);
    while (!__atomic_load_n(&i16_release, __ATOMIC_ACQUIRE)) np_ipc_sleep_ms(1);
    *response_length = 0;
    return NP_OK;
}

static void i16_per_client_bounds(void)
{
    np_ipc_cleanup();
    i16_bound(3, 0, 16, 3);          /* count bound */
    i16_bound(0, 3000, 1000, 3);     /* bytes bound: three of 1000 bytes fit 3000 */
    i16_bound(0, 100, 1000, 1);      /* one request always fits, however large */

    /* A client killed while its handler runs stops counting at once. */
    char address[96];
    np_ipc_address(address, sizeof address, "i16k");
    np_server_options options = np_ipc_options(address);
    options.max_clients = 1;
    options.worker_threads = 2;
    np_server server = NP_IPC_SERVER(&options);
    NP_IPC_ROUTE(server, "never", i16_blocking_handler, NULL);
    NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));
    __atomic_store_n(&i16_release, 0, __ATOMIC_RELEASE);
    atomic_store(&i16_entered, 0);
    np_ipc_child child;
    char line[64];
    NP_IPC_SPAWN(&child, "i03-blocked", address, "K");
    NP_IPC_CHILD_LINE(&child, "calling", 30, line, sizeof line);
    while (atomic_load(&i16_entered) == 0) np_ipc_sleep_ms(1);
    np_ipc_child_kill(&child);
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0, 10);
    np_client next = NP_IPC_CONNECT(address);
    uint32_t echo = NP_IPC_RESOLVE(next, "echo");
    char response[16];
    uint32_t length = 0;
    /* The first worker is busy in the handler; the echo may need the second. */
    NP_ASSERT_OK(np_client_call(next, echo, "hi", 2, response, sizeof response, &length, 10000));
    s = NP_IPC_STATS(server);
    NP_ASSERT_MSG(s.connections_now == 1 && s.connections_peak <= 1, "max_clients 1: %s", np_ipc_describe(&s));
    __atomic_store_n(&i16_release, 1, __ATOMIC_RELEASE);
    np_ipc_close(next);

    /* Callers built against the structs before the bounds were appended still work. */
    union {
        np_server_stats stats;
        uint8_t bytes[sizeof(np_server_stats) + 8];
    } old_stats;
    memset(&old_stats, 0xAB, sizeof old_stats);
    old_stats.stats.struct_size = (uint32_t)offsetof(np_server_stats, client_limit_hits);
    NP_ASSERT_OK(np_server_get_stats(server, &old_stats.stats));
    NP_ASSERT_EQ(1, old_stats.stats.connections_total > 0);
    for (size_t i = offsetof(np_server_stats, client_limit_hits); i < sizeof old_stats; i++)
        NP_ASSERT_MSG(old_stats.bytes[i] == 0xAB, "np_server_get_stats wrote byte %zu beyond the old struct", i);
    np_ipc_destroy(server);
    np_ipc_address(address, sizeof address, "i16o");
    options = np_ipc_options(address);
    options.struct_size = (uint32_t)offsetof(np_server_options, max_client_pending);
    options.max_client_pending = 0xFFFFFFFFu; /* beyond the old struct: must not be read */
    np_server old = 0;
    NP_ASSERT_OK(np_server_create(&options, &old));
    NP_ASSERT_OK(np_server_destroy(old));
    np_ipc_cleanup();
}

static const np_test_case cases[] = {
    {"I03", "client_killed_mid_call_is_dropped_others_served", i03_client_killed_mid_call},
    {"I04", "server_killed_blocked_calls_return_peer_gone", i04_server_killed_blocked_calls_return_peer_gone},
    {"I05", "stop_with_calls_in_flight_each_gets_answer_or_shutdown", i05_stop_with_calls_in_flight},
    {"I06", "hostile_client_garbage_drops_only_its_connection", i06_hostile_client_garbage_in_shared_memory},
    {"I10", "stop_answers_pull_requests_left_in_rings_exactly_once", i10_stop_answers_pull_requests_left_in_rings},
    {"I16", "per_client_bounds_on_pending_requests_bytes_and_connections", i16_per_client_bounds},
};

const np_test_suite np_suite_ipc_faults = {"ipc_faults", cases, NP_COUNT_OF(cases)};
