#!/usr/bin/env python3
"""The stale Run reaper against the real local control plane (`krt local serve`).

Runtime pods are fakes, as in the scheduler's test: Pod objects bound to a node
that does not exist ("fake-node"), so the local kubelet leaves them alone and a
graceful delete leaves them Terminating. The test writes their status (Ready,
the kruntimes.io/RuntimedReady heartbeat) and the Runs' status (as the
scheduler and runtimed would) through the API itself.

Checks: a deleted pod fails a Run without retry and sends one with retries left
back to Pending with the next attempt; a Scheduled Run on a deleted pod goes
back to Pending with the same attempt; a replaced pod (UID mismatch), a
terminating pod, and (not before the threshold, as read from the objects) a
pod not ready and a stale heartbeat; a healthy pod (also one the informer does
not see, confirmed by a live GET) is left alone; Events, metrics and probes;
two replicas with leader election (only the leader writes, the standby takes
over); two writers without it (the resourceVersion precondition: each Run is
acted on once, the loser decides again); k8s/base/reaper.yaml deployed as a
pod whose ServiceAccount RBAC must suffice; with the real scheduler, retried
and rescheduled Runs placed again; --help and flag errors.

Usage: /usr/bin/python3 reaper_test.py /path/to/krt /path/to/kruntimes-reaper [/path/to/kruntimes-scheduler]
       [unittest args...]
With the scheduler, one more test runs both: retried and rescheduled Runs are
placed again on a live pod.
"""

import datetime
import os
import re
import subprocess
import sys
import time
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "test", "support"))
import kubetest  # noqa: E402
from kubetest import G, V, P, HEARTBEAT_CONDITION, LocalPlane, now_micro, wait_for  # noqa: E402

from kubernetes import client, config  # noqa: E402

KRT = None
REAPER = None
SCHEDULER = None  # optional third argument
THRESHOLD = 4.0  # --stale-threshold of the reapers under test (seconds); heartbeats every 0.5 s
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def parse_time(s):
    return datetime.datetime.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S")


def condition(status, ctype):
    found = [c for c in status.get("conditions") or [] if c["type"] == ctype]
    return found[0] if found else None


class Reaper(kubetest.Replica):
    """One kruntimes-reaper replica with its own log file."""

    def __init__(self, c, name, extra=()):
        """Started on Cluster c, which stops it when closed."""
        super().__init__(REAPER, c.lp, "reaper-" + name, ["--stale-threshold", "%gs" % THRESHOLD, *extra])
        c.adopt(self)

    def stale_lines(self):
        return self.logged("stale Run")


class Cluster(kubetest.Cluster):
    """The local control plane with the Run CRD, fake pods heartbeating every
    0.5 s (well inside THRESHOLD, so a fresh fake never looks stale) and Runs
    written as the scheduler and runtimed leave them."""

    def __init__(self):
        super().__init__(KRT, heartbeat_interval=0.5)

    def pod(self, ns, name, ready=True, keep_fresh=True, labelled=True):
        labels = {"runtime": "bash"} if labelled else {"app": "not-a-runtime-pod"}
        uid = self.create_pod(ns, name, labels)
        ts = self.set_pod_status(ns, name, ready=ready)
        if keep_fresh:
            self.keep_fresh(ns, name, ready=True, ready_since=ts)
        return uid, ts

    def set_pod_status(self, ns, name, ready=True, ready_since=None):
        return self.write_pod_status(ns, name, ready=ready, ready_since=ready_since)

    def delete_pod(self, ns, name, grace=0):
        self.stop_heartbeat(ns, name)
        self.core.delete_namespaced_pod(name, ns, grace_period_seconds=grace)

    def run(self, ns, name, pod, pod_uid, phase="Running", max_attempts=None, attempt=None, reasons=None):
        spec = {"runtime": "bash", "source": {"inline": "echo hi"}, "mode": {"task": {}}}
        if max_attempts:
            spec["retryPolicy"] = {"maxAttempts": max_attempts, "backoff": "1s"}
            if reasons:
                spec["retryPolicy"]["retryableReasons"] = reasons
        self.create_run(ns, name, spec)
        t = now_micro()
        st = {"phase": phase, "assignedPod": pod, "assignedPodUID": pod_uid, "message": "before the reaper",
              "conditions": [{"type": "Scheduled", "status": "True", "reason": "Assigned",
                              "message": "assigned to runtime pod " + pod, "lastTransitionTime": t}]}
        if attempt is not None:
            st["attempt"] = attempt
        if phase != "Scheduled":
            st["startTime"] = t
            st["conditions"].append({"type": "Running", "status": "True", "reason": "Claimed",
                                     "message": "claimed by runtimed", "lastTransitionTime": t})
        return self.patch_run_status(ns, name, st)


class ReaperTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()
        cls.r = Reaper(cls.c, "main")
        kubetest.wait_started(cls.r, cls.c.close, "became leader", "informers synced")

    @classmethod
    def tearDownClass(cls):
        kubetest.stop_checked(cls.r, cls.c.close)

    def assert_terminal(self, st, reason, message):
        self.assertEqual(st["message"], message)
        self.assertRegex(st["completionTime"], MICRO)
        for ctype in ("Running", "Completed"):
            c = condition(st, ctype)
            self.assertEqual((c["status"], c["reason"], c["message"]), ("False", reason, message), ctype)

    def test_deleted_pod_fails_a_run_without_retries(self):
        c, ns = self.c, self.c.namespace("gone-fail")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid)
        c.delete_pod(ns, "p1")
        st = c.wait_phase(ns, "r1", "Failed")
        self.assert_terminal(st, "PodGone", "assigned pod was deleted")
        self.assertEqual(st["attempt"], 1)
        self.assertEqual(st["assignedPod"], "p1")
        ev = c.wait_event(ns, "r1", "StaleRunFailed")
        self.assertEqual(ev.type, "Warning")
        self.assertEqual(ev.source.component, "stale-reaper")
        self.assertIn("p1", ev.message)
        line = [x for x in self.r.stale_lines() if '"run":"r1"' in x and '"namespace":"gone-fail"' in x]
        self.assertEqual(len(line), 1)
        self.assertIn('"run_uid":"%s"' % c.get_run(ns, "r1")["metadata"]["uid"], line[0])

    def test_deleted_pod_retries_a_run_with_attempts_left(self):
        c, ns = self.c, self.c.namespace("gone-retry")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid, max_attempts=2)
        c.delete_pod(ns, "p1")
        st = c.wait_phase(ns, "r1", "Pending")
        self.assertEqual(st["attempt"], 2)
        self.assertEqual(st.get("assignedPod", ""), "")
        self.assertEqual(st.get("assignedPodUID", ""), "")
        self.assertNotIn("startTime", st)
        self.assertNotIn("completionTime", st)
        self.assertEqual(st["message"], "before the reaper")
        running = condition(st, "Running")
        self.assertEqual((running["status"], running["reason"], running["message"]),
                         ("False", "PodGone", "assigned pod was deleted"))
        self.assertRegex(running["lastTransitionTime"], MICRO)
        ev = c.wait_event(ns, "r1", "StaleRunRetrying")
        self.assertEqual(ev.type, "Warning")
        self.assertIn("attempt 2 of 2", ev.message)

    def test_not_retryable_reason_fails(self):
        c, ns = self.c, self.c.namespace("gone-reasons")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid, max_attempts=3, reasons=["Timeout"])
        c.delete_pod(ns, "p1")
        self.assert_terminal(c.wait_phase(ns, "r1", "Failed"), "PodGone", "assigned pod was deleted")

    def test_scheduled_run_on_a_deleted_pod_goes_back_to_pending(self):
        c, ns = self.c, self.c.namespace("gone-scheduled")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid, phase="Scheduled")
        c.run(ns, "r2", "p1", uid, phase="Scheduled", attempt=2)
        c.delete_pod(ns, "p1")
        for name, attempt in (("r1", 0), ("r2", 2)):
            st = c.wait_phase(ns, name, "Pending")
            self.assertEqual(st.get("attempt", 0), attempt, "attempt unchanged")
            self.assertEqual(st.get("assignedPod", ""), "")
            sched = condition(st, "Scheduled")
            self.assertEqual((sched["status"], sched["reason"], sched["message"]),
                             ("False", "PodGone", "assigned pod was deleted"))
            self.assertIsNone(condition(st, "Running"))
            self.assertEqual(c.wait_event(ns, name, "StaleRunRescheduled").type, "Normal")

    def test_replaced_pod(self):
        c, ns = self.c, self.c.namespace("replaced")
        c.pod(ns, "p1")
        c.run(ns, "r1", "p1", "uid-of-an-earlier-pod")
        self.assert_terminal(c.wait_phase(ns, "r1", "Failed"), "PodGone", "assigned pod was replaced")

    def test_terminating_pod(self):
        c, ns = self.c, self.c.namespace("terminating")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid)
        c.delete_pod(ns, "p1", grace=30)  # on fake-node it stays Terminating
        self.assert_terminal(c.wait_phase(ns, "r1", "Failed"), "PodTerminating", "assigned pod is terminating")
        self.assertIsNotNone(c.core.read_namespaced_pod("p1", ns).metadata.deletion_timestamp)

    def test_stale_heartbeat(self):
        c, ns = self.c, self.c.namespace("heartbeat")
        uid, _ = c.pod(ns, "p1", keep_fresh=False)
        c.run(ns, "r1", "p1", uid)
        st = c.wait_phase(ns, "r1", "Failed")
        self.assert_terminal(st, "PodUnhealthy", "assigned pod runtimed heartbeat is stale")
        # Not before the threshold, as the objects tell.
        probe = condition(c.core.read_namespaced_pod_status("p1", ns).to_dict()["status"], HEARTBEAT_CONDITION)
        probe_t = probe["last_probe_time"].replace(tzinfo=None)
        self.assertGreater((parse_time(st["completionTime"]) - probe_t).total_seconds(), THRESHOLD - 1e-6)

    def test_pod_not_ready(self):
        c, ns = self.c, self.c.namespace("not-ready")
        uid, _ = c.pod(ns, "p1", keep_fresh=False)
        since = now_micro()
        c.set_pod_status(ns, "p1", ready=False, ready_since=since)
        c.run(ns, "r1", "p1", uid, max_attempts=3, attempt=1)
        st = c.wait_phase(ns, "r1", "Pending")
        self.assertEqual(st["attempt"], 2)
        running = condition(st, "Running")
        self.assertEqual((running["reason"], running["message"]), ("PodUnhealthy", "assigned pod is not ready"))
        self.assertGreater((parse_time(running["lastTransitionTime"]) - parse_time(since)).total_seconds(),
                           THRESHOLD - 1e-6)

    def test_healthy_pods_are_left_alone(self):
        c, ns = self.c, self.c.namespace("healthy")
        uid, _ = c.pod(ns, "p1")
        # A pod without the runtime label is not in the reaper's cache: the
        # live GET must find it alive.
        uid2, _ = c.pod(ns, "unlabelled", labelled=False)
        checks = self.r.metric("kruntimes_reaper_checks_total")
        created = time.time()
        before = [c.run(ns, "r1", "p1", uid), c.run(ns, "r2", "unlabelled", uid2, phase="Scheduled")]
        # Absence of action, so it takes time: two threshold periods and
        # several timer-driven re-checks (the heartbeats of a fresh pod do not
        # trigger checks; the timers do).
        wait_for("re-checks", lambda: time.time() > created + 2 * THRESHOLD and
                 self.r.metric("kruntimes_reaper_checks_total") >= checks + 6, 30)
        for b in before:
            now = c.get_run(ns, b["metadata"]["name"])
            self.assertEqual(now["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"])
        self.assertEqual(c.events(ns, "r1") + c.events(ns, "r2"), [])

    def test_metrics_and_probes(self):
        c, ns = self.c, self.c.namespace("metrics")
        uid, _ = c.pod(ns, "p1")
        c.run(ns, "r1", "p1", uid)
        c.delete_pod(ns, "p1")
        c.wait_phase(ns, "r1", "Failed")
        wait_for("the stale counter",
                 lambda: (self.r.metric(r'kruntimes_reaper_stale_runs_total\{reason="PodGone",action="failed"\}')
                          or 0) >= 1, 10)
        text = self.r.metrics()
        self.assertRegex(text, r'kruntimes_reaper_stale_runs_total\{reason="PodUnhealthy",action="rescheduled"\} ')
        self.assertRegex(text, r"kruntimes_reaper_checks_total [1-9]")
        self.assertRegex(text, r"kruntimes_reaper_write_conflicts_total \d")
        self.assertRegex(text, r"kruntimes_reaper_detection_delay_seconds_count [1-9]")
        self.assertRegex(text, r"(?m)^kruntimes_reaper_leader 1$")
        self.assertEqual(self.r.get("probes", "/readyz")[0], 200)
        self.assertEqual(self.r.get("probes", "/healthz")[0], 200)


