import 'dart:ffi';
import 'dart:math' show max;

import 'package:ffi/ffi.dart';

/// Native out-parameters, batch arrays and a text buffer reused by every call
/// of this isolate.
///
/// Statics are per isolate and an isolate runs one synchronous call at a
/// time, so one set is enough, and reusing it keeps malloc off the alloc/free
/// path. A grown set replaces the old one; the [NativeFinalizer] frees the
/// old memory once nothing refers to it, and frees the last set when the
/// isolate ends. Callers hold the object in a local variable for the duration
/// of the native call, which (being [Finalizable]) keeps it alive.
final class CallScratch implements Finalizable {
  CallScratch._(this.batchCapacity)
      : _words = calloc<Pointer<Void>>(_wordCount(batchCapacity)) {
    _finalizer.attach(this, _words.cast(),
        externalSize: _wordCount(batchCapacity) * sizeOf<Pointer<Void>>());
  }

  static final NativeFinalizer _finalizer = NativeFinalizer(calloc.nativeFree);
  static CallScratch? _current;

  /// Bytes of the text buffer (error detail messages).
  static const int _textBytes = 512;

  /// Layout in pointer-sized words: [out][text ...][blocks ...].
  static const int _textWords = _textBytes ~/ 8;
  static int _wordCount(int batch) => 1 + _textWords + batch;

  /// This isolate's scratch.
  static CallScratch get current => _current ?? forBatch(0);

  /// This isolate's scratch, grown to hold at least [count] block pointers.
  static CallScratch forBatch(int count) {
    final current = _current;
    if (current != null && current.batchCapacity >= count) return current;
    final capacity = max(max(count, 64), (current?.batchCapacity ?? 0) * 2);
    return _current = CallScratch._(capacity);
  }

  /// How many block pointers [blocks] holds.
  final int batchCapacity;

  final Pointer<Pointer<Void>> _words;

  /// One pointer-sized out-parameter: a block, a size_t count, a uint64 or an
  /// int32 result, whichever the call at hand needs.
  Pointer<Pointer<Void>> get outBlock => _words;

  /// The out-parameter word as a size_t.
  Pointer<Size> get outSize => _words.cast();

  /// The out-parameter word as a uint64.
  Pointer<Uint64> get outUint64 => _words.cast();

  /// The out-parameter word as an int32.
  Pointer<Int32> get outInt32 => _words.cast();

  /// A buffer of [textCapacity] bytes for NUL-terminated text.
  Pointer<Uint8> get text => (_words + 1).cast();

  /// Bytes available at [text].
  int get textCapacity => _textBytes;

  /// An array of [batchCapacity] block pointers.
  Pointer<Pointer<Void>> get blocks => _words + 1 + _textWords;
}
