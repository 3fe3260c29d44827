/*
 * The IPC API in one process, I07-I09.
 *
 * I07 the bad-input table: every IPC export with NULL pointers, 0 / garbage / stale / wrong-kind
 *     handles, unknown route ids, oversize messages, zero timeouts, buffers too small, wrong
 *     struct sizes, calls in the wrong state, spent tokens, and socket directories that are not
 *     private. Each row asserts the exact status, np_last_error_status(), and a detail message
 *     that this call set (a marker detail is recorded before each row). Each recoverable misuse
 *     is followed by a call that works.
 * I08 pipelining and zero copy: 1,000 requests in flight on a handler route and on a pull route
 *     (answered in reverse order), matched by request id; claim/commit with a shorter final
 *     length, the maximum and zero; abort sends nothing; a window of 2,000 sends through a ring
 *     that holds about 60, with timed-out sends as flow control.
 * I09 handler errors (a negative status, a length beyond the buffer) become NP_E_HANDLER_FAILED
 *     with the status in the detail; a pull route served by 4 threads for 8 client threads, with
 *     error replies mixed in; the per-route and server counters equal what was sent.
 * I11 handler returns and pull error replies with statuses the transport uses itself (unknown
 *     route, shutdown, protocol) still reach the client as NP_E_HANDLER_FAILED naming the code;
 *     max_message_size 1-3 is refused at create; a timeout's detail reads well.
 */
#include "np_ipc_support.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ I07 */

#define MARKER_HANDLE 0x7E57000000000001ULL
#define GARBAGE_HANDLE 0xDEADBEEFCAFEF00DULL

static char marker_detail[256];
static unsigned rows_checked;

/* Records a failure whose detail no row can produce, so each row must set its own. */
static void set_marker(void)
{
    np_pool_destroy(MARKER_HANDLE);
    if (marker_detail[0] == '\0') np_last_error_message(marker_detail, sizeof marker_detail);
}

static void bad_row_at(const char *file, int line, const char *text, np_status expected, np_status actual)
{
    if (actual != expected) np_test_fail_status(file, line, text, expected, actual);
    char detail[512];
    size_t length = np_last_error_message(detail, sizeof detail);
    if (np_last_error_status() != expected)
        np_test_fail(file, line, "%s: np_last_error_status() is %s, expected %s", text,
                     np_status_name(np_last_error_status()), np_status_name(expected));
    if (length == 0 || detail[0] == '\0') np_test_fail(file, line, "%s: empty detail message", text);
    if (strcmp(detail, marker_detail) == 0) np_test_fail(file, line, "%s: the call set no detail of its own", text);
    rows_checked++;
}

/* One row: the call returns `expected` and sets its own non-empty detail. */
#define BAD(expected, call) bad_row_at(__FILE__, __LINE__, #call, (expected), (set_marker(), (call)))

/* A handler that tries to stop and destroy its own server. */
static struct {
    np_server server;
    np_status stop, destroy;
    char stop_detail[256], destroy_detail[256];
} stopper;

static np_status stop_from_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                                   uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    (void)request;
    (void)request_length;
    (void)response_capacity;
    stopper.stop = np_server_stop(stopper.server, 0);
    np_last_error_message(stopper.stop_detail, sizeof stopper.stop_detail);
    stopper.destroy = np_server_destroy(stopper.server);
    np_last_error_message(stopper.destroy_detail, sizeof stopper.destroy_detail);
    memcpy(response, "tried", 5);
    *response_length = 5;
    return NP_OK;
}

/* A responder for one pull request: checks the request text and answers with `answer`. */
typedef struct pull_responder {
    np_server server;
    const char *expect, *answer;
} pull_responder;

static void *answer_one_pull(void *argument)
{
    pull_responder *r = argument;
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    NP_ASSERT_OK(np_server_receive(r->server, 10000, &request));
    NP_ASSERT_EQ(strlen(r->expect), request.length);
    NP_ASSERT(memcmp(request.data, r->expect, request.length) == 0);
    NP_ASSERT_OK(np_server_reply(r->server, request.token, r->answer, (uint32_t)strlen(r->answer)));
    return NULL;
}

