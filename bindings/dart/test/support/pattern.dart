import 'dart:ffi';

/// Content written into blocks so that another isolate can tell that a block
/// holds exactly what its writer put there: every word depends on the
/// block's tag (unique per allocation) and on the word's position.
const int _wordStep = 0x9E3779B1;

/// Fills [size] bytes at [block] with the pattern of [tag].
void writePattern(Pointer<Uint8> block, int size, int tag) {
  final words = size >> 3;
  final view = block.cast<Uint64>().asTypedList(words);
  for (var j = 0; j < words; j++) {
    view[j] = tag + j * _wordStep;
  }
  for (var j = words * 8; j < size; j++) {
    block[j] = (tag + j) & 0xff;
  }
}

/// Null when [block] holds the pattern of [tag], else what differs first.
String? patternMismatch(Pointer<Uint8> block, int size, int tag) {
  final words = size >> 3;
  final view = block.cast<Uint64>().asTypedList(words);
  for (var j = 0; j < words; j++) {
    final expected = tag + j * _wordStep;
    if (view[j] != expected) {
      return 'block 0x${block.address.toRadixString(16)} tag $tag: word $j '
          'is 0x${view[j].toRadixString(16)}, '
          'expected 0x${expected.toRadixString(16)}';
    }
  }
  for (var j = words * 8; j < size; j++) {
    if (block[j] != (tag + j) & 0xff) {
      return 'block 0x${block.address.toRadixString(16)} tag $tag: byte $j '
          'is ${block[j]}, expected ${(tag + j) & 0xff}';
    }
  }
  return null;
}

/// Counts blocks that failed their check and keeps the first few reasons.
final class CorruptionLog {
  /// Blocks checked so far.
  int checked = 0;

  /// Descriptions of the first mismatches (at most 5).
  final List<String> first = [];

  /// Mismatching blocks.
  int corrupt = 0;

  /// Checks [block] against [tag] and records the outcome.
  void check(Pointer<Uint8> block, int size, int tag) {
    checked++;
    final mismatch = patternMismatch(block, size, tag);
    if (mismatch == null) return;
    corrupt++;
    if (first.length < 5) first.add(mismatch);
  }
}
