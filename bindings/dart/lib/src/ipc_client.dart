import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'exception.dart';
import 'ipc.dart';
import 'library.dart';
import 'native.g.dart';

/// A response taken with [IpcClient.receive] or [IpcClient.receiveView].
final class IpcResponse {
  /// Pairs a response payload with the id of the request it answers.
  const IpcResponse(this.requestId, this.data);

  /// The id [IpcClient.send] or [IpcClient.commit] returned for the request.
  final int requestId;

  /// The response payload.
  final Uint8List data;

  @override
  String toString() =>
      'IpcResponse(requestId: $requestId, length: ${data.length})';
}

/// A connection to an IPC server (np_client), in this process or another.
///
/// Every call blocks the calling isolate's thread until the server answers
/// or the timeout passes; a dead server ends the wait at once
/// (NP_E_PEER_GONE), a stopped one with NP_E_SHUTDOWN. Timeouts are in
/// milliseconds, NP_WAIT_FOREVER for none. Failures throw
/// [NativePoolsException] with the exact status.
///
/// Payloads travel through native memory this isolate reuses (see
/// [receiveBufferCapacity]): requests are copied into a staging buffer,
/// responses arrive in a receive buffer that grows to the largest response
/// seen; no call mallocs once they are large enough. [call] and [receive]
/// copy the response onto the Dart heap; [callView] and [receiveView]
/// return a view of the receive buffer instead, valid until the next IPC
/// call of this isolate (of any client or server).
///
/// A connection's calls run one at a time (the library takes a lock per
/// client); open one client per isolate for parallel calls, or pipeline
/// with [send] and [receive]. The handle may be shared with other isolates
/// ([handle], [IpcClient.attach]); [close] must not race with other calls
/// on it. Clients are closed explicitly, never by the garbage collector.
final class IpcClient {
  IpcClient._(this.library, this.handle, this.maxMessageSize);

  /// Connects to the server at [address] (`@name` or a socket path),
  /// retrying while nobody listens there yet, for up to [timeoutMs]
  /// (0 tries once).
  ///
  /// Throws NP_E_TIMEOUT when no server accepted in time,
  /// NP_E_INVALID_ARGUMENT for a malformed address, NP_E_PERMISSION_DENIED
  /// when the server does not allow this uid, NP_E_SERVER_FULL,
  /// NP_E_UNTRUSTED_PEER when the server runs under another uid,
  /// NP_E_PROTOCOL, NP_E_IO.
  factory IpcClient.connect(String address,
      {int timeoutMs = 5000, NativePools? library}) {
    checkUint32(timeoutMs, 'timeoutMs');
    final lib = library ?? NativePools.instance;
    final handle = using((arena) {
      final out = arena<Uint64>();
      lib.check(
          lib.bindings.np_client_connect(
              address.toNativeUtf8(allocator: arena).cast(), timeoutMs, out),
          'np_client_connect');
      return out.value;
    });
    try {
      return IpcClient._(lib, handle, _readMaxMessageSize(lib, handle));
    } catch (_) {
      lib.bindings.np_client_close(handle);
      rethrow;
    }
  }

  /// Uses a connection opened elsewhere, typically by another isolate that
  /// sent its [handle]. Throws NP_E_INVALID_HANDLE for a handle that is not
  /// an open client.
  factory IpcClient.attach(int handle, {NativePools? library}) {
    final lib = library ?? NativePools.instance;
    return IpcClient._(lib, handle, _readMaxMessageSize(lib, handle));
  }

  /// The library this client's calls go through (this isolate's).
  final NativePools library;

  /// The connection's handle: an integer other isolates can use with
  /// [attach].
  final int handle;

  /// The largest request or response payload this connection carries.
  final int maxMessageSize;

  /// Bytes of this isolate's receive buffer now. It starts at 16 KiB and
  /// grows (to the next power of two) when a response does not fit.
  static int get receiveBufferCapacity => IpcScratch.current.receiveCapacity;

  NativePoolsBindings get _np => library.bindings;

  /// The id of the route named [name] (a local lookup in the table the
  /// server shared at connect: resolve once, call many times). Throws
  /// NP_E_UNKNOWN_ROUTE.
  int resolve(String name) => using((arena) {
        final id = arena<Uint32>();
        library.check(
            _np.np_client_resolve(
                handle, name.toNativeUtf8(allocator: arena).cast(), id),
            'np_client_resolve');
        return id.value;
      });

