import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'exception.dart';
import 'ipc.dart';
import 'ipc_stats.dart';
import 'library.dart';
import 'native.g.dart';

/// A request taken with [IpcServer.receive]: answer it exactly once with
/// [IpcServer.reply], [IpcServer.replyNative] or [IpcServer.replyError].
///
/// [data] is a view of the server's private copy of the payload, in native
/// memory. It stays valid until the request is answered, or until the
/// server stops (the stop answers every pending request with NP_E_SHUTDOWN
/// and frees its copy); [copy] it to keep it longer. The view may be
/// modified in place, and replying with [data] itself sends it back without
/// a copy.
final class IpcRequest {
  IpcRequest._(this.routeId, this.token, this.address, this.length)
      : data = length == 0 ? Uint8List(0) : address.asTypedList(length);

  /// The route the client called (the id [IpcServer.addRoute] returned).
  final int routeId;

  /// The token that names this request in the reply.
  final int token;

  /// Where the payload is in native memory.
  final Pointer<Uint8> address;

  /// Payload bytes.
  final int length;

  /// The payload: a view of native memory, valid until the reply.
  final Uint8List data;

  /// The payload copied onto the Dart heap.
  Uint8List copy() => Uint8List.fromList(data);

  @override
  String toString() => 'IpcRequest(routeId: $routeId, '
      'token: 0x${token.toRadixString(16)}, length: $length)';
}

/// Answers one request for [IpcServer.serve]: the response payload, or null
/// when the handler answered the request itself (or keeps it to answer
/// later).
typedef IpcHandler = Uint8List? Function(IpcRequest request);

/// What one [IpcServer.serve] run did.
final class IpcServeResult {
  /// Collects the counts.
  const IpcServeResult(
      {required this.served, required this.repliesLost, required this.stopped});

  /// Requests received and handed to the handler.
  final int served;

  /// Replies (or error replies) the library did not deliver because the
  /// client had left (NP_E_PEER_GONE) or the stop had already answered the
  /// request (NP_E_SHUTDOWN).
  final int repliesLost;

  /// True when the run ended because the server stopped (np_server_receive
  /// returned NP_E_SHUTDOWN); false when it ended idle or at its request
  /// limit.
  final bool stopped;

  @override
  String toString() => 'IpcServeResult(served: $served, '
      'repliesLost: $repliesLost, stopped: $stopped)';
}

/// An IPC server hosted in Dart (np_server), in pull mode.
///
/// Clients in other processes (or isolates) connect to its [address] and
/// call its routes; the requests queue in the library until a Dart isolate
/// takes them with [receive] and answers them with [reply]. Dart cannot run
/// handler routes: the library calls handlers on its own worker threads,
/// where an isolate-bound callback may not run and a
/// `NativeCallable.listener` cannot return a response. Every route added
/// here is therefore a pull route.
///
/// **[receive] blocks the calling isolate's thread** for up to its timeout
/// (nothing else of that isolate runs meanwhile: no timers, no messages).
/// Serve from a dedicated isolate that owns the loop ([serve] until the
/// server stops), passing it [handle] (a plain int) and rebuilding the
/// server there with [IpcServer.attach]; or, in an isolate that must stay
/// responsive, call [serve] with `idleTimeoutMs: 0` from a timer. A Dart
/// process lets only a limited number of isolates (8 to 32, depending on
/// the heap) run at the same time, and isolates blocked in native calls
/// count: keep the isolates that block in receive or in client calls well
/// under that, or the isolate that would answer them may never get to run.
///
/// Lifecycle: [create], [addRoute] for each route, [start], then [receive]
/// and [reply] from any isolates, [stop] (from any isolate; serving loops
/// then get NP_E_SHUTDOWN), and [destroy] once no isolate uses the server
/// any more. [destroy] must not race with other calls on the server.
/// Servers are destroyed explicitly, never by the garbage collector.
final class IpcServer {
  IpcServer._(this.library, this.handle, this._maxMessageSize);

