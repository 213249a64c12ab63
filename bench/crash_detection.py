#!/usr/bin/env python3
"""Crash detection time of a real 4-node Reef cluster on loopback.

Starts a 4-node local cluster (`reef up`, in its own temporary directory, on free ports), then
repeats: kill -9 a node other than node 1, measure the time until every survivor's control API
reports it `dead`, restart it with `reef up` and wait until all four see it alive again. Prints
each round, then p50 / p99 / max and the goal from docs (p50 <= 2 s with the default LAN settings).

The survivors are polled over their control sockets directly (every 20 ms), so the measured time
is the detection time plus at most one polling interval and one HTTP round trip.

Usage: bench/crash_detection.py [--bin-dir build/release/bin] [--rounds 20]
Not run by ctest: it takes minutes and measures time, which a test must never assert.
"""

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GOAL_P50_SECONDS = 2.0
POLL_SECONDS = 0.02
DETECT_LIMIT_SECONDS = 60.0


def control_get(socket_path, target, timeout=5.0):
    """GET target on a control socket; returns the JSON answer or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(socket_path)
            conn.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n"
                         "Connection: close\r\n\r\n".encode())
            raw = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                raw += chunk
    except OSError:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port(count):
    for _ in range(500):
        base = random.randrange(20000, 32000 - count)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise SystemExit("no free port range on 127.0.0.1")


def become_subreaper():
    """Adopt the detached reefd processes so that killed ones are reaped here, not left as
    zombies under a PID 1 that may never reap them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


class Bench:
    def __init__(self, bin_dir, nodes):
        self.reef = os.path.join(bin_dir, "reef")
        for program in ("reef", "reefd"):
            if not os.access(os.path.join(bin_dir, program), os.X_OK):
                raise SystemExit(f"{os.path.join(bin_dir, program)} not found; build it first")
        self.nodes = nodes
        self.root = tempfile.mkdtemp(prefix="reef-bench-crash-")
        self.dir = os.path.join(self.root, "cluster")
        self.base_port = free_base_port(nodes)
        self.env = dict(os.environ, XDG_DATA_HOME=os.path.join(self.root, "xdg"))
        self.pids = set()

    def run_reef(self, *args):
        done = subprocess.run([self.reef, "--dir", self.dir, *map(str, args)],
                              capture_output=True, text=True, env=self.env, timeout=300,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"reef {' '.join(map(str, args))} failed:\n{done.stderr}")
        return done.stdout

    def up(self):
        answer = json.loads(self.run_reef("up", "--nodes", self.nodes, "--base-port",
                                          self.base_port, "--wait", 120, "--json"))
        nodes = {n["node"]: n for n in answer["nodes"]}
        self.pids.update(n["pid"] for n in nodes.values())
        return nodes

    def socket(self, node):
        return os.path.join(self.dir, f"node-{node}", "control.sock")

    def state_of(self, observer, node_id):
        answer = control_get(self.socket(observer), "/v1/peers")
        if answer is None:
            return None
        for member in answer.get("members", []):
            if member.get("node_id") == node_id:
                return member.get("state")
        return None

    def wait_all(self, observers, node_id, state, limit):
        """Seconds until every observer reports node_id in `state` (None past `limit`)."""
        start = time.monotonic()
        pending = set(observers)
        while pending:
            pending = {o for o in pending if self.state_of(o, node_id) != state}
            elapsed = time.monotonic() - start
            if not pending:
                return elapsed
            if elapsed > limit:
                return None
            time.sleep(POLL_SECONDS)
        return time.monotonic() - start

    def round(self, nodes, victim):
        survivors = [n for n in nodes if n != victim]
        node_id = nodes[victim]["node_id"]
        pid = nodes[victim]["pid"]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        pending = set(survivors)
        while pending and time.monotonic() - killed < DETECT_LIMIT_SECONDS:
            pending = {o for o in pending if self.state_of(o, node_id) != "dead"}
            if pending:
                time.sleep(POLL_SECONDS)
        elapsed = time.monotonic() - killed
        return None if pending else elapsed

    def cleanup(self):
        subprocess.run([self.reef, "--dir", self.dir, "down"], capture_output=True,
                       env=self.env, timeout=120, check=False)
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    ours = self.root.encode() in cmdline.read()
            except OSError:
                ours = False
            if ours:
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)  # let the last SIGKILLs land before reaping
        reap_orphans()
        shutil.rmtree(self.root, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                               "release", "bin")
    parser.add_argument("--bin-dir", default=default_bin, help="directory of reef and reefd")
    parser.add_argument("--rounds", type=int, default=20, help="kill/restart rounds (1-1000)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the choice of victims")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 1000:
        parser.error("--rounds must be from 1 to 1000")
    rng = random.Random(args.seed)

    become_subreaper()
    bench = Bench(os.path.abspath(args.bin_dir), 4)
    times = []
    missed = 0
    try:
        nodes = bench.up()
        print(f"4-node cluster on 127.0.0.1:{bench.base_port}-{bench.base_port + 3}, "
              f"{args.rounds} rounds")
        for number in range(1, args.rounds + 1):
            victim = rng.choice([n for n in nodes if n != 1])
            elapsed = bench.round(nodes, victim)
            if elapsed is None:
                missed += 1
                print(f"round {number:3d}: node {victim} NOT declared dead by every survivor "
                      f"within {DETECT_LIMIT_SECONDS:.0f} s")
            else:
                times.append(elapsed)
                print(f"round {number:3d}: node {victim} declared dead by all survivors after "
                      f"{elapsed * 1000:7.0f} ms")
            nodes = bench.up()
            reap_orphans()  # the killed victim
            back = bench.wait_all([n for n in nodes if n != victim], nodes[victim]["node_id"],
                                  "alive", DETECT_LIMIT_SECONDS)
            if back is None:
                raise SystemExit(f"node {victim} did not come back alive everywhere")
            sys.stdout.flush()
    finally:
        bench.cleanup()

    if not times:
        print("no crash was detected")
        return 1
    p50 = statistics.median(times)
    p99 = percentile(times, 0.99)
    print(f"\ncrash detection (kill -9 until every survivor reports dead), {len(times)} rounds"
          f"{f', {missed} missed' if missed else ''}:")
    print(f"  p50 {p50:.3f} s   p99 {p99:.3f} s   min {min(times):.3f} s   "
          f"max {max(times):.3f} s")
    verdict = "met" if p50 <= GOAL_P50_SECONDS and not missed else "NOT met"
    print(f"  goal: p50 <= {GOAL_P50_SECONDS:.1f} s ({verdict})")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
