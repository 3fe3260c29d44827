/*
 * A NativePools IPC peer written by hand from the wire layout, for tests that must act as a
 * client or a server the library did not write (hostile peers, fake servers). The layout is the
 * one src/NativePools/Ipc/IpcLayout.cs defines (offsets) and Ring.cs uses (record rules); a
 * first valid call in each test proves these numbers right before anything hostile is done.
 * The raw_* functions run in child processes: a failed check ends the child (np_child_fail).
 */
#ifndef NP_RAW_PEER_H
#define NP_RAW_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LAYOUT_MAGIC 0x5049504Eu /* IpcLayout.Magic, "NPIP" */
#define LAYOUT_VERSION 2u        /* IpcLayout.Version */
enum {
    LAYOUT_PAGE = 4096,                /* IpcLayout.PageSize */
    HEADER_MAGIC = 0,                  /* u32 */
    HEADER_VERSION = 4,                /* u32 */
    HEADER_RING_SIZE = 8,              /* u32 */
    HEADER_MAX_MESSAGE = 12,           /* u32 */
    HEADER_ROUTE_COUNT = 16,           /* u32 */
    HEADER_SERVER_STATE = 128,         /* u32: 0 serving, 1 draining, 2 closed */
    HEADER_CLIENTS_MAY_SPIN = 132,     /* u32 */
    SERVER_CLOSED = 2,
    ROUTE_ENTRY_SIZE = 64,             /* route table from page 1: { u32 id; u32 name_length; u8 name[56] } */
    ROUTE_ID = 0,
    ROUTE_NAME_LENGTH = 4,
    ROUTE_NAME = 8,
    RING_TAIL = 0,                     /* u64, producer */
    RING_HEAD = 128,                   /* u64, consumer */
    RING_CONSUMER_SLEEPING = 256,      /* u32 */
    RING_PRODUCER_WAITING = 384,       /* u32 */
    RING_CONTROL_SIZE = 512,           /* requests' control at +0, responses' at +512 */
    RECORD_HEADER = 16,                /* records start 16-aligned */
    RECORD_LENGTH = 0,                 /* u32 payload bytes */
    RECORD_KIND = 4,                   /* u16 */
    RECORD_ROUTE = 6,                  /* u16 */
    RECORD_REQUEST_ID = 8,             /* u64 */
    KIND_REQUEST = 1,
    KIND_RESPONSE = 2,
    KIND_ERROR = 3,                    /* payload: i32 status a handler or a pull reply chose */
    KIND_PADDING = 4,                  /* skip to the ring's end */
    KIND_SERVER_ERROR = 5,             /* payload: i32 status of the server's own refusal */
    RAW_MAX_FDS = 8,
};

/* IpcLayout.cs, struct Welcome: 64 bytes, sent with SCM_RIGHTS [memfd, read end of the client's doorbell pipe];
 * then one-byte messages from the client on the socket wake the server. */
typedef struct welcome_message {
    uint32_t magic, version;
    int32_t status;
    uint32_t ring_size, max_message, route_count;
    uint64_t connection_id;
    uint32_t spin_us, reserved0;
    uint64_t reserved1, reserved2, reserved3;
} welcome_message;
_Static_assert(sizeof(welcome_message) == 64, "the Welcome is 64 bytes");

/* One side's view of a connection: its socket, the descriptors it was passed, the mapping. */
typedef struct raw_connection {
    int socket;
    int fds[RAW_MAX_FDS]; /* descriptors passed besides the memfd (the client's doorbell), kept open */
    int fd_count;
    welcome_message welcome;
    uint8_t *map;
    size_t size;
    uint8_t *request_control, *response_control, *request_data, *response_data;
    uint64_t ring, request_tail, response_head, next_id;
} raw_connection;

uint64_t raw_record_size(uint64_t payload);
uint64_t raw_load64(const uint8_t *p);
uint32_t raw_load32(const uint8_t *p);
void raw_store64(uint8_t *p, uint64_t v);
void raw_store32(uint8_t *p, uint32_t v);

/* Sets size and the ring pointers from (ring size, route count) and c->map, as IpcLayout does. */
void raw_layout(raw_connection *c, uint32_t ring, uint32_t routes);

/* "@name" as an abstract-namespace address; 0 for anything else. */
int raw_abstract_address(const char *address, struct sockaddr_un *sa, socklen_t *length);

/* Client side: connects, receives the welcome and its descriptors, checks the seals and maps. */
void raw_connect(raw_connection *c, const char *address);
uint16_t raw_route(const raw_connection *c, const char *name);
/* A wake-up is one byte on the control socket; a full socket already holds one. */
void raw_ring_bell(const raw_connection *c);
/* Waits (10 s at most) until the request ring has room for `bytes` more from the tail. */
void raw_wait_room(raw_connection *c, uint64_t bytes);
/* Writes one record like a well-behaved client (padding at the end of the ring), without publishing. */
void raw_put_record(raw_connection *c, uint16_t kind, uint16_t route, uint64_t id, const void *payload, uint32_t length);
/* Publishes the tail and rings. */
void raw_publish(raw_connection *c);
/* One request of `text`, published. */
void raw_request(raw_connection *c, uint16_t route, const char *text);
/* Reads the next response record (10 s at most); returns its kind. */
uint16_t raw_take_response(raw_connection *c, uint64_t *id, uint8_t *payload, uint32_t capacity, uint32_t *length);
/* One correct echo call by hand: proves the layout and the record format are understood. */
void raw_valid_call(raw_connection *c, uint16_t echo, const char *text);
/* Waits up to 10 s for the server to close our socket; 1 if it did. */
int raw_dropped(raw_connection *c);
/* Writes a bare record header at the tail (no room check, no padding): for malformed records. */
void raw_bare_header(raw_connection *c, uint32_t length, uint16_t kind, uint16_t route);
void raw_publish_tail(raw_connection *c, uint64_t tail);

#endif /* NP_RAW_PEER_H */
