"""Shared helpers for the integration tests: real `reefd` processes on 127.0.0.1, driven through
the `reef` CLI.

Every test gets its own temporary directory and its own free ports. Every process a test starts
is recorded and stopped by its pid at cleanup (SIGTERM, then SIGKILL), never by name. Waiting is
always polling with a generous bound: the machine is slow and shared, so a fixed sleep is never
the assertion.

REEF_BIN_DIR names the directory holding `reef` and `reefd` (ctest sets it).
REEF_KEEP_TEST_DIRS=1 keeps the temporary directories (logs) after the run.
"""

import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN_DIR = os.environ.get("REEF_BIN_DIR", "")
REEF = os.path.join(BIN_DIR, "reef")
REEFD = os.path.join(BIN_DIR, "reefd")


def use_bin_dir(path):
    """Points the harness at the `reef` and `reefd` in `path`, for scripts that ctest does not
    run (ctest sets REEF_BIN_DIR instead)."""
    global BIN_DIR, REEF, REEFD  # pylint: disable=global-statement
    BIN_DIR = path
    REEF = os.path.join(path, "reef")
    REEFD = os.path.join(path, "reefd")

# Generous bounds: they only stop a broken test, they are not what a test measures.
FORM_TIMEOUT = 120      # a 4-node cluster forms
DETECT_TIMEOUT = 60     # survivors declare a crashed or departed node
COMMAND_TIMEOUT = 180   # one `reef` invocation


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Makes this process adopt its orphaned descendants. `reef up` starts each reefd detached
    and exits, so the daemons would otherwise be re-parented to PID 1, which on some machines
    never reaps them; as their subreaper we reap them at cleanup and leave no zombies behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: nothing to tidy


