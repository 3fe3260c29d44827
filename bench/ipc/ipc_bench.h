/*
 * ipc_bench.h: the IPC benchmark driver's shared pieces. One binary plays three roles:
 *
 *   ipc_bench run ...    the orchestrator: spawns one server process and N client processes (this
 *                        same binary, re-executed), opens a start gate, collects their figures from a
 *                        shared page and prints one JSON record. It never calls libnativepools.
 *   ipc_bench serve ...  one server process (NativePools, raw shared memory, Unix socket, ZeroMQ)
 *   ipc_bench client ... one client process
 *
 * Every process maps the same memfd (the "board", passed by fd number): start gate, phases,
 * per-client result slots. Waits on the board are cross-process futexes.
 */
#ifndef IPC_BENCH_H
#define IPC_BENCH_H

#include <stdint.h>

#include "bench_util.h"
#include "latency_histogram.h"

/* ---------------------------------------------------------------- transports */

typedef enum ipc_transport {
    IPC_NATIVEPOOLS,  /* np_server (handler route "echo") + np_client_call / send+receive */
    IPC_SHM,          /* raw shared-memory ping-pong: spin, then futex with a sleeping flag */
    IPC_UDS,          /* Unix socket, SOCK_STREAM, blocking read/write, one server thread per client */
    IPC_UDS_EPOLL,    /* Unix socket, SOCK_STREAM, one server thread with epoll over all clients */
    IPC_ZMQ,          /* ZeroMQ REQ/REP over ipc:// */
} ipc_transport;

const char* ipc_transport_name(ipc_transport t);
ipc_transport ipc_transport_parse(const char* name);

/* ---------------------------------------------------------------- the board */

/* Figures of one side over the measured window. */
typedef struct ipc_side {
    bench_cpu cpu;              /* getrusage(RUSAGE_SELF) delta: every thread of the process */
    uint64_t syscalls;          /* raw_syscalls:sys_enter delta, or IPC_UNKNOWN */
    uint64_t futex_waits;       /* shm transport: FUTEX_WAIT calls made */
    uint64_t futex_wakes;       /* shm transport: FUTEX_WAKE calls made */
    uint64_t vm_hwm_kib;        /* peak RSS of the process at the end */
    uint64_t vm_rss_kib;
} ipc_side;

#define IPC_UNKNOWN UINT64_MAX

typedef struct ipc_slot {
    ipc_side side;
    uint64_t calls;             /* completed round trips (or pipelined messages) in the window */
    uint64_t began_ns;          /* CLOCK_MONOTONIC when the client saw the gate open */
    uint64_t ended_ns;          /* ... when its last counted call returned */
    uint64_t content_errors;    /* echoes that did not match the request */
    uint64_t warmup_calls;
    latency_histogram latency;  /* every call in the window, rdtsc */
    int32_t status;             /* 0, or the failure that ended the client */
    char message[244];
} ipc_slot;

typedef struct ipc_board {
    /* written by the orchestrator before spawning */
    double ticks_per_ns;
    uint64_t tick_overhead;
    uint32_t clients;
    uint32_t reserved0;
    /* the start gate: start_ns/end_ns are written before gate flips to 1 */
    uint64_t start_ns;
    uint64_t end_ns;
    uint32_t gate;              /* 0 closed, 1 open */
    uint32_t release;           /* 1: clients may close and exit */
    uint32_t ready;             /* clients connected and warmed up */
    uint32_t done;              /* clients past their deadline, results written */
    uint32_t command;           /* to the server: IPC_CMD_* */
    uint32_t server_phase;      /* from the server: IPC_PHASE_* */
    /* the server's figures */
    ipc_side server;
    uint64_t server_requests;   /* served in the window (np_server_get_stats, or counted) */
    uint64_t server_errors;     /* np: error responses + protocol errors + handler errors */
    int32_t server_status;
    char server_message[244];
    /* raw shared-memory channel (transport shm, one client), then the slots */
    ipc_slot slots[];
} ipc_board;

enum { IPC_CMD_NONE, IPC_CMD_BEGIN, IPC_CMD_END, IPC_CMD_QUIT };
enum { IPC_PHASE_STARTING, IPC_PHASE_READY, IPC_PHASE_BEGUN, IPC_PHASE_ENDED, IPC_PHASE_FAILED };

size_t ipc_board_bytes(uint32_t clients);
ipc_board* ipc_board_map(int fd, uint32_t clients);