class LeaderElectionTest(unittest.TestCase):
    def test_only_the_leader_writes_and_a_standby_takes_over(self):
        with Cluster() as c:
            ns = c.namespace("ha")
            a = Reaper(c, "a")
            wait_for("replica a to lead", lambda: '"msg":"became leader"' in a.text(), 30)
            b = Reaper(c, "b")
            wait_for("replica b to sync", lambda: '"msg":"informers synced"' in b.text(), 30)
            names = ["h%d" % i for i in range(4)]
            for n in names:
                uid, _ = c.pod(ns, "pod-" + n)
                c.run(ns, n, "pod-" + n, uid)
            for n in names:
                c.delete_pod(ns, "pod-" + n)
            for n in names:
                c.wait_phase(ns, n, "Failed")
            self.assertEqual(b.metric("kruntimes_reaper_leader"), 0)
            self.assertEqual(b.get("probes", "/readyz")[0], 200, "a standby is ready")
            # The leader stops (releasing the lease); the standby takes over.
            self.assertEqual(a.stop(), 0)
            self.assertEqual(len(a.stale_lines()), len(names))
            self.assertEqual(b.stale_lines(), [])
            self.assertEqual(len(c.events(ns, "h0")), 1, "one Event per stale Run")
            wait_for("replica b to lead", lambda: '"msg":"became leader"' in b.text(), 30)
            uid, _ = c.pod(ns, "pod-late")
            c.run(ns, "late", "pod-late", uid)
            c.delete_pod(ns, "pod-late")
            c.wait_phase(ns, "late", "Failed")
            self.assertEqual(b.stop(), 0)
            self.assertEqual(len(b.stale_lines()), 1)


