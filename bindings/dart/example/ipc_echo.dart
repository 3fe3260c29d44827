// An IPC server hosted in Dart and a client calling it. The server is served
// by a dedicated isolate, because np_server_receive blocks the thread of the
// isolate that calls it; the main isolate is the client here, but any
// process of the same user could be (C, C#, Python or another Dart program).
//
//   NATIVEPOOLS_LIB=../../artifacts/native/libnativepools.so \
//     dart run example/ipc_echo.dart
import 'dart:convert';
import 'dart:io' show pid;
import 'dart:isolate';
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';

const int echoRoute = 1;
const int shoutRoute = 2;

Future<void> main() async {
  final address = '@nativepools-echo-example-$pid';
  final server = IpcServer.create(address,
      maxMessageSize: 64 * 1024, name: 'echo example');
  if (server.addRoute('echo') != echoRoute ||
      server.addRoute('shout') != shoutRoute) {
    throw StateError('route ids are assigned 1, 2, ... in order');
  }
  server.start();
  final serving = serveInIsolate(server.handle, NativePools.instance.path);

  final client = IpcClient.connect(address);
  try {
    final echo = client.resolve('echo');
    final shout = client.resolve('shout');
    print('max message: ${client.maxMessageSize} bytes');

    // One call: the request goes out, the response comes back.
    final loud = client.call(shout, utf8.encode('hello from dart'));
    print('shout: ${utf8.decode(loud)}');

    // Pipelining: several requests in flight, responses in order.
    final ids = [
      for (var i = 0; i < 4; i++) client.send(echo, utf8.encode('message $i')),
    ];
    for (final id in ids) {
      final answer = client.receive(timeoutMs: 5000);
      print('response to $id (${answer.requestId}): '
          '${utf8.decode(answer.data)}');
    }

    // Zero copy: write the request straight into the shared ring.
    final text = utf8.encode('written in place');
    client.claim(shout, 64).setAll(0, text);
    final id = client.commit(text.length);
    final response = client.receiveView(timeoutMs: 5000); // a view: use now
    print('claimed request $id: ${utf8.decode(response.data)}');

    // Errors carry the exact status.
    try {
      client.call(echo, Uint8List(client.maxMessageSize + 1));
    } on NativePoolsException catch (e) {
      print('refused: ${e.name} (${e.detail})');
    }
  } finally {
    client.close();
  }

  // Stop: the serving isolate's loop ends with NP_E_SHUTDOWN, then destroy.
  server.stop(drainTimeoutMs: 1000);
  final result = await serving;
  print(result);
  print(server.stats());
  server.destroy();
}

/// Serves [handle] from a new isolate until the server stops. The isolate
/// gets the handle (an int) and the library path, not the [IpcServer]
/// object: that holds the loaded library, which cannot cross isolates.
Future<IpcServeResult> serveInIsolate(int handle, String? libraryPath) =>
    Isolate.run(() {
      final library = NativePools.open(libraryPath);
      final server = IpcServer.attach(handle, library: library);
      return server.serve((request) => switch (request.routeId) {
            // The request's own buffer is the reply: no copy at all.
            echoRoute => request.data,
            // Modified in place, then replied from where it is.
            shoutRoute => upperCaseInPlace(request.data),
            _ => throw StateError('no route ${request.routeId}'),
          });
    }, debugName: 'ipc server');

/// ASCII letters of [bytes] in upper case, in place.
Uint8List upperCaseInPlace(Uint8List bytes) {
  for (var i = 0; i < bytes.length; i++) {
    final b = bytes[i];
    if (b >= 0x61 && b <= 0x7a) bytes[i] = b - 0x20;
  }
  return bytes;
}