  /// Sends [request] to route [routeId] and returns the response, copied
  /// onto the Dart heap.
  ///
  /// [timeoutMs] bounds the wait for ring room and response; with 0 the
  /// call fails with NP_E_TIMEOUT unless the answer is immediate. After a
  /// timeout the late response is dropped when it comes.
  ///
  /// Throws NP_E_UNKNOWN_ROUTE, NP_E_MESSAGE_TOO_LARGE (nothing sent),
  /// NP_E_TIMEOUT, NP_E_HANDLER_FAILED (the server refused the request; the
  /// detail names its status), NP_E_PEER_GONE, NP_E_SHUTDOWN,
  /// NP_E_PROTOCOL, NP_E_INVALID_STATE while pipelined responses are
  /// outstanding or a claim is open, NP_E_INVALID_HANDLE after [close].
  Uint8List call(int routeId, Uint8List request,
      {int timeoutMs = NP_WAIT_FOREVER}) {
    final length = _call(routeId, request, timeoutMs);
    return IpcScratch.current.receiveCopy(length);
  }

  /// As [call], but returns a view of this isolate's receive buffer, valid
  /// until the next IPC call of the isolate: no copy onto the Dart heap.
  Uint8List callView(int routeId, Uint8List request,
      {int timeoutMs = NP_WAIT_FOREVER}) {
    final length = _call(routeId, request, timeoutMs);
    return IpcScratch.current.receiveView(length);
  }

  /// np_client_call; returns the response's length, in the receive buffer.
  int _call(int routeId, Uint8List request, int timeoutMs) {
    checkUint32(routeId, 'routeId');
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final staged = scratch.stage(request, limit: maxMessageSize);
    final responseLength = scratch.outUint32;
    final status = _np.np_client_call(
        handle,
        routeId,
        staged.cast(),
        payloadLength(request.length),
        scratch.receiveBuffer.cast(),
        scratch.receiveCapacity,
        responseLength,
        timeoutMs);
    if (status == NP_OK) return responseLength.value;
    if (status != NP_E_BUFFER_TOO_SMALL) {
      throw library.failure(status, 'np_client_call');
    }
    // The response did not fit and stays queued, its size in
    // responseLength: grow the buffer and take it with np_client_receive.
    scratch.growReceive(responseLength.value);
    return _receive(scratch, timeoutMs);
  }

  /// Sends [request] to route [routeId] without waiting for the response
  /// (pipelining: many may be in flight); waits up to [timeoutMs] only for
  /// room in the ring. Returns the request's id, which its response
  /// carries. Take the responses with [receive], in the order the server
  /// answered.
  ///
  /// Throws NP_E_UNKNOWN_ROUTE, NP_E_MESSAGE_TOO_LARGE, NP_E_TIMEOUT,
  /// NP_E_PEER_GONE, NP_E_SHUTDOWN, NP_E_PROTOCOL, NP_E_INVALID_STATE
  /// while a claim is open.
  int send(int routeId, Uint8List request, {int timeoutMs = NP_WAIT_FOREVER}) {
    checkUint32(routeId, 'routeId');
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final staged = scratch.stage(request, limit: maxMessageSize);
    final status = _np.np_client_send(handle, routeId, staged.cast(),
        payloadLength(request.length), scratch.outUint64, timeoutMs);
    if (status != NP_OK) throw library.failure(status, 'np_client_send');
    return scratch.outUint64.value;
  }

  /// Receives the next response to a request sent with [send] (or
  /// committed with [commit]), copied onto the Dart heap, waiting up to
  /// [timeoutMs]. A response larger than the receive buffer grows it.
  ///
  /// An error response throws [IpcResponseException] with the id of the
  /// request it answers (NP_E_HANDLER_FAILED, NP_E_SHUTDOWN,
  /// NP_E_UNKNOWN_ROUTE, NP_E_OUT_OF_MEMORY). Other failures throw
  /// [NativePoolsException]: NP_E_TIMEOUT (the request stays outstanding:
  /// receive again), NP_E_PEER_GONE, NP_E_SHUTDOWN, NP_E_PROTOCOL,
  /// NP_E_INVALID_STATE when nothing is outstanding.
  IpcResponse receive({int timeoutMs = NP_WAIT_FOREVER}) {
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final length = _receive(scratch, timeoutMs);
    return IpcResponse(scratch.outUint64.value, scratch.receiveCopy(length));
  }