class PreconditionTest(unittest.TestCase):
    def test_two_writers_act_on_each_run_once(self):
        # Without leader election both replicas write; the resourceVersion
        # precondition lets exactly one write per Run win, and the loser
        # decides again from the current Run (no longer watched) instead of
        # writing blindly.
        with Cluster() as c:
            ns = c.namespace("race")
            a = Reaper(c, "a", extra=["--leader-elect=false"])
            b = Reaper(c, "b", extra=["--leader-elect=false"])
            for s in (a, b):
                wait_for("replicas to sync", lambda: '"msg":"informers synced"' in s.text(), 30)
            names = ["x%02d" % i for i in range(12)]
            uid, _ = c.pod(ns, "shared")
            for i, n in enumerate(names):
                c.run(ns, n, "shared", uid, max_attempts=3 if i % 2 else None)
            c.delete_pod(ns, "shared")
            for i, n in enumerate(names):
                st = c.wait_phase(ns, n, "Pending" if i % 2 else "Failed")
                if i % 2:
                    self.assertEqual(st["attempt"], 2, "retried once, not twice")
            conflicts = {}
            for s in (a, b):
                conflicts[s] = s.metric("kruntimes_reaper_write_conflicts_total")
                self.assertIsNotNone(conflicts[s])
            for s in (a, b):
                self.assertEqual(s.stop(), 0)
            self.assertEqual(len(a.stale_lines()) + len(b.stale_lines()), len(names))
            for s in (a, b):
                self.assertEqual(s.text().count("status write conflicted"), conflicts[s])
            for n in names:
                self.assertEqual(len([e for e in c.events(ns, n) if e.reason.startswith("StaleRun")]), 1, n)


