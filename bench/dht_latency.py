#!/usr/bin/env python3
"""DHT settle time, put latency and lookup latency of a real 32-node Reef cluster on loopback.

Measured the way peers-bench measures OpenDHT (its odht_bench.cpp), so the figures can be set
side by side:

- 32 `reefd` on 127.0.0.1, each with its own data dir in a temporary directory; node 0 starts
  alone, nodes 1-31 join through node 0's address only.
- settle: from starting node 0 until every node's routing table holds all 31 others
  (`GET /v1/peers` "routing".contacts) and every node sees 32 alive members (polled every
  0.1 s, capped by --settle-max).
- put: 200 puts of random names with 32-byte values, one at a time, round-robin over the 31 nodes
  other than the getter (node 1); from the request to the answer, which comes once the record is
  stored on the k closest nodes.
- get_present: node 1 gets those 200 records, in shuffled order. They were published by other
  nodes, so an answer with "source": "network" came from other nodes; answers from node 1's own
  store ("source": "local") are counted apart (get_present.local_hits) and left out of
  get_present.p50/p99, as OpenDHT's remote_first_value leaves out its local hits.
- get_absent: node 1 gets 200 random keys nobody put; the time until "not found" (404).
- control_rtt: `GET /v1/status` on node 1 alone, 200 times.

Every latency is taken in this process around one HTTP/1.1 request on the node's control socket
(a new connection per request, as the server requires), so it includes one control-socket round
trip, which OpenDHT's in-process timing does not: control_rtt is printed so that the reader can
subtract it. Percentiles are nearest-rank, as in odht_bench.

Also prints the simulator's memory per node at 10,000 nodes (`reef-sim --scenario dht`; the run is
stopped once it has printed its memory line).

Output: `reef.<metric>: value unit` lines on stdout (progress on stderr), and, when OpenDHT's
figures of the same run are at hand (--opendht-file), `reef.vs_opendht.<metric>: ratio x` lines
(Reef / OpenDHT: below 1 is faster). --ratios FILE prints only the ratio lines from a saved
output holding both and runs nothing.

Usage: bench/dht_latency.py [--bin-dir build/release/bin] [--opendht-file FILE] [--ratios FILE]
The binaries are built with scripts/build.sh (release) when the default bin dir lacks them.
Not run by ctest: it measures time, which a test must never assert.
"""

import argparse
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "reef"
# Reef metric -> the OpenDHT metric it is compared with (odht_bench.cpp's names).
COMPARED = [
    ("settle", "settle"),
    ("put.p50", "put.p50"),
    ("put.p99", "put.p99"),
    ("get_present.p50", "get_present.remote_first_value.p50"),
    ("get_present.p99", "get_present.remote_first_value.p99"),
    ("get_absent.p50", "get_absent.done.p50"),
    ("get_absent.p99", "get_absent.done.p99"),
]
LINE = re.compile(r"^([A-Za-z0-9_.]+):\s+(-?[0-9.]+(?:e[-+]?[0-9]+)?)\s+(\S+)\s*$")


def say(text):
    print(f"[reef] {text}", file=sys.stderr, flush=True)


def percentile(values, p):
    """Nearest-rank percentile (as odht_bench); -1 when there are no values."""
    if not values:
        return -1.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]


def mean(values):
    return statistics.fmean(values) if values else -1.0


class Report:
    """Collects `reef.<name>: value unit` lines and prints them in order."""

    def __init__(self):
        self.lines = []
        self.values = {}

    def real(self, name, value, unit):
        self.values[name] = value
        self.lines.append(f"{PREFIX}.{name}: {value:.3f} {unit}")

    def count(self, name, value, unit="count"):
        self.values[name] = value
        self.lines.append(f"{PREFIX}.{name}: {int(value)} {unit}")

    def latency(self, name, samples_ms):
        self.real(f"{name}.p50", percentile(samples_ms, 50), "ms")
        self.real(f"{name}.p99", percentile(samples_ms, 99), "ms")
        self.real(f"{name}.mean", mean(samples_ms), "ms")

    def emit(self):
        for line in self.lines:
            print(line)
        sys.stdout.flush()


def read_figures(path, *prefixes):
    """{prefix: {metric: value}} of the `prefix.metric: value unit` lines of a saved output."""
    figures = {prefix: {} for prefix in prefixes}
    with open(path, encoding="utf-8", errors="replace") as text:
        for line in text:
            match = LINE.match(line.strip())
            if not match:
                continue
            prefix, _, metric = match.group(1).partition(".")
            if prefix in figures:
                figures[prefix][metric] = float(match.group(2))
    return figures