/* Cross-process futex waits on board words (non-private futexes on a MAP_SHARED memfd). */
void ipc_word_set(uint32_t* word, uint32_t value);          /* store + wake all */
uint32_t ipc_word_add(uint32_t* word, uint32_t value);      /* add + wake all; returns the new value */
/* Waits until *word >= value, up to timeout_ms (0: forever). Returns 1 when reached, 0 on timeout. */
int ipc_word_wait_at_least(uint32_t* word, uint32_t value, uint32_t timeout_ms);

/* ---------------------------------------------------------------- measuring a side */

/* Opens a counter of raw_syscalls:sys_enter for this process and every thread it starts later
 * (perf_event_open, inherit). Call before creating threads. Returns -1 when unavailable. */
int ipc_syscall_counter_open(void);
uint64_t ipc_syscall_counter_read(int fd); /* IPC_UNKNOWN when fd < 0 */

typedef struct ipc_snapshot {
    bench_cpu cpu;
    uint64_t syscalls;
} ipc_snapshot;

ipc_snapshot ipc_snapshot_take(int syscall_fd);
/* Fills side with after - before, and the memory figures now. */
void ipc_side_fill(ipc_side* side, ipc_snapshot before, ipc_snapshot after);

/* Ticks (rdtsc) to ns with the orchestrator's calibration. */
static inline uint64_t ipc_ticks_ns(const ipc_board* board, uint64_t ticks)
{
    uint64_t net = ticks > board->tick_overhead ? ticks - board->tick_overhead : 0;
    return (uint64_t)((double)net / board->ticks_per_ns);
}

/* ---------------------------------------------------------------- roles */

/* Shared command-line options of serve and client. */
typedef struct ipc_options {
    ipc_transport transport;
    const char* address;        /* np: "@name"; uds: a socket path; zmq: "ipc://path"; shm: unused */
    int board_fd;
    int channel_fd;             /* shm: the channel memfd */
    uint32_t clients;
    uint32_t index;             /* client: its slot */
    uint32_t size;              /* payload bytes each way */
    uint32_t workers;           /* np: worker_threads */
    uint32_t ring_size;         /* np: 0 = default */
    uint32_t max_message;       /* np: 0 = default */
    uint32_t spin_us;           /* np: 0 = default (200); shm: the same spin budget */
    uint32_t window;            /* client: pipelined requests in flight (np); 0 = synchronous calls */
    uint64_t warmup_ms;         /* client: longest warm-up */
    uint64_t warmup_calls;      /* client: most warm-up calls */
} ipc_options;

void ipc_options_parse(ipc_options* options, int argc, char** argv);

int ipc_serve_main(int argc, char** argv);
int ipc_client_main(int argc, char** argv);
int ipc_run_main(int argc, char** argv);

/* The raw shared-memory channel of transport shm (one client). */
typedef struct ipc_shm_direction {
    _Alignas(128) uint32_t seq;      /* the writer bumps it after the payload (release) */
    uint32_t reserved;
    uint8_t inline_payload[56];      /* payloads up to 56 B share the line with seq */
    _Alignas(128) uint32_t sleeping; /* the reader's flag: set before it parks on seq */
    _Alignas(128) uint8_t payload[]; /* larger payloads: their own lines, then seq */
} ipc_shm_direction;

enum { IPC_SHM_DIRECTION_BYTES = 256 + 65536 };
enum { IPC_SHM_CHANNEL_BYTES = 2 * IPC_SHM_DIRECTION_BYTES + 128 };

typedef struct ipc_shm_channel {
    ipc_shm_direction* request;
    ipc_shm_direction* response;
    uint32_t* stop;
} ipc_shm_channel;

ipc_shm_channel ipc_shm_map(int fd);
static inline uint8_t* ipc_shm_payload(ipc_shm_direction* d, uint32_t size)
{
    return size <= sizeof d->inline_payload ? d->inline_payload : d->payload;
}
/* Waits until d->seq != seen: spin for spin_ns, then flag + fence + recheck + FUTEX_WAIT.
 * Returns the new seq; counts futex waits. Returns seen when *stop was set. */
uint32_t ipc_shm_wait(ipc_shm_direction* d, uint32_t seen, uint64_t spin_ticks, const uint32_t* stop, uint64_t* waits);
/* Publishes seq (release), then wakes the reader when its flag is set (full fence first). */
void ipc_shm_publish(ipc_shm_direction* d, uint32_t seq, uint64_t* wakes);

/* Prints to stderr and exits 2. */
void ipc_fail(const char* format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* JSON record: {"scenario": ..., "transport": ..., "params": {...}, "metrics": {...}} */
void ipc_record_begin(bench_record* record, const char* scenario, const char* transport);

#endif /* IPC_BENCH_H */