  /// Creates a stopped server that will listen at [address].
  ///
  /// [address] is `@name` for the Linux abstract namespace, or a socket
  /// path whose directory is private (0700; created if missing; a directory
  /// others can reach is refused by [start] with NP_E_PERMISSION_DENIED).
  /// Every size left at 0 takes the library's default: [ringSize] (bytes of
  /// each ring, a power of two from 4096 to 2^30; by default the smallest
  /// that holds two maximum messages), [maxMessageSize] (largest request or
  /// response, NP_DEFAULT_MAX_MESSAGE_SIZE), [maxClients] (1024),
  /// [workerThreads] (1), [idleTimeoutMs] (0: never close idle
  /// connections), [spinUs] (200), [maxPending] (pull requests received and
  /// not yet answered, 4096; beyond it requests wait in their rings),
  /// [maxClientPending] and [maxClientPendingBytes] (one client's share of
  /// them: 256 or max_pending, and 16 MiB; beyond it that client's requests
  /// wait in its ring). [allowedUids] are peer uids allowed besides the server's own. [name]
  /// shows in the library's diagnostics.
  ///
  /// Negative numbers (or numbers above 2^32 - 1) throw [RangeError];
  /// values the library refuses throw [NativePoolsException]
  /// (NP_E_INVALID_ARGUMENT, with the field in the detail).
  factory IpcServer.create(
    String address, {
    int ringSize = 0,
    int maxMessageSize = 0,
    int maxClients = 0,
    int workerThreads = 0,
    int idleTimeoutMs = 0,
    int spinUs = 0,
    int maxPending = 0,
    int maxClientPending = 0,
    int maxClientPendingBytes = 0,
    List<int> allowedUids = const [],
    String? name,
    NativePools? library,
  }) {
    checkUint32(ringSize, 'ringSize');
    checkUint32(maxMessageSize, 'maxMessageSize');
    checkUint32(maxClients, 'maxClients');
    checkUint32(workerThreads, 'workerThreads');
    checkUint32(idleTimeoutMs, 'idleTimeoutMs');
    checkUint32(spinUs, 'spinUs');
    checkUint32(maxPending, 'maxPending');
    checkUint32(maxClientPending, 'maxClientPending');
    checkUint32(maxClientPendingBytes, 'maxClientPendingBytes');
    for (final uid in allowedUids) {
      checkUint32(uid, 'allowedUids');
    }
    final lib = library ?? NativePools.instance;
    return using((arena) {
      final options = arena<np_server_options>();
      lib.check(lib.bindings.np_server_options_init(options),
          'np_server_options_init');
      options.ref
        ..ring_size = ringSize
        ..max_message_size = maxMessageSize
        ..max_clients = maxClients
        ..worker_threads = workerThreads
        ..idle_timeout_ms = idleTimeoutMs
        ..spin_us = spinUs
        ..max_pending = maxPending
        ..max_client_pending = maxClientPending
        ..max_client_pending_bytes = maxClientPendingBytes
        ..address = address.toNativeUtf8(allocator: arena).cast();
      if (allowedUids.isNotEmpty) {
        final uids = arena<Uint32>(allowedUids.length);
        for (var i = 0; i < allowedUids.length; i++) {
          uids[i] = allowedUids[i];
        }
        options.ref
          ..allowed_uids = uids
          ..allowed_uid_count = allowedUids.length;
      }
      if (name != null) {
        options.ref.name = name.toNativeUtf8(allocator: arena).cast();
      }
      final out = arena<Uint64>();
      lib.check(
          lib.bindings.np_server_create(options, out), 'np_server_create');
      return IpcServer._(lib, out.value,
          maxMessageSize == 0 ? NP_DEFAULT_MAX_MESSAGE_SIZE : maxMessageSize);
    });
  }

  /// Uses a server created elsewhere, typically by another isolate that
  /// sent its [handle]. Throws [NativePoolsException] (NP_E_INVALID_HANDLE)
  /// for a handle that is not a live server.
  factory IpcServer.attach(int handle, {NativePools? library}) {
    final lib = library ?? NativePools.instance;
    _readStats(lib, handle);
    return IpcServer._(lib, handle, null);
  }

  /// The library this server's calls go through (this isolate's).
  final NativePools library;

  /// The server's handle: an integer other isolates can use with [attach].
  final int handle;

  /// The largest payload, when this object created the server (an attached
  /// server does not say).
  final int? _maxMessageSize;

  NativePoolsBindings get _np => library.bindings;

