"""Renders the pool benchmark document (see report.py) as Markdown tables."""
from __future__ import annotations

MALLOCS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
# The library's design in plain C (bench/pools/magazine_pool.c), run in scenarios 1 and 5 only.
DESIGN_PEERS = ["magazine_pool", "magazine_pool_unchecked"]
ALLOCATORS = ["nativepools", "mutex_pool"] + MALLOCS + DESIGN_PEERS


def number(value) -> str:
    """Three significant figures, with k/M for large values."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g} M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g} k"
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}"


def number_percent(share) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} %"


def spread(metric) -> str:
    """median (min-max) of a summarized metric, or its distinct values."""
    if metric is None:
        return "n/a"
    if isinstance(metric, list):
        return ", ".join(metric)
    if metric["min"] == metric["max"]:
        return number(metric["median"])
    return f"{number(metric['median'])} ({number(metric['min'])}–{number(metric['max'])})"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def metric(result: dict | None, name: str):
    return None if result is None else result["metrics"].get(name)


def runs(result: dict | None) -> str:
    return "n/a" if result is None else str(result["runs"])


def section_header(doc: dict) -> str:
    m, run = doc["machine"], doc["run"]
    load_start, load_end = m.get("load_average_start"), m.get("load_average_end")
    out = ["# NativePools pool benchmark\n",
           "Written by `bench/run.sh pools` (see bench/README.md). Cells read **median (min–max)** over "
           "the runs; ratios between two measurements are ratios of medians. Goals are reported, never "
           "enforced.\n",
           table(["", ""], [
               ["generated", doc["generated"]],
               ["library", f"libnativepools {doc['library']['version']}"],
               ["CPU", f"{m['cpu_model']}, {m['cores']} cores"],
               ["memory", str(m.get("memory_total"))],
               ["kernel / OS", f"{m['kernel']} / {m['os']}"],
               ["compiler, libc, Python", f"{m['gcc']}; glibc {m['glibc']}; Python {m['python']}"],
               ["peers (LD_PRELOAD)", ", ".join(f"{k}: `{v}`" for k, v in doc["peers"].items()) or "n/a"],
               ["run time", f"{number(run['duration_s'])} s" if run["duration_s"] else "n/a"],
               ["runs per measurement", ", ".join(map(str, run["runs_per_measurement"]))],
               ["load average at start / end (the end includes the benchmark's own threads)",
                f"{' '.join(load_start or ['?'])} / {' '.join(load_end or ['?'])}"],
               ["machine CPU used by other processes during the run", number_percent(m.get("other_processes_cpu_share"))],
               ["machine CPU stolen by the hypervisor during the run", number_percent(m.get("steal_share"))],
               ["driver failures", str(run["driver_failures"])],
           ])]
    others, steal = m.get("other_processes_cpu_share"), m.get("steal_share") or 0.0
    if others is None:  # not measured: judge by the load when the run started
        try:
            busy = float((load_start or ["0"])[0]) > (m["cores"] or 1)
        except ValueError:
            busy = False
    else:
        busy = others > 0.10
    if busy or steal > 0.05:
        out.append(f"\n**Noise:** other processes used {number_percent(others)} of the machine's CPU during this "
                   f"run and the hypervisor took {number_percent(steal)}: wall-clock figures include time spent "
                   "waiting for a core. The CPU-time columns leave that out and are the steadier ones here.\n")
    return "\n".join(out) + "\n"


def section_goals(doc: dict) -> str:
    rows = []
    for g in doc["goals"]:
        verdict = {True: "met", False: "**not met**", None: "not measured"}[g["met"]]
        rows.append([g["scenario"], g["name"], number(g["value"]), g["goal"], verdict, g.get("note", "")])
    return "## Goals of the issue\n\n" + table(["scenario", "measure", "value", "goal", "", "note"], rows) + "\n"


def section_single(doc, res) -> str:
    pool = res.find("single_call", "nativepools")
    rows = [["no-op export pair (np_version x2)", spread(metric(pool, "noop_pair_ns")),
             spread(metric(pool, "noop_pair_cpu_ns")), "", runs(pool)]]
    vs = doc["derived"]["single_call_vs_pool"]
    for a in ALLOCATORS:
        r = res.find("single_call", a)
        rows.append([a, spread(metric(r, "pair_ns")), spread(metric(r, "pair_cpu_ns")), number(vs.get(a)), runs(r)])
    return ("## 1. One call per operation (264 B, one thread plus one idle thread)\n\n"
            "ns per alloc+free pair; each run is the fastest of 15 rounds of 200,000 pairs. magazine_pool and "
            "magazine_pool_unchecked: the library's design in plain C, called directly, with and without its "
            "per-block checks and counters (see scenario 5).\n\n"
            + table(["", "ns per pair (wall)", "ns per pair (CPU)", "÷ nativepools", "runs"], rows)
            + f"\nnativepools pair / no-op pair: {spread(metric(pool, 'ratio_to_noop'))} (wall), "
              f"{spread(metric(pool, 'ratio_to_noop_cpu'))} (CPU time).\n\n")


def section_batch(doc, res) -> str:
    rows = []
    for size in res.values("batch", "block_size"):
        entries = [("nativepools", "batch"), ("nativepools", "single"), ("mutex_pool", "single")]
        entries += [(m, "single") for m in MALLOCS]
        for a, calls in entries:
            r = res.find("batch", a, block_size=size, calls=calls)
            if r is None:
                continue
            label = f"{a} ({'alloc_batch/free_batch' if calls == 'batch' else '64 single calls'})"
            ratio = doc["derived"]["batch_pool_over_malloc"].get(str(size), {}).get(a)
            rows.append([f"{size} B", label, spread(metric(r, "block_ns")), spread(metric(r, "block_cpu_ns")),
                         number(ratio) if ratio is not None else "", runs(r)])
    if not rows:
        return ""
    return ("## 2. Batches of 64 blocks, one thread\n\n"
            "ns per block (alloc + free); the last column is the pool's batch figure over that malloc's.\n\n"
            + table(["size", "allocator", "ns per block (wall)", "ns per block (CPU)", "pool batch ÷ this", "runs"],
                    rows) + "\n")


def section_threads(doc, res) -> str:
    rows = []
    for a in ALLOCATORS:
        for t in res.values("threads", "threads"):
            r = res.find("threads", a, threads=t)
            if r is None:
                continue
            m = r["metrics"]
            to_two = doc["derived"]["threads_ratio_to_2"].get(a, {}).get(str(t))
            rows.append([a, str(t), spread(m["pairs_per_s"]), number(to_two),
                         f"{number(m['thread_pairs_min']['median'])} / {number(m['thread_pairs_median']['median'])}",
                         number(m["threads_without_progress"]["median"]),
                         number(m["last_thread_first_run_s"]["median"]), number(m["cpu_cores_used"]["median"]),
                         number(m["cpu_ns_per_pair"]["median"]),
                         f"{number(m['iteration_p50_ns']['median'])} / {number(m['iteration_p99_ns']['median'])}",
                         f"{number(m['little_busy_threads']['median'])} / "
                         f"{number(m['little_busy_over_cores_used']['median'])}",
                         number(m["wall_s"]["median"]), runs(r)])
    if not rows:
        return ""
    return ("## 3. Threads sharing one allocator (1 KiB, window of 8 live blocks per thread)\n\n"
            "Each thread checks and frees its oldest block, allocates a new one and writes to it, for a fixed "
            "wall time. Pairs per thread: min / median thread (medians over runs). Last first run: time from "
            "the start gate to the last thread's first iteration; when it exceeds the wall time, threads "
            "without progress were never scheduled in time (the scheduler, not the allocator). CPU cores used: "
            "the workers' CPU time ÷ wall. Latency: every 64th iteration, rdtsc. Little: busy = pairs/s × mean "
            "iteration time while running (samples without a preemption), the mean number of threads inside "
            "an iteration; ÷ CPU cores used it should be near 1 (a little below: the loop does a few things "
            "outside the timed part; above: threads sleep inside the allocator, or the hypervisor took the "
            "CPU, which the guest's CPU time leaves out). Reading the cycle counter costs a few ns itself, so "
            "for iterations of 10–20 ns (the fastest mallocs) the ratio can be off by ±30%.\n\n"
            + table(["allocator", "threads", "pairs/s", "÷ 2 threads", "pairs per thread min / median",
                     "threads with none", "last first run s", "CPU cores used", "CPU ns per pair",
                     "iteration p50 / p99 ns", "Little: busy threads / ÷ cores used", "wall s", "runs"], rows) + "\n")


def section_fresh(doc, res) -> str:
    rows = []
    for a in ALLOCATORS:
        r = res.find("fresh_process", a)
        if r is None:
            continue
        m = r["metrics"]
        hwm = m["vm_hwm_growth_kib"]["median"] / 1024
        rss_after = m["vm_rss_after_free_kib"]["median"] / 1024
        rows.append([a, spread(m["total_ms"]), number(m["ns_per_alloc"]["median"]), number(m["ns_per_free"]["median"]),
                     number(m["cpu_user_ms"]["median"] + m["cpu_system_ms"]["median"]),
                     number(m["minor_faults"]["median"]), number(hwm), number(rss_after),
                     number(doc["derived"]["fresh_vs_glibc"].get(a)),
                     number(doc["derived"]["fresh_cpu_vs_glibc"].get(a)), runs(r)])
    pool = res.find("fresh_process", "nativepools")
    start = spread(metric(pool, "runtime_start_ms"))
    if not rows:
        return ""
    return ("## 4. Fresh process: 1,000,000 × 264 B allocations (one word written in each), then frees\n\n"
            "One new process per run; the figures include all growth from nothing. For nativepools the "
            f"runtime start ({start} ms, the first call into the library) and np_pool_create are "
            "excluded. VmHWM growth: peak resident memory added by the allocations.\n\n"
            + table(["allocator", "total ms (wall)", "ns per alloc", "ns per free", "CPU ms", "minor faults",
                     "VmHWM growth MiB", "VmRSS after frees MiB", "÷ glibc (wall)", "÷ glibc (CPU)", "runs"], rows)
            + "\n")


def section_cross(doc, res) -> str:
    rows = []
    for t in res.values("cross_thread", "threads"):
        for a in ALLOCATORS:
            cross = res.find("cross_thread", a, mode="cross", threads=t)
            same = res.find("cross_thread", a, mode="same", threads=t)
            if cross is None:
                continue
            m = cross["metrics"]
            rows.append([str(t), a, spread(m["pairs_per_s"]), spread(metric(same, "pairs_per_s")),
                         number(doc["derived"]["cross_over_same"].get(str(t), {}).get(a)),
                         number(m["cpu_ns_per_pair"]["median"]),
                         f"{number(m['transit_p50_ns']['median'])} / {number(m['transit_p99_ns']['median'])}",
                         f"{number(m['little_in_flight']['median'])} / {number(m['queued_sampled']['median'])}",
                         round_trips(m), number(m["content_errors"]["max"]), runs(cross)])
    # Every cross run beside the round trip it met (the medians above mix runs the host placed
    # differently), and the pool's same-thread runs.
    per_run = []
    for t in res.values("cross_thread", "threads"):
        for a, mode in [(a, "cross") for a in ALLOCATORS] + [("nativepools", "same")]:
            r = res.find("cross_thread", a, mode=mode, threads=t)
            if r and r.get("per_run"):
                listed = ", ".join(f"{number(run.get('pairs_per_s'))} ({round_trips_of(run)})" for run in r["per_run"])
                per_run.append(f"- {a}, {t} threads, {mode}: {listed}")
    if not rows:
        return ""
    return ("## 5. Cross-thread: producers allocate, consumers free (1 KiB, SPSC ring of 256 per pair)\n\n"
            "threads = producers + consumers. Same-thread: as many threads, each allocating, queueing 8 blocks in "
            "its own ring and freeing the oldest. Transit = alloc to free of one block. Little: pairs/s × mean "
            "transit (blocks in flight) beside the ring occupancy the consumers sampled at every 16th pop "
            "(summed over rings); the two should be close, the first a little higher (a block is in flight "
            "before it is pushed and after it is popped). With more threads than cores they part: a consumer "
            "takes no samples while it is off its core, which is when its ring fills up, so the sampled "
            "occupancy is too low. Waiting is spin-then-yield, never parked. Core round trip: one cache line "
            "passed between two threads and back, measured for 0.1 s just before and just after each run "
            "(medians over the runs); a cross-thread pair moves at least the block's line from producer to "
            "consumer, so its throughput follows this figure, which the host changes by moving the vCPUs. "
            "magazine_pool is the library's design in plain C, called directly (no library boundary), with the "
            "library's per-block state byte and counters; magazine_pool_unchecked is the same without them: "
            "nativepools against the first is what the boundary costs, the first against the second what the "
            "checks cost.\n\n"
            + table(["threads", "allocator", "cross pairs/s", "same-thread pairs/s", "cross ÷ same", "CPU ns per pair",
                     "transit p50 / p99 ns", "Little: in flight / sampled queued", "core round trip ns before / after",
                     "content errors", "runs"], rows)
            + ("\nEach run, pairs/s (core round trip ns before / after):\n\n" + "\n".join(per_run) + "\n"
               if per_run else "")
            + "\n")


def round_trips(m: dict) -> str:
    before, after = m.get("core_round_trip_before_ns"), m.get("core_round_trip_after_ns")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return "—"
    return f"{number(before['median'])} / {number(after['median'])}"


def round_trips_of(run: dict) -> str:
    before, after = run.get("core_round_trip_before_ns"), run.get("core_round_trip_after_ns")
    return "—" if before is None or after is None else f"{number(before)} / {number(after)}"


def section_churn(doc, res) -> str:
    r = res.find("thread_churn", "nativepools")
    if r is None:
        return ""
    m, p = r["metrics"], r["params"]
    names = ["wall_s", "threads_per_s", "cpu_user_s", "cpu_system_s", "live_blocks_bound", "capacity_after_first_wave",
             "capacity_max", "capacity_end", "capacity_end_over_live_bound", "chunks_end", "magazine_capacity",
             "spare_capacity_max", "spare_capacity_stated_bound", "spare_capacity_within_stated_bound",
             "cached_threads_max_after_wave", "cached_threads_end", "depot_blocks_end", "in_use_end", "peak_in_use",
             "created", "reused", "validate", "validate_counts_checked", "validate_errors", "content_errors",
             "vm_hwm_kib"]
    rows = [[n, spread(m.get(n))] for n in names if n in m]
    return (f"## 6. Thread churn: {p['threads']:,} short-lived threads in waves of {p['wave']}\n\n"
            f"Each thread allocates {p['blocks_per_thread']} blocks of {p['block_size']} B, writes and checks them, "
            f"and frees them; even threads hand {p['kept_by_even_threads']} to the main thread, which frees them "
            "after the wave. live_blocks_bound is the most blocks ever live at once (wave × blocks); capacity "
            "well above it means blocks cached by exited threads did not come back. Spare capacity = capacity − "
            "in_use after a wave; its stated bound is the header's for magazine_capacity: (wave + 1 main thread) "
            "× 2 × magazine_capacity + one growth step. cached_threads: threads still holding a cache (after "
            f"a wave every one of them has exited). Runs: {r['runs']}.\n\n"
            + table(["measure", "value"], rows) + "\n")


def section_metadata(doc, res) -> str:
    rows = []
    for size in res.values("metadata", "block_size"):
        r = res.find("metadata", "nativepools", block_size=size)
        m = r["metrics"]
        rows.append([f"{size} B", f"{r['params']['blocks']:,}", f"{m['bytes_metadata']['median']:,}",
                     f"{m['bytes_reserved']['median']:,}", f"{m['metadata_ratio']['median'] * 100:.2f} %",
                     number(m["metadata_bytes_per_block"]["median"]), spread(m["validate_after_free"]), runs(r)])
    if not rows:
        return ""
    return ("## 7. Metadata overhead (np_pool_get_stats, blocks held live)\n\n"
            + "Not timed: the figures should repeat exactly from run to run (min and max are in pools.json).\n\n"
            + table(["block size", "blocks", "bytes_metadata", "bytes_reserved", "metadata ÷ reserved",
                     "metadata bytes per block", "validate", "runs"], rows) + "\n")


def section_python(doc, res) -> str:
    r = res.find("python", "nativepools")
    if r is None:
        return ""
    m = r["metrics"]
    rows = []
    for label, key in [("two no-op calls (np_version)", "noop_pair"),
                       ("two libc labs(uint64) calls: ctypes' argument cost, no library code", "arg_pair"),
                       ("raw pre-bound ctypes alloc + free", "raw_pair"),
                       ("binding Pool.alloc + Pool.free", "binding_pair"),
                       ("binding alloc_batch/free_batch of 64, per block", "batch_block")]:
        rows.append([label, spread(m.get(f"{key}_ns")), spread(m.get(f"{key}_cpu_ns"))])
    c_ratio = doc["derived"]["python_over_c_pair"]
    return ("## 8. Python (ctypes), 264 B, one thread\n\n"
            f"Python {r['params']['python']}; each run is the fastest of {number(m['rounds']['median'])} rounds; "
            f"the bare loop costs {spread(m['empty_loop_ns'])} ns and is included everywhere.\n\n"
            + table(["per loop iteration", "ns (wall)", "ns (CPU)"], rows)
            + f"\nraw pair ÷ no-op pair: {spread(m['raw_ratio_to_noop'])} (wall), "
              f"{spread(m['raw_ratio_to_noop_cpu'])} (CPU); binding pair ÷ no-op pair: "
              f"{spread(m['binding_ratio_to_noop'])} (wall), {spread(m['binding_ratio_to_noop_cpu'])} (CPU); "
              f"raw pair ÷ two one-argument libc calls: {spread(m.get('raw_ratio_to_arg_pair_cpu'))} (CPU).\n"
              f"Pairs/s: binding {spread(m['binding_pairs_per_s'])}, raw {spread(m['raw_pairs_per_s'])}; "
              f"batched blocks/s {spread(m['batch_blocks_per_s'])}. Python pair ÷ C pair (scenario 1, wall): "
              f"raw {number(c_ratio.get('raw'))}, binding {number(c_ratio.get('binding'))}.\n\n")


def render_markdown(doc: dict, res) -> str:
    parts = [section_header(doc), section_goals(doc), section_single(doc, res), section_batch(doc, res),
             section_threads(doc, res), section_fresh(doc, res), section_cross(doc, res), section_churn(doc, res),
             section_metadata(doc, res), section_python(doc, res)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"
