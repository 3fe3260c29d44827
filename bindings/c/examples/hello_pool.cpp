// hello_pool.cpp: the C++ layer (nativepools.hpp): RAII owners, pooled-block smart pointers,
// an echo server and client in one process, and errors as exceptions.
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "nativepools.hpp"

// An np_handler_fn: copies the request into the response.
static np_status echo(void *, uint32_t, const uint8_t *request, uint32_t length, uint8_t *response,
                      uint32_t capacity, uint32_t *response_length)
{
    if (length > capacity) return NP_E_BUFFER_TOO_SMALL;
    std::memcpy(response, request, length);
    *response_length = length;
    return NP_OK;
}

int main()
{
    try {
        np::pool pool(264);
        {
            np::block_ptr block = pool.allocate(); // back to the pool at the end of this scope
            std::strcpy(static_cast<char *>(block.get()), "hello from C++");
            std::printf("%s (in use: %llu)\n", static_cast<const char *>(block.get()),
                        static_cast<unsigned long long>(pool.stats().in_use));
        }
        std::printf("in use after the scope: %llu\n", static_cast<unsigned long long>(pool.stats().in_use));

        np::message_pool messages;
        std::size_t capacity = 0;
        np::message_ptr message = messages.acquire(1000, &capacity);
        std::printf("message of 1000 bytes asked, %zu usable\n", capacity);

        std::string address = "@nativepools-hello-cpp-" + std::to_string(getpid());
        np::server server(address.c_str());
        server.add_route("echo", echo);
        server.start();
        np::client client(address.c_str());
        char answer[64];
        uint32_t n = client.call(client.resolve("echo"), "ping", 4, answer, sizeof answer, 5000);
        std::printf("echo answered %.*s\n", static_cast<int>(n), answer);

        void *raw = pool.alloc_raw();
        pool.free_raw(raw);
        pool.free_raw(raw); // a double free: throws np::error with the status and the detail
        return 1;
    } catch (const np::error &e) {
        std::printf("np::error %d: %s\n", e.status(), e.what());
        return e.status() == NP_E_DOUBLE_FREE ? 0 : 1;
    }
}
