#!/usr/bin/env python3
"""Replicated kv on a real 3-node Reef cluster on loopback: commit latency and throughput beside
raw fsync and TCP round trip measured in the same run, and the cost of 10,000 idle groups.

- cluster: 3 `reefd` on 127.0.0.1, each with its own data dir in one temporary directory; node 0
  starts alone, nodes 1 and 2 join through node 0's address. With 3 nodes and R = 3 every node is
  a member of every group.
- limits: 4 KiB append + fdatasync in a file beside the data dirs (same filesystem), in slices
  taken before and after the latency phase; TCP ping-pong of 64 bytes (blocking sockets,
  TCP_NODELAY) between two C++ processes and over Reef's encrypted transport, from
  `transport_rtt --rounds 1` when it is built in the bin dir, and between this process and a
  forked Python echo process (the RTT limit when transport_rtt is missing); `GET /v1/status`
  round trips on the control socket (what every request below pays on top of the protocol).
- commit latency: sequential `incr` of one key through each node's control API (HTTP over the
  unix control socket, one request per connection, as the server requires; no CLI process per
  request), all on one key. Its group is in epoch 0, whose leader is members[s mod 3] with s the
  group id's first 8 bytes (members sorted by id); through another node a request travels to the
  leader and its answer back (one more round trip). A commit needs the leader's fsync, one round trip to a follower and the follower's fsync:
  printed as ratios to "one RTT + one fsync" and to "one RTT + two fsyncs" (the protocol's floor).
- throughput: C concurrent closed-loop clients (C = 1, 8, 32, 64 by default), spread round-robin
  over the 3 nodes, run by a few forked client processes (so one Python interpreter's lock does
  not serialize them), on one key and on C keys (one per client); committed ops/s, latency
  p50/p99 and the ratio to 1/fsync (more than 1: group commit puts several commits in one
  fsync), with the CPU of the 3 reefd and of the machine and the nodes' replica counters over
  each point. The same clients sending `GET /v1/status` at the highest C give the ceiling of
  this client and the control API alone.
- idle groups: 10,000 `put`s of distinct keys (so 10,000 groups), concurrently; then the cluster
  sits idle (--idle-seconds, 30 s): VmRSS of each reefd before the puts and after the idle window,
  memory per group, replica.db size (and its -wal) per node, and each reefd's CPU over the idle
  window (utime+stime from /proc/PID/stat) against the goal "idle CPU < 1 %". A shorter idle window
  before the puts (--baseline-idle-seconds) gives the idle CPU of the same cluster with few groups.

Output: `replica.cluster.<metric>: value unit (note)` lines on stdout, progress on stderr.
Percentiles are nearest-rank. Every process it starts (reefd by the harness, the echo server,
client workers) is stopped by its pid, on SIGINT/SIGTERM too.

Usage: bench/replica_cluster.py [--bin-dir build/release/bin] [--seconds 4] [--groups 10000]
Not run by ctest: it measures time, which a test must never assert.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position
from dht_latency import percentile  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "replica.cluster"
NODES = 3
GROUP_SIZE = 3                       # node::config::replica_group_size
IDLE_CPU_GOAL_PERCENT = 1.0


def say(text):
    print(f"[replica] {text}", file=sys.stderr, flush=True)


def out(name, value, unit, note=""):
    """Prints one figure at once (a long run shows its figures as they come)."""
    if isinstance(value, float):
        text = f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    else:
        text = str(value)
    print(f"{PREFIX}.{name}: {text} {unit}" + (f" ({note})" if note else ""), flush=True)


def ratio(a, b):
    return a / b if b > 0 else float("nan")


# ---- physical limits ----

def fsync_samples(directory, count):
    """Microseconds of `count` 4 KiB appends each followed by fdatasync, in a fresh file."""
    path = os.path.join(directory, f"fsync-probe-{os.getpid()}")
    block = os.urandom(4096)
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return samples


def tcp_rtt_samples(count, warmup=200, size=64):
    """Microseconds of `count` ping-pongs of `size` bytes over 127.0.0.1 with a forked echo
    process (blocking sockets, TCP_NODELAY on both ends)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the echo process: serve one connection, then leave
        code = 0
        try:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except BaseException:  # pylint: disable=broad-except
            code = 1
        os._exit(code)  # pylint: disable=protected-access
    listener.close()
    samples = []
    try:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * size
            for i in range(warmup + count):
                start = time.perf_counter()
                conn.sendall(message)
                got = 0
                while got < size:
                    chunk = conn.recv(size - got)
                    if not chunk:
                        raise OSError("the echo process closed the connection")
                    got += len(chunk)
                if i >= warmup:
                    samples.append((time.perf_counter() - start) * 1e6)
    finally:
        try:
            os.waitpid(pid, 0)  # it leaves once the connection is closed
        except ChildProcessError:
            pass
    return samples


