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

Every node is asked for its view of a group (GET /v1/kv/group?key=KEY): the leader is the node
that answers with role "leader" and whose epoch, members and leader its other members confirm.
The member set can change during a test (a member that membership declares dead is replaced by
the closest alive non-member), so the final checks ask the members the current leader lists; a
node removed from the group while it was down or cut off may keep a stale copy, which is printed,
not judged.
"""

import hashlib
import random
import threading
import time
import unittest
import urllib.parse

from netns_harness import NetnsCluster
from reef_harness import FORM_TIMEOUT, JoinedCluster, control_json, poll_until

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
LEADER_TIMEOUT = 30       # until the nodes asked agree on a group's leader


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
    def group_views(cluster, key, nodes):
        """{node: its /v1/kv/group answer for key, or None when it does not answer} for every
        node in `nodes`."""
        target = "/v1/kv/group?key=" + urllib.parse.quote(key, safe="")
        return {node: control_json(cluster.socket_path(node), "GET", target, timeout=10)
                for node in nodes}

    @staticmethod
    def described(ids, view):
        """One node's view of a group, with node numbers for ids."""
        if view is None:
            return "no answer"
        if not view["hosted"]:
            return "not hosted"
        by_hex = {hex_id: node for node, hex_id in ids.items()}

        def name(hex_id):
            return by_hex.get(hex_id, hex_id[:12])

        members = sorted((name(m) for m in view["members"]), key=str)
        return (f"{view['role']} in epoch {view['epoch']}, leader {name(view['leader'])}, "
                f"members {members}, commit {view['commit_index']} applied "
                f"{view['applied_index']} last {view['last_index']}")

    def confirmed_leader(self, ids, views):
        """(leader node, its answer) when one node in `views` leads and every other member it
        lists that answered confirms it (hosted, same epoch, members and leader), with a majority
        of its members answering in all; else None. A deposed leader that has not learned of the
        next epoch yet is not confirmed by the members that have."""
        by_hex = {hex_id: node for node, hex_id in ids.items()}
        leading = [node for node, view in views.items()
                   if view is not None and view["hosted"] and view["role"] == "leader"]
        for node in sorted(leading, key=lambda n: -views[n]["epoch"]):
            view = views[node]
            if view["leader"] != ids[node]:
                continue
            agreeing = 0
            for member_hex in view["members"]:
                member = by_hex.get(member_hex)
                other = views.get(member)
                if other is None:
                    continue
                if not other["hosted"] or any(other[field] != view[field]
                                              for field in ("epoch", "members", "leader")):
                    break
                agreeing += 1
            else:
                if agreeing >= len(view["members"]) // 2 + 1:
                    return node, view
        return None

    def leader_of(self, cluster, ids, key, nodes):
        """(leader node, epoch, members as node numbers, views) of key's group, asking `nodes`
        (polled until one of them leads and the members among them confirm it)."""
        views = {}
        by_hex = {hex_id: node for node, hex_id in ids.items()}

        def found():
            views.clear()
            views.update(self.group_views(cluster, key, nodes))
            return self.confirmed_leader(ids, views)

        leader, view = poll_until(
            found, LEADER_TIMEOUT, f"one of nodes {nodes} leads {key}'s group, confirmed by its "
            "members", describe=lambda: "\n".join(f"node {node}: {self.described(ids, v)}"
                                                   for node, v in sorted(views.items())))
        members = sorted((by_hex.get(m, m[:12]) for m in view["members"]), key=str)
        return leader, view["epoch"], members, dict(views)

    def diagnostics(self, cluster, ids, key):
        """Each node's view of key's group and its replica counters, for failure messages."""
        views = self.group_views(cluster, key, range(NODES))
        lines = [f"{key}'s initial group {self.members_of(ids, key)}"]
        for node in range(NODES):
            status = cluster.status(node)
            lines.append(f"node {node}: {self.described(ids, views[node])}; replica "
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

    def assert_group_settled(self, cluster, ids, key):
        """Every node that the group's current leader lists as a member hosts the group with the
        same members, epoch and leader, and applied everything the leader committed (polled until
        things settle). Nodes outside the group may hold a stale copy (removed while down or cut
        off): what they hold is printed. Returns the members as node numbers."""
        state = {}

        def settled():
            views = self.group_views(cluster, key, range(NODES))
            state["views"] = views
            found = self.confirmed_leader(ids, views)
            if found is None:
                return None
            leader, view = found
            by_hex = {hex_id: node for node, hex_id in ids.items()}
            members = [by_hex.get(m) for m in view["members"]]
            state["members"] = members
            if None in members:
                return None
            for member in members:
                other = views[member]
                if other is None or not other["hosted"]:
                    return None
                if any(other[field] != view[field] for field in ("epoch", "members", "leader")):
                    return None
                if other["applied_index"] != view["commit_index"]:
                    return None
            return leader, sorted(members)

        def describe():
            return "\n".join(f"node {node}: {self.described(ids, view)}"
                              for node, view in sorted(state.get("views", {}).items())) + \
                f"\n{cluster.log_tails(lines=12)}"

        leader, members = poll_until(settled, SETTLE_TIMEOUT,
                                     f"the members of {key}'s group agree on it", interval=0.5,
                                     describe=describe)
        print(f"{key}'s group settled: leader node {leader}, members {members} (initially "
              f"{self.members_of(ids, key)})")
        for node, view in sorted(state["views"].items()):
            where = "member" if node in members else "outside the group"
            print(f"  node {node} ({where}): {self.described(ids, view)}")
        return members

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
        client = Client()
        attempts = Attempts()
        next_index = 0
        for _ in range(5):
            _, _, next_index = self.increment(cluster, lambda: list(range(NODES)), key, client,
                                              attempts, start=next_index)
        leader, epoch, members, _ = self.leader_of(cluster, ids, key, list(range(NODES)))
        outsider = min(node for node in range(NODES) if node not in members)
        minority = sorted([leader, outsider])
        majority = sorted(set(range(NODES)) - set(minority))
        print(f"{key}: group {members} (closest: {self.members_of(ids, key)}), leader node "
              f"{leader} (epoch {epoch}); cutting {minority} from {majority} after "
              f"{attempts.summary()}")

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
        new_leader, new_epoch, new_members, _ = self.leader_of(cluster, ids, key, majority)
        print(f"majority side acknowledged its first increment {recovered:.1f} s after the cut "
              f"({failed_before_recovery} failed attempts before it); new leader node "
              f"{new_leader} (epoch {new_epoch}, members {new_members}); majority side: "
              f"{attempts.summary()}; minority side during {cut_for:.1f} s of cut: "
              f"{probes.summary()}")
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
        self.assert_group_settled(cluster, ids, key)
        print(f"test took {time.monotonic() - started:.1f} s")

    def test_group_members_killed_one_at_a_time_lose_no_increment(self):
        started = time.monotonic()
        cluster = JoinedCluster(self, NODES)
        cluster.start()
        cluster.wait_all_alive(FORM_TIMEOUT)
        ids = cluster.node_ids()
        key = "kill-loop-counter"
        print(f"\n{NODES} nodes alive {time.monotonic() - started:.1f} s after node 0 started; "
              f"{key}: closest nodes {self.members_of(ids, key)}")

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
                    # The members now (a member declared dead may have been replaced).
                    leader, epoch, members, _ = self.leader_of(cluster, ids, key, nodes_up())
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
                    print(f"round {round_number}: killed node {victim} ({role} of epoch {epoch}, "
                          f"members {members}); 3 increments acknowledged {first_ack:.1f} s "
                          f"after the kill; {attempts.summary()}")
        finally:
            stop.set()
            loop.join(timeout=INCREMENT_TIMEOUT + 60)
        self.assertFalse(loop.is_alive(), "the client loop did not stop")
        self.assertEqual(problems, [], "the client loop gave up on an increment")
        print(f"{len(kills)} kills (round, role, node, epoch, s to 3 acks, acks): {kills}; "
              f"{attempts.summary()}")
        self.assert_final(cluster, ids, key, attempts, list(range(NODES)), "after the kill loop")
        self.assert_group_settled(cluster, ids, key)
        print(f"test took {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    unittest.main()
