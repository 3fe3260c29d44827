/*
 * IPC peers that abuse the descriptors they were given, I12-I15. A peer may clear O_NONBLOCK on
 * anything it holds, fill counters and socket buffers, read them in a loop and raise the sleeping
 * flags in shared memory; none of it may make the other side block, lose a wake-up or wait past
 * its timeout.
 *
 * I12 a hostile client does all of that to everything it holds and leaves a request answered into
 *     a ring whose sleeping flag it raised: the other clients of the same (only) worker keep being
 *     served, the hostile connection is released when it goes, and np_server_stop returns while
 *     another hostile client is still connected.
 * I13 a hostile client reads every descriptor it holds in blocking loops (stealing wake-ups if it
 *     shares any with the server): a normal client of the same worker, parking between calls,
 *     makes its calls without a stall (a stolen wake-up costs the worker's park timeout, 100 ms).
 * I14 a hostile (hand-made) server does the same to a client: fills and floods what it passed,
 *     raises the flags, never answers: np_client_call returns NP_E_TIMEOUT, and within its timeout
 *     plus a safety margin.
 * I15 a server process out of descriptors (a low RLIMIT_NOFILE) with more connect attempts than
 *     descriptors: the control thread does not spin on the failing accept (the process's CPU time
 *     over a quiet second stays far below a busy loop's), clients past the limit get
 *     NP_E_IO with a message that names the descriptor limit, and admitted clients are served.
 */
#define _GNU_SOURCE
#include "np_ipc_support.h"
#include "np_raw_peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* 1 when the descriptor's /proc/self/fd link names `kind` ("eventfd", "pipe:", "socket:"). */
static int peer_is(int fd, const char *kind)
{
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = '\0';
    return strstr(target, kind) != NULL;
}

static int peer_is_eventfd(int fd) { return peer_is(fd, "eventfd"); }

/*
 * Everything a hostile peer can do to a descriptor it holds, short of closing it: an eventfd is
 * drained and then filled to its maximum count, a socket is written until its buffer is full, a
 * pipe's read end is reopened for writing (/proc/self/fd) and the pipe filled; then O_NONBLOCK is
 * cleared (on a shared open file description, the other side's too). Returns the number of
 * wake-up bytes the socket or pipe took.
 */
