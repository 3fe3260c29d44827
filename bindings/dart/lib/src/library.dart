import 'dart:ffi';
import 'dart:io' show Platform;

import 'package:ffi/ffi.dart';

import 'exception.dart';
import 'native.g.dart';
import 'scratch.dart';

/// The loaded libnativepools and the text helpers around its statuses.
///
/// Dart statics are per isolate, so every isolate has its own [instance]; the
/// operating system loads the shared library once per process and each open
/// only takes another reference to it. Pools are shared between isolates by
/// their handle ([BlockPool.handle] and [BlockPool.attach]).
final class NativePools {
  NativePools._(this.bindings, this.path);

  /// Environment variable naming the library file to load when no path is
  /// given.
  static const String environmentVariable = 'NATIVEPOOLS_LIB';

  static NativePools? _instance;

  /// This isolate's library, opened on first use as [NativePools.open] does
  /// without a path.
  static NativePools get instance => _instance ??= NativePools.open();

  /// Makes [library] this isolate's [instance] (for example one opened from an
  /// explicit path) and returns it.
  static NativePools use(NativePools library) => _instance = library;

  /// Opens the library at [path]; without one, the file named by the
  /// `NATIVEPOOLS_LIB` environment variable; without that, the platform's
  /// default name (libnativepools.so or libnativepools.dylib) found by the
  /// dynamic loader's search path.
  ///
  /// Throws [ArgumentError] when the file cannot be loaded and [StateError]
  /// when its version does not match these bindings.
  factory NativePools.open([String? path]) {
    var resolved = path ?? Platform.environment[environmentVariable];
    if (resolved != null && resolved.isEmpty) resolved = null;
    final bindings = NativePoolsBindings(NativePoolsBindings.open(resolved));
    final library = NativePools._(bindings, resolved);
    library._checkVersion();
    return library;
  }

  /// The raw generated bindings: C names, statuses as ints, no checks.
  final NativePoolsBindings bindings;

  /// The path the library was opened from, or null for the default name.
  final String? path;

  /// The library's version as `(major << 16) | (minor << 8) | patch`.
  int get version => bindings.np_version();

  /// The library's version as text, for example `0.1.0`.
  String get versionString =>
      bindings.np_version_string().cast<Utf8>().toDartString();

  /// The symbolic name of [status], for example `NP_E_DOUBLE_FREE`.
  String statusName(int status) =>
      bindings.np_status_name(status).cast<Utf8>().toDartString();

  /// A one-line English description of [status].
  String statusMessage(int status) =>
      bindings.np_status_message(status).cast<Utf8>().toDartString();

  /// The status of this OS thread's most recent failure (NP_OK if none).
  ///
  /// Only meaningful right after the failing call, in the same synchronous
  /// code: an isolate may resume on another OS thread after any `await`.
  int get lastErrorStatus => bindings.np_last_error_status();

  /// This OS thread's detail message for its most recent failure, or an empty
  /// string. Same caveat as [lastErrorStatus].
  String lastErrorMessage() {
    final scratch = CallScratch.current;
    var capacity = scratch.textCapacity;
    var buffer = scratch.text;
    var length = bindings.np_last_error_message(buffer, capacity);
    if (length < capacity) {
      return buffer.cast<Utf8>().toDartString(length: length);
    }
    // Longer than the scratch buffer: ask again with room for all of it.
    capacity = length + 1;
    buffer = calloc<Uint8>(capacity);
    try {
      // Nothing ran on this thread since, so it is the same message.
      length = bindings.np_last_error_message(buffer, capacity);
      return buffer
          .cast<Utf8>()
          .toDartString(length: length < capacity ? length : capacity - 1);
    } finally {
      calloc.free(buffer);
    }
  }

  /// The exception for [status], returned by a call named [operation].
  ///
  /// Call it immediately after the failing call, before any `await`: the
  /// detail comes from the OS thread's last-error slot, and it is kept only
  /// when that slot holds this very status.
  NativePoolsException failure(int status, String operation) =>
      NativePoolsException(status, statusName(status), statusMessage(status),
          detailFor(status),
          operation: operation);

  /// The detail text of a failure with [status] that this OS thread just
  /// had, or an empty string for NP_OK or when the thread's last error is
  /// another status. Same caveat as [failure].
  String detailFor(int status) =>
      status != NP_OK && lastErrorStatus == status ? lastErrorMessage() : '';

  /// Throws [failure] unless [status] is NP_OK.
  void check(int status, String operation) {
    if (status != NP_OK) throw failure(status, operation);
  }

  void _checkVersion() {
    final major = version >> 16;
    final minor = (version >> 8) & 0xff;
    if (major != NP_VERSION_MAJOR || minor < NP_VERSION_MINOR) {
      throw StateError('libnativepools ${path ?? '(default name)'} is version '
          '$versionString; these bindings need '
          '$NP_VERSION_MAJOR.$NP_VERSION_MINOR or a later minor version');
    }
  }
}
