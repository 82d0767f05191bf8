"""End-to-end tests of the Run path on the local control plane (issue #4).

Everything is real: `krt local serve` with the node, the k8s/ manifests
(CRDs, scheduler and controller Deployments, built-in Runtimes) applied with
kubectl, and the project's own binaries running as the pods' containers
(runtimed, bash-runtime, python-runtime, scheduler, controller). Runs are
created and read with krt and kubectl, as a user would.

Usage: run_path_test.py BUILD_DIR SOURCE_DIR
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "local"))
from localplane import LocalPlane  # noqa: E402

BUILD = SOURCE = None
TERMINAL = ("Succeeded", "Failed", "Timeout", "Cancelled")


def binaries(build):
    return {
        "krt": os.path.join(build, "tools", "krt", "krt"),
        "kruntimes/runtimed": os.path.join(build, "sidecar", "runtimed"),
        "kruntimes/bash-runtime": os.path.join(build, "servers", "bash-runtime"),
        "kruntimes/python-runtime": os.path.join(build, "servers", "python-runtime"),
        "kruntimes/scheduler": os.path.join(build, "services", "scheduler", "kruntimes-scheduler"),
        "kruntimes/controller": os.path.join(build, "services", "controller", "kruntimes-controller"),
    }


RUNTIME = """apiVersion: kruntimes.io/v1alpha1
kind: Runtime
metadata: {name: %(name)s}
spec:
  replicas: %(replicas)d
  port: 9091
  capacity: {resources: {runs: %(capacity)d}}
%(extra)s  template:
    spec:
      containers:
        - name: runtime
          image: kruntimes/bash-runtime:0.1.0
          args: ["--port=9091", "--work-dir=/workspace"]