/* A call on `route` that must come back as `answer` (an echo when answer is the request). */
static void call_expect(np_client client, uint32_t route, const char *request, const char *answer)
{
    char response[256];
    uint32_t length = 0;
    NP_ASSERT_OK(np_client_call(client, route, request, (uint32_t)strlen(request), response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(strlen(answer), length);
    NP_ASSERT(memcmp(response, answer, length) == 0);
}

static void make_dir(const char *path, mode_t mode)
{
    NP_ASSERT_MSG(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s: errno %d", path, errno);
    NP_ASSERT_MSG(chmod(path, mode) == 0, "chmod %s: errno %d", path, errno);
}

static void i07_private_directories(np_pool pool)
{
    char base[128], open_dir[160], group_dir[160], fresh_dir[160], file_path[160], address[200];
    snprintf(base, sizeof base, "/tmp/np-c-i07-%d", (int)getpid());
    snprintf(open_dir, sizeof open_dir, "%s/open", base);
    snprintf(group_dir, sizeof group_dir, "%s/group", base);
    snprintf(fresh_dir, sizeof fresh_dir, "%s/fresh", base);
    snprintf(file_path, sizeof file_path, "%s/file", base);
    make_dir(base, 0700);
    make_dir(open_dir, 0755);
    make_dir(group_dir, 0710);
    FILE *f = fopen(file_path, "w");
    NP_ASSERT_NOT_NULL(f);
    fclose(f);
    (void)pool;

    /* A directory others can enter is refused at start: anyone there could reach the socket. */
    const char *refused[] = {open_dir, group_dir};
    for (int i = 0; i < 2; i++) {
        snprintf(address, sizeof address, "%s/s.sock", refused[i]);
        np_server_options options = np_ipc_options(address);
        np_server server = NP_IPC_SERVER(&options);
        BAD(NP_E_PERMISSION_DENIED, np_server_start(server));
        np_ipc_destroy(server);
    }
    /* A "directory" that is a file. */
    snprintf(address, sizeof address, "%s/s.sock", file_path);
    {
        np_server_options options = np_ipc_options(address);
        np_server server = NP_IPC_SERVER(&options);
        BAD(NP_E_INVALID_ARGUMENT, np_server_start(server));
        np_ipc_destroy(server);
    }
    /* A missing directory is created 0700, and the socket there works. */
    snprintf(address, sizeof address, "%s/s.sock", fresh_dir);
    np_server_options options = np_ipc_options(address);
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));
    struct stat st;
    NP_ASSERT_MSG(stat(fresh_dir, &st) == 0, "the socket directory was not created (errno %d)", errno);
    NP_ASSERT(S_ISDIR(st.st_mode));
    NP_ASSERT_EQ(0700, st.st_mode & 07777);
    NP_ASSERT_EQ(geteuid(), st.st_uid);
    NP_ASSERT_MSG(stat(address, &st) == 0 && S_ISSOCK(st.st_mode), "no socket at %s", address);
    np_client client = NP_IPC_CONNECT(address);
    NP_ASSERT_EQ(echo, NP_IPC_RESOLVE(client, "echo"));
    call_expect(client, echo, "over a path", "over a path");
    np_ipc_close(client);
    NP_ASSERT_OK(np_server_stop(server, 1000));
    NP_ASSERT_MSG(stat(address, &st) != 0 && errno == ENOENT, "the socket file outlived the stop");
    np_ipc_destroy(server);
    rmdir(fresh_dir);
    rmdir(open_dir);
    rmdir(group_dir);
    unlink(file_path);
    rmdir(base);
}

static void i07_bad_input_table(void)
{
    np_ipc_cleanup();
    rows_checked = 0;
    marker_detail[0] = '\0';
    set_marker();
    NP_ASSERT_MSG(marker_detail[0] != '\0', "the marker call set no detail");

    char address[96], other_address[96], long_address[200];
    np_ipc_address(address, sizeof address, "i07");
    np_ipc_address(other_address, sizeof other_address, "i07-none");
    np_pool pool = NP_MAKE_SIZED_POOL(64, 0, 0, 0);
    np_server server = 0, h = 7;
    np_client client = 7;

    /* ---- options and create */
    np_server_options o = np_ipc_options(address);
    BAD(NP_E_NULL_POINTER, np_server_options_init(NULL));
    BAD(NP_E_NULL_POINTER, np_server_create(NULL, &h));
    NP_ASSERT_EQ(0, h);
    BAD(NP_E_NULL_POINTER, np_server_create(&o, NULL));
    o.struct_size = 0;
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_create(&o, &h));
    o.struct_size = sizeof o - 4; /* sizeof o - 8 is the size before the per-client bounds, accepted */
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_create(&o, &h));
    o.struct_size = sizeof o + 8;
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_create(&o, &h));
    o = np_ipc_options(NULL);
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o.address = "";
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o.address = "@";
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    memset(long_address, 'x', sizeof long_address);
    long_address[0] = '@';
    long_address[108] = '\0'; /* 108 bytes: one more than sun_path holds with the leading NUL */
    o.address = long_address;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    long_address[0] = '/';
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    long_address[0] = '@';
    long_address[107] = '\0'; /* 107 bytes: the longest that fits */
    NP_ASSERT_OK(np_server_create(&o, &h));
    NP_ASSERT_OK(np_server_destroy(h));
    o = np_ipc_options(address);
    o.ring_size = 5000;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o.ring_size = 2048;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o.ring_size = 1u << 31;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o.ring_size = 4096;
    o.max_message_size = 4096; /* a record is 16 bytes of header more than its payload */
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.max_message_size = NP_MAX_MESSAGE_SIZE + 1;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.worker_threads = 65;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.max_clients = 65537;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.max_pending = (1u << 22) + 1;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.spin_us = 1000001;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    o = np_ipc_options(address);
    o.allowed_uid_count = 1;
    BAD(NP_E_NULL_POINTER, np_server_create(&o, &h));
    o.allowed_uid_count = 5000;
    BAD(NP_E_INVALID_ARGUMENT, np_server_create(&o, &h));
    NP_ASSERT_EQ(0, h);

    /* ---- the fixture: a started server, a created one, a destroyed one */
    o = np_ipc_options(address);
    o.max_message_size = 4096;
    server = NP_IPC_SERVER(&o);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    uint32_t pull = NP_IPC_ROUTE(server, "pull", NULL, NULL);
    memset(&stopper, 0, sizeof stopper);
    stopper.server = server;
    uint32_t stop_route = NP_IPC_ROUTE(server, "stopper", stop_from_handler, NULL);
    char name56[57], name57[58];
    memset(name56, 'n', 56);
    name56[56] = '\0';
    memset(name57, 'n', 57);
    name57[57] = '\0';
    uint32_t id = 0;
    NP_ASSERT_OK(np_server_add_route(server, name56, np_ipc_echo_handler, NULL, &id)); /* the longest name */
    BAD(NP_E_INVALID_ARGUMENT, np_server_add_route(server, name57, np_ipc_echo_handler, NULL, &id));
    BAD(NP_E_INVALID_ARGUMENT, np_server_add_route(server, "", np_ipc_echo_handler, NULL, &id));
    BAD(NP_E_INVALID_ARGUMENT, np_server_add_route(server, "echo", NULL, NULL, &id));
    NP_ASSERT_EQ(0, id);
    BAD(NP_E_NULL_POINTER, np_server_add_route(server, NULL, np_ipc_echo_handler, NULL, &id));
    BAD(NP_E_NULL_POINTER, np_server_add_route(server, "x", np_ipc_echo_handler, NULL, NULL));
    BAD(NP_E_INVALID_HANDLE, np_server_add_route(0, "x", np_ipc_echo_handler, NULL, &id));
    BAD(NP_E_INVALID_HANDLE, np_server_add_route(GARBAGE_HANDLE, "x", np_ipc_echo_handler, NULL, &id));
    BAD(NP_E_INVALID_HANDLE, np_server_add_route(pool, "x", np_ipc_echo_handler, NULL, &id));
    np_request r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    BAD(NP_E_INVALID_STATE, np_server_receive(server, 0, &r));

    np_server stale_server = NP_IPC_SERVER(&o);
    np_ipc_destroy(stale_server);
    BAD(NP_E_INVALID_HANDLE, np_server_add_route(stale_server, "x", NULL, NULL, &id));
    BAD(NP_E_INVALID_HANDLE, np_server_start(stale_server));
    BAD(NP_E_INVALID_HANDLE, np_server_start(0));
    BAD(NP_E_INVALID_HANDLE, np_server_start(pool));

    NP_ASSERT_OK(np_server_start(server));
    BAD(NP_E_INVALID_STATE, np_server_start(server));
    BAD(NP_E_INVALID_STATE, np_server_add_route(server, "late", np_ipc_echo_handler, NULL, &id));
    {
        np_server twin = NP_IPC_SERVER(&o);
        BAD(NP_E_ADDRESS_IN_USE, np_server_start(twin));
        np_ipc_destroy(twin);
    }

    /* ---- clients: connect */
    BAD(NP_E_NULL_POINTER, np_client_connect(NULL, 0, &client));
    NP_ASSERT_EQ(0, client);
    BAD(NP_E_NULL_POINTER, np_client_connect(address, 0, NULL));
    BAD(NP_E_INVALID_ARGUMENT, np_client_connect("", 0, &client));
    BAD(NP_E_INVALID_ARGUMENT, np_client_connect("@", 0, &client));
    long_address[107] = 'x';
    long_address[108] = '\0';
    BAD(NP_E_INVALID_ARGUMENT, np_client_connect(long_address, 0, &client));
    BAD(NP_E_TIMEOUT, np_client_connect(other_address, 0, &client));
    BAD(NP_E_TIMEOUT, np_client_connect(other_address, 100, &client));
    NP_ASSERT_EQ(0, client);
    {
        char full_address[96];
        np_ipc_address(full_address, sizeof full_address, "i07-full");
        np_server_options fo = np_ipc_options(full_address);
        fo.max_clients = 1;
        np_server full = NP_IPC_SERVER(&fo);
        NP_IPC_ROUTE(full, "echo", np_ipc_echo_handler, NULL);
        NP_ASSERT_OK(np_server_start(full));
        np_client first = NP_IPC_CONNECT(full_address);
        BAD(NP_E_SERVER_FULL, np_client_connect(full_address, 1000, &client));
        NP_ASSERT_EQ(0, client);
        np_ipc_close(first);
        np_ipc_destroy(full);
    }

    client = NP_IPC_CONNECT(address);
    np_client stale_client = NP_IPC_CONNECT(address);
    np_ipc_close(stale_client);
    uint32_t max = 0;
    NP_ASSERT_OK(np_client_max_message_size(client, &max));
    NP_ASSERT_EQ(4096, max);
    uint32_t no_max = 7;
    BAD(NP_E_NULL_POINTER, np_client_max_message_size(client, NULL));
    BAD(NP_E_INVALID_HANDLE, np_client_max_message_size(0, &no_max));
    BAD(NP_E_INVALID_HANDLE, np_client_max_message_size(server, &no_max));
    NP_ASSERT_EQ(0, no_max); /* outputs are cleared on failure */

    /* ---- resolve */
    NP_ASSERT_EQ(echo, NP_IPC_RESOLVE(client, "echo"));
    NP_ASSERT_EQ(pull, NP_IPC_RESOLVE(client, "pull"));
    BAD(NP_E_UNKNOWN_ROUTE, np_client_resolve(client, "nope", &id));
    NP_ASSERT_EQ(0, id);
    BAD(NP_E_UNKNOWN_ROUTE, np_client_resolve(client, "", &id));
    BAD(NP_E_UNKNOWN_ROUTE, np_client_resolve(client, "ECHO", &id));
    BAD(NP_E_NULL_POINTER, np_client_resolve(client, NULL, &id));
    BAD(NP_E_NULL_POINTER, np_client_resolve(client, "echo", NULL));
    BAD(NP_E_INVALID_HANDLE, np_client_resolve(0, "echo", &id));
    BAD(NP_E_INVALID_HANDLE, np_client_resolve(GARBAGE_HANDLE, "echo", &id));
    BAD(NP_E_INVALID_HANDLE, np_client_resolve(stale_client, "echo", &id));
    BAD(NP_E_INVALID_HANDLE, np_client_resolve(server, "echo", &id));
    BAD(NP_E_INVALID_HANDLE, np_client_resolve(pool, "echo", &id));

    /* ---- call: pointers, handles, routes */
    char response[256];
    uint32_t length = 0;
    uint64_t request_id = 0;
    BAD(NP_E_UNKNOWN_ROUTE, np_client_call(client, 0, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_UNKNOWN_ROUTE, np_client_call(client, 99, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_NULL_POINTER, np_client_call(client, echo, "x", 1, response, sizeof response, NULL, 1000));
    BAD(NP_E_NULL_POINTER, np_client_call(client, echo, NULL, 5, response, sizeof response, &length, 1000));
    BAD(NP_E_NULL_POINTER, np_client_call(client, echo, "x", 1, NULL, 16, &length, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_call(0, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_call(GARBAGE_HANDLE, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_call(stale_client, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_call(server, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_call(pool, echo, "x", 1, response, sizeof response, &length, 1000));
    call_expect(client, echo, "works", "works");
    /* An empty request with no response buffer is fine. */
    NP_ASSERT_OK(np_client_call(client, echo, NULL, 0, NULL, 0, &length, 10000));
    NP_ASSERT_EQ(0, length);

    /* ---- oversize: refused before anything is sent, and the connection stays usable */
    np_server_stats before = NP_IPC_STATS(server);
    uint8_t *big = calloc(1, max + 1);
    NP_ASSERT_NOT_NULL(big);
    void *claimed = NULL;
    BAD(NP_E_MESSAGE_TOO_LARGE, np_client_call(client, echo, big, max + 1, response, sizeof response, &length, 1000));
    BAD(NP_E_MESSAGE_TOO_LARGE, np_client_send(client, echo, big, max + 1, &request_id, 1000));
    BAD(NP_E_MESSAGE_TOO_LARGE, np_client_claim(client, echo, max + 1, &claimed, 1000));
    NP_ASSERT_PTR_EQ(NULL, claimed);
    NP_ASSERT_EQ(before.requests, NP_IPC_STATS(server).requests);
    NP_ASSERT_OK(np_client_call(client, echo, big, max, big, max, &length, 10000)); /* the maximum itself passes */
    NP_ASSERT_EQ(max, length);
    call_expect(client, echo, "after oversize", "after oversize");

    /* ---- a response larger than the buffer: reported with its size, stays queued */
    char hundred[100];
    np_ipc_payload_fill((uint8_t *)hundred, 100, 7, 1);
    BAD(NP_E_BUFFER_TOO_SMALL, np_client_call(client, echo, hundred, 100, response, 10, &length, 10000));
    NP_ASSERT_EQ(100, length);
    BAD(NP_E_INVALID_STATE, np_client_call(client, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_BUFFER_TOO_SMALL, np_client_receive(client, &request_id, response, 99, &length, 1000));
    NP_ASSERT_EQ(100, length);
    NP_ASSERT_OK(np_client_receive(client, &request_id, response, sizeof response, &length, 1000));
    NP_ASSERT_EQ(100, length);
    NP_ASSERT_CMP(request_id, >, 0);
    NP_ASSERT(memcmp(response, hundred, 100) == 0);
    call_expect(client, echo, "after too small", "after too small");

    /* ---- receive: state, pointers, zero timeout */
    BAD(NP_E_INVALID_STATE, np_client_receive(client, &request_id, response, sizeof response, &length, 0));
    BAD(NP_E_NULL_POINTER, np_client_receive(client, NULL, response, sizeof response, &length, 0));
    BAD(NP_E_NULL_POINTER, np_client_receive(client, &request_id, response, sizeof response, NULL, 0));
    BAD(NP_E_NULL_POINTER, np_client_receive(client, &request_id, NULL, 16, &length, 0));
    BAD(NP_E_INVALID_HANDLE, np_client_receive(stale_client, &request_id, response, sizeof response, &length, 0));
    BAD(NP_E_NULL_POINTER, np_client_send(client, echo, "x", 1, NULL, 1000));
    BAD(NP_E_NULL_POINTER, np_client_send(client, echo, NULL, 1, &request_id, 1000));
    BAD(NP_E_UNKNOWN_ROUTE, np_client_send(client, 77, "x", 1, &request_id, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_send(pool, echo, "x", 1, &request_id, 1000));
    uint64_t sent = 0;
    NP_ASSERT_OK(np_client_send(client, pull, "C", 1, &sent, 1000));
    BAD(NP_E_TIMEOUT, np_client_receive(client, &request_id, response, sizeof response, &length, 0));
    BAD(NP_E_INVALID_STATE, np_client_call(client, echo, "x", 1, response, sizeof response, &length, 1000));
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    NP_ASSERT_OK(np_server_receive(server, 10000, &r));
    NP_ASSERT_EQ(pull, r.route_id);
    NP_ASSERT_OK(np_server_reply(server, r.token, "answer-C", 8));
    NP_ASSERT_OK(np_client_receive(client, &request_id, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(sent, request_id);
    NP_ASSERT_EQ(8, length);

    /* ---- zero timeout on a call nobody answers: NP_E_TIMEOUT, and the late answer is dropped */
    BAD(NP_E_TIMEOUT, np_client_call(client, pull, "A", 1, response, sizeof response, &length, 0));
    NP_ASSERT_OK(np_server_receive(server, 10000, &r));
    NP_ASSERT(r.length == 1 && r.data[0] == 'A');
    NP_ASSERT_OK(np_server_reply(server, r.token, "late-A", 6));
    pull_responder responder = {server, "B", "answer-B"};
    pthread_t thread;
    np_thread_start(&thread, answer_one_pull, &responder);
    call_expect(client, pull, "B", "answer-B");
    np_thread_join(thread);
    np_test_stop_if_failed();

    /* ---- the server side: receive and reply */
    BAD(NP_E_NULL_POINTER, np_server_receive(server, 0, NULL));
    r.struct_size = 0;
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_receive(server, 0, &r));
    r.struct_size = sizeof r + 4;
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_receive(server, 0, &r));
    r.struct_size = sizeof r;
    BAD(NP_E_TIMEOUT, np_server_receive(server, 0, &r));
    BAD(NP_E_TIMEOUT, np_server_receive(server, 20, &r));
    BAD(NP_E_INVALID_HANDLE, np_server_receive(stale_server, 0, &r));
    BAD(NP_E_INVALID_HANDLE, np_server_receive(pool, 0, &r));
    BAD(NP_E_INVALID_HANDLE, np_server_receive(client, 0, &r));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply(server, 0, "x", 1));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply(server, 0x123456789ULL, "x", 1));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply_error(server, 0x123456789ULL, -5));
    BAD(NP_E_INVALID_HANDLE, np_server_reply(stale_server, 1, "x", 1));
    BAD(NP_E_INVALID_HANDLE, np_server_reply_error(0, 1, -5));
    NP_ASSERT_OK(np_client_send(client, pull, "T", 1, &sent, 1000));
    NP_ASSERT_OK(np_server_receive(server, 10000, &r));
    uint64_t token = r.token;
    /* Rejected replies do not spend the token. */
    BAD(NP_E_NULL_POINTER, np_server_reply(server, token, NULL, 5));
    BAD(NP_E_MESSAGE_TOO_LARGE, np_server_reply(server, token, big, max + 1));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply_error(server, token, 0));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply_error(server, token, 5));
    NP_ASSERT_OK(np_server_reply(server, token, "ok", 2));
    /* A spent token. */
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply(server, token, "again", 5));
    BAD(NP_E_INVALID_ARGUMENT, np_server_reply_error(server, token, -5));
    NP_ASSERT_OK(np_client_receive(client, &request_id, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(sent, request_id);
    NP_ASSERT(length == 2 && memcmp(response, "ok", 2) == 0);

    /* ---- zero copy: claim, commit, abort */
    BAD(NP_E_INVALID_STATE, np_client_commit(client, 1, &request_id));
    BAD(NP_E_INVALID_STATE, np_client_abort(client));
    BAD(NP_E_NULL_POINTER, np_client_claim(client, echo, 10, NULL, 1000));
    BAD(NP_E_UNKNOWN_ROUTE, np_client_claim(client, 0, 10, &claimed, 1000));
    BAD(NP_E_INVALID_HANDLE, np_client_claim(0, echo, 10, &claimed, 1000));
    NP_ASSERT_OK(np_client_claim(client, echo, 10, &claimed, 1000));
    NP_ASSERT_NOT_NULL(claimed);
    void *second = NULL;
    BAD(NP_E_INVALID_STATE, np_client_claim(client, echo, 10, &second, 1000));
    BAD(NP_E_INVALID_STATE, np_client_send(client, echo, "x", 1, &request_id, 1000));
    BAD(NP_E_INVALID_STATE, np_client_call(client, echo, "x", 1, response, sizeof response, &length, 1000));
    BAD(NP_E_INVALID_ARGUMENT, np_client_commit(client, 11, &request_id));
    BAD(NP_E_NULL_POINTER, np_client_commit(client, 5, NULL));
    BAD(NP_E_INVALID_HANDLE, np_client_commit(stale_client, 5, &request_id));
    BAD(NP_E_INVALID_HANDLE, np_client_abort(pool));
    memcpy(claimed, "claim", 5);
    NP_ASSERT_OK(np_client_commit(client, 5, &sent));
    NP_ASSERT_OK(np_client_receive(client, &request_id, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(sent, request_id);
    NP_ASSERT(length == 5 && memcmp(response, "claim", 5) == 0);

    /* ---- stats */
    np_server_stats st;
    memset(&st, 0, sizeof st);
    BAD(NP_E_NULL_POINTER, np_server_get_stats(server, NULL));
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_get_stats(server, &st));
    st.struct_size = sizeof st - 4; /* sizeof st - 8 is the size before client_limit_hits, accepted */
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_get_stats(server, &st));
    st.struct_size = sizeof st;
    BAD(NP_E_INVALID_HANDLE, np_server_get_stats(stale_server, &st));
    BAD(NP_E_INVALID_HANDLE, np_server_get_stats(client, &st));
    BAD(NP_E_INVALID_HANDLE, np_server_get_stats(0, &st));
    np_route_stats rs;
    memset(&rs, 0, sizeof rs);
    rs.struct_size = sizeof rs;
    BAD(NP_E_UNKNOWN_ROUTE, np_server_get_route_stats(server, 0, &rs));
    BAD(NP_E_UNKNOWN_ROUTE, np_server_get_route_stats(server, 99, &rs));
    BAD(NP_E_NULL_POINTER, np_server_get_route_stats(server, echo, NULL));
    rs.struct_size = 8;
    BAD(NP_E_UNSUPPORTED_STRUCT_SIZE, np_server_get_route_stats(server, echo, &rs));
    rs.struct_size = sizeof rs;
    BAD(NP_E_INVALID_HANDLE, np_server_get_route_stats(pool, echo, &rs));

    /* ---- stop and destroy: bad handles, and from a handler of the same server */
    BAD(NP_E_INVALID_HANDLE, np_server_stop(0, 0));
    BAD(NP_E_INVALID_HANDLE, np_server_stop(GARBAGE_HANDLE, 0));
    BAD(NP_E_INVALID_HANDLE, np_server_stop(client, 0));
    BAD(NP_E_INVALID_HANDLE, np_server_destroy(GARBAGE_HANDLE));
    BAD(NP_E_INVALID_HANDLE, np_server_destroy(stale_server));
    BAD(NP_E_INVALID_HANDLE, np_server_destroy(pool));
    BAD(NP_E_INVALID_HANDLE, np_server_destroy(client));
    NP_ASSERT_OK(np_server_destroy(0));
    NP_ASSERT_EQ(stop_route, NP_IPC_RESOLVE(client, "stopper"));
    call_expect(client, stop_route, "stop yourself", "tried");
    NP_ASSERT_STATUS(NP_E_INVALID_STATE, stopper.stop);
    NP_ASSERT_STATUS(NP_E_INVALID_STATE, stopper.destroy);
    NP_ASSERT_MSG(stopper.stop_detail[0] != '\0' && stopper.destroy_detail[0] != '\0', "no detail on the worker thread");
    rows_checked += 2;
    call_expect(client, echo, "still running", "still running");

    /* ---- close */
    BAD(NP_E_INVALID_HANDLE, np_client_close(GARBAGE_HANDLE));
    BAD(NP_E_INVALID_HANDLE, np_client_close(stale_client));
    BAD(NP_E_INVALID_HANDLE, np_client_close(server));
    BAD(NP_E_INVALID_HANDLE, np_client_close(pool));
    NP_ASSERT_OK(np_client_close(0));

    /* The wrong-kind handles hurt nobody: the pool, the server and the client all still work. */
    void *block = NULL;
    NP_ASSERT_OK(np_pool_alloc(pool, &block));
    NP_ASSERT_OK(np_pool_free(pool, block));
    call_expect(client, echo, "the end", "the end");
    np_server_stats s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(0, s.pending_requests);
    NP_ASSERT_EQ(1, s.connections_now);

    i07_private_directories(pool);

    np_ipc_close(client);
    np_ipc_destroy(server);
    BAD(NP_E_INVALID_HANDLE, np_server_get_stats(server, &st));
    NP_DESTROY_POOL(pool);
    free(big);
    printf("   I07: %u bad-input rows, each with its exact status and its own detail\n", rows_checked);
    np_ipc_cleanup();
}

/* ---- I07: the late answers of many timed-out calls
 *
 * np_client_call() with a timeout that expires returns NP_E_TIMEOUT and promises to drop the late
 * answer. Here a client times out on `late` calls of a pull route, the server then answers every
 * one of them, and the client's next requests must get their own answers: by np_client_call() on
 * one client, by np_client_send() + np_client_receive() on another. */

static struct {
    np_server server;
    const char *address;
    uint32_t late;
} i07_late;

/* Makes `late` calls that time out at once, then has the server answer them all. */
static np_client i07_time_out_calls(uint32_t *echo)
{
    np_client client = NP_IPC_CONNECT(i07_late.address);
    uint32_t pull = NP_IPC_RESOLVE(client, "pull");
    *echo = NP_IPC_RESOLVE(client, "echo");
    char response[64];
    uint32_t length = 0;
    for (uint32_t i = 0; i < i07_late.late; i++)
        NP_ASSERT_STATUS(NP_E_TIMEOUT, np_client_call(client, pull, &i, sizeof i, response, sizeof response, &length, 0));
    np_request r;
    for (uint32_t i = 0; i < i07_late.late; i++) {
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        NP_ASSERT_OK(np_server_receive(i07_late.server, 10000, &r));
        NP_ASSERT_OK(np_server_reply(i07_late.server, r.token, "late", 4));
    }
    return client;
}

static void *i07_late_then_call(void *argument)
{
    (void)argument;
    uint32_t echo;
    np_client client = i07_time_out_calls(&echo);
    call_expect(client, echo, "my own answer", "my own answer");
    call_expect(client, echo, "and the next", "and the next");
    return NULL;
}

static void *i07_late_then_pipeline(void *argument)
{
    (void)argument;
    uint32_t echo, length = 0;
    np_client client = i07_time_out_calls(&echo);
    uint64_t sent = 0, got = 0;
    char response[64];
    NP_ASSERT_OK(np_client_send(client, echo, "pipelined", 9, &sent, 10000));
    NP_ASSERT_OK(np_client_receive(client, &got, response, sizeof response, &length, 10000));
    NP_ASSERT_MSG(got == sent && length == 9 && memcmp(response, "pipelined", 9) == 0,
                  "np_client_receive returned request id %llu (\"%.*s\") for the send of id %llu",
                  (unsigned long long)got, (int)length, response, (unsigned long long)sent);
    return NULL;
}

static void i07_late_answers_of_timed_out_calls_are_dropped(void)
{
    np_ipc_cleanup();
    char address[96];
    np_ipc_address(address, sizeof address, "i07-late");
    np_server_options options = np_ipc_options(address);
    np_server server = NP_IPC_SERVER(&options);
    NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_IPC_ROUTE(server, "pull", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));
    i07_late.server = server;
    i07_late.address = address;
    i07_late.late = NP_SIZE(100, 1000);
    /* Each check on its own thread, so both report even when the first fails. */
    pthread_t thread;
    np_thread_start(&thread, i07_late_then_call, NULL);
    np_thread_join(thread);
    np_thread_start(&thread, i07_late_then_pipeline, NULL);
    np_thread_join(thread);
    np_test_stop_if_failed();
    np_server_stats s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.protocol_errors);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I08 */

enum { I08_IN_FLIGHT = 1000, I08_PAYLOAD = 40, I08_RING = 64 * 1024, I08_MAX = 4096, I08_WINDOW_CALLS = 2000 };

static void i08_check_echo(const uint8_t *response, uint32_t length, uint32_t expected_length, uint32_t writer,
                           uint32_t seq)
{
    NP_ASSERT_EQ(expected_length, length);
    uint32_t at = np_ipc_payload_mismatch(response, length, writer, seq);
    NP_ASSERT_MSG(at == length, "response (writer %u, seq %u) differs at byte %u", writer, seq, at);
}

static void i08_pipelining_and_zero_copy(void)
{
    np_ipc_cleanup();
    char address[96];
    np_ipc_address(address, sizeof address, "i08");
    np_server_options options = np_ipc_options(address);
    options.ring_size = I08_RING;
    options.max_message_size = I08_MAX;
    options.max_client_pending = I08_IN_FLIGHT; /* one client keeps all of them pending */
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    uint32_t pull = NP_IPC_ROUTE(server, "pull", NULL, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client client = NP_IPC_CONNECT(address);
    NP_ASSERT_EQ(echo, NP_IPC_RESOLVE(client, "echo"));
    NP_ASSERT_EQ(pull, NP_IPC_RESOLVE(client, "pull"));

    static uint64_t ids[I08_WINDOW_CALLS];
    uint8_t request[I08_MAX], response[I08_MAX];
    uint32_t length = 0;
    uint64_t id = 0;

    /* ---- 1,000 in flight on a handler route (the rings hold them all: 1,000 x 64 bytes) */
    for (uint32_t i = 0; i < I08_IN_FLIGHT; i++) {
        np_ipc_payload_fill(request, I08_PAYLOAD, 8, i);
        NP_ASSERT_OK(np_client_send(client, echo, request, I08_PAYLOAD, &ids[i], 10000));
        if (i > 0) NP_ASSERT_CMP(ids[i], >, ids[i - 1]);
    }
    for (uint32_t i = 0; i < I08_IN_FLIGHT; i++) {
        NP_ASSERT_OK(np_client_receive(client, &id, response, sizeof response, &length, 10000));
        NP_ASSERT_EQ(ids[i], id); /* one worker answers one connection in order */
        i08_check_echo(response, length, I08_PAYLOAD, 8, i);
    }
    BAD(NP_E_INVALID_STATE, np_client_receive(client, &id, response, sizeof response, &length, 0));

    /* ---- 1,000 in flight on a pull route, answered in reverse order, matched by id */
    for (uint32_t i = 0; i < I08_IN_FLIGHT; i++) {
        np_ipc_payload_fill(request, I08_PAYLOAD, 9, i);
        NP_ASSERT_OK(np_client_send(client, pull, request, I08_PAYLOAD, &ids[i], 10000));
    }
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.pending_requests == I08_IN_FLIGHT, 10);
    static np_request taken[I08_IN_FLIGHT];
    static uint8_t seen[I08_IN_FLIGHT];
    static uint32_t taken_seq[I08_IN_FLIGHT];
    memset(seen, 0, sizeof seen);
    for (uint32_t i = 0; i < I08_IN_FLIGHT; i++) {
        memset(&taken[i], 0, sizeof taken[i]);
        taken[i].struct_size = sizeof taken[i];
        NP_ASSERT_OK(np_server_receive(server, 10000, &taken[i]));
        uint32_t writer = 0, seq = 0;
        NP_ASSERT(np_ipc_payload_identify(taken[i].data, taken[i].length, &writer, &seq));
        NP_ASSERT(writer == 9 && seq < I08_IN_FLIGHT && !seen[seq]);
        seen[seq] = 1;
        taken_seq[i] = seq;
    }
    NP_ASSERT_STATUS(NP_E_TIMEOUT, np_server_receive(server, 0, &(np_request){.struct_size = sizeof(np_request)}));
    for (uint32_t i = I08_IN_FLIGHT; i-- > 0;) {
        /* The answer is the request reversed, written over the request's own buffer. */
        uint8_t *d = taken[i].data;
        for (uint32_t a = 0, b = taken[i].length - 1; a < b; a++, b--) {
            uint8_t t = d[a];
            d[a] = d[b];
            d[b] = t;
        }
        NP_ASSERT_OK(np_server_reply(server, taken[i].token, d, taken[i].length));
    }
    for (uint32_t k = 0; k < I08_IN_FLIGHT; k++) {
        NP_ASSERT_OK(np_client_receive(client, &id, response, sizeof response, &length, 10000));
        uint32_t writer = 0, seq = 0;
        NP_ASSERT_EQ(I08_PAYLOAD, length);
        for (uint32_t a = 0, b = length - 1; a < b; a++, b--) {
            uint8_t t = response[a];
            response[a] = response[b];
            response[b] = t;
        }
        NP_ASSERT(np_ipc_payload_identify(response, length, &writer, &seq));
        NP_ASSERT_EQ(9, writer);
        NP_ASSERT_EQ(ids[seq], id); /* each answer carries the id of its own request */
        /* Answers arrive in the order the server gave them: the reverse of the receive order. */
        NP_ASSERT_EQ(taken_seq[I08_IN_FLIGHT - 1 - k], seq);
    }
    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.pending_requests);

    /* ---- zero copy: claim more than needed, commit less; the maximum; zero */
    void *buffer = NULL;
    uint64_t c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0;
    NP_ASSERT_OK(np_client_claim(client, echo, 1000, &buffer, 10000));
    np_ipc_payload_fill(buffer, 600, 10, 1);
    NP_ASSERT_OK(np_client_commit(client, 600, &c1));
    NP_ASSERT_OK(np_client_claim(client, echo, I08_MAX, &buffer, 10000));
    np_ipc_payload_fill(buffer, I08_MAX, 10, 2);
    NP_ASSERT_OK(np_client_commit(client, I08_MAX, &c2));
    np_ipc_payload_fill(request, 100, 10, 3);
    NP_ASSERT_OK(np_client_send(client, echo, request, 100, &c3, 10000));
    NP_ASSERT_OK(np_client_claim(client, echo, 0, &buffer, 10000));
    NP_ASSERT_OK(np_client_commit(client, 0, &c4));
    NP_ASSERT_OK(np_client_claim(client, echo, 64, &buffer, 10000));
    NP_ASSERT_OK(np_client_commit(client, 0, &c5)); /* claimed 64, sent nothing but the header */
    const uint64_t order[] = {c1, c2, c3, c4, c5};
    const uint32_t lengths[] = {600, I08_MAX, 100, 0, 0};
    for (int i = 0; i < 5; i++) {
        NP_ASSERT_OK(np_client_receive(client, &id, response, sizeof response, &length, 10000));
        NP_ASSERT_EQ(order[i], id);
        i08_check_echo(response, length, lengths[i], 10, (uint32_t)i + 1);
    }

    /* ---- abort sends nothing; the next call is normal */
    np_server_stats before = NP_IPC_STATS(server);
    NP_ASSERT_OK(np_client_claim(client, echo, 500, &buffer, 10000));
    memset(buffer, 0xFF, 500);
    NP_ASSERT_OK(np_client_abort(client));
    np_ipc_payload_fill(request, 300, 10, 6);
    NP_ASSERT_OK(np_client_call(client, echo, request, 300, response, sizeof response, &length, 10000));
    i08_check_echo(response, length, 300, 10, 6);
    NP_ASSERT_OK(np_client_claim(client, echo, 500, &buffer, 10000));
    np_ipc_payload_fill(buffer, 500, 10, 7);
    NP_ASSERT_OK(np_client_commit(client, 500, &c1));
    NP_ASSERT_OK(np_client_receive(client, &id, response, sizeof response, &length, 10000));
    NP_ASSERT_EQ(c1, id);
    i08_check_echo(response, length, 500, 10, 7);
    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(before.requests + 2, s.requests);
    NP_ASSERT_EQ(before.bytes_in + 800, s.bytes_in);

    /* ---- a window: 2,000 sends of 1 KiB through rings of 64 KiB. A send that finds no room
     * times out at once (timeout 0); then the oldest answer is received and the send retried. */
    uint32_t head = 0, tail = 0, timeouts = 0;
    while (tail < I08_WINDOW_CALLS || head < tail) {
        if (tail < I08_WINDOW_CALLS) {
            np_ipc_payload_fill(request, 1024, 11, tail);
            np_status sent = np_client_send(client, echo, request, 1024, &ids[tail], 0);
            if (sent == NP_OK) {
                tail++;
                continue;
            }
            NP_ASSERT_STATUS(NP_E_TIMEOUT, sent);
            timeouts++;
        }
        NP_ASSERT_OK(np_client_receive(client, &id, response, sizeof response, &length, 10000));
        NP_ASSERT_EQ(ids[head], id);
        i08_check_echo(response, length, 1024, 11, head);
        head++;
    }
    NP_ASSERT_CMP(timeouts, >, 0); /* the window really filled: far more than the rings hold */
    s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(0, s.error_responses);
    NP_IPC_WAIT_FOR(server, s, s.requests == s.responses, 10);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, pull);
    NP_ASSERT_EQ(I08_IN_FLIGHT, r.requests);
    NP_ASSERT_EQ(I08_IN_FLIGHT, r.responses);
    np_ipc_close(client);
    np_ipc_destroy(server);
    printf("   I08: 2 x %d requests in flight matched by id; %d windowed sends, %u timed out for room\n", I08_IN_FLIGHT,
           I08_WINDOW_CALLS, timeouts);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I09 */

enum { I09_SERVERS = 4, I09_CLIENTS = 8, I09_FAIL_STATUS = -1234 };

static np_status fail_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    (void)request;
    (void)request_length;
    (void)response;
    (void)response_capacity;
    *response_length = 0;
    return I09_FAIL_STATUS;
}

/* Claims one byte more than the buffer holds: the server must not trust it. */
static np_status overclaim_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                                   uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    (void)request;
    (void)request_length;
    (void)response;
    *response_length = response_capacity + 1;
    return NP_OK;
}

