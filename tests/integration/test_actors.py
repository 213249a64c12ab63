"""Durable actors on a real 5-node cluster on loopback, through the control API and the `reef`
CLI: a counter keeps every one of 1,000 increments exactly once while the node running it is
killed with -9, a paused actor is stepped, edited and resumed from the CLI, the example programs
do what they say, and bad input (names, requests, programs that misbehave) is refused with a
clear answer while the node keeps serving.

Node 0 starts alone; nodes 1-4 each join through node 0's address only.
"""

import json
import os
import tempfile
import time
import unittest
import urllib.parse

from reef_harness import FORM_TIMEOUT, JoinedClusterTest, pid_alive, poll_until

NODES = 5
EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "examples"))
INCREMENTS = 1000
KILL_AFTER = 300
CLIENT = 4242
REQUEST_TIMEOUT = 15     # one HTTP request
# One increment's request in test 1: past it the same request id is retried through the next
# node (shorter than the node's own 8 s group timeout, so a request stuck on the dead leader
# does not hide how soon the survivors answer again).
INCREMENT_TIMEOUT = 3
ACK_TIMEOUT = 120        # one increment acknowledged, retries included
SETTLE_TIMEOUT = 60      # until actors reach an expected state
FAILOVER_BOUND = 60      # generous: it stops a broken test, the time is printed, not asserted


def example(name):
    return os.path.join(EXAMPLES, name)