static unsigned long peer_fill_and_block(int fd)
{
    unsigned long sent = 0;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (peer_is_eventfd(fd)) {
        uint64_t value;
        while (read(fd, &value, sizeof value) == (ssize_t)sizeof value) {}
        value = 0xFFFFFFFFFFFFFFFEull;
        if (write(fd, &value, sizeof value) != (ssize_t)sizeof value) {}
    } else if (peer_is(fd, "pipe:")) {
        char path[64], bytes[4096];
        memset(bytes, 1, sizeof bytes);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ssize_t n;
        if (writer >= 0) {
            while (sent < (1ul << 24) && (n = write(writer, bytes, sizeof bytes)) > 0) sent += (unsigned long)n;
            close(writer);
        }
    } else {
        char byte = 1;
        while (sent < (1ul << 22) && send(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) sent++;
    }
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return sent;
}

/* Raises the flags that make the other side ring: the responses' "consumer sleeping" and the requests' "producer waiting". */
static void peer_raise_client_flags(raw_connection *c)
{
    raw_store32(c->response_control + RING_CONSUMER_SLEEPING, 1);
    raw_store32(c->request_control + RING_PRODUCER_WAITING, 1);
}

/* ------------------------------------------------------------------ I12 */

/* Child: address. A valid call, then everything it holds filled and made blocking, flags up, one more request; "armed". */
int np_ipc_child_i12_hostile(int argc, char **argv)
{
    raw_connection c;
    raw_connect(&c, argc > 1 ? argv[1] : "");
    uint16_t echo = raw_route(&c, "echo");
    raw_valid_call(&c, echo, "a hand-made request");
    unsigned long bytes = peer_fill_and_block(c.socket);
    for (int i = 0; i < c.fd_count; i++) bytes += peer_fill_and_block(c.fds[i]);
    peer_raise_client_flags(&c);
    raw_request(&c, echo, "answer me into a ring I said I sleep on");
    np_child_say("armed: %d descriptors besides the memfd, %lu wake-up bytes sent", c.fd_count, bytes);
    char line[64];
    np_child_read_line(line, sizeof line); /* the test says when to go */
    return 0;
}

static void i12_calls(np_client client, uint32_t echo, uint32_t first, uint32_t count)
{
    for (uint32_t seq = first; seq < first + count; seq++) {
        uint8_t request[256], response[256];
        uint32_t size = NP_IPC_HEADER + seq % 200, length = 0;
        np_ipc_payload_fill(request, size, 12, seq);
        NP_ASSERT_OK(np_client_call(client, echo, request, size, response, sizeof response, &length, 5000));
        NP_ASSERT_EQ(size, np_ipc_payload_mismatch(response, length, 12, seq));
    }
}

typedef struct i12_stopper {
    np_server server;
    atomic_int done;
    np_status status;
} i12_stopper;

static void *i12_stop(void *argument)
{
    i12_stopper *s = argument;
    s->status = np_server_stop(s->server, 1000);
    atomic_store(&s->done, 1);
    return NULL;
}

static void i12_hostile_client_cannot_freeze_its_worker(void)
{
    np_ipc_cleanup();
    char address[96], line[200];
    np_ipc_address(address, sizeof address, "i12");
    np_server_options options = np_ipc_options(address);
    options.worker_threads = 1; /* every client shares the hostile one's worker */
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client client = NP_IPC_CONNECT(address);
    i12_calls(client, echo, 0, 3);

    np_ipc_child first;
    NP_IPC_SPAWN(&first, "i12-hostile", address);
    NP_IPC_CHILD_LINE(&first, "armed", 30, line, sizeof line);
    const uint32_t calls = NP_SIZE(50u, 2000u);
    i12_calls(client, echo, 100, calls);
    np_server_stats s;
    NP_IPC_WAIT_FOR(server, s, s.responses >= 3 + calls + 2, 10); /* the hostile one's answers were sent too */
    np_ipc_child_tell(&first, "go");
    NP_IPC_CHILD_OK(&first, 30);
    NP_IPC_WAIT_FOR(server, s, s.connections_now == 1, 10); /* the hostile connection is released */
    i12_calls(client, echo, 100 + calls, 10);

    /* Another one stays connected, armed, while the server stops. */
    np_ipc_child second;
    NP_IPC_SPAWN(&second, "i12-hostile", address);
    NP_IPC_CHILD_LINE(&second, "armed", 30, line, sizeof line);
    i12_calls(client, echo, 200 + calls, 10);
    i12_stopper stopper = {server, 0, NP_OK};
    pthread_t thread;
    NP_ASSERT_EQ(0, pthread_create(&thread, NULL, i12_stop, &stopper));
    double deadline = np_ipc_now() + 30;
    while (!atomic_load(&stopper.done) && np_ipc_now() < deadline) np_ipc_sleep_ms(5);
    NP_ASSERT_MSG(atomic_load(&stopper.done), "np_server_stop did not return within 30 s with a hostile client connected");
    pthread_join(thread, NULL);
    NP_ASSERT_OK(stopper.status);
    np_ipc_child_tell(&second, "go");
    NP_IPC_CHILD_OK(&second, 30);
    np_ipc_close(client);
    np_ipc_destroy(server);
    printf("   I12: 2 hostile clients (%s); %u calls of a client on the same worker served; stop returned\n", line,
           (unsigned)(23 + calls));
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I13 */

static void *i13_read_forever(void *argument)
{
    int fd = (int)(intptr_t)argument;
    char buffer[64];
    for (;;) {
        ssize_t n = peer_is(fd, "socket:") ? recv(fd, buffer, sizeof buffer, 0) : read(fd, buffer, peer_is_eventfd(fd) ? 8 : sizeof buffer);
        if (n == 0) return NULL;
        if (n < 0 && errno != EINTR && errno != EAGAIN) return NULL;
    }
}

/* Child: address. Blocking reader threads on every descriptor it holds; "stealing". */
int np_ipc_child_i13_thief(int argc, char **argv)
{
    raw_connection c;
    raw_connect(&c, argc > 1 ? argv[1] : "");
    uint16_t echo = raw_route(&c, "echo");
    raw_valid_call(&c, echo, "a hand-made request");
    int fds[RAW_MAX_FDS + 1], count = 0;
    fds[count++] = c.socket;
    for (int i = 0; i < c.fd_count; i++) fds[count++] = c.fds[i];
    for (int i = 0; i < count; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
        pthread_t thread;
        NP_CHILD_CHECK(pthread_create(&thread, NULL, i13_read_forever, (void *)(intptr_t)fds[i]) == 0, "pthread_create");
        pthread_detach(thread);
    }
    np_child_say("stealing on %d descriptors", count);
    char line[64];
    np_child_read_line(line, sizeof line);
    return 0;
}

static void i13_client_stealing_wakeups_stalls_no_one(void)
{
    np_ipc_cleanup();
    char address[96], line[200];
    np_ipc_address(address, sizeof address, "i13");
    np_server_options options = np_ipc_options(address);
    options.worker_threads = 1;
    options.spin_us = 1; /* the worker parks between calls: each call needs its wake-up */
    np_server server = NP_IPC_SERVER(&options);
    uint32_t echo = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));
    np_client client = NP_IPC_CONNECT(address);
    np_ipc_child thief;
    NP_IPC_SPAWN(&thief, "i13-thief", address);
    NP_IPC_CHILD_LINE(&thief, "stealing", 30, line, sizeof line);
    /* With two clients on a 1-core budget clients park too. A stolen wake-up leaves the worker in
     * its 100 ms park timeout: the calls would take 100 ms each if every wake-up were stolen, and
     * well under a millisecond when none is. 50 ms a call is the "stalled" line, not a speed check. */
    const unsigned CALLS = NP_SIZE(200u, 5000u);
    unsigned slow = 0;
    double start = np_ipc_now();
    for (uint32_t seq = 0; seq < CALLS; seq++) {
        double t0 = np_ipc_now();
        i12_calls(client, echo, seq, 1);
        if (np_ipc_now() - t0 >= 0.09) slow++;
    }
    double took = np_ipc_now() - start;
    NP_ASSERT_MSG(took < 0.05 * CALLS, "%u calls took %.1f s: %u of them waited out the worker's park timeout (stolen wake-ups)",
                  CALLS, took, slow);
    np_ipc_child_tell(&thief, "go");
    NP_IPC_CHILD_OK(&thief, 30);
    np_ipc_close(client);
    np_ipc_destroy(server);
    printf("   I13: a thief (%s); %u parked calls of another client took %.3f s, %u of them >= 90 ms\n", line, CALLS,
           took, slow);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I14 */

/* Child: address, timeout ms. Connects, one call that nobody answers; prints "status NAME ms". */
int np_ipc_child_i14_client(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    uint32_t timeout = (uint32_t)np_child_number(argc, argv, 2);
    np_client client = 0;
    NP_CHILD_OK(np_client_connect(address, 10000, &client));
    uint32_t echo = 0, length = 0;
    NP_CHILD_OK(np_client_resolve(client, "echo", &echo));
    uint8_t response[64];
    double start = np_ipc_now();
    np_status status = np_client_call(client, echo, (const uint8_t *)"ping", 4, response, sizeof response, &length, timeout);
    double took = np_ipc_now() - start;
    char detail[200];
    np_last_error_message(detail, sizeof detail);
    np_child_say("status %s %.0f ms (%s)", np_status_name(status), took * 1000, detail);
    NP_CHILD_OK(np_client_close(client));
    return 0;
}

typedef struct i14_flood {
    int writer, reader; /* our own non-blocking descriptions of the client's doorbell pipe */
    atomic_int stop;
    unsigned long sent, stolen;
} i14_flood;

/* Keeps filling the client's doorbell pipe and emptying it under the client, until told to stop. */
static void *i14_flood_run(void *argument)
{
    i14_flood *f = argument;
    char bytes[512];
    memset(bytes, 1, sizeof bytes);
    while (!atomic_load(&f->stop)) {
        ssize_t n;
        while ((n = write(f->writer, bytes, 1 + f->sent % 64)) > 0) f->sent += (unsigned long)n;
        while ((n = read(f->reader, bytes, sizeof bytes)) > 0) f->stolen += (unsigned long)n;
        sched_yield();
    }
    return NULL;
}

static int i14_reopen(int fd, int mode)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, mode | O_NONBLOCK | O_CLOEXEC);
}