static struct {
    np_server server;
    uint32_t work, calls;
    const char *address;
    atomic_ullong served, bytes_in, bytes_out, errors;
} i09;

static int i09_is_error(uint32_t seq) { return seq % 7 == 3; }
static uint32_t i09_size(uint32_t t, uint32_t seq) { return NP_IPC_HEADER + (t * 131 + seq * 17) % 2025; }

static void *i09_server_thread(void *argument)
{
    (void)argument;
    uint64_t total = (uint64_t)I09_CLIENTS * i09.calls;
    np_request request;
    while (atomic_load(&i09.served) < total) {
        np_test_stop_if_failed();
        memset(&request, 0, sizeof request);
        request.struct_size = sizeof request;
        np_status s = np_server_receive(i09.server, 20, &request);
        if (s == NP_E_TIMEOUT) continue;
        NP_ASSERT_OK(s);
        NP_ASSERT_EQ(i09.work, request.route_id);
        uint32_t t = 0, seq = 0;
        NP_ASSERT_MSG(np_ipc_payload_identify(request.data, request.length, &t, &seq), "a pull request lost its checksum");
        atomic_fetch_add(&i09.bytes_in, request.length);
        if (i09_is_error(seq)) {
            NP_ASSERT_OK(np_server_reply_error(i09.server, request.token, -(np_status)(1000 + t)));
            atomic_fetch_add(&i09.errors, 1);
        } else {
            for (uint32_t i = 0; i < request.length; i++) request.data[i] ^= 0x5A;
            NP_ASSERT_OK(np_server_reply(i09.server, request.token, request.data, request.length));
            atomic_fetch_add(&i09.bytes_out, request.length);
        }
        atomic_fetch_add(&i09.served, 1);
    }
    return NULL;
}

