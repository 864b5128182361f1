#!/usr/bin/env python3
"""Timing driver and report for bench/run.

`run` executes inside the benchmark's network namespace, where the
ESTABLISHED part of the population is already held by bench/population.py.
It adds the TIME_WAIT part and runs the command suite interleaved, round
after round, each command with stdout on /dev/null, recording wall time
(fork to reap) and peak RSS (getrusage of the reaped child, via wait4).

TIME_WAIT sockets live 60 s, so they are made in generations: a generation
is created, commands run while they can finish within WINDOW seconds of its
creation, the counts by state are taken at its start and end, and if
commands remain the driver waits for the generation to expire before making
the next one. The TIME_WAIT count is therefore the same for every measured
command, and the recorded start and end counts show it.

`report` reads the JSON files that `run` wrote and prints medians, ratios
against the targets with PASS/FAIL, and the growth from 10k to 100k sockets.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import population  # noqa: E402

TARGETS_FROM = 100000  # the targets are for 100k+ sockets; below, ratios are information
NICE = -10  # measured commands get the CPU before other load on the machine
WINDOW = 50.0  # seconds after a TIME_WAIT generation's creation to stop measuring
EXPIRY_WAIT = 90.0  # give up waiting for a generation to expire after this
COMMAND_TIMEOUT = 120.0
TIME = "/usr/bin/time"
DPORT = population.LISTEN_PORT  # the first holder's listener
PROC_OWNERS = "tcpstat -tanpo --owner-source proc"


def suite(tcpstat, kind, with_netstat, with_dport, with_proc_owners, with_info=False):
    """The commands to measure, as (label, argv); labels are what the report shows."""
    cmds = [("ss -tano", ["ss", "-tano"]),
            ("ss -tanop", ["ss", "-tanop"])]
    if with_netstat:
        cmds += [("netstat -tano", ["netstat", "-tano"]),
                 ("netstat -tanpo", ["netstat", "-tanpo"])]
    cmds += [("tcpstat -tano", [tcpstat, "-tano"]),
             ("tcpstat -tanpo", [tcpstat, "-tanpo"]),
             ("tcpstat -tanpo --json", [tcpstat, "-tanpo", "--json"])]
    if with_proc_owners:  # the fallback where tcpstat's BPF iterator cannot be used
        cmds += [(PROC_OWNERS, [tcpstat, "-tanpo", "--owner-source", "proc"])]
    if with_dport:
        cmds += [(f"ss -tan 'dport = :{DPORT}'", ["ss", "-tan", f"dport = :{DPORT}"]),
                 (f"tcpstat -tan --dport {DPORT}", [tcpstat, "-tan", "--dport", str(DPORT)])]
    if with_info:  # tcp_info per socket (-i), only when tcpstat has it
        cmds += [("ss -tani", ["ss", "-tani"]),
                 ("tcpstat -tani", [tcpstat, "-tani"])]
    if kind == "scaling":
        keep = {"ss -tano", "tcpstat -tano", "tcpstat -tanpo"}
        cmds = [c for c in cmds if c[0] in keep]
    return cmds


def measure(argv, workdir):
    """Run argv once with stdout on /dev/null; return wall time, peak RSS, CPU and status.

    Peak RSS comes from /usr/bin/time: a child spawned straight from this
    Python process would inherit the interpreter's RSS high-water mark at
    exec, and wait4 would report that instead of the command's.
    """
    timing = os.path.join(workdir, "time")
    stderr = os.path.join(workdir, "stderr")
    devnull = os.open(os.devnull, os.O_WRONLY)
    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, err, 2),
               (os.POSIX_SPAWN_CLOSE, devnull), (os.POSIX_SPAWN_CLOSE, err)]
    wrapped = [TIME, "-f", "%M", "-o", timing, "--"] + argv
    start = time.perf_counter()
    pid = os.posix_spawn(TIME, wrapped, os.environ, file_actions=actions)
    os.close(devnull)
    os.close(err)
    killer = threading.Timer(COMMAND_TIMEOUT, os.kill, (pid, 9))
    killer.start()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    killer.cancel()
    with open(timing) as f:  # "Command exited with non-zero status N" may come first
        maxrss = int(f.read().split()[-1])
    with open(stderr) as f:
        message = f.read().strip()
    return {"wall_s": wall, "maxrss_kb": maxrss, "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime, "exit": os.waitstatus_to_exitcode(status),
            "stderr": message}


def row_count(argv):
    """Socket rows a command prints, for checking that every tool sees the population."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT).stdout
    if argv[-1] == "--json":
        return len(json.loads(out))
    if argv[0] == "ss":
        return len(out.splitlines()) - 1  # one header line
    return sum(1 for line in out.splitlines() if line.startswith("tcp"))


ROW_CHECKS = {"ss -tano", "netstat -tano", "tcpstat -tano", "tcpstat -tanpo --json",
              f"ss -tan 'dport = :{DPORT}'", f"tcpstat -tan --dport {DPORT}"}


