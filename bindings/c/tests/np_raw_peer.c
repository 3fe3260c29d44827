/* A NativePools IPC peer written by hand from the wire layout: np_raw_peer.h. */
#define _GNU_SOURCE
#include "np_raw_peer.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "np_ipc_support.h"

uint64_t raw_record_size(uint64_t payload) { return (payload + RECORD_HEADER + 15) & ~(uint64_t)15; }
uint64_t raw_load64(const uint8_t *p) { return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE); }
uint32_t raw_load32(const uint8_t *p) { return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_ACQUIRE); }
void raw_store64(uint8_t *p, uint64_t v) { __atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELEASE); }
void raw_store32(uint8_t *p, uint32_t v) { __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_SEQ_CST); }

void raw_layout(raw_connection *c, uint32_t ring, uint32_t routes)
{
    c->ring = ring;
    uint64_t route_bytes = ((uint64_t)routes * ROUTE_ENTRY_SIZE + LAYOUT_PAGE - 1) / LAYOUT_PAGE * LAYOUT_PAGE;
    uint64_t control = LAYOUT_PAGE + route_bytes;
    c->size = (size_t)(control + LAYOUT_PAGE + 2 * (uint64_t)ring);
    c->request_control = c->map + control;
    c->response_control = c->request_control + RING_CONTROL_SIZE;
    c->request_data = c->map + control + LAYOUT_PAGE;
    c->response_data = c->request_data + ring;
}

int raw_abstract_address(const char *address, struct sockaddr_un *sa, socklen_t *length)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t name = strlen(address) - 1; /* "@name": a leading NUL and no terminator */
    if (address[0] != '@' || name >= sizeof sa->sun_path - 1) return 0;
    memcpy(sa->sun_path + 1, address + 1, name);
    *length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + name);
    return 1;
}

