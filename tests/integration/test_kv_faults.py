"""Replicated kv counters under faults, on 5 real nodes driven through the `reef` CLI:

- the leader of a counter's replica group, cut off by the network with one node outside the
  group, acknowledges nothing while the other 3 nodes elect a new leader and go on incrementing;
  after healing, every node reads the same value and no acknowledged increment is lost;
- members of the group (the leader among them) killed with SIGKILL one at a time and restarted on
  their data dir, for several rounds, while a client keeps incrementing through the nodes that are
  up: the final value is the number of acknowledged increments.

Every increment carries a request id (`reef kv incr KEY --request-id CLIENT:SEQ`): a client has
one id per test, its sequence grows by one per logical increment, and an attempt that fails (its
outcome unknown: it may have been applied before the answer was lost) is retried with the same id
until it is acknowledged, so the counter must end exactly at the number of logical increments.
Without request ids (REQUEST_IDS = False) a failed attempt may or may not have been applied, and
the test can only bound the result: acknowledged <= final <= acknowledged + failed attempts.

The leader of a group is not exported by the control API; it is read from the members' replica
stores (DATA_DIR/replica.db, docs/formats/replica-storage.md): the leader of epoch e is
members[e mod R], with the members in ascending id order, and the highest epoch promised by a
member is taken as the current one.
"""

import hashlib
import os
import random
import sqlite3
import threading
import time
import unittest

from netns_harness import NetnsCluster
from reef_harness import FORM_TIMEOUT, JoinedCluster, poll_until

# `reef kv incr --request-id CLIENT:SEQ` (POST /v1/kv "request"): retries apply once. This switch
# is the only thing that differs between exact and bounded checking.
REQUEST_IDS = True

NODES = 5
GROUP_SIZE = 3            # node::config::replica_group_size
KV_ARGS = ("--timeout", "30")   # the node itself ends every kv request within 8 s
SETTLE_TIMEOUT = 90       # until every node reads the final value
RECOVERY_TIMEOUT = 90     # from the cut until the majority side acknowledges an increment
INCREMENT_TIMEOUT = 120   # retries of one logical increment
PROGRESS_TIMEOUT = 120    # until the kill loop's client has made progress
KILL_ROUNDS = 3           # each round kills the leader, then a follower


def kv_group_id(key):
    """node::kv_group_of: BLAKE2b-256("reef.kv" 0x00 key)."""
    return hashlib.blake2b(b"reef.kv\x00" + key.encode(), digest_size=32).digest()


class Client:
    """One kv client: a random non-zero id, and a sequence number per logical increment."""

    def __init__(self):
        self.id = random.getrandbits(63) + 1
        self.sequence = 0

    def next(self):
        self.sequence += 1
        return self.sequence

    def args(self, sequence):
        return ["--request-id", f"{self.id}:{sequence}"] if REQUEST_IDS else []