class Generations:
    """TIME_WAIT generations: create, check the window, close, wait for expiry."""

    def __init__(self, count):
        self.count = count
        self.number = -1
        self.created = None
        self.log = []
        self.count_cost = 0.0

    def open(self):
        if self.number >= 0:
            self._wait_expiry()
        self.number += 1
        self.created = time.monotonic()
        population.make_timewait(self.count, self.number)
        start = time.monotonic()
        states = population.count_states()
        self.count_cost = time.monotonic() - start
        self.log.append({"generation": self.number, "create_s": start - self.created,
                         "start": states, "start_age_s": time.monotonic() - self.created})

    def fits(self, seconds):
        """Whether a command of `seconds` still ends inside this generation's window."""
        left = self.created + WINDOW - time.monotonic()
        return seconds + self.count_cost + 0.5 < left

    def close(self):
        self.log[-1]["end"] = population.count_states()
        self.log[-1]["end_age_s"] = time.monotonic() - self.created

    def _wait_expiry(self):
        deadline = time.monotonic() + EXPIRY_WAIT
        while population.timewait_count() > 0:
            if time.monotonic() > deadline:
                sys.exit("measure: TIME_WAIT sockets did not expire; something else makes them")
            time.sleep(0.5)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(args):
    cmds = suite(args.tcpstat, args.suite, args.netstat, args.dport, args.proc_owners,
                 args.info)
    os.setpriority(os.PRIO_PROCESS, 0, NICE)
    load_start = loadavg()
    samples = {label: [] for label, _ in cmds}
    estimate = {}
    for label, argv in cmds:  # warm-up: caches, and a duration estimate per command
        result = measure(argv, args.workdir)
        if result["exit"] != 0:
            sys.exit(f"measure: `{label}` failed (exit {result['exit']}): {result['stderr']}")
        estimate[label] = result["wall_s"]
    gens = Generations(args.timewait)
    gens.open()
    rows = {label: row_count(argv) for label, argv in cmds if label in ROW_CHECKS}
    for r in range(args.rounds):
        order = cmds[r % len(cmds):] + cmds[:r % len(cmds)]
        for label, argv in order:
            if not gens.fits(estimate[label]):
                if estimate[label] + gens.count_cost + 5 > WINDOW:
                    sys.exit(f"measure: `{label}` takes {estimate[label]:.1f} s, too long "
                             f"for the {WINDOW:.0f} s TIME_WAIT window; use fewer sockets")
                gens.close()
                gens.open()
            result = measure(argv, args.workdir)
            if result["exit"] != 0:
                print(f"measure: `{label}` failed (exit {result['exit']}): {result['stderr']}",
                      file=sys.stderr)
            result["round"] = r
            result["generation"] = gens.number
            samples[label].append(result)
            estimate[label] = max(estimate[label], result["wall_s"])
    gens.close()
    out = {"sockets": args.sockets, "suite": args.suite, "rounds": args.rounds,
           "timewait": args.timewait, "commands": [label for label, _ in cmds],
           "samples": samples, "generations": gens.log, "rows": rows,
           "window_s": WINDOW, "nice": NICE,
           "loadavg": {"start": load_start, "end": loadavg()}}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


# ---------------------------------------------------------------- report

TARGETS = [  # (what, numerator, denominator, metric, limit)
    ("time", "tcpstat -tano", "ss -tano", "wall_s", 1.0),
    ("time", "tcpstat -tanpo", "ss -tanop", "wall_s", 0.10),
    ("time", "tcpstat -tanpo --json", "tcpstat -tanpo", "wall_s", 1.5),
    ("peak RSS", "tcpstat -tanpo", "ss -tanop", "maxrss_kb", 1.5),
    ("time", "tcpstat -tani", "ss -tani", "wall_s", 0.8),
]
INFO = [
    ("time", "tcpstat -tano", "netstat -tano", "wall_s"),
    ("time", "tcpstat -tanpo", "netstat -tanpo", "wall_s"),
    ("time", PROC_OWNERS, "ss -tanop", "wall_s"),
    ("time", f"tcpstat -tan --dport {DPORT}", f"ss -tan 'dport = :{DPORT}'", "wall_s"),
]
GROWTH_LIMIT = 11.0


def median(result, label, metric):
    values = [s[metric] for s in result["samples"].get(label, [])]
    return statistics.median(values) if values else None


def fmt_states(states):
    return " ".join(f"{k}={v}" for k, v in sorted(states.items()))


