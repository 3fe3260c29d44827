import 'dart:io' show pid;
import 'dart:isolate';
import 'dart:math' show Random;
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';

/// The routes of the test service, in the order they are added: route ids
/// are the index + 1.
///
/// - echo: the request back, replied in place (no copy on the Dart side).
/// - mix: checks the request's checksum (see [checkedPayload]) and answers
///   [mixed] of it (reversed, every byte XOR 0xA5), through the staging
///   buffer. A bad checksum is answered with the error [corruptRequest].
/// - sized: an 8-byte request (length, seed) is answered with
///   `patterned(length, seed)`: responses larger than requests.
/// - hold: kept unanswered until a release (or the server's stop).
/// - release: answers every held request with its own data, then answers
///   with two uint32: how many were delivered and how many were lost
///   (NP_E_PEER_GONE: the client left).
/// - fail: a 4-byte int32 request is answered with replyError(that status).
/// - oversize: tries to reply with maxMessageSize + 1 bytes and answers
///   with replyError(the status that reply threw).
const List<String> ipcTestRoutes = [
  'echo',
  'mix',
  'sized',
  'hold',
  'release',
  'fail',
  'oversize',
];

/// The route id of [name] in the test service.
int testRoute(String name) {
  final index = ipcTestRoutes.indexOf(name);
  if (index < 0) throw ArgumentError.value(name, 'name', 'not a test route');
  return index + 1;
}

/// The error status the mix route answers a request whose checksum is wrong.
const int corruptRequest = -1001;

var _addresses = 0;

/// A fresh abstract-namespace address, unique per call and process.
String uniqueAddress(String label) =>
    '@nativepools-dart-$label-$pid-${_addresses++}-'
    '${Random().nextInt(1 << 32).toRadixString(16)}';

/// Creates the test service's server with its routes and starts it.
IpcServer startTestServer(String address,
    {int maxMessageSize = 0, int ringSize = 0, String? name}) {
  final server = IpcServer.create(address,
      maxMessageSize: maxMessageSize, ringSize: ringSize, name: name);
  try {
    for (var i = 0; i < ipcTestRoutes.length; i++) {
      final id = server.addRoute(ipcTestRoutes[i]);
      if (id != i + 1) {
        throw StateError('route ${ipcTestRoutes[i]} got id $id, not ${i + 1}');
      }
    }
    server.start();
    return server;
  } catch (_) {
    server.destroy();
    rethrow;
  }
}

/// Byte [i] of the pattern of [seed]: depends on both, so a shifted, stale
/// or foreign payload does not match.
int patternByte(int seed, int i) =>
    (seed * 131 + i * 7 + (i >> 8) * 31 + (i >> 16) * 17) & 0xff;

/// [length] bytes of the pattern of [seed].
Uint8List patterned(int length, int seed) {
  final bytes = Uint8List(length);
  for (var i = 0; i < length; i++) {
    bytes[i] = patternByte(seed, i);
  }
  return bytes;
}

/// 32-bit FNV-1a of bytes [start] to the end of [data].
int fnv1a(Uint8List data, [int start = 0]) {
  var hash = 0x811c9dc5;
  for (var i = start; i < data.length; i++) {
    hash = ((hash ^ data[i]) * 0x01000193) & 0xffffffff;
  }
  return hash;
}

/// A request carrying its own checksum: the pattern of [seed], with the
/// FNV-1a of bytes 4.. in its first four bytes (payloads under four bytes
/// are the bare pattern).
Uint8List checkedPayload(int length, int seed) {
  final bytes = patterned(length, seed);
  if (length >= 4) {
    ByteData.sublistView(bytes).setUint32(0, fnv1a(bytes, 4), Endian.little);
  }
  return bytes;
}

/// Whether [payload] carries a correct checksum ([checkedPayload]).
bool checksumHolds(Uint8List payload) =>
    payload.length < 4 ||
    ByteData.sublistView(payload).getUint32(0, Endian.little) ==
        fnv1a(payload, 4);

/// What the mix route answers to [request]: reversed, XOR 0xA5.
Uint8List mixed(Uint8List request) {
  final n = request.length;
  final out = Uint8List(n);
  for (var i = 0; i < n; i++) {
    out[i] = request[n - 1 - i] ^ 0xA5;
  }
  return out;
}

