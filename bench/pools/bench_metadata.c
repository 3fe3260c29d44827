/*
 * Scenario 7: metadata overhead. A pool of one block size holds N live blocks; np_pool_get_stats
 * tells bytes_metadata (out-of-band block states and free-list links) against bytes_reserved
 * (block memory). No timing: the figures are exact and the same on every run.
 */
#define _GNU_SOURCE
#include <string.h>

#include "allocators.h"
#include "bench_scenarios.h"
#include "bench_util.h"

enum { BATCH = 1024 };

int bench_metadata_main(int argc, char** argv)
{
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 264);
    uint64_t count = bench_arg_u64(argc, argv, "--blocks", 100000);

    np_pool pool = allocator_create_np_pool(block_size);
    void** blocks = bench_map(count * sizeof(void*));
    for (uint64_t done = 0; done < count;) {
        size_t want = count - done < BATCH ? (size_t)(count - done) : BATCH, got = 0;
        np_status status = np_pool_alloc_batch(pool, blocks + done, want, &got);
        if (status != NP_OK) allocator_np_failed("np_pool_alloc_batch", status);
        done += got;
    }

    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_pool_get_stats(pool, &stats);
    if (status != NP_OK) allocator_np_failed("np_pool_get_stats", status);
    status = np_pool_free_batch(pool, blocks, count, NULL);
    if (status != NP_OK) allocator_np_failed("np_pool_free_batch", status);
    np_status validate = np_pool_validate(pool, NULL);

    bench_record r;
    bench_record_begin(&r, "metadata", "nativepools");
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_param_u64(&r, "blocks", count);
    bench_record_metrics(&r);
    bench_record_double(&r, "metadata_ratio", (double)stats.bytes_metadata / (double)stats.bytes_reserved);
    bench_record_u64(&r, "bytes_metadata", stats.bytes_metadata);
    bench_record_u64(&r, "bytes_reserved", stats.bytes_reserved);
    bench_record_double(&r, "metadata_bytes_per_block", (double)stats.bytes_metadata / (double)stats.capacity);
    bench_record_u64(&r, "block_stride", stats.block_stride);
    bench_record_u64(&r, "capacity", stats.capacity);
    bench_record_u64(&r, "chunks", stats.chunks);
    bench_record_u64(&r, "in_use", stats.in_use);
    bench_record_str(&r, "validate_after_free", np_status_name(validate));
    bench_record_end(&r);

    status = np_pool_destroy(pool);
    if (status != NP_OK) allocator_np_failed("np_pool_destroy", status);
    bench_unmap(blocks, count * sizeof(void*));
    return 0;
}