class ActorsTest(JoinedClusterTest):

    maxDiff = None

    nodes = NODES

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.down = set()  # nodes killed and not (yet) restarted
        cls.scratch = tempfile.mkdtemp(prefix="reef-actors-", dir=cls.cluster.local.root)

    # ---- helpers ----
    def live(self):
        return [node for node in range(NODES) if node not in self.down]

    def api(self, node, method, target, body=None, timeout=REQUEST_TIMEOUT):
        return self.cluster.request(node, method, target, body, timeout=timeout)

    def spawn_api(self, body, node=0):
        return self.api(node, "POST", "/v1/actors/spawn", body)

    def send_api(self, name, message, node=0, request=None, timeout=REQUEST_TIMEOUT):
        body = {"name": name, "body": message}
        if request is not None:
            body["request"] = request
        return self.api(node, "POST", "/v1/actors/send", body, timeout=timeout)

    def steer_api(self, body, node=0):
        return self.api(node, "POST", "/v1/actors/steer", body)

    def inspect(self, name, node=None):
        """The actor's inspection through `node` (or the first live node that answers 200)."""
        target = "/v1/actors/state?name=" + urllib.parse.quote(name, safe="")
        nodes = [node] if node is not None else self.live()
        answer = None
        for each in nodes:
            try:
                answer = self.api(each, "GET", target)
            except OSError as problem:
                answer = problem
                continue
            if answer.status == 200:
                return answer.body
        raise AssertionError(f"inspect {name}: {answer}")

    def inspect_or_none(self, name, node=None):
        try:
            return self.inspect(name, node)
        except AssertionError:
            return None

    def state_of(self, name, node=None):
        return self.inspect(name, node)["state"]

    def reef(self, *args, node=0, check=True):
        return self.cluster.reef(node, *args, check=check)

    def write_file(self, name, text):
        path = os.path.join(self.scratch, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return path

    def node_log(self, node):
        try:
            with open(os.path.join(self.cluster.data_dir(node), "reefd.log"), encoding="utf-8",
                      errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def node_of_short(self, short):
        """The node index whose id starts with `short` (the "node" of an inspection)."""
        found = [node for node, hex_id in self.ids.items() if hex_id.startswith(short)]
        self.assertEqual(len(found), 1, f"node {short!r} among {self.ids}")
        return found[0]

    def error_of(self, answer):
        body = answer.body if isinstance(answer.body, dict) else {}
        return body.get("error", {}).get("message", answer.raw.decode(errors="replace"))

    def assert_refused(self, answer, status, *fragments, what=""):
        self.assertEqual(answer.status, status, f"{what}: {answer}")
        message = self.error_of(answer)
        for fragment in fragments:
            self.assertIn(fragment, message, f"{what}: {answer}")
        return message

    def wait_state(self, name, expected, what=None, timeout=SETTLE_TIMEOUT):
        seen = {}

        def reached():
            seen["inspection"] = self.inspect_or_none(name)
            return seen["inspection"] is not None and seen["inspection"]["state"] == expected

        poll_until(reached, timeout, what or f"{name}'s state is {expected}", interval=0.2,
                   describe=lambda: f"last: {seen.get('inspection')}\n"
                   f"{self.cluster.log_tails(lines=8)}")
        return seen["inspection"]

    def send_until_acked(self, name, message, sequence, first_node, log):
        """Sends `message` with request id CLIENT:sequence through first_node, then every other
        live node in turn until one acknowledges it; returns (node, attempts)."""
        request = {"client": CLIENT, "sequence": sequence}
        deadline = time.monotonic() + ACK_TIMEOUT
        attempt = 0
        while True:
            nodes = self.live()
            start = nodes.index(first_node) if first_node in nodes else 0
            node = nodes[(start + attempt) % len(nodes)]
            attempt += 1
            try:
                answer = self.send_api(name, message, node=node, request=request,
                                       timeout=INCREMENT_TIMEOUT)
                if answer.status == 200 and answer.body.get("ok"):
                    return node, attempt
                problem = repr(answer)
                if answer.status in (400, 404):
                    self.fail(f"increment {sequence} refused by node {node}: {problem}")
            except OSError as error:
                problem = f"{type(error).__name__}: {error}"
            log.append(f"#{sequence} node {node}: {problem[:200]}")
            if time.monotonic() >= deadline:
                self.fail(f"increment {sequence} not acknowledged in {ACK_TIMEOUT} s:\n" +
                          "\n".join(log[-20:]) + "\n" + self.cluster.log_tails(lines=10))
            if attempt % len(nodes) == 0:  # every node tried once: give the group a moment
                time.sleep(0.2)

    def restart(self, node):
        join_through = next(other for other in self.live() if other != node)
        self.cluster.processes[node] = self.cluster.local.spawn_reefd(
            self.cluster.data_dir(node), self.cluster.base_port + node, self.cluster.key_file,
            join=self.cluster.address(join_through))
        poll_until(lambda: self.cluster.status(node), FORM_TIMEOUT, f"node {node} answers again",
                   describe=self.cluster.log_tails)
        self.down.discard(node)

    # ---- tests ----
    def test_1_a_counter_keeps_every_increment_exactly_once_across_a_kill_9(self):
        name = "counter1"
        started = self.reef("run", example("counter.lua"), "--id", name).stdout
        self.assertEqual(started.strip(), name)
        self.assertEqual(self.state_of(name), {"n": 0})

        log = []
        retried = 0
        victim = None
        killed_at = None
        failover = None
        began = time.monotonic()
        for sequence in range(1, INCREMENTS + 1):
            if sequence == KILL_AFTER + 1:
                running = self.inspect(name)
                victim = self.node_of_short(running["node"])
                self.assertEqual(running["state"], {"n": KILL_AFTER}, running)
                process = self.cluster.processes[victim]
                print(f"\n{KILL_AFTER} increments in {time.monotonic() - began:.1f} s; "
                      f"{name} runs on node {victim} ({running['node']}): killing it")
                killed_at = time.monotonic()
                process.kill()  # SIGKILL to the pid started for this test
                process.wait(timeout=30)
                self.assertFalse(pid_alive(process.pid))
            # Like a client that does not know which node died: every node in turn, the dead
            # one too (its socket refuses), the same request id retried on the next.
            _, attempts = self.send_until_acked(name, {"add": 1}, sequence, sequence % NODES,
                                                log)
            retried += attempts - 1
            if killed_at is not None and failover is None:
                failover = time.monotonic() - killed_at
        elapsed = time.monotonic() - began
        self.down.add(victim)
        print(f"{INCREMENTS} increments acknowledged in {elapsed:.1f} s, {retried} retried "
              f"attempts; failover (kill -9 to the next acknowledged increment): "
              f"{failover:.2f} s")
        refused = [line for line in log if "ConnectionRefusedError" in line]
        print(f"  {len(refused)} attempts refused by the dead node's socket; the other failed "
              "attempts:")
        for line in [line for line in log if line not in refused][:10]:
            print("  " + line)
        self.assertLess(failover, FAILOVER_BOUND)

        # Every increment once: a retried request id is answered, not applied again.
        final = self.inspect(name)
        self.assertEqual(final["state"], {"n": INCREMENTS}, final)
        self.assertNotEqual(self.node_of_short(final["node"]), victim, final)
        again = self.send_api(name, {"add": 1}, node=self.live()[0],
                              request={"client": CLIENT, "sequence": INCREMENTS})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(self.state_of(name), {"n": INCREMENTS}, "a repeated id applies once")

        # `reef ps` (from a survivor) shows it on a node other than the killed one.
        listing = self.cluster.reef_json(self.live()[0], "ps")
        process = next((p for p in listing if p["process"] == name), None)
        self.assertIsNotNone(process, listing)
        self.assertEqual(process["info"]["program"], "counter.lua", process)
        root = process["actors"][0]
        self.assertEqual((root["name"], root["status"]), (name, "running"), process)
        self.assertNotEqual(self.node_of_short(root["node"]), victim, process)

        # The killed node comes back on its data dir and answers, also about the actor.
        self.restart(victim)
        self.assertEqual(self.cluster.status(victim)["node_id"], self.ids[victim])
        back = poll_until(lambda: self.inspect_or_none(name, node=victim), SETTLE_TIMEOUT,
                          f"node {victim} answers about {name}",
                          describe=lambda: self.cluster.log_tails(lines=10))
        self.assertEqual(back["state"], {"n": INCREMENTS}, back)
        after = self.send_api(name, {"add": 1}, node=victim,
                              request={"client": CLIENT, "sequence": INCREMENTS + 1})
        self.assertEqual(after.status, 200, after)
        self.assertEqual(self.state_of(name), {"n": INCREMENTS + 1})

    def test_2_pause_step_edit_and_resume_from_the_cli(self):
        name = "stepper"
        self.assertEqual(self.reef("spawn", name, example("counter.lua"), "--args",
                                   '{"start": 10}').stdout, f"{name}\n")
        self.assertEqual(json.loads(self.reef("state", name, node=1).stdout), {"n": 10})
        self.assertEqual(self.reef("pause", name, node=2).stdout, f"{name} paused\n")
        for add in (1, 2, 3):
            done = self.reef("send", name, json.dumps({"add": add}), node=add)
            self.assertEqual(done.stdout, "queued (the actor is paused)\n", done)
        self.assertEqual(self.state_of(name), {"n": 10}, "nothing is delivered while paused")

        mailbox = self.cluster.reef_json(4, "mailbox", name)
        self.assertEqual([m["body"] for m in mailbox], [{"add": 1}, {"add": 2}, {"add": 3}],
                         mailbox)
        text = self.reef("mailbox", name, node=3).stdout
        self.assertIn(f"{name} (paused): 3 pending", text)
        self.assertIn('{"add":2}', text)

        edited = self.write_file("stepper-state.json", '{"n": 100}\n')
        self.assertEqual(self.reef("state", name, "--set", edited).stdout, "state replaced\n")
        inspection = self.inspect(name)
        self.assertEqual(inspection["state"], {"n": 100}, inspection)
        self.assertTrue(inspection["paused"], inspection)
        self.assertEqual(len(inspection["mailbox"]), 3, inspection)

        self.assertEqual(self.reef("step", name, node=1).stdout, "delivered one message\n")
        inspection = self.inspect(name)
        self.assertEqual(inspection["state"], {"n": 101}, "step delivers the first message only")
        self.assertEqual([m["body"] for m in inspection["mailbox"]], [{"add": 2}, {"add": 3}])
        self.assertTrue(inspection["paused"], inspection)

        self.assertEqual(self.reef("resume", name, node=2).stdout, f"{name} resumed\n")
        poll_until(lambda: not self.inspect(name)["mailbox"], SETTLE_TIMEOUT,
                   f"{name}'s mailbox is empty", describe=lambda: str(self.inspect(name)))
        inspection = self.inspect(name)
        self.assertEqual(inspection["state"], {"n": 106}, inspection)
        self.assertFalse(inspection["paused"], inspection)
        self.assertEqual(self.reef("send", name, '{"add": 4}').stdout, "ok\n")
        self.assertEqual(self.state_of(name), {"n": 110})

        refused = self.reef("state", name, "--set", edited, check=False)
        self.assertNotEqual(refused.returncode, 0, refused)
        self.assertIn(f"pause {name} before replacing its state", refused.stderr)
        self.assertEqual(refused.stdout, "")
        self.assertEqual(self.state_of(name), {"n": 110}, "a refused edit changes nothing")
        not_paused = self.reef("step", name, check=False)
        self.assertNotEqual(not_paused.returncode, 0, not_paused)
        self.assertIn(f"{name} is not paused", not_paused.stderr)

    def test_3_the_examples_do_what_they_say(self):
        # hello.lua: the start event keeps the greeting; a message counts a greeting.
        self.assertEqual(self.reef("run", example("hello.lua"), "reef", "--id", "hello1")
                         .stdout, "hello1\n")
        self.assertEqual(self.state_of("hello1"), {"greeted": "reef"})
        poll_until(lambda: any("hello, reef from hello1" in self.node_log(node)
                               for node in range(NODES)), SETTLE_TIMEOUT,
                   "a node logs hello1's greeting")
        self.assertEqual(self.send_api("hello1", {"name": "again"}).status, 200)
        self.assertEqual(self.state_of("hello1"), {"greeted": "reef", "greetings": 1})

        # ping_pong.lua 10: ten round trips between two children.
        self.reef("run", example("ping_pong.lua"), "10", "--id", "pingpong", node=1)
        root = self.inspect("pingpong")
        self.assertEqual(root["state"], {"pong": "pingpong/pong-1", "ping": "pingpong/ping-2"})
        self.assertEqual(root["children"], ["pingpong/pong-1", "pingpong/ping-2"], root)
        self.wait_state("pingpong/ping-2",
                        {"peer": "pingpong/pong-1", "rounds": 10, "returned": 10})
        self.wait_state("pingpong/pong-1", {"hits": 10})

        # pipeline.lua 1 2 3 4: square -> add_one -> sink.
        self.reef("run", example("pipeline.lua"), "1", "2", "3", "4", "--id", "pipe", node=2)
        root = self.inspect("pipe")
        self.assertEqual(root["state"], {"sink": "pipe/sink-1", "input": "pipe/square-3"})
        self.assertEqual(root["children"], ["pipe/sink-1", "pipe/add_one-2", "pipe/square-3"])
        self.wait_state("pipe/sink-1", {"results": {"1": 2, "2": 5, "3": 10, "4": 17},
                                        "count": 4})

        # worker_pool.lua 3: a failing job restarts its worker, one for one.
        self.reef("run", example("worker_pool.lua"), "3", "--id", "pool", node=3)
        workers = [f"pool/worker-{i}" for i in (1, 2, 3)]
        self.assertEqual(self.inspect("pool")["children"], workers)
        for job in (1, 2, 3):
            self.assertEqual(self.send_api("pool", {"job": job}, node=job).status, 200)
        for i, worker in enumerate(workers, start=1):
            self.wait_state(worker, {"id": i, "done": 1})
        failed = self.send_api("pool/worker-2", {"job": 99, "fail": True}, node=4)
        self.assert_refused(failed, 409, "job 99 failed on purpose", what="a failing job")
        # Through the supervisor: job 4 goes to worker 1, whose handler fails too.
        self.assertEqual(self.send_api("pool", {"job": 4, "fail": True}).status, 200)
        for i in (1, 2):
            restarted = self.wait_state(workers[i - 1], {"id": i, "done": 0},
                                        f"{workers[i - 1]} is restarted to its init state")
            self.assertEqual(restarted["status"], "running", restarted)
            self.assertGreaterEqual(restarted["failures"], 1, restarted)
        self.assertEqual(self.state_of(workers[2]), {"id": 3, "done": 1}, "one for one")
        supervisor = self.inspect("pool")
        self.assertEqual(supervisor["status"], "running", supervisor)
        self.assertEqual(supervisor["state"]["submitted"], 4, supervisor)

        # chat.lua: members get every line; a non-member is refused.
        self.reef("run", example("chat.lua"), "--id", "room", node=4)
        for user in ("alice", "bob"):
            self.assertEqual(self.send_api("room", {"join": user}).status, 200)
        room = self.inspect("room")
        self.assertEqual(room["state"]["members"],
                         {"alice": "room/inbox-1", "bob": "room/inbox-2"}, room)
        self.assertEqual(self.send_api("room", {"from": "alice", "say": "hi"}, node=2).status,
                         200)
        self.wait_state("room/inbox-2", {"user": "bob", "lines": ["alice: hi"]})
        self.wait_state("room/inbox-1", {"user": "alice", "lines": ["alice: hi"]})
        self.assert_refused(self.send_api("room", {"from": "mallory", "say": "let me in"}), 409,
                            "mallory has not joined", what="a non-member speaks")
        self.assertEqual(len(self.inspect("room")["state"]["history"]), 1)

        # `reef ps` lists every process with its actors.
        listing = {p["process"]: p for p in self.cluster.reef_json(2, "ps")}
        expected = {
            "hello1": ("hello.lua", ["hello1"]),
            "pingpong": ("ping_pong.lua", ["pingpong", "pingpong/pong-1", "pingpong/ping-2"]),
            "pipe": ("pipeline.lua", ["pipe", "pipe/sink-1", "pipe/add_one-2", "pipe/square-3"]),
            "pool": ("worker_pool.lua", ["pool"] + workers),
            "room": ("chat.lua", ["room", "room/inbox-1", "room/inbox-2"]),
        }
        for process, (program, actors) in expected.items():
            self.assertIn(process, listing, listing.keys())
            entry = listing[process]
            self.assertEqual(entry["info"]["program"], program, entry)
            self.assertEqual(entry["info"]["status"], "running", entry)
            self.assertEqual([row["name"] for row in entry["actors"]], actors, entry)
            self.assertEqual([row["depth"] for row in entry["actors"]],
                             [0] + [1] * (len(actors) - 1), entry)
            for row in entry["actors"]:
                self.assertNotIn("error", row, entry)
                self.assertEqual(row["status"], "running", entry)
                self.node_of_short(row["node"])
        text = self.reef("ps", node=3).stdout
        self.assertIn("room  chat.lua", text)
        self.assertIn("room/inbox-2", text)

        # `reef kill` stops a process tree.
        self.assertEqual(self.reef("kill", "room", node=1).stdout, "room stopped\n")
        tree = ["room", "room/inbox-1", "room/inbox-2"]
        seen = {}

        def all_stopped():
            for actor in tree:
                seen[actor] = (self.inspect_or_none(actor) or {}).get("status")
            return all(status == "stopped" for status in seen.values())

        poll_until(all_stopped, SETTLE_TIMEOUT, "room and its inboxes are stopped",
                   describe=lambda: str(seen))
        for actor in tree:
            self.assert_refused(self.send_api(actor, {"from": "alice", "say": "anyone?"}), 409,
                                "is stopped", what=f"a message to the stopped {actor}")
        entry = {p["process"]: p for p in self.cluster.reef_json(0, "ps")}["room"]
        self.assertEqual(entry["info"]["status"], "killed", entry)
        self.assertEqual([row["status"] for row in entry["actors"]], ["stopped"] * 3, entry)
        self.assertEqual(self.send_api("hello1", {}).status, 200, "other processes run on")

    def test_4_bad_input_is_refused_clearly_and_the_node_keeps_serving(self):
        node = 3
        self.reef("spawn", "target", example("counter.lua"), node=node)
        program = "function init() return {} end\nfunction handle(s) return s end\n"

        # Names.
        for bad, fragment in (("", "an actor name must be 1..128 bytes"),
                              ("/x", "must not start with / or ."),
                              (".x", "must not start with / or ."),
                              ("a b", "may hold only letters, digits and . _ - /"),
                              ("x" * 200, "an actor name must be 1..128 bytes")):
            self.assert_refused(self.spawn_api({"name": bad, "program": program}, node), 400,
                                fragment, what=f"spawn {bad[:20]!r}")
            self.assert_refused(self.send_api(bad, {"add": 1}, node), 400, fragment,
                                what=f"send to {bad[:20]!r}")
            answer = self.api(node, "GET", "/v1/actors/state?name=" +
                              urllib.parse.quote(bad, safe=""))
            self.assert_refused(answer, 400, what=f"state of {bad[:20]!r}")
        refused = self.reef("spawn", "a b", example("counter.lua"), node=node, check=False)
        self.assertEqual(refused.returncode, 1, refused)
        self.assertIn("(HTTP 400): invalid argument: name: an actor name may hold only letters",
                      refused.stderr)

        # Requests.
        bodies = (
            ("spawn", {"name": "noprog"}, 'missing field "program"'),
            ("spawn", {"name": "big", "program": "-- " + "x" * 8192},
             "program must be 1..8192 bytes of Lua source, got 8195"),
            ("spawn", {"name": "empty", "program": ""}, "program must be 1..8192 bytes"),
            ("spawn", {"name": "x", "program": program, "colour": "red"},
             'unknown field "colour"'),
            ("spawn", {"name": "x", "program": program, "args": {"a": "x" * 3000}},
             "args is 3008 bytes as JSON (at most 2048)"),
            ("send", {"name": "target"}, 'missing field "body"'),
            ("send", {"name": "target", "body": {}, "priority": 1}, 'unknown field "priority"'),
            ("send", {"name": "target", "body": {"pad": "x" * 3000}},
             "body is 3010 bytes as JSON (at most 2048)"),
            ("send", {"name": "target", "body": {}, "request": {"client": 0, "sequence": 1}},
             'field "request.client" must be an integer in 1..2^64-1'),
            ("send", {"name": "target", "body": {}, "request": "4242:1"},
             'field "request" must be an object'),
            ("steer", {"name": "target", "action": "explode"},
             'action must be pause, resume, step, set_state or stop, got "explode"'),
            ("steer", {"name": "target"}, 'missing field "action"'),
            ("steer", {"name": "target", "action": "set_state"},
             'set_state needs field "state"'),
            ("steer", {"name": "target", "action": "pause", "state": {}},
             'field "state" goes only with action set_state'),
            ("steer", {"name": "target", "action": "pause", "force": True},
             'unknown field "force"'),
        )
        for route, body, fragment in bodies:
            answer = self.api(node, "POST", f"/v1/actors/{route}", body)
            self.assert_refused(answer, 400, fragment, what=f"{route} {str(body)[:80]}")
        self.assert_refused(self.api(node, "GET", "/v1/actors/state"), 400, 'missing query parameter "name"', what="state, no name")
        self.assert_refused(self.api(node, "POST", "/v1/actors/send", ["not", "an", "object"]),
                            400, what="a body that is not an object")
        missing = self.send_api("nobody-here", {"add": 1}, node)
        self.assert_refused(missing, 404, 'no such actor', what="send to a missing actor")
        missing = self.api(node, "GET", "/v1/actors/state?name=nobody-here")
        self.assert_refused(missing, 404, "no such actor", what="state of a missing actor")
        missing = self.steer_api({"name": "nobody-here", "action": "pause"}, node)
        self.assert_refused(missing, 404, "no such actor", what="pause a missing actor")
        again = self.spawn_api({"name": "target", "program": program}, node)
        self.assert_refused(again, 409, "actor target already exists", what="spawn twice")

        # The CLI: invalid JSON is a usage error (exit 2) that sends nothing.
        for args, fragment in ((("send", "target", "{add: 1}"),
                                "the message is not valid JSON"),
                               (("spawn", "t2", example("counter.lua"), "--args", "{"),
                                "--args is not valid JSON")):
            done = self.reef(*args, node=node, check=False)
            self.assertEqual(done.returncode, 2, done)
            self.assertIn(fragment, done.stderr)
        bad_state = self.write_file("bad-state.json", "{oops")
        done = self.reef("state", "target", "--set", bad_state, node=node, check=False)
        self.assertEqual(done.returncode, 2, done)
        self.assertIn("is not valid JSON", done.stderr)
        self.assertIsNone(self.inspect_or_none("t2"), "a refused spawn creates nothing")
        self.assertEqual(self.state_of("target"), {"n": 0}, "refused requests change nothing")

        # Programs that try to escape or exhaust the sandbox fail their message, not the actor.
        mischief = self.write_file("mischief.lua", r'''
function init() return { n = 0 } end
function handle(state, msg)
  if msg.try == "execute" then os.execute("touch /tmp/reef-actor-escaped")
  elseif msg.try == "open" then io.open("/etc/passwd")
  elseif msg.try == "bytecode" then
    local chunk, why = load("\27Lua\84\0")
    if chunk == nil then error(why, 0) end
    chunk()
  elseif msg.try == "loop" then while true do end
  elseif msg.try == "bomb" then
    local s = string.rep("x", 1 << 20)
    local t = {}
    for i = 1, 1000 do t[i] = s .. i end
  elseif msg.try == "rep" then local s = string.rep("x", 1 << 30) state.len = #s
  end
  state.n = state.n + 1
  return state
end
''')
        self.reef("spawn", "mischief", mischief, node=node)
        handled = 0
        for attempt, fragments in (
                ("execute", ("mischief:4: attempt to index a nil value (global 'os')",)),
                ("open", ("mischief:5: attempt to index a nil value (global 'io')",)),
                ("bytecode", ("bytecode",)),
                ("loop", ("budget",)),
                ("bomb", ("memory",)),
                ("rep", ("memory",))):
            began = time.monotonic()
            answer = self.send_api("mischief", {"try": attempt}, node)
            message = self.assert_refused(answer, 409, *fragments, what=f"try {attempt}")
            print(f"\n  try {attempt}: {time.monotonic() - began:.2f} s: "
                  f"{message.splitlines()[0]}", end="")
            fine = self.send_api("mischief", {"try": "nothing"}, node)
            self.assertEqual(fine.status, 200, f"after {attempt}: {fine}")
            handled += 1
            inspection = self.inspect("mischief")
            self.assertEqual(inspection["state"], {"n": handled}, inspection)
            self.assertEqual(inspection["status"], "running", inspection)
        print()
        self.assertFalse(os.path.exists("/tmp/reef-actor-escaped"))
        self.assertEqual(self.inspect("mischief")["failures"], 6)

        # A program that does not compile fails its spawn with the compiler's message.
        broken = self.spawn_api({"name": "broken", "program": "function init( return {} end"},
                                node)
        self.assert_refused(broken, 409, "init failed", "expected", what="a syntax error")
        self.assertIn("broken:1: <name> or '...' expected near 'return'", self.error_of(broken))
        # The failed actor stays inspectable, with the compiler's message as its last error.
        failed = self.inspect("broken")
        self.assertEqual(failed["status"], "failed", failed)
        self.assertIn("<name> or '...' expected near 'return'", failed["last_error"], failed)
        bytecode = self.spawn_api({"name": "bytes", "program": "\x1bLua\x54\x00"}, node)
        self.assert_refused(bytecode, 409, "bytes: init failed: bytecode is refused",
                            what="a bytecode program")
        # A program without handle spawns (init is enough) and refuses its messages clearly.
        self.assertEqual(self.spawn_api({"name": "no-handle",
                                         "program": "function init() return {} end"},
                                        node).status, 200)
        self.assert_refused(self.send_api("no-handle", {}, node), 409,
                            "the program defines no handle(state, msg, ctx)",
                            what="a program without handle")

        # The node serves on.
        self.assertEqual(self.reef("send", "target", '{"add": 2}', node=node).stdout, "ok\n")
        self.assertEqual(self.state_of("target"), {"n": 2})
        self.assertIsNotNone(self.cluster.status(node))


if __name__ == "__main__":
    unittest.main()