def reap_orphans():
    """Reaps every exited child, including adopted daemons, without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def require_binaries(test, *names):
    for name in names:
        path = os.path.join(BIN_DIR, name)
        if not (BIN_DIR and os.access(path, os.X_OK)):
            test.fail(f"{path!r} is missing: build it, and point REEF_BIN_DIR (tests) or "
                      "--bin-dir (bench scripts) at its bin directory")


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count):
    """A base port such that base .. base+count-1 are free on 127.0.0.1 (below the ephemeral
    range, so clients' outgoing connections do not take them meanwhile)."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(20000, 32000 - count)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range found on 127.0.0.1")


def poll_until(condition, timeout, what, interval=0.2, describe=None):
    """Calls condition() until it returns a true value and returns that value; fails the test
    with `what` and describe() (the last observed state) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe() if describe else ""
            raise AssertionError(f"timed out after {timeout} s waiting until {what}\n{detail}")
        time.sleep(interval)


def pid_alive(pid):
    """True while pid runs and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().split(b"\0")
    except OSError:
        return []


class LocalCluster:
    """A `reef up` cluster in its own temporary directory."""

    def __init__(self, test, nodes=4):
        require_binaries(test, "reef", "reefd")
        become_subreaper()
        self.test = test
        self.nodes = nodes
        self.root = tempfile.mkdtemp(prefix="reef-it-")
        self.dir = os.path.join(self.root, "cluster")
        self.base_port = free_port_range(nodes)
        self.env = dict(os.environ)
        # Nothing may land in the real ~/.local/share, whatever a command defaults to.
        self.env["XDG_DATA_HOME"] = os.path.join(self.root, "xdg")
        self.pids = set()        # every reefd pid this test saw or started
        self.extra = []          # Popen objects started directly
        test.addCleanup(self.cleanup)

    # ---- running the CLI ----
    def reef(self, *args, check=True, timeout=COMMAND_TIMEOUT, directory=None):
        command = [REEF, "--dir", directory or self.dir, *[str(a) for a in args]]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {done.returncode}\n"
                                 f"stdout: {done.stdout}\nstderr: {done.stderr}\n"
                                 f"{self.log_tails()}")
        return done

    def reef_json(self, *args, directory=None):
        done = self.reef(*args, "--json", directory=directory)
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError as problem:
            raise AssertionError(f"reef {' '.join(map(str, args))} --json printed no JSON: "
                                 f"{problem}\n{done.stdout}") from problem

    def up(self, nodes=None):
        answer = self.reef_json("up", "--nodes", nodes or self.nodes, "--base-port",
                                self.base_port, "--wait", FORM_TIMEOUT)
        for node in answer["nodes"]:
            self.pids.add(node["pid"])
        return answer

    def status(self, node):
        return self.reef_json("--node", node, "status")

    def members(self, node):
        """Node `node`'s view: {node_id: member}, or None if it does not answer."""
        done = self.reef("--node", node, "peers", "--json", check=False, timeout=60)
        if done.returncode != 0:
            return None
        return {m["node_id"]: m for m in json.loads(done.stdout)["members"]}

    # ---- files and processes ----
    def node_dir(self, node):
        return os.path.join(self.dir, f"node-{node}")

    def log_path(self, node):
        return os.path.join(self.node_dir(node), "reefd.log")

    def log(self, node):
        path = self.log_path(node)
        try:
            with open(path, encoding="utf-8", errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def log_tails(self, lines=15):
        parts = []
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
            path = os.path.join(self.dir, name, "reefd.log")
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as log:
                    tail = log.read().splitlines()[-lines:]
                parts.append(f"--- {path} (last {lines} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    def pid(self, node):
        return self.status(node)["pid"]

    def spawn_reefd(self, data_dir, port, key_file, join=None, control=None, extra=()):
        """Starts one reefd directly (not through `reef up`); it is stopped at cleanup. `extra`
        holds more flags (e.g. --allow-exec)."""
        os.makedirs(data_dir, exist_ok=True)
        args = [REEFD, "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                "--cluster-key", key_file, *extra]
        if join:
            args += ["--join", join]
        if control:
            args += ["--control", control]
        log = open(os.path.join(data_dir, "reefd.log"), "ab")  # pylint: disable=consider-using-with
        self.test.addCleanup(log.close)
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=self.env)
        self.extra.append(process)
        self.pids.add(process.pid)
        return process

    def wait_exit(self, pid, timeout):
        poll_until(lambda: not pid_alive(pid), timeout, f"pid {pid} exits")

    def owns(self, pid):
        """True if pid is a live process started for this test (its command line names our
        directory), so cleanup never signals a reused pid."""
        return pid_alive(pid) and any(self.root.encode() in arg for arg in pid_cmdline(pid))

    def cleanup(self):
        for process in self.extra:
            if process.poll() is None:
                process.terminate()
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else []:
            pid_file = os.path.join(self.dir, name, "reefd.pid")
            try:
                with open(pid_file, encoding="utf-8") as text:
                    self.pids.add(int(text.read().strip()))
            except (OSError, ValueError):
                pass
        alive = [pid for pid in self.pids if self.owns(pid)]
        for pid in alive:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pid in alive:
            while self.owns(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.owns(pid):
                os.kill(pid, signal.SIGKILL)
        for process in self.extra:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in alive:
            poll_until(lambda pid=pid: not self.owns(pid), 15, f"pid {pid} exits")
        reap_orphans()
        if os.environ.get("REEF_KEEP_TEST_DIRS") == "1":
            print(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


class ClusterTestCase(unittest.TestCase):
    """Helpers to assert on cluster views."""

    maxDiff = None

    def wait_for_state(self, cluster, observers, node_id, states, timeout=DETECT_TIMEOUT):
        """Waits until every observer sees node_id in one of `states`; returns the elapsed time."""
        start = time.monotonic()
        views = {}

        def seen():
            for observer in observers:
                views[observer] = cluster.members(observer)
            return all(view is not None and node_id in view and view[node_id]["state"] in states
                       for view in views.values())

        def describe():
            lines = []
            for observer, view in views.items():
                state = "no answer" if view is None else (
                    view[node_id]["state"] if node_id in view else "absent")
                lines.append(f"node {observer} sees {node_id[:12]} as {state}")
            return "\n".join(lines) + "\n" + cluster.log_tails()

        poll_until(seen, timeout, f"nodes {observers} see {node_id[:12]} as {states}",
                   describe=describe)
        return time.monotonic() - start

    def assert_all_alive(self, cluster, observers, count):
        """Waits until every observer sees exactly `count` members, all alive."""
        views = {}

        def converged():
            for observer in observers:
                views[observer] = cluster.members(observer)
            return all(view is not None and len(view) == count and
                       all(m["state"] == "alive" for m in view.values())
                       for view in views.values())

        def describe():
            return "\n".join(
                f"node {o}: " + ("no answer" if v is None else
                                 ", ".join(f"{m['short_id']}={m['state']}" for m in v.values()))
                for o, v in views.items()) + "\n" + cluster.log_tails()

        poll_until(converged, FORM_TIMEOUT, f"nodes {observers} see {count} members alive",
                   describe=describe)
        return views


# ---- the control API spoken directly, and clusters of reefd started one by one ----

class ControlAnswer:
    """One answer of a node's control API: the HTTP status and the JSON body (None when the
    body is not JSON)."""

    def __init__(self, status, body, raw):
        self.status = status
        self.body = body
        self.raw = raw

    def __repr__(self):
        return f"HTTP {self.status} {self.raw[:500]!r}"


def control_request(socket_path, method, target, body=None, timeout=30.0):
    """Sends one HTTP/1.1 request on a control socket (a connection serves one request, as the
    server requires) and returns a ControlAnswer. A JSON body is sent with its Content-Length.
    The answer is read up to its Content-Length, so the time taken is the node's, not the time
    the server takes to close. Raises OSError when nothing answers."""
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        conn.sendall(head.encode() + b"\r\n" + payload)
        raw = b""
        length = None
        while True:
            if length is None and b"\r\n\r\n" in raw:
                headers = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
                for line in headers[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = len(raw.partition(b"\r\n\r\n")[0]) + 4 + int(value.strip())
            if length is not None and len(raw) >= length:
                break
            chunk = conn.recv(65536)
            if not chunk:
                break
            raw += chunk
    head_bytes, _, content = raw.partition(b"\r\n\r\n")
    status_line = head_bytes.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or \
            not status_line[1].isdigit():
        raise OSError(f"not an HTTP answer from {socket_path}: {raw[:200]!r}")
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = None
    return ControlAnswer(int(status_line[1]), parsed, content)


def control_json(socket_path, method, target, body=None, timeout=30.0):
    """The JSON body of a 200 answer, or None (no answer, another status, no JSON)."""
    try:
        answer = control_request(socket_path, method, target, body, timeout)
    except OSError:
        return None
    return answer.body if answer.status == 200 else None


class JoinedCluster:
    """`count` reefd processes on 127.0.0.1, started directly: node 0 alone, then every other
    node with `--join` to node 0's address only (so whatever else a node learns, it learns from
    the cluster). Nodes are numbered from 0; node i listens on base_port + i and has its own data
    dir, ROOT/nodes/node-i, whose control socket is the way to talk to it. Built on LocalCluster,
    so every process is stopped by its pid at cleanup, also when the test fails."""

    def __init__(self, test, count):
        self.local = LocalCluster(test, nodes=count)
        self.count = count
        self.base_port = self.local.base_port
        self.key_file = os.path.join(self.local.dir, "cluster.key")
        self.processes = {}
        self.node_flags = {}    # node -> more reefd flags, set before start()
        self.started_at = None  # time.monotonic() when node 0 was started

    # ---- where things are ----
    def data_dir(self, node):
        return os.path.join(self.local.root, "nodes", f"node-{node}")

    def socket_path(self, node):
        return os.path.join(self.data_dir(node), "control.sock")

    def address(self, node):
        return f"127.0.0.1:{self.base_port + node}"

    # ---- starting ----
    def start_first(self):
        self.local.reef("init", "--address", self.address(0))
        self.started_at = time.monotonic()
        self.processes[0] = self.local.spawn_reefd(self.data_dir(0), self.base_port,
                                                   self.key_file,
                                                   extra=self.node_flags.get(0, ()))
        poll_until(lambda: self.status(0), FORM_TIMEOUT, "node 0 answers on its control socket",
                   interval=0.02, describe=self.log_tails)

    def start_others(self):
        for node in range(1, self.count):
            self.processes[node] = self.local.spawn_reefd(
                self.data_dir(node), self.base_port + node, self.key_file,
                join=self.address(0), extra=self.node_flags.get(node, ()))

    def start(self):
        """Starts every node; returns when each answers on its control socket."""
        self.start_first()
        self.start_others()
        for node in range(1, self.count):
            poll_until(lambda node=node: self.status(node), FORM_TIMEOUT,
                       f"node {node} answers on its control socket", interval=0.05,
                       describe=self.log_tails)

    # ---- talking to a node ----
    def request(self, node, method, target, body=None, timeout=30.0):
        return control_request(self.socket_path(node), method, target, body, timeout)

    def status(self, node):
        """/v1/status of `node`, or None if it does not answer."""
        return control_json(self.socket_path(node), "GET", "/v1/status", timeout=10)

    def peers(self, node):
        """/v1/peers of `node`, or None if it does not answer."""
        return control_json(self.socket_path(node), "GET", "/v1/peers", timeout=10)

    def reef(self, node, *args, check=True, timeout=COMMAND_TIMEOUT):
        """The `reef` CLI pointed at `node` through its control socket."""
        done = self.local.reef("--node", self.socket_path(node), *args, check=False,
                               timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"reef {' '.join(map(str, args))} on node {node} exited "
                                 f"{done.returncode}\nstdout: {done.stdout}\nstderr: "
                                 f"{done.stderr}\n{self.log_tails(lines=8)}")
        return done

    def reef_json(self, node, *args, timeout=COMMAND_TIMEOUT):
        """`reef ARGS --json` on `node`, parsed."""
        done = self.reef(node, *args, "--json", timeout=timeout)
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError as problem:
            raise AssertionError(f"reef {' '.join(map(str, args))} --json on node {node} "
                                 f"printed no JSON: {problem}\n{done.stdout}") from problem

    def node_ids(self):
        """{node: its 64-hex id}."""
        ids = {}
        for node in range(self.count):
            status = self.status(node)
            if status is None:
                raise AssertionError(f"node {node} does not answer\n{self.log_tails()}")
            ids[node] = status["node_id"]
        return ids

    def wait_all_alive(self, timeout=FORM_TIMEOUT, routing_contacts=None, interval=0.1):
        """Waits until every node sees `count` members, all alive (and, with routing_contacts,
        holds at least that many contacts in its DHT routing table); returns the last views
        ({node: /v1/peers answer})."""
        views = {}

        def settled(view):
            if view is None:
                return False
            members = view.get("members", [])
            if len(members) != self.count or any(m.get("state") != "alive" for m in members):
                return False
            if routing_contacts is not None:
                return view.get("routing", {}).get("contacts", 0) >= routing_contacts
            return True

        def converged():
            for node in range(self.count):
                if not settled(views.get(node)):
                    views[node] = self.peers(node)
            return all(settled(views.get(node)) for node in range(self.count))

        def describe():
            lines = []
            for node in range(self.count):
                view = views.get(node)
                if view is None:
                    lines.append(f"node {node}: no answer")
                    continue
                members = view.get("members", [])
                alive = sum(m.get("state") == "alive" for m in members)
                lines.append(f"node {node}: {len(members)} members, {alive} alive, routing "
                             f"{view.get('routing')}")
            return "\n".join(lines) + "\n" + self.log_tails(lines=8)

        poll_until(converged, timeout, f"all {self.count} nodes see {self.count} members alive"
                   + (f" and hold {routing_contacts} routing contacts" if routing_contacts
                      else ""), interval=interval, describe=describe)
        return views

    def log_tails(self, lines=15):
        parts = []
        for node in range(self.count):
            path = os.path.join(self.data_dir(node), "reefd.log")
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as log:
                    tail = log.read().splitlines()[-lines:]
                parts.append(f"--- node {node}: {path} (last {lines} lines)\n" + "\n".join(tail))
        return "\n".join(parts)


class JoinedClusterTest(unittest.TestCase):
    """Test classes that share one JoinedCluster of `nodes` nodes, formed once for the class:
    node 0 starts alone and the others join through it. Every reefd is stopped by its pid when
    the class ends, also when setUpClass fails."""

    nodes = 5

    @classmethod
    def setUpClass(cls):
        cls.owner = unittest.TestCase()
        cls.addClassCleanup(cls.owner.doCleanups)
        started = time.monotonic()
        cls.cluster = JoinedCluster(cls.owner, cls.nodes)
        cls.cluster.start()
        cls.views = cls.cluster.wait_all_alive(FORM_TIMEOUT)
        cls.ids = cls.cluster.node_ids()
        print(f"\n{cls.nodes} nodes, all joined through node 0, alive "
              f"{time.monotonic() - started:.1f} s after node 0 started")
