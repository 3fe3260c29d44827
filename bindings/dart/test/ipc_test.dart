/// IPC from Dart against the real libnativepools: a pull server served by
/// a Dart isolate, clients in other isolates and other processes.
///
/// The library comes from NATIVEPOOLS_LIB or ../../artifacts/native. Sizes
/// are the CI ones unless NP_STRESS=full. Every server listens on a fresh
/// abstract-namespace address.
@TestOn('vm && linux')
library;

import 'dart:async';
import 'dart:convert';
import 'dart:io';
import 'dart:isolate';
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import 'support/environment.dart';
import 'support/ipc_clients.dart';
import 'support/ipc_service.dart';

/// The C echo server of bindings/c (`echo_server ADDRESS`: serves the
/// route "echo", answering every request with its own bytes, until killed).
final File _echoServer = File(Platform.environment['NP_ECHO_SERVER'] ??
    '../../bindings/c/build/echo_server');

/// A started test service: the server (created and started by the test
/// isolate) and the isolate serving it.
final class _Service {
  _Service(this.server, this.address, this.maxMessageSize, this.report);

  final IpcServer server;
  final String address;
  final int maxMessageSize;
  final Future<ServiceReport> report;
  Future<ServiceReport>? _stopped;

  /// Stops the server (the serving loop then ends with NP_E_SHUTDOWN) and
  /// waits for the serving isolate's report. Runs once; later calls return
  /// the same. The server stays readable ([IpcServer.stats]) until
  /// [dispose].
  Future<ServiceReport> stop({int drainTimeoutMs = 0}) =>
      _stopped ??= _stop(drainTimeoutMs);

  Future<ServiceReport> _stop(int drainTimeoutMs) async {
    server.stop(drainTimeoutMs: drainTimeoutMs);
    return report;
  }

  /// The teardown: stops if the test did not, then destroys the server,
  /// only once the serving isolate is done with it.
  Future<void> dispose() async {
    try {
      await stop();
    } finally {
      server.destroy();
    }
  }
}

/// Creates and starts the test service's server and serves it from a new
/// isolate; the teardown stops (unless the test did) and destroys it.
///
/// Completes once the serving isolate runs, so the test isolate may block in
/// calls afterwards: whether a new isolate starts while its spawner's
/// thread is blocked in native code is not something to rely on.
Future<_Service> _startService(String label,
    {int maxMessageSize = 256 * 1024}) async {
  final address = uniqueAddress(label);
  final server = startTestServer(address,
      maxMessageSize: maxMessageSize, name: 'dart-$label');
  final ready = ReceivePort();
  try {
    final service = _Service(
        server,
        address,
        maxMessageSize,
        spawnService(ServiceTask(
            libraryPath: testLibraryPath,
            handle: server.handle,
            maxMessageSize: maxMessageSize,
            ready: ready.sendPort)));
    addTearDown(service.dispose);
    await Future.any<void>([
      ready.first.then<void>((_) {}),
      service.report.then<void>(
          (r) => fail('the service ended before it served: ${r.result}')),
    ]).timeout(const Duration(minutes: 1));
    return service;
  } finally {
    ready.close();
  }
}

/// [IpcServer.receive] in short slices, yielding to the event loop between
/// them (the event-loop way to serve), so that isolates this one spawned
/// get going whatever the VM does while this thread blocks.
Future<IpcRequest> _receiveYielding(IpcServer server) async {
  final deadline = DateTime.now().add(const Duration(minutes: 1));
  while (DateTime.now().isBefore(deadline)) {
    final request = server.receive(timeoutMs: 10);
    if (request != null) return request;
    await Future<void>.delayed(Duration.zero);
  }
  fail('no request came within a minute');
}

/// A client of [service] from this isolate, closed by the teardown.
IpcClient _connect(_Service service) {
  final client = IpcClient.connect(service.address, timeoutMs: 30000);
  addTearDown(() {
    try {
      client.close();
    } on NativePoolsException catch (e) {
      if (e.status != NP_E_INVALID_HANDLE) rethrow; // closed by the test
    }
  });
  return client;
}

/// Matches a [NativePoolsException] with [status] (and a detail matching
/// [detail], when given).
Matcher _status(int status, {Pattern? detail}) {
  var matcher = isA<NativePoolsException>()
      .having((e) => e.status, 'status', status);
  if (detail != null) {
    matcher = matcher.having((e) => e.detail, 'detail', contains(detail));
  }
  return throwsA(matcher);
}

