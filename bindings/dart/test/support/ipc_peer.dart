// A client in a process of its own, for the cross-process tests: started by
// test/ipc_test.dart as
//
//   dart test/support/ipc_peer.dart LIBRARY ADDRESS
//
// It connects to the test service at ADDRESS, makes one checked call on mix
// and prints "echo ok", sends one request to the hold route and prints
// "held ID", then waits for that request's response until it is killed.
// Any failure is printed as "error ..." and ends the process with status 1.
import 'dart:io';

import 'package:nativepools/nativepools.dart';

import 'ipc_service.dart';

Future<void> main(List<String> arguments) async {
  if (arguments.length != 2) {
    stderr.writeln('usage: dart ipc_peer.dart LIBRARY ADDRESS');
    exitCode = 2;
    return;
  }
  try {
    final library = NativePools.open(arguments[0]);
    final client =
        IpcClient.connect(arguments[1], timeoutMs: 30000, library: library);
    final request = checkedPayload(3000, 42);
    final response =
        client.call(client.resolve('mix'), request, timeoutMs: 30000);
    final diff = difference(response, mixed(request));
    if (diff != null) throw StateError('mix answered wrongly: $diff');
    stdout.writeln('echo ok');
    final id = client.send(client.resolve('hold'), checkedPayload(500, 43),
        timeoutMs: 30000);
    stdout.writeln('held $id');
    // stdout writes asynchronously: flush before this isolate blocks.
    await stdout.flush();
    // Blocks until the process is killed (or the server answers).
    final held = client.receive();
    stdout.writeln('answered ${held.requestId}');
    client.close();
  } on Object catch (e) {
    stdout.writeln('error $e');
    exitCode = 1;
  }
}
