"""The C++ SDK as a user gets it: Reef installed into a temporary prefix (`cmake --install
--component sdk`), examples/sdk configured with find_package(reef) against that prefix and built,
and its program run:

- joined to a reefd started here: the futures of spawn("pi") and spawn("sum_squares") give a pi
  estimate within 0.01 (and exactly the kernel's, recomputed here, however the chunks were
  shared) and the exact sum of squares; the reefd sees the program's node leave gracefully;
- alone, as the first node of a new cluster: the same answers.

ctest sets REEF_BUILD_DIR (a built tree), REEF_SOURCE_DIR, REEF_BIN_DIR (reefd), REEF_CMAKE,
REEF_CMAKE_GENERATOR and REEF_CXX. Everything lives in one temporary directory, removed at the end
(REEF_KEEP_TEST_DIRS=1 keeps it); the reefd is stopped by its pid.
"""

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import reef_harness  # noqa: E402  pylint: disable=wrong-import-position

BUILD_DIR = os.environ.get("REEF_BUILD_DIR", "")
SOURCE_DIR = os.environ.get("REEF_SOURCE_DIR", "")
BIN_DIR = os.environ.get("REEF_BIN_DIR", "")
CMAKE = os.environ.get("REEF_CMAKE", "cmake")
GENERATOR = os.environ.get("REEF_CMAKE_GENERATOR", "Ninja")
CXX = os.environ.get("REEF_CXX", "")

SAMPLES = 200_000
SEED = 7
SQUARES_N = 100_000  # examples/sdk/pi.cpp spawns sum_squares over [0, 100000)
SQUARES_EXACT = (SQUARES_N - 1) * SQUARES_N * (2 * SQUARES_N - 1) // 6
RUN_TIMEOUT = 150


def splitmix64(x):
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def pi_estimate(seed, samples):
    """The pi kernel's answer (docs/design/jobs.md): sample i hits when the high and low halves
    of splitmix64(seed ^ splitmix64(i)), as x and y in [0, 1), have x^2 + y^2 < 1."""
    hits = 0
    for i in range(samples):
        word = splitmix64(seed ^ splitmix64(i))
        x, y = word >> 32, word & 0xFFFFFFFF
        hits += x * x + y * y < 1 << 64
    return 4 * hits / samples


def run(args, timeout, **kwargs):
    return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
                          **kwargs)


class SdkPackageTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not BUILD_DIR or not SOURCE_DIR:
            raise unittest.SkipTest("REEF_BUILD_DIR and REEF_SOURCE_DIR are not set (run it "
                                    "through ctest)")
        cls.root = tempfile.mkdtemp(prefix="reef-sdk-")
        try:
            cls.prefix = os.path.join(cls.root, "prefix")
            cls.example_build = os.path.join(cls.root, "example-build")
            cls.install_and_build()
        except BaseException:
            shutil.rmtree(cls.root, ignore_errors=True)
            raise
        cls.program = os.path.join(cls.example_build, "pi")

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("REEF_KEEP_TEST_DIRS") == "1":
            print(f"kept {cls.root}")
        else:
            shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def install_and_build(cls):
        steps = [
            [CMAKE, "--install", BUILD_DIR, "--prefix", cls.prefix, "--component", "sdk"],
            [CMAKE, "-S", os.path.join(SOURCE_DIR, "examples", "sdk"), "-B", cls.example_build,
             "-G", GENERATOR, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
             f"-DCMAKE_PREFIX_PATH={cls.prefix}"] + ([f"-DCMAKE_CXX_COMPILER={CXX}"] if CXX else []),
            [CMAKE, "--build", cls.example_build, "-j", "1"],
        ]
        for step in steps:
            done = run(step, timeout=300)
            if done.returncode != 0:
                raise AssertionError(f"{' '.join(step)} exited {done.returncode}:\n{done.stdout}")

    def run_example(self, data_dir, *extra):
        args = [self.program, data_dir, "--samples", str(SAMPLES), "--seed", str(SEED), *extra]
        done = run(args, timeout=RUN_TIMEOUT)
        self.assertEqual(done.returncode, 0, f"{' '.join(args)}:\n{done.stdout}")
        return done.stdout

    def check_answers(self, output):
        """The node id, after checking both results: pi to the digit for the seed (the kernel
        is deterministic, however the job was split) and the exact sum of squares."""
        node = re.search(r"^node ([0-9a-f]{64}) at 127\.0\.0\.1:\d+$", output, re.M)
        pi = re.search(r"^pi = (\d+\.\d+) \((\d+) samples, job \S+, [\d.]+ s\)$", output, re.M)
        squares = re.search(r"^sum_squares = (\d+) \(job \S+, [\d.]+ s\)$", output, re.M)
        self.assertTrue(node and pi and squares, output)
        self.assertLess(abs(float(pi.group(1)) - math.pi), 0.01, output)
        self.assertEqual(pi.group(1), f"{pi_estimate(SEED, SAMPLES):.6f}", output)
        self.assertEqual(int(pi.group(2)), SAMPLES, output)
        self.assertEqual(int(squares.group(1)), SQUARES_EXACT, output)
        return node.group(1)

    def test_package_files(self):
        for path in ("include/reef/sdk.hpp", "lib/cmake/reef/reefConfig.cmake",
                     "lib/cmake/reef/reefConfigVersion.cmake", "lib/libreef_sdk.a"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, path)), path)
        with open(os.path.join(self.prefix, "include/reef/sdk.hpp"), encoding="utf-8") as header:
            text = header.read()
        self.assertNotIn("asio", re.sub(r"//.*", "", text))
        self.assertNotIn("nlohmann", text)

    def test_joined_to_a_reefd(self):
        # A reefd seed with its own key file; the example joins it with the same key. The reefd
        # computes chunks of pi only: sum_squares is the example's own task.
        key_file = os.path.join(self.root, "cluster.key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
                  encoding="utf-8") as key:
            key.write("reef-cluster-key-v1:" + os.urandom(32).hex() + "\n")
        port = reef_harness.free_port_range(1)
        seed_dir = os.path.join(self.root, "seed")
        os.makedirs(seed_dir, mode=0o700)
        with open(os.path.join(self.root, "seed.log"), "wb") as log:
            seed = subprocess.Popen(  # pylint: disable=consider-using-with
                [os.path.join(BIN_DIR, "reefd"), "--data-dir", seed_dir,
                 "--listen", f"127.0.0.1:{port}", "--cluster-key", key_file],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(self.stop, seed)
        control = os.path.join(seed_dir, "control.sock")
        reef_harness.poll_until(
            lambda: reef_harness.control_json(control, "GET", "/v1/status"), 60,
            "the seed reefd answers on its control socket")

        node_id = self.check_answers(self.run_example(
            os.path.join(self.root, "joined"), "--join", f"127.0.0.1:{port}",
            "--cluster-key", key_file))

        def left():
            peers = reef_harness.control_json(control, "GET", "/v1/peers") or {}
            return any(m.get("node_id") == node_id and m.get("state") == "left"
                       for m in peers.get("members", []))
        reef_harness.poll_until(left, 30, "the seed sees the example's node as left")

    def test_alone(self):
        self.check_answers(self.run_example(os.path.join(self.root, "alone")))

    def test_a_joining_node_needs_the_cluster_key(self):
        done = run([self.program, os.path.join(self.root, "keyless"), "--join", "127.0.0.1:9"],
                   timeout=RUN_TIMEOUT)
        self.assertEqual(done.returncode, 1, done.stdout)
        self.assertIn("cluster key file", done.stdout)

    @staticmethod
    def stop(process):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    unittest.main()
