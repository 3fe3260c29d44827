"""Finds and loads libnativepools once per process (a NativeAOT library cannot be unloaded)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from pathlib import Path

from . import _native

LIBRARY_ENV_VAR = "NATIVEPOOLS_LIB"

if sys.platform == "darwin":
    LIBRARY_FILE = "libnativepools.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = "nativepools.dll"
else:
    LIBRARY_FILE = "libnativepools.so"

# bindings/python/nativepools/_loader.py -> repository root is three folders up.
_REPO_ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "native"

_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL] = {}
_default: ctypes.CDLL | None = None


def load_library(path: str | os.PathLike | None = None) -> ctypes.CDLL:
    """Returns the bound library (argtypes/restype set), loading it on first use.

    Without a path it tries, in order: the file named by $NATIVEPOOLS_LIB, the repository's
    artifacts/native folder next to this package, then the system loader.
    """
    global _default
    with _lock:
        if path is not None:
            return _load_locked(str(path))
        if _default is None:
            _default = _load_locked(_find_default())
        return _default


def _find_default() -> str:
    configured = os.environ.get(LIBRARY_ENV_VAR)
    if configured:
        candidate = Path(configured)
        if candidate.is_dir():
            candidate = candidate / LIBRARY_FILE
        if not candidate.is_file():
            # A wrong explicit setting must not silently fall back to some other copy.
            raise OSError(f"{LIBRARY_ENV_VAR}={configured!r} does not name an existing {LIBRARY_FILE}")
        return str(candidate)
    in_repo = _REPO_ARTIFACTS / LIBRARY_FILE
    if in_repo.is_file():
        return str(in_repo)
    return ctypes.util.find_library("nativepools") or LIBRARY_FILE


def _load_locked(path: str) -> ctypes.CDLL:
    library = _loaded.get(path)
    if library is None:
        try:
            library = _native.bind(ctypes.CDLL(path))
        except OSError as error:
            raise OSError(
                f"cannot load {path!r} ({error}); set {LIBRARY_ENV_VAR} or build artifacts/native") from error
        _loaded[path] = library
    return library
