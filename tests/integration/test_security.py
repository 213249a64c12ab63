"""A cluster refuses a node without its key, and shrugs off garbage on its listen port."""

import json
import os
import re
import socket
import time
import unittest

from reef_harness import (ClusterTestCase, LocalCluster, free_port_range, pid_alive,
                          poll_until)

# A handshake refused because the peer lacks the cluster key, as logged by either side: the
# refusing node ("handshake from ADDR failed: ...") and the refused one ("handshake with ADDR
# failed: ..."). The reason must name the key or the failed authentication.
REFUSAL_FROM = re.compile(r"handshake from \S+ failed: .*(cluster'?s? key|authentication failed)")
REFUSAL_WITH = re.compile(r"handshake with \S+ failed: .*(cluster'?s? key|authentication failed)")


def send_garbage(port, payload, hold=0.0):
    """Connects to 127.0.0.1:port, sends payload, waits up to `hold` seconds for the node to
    answer or close, and returns what it answered (a refusal or nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(payload)
        except OSError:
            return b""  # the node closed on us mid-send: also fine
        conn.settimeout(max(hold, 0.1))
        received = b""
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        return received


class SecurityTest(ClusterTestCase):

    def test_a_node_with_another_cluster_key_is_refused_and_the_logs_say_why(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        members_before = set(cluster.members(1))

        other = os.path.join(cluster.root, "other")
        init = cluster.reef_json("init", directory=other)
        self.assertTrue(init["created"])
        ours = cluster.reef_json("init")
        self.assertFalse(ours["created"], "init does not replace the cluster's key")
        self.assertNotEqual(init["fingerprint"], ours["fingerprint"])

        port = free_port_range(1)
        intruder_dir = os.path.join(other, "intruder")
        intruder = cluster.spawn_reefd(intruder_dir, port, init["cluster_key"],
                                       join=answer["nodes"][0]["address"])
        socket_path = os.path.join(intruder_dir, "control.sock")
        intruder_status = poll_until(
            lambda: self._status_at(cluster, socket_path), 60, "the intruder answers",
            describe=lambda: open(os.path.join(intruder_dir, "reefd.log"),
                                  encoding="utf-8", errors="replace").read())
        intruder_id = intruder_status["node_id"]

        intruder_log = os.path.join(intruder_dir, "reefd.log")

        def read(path):
            with open(path, encoding="utf-8", errors="replace") as log:
                return log.read()

        # The member it dials refuses it and logs why; the intruder logs why it was refused.
        cluster_line = poll_until(lambda: REFUSAL_FROM.search(read(cluster.log_path(1))), 60,
                                  "node 1's log says why it refused the intruder",
                                  describe=cluster.log_tails)
        intruder_line = poll_until(lambda: REFUSAL_WITH.search(read(intruder_log)), 60,
                                   "the intruder's log says why it was refused",
                                   describe=lambda: read(intruder_log))
        print(f"\nnode 1 logged: {cluster_line.group(0)!r}\n"
              f"intruder logged: {intruder_line.group(0)!r}")
        refused = sum(cluster.status(n)["network"]["handshakes_refused"] for n in range(1, 5))
        self.assertGreaterEqual(refused, 1, "a node counts the refused handshake")

        # The intruder keeps trying; over several rounds it never becomes a member anywhere.
        for _ in range(10):
            for node in range(1, 5):
                view = cluster.members(node)
                self.assertIsNotNone(view)
                self.assertNotIn(intruder_id, view, f"node {node} admitted the intruder")
                self.assertEqual(set(view), members_before)
            own = self._status_at(cluster, socket_path)
            self.assertIsNotNone(own, "the refused node keeps running")
            self.assertEqual(own["cluster_size"], 1, "the intruder sees nobody")
            time.sleep(0.5)
        self.assertIsNone(intruder.poll())
        self.assert_all_alive(cluster, [1, 2, 3, 4], 4)

    @staticmethod
    def _status_at(cluster, socket_path):
        done = cluster.reef("--node", socket_path, "status", "--json", check=False, timeout=60)
        if done.returncode != 0:
            return None
        return json.loads(done.stdout)

    def test_garbage_on_the_listen_port_does_not_disturb_the_cluster(self):
        cluster = LocalCluster(self)
        answer = cluster.up()
        pids = [n["pid"] for n in answer["nodes"]]
        refused_before = {n: cluster.status(n)["network"]["handshakes_refused"] for n in (1, 2)}
        rng_bytes = os.urandom(256 * 1024)
        payloads = {
            "random bytes": rng_bytes,
            "an HTTP request": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            "a huge 32-bit length prefix": b"\xff\xff\xff\xff" + rng_bytes[:64],
            "a handshake header announcing a huge body": b"REEF\x01\x01\xff\xff" + rng_bytes[:64],
            "a handshake header of an unknown version": b"REEF\x7f\x01\x00\x10" + b"\x00" * 16,
            "a truncated handshake header": b"REEF\x01",
            "zero bytes": b"\x00" * 4096,
        }
        for round_number in range(3):
            for name, payload in payloads.items():
                for node in (1, 2):
                    port = cluster.base_port + node - 1
                    try:
                        send_garbage(port, payload, hold=0.2)
                    except OSError as problem:
                        self.fail(f"round {round_number}: node {node} stopped accepting "
                                  f"connections after {name}: {problem}")
        # A connection that sends half a header and then goes silent must not block others.
        idle = socket.create_connection(("127.0.0.1", cluster.base_port), timeout=10)
        self.addCleanup(idle.close)
        idle.sendall(b"RE")

        for pid in pids:
            self.assertTrue(pid_alive(pid), f"reefd {pid} died from garbage")
        views = self.assert_all_alive(cluster, [1, 2, 3, 4], 4)
        ids = {n["node_id"] for n in answer["nodes"]}
        for node, view in views.items():
            self.assertEqual(set(view), ids, f"node {node} gained or lost members")
        for node in (1, 2, 3, 4):
            self.assertEqual(cluster.status(node)["cluster_size"], 4)
        # The garbage was rejected, counted and logged, not silently swallowed.
        for node in (1, 2):
            refused = cluster.status(node)["network"]["handshakes_refused"]
            self.assertGreater(refused, refused_before[node], f"node {node} counts refusals")
            self.assertRegex(cluster.log(node), r"handshake from \S+ failed: ",
                             f"node {node} logs the refusals")


if __name__ == "__main__":
    unittest.main()