class WithSchedulerTest(unittest.TestCase):
    """The reaper and the real scheduler together: what the reaper sends back
    to Pending is placed again, on a live pod, after the retry backoff."""

    def setUp(self):
        if not SCHEDULER:
            self.skipTest("no scheduler binary given")

    def test_retried_and_rescheduled_runs_are_placed_again(self):
        with Cluster() as c:
            ns = c.namespace("loop")
            c.pod(ns, "pod-a")
            c.pod(ns, "pod-b")
            Reaper(c, "loop")
            c.adopt(kubetest.ServiceProcess.on_plane(c.lp, SCHEDULER, "scheduler.log", [
                "--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"]))
            spec = {"runtime": "bash", "source": {"inline": "echo hi"}, "mode": {"task": {}},
                    "retryPolicy": {"maxAttempts": 2, "backoff": "1s"}}
            c.create_run(ns, "retry", spec)
            first = c.wait_phase(ns, "retry", "Scheduled")["assignedPod"]
            # Claimed, as runtimed would; then its pod dies.
            st = c.status(ns, "retry")
            t = now_micro()
            st.update({"phase": "Running", "startTime": t})
            st["conditions"].append({"type": "Running", "status": "True", "reason": "Claimed",
                                     "message": "claimed by runtimed", "lastTransitionTime": t})
            c.patch_run_status(ns, "retry", st)
            c.delete_pod(ns, first)
            again = c.wait_phase(ns, "retry", "Scheduled")
            other = "pod-b" if first == "pod-a" else "pod-a"
            self.assertEqual(again["assignedPod"], other)
            self.assertEqual(again["attempt"], 2)
            failed_at = parse_time(condition(again, "Running")["lastTransitionTime"])
            placed_at = parse_time(condition(again, "Scheduled")["lastTransitionTime"])
            self.assertGreaterEqual((placed_at - failed_at).total_seconds(), 1.0, "the scheduler's backoff")
            # A Run assigned but never claimed: its pod dies, it is placed
            # again at once, attempt unchanged.
            c.pod(ns, "pod-c")
            del spec["retryPolicy"]
            c.create_run(ns, "unclaimed", spec)
            first = c.wait_phase(ns, "unclaimed", "Scheduled")["assignedPod"]
            c.delete_pod(ns, first)
            again = wait_for("the unclaimed Run placed on another pod",
                             lambda: c.status(ns, "unclaimed").get("assignedPod") not in (None, "", first) and
                             c.status(ns, "unclaimed"), 30)
            self.assertEqual(again["phase"], "Scheduled")
            self.assertFalse(again.get("attempt"))
            self.assertEqual(len([e for e in c.events(ns, "unclaimed") if e.reason == "StaleRunRescheduled"]), 1)


