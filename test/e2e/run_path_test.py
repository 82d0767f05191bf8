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
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import PlaneTest, main  # noqa: E402



class RunPath(PlaneTest):
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

    # ------------------------------------------------------------ security

    def test_run_code_gets_no_api_credentials(self):
        """Only runtimed mounts the service account token (a projected volume);
        the runtime container, and so the code of a Run, has none."""
        r = self.krt("run", "--name", "no-creds", "--", 'echo "kubeconfig=${KUBECONFIG:-none}"; '
                     'test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo token || echo no-token')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["kubeconfig=none", "no-token"])
        pod = self.get_run("no-creds")["status"]["assignedPod"]
        spec = json.loads(self.plane.kubectl("get", "pod", pod, "-o", "json").stdout)["spec"]
        self.assertFalse(spec["automountServiceAccountToken"])
        mounts = {c["name"]: [m["name"] for m in c.get("volumeMounts", [])] for c in spec["containers"]}
        self.assertIn("kruntimes-api-access", mounts["runtimed"])
        self.assertNotIn("kruntimes-api-access", mounts["runtime"])

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
    main()
