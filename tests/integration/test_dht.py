"""The DHT on a real 16-node cluster on loopback: records put on one node are read on every
other, a node that joined through one address finds every other node by id, a newer record wins,
and bad input is refused without disturbing the node.

Node 0 starts alone; nodes 1-15 each join through node 0's address only. The cluster is started
once for the class (it is the slow part) and every test uses names of its own.
"""

import json
import random
import time
import unittest

from reef_harness import FORM_TIMEOUT, JoinedClusterTest, poll_until

NODES = 16
PUBLISHER = 3      # the node that puts the record
FINDER = 15        # the node that looks every other node up by id
# One answer of a node; DHT operations finish or time out within seconds on loopback.
TIMEOUT_ARGS = ("--timeout", "30")
FIND_TIMEOUT = 30  # until every node's address record is in the DHT


def xor_distance(a_hex, b_hex):
    return int(a_hex, 16) ^ int(b_hex, 16)


class DhtTest(JoinedClusterTest):

    maxDiff = None

    nodes = NODES

    # ---- helpers ----
    def reef(self, node, *args, check=True):
        return self.cluster.reef(node, *TIMEOUT_ARGS, *args, check=check)

    def reef_json(self, node, *args):
        return self.cluster.reef_json(node, *TIMEOUT_ARGS, *args)

    def put(self, node, name, value, *options):
        answer = self.reef_json(node, "dht", "put", name, value, *options)
        publisher = self.ids[node]
        self.assertEqual(answer["publisher"], publisher)
        self.assertEqual(answer["name"], name)
        self.assertEqual(answer["reference"], f"{publisher}/{name}")
        self.assertRegex(answer["key"], "^[0-9a-f]{64}$")
        self.assertIsInstance(answer["sequence"], int)
        self.assertGreater(answer["expiry_unix_seconds"], time.time())
        self.assertTrue(answer["stored_on"], f"the record is stored somewhere: {answer}")
        self.assertTrue(set(answer["stored_on"]) <= set(self.ids.values()),
                        f"stored only on members: {answer['stored_on']}")
        return answer

    def assert_read_everywhere(self, put, value):
        """Every node but the publisher reads `put`'s record by PUBLISHER/NAME: the value, the
        publisher and the sequence of that put. A node that is not among the nodes it was stored
        on must have it from the network."""
        holders = set(put["stored_on"])
        answers = {}
        for node in range(NODES):
            if node == PUBLISHER:
                continue
            got = self.reef_json(node, "dht", "get", put["reference"])
            answers[node] = got
            where = f"node {node} reading {put['reference']}: {got}"
            self.assertEqual(got["value"], value, where)
            self.assertEqual(got["publisher"], put["publisher"], where)
            self.assertEqual(got["name"], put["name"], where)
            self.assertEqual(got["key"], put["key"], where)
            self.assertEqual(got["sequence"], put["sequence"], where)
            self.assertIn(got["source"], ("network", "local"), where)
            if self.ids[node] not in holders:
                self.assertEqual(got["source"], "network", where)
            if got["source"] == "network":
                self.assertGreaterEqual(got["holders"], 1, where)
        return answers

    # ---- tests ----
    def test_members_and_routing_tables(self):
        for node, view in self.views.items():
            self.assertEqual({m["node_id"] for m in view["members"]}, set(self.ids.values()),
                             f"node {node} knows exactly the {NODES} nodes")
            self.assertIn("routing", view, f"node {node}: /v1/peers has no routing section")
            for contact in view.get("contacts", []):
                self.assertIn(contact["node_id"], self.ids.values(), f"node {node}: {contact}")
                self.assertNotEqual(contact["node_id"], self.ids[node],
                                    f"node {node} holds itself as a contact")
        status = self.cluster.status(FINDER)
        self.assertIn("dht", status, "/v1/status has a dht section")
        self.assertEqual(status["cluster_size"], NODES)

    def test_a_record_put_on_node_3_is_read_everywhere_and_a_newer_one_wins(self):
        name = "greeting"
        first = self.put(PUBLISHER, name, "hello-reef")
        answers = self.assert_read_everywhere(first, "hello-reef")
        sources = sorted(a["source"] for a in answers.values())
        print(f"\n'{name}' read on {len(answers)} nodes: stored on {len(first['stored_on'])} "
              f"nodes, sources {dict((s, sources.count(s)) for s in set(sources))}")

        # The same record by its key, by a bare name on its publisher, and in plain text.
        by_key = self.reef_json(7, "dht", "get", first["key"])
        self.assertEqual((by_key["value"], by_key["sequence"]), ("hello-reef", first["sequence"]))
        own = self.reef_json(PUBLISHER, "dht", "get", name)
        self.assertEqual((own["value"], own["publisher"]), ("hello-reef", self.ids[PUBLISHER]))
        plain = self.reef(12, "dht", "get", first["reference"])
        self.assertEqual(plain.stdout.strip(), "hello-reef")

        # A newer record under the same name: every node reads it, with its higher sequence.
        second = self.put(PUBLISHER, name, "hello-again")
        self.assertEqual(second["key"], first["key"], "the key depends on publisher and name")
        self.assertGreater(second["sequence"], first["sequence"])
        self.assert_read_everywhere(second, "hello-again")

    def test_answers_from_the_network_report_their_rounds(self):
        # A lookup's rounds are "the longest chain of queries used: 1 when the initial contacts
        # already knew the answer", so an answer that came from other nodes took at least one.
        put = self.cluster.request(8, "POST", "/v1/dht/put", {"name": "rounds", "value": "r"})
        self.assertEqual(put.status, 200, put)
        self.assertGreaterEqual(put.body["rounds"], 1, put)
        got = self.cluster.request(11, "POST", "/v1/dht/get", {"key": put.body["key"]})
        self.assertEqual((got.status, got.body["source"]), (200, "network"), got)
        found = self.cluster.request(11, "POST", "/v1/dht/find", {"node_id": self.ids[8]})
        self.assertEqual(found.status, 200, found)
        closest = self.cluster.request(11, "POST", "/v1/dht/closest", {"target": put.body["key"]})
        self.assertEqual(closest.status, 200, closest)
        self.assertGreaterEqual(closest.body["rounds"], 1, closest)
        self.assertEqual([got.body["rounds"] >= 1, found.body["rounds"] >= 1], [True, True],
                         f"rounds of a get and a find answered by the network: get {got.body}, "
                         f"find {found.body}")

    def test_node_15_finds_every_other_node_by_id(self):
        # A node announces its address record once its routing table got its first contacts,
        # so right after the cluster formed a record may still be on its way: "not found" is
        # retried for a while, anything else is an answer.
        def find(node):
            done = self.reef(FINDER, "dht", "find", self.ids[node], "--json", check=False)
            if done.returncode == 1 and "not found" in done.stderr:
                return None
            self.assertEqual(done.returncode, 0, f"find node {node}: {done.stderr}")
            return json.loads(done.stdout)

        wrong = []
        for node in range(NODES):
            if node == FINDER:
                continue
            found = poll_until(lambda node=node: find(node), FIND_TIMEOUT,
                               f"node {FINDER} finds node {node}'s address record",
                               describe=self.cluster.log_tails)
            self.assertEqual(found["node_id"], self.ids[node])
            if self.cluster.address(node) not in found["addresses"]:
                wrong.append(f"node {node} ({self.cluster.address(node)}): {found}")
        self.assertEqual(wrong, [], "node 15 finds each node's listen address")
        plain = self.reef(FINDER, "dht", "find", self.ids[5])
        self.assertIn(self.cluster.address(5), plain.stdout.split())

    def test_closest_returns_the_nodes_nearest_to_a_key(self):
        target = f"{random.getrandbits(256):064x}"
        answer = self.reef_json(9, "dht", "closest", target)
        self.assertEqual(answer["target"], target)
        got = [n["node_id"] for n in answer["nodes"]]
        self.assertTrue(got, answer)
        self.assertEqual(len(set(got)), len(got), f"no node twice: {answer}")
        by_id = {node_id: node for node, node_id in self.ids.items()}
        for entry in answer["nodes"]:
            self.assertIn(entry["node_id"], by_id, entry)
            self.assertEqual(entry["address"], self.cluster.address(by_id[entry["node_id"]]))
        self.assertEqual(got, sorted(got, key=lambda n: xor_distance(n, target)),
                         "closest first")
        # The true nearest nodes, with or without the asking node itself.
        everyone = sorted(self.ids.values(), key=lambda n: xor_distance(n, target))
        others = [n for n in everyone if n != self.ids[9]]
        self.assertIn(got, (everyone[:len(got)], others[:len(got)]),
                      "exactly the nearest nodes")

    def test_bad_keys_are_refused_and_the_node_keeps_serving(self):
        node = 6
        for key in ("zz/x", "f" * 63, f"{'a' * 63}/name", f"{self.ids[2]}/"):
            done = self.reef(node, "dht", "get", key, check=False)
            where = f"get {key!r}: exit {done.returncode} {done.stdout!r} {done.stderr!r}"
            self.assertNotEqual(done.returncode, 0, where)
            self.assertEqual(done.stdout, "", f"{where}: nothing on stdout")
            self.assertTrue(done.stderr.startswith("reef: "), where)
            self.assertNotIn("not found", done.stderr, f"{where}: says what is wrong")
            self.assertRegex(done.stderr, "(?i)key|hex|publisher|name", where)
            self.assertNotIn("terminate called", done.stderr)
        for args in (("find", "xyz"), ("find", "a" * 63), ("put", "", "v"),
                     ("put", "n", "v", "--ttl", "abc"), ("put", "reef.reserved", "v"),
                     ("put", "n", "v" * 5000), ("closest", "zz")):
            done = self.reef(node, "dht", *args, check=False)
            self.assertNotEqual(done.returncode, 0, f"dht {args}: {done.stdout!r}")
            self.assertTrue(done.stderr.startswith("reef: "), f"dht {args}: {done.stderr!r}")

        # The same straight to the control API: 400 with an error body, never a crash.
        bodies = [{"key": "zz"}, {"key": "f" * 63}, {"publisher": "zz", "name": "x"},
                  {"publisher": self.ids[2]}, {}, {"name": 5}]
        for body in bodies:
            answer = self.cluster.request(node, "POST", "/v1/dht/get", body)
            self.assertEqual(answer.status, 400, f"{body}: {answer}")
            self.assertIn("error", answer.body or {}, f"{body}: {answer}")
        answer = self.cluster.request(node, "POST", "/v1/dht/find", {"node_id": "1234"})
        self.assertEqual(answer.status, 400, answer)
        answer = self.cluster.request(node, "POST", "/v1/dht/put", {"value": "no name"})
        self.assertEqual(answer.status, 400, answer)

        # Names nobody published: exit 1 and "not found".
        for key in (f"{self.ids[2]}/nobody-published-this", f"{random.getrandbits(256):064x}"):
            started = time.monotonic()
            done = self.reef(node, "dht", "get", key, check=False)
            self.assertEqual(done.returncode, 1, f"get {key}: {done.stdout!r} {done.stderr!r}")
            self.assertIn("not found", done.stderr + done.stdout)
            print(f"\nabsent {key[:20]}...: not found after {time.monotonic() - started:.2f} s "
                  "(CLI included)")
        answer = self.cluster.request(node, "POST", "/v1/dht/get",
                                      {"publisher": self.ids[2], "name": "nobody-published"})
        self.assertEqual(answer.status, 404, answer)

        # The node still serves: its status, and a real get.
        status = self.cluster.status(node)
        self.assertIsNotNone(status, "the node still answers")
        self.assertEqual(status["cluster_size"], NODES)
        put = self.put(PUBLISHER, "after-bad-input", "still-here", "--ttl", "120")
        self.assertAlmostEqual(put["expiry_unix_seconds"], time.time() + 120, delta=30)
        got = self.reef_json(node, "dht", "get", put["reference"])
        self.assertEqual(got["value"], "still-here")
        self.assertTrue(all(process.poll() is None
                            for process in self.cluster.processes.values()),
                        "every reefd still runs")


if __name__ == "__main__":
    unittest.main()
