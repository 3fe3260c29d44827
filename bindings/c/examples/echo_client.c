/*
 * echo_client.c: calls the "echo" route of echo_server and checks every answer.
 *
 *   echo_client [address] [count] [size]
 *
 * Connects (waiting up to 5 s for the server to listen), makes `count` calls of `size` bytes,
 * each with its own pattern, checks that every response is its request byte for byte, asks the
 * "checksum" route once and compares with a local FNV-1a, then prints the latency percentiles.
 */
#include <errno.h>
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

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int parse_count(const char *text, const char *what, unsigned long *value)
{
    char *end;
    errno = 0;
    *value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "echo_client: %s must be a number, not '%s'\n", what, text);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "@nativepools-echo";
    unsigned long count = 10000, size = 64;
    if (argc > 2 && !parse_count(argv[2], "count", &count)) return 2;
    if (argc > 3 && !parse_count(argv[3], "size", &size)) return 2;
    if (argc > 4 || count == 0) {
        fprintf(stderr, "usage: echo_client [address] [count > 0] [size]\n");
        return 2;
    }

    np_client client;
    uint32_t echo, checksum, max_message;
    CHECK(np_client_connect(address, 5000, &client));
    CHECK(np_client_resolve(client, "echo", &echo));
    CHECK(np_client_resolve(client, "checksum", &checksum));
    CHECK(np_client_max_message_size(client, &max_message));
    if (size > max_message) {
        fprintf(stderr, "echo_client: size %lu is above the server's maximum message size %u\n", size, (unsigned)max_message);
        return 2;
    }

    uint8_t *request = malloc(size + 1), *response = malloc(size + 1);
    uint64_t *latency = malloc(count * sizeof *latency);
    if (request == NULL || response == NULL || latency == NULL) {
        fprintf(stderr, "echo_client: out of memory\n");
        return 1;
    }
    for (unsigned long i = 0; i < count; i++) {
        for (unsigned long j = 0; j < size; j++) request[j] = (uint8_t)(i * 131 + j * 7 + (j >> 8));
        uint32_t length = 0;
        uint64_t started = now_ns();
        CHECK(np_client_call(client, echo, request, (uint32_t)size, response, (uint32_t)size + 1, &length, 5000));
        latency[i] = now_ns() - started;
        if (length != size || memcmp(request, response, size) != 0) {
            fprintf(stderr, "echo_client: call %lu came back wrong (%u bytes, sent %lu)\n", i, (unsigned)length, size);
            return 1;
        }
    }

    /* The second route: the server's FNV-1a of the last request must equal ours. */
    uint8_t digest[8];
    uint32_t digest_length = 0;
    CHECK(np_client_call(client, checksum, request, (uint32_t)size, digest, sizeof digest, &digest_length, 5000));
    uint64_t expected = 0xcbf29ce484222325ULL, got = 0;
    for (unsigned long j = 0; j < size; j++) {
        expected ^= request[j];
        expected *= 0x100000001b3ULL;
    }
    for (int i = 0; i < 8; i++) got |= (uint64_t)digest[i] << (8 * i);
    if (digest_length != 8 || got != expected) {
        fprintf(stderr, "echo_client: checksum route answered %016llx, expected %016llx\n", (unsigned long long)got,
                (unsigned long long)expected);
        return 1;
    }
    CHECK(np_client_close(client));

    qsort(latency, count, sizeof *latency, by_value);
    printf("%lu calls ok, p50 %.1f us p99 %.1f us\n", count, (double)latency[count / 2] / 1000.0,
           (double)latency[(count * 99) / 100 < count ? (count * 99) / 100 : count - 1] / 1000.0);
    free(request);
    free(response);
    free(latency);
    return 0;
}