/// The request of the sized route.
Uint8List sizedRequest(int length, int seed) {
  final request = Uint8List(8);
  ByteData.sublistView(request)
    ..setUint32(0, length, Endian.little)
    ..setUint32(4, seed, Endian.little);
  return request;
}

/// The request of the fail route.
Uint8List failRequest(int status) {
  final request = Uint8List(4);
  ByteData.sublistView(request).setInt32(0, status, Endian.little);
  return request;
}

/// Reads uint32 number [index] of [bytes].
int uint32At(Uint8List bytes, int index) =>
    ByteData.sublistView(bytes).getUint32(index * 4, Endian.little);

/// A description of the first difference between [actual] and [expected],
/// or null when they are equal.
String? difference(Uint8List actual, Uint8List expected) {
  if (actual.length != expected.length) {
    return 'length ${actual.length}, expected ${expected.length}';
  }
  for (var i = 0; i < actual.length; i++) {
    if (actual[i] != expected[i]) {
      return 'byte $i is ${actual[i]}, expected ${expected[i]}';
    }
  }
  return null;
}

/// What the serving isolate needs. Sendable: the server as its handle.
final class ServiceTask {
  /// Describes the service of server [handle].
  const ServiceTask({
    required this.libraryPath,
    required this.handle,
    required this.maxMessageSize,
    required this.ready,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server, created and started by the test.
  final int handle;

  /// The server's largest message (for the oversize route).
  final int maxMessageSize;

  /// Told (with null) once the isolate runs and is about to serve.
  final SendPort ready;
}

/// What a serving isolate did, once the server stopped.
final class ServiceReport {
  /// Collects the counts.
  const ServiceReport({
    required this.result,
    required this.released,
    required this.releasedLost,
    required this.heldAtStop,
  });

  /// What [IpcServer.serve] returned.
  final IpcServeResult result;

  /// Held requests answered by releases.
  final int released;

  /// Held requests whose client had left when a release answered them.
  final int releasedLost;

  /// Requests still held when the server stopped (the stop answered them
  /// with NP_E_SHUTDOWN).
  final int heldAtStop;
}

/// Serves the test service from a new isolate until the server stops.
Future<ServiceReport> spawnService(ServiceTask task) =>
    Isolate.run(() => runService(task), debugName: 'ipc service');

/// The serving loop: attaches to the server and serves until it stops.
ServiceReport runService(ServiceTask task) {
  final library = NativePools.open(task.libraryPath);
  final server = IpcServer.attach(task.handle, library: library);
  task.ready.send(null);
  final held = <IpcRequest>[];
  var released = 0;
  var releasedLost = 0;

  Uint8List? respond(IpcRequest request) {
    switch (ipcTestRoutes[request.routeId - 1]) {
      case 'echo':
        return request.data; // the request's own buffer: replied in place
      case 'mix':
        if (!checksumHolds(request.data)) {
          server.replyError(request, corruptRequest);
          return null;
        }
        return mixed(request.data);
      case 'sized':
        return patterned(
            uint32At(request.data, 0), uint32At(request.data, 1));
      case 'hold':
        held.add(request);
        return null;
      case 'release':
        var delivered = 0;
        var lost = 0;
        for (final h in held) {
          try {
            server.reply(h, h.data);
            delivered++;
          } on NativePoolsException catch (e) {
            if (e.status != NP_E_PEER_GONE) rethrow;
            lost++;
          }
        }
        held.clear();
        released += delivered;
        releasedLost += lost;
        final answer = Uint8List(8);
        ByteData.sublistView(answer)
          ..setUint32(0, delivered, Endian.little)
          ..setUint32(4, lost, Endian.little);
        return answer;
      case 'fail':
        // A non-negative status makes replyError throw NP_E_INVALID_ARGUMENT,
        // which serve answers as an error with that status.
        server.replyError(
            request,
            ByteData.sublistView(request.data)
                .getInt32(0, Endian.little));
        return null;
      case 'oversize':
        try {
          server.reply(request, Uint8List(task.maxMessageSize + 1));
        } on NativePoolsException catch (e) {
          server.replyError(request, e.status);
        }
        return null;
    }
    throw StateError('request for route ${request.routeId}');
  }

  final result = server.serve(respond);
  return ServiceReport(
    result: result,
    released: released,
    releasedLost: releasedLost,
    heldAtStop: held.length,
  );
}