def ratio_lines(reef, opendht):
    lines = []
    for ours, theirs in COMPARED:
        if ours in reef and theirs in opendht and reef[ours] > 0 and opendht[theirs] > 0:
            lines.append(f"{PREFIX}.vs_opendht.{ours}: {reef[ours] / opendht[theirs]:.3f} x")
    return lines


# ---- the cluster ----

def timed(cluster, node, method, target, body=None):
    """(milliseconds, ControlAnswer or the OSError) of one control request."""
    socket_path = cluster.socket_path(node)
    start = time.perf_counter()
    try:
        answer = reef_harness.control_request(socket_path, method, target, body, timeout=30.0)
    except OSError as problem:
        return (time.perf_counter() - start) * 1000.0, problem
    return (time.perf_counter() - start) * 1000.0, answer


def settle(cluster, nodes, limit, report):
    """Polls every node until each holds nodes-1 routing contacts and sees `nodes` alive."""
    done = {}
    answered = set()
    last = {}
    start_all = None
    while True:
        for node in range(nodes):
            if node in done:
                continue
            view = cluster.peers(node)
            if view is None:
                continue
            answered.add(node)
            members = view.get("members", [])
            contacts = view.get("routing", {}).get("contacts", 0)
            alive = sum(m.get("state") == "alive" for m in members)
            last[node] = (contacts, alive)
            if contacts >= nodes - 1 and alive == nodes and len(members) == nodes:
                done[node] = time.monotonic()
        now = time.monotonic()
        if start_all is None and len(answered) == nodes:
            start_all = now - cluster.started_at
        if len(done) == nodes or now - cluster.started_at > limit:
            break
        time.sleep(0.1)
    elapsed = (max(done.values()) if len(done) == nodes else time.monotonic()) - \
        cluster.started_at
    contacts = [last.get(node, (0, 0))[0] for node in range(nodes)]
    report.count("nodes", nodes)
    report.real("start_all", (start_all if start_all is not None else -1) * 1000.0, "ms")
    report.real("settle", elapsed, "s")
    report.count("settle.timed_out", len(done) != nodes)
    report.count("routing_contacts.min", percentile(contacts, 0))
    report.count("routing_contacts.p50", percentile(contacts, 50))
    if len(done) != nodes:
        lagging = {node: last.get(node) for node in range(nodes) if node not in done}
        say(f"not settled after {limit:.0f} s; (routing contacts, alive members) of the nodes "
            f"that lag: {lagging}")
    else:
        say(f"settled {elapsed:.2f} s after node 0 started")


def run_puts(cluster, putters, keys, value_bytes, rng, report):
    records = []
    put_ms, stored_on, rounds = [], [], []
    failed = 0
    started = time.monotonic()
    for i in range(keys):
        node = putters[i % len(putters)]
        name = f"bench-{rng.getrandbits(64):016x}"
        value = f"v{i}-".ljust(value_bytes, "x")
        elapsed, answer = timed(cluster, node, "POST", "/v1/dht/put",
                                {"name": name, "value": value})
        if isinstance(answer, OSError) or answer.status != 200 or answer.body is None:
            failed += 1
            if failed <= 3:
                say(f"put {name} on node {node} failed: {answer}")
            continue
        put_ms.append(elapsed)
        stored_on.append(len(answer.body.get("stored_on", [])))
        rounds.append(answer.body.get("rounds", 0))
        records.append((answer.body["key"], value))
    wall = time.monotonic() - started
    say(f"{keys} puts in {wall:.2f} s ({failed} failed)")
    report.count("put.count", len(put_ms), "ok")
    report.count("put.failed", failed)
    report.latency("put", put_ms)
    report.count("put.stored_on.min", percentile(stored_on, 0))
    report.count("put.stored_on.p50", percentile(stored_on, 50))
    report.count("put.rounds.p50", percentile(rounds, 50))
    return records, wall


