#!/usr/bin/env python3
"""`reef job pi N` on a local cluster beside the same kernel in a plain C++ program on the same
number of threads (bench/pi_native.cpp), in one run: the limit on this machine.

- cluster: --nodes reefd on 127.0.0.1, each with --slots runner threads (REEF_JOB_SLOTS), so
  the cluster computes on nodes x slots threads; the plain program gets as many threads.
- the job: `reef job pi N --seed S --json` through node 0; its time is the coordinator's own
  (finished_ms - started_ms, from the first claim's start to the last chunk's reduction) and the
  wall time of the CLI call (which adds start-up and polling).
- both must print the same digits (the kernel's samples depend only on (seed, index)).
- the Lua version of the same kernel (examples/jobs/pi.lua, `reef job run`) over --lua-samples
  on the same cluster, beside the native kernel over as many samples in the same cluster: both
  count the same hits, and the ratio of their rates is what Lua costs.

Output: `jobs.pi.<metric>: value unit (note)` lines; goal: Reef within 10 % of the plain program.
Usage: bench/jobs_pi.py [--samples 2000000000] [--lua-samples 100000000] [--nodes 2] [--slots 1]
                        [--seed 1]
Not run by ctest: it measures time, which a test must never assert.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position


def out(name, value, unit, note=""):
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"jobs.pi.{name}: {shown} {unit}" + (f"  ({note})" if note else ""), flush=True)


def plain(bin_dir, samples, threads, seed):
    done = subprocess.run([os.path.join(bin_dir, "pi_native"), str(samples), str(threads),
                           str(seed)], capture_output=True, text=True, check=True)
    fields = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    return float(fields["pi"]), float(fields["seconds"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "release", "bin"))
    parser.add_argument("--samples", type=int, default=2_000_000_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lua-samples", type=int, default=100_000_000)
    args = parser.parse_args()
    reef_harness.use_bin_dir(args.bin_dir)
    threads = args.nodes * args.slots

    native_pi, native_seconds = plain(args.bin_dir, args.samples, threads, args.seed)
    out("native.seconds", native_seconds, "s", f"{threads} plain threads, same kernel")
    out("native.value", native_pi, "")

    owner = unittest.TestCase()
    try:
        cluster = reef_harness.JoinedCluster(owner, args.nodes)
        cluster.local.env["REEF_JOB_SLOTS"] = str(args.slots)
        cluster.start()
        cluster.wait_all_alive(reef_harness.FORM_TIMEOUT)
        # A short job first: the job table exists and every worker knows its speed.
        cluster.reef(0, "--timeout", "30", "job", "pi", "100000000", "--seed", "7", "--json",
                     timeout=600)
        started = time.monotonic()
        done = cluster.reef(0, "--timeout", "30", "job", "pi", str(args.samples), "--seed",
                            str(args.seed), "--json", timeout=3600)
        wall = time.monotonic() - started
        state = json.loads(done.stdout)
        lua = json.loads(cluster.reef(
            0, "--timeout", "30", "job", "run", os.path.join(ROOT, "examples", "jobs", "pi.lua"),
            "--range", f"0:{args.lua_samples}", "--seed", str(args.seed), "--json",
            timeout=3600).stdout)
        native_same = json.loads(cluster.reef(
            0, "--timeout", "30", "job", "pi", str(args.lua_samples), "--seed", str(args.seed),
            "--json", timeout=3600).stdout)
    finally:
        owner.doCleanups()
    inside = (state["finished_ms"] - state["started_ms"]) / 1000.0
    out("reef.seconds", inside, "s",
        f"{args.nodes} nodes x {args.slots} slots, coordinator's start to end, "
        f"{len(state['workers'])} workers took part")
    out("reef.wall_seconds", wall, "s", "the `reef job pi` call, start-up and polling included")
    out("reef.value", state["value"], "", "equal to native" if state["value"] == native_pi
        else "DIFFERENT from native")
    out("reef.vs_native", inside / native_seconds, "x", "goal <= 1.10")
    out("reef.wall_vs_native", wall / native_seconds, "x")
    out("reef.reassigned_samples", state["reassigned_samples"], "samples")
    out("reef.splits", state.get("split", 0), "straggler splits")
    lua_seconds = (lua["finished_ms"] - lua["started_ms"]) / 1000.0
    same_seconds = (native_same["finished_ms"] - native_same["started_ms"]) / 1000.0
    out("lua.seconds", lua_seconds, "s", f"examples/jobs/pi.lua over {args.lua_samples} samples")
    out("lua.samples_per_second", args.lua_samples / lua_seconds, "samples/s",
        f"{threads} threads")
    out("lua.native_seconds", same_seconds, "s", "the native kernel over the same samples")
    out("lua.value", lua["value"], "", "equal to native" if lua["value"] == native_same["value"]
        else "DIFFERENT from native")
    out("lua.vs_native", (lua_seconds / args.lua_samples) / (inside / args.samples), "x",
        "time per sample against the native kernel's big job, both through Reef")
    out("lua.native_short_vs", lua_seconds / same_seconds, "x",
        "against the native kernel over the same (short) range: start-up counts there")
    out("lua.vs_plain", lua_seconds / (native_seconds * args.lua_samples / args.samples), "x",
        "against the plain program's rate")


if __name__ == "__main__":
    main()
