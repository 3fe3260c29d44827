/// The raw generated dart:ffi layer of libnativepools: every C constant,
/// struct and function under its C name, with statuses returned as ints.
///
/// For callers that need the exact C calls (NULL arguments, custom structs);
/// everyone else uses `package:nativepools/nativepools.dart`.
library;

export 'src/native.g.dart';