"""


class RunPath(unittest.TestCase):
    plane = None

    @classmethod
    def setUpClass(cls):
        bins = binaries(BUILD)
        args = ["--apply", os.path.join(SOURCE, "k8s", "crds")]
        for image, path in bins.items():
            if image != "krt":
                args += ["--image", "%s=%s" % (image, path)]
        cls.krt_bin = bins["krt"]
        cls.plane = LocalPlane(bins["krt"], args).start()
        try:
            cls.plane.kubectl("apply", "-k", os.path.join(SOURCE, "k8s", "overlays", "local"))
            for rt in ("bash", "python"):
                cls.wait_runtime_ready(rt)
        except Exception:
            cls.dump()
            cls.plane.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.plane:
            cls.plane.cleanup()

    @classmethod
    def dump(cls):
        """What a person debugging a failure wants to see."""
        p = cls.plane
        for args in (("get", "pods", "-A", "-o", "wide"), ("get", "runs", "-A", "-o", "wide"),
                     ("get", "runtimes", "-A"), ("get", "events", "-A")):
            r = p.kubectl(*args, check=False)
            sys.stderr.write("$ kubectl %s\n%s%s\n" % (" ".join(args), r.stdout, r.stderr))
        pods = p.kubectl("get", "pods", "-A", "-o", "json", check=False)
        try:
            for pod in json.loads(pods.stdout)["items"]:
                for c in pod["spec"]["containers"]:
                    r = p.kubectl("logs", "-n", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                  "-c", c["name"], "--tail", "30", check=False)
                    sys.stderr.write("--- %s/%s [%s]\n%s\n" % (pod["metadata"]["namespace"],
                                                               pod["metadata"]["name"], c["name"], r.stdout))
        except (ValueError, KeyError):
            pass

    @classmethod
    def wait_runtime_ready(cls, name, replicas=1, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = cls.plane.kubectl("get", "runtime", name, "-o", "json", check=False)
            if r.returncode == 0 and json.loads(r.stdout).get("status", {}).get("readyReplicas", 0) >= replicas:
                # Ready pods also need a fresh runtimed heartbeat before the
                # scheduler uses them.
                if cls.runtime_pods(name, heartbeat=True):
                    return
            time.sleep(0.2)
        raise AssertionError("Runtime %s not ready within %ds" % (name, timeout))

    @classmethod
    def runtime_pods(cls, name, heartbeat=False):
        r = cls.plane.kubectl("get", "pods", "-l", "runtime=" + name, "-o", "json", check=False)
        if r.returncode != 0:
            return []
        out = []
        for pod in json.loads(r.stdout)["items"]:
            conds = {c["type"]: c for c in pod.get("status", {}).get("conditions", [])}
            if conds.get("Ready", {}).get("status") != "True":
                continue
            if heartbeat and conds.get("kruntimes.io/RuntimedReady", {}).get("status") != "True":
                continue
            out.append(pod)
        return out

    # ------------------------------------------------------------ helpers

    def krt(self, *args, timeout=120, input=None):
        return subprocess.run([self.krt_bin, *args], capture_output=True, text=True, input=input,
                              env=self.plane.env(), timeout=timeout, check=False)

    def get_run(self, name):
        return json.loads(self.plane.kubectl("get", "run", name, "-o", "json").stdout)

    def wait_run(self, name, phases=TERMINAL, timeout=90, message=None):
        deadline = time.time() + timeout
        run = None
        while time.time() < deadline:
            run = self.get_run(name)
            st = run.get("status", {})
            if st.get("phase") in phases and (message is None or message in st.get("message", "")):
                return run
            time.sleep(0.05)
        self.dump()
        raise AssertionError("Run %s did not reach %s (message %r) within %ds: %s" %
                             (name, phases, message, timeout, json.dumps(run.get("status") if run else None)))

    def detach(self, name, *args):
        r = self.krt("run", "--detach", "--name", name, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return name

    def condition(self, run, type_):
        for c in run.get("status", {}).get("conditions", []):
            if c["type"] == type_:
                return c
        return None

    def create_runtime(self, name, capacity=2, replicas=1, extra=""):
        self.plane.kubectl("apply", "-f", "-", input=RUNTIME % {
            "name": name, "capacity": capacity, "replicas": replicas, "extra": extra})

    # ------------------------------------------------------------ lifecycles

    def test_echo_hello_prints_and_exits_zero(self):
        r = self.krt("run", "--name", "hello", "--", "echo", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n")
        run = self.get_run("hello")
        st = run["status"]
        self.assertEqual(st["phase"], "Succeeded")
        self.assertEqual(st["message"], "execution completed")
        self.assertEqual(st["attempt"], 1)
        self.assertTrue(st["assignedPod"].startswith("runtime-bash-"))
        # Microsecond timestamps on every hop (docs/run-path.md).
        for t in (st["startTime"], st["completionTime"], self.condition(run, "Scheduled")["lastTransitionTime"]):
            self.assertRegex(t, r"\.\d{6}Z$")
        self.assertEqual(self.condition(run, "Completed")["reason"], "RunCompleted")
        self.assertEqual(self.condition(run, "Running")["reason"], "Completed")

    def test_bash_args_env_and_outputs(self):
        name = self.detach("bash-env", "--env", "GREETING=hi there", "--env", "EMPTY", "--",
                           'echo "$GREETING"; echo "empty=[$EMPTY]"; echo "result=42" >> "$KRUNTIME_OUTPUTS"; '
                           'printf "# comment\\n\\nkey = spaced value \\n" >> "$KRUNTIME_OUTPUTS"')
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertEqual(run["status"]["outputs"], {"result": "42", "key": "spaced value"})
        out = self.krt("outputs", name)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("result=42", out.stdout)
        logs = self.krt("logs", name)
        self.assertEqual(logs.returncode, 0, logs.stderr)
        self.assertIn("hi there", logs.stdout)
        self.assertIn("empty=[]", logs.stdout)

    def test_bash_inline_script_with_args(self):
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
            f.write('echo "script args: $*"\necho "cwd-has-script: $(test -f script && echo yes)"\n')
        try:
            r = self.krt("run", "--name", "inline-sh", "-f", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cwd-has-script: yes", r.stdout)
        self.assertEqual(self.get_run("inline-sh")["spec"]["source"]["inline"].count("script args"), 1)

    def test_python_one_liner_and_inline(self):
        r = self.krt("run", "-r", "python", "--name", "py-one", "--", "-c", "import sys; print(6*7); print('e', file=sys.stderr)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "42\n")
        r = self.krt("run", "-r", "python", "--name", "py-inline", "-f", "-",
                     input="import os\nopen(os.environ['KRUNTIME_OUTPUTS'], 'w').write('lang=python\\n')\nprint('ok')\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "ok\n")
        self.assertEqual(self.get_run("py-inline")["status"]["outputs"], {"lang": "python"})

    def test_failure_reports_exit_code_and_stderr(self):
        r = self.krt("run", "--name", "fails", "--", "echo oops >&2; exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)
        run = self.get_run("fails")
        self.assertEqual(run["status"]["phase"], "Failed")
        self.assertEqual(self.condition(run, "Completed")["reason"], "RuntimeError")
        self.assertIn("exit status 3", run["status"]["message"])

    def test_entrypoint_must_be_relative(self):
        r = self.krt("run", "--detach", "--name", "abs-ep", "--entrypoint", "/etc/passwd", "--", "x")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("mode.task.entrypoint must be a relative path", r.stderr)

    # ------------------------------------------------------------ limits and failures

    def test_timeout_is_terminal_with_reason(self):
        name = self.detach("times-out", "--timeout", "1s", "--", "sleep 60")
        run = self.wait_run(name, timeout=60)
        self.assertEqual(run["status"]["phase"], "Timeout", run["status"])
        self.assertEqual(run["status"]["message"], "timeout after 1s")
        self.assertEqual(self.condition(run, "Completed")["reason"], "Timeout")

    def test_retry_until_success_keeps_workspace(self):
        script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -ge 3 ]'
        name = self.detach("retries", "--retry-attempts", "3", "--retry-backoff", "100ms", "--", script)
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertEqual(run["status"]["attempt"], 3)

    def test_invalid_outputs_fail_without_retry(self):
        name = self.detach("bad-outputs", "--retry-attempts", "3", "--", 'echo "no equals sign" >> "$KRUNTIME_OUTPUTS"')
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Failed", run["status"])
        self.assertEqual(self.condition(run, "Completed")["reason"], "OutputsInvalid")
        self.assertEqual(run["status"]["attempt"], 1)
        name = self.detach("big-outputs", "--retry-attempts", "3", "--",
                           'printf "k=%09000d\\n" 0 >> "$KRUNTIME_OUTPUTS"')
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Failed", run["status"])
        self.assertEqual(self.condition(run, "Completed")["reason"], "OutputsTooLarge")
        self.assertEqual(run["status"]["attempt"], 1)

    # ------------------------------------------------------------ cancel

    def test_cancel_running_run(self):
        name = self.detach("cancel-running", "--", "sleep 60")
        self.wait_run(name, phases=("Running",))
        r = self.krt("cancel", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Cancellation requested for run " + name, r.stdout)
        run = self.wait_run(name, timeout=30)
        self.assertEqual(run["status"]["phase"], "Cancelled", run["status"])
        self.assertEqual(run["status"]["message"], "cancelled by user")

    def test_unknown_runtime_waits_with_message_and_cancel_pending(self):
        name = self.detach("no-such-runtime", "-r", "nope", "--", "true")
        run = self.wait_run(name, phases=("Pending",), message='waiting for available runtime pods for runtime "nope"')
        self.assertFalse(run["status"].get("assignedPod"))
        self.assertEqual(self.krt("cancel", name).returncode, 0)
        run = self.wait_run(name, timeout=30)
        self.assertEqual(run["status"]["phase"], "Cancelled")
        self.assertEqual(run["status"].get("attempt", 0), 0)

    # ------------------------------------------------------------ scheduling

    def test_capacity_holds_a_run_pending_until_capacity_frees(self):
        self.create_runtime("cap-one", capacity=1)
        self.wait_runtime_ready("cap-one")
        first = self.detach("cap-first", "-r", "cap-one", "--", "sleep 2")
        self.wait_run(first, phases=("Running",))
        second = self.detach("cap-second", "-r", "cap-one", "--", "echo second")
        self.wait_run(second, phases=("Pending",), message="waiting for available runtime pods")
        a = self.wait_run(first)
        b = self.wait_run(second)
        self.assertEqual(a["status"]["phase"], "Succeeded")
        self.assertEqual(b["status"]["phase"], "Succeeded")
        self.assertGreaterEqual(b["status"]["startTime"], a["status"]["completionTime"])

    def test_runtime_created_after_its_runs_wakes_them(self):
        names = [self.detach("late-%d" % i, "-r", "late", "--", "echo late") for i in range(3)]
        for n in names:
            self.wait_run(n, phases=("Pending",), message='runtime "late"')
        self.create_runtime("late", capacity=2)
        for n in names:
            self.assertEqual(self.wait_run(n, timeout=120)["status"]["phase"], "Succeeded")

    # ------------------------------------------------------------ recovery

    def runtimed_pid(self, pod):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
                if not argv0.endswith(b"/runtimed"):
                    continue
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read().split(b"\0")
                if ("POD_NAME=" + pod).encode() in env or ("HOSTNAME=" + pod).encode() in env:
                    return int(pid)
            except OSError:
                continue
        return None

    def test_runtimed_killed_mid_run_recovers_it(self):
        name = self.detach("survives-runtimed", "--", "sleep 3; echo done=yes >> $KRUNTIME_OUTPUTS")
        run = self.wait_run(name, phases=("Running",))
        pid = self.runtimed_pid(run["status"]["assignedPod"])
        self.assertIsNotNone(pid, "runtimed of %s not found" % run["status"]["assignedPod"])
        os.kill(pid, signal.SIGKILL)
        run = self.wait_run(name, timeout=120)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertEqual(run["status"]["outputs"], {"done": "yes"})

    # ------------------------------------------------------------ artifacts

    def test_artifacts_are_collected_and_downloadable(self):
        self.create_runtime("with-store", extra="  artifactStore:\n    driver: filesystem\n"
                                                "    filesystem: {volumeClaimName: e2e-artifacts}\n")
        self.wait_runtime_ready("with-store")
        name = self.detach("makes-artifacts", "-r", "with-store", "--",
                           'echo report > "$KRUNTIME_ARTIFACTS_DIR/report.txt"; '
                           'mkdir -p "$KRUNTIME_ARTIFACTS_DIR/dir/sub"; echo x > "$KRUNTIME_ARTIFACTS_DIR/dir/sub/x"')
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        refs = {a["name"]: a for a in run["status"]["artifactRefs"]}
        self.assertEqual(sorted(refs), ["dir", "report.txt"])
        self.assertEqual(refs["report.txt"]["type"], "file")
        self.assertEqual(refs["report.txt"]["sizeBytes"], 7)
        self.assertEqual(refs["report.txt"]["digest"], "sha256:" + hashlib.sha256(b"report\n").hexdigest())
        self.assertEqual(refs["dir"]["type"], "directory")
        self.assertEqual(refs["dir"]["contentType"], "application/gzip")
        listing = self.krt("artifact", "list", name)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("report.txt", listing.stdout)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.txt")
            r = self.krt("artifact", "download", name, "report.txt", "-o", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"report\n")

    # ------------------------------------------------------------ kubectl

    def test_kubectl_printer_columns(self):
        self.krt("run", "--name", "columns", "--", "true")
        r = self.plane.kubectl("get", "runs", "columns")
        self.assertRegex(r.stdout.splitlines()[0], r"NAME\s+PHASE\s+ASSIGNED POD\s+RUNTIME\s+AGE")
        self.assertIn("Succeeded", r.stdout)
        r = self.plane.kubectl("get", "rt", "bash")
        self.assertRegex(r.stdout.splitlines()[0], r"NAME\s+IMAGE\s+REPLICAS\s+READY\s+AGE")
        self.assertIn("kruntimes/bash-runtime:0.1.0", r.stdout)


if __name__ == "__main__":
    BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
