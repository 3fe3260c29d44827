"""Collects the IPC benchmark's raw records into bench/results/ipc.json and ipc.md.

    python3 bench/ipc/ipc_report.py --raw RAW.jsonl --json OUT.json --markdown OUT.md
        [--duration SECONDS] [--load-start "1.0 0.5 0.2"] [--stat-start "cpu ..."]
        [--own-cpu "<children line of bash's times>"] [--failures N] [--zmq-note TEXT]
    python3 bench/ipc/ipc_report.py --summary OUT.json     one line per measurement
    python3 bench/ipc/ipc_report.py --render-from OUT.json [--markdown OUT.md]   the Markdown again

RAW.jsonl holds one JSON record per measurement run (bench/ipc/ipc_run.c). Records with the same
scenario, transport and params are runs of one measurement: every numeric metric is reported as
median, min and max over the runs; ratios between two measurements are ratios of medians.
The machine description and the CPU-share arithmetic are the pool benchmark's (bench/pools/report.py).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pools"))
from report import machine, seconds_of_times, summarize  # noqa: E402  (the pool benchmark's helpers)

from ipc_report_markdown import render_markdown  # noqa: E402

# The issue's figures for an epoll server on a Unix socket with 100 clients, on this machine.
ISSUE_REFERENCE = {"calls_per_s": 47000, "latency_p99_ns": 4.2e6}


def load_records(path: str) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as raw:
        for line in raw:
            line = line.strip()
            if line.startswith("{"):
                records.append(json.loads(line))
    return records


def group(records: list[dict]) -> list[dict]:
    groups: "OrderedDict[tuple, list[dict]]" = OrderedDict()
    for record in records:
        if record.get("scenario") == "info":
            continue
        key = (record["scenario"], record["transport"], json.dumps(record["params"], sort_keys=True))
        groups.setdefault(key, []).append(record)
    results = []
    for (scenario, transport, _), runs in groups.items():
        unavailable = next((r["unavailable"] for r in runs if r.get("unavailable")), None)
        names = list(OrderedDict.fromkeys(name for run in runs for name in run.get("metrics", {})))
        metrics = {name: summarize([run["metrics"][name] for run in runs
                                    if run["metrics"].get(name) is not None])
                   for name in names}
        metrics = {k: v for k, v in metrics.items() if v}  # a metric null in every run is left out
        result = {"scenario": scenario, "transport": transport, "params": runs[0]["params"],
                  "runs": 0 if unavailable else len(runs), "metrics": metrics}
        if unavailable:
            result["unavailable"] = unavailable
        results.append(result)
    return results


class Results:
    def __init__(self, results: list[dict]):
        self.results = results

    def find(self, scenario: str, transport: str | None = None, **params) -> dict | None:
        for result in self.results:
            if result["scenario"] != scenario:
                continue
            if transport is not None and result["transport"] != transport:
                continue
            if all(result["params"].get(k) == v for k, v in params.items()):
                return result
        return None

    def all(self, scenario: str) -> list[dict]:
        return [r for r in self.results if r["scenario"] == scenario]

    def median(self, scenario: str, transport: str | None, name: str, **params) -> float | None:
        result = self.find(scenario, transport, **params)
        if not result or result.get("unavailable"):
            return None
        value = result["metrics"].get(name)
        return value["median"] if isinstance(value, dict) else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def wait_mode(parks_per_call: float | None) -> str:
    """A park is a voluntary context switch: the side slept in the kernel waiting for its peer."""
    if parks_per_call is None:
        return "n/a"
    if parks_per_call < 0.05:
        return "spin"
    if parks_per_call > 0.8:
        return "park"
    return f"mixed ({parks_per_call * 100:.0f} % parked)"


def derive(res: Results) -> dict:
    derived: dict = {"pingpong_ratios": {}, "wait_modes": {}, "little": {}}
    raw = {"p50": res.median("pingpong", "shm", "latency_p50_ns", size=64),
           "calls": res.median("pingpong", "shm", "calls_per_s", size=64)}
    for r in (res.all("pingpong") + res.all("fanin") + res.all("pipeline") + res.all("same_core_pingpong")
              + res.all("same_core_pipeline") + res.all("own_cores_pingpong") + res.all("own_cores_pipeline")):
        key = f"{r['scenario']}/{r['transport']}/size={r['params']['size']}/workers={r['params']['workers']}"
        m = r["metrics"]
        med = (lambda name: m[name]["median"] if isinstance(m.get(name), dict) else None)
        derived["wait_modes"][key] = {"client": wait_mode(med("client_parks_per_call")),
                                      "server": wait_mode(med("server_parks_per_call"))}
        expected = med("little_expected")
        derived["little"][key] = {"in_flight": med("little_in_flight"), "expected": expected,
                                  "ratio": ratio(med("little_in_flight"), expected)}
    for size in sorted({r["params"]["size"] for r in res.all("pingpong") if r["transport"] == "nativepools"}):
        np_p50 = res.median("pingpong", "nativepools", "latency_p50_ns", size=size)
        np_calls = res.median("pingpong", "nativepools", "calls_per_s", size=size)
        row = {"p50_over_raw_shm_64": ratio(np_p50, raw["p50"]),
               "calls_over_raw_shm_64": ratio(np_calls, raw["calls"])}
        for peer in ("uds", "zmq"):
            row[f"p50_over_{peer}"] = ratio(np_p50, res.median("pingpong", peer, "latency_p50_ns", size=size))
            row[f"calls_over_{peer}"] = ratio(np_calls, res.median("pingpong", peer, "calls_per_s", size=size))
        derived["pingpong_ratios"][str(size)] = row
    uds = res.find("fanin", "uds_epoll")
    derived["fanin_over_uds_epoll"] = {}
    for r in res.all("fanin"):
        if r["transport"] == "nativepools" and uds:
            w = r["params"]["workers"]
            derived["fanin_over_uds_epoll"][f"workers={w}"] = {
                "calls": ratio(res.median("fanin", "nativepools", "calls_per_s", workers=w),
                               res.median("fanin", "uds_epoll", "calls_per_s")),
                "p99": ratio(res.median("fanin", "nativepools", "latency_p99_ns", workers=w),
                             res.median("fanin", "uds_epoll", "latency_p99_ns"))}
    derived["pipeline_over_sync"] = ratio(res.median("pipeline", "nativepools", "calls_per_s", size=64),
                                          res.median("pingpong", "nativepools", "calls_per_s", size=64))
    return derived


def print_summary(path: str) -> None:
    doc = json.load(open(path, encoding="utf-8"))
    for r in doc["results"]:
        m, p = r["metrics"], r["params"]
        head = f"   {r['scenario']:<9} {r['transport']:<12} {p['size']:>6} B"
        if r.get("unavailable"):
            print(f"{head}  not available: {r['unavailable']}")
            continue
        get = (lambda k: m[k]["median"] if isinstance(m.get(k), dict) else float("nan"))
        extra = f"clients {p['clients']}" + (f", workers {p['workers']}" if r["transport"] == "nativepools" else "")
        extra += f", window {p['window']}" if p.get("window") else ""
        print(f"{head}  {get('calls_per_s'):>9.0f}/s  p50 {get('latency_p50_ns') / 1e3:8.2f} us  "
              f"p99 {get('latency_p99_ns') / 1e3:9.2f} us  ({extra})")


def main() -> int:
    parser = argparse.ArgumentParser(description="IPC benchmark report")
    parser.add_argument("--summary", help="print one line per measurement of this ipc.json, then stop")
    parser.add_argument("--render-from", help="write the Markdown again from this ipc.json (to --markdown, or beside it)")
    parser.add_argument("--raw")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--load-start")
    parser.add_argument("--stat-start")
    parser.add_argument("--own-cpu")
    parser.add_argument("--failures", type=int, default=0)
    parser.add_argument("--zmq-note", default="")
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    if args.summary:
        print_summary(args.summary)
        return 0
    if args.render_from:  # the Markdown again from an ipc.json (after a change of this script's tables)
        document = json.load(open(args.render_from, encoding="utf-8"))
        document["derived"] = derive(Results(document["results"]))
        with open(args.markdown or args.render_from[:-4] + "md", "w", encoding="utf-8") as out:
            out.write(render_markdown(document, Results(document["results"])))
        return 0
    if not (args.raw and args.json and args.markdown):
        parser.error("--raw, --json and --markdown are required")

    records = load_records(args.raw)
    info = next((r for r in records if r.get("scenario") == "info"), {})
    results = group(records)
    res = Results(results)
    document = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(args.load_start, args.stat_start, seconds_of_times(args.own_cpu)),
        "library": {"version": info.get("library_version")},
        "timer": {"ticks_per_ns": info.get("ticks_per_ns"), "overhead_ticks": info.get("timer_overhead_ticks")},
        "syscall_counter": info.get("syscall_counter"),
        "zmq": {"version": info.get("zmq_version"), "note": args.zmq_note},
        "run": {"duration_s": args.duration, "driver_failures": args.failures, "seconds_per_run": args.seconds,
                "runs_per_measurement": sorted({r["runs"] for r in results if r["runs"]})},
        "issue_reference_uds_epoll_100_clients": ISSUE_REFERENCE,
        "derived": derive(res),
        "results": results,
    }
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)
        out.write("\n")
    with open(args.markdown, "w", encoding="utf-8") as out:
        out.write(render_markdown(document, res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