static void i14_hostile_server_cannot_hold_a_call_past_its_timeout(void)
{
    np_ipc_cleanup();
    char address[96], line[300];
    np_ipc_address(address, sizeof address, "i14");
    struct sockaddr_un sa;
    socklen_t sa_length;
    NP_ASSERT(raw_abstract_address(address, &sa, &sa_length));
    int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    NP_ASSERT(listener >= 0);
    NP_ASSERT_MSG(bind(listener, (struct sockaddr *)&sa, sa_length) == 0 && listen(listener, 4) == 0, "bind/listen: errno %d", errno);
    np_ipc_child client;
    NP_IPC_SPAWN(&client, "i14-client", address, "1000");
    struct pollfd p = {listener, POLLIN, 0};
    NP_ASSERT_MSG(poll(&p, 1, 30000) == 1, "the client never connected");
    int s = accept(listener, NULL, NULL);
    NP_ASSERT(s >= 0);

    /* A correct layout: ring 4096, one route "echo", sealed against resizing. */
    raw_connection c;
    memset(&c, 0, sizeof c);
    c.socket = s;
    uint32_t ring = 4096, max_message = 1024;
    c.map = NULL;
    raw_layout(&c, ring, 1);
    int memfd = (int)syscall(SYS_memfd_create, "np-fake-server", 1u /* MFD_CLOEXEC */ | 2u /* MFD_ALLOW_SEALING */);
    NP_ASSERT(memfd >= 0);
    NP_ASSERT(ftruncate(memfd, (off_t)c.size) == 0);
    NP_ASSERT(fcntl(memfd, 1033 /* F_ADD_SEALS */, 2 /* F_SEAL_SHRINK */ | 4 /* F_SEAL_GROW */) == 0);
    void *map = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    NP_ASSERT(map != MAP_FAILED);
    c.map = map;
    raw_layout(&c, ring, 1);
    uint32_t header[5] = {LAYOUT_MAGIC, LAYOUT_VERSION, ring, max_message, 1};
    memcpy(c.map, header, sizeof header);
    raw_store32(c.map + HEADER_CLIENTS_MAY_SPIN, 1);
    uint32_t route[2] = {1, 4};
    memcpy(c.map + LAYOUT_PAGE, route, sizeof route);
    memcpy(c.map + LAYOUT_PAGE + 8, "echo", 4);

    welcome_message w;
    memset(&w, 0, sizeof w);
    w.magic = LAYOUT_MAGIC;
    w.version = LAYOUT_VERSION;
    w.ring_size = ring;
    w.max_message = max_message;
    w.route_count = 1;
    w.connection_id = 1;
    w.spin_us = 200;
    int bell[2]; /* the client's doorbell: it gets the read end */
    NP_ASSERT(pipe(bell) == 0);
    int fds[2] = {memfd, bell[0]}, count = 2;
    union {
        char buffer[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {&w, sizeof w};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = CMSG_SPACE(count * sizeof(int));
    struct cmsghdr *h = CMSG_FIRSTHDR(&message);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(h), fds, count * sizeof(int));
    NP_ASSERT(sendmsg(s, &message, MSG_NOSIGNAL) == (ssize_t)sizeof w);

    /* Everything we passed or share, filled and made blocking (the read end is the client's too);
     * flags that make the client ring; then the pipe flooded and emptied under the client. */
    unsigned long filled = peer_fill_and_block(s) + peer_fill_and_block(bell[0]);
    raw_store32(c.request_control + RING_CONSUMER_SLEEPING, 1);
    raw_store32(c.response_control + RING_PRODUCER_WAITING, 1);
    i14_flood flood = {i14_reopen(bell[0], O_WRONLY), i14_reopen(bell[0], O_RDONLY), 0, 0, 0};
    NP_ASSERT(flood.writer >= 0 && flood.reader >= 0);
    pthread_t thread;
    NP_ASSERT_EQ(0, pthread_create(&thread, NULL, i14_flood_run, &flood));

    /* The call's timeout is 1 s; 30 s is the "frozen" line. */
    int answered = np_ipc_child_wait(&client, 30);
    atomic_store(&flood.stop, 1);
    pthread_join(thread, NULL);
    NP_ASSERT_MSG(answered, "np_client_call did not return within 30 s (timeout 1 s) against a hostile server: %s",
                  np_ipc_child_output(&client, 300));
    NP_IPC_CHILD_LINE(&client, "status", 0, line, sizeof line);
    NP_ASSERT_MSG(strncmp(line, "status NP_E_TIMEOUT ", 20) == 0, "the call ended with: %s", line);
    NP_IPC_CHILD_OK(&client, 10);
    munmap(c.map, c.size);
    close(memfd);
    close(bell[0]);
    close(bell[1]);
    close(flood.writer);
    close(flood.reader);
    close(s);
    close(listener);
    printf("   I14: a hostile server filled %lu wake-up bytes, flooded %lu more and took back %lu: %s\n", filled, flood.sent,
           flood.stolen, line);
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ I15 */

/* The limit under which exactly `spare` descriptor numbers are free (new descriptors take the lowest free number). */
static int i15_limit_leaving(int spare)
{
    int free_numbers = 0, fd = 0;
    for (; free_numbers < spare; fd++)
        if (fcntl(fd, F_GETFD) == -1) free_numbers++;
    return fd;
}

/*
 * Child: address, spare descriptors. A server whose RLIMIT_NOFILE leaves it a few descriptors.
 * Answers "exhaust" (open descriptors until none is left), "measure" (CPU time over a quiet
 * second), "release" (close them again) and "stop".
 */
int np_ipc_child_i15_server(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "";
    unsigned long spare = np_child_number(argc, argv, 2);
    np_server_options options = np_ipc_options(address);
    options.worker_threads = 1;
    np_server server = 0;
    NP_CHILD_OK(np_server_create(&options, &server));
    uint32_t echo = 0;
    NP_CHILD_OK(np_server_add_route(server, "echo", np_ipc_echo_handler, NULL, &echo));
    NP_CHILD_OK(np_server_start(server));
    int room = i15_limit_leaving((int)spare);
    struct rlimit limit = {(rlim_t)room, (rlim_t)room};
    NP_CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit: errno %d", errno);
    np_child_say("ready: RLIMIT_NOFILE %d", (int)limit.rlim_cur);
    char line[64];
    int held[64], holding = 0;
    while (np_child_read_line(line, sizeof line)) {
        if (strcmp(line, "exhaust") == 0) {
            int fd;
            while (holding < 64 && (fd = dup(STDERR_FILENO)) >= 0) held[holding++] = fd;
            NP_CHILD_CHECK(errno == EMFILE, "dup stopped with errno %d after %d", errno, holding);
            np_child_say("exhausted: took the last %d descriptors", holding);
        } else if (strcmp(line, "release") == 0) {
            while (holding > 0) close(held[--holding]);
            np_child_say("released");
        } else if (strcmp(line, "measure") == 0) {
            struct timespec a, b;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
            np_ipc_sleep_ms(1000);
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
            double cpu = (double)(b.tv_sec - a.tv_sec) * 1000 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            np_server_stats s;
            memset(&s, 0, sizeof s);
            s.struct_size = sizeof s;
            NP_CHILD_OK(np_server_get_stats(server, &s));
            np_child_say("cpu %.0f ms over 1 s; connections now %llu, rejected %llu, refused_no_descriptor %llu", cpu,
                         (unsigned long long)s.connections_now, (unsigned long long)s.connections_rejected,
                         (unsigned long long)s.refused_no_descriptor);
        } else if (strcmp(line, "stop") == 0) {
            NP_CHILD_OK(np_server_stop(server, 1000));
            NP_CHILD_OK(np_server_destroy(server));
            np_child_say("stopped");
            return 0;
        }
    }
    return 1;
}

static void i15_server_out_of_descriptors_does_not_spin(void)
{
    np_ipc_cleanup();
    char address[96], line[300], said[200];
    np_ipc_address(address, sizeof address, "i15");
    np_ipc_child server;
    NP_IPC_SPAWN(&server, "i15-server", address, "14");
    NP_IPC_CHILD_LINE(&server, "ready", 30, line, sizeof line);

    enum { ADMITTED = 2, RAW = 8 };
    np_client clients[ADMITTED];
    uint32_t echo = 0;
    for (int i = 0; i < ADMITTED; i++) {
        clients[i] = NP_IPC_CONNECT(address);
        echo = NP_IPC_RESOLVE(clients[i], "echo");
        i12_calls(clients[i], echo, (uint32_t)i * 10, 2);
    }
    /* Now the server process has no descriptor left: the next accept fails with EMFILE. */
    np_ipc_child_tell(&server, "exhaust");
    NP_IPC_CHILD_LINE(&server, "exhausted", 30, said, sizeof said);
    np_client refused_client = 0;
    np_status refused = np_client_connect(address, 3000, &refused_client);
    char detail[256] = "";
    np_last_error_message(detail, sizeof detail);
    if (refused == NP_OK) np_client_close(refused_client);
    /* More connect attempts than descriptors, left in the listen backlog. */
    struct sockaddr_un sa;
    socklen_t sa_length;
    NP_ASSERT(raw_abstract_address(address, &sa, &sa_length));
    int raw[RAW];
    for (int i = 0; i < RAW; i++) {
        raw[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        NP_ASSERT(raw[i] >= 0);
        if (connect(raw[i], (struct sockaddr *)&sa, sa_length) != 0) NP_ASSERT_MSG(errno == EAGAIN, "connect: errno %d", errno);
    }
    np_ipc_sleep_ms(200);
    np_ipc_child_tell(&server, "measure");
    NP_IPC_CHILD_LINE(&server, "cpu", 30, line, sizeof line);
    double cpu = atof(line + 4);
    /* A thread spinning on a failing accept burns a core: about 1000 ms of CPU per second. */
    NP_ASSERT_MSG(cpu < 200, "the server process used %s: its control thread spins on the failing accept", line);
    NP_ASSERT_MSG(refused == NP_E_IO && strstr(detail, "descriptor") != NULL,
                  "a client past the server's descriptors got %s (%s)", np_status_name(refused), detail);
    /* The refusal is counted where users look: refused_no_descriptor, and within connections_rejected. */
    const char *counted = strstr(line, "refused_no_descriptor ");
    NP_ASSERT_MSG(counted != NULL && strtoull(counted + 22, NULL, 10) >= 1, "not counted: %s", line);
    NP_ASSERT_MSG(strtoull(strstr(line, "rejected ") + 9, NULL, 10) >= strtoull(counted + 22, NULL, 10),
                  "connections_rejected below refused_no_descriptor: %s", line);
    for (int i = 0; i < ADMITTED; i++) i12_calls(clients[i], echo, 1000 + (uint32_t)i * 10, 2); /* still served */
    for (int i = 0; i < RAW; i++) close(raw[i]);
    /* With descriptors back, clients are admitted again. */
    np_ipc_child_tell(&server, "release");
    NP_IPC_CHILD_LINE(&server, "released", 30, said, sizeof said);
    np_client later = NP_IPC_CONNECT(address);
    i12_calls(later, echo, 2000, 2);
    np_ipc_close(later);
    for (int i = 0; i < ADMITTED; i++) np_ipc_close(clients[i]);
    np_ipc_child_tell(&server, "stop");
    NP_IPC_CHILD_LINE(&server, "stopped", 30, said, sizeof said);
    NP_IPC_CHILD_OK(&server, 30);
    printf("   I15: out of descriptors, a client got %s (%s); %s\n", np_status_name(refused), detail, line);
    np_ipc_cleanup();
}

static const np_test_case cases[] = {
    {"I12", "hostile_client_blocking_doorbells_cannot_freeze_its_worker", i12_hostile_client_cannot_freeze_its_worker},
    {"I13", "client_stealing_wakeups_stalls_no_other_client", i13_client_stealing_wakeups_stalls_no_one},
    {"I14", "hostile_server_cannot_hold_a_call_past_its_timeout", i14_hostile_server_cannot_hold_a_call_past_its_timeout},
    {"I15", "server_out_of_descriptors_does_not_spin_and_refuses_clearly", i15_server_out_of_descriptors_does_not_spin},
};

const np_test_suite np_suite_ipc_hostile_peers = {"ipc_hostile_peers", cases, NP_COUNT_OF(cases)};
