"""Collects the pool benchmark's raw records into bench/results/pools.json and pools.md.

    python3 bench/pools/report.py --raw RAW.jsonl --json OUT.json --markdown OUT.md
        [--duration SECONDS] [--load-start "1.0 0.5 0.2"] [--failures N]

RAW.jsonl holds one JSON record per driver run (see bench_util.h). Records with the same
scenario, allocator and params are runs of one measurement: every numeric metric is reported
as median, min and max over the runs. Ratios between two measurements are ratios of medians;
ratios measured inside one process (e.g. pool pair / no-op pair) are medians of the per-run
ratios. Goals come from the issue "Pool performance" and are reported, never enforced.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
from collections import OrderedDict

from report_markdown import ALLOCATORS, MALLOCS, render_markdown


# ---------------------------------------------------------------- loading and grouping

def load_records(path: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as raw:
        for line in raw:
            line = line.strip()
            if line.startswith("{"):
                records.append(json.loads(line))
    return records


def summarize(values: list) -> dict | list:
    """median/min/max for numbers; the distinct values for text (e.g. validate statuses)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers)}
    return sorted({str(v) for v in values})


PER_RUN_CROSS = ("pairs_per_s", "core_round_trip_before_ns", "core_round_trip_after_ns")


def group(records: list[dict]) -> list[dict]:
    groups: "OrderedDict[tuple, list[dict]]" = OrderedDict()
    for record in records:
        if record.get("scenario") == "info":
            continue
        key = (record["scenario"], record["allocator"], json.dumps(record["params"], sort_keys=True))
        groups.setdefault(key, []).append(record)
    results = []
    for (scenario, allocator, _), runs in groups.items():
        names = list(OrderedDict.fromkeys(name for run in runs for name in run["metrics"]))
        metrics = {name: summarize([run["metrics"][name] for run in runs if name in run["metrics"]])
                   for name in names}
        result = {"scenario": scenario, "allocator": allocator, "params": runs[0]["params"],
                  "runs": len(runs), "metrics": metrics}
        if scenario == "cross_thread":
            # Each run's throughput beside the core-to-core round trip measured around it: the
            # host moves the vCPUs between runs, and the medians alone hide which run saw what.
            result["per_run"] = [{k: run["metrics"][k] for k in PER_RUN_CROSS if k in run["metrics"]} for run in runs]
        results.append(result)
    return results


class Results:
    """Lookup of grouped results by scenario, allocator and params."""

    def __init__(self, results: list[dict]):
        self.results = results

    def find(self, scenario: str, allocator: str | None = None, **params) -> dict | None:
        for result in self.results:
            if result["scenario"] != scenario:
                continue
            if allocator is not None and result["allocator"] != allocator:
                continue
            if all(result["params"].get(k) == v for k, v in params.items()):
                return result
        return None

    def median(self, scenario: str, allocator: str | None, metric: str, **params) -> float | None:
        result = self.find(scenario, allocator, **params)
        if not result or metric not in result["metrics"]:
            return None
        value = result["metrics"][metric]
        return value["median"] if isinstance(value, dict) else None

    def values(self, scenario: str, key: str) -> list:
        return sorted({r["params"][key] for r in self.results if r["scenario"] == scenario and key in r["params"]})


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


# ---------------------------------------------------------------- goals and derived ratios

def goal(goals: list, scenario: str, name: str, value: float | None, op: str, bound: float, note: str = ""):
    met = None if value is None else (value <= bound if op == "<=" else value >= bound)
    goals.append({"scenario": scenario, "name": name, "value": value, "goal": f"{op} {bound:.3g}",
                  "met": met, "note": note})