class Attempts:
    """What a test's increments did: every attempt, its node and its outcome."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = 0
        self.failed = 0
        self.failed_by_node = {}
        self.errors = {}          # first line of stderr -> count
        self.last_ack = None      # time.monotonic() of the last acknowledgement

    def record(self, node, done):
        with self.lock:
            if done.returncode == 0:
                self.acknowledged += 1
                self.last_ack = time.monotonic()
            else:
                self.failed += 1
                self.failed_by_node[node] = self.failed_by_node.get(node, 0) + 1
                line = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1][:160]
                self.errors[line] = self.errors.get(line, 0) + 1

    def summary(self):
        with self.lock:
            return (f"{self.acknowledged} acknowledged, {self.failed} failed attempts "
                    f"(by node {dict(sorted(self.failed_by_node.items()))}; errors "
                    f"{self.errors})")


class Failed:
    """A `reef` invocation that did not finish (it is a failed attempt like any other)."""

    def __init__(self, problem):
        self.returncode = -1
        self.stdout = ""
        self.stderr = f"reef did not finish: {problem}"


class KvFaultsTest(unittest.TestCase):

    maxDiff = None

    # ---- helpers ----
    def incr(self, cluster, node, key, client, sequence):
        try:
            return cluster.reef(node, *KV_ARGS, "kv", "incr", key, *client.args(sequence),
                                check=False)
        except Exception as problem:  # pylint: disable=broad-except
            return Failed(problem)

    def increment(self, cluster, nodes, key, client, attempts, start=0, timeout=INCREMENT_TIMEOUT,
                  sequence=None):
        """One logical increment (client's next sequence, or `sequence` to finish one that
        failed before): tries nodes()[start], then the next ones in turn, with the same request
        id until one acknowledges it. Returns (the node that did, its answer, the index to start
        the next increment from). Without request ids, a failed attempt is still retried (it
        counts as unknown)."""
        if sequence is None:
            sequence = client.next()
        deadline = time.monotonic() + timeout
        index = start
        last = None
        while True:
            candidates = nodes()
            node = candidates[index % len(candidates)]
            done = self.incr(cluster, node, key, client, sequence)
            attempts.record(node, done)
            if done.returncode == 0:
                return node, int(done.stdout.strip()), index + 1
            last = (node, done)
            index += 1
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"increment {client.id}:{sequence} of {key} was not acknowledged within "
                    f"{timeout} s; last attempt on node {last[0]}: exit {last[1].returncode}, "
                    f"{last[1].stderr.strip()}\n{attempts.summary()}\n"
                    f"{cluster.log_tails(lines=12)}")

    @staticmethod
    def members_of(ids, key):
        target = int.from_bytes(kv_group_id(key), "big")
        return sorted(ids, key=lambda node: int(ids[node], 16) ^ target)[:GROUP_SIZE]

    @staticmethod
    def group_copies(cluster, ids, key, nodes):
        """{node: (promised epoch, members as node numbers, commit index)} for every node in
        `nodes` whose replica store holds a copy of key's group (read-only; the store is in WAL
        mode, so reading never blocks the daemon)."""
        by_hex = {hex_id: node for node, hex_id in ids.items()}
        copies = {}
        for node in nodes:
            path = os.path.join(cluster.data_dir(node), "replica.db")
            if not os.path.exists(path):
                continue
            try:
                connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
                try:
                    row = connection.execute(
                        "SELECT promised_epoch, members, commit_index FROM groups "
                        "WHERE group_id = ?", (kv_group_id(key),)).fetchone()
                finally:
                    connection.close()
            except sqlite3.Error as problem:
                copies[node] = ("unreadable", str(problem), None)
                continue
            if row is None:
                continue
            epoch, members, commit = row
            names = [by_hex.get(members[i:i + 32].hex(), members[i:i + 32].hex()[:12])
                     for i in range(0, len(members), 32)]
            copies[node] = (epoch, names, commit)
        return copies

    def leader_of(self, cluster, ids, key, members):
        """The leader of the epoch that every member in `members` has promised (polled until
        their stores agree on it)."""
        seen = {}

        def found():
            seen.clear()
            seen.update(self.group_copies(cluster, ids, key, members))
            known = [c for c in seen.values() if isinstance(c[0], int) and len(c[1]) == GROUP_SIZE]
            if len(known) != len(members) or len({(c[0], tuple(c[1])) for c in known}) != 1:
                return None
            epoch, names, _ = known[0]
            return (names[epoch % len(names)], epoch)

        leader, epoch = poll_until(found, 30, f"nodes {members} agree on the epoch of {key}'s "
                                   "group",
                                   describe=lambda: f"{seen}")
        return leader, epoch, seen

    def diagnostics(self, cluster, ids, key):
        """Each node's copy of key's group and its replica counters, for failure messages."""
        copies = self.group_copies(cluster, ids, key, range(NODES))
        lines = [f"{key}'s group {self.members_of(ids, key)}; copies (epoch, members, commit): "
                 f"{copies}"]
        for node in range(NODES):
            status = cluster.status(node)
            lines.append(f"node {node} replica: "
                         f"{status.get('replica') if status else 'no answer'}")
        return "\n".join(lines)

    @staticmethod
    def wait_seen_dead(cluster, observers, node_id):
        """Waits until every observer's membership view has node_id dead (or gone)."""
        views = {}

        def dead_everywhere():
            for observer in observers:
                view = cluster.peers(observer)
                views[observer] = None if view is None else {
                    m["node_id"]: m["state"] for m in view.get("members", [])}.get(node_id, "gone")
            return all(views[o] in ("dead", "left", "gone") for o in observers)

        poll_until(dead_everywhere, FORM_TIMEOUT, f"nodes {observers} see {node_id[:12]} dead",
                   describe=lambda: f"{views}\n{cluster.log_tails(lines=8)}")

    def wait_value_everywhere(self, cluster, ids, key, expected, nodes):
        """Polls until every node reads `expected` (a string); returns the time it took."""
        seen = {}
        started = time.monotonic()

        def settled():
            for node in nodes:
                if seen.get(node, (None, None))[:2] == (0, expected):
                    continue
                done = cluster.reef(node, *KV_ARGS, "kv", "get", key, check=False)
                seen[node] = (done.returncode, done.stdout.strip(), done.stderr.strip())
            return all(seen[node][:2] == (0, expected) for node in nodes)

        poll_until(settled, SETTLE_TIMEOUT, f"every node reads {key} = {expected}", interval=0.5,
                   describe=lambda: f"{seen}\n{self.diagnostics(cluster, ids, key)}\n"
                                    f"{cluster.log_tails(lines=12)}")
        return time.monotonic() - started

    def assert_final(self, cluster, ids, key, attempts, nodes, where):
        """The counter equals the acknowledged increments (with request ids; without them it is
        bounded by the failed attempts) and reads the same on every node."""
        if REQUEST_IDS:
            waited = self.wait_value_everywhere(cluster, ids, key, str(attempts.acknowledged),
                                                nodes)
            print(f"{where}: every node reads {attempts.acknowledged} after {waited:.1f} s")
            return attempts.acknowledged
        final = int(poll_until(
            lambda: (lambda d: d.stdout.strip() if d.returncode == 0 else None)(
                cluster.reef(nodes[0], *KV_ARGS, "kv", "get", key, check=False)),
            SETTLE_TIMEOUT, f"{key} is readable on node {nodes[0]}"))
        self.assertGreaterEqual(final, attempts.acknowledged,
                                f"{where}: an acknowledged increment was lost")
        self.assertLessEqual(final, attempts.acknowledged + attempts.failed,
                             f"{where}: more increments applied than were attempted")
        waited = self.wait_value_everywhere(cluster, ids, key, str(final), nodes)
        print(f"{where}: every node reads {final} after {waited:.1f} s")
        return final

    def assert_one_member_set(self, cluster, ids, key, members):
        """Every copy of the group on any node names the same members: the key's group."""
        copies = self.group_copies(cluster, ids, key, range(NODES))
        print(f"copies of {key}'s group (epoch, members, commit): {copies}")
        strangers = {node: copy for node, copy in copies.items() if node not in members}
        self.assertEqual(strangers, {}, f"nodes outside {key}'s group {members} hold a copy of "
                         f"it: {copies}\n{cluster.log_tails(lines=12)}")
        for node, copy in copies.items():
            self.assertEqual(sorted(copy[1]), sorted(members),
                             f"node {node}'s copy of {key}'s group names other members: {copies}")

    # ---- tests ----
    def test_leader_isolated_with_a_minority_is_fenced_and_replaced(self):
        started = time.monotonic()
        cluster = NetnsCluster(self, NODES)
        cluster.start()
        cluster.wait_all_alive(FORM_TIMEOUT)
        ids = cluster.node_ids()
        print(f"\n{NODES} nodes in namespaces {cluster.net.prefix}* alive "
              f"{time.monotonic() - started:.1f} s after node 0 started")

        key = "partition-counter"
        members = self.members_of(ids, key)
        client = Client()
        attempts = Attempts()
        next_index = 0
        for _ in range(5):
            _, _, next_index = self.increment(cluster, lambda: list(range(NODES)), key, client,
                                              attempts, start=next_index)
        leader, epoch, copies = self.leader_of(cluster, ids, key, members)
        outsider = min(node for node in range(NODES) if node not in members)
        minority = sorted([leader, outsider])
        majority = sorted(set(range(NODES)) - set(minority))
        print(f"{key}: group {members}, leader node {leader} (epoch {epoch}; stores {copies}); "
              f"cutting {minority} from {majority} after {attempts.summary()}")

        cluster.cut(minority, majority)
        cut_at = time.monotonic()

        # The minority side: a second client keeps trying one increment through the old leader
        # and the outsider; nothing may be acknowledged while the cut lasts.
        probe = Client()
        probe_sequence = probe.next()
        probes = Attempts()
        acknowledged_in_minority = []
        stop_probes = threading.Event()

        def probe_minority():
            turn = 0
            while not stop_probes.is_set():
                node = minority[turn % len(minority)]
                turn += 1
                done = self.incr(cluster, node, key, probe, probe_sequence)
                probes.record(node, done)
                if done.returncode == 0:
                    acknowledged_in_minority.append((node, done.stdout.strip()))

        prober = threading.Thread(target=probe_minority, daemon=True)
        prober.start()
        try:
            # The majority side: the first increment is retried until a new leader serves it.
            _, _, next_index = self.increment(cluster, lambda: majority, key, client, attempts,
                                              start=0, timeout=RECOVERY_TIMEOUT)
            recovered = time.monotonic() - cut_at
            failed_before_recovery = attempts.failed
            for _ in range(5):
                _, _, next_index = self.increment(cluster, lambda: majority, key, client,
                                                  attempts, start=next_index)
            # Let the minority try for at least as long as a request lives at its node (8 s).
            poll_until(lambda: probes.failed + probes.acknowledged >= 2, 60,
                       "the minority side has made two attempts",
                       describe=lambda: probes.summary())
        finally:
            stop_probes.set()
            prober.join(timeout=120)
        self.assertFalse(prober.is_alive(), "the minority prober did not stop")
        cut_for = time.monotonic() - cut_at
        new_leader, new_epoch, copies = self.leader_of(cluster, ids, key,
                                                       [m for m in members if m != leader])
        print(f"majority side acknowledged its first increment {recovered:.1f} s after the cut "
              f"({failed_before_recovery} failed attempts before it); new leader node "
              f"{new_leader} (epoch {new_epoch}); majority side: {attempts.summary()}; "
              f"minority side during {cut_for:.1f} s of cut: {probes.summary()}")
        self.assertEqual(acknowledged_in_minority, [],
                         f"the minority side {minority} acknowledged increments while cut off")
        self.assertNotIn(new_leader, minority, "the new leader is on the majority side")

        cluster.heal()
        healed_at = time.monotonic()
        cluster.wait_all_alive(FORM_TIMEOUT)
        print(f"all {NODES} nodes alive again {time.monotonic() - healed_at:.1f} s after healing")
        if REQUEST_IDS:
            # The minority's increment had an unknown outcome: retried with its id, it applies
            # exactly once whichever node takes it.
            self.increment(cluster, lambda: list(range(NODES)), key, probe, probes,
                           sequence=probe_sequence)
        total = Attempts()
        total.acknowledged = attempts.acknowledged + probes.acknowledged
        total.failed = attempts.failed + probes.failed
        self.assert_final(cluster, ids, key, total, list(range(NODES)), "after healing")
        self.assert_one_member_set(cluster, ids, key, members)
        print(f"test took {time.monotonic() - started:.1f} s")

    def test_group_members_killed_one_at_a_time_lose_no_increment(self):
        started = time.monotonic()
        cluster = JoinedCluster(self, NODES)
        cluster.start()
        cluster.wait_all_alive(FORM_TIMEOUT)
        ids = cluster.node_ids()
        key = "kill-loop-counter"
        members = self.members_of(ids, key)
        print(f"\n{NODES} nodes alive {time.monotonic() - started:.1f} s after node 0 started; "
              f"{key}: group {members}")

        client = Client()
        attempts = Attempts()
        up = list(range(NODES))
        up_lock = threading.Lock()
        stop = threading.Event()
        problems = []

        def nodes_up():
            with up_lock:
                return list(up)

        def client_loop():
            index = 0
            try:
                while not stop.is_set():
                    _, _, index = self.increment(cluster, nodes_up, key, client, attempts,
                                                 start=index)
            except AssertionError as problem:
                problems.append(str(problem))

        def progress(count, what):
            """Waits until the client acknowledged `count` more increments."""
            target = attempts.acknowledged + count
            poll_until(lambda: attempts.acknowledged >= target or problems, PROGRESS_TIMEOUT,
                       what, interval=0.05,
                       describe=lambda: f"{attempts.summary()}\n{cluster.log_tails(lines=12)}")
            if problems:
                self.fail(f"the client is stuck ({what}): {problems[0]}")

        loop = threading.Thread(target=client_loop, daemon=True)
        loop.start()
        kills = []
        try:
            progress(3, "the client increments with every node up")
            followers_killed = 0
            victim = None
            for round_number in range(KILL_ROUNDS):
                for role in ("leader", "follower"):
                    leader, epoch, _ = self.leader_of(cluster, ids, key, members)
                    if role == "leader":
                        victim = leader
                    else:
                        # A follower other than the node just restarted, when there is one.
                        others = [m for m in members if m != leader and m != victim] or \
                            [m for m in members if m != leader]
                        victim = others[followers_killed % len(others)]
                        followers_killed += 1
                    with up_lock:
                        up.remove(victim)
                    acknowledged_before = attempts.acknowledged
                    killed_at = time.monotonic()
                    cluster.processes[victim].kill()   # SIGKILL to the pid started for it
                    cluster.processes[victim].wait(timeout=30)
                    progress(3, f"the client increments with node {victim} ({role}) killed")
                    first_ack = time.monotonic() - killed_at
                    # Membership's dead verdict reaches the groups (on_member_down): keep going
                    # through it, then restart the node.
                    self.wait_seen_dead(cluster, nodes_up(), ids[victim])
                    progress(5, f"the client increments once node {victim} is declared dead")
                    join_node = next(n for n in nodes_up() if n != victim)
                    cluster.processes[victim] = cluster.local.spawn_reefd(
                        cluster.data_dir(victim), cluster.base_port + victim, cluster.key_file,
                        join=cluster.address(join_node))
                    poll_until(lambda victim=victim: cluster.status(victim), FORM_TIMEOUT,
                               f"node {victim} answers again", describe=cluster.log_tails)
                    cluster.wait_all_alive(FORM_TIMEOUT)
                    with up_lock:
                        up.append(victim)
                        up.sort()
                    progress(5, f"the client increments after node {victim} restarted")
                    kills.append((round_number, role, victim, epoch, round(first_ack, 1),
                                  attempts.acknowledged - acknowledged_before))
                    print(f"round {round_number}: killed node {victim} ({role} of epoch {epoch}); "
                          f"3 increments acknowledged {first_ack:.1f} s after the kill; "
                          f"{attempts.summary()}")
        finally:
            stop.set()
            loop.join(timeout=INCREMENT_TIMEOUT + 60)
        self.assertFalse(loop.is_alive(), "the client loop did not stop")
        self.assertEqual(problems, [], "the client loop gave up on an increment")
        print(f"{len(kills)} kills (round, role, node, epoch, s to 3 acks, acks): {kills}; "
              f"{attempts.summary()}")
        self.assert_final(cluster, ids, key, attempts, list(range(NODES)), "after the kill loop")
        self.assert_one_member_set(cluster, ids, key, members)
        print(f"test took {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    unittest.main()
