#!/usr/bin/env python3
"""Crash detection time of a real 4-node Reef cluster on loopback.

Starts a 4-node local cluster (`reef up`, in its own temporary directory, on free ports), then
repeats: kill -9 a node other than node 1, measure the time until every survivor's control API
reports it `dead`, restart it with `reef up` and wait until all four see it alive again. Prints
each round, then p50 / p99 / max and the goal from docs (p50 <= 2 s with the default LAN settings).

The survivors are polled over their control sockets directly (every 20 ms), so the measured time
is the detection time plus at most one polling interval and one HTTP round trip. Starting,
restarting and stopping the cluster is the integration tests' harness
(tests/integration/reef_harness.py).

Usage: bench/crash_detection.py [--bin-dir build/release/bin] [--rounds 20]
Not run by ctest: it takes minutes and measures time, which a test must never assert.
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position

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


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def state_of(cluster, observer, node_id):
    answer = control_get(os.path.join(cluster.node_dir(observer), "control.sock"), "/v1/peers")
    if answer is None:
        return None
    for member in answer.get("members", []):
        if member.get("node_id") == node_id:
            return member.get("state")
    return None


def wait_all(cluster, observers, node_id, state, limit):
    """Seconds until every observer reports node_id in `state` (None past `limit`)."""
    start = time.monotonic()
    pending = set(observers)
    while pending:
        pending = {o for o in pending if state_of(cluster, o, node_id) != state}
        elapsed = time.monotonic() - start
        if not pending:
            return elapsed
        if elapsed > limit:
            return None
        time.sleep(POLL_SECONDS)
    return time.monotonic() - start


def up(cluster):
    return {n["node"]: n for n in cluster.up()["nodes"]}


def run_rounds(cluster, rounds, rng):
    """Returns the detection times and the number of rounds in which detection missed."""
    times = []
    missed = 0
    nodes = up(cluster)
    print(f"4-node cluster on 127.0.0.1:{cluster.base_port}-{cluster.base_port + 3}, "
          f"{rounds} rounds")
    for number in range(1, rounds + 1):
        victim = rng.choice([n for n in nodes if n != 1])
        survivors = [n for n in nodes if n != victim]
        os.kill(nodes[victim]["pid"], signal.SIGKILL)
        elapsed = wait_all(cluster, survivors, nodes[victim]["node_id"], "dead",
                           DETECT_LIMIT_SECONDS)
        if elapsed is None:
            missed += 1
            print(f"round {number:3d}: node {victim} NOT declared dead by every survivor "
                  f"within {DETECT_LIMIT_SECONDS:.0f} s")
        else:
            times.append(elapsed)
            print(f"round {number:3d}: node {victim} declared dead by all survivors after "
                  f"{elapsed * 1000:7.0f} ms")
        nodes = up(cluster)
        reef_harness.reap_orphans()  # the killed victim
        back = wait_all(cluster, survivors, nodes[victim]["node_id"], "alive",
                        DETECT_LIMIT_SECONDS)
        if back is None:
            raise SystemExit(f"node {victim} did not come back alive everywhere")
        sys.stdout.flush()
    return times, missed


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

    reef_harness.use_bin_dir(os.path.abspath(args.bin_dir))
    # The harness reports failures and registers its cleanup (stopping every reefd it started, by
    # pid) through a test case; a bare one collects the cleanups for doCleanups below.
    owner = unittest.TestCase()
    try:
        cluster = reef_harness.LocalCluster(owner, nodes=4)
        times, missed = run_rounds(cluster, args.rounds, rng)
    except AssertionError as problem:
        raise SystemExit(str(problem)) from problem
    finally:
        owner.doCleanups()

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