def derive(res: Results) -> tuple[list, dict]:
    goals: list = []
    derived: dict = {}

    # 1. one call per operation
    ratio_wall = res.median("single_call", "nativepools", "ratio_to_noop")
    ratio_cpu = res.median("single_call", "nativepools", "ratio_to_noop_cpu")
    goal(goals, "single_call", "pool pair / no-op export pair (wall)", ratio_wall, "<=", 1.6)
    goal(goals, "single_call", "pool pair / no-op export pair (CPU time)", ratio_cpu, "<=", 1.6)
    pool_pair = res.median("single_call", "nativepools", "pair_ns")
    derived["single_call_vs_pool"] = {
        a: ratio(res.median("single_call", a, "pair_ns"), pool_pair) for a in ALLOCATORS}

    # 2. batches: the pool's batch calls against every malloc, per size
    derived["batch_pool_over_malloc"] = {}
    for size in res.values("batch", "block_size"):
        pool = res.median("batch", "nativepools", "block_ns", block_size=size, calls="batch")
        per_malloc = {m: ratio(pool, res.median("batch", m, "block_ns", block_size=size)) for m in MALLOCS}
        derived["batch_pool_over_malloc"][str(size)] = per_malloc
        known = [v for v in per_malloc.values() if v is not None]
        goal(goals, "batch", f"{size} B: pool batch / cheapest malloc, ns per block",
             max(known) if known else None, "<=", 1.0, "below 1: cheaper than every malloc")

    # 3. threads: scaling against the 2-thread figure, and progress of every thread
    derived["threads_ratio_to_2"] = {}
    for a in ALLOCATORS:
        two = res.median("threads", a, "pairs_per_s", threads=2)
        derived["threads_ratio_to_2"][a] = {
            str(t): ratio(res.median("threads", a, "pairs_per_s", threads=t), two)
            for t in res.values("threads", "threads")}
    scale = derived["threads_ratio_to_2"].get("nativepools", {})
    one_over_two = scale.get("1")
    goal(goals, "threads", "nativepools: 2 threads / 1 thread, pairs/s",
         None if not one_over_two else 1 / one_over_two, ">=", 1.7)
    for t in res.values("threads", "threads"):
        if t > 2:
            goal(goals, "threads", f"nativepools: {t} threads / 2 threads, pairs/s", scale.get(str(t)), ">=", 0.8)
    idle = [res.median("threads", "nativepools", "threads_without_progress", threads=t)
            for t in res.values("threads", "threads")]
    idle = [v for v in idle if v is not None]
    goal(goals, "threads", "nativepools: threads without progress (most in any run size)",
         max(idle) if idle else None, "<=", 0, "median over runs, per thread count")

    # 4. fresh process
    derived["fresh_vs_glibc"] = {a: ratio(res.median("fresh_process", a, "total_ms"),
                                          res.median("fresh_process", "glibc", "total_ms")) for a in ALLOCATORS}
    goal(goals, "fresh_process", "pool / glibc, 1,000,000 x 264 B alloc then free (wall)",
         derived["fresh_vs_glibc"].get("nativepools"), "<=", 0.15)
    derived["fresh_cpu_vs_glibc"] = {a: ratio(cpu_ms(res, a), cpu_ms(res, "glibc")) for a in ALLOCATORS}
    goal(goals, "fresh_process", "pool / glibc, same, CPU time", derived["fresh_cpu_vs_glibc"].get("nativepools"),
         "<=", 0.15)

    # 5. cross-thread against same-thread, same thread count
    derived["cross_over_same"] = {}
    for threads in res.values("cross_thread", "threads"):
        derived["cross_over_same"][str(threads)] = {
            a: ratio(res.median("cross_thread", a, "pairs_per_s", mode="cross", threads=threads),
                     res.median("cross_thread", a, "pairs_per_s", mode="same", threads=threads))
            for a in ALLOCATORS}
        ratios = derived["cross_over_same"][str(threads)]
        mallocs = {a: ratios[a] for a in MALLOCS if ratios.get(a) is not None}
        best = max(mallocs, key=mallocs.get) if mallocs else None
        context = [f"best malloc: {best} {mallocs[best]:.3g}"] if best else []
        if ratios.get("magazine_pool") is not None:
            context.append(f"the same design in C, no boundary: {ratios['magazine_pool']:.3g}")
        goal(goals, "cross_thread", f"nativepools, {threads} threads: cross-thread / same-thread pairs/s",
             ratios.get("nativepools"), ">=", 1 / 3, "; ".join(context))

    # 7. metadata
    goal(goals, "metadata", "bytes_metadata / bytes_reserved at 264 B",
         res.median("metadata", "nativepools", "metadata_ratio", block_size=264), "<=", 0.02)

    # 8. Python
    for kind in ("raw", "binding"):
        goal(goals, "python", f"{kind} ctypes pair / two no-op ctypes calls (wall)",
             res.median("python", "nativepools", f"{kind}_ratio_to_noop"), "<=", 1.3)
        goal(goals, "python", f"{kind} ctypes pair / two no-op ctypes calls (CPU time)",
             res.median("python", "nativepools", f"{kind}_ratio_to_noop_cpu"), "<=", 1.3)
    derived["python_over_c_pair"] = {
        kind: ratio(res.median("python", "nativepools", f"{kind}_pair_ns"), pool_pair) for kind in ("raw", "binding")}
    return goals, derived


