#!/usr/bin/env python3
"""How tcpstat grows from 10k to 1M sockets, against ss and the physical floor.

Run by bench/scale inside a fresh network namespace. For each population
size it builds that many ESTABLISHED sockets (bench/population.py hold,
both ends here, plus one listener per holder), then runs the command suite
interleaved for --rounds rounds, stdout on /dev/null, recording wall time,
CPU and peak RSS (bench/measure.py's `measure`). The floor is
bench/floor: one sock_diag dump received and counted (`dump --info`, the
request `-tano` sends), and that dump beside a scan of every descriptor
(`both --info`, the work `-tanpo` cannot avoid), and that dump as two
side by side (`halves --info`, split exactly in half by local port).
`-tano` runs as it would by default (two dumps side by side from 20,000 sockets) and as one
dump (`--parallel never`), the floor's own shape.

At the largest size it then runs `tcpstat -c 1 -tan` for --watch
seconds and reports every pass: when it read its sockets (the pass's
`time`), when its line arrived, how long that took, and the CPU the
process used per pass, with its peak RSS; and the peak RSS of
`--events -p`, sampled and exact, over three intervals.

Prints a JSON document on stdout; `report` turns it into Markdown tables.
"""

import argparse
import json
import os
import select
import statistics
import tempfile
import subprocess
import sys
import time
from datetime import datetime

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import population  # noqa: E402

SS_OWNERS_UP_TO = 120000  # ss -p is quadratic: 3-4 s at 120k, minutes at 1M
CLK_TCK = os.sysconf("SC_CLK_TCK")


def suite(tcpstat, floor, sockets):
    cmds = [("floor dump", [floor, "dump", "--info"]),
            ("floor halves", [floor, "halves", "--info"]),
            ("tcpstat -tano", [tcpstat, "-tano"]),
            ("tcpstat -tano --parallel never", [tcpstat, "-tano", "--parallel", "never"]),
            ("ss -tano", ["ss", "-tano"]),
            ("tcpstat -tano --json", [tcpstat, "-tano", "--json"]),
            ("floor dump + fds", [floor, "both", "--info"]),
            ("tcpstat -tanpo", [tcpstat, "-tanpo"])]
    if sockets <= SS_OWNERS_UP_TO:
        cmds.append(("ss -tanop", ["ss", "-tanop"]))
    return cmds


def hold(sockets):
    """Start holders for `sockets` ESTABLISHED sockets; return the process once ready."""
    holder = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "population.py"),
         "hold", "--sockets", str(sockets), "--share", "1.0"],
        stdout=subprocess.PIPE, text=True)
    line = holder.stdout.readline()
    if not line.startswith("ready"):
        holder.kill()
        sys.exit(f"scale: population of {sockets} failed: {line!r}")
    return holder


def run_size(args, sockets):
    holder = hold(sockets)
    try:
        states = population.count_states()
        cmds = suite(args.tcpstat, args.floor, sockets)
        results = {label: [] for label, _ in cmds}
        with tempfile.TemporaryDirectory() as workdir:
            for _ in range(args.rounds):
                for label, argv in cmds:
                    got = measure.measure(argv, workdir)
                    if got["exit"] != 0:
                        sys.exit(f"scale: {label} failed: {got['stderr']}")
                    results[label].append(got)
        largest = sockets == max(args.sizes)
        watch = watch_passes(args) if largest else None
        events = events_rss(args) if largest else None
        return {"sockets": sockets, "states": states, "results": results, "watch": watch,
                "events": events}
    finally:
        holder.terminate()
        holder.wait()
        wait_for_teardown()


def wait_for_teardown():
    """Until the last population's sockets are gone (closed connections linger briefly)."""
    for _ in range(600):
        if sum(population.count_states().values()) < 100:
            return
        time.sleep(0.5)


def watch_passes(args):
    """Run -c 1 for args.watch seconds; return each pass's timing and the CPU used.

    Each pass starts with its header line (`tcpstat at TIME, every 1s`,
    TIME being when it read its sockets); it ends when its last row
    arrives here.
    """
    proc = subprocess.Popen([args.tcpstat, "-c", "1", "-tan"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    passes, partial = [], b""
    end = time.time() + args.watch
    cpu_start = cpu_ticks(proc.pid)
    while time.time() < end:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.time()))
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 1 << 20)
        if not chunk:
            break
        arrived = time.time()
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        for line in lines:
            if line.startswith(b"tcpstat at "):
                stamp = line.split()[2].rstrip(b",").decode()
                read_at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                skipped = int(line.split(b"(")[1].split()[0]) if b"skipped" in line else 0
                passes.append({"read_at": read_at, "rows": 0, "skipped": skipped})
            elif passes and line.startswith(b"tcp"):
                passes[-1]["rows"] += 1
                passes[-1]["done_at"] = arrived
    cpu = cpu_ticks(proc.pid) - cpu_start
    hwm = vm_hwm_kb(proc.pid)
    proc.terminate()
    _, stderr = proc.communicate(timeout=30)
    complete = [p for p in passes[:-1] if "done_at" in p]  # the last may be cut short
    for p in complete:
        p["took_s"] = p["done_at"] - p["read_at"]
    return {"passes": complete, "cpu_s": cpu / CLK_TCK, "seconds": args.watch,
            "vm_hwm_kb": hwm, "stderr": stderr.decode(errors="replace").strip()}


