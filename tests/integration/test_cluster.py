"""A real 4-node cluster on loopback: joining, crash detection, graceful leave, restart."""

import json
import os
import signal
import socket
import unittest

from reef_harness import ClusterTestCase, LocalCluster, free_port_range, pid_alive, poll_until


class ClusterTest(ClusterTestCase):

    def test_four_nodes_join_and_every_node_sees_four_alive(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        self.assertEqual([n["node"] for n in answer["nodes"]], [1, 2, 3, 4])
        self.assertTrue(all(n["started"] for n in answer["nodes"]))
        self.assertTrue(all(n["cluster_size"] == 4 for n in answer["nodes"]))
        ids = {n["node_id"] for n in answer["nodes"]}
        self.assertEqual(len(ids), 4, "every node has its own id")

        views = self.assert_all_alive(cluster, [1, 2, 3, 4], 4)
        for node, view in views.items():
            self.assertEqual(set(view), ids, f"node {node} knows exactly the four nodes")
            selves = [m for m in view.values() if m.get("self")]
            self.assertEqual(len(selves), 1, f"node {node} marks exactly one member as itself")
            self.assertEqual(selves[0]["node_id"], answer["nodes"][node - 1]["node_id"])
        addresses = {m["address"] for m in views[1].values()}
        self.assertEqual(addresses, {f"127.0.0.1:{cluster.base_port + i}" for i in range(4)})

        status = cluster.status(2)
        self.assertEqual(status["cluster_size"], 4)
        self.assertEqual(status["state"], "alive")
        self.assertEqual(status["address"], f"127.0.0.1:{cluster.base_port + 1}")

        # The human-readable forms show the same facts.
        lines = cluster.reef("--node", 3, "peers").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "ADDRESS", "STATE", "INCARNATION", "RTT",
                                            "SINCE", "DHT"])
        # One row per member, then the routing-table footer.
        footer = next(i for i, line in enumerate(lines) if line.startswith("routing table:"))
        table = lines[:footer]
        self.assertEqual(sorted(row.split()[0] for row in table[1:]),
                         sorted(n["short_id"] for n in answer["nodes"]))
        self.assertEqual(sum(row.split()[1] == "*" for row in table[1:]), 1, table)
        self.assertEqual(lines[footer].split()[2], "3", lines[footer])  # 3 contacts
        text = cluster.reef("status").stdout
        self.assertIn(answer["nodes"][0]["node_id"], text)

        # `reef up` again leaves running nodes alone.
        again = cluster.up()
        self.assertEqual([n["pid"] for n in again["nodes"]], [n["pid"] for n in answer["nodes"]])
        self.assertFalse(any(n["started"] for n in again["nodes"]))

        # `reef down` stops all of them gracefully.
        down = cluster.reef_json("down")
        self.assertEqual(sorted(n["node"] for n in down["nodes"]), [1, 2, 3, 4])
        self.assertTrue(all(n["result"] == "stopped" for n in down["nodes"]), down)
        for node in answer["nodes"]:
            self.assertFalse(pid_alive(node["pid"]))
        self.assertIn("no local node is running", cluster.reef("down").stdout)

    def test_kill_9_is_declared_dead_by_the_other_three(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        victim = answer["nodes"][2]
        os.kill(victim["pid"], signal.SIGKILL)
        cluster.wait_exit(victim["pid"], 30)
        elapsed = self.wait_for_state(cluster, [1, 2, 4], victim["node_id"], {"dead"})
        print(f"\nnode 3 declared dead by nodes 1, 2 and 4 {elapsed:.2f} s after kill -9")
        for node in (1, 2, 4):
            self.assertEqual(cluster.status(node)["cluster_size"], 3)

    def test_graceful_stops_are_shown_as_left(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        ids = {n["node"]: n["node_id"] for n in answer["nodes"]}

        # SIGTERM: the daemon announces its leave, then exits 0.
        pid4 = answer["nodes"][3]["pid"]
        os.kill(pid4, signal.SIGTERM)
        cluster.wait_exit(pid4, 30)
        self.wait_for_state(cluster, [1, 2, 3], ids[4], {"left"})

        # `reef leave`.
        done = cluster.reef_json("--node", 3, "leave")
        self.assertTrue(done["ok"])
        self.assertEqual(done["node_id"], ids[3])
        cluster.wait_exit(answer["nodes"][2]["pid"], 30)
        self.wait_for_state(cluster, [1, 2], ids[3], {"left"})

        # `reef down --node 2` stops only node 2.
        down = cluster.reef_json("--node", 2, "down")
        self.assertEqual([(n["node"], n["result"]) for n in down["nodes"]], [(2, "stopped")])
        self.wait_for_state(cluster, [1], ids[2], {"left"})
        self.assertTrue(pid_alive(answer["nodes"][0]["pid"]))
        self.assertEqual(cluster.status(1)["cluster_size"], 1)

    def test_restart_keeps_the_id_and_raises_the_incarnation(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        before = cluster.status(2)
        seen_before = cluster.members(1)[before["node_id"]]["incarnation"]

        os.kill(before["pid"], signal.SIGKILL)
        cluster.wait_exit(before["pid"], 30)
        self.wait_for_state(cluster, [1, 3, 4], before["node_id"], {"dead"})

        again = cluster.up()
        restarted = again["nodes"][1]
        self.assertTrue(restarted["started"])
        self.assertNotEqual(restarted["pid"], before["pid"])
        self.assertEqual(restarted["node_id"], before["node_id"], "the identity survives")
        for i in (0, 2, 3):
            self.assertFalse(again["nodes"][i]["started"])
            self.assertEqual(again["nodes"][i]["pid"], answer["nodes"][i]["pid"])

        after = cluster.status(2)
        self.assertGreater(after["incarnation"], before["incarnation"])
        self.wait_for_state(cluster, [1, 3, 4], before["node_id"], {"alive"})
        for node in (1, 3, 4):
            seen = cluster.members(node)[before["node_id"]]["incarnation"]
            self.assertGreater(seen, seen_before, f"node {node} sees the higher incarnation")

    def test_join_and_leave_through_a_tcp_control_address(self):
        cluster = LocalCluster(self, nodes=3)
        answer = cluster.up()
        key = os.path.join(cluster.dir, "cluster.key")
        port = free_port_range(2)
        control = f"127.0.0.1:{port + 1}"
        extra_dir = os.path.join(cluster.root, "extra")
        extra = cluster.spawn_reefd(extra_dir, port, key, control=control)

        def extra_status():
            done = cluster.reef("--node", control, "status", "--json", check=False, timeout=60)
            return json.loads(done.stdout) if done.returncode == 0 else None

        alone = poll_until(extra_status, 60, "the extra node answers on TCP")
        self.assertEqual(alone["cluster_size"], 1)
        # The same node through its control socket path.
        by_socket = cluster.reef_json("--node", os.path.join(extra_dir, "control.sock"),
                                      "status")
        self.assertEqual(by_socket["node_id"], alone["node_id"])

        joined = cluster.reef_json("--node", control, "join", answer["nodes"][1]["address"])
        self.assertTrue(joined["ok"])
        self.wait_for_state(cluster, [1, 2, 3], alone["node_id"], {"alive"})
        self.assertEqual(poll_until(lambda: (extra_status() or {}).get("cluster_size") == 4,
                                    60, "the extra node sees 4 members"), True)

        left = cluster.reef_json("--node", control, "leave")
        self.assertTrue(left["stopped"])
        self.assertEqual(extra.wait(timeout=30), 0, "reefd exits 0 after a graceful leave")
        self.wait_for_state(cluster, [1, 2, 3], alone["node_id"], {"left"})

    def test_up_reports_a_node_that_cannot_start(self):
        cluster = LocalCluster(self, nodes=1)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(blocker.close)
        blocker.bind(("127.0.0.1", cluster.base_port))
        blocker.listen(1)
        done = cluster.reef("up", "--nodes", 1, "--base-port", cluster.base_port, "--wait", 60,
                            check=False)
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assertIn("node 1 (reefd pid", done.stderr)
        self.assertIn("exited with status", done.stderr)
        self.assertIn(cluster.log_path(1), done.stderr)
        self.assertIn(f"127.0.0.1:{cluster.base_port}", done.stderr, "the log's reason is shown")


if __name__ == "__main__":
    unittest.main()
