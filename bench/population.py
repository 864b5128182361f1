#!/usr/bin/env python3
"""Socket population for bench/run, built inside the current network namespace.

Two parts, because they live differently:

* `hold` builds the ESTABLISHED part and keeps it: connections over loopback
  with both ends in this namespace (2 sockets each), spread over several
  holder processes so none comes near the 20000 open-file hard limit. Each
  holder listens on 127.0.0.1:(7000 + k) and connects to itself from its own
  source addresses 127.(10 + k).b.1, at most ADDR_SPAN connections per
  address, so ephemeral ports never run out. Prints one `ready ...` line when
  every connection is up, then sleeps until killed (holders die with it:
  PR_SET_PDEATHSIG).

* `make_timewait()` (used by bench/measure.py, and `timewait` here for manual
  use) creates TIME_WAIT sockets: connect, accept, close the client first.
  They need no file descriptor and disappear 60 s later, so the measurement
  driver creates them just before measuring, in generations with distinct
  source addresses.

Python rather than Rust: sockets are kernel objects and Python only pays
for the syscalls (about 30 us per connection, 4 s for 120k sockets), and
the benchmark then needs no build step of its own and keeps working while
the crate is mid-change.
"""

import argparse
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys

ESTABLISHED_SHARE = 0.85
FDS_PER_HOLDER = 17000  # below the 20000 hard limit, with room for the rest
MIN_HOLDERS = 6
ADDR_SPAN = 4000  # connections per source address
LISTEN_PORT = 7000
TIMEWAIT_PORT = 8000
TIMEWAIT_FIRST_NET = 200  # TIME_WAIT sources: 127.(200 + generation).b.1


def split(total_sockets, share=ESTABLISHED_SHARE):
    """Return (connections, holders, timewait) for a population of `total_sockets`,
    `share` of them ESTABLISHED."""
    connections = round(total_sockets * share / 2)
    timewait = total_sockets - 2 * connections
    holders = max(MIN_HOLDERS, -(-2 * connections // FDS_PER_HOLDER))
    return connections, holders, timewait


def die_with_parent():
    """Ask the kernel to SIGTERM us when our parent exits (prctl PR_SET_PDEATHSIG)."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        sys.exit(1)


def connect_pairs(listener, dest, net, first, count):
    """Open `count` loopback connections to `listener`; return [(client, server), ...].

    Connection i binds source address 127.net.(i / ADDR_SPAN).1 first, so
    no source address needs more than ADDR_SPAN ephemeral ports.
    """
    pairs = []
    for i in range(first, first + count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.bind((f"127.{net}.{i // ADDR_SPAN}.1", 0))
        client.connect(dest)
        server, _ = listener.accept()
        pairs.append((client, server))
    return pairs


def listen(address):
    """A listening socket on `address` with a backlog that never drops a SYN here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(4096)
    return sock


def holder(index, connections, ready_fd):
    """Body of holder process `index`: build and keep `connections` connections."""
    die_with_parent()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    dest = ("127.0.0.1", LISTEN_PORT + index)
    listener = listen(dest)
    pairs = connect_pairs(listener, dest, 10 + index, 0, connections)
    os.write(ready_fd, f"{index} {len(pairs)}\n".encode())
    os.close(ready_fd)
    while True:
        signal.pause()


def hold(total_sockets, share=ESTABLISHED_SHARE):
    die_with_parent()  # bench/run killed even with SIGKILL: no stray holders
    connections, holders, _ = split(total_sockets, share)
    if holders > 180:  # source nets 127.10.. would reach the TIME_WAIT ones (127.200..)
        sys.exit(f"population: {total_sockets} sockets need too many holders")
    read_fd, write_fd = os.pipe()
    pids = []
    for k in range(holders):
        share = connections // holders + (1 if k < connections % holders else 0)
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                holder(k, share, write_fd)
            except BaseException as e:  # report, never fall back into the parent's code
                print(f"population: holder {k}: {e}", file=sys.stderr)
            os._exit(1)
        pids.append(pid)
    os.close(write_fd)
    # Every holder writes one line when done, or dies (EOF without its line).
    with os.fdopen(read_fd) as ready:
        done = [line.split() for line in ready]
    if len(done) != holders:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        sys.exit(f"population: only {len(done)} of {holders} holders finished")
    built = sum(int(n) for _, n in done)
    print(f"ready connections={built} holders={holders} "
          f"pids={','.join(map(str, pids))}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def make_timewait(count, generation):
    """Create `count` TIME_WAIT sockets from source net 127.(200 + generation % 50)."""
    net = TIMEWAIT_FIRST_NET + generation % 50
    dest = (f"127.{net}.255.254", TIMEWAIT_PORT)
    listener = listen(dest)
    # Connect in batches and then close: client first (it gets TIME_WAIT),
    # then the server end (LAST_ACK, closed by the client's ACK).
    for start in range(0, count, 1000):
        pairs = connect_pairs(listener, dest, net, start, min(1000, count - start))
        for client, server in pairs:
            client.close()
            server.close()
    listener.close()


def count_states():
    """Count this namespace's TCP sockets by state, as ss sees them."""
    out = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, check=True).stdout
    counts = {}
    for line in out.splitlines():
        state = line.split(None, 1)[0]
        counts[state] = counts.get(state, 0) + 1
    return counts


def timewait_count():
    """TIME_WAIT sockets of this namespace, from /proc/net/sockstat (cheap)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("tw") + 1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("hold", help="build and hold the ESTABLISHED part")
    p.add_argument("--sockets", type=int, required=True, help="whole population size")
    p.add_argument("--share", type=float, default=ESTABLISHED_SHARE,
                   help="the part of it that is ESTABLISHED (held here)")
    p = sub.add_parser("timewait", help="create TIME_WAIT sockets")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--generation", type=int, default=0)
    p = sub.add_parser("split", help="print connections, holders, timewait for --sockets")
    p.add_argument("--sockets", type=int, required=True)
    sub.add_parser("states", help="print socket counts by state")
    args = parser.parse_args()
    if args.cmd == "hold":
        hold(args.sockets, args.share)
    elif args.cmd == "timewait":
        make_timewait(args.count, args.generation)
    elif args.cmd == "split":
        print(*split(args.sockets))
    elif args.cmd == "states":
        print(" ".join(f"{k}={v}" for k, v in sorted(count_states().items())))


if __name__ == "__main__":
    main()
