import 'dart:isolate';
import 'dart:math' show Random;
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';

import 'ipc_service.dart';

/// Checks made inside an isolate, reported back to the test (which cannot
/// see an `expect` that fails in another isolate). Sendable.
final class Checks {
  /// Descriptions of the checks that failed.
  final List<String> failures = [];

  /// Checks made.
  int count = 0;

  /// Records a check: [ok], described by [what].
  void that(bool ok, String what) {
    count++;
    if (!ok) failures.add(what);
  }

  /// Records whether [actual] holds exactly [expected].
  void same(Uint8List actual, Uint8List expected, String what) {
    final diff = difference(actual, expected);
    that(diff == null, '$what: $diff');
  }

  /// Records whether [call] throws a [NativePoolsException] with [status]
  /// (and a detail matching [detail], when given).
  void fails(void Function() call, int status, String what,
      {Pattern? detail}) {
    count++;
    try {
      call();
      failures.add('$what: succeeded; expected status $status');
    } on NativePoolsException catch (e) {
      if (e.status != status) {
        failures.add('$what: $e; expected status $status');
      } else if (detail != null && !e.detail.contains(detail)) {
        failures.add('$what: detail "${e.detail}" does not match $detail');
      }
    }
  }
}

/// Sizes every echo client covers first: empty, the checksum boundary,
/// powers of two and their neighbours, up to 64 KiB.
const List<int> boundarySizes = [
  0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, //
  4095, 4096, 4097, 16383, 16384, 16385, 32768, 65535, 65536,
];