/// Waits (yielding to the event loop) until [condition] holds; fails the
/// test when it does not within [seconds]. Waits for an event, asserts no
/// duration.
Future<void> _until(bool Function() condition, String what,
    {int seconds = 30}) async {
  final deadline = DateTime.now().add(Duration(seconds: seconds));
  while (!condition()) {
    if (DateTime.now().isAfter(deadline)) {
      fail('gave up after ${seconds}s waiting until $what');
    }
    await Future<void>.delayed(const Duration(milliseconds: 5));
  }
}

void main() {
  setUpAll(useTestLibrary);

  test('server lifecycle: routes, start, receive timeout, stats, stop, destroy',
      () {
    final address = uniqueAddress('life');
    final server =
        IpcServer.create(address, maxMessageSize: 4096, name: 'life');
    var destroyed = false;
    addTearDown(() {
      if (!destroyed) server.destroy();
    });

    expect(server.addRoute('a'), 1);
    expect(server.addRoute('b'), 2);
    expect(() => server.addRoute('a'), _status(NP_E_INVALID_ARGUMENT));
    expect(() => server.addRoute(''), _status(NP_E_INVALID_ARGUMENT));
    expect(() => server.addRoute('x' * (NP_ROUTE_NAME_MAX + 1)),
        _status(NP_E_INVALID_ARGUMENT));
    expect(server.addRoute('y' * NP_ROUTE_NAME_MAX), 3);
    expect(() => server.receive(timeoutMs: 0), _status(NP_E_INVALID_STATE));

    server.start();
    expect(server.start, _status(NP_E_INVALID_STATE));
    expect(() => server.addRoute('late'), _status(NP_E_INVALID_STATE));
    expect(server.receive(timeoutMs: 0), isNull);
    expect(server.receive(timeoutMs: 20), isNull);
    expect(() => server.receive(timeoutMs: -1), throwsRangeError);
    expect(() => server.receive(timeoutMs: NP_WAIT_FOREVER + 1),
        throwsRangeError);

    final stats = server.stats();
    expect(
        [
          stats.connectionsNow,
          stats.connectionsTotal,
          stats.requests,
          stats.responses,
          stats.errorResponses,
          stats.bytesIn,
          stats.bytesOut,
          stats.pendingRequests,
          stats.protocolErrors,
        ],
        everyElement(0),
        reason: '$stats');
    expect(stats.reuseRate, inInclusiveRange(0, 1));
    final route = server.routeStats(2);
    expect(route.routeId, 2);
    expect(route.requests + route.responses + route.errors, 0);
    expect(() => server.routeStats(0), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => server.routeStats(4), _status(NP_E_UNKNOWN_ROUTE));

    // Another isolate would attach by handle; the stats are the same server's.
    expect(IpcServer.attach(server.handle).stats().requests, 0);

    // A second server cannot take a live server's address.
    final twin = IpcServer.create(address);
    addTearDown(twin.destroy);
    twin.addRoute('a');
    expect(twin.start, _status(NP_E_ADDRESS_IN_USE));

    server.stop(drainTimeoutMs: 0);
    server.stop(drainTimeoutMs: 0); // harmless
    expect(() => server.receive(timeoutMs: 0), _status(NP_E_SHUTDOWN));
    expect(() => server.receive(), _status(NP_E_SHUTDOWN));
    server.destroy();
    destroyed = true;
    expect(server.destroy, _status(NP_E_INVALID_HANDLE));
    expect(server.stats, _status(NP_E_INVALID_HANDLE));
    expect(() => IpcServer.attach(server.handle),
        _status(NP_E_INVALID_HANDLE));
    expect(() => IpcServer.attach(0), _status(NP_E_INVALID_HANDLE));
  });

  test('bad server options and addresses are refused with their status', () {
    expect(() => IpcServer.create(''), _status(NP_E_INVALID_ARGUMENT));
    final address = uniqueAddress('options');
    expect(() => IpcServer.create(address, ringSize: 5000),
        _status(NP_E_INVALID_ARGUMENT, detail: 'ring_size'));
    expect(
        () => IpcServer.create(address,
            ringSize: 4096, maxMessageSize: 64 * 1024),
        _status(NP_E_INVALID_ARGUMENT, detail: 'ring_size'));
    expect(() => IpcServer.create(address, maxMessageSize: 32 << 20),
        _status(NP_E_INVALID_ARGUMENT, detail: 'max_message_size'));
    expect(() => IpcServer.create(address, workerThreads: 65),
        _status(NP_E_INVALID_ARGUMENT, detail: 'worker_threads'));
    expect(() => IpcServer.create(address, ringSize: -1), throwsRangeError);
    expect(() => IpcServer.create(address, allowedUids: [-5]),
        throwsRangeError);

    // A socket path in a directory others can enter is refused at start.
    final shared = IpcServer.create('/tmp/nativepools-dart-$pid-shared.sock');
    addTearDown(shared.destroy);
    expect(shared.start, _status(NP_E_PERMISSION_DENIED));

    // A private directory (mkdtemp: 0700) is fine; the socket goes at stop.
    final directory = Directory.systemTemp.createTempSync('np-dart-ipc-');
    addTearDown(() => directory.deleteSync(recursive: true));
    final path = '${directory.path}/server.sock';
    final privateServer = IpcServer.create(path, allowedUids: [12345]);
    addTearDown(privateServer.destroy);
    privateServer.addRoute('only');
    privateServer.start();
    expect(
        FileSystemEntity.typeSync(path), FileSystemEntityType.unixDomainSock);
    final client = IpcClient.connect(path, timeoutMs: 10000);
    expect(client.resolve('only'), 1);
    expect(privateServer.stats().connectionsTotal, 1);
    client.close();
    privateServer.stop(drainTimeoutMs: 0);
    expect(FileSystemEntity.typeSync(path), FileSystemEntityType.notFound);

    // Nobody listens: one try, then retries until the timeout.
    expect(() => IpcClient.connect(uniqueAddress('nobody'), timeoutMs: 0),
        _status(NP_E_TIMEOUT));
    expect(() => IpcClient.connect(uniqueAddress('nobody'), timeoutMs: 30),
        _status(NP_E_TIMEOUT));
    expect(() => IpcClient.connect('', timeoutMs: 0),
        _status(NP_E_INVALID_ARGUMENT));
    expect(() => IpcClient.attach(0), _status(NP_E_INVALID_HANDLE));
  });

  test(
      'a pull server in the test isolate answers client isolates; '
      'misused replies are refused', () async {
    final address = uniqueAddress('inline');
    const maxMessageSize = 64 * 1024;
    final server = startTestServer(address,
        maxMessageSize: maxMessageSize, name: 'inline');
    addTearDown(server.destroy);
    Future<SingleCallResult> callFromIsolate(String route, Uint8List payload) =>
        spawnSingleCall(SingleCallTask(
            libraryPath: testLibraryPath,
            address: address,
            route: route,
            payload: payload));

    // 1. An oversize reply is refused and leaves the request unanswered; the
    //    reply after it goes through the staging buffer; a second reply and
    //    an error reply to the same request are refused.
    final payload = checkedPayload(5000, 1);
    final first = callFromIsolate('mix', payload);
    var request = await _receiveYielding(server);
    expect(request.routeId, testRoute('mix'));
    expect(request.length, payload.length);
    expect(request.data, payload);
    final kept = request.copy();
    expect(() => server.reply(request, Uint8List(maxMessageSize + 1)),
        _status(NP_E_MESSAGE_TOO_LARGE));
    server.reply(request, mixed(request.data));
    expect(() => server.reply(request, kept), _status(NP_E_INVALID_ARGUMENT));
    expect(() => server.replyError(request, NP_E_INTERNAL),
        _status(NP_E_INVALID_ARGUMENT));
    var result = await first;
    expect(result.status, NP_OK, reason: result.detail);
    expect(result.data, mixed(payload));
    expect(kept, payload, reason: 'copy() outlives the reply');

    // 2. Error replies: a non-negative status is refused, a negative one
    //    reaches the client as NP_E_HANDLER_FAILED naming it.
    final second = callFromIsolate('fail', failRequest(-77));
    request = await _receiveYielding(server);
    expect(request.routeId, testRoute('fail'));
    expect(() => server.replyError(request, 5), _status(NP_E_INVALID_ARGUMENT));
    expect(() => server.replyError(request, NP_OK),
        _status(NP_E_INVALID_ARGUMENT));
    server.replyError(request, -77);
    result = await second;
    expect(result.status, NP_E_HANDLER_FAILED);
    expect(result.detail, contains('-77'));

    // 3. An empty request, answered in place (the request's own buffer).
    final third = callFromIsolate('echo', Uint8List(0));
    request = await _receiveYielding(server);
    expect(request.length, 0);
    expect(request.data, isEmpty);
    server.reply(request, request.data);
    result = await third;
    expect(result.status, NP_OK, reason: result.detail);
    expect(result.data, isEmpty);

    // 4. A reply from native memory: a MessagePool buffer.
    final messages = MessagePool.create(name: 'inline replies');
    addTearDown(messages.destroy);
    final fourth = callFromIsolate('sized', sizedRequest(3000, 9));
    request = await _receiveYielding(server);
    final buffer = messages.acquire(3000);
    buffer.bytes.setAll(0, patterned(3000, 9));
    server.replyNative(request, buffer.address, 3000);
    messages.release(buffer.address);
    result = await fourth;
    expect(result.status, NP_OK, reason: result.detail);
    expect(result.data, patterned(3000, 9));

    // 5. In place, modified: the request's data is writable.
    final fifth = callFromIsolate('echo', patterned(100, 3));
    request = await _receiveYielding(server);
    request.data[0] ^= 0xff;
    server.replyNative(request, request.address, request.length);
    result = await fifth;
    final expected = patterned(100, 3);
    expected[0] ^= 0xff;
    expect(result.data, expected);

    expect(server.receive(timeoutMs: 0), isNull);
    server.stop(drainTimeoutMs: 0);
    final stats = server.stats();
    expect(stats.requests, 5, reason: '$stats');
    expect(stats.responses, 5, reason: 'error replies included ($stats)');
    expect(stats.errorResponses, 1, reason: '$stats');
    expect(stats.bytesIn, 5000 + 4 + 0 + 8 + 100, reason: '$stats');
    expect(stats.bytesOut, 5000 + 0 + 0 + 3000 + 100, reason: '$stats');
    expect(stats.pendingRequests, 0);
    expect(stats.connectionsTotal, 5);
    expect(stats.buffersCreated + stats.buffersReused, greaterThan(0));
    final mix = server.routeStats(testRoute('mix'));
    expect([mix.requests, mix.responses, mix.errors, mix.bytesIn, mix.bytesOut],
        [1, 1, 0, 5000, 5000]);
    final failStats = server.routeStats(testRoute('fail'));
    expect([failStats.requests, failStats.responses, failStats.errors],
        [1, 1, 1]);
  });

  test(
      'three client isolates: echo and mix with checksums, '
      '0 to 64 KiB, every response exact', () async {
    final service = await _startService('isolates');
    final calls = sized(ci: 400, full: 20000);
    final reports = await Future.wait([
      for (var c = 1; c <= 3; c++)
        spawnEchoClient(EchoTask(
            libraryPath: testLibraryPath,
            address: service.address,
            seed: c,
            calls: calls,
            maxSize: 64 * 1024)),
    ]);
    final ended = await service.stop(drainTimeoutMs: 1000);

    var echoCalls = 0, mixCalls = 0, echoBytes = 0, mixBytes = 0;
    for (final r in reports) {
      expect(r.mismatches, 0, reason: r.firstMismatches.join('\n'));
      expect(r.echoCalls + r.mixCalls, calls);
      expect(r.capacityBefore, lessThan(64 * 1024));
      expect(r.capacityAfter, greaterThanOrEqualTo(64 * 1024),
          reason: 'the receive buffer grew for 64 KiB responses');
      echoCalls += r.echoCalls;
      mixCalls += r.mixCalls;
      echoBytes += r.echoBytes;
      mixBytes += r.mixBytes;
    }
    expect(ended.result.stopped, isTrue);
    expect(ended.result.served, 3 * calls);
    expect(ended.result.repliesLost, 0);

    // Exact once stopped.
    final stats = service.server.stats();
    expect(stats.requests, 3 * calls, reason: '$stats');
    expect(stats.responses, 3 * calls, reason: '$stats');
    expect(stats.errorResponses, 0, reason: '$stats');
    expect(stats.bytesIn, echoBytes + mixBytes, reason: '$stats');
    expect(stats.bytesOut, echoBytes + mixBytes, reason: '$stats');
    expect(stats.connectionsTotal, 3, reason: '$stats');
    expect(stats.connectionsRejected, 0);
    expect(stats.connectionsPeak, inInclusiveRange(1, 3));
    expect(stats.peerHangups, lessThanOrEqualTo(3));
    expect(stats.protocolErrors + stats.unknownRoutes, 0);
    expect(stats.pendingRequests, 0);
    expect(stats.buffersReused, greaterThan(0), reason: '$stats');
    expect(stats.reuseRate, inInclusiveRange(0, 1));
    final echo = service.server.routeStats(testRoute('echo'));
    expect([echo.requests, echo.responses, echo.bytesIn, echo.bytesOut],
        [echoCalls, echoCalls, echoBytes, echoBytes]);
    final mix = service.server.routeStats(testRoute('mix'));
    expect([mix.requests, mix.responses, mix.bytesIn, mix.bytesOut],
        [mixCalls, mixCalls, mixBytes, mixBytes]);
  }, timeout: Timeout(Duration(minutes: fullStress ? 30 : 3)));

  test(
      'pipelining: responses in order with their ids, error responses '
      'carry theirs; claim, commit and abort', () async {
    final service = await _startService('pipeline');
    final client = _connect(service);
    final echo = client.resolve('echo');
    final mix = client.resolve('mix');
    final failRoute = client.resolve('fail');

    // A window of 32, all sent before any is received.
    final sent = <int, Uint8List>{};
    final order = <int>[];
    for (var i = 0; i < 32; i++) {
      final size = boundarySizes[i % boundarySizes.length];
      final payload = checkedPayload(size, i);
      final id = client.send(mix, payload, timeoutMs: 30000);
      if (order.isNotEmpty) expect(id, greaterThan(order.last));
      order.add(id);
      sent[id] = payload;
    }
    expect(() => client.call(mix, Uint8List(1)), _status(NP_E_INVALID_STATE));
    for (final id in order) {
      final answer = client.receive(timeoutMs: 30000);
      expect(answer.requestId, id);
      expect(answer.data, mixed(sent[id]!));
    }
    expect(() => client.receive(timeoutMs: 0), _status(NP_E_INVALID_STATE));

    // A sliding window of 8, received as views.
    final messages = sized(ci: 2000, full: 200000);
    final inFlight = <int>[];
    final payloads = <int, Uint8List>{};
    var received = 0;
    for (var i = 0; i < messages || inFlight.isNotEmpty;) {
      if (i < messages && inFlight.length < 8) {
        final payload = checkedPayload(i % 700, 1000 + i);
        final id = client.send(echo, payload, timeoutMs: 30000);
        inFlight.add(id);
        payloads[id] = payload;
        i++;
        continue;
      }
      final answer = client.receiveView(timeoutMs: 30000);
      expect(answer.requestId, inFlight.removeAt(0));
      final diff =
          difference(answer.data, payloads.remove(answer.requestId)!);
      if (diff != null) fail('message ${answer.requestId}: $diff');
      received++;
    }
    expect(received, messages);

    // An error response in the middle of a pipeline names its request.
    final a = client.send(echo, patterned(10, 1));
    final b = client.send(failRoute, failRequest(-77));
    final c = client.send(echo, patterned(20, 2));
    var response = client.receive(timeoutMs: 30000);
    expect([response.requestId, response.data], [a, patterned(10, 1)]);
    expect(
        () => client.receive(timeoutMs: 30000),
        throwsA(isA<IpcResponseException>()
            .having((e) => e.status, 'status', NP_E_HANDLER_FAILED)
            .having((e) => e.requestId, 'requestId', b)
            .having((e) => e.detail, 'detail', contains('-77'))));
    response = client.receive(timeoutMs: 30000);
    expect([response.requestId, response.data], [c, patterned(20, 2)]);

    // Zero copy: claim, write, commit less than claimed.
    final claimed = client.claim(echo, 1000, timeoutMs: 30000);
    expect(claimed.length, 1000);
    claimed.setAll(0, patterned(1000, 9));
    expect(() => client.send(echo, Uint8List(1)), _status(NP_E_INVALID_STATE));
    expect(() => client.claim(echo, 10), _status(NP_E_INVALID_STATE));
    expect(() => client.call(echo, Uint8List(1)), _status(NP_E_INVALID_STATE));
    expect(() => client.commit(1001), _status(NP_E_INVALID_ARGUMENT));
    final committed = client.commit(600);
    response = client.receive(timeoutMs: 30000);
    expect(response.requestId, committed);
    expect(response.data, patterned(1000, 9).sublist(0, 600));
    expect(() => client.commit(1), _status(NP_E_INVALID_STATE));
    expect(client.abort, _status(NP_E_INVALID_STATE));

    // An aborted claim sends nothing: the next call gets its own answer.
    client.claim(echo, 64).fillRange(0, 64, 0xEE);
    client.abort();
    expect(client.call(echo, patterned(33, 4), timeoutMs: 30000),
        patterned(33, 4));

    // An empty claim.
    expect(client.claim(echo, 0), isEmpty);
    final empty = client.commit(0);
    response = client.receive(timeoutMs: 30000);
    expect([response.requestId, response.data], [empty, isEmpty]);

    expect(() => client.claim(99, 10), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.claim(echo, client.maxMessageSize + 1),
        _status(NP_E_MESSAGE_TOO_LARGE));
    expect(() => client.claim(echo, -1), throwsRangeError);
  }, timeout: Timeout(Duration(minutes: fullStress ? 30 : 3)));

  test(
      'bad input: unknown routes, oversize messages, zero timeouts, '
      'handler errors, a closed client', () async {
    final service = await _startService('bad');
    final client = _connect(service);
    final echo = client.resolve('echo');
    expect(client.maxMessageSize, service.maxMessageSize);
    final payload = checkedPayload(300, 5);

    expect(() => client.resolve('nope'), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.resolve(''), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.call(0, payload), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.call(ipcTestRoutes.length + 1, payload),
        _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.send(99, payload), _status(NP_E_UNKNOWN_ROUTE));
    expect(() => client.call(-1, payload), throwsRangeError);
    expect(() => client.call(echo, payload, timeoutMs: -1), throwsRangeError);
    expect(() => client.call(echo, Uint8List(service.maxMessageSize + 1)),
        _status(NP_E_MESSAGE_TOO_LARGE));

    // The server refuses: its reply was too large, its handler failed, the
    // request's checksum was wrong.
    expect(() => client.call(testRoute('oversize'), payload, timeoutMs: 30000),
        _status(NP_E_HANDLER_FAILED, detail: '$NP_E_MESSAGE_TOO_LARGE'));
    expect(() => client.call(testRoute('fail'), failRequest(-77)),
        _status(NP_E_HANDLER_FAILED, detail: '-77'));
    expect(
        () => client.call(testRoute('fail'), failRequest(5), timeoutMs: 30000),
        _status(NP_E_HANDLER_FAILED,
            detail: RegExp('$NP_E_INVALID_ARGUMENT\\b')));
    final corrupt = checkedPayload(300, 6);
    corrupt[150] ^= 1;
    expect(() => client.call(testRoute('mix'), corrupt, timeoutMs: 30000),
        _status(NP_E_HANDLER_FAILED, detail: '$corruptRequest'));

    // Zero timeout on a request nobody answers yet; its late answer (sent
    // by the release) is dropped, and the next calls get their own.
    expect(() => client.call(testRoute('hold'), payload, timeoutMs: 0),
        _status(NP_E_TIMEOUT));
    final released =
        client.call(testRoute('release'), Uint8List(0), timeoutMs: 30000);
    expect([uint32At(released, 0), uint32At(released, 1)], [1, 0],
        reason: 'the held request was answered (to a caller that gave up)');
    expect(client.call(echo, payload, timeoutMs: 30000), payload);

    // A pipelined receive that times out leaves its request outstanding.
    final held = client.send(testRoute('hold'), payload, timeoutMs: 30000);
    expect(() => client.receive(timeoutMs: 0), _status(NP_E_TIMEOUT));
    expect(() => client.receive(timeoutMs: 20), _status(NP_E_TIMEOUT));
    final other = _connect(service);
    final releasedByOther =
        other.call(testRoute('release'), Uint8List(0), timeoutMs: 30000);
    expect(uint32At(releasedByOther, 0), 1);
    final lateAnswer = client.receive(timeoutMs: 30000);
    expect([lateAnswer.requestId, lateAnswer.data], [held, payload]);

    // The handle is shared by attach: same connection, same limits.
    final attached = IpcClient.attach(client.handle);
    expect(attached.maxMessageSize, client.maxMessageSize);
    expect(attached.call(echo, payload, timeoutMs: 30000), payload);

    // A closed client: every call refuses its handle.
    final closing = _connect(service);
    final mix = closing.resolve('mix');
    closing.close();
    expect(() => closing.call(mix, payload), _status(NP_E_INVALID_HANDLE));
    expect(() => closing.send(mix, payload), _status(NP_E_INVALID_HANDLE));
    expect(() => closing.receive(timeoutMs: 0), _status(NP_E_INVALID_HANDLE));
    expect(() => closing.resolve('mix'), _status(NP_E_INVALID_HANDLE));
    expect(() => closing.claim(mix, 10), _status(NP_E_INVALID_HANDLE));
    expect(() => closing.commit(0), _status(NP_E_INVALID_HANDLE));
    expect(closing.abort, _status(NP_E_INVALID_HANDLE));
    expect(closing.close, _status(NP_E_INVALID_HANDLE));
    expect(() => IpcClient.attach(closing.handle),
        _status(NP_E_INVALID_HANDLE));

    // The connection that saw all this is still in step.
    expect(client.call(echo, payload, timeoutMs: 30000), payload);
  });

  test(
      'more than 64 timed-out calls: every late response is dropped and '
      'the connection stays usable', () async {
    // np_client_call promises that after NP_E_TIMEOUT "a late response is
    // dropped". The client remembers the ids of timed-out calls in a ring
    // of 64 (IpcClient.AbandonedSlots); the late response of a call pushed
    // out of that ring is taken for "a response to a request never sent",
    // and the connection is declared broken (NP_E_PROTOCOL) although the
    // server did nothing wrong.
    final service = await _startService('abandoned');
    final client = _connect(service);
    final hold = testRoute('hold');
    const abandoned = 70;
    for (var i = 0; i < abandoned; i++) {
      expect(() => client.call(hold, patterned(16, i), timeoutMs: 0),
          _status(NP_E_TIMEOUT));
    }
    // The release follows the held requests in the same ring, so the
    // service holds all of them when it answers the release.
    final released =
        client.call(testRoute('release'), Uint8List(0), timeoutMs: 30000);
    expect([uint32At(released, 0), uint32At(released, 1)], [abandoned, 0]);
    final payload = checkedPayload(200, 1);
    expect(client.call(testRoute('echo'), payload, timeoutMs: 30000),
        payload);
  });

  test('the receive buffer grows for responses that do not fit', () async {
    final service = await _startService('growth', maxMessageSize: 512 * 1024);
    final checks = await spawnGrowthChecks(
        GrowthTask(libraryPath: testLibraryPath, address: service.address));
    expect(checks.failures, isEmpty, reason: checks.failures.join('\n'));
    expect(checks.count, 15, reason: 'every check ran');
  }, timeout: const Timeout(Duration(minutes: 2)));

  test(
      'stop: calls in flight get their response or NP_E_SHUTDOWN; '
      'pending pull requests get NP_E_SHUTDOWN', () async {
    final service = await _startService('stop');
    final ready = ReceivePort();
    final sent = ReceivePort();
    addTearDown(ready.close);
    addTearDown(sent.close);
    final loops = [
      for (var c = 1; c <= 2; c++)
        spawnLoopClient(LoopTask(
            libraryPath: testLibraryPath,
            address: service.address,
            seed: c,
            warmup: 20,
            ready: ready.sendPort)),
    ];
    final holder = spawnHoldClient(HoldTask(
        libraryPath: testLibraryPath,
        address: service.address,
        sent: sent.sendPort));
    await ready.take(2).toList().timeout(const Duration(minutes: 1));
    final heldId = await sent.first.timeout(const Duration(minutes: 1));
    // The held request is queued once the hold route counted it.
    await _until(
        () => service.server.routeStats(testRoute('hold')).requests >= 1,
        'the hold route received its request');

    final ended = await service.stop(drainTimeoutMs: 200);
    final reports = await Future.wait(loops);
    final hold = await holder;

    var answered = 0;
    for (final r in reports) {
      expect(r.finalStatus, NP_E_SHUTDOWN, reason: r.finalError);
      expect(r.mismatches, 0);
      expect(r.answered, greaterThanOrEqualTo(20));
      answered += r.answered;
    }
    expect(hold.status, NP_E_SHUTDOWN, reason: hold.description);
    expect(hold.sentId, heldId);
    expect(hold.answeredId, heldId,
        reason: 'the stop answered the pending request itself');
    expect(ended.result.stopped, isTrue);
    expect(ended.heldAtStop, 1);
    expect(ended.result.served,
        answered + ended.heldAtStop + ended.result.repliesLost,
        reason: '${ended.result}');

    final stats = service.server.stats();
    expect(stats.responses, answered, reason: '$stats');
    expect(stats.pendingRequests, 0, reason: '$stats');
    expect(stats.requests, greaterThanOrEqualTo(answered + 1));

    // Nobody listens any more.
    expect(() => IpcClient.connect(service.address, timeoutMs: 0),
        _status(NP_E_TIMEOUT));
  }, timeout: const Timeout(Duration(minutes: 3)));

  test(
      'cross-process: a Dart client process killed mid-call is dropped; '
      'the others are served', () async {
    final service = await _startService('peer');
    final client = _connect(service);
    final echo = client.resolve('echo');
    final script = File('test/support/ipc_peer.dart').absolute;
    expect(script.existsSync(), isTrue,
        reason: 'run from the package directory (${script.path})');

    final peer = await Process.start(Platform.resolvedExecutable,
        [script.path, testLibraryPath, service.address]);
    addTearDown(() => peer.kill(ProcessSignal.sigkill));
    final errors = StringBuffer();
    final stderrDone =
        peer.stderr.transform(utf8.decoder).forEach(errors.write);
    final lines = StreamIterator(
        peer.stdout.transform(utf8.decoder).transform(const LineSplitter()));
    addTearDown(lines.cancel);
    Future<String> nextLine() async {
      final more =
          await lines.moveNext().timeout(const Duration(minutes: 2));
      if (!more) {
        await stderrDone;
        fail('the peer ended early: $errors');
      }
      return lines.current;
    }

    expect(await nextLine(), 'echo ok');
    expect(await nextLine(), startsWith('held '));
    await _until(
        () => service.server.routeStats(testRoute('hold')).requests >= 1,
        'the peer\'s held request is queued');
    // The serving isolate takes requests in order: once this call is
    // answered, it holds the peer's request.
    expect(client.call(echo, patterned(64, 1), timeoutMs: 30000),
        patterned(64, 1));
    expect(service.server.stats().connectionsNow, 2);

    expect(peer.kill(ProcessSignal.sigkill), isTrue);
    expect(await peer.exitCode, -ProcessSignal.sigkill.signalNumber);
    await _until(() {
      final s = service.server.stats();
      return s.peerHangups >= 1 && s.connectionsNow == 1;
    }, 'the server dropped the dead peer');

    // The survivor is served; the dead peer's held request is lost.
    expect(client.call(echo, patterned(5000, 2), timeoutMs: 30000),
        patterned(5000, 2));
    final released =
        client.call(testRoute('release'), Uint8List(0), timeoutMs: 30000);
    expect([uint32At(released, 0), uint32At(released, 1)], [0, 1],
        reason: 'the reply to the dead peer is refused with NP_E_PEER_GONE');
    final ended = await service.stop(drainTimeoutMs: 1000);
    expect(ended.releasedLost, 1);
    expect(service.server.stats().peerHangups, greaterThanOrEqualTo(1));
  }, timeout: const Timeout(Duration(minutes: 3)));

  test(
      'cross-process: the C echo_server answers a Dart client; '
      'its death ends the wait with NP_E_PEER_GONE', () async {
    final address = uniqueAddress('c-echo');
    final server = await Process.start(_echoServer.path, [address]);
    addTearDown(() => server.kill(ProcessSignal.sigkill));
    final errors = StringBuffer();
    unawaited(server.stderr.transform(utf8.decoder).forEach(errors.write));
    unawaited(server.stdout.drain<void>());

    final IpcClient client;
    try {
      client = IpcClient.connect(address, timeoutMs: 30000);
    } on NativePoolsException catch (e) {
      fail('no echo_server at $address: $e; its stderr: $errors');
    }
    addTearDown(() {
      try {
        client.close();
      } on NativePoolsException catch (_) {
        // Already refused by the dead server's connection: nothing to do.
      }
    });
    final echo = client.resolve('echo');
    final max = client.maxMessageSize;
    for (var i = 0; i < boundarySizes.length; i++) {
      if (boundarySizes[i] > max) continue;
      final payload = checkedPayload(boundarySizes[i], i);
      final echoed = client.call(echo, payload, timeoutMs: 30000);
      expect(echoed, payload, reason: '${boundarySizes[i]} bytes');
    }
    final ids = [
      for (var i = 0; i < 16; i++)
        client.send(echo, patterned(i * 100, i), timeoutMs: 30000),
    ];
    for (var i = 0; i < 16; i++) {
      final answer = client.receive(timeoutMs: 30000);
      expect([answer.requestId, answer.data], [ids[i], patterned(i * 100, i)]);
    }
    client.claim(echo, 256, timeoutMs: 30000).setAll(0, patterned(256, 77));
    final id = client.commit(256);
    final response = client.receive(timeoutMs: 30000);
    expect([response.requestId, response.data], [id, patterned(256, 77)]);

    expect(server.kill(ProcessSignal.sigkill), isTrue);
    await server.exitCode;
    expect(() => client.call(echo, patterned(10, 1), timeoutMs: 30000),
        _status(NP_E_PEER_GONE));
  },
      timeout: const Timeout(Duration(minutes: 2)),
      skip: _echoServer.existsSync()
          ? false
          : '${_echoServer.path} is not built (make -C bindings/c, or set '
              'NP_ECHO_SERVER); the C server is the cross-process peer here');
}