typedef struct i09_client_args {
    uint32_t t;
    uint64_t sent_bytes, answered_bytes, errors;
} i09_client_args;

static void *i09_client_thread(void *argument)
{
    i09_client_args *a = argument;
    np_client client;
    uint32_t work, length = 0;
    uint8_t request[4096], response[4096];
    NP_ASSERT_OK(np_client_connect(i09.address, 10000, &client));
    NP_ASSERT_OK(np_client_resolve(client, "work", &work));
    for (uint32_t seq = 0; seq < i09.calls; seq++) {
        uint32_t size = i09_size(a->t, seq);
        np_ipc_payload_fill(request, size, a->t, seq);
        np_status s = np_client_call(client, work, request, size, response, sizeof response, &length, 30000);
        a->sent_bytes += size;
        if (i09_is_error(seq)) {
            NP_ASSERT_STATUS(NP_E_HANDLER_FAILED, s);
            char detail[256], code[16];
            np_last_error_message(detail, sizeof detail);
            snprintf(code, sizeof code, "%d", -(int)(1000 + a->t));
            NP_ASSERT_MSG(strstr(detail, code) != NULL, "the detail \"%s\" does not carry the status %s", detail, code);
            a->errors++;
            continue;
        }
        NP_ASSERT_OK(s);
        NP_ASSERT_EQ(size, length);
        for (uint32_t i = 0; i < length; i++) response[i] ^= 0x5A;
        NP_ASSERT_EQ(length, np_ipc_payload_mismatch(response, length, a->t, seq));
        a->answered_bytes += size;
    }
    NP_ASSERT_OK(np_client_close(client));
    return NULL;
}

