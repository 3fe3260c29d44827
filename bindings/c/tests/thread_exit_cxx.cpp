// T03's child: C++ thread_local destructors that free pooled blocks and read stats.
//
// Each worker constructs one thread_local owner before its first call into the library and one
// after it; their destructors run at thread exit in reverse order of construction, one before
// and one after the library learns that the thread exits. A static owner does the same at process
// exit. Prints "ok" and exits 0 when every call succeeded and the pool balances.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "nativepools.h"

namespace {

np_pool g_pool;
std::atomic<int> g_failures{0};
std::atomic<int> g_destructors{0};

void expect_ok(np_status status, const char *what)
{
    if (status != NP_OK) {
        std::fprintf(stderr, "%s: %s\n", what, np_status_name(status));
        g_failures++;
    }
}

// Owns pooled blocks; frees them and reads the pool's stats when destroyed.
struct BlockOwner {
    std::vector<void *> blocks;

    void take(int count)
    {
        for (int i = 0; i < count; i++) {
            void *block = nullptr;
            expect_ok(np_pool_alloc(g_pool, &block), "alloc");
            if (block != nullptr) blocks.push_back(block);
        }
    }

    ~BlockOwner()
    {
        for (void *block : blocks) expect_ok(np_pool_free(g_pool, block), "free in destructor");
        np_pool_stats stats;
        std::memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        expect_ok(np_pool_get_stats(g_pool, &stats), "stats in destructor");
        g_destructors++;
    }
};

BlockOwner *before_first_call()
{
    thread_local BlockOwner owner;
    return &owner;
}

BlockOwner *after_first_call()
{
    thread_local BlockOwner owner;
    return &owner;
}

BlockOwner g_static_owner; // destroyed at process exit, after main's thread_local owners

void worker()
{
    BlockOwner *early = before_first_call(); // constructed before the thread's first library call
    void *warm = nullptr;
    expect_ok(np_pool_alloc(g_pool, &warm), "alloc");
    expect_ok(np_pool_free(g_pool, warm), "free");
    early->take(8);
    after_first_call()->take(8);
}

} // namespace

int main(int argc, char **argv)
{
    int threads = argc > 1 ? std::atoi(argv[1]) : 200;
    np_pool_options options;
    expect_ok(np_pool_options_init(&options), "options");
    options.block_size = 128;
    expect_ok(np_pool_create(&options, &g_pool), "create");

    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop) {
            np_pool_stats stats;
            std::memset(&stats, 0, sizeof stats);
            stats.struct_size = sizeof stats;
            expect_ok(np_pool_get_stats(g_pool, &stats), "stats"); // takes dead threads' caches back
        }
    });
    for (int done = 0; done < threads; done += 16) {
        std::vector<std::thread> wave;
        for (int i = 0; i < 16; i++) wave.emplace_back(worker);
        for (std::thread &t : wave) t.join();
    }
    stop = true;
    reader.join();

    np_pool_stats stats;
    std::memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    expect_ok(np_pool_get_stats(g_pool, &stats), "final stats");
    int expected = 2 * ((threads + 15) / 16) * 16;
    if (stats.in_use != 0 || g_destructors != expected || g_failures != 0) {
        std::printf("failed: in_use %llu, destructors %d of %d, failures %d\n", (unsigned long long)stats.in_use,
                    g_destructors.load(), expected, g_failures.load());
        return 1;
    }
    g_static_owner.take(4); // freed by its destructor during exit()
    std::printf("ok: %d threads, %d thread_local destructors freed their blocks\n", threads, expected);
    return 0;
}
