#!/usr/bin/env python3
"""Unix socket population and timing for bench/unix, run inside the
benchmark's own network namespace (unix sockets belong to one, so only
these are listed).

`hold --sockets N` spreads N unix sockets over holder processes of at most
FDS_PER_HOLDER descriptors each (below the 20000 open-file limit): mostly
connected stream pairs, and in each holder some stream and seqpacket
listeners bound to paths, datagram sockets bound to abstract names and
unbound ones, as a busy host has. It prints one `ready ...` line, then
sleeps until killed (holders die with it).

`measure` runs each command --rounds times, interleaved, stdout on
/dev/null, and prints the median, least and most wall time of each and the
ratios of tcpstat against ss and netstat.
"""

import argparse
import ctypes
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
FDS_PER_HOLDER = 16000
LISTENER_SHARE = 0.02
DGRAM_SHARE = 0.08


def die_with_parent():
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def holder(index, count, directory, ready_fd):
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keep = []
    listeners = int(count * LISTENER_SHARE)
    for i in range(listeners):
        kind = socket.SOCK_STREAM if i % 2 else socket.SOCK_SEQPACKET
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(os.path.join(directory, f"h{index}-{i}.sock"))
        s.listen(16)
        keep.append(s)
    dgrams = int(count * DGRAM_SHARE)
    for i in range(dgrams):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if i % 2:
            s.bind(f"\0tcpstat-unix-bench-{os.getpid()}-{i}")
        keep.append(s)
    while len(keep) + 2 <= count:
        keep.extend(socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM))
    os.write(ready_fd, f"{index} {len(keep)}\n".encode())
    os.close(ready_fd)
    signal.pause()


def hold(total, directory):
    holders = -(-total // FDS_PER_HOLDER)
    read_fd, write_fd = os.pipe()
    children = []
    for k in range(holders):
        share = total // holders + (1 if k < total % holders else 0)
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            holder(k, share, directory, write_fd)
            os._exit(0)
        children.append(pid)
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        built = sum(int(line.split()[1]) for line in ready)
    print(f"ready sockets={built} holders={holders}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()


def run_once(argv):
    """Wall time from fork to reap."""
    start = time.monotonic()
    with open(os.devnull, "wb") as null:
        code = subprocess.call(argv, stdout=null, stderr=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    if code != 0:
        sys.exit(f"{argv} exited with {code}")
    return elapsed


def measure(tcpstat, rounds):
    suite = [
        ("ss -xap", ["ss", "-xap"]),
        ("netstat -xap", ["netstat", "-xap"]),
        ("tcpstat -xap", [tcpstat, "-xap"]),
        ("tcpstat -xap --json", [tcpstat, "-xap", "--json"]),
        ("ss -xa", ["ss", "-xa"]),
        ("netstat -xa", ["netstat", "-xa"]),
        ("tcpstat -xa", [tcpstat, "-xa"]),
        ("tcpstat -xap --source proc", [tcpstat, "-xap", "--source", "proc"]),
        ("tcpstat -xap --owner-source proc", [tcpstat, "-xap", "--owner-source", "proc"]),
    ]
    times = {label: [] for label, _ in suite}
    for _ in range(rounds):
        for label, argv in suite:
            times[label].append(run_once(argv))
    rows = subprocess.run([tcpstat, "-xa"], capture_output=True, check=True).stdout.count(b"\n") - 2
    print(f"unix sockets listed: {rows}, rounds: {rounds}")
    print(f"{'command':36} {'median s':>9} {'min s':>7} {'max s':>7}")
    med = {}
    for label, _ in suite:
        med[label] = statistics.median(times[label])
        print(f"{label:36} {med[label]:9.3f} {min(times[label]):7.3f} {max(times[label]):7.3f}")
    for ours, theirs in [("tcpstat -xap", "ss -xap"), ("tcpstat -xap", "netstat -xap"),
                         ("tcpstat -xa", "ss -xa"), ("tcpstat -xa", "netstat -xa"),
                         ("tcpstat -xap --json", "ss -xap")]:
        print(f"{ours} / {theirs}: {med[ours] / med[theirs]:.2f}x")
    target = med["tcpstat -xap"] <= med["ss -xap"]
    print(f"target tcpstat -xap no slower than ss -xap: {'PASS' if target else 'FAIL'}")
    return 0 if target else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--sockets", type=int, required=True)
    h.add_argument("--dir", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--tcpstat", required=True)
    m.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.cmd == "hold":
        hold(a.sockets, a.dir)
    else:
        sys.exit(measure(a.tcpstat, a.rounds))


if __name__ == "__main__":
    main()