static struct {
    np_server server;
    atomic_int entered, done;
    np_status status;
} i09_blocked;

static void *i09_receive_forever(void *argument)
{
    (void)argument;
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    atomic_store(&i09_blocked.entered, 1);
    i09_blocked.status = np_server_receive(i09_blocked.server, NP_WAIT_FOREVER, &request);
    atomic_store(&i09_blocked.done, 1);
    return NULL;
}

static void i09_handler_errors_and_pull_from_threads(void)
{
    np_ipc_cleanup();
    char address[96];
    np_ipc_address(address, sizeof address, "i09");
    np_server_options options = np_ipc_options(address);
    options.worker_threads = 2;
    options.max_message_size = 4096;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t fail = NP_IPC_ROUTE(server, "fail", fail_handler, NULL);
    uint32_t overclaim = NP_IPC_ROUTE(server, "overclaim", overclaim_handler, NULL);
    uint32_t work = NP_IPC_ROUTE(server, "work", NULL, NULL);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));

    /* ---- handler errors */
    np_client client = NP_IPC_CONNECT(address);
    char response[64], detail[256], code[16];
    uint32_t length = 0;
    snprintf(code, sizeof code, "%d", I09_FAIL_STATUS);
    for (int i = 0; i < 10; i++) {
        BAD(NP_E_HANDLER_FAILED, np_client_call(client, fail, "x", 1, response, sizeof response, &length, 10000));
        np_last_error_message(detail, sizeof detail);
        NP_ASSERT_MSG(strstr(detail, code) != NULL, "the detail \"%s\" does not carry the handler's status", detail);
        NP_ASSERT_EQ(0, length);
    }
    BAD(NP_E_HANDLER_FAILED, np_client_call(client, overclaim, "x", 1, response, sizeof response, &length, 10000));
    call_expect(client, echo, "after failures", "after failures");
    /* A worker counts a response just after writing it: the client may be faster than the counter. */
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.responses == 12, 10);
    NP_ASSERT_EQ(11, s.handler_errors);
    NP_ASSERT_EQ(11, s.error_responses);
    NP_ASSERT_EQ(12, s.requests);
    NP_ASSERT_EQ(12, s.responses);
    np_route_stats r = NP_IPC_ROUTE_STATS(server, fail);
    NP_ASSERT(r.requests == 10 && r.responses == 10 && r.errors == 10 && r.bytes_in == 10 && r.bytes_out == 0);
    r = NP_IPC_ROUTE_STATS(server, overclaim);
    NP_ASSERT(r.requests == 1 && r.responses == 1 && r.errors == 1);
    double deadline = np_ipc_now() + 10;
    while ((r = NP_IPC_ROUTE_STATS(server, echo)).responses != 1 && np_ipc_now() < deadline) np_ipc_sleep_ms(1);
    NP_ASSERT(r.requests == 1 && r.responses == 1 && r.errors == 0 && r.bytes_out == 14);
    np_ipc_close(client);

    /* ---- a pull route: 4 server threads, 8 client threads */
    memset(&i09, 0, sizeof i09);
    i09.server = server;
    i09.work = work;
    i09.calls = NP_SIZE(500, 5000);
    i09.address = address;
    pthread_t servers[I09_SERVERS];
    for (int i = 0; i < I09_SERVERS; i++) np_thread_start(&servers[i], i09_server_thread, NULL);
    i09_client_args clients[I09_CLIENTS];
    memset(clients, 0, sizeof clients);
    for (uint32_t t = 0; t < I09_CLIENTS; t++) clients[t].t = t;
    np_threads_run(I09_CLIENTS, i09_client_thread, clients, sizeof clients[0]);
    for (int i = 0; i < I09_SERVERS; i++) np_thread_join(servers[i]);
    np_test_stop_if_failed();

    uint64_t total = (uint64_t)I09_CLIENTS * i09.calls, sent = 0, answered = 0, errors = 0;
    for (uint32_t t = 0; t < I09_CLIENTS; t++) {
        sent += clients[t].sent_bytes;
        answered += clients[t].answered_bytes;
        errors += clients[t].errors;
    }
    NP_ASSERT_EQ(total, atomic_load(&i09.served));
    NP_ASSERT_EQ(errors, atomic_load(&i09.errors));
    NP_ASSERT_EQ(sent, atomic_load(&i09.bytes_in));
    NP_ASSERT_EQ(answered, atomic_load(&i09.bytes_out));
    r = NP_IPC_ROUTE_STATS(server, work);
    NP_ASSERT_EQ(total, r.requests);
    NP_ASSERT_EQ(total, r.responses);
    NP_ASSERT_EQ(errors, r.errors);
    NP_ASSERT_EQ(sent, r.bytes_in);
    NP_ASSERT_EQ(answered, r.bytes_out);
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 0, 10);
    NP_ASSERT_EQ(0, s.pending_requests);
    NP_ASSERT_EQ(12 + total, s.requests);
    NP_ASSERT_EQ(12 + total, s.responses);
    NP_ASSERT_EQ(11 + errors, s.error_responses);
    NP_ASSERT_EQ(11, s.handler_errors); /* error replies of pull routes are not handler calls */
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(1 + I09_CLIENTS, s.peer_hangups);

    /* A thread blocked forever in np_server_receive() on an empty server is released by the stop. */
    atomic_store(&i09_blocked.done, 0);
    i09_blocked.server = server;
    pthread_t blocked;
    np_thread_start(&blocked, i09_receive_forever, NULL);
    NP_IPC_WAIT_FOR(server, s, atomic_load(&i09_blocked.entered) != 0, 10);
    NP_ASSERT_OK(np_server_stop(server, 1000));
    double released_by = np_ipc_now() + 10;
    while (!atomic_load(&i09_blocked.done) && np_ipc_now() < released_by) np_ipc_sleep_ms(1);
    if (!atomic_load(&i09_blocked.done)) {
        np_ipc_destroy(server); /* the last resort to free the thread before failing */
        NP_ASSERT_MSG(0, "np_server_receive(NP_WAIT_FOREVER) did not return after np_server_stop");
    }
    np_thread_join(blocked);
    NP_ASSERT_STATUS(NP_E_SHUTDOWN, i09_blocked.status);
    np_ipc_destroy(server);
    printf("   I09: %llu pull calls from %d threads served by %d threads, %llu error replies\n",
           (unsigned long long)total, I09_CLIENTS, I09_SERVERS, (unsigned long long)errors);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I11 */

