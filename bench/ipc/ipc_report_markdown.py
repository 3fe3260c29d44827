"""Renders the IPC benchmark document (see ipc_report.py) as Markdown tables."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pools"))
from report_markdown import number, number_percent, table  # noqa: E402  (the pool benchmark's formatting)

TRANSPORT_LABELS = {
    "nativepools": "NativePools (np_client_call, handler route)",
    "shm": "raw shared memory (spin, then futex)",
    "uds": "Unix socket, blocking read/write",
    "uds_epoll": "Unix socket, epoll server (1 thread)",
    "zmq": "ZeroMQ REQ/REP, ipc://",
}


def med(result: dict | None, name: str):
    if result is None:
        return None
    value = result["metrics"].get(name)
    return value["median"] if isinstance(value, dict) else None


def us(ns) -> str:
    """Nanoseconds shown in µs."""
    return "n/a" if ns is None else number(ns / 1000)


def spread_us(result: dict | None, name: str) -> str:
    """median (min–max) of a nanosecond metric, in µs."""
    value = None if result is None else result["metrics"].get(name)
    if not isinstance(value, dict):
        return "n/a"
    if value["min"] == value["max"]:
        return us(value["median"])
    return f"{us(value['median'])} ({us(value['min'])}–{us(value['max'])})"


def spread_of(result: dict | None, name: str, scale: float = 1.0) -> str:
    value = None if result is None else result["metrics"].get(name)
    if not isinstance(value, dict):
        return "n/a"
    if value["min"] == value["max"]:
        return number(value["median"] * scale)
    return f"{number(value['median'] * scale)} ({number(value['min'] * scale)}–{number(value['max'] * scale)})"


def pair(result: dict | None, client: str, server: str, digits: int = 2) -> str:
    a, b = med(result, client), med(result, server)
    show = (lambda v: "n/a" if v is None else f"{v:.{digits}f}")
    return f"{show(a)} / {show(b)}"


def noise(result: dict | None) -> str:
    """The share of the machine's CPU other processes took, and the hypervisor stole, during the measured
    window: median (max) each."""
    cells = []
    for name in ("other_cpu_share", "steal_share"):
        value = None if result is None else result["metrics"].get(name)
        cells.append("n/a" if not isinstance(value, dict)
                     else f"{value['median'] * 100:.0f} % ({value['max'] * 100:.0f} %)")
    return " / ".join(cells)


def size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def mode_cell(doc: dict, r: dict) -> str:
    key = f"{r['scenario']}/{r['transport']}/size={r['params']['size']}/workers={r['params']['workers']}"
    m = doc["derived"]["wait_modes"].get(key, {})
    return f"{m.get('client', 'n/a')} / {m.get('server', 'n/a')}"


def transport_label(r: dict) -> str:
    label = TRANSPORT_LABELS.get(r["transport"], r["transport"])
    if r["transport"] == "shm":
        label += ", seq in the payload's line" if r["params"]["size"] <= 56 else ", seq on its own line"
    return label


def quiet_gate(doc: dict) -> str:
    waits = [r["metrics"]["quiet_wait_s"]["max"] for r in doc["results"]
             if isinstance(r["metrics"].get("quiet_wait_s"), dict)]
    noise_values = [r["metrics"]["other_cpu_share"]["median"] for r in doc["results"]
                    if isinstance(r["metrics"].get("other_cpu_share"), dict)]
    if not waits:
        return "not used"
    text = f"longest wait {number(max(waits))} s"
    if noise_values:
        quiet = sum(1 for v in noise_values if v < 0.05)
        text += (f"; measurements whose median run had other load under 5 %: {quiet} of {len(noise_values)} "
                 "(see the other load columns)")
    return text


def section_header(doc: dict) -> str:
    m, run = doc["machine"], doc["run"]
    load_start, load_end = m.get("load_average_start"), m.get("load_average_end")
    zmq = doc["zmq"]
    out = ["# NativePools IPC benchmark\n",
           "Written by `bench/run.sh ipc` (see bench/README.md). Every figure comes from real processes: one "
           "server process and its client processes, started fresh for each run. Cells read **median "
           "(min–max)** over the runs; ratios between two measurements are ratios of medians.\n",
           table(["", ""], [
               ["generated", doc["generated"]],
               ["library", f"libnativepools {doc['library']['version']}"],
               ["CPU", f"{m['cpu_model']}, {m['cores']} cores"],
               ["memory", str(m.get("memory_total"))],
               ["kernel / OS", f"{m['kernel']} / {m['os']}"],
               ["compiler, libc", f"{m['gcc']}; glibc {m['glibc']}"],
               ["ZeroMQ", (f"libzmq {zmq['version']}" if zmq.get("version") not in (None, "0.0.0") else "not available")
                + (f" ({zmq['note']})" if zmq.get("note") else "")],
               ["syscall counter", "perf_event_open, tracepoint raw_syscalls:sys_enter, every thread of each process"
                if doc.get("syscall_counter") else "not available (no tracefs or perf_event_open refused)"],
               ["seconds per run", number(run.get("seconds_per_run"))],
               ["run time", f"{number(run['duration_s'])} s" if run["duration_s"] else "n/a"],
               ["runs per measurement", ", ".join(map(str, run["runs_per_measurement"]))],
               ["load average at start / end (the end includes the benchmark's own processes)",
                f"{' '.join(load_start or ['?'])} / {' '.join(load_end or ['?'])}"],
               ["machine CPU used by other processes during the run", number_percent(m.get("other_processes_cpu_share"))],
               ["machine CPU stolen by the hypervisor during the run", number_percent(m.get("steal_share"))],
               ["quiet gate before each run (up to NP_BENCH_QUIET_WAIT s, under 10 % busy)", quiet_gate(doc)],
               ["driver failures", str(run["driver_failures"])],
           ])]
    others, steal = m.get("other_processes_cpu_share"), m.get("steal_share") or 0.0
    if (others is not None and others > 0.10) or steal > 0.05:
        out.append(f"\n**Noise:** other processes used {number_percent(others)} of the machine's CPU during this run "
                   f"and the hypervisor took {number_percent(steal)}. On 2 cores a spinning peer needs a core of its "
                   "own: every figure below that spins is sensitive to this.\n")
    out.append("\n**Wait mode** (client / server) comes from the voluntary context switches of each process per "
               "call: `spin` (under 0.05 per call: the side found its answer or request while spinning), `park` "
               "(over 0.8: it slept in the kernel nearly every call), or mixed. A parked thread on this VM takes "
               "tens of µs to wake; a spinning round trip about 1 µs. CPU time and syscalls are whole-process "
               "figures (every thread, `getrusage` and a perf counter) over the measured window. **Other load**: the share "
               "of the machine's CPU (both cores) that processes other than the run's own server and clients used "
               "during its measured window (`/proc/stat` busy time less their CPU time), and **steal**: the share the "
               "hypervisor took (this is a nested VM: a vCPU that halts can be descheduled by the host), each median "
               "(max) over the runs. A spinning pair needs both cores, so either shows in its figures.\n")
    return "\n".join(out) + "\n"


def section_pingpong(doc: dict, res) -> str:
    rows = []
    order = ["nativepools", "shm", "uds", "zmq"]
    results = sorted(res.all("pingpong"), key=lambda r: (r["params"]["size"], order.index(r["transport"])
                                                        if r["transport"] in order else 9))
    for r in results:
        if r.get("unavailable"):
            rows.append([transport_label(r), size_label(r["params"]["size"]), f"**not available**: {r['unavailable']}",
                         "", "", "", "", "", "", "", "", "", "", "", "0"])
            continue
        rows.append([transport_label(r), size_label(r["params"]["size"]), spread_of(r, "calls_per_s"),
                     spread_us(r, "latency_p50_ns"), us(med(r, "latency_p99_ns")), us(med(r, "latency_p999_ns")),
                     us(med(r, "latency_max_ns")), us(med(r, "latency_mean_ns")),
                     pair(r, "client_cpu_us_per_call", "server_cpu_us_per_call"),
                     pair(r, "client_syscalls_per_call", "server_syscalls_per_call"),
                     pair(r, "client_parks_per_call", "server_parks_per_call"), mode_cell(doc, r),
                     pair(r, "client_cores_used", "server_cores_used"), noise(r), str(r["runs"])])
    if not rows:
        return ""
    ratios = doc["derived"]["pingpong_ratios"]
    ratio_rows = []
    for size, row in ratios.items():
        ratio_rows.append([f"NativePools {size_label(int(size))}", number(row["p50_over_raw_shm_64"]),
                           number(row["p50_over_uds"]), number(row["p50_over_zmq"]),
                           number(row["calls_over_raw_shm_64"]), number(row["calls_over_uds"]),
                           number(row["calls_over_zmq"])])
    return ("## 1. One client, one server process: synchronous round trips\n\n"
            "One client process calls in a loop for a fixed time; every call is timed (rdtsc) and its echo "
            "checked (stamp and length). Latency in µs; CPU µs per call of each process (user + system, all "
            "threads; on 2 cores a spinning side shows as CPU time); syscalls and parks (voluntary context "
            "switches) per call, client / server.\n\n"
            + table(["transport", "size", "round trips/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "mean µs",
                     "CPU µs/call client / server", "syscalls/call client / server",
                     "parks/call client / server", "wait mode client / server", "CPU cores used client / server",
                     "other load / steal", "runs"], rows)
            + little_line(doc, "pingpong")
            + "\n### Ratios\n\np50 latency: NativePools ÷ the peer (below 1: NativePools is faster); round trips/s: "
              "NativePools ÷ the peer (above 1: NativePools is faster). The raw ping-pong is the 64 B row; Unix "
              "socket and ZeroMQ at the same size.\n\n"
            + table(["", "p50 ÷ raw shm 64 B", "p50 ÷ Unix socket", "p50 ÷ ZeroMQ", "round trips/s ÷ raw shm 64 B",
                     "÷ Unix socket", "÷ ZeroMQ"], ratio_rows) + "\n")


def little_line(doc: dict, scenario: str) -> str:
    values = [v["ratio"] for k, v in doc["derived"]["little"].items() if k.startswith(scenario + "/") and v["ratio"]]
    if not values:
        return ""
    return (f"\nLittle's law: round trips/s × mean latency ÷ clients is {number(min(values))}–{number(max(values))} "
            "over these rows (1: the client spends its whole loop inside calls; the loop's own bookkeeping "
            "is a few ns).\n")


def section_memory(doc: dict, res) -> str:
    rows = []
    for r in res.all("pingpong") + res.all("fanin") + res.all("pipeline"):
        if r.get("unavailable"):
            continue
        label = TRANSPORT_LABELS.get(r["transport"], r["transport"])
        if r["transport"] == "nativepools" and r["scenario"] == "fanin":
            label += f", worker_threads {r['params']['workers']}"
        what = f"{r['scenario']}, {size_label(r['params']['size'])}, {r['params']['clients']} client(s)"
        if r["params"].get("window"):
            what += f", window {r['params']['window']}"
        hwm_c, hwm_s = med(r, "client_vm_hwm_kib_max"), med(r, "server_vm_hwm_kib")
        rows.append([label, what, "n/a" if hwm_s is None else number(hwm_s / 1024),
                     "n/a" if hwm_c is None else number(hwm_c / 1024)])
    if not rows:
        return ""
    return ("## 6. Memory\n\nPeak resident memory (VmHWM, MiB) of the server process and of the largest client "
            "process at the end of the run. NativePools connections map both rings of their connection "
            "(default ring_size: two maximum messages, 4 MiB per direction at the 1 MiB default; the 100-client "
            "runs use 64 KiB rings and 16 KiB messages); only the pages a ring has cycled through are resident.\n\n"
            + table(["transport", "run", "server MiB", "largest client MiB"], rows) + "\n")


def section_fanin(doc: dict, res) -> str:
    rows = []
    ref = doc["issue_reference_uds_epoll_100_clients"]
    for r in sorted(res.all("fanin"), key=lambda r: (r["transport"] != "nativepools", r["params"]["workers"])):
        label = TRANSPORT_LABELS.get(r["transport"], r["transport"])
        if r["transport"] == "nativepools":
            label += f", worker_threads {r['params']['workers']}"
        little = doc["derived"]["little"].get(
            f"fanin/{r['transport']}/size={r['params']['size']}/workers={r['params']['workers']}", {})
        rows.append([label, str(r["params"]["clients"]), spread_of(r, "calls_per_s"), us(med(r, "latency_p50_ns")),
                     spread_us(r, "latency_p99_ns"), us(med(r, "latency_p999_ns")), us(med(r, "latency_max_ns")),
                     us(med(r, "latency_mean_ns")),
                     f"{number(little.get('in_flight'))} ({number(little.get('ratio'))})",
                     f"{number(med(r, 'client_calls_min'))} / {number(med(r, 'client_calls_median'))} / "
                     f"{number(med(r, 'client_calls_max'))}",
                     pair(r, "client_cores_used", "server_cores_used"),
                     pair(r, "client_cpu_us_per_call", "server_cpu_us_per_call"),
                     pair(r, "client_syscalls_per_call", "server_syscalls_per_call"),
                     pair(r, "client_parks_per_call", "server_parks_per_call"), mode_cell(doc, r), noise(r),
                     str(r["runs"])])
    if not rows:
        return ""
    vs = doc["derived"]["fanin_over_uds_epoll"]
    lines = [f"NativePools worker_threads {k.split('=')[1]} ÷ the epoll server: round trips/s {number(v['calls'])}, "
             f"p99 {number(v['p99'])}" for k, v in vs.items()]
    return ("## 2. 100 client processes, synchronous calls, one server process\n\n"
            "Each client process calls in a loop for the same fixed time (64 B). Latency in µs over every call "
            "of every client. **Little's law**: round trips/s × mean latency = clients inside a call on "
            "average; it should equal the client count (the ratio in brackets should be 1: a client spends "
            "its whole loop inside calls). Calls per client min / median / max show fairness. CPU cores used "
            "and µs per call: all clients together / server. "
            f"The issue's reference for an epoll server on a Unix socket with 100 clients on this machine: "
            f"{number(ref['calls_per_s'])} round trips/s, p99 {us(ref['latency_p99_ns'])} µs.\n\n"
            + table(["server", "clients", "round trips/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "mean µs",
                     "Little: in calls (÷ clients)", "calls per client min / median / max",
                     "CPU cores used clients / server", "CPU µs/call clients / server",
                     "syscalls/call clients / server", "parks/call clients / server", "wait mode clients / server",
                     "other load / steal", "runs"], rows)
            + ("\n" + "; ".join(lines) + ".\n" if lines else "") + "\n")


def section_pipeline(doc: dict, res) -> str:
    rows = []
    for r in res.all("pipeline"):
        little = doc["derived"]["little"].get(
            f"pipeline/{r['transport']}/size={r['params']['size']}/workers={r['params']['workers']}", {})
        rows.append([f"{size_label(r['params']['size'])}, window {r['params']['window']}", spread_of(r, "calls_per_s"),
                     us(med(r, "latency_p50_ns")), us(med(r, "latency_p99_ns")), us(med(r, "latency_p999_ns")),
                     us(med(r, "latency_max_ns")),
                     f"{number(little.get('in_flight'))} ({number(little.get('ratio'))})",
                     pair(r, "client_cpu_us_per_call", "server_cpu_us_per_call"),
                     pair(r, "client_syscalls_per_call", "server_syscalls_per_call", 3),
                     pair(r, "client_parks_per_call", "server_parks_per_call", 3), mode_cell(doc, r),
                     pair(r, "client_cores_used", "server_cores_used"), noise(r), str(r["runs"])])
    if not rows:
        return ""
    return ("## 3. Pipelined: one client, np_client_send with a window of requests in flight\n\n"
            "The client sends a window of requests, then for each np_client_receive sends one more, until the "
            "deadline (responses come in server order; ids and stamps are checked). Latency: send to receive "
            "of each message, µs. Little: messages/s × mean latency should equal the window. "
            f"Messages/s ÷ synchronous 64 B round trips/s (section 1): {number(doc['derived']['pipeline_over_sync'])}.\n\n"
            + table(["messages", "messages/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "Little: in flight (÷ window)",
                     "CPU µs/message client / server", "syscalls/message client / server",
                     "parks/message client / server", "wait mode client / server", "CPU cores used client / server",
                     "other load / steal", "runs"], rows) + "\n")


def section_syscalls(doc: dict, res) -> str:
    rows = []
    for r in res.all("pingpong") + res.all("pipeline"):
        if r["transport"] != "nativepools":
            continue
        what = (f"synchronous, {size_label(r['params']['size'])}" if r["scenario"] == "pingpong"
                else f"pipelined, window {r['params']['window']}")
        rows.append([what, pair(r, "client_syscalls_per_call", "server_syscalls_per_call", 3),
                     pair(r, "client_parks_per_call", "server_parks_per_call", 3),
                     pair(r, "client_preemptions_per_call", "server_preemptions_per_call", 3), mode_cell(doc, r)])
    shm = res.find("pingpong", "shm", size=64)
    if shm:
        rows.append(["raw shm ping-pong 64 B (for scale)", pair(shm, "client_syscalls_per_call", "server_syscalls_per_call", 3),
                     pair(shm, "client_parks_per_call", "server_parks_per_call", 3),
                     pair(shm, "client_preemptions_per_call", "server_preemptions_per_call", 3), mode_cell(doc, shm)])
    if not rows:
        return ""
    return ("## 4. Hot-path syscalls of NativePools (one client)\n\n"
            "Syscalls per call counted by a perf counter on the tracepoint raw_syscalls:sys_enter, inherited by "
            "every thread of each process, over the measured window only (setup and warm-up excluded). The design "
            "promises none while the peer is awake: a side that parks costs a wait syscall (poll / epoll_wait) "
            "plus the drain of its doorbell (pipe or socket), and its peer one doorbell write, so syscalls per call should track "
            "parks per call. Preemptions: involuntary context switches per call.\n\n"
            + table(["NativePools", "syscalls/call client / server", "parks/call client / server",
                     "preemptions/call client / server", "wait mode client / server"], rows) + "\n")


def section_placement(doc: dict, res) -> str:
    rows = []
    for base, transport, size, window in [("pingpong", "shm", 64, 0), ("pingpong", "nativepools", 64, 0),
                                          ("pingpong", "uds", 64, 0), ("pipeline", "nativepools", 64, 64)]:
        unpinned = res.find(base, transport, size=size, window=window)
        for placement, label in [(None, "unpinned (sections 1, 3)"), ("own_cores", "a core each (server CPU 1, client CPU 0)"),
                                 ("same_core", "one core (both on CPU 0)")]:
            r = unpinned if placement is None else res.find(f"{placement}_{base}", transport, size=size, window=window)
            if r is None or r.get("unavailable"):
                continue
            mode = f"{size_label(size)}, " + (f"pipelined, window {window}" if window else "synchronous")
            rows.append([TRANSPORT_LABELS.get(transport, transport), mode, label, spread_of(r, "calls_per_s"),
                         spread_us(r, "latency_p50_ns"), us(med(r, "latency_p99_ns")),
                         pair(r, "client_cores_used", "server_cores_used"),
                         pair(r, "client_syscalls_per_call", "server_syscalls_per_call"),
                         pair(r, "client_parks_per_call", "server_parks_per_call", 3), wait_label(r),
                         number(ratio_of(med(r, "calls_per_s"), med(unpinned, "calls_per_s"))), noise(r),
                         str(r["runs"])])
    if len(rows) <= 4:
        return ""
    return ("## 5. Where the scheduler puts the two processes\n\n"
            "The same 64 B runs pinned: each process on its own core, and both on one core. Unpinned, the "
            "scheduler picks one of the two and tends to keep it: a process woken by a write to an eventfd or "
            "socket tends to be placed on the writer's CPU (wake-affine), and two peers that take turns never "
            "look imbalanced to the load balancer. On one core a side that spins does so while the peer it "
            "waits for cannot run. \"CPU cores used\" near 0.5 / 0.5 in an unpinned row means its runs (or some "
            "of them) shared a core. Last column: ÷ the unpinned median.\n\n"
            + table(["transport", "run", "placement", "round trips/s", "p50 µs", "p99 µs",
                     "CPU cores used client / server", "syscalls/call client / server", "parks/call client / server",
                     "wait mode client / server", "÷ unpinned", "other load / steal", "runs"], rows) + "\n")


def wait_label(r: dict) -> str:
    from ipc_report import wait_mode
    return f"{wait_mode(med(r, 'client_parks_per_call'))} / {wait_mode(med(r, 'server_parks_per_call'))}"


def ratio_of(a, b):
    return None if a is None or not b else a / b


def render_markdown(doc: dict, res) -> str:
    parts = [section_header(doc), section_pingpong(doc, res), section_fanin(doc, res), section_pipeline(doc, res),
             section_syscalls(doc, res), section_placement(doc, res), section_memory(doc, res)]
    return "\n".join(p for p in parts if p).rstrip() + "\n"
