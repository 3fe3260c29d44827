/// Fixed-size block pools and size-classed message pools in native memory
/// (libnativepools) for Dart.
///
/// ```dart
/// final pool = BlockPool.preset(PoolPreset.small);
/// final block = pool.alloc();
/// pool.bytes(block).fillRange(0, pool.blockSize, 7);
/// pool.free(block);
/// pool.destroy();
///
/// final messages = MessagePool.create();
/// final buffer = messages.acquire(300); // from the 1 KiB class
/// buffer.bytes.fillRange(0, 300, 1);
/// messages.release(buffer.address);
/// messages.destroy();
///
/// final client = IpcClient.connect('@my-service');
/// final echo = client.resolve('echo');
/// final response = client.call(echo, Uint8List.fromList([1, 2, 3]));
/// client.close();
/// ```
///
/// IPC servers hosted in Dart ([IpcServer]) work in pull mode: an isolate
/// takes requests with [IpcServer.receive], which blocks its thread, and
/// answers them with [IpcServer.reply]; serve from a dedicated isolate.
///
/// Statuses are the primary error channel: every failure throws a
/// [NativePoolsException] carrying the exact np_status. Its detail text comes
/// from the library's per-OS-thread last error, read immediately after the
/// failing call, because an isolate may resume on another OS thread after any
/// `await`.
library;

export 'src/exception.dart' show FreeBatchException, NativePoolsException;
export 'src/ipc.dart' show IpcResponseException;
export 'src/ipc_client.dart' show IpcClient, IpcResponse;
export 'src/ipc_server.dart'
    show IpcHandler, IpcRequest, IpcServeResult, IpcServer;
export 'src/ipc_stats.dart' show IpcRouteStats, IpcServerStats;
export 'src/library.dart' show NativePools;
export 'src/message_pool.dart' show MessageBuffer, MessagePool;
export 'src/message_stats.dart' show MessageClassStats, MessagePoolStats;
export 'src/native.g.dart'
    show
        NP_DEFAULT_MAX_MESSAGE_SIZE,
        NP_E_ADDRESS_IN_USE,
        NP_E_BUFFER_TOO_SMALL,
        NP_E_CORRUPTED,
        NP_E_DOUBLE_FREE,
        NP_E_FOREIGN_POINTER,
        NP_E_HANDLER_FAILED,
        NP_E_INTERIOR_POINTER,
        NP_E_INTERNAL,
        NP_E_INVALID_ARGUMENT,
        NP_E_INVALID_HANDLE,
        NP_E_INVALID_STATE,
        NP_E_IO,
        NP_E_MESSAGE_TOO_LARGE,
        NP_E_MISALIGNED_POINTER,
        NP_E_NULL_POINTER,
        NP_E_OUT_OF_MEMORY,
        NP_E_PEER_GONE,
        NP_E_PERMISSION_DENIED,
        NP_E_POOL_EXHAUSTED,
        NP_E_PROTOCOL,
        NP_E_SERVER_FULL,
        NP_E_SHUTDOWN,
        NP_E_TIMEOUT,
        NP_E_UNKNOWN_ROUTE,
        NP_E_UNTRUSTED_PEER,
        NP_E_UNSUPPORTED_STRUCT_SIZE,
        NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS,
        NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS,
        NP_MSGPOOL_MAX_CLASSES,
        NP_MSGPOOL_MAX_CLASS_SIZE,
        NP_OK,
        NP_POOL_MAX_ALIGNMENT,
        NP_POOL_MAX_BLOCK_SIZE,
        NP_POOL_POISON_BYTE,
        NP_ROUTE_NAME_MAX,
        NP_VERSION_NUMBER,
        NP_WAIT_FOREVER;
export 'src/pool.dart' show BlockOwnership, BlockPool, PoolPreset;
export 'src/stats.dart' show PoolStats, PoolValidation;
