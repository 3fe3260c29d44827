#!/usr/bin/env python3
"""Keeps tests/README.md's scenario tables true to the suites.

Reads the test names of the C, Python, NUnit and Dart suites (every test names its scenario in
its name: S01..S23 for block pools, M01..M08 for message pools), checks that each scenario has
at least one test in the C, Python and NUnit suites (Dart tests run only where a Dart SDK is
installed), and compares the tables in tests/README.md with what it finds.

    python3 tests/readme/scenario_parity.py           # check; exit 1 on a gap or a stale table
    python3 tests/readme/scenario_parity.py --write   # rewrite the tables in tests/README.md
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "tests", "README.md")

SCENARIOS = {
    "S01": "4 threads, small preset (264 B)",
    "S02": "4 threads, medium preset (1 KiB)",
    "S03": "4 threads, large preset (10 KiB)",
    "S04": "mixed operations on the three presets, 8 threads",
    "S05": "stress, 10 threads",
    "S06": "stress, 20 threads",
    "S07": "stress, 50 threads",
    "S08": "2000 threads",
    "S09": "10 threads x 1,000,000 allocations",
    "S10": "1,000,000 sequential allocations, then frees",
    "S11": "rapid alloc/free cycles",
    "S12": "fragmentation: 10,000, free every other, 5,000 more reuse the gaps",
    "S13": "free-list integrity after 1,000 and 10,000 cycles",
    "S14": "producers allocate, consumers free (cross-thread)",
    "S15": "exhaustion at a maximum, growth without one",
    "S16": "bad-input table: every status",
    "S17": "leak check: 100,000 cycles, resident memory flat",
    "S18": "scaling 1,000 -> 10,000 live blocks",
    "S19": "trim releases only chunks with no block in use",
    "S20": "zero-on-alloc and poison-on-free",
    "S21": "destroy with blocks out; stale handle",
    "S22": "ownership queries",
    "S23": "alloc_batch / free_batch",
}
MESSAGE_SCENARIOS = {
    "M01": "class selection at every boundary (size = class, class + 1, 0, largest, largest + 1)",
    "M02": "many threads acquire and release mixed sizes, across threads, contents checked",
    "M03": "retention bound: releases beyond it are discarded and resident memory drops",
    "M04": "warm-up: reserve grows one class, faulted in",
    "M05": "steady state: reuse rate above 99 %",
    "M06": "totals are the sums of the class stats; reset",
    "M07": "bad-input table: every status, counted where it belongs",
    "M08": "destroy with messages out; stale handle; create/destroy churn",
}
# (table marker in tests/README.md, scenarios it lists)
TABLES = (("scenario-table", SCENARIOS), ("message-scenario-table", MESSAGE_SCENARIOS))
ALL_SCENARIOS = {**SCENARIOS, **MESSAGE_SCENARIOS}
SCENARIO_ID = r"[SM]\d\d"
REQUIRED = ("C", "Python", "NUnit")


def read(pattern):
    for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
        with open(path, encoding="utf-8") as f:
            yield os.path.relpath(path, ROOT), f.read()


def nunit_backend(path):
    """Which backend a NUnit file's tests run against: Scenarios/ (and Messages/*Scenarios.cs) both."""
    name = os.path.basename(path)
    if "/Scenarios/" in path or ("/Messages/" in path and name.endswith("Scenarios.cs")):
        return "core+native"
    if "/Core/" in path or name.startswith("Core"):
        return "core"
    return "native"


def collect():
    found = {s: {suite: [] for suite in ("C", "Python", "NUnit", "Dart")} for s in ALL_SCENARIOS}
    for _, text in read("bindings/c/tests/*.c"):
        for sid, name in re.findall(r'\{\s*"(' + SCENARIO_ID + r')",\s*"([a-z0-9_]+)"', text):
            found.setdefault(sid, {}).setdefault("C", []).append(name)
    for _, text in read("bindings/python/tests/*.py"):
        for name, sid in re.findall(r"def (test_(" + SCENARIO_ID + r")\w*)", text):
            found.setdefault(sid, {}).setdefault("Python", []).append(name)
    for path, text in read("tests/NativePools.Tests/**/*.cs"):
        where = nunit_backend(path)
        for name, sid in re.findall(r"void ((" + SCENARIO_ID + r")_\w+)\(", text):
            found.setdefault(sid, {}).setdefault("NUnit", []).append(f"{name} ({where})")
    for _, text in read("bindings/dart/test/**/*.dart"):
        for sid in re.findall(r"test\(\s*'(" + SCENARIO_ID + r")", text):
            found.setdefault(sid, {}).setdefault("Dart", []).append(sid)
    return found


def table(found, scenarios):
    lines = ["| id | scenario | C (`bindings/c/tests`) | Python (`bindings/python/tests`) | NUnit (`tests/NativePools.Tests`) | Dart |",
             "|---|---|---|---|---|---|"]
    for sid, title in scenarios.items():
        cells = []
        for suite in ("C", "Python", "NUnit"):
            names = sorted(set(found[sid][suite]))
            cells.append("<br>".join(f"`{n}`" for n in names) or "**missing**")
        dart = len(found[sid]["Dart"])
        cells.append(f"{dart} test{'s' if dart != 1 else ''}" if dart else "—")
        lines.append(f"| {sid} | {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    found = collect()
    passed = failed = 0
    for sid in ALL_SCENARIOS:
        missing = [suite for suite in REQUIRED if not found[sid][suite]]
        if missing:
            print(f"FAIL {sid} has no test in: {', '.join(missing)}")
            failed += 1
        else:
            passed += 1
    unknown = sorted(set(found) - set(ALL_SCENARIOS))
    if unknown:
        print(f"FAIL tests name scenarios that are not in the list: {', '.join(unknown)}")
        failed += 1

    with open(README, encoding="utf-8") as f:
        readme = f.read()
    fresh = readme
    for marker, scenarios in TABLES:
        begin, end_marker = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        start, end = fresh.index(begin) + len(begin), fresh.index(end_marker)
        fresh = fresh[:start] + "\n" + table(found, scenarios) + fresh[end:]
    if "--write" in sys.argv:
        with open(README, "w", encoding="utf-8") as f:
            f.write(fresh)
        print("wrote tests/README.md")
    elif fresh != readme:
        print("FAIL tests/README.md's scenario tables are stale: run python3 tests/readme/scenario_parity.py --write")
        failed += 1
    else:
        passed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
