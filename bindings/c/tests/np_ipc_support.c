/* Helpers of the IPC tests; see np_ipc_support.h. */
#include "np_ipc_support.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ time */

double np_ipc_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void np_ipc_sleep_ms(unsigned milliseconds)
{
    struct timespec pause = {(time_t)(milliseconds / 1000), (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ tracking */

enum { TRACKED_MAX = 256 };

static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static np_server tracked_servers[TRACKED_MAX];
static np_client tracked_clients[TRACKED_MAX];
static pid_t tracked_children[TRACKED_MAX];

static void track(uint64_t *table, uint64_t value)
{
    pthread_mutex_lock(&tracked_lock);
    for (int i = 0; i < TRACKED_MAX; i++) {
        if (table[i] == 0) {
            table[i] = value;
            break;
        }
    }
    pthread_mutex_unlock(&tracked_lock);
}

static void untrack(uint64_t *table, uint64_t value)
{
    pthread_mutex_lock(&tracked_lock);
    for (int i = 0; i < TRACKED_MAX; i++)
        if (table[i] == value) table[i] = 0;
    pthread_mutex_unlock(&tracked_lock);
}

static void track_child(pid_t pid, int add)
{
    pthread_mutex_lock(&tracked_lock);
    for (int i = 0; i < TRACKED_MAX; i++) {
        if (add && tracked_children[i] == 0) {
            tracked_children[i] = pid;
            break;
        }
        if (!add && tracked_children[i] == pid) tracked_children[i] = 0;
    }
    pthread_mutex_unlock(&tracked_lock);
}

void np_ipc_cleanup(void)
{
    /* Children first (they may still be calling), then clients, then servers. */
    for (int i = 0; i < TRACKED_MAX; i++) {
        pid_t pid = tracked_children[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            tracked_children[i] = 0;
        }
    }
    for (int i = 0; i < TRACKED_MAX; i++) {
        if (tracked_clients[i] != 0) np_client_close(tracked_clients[i]);
        tracked_clients[i] = 0;
    }
    for (int i = 0; i < TRACKED_MAX; i++) {
        if (tracked_servers[i] != 0) np_server_destroy(tracked_servers[i]);
        tracked_servers[i] = 0;
    }
}

/* ------------------------------------------------------------------ addresses and servers */

void np_ipc_address(char *buffer, size_t capacity, const char *tag)
{
    static atomic_uint next;
    snprintf(buffer, capacity, "@np-c-%s-%d-%u", tag, (int)getpid(), atomic_fetch_add(&next, 1) + 1);
}

np_server_options np_ipc_options(const char *address)
{
    np_server_options options;
    NP_ASSERT_OK(np_server_options_init(&options));
    options.address = address;
    return options;
}

np_server np_ipc_server_at(const char *file, int line, const np_server_options *options)
{
    np_server server = 0;
    np_status status = np_server_create(options, &server);
    if (status != NP_OK) np_test_fail_status(file, line, "np_server_create(options, &server)", NP_OK, status);
    if (server == 0) np_test_fail(file, line, "np_server_create returned NP_OK and handle 0");
    track(tracked_servers, server);
    return server;
}

uint32_t np_ipc_route_at(const char *file, int line, np_server server, const char *name, np_handler_fn handler,
                         void *user_data)
{
    uint32_t id = 0;
    np_status status = np_server_add_route(server, name, handler, user_data, &id);
    if (status != NP_OK) np_test_fail_status(file, line, "np_server_add_route(server, name, ...)", NP_OK, status);
    if (id == 0) np_test_fail(file, line, "np_server_add_route(\"%s\") returned NP_OK and id 0", name);
    return id;
}

np_server_stats np_ipc_stats_at(const char *file, int line, np_server server)
{
    np_server_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_server_get_stats(server, &stats);
    if (status != NP_OK) np_test_fail_status(file, line, "np_server_get_stats(server, &stats)", NP_OK, status);
    return stats;
}

np_route_stats np_ipc_route_stats_at(const char *file, int line, np_server server, uint32_t route_id)
{
    np_route_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_server_get_route_stats(server, route_id, &stats);
    if (status != NP_OK) np_test_fail_status(file, line, "np_server_get_route_stats(server, route_id, &stats)", NP_OK, status);
    if (stats.route_id != route_id) np_test_fail(file, line, "route stats of %u carry route_id %u", route_id, stats.route_id);
    return stats;
}

np_client np_ipc_connect_at(const char *file, int line, const char *address)
{
    np_client client = 0;
    np_status status = np_client_connect(address, 10000, &client);
    if (status != NP_OK) np_test_fail_status(file, line, "np_client_connect(address, 10000, &client)", NP_OK, status);
    if (client == 0) np_test_fail(file, line, "np_client_connect returned NP_OK and handle 0");
    track(tracked_clients, client);
    return client;
}

uint32_t np_ipc_resolve_at(const char *file, int line, np_client client, const char *name)
{
    uint32_t id = 0;
    np_status status = np_client_resolve(client, name, &id);
    if (status != NP_OK) np_test_fail_status(file, line, "np_client_resolve(client, name, &id)", NP_OK, status);
    return id;
}

void np_ipc_close(np_client client)
{
    untrack(tracked_clients, client);
    NP_ASSERT_OK(np_client_close(client));
}

void np_ipc_destroy(np_server server)
{
    untrack(tracked_servers, server);
    NP_ASSERT_OK(np_server_destroy(server));
}

const char *np_ipc_describe(const np_server_stats *s)
{
    static _Thread_local char text[512];
    snprintf(text, sizeof text,
             "connections now %llu peak %llu total %llu rejected %llu, requests %llu, responses %llu (errors %llu), "
             "protocol errors %llu, handler errors %llu, unknown routes %llu, peer hang-ups %llu, pending %llu",
             (unsigned long long)s->connections_now, (unsigned long long)s->connections_peak,
             (unsigned long long)s->connections_total, (unsigned long long)s->connections_rejected,
             (unsigned long long)s->requests, (unsigned long long)s->responses, (unsigned long long)s->error_responses,
             (unsigned long long)s->protocol_errors, (unsigned long long)s->handler_errors,
             (unsigned long long)s->unknown_routes, (unsigned long long)s->peer_hangups,
             (unsigned long long)s->pending_requests);
    return text;
}

/* ------------------------------------------------------------------ handlers and payloads */

np_status np_ipc_echo_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    if (request_length > response_capacity) return NP_E_BUFFER_TOO_SMALL;
    memcpy(response, request, request_length);
    *response_length = request_length;
    return NP_OK;
}

uint64_t np_ipc_fnv1a(const void *data, size_t length)
{
    const uint8_t *bytes = data;
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < length; i++) {
        hash ^= bytes[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* The byte stream of (writer, seq): 8 bytes per xorshift64* step. */
typedef struct payload_stream {
    uint64_t state, word;
    unsigned left;
} payload_stream;

static void stream_init(payload_stream *s, uint32_t writer, uint32_t seq)
{
    s->state = ((uint64_t)writer * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)seq * 0xC2B2AE3D27D4EB4FULL) ^ 0x5DEECE66DULL;
    if (s->state == 0) s->state = 1;
    s->left = 0;
}

static uint8_t stream_next(payload_stream *s)
{
    if (s->left == 0) {
        s->word = np_random_next(&s->state);
        s->left = 8;
    }
    uint8_t byte = (uint8_t)s->word;
    s->word >>= 8;
    s->left--;
    return byte;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void np_ipc_payload_fill(uint8_t *buffer, uint32_t length, uint32_t writer, uint32_t seq)
{
    payload_stream s;
    stream_init(&s, writer, seq);
    uint32_t start = length >= NP_IPC_HEADER ? NP_IPC_HEADER : 0;
    for (uint32_t i = start; i < length; i++) buffer[i] = stream_next(&s);
    if (start == 0) return;
    put32(buffer, writer);
    put32(buffer + 4, seq);
    put32(buffer + 8, length);
    put32(buffer + 12, NP_IPC_MAGIC);
    put64(buffer + 16, np_ipc_fnv1a(buffer + NP_IPC_HEADER, length - NP_IPC_HEADER));
}

uint32_t np_ipc_payload_mismatch(const uint8_t *buffer, uint32_t length, uint32_t writer, uint32_t seq)
{
    payload_stream s;
    stream_init(&s, writer, seq);
    uint32_t start = 0;
    if (length >= NP_IPC_HEADER) {
        uint8_t header[NP_IPC_HEADER];
        put32(header, writer);
        put32(header + 4, seq);
        put32(header + 8, length);
        put32(header + 12, NP_IPC_MAGIC);
        /* The checksum field is compared against the body we regenerate below. */
        uint64_t hash = 0xcbf29ce484222325ULL;
        payload_stream t = s;
        for (uint32_t i = NP_IPC_HEADER; i < length; i++) {
            hash ^= stream_next(&t);
            hash *= 0x100000001b3ULL;
        }
        put64(header + 16, hash);
        for (uint32_t i = 0; i < NP_IPC_HEADER; i++)
            if (buffer[i] != header[i]) return i;
        start = NP_IPC_HEADER;
    }
    for (uint32_t i = start; i < length; i++)
        if (buffer[i] != stream_next(&s)) return i;
    return length;
}

int np_ipc_payload_identify(const uint8_t *buffer, uint32_t length, uint32_t *writer, uint32_t *seq)
{
    if (length < NP_IPC_HEADER || get32(buffer + 8) != length || get32(buffer + 12) != NP_IPC_MAGIC) return 0;
    if (get64(buffer + 16) != np_ipc_fnv1a(buffer + NP_IPC_HEADER, length - NP_IPC_HEADER)) return 0;
    *writer = get32(buffer);
    *seq = get32(buffer + 4);
    return 1;
}

/* ------------------------------------------------------------------ child processes */

static char self_path[4096];

/* pipe() with both ends close-on-exec: only the child's dup2 copies survive its exec. */
static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) != 0) return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

void np_ipc_spawn_at(const char *file, int line, np_ipc_child *child, const char *role, const char *const *args)
{
    memset(child, 0, sizeof *child);
    child->out = child->in = -1;
    signal(SIGPIPE, SIG_IGN); /* a child that died must not kill us when we tell it something */
    if (self_path[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
        if (n <= 0) np_test_fail(file, line, "readlink(/proc/self/exe) failed: errno %d", errno);
        self_path[n] = '\0';
    }
    const char *argv[64];
    int argc = 0;
    argv[argc++] = self_path;
    argv[argc++] = "--ipc-child";
    argv[argc++] = role;
    for (int i = 0; args[i] != NULL && argc < 63; i++) argv[argc++] = args[i];
    argv[argc] = NULL;

    int in_pipe[2], out_pipe[2];
    if (cloexec_pipe(in_pipe) != 0) np_test_fail(file, line, "pipe failed: errno %d", errno);
    if (cloexec_pipe(out_pipe) != 0) np_test_fail(file, line, "pipe failed: errno %d", errno);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDERR_FILENO);
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGALRM);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int error = posix_spawn(&pid, self_path, &actions, &attributes, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (error != 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        np_test_fail(file, line, "posix_spawn of child %s failed: error %d", role, error);
    }
    fcntl(out_pipe[0], F_SETFL, fcntl(out_pipe[0], F_GETFL) | O_NONBLOCK);
    child->pid = pid;
    child->in = in_pipe[1];
    child->out = out_pipe[0];
    track_child(pid, 1);
}

/* Reads what the child printed, waiting up to `milliseconds` for something to arrive. */
static void pump(np_ipc_child *child, int milliseconds)
{
    if (child->out < 0) {
        if (milliseconds > 0) np_ipc_sleep_ms((unsigned)milliseconds);
        return;
    }
    struct pollfd p = {child->out, POLLIN, 0};
    if (poll(&p, 1, milliseconds) <= 0) return;
    for (;;) {
        if (child->used > sizeof child->text - 2048) {
            size_t drop = sizeof child->text / 2;
            memmove(child->text, child->text + drop, child->used - drop);
            child->used -= drop;
            child->scanned = child->scanned > drop ? child->scanned - drop : 0;
        }
        ssize_t n = read(child->out, child->text + child->used, sizeof child->text - 1 - child->used);
        if (n > 0) {
            child->used += (size_t)n;
            child->text[child->used] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            close(child->out);
            child->out = -1;
        }
        return;
    }
}

const char *np_ipc_child_output(const np_ipc_child *child, size_t bytes)
{
    size_t start = child->used > bytes ? child->used - bytes : 0;
    return child->text + start;
}

void np_ipc_child_line_at(const char *file, int line, np_ipc_child *child, const char *prefix, double seconds,
                          char *text, size_t capacity)
{
    double deadline = np_ipc_now() + seconds;
    size_t prefix_length = strlen(prefix);
    for (;;) {
        char *start = child->text + child->scanned;
        char *end = memchr(start, '\n', child->used - child->scanned);
        if (end != NULL) {
            child->scanned = (size_t)(end - child->text) + 1;
            if ((size_t)(end - start) >= prefix_length && memcmp(start, prefix, prefix_length) == 0) {
                size_t length = (size_t)(end - start);
                if (length >= capacity) length = capacity - 1;
                memcpy(text, start, length);
                text[length] = '\0';
                return;
            }
            continue;
        }
        if (child->out < 0)
            np_test_fail(file, line, "child %d ended without printing \"%s...\"; it printed: %s", (int)child->pid, prefix,
                         np_ipc_child_output(child, 600));
        double left = deadline - np_ipc_now();
        if (left <= 0)
            np_test_fail(file, line, "child %d printed no \"%s...\" within %g s; it printed: %s", (int)child->pid, prefix,
                         seconds, np_ipc_child_output(child, 600));
        pump(child, left > 0.05 ? 50 : (int)(left * 1000) + 1);
    }
}

void np_ipc_child_tell(np_ipc_child *child, const char *text)
{
    size_t length = strlen(text);
    char line[256];
    snprintf(line, sizeof line, "%s\n", text);
    if (write(child->in, line, length + 1) < 0) { /* the child is gone: its exit status will tell */
    }
}

int np_ipc_child_wait(np_ipc_child *child, double seconds)
{
    if (child->reaped) return 1;
    double deadline = np_ipc_now() + seconds;
    for (;;) {
        int status;
        pid_t done = waitpid(child->pid, &status, WNOHANG);
        if (done == child->pid) {
            child->reaped = 1;
            child->wait_status = status;
            track_child(child->pid, 0);
            while (child->out >= 0) pump(child, 100); /* what it printed last */
            if (child->in >= 0) close(child->in);
            child->in = -1;
            return 1;
        }
        if (np_ipc_now() > deadline) return 0;
        pump(child, 5);
    }
}

void np_ipc_child_kill(np_ipc_child *child)
{
    if (!child->reaped) {
        kill(child->pid, SIGKILL);
        np_ipc_child_wait(child, 3600);
    }
}

void np_ipc_child_ok_at(const char *file, int line, np_ipc_child *child, double seconds)
{
    if (!np_ipc_child_wait(child, seconds)) {
        np_ipc_child_kill(child);
        np_test_fail(file, line, "child %d still running after %g s (killed); it printed: %s", (int)child->pid, seconds,
                     np_ipc_child_output(child, 600));
    }
    int status = child->wait_status;
    if (WIFSIGNALED(status))
        np_test_fail(file, line, "child %d died of signal %d%s; it printed: %s", (int)child->pid, WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? " (its watchdog)" : "", np_ipc_child_output(child, 600));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        np_test_fail(file, line, "child %d exited with code %d; it printed: %s", (int)child->pid,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, np_ipc_child_output(child, 600));
}

/* ------------------------------------------------------------------ inside a child */

void np_child_say(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

void np_child_fail(int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("child failed: ");
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
    _exit(code);
}

int np_child_read_line(char *text, size_t capacity)
{
    size_t used = 0;
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        if (c == '\n') break;
        if (used + 1 < capacity) text[used++] = c;
    }
    text[used] = '\0';
    return 1;
}

unsigned long np_child_number(int argc, char **argv, int index)
{
    if (index >= argc) np_child_fail(12, "%s: argument %d is missing", argv[0], index);
    char *end;
    errno = 0;
    unsigned long value = strtoul(argv[index], &end, 0);
    if (errno != 0 || end == argv[index] || *end != '\0') np_child_fail(12, "%s: argument %d ('%s') is no number", argv[0], index, argv[index]);
    return value;
}

typedef struct child_role {
    const char *name;
    int (*run)(int argc, char **argv);
} child_role;

static const child_role roles[] = {
    {"i01-client", np_ipc_child_i01_client},   {"i02-holder", np_ipc_child_i02_holder},
    {"i03-blocked", np_ipc_child_i03_blocked}, {"i04-server", np_ipc_child_i04_server},
    {"i04-clients", np_ipc_child_i04_clients}, {"i05-clients", np_ipc_child_i05_clients},
    {"i06-hostile", np_ipc_child_i06_hostile}, {"i12-hostile", np_ipc_child_i12_hostile},
    {"i13-thief", np_ipc_child_i13_thief},     {"i14-client", np_ipc_child_i14_client},
    {"i15-server", np_ipc_child_i15_server},   {"address-limit", np_child_address_limit},
};

int np_ipc_child_main(int argc, char **argv)
{
    /* The watchdog: a child that hangs dies of SIGALRM, which its test reports. */
    alarm(np_stress_full() ? 1800u : 180u);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < NP_COUNT_OF(roles); i++)
        if (strcmp(argv[0], roles[i].name) == 0) return roles[i].run(argc, argv);
    printf("child failed: no role '%s'\n", argv[0]);
    return 90;
}