def run_gets(cluster, getter, records, absent, rng, report):
    order = list(records)
    rng.shuffle(order)
    remote_ms, local_ms, rounds = [], [], []
    not_found = failed = wrong = 0
    started = time.monotonic()
    for key, value in order:
        elapsed, answer = timed(cluster, getter, "POST", "/v1/dht/get", {"key": key})
        if isinstance(answer, OSError) or answer.status not in (200, 404) or \
                (answer.status == 200 and answer.body is None):
            failed += 1
            if failed <= 3:
                say(f"get {key} failed: {answer}")
            continue
        if answer.status == 404:
            not_found += 1
            continue
        if answer.body.get("value") != value:
            wrong += 1
        if answer.body.get("source") == "local":
            local_ms.append(elapsed)
        else:
            remote_ms.append(elapsed)
            rounds.append(answer.body.get("rounds", 0))
    present_wall = time.monotonic() - started

    absent_ms = []
    absent_found = absent_failed = 0
    started = time.monotonic()
    for _ in range(absent):
        key = f"{rng.getrandbits(256):064x}"
        elapsed, answer = timed(cluster, getter, "POST", "/v1/dht/get", {"key": key})
        if isinstance(answer, OSError) or answer.status not in (200, 404):
            absent_failed += 1
            if absent_failed <= 3:
                say(f"get of absent {key} failed: {answer}")
            continue
        if answer.status == 200:
            absent_found += 1
        absent_ms.append(elapsed)
    absent_wall = time.monotonic() - started
    say(f"gets: present {present_wall:.2f} s, absent {absent_wall:.2f} s")

    report.count("get_present.found", len(remote_ms) + len(local_ms))
    report.count("get_present.not_found", not_found)
    report.count("get_present.failed", failed)
    report.count("get_present.wrong_value", wrong)
    report.count("get_present.local_hits", len(local_ms))
    report.latency("get_present", remote_ms)
    report.real("get_present.all.p50", percentile(remote_ms + local_ms, 50), "ms")
    report.count("get_present.rounds.p50", percentile(rounds, 50))
    report.count("get_absent.found", absent_found)
    report.count("get_absent.failed", absent_failed)
    report.latency("get_absent", absent_ms)
    return present_wall + absent_wall


def control_rtt(cluster, node, samples, report):
    rtt = []
    for i in range(samples + 20):
        elapsed, answer = timed(cluster, node, "GET", "/v1/status")
        if i >= 20 and not isinstance(answer, OSError) and answer.status == 200:
            rtt.append(elapsed)
    report.latency("control_rtt", rtt)


def require_dht_api(cluster):
    """Stops the run at once if node 0 has no DHT control API (an older reefd)."""
    answer = cluster.request(0, "POST", "/v1/dht/get", {"key": "0" * 64})
    if answer.status == 404 and "no such endpoint" in answer.raw.decode(errors="replace"):
        raise SystemExit(f"reef: the reefd in {reef_harness.BIN_DIR} has no DHT control API "
                         f"(POST /v1/dht/get: {answer}); rebuild it")


def measure_cluster(args, report):
    rng = random.Random(args.seed)
    # The harness stops every reefd it started, by pid, in its cleanups; they are registered on a
    # test case, so a bare one collects them for doCleanups below.
    owner = unittest.TestCase()
    try:
        cluster = reef_harness.JoinedCluster(owner, args.nodes)
        say(f"{args.nodes} nodes on 127.0.0.1:{cluster.base_port}-"
            f"{cluster.base_port + args.nodes - 1}; node 0 first, the others join through it")
        cluster.start_first()
        require_dht_api(cluster)
        cluster.start_others()
        settle(cluster, args.nodes, args.settle_max, report)
        putters = [n for n in range(args.nodes) if n != args.getter]
        records, puts_wall = run_puts(cluster, putters, args.keys, args.value_bytes, rng, report)
        gets_wall = run_gets(cluster, args.getter, records, args.absent, rng, report)
        control_rtt(cluster, args.getter, args.rtt_samples, report)
        report.real("wall.puts", puts_wall, "s")
        report.real("wall.gets", gets_wall, "s")
        exited = [n for n, p in cluster.processes.items() if p.poll() is not None]
        report.count("nodes_exited", len(exited))
        if exited:
            say(f"nodes that exited during the run: {exited}\n{cluster.log_tails(lines=10)}")
    except AssertionError as problem:
        raise SystemExit(f"reef: {problem}") from problem
    finally:
        owner.doCleanups()


# ---- the simulator ----

MEMORY_LINE = re.compile(r"^\s*memory: ")
# The memory lines printed once every node joined, e.g.
#   memory: routing tables X KiB per node of heap (sizeof routing_table N B); simulator Y KiB ...
#   memory: Z MiB resident in all, W KiB per node
# (one line with both in some versions; "heap not measurable ..." under a sanitizer).
ROUTING_HEAP = re.compile(r"routing tables ([0-9.]+) KiB per node")
RESIDENT = re.compile(r"resident[^;]*?([0-9.]+) KiB per node")


