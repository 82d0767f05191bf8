#!/usr/bin/env python3
"""The scheduler against the real local control plane (`krt local serve`).

Runtime pods are fakes: Pod objects bound to a node that does not exist
("fake-node"), so the local kubelet leaves them alone, whose status (phase
Running, Ready, the kruntimes.io/RuntimedReady heartbeat) the test writes
through the API itself. Checks: assignment, least-loaded spread, a full pool
holds a Run Pending with the message and a FailedScheduling Event until a Run
finishes, a pod becoming ready or its heartbeat turning fresh wakes Runs,
cancel of a Pending Run, InvalidResources, metrics, and two replicas with
leader election never double-assign.

Usage: /usr/bin/python3 scheduler_test.py /path/to/krt /path/to/kruntimes-scheduler [unittest args...]
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
from kubetest import G, V, P, now_micro, wait_for  # noqa: E402

from kubernetes import client  # noqa: E402

KRT = None
SCHEDULER = None


class Scheduler(kubetest.Replica):
    """One kruntimes-scheduler replica with its own log file."""

    def __init__(self, c, name, extra=()):
        """Started on Cluster c, which stops it when closed."""
        super().__init__(SCHEDULER, c.lp, "scheduler-" + name, extra)
        c.adopt(self)

    def assigned_lines(self):
        return self.logged("assigned")


class Cluster(kubetest.Cluster):
    """The local control plane with the Run CRD and fake pods heartbeating
    every 4 s (runtimed's 5 s, a little early)."""

    PHASE_TIMEOUT = 20

    def __init__(self):
        crds = kubetest.CRDS
        if not os.path.exists(os.path.join(crds, "runs.yaml")):
            crds = os.path.join(HERE, "testdata")
        super().__init__(KRT, crds, heartbeat_interval=4.0)

    def pod(self, ns, name, runtime="bash", capacity=None, ready=True, heartbeat_age=0.0):
        annotations = {"kruntimes.io/capacity." + k: str(v) for k, v in (capacity or {}).items()}
        uid = self.create_pod(ns, name, {"runtime": runtime}, annotations)
        self.set_pod_status(ns, name, ready=ready, heartbeat_age=heartbeat_age)
        return uid

    def set_pod_status(self, ns, name, ready=True, heartbeat_age=0.0, keep_fresh=None):
        self.write_pod_status(ns, name, ready=ready, heartbeat_age=heartbeat_age)
        if keep_fresh is None:
            keep_fresh = heartbeat_age == 0
        if keep_fresh:
            self.keep_fresh(ns, name, ready=ready)
        else:
            self.stop_heartbeat(ns, name)

    def run(self, ns, name, runtime="bash", requests=None, cancel=False, backoff=None):
        spec = {"runtime": runtime, "source": {"inline": "echo hi"}, "mode": {"task": {}}}
        if backoff:
            spec["retryPolicy"] = {"maxAttempts": 3, "backoff": backoff}
        if requests:
            spec["resources"] = {"requests": requests}
        if cancel:
            spec["cancelRequested"] = True
        return self.create_run(ns, name, spec)


class SchedulerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()
        cls.s = Scheduler(cls.c, "main")
        kubetest.wait_started(cls.s, cls.c.close, "became leader")

    @classmethod
    def tearDownClass(cls):
        kubetest.stop_checked(cls.s, cls.c.close)

    def test_assignment_and_least_loaded_spread(self):
        c, ns = self.c, self.c.namespace("spread")
        # pod-a first: if the Run reaches the scheduler before pod-b's status
        # does (the Run and pod watches are separate streams; a slow build
        # sees this), pod-a is still the right answer.
        uids = {"pod-a": c.pod(ns, "pod-a"), "pod-b": c.pod(ns, "pod-b")}
        c.run(ns, "r1")
        st = c.wait_phase(ns, "r1", "Scheduled")
        # Both pods empty: the tie goes to the smallest name.
        self.assertEqual(st["assignedPod"], "pod-a")
        self.assertEqual(st["assignedPodUID"], uids["pod-a"])
        cond = [x for x in st["conditions"] if x["type"] == "Scheduled"][0]
        self.assertEqual((cond["status"], cond["reason"], cond["message"]),
                         ("True", "Assigned", "assigned to runtime pod pod-a"))
        self.assertRegex(cond["lastTransitionTime"], r"\.\d{6}Z$")
        c.run(ns, "r2")
        self.assertEqual(c.wait_phase(ns, "r2", "Scheduled")["assignedPod"], "pod-b")
        c.run(ns, "r3")
        c.run(ns, "r4")
        pods = sorted(c.wait_phase(ns, n, "Scheduled")["assignedPod"] for n in ("r3", "r4"))
        self.assertEqual(pods, ["pod-a", "pod-b"])

    def test_full_pool_waits_then_runs_when_capacity_frees(self):
        c, ns = self.c, self.c.namespace("capacity")
        c.pod(ns, "only", capacity={"runs": 1})
        c.run(ns, "first")
        c.wait_phase(ns, "first", "Scheduled")
        c.run(ns, "second")
        msg = 'waiting for available runtime pods for runtime "bash"'
        wait_for("the waiting message", lambda: c.status(ns, "second").get("message") == msg, 20)
        self.assertEqual(c.status(ns, "second").get("phase", "Pending"), "Pending")
        ev = wait_for("a FailedScheduling event", lambda: c.events(ns, "second"), 20)
        self.assertEqual((ev[0].type, ev[0].reason, ev[0].message), ("Warning", "FailedScheduling", msg))
        # The first Run finishes: its capacity frees and the second is placed.
        c.finish(ns, "first")
        self.assertEqual(c.wait_phase(ns, "second", "Scheduled")["assignedPod"], "only")
        self.assertEqual(len(c.events(ns, "second")), 1)

    def test_freed_slot_skips_runs_that_cannot_fit_but_places_smaller_ones(self):
        # A pass after a release stops once no waiting shape can fit
        # (pool_shard.cpp); a smaller Run behind a blocked bigger one must
        # still be placed, and the bigger one keeps waiting.
        c, ns = self.c, self.c.namespace("shapes")
        c.pod(ns, "p", capacity={"runs": 2, "memory": "4Gi"})
        c.run(ns, "hold1", requests={"memory": "3Gi"})
        c.wait_phase(ns, "hold1", "Scheduled")
        c.run(ns, "hold2", requests={"memory": "512Mi"})
        c.wait_phase(ns, "hold2", "Scheduled")
        for i in range(3):
            c.run(ns, "big%d" % i, requests={"memory": "2Gi"})
        c.run(ns, "small", requests={"memory": "256Mi"})
        for n in ("big0", "big1", "big2", "small"):
            wait_for("%s to wait" % n, lambda n=n: "waiting for available" in c.status(ns, n).get("message", ""), 20)
        c.finish(ns, "hold2")  # frees a runs slot and 512Mi: only "small" fits
        self.assertEqual(c.wait_phase(ns, "small", "Scheduled")["assignedPod"], "p")
        for n in ("big0", "big1", "big2"):
            self.assertEqual(c.status(ns, n).get("phase", "Pending"), "Pending")
        c.finish(ns, "hold1")  # 3Gi free, one slot: the oldest big Run goes first
        self.assertEqual(c.wait_phase(ns, "big0", "Scheduled")["assignedPod"], "p")
        self.assertEqual([c.status(ns, n).get("phase", "Pending") for n in ("big1", "big2")], ["Pending", "Pending"])

    def test_pod_becoming_ready_wakes_pending_runs(self):
        c, ns = self.c, self.c.namespace("wake")
        c.pod(ns, "late", ready=False)
        c.run(ns, "w1")
        wait_for("waiting", lambda: "waiting for available" in c.status(ns, "w1").get("message", ""), 20)
        c.set_pod_status(ns, "late", ready=True)
        self.assertEqual(c.wait_phase(ns, "w1", "Scheduled")["assignedPod"], "late")

    def test_stale_heartbeat_is_not_a_candidate(self):
        c, ns = self.c, self.c.namespace("stale")
        c.pod(ns, "old", heartbeat_age=60)
        c.run(ns, "s1")
        wait_for("waiting", lambda: "waiting for available" in c.status(ns, "s1").get("message", ""), 20)
        c.set_pod_status(ns, "old", heartbeat_age=0)  # a fresh heartbeat
        self.assertEqual(c.wait_phase(ns, "s1", "Scheduled")["assignedPod"], "old")

    def test_runtime_label_selects_the_pool(self):
        c, ns = self.c, self.c.namespace("pools")
        c.pod(ns, "py", runtime="python")
        c.run(ns, "b1", runtime="bash")
        c.run(ns, "p1", runtime="python")
        self.assertEqual(c.wait_phase(ns, "p1", "Scheduled")["assignedPod"], "py")
        wait_for("bash Run to wait", lambda: c.status(ns, "b1").get("message") ==
                 'waiting for available runtime pods for runtime "bash"', 20)

    def test_retry_backoff_holds_a_returned_run(self):
        c, ns = self.c, self.c.namespace("retry")
        c.run(ns, "again", runtime="retry-rt", backoff="2s")
        wait_for("waiting", lambda: "waiting for available" in c.status(ns, "again").get("message", ""), 20)
        # As the reaper leaves it: Pending, attempt 2, Running=False just now.
        failed_at = now_micro()
        st = c.status(ns, "again")
        st.update({"phase": "Pending", "attempt": 2, "conditions": [
            {"type": "Running", "status": "False", "reason": "PodGone", "message": "pod vanished",
             "lastTransitionTime": failed_at}]})
        c.patch_run_status(ns, "again", st)
        c.pod(ns, "back", runtime="retry-rt")
        st = c.wait_phase(ns, "again", "Scheduled")
        sched = [x for x in st["conditions"] if x["type"] == "Scheduled"][0]
        # backoff·2^(attempt−2) = 2 s after the failure, read from the object.
        fail_t = datetime.datetime.strptime(failed_at, "%Y-%m-%dT%H:%M:%S.%fZ")
        sched_t = datetime.datetime.strptime(sched["lastTransitionTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertGreaterEqual((sched_t - fail_t).total_seconds(), 2.0)
        self.assertEqual(st["attempt"], 2)

    def test_cancel_pending_run(self):
        c, ns = self.c, self.c.namespace("cancel")
        c.run(ns, "c1", runtime="nothing-here")
        wait_for("waiting", lambda: "waiting for available" in c.status(ns, "c1").get("message", ""), 20)
        c.co.patch_namespaced_custom_object(G, V, ns, P, "c1", {"spec": {"cancelRequested": True}})
        st = c.wait_phase(ns, "c1", "Cancelled")
        self.assertEqual(st["message"], "cancelled by user")
        self.assertTrue(st.get("completionTime"))
        self.assertFalse(st.get("attempt"))
        done = [x for x in st["conditions"] if x["type"] == "Completed"][0]
        self.assertEqual((done["status"], done["reason"]), ("False", "Cancelled"))
        # Created already cancelled: never scheduled even with a free pod.
        c.pod(ns, "free", runtime="nothing-here")
        c.run(ns, "c2", runtime="nothing-here", cancel=True)
        self.assertFalse(c.wait_phase(ns, "c2", "Cancelled").get("assignedPod"))

    def test_invalid_resources_fail(self):
        c, ns = self.c, self.c.namespace("invalid")
        c.pod(ns, "p")
        c.run(ns, "bad", requests={"gpu": "-1"})
        st = c.wait_phase(ns, "bad", "Failed")
        self.assertEqual(st["message"], 'resource request "gpu" must be a non-negative integer')
        running = [x for x in st["conditions"] if x["type"] == "Running"][0]
        self.assertEqual(running["reason"], "InvalidResources")
        # A resource the pod does not advertise is infeasible, not invalid.
        c.run(ns, "gpu", requests={"gpu": 1})
        wait_for("waiting", lambda: "waiting for available" in c.status(ns, "gpu").get("message", ""), 20)

    def test_metrics_and_probes(self):
        c, ns = self.c, self.c.namespace("metrics")
        c.pod(ns, "m")
        c.run(ns, "m1")
        c.wait_phase(ns, "m1", "Scheduled")
        text = self.s.metrics()
        self.assertRegex(text, r'kruntimes_scheduler_sync_total\{runtime="bash",result="scheduled"\} [1-9]')
        self.assertRegex(text, r"kruntimes_scheduler_decision_latency_seconds_count [1-9]")
        self.assertIn("kruntimes_scheduler_pending_run_wakeups_total", text)
        self.assertIn("kruntimes_scheduler_filter_rejections_total", text)
        self.assertEqual(self.s.get("probes", "/readyz")[0], 200)
        self.assertEqual(self.s.get("probes", "/healthz")[0], 200)


class ShardedTest(unittest.TestCase):
    def test_pools_on_several_shards(self):
        with Cluster() as c:
            s = Scheduler(c, "smp", extra=["--smp", "2", "--leader-elect=false"])
            # With two shards, shard-b/bash hashes to shard 1 and the others to 0.
            pools = [("shard-a", "bash"), ("shard-a", "python"), ("shard-b", "bash"), ("shard-c", "go")]
            for ns in sorted({ns for ns, _ in pools}):
                c.namespace(ns)
            for ns, rt in pools:
                c.pod(ns, "pod-" + rt, runtime=rt, capacity={"runs": 1})
            for ns, rt in pools:
                for i in range(2):
                    c.run(ns, "%s-%d" % (rt, i), runtime=rt)
            # Each pool has room for exactly one of its two Runs.
            for ns, rt in pools:
                wait_for("one Run of %s/%s placed" % (ns, rt),
                         lambda: sorted(c.status(ns, "%s-%d" % (rt, i)).get("phase", "Pending") for i in range(2))
                         == ["Pending", "Scheduled"], 20)
            self.assertIn('"shards":2', s.text())
            c.finish("shard-b", [n for n in ("bash-0", "bash-1")
                                 if c.status("shard-b", n).get("phase") == "Scheduled"][0])
            wait_for("the second bash Run of shard-b placed",
                     lambda: any(c.status("shard-b", n).get("phase") == "Scheduled" for n in ("bash-0", "bash-1")) and
                     any(c.status("shard-b", n).get("phase") == "Succeeded" for n in ("bash-0", "bash-1")), 20)
            self.assertEqual(s.stop(), 0)


class LeaderElectionTest(unittest.TestCase):
    def test_two_replicas_never_double_assign(self):
        with Cluster() as c:
            ns = c.namespace("ha")
            c.pod(ns, "h1", capacity={"runs": 3})
            c.pod(ns, "h2", capacity={"runs": 3})
            a = Scheduler(c, "a")
            wait_for("replica a to lead", lambda: '"msg":"became leader"' in a.text(), 30)
            b = Scheduler(c, "b")
            wait_for("replica b to sync", lambda: '"msg":"informers synced"' in b.text(), 30)
            names = ["h%d" % i for i in range(8)]
            for n in names:
                c.run(ns, n)
            wait_for("6 assigned", lambda: sum(c.status(ns, n).get("phase") == "Scheduled" for n in names) == 6,
                     30)
            phases = [c.status(ns, n).get("phase", "Pending") for n in names]
            self.assertEqual(phases.count("Scheduled"), 6, phases)
            per_pod = {}
            for n in names:
                pod = c.status(ns, n).get("assignedPod")
                if pod:
                    per_pod[pod] = per_pod.get(pod, 0) + 1
            self.assertEqual(per_pod, {"h1": 3, "h2": 3})
            self.assertNotIn('"msg":"became leader"', b.text())
            # The leader stops (releasing the lease); the other takes over and
            # places the rest once capacity frees.
            self.assertEqual(a.stop(), 0)
            # Counted once a has exited, so every line it wrote is there.
            self.assertEqual(len(a.assigned_lines()), 6)
            self.assertEqual(b.assigned_lines(), [])
            wait_for("replica b to lead", lambda: '"msg":"became leader"' in b.text(), 30)
            done = [n for n in names if c.status(ns, n).get("phase") == "Scheduled"][:2]
            for n in done:
                c.finish(ns, n)
            wait_for("the rest assigned by the new leader",
                     lambda: sum(c.status(ns, n).get("phase") == "Scheduled" for n in names) == 6 and
                     all(c.status(ns, n).get("phase") in ("Scheduled", "Succeeded") for n in names), 30)
            self.assertEqual(b.stop(), 0)
            self.assertEqual(len(b.assigned_lines()), 2)


def partition_of(pool_key, partitions):
    """services/scheduler/partitioning.cpp partition_of: FNV-1a of a salted key."""
    h = 14695981039346656037
    for c in ("partition/" + pool_key).encode():
        h ^= c
        h = (h * 1099511628211) % (1 << 64)
    return h % partitions


class PartitionTest(unittest.TestCase):
    """--partitions: active replicas share the pools, each pool has one writer."""

    def test_replicas_share_the_pools_and_take_over(self):
        parts = 4
        with Cluster() as c:
            # Two pools in even partitions and two in odd ones: with two
            # replicas, "scheduler-a_*" (first in order) wants the even
            # partitions and "scheduler-b_*" the odd ones.
            even, odd = [], []
            i = 0
            while len(even) < 2 or len(odd) < 2:
                ns = "part-%d" % i
                i += 1
                side = even if partition_of(ns + "/bash", parts) % 2 == 0 else odd
                if len(side) < 2:
                    side.append(ns)
            for ns in even + odd:
                c.namespace(ns)
                c.pod(ns, "p", capacity={"runs": 2})
            took = lambda s: s.text().count('"msg":"took partition"')  # noqa: E731
            gave = lambda s: s.text().count('"msg":"gave up partition"')  # noqa: E731
            a = Scheduler(c, "a", extra=["--partitions", str(parts)])
            wait_for("replica a to hold every partition", lambda: took(a) == parts, 30)
            b = Scheduler(c, "b", extra=["--partitions", str(parts)])
            wait_for("the partitions to be shared", lambda: took(b) == parts // 2 and gave(a) == parts // 2, 40)
            holders = {}
            for lease in client.CoordinationV1Api(c.api).list_namespaced_lease("default").items:
                if re.search(r"-p\d\d$", lease.metadata.name):
                    who = (lease.spec.holder_identity or "").split("_")[0]
                    holders[who] = holders.get(who, 0) + 1
            self.assertEqual(holders, {"scheduler-a": parts // 2, "scheduler-b": parts // 2})

            names = [(ns, "r%d" % k) for ns in even + odd for k in range(3)]
            for ns, n in names:
                c.run(ns, n)
            # Each pool's pod has room for 2: two of its three Runs placed.
            wait_for("8 Runs assigned",
                     lambda: sum(c.status(ns, n).get("phase") == "Scheduled" for ns, n in names) == 8, 30)
            for ns in even + odd:
                per_pool = [c.status(ns, "r%d" % k).get("phase", "Pending") for k in range(3)]
                self.assertEqual(per_pool.count("Scheduled"), 2, (ns, per_pool))
            self.assertEqual(a.stop(), 0)
            a_lines = a.assigned_lines()
            self.assertEqual(sorted({re.search(r'"namespace":"([^"]+)"', x).group(1) for x in a_lines}), sorted(even))
            b_lines = b.assigned_lines()
            self.assertEqual(sorted({re.search(r'"namespace":"([^"]+)"', x).group(1) for x in b_lines}), sorted(odd))
            self.assertEqual(len(a_lines) + len(b_lines), 8)
            # a left (released its Leases, deleted its member Lease): b takes
            # every partition and places a's pools' waiting Runs.
            wait_for("replica b to take over a's partitions", lambda: took(b) == parts, 40)
            for ns in even:
                done = [n for n in ("r0", "r1", "r2") if c.status(ns, n).get("phase") == "Scheduled"][0]
                c.finish(ns, done)
            wait_for("a's pools served by b", lambda: all(c.status(ns, n).get("phase") in ("Scheduled", "Succeeded")
                                                          for ns in even for n in ("r0", "r1", "r2")), 30)
            self.assertEqual(b.stop(), 0)

    def test_partitions_need_leader_election(self):
        r = subprocess.run([SCHEDULER, "--partitions", "4", "--leader-elect=false"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--partitions needs --leader-elect=true", r.stderr)
        r = subprocess.run([SCHEDULER, "--partitions", "0"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--partitions must be between 1 and 256", r.stderr)


class PreconditionTest(unittest.TestCase):
    def test_two_writers_assign_each_run_once(self):
        # Without leader election both replicas write; the resourceVersion
        # precondition lets exactly one assignment of each Run win, and the
        # loser waits for the newer Run instead of retrying blindly.
        with Cluster() as c:
            ns = c.namespace("race")
            for i in range(3):
                c.pod(ns, "r%d" % i, capacity={"runs": 100})
            a = Scheduler(c, "a", extra=["--leader-elect=false"])
            b = Scheduler(c, "b", extra=["--leader-elect=false"])
            for s in (a, b):
                wait_for("replicas to sync", lambda: '"msg":"informers synced"' in s.text(), 30)
            names = ["x%02d" % i for i in range(20)]
            for n in names:
                c.run(ns, n)
            wait_for("all assigned", lambda: all(c.status(ns, n).get("phase") == "Scheduled" for n in names), 30)
            # A stop drains in-flight writes, so after it every answer is logged.
            conflicts = {}
            for s in (a, b):
                m = re.search(r'kruntimes_scheduler_reservation_conflicts_total\{stage="bind"\} (\d+)', s.metrics())
                self.assertIsNotNone(m)
                conflicts[s] = int(m.group(1))
            for s in (a, b):
                self.assertEqual(s.stop(), 0)
            self.assertEqual(len(a.assigned_lines()) + len(b.assigned_lines()), len(names))
            for s in (a, b):
                self.assertGreaterEqual(s.text().count("status write conflicted"), conflicts[s])


if __name__ == "__main__":
    warnings.simplefilter("ignore", ResourceWarning)
    KRT = os.path.abspath(sys.argv.pop(1))
    SCHEDULER = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2, warnings="ignore")