  /// Adds a pull route named [name] (1 to NP_ROUTE_NAME_MAX bytes of UTF-8,
  /// unique in the server) before [start], and returns its id (1, 2, ... in
  /// the order added); clients find it with [IpcClient.resolve].
  ///
  /// Throws NP_E_INVALID_ARGUMENT for an empty, too long or duplicate name
  /// and NP_E_INVALID_STATE after [start].
  int addRoute(String name) => using((arena) {
        final nativeName = name.toNativeUtf8(allocator: arena).cast<Uint8>();
        final id = arena<Uint32>();
        // handler NULL: a pull route, served by np_server_receive.
        library.check(
            _np.np_server_add_route(handle, nativeName, nullptr, nullptr, id),
            'np_server_add_route');
        return id.value;
      });

  /// Binds the socket and starts the server's threads; routes are fixed
  /// from now on. Throws NP_E_INVALID_STATE when already started,
  /// NP_E_PERMISSION_DENIED when the socket directory is not private,
  /// NP_E_ADDRESS_IN_USE when a live server has the address, NP_E_IO.
  void start() => library.check(_np.np_server_start(handle), 'np_server_start');

  /// Takes the next request of any route, waiting up to [timeoutMs]
  /// (0 does not wait; NP_WAIT_FOREVER waits until a request comes or the
  /// server stops). Returns null when none came in time.
  ///
  /// Blocks this isolate's thread meanwhile (see the class documentation).
  /// Throws NP_E_SHUTDOWN once the server stopped (and answered what was
  /// pending), NP_E_INVALID_STATE before [start], NP_E_INVALID_HANDLE.
  IpcRequest? receive({int timeoutMs = NP_WAIT_FOREVER}) {
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final request = scratch.request;
    request.ref.struct_size = sizeOf<np_request>();
    final status = _np.np_server_receive(handle, timeoutMs, request);
    if (status == NP_E_TIMEOUT) return null;
    if (status != NP_OK) throw library.failure(status, 'np_server_receive');
    final r = request.ref;
    return IpcRequest._(r.route_id, r.token, r.data, r.length);
  }

  /// Answers [request] with [data].
  ///
  /// Passing the request's own [IpcRequest.data] sends it back from where
  /// it is (an echo, possibly modified in place). Any other list is copied
  /// into this isolate's native staging buffer first (grow-only: no malloc
  /// once it is large enough); [replyNative] sends native memory, such as a
  /// [MessageBuffer], without that copy. The library copies the reply into
  /// the client's ring (or its own queue when the ring is full) before it
  /// returns, so the memory may be reused at once.
  ///
  /// Throws NP_E_MESSAGE_TOO_LARGE (the request stays unanswered: answer it
  /// again, e.g. with [replyError]), NP_E_INVALID_ARGUMENT for a request
  /// already answered, NP_E_PEER_GONE when the client left and
  /// NP_E_SHUTDOWN when the stop already answered it (in both the request
  /// counts as answered).
  void reply(IpcRequest request, Uint8List data) {
    final Pointer<Uint8> source = identical(data, request.data)
        ? request.address
        : IpcScratch.current.stage(data, limit: _maxMessageSize);
    final status = _np.np_server_reply(
        handle, request.token, source.cast(), payloadLength(data.length));
    if (status != NP_OK) throw library.failure(status, 'np_server_reply');
  }

  /// Answers [request] with [length] bytes of native memory at [data] (for
  /// example a [MessageBuffer] of a [MessagePool], or the request's own
  /// [IpcRequest.address]); nothing is copied on the Dart side. Throws as
  /// [reply] does, and NP_E_NULL_POINTER for a null [data] with a length.
  void replyNative(IpcRequest request, Pointer<Uint8> data, int length) {
    checkUint32(length, 'length');
    final status =
        _np.np_server_reply(handle, request.token, data.cast(), length);
    if (status != NP_OK) throw library.failure(status, 'np_server_reply');
  }

  /// Answers [request] with an error: the client's call fails with
  /// NP_E_HANDLER_FAILED, and its detail names [status]. [status] must be
  /// negative (NP_E_INVALID_ARGUMENT otherwise); other failures as [reply].
  void replyError(IpcRequest request, int status) {
    final result = _np.np_server_reply_error(handle, request.token, status);
    if (result != NP_OK) throw library.failure(result, 'np_server_reply_error');
  }