def transport_rtt(bin_dir, count):
    """{"raw": (p50, p99), "reef": (p50, p99)} in microseconds from `transport_rtt --rounds 1`
    (raw TCP ping-pong between two C++ processes, and Reef's encrypted transport) when it is built
    in bin_dir; {} otherwise."""
    program = os.path.join(bin_dir, "transport_rtt")
    if not os.access(program, os.X_OK):
        return {}
    try:
        done = subprocess.run([program, "--count", str(count), "--rounds", "1"],
                              capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return {}
    found = {}
    for line in done.stdout.splitlines():
        for name, start in (("raw", "raw TCP ping-pong"), ("reef", "reef encrypted transport")):
            if line.startswith(start):
                numbers = line[len(start):].split()
                try:
                    found[name] = (float(numbers[-3]), float(numbers[-2]))
                except (IndexError, ValueError):
                    pass
    return found


# ---- the control API ----

def kv(socket_path, body, timeout=30.0):
    """(milliseconds, status or the OSError, parsed body) of one POST /v1/kv."""
    return timed_request(socket_path, "POST", "/v1/kv", body, timeout)


def status_request(socket_path, timeout=30.0):
    elapsed, status, _ = timed_request(socket_path, "GET", "/v1/status", None, timeout)
    return elapsed, status, None


def describe_failures(failures):
    return ", ".join(f"{k}: {v}" for k, v in sorted(failures.items())) or "none"


# ---- closed-loop clients in forked worker processes ----

def timed_request(socket_path, method, target, body, timeout=30.0):
    """(milliseconds, status or the OSError, parsed body) of one control API request."""
    start = time.perf_counter()
    try:
        answer = reef_harness.control_request(socket_path, method, target, body, timeout)
    except OSError as problem:
        return (time.perf_counter() - start) * 1000.0, problem, None
    return (time.perf_counter() - start) * 1000.0, answer.status, answer.body


def worker_main(jobs, start_at, end_at, pipe):
    """Runs one thread per job (socket_path, method, target, body) from start_at until end_at
    (time.monotonic(), which all processes share); sends back (latencies ms, failures)."""
    latencies = []
    failures = {}
    lock = threading.Lock()
    first_errors = []

    def client(socket_path, method, target, body):
        mine = []
        mine_failed = {}
        while time.monotonic() < start_at:
            time.sleep(0.001)
        while time.monotonic() < end_at:
            elapsed, status, answer = timed_request(socket_path, method, target, body)
            if status == 200:
                mine.append(elapsed)
            else:
                label = status if isinstance(status, int) else type(status).__name__
                mine_failed[label] = mine_failed.get(label, 0) + 1
                with lock:
                    if len(first_errors) < 3:
                        shown = answer if isinstance(status, int) else status
                        first_errors.append(f"{label}: {shown}")
                if not isinstance(status, int):
                    time.sleep(0.01)
        with lock:
            latencies.extend(mine)
            for label, count in mine_failed.items():
                failures[label] = failures.get(label, 0) + count

    threads = [threading.Thread(target=client, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pipe.send((latencies, failures, first_errors))
    pipe.close()


def closed_loop(cluster, clients, keys, seconds, processes_max, status_only=False):
    """`clients` concurrent clients, client i on node i mod 3 and key keys[i mod len(keys)];
    returns (ops/s, latencies ms, failures, first errors)."""
    jobs = []
    for i in range(clients):
        if status_only:
            jobs.append((cluster.socket_path(i % NODES), "GET", "/v1/status", None))
        else:
            jobs.append((cluster.socket_path(i % NODES), "POST", "/v1/kv",
                         {"op": "incr", "key": keys[i % len(keys)]}))
    return closed_loop_jobs(jobs, seconds, processes_max)


def closed_loop_jobs(jobs, seconds, processes_max):
    """One closed-loop client per job (socket_path, method, target, body), spread over at most
    processes_max forked processes; returns (ops/s, latencies ms, failures, first errors)."""
    processes = min(processes_max, len(jobs))
    share = [jobs[p::processes] for p in range(processes)]
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.3 + 0.02 * processes
    end_at = start_at + seconds
    workers = []
    for part in share:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=worker_main, args=(part, start_at, end_at, send),
                                  daemon=True)
        process.start()
        send.close()
        workers.append((process, receive))
    latencies, failures, errors = [], {}, []
    try:
        for process, receive in workers:
            got, failed, first = receive.recv()
            latencies.extend(got)
            errors.extend(first)
            for label, count in failed.items():
                failures[label] = failures.get(label, 0) + count
            process.join(timeout=60)
    finally:
        for process, receive in workers:
            receive.close()
            if process.is_alive():
                process.terminate()  # by its own pid
                process.join(timeout=10)
    wall = max(time.monotonic(), end_at) - start_at
    return len(latencies) / wall, latencies, failures, errors


# ---- /proc ----

def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as text:
        for line in text:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as text:
        fields = text.read().rsplit(")", 1)[1].split()
    # after the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat", encoding="utf-8") as text:
        fields = [int(x) for x in text.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class Usage:
    """CPU of each reefd, of the whole machine, and the nodes' replica counters over a span."""

    COUNTERS = ("requests_submitted", "requests_answered", "requests_timed_out", "retries",
                "redirects", "refused")

    def __init__(self, cluster, pids):
        self.cluster = cluster
        self.pids = pids
        self.started = time.monotonic()
        self.cpu = {node: cpu_seconds(pid) for node, pid in pids.items()}
        self.machine = machine_cpu()
        self.counters = self.replica_counters()

    def replica_counters(self):
        sums = dict.fromkeys(self.COUNTERS, 0)
        for node in range(NODES):
            status = self.cluster.status(node)
            for name in self.COUNTERS:
                sums[name] += status["replica"].get(name, 0) if status else 0
        return sums

    def finish(self):
        """(wall s, {node: reefd CPU %}, machine busy % of all CPUs, counter deltas)."""
        wall = time.monotonic() - self.started
        cpu = {node: 100.0 * (cpu_seconds(pid) - self.cpu[node]) / wall
               for node, pid in self.pids.items()}
        busy, total = machine_cpu()
        machine = 100.0 * (busy - self.machine[0]) / max(1, total - self.machine[1])
        counters = self.replica_counters()
        deltas = {name: counters[name] - self.counters[name] for name in self.COUNTERS}
        return wall, cpu, machine, deltas


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def idle_cpu(pids, seconds):
    """{node: percent of one CPU} of each pid over `seconds` of wall time."""
    before = {node: cpu_seconds(pid) for node, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    return {node: 100.0 * (cpu_seconds(pid) - before[node]) / wall for node, pid in pids.items()}, \
        wall


# ---- phases ----

def limits_slice(directory, count, label, fsyncs):
    samples = fsync_samples(directory, count)
    fsyncs.extend(samples)
    say(f"fsync slice {label}: p50 {percentile(samples, 50):.0f} us ({count} samples)")


LATENCY_KEY = "bench-seq"


def epoch0_leader(ids, key):
    """The node that leads epoch 0 of `key`'s group when every node is a member: members sorted
    by id, members[s mod 3] with s the first 8 bytes of BLAKE2b-256("reef.kv" 0x00 key)."""
    group = hashlib.blake2b(b"reef.kv\x00" + key.encode(), digest_size=32).digest()
    members = sorted(range(NODES), key=lambda node: bytes.fromhex(ids[node]))
    return members[int.from_bytes(group[:8], "big") % len(members)]


def commit_latency(cluster, leader, samples, warmup):
    """{node: latencies ms} of sequential incr of LATENCY_KEY through each node in turn."""
    result = {}
    for node in range(NODES):
        key = LATENCY_KEY
        path = cluster.socket_path(node)
        series = []
        failures = {}
        for i in range(warmup + samples):
            elapsed, status, body = kv(path, {"op": "incr", "key": key})
            if status != 200:
                label = status if isinstance(status, int) else type(status).__name__
                failures[label] = failures.get(label, 0) + 1
                if sum(failures.values()) <= 3:
                    say(f"incr {key} via node {node} failed: {status} {body}")
                continue
            if i >= warmup:
                series.append(elapsed)
        result[node] = (series, failures)
        role = "leader" if node == leader else "follower"
        say(f"sequential incr via node {node} ({role}): p50 {percentile(series, 50):.3f} ms, "
            f"{len(series)} ok, failures {describe_failures(failures)}")
    return result


def create_groups(cluster, count, concurrency):
    """`count` puts of distinct keys, `concurrency` threads spread over the nodes; returns
    (seconds, ok, failures)."""
    next_key = [0]
    lock = threading.Lock()
    ok = [0]
    failures = {}

    def client(index):
        path = cluster.socket_path(index % NODES)
        while True:
            with lock:
                key_index = next_key[0]
                next_key[0] += 1
            if key_index >= count:
                return
            key = f"idle-{key_index:05d}"
            status = None
            for _ in range(5):  # a refused put (503, 429, 504) is tried again, same key
                _, status, body = kv(path, {"op": "put", "key": key, "value": "v"})
                if status == 200:
                    break
                time.sleep(0.05)
            with lock:
                if status == 200:
                    ok[0] += 1
                else:
                    label = status if isinstance(status, int) else type(status).__name__
                    failures[label] = failures.get(label, 0) + 1
                    if sum(failures.values()) <= 3:
                        say(f"put {key} failed: {status} {body}")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, ok[0], failures


def run(args):
    owner = unittest.TestCase()
    try:
        cluster = reef_harness.JoinedCluster(owner, NODES)
        say(f"{NODES} nodes on 127.0.0.1:{cluster.base_port}-{cluster.base_port + NODES - 1}, "
            f"data under {cluster.local.root}")
        cluster.start()
        cluster.wait_all_alive(reef_harness.FORM_TIMEOUT)
        ids = cluster.node_ids()
        pids = {node: cluster.processes[node].pid for node in range(NODES)}
        leader = epoch0_leader(ids, LATENCY_KEY)
        out("nodes", NODES, "reefd", f"group size {GROUP_SIZE}: every node is in every group")
        for node in range(NODES):
            out(f"node{node}.id", ids[node][:12], "",
                f"leads {LATENCY_KEY}'s group (epoch 0)" if node == leader else "follower")
        data_root = cluster.local.root

        # ---- limits ----
        fsyncs = []
        limits_slice(data_root, args.fsync_samples // 2, "before the latency phase", fsyncs)
        rtt = tcp_rtt_samples(args.rtt_samples)
        reef_rtt = transport_rtt(args.bin_dir, args.rtt_samples)
        control = [status_request(cluster.socket_path(leader))[0] for _ in range(args.rtt_samples)]

        # ---- commit latency ----
        latency = commit_latency(cluster, leader, args.sequential, warmup=20)
        limits_slice(data_root, args.fsync_samples - args.fsync_samples // 2,
                     "after the latency phase", fsyncs)

        fsync_p50 = percentile(fsyncs, 50) / 1000.0
        fsync_p99 = percentile(fsyncs, 99) / 1000.0
        rtt_p50 = percentile(rtt, 50) / 1000.0
        rtt_p99 = percentile(rtt, 99) / 1000.0
        python_rtt = (rtt_p50, rtt_p99)
        if "raw" in reef_rtt:  # C++ on both ends: no interpreter in the round trip
            rtt_p50, rtt_p99 = reef_rtt["raw"][0] / 1000.0, reef_rtt["raw"][1] / 1000.0
        out("limit.fsync_p50", fsync_p50, "ms",
            f"4 KiB append + fdatasync beside the data dirs, {len(fsyncs)} samples")
        out("limit.fsync_p99", fsync_p99, "ms")
        out("limit.tcp_rtt_p50", rtt_p50, "ms",
            "64 B ping-pong over 127.0.0.1, TCP_NODELAY, " +
            ("transport_rtt's raw TCP (two C++ processes)" if "raw" in reef_rtt else
             f"Python echo process, {len(rtt)} samples"))
        out("limit.tcp_rtt_p99", rtt_p99, "ms")
        if "raw" in reef_rtt:
            out("limit.tcp_rtt_python_p50", python_rtt[0], "ms",
                f"the same from this script to a forked Python echo process, {len(rtt)} samples")
            out("limit.tcp_rtt_python_p99", python_rtt[1], "ms")
        if "reef" in reef_rtt:
            out("limit.reef_transport_rtt_p50", reef_rtt["reef"][0] / 1000.0, "ms",
                "64 B over Reef's encrypted transport (transport_rtt --rounds 1), "
                f"{ratio(reef_rtt['reef'][0] / 1000.0, rtt_p50):.2f} x the TCP p50")
            out("limit.reef_transport_rtt_p99", reef_rtt["reef"][1] / 1000.0, "ms")
        out("limit.control_rtt_p50", percentile(control, 50), "ms",
            "GET /v1/status on the control socket: paid by every request below")
        out("limit.control_rtt_p99", percentile(control, 99), "ms")
        one = rtt_p50 + fsync_p50
        two = rtt_p50 + 2 * fsync_p50
        out("limit.rtt_plus_fsync", one, "ms", "one RTT + one fsync (p50s)")
        out("limit.rtt_plus_two_fsyncs", two, "ms",
            "one RTT + two fsyncs (p50s): what a commit needs, leader fsync then follower fsync")

        all_ok = []
        for node in range(NODES):
            series, failures = latency[node]
            all_ok.extend(series)
            role = "the leader" if node == leader else "a node that is not the leader"
            p50, p99 = percentile(series, 50), percentile(series, 99)
            out(f"commit.via_node{node}.p50", p50, "ms",
                f"sequential incr through {role}, {len(series)} ops, failures "
                f"{describe_failures(failures)}")
            out(f"commit.via_node{node}.p99", p99, "ms")
            out(f"commit.via_node{node}.p50_vs_rtt_plus_fsync", ratio(p50, one), "x")
            out(f"commit.via_node{node}.p50_vs_rtt_plus_two_fsyncs", ratio(p50, two), "x",
                "the protocol's floor: leader fsync, RTT, follower fsync")
        lead = latency[leader][0]
        followers = [x for node in range(NODES) if node != leader for x in latency[node][0]]
        out("commit.leader.p50", percentile(lead, 50), "ms", f"via node {leader}, the leader")
        out("commit.leader.p99", percentile(lead, 99), "ms")
        out("commit.follower.p50", percentile(followers, 50), "ms",
            "via the two other nodes: one more round trip (request to the leader, answer back)")
        out("commit.follower.p99", percentile(followers, 99), "ms")
        out("commit.leader.p50_vs_rtt_plus_fsync", ratio(percentile(lead, 50), one), "x")
        out("commit.leader.p50_vs_rtt_plus_two_fsyncs", ratio(percentile(lead, 50), two), "x")
        out("commit.leader.p50_minus_control_rtt_vs_rtt_plus_two_fsyncs",
            ratio(percentile(lead, 50) - percentile(control, 50), two), "x",
            "the control socket round trip taken out")

        # ---- throughput ----
        per_fsync = 1000.0 / fsync_p50
        out("limit.one_commit_per_fsync", per_fsync, "ops/s", "1 / fsync p50: without group commit "
            "a leader can do at most this (and with two fsyncs in sequence per commit, half)")
        for mode in ("one_key", "many_keys"):
            for clients in args.clients:
                keys = ["tput-one"] if mode == "one_key" else \
                    [f"tput-{clients}-{i}" for i in range(clients)]
                for key in keys:  # create the groups outside the timed window
                    kv(cluster.socket_path(0), {"op": "incr", "key": key})
                usage = Usage(cluster, pids)
                rate, lat, failures, errors = closed_loop(cluster, clients, keys, args.seconds,
                                                          args.client_processes)
                _, cpu, machine, deltas = usage.finish()
                name = f"throughput.{mode}.c{clients}"
                out(f"{name}.ops_per_second", rate, "ops/s",
                    f"{clients} concurrent clients over {NODES} nodes, "
                    f"{len(keys)} key{'s' if len(keys) > 1 else ''}, {len(lat)} committed incr in "
                    f"{args.seconds:.0f} s, failures {describe_failures(failures)}")
                out(f"{name}.p50", percentile(lat, 50), "ms")
                out(f"{name}.p99", percentile(lat, 99), "ms")
                out(f"{name}.vs_one_commit_per_fsync", ratio(rate, per_fsync), "x",
                    "above 1: several commits per fsync")
                out(f"{name}.reefd_cpu", sum(cpu.values()), "%",
                    "of one CPU, the 3 reefd together (" +
                    ", ".join(f"{cpu[n]:.0f}" for n in range(NODES)) +
                    f"); machine busy {machine:.0f} % of {os.cpu_count()} CPUs")
                out(f"{name}.host_counters", json.dumps(deltas, sort_keys=True), "",
                    "replica counters of the 3 nodes added, over the point")
                for error in errors:
                    say(f"{name}: {error}")
        top = max(args.clients)
        rate, lat, failures, _ = closed_loop(cluster, top, [None], args.seconds,
                                             args.client_processes, status_only=True)
        out(f"throughput.status_only.c{top}.ops_per_second", rate, "ops/s",
            f"GET /v1/status by the same clients: the ceiling of this client and the control "
            f"API without consensus, failures {describe_failures(failures)}")
        out(f"throughput.status_only.c{top}.p50", percentile(lat, 50), "ms")

        # ---- idle groups ----
        if args.baseline_idle_seconds > 0:
            baseline, wall = idle_cpu(pids, args.baseline_idle_seconds)
            for node in range(NODES):
                out(f"idle.baseline.node{node}.cpu", baseline[node], "%",
                    f"of one CPU over {wall:.1f} s idle, before the idle groups")
        groups_before = {node: cluster.status(node)["replica"]["groups"] for node in range(NODES)}
        rss_before = {node: rss_kib(pid) for node, pid in pids.items()}
        seconds, ok, failures = create_groups(cluster, args.groups, args.group_clients)
        out("idle.puts", ok, "ok", f"{args.groups} puts of distinct keys in {seconds:.1f} s by "
            f"{args.group_clients} concurrent clients, failures {describe_failures(failures)}")
        out("idle.puts_per_second", ok / seconds, "ops/s")
        rss_created = {node: rss_kib(pid) for node, pid in pids.items()}
        time.sleep(2)  # the last commits reach every member
        cpu, wall = idle_cpu(pids, args.idle_seconds)
        rss_after = {node: rss_kib(pid) for node, pid in pids.items()}
        worst = 0.0
        for node in range(NODES):
            status = cluster.status(node)
            groups = status["replica"]["groups"] if status else -1
            added = groups - groups_before[node]
            data = cluster.data_dir(node)
            db = file_size(os.path.join(data, "replica.db"))
            wal = file_size(os.path.join(data, "replica.db-wal"))
            grown = rss_after[node] - rss_before[node]
            out(f"idle.node{node}.groups", groups, "groups",
                f"{added} new; each node holds every group (3 nodes, R = 3)")
            out(f"idle.node{node}.rss_before", rss_before[node] / 1024.0, "MiB")
            out(f"idle.node{node}.rss_after_puts", rss_created[node] / 1024.0, "MiB")
            out(f"idle.node{node}.rss_after_idle", rss_after[node] / 1024.0, "MiB")
            out(f"idle.node{node}.memory_per_group", grown * 1024.0 / added if added > 0 else -1.0,
                "bytes", f"(after idle - before) / {added} groups new on this node")
            out(f"idle.node{node}.replica_db", db / 1048576.0, "MiB",
                f"{db / max(groups, 1):.0f} bytes per group; replica.db-wal {wal / 1048576.0:.2f} "
                f"MiB")
            met = "met" if cpu[node] < IDLE_CPU_GOAL_PERCENT else "NOT met"
            out(f"idle.node{node}.cpu", cpu[node], "%",
                f"of one CPU over {wall:.1f} s idle with {groups} groups; goal < "
                f"{IDLE_CPU_GOAL_PERCENT:.0f} %: {met}")
            worst = max(worst, cpu[node])
        out("idle.cpu_max_vs_goal", ratio(worst, IDLE_CPU_GOAL_PERCENT), "x",
            f"highest idle CPU / {IDLE_CPU_GOAL_PERCENT:.0f} %")
        status = cluster.status(leader)
        out(f"status.node{leader}.replica", json.dumps(status["replica"], sort_keys=True), "",
            "GET /v1/status \"replica\"")
        exited = [n for n, p in cluster.processes.items() if p.poll() is not None]
        out("nodes_exited", len(exited), "reefd")
        if exited:
            say(f"nodes that exited during the run: {exited}\n{cluster.log_tails(lines=10)}")
    except AssertionError as problem:
        raise SystemExit(f"replica_cluster: {problem}") from problem
    finally:
        owner.doCleanups()


def stop_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the cleanups


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default=os.environ.get("REEF_BIN_DIR") or
                        os.path.join(ROOT, "build", "release", "bin"),
                        help="directory of reef and reefd (default: $REEF_BIN_DIR, else "
                             "build/release/bin)")
    parser.add_argument("--fsync-samples", type=int, default=2000)
    parser.add_argument("--rtt-samples", type=int, default=2000)
    parser.add_argument("--sequential", type=int, default=500,
                        help="sequential incr through each node")
    parser.add_argument("--clients", type=lambda text: [int(x) for x in text.split(",")],
                        default=[1, 8, 32, 64], help="concurrent clients, comma-separated")
    parser.add_argument("--client-processes", type=int, default=4,
                        help="forked processes that run the clients' threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput point")
    parser.add_argument("--groups", type=int, default=10000)
    parser.add_argument("--group-clients", type=int, default=32)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--baseline-idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not args.clients or min(args.clients) < 1 or max(args.clients) > 3 * 60:
        parser.error("--clients: 1..180 each (a node serves 64 control connections at once)")
    if args.fsync_samples < 2 or args.rtt_samples < 1 or args.sequential < 1 or \
            args.groups < 1 or args.group_clients < 1 or args.client_processes < 1:
        parser.error("counts must be positive")
    for name in ("reef", "reefd"):
        if not os.access(os.path.join(args.bin_dir, name), os.X_OK):
            raise SystemExit(f"replica_cluster: {name} missing in {args.bin_dir}")
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    reef_harness.use_bin_dir(os.path.abspath(args.bin_dir))
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
