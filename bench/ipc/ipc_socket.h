/*
 * ipc_socket.h: Unix-domain stream sockets for the socket peers ("@name" = abstract namespace).
 */
#ifndef IPC_SOCKET_H
#define IPC_SOCKET_H

#include <stddef.h>
#include <stdint.h>

/* A bound, listening SOCK_STREAM socket; exits on failure. */
int ipc_listen(const char* address, uint32_t backlog);
/* Connects, retrying while nobody listens yet, up to timeout_ms; exits on failure. */
int ipc_connect(const char* address, uint32_t timeout_ms);
/* Reads exactly length bytes: 1, 0 when the peer closed before the first byte, -1 on error. */
int ipc_read_full(int fd, void* buffer, size_t length);
/* Writes exactly length bytes (blocking socket): 0, or -1 on error. */
int ipc_write_full(int fd, const void* buffer, size_t length);
/* The same on a non-blocking socket: waits for POLLOUT when the buffer is full. */
int ipc_write_full_nonblocking(int fd, const void* buffer, size_t length);

#endif /* IPC_SOCKET_H */
