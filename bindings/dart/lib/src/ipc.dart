import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'exception.dart';
import 'native.g.dart';

/// The largest value a C `uint32_t` parameter takes.
const int uint32Max = 0xFFFFFFFF;

/// [value] when it fits a `uint32_t` parameter; [RangeError] otherwise.
///
/// dart:ffi truncates an int passed as Uint32 to its low 32 bits, so an
/// unchecked -1 or 2^32 + 5 would reach the library as another number.
int checkUint32(int value, String name) {
  RangeError.checkValueInInterval(value, 0, uint32Max, name);
  return value;
}

/// A payload length as a `uint32_t`: lengths that do not fit become
/// 0xFFFFFFFF, which is above every maximum message size, so the library
/// refuses the message with NP_E_MESSAGE_TOO_LARGE instead of reading a
/// truncated length.
int payloadLength(int length) => length > uint32Max ? uint32Max : length;

/// An error response: the server answered the pipelined request
/// [requestId] with an error (np_client_receive returned a failure with
/// its request id set).
///
/// [status] is NP_E_HANDLER_FAILED when a handler or a pull-mode
/// np_server_reply_error refused the request (the [detail] names the status
/// it gave), NP_E_SHUTDOWN when the server stopped before serving it, and
/// NP_E_UNKNOWN_ROUTE when the server has no such route.
class IpcResponseException extends NativePoolsException {
  /// Creates the exception from the failure np_client_receive returned.
  IpcResponseException(NativePoolsException failure, this.requestId)
      : super(failure.status, failure.name, failure.message, failure.detail,
            operation: failure.operation);

  /// The id np_client_send or np_client_commit gave the failed request.
  final int requestId;

  @override
  String toString() => '${super.toString()}; request id $requestId';
}

/// A native byte buffer of fixed [capacity], freed by a [NativeFinalizer]
/// once no Dart object refers to it.
final class _NativeBytes implements Finalizable {
  _NativeBytes(this.capacity) : pointer = malloc<Uint8>(capacity) {
    _finalizer.attach(this, pointer.cast(), externalSize: capacity);
  }

  static final NativeFinalizer _finalizer = NativeFinalizer(malloc.nativeFree);

  final Pointer<Uint8> pointer;
  final int capacity;
}

/// Native memory the IPC calls of one isolate reuse: the out-parameters,
/// a staging buffer for outgoing payloads (client requests, server replies)
/// and a receive buffer for responses.
///
/// Statics are per isolate and an isolate runs one synchronous call at a
/// time, so one set serves every client and server of the isolate, and no
/// call mallocs once the buffers are large enough. Both buffers only grow
/// (to the next power of two of the largest payload seen, at least
/// [initialCapacity]); a grown buffer replaces the old one, whose memory
/// the [NativeFinalizer] frees once nothing refers to it. Views into the
/// receive buffer are therefore valid until the next IPC call of the
/// isolate, as documented on the methods that return them.
final class IpcScratch implements Finalizable {
  IpcScratch._() : _words = calloc<Uint64>(_wordCount) {
    _finalizer.attach(this, _words.cast(),
        externalSize: _wordCount * sizeOf<Uint64>());
  }

  static final NativeFinalizer _finalizer = NativeFinalizer(calloc.nativeFree);
  static IpcScratch? _current;

  /// This isolate's scratch.
  static IpcScratch get current => _current ??= IpcScratch._();

  /// Bytes each buffer starts with.
  static const int initialCapacity = 16 * 1024;

  /// Layout in 64-bit words: [np_request: 4][uint64][pointer][uint32][spare].
  static const int _wordCount = 8;

  final Pointer<Uint64> _words;
  _NativeBytes _staging = _NativeBytes(initialCapacity);
  _NativeBytes _receive = _NativeBytes(initialCapacity);

  /// The np_request np_server_receive fills (32 bytes).
  Pointer<np_request> get request => _words.cast();

  /// A uint64 out-parameter: a handle or a request id.
  Pointer<Uint64> get outUint64 => _words + 4;

  /// A pointer out-parameter: where np_client_claim lets the caller write.
  Pointer<Pointer<Void>> get outPointer => (_words + 5).cast();

  /// A uint32 out-parameter: a length, a route id or a size.
  Pointer<Uint32> get outUint32 => (_words + 6).cast();

  /// Bytes the receive buffer holds now.
  int get receiveCapacity => _receive.capacity;

  /// Bytes the staging buffer holds now.
  int get stagingCapacity => _staging.capacity;

  /// The receive buffer (valid until it grows).
  Pointer<Uint8> get receiveBuffer => _receive.pointer;

  /// Grows the receive buffer to hold at least [length] bytes.
  void growReceive(int length) {
    if (length > _receive.capacity) _receive = _NativeBytes(_grown(length));
  }

  /// [length] bytes of the receive buffer as a view (valid until the next
  /// IPC call of this isolate).
  Uint8List receiveView(int length) =>
      length == 0 ? Uint8List(0) : _receive.pointer.asTypedList(length);

  /// [length] bytes of the receive buffer, copied onto the Dart heap.
  Uint8List receiveCopy(int length) {
    final copy = Uint8List(length);
    if (length > 0) copy.setAll(0, _receive.pointer.asTypedList(length));
    return copy;
  }

  /// Copies [payload] into the staging buffer (grown if needed) and returns
  /// the buffer.
  ///
  /// A payload longer than [limit] (the connection's maximum message size,
  /// when known) is not copied: the library refuses it by its length alone
  /// (NP_E_MESSAGE_TOO_LARGE) before it reads a byte, so there is no point
  /// in growing the buffer for it. The pointer returned is never null, as a
  /// non-empty payload needs a non-null pointer to reach that check.
  Pointer<Uint8> stage(Uint8List payload, {int? limit}) {
    final length = payload.length;
    if (length == 0 || (limit != null && length > limit)) {
      return _staging.pointer;
    }
    if (length > _staging.capacity) _staging = _NativeBytes(_grown(length));
    _staging.pointer.asTypedList(length).setAll(0, payload);
    return _staging.pointer;
  }

  static int _grown(int length) {
    var capacity = initialCapacity;
    while (capacity < length) {
      capacity <<= 1;
    }
    return capacity;
  }
}
