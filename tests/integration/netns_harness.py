"""Real `reefd` processes, each in its own Linux network namespace, so a test can cut the network
between groups of nodes and heal it again.

Layout of one cluster (every name carries this process's pid and a per-process counter, so two
runs never share anything):

    namespace rfPIDxRbr    the bridge `br0`, and one veth end `pI` per node enslaved to it
    namespace rfPIDxRnI    node I: `lo`, and the other veth end `eth0` with 10.A.B.(I+1)/24

Nothing is created in the root namespace: both veth ends are made inside namespaces, and the
interface names only have to be unique there. Each reefd runs as
`ip netns exec rfPIDxRnI reefd --data-dir D --listen 10.A.B.(I+1):PORT --cluster-key K [--join ..]`
(`ip netns exec` execs reefd, so the pid Popen returns is the daemon's own). Its control socket is
a unix socket in its data dir, so the `reef` CLI and control requests reach it from the root
namespace unchanged.

`cut(a, b)` adds an nftables table `reef_cut` in the namespace of every node of `a` and of `b`
that drops, on input and on output, the packets to and from the other side's addresses (TCP and
UDP alike, established connections included). `heal()` deletes those tables.

Cleanup always runs (addCleanup, also when the test fails): every reefd is stopped by its pid
(SIGTERM, then SIGKILL), then the namespaces this cluster created are deleted, which removes the
veths, the bridge and the nftables tables with them. Only namespaces created here are touched.

Needs root, `ip` with netns support and `nft`; without them the test is skipped with the reason.
"""

import itertools
import os
import shutil
import signal
import subprocess
import time
import unittest

import reef_harness
from reef_harness import FORM_TIMEOUT, JoinedCluster, poll_until

PORT = 7401                 # every node has its own namespace, so they can all use it
CUT_TABLE = "reef_cut"
_clusters = itertools.count()


