"""Fault tests on the local control plane (issue #5).

The whole product runs as pods of `krt local serve` from k8s/overlays/local,
with RBAC enforced, and the tests break it the way production breaks: Runtime
pods deleted or killed mid-Run, every service killed at random moments during
a burst of Runs, finished Runs left to their TTL, Runs with artifacts deleted.
The plane writes an audit log of every service account request; the last test
compares what each component used with what its RBAC grants.

Usage: fault_test.py BUILD_DIR SOURCE_DIR
"""

import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_support import PlaneTest, main  # noqa: E402

RETRY = "  retryPolicy: {maxAttempts: %d, backoff: 200ms}\n"


def pid_alive(pid):
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Faults(PlaneTest):
    @classmethod
    def setUpClass(cls):
        cls.audit_dir = tempfile.mkdtemp(prefix="krt-fault-audit-")
        cls.audit_path = os.path.join(cls.audit_dir, "audit.jsonl")
        cls.extra_plane_args = ("--audit-log", cls.audit_path)
        try:
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.audit_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.audit_dir, ignore_errors=True)

    ran = set()

    def setUp(self):
        Faults.ran.add(self._testMethodName)

    # ------------------------------------------------------------ helpers

    def create_run(self, name, command, runtime="bash", extra=""):
        """A Run written as YAML, so retry and TTL fields are set exactly."""
        self.plane.kubectl("apply", "-f", "-", input=(
            "apiVersion: kruntimes.io/v1alpha1\nkind: Run\nmetadata: {name: %s}\nspec:\n"
            "  runtime: %s\n  mode: {task: {args: [%s]}}\n%s" % (name, runtime, json.dumps(command), extra)))
        return name

    def events_for(self, name):
        r = self.plane.kubectl("get", "events", "--field-selector", "involvedObject.name=" + name,
                               "-o", "json")
        return [e.get("reason") for e in json.loads(r.stdout)["items"]]

    def wait_gone(self, kind, name, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.plane.kubectl("get", kind, name, "-o", "name", check=False)
            if r.returncode != 0 and "NotFound" in r.stderr:
                return
            time.sleep(0.1)
        self.dump()
        raise AssertionError("%s %s still exists after %ds" % (kind, name, timeout))

    def running_on(self, name):
        run = self.wait_run(name, phases=("Running",))
        return run["status"]["assignedPod"]

    # ------------------------------------------------------------ dead runtime pods

    def test_deleted_pod_fails_a_run_without_retries(self):
        self.create_runtime("solo", capacity=4)
        self.wait_runtime_ready("solo")
        name = self.create_run("orphaned", "sleep 60", runtime="solo")
        pod = self.running_on(name)
        self.plane.kubectl("delete", "pod", pod, "--wait=false")
        run = self.wait_run(name, timeout=90)
        st = run["status"]
        self.assertEqual(st["phase"], "Failed", st)
        running = self.condition(run, "Running")
        self.assertIn(running["reason"], ("PodGone", "PodTerminating"), st)
        self.assertIn(st["message"], ("assigned pod was deleted", "assigned pod is terminating"), st)
        self.assertIn("completionTime", st)
        self.assertIn("StaleRunFailed", self.events_for(name))

    def test_deleted_pod_retries_the_run_on_another_pod(self):
        self.create_runtime("pair", capacity=4, replicas=2)
        self.wait_runtime_ready("pair", replicas=2)
        name = self.create_run("moves", "sleep 4; echo moved=yes >> $KRUNTIME_OUTPUTS", runtime="pair",
                               extra=RETRY % 3)
        first = self.running_on(name)
        self.plane.kubectl("delete", "pod", first, "--wait=false")
        run = self.wait_run(name, timeout=120)
        st = run["status"]
        self.assertEqual(st["phase"], "Succeeded", st)
        self.assertNotEqual(st["assignedPod"], first)
        self.assertGreaterEqual(st["attempt"], 2, st)
        self.assertEqual(st.get("outputs"), {"moved": "yes"})
        self.assertIn("StaleRunRetrying", self.events_for(name))

    def test_killed_runtime_pod_processes_fail_or_retry_the_run(self):
        """kill -9 of the Runtime Server and runtimed of the assigned pod."""
        self.create_runtime("crashy", capacity=4)
        self.wait_runtime_ready("crashy")
        name = self.create_run("crashed", "sleep 3; echo ok=1 >> $KRUNTIME_OUTPUTS", runtime="crashy",
                               extra=RETRY % 3)
        pod = self.running_on(name)
        for binary in ("bash-runtime", "runtimed"):
            pid = self.container_pid(pod, binary)
            self.assertIsNotNone(pid, "%s of %s not found" % (binary, pod))
            os.kill(pid, signal.SIGKILL)
        run = self.wait_run(name, timeout=120)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertEqual(run["status"].get("outputs"), {"ok": "1"})

    def test_a_killed_runtime_server_takes_its_runs_with_it(self):
        """A container's death takes its processes with it (issue #13): the
        Run's shell has a process group of its own, yet it must not outlive
        the killed bash-runtime while runtimed retries the Run elsewhere."""
        self.create_runtime("onekill", capacity=4)
        self.wait_runtime_ready("onekill")
        marks = tempfile.mkdtemp(prefix="krt-fault-marks-")
        self.addCleanup(shutil.rmtree, marks, True)
        # The first attempt sleeps long; the retry finds the marker and ends.
        script = ("echo $$ >> {d}/started; if [ -e {d}/first ]; then echo ok=1 >> $KRUNTIME_OUTPUTS; "
                  "else touch {d}/first; sleep 120; echo $$ >> {d}/finished; fi").format(d=marks)
        name = self.create_run("outlived", script, runtime="onekill", extra=RETRY % 3)
        pod = self.running_on(name)
        started = os.path.join(marks, "started")
        deadline = time.time() + 30
        while time.time() < deadline and not os.path.exists(started):
            time.sleep(0.05)
        with open(started) as f:
            first = int(f.readline())
        server = self.container_pid(pod, "bash-runtime")
        self.assertIsNotNone(server)
        os.kill(server, signal.SIGKILL)
        deadline = time.time() + 20
        while time.time() < deadline and pid_alive(first):
            time.sleep(0.05)
        self.assertFalse(pid_alive(first), "attempt 1 (pid %d) outlived its killed Runtime Server" % first)
        run = self.wait_run(name, timeout=120)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertGreaterEqual(run["status"]["attempt"], 2, run["status"])
        self.assertFalse(os.path.exists(os.path.join(marks, "finished")))

    def test_scheduled_run_on_a_vanished_pod_is_rescheduled(self):
        """The Go reaper leaves such a Run Scheduled forever; ours reschedules it."""
        # A Run assigned, as if by the scheduler, to a pod that died before
        # its runtimed claimed it. Its runtime has no pods, so only the reaper
        # can move it.
        ghost = self.create_run("stranded", "echo back", runtime="no-such-runtime")
        self.wait_run(ghost, phases=("Pending",), message="waiting for available runtime pods")
        status = {"status": {"phase": "Scheduled", "assignedPod": "runtime-ghost-0",
                             "assignedPodUID": "00000000-0000-0000-0000-000000000000"}}
        self.plane.kubectl("patch", "run", ghost, "--subresource=status", "--type=merge",
                           "-p", json.dumps(status))
        run = self.wait_run(ghost, phases=("Pending",), timeout=60,
                            message="waiting for available runtime pods")
        st = run["status"]
        self.assertEqual(st.get("assignedPod", ""), "", st)
        self.assertEqual(st.get("attempt", 0), 0, st)
        self.assertIn("StaleRunRescheduled", self.events_for(ghost))

    # ------------------------------------------------------------ chaos

    def kill_one(self, binary):
        pids = self.plane_pids(binary)
        if pids:
            os.kill(random.choice(pids), signal.SIGKILL)
        return len(pids)

    def test_burst_survives_every_component_being_killed(self):
        self.create_runtime("chaos", capacity=4, replicas=2)
        self.wait_runtime_ready("chaos", replicas=2)
        rng = random.Random(int(os.environ.get("KRT_FAULT_SEED", "0")) or None)
        seed = rng.randrange(1 << 30)
        random.seed(seed)
        victims = ["kruntimes-scheduler", "kruntimes-controller", "kruntimes-reaper", "runtimed", "bash-runtime"]
        names = []
        killed = []
        for i in range(40):
            names.append(self.create_run("burst-%02d" % i, "sleep 0.%d; echo i=%d >> $KRUNTIME_OUTPUTS" % (
                random.randrange(1, 5), i), runtime="chaos", extra=RETRY % 4))
            if i % 8 == 4:
                v = victims[(i // 8) % len(victims)]
                if self.kill_one(v):
                    killed.append(v)
                time.sleep(random.uniform(0, 0.3))
        self.assertEqual(len(killed), len(victims), "not every component had a process to kill: %s" % killed)
        phases = {}
        for n in names:
            run = self.wait_run(n, timeout=240)
            phases[n] = run["status"]["phase"]
        # No Run is lost or stuck: all 40 exist and are terminal. Each had 4
        # attempts, so a kill costs an attempt, not the Run.
        self.assertEqual(len(phases), 40)
        failed = {n: p for n, p in phases.items() if p != "Succeeded"}
        self.assertEqual(failed, {}, "seed %d: %s" % (seed, failed))

    # ------------------------------------------------------------ TTL and artifacts

    def test_ttl_deletes_finished_runs_only(self):
        short = self.create_run("ttl-short", "true", extra="  ttlSecondsAfterFinished: 2\n")
        keep = self.create_run("ttl-none", "true")
        self.wait_run(short)
        self.wait_run(keep)
        self.wait_gone("run", short, timeout=60)
        self.assertEqual(self.get_run(keep)["status"]["phase"], "Succeeded")

    def test_deleting_a_run_removes_its_artifacts(self):
        """SPEC §8: the controller starts runtime-maintainer-<hash> as a pod of
        the node, which deletes the Run's directory and then its finalizer."""
        claim = "fault-artifacts"
        self.create_runtime("stored", extra="  artifactStore:\n    driver: filesystem\n"
                                            "    filesystem: {volumeClaimName: %s}\n" % claim)
        self.wait_runtime_ready("stored")
        name = self.create_run("with-artifacts", 'echo hi > "$KRUNTIME_ARTIFACTS_DIR/hi.txt"', runtime="stored")
        run = self.wait_run(name)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertIn("kruntimes.io/artifact-cleanup", run["metadata"].get("finalizers", []))
        store = run["status"]["artifactStore"]
        self.assertEqual(store, {"driver": "filesystem", "filesystem": {"volumeClaimName": claim}})
        uid = run["metadata"]["uid"]
        claim_dir = os.path.join(self.plane.state_dir, "claims", "default", claim)
        stored = os.path.join(claim_dir, "namespaces", "default", "runs", uid)
        self.assertTrue(os.path.isfile(os.path.join(stored, "hi.txt")), stored)
        # A fresh directory of no Run on the same claim stays (orphans are
        # swept only after --orphan-grace).
        other = os.path.join(claim_dir, "namespaces", "default", "runs", "not-this-one")
        os.makedirs(other)
        self.plane.kubectl("delete", "run", name, "--wait=false")
        h = hashlib.sha256(json.dumps(store, separators=(",", ":")).encode()).hexdigest()[:16]
        self.wait_gone("run", name, timeout=120)
        self.assertFalse(os.path.exists(stored), "artifacts of a deleted Run are still stored")
        self.assertTrue(os.path.exists(other))
        pods = json.loads(self.plane.kubectl("get", "pods", "-l", "kruntimes.io/artifact-store-hash=" + h,
                                             "-o", "json").stdout)["items"]
        self.assertEqual(len(pods), 1)
        self.assertEqual(pods[0]["status"].get("phase"), "Running", pods[0]["status"])

    # ------------------------------------------------------------ RBAC

    def granted(self):
        """{service account user: {(group, resource, verb)}} from the live bindings."""
        def rules_of(kind, name, ns):
            args = ("get", kind.lower(), name, "-o", "json") + (("-n", ns) if ns else ())
            r = self.plane.kubectl(*args, check=False)
            return json.loads(r.stdout).get("rules", []) if r.returncode == 0 else []

        out = {}
        for kind in ("clusterrolebindings", "rolebindings"):
            items = json.loads(self.plane.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]
            for b in items:
                ns = b["metadata"].get("namespace", "")
                for s in b.get("subjects") or []:
                    if s.get("kind") != "ServiceAccount":
                        continue
                    user = "system:serviceaccount:%s:%s" % (s.get("namespace") or ns, s["name"])
                    for rule in rules_of(b["roleRef"]["kind"], b["roleRef"]["name"], ns):
                        for g in rule.get("apiGroups", []):
                            for res in rule.get("resources", []):
                                for v in rule.get("verbs", []):
                                    out.setdefault(user, set()).add((g, res, v))
        return out

    def used(self):
        out, denied = {}, []
        with open(self.audit_path) as f:
            for line in f:
                e = json.loads(line)
                res = e["resource"] + ("/" + e["subresource"] if e["subresource"] else "")
                if not e["allowed"]:
                    denied.append(e)
                out.setdefault(e["user"], set()).add((e["group"], res, e["verb"]))
        return out, denied

    def test_zz_rbac_grants_exactly_what_components_use(self):
        """Runs last (unittest sorts by name), after every other test used the plane."""
        others = {n for n in dir(self) if n.startswith("test_") and n != self._testMethodName}
        if not others <= Faults.ran:
            self.skipTest("compares rights with the whole suite's requests; run the whole class")
        used, denied = self.used()
        ours = [u for u in used if ":kruntimes-" in u]
        self.assertEqual([e for e in denied if e["user"] in ours], [], "requests RBAC refused")
        granted = self.granted()
        report = {}
        for user in sorted(set(ours) | {u for u in granted if ":kruntimes-" in u}):
            g, u = granted.get(user, set()), used.get(user, set())
            extra = sorted(u - g)
            expected = set(EXPECTED_UNUSED.get(user.rsplit(":", 1)[1], {}))
            self.assertLessEqual(expected, g, "%s: EXPECTED_UNUSED lists rights it does not hold" % user)
            unused = sorted(g - u - expected)
            if extra or unused:
                report[user] = {"used but not granted": extra, "granted but never used": unused}
        self.assertEqual(report, {}, json.dumps(report, indent=1))


# Rights a component holds but the fault run does not exercise, each with the
# reason. Anything granted, unused and not listed here fails the test: it is a
# right to remove.
DRIFT = "used only to repair drift or after a create found the object already there " \
        "(test/services/controller/controller_test.py exercises it)"
CONFLICT = "re-reads a Run after a conflicting write (its integration test exercises it)"
GRANT = "held only so the controller may grant it in the runtimed Role (RBAC's escalation check)"
EXPECTED_UNUSED = {
    "kruntimes-controller": {
        ("apps", "deployments", "get"): DRIFT, ("apps", "deployments", "update"): DRIFT,
        ("networking.k8s.io", "networkpolicies", "get"): DRIFT,
        ("networking.k8s.io", "networkpolicies", "update"): DRIFT,
        ("", "serviceaccounts", "get"): DRIFT, ("", "serviceaccounts", "update"): DRIFT,
        ("rbac.authorization.k8s.io", "roles", "get"): DRIFT,
        ("rbac.authorization.k8s.io", "roles", "update"): DRIFT,
        ("rbac.authorization.k8s.io", "rolebindings", "get"): DRIFT,
        ("rbac.authorization.k8s.io", "rolebindings", "update"): DRIFT,
        ("kruntimes.io", "runs", "get"): GRANT, ("", "pods", "get"): GRANT, ("", "pods/status", "patch"): GRANT,
        ("kruntimes.io", "runs", "patch"): GRANT + " and the maintainer Role",
        # runs.cpp copy_store fills an empty status.artifactStore; runtimed
        # writes it first whenever it stores artifacts itself.
        ("kruntimes.io", "runs/status", "patch"): GRANT + "; also copy_store when runtimed did not",
        # Warning Events for invalid Runtimes and s3 stores it cannot clean.
        ("", "events", "create"): "Warning Events on invalid Runtimes and unsupported stores",
    },
    "kruntimes-reaper": {("kruntimes.io", "runs", "get"): CONFLICT},
    "kruntimes-runtimed": {("kruntimes.io", "runs", "get"): CONFLICT},
}


if __name__ == "__main__":
    main()
