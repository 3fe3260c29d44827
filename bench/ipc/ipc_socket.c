#define _GNU_SOURCE
#include "ipc_socket.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc_bench.h"

static socklen_t make_address(const char* address, struct sockaddr_un* out)
{
    memset(out, 0, sizeof *out);
    out->sun_family = AF_UNIX;
    size_t length = strlen(address);
    if (length == 0 || length >= sizeof out->sun_path) ipc_fail("bad socket address '%s'", address);
    memcpy(out->sun_path, address, length);
    if (address[0] == '@') out->sun_path[0] = '\0'; /* abstract: no file, no clean-up */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
}

int ipc_listen(const char* address, uint32_t backlog)
{
    struct sockaddr_un sa;
    socklen_t length = make_address(address, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) ipc_fail("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr*)&sa, length) < 0) ipc_fail("bind %s: %s", address, strerror(errno));
    if (listen(fd, (int)(backlog < 128 ? 128 : backlog)) < 0) ipc_fail("listen: %s", strerror(errno));
    return fd;
}

int ipc_connect(const char* address, uint32_t timeout_ms)
{
    struct sockaddr_un sa;
    socklen_t length = make_address(address, &sa);
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) ipc_fail("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr*)&sa, length) == 0) return fd;
        int error = errno;
        close(fd);
        if ((error != ECONNREFUSED && error != ENOENT && error != EAGAIN) || bench_now_ns() > deadline)
            ipc_fail("connect %s: %s", address, strerror(error));
        bench_sleep_ns(2000000);
    }
}

int ipc_read_full(int fd, void* buffer, size_t length)
{
    size_t have = 0;
    while (have < length) {
        ssize_t got = read(fd, (char*)buffer + have, length - have);
        if (got > 0) { have += (size_t)got; continue; }
        if (got == 0) return have == 0 ? 0 : -1;
        if (errno != EINTR) return -1;
    }
    return 1;
}

int ipc_write_full(int fd, const void* buffer, size_t length)
{
    size_t done = 0;
    while (done < length) {
        ssize_t put = write(fd, (const char*)buffer + done, length - done);
        if (put > 0) { done += (size_t)put; continue; }
        if (put < 0 && errno == EINTR) continue;
        return -1;
    }
    return 0;
}

int ipc_write_full_nonblocking(int fd, const void* buffer, size_t length)
{
    size_t done = 0;
    while (done < length) {
        ssize_t put = write(fd, (const char*)buffer + done, length - done);
        if (put > 0) { done += (size_t)put; continue; }
        if (put < 0 && errno == EINTR) continue;
        if (put < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        return -1;
    }
    return 0;
}
