"""Replicated kv registers on a real 5-node cluster on loopback, through the `reef` CLI: a counter
incremented from every node reads the same everywhere, put / get / cas behave, a member of the
counter's replica group killed with -9 and restarted on its data dir loses no acknowledged
increment, and bad requests are refused with a 400 while the node keeps serving.

Node 0 starts alone; nodes 1-4 each join through node 0's address only.
"""

import hashlib
import time
import unittest

from reef_harness import FORM_TIMEOUT, JoinedClusterTest, pid_alive, poll_until

NODES = 5
GROUP_SIZE = 3           # node::config::replica_group_size
# One `reef kv` command: the node ends every request within 8 s.
TIMEOUT_ARGS = ("--timeout", "30")
SETTLE_TIMEOUT = 60      # until every node reads the final value
ATTEMPTS_MAX = 6         # per increment while a member is down


def kv_group_of(key):
    """node::kv_group_of: BLAKE2b-256("reef.kv" 0x00 key), as an integer."""
    digest = hashlib.blake2b(b"reef.kv\x00" + key.encode(), digest_size=32).digest()
    return int.from_bytes(digest, "big")


class KvTest(JoinedClusterTest):

    maxDiff = None

    nodes = NODES

    # ---- helpers ----
    def kv(self, node, *args, check=True):
        return self.cluster.reef(node, *TIMEOUT_ARGS, "kv", *args, check=check)

    def value(self, node, key):
        return self.kv(node, "get", key).stdout.strip()

    def members_of(self, key):
        """The nodes of `key`'s replica group: the GROUP_SIZE nodes closest to its group id."""
        target = kv_group_of(key)
        return sorted(self.ids, key=lambda node: int(self.ids[node], 16) ^ target)[:GROUP_SIZE]

    def wait_value_everywhere(self, key, expected, nodes):
        seen = {}

        def settled():
            for node in nodes:
                done = self.kv(node, "get", key, check=False)
                seen[node] = (done.returncode, done.stdout.strip(), done.stderr.strip())
            return all(seen[node][:2] == (0, expected) for node in nodes)

        poll_until(settled, SETTLE_TIMEOUT, f"every node reads {key} = {expected}", interval=0.5,
                   describe=lambda: f"{seen}\n{self.cluster.log_tails(lines=8)}")

    # ---- tests ----
    def test_1_a_counter_incremented_from_every_node_reads_the_same_everywhere(self):
        values = []
        for count in range(20):
            done = self.kv(count % NODES, "incr", "counter")
            values.append(int(done.stdout.strip()))
        self.assertEqual(values, list(range(1, 21)), "each increment answers the new value")
        for node in range(NODES):
            self.assertEqual(self.value(node, "counter"), "20", f"node {node}")
        status = self.cluster.status(2)
        self.assertIn("replica", status)
        self.assertGreaterEqual(status["replica"]["requests_answered"], 4, status["replica"])
        # A member's view of the group: 3 members, one of them leading, which says so itself.
        member = self.members_of("counter")[0]
        group = self.cluster.reef_json(member, "kv", "group", "counter")
        self.assertEqual(group["group"], f"{kv_group_of('counter'):064x}")
        self.assertTrue(group["hosted"], group)
        self.assertEqual(len(group["members"]), GROUP_SIZE, group)
        self.assertEqual(group["members"], sorted(group["members"]), group)
        self.assertIn(group["leader"], group["members"], group)
        by_hex = {hex_id: node for node, hex_id in self.ids.items()}
        self.assertTrue(set(group["members"]) <= set(by_hex), group)
        leader = self.cluster.reef_json(by_hex[group["leader"]], "kv", "group", "counter")
        self.assertEqual(leader["role"], "leader", leader)
        self.assertEqual(leader["members"], group["members"], leader)
        text = self.cluster.reef(member, "kv", "group", "counter").stdout
        self.assertIn(f"{group['leader'][:12]}  leader", text)

    def test_2_put_get_and_cas_through_the_cli(self):
        self.assertEqual(self.value(1, "greeting"), "(absent)")
        self.assertEqual(self.kv(2, "put", "greeting", "hello").stdout, "hello\n")
        self.assertEqual(self.value(3, "greeting"), "hello")
        self.assertEqual(self.kv(4, "cas", "greeting", "hello", "bonjour").stdout, "bonjour\n")
        wrong = self.kv(0, "cas", "greeting", "hello", "hi", check=False)
        self.assertEqual(wrong.returncode, 1, wrong)
        self.assertEqual(wrong.stdout, "")
        self.assertIn('cas failed: the value is "bonjour"', wrong.stderr)
        self.assertEqual(self.value(1, "greeting"), "bonjour", "a failed cas changes nothing")
        self.assertEqual(self.kv(1, "cas", "lock", "me", "--absent").stdout, "me\n")
        taken = self.kv(2, "cas", "lock", "you", "--absent", check=False)
        self.assertEqual(taken.returncode, 1, taken)
        self.assertIn('cas failed: the value is "me"', taken.stderr)
        answer = self.cluster.reef_json(3, *TIMEOUT_ARGS, "kv", "incr", "by-ten", "--by", "10")
        self.assertEqual(answer, {"key": "by-ten", "op": "incr", "ok": True, "value": "10"})
        not_number = self.kv(3, "incr", "greeting", check=False)
        self.assertEqual(not_number.returncode, 1, not_number)
        self.assertIn("not a number", not_number.stderr)

    def test_2b_a_retry_with_the_same_request_id_applies_once(self):
        key = "retried"
        self.assertEqual(self.kv(0, "incr", key, "--request-id", "77:1").stdout, "1\n")
        # The same id again, through another node: answered, not applied twice.
        self.assertEqual(self.kv(3, "incr", key, "--request-id", "77:1").stdout, "1\n")
        self.assertEqual(self.kv(2, "incr", key, "--request-id", "77:2").stdout, "2\n")
        self.assertEqual(self.value(4, key), "2")
        for bad in ("77", "0:1", "77:0", "x:1", "77:-1", "1:18446744073709551616"):
            refused = self.kv(1, "incr", key, "--request-id", bad, check=False)
            self.assertEqual(refused.returncode, 2, f"{bad}: {refused}")
            self.assertIn("--request-id must be CLIENT:SEQUENCE", refused.stderr, bad)
        self.assertEqual(self.value(4, key), "2", "refused requests change nothing")

    def test_3_a_killed_group_member_loses_no_acknowledged_increment(self):
        key = "crash-counter"
        members = self.members_of(key)
        victim = next(node for node in members if node != 0)
        others = [node for node in range(NODES) if node != victim]
        print(f"\n{key}: group members {members}, killing node {victim}")
        acknowledged = 0
        for count in range(5):
            self.kv(others[count % len(others)], "incr", key)
            acknowledged += 1
        process = self.cluster.processes[victim]
        process.kill()  # SIGKILL to the pid started for this test
        process.wait(timeout=30)
        self.assertFalse(pid_alive(process.pid))

        failures = 0
        started = time.monotonic()
        for count in range(10):
            node = others[count % len(others)]
            for _ in range(ATTEMPTS_MAX):
                done = self.kv(node, "incr", key, check=False)
                if done.returncode == 0:
                    acknowledged += 1
                    break
                failures += 1
                node = others[(others.index(node) + 1) % len(others)]
            else:
                self.fail(f"no increment of {key} succeeded in {ATTEMPTS_MAX} attempts: "
                          f"{done.stderr}\n{self.cluster.log_tails(lines=10)}")
        print(f"10 increments with node {victim} down in {time.monotonic() - started:.1f} s, "
              f"{failures} attempts failed")

        self.cluster.processes[victim] = self.cluster.local.spawn_reefd(
            self.cluster.data_dir(victim), self.cluster.base_port + victim,
            self.cluster.key_file, join=self.cluster.address(0))
        poll_until(lambda: self.cluster.status(victim), FORM_TIMEOUT,
                   f"node {victim} answers again", describe=self.cluster.log_tails)
        self.kv(victim, "incr", key)
        acknowledged += 1
        final = int(poll_until(lambda: self.value(0, key) if self.value(0, key) else None,
                               SETTLE_TIMEOUT, f"{key} is readable"))
        # A failed attempt's outcome is unknown to the client (it may have applied before its
        # answer was lost): every acknowledged increment is there, and nothing else but those.
        self.assertGreaterEqual(final, acknowledged)
        self.assertLessEqual(final, acknowledged + failures)
        if failures == 0:
            self.assertEqual(final, acknowledged)
        self.wait_value_everywhere(key, str(final), range(NODES))

    def test_4_bad_requests_are_refused_and_the_node_keeps_serving(self):
        node = 4
        for body, fragment in (
                ({"op": "get", "key": ""}, "key must be 1..256 bytes, got 0"),
                ({"op": "put", "key": "k", "value": "v" * 1025},
                 "value is 1025 bytes (at most 1024)"),
                ({"op": "delete", "key": "k"}, 'field "op" must be'),
                ({"op": "cas", "key": "k", "value": "v"}, 'missing field "expected"'),
                ({"op": "incr", "key": "k", "delta": "x"}, 'field "delta" must be an integer'),
                ({"key": "k"}, 'missing field "op"')):
            answer = self.cluster.request(node, "POST", "/v1/kv", body)
            self.assertEqual(answer.status, 400, f"{body}: {answer}")
            self.assertIn(fragment, answer.body["error"]["message"], body)
        for target, fragment in (("/v1/kv/group", 'missing query parameter "key"'),
                                 ("/v1/kv/group?key=a%zz", "bad escape"),
                                 ("/v1/kv/group?key=a+b", "ambiguous")):
            answer = self.cluster.request(node, "GET", target)
            self.assertEqual(answer.status, 400, f"{target}: {answer}")
            self.assertIn(fragment, answer.body["error"]["message"], target)
        empty = self.kv(node, "get", "", check=False)
        self.assertEqual(empty.returncode, 2, empty)
        self.assertIn("KEY must not be empty", empty.stderr)
        self.assertEqual(self.kv(node, "put", "after-bad-input", "fine").stdout, "fine\n")
        self.assertEqual(self.value(0, "after-bad-input"), "fine")


if __name__ == "__main__":
    unittest.main()