def events_rss(args):
    """Peak RSS and time of `--events -p` over three 1 s intervals, in each mode.

    Sampled mode holds what it needs of the last pass to tell what changed;
    exact mode hears changes from the kernel and holds only the owners.
    """
    out = {}
    with tempfile.TemporaryDirectory() as workdir:
        for mode in ("sampled", "exact"):
            argv = [args.tcpstat, "-tanp", f"--events={mode}", "-c", "1", "--count", "3"]
            got = measure.measure(argv, workdir)
            if got["exit"] != 0:
                got = {"failed": got["stderr"].strip()}
            out[mode] = got
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def report(doc):
    out = ["| sockets | command | median s | user s | sys s | peak RSS MiB | bytes/socket |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    ratios = ["| sockets | tcpstat -tano / ss -tano | tcpstat -tano / floor dump "
              "| tcpstat -tanpo / floor dump | tcpstat -tanpo / floor dump + fds "
              "| RSS -tano / ss | RSS --json / ss | one dump / ss | one dump / floor dump "
              "| tcpstat -tano / floor halves |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in doc["sizes"]:
        n, res = size["sockets"], size["results"]
        for label, runs in res.items():
            rss = median(runs, "maxrss_kb")
            out.append(f"| {n:,} | `{label}` | {median(runs, 'wall_s'):.3f} | "
                       f"{median(runs, 'user_s'):.3f} | {median(runs, 'sys_s'):.3f} | "
                       f"{rss / 1024:.1f} | {rss * 1024 / n:.1f} |")
        wall = {label: median(runs, "wall_s") for label, runs in res.items()}
        rss = {label: median(runs, "maxrss_kb") for label, runs in res.items()}
        ratios.append(
            f"| {n:,} | {wall['tcpstat -tano'] / wall['ss -tano']:.3f} | "
            f"{wall['tcpstat -tano'] / wall['floor dump']:.3f} | "
            f"{wall['tcpstat -tanpo'] / wall['floor dump']:.3f} | "
            f"{wall['tcpstat -tanpo'] / wall['floor dump + fds']:.3f} | "
            f"{rss['tcpstat -tano'] / rss['ss -tano']:.2f} | "
            f"{rss['tcpstat -tano --json'] / rss['ss -tano']:.2f} | "
            f"{wall['tcpstat -tano --parallel never'] / wall['ss -tano']:.3f} | "
            f"{wall['tcpstat -tano --parallel never'] / wall['floor dump']:.3f} | "
            f"{wall['tcpstat -tano'] / wall['floor halves']:.3f} |")
    text = "\n".join(out) + "\n\n" + "\n".join(ratios) + "\n"
    for size in doc["sizes"]:
        watch = size.get("watch")
        if not watch:
            continue
        passes = watch["passes"]
        text += (f"\n`tcpstat -c 1 -tan` at {size['sockets']:,} sockets, "
                 f"{watch['seconds']} s: {len(passes)} passes, "
                 f"CPU {watch['cpu_s']:.2f} s ({watch['cpu_s'] / max(1, len(passes)):.3f} s "
                 f"per pass, {100 * watch['cpu_s'] / watch['seconds']:.0f}% of a core), "
                 f"peak RSS {watch['vm_hwm_kb'] / 1024:.1f} MiB "
                 f"({watch['vm_hwm_kb'] * 1024 / size['sockets']:.1f} bytes/socket)\n\n"
                 "| pass | read at (s from first) | took s | rows | skipped before it |\n"
                 "|---:|---:|---:|---:|---:|\n")
        first = passes[0]["read_at"] if passes else 0
        for i, p in enumerate(passes, 1):
            text += (f"| {i} | {p['read_at'] - first:.3f} | {p['took_s']:.3f} | "
                     f"{p['rows']:,} | {p['skipped']} |\n")
        if watch["stderr"]:
            text += f"\nstderr: `{watch['stderr']}`\n"
    for size in doc["sizes"]:
        events = size.get("events")
        if not events:
            continue
        text += (f"\n`tcpstat -tanp --events=MODE -c 1 --count 3` at {size['sockets']:,} sockets\n\n"
                 "| mode | wall s | user s | sys s | peak RSS MiB | bytes/socket |\n"
                 "|---|---:|---:|---:|---:|---:|\n")
        for mode, got in events.items():
            if "failed" in got:
                text += f"| {mode} | failed: {got['failed']} | | | | |\n"
                continue
            rss = got["maxrss_kb"]
            text += (f"| {mode} | {got['wall_s']:.3f} | {got['user_s']:.3f} | {got['sys_s']:.3f} | "
                     f"{rss / 1024:.1f} | {rss * 1024 / size['sockets']:.1f} |\n")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run")
    p.add_argument("--tcpstat", required=True)
    p.add_argument("--floor", required=True)
    p.add_argument("--sizes", type=int, nargs="+", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--watch", type=int, default=20)
    p = sub.add_parser("report")
    p.add_argument("file")
    args = parser.parse_args()
    if args.cmd == "run":
        doc = {"sizes": [run_size(args, n) for n in args.sizes],
               "loadavg_end": measure.loadavg()}
        json.dump(doc, sys.stdout)
    else:
        with open(args.file) as f:
            print(report(json.load(f)))


if __name__ == "__main__":
    main()