/*
 * I11: whatever status a handler returns or a pull reply sends, even one the transport uses for
 * itself (NP_E_UNKNOWN_ROUTE, NP_E_SHUTDOWN, NP_E_PROTOCOL), reaches the client as
 * NP_E_HANDLER_FAILED with the code's name and number in the detail, and the server stays
 * healthy; a max_message_size too small for an error answer is refused at create.
 */

/* Handler: returns the int32 status the request carries. */
static np_status status_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                                uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    (void)response;
    (void)response_capacity;
    int32_t status = 0;
    if (request_length >= sizeof status) memcpy(&status, request, sizeof status);
    *response_length = 0;
    return status;
}

static struct {
    np_server server;
    int32_t code;
    np_status replied;
} i11_pull;

/* Receives one pull request and answers it with np_server_reply_error(i11_pull.code). */
static void *i11_reply_error(void *argument)
{
    (void)argument;
    np_request request;
    memset(&request, 0, sizeof request);
    request.struct_size = sizeof request;
    i11_pull.replied = np_server_receive(i11_pull.server, 10000, &request);
    if (i11_pull.replied == NP_OK) i11_pull.replied = np_server_reply_error(i11_pull.server, request.token, i11_pull.code);
    return NULL;
}

/* The call's detail must name the handler's code (its status name when it has one) and its number. */
static void i11_expect_handler_failed(np_status status, int32_t code, const char *what)
{
    char detail[256], number[24];
    np_last_error_message(detail, sizeof detail);
    NP_ASSERT_MSG(status == NP_E_HANDLER_FAILED, "%s with %s (%d): the client got %s (%s)", what,
                  np_status_name(code), (int)code, np_status_name(status), detail);
    snprintf(number, sizeof number, "(%d)", (int)code);
    NP_ASSERT_MSG(strstr(detail, number) != NULL, "%s: the detail \"%s\" does not carry %s", what, detail, number);
    if (strcmp(np_status_name(code), "NP_E_UNKNOWN") != 0)
        NP_ASSERT_MSG(strstr(detail, np_status_name(code)) != NULL, "%s: the detail \"%s\" does not name %s", what,
                      detail, np_status_name(code));
    NP_ASSERT_MSG(strstr(detail, "returned status") == NULL, "%s: the detail \"%s\" gives a bare number", what, detail);
}