def report_one(res):
    print(f"\n== {res['sockets']} sockets requested ({res['suite']} suite, "
          f"{res['rounds']} rounds, interleaved)")
    for g in res["generations"]:
        print(f"  TIME_WAIT generation {g['generation']}: at {g['start_age_s']:4.1f} s  "
              f"{fmt_states(g['start'])}")
        print(f"  {'':23}   at {g['end_age_s']:4.1f} s  {fmt_states(g['end'])}")
    if "loadavg" in res:
        print(f"  load average (1, 5, 15 min) before: {res['loadavg']['start']}, "
              f"after: {res['loadavg']['end']}")
    if res["rows"]:
        print("  rows printed: " + ", ".join(f"{k}: {v}" for k, v in res["rows"].items()))
        listings = {v for k, v in res["rows"].items() if "dport" not in k}
        filtered = {v for k, v in res["rows"].items() if "dport" in k}
        if len(listings) > 1 or len(filtered) > 1:
            print("  WARNING: the tools do not list the same number of sockets")
    print(f"  {'command':34} {'median s':>9} {'min s':>8} {'max s':>8} {'user s':>7} "
          f"{'sys s':>7} {'peak RSS MiB':>13}")
    for label in res["commands"]:
        walls = [s["wall_s"] for s in res["samples"][label]]
        print(f"  {label:34} {statistics.median(walls):9.3f} {min(walls):8.3f} "
              f"{max(walls):8.3f} {median(res, label, 'user_s'):7.2f} "
              f"{median(res, label, 'sys_s'):7.2f} "
              f"{median(res, label, 'maxrss_kb') / 1024:13.1f}")
    for label in res["commands"]:
        failed = [s for s in res["samples"][label] if s["exit"] != 0]
        if failed:
            print(f"  WARNING: {label} failed in {len(failed)} run(s): {failed[0]['stderr']}")
    failures = []
    judged = res["sockets"] >= TARGETS_FROM
    if not judged:
        print(f"  (targets are judged from {TARGETS_FROM} sockets; here for information)")
    for what, num, den, metric, limit in TARGETS:
        a, b = median(res, num, metric), median(res, den, metric)
        if a is None or b is None:
            continue
        ok = a / b <= limit
        verdict = ("PASS" if ok else "FAIL") if judged else "info"
        print(f"  {verdict:4}  {what:8} {num} / {den} = {a / b:.3f}  (target <= {limit})")
        if judged and not ok:
            failures.append(f"{res['sockets']}: {what} {num} / {den} = {a / b:.3f} > {limit}")
    for what, num, den, metric in INFO:
        a, b = median(res, num, metric), median(res, den, metric)
        if a is not None and b is not None:
            print(f"  info  {what:8} {num} / {den} = {a / b:.3f}")
    return failures


def growth_line(small, large, label):
    """Describe how `label`'s wall and CPU time grow from `small` to `large`."""
    a, b = median(large, label, "wall_s"), median(small, label, "wall_s")
    min_a = min(s["wall_s"] for s in large["samples"][label])
    min_b = min(s["wall_s"] for s in small["samples"][label])
    cpu_a = median(large, label, "user_s") + median(large, label, "sys_s")
    cpu_b = median(small, label, "user_s") + median(small, label, "sys_s")
    return (f"growth of {label} from {small['sockets']} to {large['sockets']} sockets: "
            f"median {b:.3f} s -> {a:.3f} s = {a / b:.2f}x",
            f"      fastest run {min_b:.3f} s -> {min_a:.3f} s = {min_a / min_b:.2f}x; "
            f"CPU time {cpu_b:.3f} s -> {cpu_a:.3f} s = {cpu_a / cpu_b:.2f}x", a / b)


def report(args):
    results = []
    for path in args.results:
        with open(path) as f:
            results.append(json.load(f))
    failures = []
    for res in results:
        failures += report_one(res)
    by_size = {r["sockets"]: r for r in results}
    if 10000 in by_size and 100000 in by_size:
        print()
        for label in ("tcpstat -tanpo", "tcpstat -tano", "ss -tano"):
            line, detail, growth = growth_line(by_size[10000], by_size[100000], label)
            if label != "tcpstat -tanpo":
                print(f"info  {line}\n{detail}")
                continue
            ok = growth <= GROWTH_LIMIT
            print(f"{'PASS' if ok else 'FAIL'}  {line}  (target <= {GROWTH_LIMIT}x)\n{detail}")
            if not ok:
                failures.append(f"growth of {label} {growth:.2f}x > {GROWTH_LIMIT}x")
    print(f"\n{len(failures)} target(s) missed" + "".join(f"\n  {f}" for f in failures))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="measure the suite on the population of this namespace")
    p.add_argument("--tcpstat", required=True)
    p.add_argument("--sockets", type=int, required=True)
    p.add_argument("--timewait", type=int, required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--suite", choices=["full", "scaling"], default="full")
    p.add_argument("--netstat", action="store_true", help="include netstat")
    p.add_argument("--dport", action="store_true", help="include the --dport filter pair")
    p.add_argument("--info", action="store_true", help="include the -tani pair (tcp_info)")
    p.add_argument("--proc-owners", action="store_true",
                   help="include tcpstat -tanpo reading owners from /proc")
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("report", help="print medians, ratios and PASS/FAIL")
    p.add_argument("results", nargs="+")
    args = parser.parse_args()
    if args.cmd == "run":
        run(args)
    else:
        sys.exit(report(args))


if __name__ == "__main__":
    main()
