/* hello_pool.c: a pool of 264-byte blocks, used from C. */
#include <stdio.h>
#include <string.h>
#include "nativepools.h"

/* Every fallible call returns np_status: NP_OK (0) or a negative NP_E_* code. */
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

int main(void)
{
    np_pool_options options;
    np_pool_stats stats = {0};
    np_pool pool;
    void *block;

    CHECK(np_pool_options_preset(&options, NP_POOL_PRESET_SMALL));
    CHECK(np_pool_create(&options, &pool));

    CHECK(np_pool_alloc(pool, &block));
    strcpy(block, "hello from a pooled block");
    printf("%s\n", (char *)block);
    CHECK(np_pool_free(pool, block));
    /* A second free is caught and counted; the pool stays intact. */
    printf("second free: %s\n", np_status_name(np_pool_free(pool, block)));

    stats.struct_size = sizeof stats; /* structs the library fills start with their size */
    CHECK(np_pool_get_stats(pool, &stats));
    printf("capacity %llu, allocations %llu, in use %llu, double frees %llu\n",
           (unsigned long long)stats.capacity, (unsigned long long)stats.allocations,
           (unsigned long long)stats.in_use, (unsigned long long)stats.double_frees);
    CHECK(np_pool_validate(pool, NULL));
    CHECK(np_pool_destroy(pool));
    return 0;
}