  /// As [receive], but the data is a view of this isolate's receive
  /// buffer, valid until the next IPC call of the isolate.
  IpcResponse receiveView({int timeoutMs = NP_WAIT_FOREVER}) {
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final length = _receive(scratch, timeoutMs);
    return IpcResponse(scratch.outUint64.value, scratch.receiveView(length));
  }

  /// np_client_receive into the receive buffer, grown until the response
  /// fits; returns its length, with its request id in scratch.outUint64.
  int _receive(IpcScratch scratch, int timeoutMs) {
    while (true) {
      final status = _np.np_client_receive(
          handle,
          scratch.outUint64,
          scratch.receiveBuffer.cast(),
          scratch.receiveCapacity,
          scratch.outUint32,
          timeoutMs);
      if (status == NP_OK) return scratch.outUint32.value;
      final needed = scratch.outUint32.value;
      if (status == NP_E_BUFFER_TOO_SMALL &&
          needed > scratch.receiveCapacity) {
        // Still queued: take it again with room for all of it.
        scratch.growReceive(needed);
        continue;
      }
      final NativePoolsException failure =
          library.failure(status, 'np_client_receive');
      final requestId = scratch.outUint64.value;
      if (requestId != 0) throw IpcResponseException(failure, requestId);
      throw failure;
    }
  }

  /// Zero copy: reserves room for a request of up to [length] bytes to
  /// route [routeId] directly in the shared ring, waiting up to [timeoutMs]
  /// for room, and returns it as a view to write the payload into. Publish
  /// it with [commit] (then [receive] its response) or give it up with
  /// [abort]; the view is invalid after either.
  ///
  /// Throws NP_E_UNKNOWN_ROUTE, NP_E_MESSAGE_TOO_LARGE, NP_E_TIMEOUT,
  /// NP_E_PEER_GONE, NP_E_SHUTDOWN, NP_E_PROTOCOL, NP_E_INVALID_STATE when a
  /// claim is already open.
  Uint8List claim(int routeId, int length, {int timeoutMs = NP_WAIT_FOREVER}) {
    checkUint32(routeId, 'routeId');
    checkUint32(length, 'length');
    checkUint32(timeoutMs, 'timeoutMs');
    final scratch = IpcScratch.current;
    final status = _np.np_client_claim(
        handle, routeId, length, scratch.outPointer, timeoutMs);
    if (status != NP_OK) throw library.failure(status, 'np_client_claim');
    return length == 0
        ? Uint8List(0)
        : scratch.outPointer.value.cast<Uint8>().asTypedList(length);
  }

  /// Publishes the claimed request with its final [length] (at most the
  /// claimed length) and returns its id. Throws NP_E_INVALID_ARGUMENT when
  /// [length] exceeds the claim (the claim stays open) and
  /// NP_E_INVALID_STATE without an open claim.
  int commit(int length) {
    checkUint32(length, 'length');
    final scratch = IpcScratch.current;
    final status = _np.np_client_commit(handle, length, scratch.outUint64);
    if (status != NP_OK) throw library.failure(status, 'np_client_commit');
    return scratch.outUint64.value;
  }

  /// Gives up the open claim; nothing is sent. Throws NP_E_INVALID_STATE
  /// without an open claim.
  void abort() => library.check(_np.np_client_abort(handle), 'np_client_abort');

  /// Closes the connection; the server sees the hang-up at once. Later
  /// calls with the handle, from any isolate, throw NP_E_INVALID_HANDLE
  /// (closing twice too).
  void close() => library.check(_np.np_client_close(handle), 'np_client_close');

  static int _readMaxMessageSize(NativePools lib, int handle) {
    final scratch = IpcScratch.current;
    lib.check(
        lib.bindings.np_client_max_message_size(handle, scratch.outUint32),
        'np_client_max_message_size');
    return scratch.outUint32.value;
  }

  @override
  String toString() => 'IpcClient(handle: 0x${handle.toRadixString(16)}, '
      'maxMessageSize: $maxMessageSize)';
}
