"""The `reef` CLI on its own: usage errors (exit 2), runtime errors (exit 1) with messages that
say what to do, `init`, and answers from things that are not a healthy reefd."""

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import unittest

from reef_harness import REEF, free_port_range, require_binaries

COMMANDS = ["init", "up", "down", "status", "peers", "join", "leave"]


class CliTest(unittest.TestCase):

    def setUp(self):
        require_binaries(self, "reef")
        self.root = tempfile.mkdtemp(prefix="reef-cli-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.dir = os.path.join(self.root, "cluster")
        self.env = dict(os.environ, XDG_DATA_HOME=os.path.join(self.root, "xdg"),
                        HOME=os.path.join(self.root, "home"))

    def reef(self, *args, env=None, binary=REEF):
        return subprocess.run([binary, *map(str, args)], capture_output=True, text=True,
                              env=env or self.env, timeout=120, check=False)

    def assert_fails(self, args, code, *fragments):
        done = self.reef(*args)
        self.assertEqual(done.returncode, code,
                         f"reef {' '.join(map(str, args))}: stdout {done.stdout!r} "
                         f"stderr {done.stderr!r}")
        for fragment in fragments:
            self.assertIn(fragment, done.stderr, f"reef {' '.join(map(str, args))}")
        self.assertNotIn("terminate called", done.stderr)
        return done

    # ---- help and usage ----
    def test_help_lists_every_command_and_each_command_has_help(self):
        done = self.reef("--help")
        self.assertEqual(done.returncode, 0)
        for command in COMMANDS:
            self.assertIn(command, done.stdout)
        for option in ("--node", "--dir", "--timeout"):
            self.assertIn(option, done.stdout)
        for command in COMMANDS:
            sub = self.reef(command, "--help")
            self.assertEqual(sub.returncode, 0, command)
            self.assertIn("--json", sub.stdout, command)
        self.assertIn("--nodes", self.reef("up", "--help").stdout)
        self.assertIn("--cluster-key", self.reef("init", "--help").stdout)

    def test_usage_errors_exit_2(self):
        self.assert_fails([], 2)
        self.assert_fails(["frobnicate"], 2)
        self.assert_fails(["status", "--bogus"], 2)
        self.assert_fails(["join"], 2, "ADDR")
        self.assert_fails(["status", "--timeout", "0"], 2, "--timeout must be")
        self.assert_fails(["status", "--timeout", "soon"], 2, "--timeout must be")
        self.assert_fails(["--dir", "", "status"], 2, "--dir must not be empty")

    def test_bad_node_is_a_usage_error(self):
        for bad in ("0", "65", "-1", "abc", "1.5", "127.0.0.1:0", "127.0.0.1:99999", "",
                    "host:port"):
            self.assert_fails(["--dir", self.dir, "--node", bad, "status"], 2, "--node must be")
        long_path = "/" + "x" * 200 + "/control.sock"
        self.assert_fails(["--node", long_path, "peers"], 2, "longer than")
        # After the command too, as in `reef status --node 3`.
        self.assert_fails(["status", "--node", "nope"], 2, "--node must be")
        self.assert_fails(["--dir", self.dir, "--node", "127.0.0.1:7401", "down"], 2,
                          "--node must be a node number")

    def test_bad_join_address_is_a_usage_error(self):
        for bad in ("nonsense", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[::1]80",
                    ":7401", "", "a b:1", "1.2.3:4"):
            self.assert_fails(["--dir", self.dir, "join", bad], 2, "address must be HOST:PORT")

    def test_bad_up_arguments_are_usage_errors(self):
        for args, fragment in ((["--nodes", "0"], "--nodes must be"),
                               (["--nodes", "65"], "--nodes must be"),
                               (["--nodes", "four"], "--nodes must be"),
                               (["--base-port", "80"], "--base-port must be"),
                               (["--base-port", "65536"], "--base-port must be"),
                               (["--wait", "0"], "--wait must be"),
                               (["--nodes", "64", "--base-port", "65500"], "past 65535")):
            self.assert_fails(["--dir", self.dir, "up", *args], 2, fragment)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "node-1")),
                         "a rejected `up` starts nothing")

    # ---- no reefd ----
    def test_no_reefd_running_says_how_to_start_one(self):
        sock = os.path.join(self.dir, "node-1", "control.sock")
        for command in (["status"], ["peers"], ["leave"], ["join", "127.0.0.1:7401"],
                        ["status", "--json"]):
            self.assert_fails(["--dir", self.dir, *command], 1,
                              f"no reefd running at {sock}", "start one with `reef up`")
        self.assert_fails(["--dir", self.dir, "--node", "3", "peers"], 1,
                          f"no reefd running at {os.path.join(self.dir, 'node-3', 'control.sock')}",
                          "reef up --nodes 3")
        other = os.path.join(self.root, "elsewhere", "control.sock")
        self.assert_fails(["--node", other, "status"], 1, f"no reefd running at {other}")
        port = free_port_range(1)
        self.assert_fails(["--node", f"127.0.0.1:{port}", "status"], 1,
                          f"no reefd answering at 127.0.0.1:{port}")

    def test_default_directory_follows_xdg_data_home(self):
        expected = os.path.join(self.root, "xdg", "reef", "local", "node-1", "control.sock")
        self.assert_fails(["status"], 1, f"no reefd running at {expected}")
        env = dict(self.env)
        del env["XDG_DATA_HOME"]
        done = self.reef("status", env=env)
        self.assertEqual(done.returncode, 1)
        self.assertIn(os.path.join(self.root, "home", ".local", "share", "reef", "local"),
                      done.stderr)

    def test_down_with_nothing_running_succeeds(self):
        done = self.reef("--dir", self.dir, "down")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("no local node is running", done.stdout)
        as_json = json.loads(self.reef("--dir", self.dir, "down", "--json").stdout)
        self.assertEqual(as_json["nodes"], [])

    def test_up_without_reefd_says_where_it_looked(self):
        lonely = os.path.join(self.root, "bin")
        os.makedirs(lonely)
        shutil.copy(REEF, lonely)
        env = dict(self.env, PATH=os.path.join(self.root, "empty"))
        done = self.reef("--dir", self.dir, "up", env=env,
                         binary=os.path.join(lonely, "reef"))
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("cannot find reefd", done.stderr)
        self.assertIn(lonely, done.stderr)

    # ---- init ----
    def test_init_creates_a_private_key_once_and_prints_how_to_join(self):
        done = self.reef("--dir", self.dir, "init", "--address", "192.0.2.10:7400")
        self.assertEqual(done.returncode, 0, done.stderr)
        key = os.path.join(self.dir, "cluster.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key, encoding="utf-8") as text:
            self.assertRegex(text.read(), r"^reef-cluster-key-v1:[0-9a-f]{64}\n?$")
        self.assertIn("fingerprint", done.stdout)
        self.assertIn("--join 192.0.2.10:7400", done.stdout)
        self.assertIn(f"--cluster-key {key}", done.stdout)

        first = json.loads(self.reef("--dir", self.dir, "init", "--json").stdout)
        self.assertFalse(first["created"])
        self.assertEqual(first["cluster_key"], key)
        self.assertRegex(first["fingerprint"], r"^[0-9a-f]{16}$")
        self.assertIn(first["fingerprint"], done.stdout, "same key, same fingerprint")

        custom = os.path.join(self.root, "keys", "deep", "team.key")
        made = json.loads(self.reef("init", "--cluster-key", custom, "--json").stdout)
        self.assertTrue(made["created"])
        self.assertEqual(made["cluster_key"], custom)
        self.assertNotEqual(made["fingerprint"], first["fingerprint"])

    def test_init_rejects_bad_input(self):
        self.assert_fails(["--dir", self.dir, "init", "--address", "nowhere"], 2,
                          "address must be HOST:PORT")
        self.assert_fails(["init", "--cluster-key", ""], 2, "--cluster-key must not be empty")
        corrupt = os.path.join(self.root, "corrupt.key")
        with open(corrupt, "w", encoding="utf-8") as key:
            key.write("not a key\n")
        os.chmod(corrupt, 0o600)
        self.assert_fails(["init", "--cluster-key", corrupt], 1, corrupt)
        loose = os.path.join(self.root, "loose.key")
        self.assertEqual(self.reef("init", "--cluster-key", loose).returncode, 0)
        os.chmod(loose, 0o644)
        self.assert_fails(["init", "--cluster-key", loose], 1, loose)
        self.assert_fails(["init", "--cluster-key", os.path.join(self.root, "loose.key", "x")],
                          1)

    # ---- strangers on the control socket ----
    def serve_once(self, reply, answer=True):
        """A Unix socket that answers one request with `reply` (or reads and never answers)."""
        path = os.path.join(self.root, f"fake-{len(os.listdir(self.root))}.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        self.addCleanup(server.close)

        def run():
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                if answer:
                    conn.sendall(reply)
                else:
                    conn.recv(1)  # until the client gives up and closes

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 30)
        return path

    def test_error_answers_are_shown_with_the_nodes_reason(self):
        body = json.dumps({"error": {"code": "invalid argument",
                                     "message": "address must be HOST:PORT, got \"x\""}})
        path = self.serve_once(("HTTP/1.1 400 Bad Request\r\nContent-Length: "
                                f"{len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
        self.assert_fails(["--node", path, "join", "127.0.0.1:9"], 1, "HTTP 400",
                          "invalid argument: address must be HOST:PORT")

    def test_a_stranger_on_the_socket_is_a_clear_error(self):
        path = self.serve_once(b"SSH-2.0-OpenSSH_9.2\r\n")
        self.assert_fails(["--node", path, "status"], 1, "malformed HTTP answer")
        path = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        self.assert_fails(["--node", path, "peers"], 1, "not a JSON object")
        body = b'{"members": [{"node_id": 7}]}'
        path = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                               % (len(body), body))
        self.assert_fails(["--node", path, "peers"], 1, "unexpected answer")

    def test_a_silent_node_times_out(self):
        path = self.serve_once(b"", answer=False)
        self.assert_fails(["--timeout", "0.5", "--node", path, "status"], 1, "no answer from")


if __name__ == "__main__":
    unittest.main()
