/* Compiled and run by check-header.sh: the generated header links against the real library. */
#include <stdio.h>
#include <string.h>
#include "nativepools.h"

/* An np_handler_fn that echoes the request; route 7 is the only one it serves. */
static np_status echo_handler(void* user_data, uint32_t route_id, const uint8_t* request,
                              uint32_t request_length, uint8_t* response, uint32_t response_capacity,
                              uint32_t* response_length)
{
    uint32_t length = request_length < response_capacity ? request_length : response_capacity;
    (void)user_data;
    if (route_id != 7) return NP_E_INVALID_ARGUMENT;
    memcpy(response, request, length);
    *response_length = length;
    return NP_OK;
}

int main(void)
{
    /* -Werror: assigning a function of any other type is an incompatible-pointer error. */
    np_handler_fn handler = echo_handler;
    uint8_t response[8];
    uint32_t response_length = 0;
    np_pool_options options;
    np_pool pool = 0;
    void* block = NULL;
    np_pool_stats stats;
    np_status status;

    if (np_version() != NP_VERSION_NUMBER) {
        fprintf(stderr, "np_version() = %u, header says %d\n", (unsigned)np_version(), NP_VERSION_NUMBER);
        return 1;
    }
    if (strcmp(np_status_name(NP_E_DOUBLE_FREE), "NP_E_DOUBLE_FREE") != 0) {
        fprintf(stderr, "np_status_name(NP_E_DOUBLE_FREE) = %s\n", np_status_name(NP_E_DOUBLE_FREE));
        return 1;
    }
    if (handler(NULL, 7, (const uint8_t*)"ping", 4, response, (uint32_t)sizeof response, &response_length) != NP_OK
        || response_length != 4 || memcmp(response, "ping", 4) != 0) {
        fprintf(stderr, "calling an np_handler_fn through the typedef failed\n");
        return 1;
    }
    status = np_pool_options_preset(&options, NP_POOL_PRESET_SMALL);
    if (status == NP_OK) status = np_pool_create(&options, &pool);
    if (status == NP_OK) status = np_pool_alloc(pool, &block);
    if (status == NP_OK) {
        memset(block, 0x5A, (size_t)options.block_size);
        status = np_pool_free(pool, block);
    }
    memset(&stats, 0, sizeof stats);
    stats.struct_size = (uint32_t)sizeof stats;
    if (status == NP_OK) status = np_pool_get_stats(pool, &stats);
    if (status != NP_OK || stats.allocations != 1 || stats.frees != 1 || stats.in_use != 0) {
        fprintf(stderr, "status %s, allocations %llu, frees %llu\n", np_status_name(status),
                (unsigned long long)stats.allocations, (unsigned long long)stats.frees);
        return 1;
    }
    if (np_pool_destroy(pool) != NP_OK) return 1;
    printf("header smoke test: np_version %s, one alloc/free on a %llu-byte pool\n",
           np_version_string(), (unsigned long long)stats.block_size);
    return 0;
}