void raw_connect(raw_connection *c, const char *address)
{
    memset(c, 0, sizeof *c);
    c->socket = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    NP_CHILD_CHECK(c->socket >= 0, "socket: errno %d", errno);
    struct sockaddr_un sa;
    socklen_t length;
    NP_CHILD_CHECK(raw_abstract_address(address, &sa, &length), "bad address %s", address);
    NP_CHILD_CHECK(connect(c->socket, (struct sockaddr *)&sa, length) == 0, "connect: errno %d", errno);

    union {
        char buffer[CMSG_SPACE(RAW_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {&c->welcome, sizeof c->welcome};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.buffer;
    message.msg_controllen = sizeof control.buffer;
    ssize_t received = recvmsg(c->socket, &message, 0);
    NP_CHILD_CHECK(received == (ssize_t)sizeof c->welcome, "welcome: %zd bytes (errno %d)", received, errno);
    NP_CHILD_CHECK(c->welcome.magic == LAYOUT_MAGIC && c->welcome.version == LAYOUT_VERSION && c->welcome.status == 0,
                   "welcome: magic %x version %u status %d", c->welcome.magic, c->welcome.version, c->welcome.status);
    int fds[RAW_MAX_FDS], count = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&message); h != NULL; h = CMSG_NXTHDR(&message, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n && count < RAW_MAX_FDS; i++) memcpy(&fds[count++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
    }
    NP_CHILD_CHECK(count == 2, "welcome carried %d descriptors, expected 2 (memfd, doorbell)", count);
    for (int i = 1; i < count; i++) c->fds[c->fd_count++] = fds[i]; /* the doorbell: kept for tests that abuse it */

    raw_layout(c, c->welcome.ring_size, c->welcome.route_count); /* the size; the pointers once mapped */
    uint64_t total = c->size;
    struct stat st;
    NP_CHILD_CHECK(fstat(fds[0], &st) == 0, "fstat: errno %d", errno);
    NP_CHILD_CHECK((uint64_t)st.st_size == total, "the memfd has %lld bytes; the layout says %llu", (long long)st.st_size,
                   (unsigned long long)total);
    /* Sealed against resizing: a client cannot make the server's reads fault by shrinking it. */
    NP_CHILD_CHECK(ftruncate(fds[0], 0) != 0 && errno == EPERM, "the memfd could be shrunk (errno %d)", errno);
    NP_CHILD_CHECK(ftruncate(fds[0], st.st_size * 2) != 0 && errno == EPERM, "the memfd could be grown (errno %d)", errno);
    void *map = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    NP_CHILD_CHECK(map != MAP_FAILED, "mmap: errno %d", errno);
    close(fds[0]);
    c->map = map;
    NP_CHILD_CHECK(raw_load32(c->map + HEADER_MAGIC) == LAYOUT_MAGIC && raw_load32(c->map + HEADER_VERSION) == LAYOUT_VERSION &&
                       raw_load32(c->map + HEADER_RING_SIZE) == c->welcome.ring_size &&
                       raw_load32(c->map + HEADER_MAX_MESSAGE) == c->welcome.max_message &&
                       raw_load32(c->map + HEADER_ROUTE_COUNT) == c->welcome.route_count,
                   "the shared header does not match the welcome");
    raw_layout(c, c->welcome.ring_size, c->welcome.route_count);
}

uint16_t raw_route(const raw_connection *c, const char *name)
{
    for (uint32_t i = 0; i < c->welcome.route_count; i++) {
        const uint8_t *entry = c->map + LAYOUT_PAGE + i * ROUTE_ENTRY_SIZE;
        uint32_t length = raw_load32(entry + ROUTE_NAME_LENGTH);
        if (length == strlen(name) && memcmp(entry + ROUTE_NAME, name, length) == 0) return (uint16_t)raw_load32(entry + ROUTE_ID);
    }
    np_child_fail(13, "no route '%s' in the shared route table", name);
}

void raw_ring_bell(const raw_connection *c)
{
    char one = 1;
    NP_CHILD_CHECK(send(c->socket, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 || errno == EAGAIN, "doorbell send: errno %d", errno);
}

void raw_wait_room(raw_connection *c, uint64_t bytes)
{
    double deadline = np_ipc_now() + 10;
    while (c->request_tail + bytes - raw_load64(c->request_control + RING_HEAD) > c->ring) {
        NP_CHILD_CHECK(np_ipc_now() < deadline, "the server never freed room in the request ring");
        np_ipc_sleep_ms(1);
    }
}

void raw_put_record(raw_connection *c, uint16_t kind, uint16_t route, uint64_t id, const void *payload,
                           uint32_t length)
{
    uint64_t need = raw_record_size(length), index = c->request_tail & (c->ring - 1), to_end = c->ring - index;
    raw_wait_room(c, need > to_end ? to_end + need : need);
    if (need > to_end) {
        uint8_t *pad = c->request_data + index;
        uint32_t pad_length = (uint32_t)(to_end - RECORD_HEADER);
        uint16_t pad_kind = KIND_PADDING, zero = 0;
        uint64_t no_id = 0;
        memcpy(pad + RECORD_LENGTH, &pad_length, 4);
        memcpy(pad + RECORD_KIND, &pad_kind, 2);
        memcpy(pad + RECORD_ROUTE, &zero, 2);
        memcpy(pad + RECORD_REQUEST_ID, &no_id, 8);
        c->request_tail += to_end;
        index = 0;
    }
    uint8_t *record = c->request_data + index;
    memcpy(record + RECORD_LENGTH, &length, 4);
    memcpy(record + RECORD_KIND, &kind, 2);
    memcpy(record + RECORD_ROUTE, &route, 2);
    memcpy(record + RECORD_REQUEST_ID, &id, 8);
    if (length > 0 && payload != NULL) memcpy(record + RECORD_HEADER, payload, length);
    c->request_tail += need;
}

void raw_publish(raw_connection *c)
{
    raw_store64(c->request_control + RING_TAIL, c->request_tail);
    raw_ring_bell(c);
}

void raw_request(raw_connection *c, uint16_t route, const char *text)
{
    raw_put_record(c, KIND_REQUEST, route, ++c->next_id, text, (uint32_t)strlen(text));
    raw_publish(c);
}

uint16_t raw_take_response(raw_connection *c, uint64_t *id, uint8_t *payload, uint32_t capacity, uint32_t *length)
{
    double deadline = np_ipc_now() + 10;
    for (;;) {
        while (raw_load64(c->response_control + RING_TAIL) == c->response_head) {
            NP_CHILD_CHECK(np_ipc_now() < deadline, "no response within 10 s");
            np_ipc_sleep_ms(1);
        }
        uint64_t index = c->response_head & (c->ring - 1);
        const uint8_t *record = c->response_data + index;
        uint32_t n;
        uint16_t kind;
        memcpy(&n, record + RECORD_LENGTH, 4);
        memcpy(&kind, record + RECORD_KIND, 2);
        if (kind == KIND_PADDING) {
            c->response_head += c->ring - index;
        } else {
            NP_CHILD_CHECK(n <= capacity, "response of %u bytes", n);
            memcpy(id, record + RECORD_REQUEST_ID, 8);
            memcpy(payload, record + RECORD_HEADER, n);
            *length = n;
            c->response_head += raw_record_size(n);
            raw_store64(c->response_control + RING_HEAD, c->response_head);
            return kind;
        }
        raw_store64(c->response_control + RING_HEAD, c->response_head);
    }
}

void raw_valid_call(raw_connection *c, uint16_t echo, const char *text)
{
    uint8_t response[256];
    uint32_t length = 0, n = (uint32_t)strlen(text);
    uint64_t id = ++c->next_id, answered = 0;
    raw_put_record(c, KIND_REQUEST, echo, id, text, n);
    raw_publish(c);
    uint16_t kind = raw_take_response(c, &answered, response, sizeof response, &length);
    NP_CHILD_CHECK(kind == KIND_RESPONSE && answered == id && length == n && memcmp(response, text, n) == 0,
                   "the hand-made call came back wrong (kind %u, id %llu, %u bytes)", kind, (unsigned long long)answered,
                   length);
}

int raw_dropped(raw_connection *c)
{
    double deadline = np_ipc_now() + 10;
    for (;;) {
        int left = (int)((deadline - np_ipc_now()) * 1000);
        if (left <= 0) return 0;
        struct pollfd p = {c->socket, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) continue;
        char byte;
        if ((p.revents & POLLHUP) != 0 || recv(c->socket, &byte, 1, MSG_DONTWAIT) == 0) return 1;
    }
}

void raw_bare_header(raw_connection *c, uint32_t length, uint16_t kind, uint16_t route)
{
    uint8_t *record = c->request_data + (c->request_tail & (c->ring - 1));
    uint64_t id = ++c->next_id;
    memcpy(record + RECORD_LENGTH, &length, 4);
    memcpy(record + RECORD_KIND, &kind, 2);
    memcpy(record + RECORD_ROUTE, &route, 2);
    memcpy(record + RECORD_REQUEST_ID, &id, 8);
}

void raw_publish_tail(raw_connection *c, uint64_t tail)
{
    raw_store64(c->request_control + RING_TAIL, tail);
    raw_ring_bell(c);
}
