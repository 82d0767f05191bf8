#!/usr/bin/env python3
"""runtimed end to end: the real local control plane (`krt local serve`), a
real Runtime Server process (test/sidecar/fake_runtime, bash underneath) and
the real runtimed binary. Runs are created as the scheduler would leave them
(phase Scheduled, assignedPod = our pod) and runtimed takes them from there.

Usage: /usr/bin/python3 runtimed_test.py KRT RUNTIMED FAKE_RUNTIME RUNS_CRD [unittest args...]
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "local"))
from localplane import LocalPlane  # noqa: E402

from kubernetes import client, config  # noqa: E402

KRT = RUNTIMED = FAKE = CRD = BASH_RUNTIME = None
G, V, P = "kruntimes.io", "v1alpha1", "runs"
TERMINAL = ("Succeeded", "Failed", "Timeout", "Cancelled")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Pod:
    """One Runtime Pod: a fake Runtime Server and runtimed sharing a workspace."""

    def __init__(self, test, ns, name, workers=2, watch=True, extra_args=(), socket_name=None, real=False):
        self.test, self.ns, self.name, self.workers, self.watch = test, ns, name, workers, watch
        self.real = real
        if real and not socket_name:
            socket_name = "krt-runtimed-test-%d-%s-%s" % (os.getpid(), ns, name)
        self.extra_args = list(extra_args)
        self.socket = "unix-abstract:" + socket_name if socket_name else None
        self.dir = tempfile.mkdtemp(prefix="runtimed-test-")
        self.workspace = os.path.join(self.dir, "workspace")
        os.makedirs(self.workspace)
        self.fake = self.runtimed = None
        self.http_port = free_port()
        self.start_fake()
        self.start_runtimed()

    def start_fake(self):
        if self.real:
            # The built-in Bash Runtime Server on the pod's abstract socket only.
            self.fake_log = open(os.path.join(self.dir, "fake.log"), "ab")
            self.fake = subprocess.Popen([BASH_RUNTIME, "--port", "0", "--socket", self.socket,
                                          "--work-dir", self.workspace],
                                         stdout=self.fake_log, stderr=self.fake_log)
            self.fake_port = 1
            return
        port_file = os.path.join(self.dir, "fake.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        # A restarted server keeps its address, as in a pod.
        listen = self.socket or "127.0.0.1:%d" % getattr(self, "fake_port", 0)
        args = [FAKE, "--listen", listen, "--work-dir", self.workspace, "--port-file", port_file]
        if not self.watch:
            args.append("--no-watch")
        self.fake_log = open(os.path.join(self.dir, "fake.log"), "ab")
        self.fake = subprocess.Popen(args, stdout=self.fake_log, stderr=self.fake_log)
        wait_until(lambda: os.path.exists(port_file), 20, "fake runtime port")
        with open(port_file) as f:
            self.fake_port = int(f.read().strip())
        if self.socket:
            self.fake_port = 1  # nothing listens there: only the socket works

    def start_runtimed(self):
        env = self.test.lp.env()
        env.update({"POD_NAME": self.name, "POD_NAMESPACE": self.ns, "KRUNTIMES_HEARTBEAT_INTERVAL_MS": "500"})
        env.pop("POD_IP", None)
        env.pop("KRUNTIMES_RUNTIME_SOCKET", None)
        self.out = open(os.path.join(self.dir, "runtimed.out"), "ab")
        self.err = open(os.path.join(self.dir, "runtimed.err"), "ab")
        wrapper = os.environ.get("RUNTIMED_WRAPPER", "").split()
        self.runtimed = subprocess.Popen(
            wrapper + [RUNTIMED, "--runtime-endpoint", "127.0.0.1:%d" % self.fake_port,
             "--health-probe-bind-address", "127.0.0.1:%d" % self.http_port,
             "--workers", str(self.workers), "--workspace-dir", self.workspace, "--runtime-name", "bash",
             *(["--runtime-socket", self.socket] if self.socket else []), *self.extra_args],
            env=env, stdout=self.out, stderr=self.err)
        wait_until(lambda: self.ready(), 30, "runtimed /readyz")

    def ready(self):
        if self.runtimed.poll() is not None:
            raise AssertionError("runtimed exited %d: %s" % (self.runtimed.returncode, self.stderr_text()))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.http_port, timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    def get(self, path, headers=False):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=30) as r:
            if headers:
                return r.status, r.read().decode(), dict(r.headers)
            return r.status, r.read().decode()

    def stdout_lines(self):
        self.out.flush()
        with open(os.path.join(self.dir, "runtimed.out")) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stderr_text(self, limit=6000):
        with open(os.path.join(self.dir, "runtimed.err"), errors="replace") as f:
            text = f.read()
            return text if limit is None else text[-limit:]

    def kill9_runtimed(self):
        self.runtimed.send_signal(signal.SIGKILL)
        self.runtimed.wait(timeout=10)
        self.out.close()
        self.err.close()

    def kill9_fake(self):
        self.fake.send_signal(signal.SIGKILL)
        self.fake.wait(timeout=10)
        self.fake_log.close()

    def stop(self):
        for p in (self.runtimed, self.fake):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in ("out", "err", "fake_log"):
            if hasattr(self, f) and not getattr(self, f).closed:
                getattr(self, f).close()
        return self.runtimed.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RuntimedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT, extra_args=["--no-node"]).start()
        cls.lp.kubectl("apply", "-f", CRD)
        cls.api = config.new_client_from_config(config_file=cls.lp.kubeconfig)
        cls.core = client.CoreV1Api(cls.api)
        cls.co = client.CustomObjectsApi(cls.api)
        cls.counter = 0

    @classmethod
    def tearDownClass(cls):
        cls.api.close()
        cls.lp.cleanup()

    def setUp(self):
        type(self).counter += 1
        self.ns = "rt%d" % self.counter
        self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}})
        self.pod_name = "runtime-bash-0"
        self.core.create_namespaced_pod(self.ns, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.pod_name, "labels": {"runtime": "bash"}},
            "spec": {"containers": [{"name": "runtime", "image": "kruntimes/bash-runtime"}]}})
        self.pods = []

    def tearDown(self):
        for p in self.pods:
            rc = p.stop()
            p.cleanup()
            self.assertIn(rc, (0, -9), "runtimed did not exit cleanly on SIGTERM")

    real_server = False

    def pod(self, **kw):
        kw.setdefault("real", self.real_server)
        p = Pod(self, self.ns, self.pod_name, **kw)
        self.pods.append(p)
        return p

    # ---- Runs

    def create_run(self, name, script, env=None, timeout=None, retry=None, cancel=False):
        spec = {"runtime": "bash", "mode": {"task": {}}, "source": {"inline": script}}
        if env:
            spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
        if timeout:
            spec["timeout"] = timeout
        if retry:
            spec["retryPolicy"] = retry
        if cancel:
            spec["cancelRequested"] = True
        self.co.create_namespaced_custom_object(G, V, self.ns, P, {
            "apiVersion": "%s/%s" % (G, V), "kind": "Run", "metadata": {"name": name}, "spec": spec})
        pod = self.core.read_namespaced_pod(self.pod_name, self.ns)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        patch = {"status": {"phase": "Scheduled", "assignedPod": self.pod_name, "assignedPodUID": pod.metadata.uid,
                            "conditions": [{"type": "Scheduled", "status": "True", "reason": "Assigned",
                                            "message": "assigned to runtime pod " + self.pod_name,
                                            "lastTransitionTime": now}]}}
        self.lp.kubectl("patch", "runs.kruntimes.io", name, "-n", self.ns, "--subresource=status", "--type=merge",
                        "-p", json.dumps(patch))
        return self.run_obj(name)

    def run_obj(self, name):
        return self.co.get_namespaced_custom_object(G, V, self.ns, P, name)

    def phase(self, name):
        return self.run_obj(name).get("status", {}).get("phase", "")

    def wait_phase(self, name, phases, timeout=30):
        if isinstance(phases, str):
            phases = (phases,)
        last = {}

        def check():
            last["r"] = self.run_obj(name)
            return last["r"].get("status", {}).get("phase") in phases and last["r"]
        try:
            return wait_until(check, timeout, "run %s to reach %s" % (name, phases))
        except AssertionError:
            logs = "".join("\n---- runtimed log:\n" + p.stderr_text()[-3000:] for p in self.pods)
            raise AssertionError("run %s never reached %s; last status %s%s" %
                                 (name, phases, json.dumps(last.get("r", {}).get("status")), logs))

    def wait_started(self, p, run):
        # The Run is Running from the claim on; the execution exists once the
        # server created its log file.
        path = os.path.join(p.workspace, ".logs", run["metadata"]["uid"] + ".stdout")
        wait_until(lambda: os.path.exists(path), 15, "the execution to start")

    def kill_later(self, p, run):
        # The script's process outlives a kill -9 of its server: end it with the test.
        path = os.path.join(p.workspace, run["metadata"]["uid"], "pid")

        def read_pid():
            try:
                with open(path) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return ""
        pid = int(wait_until(read_pid, 15, "the script to start"))
        uid = run["metadata"]["uid"]
        wait_until(lambda: any('"execution started"' in l and uid in l for l in p.stderr_text(None).splitlines()),
                   15, "runtimed to see Execute return")

        def kill():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.addCleanup(kill)

    def cond(self, run, ctype):
        for c in run["status"].get("conditions", []):
            if c["type"] == ctype:
                return c
        return None

    # ---- tests

    def test_claim_succeeds_with_outputs_logs_and_heartbeat(self):
        p = self.pod()
        self.create_run("ok", 'echo hello; echo "$GREETING" >&2\necho "answer = 42" >> "$KRUNTIME_OUTPUTS"\n',
                        env={"GREETING": "hi there"})
        r = self.wait_phase("ok", TERMINAL)
        st = r["status"]
        self.assertEqual(st["phase"], "Succeeded", st)
        self.assertEqual(st["message"], "execution completed")
        self.assertEqual(st["outputs"], {"answer": "42"})
        self.assertEqual(st["attempt"], 1)
        self.assertRegex(st["startTime"], r"\.\d{6}Z$")
        self.assertRegex(st["completionTime"], r"\.\d{6}Z$")
        self.assertEqual(self.cond(r, "Completed")["reason"], "RunCompleted")
        self.assertEqual(self.cond(r, "Running")["status"], "False")
        uid = r["metadata"]["uid"]
        # Output lines are written before the terminal status.
        lines = [l for l in p.stdout_lines() if l.get("run_uid") == uid]
        self.assertEqual([(l["stream"], l["message"]) for l in lines], [("stdout", "hello"), ("stderr", "hi there")])
        self.assertEqual(list(lines[0].keys()),
                         ["run_uid", "run_name", "namespace", "runtime", "pod", "stream", "message"])
        # The logs endpoint keeps finished Runs' output.
        status, body = p.get("/runs/%s/log?stream=stdout" % uid)
        self.assertEqual((status, body), (200, "hello\n"))
        status, body = p.get("/runs/%s/log" % uid)
        self.assertEqual(body, "hello\nhi there\n")
        # The heartbeat is a pod condition.
        def heartbeat():
            pod = self.core.read_namespaced_pod(self.pod_name, self.ns)
            return [c for c in pod.status.conditions or [] if c.type == "kruntimes.io/RuntimedReady"]
        hb = wait_until(heartbeat, 10, "the heartbeat condition")
        self.assertEqual(len(hb), 1)
        self.assertEqual((hb[0].status, hb[0].reason), ("True", "Heartbeat"))
        # Later beats move lastProbeTime and keep lastTransitionTime.
        later = wait_until(lambda: [c for c in heartbeat() if c.last_probe_time != hb[0].last_probe_time], 10,
                           "a second heartbeat")
        self.assertEqual(later[0].last_transition_time, hb[0].last_transition_time)
        # Metrics.
        _, metrics = p.get("/metrics")
        self.assertIn('kruntimes_runtimed_runs_total{runtime="bash",result="succeeded"} 1', metrics)
        # The workspace is removed after the terminal write.
        wait_until(lambda: not os.path.exists(os.path.join(p.workspace, uid)), 10, "workspace removal")

    def test_failure_is_failed_runtime_error(self):
        self.pod()
        r = self.wait_phase_after_create("bad", "echo oops >&2; exit 3")
        st = r["status"]
        self.assertEqual((st["phase"], self.cond(r, "Completed")["reason"]), ("Failed", "RuntimeError"), st)
        self.assertEqual(st["message"], "exit status 3")
        self.assertEqual(st["attempt"], 1)

    def wait_phase_after_create(self, name, script, **kw):
        self.create_run(name, script, **kw)
        return self.wait_phase(name, TERMINAL)

    def test_retry_until_success(self):
        self.pod()
        script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "try $n"; [ $n -ge 3 ]\n'
        r = self.wait_phase_after_create("retry", script, retry={"maxAttempts": 3, "backoff": "50ms"})
        st = r["status"]
        self.assertEqual(st["phase"], "Succeeded", st)
        self.assertEqual(st["attempt"], 3)
        events = self.core.list_namespaced_event(self.ns).items
        reasons = {e.reason for e in events if e.involved_object.name == "retry"}
        self.assertIn("RunFailedRetrying", reasons)

    def test_retries_exhausted(self):
        self.pod()
        r = self.wait_phase_after_create("exhaust", "exit 1", retry={"maxAttempts": 2, "backoff": "10ms"})
        st = r["status"]
        self.assertEqual((st["phase"], st["attempt"]), ("Failed", 2), st)

    def test_timeout(self):
        self.pod()
        r = self.wait_phase_after_create("slow", "sleep 30", timeout="1s")
        st = r["status"]
        self.assertEqual(st["phase"], "Timeout", st)
        self.assertEqual(st["message"], "timeout after 1s")
        self.assertEqual(self.cond(r, "Completed")["reason"], "Timeout")

    def test_timeout_then_retry_gets_a_fresh_deadline(self):
        self.pod()
        script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ] || sleep 30\n'
        r = self.wait_phase_after_create("slowonce", script, timeout="1s",
                                         retry={"maxAttempts": 2, "backoff": "10ms"})
        self.assertEqual((r["status"]["phase"], r["status"]["attempt"]), ("Succeeded", 2), r["status"])

    def test_cancel_running_run(self):
        self.pod()
        self.create_run("long", "sleep 30")
        self.wait_phase("long", "Running")
        self.co.patch_namespaced_custom_object(G, V, self.ns, P, "long", {"spec": {"cancelRequested": True}})
        r = self.wait_phase("long", TERMINAL)
        self.assertEqual((r["status"]["phase"], r["status"]["message"]), ("Cancelled", "cancelled by user"))

    def test_cancel_before_claim(self):
        self.pod()
        r = self.wait_phase_after_create("early", "echo never", cancel=True)
        self.assertEqual((r["status"]["phase"], r["status"]["message"]), ("Cancelled", "cancelled by user"))

    def test_lost_claim_stops_the_pipelined_execution_once(self):
        # The claim is pipelined with the execution (docs/runtimed.md). A
        # claim the API server keeps rejecting (here: a 17th condition breaks
        # the CRD's maxItems 16) must stop that execution, and later claims of
        # the same Run must not execute it again.
        p = self.pod()
        marker = os.path.join(p.dir, "executions")
        self.co.create_namespaced_custom_object(G, V, self.ns, P, {
            "apiVersion": "%s/%s" % (G, V), "kind": "Run", "metadata": {"name": "lost"},
            "spec": {"runtime": "bash", "mode": {"task": {}},
                     "source": {"inline": "echo run >> %s\nsleep 30\n" % marker}}})
        pod = self.core.read_namespaced_pod(self.pod_name, self.ns)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        conds = [{"type": "Scheduled", "status": "True", "reason": "Assigned", "message": "assigned",
                  "lastTransitionTime": now}]
        conds += [{"type": "Filler%d" % i, "status": "True", "reason": "Filler", "message": "",
                   "lastTransitionTime": now} for i in range(15)]
        self.lp.kubectl("patch", "runs.kruntimes.io", "lost", "-n", self.ns, "--subresource=status",
                        "--type=merge", "-p", json.dumps({"status": {
                            "phase": "Scheduled", "assignedPod": self.pod_name,
                            "assignedPodUID": pod.metadata.uid, "conditions": conds}}))
        wait_until(lambda: "claim lost: stopping the execution" in p.stderr_text(None), 30,
                   "runtimed to give up the rejected claim")
        # The next claim (claim first now) fails too, without executing.
        wait_until(lambda: p.stderr_text(None).count("not claimed") >= 2, 30, "a second claim attempt")
        self.assertEqual(p.stderr_text(None).count("claim lost: stopping the execution"), 1)
        with open(marker) as f:
            self.assertEqual(f.read().splitlines(), ["run"])
        self.assertEqual(self.phase("lost"), "Scheduled")
        uid = self.run_obj("lost")["metadata"]["uid"]
        # The stopped execution was forgotten and its workspace removed.
        self.assertFalse(os.path.exists(os.path.join(p.workspace, uid)))
        self.co.delete_namespaced_custom_object(G, V, self.ns, P, "lost")

    def test_capacity_one_worker(self):
        self.pod(workers=1)
        self.create_run("first", "sleep 1")
        self.wait_phase("first", "Running")
        self.create_run("second", "echo second")
        a = self.wait_phase("first", TERMINAL)
        b = self.wait_phase("second", TERMINAL)
        self.assertEqual((a["status"]["phase"], b["status"]["phase"]), ("Succeeded", "Succeeded"))
        # The second waited for the slot: claimed only after the first ended.
        self.assertGreaterEqual(b["status"]["startTime"], a["status"]["completionTime"])

    def test_recovery_after_kill9(self):
        p = self.pod()
        self.create_run("survivor", 'sleep 2; echo "done=yes" >> "$KRUNTIME_OUTPUTS"')
        self.wait_started(p, self.wait_phase("survivor", "Running"))
        p.kill9_runtimed()
        p.start_runtimed()
        r = self.wait_phase("survivor", TERMINAL)
        self.assertEqual(r["status"]["phase"], "Succeeded", r["status"])
        self.assertEqual(r["status"]["outputs"], {"done": "yes"})

    def test_a_start_without_a_durable_claim_counts_as_an_attempt(self):
        # Claim and execution are pipelined: if runtimed (or the whole node)
        # dies after starting a Run and before its claim is written, the Run
        # is still Scheduled when runtimed comes back, with its workspace on
        # the pod. Starting it again is a new attempt, so no Run runs more
        # often than its attempts (the chaos soak found this).
        p = self.pod()
        p.kill9_runtimed()
        marks = os.path.join(p.dir, "marks")
        os.makedirs(marks)
        script = 'echo x >> %s/ran; echo "done=yes" >> "$KRUNTIME_OUTPUTS"' % marks
        for name, retry in (("again", {"maxAttempts": 3, "backoff": "10ms"}), ("once", None)):
            r = self.create_run(name, script, retry=retry)
            os.makedirs(os.path.join(p.workspace, r["metadata"]["uid"]))  # the interrupted start's workspace
        p.start_runtimed()
        again = self.wait_phase("again", TERMINAL)
        st = again["status"]
        self.assertEqual((st["phase"], st["attempt"]), ("Succeeded", 2), st)
        self.assertEqual(st["outputs"], {"done": "yes"})
        once = self.wait_phase("once", TERMINAL)
        st = once["status"]
        self.assertEqual((st["phase"], self.cond(once, "Completed")["reason"]), ("Failed", "ExecutionLost"), st)
        self.assertIn("before its claim was recorded", st.get("message", "") + json.dumps(st))
        with open(os.path.join(marks, "ran")) as f:
            self.assertEqual(f.read(), "x\n", "only the Run with attempts left runs again")
        self.assertFalse(os.path.exists(os.path.join(p.workspace, once["metadata"]["uid"])))

    def test_recovery_during_retry_backoff(self):
        p = self.pod()
        script = 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ]\n'
        self.create_run("backoff", script, retry={"maxAttempts": 2, "backoff": "2s"})

        def in_backoff():
            st = self.run_obj("backoff").get("status", {})
            running = [c for c in st.get("conditions", []) if c["type"] == "Running"]
            return st.get("attempt") == 2 and running and running[0]["status"] == "False"
        wait_until(in_backoff, 20, "the retry's backoff")
        p.kill9_runtimed()
        p.start_runtimed()
        r = self.wait_phase("backoff", TERMINAL)
        self.assertEqual((r["status"]["phase"], r["status"]["attempt"]), ("Succeeded", 2), r["status"])
        self.assertEqual(self.cond(r, "Running")["reason"], "Completed")

    def test_recovery_finds_execution_lost(self):
        p = self.pod()
        self.create_run("orphan", "echo $$ > pid; exec sleep 30")
        self.kill_later(p, self.wait_phase("orphan", "Running"))
        p.kill9_runtimed()
        p.kill9_fake()
        p.start_fake()
        p.start_runtimed()
        r = self.wait_phase("orphan", TERMINAL)
        self.assertEqual((r["status"]["phase"], self.cond(r, "Completed")["reason"]), ("Failed", "ExecutionLost"))
        self.assertEqual(r["status"]["message"], "runtime execution not found after runtimed restart")

    def test_recovery_retries_a_lost_execution(self):
        p = self.pod()
        script = "if [ -f again ]; then echo second; else touch again; echo $$ > pid; exec sleep 30; fi"
        self.create_run("orphan-retried", script, retry={"maxAttempts": 2, "backoff": "100ms"})
        self.kill_later(p, self.wait_phase("orphan-retried", "Running"))
        p.kill9_runtimed()
        p.kill9_fake()
        p.start_fake()
        p.start_runtimed()
        r = self.wait_phase("orphan-retried", TERMINAL)
        self.assertEqual((r["status"]["phase"], r["status"]["attempt"]), ("Succeeded", 2), r["status"])

    def test_server_restart_loses_the_execution(self):
        p = self.pod()
        self.create_run("lost", "echo $$ > pid; exec sleep 30")
        self.kill_later(p, self.wait_phase("lost", "Running"))
        p.kill9_fake()
        p.start_fake()
        r = self.wait_phase("lost", TERMINAL)
        self.assertEqual((r["status"]["phase"], self.cond(r, "Completed")["reason"]), ("Failed", "ExecutionLost"))
        self.assertEqual(r["status"]["message"], "runtime execution not found")
        # The event stream is back: the next Run completes.
        r = self.wait_phase_after_create("after", "echo fine")
        self.assertEqual(r["status"]["phase"], "Succeeded", r["status"])

    def test_polling_without_watch(self):
        self.pod(watch=False)
        r = self.wait_phase_after_create("polled", 'echo "k=v" >> "$KRUNTIME_OUTPUTS"')
        self.assertEqual((r["status"]["phase"], r["status"]["outputs"]), ("Succeeded", {"k": "v"}))

    def test_invalid_outputs_fail_without_retry(self):
        self.pod()
        r = self.wait_phase_after_create("badout", 'echo "no equals sign" >> "$KRUNTIME_OUTPUTS"',
                                         retry={"maxAttempts": 3, "backoff": "10ms"})
        st = r["status"]
        self.assertEqual((st["phase"], self.cond(r, "Completed")["reason"], st["attempt"]),
                         ("Failed", "OutputsInvalid", 1), st)

    def test_logs_follow_running_run(self):
        p = self.pod()
        self.create_run("chatty", "for i in 1 2 3; do echo line$i; sleep 0.3; done")
        r = self.wait_phase("chatty", "Running")
        status, body = p.get("/runs/%s/log?follow=true&stream=stdout" % r["metadata"]["uid"])
        self.assertEqual(status, 200)
        self.assertEqual(body, "line1\nline2\nline3\n")
        status, body = p.get("/runs/%s/log?tail=1&stream=stdout" % r["metadata"]["uid"])
        self.assertEqual(body, "line3\n")

    def test_a_large_log_is_streamed_not_held(self):
        # Issue #14 item 8: a 400 MB log once took runtimed to 1.5-2 GB per
        # request, because the whole file was read into memory.
        p = self.pod()
        # A sanitizer keeps freed memory in quarantine (ASan) or shadows it
        # (TSan): the memory bound is for release builds, which also get
        # the bigger log.
        sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
        size = (50 if sanitized else 200) * 1000 * 1000
        r = self.create_run("big", "head -c %d /dev/zero | tr '\\0' x; echo; echo last-line; sleep 60" % size)
        self.wait_started(p, r)
        uid = r["metadata"]["uid"]
        path = os.path.join(p.workspace, ".logs", uid + ".stdout")
        wait_until(lambda: os.path.getsize(path) == size + 11, 60, "the log to be written")

        def rss_kib(field):
            with open("/proc/%d/status" % p.runtimed.pid) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
            return 0
        before = rss_kib("VmRSS")
        status, body = p.get("/runs/%s/log?tail=1&stream=stdout" % uid)
        self.assertEqual((status, body), (200, "last-line\n"))
        with urllib.request.urlopen("http://127.0.0.1:%d/runs/%s/log?stream=stdout" % (p.http_port, uid),
                                    timeout=60) as resp:
            total, xs, tail = 0, 0, b""
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                xs += chunk.count(b"x")
                tail = (tail + chunk)[-16:]
        self.assertEqual((total, xs), (size + 11, size))
        self.assertTrue(tail.endswith(b"\nlast-line\n"), tail)
        if not sanitized:
            grown_mib = (rss_kib("VmHWM") - before) / 1024
            self.assertLess(grown_mib, 64, "runtimed grew %.0f MiB serving a %d MB log" % (grown_mib, size // 10**6))
        self.co.patch_namespaced_custom_object(G, V, self.ns, P, "big", {"spec": {"cancelRequested": True}})
        self.wait_phase("big", ("Cancelled", "Failed"))

    def test_runtime_socket_is_tried_first(self):
        self.pod(socket_name="krt-runtimed-test-%d-%d" % (os.getpid(), self.counter))
        r = self.wait_phase_after_create("viasocket", "echo via socket")
        self.assertEqual(r["status"]["phase"], "Succeeded", r["status"])

    def test_artifacts_on_filesystem_store(self):
        store = tempfile.mkdtemp(prefix="runtimed-store-")
        self.addCleanup(shutil.rmtree, store, True)
        p = self.pod(extra_args=["--artifact-store-driver", "filesystem", "--artifact-store-root", store,
                                 "--artifact-volume-claim", "artifacts-pvc"])
        r = self.wait_phase_after_create("arts", 'printf "some data\\n" > "$KRUNTIME_ARTIFACTS_DIR/result.txt"')
        st = r["status"]
        self.assertEqual(st["phase"], "Succeeded", st)
        self.assertIn("kruntimes.io/artifact-cleanup", r["metadata"].get("finalizers", []))
        self.assertEqual(st["artifactStore"]["driver"], "filesystem")
        refs = st["artifactRefs"]
        self.assertEqual([a["name"] for a in refs], ["result.txt"])
        self.assertEqual(refs[0]["sizeBytes"], 10)
        self.assertTrue(refs[0]["digest"].startswith("sha256:"))
        uid = r["metadata"]["uid"]
        status, body, headers = p.get("/runs/%s/artifacts/result.txt" % uid, headers=True)
        self.assertEqual((status, body), (200, "some data\n"))
        self.assertEqual(headers["X-Kruntimes-Digest"], refs[0]["digest"])
        self.assertEqual(headers["Content-Length"], "10")
        # Drop the finalizer so the namespace can go.
        self.co.patch_namespaced_custom_object(G, V, self.ns, P, "arts", {"metadata": {"finalizers": None}})


class WithBashRuntimeTest(RuntimedTest):
    """The same Run path with the built-in Bash Runtime Server (servers/bash-runtime)
    on the pod's abstract socket, when its path is given."""
    real_server = True

    @classmethod
    def setUpClass(cls):
        if not BASH_RUNTIME:
            raise unittest.SkipTest("no bash-runtime given")
        super().setUpClass()

    # Fake-only features.
    def test_polling_without_watch(self):
        self.skipTest("bash-runtime always offers the push extension")

    def test_runtime_socket_is_tried_first(self):
        self.skipTest("every test of this class uses the socket")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    KRT, RUNTIMED, FAKE, CRD = (os.path.abspath(a) for a in sys.argv[1:5])
    rest = sys.argv[5:]
    if rest and not rest[0].startswith("-"):
        BASH_RUNTIME = os.path.abspath(rest.pop(0))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
