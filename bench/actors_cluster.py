#!/usr/bin/env python3
"""Durable Lua actors on a real 3-node Reef cluster on loopback, beside the machine's limits and
Erlang distribution measured in the same run.

- cluster: 3 `reefd` on 127.0.0.1 (node 0 starts alone, the others join through it); every actor
  is a replica group of 3, led by one node.
- limits: 4 KiB append + fdatasync beside the data dirs, and a 64 B TCP ping-pong on loopback
  (transport_rtt's raw TCP when built, else a forked Python echo), as in replica_cluster.py.
- ping-pong: a ping actor and a pong actor whose leaders are on different nodes (names are tried
  until their inspect answers name different nodes); a client sends ping {"go": N} and ping and
  pong bounce a ball N times, each bounce a durable message (committed with the sender's new
  state, delivered exactly once). Reported: the mean round trip (wall clock over N, client
  polling excluded by timing ping's own first and last bounce with ctx.now) and p50/p99 of each
  round trip as ping measured it with ctx.now (millisecond resolution).
- throughput: C closed-loop clients (1, 16, 64) sending {"add": 1} through the 3 nodes' control
  APIs, to one counter actor (every message into one leader) and to C actors; messages/s, p50/p99,
  and the ratio to 1/fsync.
- failover: the node leading a counter is killed with SIGKILL while a client keeps sending
  through the other nodes; the time from the kill to the next acknowledged message, over
  --failovers trials (the node is restarted between trials).
- Erlang: /work/shared/peers-bench/erlang.sh (or --peers-bench DIR) in the same pass: remote
  ping-pong RTT and one-way messages/s between two Erlang nodes (not durable), printed beside
  Reef's with the ratio.
- Lua: the counter handler's cost per message, from bench/lua_handlers when built.

Output: `actors.cluster.<metric>: value unit (note)` lines on stdout, progress on stderr.
Usage: bench/actors_cluster.py [--bin-dir build/release/bin] [--seconds 4]
Not run by ctest: it measures time, which a test must never assert.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position
from dht_latency import percentile  # noqa: E402  pylint: disable=wrong-import-position
import replica_cluster  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "actors.cluster"
NODES = 3

PING_PONG = r"""
ping = {}
function ping.init(args) return { peer = args.peer, left = 0, rtts = {}, first = 0, last = 0 } end
function ping.handle(state, msg, ctx)
  if msg.go then
    state.left = msg.go
    state.rtts = {}
    state.first = ctx.now()
    state.sent = ctx.now()
    ctx.send(state.peer, { reply_to = ctx.self })
    return state
  end
  local now = ctx.now()
  state.rtts[#state.rtts + 1] = now - state.sent
  if #state.rtts > 400 then table.remove(state.rtts, 1) end
  state.left = state.left - 1
  state.last = now
  if state.left > 0 then
    state.sent = now
    ctx.send(state.peer, { reply_to = ctx.self })
  end
  return state
end

pong = {}
function pong.init() return { hits = 0 } end
function pong.handle(state, msg, ctx)
  state.hits = state.hits + 1
  ctx.send(msg.reply_to, { back = true })
  return state
end
"""

COUNTER = """
function init() return { n = 0 } end
function handle(state, msg) state.n = state.n + (msg.add or 1) return state end
"""


def say(text):
    print(text, file=sys.stderr, flush=True)


def out(name, value, unit, note=""):
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{PREFIX}.{name}: {shown} {unit}" + (f"  ({note})" if note else ""), flush=True)


def ratio(a, b):
    return a / b if b else float("nan")


def call(cluster, node, method, target, body=None, timeout=30.0):
    return reef_harness.control_request(cluster.socket_path(node), method, target, body, timeout)


def spawn(cluster, node, name, program, kind="", args=None):
    body = {"name": name, "program": program, "args": args or {}}
    if kind:
        body["module"] = kind
    answer = call(cluster, node, "POST", "/v1/actors/spawn", body)
    if answer.status != 200:
        raise RuntimeError(f"spawn {name}: {answer.status} {answer.body}")


def inspect(cluster, node, name):
    answer = call(cluster, node, "GET", f"/v1/actors/state?name={name}")
    if answer.status != 200:
        raise RuntimeError(f"state {name}: {answer.status} {answer.body}")
    return answer.body


def send(cluster, node, name, body, timeout=30.0):
    return call(cluster, node, "POST", "/v1/actors/send", {"name": name, "body": body}, timeout)


def node_of(cluster, ids, name):
    label = inspect(cluster, 0, name)["node"]
    return next(node for node, hex_id in ids.items() if hex_id.startswith(label))


def ping_pong(cluster, ids, rounds):
    spawn(cluster, 0, "bench-pong", PING_PONG, "pong")
    pong_node = node_of(cluster, ids, "bench-pong")
    for attempt in range(20):
        name = f"bench-ping-{attempt}"
        spawn(cluster, 0, name, PING_PONG, "ping", {"peer": "bench-pong"})
        if node_of(cluster, ids, name) != pong_node:
            break
    ping_node = node_of(cluster, ids, name)
    say(f"ping {name} on node {ping_node}, pong on node {pong_node}")
    send(cluster, ping_node, name, {"go": 20})  # warm up: sandboxes, sessions
    reef_harness.poll_until(lambda: inspect(cluster, 0, name)["state"]["left"] == 0, 60,
                            "warm-up bounces")
    started = time.perf_counter()
    send(cluster, ping_node, name, {"go": rounds})
    reef_harness.poll_until(lambda: inspect(cluster, 0, name)["state"]["left"] == 0, 300,
                            f"{rounds} bounces", interval=0.05)
    wall = time.perf_counter() - started
    state = inspect(cluster, 0, name)["state"]
    inner = (state["last"] - state["first"]) / rounds
    return ping_node != pong_node, wall / rounds * 1000.0, inner, state["rtts"]


def throughput(cluster, clients, seconds, one_actor):
    names = ["bench-counter"] if one_actor else [f"bench-counter-{i}" for i in range(clients)]
    for name in names:
        answer = call(cluster, 0, "POST", "/v1/actors/spawn", {"name": name, "program": COUNTER})
        if answer.status not in (200, 409):
            raise RuntimeError(f"spawn {name}: {answer.status} {answer.body}")
    jobs = [(cluster.socket_path(i % NODES), "POST", "/v1/actors/send",
             {"name": names[i % len(names)], "body": {"add": 1}}) for i in range(clients)]
    return replica_cluster.closed_loop_jobs(jobs, seconds, processes_max=4)


def failover(cluster, ids, trials):
    spawn(cluster, 0, "bench-failover", COUNTER)
    times = []
    for trial in range(trials):
        victim = node_of(cluster, ids, "bench-failover")
        others = [node for node in range(NODES) if node != victim]
        process = cluster.processes[victim]
        process.kill()  # SIGKILL to the pid the harness started
        killed = time.monotonic()
        process.wait(timeout=30)
        turn = 0
        while time.monotonic() - killed < 60:
            node = others[turn % len(others)]
            turn += 1
            try:
                answer = send(cluster, node, "bench-failover", {"add": 1}, timeout=10)
            except OSError:
                continue
            if answer.status == 200:
                times.append(time.monotonic() - killed)
                break
        say(f"failover {trial + 1}: node {victim} killed, next message after "
            f"{times[-1] if len(times) > trial else float('nan'):.2f} s")
        cluster.processes[victim] = cluster.local.spawn_reefd(
            cluster.data_dir(victim), cluster.base_port + victim, cluster.key_file,
            join=cluster.address(0 if victim != 0 else 1))
        cluster.wait_all_alive(reef_harness.FORM_TIMEOUT)
        time.sleep(2)  # let the restarted node catch up before the next kill
    return times


def erlang_figures(peers_dir):
    script = os.path.join(peers_dir, "erlang.sh")
    if not os.access(script, os.X_OK):
        return {}
    try:
        done = subprocess.run([script], capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return {}
    figures = {}
    for line in done.stdout.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name.startswith("erlang.") and parts:
            try:
                figures[name] = (float(parts[0]), parts[1] if len(parts) > 1 else "")
            except ValueError:
                pass
    return figures


def lua_counter_ns(bin_dir):
    program = os.path.join(bin_dir, "lua_handlers")
    if not os.access(program, os.X_OK):
        return None
    done = subprocess.run([program], capture_output=True, text=True, timeout=300, check=False)
    for line in done.stdout.splitlines():
        if "state JSON->Lua->JSON" in line:
            return float(line.split()[-2])
    return None


def run(args):
    owner = unittest.TestCase()
    try:
        cluster = reef_harness.JoinedCluster(owner, NODES)
        cluster.start()
        cluster.wait_all_alive(reef_harness.FORM_TIMEOUT)
        ids = cluster.node_ids()
        fsyncs = replica_cluster.fsync_samples(cluster.local.root, args.fsync_samples)
        raw = replica_cluster.transport_rtt(args.bin_dir, 2000).get("raw")
        rtt_p50 = raw[0] / 1000.0 if raw else percentile(replica_cluster.tcp_rtt_samples(2000),
                                                          50) / 1000.0
        fsync_p50 = percentile(fsyncs, 50) / 1000.0
        out("limit.fsync_p50", fsync_p50, "ms", "4 KiB append + fdatasync beside the data dirs")
        out("limit.tcp_rtt_p50", rtt_p50, "ms", "64 B ping-pong on 127.0.0.1")
        floor = 2 * (rtt_p50 + 2 * fsync_p50)
        out("limit.durable_round_trip", floor, "ms",
            "two durable one-way messages, each one RTT + two fsyncs (leader, follower)")

        apart, mean_ms, inner_ms, rtts = ping_pong(cluster, ids, args.rounds)
        where = "leaders on different nodes" if apart else "leaders on the same node"
        out("pingpong.mean", mean_ms, "ms", f"{args.rounds} round trips, wall clock, {where}")
        out("pingpong.mean_inside", inner_ms, "ms", "the same, timed by ping with ctx.now")
        out("pingpong.p50", float(percentile(rtts, 50)), "ms", "per round trip, ctx.now (1 ms)")
        out("pingpong.p99", float(percentile(rtts, 99)), "ms")
        out("pingpong.mean_vs_limit", ratio(inner_ms, floor), "x", "vs two durable messages")
        out("pingpong.mean_vs_tcp_rtt", ratio(inner_ms, rtt_p50), "x")

        best = 0.0
        for one_actor in (True, False):
            label = "one_actor" if one_actor else "many_actors"
            for clients in args.clients:
                rate, latencies, failures, errors = throughput(cluster, clients, args.seconds,
                                                               one_actor)
                out(f"throughput.{label}.c{clients}", rate, "msgs/s",
                    f"p50 {percentile(latencies, 50):.2f} ms, p99 "
                    f"{percentile(latencies, 99):.2f} ms, failures "
                    f"{replica_cluster.describe_failures(failures)}"
                    + (f", first: {errors[0]}" if errors else ""))
                best = max(best, rate) if one_actor else best
                out(f"throughput.{label}.c{clients}_vs_fsync", ratio(rate, 1000.0 / fsync_p50),
                    "x", "messages per second over fsyncs per second")

        times = failover(cluster, ids, args.failovers)
        if times:
            out("failover.p50", percentile(times, 50), "s",
                f"kill -9 of the leading node to the next acknowledged message, {len(times)} "
                "trials (goal <= 2 s; Orleans ~15 s, Erlang 45-75 s)")
            out("failover.max", max(times), "s")
    finally:
        owner.doCleanups()

    erlang = erlang_figures(args.peers_bench)
    for name, (value, unit) in sorted(erlang.items()):
        out(f"peer.{name}", value, unit, "Erlang distribution, not durable")
    remote = next((v for k, v in erlang.items() if "remote" in k and "p50" in k), None)
    if remote is not None and remote[1] in ("us", "ms"):
        erlang_ms = remote[0] / 1000.0 if remote[1] == "us" else remote[0]
        out("pingpong.mean_vs_erlang_remote_p50", ratio(inner_ms, erlang_ms), "x",
            "Reef's messages are durable, Erlang's are not")
    oneway = erlang.get("erlang.remote_oneway.rate")
    if oneway is not None:
        out("throughput.one_actor_vs_erlang_oneway", ratio(best, oneway[0]), "x",
            "durable messages into one actor vs Erlang's one-way messages between two nodes")
    counter_ns = lua_counter_ns(args.bin_dir)
    if counter_ns is not None:
        out("lua.counter_handler", counter_ns, "ns", "per message, state JSON -> Lua -> JSON")


def stop_on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "release", "bin"))
    parser.add_argument("--peers-bench", default=os.path.join(ROOT, "..", "shared", "peers-bench"))
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--fsync-samples", type=int, default=300)
    args = parser.parse_args()
    reef_harness.use_bin_dir(args.bin_dir)
    signal.signal(signal.SIGTERM, stop_on_signal)
    run(args)


if __name__ == "__main__":
    main()