/// One echo client: calls on echo and mix, checking every response.
final class EchoTask {
  /// Describes client [seed] making [calls] calls of up to [maxSize] bytes.
  const EchoTask({
    required this.libraryPath,
    required this.address,
    required this.seed,
    required this.calls,
    required this.maxSize,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server.
  final String address;

  /// Seeds the payloads and the sizes; distinct per client.
  final int seed;

  /// Calls to make.
  final int calls;

  /// Largest request.
  final int maxSize;
}

/// What an echo client did and found.
final class EchoReport {
  /// Collects the counts.
  const EchoReport({
    required this.echoCalls,
    required this.mixCalls,
    required this.echoBytes,
    required this.mixBytes,
    required this.mismatches,
    required this.firstMismatches,
    required this.capacityBefore,
    required this.capacityAfter,
  });

  /// Calls on echo, and their request bytes (= response bytes).
  final int echoCalls;
  final int echoBytes;

  /// Calls on mix, and their request bytes (= response bytes).
  final int mixCalls;
  final int mixBytes;

  /// Responses that were not exactly what the route answers.
  final int mismatches;

  /// The first few mismatches, described.
  final List<String> firstMismatches;

  /// This isolate's receive buffer capacity before the first call and
  /// after the last.
  final int capacityBefore;
  final int capacityAfter;
}

/// Runs [task] in a new isolate.
Future<EchoReport> spawnEchoClient(EchoTask task) =>
    Isolate.run(() => runEchoClient(task), debugName: 'echo client');

/// The size of call [i]: the boundary sizes first, then mostly small
/// requests with some up to [maxSize].
int echoSize(int i, Random random, int maxSize) {
  final boundaries = boundarySizes.where((s) => s <= maxSize).toList();
  if (i < boundaries.length) return boundaries[i];
  return random.nextInt(5) == 0
      ? random.nextInt(maxSize + 1)
      : random.nextInt(1025);
}

/// Alternates echo and mix calls with sizes from [echoSize]; every
/// response must be exactly what the route answers. Every fifth call uses
/// callView instead of call.
EchoReport runEchoClient(EchoTask task) {
  final library = NativePools.open(task.libraryPath);
  final capacityBefore = IpcClient.receiveBufferCapacity;
  final client =
      IpcClient.connect(task.address, timeoutMs: 30000, library: library);
  var echoCalls = 0, mixCalls = 0, echoBytes = 0, mixBytes = 0;
  var mismatches = 0;
  final first = <String>[];
  try {
    final echo = client.resolve('echo');
    final mix = client.resolve('mix');
    final random = Random(task.seed);
    for (var i = 0; i < task.calls; i++) {
      final size = echoSize(i, random, task.maxSize);
      final request = checkedPayload(size, task.seed * 1000003 + i);
      final onMix = i.isOdd;
      final route = onMix ? mix : echo;
      final response = i % 5 == 0
          ? client.callView(route, request, timeoutMs: 30000)
          : client.call(route, request, timeoutMs: 30000);
      final diff = difference(response, onMix ? mixed(request) : request);
      if (diff != null) {
        mismatches++;
        if (first.length < 5) {
          first.add('client ${task.seed} call $i (${onMix ? 'mix' : 'echo'}, '
              '$size bytes): $diff');
        }
      }
      if (onMix) {
        mixCalls++;
        mixBytes += size;
      } else {
        echoCalls++;
        echoBytes += size;
      }
    }
  } finally {
    client.close();
  }
  return EchoReport(
    echoCalls: echoCalls,
    mixCalls: mixCalls,
    echoBytes: echoBytes,
    mixBytes: mixBytes,
    mismatches: mismatches,
    firstMismatches: first,
    capacityBefore: capacityBefore,
    capacityAfter: IpcClient.receiveBufferCapacity,
  );
}

/// One call from another isolate, for a server the test isolate serves.
final class SingleCallTask {
  /// Describes a call of [payload] to route [route].
  const SingleCallTask({
    required this.libraryPath,
    required this.address,
    required this.route,
    required this.payload,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server.
  final String address;

  /// The route's name.
  final String route;

  /// The request.
  final Uint8List payload;
}

/// How a single call ended.
final class SingleCallResult {
  /// The outcome.
  const SingleCallResult(this.status, this.data, this.detail);

  /// NP_OK, or the status the call threw.
  final int status;

  /// The response (empty on failure).
  final Uint8List data;

  /// The failure's detail text.
  final String detail;
}

/// Runs [task] in a new isolate.
Future<SingleCallResult> spawnSingleCall(SingleCallTask task) =>
    Isolate.run(() => runSingleCall(task), debugName: 'single call');

/// Connects, makes the call, closes.
SingleCallResult runSingleCall(SingleCallTask task) {
  final library = NativePools.open(task.libraryPath);
  final client =
      IpcClient.connect(task.address, timeoutMs: 30000, library: library);
  try {
    final data = client.call(client.resolve(task.route), task.payload,
        timeoutMs: 60000);
    return SingleCallResult(NP_OK, data, '');
  } on NativePoolsException catch (e) {
    return SingleCallResult(e.status, Uint8List(0), e.detail);
  } finally {
    client.close();
  }
}

/// A client that calls mix in a loop until a call fails (the server's
/// stop), after telling [ready] that it made [warmup] calls.
final class LoopTask {
  /// Describes looping client [seed].
  const LoopTask({
    required this.libraryPath,
    required this.address,
    required this.seed,
    required this.warmup,
    required this.ready,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server.
  final String address;

  /// Seeds the payloads.
  final int seed;

  /// Calls before [ready] hears from the client.
  final int warmup;

  /// Told (with null) once [warmup] calls succeeded.
  final SendPort ready;
}

/// How a looping client ended.
final class LoopReport {
  /// Collects the outcome.
  const LoopReport({
    required this.answered,
    required this.mismatches,
    required this.finalStatus,
    required this.finalError,
  });

  /// Calls that returned a response.
  final int answered;

  /// Responses that were not exactly what mix answers.
  final int mismatches;

  /// The status of the failure that ended the loop.
  final int finalStatus;

  /// That failure, described.
  final String finalError;
}

/// Runs [task] in a new isolate.
Future<LoopReport> spawnLoopClient(LoopTask task) =>
    Isolate.run(() => runLoopClient(task), debugName: 'loop client');

/// Calls mix until a call throws; at most a million calls.
LoopReport runLoopClient(LoopTask task) {
  final library = NativePools.open(task.libraryPath);
  final client =
      IpcClient.connect(task.address, timeoutMs: 30000, library: library);
  var answered = 0;
  var mismatches = 0;
  try {
    final mix = client.resolve('mix');
    final random = Random(task.seed);
    for (var i = 0; i < 1000000; i++) {
      final request =
          checkedPayload(random.nextInt(2048), task.seed * 1000003 + i);
      try {
        final response = client.call(mix, request, timeoutMs: 60000);
        answered++;
        if (difference(response, mixed(request)) != null) mismatches++;
      } on NativePoolsException catch (e) {
        return LoopReport(
            answered: answered,
            mismatches: mismatches,
            finalStatus: e.status,
            finalError: e.toString());
      }
      if (answered == task.warmup) task.ready.send(null);
    }
    return LoopReport(
        answered: answered,
        mismatches: mismatches,
        finalStatus: NP_OK,
        finalError: 'the loop ended without a failure');
  } finally {
    client.close();
  }
}

/// A client whose pipelined request waits on the hold route.
final class HoldTask {
  /// Describes the holding client.
  const HoldTask({
    required this.libraryPath,
    required this.address,
    required this.sent,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server.
  final String address;

  /// Told the request id once the request is sent.
  final SendPort sent;
}

/// How the held request ended.
final class HoldReport {
  /// Collects the outcome.
  const HoldReport({
    required this.sentId,
    required this.status,
    required this.answeredId,
    required this.description,
  });

  /// The id send returned.
  final int sentId;

  /// The status receive threw (NP_OK if it returned a response).
  final int status;

  /// The request id the outcome carried (0 when it carried none).
  final int answeredId;

  /// The outcome, described.
  final String description;
}

/// Runs [task] in a new isolate.
Future<HoldReport> spawnHoldClient(HoldTask task) =>
    Isolate.run(() => runHoldClient(task), debugName: 'hold client');

/// Sends one request to hold, then waits for its outcome.
HoldReport runHoldClient(HoldTask task) {
  final library = NativePools.open(task.libraryPath);
  final client =
      IpcClient.connect(task.address, timeoutMs: 30000, library: library);
  try {
    final id = client.send(
        client.resolve('hold'), checkedPayload(100, 7), timeoutMs: 30000);
    task.sent.send(id);
    try {
      final response = client.receive(timeoutMs: 120000);
      return HoldReport(
          sentId: id,
          status: NP_OK,
          answeredId: response.requestId,
          description: '$response');
    } on IpcResponseException catch (e) {
      return HoldReport(
          sentId: id,
          status: e.status,
          answeredId: e.requestId,
          description: '$e');
    } on NativePoolsException catch (e) {
      return HoldReport(
          sentId: id, status: e.status, answeredId: 0, description: '$e');
    }
  } finally {
    client.close();
  }
}

/// The receive-buffer growth checks, in an isolate of their own so that
/// its buffers start at their initial size.
final class GrowthTask {
  /// Describes the checks against the service at [address].
  const GrowthTask({required this.libraryPath, required this.address});

  /// The library file the isolate opens.
  final String libraryPath;

  /// The server.
  final String address;
}

/// Runs [task] in a new isolate.
Future<Checks> spawnGrowthChecks(GrowthTask task) =>
    Isolate.run(() => runGrowthChecks(task), debugName: 'growth');

/// Responses larger than the receive buffer, through call (the
/// NP_E_BUFFER_TOO_SMALL fallback to np_client_receive), receive and
/// callView; then the maximum message size on both sides of the limit.
Checks runGrowthChecks(GrowthTask task) {
  final checks = Checks();
  final library = NativePools.open(task.libraryPath);
  final client =
      IpcClient.connect(task.address, timeoutMs: 30000, library: library);
  try {
    final sized = client.resolve('sized');
    final echo = client.resolve('echo');
    final max = client.maxMessageSize;
    final initial = IpcClient.receiveBufferCapacity;
    checks.that(initial < 100000, 'initial capacity $initial < 100000');

    // call: the response does not fit, stays queued, and is received.
    var response =
        client.call(sized, sizedRequest(100000, 1), timeoutMs: 30000);
    checks.same(response, patterned(100000, 1), 'call of 100000 bytes');
    final afterCall = IpcClient.receiveBufferCapacity;
    checks.that(afterCall >= 100000 && afterCall > initial,
        'capacity grew to $afterCall for 100000 bytes');

    // send + receive: the same, pipelined.
    final id = client.send(sized, sizedRequest(afterCall + 1, 2),
        timeoutMs: 30000);
    final received = client.receive(timeoutMs: 30000);
    checks.that(received.requestId == id,
        'received id ${received.requestId}, sent $id');
    checks.same(received.data, patterned(afterCall + 1, 2),
        'receive of ${afterCall + 1} bytes');
    final afterReceive = IpcClient.receiveBufferCapacity;
    checks.that(afterReceive > afterCall,
        'capacity grew from $afterCall to $afterReceive');

    // callView: a view of the grown buffer.
    final view = client.callView(sized, sizedRequest(afterReceive + 1, 3),
        timeoutMs: 30000);
    checks.same(view, patterned(afterReceive + 1, 3),
        'callView of ${afterReceive + 1} bytes');

    // Smaller responses still fit the grown buffer.
    response = client.call(sized, sizedRequest(10, 4), timeoutMs: 30000);
    checks.same(response, patterned(10, 4), 'a small call after growth');

    // The maximum message size, both ways, and one byte more.
    final largest = checkedPayload(max, 5);
    checks.same(client.call(echo, largest, timeoutMs: 30000), largest,
        'echo of max ($max) bytes');
    checks.same(client.call(sized, sizedRequest(max, 6), timeoutMs: 30000),
        patterned(max, 6), 'response of max bytes');
    checks.fails(() => client.call(echo, Uint8List(max + 1)),
        NP_E_MESSAGE_TOO_LARGE, 'a request of max + 1 bytes');
    checks.fails(() => client.send(echo, Uint8List(max + 1)),
        NP_E_MESSAGE_TOO_LARGE, 'a pipelined request of max + 1 bytes');
    checks.fails(() => client.claim(echo, max + 1), NP_E_MESSAGE_TOO_LARGE,
        'a claim of max + 1 bytes');
    checks.that(IpcClient.receiveBufferCapacity >= max,
        'capacity ${IpcClient.receiveBufferCapacity} holds max');
    // The refused requests were not sent: the connection is in step.
    checks.same(client.call(echo, largest, timeoutMs: 30000), largest,
        'echo after the refusals');
  } finally {
    client.close();
  }
  return checks;
}
