#!/usr/bin/env python3
"""Checks that the code examples of the README and of docs/*.md run exactly as written.

Each example is preceded by a marker naming the file it must equal:

    <!-- example: bindings/c/examples/hello_pool.c -->
    ```c
    ...
    ```

For every marker this compares the block with the file, then compiles (C) or runs (Python, sh
from the repository root) the block's own text against the built library and requires exit
code 0 and some output.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_DIR = os.path.dirname(os.environ.get("NATIVEPOOLS_LIB", os.path.join(ROOT, "artifacts", "native", "libnativepools.so")))
MARKER = re.compile(r"<!-- example: (?P<path>\S+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def run_c(code: str, workdir: str) -> subprocess.CompletedProcess:
    source = os.path.join(workdir, "example.c")
    binary = os.path.join(workdir, "example")
    with open(source, "w") as f:
        f.write(code)
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                    "-I", os.path.join(ROOT, "native-headers"), source, "-o", binary,
                    "-L", LIB_DIR, "-lnativepools", "-lpthread", f"-Wl,-rpath,{LIB_DIR}"], check=True)
    return subprocess.run([binary], capture_output=True, text=True, timeout=60)


def run_python(code: str, workdir: str) -> subprocess.CompletedProcess:
    source = os.path.join(workdir, "example.py")
    with open(source, "w") as f:
        f.write(code)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
    return subprocess.run([sys.executable, source], capture_output=True, text=True, timeout=60, env=env)


def run_sh(code: str, workdir: str) -> subprocess.CompletedProcess:
    source = os.path.join(workdir, "example.sh")
    with open(source, "w") as f:
        f.write(code)
    return subprocess.run(["sh", source], capture_output=True, text=True, timeout=180, cwd=ROOT)


RUNNERS = {"c": run_c, "python": run_python, "sh": run_sh}


def main() -> int:
    # The README and the guides under docs/ (the IPC demo lives in docs/ipc.md).
    documents = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    examples = []
    for document in documents:
        with open(document) as f:
            examples.extend(MARKER.finditer(f.read()))
    passed = failed = 0
    for m in examples:
        path, lang, code = m.group("path"), m.group("lang"), m.group("code")
        name = f"README example {path}"
        try:
            with open(os.path.join(ROOT, path)) as f:
                if f.read() != code:
                    raise AssertionError(f"README block differs from {path}: copy the file into the README")
            if lang not in RUNNERS:
                raise AssertionError(f"no runner for language '{lang}'")
            with tempfile.TemporaryDirectory() as workdir:
                result = RUNNERS[lang](code, workdir)
            if result.returncode != 0:
                raise AssertionError(f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}")
            if not result.stdout.strip():
                raise AssertionError("the example printed nothing")
            print(f"ok {name}\n" + "".join(f"   | {line}\n" for line in result.stdout.splitlines()))
            passed += 1
        except (AssertionError, subprocess.CalledProcessError, OSError) as e:
            print(f"FAIL {name}: {e}")
            failed += 1
    if not examples:
        print("FAIL no example markers found in README.md")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
