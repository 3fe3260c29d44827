import 'dart:io';

import 'package:nativepools/nativepools.dart';

/// Whether the stress scenarios run at full size (NP_STRESS=full) rather
/// than the CI size.
final bool fullStress = Platform.environment['NP_STRESS'] == 'full';

/// [ci] normally, [full] under NP_STRESS=full.
int sized({required int ci, required int full}) => fullStress ? full : ci;

/// The libnativepools the tests run against: NATIVEPOOLS_LIB, else the
/// repository's published build relative to this package.
final String testLibraryPath = _findLibrary();

String _findLibrary() {
  final fromEnvironment = Platform.environment[NativePools.environmentVariable];
  if (fromEnvironment != null && fromEnvironment.isNotEmpty) {
    return fromEnvironment;
  }
  final built = File('../../artifacts/native/libnativepools.so').absolute;
  if (!built.existsSync()) {
    throw StateError('libnativepools not found: set NATIVEPOOLS_LIB or build '
        'it (dotnet publish src/NativePools.Native -c Release -r linux-x64 '
        '-o artifacts/native); looked for ${built.path}');
  }
  return built.path;
}

/// Opens the test library and makes it this isolate's [NativePools.instance].
NativePools useTestLibrary() =>
    NativePools.use(NativePools.open(testLibraryPath));
