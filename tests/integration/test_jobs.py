"""Parallel jobs on real reefd processes on loopback, through the `reef` CLI: `reef job pi` gives
the same digits on 1, 2 and 4 workers, and still gives them when a worker, or the node running the
job's coordinator, is killed with -9 mid-job; `reef job run` runs the Lua map/reduce examples to
their exact answers and reports a failing program's error; `reef job exec` runs a command per
chunk only on the nodes that allow it and prints the outputs in order. Every node gets one runner slot
(REEF_JOB_SLOTS=1), so a node is one worker.
"""

import json
import os
import subprocess
import tempfile
import time
import unittest

from reef_harness import FORM_TIMEOUT, REEF, JoinedCluster, poll_until

SAMPLES = 200_000_000        # the issue's `reef job pi 200000000 --seed 1`
LONG_SAMPLES = 4_000_000_000  # long enough to kill something mid-job
JOB_TIMEOUT = 300            # one job, generous: it stops a broken test, it is not measured
TIMEOUT_ARGS = ("--timeout", "30")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "jobs")


def collatz_best(first, last):
    """The start in [first, last) with the longest Collatz chain (ties: the smaller start)."""
    best = None
    for start in range(first, last):
        n, steps = start, 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        if best is None or steps > best["steps"]:
            best = {"n": start, "steps": steps}
    return best


def start_cluster(owner, count, node_flags=None):
    cluster = JoinedCluster(owner, count)
    cluster.node_flags = node_flags or {}
    cluster.local.env["REEF_JOB_SLOTS"] = "1"
    cluster.start()
    cluster.wait_all_alive(FORM_TIMEOUT)
    return cluster