static void i11_handler_and_reply_statuses_become_handler_failed(void)
{
    np_ipc_cleanup();
    static const int32_t codes[] = {NP_E_UNKNOWN_ROUTE, NP_E_SHUTDOWN, NP_E_PROTOCOL, NP_E_PEER_GONE,
                                    NP_E_INTERNAL, NP_E_TIMEOUT, -1234};
    char address[96];
    np_ipc_address(address, sizeof address, "i11");
    np_server_options options = np_ipc_options(address);
    options.max_message_size = 1024;
    np_server server = NP_IPC_SERVER(&options);
    uint32_t status_route = NP_IPC_ROUTE(server, "status", status_handler, NULL);
    uint32_t pull_route = NP_IPC_ROUTE(server, "pull", NULL, NULL);
    uint32_t echo_route = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client client = NP_IPC_CONNECT(address);
    for (size_t i = 0; i < NP_COUNT_OF(codes); i++) {
        int32_t code = codes[i];
        uint32_t length = 0;
        char response[16];
        i11_expect_handler_failed(np_client_call(client, status_route, &code, sizeof code, response, sizeof response,
                                                 &length, 10000),
                                  code, "a handler's return");
        /* Pipelined: the same, with the request id set. */
        uint64_t id = 0, answered = 0;
        NP_ASSERT_OK(np_client_send(client, status_route, &code, sizeof code, &id, 10000));
        i11_expect_handler_failed(np_client_receive(client, &answered, response, sizeof response, &length, 10000),
                                  code, "a pipelined handler's return");
        NP_ASSERT_EQ(id, answered);
        /* Pull mode: np_server_reply_error() with the code. */
        memset(&i11_pull, 0, sizeof i11_pull);
        i11_pull.server = server;
        i11_pull.code = code;
        pthread_t replier;
        np_thread_start(&replier, i11_reply_error, NULL);
        np_status status = np_client_call(client, pull_route, "x", 1, response, sizeof response, &length, 10000);
        np_thread_join(replier);
        NP_ASSERT_OK(i11_pull.replied);
        i11_expect_handler_failed(status, code, "np_server_reply_error");
        /* The server is healthy and the client still usable. */
        call_expect(client, echo_route, "alive", "alive");
    }
    np_server_stats s = NP_IPC_STATS(server);
    NP_ASSERT_EQ(0, s.protocol_errors);
    NP_ASSERT_EQ(0, s.unknown_routes);

    /* A call nobody answers times out with a readable detail. */
    uint32_t length = 0;
    char response[16], detail[256];
    NP_ASSERT_STATUS(NP_E_TIMEOUT, np_client_call(client, pull_route, "t", 1, response, sizeof response, &length, 20));
    np_last_error_message(detail, sizeof detail);
    NP_ASSERT_MSG(strstr(detail, "no response in time") != NULL, "timeout detail: \"%s\"", detail);
    np_ipc_close(client);
    np_ipc_destroy(server);

    /* max_message_size 1..3 cannot carry an error answer: refused with a message; 4 works. */
    for (uint32_t size = 1; size <= 4; size++) {
        np_ipc_address(address, sizeof address, "i11m");
        options = np_ipc_options(address);
        options.max_message_size = size;
        np_server small = 0;
        np_status created = np_server_create(&options, &small);
        if (size < 4) {
            np_last_error_message(detail, sizeof detail);
            if (created == NP_OK) np_server_destroy(small);
            NP_ASSERT_MSG(created == NP_E_INVALID_ARGUMENT && strstr(detail, "max_message_size") != NULL,
                          "max_message_size %u: %s (%s)", size, np_status_name(created), detail);
            continue;
        }
        NP_ASSERT_OK(created);
        NP_ASSERT_OK(np_server_destroy(small));
        small = NP_IPC_SERVER(&options);
        uint32_t small_status = NP_IPC_ROUTE(small, "status", status_handler, NULL);
        uint32_t small_echo = NP_IPC_ROUTE(small, "echo", np_ipc_echo_handler, NULL);
        NP_ASSERT_OK(np_server_start(small));
        np_client c = NP_IPC_CONNECT(address);
        int32_t code = NP_E_INTERNAL;
        i11_expect_handler_failed(np_client_call(c, small_status, &code, sizeof code, response, sizeof response,
                                                 &length, 10000),
                                  code, "max_message_size 4");
        call_expect(c, small_echo, "four", "four");
        np_ipc_close(c);
        np_ipc_destroy(small);
    }
    np_ipc_cleanup();
}

static const np_test_case cases[] = {
    {"I07", "bad_input_table_every_ipc_export", i07_bad_input_table},
    {"I07", "late_answers_of_many_timed_out_calls_are_dropped", i07_late_answers_of_timed_out_calls_are_dropped},
    {"I08", "pipelining_1000_in_flight_and_zero_copy", i08_pipelining_and_zero_copy},
    {"I09", "handler_errors_and_pull_mode_from_threads", i09_handler_errors_and_pull_from_threads},
    {"I11", "handler_and_reply_statuses_reach_the_client_as_handler_failed", i11_handler_and_reply_statuses_become_handler_failed},
};

const np_test_suite np_suite_ipc_api = {"ipc_api", cases, NP_COUNT_OF(cases)};