def _run(*command, check=True, stdin=None):
    done = subprocess.run(list(command), input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return done


def netns_unavailable_reason():
    """Why network namespaces cannot be used here, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespace tests need root (ip netns, veth, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"network namespace tests need `{tool}` on PATH"
    try:
        listed = _run("ip", "netns", "list", check=False)
    except (OSError, subprocess.SubprocessError) as problem:
        return f"`ip netns list` cannot run: {problem}"
    if listed.returncode != 0:
        return f"`ip netns` is unavailable: {listed.stderr.strip()}"
    return None


class NetnsNetwork:
    """The namespaces, veths and bridge of one cluster; deleted at cleanup."""

    def __init__(self, test, count):
        run = next(_clusters)
        pid = os.getpid()
        self.prefix = f"rf{pid}x{run}"
        self.bridge_ns = f"{self.prefix}br"
        self.node_ns = [f"{self.prefix}n{i}" for i in range(count)]
        self.subnet = f"10.{100 + run % 100}.{pid % 250 + 1}"
        self.created = []        # namespaces created, in order
        self.cut_in = set()      # namespaces holding a `reef_cut` table
        self.cuts = []           # (a, b) node lists currently cut
        test.addCleanup(self.cleanup)
        try:
            self._build(count)
        except Exception as problem:
            raise AssertionError(f"cannot build the test network {self.prefix}: {problem}") \
                from problem

    def ip_of(self, node):
        return f"{self.subnet}.{node + 1}"

    def _add_namespace(self, name):
        if name in _run("ip", "netns", "list").stdout.split():
            raise RuntimeError(f"namespace {name} already exists (left by another run?)")
        _run("ip", "netns", "add", name)
        self.created.append(name)
        _run("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self, count):
        self._add_namespace(self.bridge_ns)
        _run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for node, name in enumerate(self.node_ns):
            self._add_namespace(name)
            port = f"p{node}"
            _run("ip", "-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name",
                 "eth0", "netns", name)
            _run("ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0")
            _run("ip", "-n", self.bridge_ns, "link", "set", port, "up")
            _run("ip", "-n", name, "addr", "add", f"{self.ip_of(node)}/24", "dev", "eth0")
            _run("ip", "-n", name, "link", "set", "eth0", "up")

    # ---- partitions ----
    def _drop_table(self, namespace, others):
        addresses = ", ".join(others)
        rules = (f"table inet {CUT_TABLE} {{\n"
                 f"  chain input {{ type filter hook input priority 0; policy accept;\n"
                 f"    ip saddr {{ {addresses} }} drop\n  }}\n"
                 f"  chain output {{ type filter hook output priority 0; policy accept;\n"
                 f"    ip daddr {{ {addresses} }} drop\n  }}\n"
                 f"}}\n")
        if namespace in self.cut_in:
            _run("ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", CUT_TABLE)
            self.cut_in.discard(namespace)
        _run("ip", "netns", "exec", namespace, "nft", "-f", "-", stdin=rules)
        self.cut_in.add(namespace)

    def cut(self, group_a, group_b):
        """Drops every packet between the nodes of group_a and those of group_b, both ways
        (replaces any earlier cut)."""
        group_a, group_b = sorted(group_a), sorted(group_b)
        if set(group_a) & set(group_b):
            raise ValueError(f"a node cannot be on both sides of a cut: {group_a} / {group_b}")
        self.heal()
        for side, other in ((group_a, group_b), (group_b, group_a)):
            for node in side:
                self._drop_table(self.node_ns[node], [self.ip_of(o) for o in other])
        self.cuts.append((group_a, group_b))

    def heal(self):
        """Removes every cut."""
        for namespace in sorted(self.cut_in):
            _run("ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", CUT_TABLE)
            self.cut_in.discard(namespace)
        self.cuts = []

    def rules(self):
        """The cut tables as nft lists them, for failure messages."""
        parts = []
        for namespace in sorted(self.cut_in):
            done = _run("ip", "netns", "exec", namespace, "nft", "list", "table", "inet",
                        CUT_TABLE, check=False)
            parts.append(f"--- {namespace}\n{done.stdout.strip() or done.stderr.strip()}")
        return "\n".join(parts)

    def cleanup(self):
        """Deletes the namespaces this network created (their veths, bridge and nftables tables
        go with them). Runs after the cluster's processes were stopped."""
        problems = []
        for name in reversed(self.created):
            done = _run("ip", "netns", "delete", name, check=False)
            if done.returncode != 0:
                problems.append(f"ip netns delete {name}: {done.stderr.strip()}")
        self.created = []
        self.cut_in.clear()
        if problems:
            raise AssertionError("cleanup of the test network failed:\n" + "\n".join(problems))


class NetnsCluster(JoinedCluster):
    """A JoinedCluster whose node i runs in network namespace NetnsNetwork.node_ns[i] and listens
    on 10.A.B.(i+1):PORT: node 0 starts alone, every other node joins through node 0's address.
    `cut`/`heal` partition the network; `kill`/`restart` stop a node with SIGKILL by its pid and
    start it again on its data dir."""

    def __init__(self, test, count):
        reason = netns_unavailable_reason()
        if reason:
            raise unittest.SkipTest(reason)
        reef_harness.require_binaries(test, "reef", "reefd")
        # Cleanups run last-registered first: LocalCluster's (every reefd stopped by its pid),
        # then _stop_survivors, then the network's (the namespaces deleted).
        self.net = NetnsNetwork(test, count)
        test.addCleanup(self._stop_survivors)
        super().__init__(test, count)

    # ---- where things are ----
    def address(self, node):
        return f"{self.net.ip_of(node)}:{PORT}"

    # ---- starting and stopping ----
    def spawn(self, node, join=None):
        """Starts node's reefd in its namespace; it is stopped by pid at cleanup."""
        data_dir = self.data_dir(node)
        os.makedirs(data_dir, exist_ok=True)
        args = ["ip", "netns", "exec", self.net.node_ns[node], reef_harness.REEFD,
                "--data-dir", data_dir, "--listen", self.address(node),
                "--cluster-key", self.key_file]
        if join is not None:
            args += ["--join", join]
        log = open(os.path.join(data_dir, "reefd.log"), "ab")  # pylint: disable=consider-using-with
        self.local.test.addCleanup(log.close)
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=self.local.env)
        self.local.extra.append(process)
        self.local.pids.add(process.pid)
        self.processes[node] = process
        return process

    def start_first(self):
        self.local.reef("init", "--address", self.address(0))
        self.started_at = time.monotonic()
        self.spawn(0)
        poll_until(lambda: self.status(0), FORM_TIMEOUT, "node 0 answers on its control socket",
                   interval=0.05, describe=self.log_tails)

    def start_others(self):
        for node in range(1, self.count):
            self.spawn(node, join=self.address(0))

    def kill(self, node):
        """SIGKILL to node's reefd (by the pid started for it); waits until it is gone."""
        process = self.processes[node]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def restart(self, node, join_node):
        """Starts node again on its data dir, joining through join_node; waits until it answers
        on its control socket."""
        self.spawn(node, join=self.address(join_node))
        poll_until(lambda: self.status(node), FORM_TIMEOUT, f"node {node} answers again",
                   interval=0.05, describe=self.log_tails)

    def _stop_survivors(self):
        """SIGKILL to any reefd of this cluster still running (by pid), before its namespaces go;
        normally LocalCluster's cleanup has already stopped them all."""
        for process in getattr(getattr(self, "local", None), "extra", []):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    # ---- the network ----
    def cut(self, group_a, group_b):
        self.net.cut(group_a, group_b)

    def heal(self):
        self.net.heal()