class JobsTest(unittest.TestCase):

    maxDiff = None

    def run_pi(self, cluster, node, samples, seed):
        """The final state of `reef job pi` (--json), and the digits it prints without --json."""
        done = cluster.reef(node, *TIMEOUT_ARGS, "job", "pi", str(samples), "--seed", str(seed),
                            "--json", timeout=JOB_TIMEOUT)
        state = json.loads(done.stdout)
        self.assertEqual(state["status"], "done", state)
        self.assertEqual(state["samples_done"], samples, state)
        self.assertEqual(state["finished_twice"], 0, "no chunk is ever counted twice")
        return state

    def start_job(self, cluster, node, samples, seed):
        answer = cluster.request(node, "POST", "/v1/jobs/start",
                                 {"kernel": "pi", "samples": samples, "seed": seed})
        self.assertEqual(answer.status, 200, answer)
        return answer.body["job"]

    def start_job_kernel(self, cluster, kernel):
        answer = cluster.request(0, "POST", "/v1/jobs/start", {"kernel": kernel, "samples": 5})
        self.assertEqual(answer.status, 200, answer)
        return answer.body["job"]

    def job_state(self, cluster, node, job):
        answer = cluster.request(node, "GET", f"/v1/jobs/state?job={job}")
        return answer.body if answer.status == 200 else None

    def wait_done(self, cluster, nodes, job):
        seen = {}

        def finished():
            for node in nodes:
                try:
                    state = self.job_state(cluster, node, job)
                except OSError:
                    continue
                if state:
                    seen["state"] = state
                    return state if state["status"] != "running" else None
            return None

        return poll_until(finished, JOB_TIMEOUT, f"job {job} ends", interval=0.5,
                          describe=lambda: f"{seen}\n{cluster.log_tails(lines=8)}")

    def test_1_the_same_value_on_1_2_and_4_workers(self):
        values = {}
        for count in (1, 2, 4):
            owner = unittest.TestCase()
            try:
                cluster = start_cluster(owner, count)
                started = time.monotonic()
                state = self.run_pi(cluster, 0, SAMPLES, 1)
                workers = {c["worker"] for c in state.get("chunks", [])} | set(state["workers"])
                print(f"\n{count} workers: pi = {state['value']!r} in "
                      f"{time.monotonic() - started:.1f} s, workers seen {len(workers)}")
                values[count] = state["value"]
                # Every worker may take part; a short job can end before the last one looks.
                self.assertTrue(1 <= len(state["workers"]) <= count, state["workers"])
                text = cluster.reef(0, *TIMEOUT_ARGS, "job", "show", state["job"]).stdout
                self.assertIn("done", text)
            finally:
                owner.doCleanups()
        self.assertEqual(values[1], values[2], values)
        self.assertEqual(values[1], values[4], values)
        self.assertAlmostEqual(values[1], 3.14159265, delta=0.001)

    def test_2_killing_a_worker_or_the_coordinator_keeps_the_value(self):
        owner = unittest.TestCase()
        self.addCleanup(owner.doCleanups)
        cluster = start_cluster(owner, 4)
        ids = cluster.node_ids()
        undisturbed = self.run_pi(cluster, 0, LONG_SAMPLES, 3)
        print(f"\nundisturbed: pi = {undisturbed['value']!r}")

        for victim_kind in ("worker", "coordinator"):
            job = self.start_job(cluster, 0, LONG_SAMPLES, 3)
            # Wait until work is spread, then pick the victim among nodes other than node 0
            # (which the client talks to).
            state = poll_until(lambda: (lambda s: s if s and len(s["chunks"]) >= 2 else None)(
                self.job_state(cluster, 0, job)), 60, "chunks are running", interval=0.05)
            coordinator = next(n for n, hex_id in ids.items() if hex_id.startswith(state["node"]))
            if victim_kind == "coordinator":
                victim = coordinator if coordinator != 0 else None
            else:
                running = {c["worker"] for c in state["chunks"]}
                victim = next((n for n in range(1, 4)
                               if ids[n] in running and n != coordinator), None)
            if victim is None:
                print(f"{victim_kind}: it runs on node 0 this time; killing node 1 instead")
                victim = 1
            process = cluster.processes[victim]
            process.kill()  # SIGKILL to the pid the harness started
            process.wait(timeout=30)
            killed_at = time.monotonic()
            final = self.wait_done(cluster, [0, *[n for n in range(1, 4) if n != victim]], job)
            print(f"{victim_kind} (node {victim}) killed: pi = {final['value']!r}, "
                  f"{time.monotonic() - killed_at:.1f} s after the kill, reassigned samples "
                  f"{final['reassigned_samples']}")
            self.assertEqual(final["status"], "done", final)
            self.assertEqual(final["value"], undisturbed["value"], final)
            self.assertEqual(final["finished_twice"], 0, final)
            # Only the unfinished part of the lost chunk was computed again.
            self.assertLess(final["reassigned_samples"], LONG_SAMPLES // 2, final)
            cluster.processes[victim] = cluster.local.spawn_reefd(
                cluster.data_dir(victim), cluster.base_port + victim, cluster.key_file,
                join=cluster.address(0))
            poll_until(lambda: cluster.status(victim), FORM_TIMEOUT, f"node {victim} is back")
            cluster.wait_all_alive(FORM_TIMEOUT)

    def test_3_bad_job_requests_are_refused(self):
        owner = unittest.TestCase()
        self.addCleanup(owner.doCleanups)
        cluster = start_cluster(owner, 1)
        for body, fragment in (({"samples": 10}, 'field "kernel"'),
                               ({"kernel": "pi"}, "the range is empty"),
                               ({"kernel": "pi", "samples": -1}, 'field "samples"'),
                               ({"kernel": "pi", "samples": 5, "end": 9}, "not both"),
                               ({"kernel": "pi", "samples": 5, "color": 1}, "color"),
                               ({"kernel": "lua", "samples": 5}, 'needs field "program"'),
                               ({"kernel": "pi", "samples": 5, "program": "x"}, "Lua jobs"),
                               ({"kernel": "lua", "samples": 5, "program": 3}, "source"),
                               ({"kernel": "exec", "chunks": 2}, 'needs field "command"'),
                               ({"kernel": "exec", "command": "ls", "chunks": 2},
                                "array of strings"),
                               ({"kernel": "exec", "command": ["ls"], "samples": 4},
                                'needs field "chunks"'),
                               ({"kernel": "pi", "samples": 5, "command": ["ls"]},
                                "command jobs")):
            answer = cluster.request(0, "POST", "/v1/jobs/start", body)
            self.assertEqual(answer.status, 400, f"{body}: {answer}")
            self.assertIn(fragment, answer.body["error"]["message"], body)
        missing = cluster.request(0, "GET", "/v1/jobs/state?job=nope")
        self.assertEqual(missing.status, 404, missing)
        not_a_page = cluster.request(0, "GET", "/v1/jobs/page?name=nope")
        self.assertEqual(not_a_page.status, 400, not_a_page)
        self.assertIn("JOB/out/", not_a_page.body["error"]["message"])
        no_page = cluster.request(0, "GET", "/v1/jobs/page?name=nope/out/0.0.0")
        self.assertEqual(no_page.status, 404, no_page)
        # An actor that is not an output page does not give its program through this route.
        lua_actor = cluster.request(0, "POST", "/v1/actors/spawn",
                                    {"name": "x/out/1.0.0",
                                     "program": "function handle(s) return s end"})
        self.assertEqual(lua_actor.status, 200, lua_actor)
        not_output = cluster.request(0, "GET", "/v1/jobs/page?name=x/out/1.0.0")
        self.assertEqual(not_output.status, 404, not_output)
        self.assertIn("not an output page", not_output.body["error"]["message"])
        # A native job refuses a program even when it comes straight as a spawn.
        spawned = cluster.request(0, "POST", "/v1/actors/spawn",
                                  {"name": "x-job", "program": "function map() end",
                                   "module": "reef.job"})
        self.assertEqual(spawned.status, 409, spawned)  # refused by the actor's group, like init
        self.assertIn("reserved", spawned.body["error"]["message"])
        # A kernel no node has: nobody claims it; cancelling ends it.
        unknown = self.start_job_kernel(cluster, "nope")
        cancelled = cluster.reef(0, *TIMEOUT_ARGS, "job", "cancel", unknown)
        self.assertEqual(cancelled.returncode, 0, cancelled)
        self.assertEqual(self.job_state(cluster, 0, unknown)["status"], "cancelled")
        bad = cluster.reef(0, "job", "pi", "1e9", check=False)
        self.assertEqual(bad.returncode, 2, bad)
        self.assertEqual(cluster.reef(0, "job", "ls").returncode, 0)

    def test_4_lua_map_reduce_jobs(self):
        owner = unittest.TestCase()
        self.addCleanup(owner.doCleanups)
        cluster = start_cluster(owner, 2)

        def run_lua(program, job_range, *extra, check=True):
            return cluster.reef(0, *TIMEOUT_ARGS, "job", "run", program, "--range", job_range,
                                *extra, timeout=JOB_TIMEOUT, check=check)

        # The Lua pi counts exactly the native kernel's hits, so both print the same value.
        samples = 20_000_000
        native = self.run_pi(cluster, 0, samples, 5)
        lua = json.loads(run_lua(os.path.join(EXAMPLES, "pi.lua"), f"0:{samples}", "--seed", "5",
                                 "--json").stdout)
        print(f"\nLua pi over {samples} samples: {lua['value']!r} in "
              f"{(lua['finished_ms'] - lua['started_ms']) / 1000:.1f} s on {len(lua['workers'])}"
              f" workers; native {(native['finished_ms'] - native['started_ms']) / 1000:.2f} s")
        self.assertEqual(lua["status"], "done", lua)
        self.assertEqual(lua["result"], native["result"])
        self.assertEqual(lua["value"], native["value"])
        self.assertEqual(lua["finished_twice"], 0, lua)
        printed = run_lua(os.path.join(EXAMPLES, "pi.lua"), f"0:{samples}", "--seed", "5")
        self.assertEqual(float(printed.stdout), native["value"])

        # print() in a map goes to the log of the node that ran it, bounded per run.
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as printing:
            printing.write("function map(first, last)\n  print('mapping ' .. first)\n"
                           "  return last - first\nend\n")
        self.addCleanup(os.unlink, printing.name)
        self.assertEqual(run_lua(printing.name, "0:1000").stdout.strip(), "1000")
        logs = ""
        for node in range(2):
            with open(os.path.join(cluster.data_dir(node), "reefd.log"), encoding="utf-8",
                      errors="replace") as log:
                logs += log.read()
        self.assertIn("mapping 0", logs)

        # A table partial with its own reduce: the exact answer, computed here independently.
        collatz = run_lua(os.path.join(EXAMPLES, "collatz.lua"), "1:100000")
        self.assertEqual(json.loads(collatz.stdout), collatz_best(1, 100000))

        with tempfile.TemporaryDirectory() as scratch:
            def program(name, text):
                path = os.path.join(scratch, name)
                with open(path, "w", encoding="utf-8") as out:
                    out.write(text)
                return path

            # A program that does not load is refused at once, with Lua's message.
            broken = run_lua(program("broken.lua", "function map(first, last\n"), "0:10",
                             check=False)
            self.assertNotEqual(broken.returncode, 0, broken)
            self.assertIn("does not load", broken.stderr)
            no_map = run_lua(program("nomap.lua", "x = 1\n"), "0:10", check=False)
            self.assertIn("defines no function map", no_map.stderr)
            # A map that raises fails the job with its error; the CLI says so and exits 1.
            raising = run_lua(program("raise.lua", "function map(first, last)\n"
                                      "  for i = first, last - 1 do\n"
                                      "    if i == 500 then error('sample ' .. i) end\n"
                                      "  end\n"
                                      "  return last - first\nend\n"), "0:1000", check=False)
            self.assertEqual(raising.returncode, 1, raising)
            self.assertIn("ended failed", raising.stderr)
            self.assertIn("sample 500", raising.stderr)
            # Sandboxed: no io, no os.
            escape = run_lua(program("escape.lua", "function map() return io.open('/x') end\n"),
                             "0:10", check=False)
            self.assertEqual(escape.returncode, 1, escape)
            self.assertIn("io", escape.stderr)
        for args, fragment in ((("--range", "5:5"), "empty"), (("--range", "x"), "BEGIN:END")):
            bad = cluster.reef(0, "job", "run", os.path.join(EXAMPLES, "pi.lua"), *args,
                               check=False)
            self.assertEqual(bad.returncode, 2, bad)
            self.assertIn(fragment, bad.stderr)
        missing = cluster.reef(0, "job", "run", "/nonexistent.lua", "--range", "0:5", check=False)
        self.assertNotEqual(missing.returncode, 0, missing)
        self.assertIn("cannot read program", missing.stderr)

    def test_5_command_jobs(self):
        owner = unittest.TestCase()
        self.addCleanup(owner.doCleanups)
        # Only nodes 1 and 2 run commands; node 0 takes the requests.
        cluster = start_cluster(owner, 3, {1: ["--allow-exec"], 2: ["--allow-exec"]})
        ids = cluster.node_ids()

        def run_exec(*args, check=True):
            return cluster.reef(0, *TIMEOUT_ARGS, "job", "exec", *args, timeout=JOB_TIMEOUT,
                                check=check)

        # Each chunk prints its range: the outputs come back whole and in order.
        printed = run_exec("--chunks", "12", "--range", "0:120", "--", "sh", "-c",
                           "sleep 0.2; printf '%s-%s\\n' {start} {end}")
        expected = "".join(f"{first}-{first + 10}\n" for first in range(0, 120, 10))
        self.assertEqual(printed.stdout, expected)
        self.assertIn("12 chunks", printed.stderr)
        state = json.loads(run_exec("--chunks", "4", "--json", "--", "true").stdout)
        self.assertEqual(state["status"], "done", state)
        self.assertEqual(state["value"], {"chunks": 4, "bytes": 0})
        self.assertNotIn(ids[0], state["workers"], "node 0 does not allow commands")
        self.assertTrue(set(state["workers"]) <= {ids[1], ids[2]}, state["workers"])

        # Output larger than a page, and bytes that are not text, arrive unchanged.
        big = subprocess.run(
            [REEF, "--dir", cluster.local.dir, "--node", cluster.socket_path(0), *TIMEOUT_ARGS,
             "job", "exec", "--chunks", "3", "--", "sh", "-c",
             "head -c 20000 /dev/zero | tr '\\0' '\\377'; echo {start}"],
            capture_output=True, env=cluster.local.env, timeout=JOB_TIMEOUT, check=True)
        self.assertEqual(big.stdout,
                         b"".join(b"\xff" * 20000 + f"{n}\n".encode() for n in range(3)))

        # A failing command fails the job with its exit status and standard error.
        failed = run_exec("--chunks", "2", "--", "sh", "-c", "echo broken pipe dream >&2; exit 7",
                          check=False)
        self.assertEqual(failed.returncode, 1, failed)
        self.assertIn("exited 7: broken pipe dream", failed.stderr)
        missing = run_exec("--chunks", "1", "--", "/nonexistent/command", check=False)
        self.assertIn("cannot start", missing.stderr)
        too_much = run_exec("--chunks", "1", "--", "head", "-c", "300000", "/dev/zero",
                            check=False)
        self.assertIn("more than 262144", too_much.stderr)
        for args, fragment in ((("--chunks", "0", "--", "true"), '"chunks" must be at least 1'),
                               (("--chunks", "65", "--", "true"), "chunks must be")):
            refused = run_exec(*args, check=False)
            self.assertNotEqual(refused.returncode, 0, refused)
            self.assertIn(fragment, refused.stderr)
        usage = cluster.reef(0, "job", "exec", "--", "true", check=False)
        self.assertEqual(usage.returncode, 2, usage)


if __name__ == "__main__":
    unittest.main()
