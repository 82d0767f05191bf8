#!/usr/bin/env python3
"""`krt local up|down|status|kubeconfig|logs` as a user runs them: idempotent
up with progress and next steps, a usable kubeconfig, status exit codes, and
clear errors for a port in use, a stale ready file and a corrupted database.

Usage: cli_test.py /path/to/krt [unittest args...]
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import free_port  # noqa: E402

KRT = None


class LocalCliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="krt-cli-test-")
        self.port = free_port()
        self.env = dict(os.environ, HOME=self.dir, KRT_LOCAL_DIR=os.path.join(self.dir, "state"))

    def tearDown(self):
        self.krt("local", "down")
        # Nothing the plane started may outlive `krt local down` (the pods of
        # k8s/overlays/local are started by every `up` here).
        leftovers = []
        for _ in range(40):
            leftovers = self.processes_under(self.dir)
            if not leftovers:
                break
            time.sleep(0.05)
        for pid, _ in leftovers:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertEqual(leftovers, [], "processes left after krt local down")

    @staticmethod
    def processes_under(path):
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if path in cmd:
                found.append((int(pid), cmd[:200]))
        return found

    def krt(self, *args, env=None):
        return subprocess.run([KRT, *args], capture_output=True, text=True, env=env or self.env,
                              stdin=subprocess.DEVNULL, timeout=90)

    def up(self, *extra, env=None):
        return self.krt("local", "up", "--port", str(self.port), *extra, env=env)

    def test_up_is_idempotent_and_the_kubeconfig_works(self):
        r = self.up()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ready in", r.stderr)
        self.assertIn("https://127.0.0.1:%d" % self.port, r.stdout)
        self.assertIn("export KUBECONFIG=", r.stdout)
        kubeconfig = self.krt("local", "kubeconfig").stdout.strip()
        self.assertTrue(os.path.isfile(kubeconfig))
        self.assertIn("certificate-authority-data", self.krt("local", "kubeconfig", "--raw").stdout)
        k = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "namespaces", "-o", "name"],
                           capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(k.returncode, 0, k.stderr)
        self.assertIn("namespace/default", k.stdout)
        again = self.up()
        self.assertEqual(again.returncode, 0)
        self.assertIn("already running", again.stdout)
        st = self.krt("local", "status")
        self.assertEqual(st.returncode, 0)
        self.assertIn("Running: pid", st.stdout)
        self.assertIn('"msg":"serving"', self.krt("local", "logs").stdout)
        down = self.krt("local", "down")
        self.assertIn("Stopped", down.stdout)
        st = self.krt("local", "status")
        self.assertEqual(st.returncode, 1)
        self.assertIn("krt local up", st.stdout)
        self.assertIn("not running", self.krt("local", "down").stdout)

    def test_state_survives_down_and_up(self):
        self.assertEqual(self.up().returncode, 0)
        kc = self.krt("local", "kubeconfig").stdout.strip()
        run = lambda *a: subprocess.run(["kubectl", "--kubeconfig", kc, *a], capture_output=True, text=True,
                                        env=self.env, timeout=60)
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "apply", "-f", "-"], input=(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: default\ndata:\n  a: b\n"),
            capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.krt("local", "down")
        self.assertEqual(self.up().returncode, 0)
        self.assertEqual(run("get", "configmap", "keep", "-o", "jsonpath={.data.a}").stdout, "b")

    def test_up_applies_crds_and_the_local_overlay(self):
        manifests = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "manifests")
        r = self.up("--manifests", manifests)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Applied the CRDs", r.stderr)
        kc = self.krt("local", "kubeconfig").stdout.strip()
        run = lambda *a: subprocess.run(["kubectl", "--kubeconfig", kc, *a], capture_output=True, text=True,
                                        env=self.env, timeout=60)
        self.assertEqual(run("get", "crd", "widgets.example.kruntimes.io", "-o", "name").returncode, 0)
        self.assertEqual(run("get", "configmap", "local-overlay-applied", "-o", "jsonpath={.data.from}").stdout,
                         "overlays/local")
        # The CRDs are applied again on the next start (create or replace).
        self.krt("local", "down")
        self.assertEqual(self.up("--manifests", manifests).returncode, 0)

    def test_bad_manifest_stops_startup_with_the_file_named(self):
        bad = os.path.join(self.dir, "bad")
        os.makedirs(os.path.join(bad, "crds"))
        with open(os.path.join(bad, "crds", "x.yaml"), "w") as f:
            f.write("apiVersion: v1\nkind: Nonsense\nmetadata: {name: x}\n")
        r = self.up("--manifests", bad, "--timeout", "20")
        self.assertEqual(r.returncode, 1)
        self.assertIn("x.yaml", r.stderr)
        self.assertIn("Nonsense", r.stderr)

    def test_port_in_use_is_a_clear_error(self):
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", self.port))
        blocker.listen(1)
        try:
            r = self.up("--timeout", "20")
        finally:
            blocker.close()
        self.assertEqual(r.returncode, 1)
        self.assertIn("exited during startup", r.stderr)
        self.assertIn("--port", r.stderr)

    def test_stale_ready_file_is_replaced(self):
        state = self.env["KRT_LOCAL_DIR"]
        os.makedirs(state, exist_ok=True)
        with open(os.path.join(state, "apiserver.ready"), "w") as f:
            f.write("999999 https://127.0.0.1:1\n")
        r = self.up()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stale", r.stderr)

    def test_corrupted_database_is_reported(self):
        state = self.env["KRT_LOCAL_DIR"]
        os.makedirs(state, exist_ok=True)
        with open(os.path.join(state, "state.db"), "wb") as f:
            f.write(b"garbage" * 1000)
        r = self.up("--timeout", "20")
        self.assertEqual(r.returncode, 1)
        self.assertIn("move it away", r.stderr)

    # Where `krt local up` finds what it runs (issue #13): a krt copied or
    # installed elsewhere has the manifests compiled in and looks for the
    # binaries beside itself, and says which are missing.
    BINARIES = ("runtimed", "bash-runtime", "python-runtime", "kruntimes-scheduler", "kruntimes-controller",
                "kruntimes-reaper", "kruntimes-maintainer")

    def copied_krt(self):
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        shutil.copy2(KRT, bindir)
        return os.path.join(bindir, "krt")

    def test_a_copied_krt_names_the_missing_binaries_and_bare_starts_empty(self):
        krt = self.copied_krt()
        r = subprocess.run([krt, "local", "up", "--port", str(self.port)], capture_output=True, text=True,
                           env=self.env, timeout=90)
        self.assertEqual(r.returncode, 1, r.stderr)
        for name in self.BINARIES:
            self.assertIn(name, r.stderr)
        for hint in ("scripts/build.sh", "--image", "--node-runtime podman", "--bare"):
            self.assertIn(hint, r.stderr)
        r = subprocess.run([krt, "local", "up", "--bare", "--port", str(self.port)], capture_output=True,
                           text=True, env=self.env, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Applied nothing (--bare)", r.stderr)
        kc = self.krt("local", "kubeconfig").stdout.strip()
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "crd", "-o", "name"], capture_output=True,
                           text=True, env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("kruntimes.io", r.stdout)

    def installed_krt(self):
        """What scripts/install.sh installs: `meson install` of the build
        krt belongs to, into a directory of its own (--destdir)."""
        build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(KRT))))
        dest = os.path.join(self.dir, "installed")
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        found = [os.path.join(d, "krt") for d, _, files in os.walk(dest) if "krt" in files]
        self.assertEqual(len(found), 1, found)
        bindir = os.path.dirname(found[0])
        for name in self.BINARIES:
            self.assertTrue(os.access(os.path.join(bindir, name), os.X_OK), name + " is not installed")
        return found[0]

    def test_an_installed_krt_runs_a_run_from_any_directory_with_no_configuration(self):
        krt = self.installed_krt()
        work = os.path.join(self.dir, "elsewhere")
        os.makedirs(work)
        env = {k: v for k, v in self.env.items() if k != "KUBECONFIG"}
        r = subprocess.run([krt, "local", "up", "--port", str(self.port)], capture_output=True, text=True,
                           env=env, cwd=work, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("compiled into krt", r.stderr)
        status = subprocess.run([krt, "local", "status"], capture_output=True, text=True, env=env, timeout=30)
        self.assertIn("Node runtime: process", status.stdout)
        # No --kubeconfig, no $KUBECONFIG, no ~/.kube/config: krt uses the
        # local plane's (kubectl does not, so it is not asked here).
        r = subprocess.run([krt, "run", "--timeout", "60s", "--", "echo", "hi from anywhere"], capture_output=True,
                           text=True, env=env, cwd=work, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hi from anywhere\n")

    def test_podman_node_without_podman_is_a_clear_error(self):
        empty = os.path.join(self.dir, "empty-path")
        os.makedirs(empty)
        env = dict(self.env, PATH=empty)
        r = self.up("--node-runtime", "podman", env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("podman is not installed", r.stderr)
        self.assertIn("apt-get install podman", r.stderr)
        r = self.up("--node-runtime", "docker")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--node-runtime must be process or podman", r.stderr)

    def test_help_and_unknown_subcommand(self):
        r = self.krt("local", "--help")
        self.assertEqual(r.returncode, 0)
        for c in ("up", "down", "status", "kubeconfig", "logs"):
            self.assertIn(c, r.stdout)
        r = self.krt("local", "bogus")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown command "bogus"', r.stderr)
        for c in ("up", "down", "status", "kubeconfig", "logs", "serve"):
            h = self.krt("local", c, "--help")
            self.assertEqual(h.returncode, 0, c)
            self.assertIn("--state-dir", h.stdout)


if __name__ == "__main__":
    KRT = os.environ.get("KRT_BIN")
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        KRT = sys.argv.pop(1)
    if not KRT:
        sys.exit("usage: cli_test.py /path/to/krt")
    unittest.main(verbosity=2)
