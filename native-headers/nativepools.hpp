/*
 * nativepools.hpp: optional C++17 RAII layer over nativepools.h. Header-only, written by hand
 * (nativepools.h beside it is generated).
 *
 *   np::pool pool(264);                       // throws np::error on failure
 *   np::block_ptr block = pool.allocate();    // freed back to the pool by its deleter
 *   np::server server(options);  server.add_route("echo", handler);  server.start();
 *   np::client client("@my-service");  uint32_t n = client.call(route, in, len, out, cap);
 *
 * Every owner is move-only and destroys its handle in its destructor. A failed call throws
 * np::error, which carries the status and the library's detail message of the calling thread.
 */
#ifndef NATIVEPOOLS_HPP
#define NATIVEPOOLS_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "nativepools.h"

namespace np {

/** A failed call: the status, its name, and the calling thread's detail message. */
class error : public std::runtime_error {
public:
    explicit error(np_status status) : std::runtime_error(describe(status)), status_(status) {}

    /** The NP_E_* code. */
    np_status status() const noexcept { return status_; }

private:
    static std::string describe(np_status status)
    {
        char detail[512];
        np_last_error_message(detail, sizeof detail);
        std::string name = np_status_name(status);
        if (np_last_error_status() != status || detail[0] == '\0') return name + ": " + np_status_message(status);
        if (std::string(detail).compare(0, name.size(), name) == 0) return detail; // it names the status already
        return name + ": " + detail;
    }

    np_status status_;
};

/** Throws np::error unless status is NP_OK. */
inline void check(np_status status)
{
    if (status != NP_OK) throw error(status);
}

/** Deleter of a pooled block: returns it to its pool (np_pool_free). */
class block_deleter {
public:
    block_deleter() noexcept = default;
    explicit block_deleter(np_pool pool) noexcept : pool_(pool) {}
    void operator()(void *block) const noexcept
    {
        if (block != nullptr) (void)np_pool_free(pool_, block);
    }
    np_pool pool() const noexcept { return pool_; }

private:
    np_pool pool_ = 0;
};

/** A block owned until it goes out of scope. */
using block_ptr = std::unique_ptr<void, block_deleter>;

namespace detail {

/** Move-only owner of a handle, destroyed with Destroy when the owner ends. */
template <typename Handle, np_status (*Destroy)(Handle)>
class owner {
public:
    owner() noexcept = default;
    owner(owner &&other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
    owner &operator=(owner &&other) noexcept
    {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, 0);
        }
        return *this;
    }
    owner(const owner &) = delete;
    owner &operator=(const owner &) = delete;
    ~owner() { reset(); }

    /** The C handle, for calls this layer does not wrap. */
    Handle handle() const noexcept { return handle_; }

protected:
    Handle handle_ = 0;

private:
    void reset() noexcept
    {
        if (handle_ != 0) (void)Destroy(std::exchange(handle_, 0));
    }
};

} // namespace detail

/** Owns a block pool (np_pool_create / np_pool_destroy). */
class pool : public detail::owner<np_pool, np_pool_destroy> {
public:
    /** A pool of blocks of block_size bytes, default options otherwise. */
    explicit pool(uint64_t block_size)
    {
        np_pool_options options;
        check(np_pool_options_init(&options));
        options.block_size = block_size;
        check(np_pool_create(&options, &handle_));
    }
    explicit pool(const np_pool_options &options) { check(np_pool_create(&options, &handle_)); }
    /** A block, freed back to this pool when the pointer goes out of scope. */
    block_ptr allocate()
    {
        void *block = nullptr;
        check(np_pool_alloc(handle_, &block));
        return block_ptr(block, block_deleter(handle_));
    }

    /** The raw calls, for callers that manage blocks themselves. */
    void *alloc_raw()
    {
        void *block = nullptr;
        check(np_pool_alloc(handle_, &block));
        return block;
    }
    void free_raw(void *block) { check(np_pool_free(handle_, block)); }

    np_pool_stats stats() const
    {
        np_pool_stats s{};
        s.struct_size = sizeof s;
        check(np_pool_get_stats(handle_, &s));
        return s;
    }

};

/** Deleter of a pooled message: returns it to its message pool (np_msgpool_release). */
class message_deleter {
public:
    message_deleter() noexcept = default;
    explicit message_deleter(np_msgpool pool) noexcept : pool_(pool) {}
    void operator()(void *message) const noexcept
    {
        if (message != nullptr) (void)np_msgpool_release(pool_, message);
    }

private:
    np_msgpool pool_ = 0;
};

/** A message buffer owned until it goes out of scope. */
using message_ptr = std::unique_ptr<void, message_deleter>;

/** Owns a size-classed message pool (np_msgpool_create / np_msgpool_destroy). */
class message_pool : public detail::owner<np_msgpool, np_msgpool_destroy> {
public:
    /** The default classes and retention. */
    message_pool()
    {
        np_msgpool_options options;
        check(np_msgpool_options_init(&options));
        check(np_msgpool_create(&options, &handle_));
    }
    explicit message_pool(const np_msgpool_options &options) { check(np_msgpool_create(&options, &handle_)); }
    /** A buffer of at least size bytes; capacity (if given) receives its usable size. */
    message_ptr acquire(std::size_t size, std::size_t *capacity = nullptr)
    {
        void *message = nullptr;
        std::size_t usable = 0;
        check(np_msgpool_acquire(handle_, size, &message, &usable));
        if (capacity != nullptr) *capacity = usable;
        return message_ptr(message, message_deleter(handle_));
    }

};

/** Owns an IPC server (np_server_create / np_server_destroy, which stops it first). */
class server : public detail::owner<np_server, np_server_destroy> {
public:
    /** A server at address, default options otherwise. */
    explicit server(const char *address)
    {
        np_server_options options;
        check(np_server_options_init(&options));
        options.address = address;
        check(np_server_create(&options, &handle_));
    }
    explicit server(const np_server_options &options) { check(np_server_create(&options, &handle_)); }
    /** Adds a route served by handler (NULL: a pull route); returns its id. */
    uint32_t add_route(const char *name, np_handler_fn handler, void *user_data = nullptr)
    {
        uint32_t id = 0;
        check(np_server_add_route(handle_, name, handler, user_data, &id));
        return id;
    }

    void start() { check(np_server_start(handle_)); }
    void stop(uint32_t drain_timeout_ms = 1000) { check(np_server_stop(handle_, drain_timeout_ms)); }

    np_server_stats stats() const
    {
        np_server_stats s{};
        s.struct_size = sizeof s;
        check(np_server_get_stats(handle_, &s));
        return s;
    }

};

/** Owns an IPC client connection (np_client_connect / np_client_close). */
class client : public detail::owner<np_client, np_client_close> {
public:
    explicit client(const char *address, uint32_t timeout_ms = 5000)
    {
        check(np_client_connect(address, timeout_ms, &handle_));
    }
    /** The id of the server's route called name. */
    uint32_t resolve(const char *name)
    {
        uint32_t id = 0;
        check(np_client_resolve(handle_, name, &id));
        return id;
    }

    /** One round trip; returns the response's length in bytes. */
    uint32_t call(uint32_t route_id, const void *request, uint32_t request_length, void *response,
                  uint32_t response_capacity, uint32_t timeout_ms = NP_WAIT_FOREVER)
    {
        uint32_t length = 0;
        check(np_client_call(handle_, route_id, request, request_length, response, response_capacity, &length,
                             timeout_ms));
        return length;
    }

};

} // namespace np

#endif /* NATIVEPOOLS_HPP */