class ManifestTest(unittest.TestCase):
    def test_deployed_from_k8s_base_with_its_own_rbac(self):
        # k8s/base/reaper.yaml as a real pod of the local node (the image
        # kruntimes/reaper maps to the binary under test), talking to the API
        # with its ServiceAccount token: the ClusterRole's verbs must suffice.
        lp = LocalPlane(KRT, extra_args=["--apply", kubetest.CRDS, "--image", "kruntimes/reaper=" + REAPER]).start()
        api = None
        try:
            base = os.path.join(REPO, "k8s", "base")
            lp.kubectl("apply", "-f", os.path.join(base, "namespace.yaml"))
            lp.kubectl("apply", "-f", os.path.join(base, "reaper.yaml"))
            lp.kubectl("-n", "kruntimes-system", "rollout", "status", "deployment/kruntimes-reaper",
                       "--timeout=60s", timeout=90)
            api = config.new_client_from_config(config_file=lp.kubeconfig)
            core, co = client.CoreV1Api(api), client.CustomObjectsApi(api)
            wait_for("the lease", lambda: any(x.spec.holder_identity for x in
                                 client.CoordinationV1Api(api).list_namespaced_lease("kruntimes-system").items
                                 if x.metadata.name == "kruntimes-reaper.kruntimes.com"), 30)
            core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "work"}})
            pod = core.create_namespaced_pod("work", kubetest.fake_pod("p1", {"runtime": "bash"}))
            co.create_namespaced_custom_object(G, V, "work", P, kubetest.run_body(
                "r1", {"runtime": "bash", "source": {"inline": "echo hi"}, "mode": {"task": {}}}))
            t = now_micro()
            co.patch_namespaced_custom_object_status(G, V, "work", P, "r1", {"status": {
                "phase": "Running", "assignedPod": "p1", "assignedPodUID": pod.metadata.uid, "startTime": t,
                "conditions": [{"type": "Running", "status": "True", "reason": "Claimed",
                                "message": "claimed by runtimed", "lastTransitionTime": t}]}})
            core.delete_namespaced_pod("p1", "work", grace_period_seconds=0)
            st = wait_for("the Run to fail",
                          lambda: (co.get_namespaced_custom_object(G, V, "work", P, "r1").get("status") or {})
                          if (co.get_namespaced_custom_object(G, V, "work", P, "r1").get("status") or {})
                          .get("phase") == "Failed" else None, 30)
            self.assertEqual(st["message"], "assigned pod was deleted")
            ev = wait_for("the event", lambda: [e for e in core.list_namespaced_event("work").items
                                   if e.reason == "StaleRunFailed"], 20)
            self.assertEqual(ev[0].source.component, "stale-reaper")
            logs = lp.kubectl("-n", "kruntimes-system", "logs", "deployment/kruntimes-reaper").stdout
            self.assertIn('"msg":"stale Run"', logs)
            self.assertNotIn("Forbidden", logs)
        finally:
            if api is not None:
                api.close()
            lp.cleanup()


class FlagsTest(unittest.TestCase):
    def run_reaper(self, *args):
        return subprocess.run([REAPER, *args], capture_output=True, text=True, timeout=30)

    def test_help(self):
        p = self.run_reaper("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--kubeconfig", "--namespace", "--metrics-bind-address", "--health-probe-bind-address",
                     "--leader-elect", "--leader-election-namespace", "--stale-threshold", "--log-level"):
            self.assertIn(flag, p.stdout)
        self.assertIn(":8084", p.stdout)
        self.assertIn(":8085", p.stdout)

    def test_bad_flags(self):
        p = self.run_reaper("--no-such-flag")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no-such-flag", p.stderr)
        self.assertIn("--help", p.stderr)
        for value in ("soon", "0s", "-5s"):
            p = self.run_reaper("--stale-threshold", value)
            self.assertNotEqual(p.returncode, 0, value)
            self.assertIn("--stale-threshold", p.stderr)
            self.assertIn("positive", p.stderr)
        p = self.run_reaper("--log-level", "loud")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--log-level", p.stderr)
        p = self.run_reaper("--kubeconfig", "/nonexistent/kubeconfig")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/kubeconfig", p.stderr)


if __name__ == "__main__":
    warnings.simplefilter("ignore", ResourceWarning)
    KRT = os.path.abspath(sys.argv.pop(1))
    REAPER = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]):
        SCHEDULER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2, warnings="ignore")
