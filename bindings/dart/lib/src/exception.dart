/// A libnativepools call returned a status other than NP_OK.
///
/// [status] is the primary channel and always exact. [detail] is the calling
/// OS thread's last-error text (which pool, which pointer, which limit), read
/// right after the failing call; it is empty when the thread's last error was
/// not this status.
class NativePoolsException implements Exception {
  /// Creates an exception for [status]; usually built by
  /// `NativePools.failure`, which fills the texts from the library.
  const NativePoolsException(this.status, this.name, this.message, this.detail,
      {this.operation});

  /// The np_status value, for example NP_E_POOL_EXHAUSTED (-5).
  final int status;

  /// The status's C name, for example `NP_E_POOL_EXHAUSTED`.
  final String name;

  /// The status's one-line description (np_status_message).
  final String message;

  /// The library's detail text for this failure, or an empty string.
  final String detail;

  /// The C function that failed, for example `np_pool_alloc`.
  final String? operation;

  @override
  String toString() {
    final where = operation == null ? '' : '$operation: ';
    final more = detail.isEmpty ? '' : ' ($detail)';
    return 'NativePoolsException: $where$name: $message$more';
  }
}

/// np_pool_free_batch met invalid entries. The valid ones were freed all the
/// same; [freed] says how many, [status] is that of the first invalid entry.
class FreeBatchException extends NativePoolsException {
  /// Creates the exception from the one describing the first invalid entry.
  FreeBatchException(NativePoolsException first, this.freed)
      : super(first.status, first.name, first.message, first.detail,
            operation: first.operation);

  /// How many entries of the batch were freed.
  final int freed;

  @override
  String toString() => '${super.toString()}; $freed freed';
}