def sim_memory(bin_dir, nodes, seed, report):
    """Runs `reef-sim --scenario dht` until it has printed its memory lines (once every node
    joined), then stops it: the rest of the scenario (lookups, records, churn) would take
    minutes at 10,000 nodes."""
    command = [os.path.join(bin_dir, "reef-sim"), "--scenario", "dht", "--nodes", str(nodes),
               "--seed", str(seed)]
    say(f"{' '.join(command)} (stopped after its memory lines)")
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    heap = resident = None
    seen = False
    try:
        for line in process.stdout:
            if not MEMORY_LINE.search(line):
                if seen:
                    break  # the memory lines are over
                continue
            seen = True
            say(f"reef-sim: {line.strip()} ({time.monotonic() - started:.1f} s)")
            heap = heap or ROUTING_HEAP.search(line)
            resident = resident or RESIDENT.search(line)
            if resident:
                break
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
    if not seen:
        say(f"reef-sim printed no memory line (exit status {process.returncode})")
        return
    suffix = "10k" if nodes == 10000 else str(nodes)
    if heap:
        report.real(f"sim_memory_per_node_{suffix}", float(heap.group(1)), "KiB")
    elif resident:
        say("reef-sim could not measure the routing tables' heap: reporting resident memory")
        report.real(f"sim_memory_per_node_{suffix}", float(resident.group(1)), "KiB")
    if heap and resident:
        report.real(f"sim_resident_per_node_{suffix}", float(resident.group(1)), "KiB")


# ---- main ----

def ensure_binaries(bin_dir, default_bin_dir):
    names = ("reef", "reefd", "reef-sim")
    missing = [n for n in names if not os.access(os.path.join(bin_dir, n), os.X_OK)]
    if not missing:
        return
    if os.path.abspath(bin_dir) != os.path.abspath(default_bin_dir):
        raise SystemExit(f"reef: {', '.join(missing)} missing in {bin_dir}")
    say(f"{', '.join(missing)} missing in {bin_dir}: building them with scripts/build.sh")
    env = dict(os.environ)
    env.setdefault("REEF_BUILD_JOBS", "2")
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh"), "release",
                           "--target", *names], stdout=sys.stderr, stderr=sys.stderr, env=env,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"reef: scripts/build.sh failed with status {done.returncode}")


def stop_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the cleanups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_bin = os.path.join(ROOT, "build", "release", "bin")
    parser.add_argument("--bin-dir", default=os.environ.get("REEF_BIN_DIR") or default_bin,
                        help="directory of reef, reefd and reef-sim (default: $REEF_BIN_DIR, "
                             "else build/release/bin)")
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--keys", type=int, default=200, help="records put, then got")
    parser.add_argument("--absent", type=int, default=200, help="gets of keys nobody put")
    parser.add_argument("--value-bytes", type=int, default=32)
    parser.add_argument("--getter", type=int, default=1)
    parser.add_argument("--settle-max", type=float, default=60.0, help="seconds")
    parser.add_argument("--rtt-samples", type=int, default=200)
    parser.add_argument("--sim-nodes", type=int, default=10000, help="0: no simulator run")
    parser.add_argument("--sim-seed", type=int, default=37)
    parser.add_argument("--seed", type=int, default=None, help="seed for names and order")
    parser.add_argument("--opendht-file", help="a saved peers-bench output with opendht.* lines "
                                               "from the same run: also print ratios")
    parser.add_argument("--ratios", metavar="FILE", help="print only the ratio lines computed "
                        "from a saved output holding both reef.* and opendht.* lines")
    args = parser.parse_args()

    if args.ratios:
        saved = read_figures(args.ratios, PREFIX, "opendht")
        for line in ratio_lines(saved[PREFIX], saved["opendht"]):
            print(line)
        return 0
    if args.nodes < 3 or not 0 <= args.getter < args.nodes or args.nodes > 200:
        parser.error("need 3 <= --nodes <= 200 and 0 <= --getter < --nodes")
    if not 1 <= args.keys <= 100000 or not 0 <= args.absent <= 100000 or \
            not 1 <= args.value_bytes <= 4096:
        parser.error("--keys 1-100000, --absent 0-100000, --value-bytes 1-4096")

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    ensure_binaries(args.bin_dir, default_bin)
    reef_harness.use_bin_dir(os.path.abspath(args.bin_dir))

    report = Report()
    measure_cluster(args, report)
    if args.sim_nodes > 0:
        sim_memory(os.path.abspath(args.bin_dir), args.sim_nodes, args.sim_seed, report)
    report.emit()
    if args.opendht_file:
        try:
            opendht = read_figures(args.opendht_file, "opendht")["opendht"]
        except OSError as problem:
            say(f"cannot read OpenDHT's figures: {problem}")
            opendht = {}
        if not opendht:
            say(f"no opendht.* lines in {args.opendht_file}: no ratios")
        for line in ratio_lines(report.values, opendht):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
