/*
 * echo_server.c: an IPC server with two handler routes.
 *
 *   echo_server [address] [--workers N] [--seconds S]
 *
 *   "echo"      answers with a copy of the request
 *   "checksum"  answers with the 64-bit FNV-1a of the request (8 bytes, little-endian)
 *
 * Serves until SIGINT or SIGTERM (or for S seconds), then stops with a drain of one second and
 * prints the server's counters. The default address "@nativepools-echo" is in the Linux abstract
 * namespace; a path works too if its directory is private (0700, created when missing).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nativepools.h"

#define CHECK(call)                                                                   \
    do {                                                                              \
        np_status status_ = (call);                                                   \
        if (status_ != NP_OK) {                                                       \
            char detail[256];                                                         \
            np_last_error_message(detail, sizeof detail);                             \
            fprintf(stderr, "%s: %s (%s)\n", #call, np_status_name(status_), detail); \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

static volatile sig_atomic_t stop_requested;

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

/* Handlers run on a server worker thread; the request is the server's private copy. */
static np_status echo(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                      uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    if (request_length > response_capacity) return NP_E_BUFFER_TOO_SMALL; /* cannot happen: both are max_message_size */
    memcpy(response, request, request_length);
    *response_length = request_length;
    return NP_OK;
}

static np_status checksum(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                          uint8_t *response, uint32_t response_capacity, uint32_t *response_length)
{
    (void)user_data;
    (void)route_id;
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a, 64-bit */
    for (uint32_t i = 0; i < request_length; i++) {
        hash ^= request[i];
        hash *= 0x100000001b3ULL;
    }
    if (response_capacity < 8) return NP_E_BUFFER_TOO_SMALL;
    for (int i = 0; i < 8; i++) response[i] = (uint8_t)(hash >> (8 * i));
    *response_length = 8;
    return NP_OK;
}

static int parse_count(const char *text, const char *what, unsigned long *value)
{
    char *end;
    errno = 0;
    *value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "echo_server: %s must be a number, not '%s'\n", what, text);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *address = "@nativepools-echo";
    unsigned long workers = 1, seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            if (!parse_count(argv[++i], "--workers", &workers)) return 2;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            if (!parse_count(argv[++i], "--seconds", &seconds)) return 2;
        } else if (argv[i][0] != '-') {
            address = argv[i];
        } else {
            fprintf(stderr, "usage: echo_server [address] [--workers N] [--seconds S]\n");
            return 2;
        }
    }

    np_server_options options;
    np_server server;
    uint32_t echo_id, checksum_id;
    CHECK(np_server_options_init(&options));
    options.address = address;
    options.worker_threads = (uint32_t)workers;
    options.name = "echo_server";
    CHECK(np_server_create(&options, &server));
    CHECK(np_server_add_route(server, "echo", echo, NULL, &echo_id));
    CHECK(np_server_add_route(server, "checksum", checksum, NULL, &checksum_id));

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    CHECK(np_server_start(server));
    printf("listening on %s\n", address);
    fflush(stdout);

    /* The workers serve; this thread only waits for a signal or the time limit. */
    struct timespec started, now, tick = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &started);
    while (!stop_requested) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (seconds > 0 && (unsigned long)(now.tv_sec - started.tv_sec) >= seconds) break;
        nanosleep(&tick, NULL);
    }

    /* Stop accepting, let requests in flight finish (up to 1 s), then close every connection. */
    CHECK(np_server_stop(server, 1000));
    np_server_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    CHECK(np_server_get_stats(server, &stats));
    uint64_t buffers = stats.buffers_created + stats.buffers_reused;
    printf("connections %llu (peak %llu), requests %llu, responses %llu, errors %llu "
           "(protocol %llu, handler %llu), peer hang-ups %llu, buffer reuse %.1f %%\n",
           (unsigned long long)stats.connections_total, (unsigned long long)stats.connections_peak,
           (unsigned long long)stats.requests, (unsigned long long)stats.responses,
           (unsigned long long)stats.error_responses, (unsigned long long)stats.protocol_errors,
           (unsigned long long)stats.handler_errors, (unsigned long long)stats.peer_hangups,
           buffers ? 100.0 * (double)stats.buffers_reused / (double)buffers : 0.0);
    CHECK(np_server_destroy(server));
    return 0;
}