def cpu_ms(res: Results, allocator: str) -> float | None:
    user = res.median("fresh_process", allocator, "cpu_user_ms")
    system = res.median("fresh_process", allocator, "cpu_system_ms")
    return None if user is None or system is None else user + system


# ---------------------------------------------------------------- the machine

def read_first(path: str, key: str, separator: str = ":") -> str | None:
    """The value of the first "key<separator>value" line of a file, unquoted."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, found, value = line.partition(separator)
                if found and name.strip() == key:
                    return value.strip().strip('"')
    except OSError:
        pass
    return None


def command_line(*command: str) -> str | None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
        return out.splitlines()[0].strip() if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def seconds_of_times(text: str | None) -> float | None:
    """User + system seconds from a line of bash's `times`, e.g. "1m2.500s 0m0.250s"."""
    try:
        total = 0.0
        for field in (text or "").split()[:2]:
            minutes, seconds = field.rstrip("s").split("m")
            total += int(minutes) * 60 + float(seconds)
        return total if text else None
    except ValueError:
        return None


def cpu_shares(stat_start: str | None, own_cpu_s: float | None) -> dict:
    """Machine-wide CPU shares since the "cpu" line of /proc/stat given: stolen by the hypervisor,
    and used by processes other than the benchmark (busy time less the benchmark's own CPU time)."""
    try:
        with open("/proc/stat", encoding="utf-8") as stat:
            end = [int(x) for x in stat.readline().split()[1:]]
        start = [int(x) for x in (stat_start or "").split()[1:]]
    except (OSError, ValueError):
        return {}
    if len(start) < 8 or len(end) < 8:
        return {}
    delta = [e - s for e, s in zip(end[:8], start[:8])]  # user nice system idle iowait irq softirq steal
    total = sum(delta)
    if total <= 0:
        return {}
    shares = {"steal_share": delta[7] / total}
    if own_cpu_s is not None:
        busy = total - delta[3] - delta[4] - delta[7]
        ticks = os.sysconf("SC_CLK_TCK")
        shares["other_processes_cpu_share"] = max(0.0, busy - own_cpu_s * ticks) / total
    return shares


def machine(load_start: str | None, stat_start: str | None, own_cpu_s: float | None) -> dict:
    load_end = open("/proc/loadavg", encoding="utf-8").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    return {
        "cpu_model": read_first("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_total": read_first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "os": read_first("/etc/os-release", "PRETTY_NAME", "=") or platform.platform(),
        "gcc": command_line("gcc", "--version"),
        "glibc": platform.libc_ver()[1],
        "python": platform.python_version(),
        "load_average_start": load_start.split()[:3] if load_start else None,
        "load_average_end": load_end,
        **cpu_shares(stat_start, own_cpu_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="pool benchmark report")
    parser.add_argument("--raw", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--load-start")
    parser.add_argument("--stat-start", help='the "cpu" line of /proc/stat when the run started')
    parser.add_argument("--own-cpu", help="the benchmark's CPU time: the children line of bash's `times`")
    parser.add_argument("--failures", type=int, default=0)
    parser.add_argument("--peers", default="", help="name=path,... of the preloaded peers")
    args = parser.parse_args()

    records = load_records(args.raw)
    info = next((r for r in records if r.get("scenario") == "info"), {})
    results = group(records)
    goals, derived = derive(Results(results))
    peers = dict(item.split("=", 1) for item in args.peers.split(",") if "=" in item)
    document = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(args.load_start, args.stat_start, seconds_of_times(args.own_cpu)),
        "library": {"version": info.get("library_version"), "version_number": info.get("library_version_number"),
                    "header_version_number": info.get("header_version_number")},
        "timer": {"ticks_per_ns": info.get("ticks_per_ns"), "overhead_ticks": info.get("timer_overhead_ticks")},
        "peers": peers,
        "run": {"duration_s": args.duration, "driver_failures": args.failures,
                "runs_per_measurement": sorted({r["runs"] for r in results})},
        "goals": goals,
        "derived": derived,
        "results": results,
    }
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)
        out.write("\n")
    with open(args.markdown, "w", encoding="utf-8") as out:
        out.write(render_markdown(document, Results(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