  /// Receives requests and answers each with what [handler] returns, until
  /// the server stops, or until no request comes within [idleTimeoutMs], or
  /// after [maxRequests] requests.
  ///
  /// A dedicated serving isolate calls it with the defaults and returns when
  /// the server stops; an isolate that must stay responsive calls it with
  /// `idleTimeoutMs: 0` (and perhaps a [maxRequests]) from a timer, and
  /// cancels the timer once the result says [IpcServeResult.stopped].
  ///
  /// The handler returns the response payload (replied with [reply]; return
  /// `request.data` to echo in place), or null when it answered the request
  /// itself or keeps it to answer later. A [NativePoolsException] thrown by
  /// the handler is answered as [replyError] with its status; any other
  /// error is answered with NP_E_INTERNAL and rethrown, ending the run. A
  /// reply the library refuses (a response over the maximum message size)
  /// is answered as an error with the refusal's status, so no client waits
  /// for an answer that cannot come. Replies to clients that left, or that
  /// the stop already answered, are counted in
  /// [IpcServeResult.repliesLost].
  IpcServeResult serve(IpcHandler handler,
      {int idleTimeoutMs = NP_WAIT_FOREVER, int? maxRequests}) {
    checkUint32(idleTimeoutMs, 'idleTimeoutMs');
    if (maxRequests != null) {
      RangeError.checkNotNegative(maxRequests, 'maxRequests');
    }
    var served = 0;
    var lost = 0;
    while (maxRequests == null || served < maxRequests) {
      final IpcRequest? request;
      try {
        request = receive(timeoutMs: idleTimeoutMs);
      } on NativePoolsException catch (e) {
        if (e.status != NP_E_SHUTDOWN) rethrow;
        return IpcServeResult(served: served, repliesLost: lost, stopped: true);
      }
      if (request == null) break;
      served++;
      final Uint8List? response;
      try {
        response = handler(request);
      } on NativePoolsException catch (e) {
        if (!_answerError(request, e.status)) lost++;
        continue;
      } catch (_) {
        _answerError(request, NP_E_INTERNAL);
        rethrow;
      }
      if (response == null) continue;
      try {
        reply(request, response);
      } on NativePoolsException catch (e) {
        if (_isLost(e.status) || !_answerError(request, e.status)) lost++;
      }
    }
    return IpcServeResult(served: served, repliesLost: lost, stopped: false);
  }

  static bool _isLost(int status) =>
      status == NP_E_PEER_GONE || status == NP_E_SHUTDOWN;

  /// Best effort [replyError] for [serve]: false when the answer was lost
  /// (client gone, stop answered it) or the request was already answered.
  bool _answerError(IpcRequest request, int status) =>
      _np.np_server_reply_error(handle, request.token, status) == NP_OK;

  /// Stops accepting clients and lets in-flight requests be answered for up
  /// to [drainTimeoutMs] (a serving isolate keeps receiving and replying
  /// meanwhile); then answers every request still pending with
  /// NP_E_SHUTDOWN, closes all connections and ends the server's threads.
  /// Serving loops blocked in [receive] then get NP_E_SHUTDOWN. Blocks the
  /// calling isolate until done. Stopping twice is harmless.
  void stop({int drainTimeoutMs = 1000}) {
    checkUint32(drainTimeoutMs, 'drainTimeoutMs');
    library.check(_np.np_server_stop(handle, drainTimeoutMs), 'np_server_stop');
  }

  /// Stops the server if running (without draining) and frees it. Later
  /// calls with the handle, from any isolate, throw NP_E_INVALID_HANDLE.
  /// Must not race with other calls on the server: end the serving
  /// isolates first ([stop], then wait for their [serve] to return).
  void destroy() =>
      library.check(_np.np_server_destroy(handle), 'np_server_destroy');

  /// A snapshot of the server's counters.
  IpcServerStats stats() => _readStats(library, handle);

  /// A snapshot of route [routeId]'s counters. Throws NP_E_UNKNOWN_ROUTE for
  /// an id the server does not have.
  IpcRouteStats routeStats(int routeId) {
    checkUint32(routeId, 'routeId');
    final stats = calloc<np_route_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_route_stats>();
      library.check(_np.np_server_get_route_stats(handle, routeId, stats),
          'np_server_get_route_stats');
      return IpcRouteStats.fromNative(stats.ref);
    } finally {
      calloc.free(stats);
    }
  }

  static IpcServerStats _readStats(NativePools lib, int handle) {
    final stats = calloc<np_server_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_server_stats>();
      lib.check(lib.bindings.np_server_get_stats(handle, stats),
          'np_server_get_stats');
      return IpcServerStats.fromNative(stats.ref);
    } finally {
      calloc.free(stats);
    }
  }

  @override
  String toString() => 'IpcServer(handle: 0x${handle.toRadixString(16)})';
}
