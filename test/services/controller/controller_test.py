#!/usr/bin/env python3
"""The Runtime controller against the real local control plane (`krt local
serve --no-node`: the API server with owner-reference garbage collection, no
pods): a Runtime gets its ServiceAccount, Role, RoleBinding, Deployment and
NetworkPolicy; a template change updates the Deployment; status follows the
Deployment's status (patched by the test, since no node runs pods); an invalid
Runtime gets Ready=False/InvalidSpec and an Event; deleting the Runtime
garbage-collects what it owns.

Usage: controller_test.py /path/to/krt /path/to/kruntimes-controller [unittest args...]
"""

import json
import os
import re
import subprocess
import sys
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
import kubetest  # noqa: E402
from kubetest import ServiceProcess  # noqa: E402

KRT = None
CONTROLLER = None
NS = "rt-test"

RUNTIME = """
apiVersion: kruntimes.io/v1alpha1
kind: Runtime
metadata:
  name: %(name)s
  namespace: %(ns)s
spec:
  port: 9091
  replicas: 1
  capacity:
    resources: {runs: "3"}
  template:
    metadata:
      labels: {team: blue}
    spec:
      containers:
      - name: runtime
        image: %(image)s
        env:
        - {name: GREETING, value: "hello $(POD_IP)"}
"""


TEST_CRD = os.path.join(HERE, "testdata", "runtimes-crd.yaml")


def wait_for(what, fn, timeout=30):
    """kubetest.wait_for; a failed kubectl (AssertionError) counts as not yet."""
    return kubetest.wait_for(what, fn, timeout, retry_on=(AssertionError,))


class ControllerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The controller also watches Runs (TTL, artifact cleanup); /readyz waits for that list.
        cls.plane = kubetest.plane_with_crds(
            KRT, {"runtimes": TEST_CRD, "runs": os.path.join(kubetest.CRDS, "runs.yaml")}, namespaces=[NS])
        cls.controller = ServiceProcess.on_plane(cls.plane, CONTROLLER, "controller.log", [
            "--namespace", NS, "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0",
            "--default-daemon-image", "kruntimes/runtimed:test"])

    @classmethod
    def tearDownClass(cls):
        kubetest.stop_checked(cls.controller, cls.plane.cleanup, check=False)

    def get(self, kind, name, check=True):
        r = self.plane.kubectl("get", kind, name, "-n", NS, "-o", "json", check=check)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def exists(self, kind, name):
        return self.get(kind, name, check=False) is not None

    def apply_runtime(self, name, image="kruntimes/bash-runtime:0.1.0"):
        self.plane.kubectl("apply", "-f", "-", input=RUNTIME % {"name": name, "ns": NS, "image": image})
        return self.get("runtime", name)

    def deployment(self, name):
        return wait_for("Deployment runtime-" + name, lambda: self.get("deployment", "runtime-" + name, check=False))

    def condition(self, rt_name, ctype):
        rt = self.get("runtime", rt_name)
        for c in (rt.get("status") or {}).get("conditions") or []:
            if c["type"] == ctype:
                return c
        return None

    def reconciles(self):
        # The first "serving" line is the metrics endpoint's.
        m = re.search(r'kruntimes_controller_reconcile_total\{result="success"\} (\S+)', self.controller.metrics(None))
        return float(m.group(1)) if m else 0.0

    # -------------------------------------------------------------- tests

    def test_creates_owned_objects(self):
        rt = self.apply_runtime("bash")
        d = self.deployment("bash")
        self.controller.assert_alive()
        self.assertEqual(d["metadata"]["labels"], {"runtime": "bash", "app": "kruntimes-bash"})
        owner = d["metadata"]["ownerReferences"][0]
        self.assertEqual((owner["kind"], owner["name"], owner["uid"]), ("Runtime", "bash", rt["metadata"]["uid"]))
        self.assertTrue(owner["controller"])
        self.assertTrue(owner["blockOwnerDeletion"])
        spec = d["spec"]
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(spec["selector"]["matchLabels"], {"runtime": "bash", "app": "kruntimes-bash"})
        tmeta = spec["template"]["metadata"]
        self.assertEqual(tmeta["labels"], {"team": "blue", "runtime": "bash", "app": "kruntimes-bash"})
        self.assertEqual(tmeta["annotations"], {"kruntimes.io/capacity.runs": "3"})
        pod = spec["template"]["spec"]
        self.assertEqual([c["name"] for c in pod["containers"]], ["runtime", "runtimed"])
        self.assertEqual(pod["serviceAccountName"], "kruntimes-runtimed")
        runtime, runtimed = pod["containers"]
        self.assertEqual([e["name"] for e in runtime["env"]],
                         ["POD_NAME", "HOSTNAME", "POD_NAMESPACE", "POD_UID", "POD_IP",
                          "KRUNTIMES_RUNTIME_SOCKET", "GREETING"])
        self.assertEqual(runtime["ports"][0]["name"], "grpc")
        self.assertEqual(runtimed["image"], "kruntimes/runtimed:test")
        self.assertIn("--runtime-endpoint=$(POD_IP):9091", runtimed["args"])
        self.assertIn("--runtime-socket=unix-abstract:kruntimes-$(POD_UID)", runtimed["args"])
        self.assertIn("--workers=3", runtimed["args"])
        self.assertIn({"name": "workspace", "emptyDir": {}}, pod["volumes"])

        sa = wait_for("ServiceAccount", lambda: self.get("serviceaccount", "kruntimes-runtimed", check=False))
        self.assertEqual(sa["metadata"]["labels"]["app.kubernetes.io/component"], "runtimed")
        role = self.get("role", "kruntimes-runtimed")
        self.assertEqual(sorted(r["resources"][0] for r in role["rules"]),
                         ["events", "pods", "pods/status", "runs", "runs/status"])
        rb = self.get("rolebinding", "kruntimes-runtimed-kruntimes-runtimed")
        self.assertEqual(rb["roleRef"]["name"], "kruntimes-runtimed")
        self.assertEqual(rb["subjects"], [{"kind": "ServiceAccount", "name": "kruntimes-runtimed", "namespace": NS}])
        np = wait_for("NetworkPolicy", lambda: self.get("networkpolicy", "runtime-bash", check=False))
        self.assertEqual(np["spec"]["policyTypes"], ["Ingress"])
        self.assertEqual(np["metadata"]["ownerReferences"][0]["uid"], rt["metadata"]["uid"])

        ready = wait_for("Ready condition", lambda: self.condition("bash", "Ready"))
        self.assertEqual((ready["status"], ready["reason"]), ("False", "ReplicasNotReady"))
        # Leader election took the lease in the watched namespace.
        lease = self.get("lease", "kruntimes-controller.kruntimes.com")
        self.assertTrue(lease["spec"]["holderIdentity"])

    def test_template_change_updates_deployment(self):
        self.apply_runtime("tmpl", image="kruntimes/bash-runtime:0.1.0")
        d1 = self.deployment("tmpl")
        self.apply_runtime("tmpl", image="kruntimes/bash-runtime:0.2.0")

        def updated():
            d = self.get("deployment", "runtime-tmpl")
            return d if d["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0") else None
        d2 = wait_for("the new image in the Deployment", updated)
        self.assertGreater(d2["metadata"]["generation"], d1["metadata"]["generation"])
        # No update loop: another reconcile of the unchanged Runtime leaves
        # the Deployment (with the server's defaults) alone.
        rv = d2["metadata"]["resourceVersion"]
        before = self.reconciles()
        self.plane.kubectl("annotate", "runtime", "tmpl", "-n", NS, "poke=1")
        wait_for("a reconcile after the poke", lambda: self.reconciles() > before)
        self.assertEqual(self.get("deployment", "runtime-tmpl")["metadata"]["resourceVersion"], rv)

    def test_status_follows_deployment(self):
        self.apply_runtime("stat")
        d = self.deployment("stat")
        status = {"status": {"observedGeneration": d["metadata"]["generation"], "replicas": 1,
                             "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}}
        self.plane.kubectl("patch", "deployment", "runtime-stat", "-n", NS, "--subresource=status",
                           "--type=merge", "-p", json.dumps(status))

        def ready():
            c = self.condition("stat", "Ready")
            return c if c and c["status"] == "True" else None
        c = wait_for("Ready=True", ready)
        self.assertEqual(c["reason"], "MinimumReplicasAvailable")
        rt = self.get("runtime", "stat")
        self.assertEqual(rt["status"]["readyReplicas"], 1)
        self.assertEqual(self.condition("stat", "Progressing")["reason"], "RolloutComplete")
        self.assertRegex(c["lastTransitionTime"], r"\.\d{6}Z$")

    def test_invalid_runtime(self):
        bad = RUNTIME % {"name": "bad", "ns": NS, "image": "img"}
        bad = bad.replace("name: runtime\n", "name: server\n")
        self.plane.kubectl("apply", "-f", "-", input=bad)

        def invalid():
            c = self.condition("bad", "Ready")
            return c if c and c["reason"] == "InvalidSpec" else None
        c = wait_for("InvalidSpec", invalid)
        self.assertEqual(c["status"], "False")
        self.assertIn("containers[0].name", c["message"])
        self.assertFalse(self.exists("deployment", "runtime-bad"))

        def event():
            r = self.plane.kubectl("get", "events", "-n", NS, "-o", "json")
            return [e for e in json.loads(r.stdout)["items"]
                    if e["reason"] == "InvalidSpec" and e["involvedObject"]["name"] == "bad"]
        ev = wait_for("an InvalidSpec Event", event)[0]
        self.assertEqual(ev["type"], "Warning")
        # Fixing it makes the Deployment.
        self.apply_runtime("bad")
        self.deployment("bad")

    def test_delete_collects_owned_objects(self):
        self.apply_runtime("gone")
        self.deployment("gone")
        wait_for("NetworkPolicy", lambda: self.exists("networkpolicy", "runtime-gone"))
        self.plane.kubectl("delete", "runtime", "gone", "-n", NS)
        wait_for("the Deployment to be collected", lambda: not self.exists("deployment", "runtime-gone"))
        wait_for("the NetworkPolicy to be collected", lambda: not self.exists("networkpolicy", "runtime-gone"))
        # The shared RBAC objects have no owner and stay.
        self.assertTrue(self.exists("role", "kruntimes-runtimed"))
        self.assertTrue(self.exists("serviceaccount", "kruntimes-runtimed"))

    def test_recreates_a_deleted_deployment(self):
        self.apply_runtime("heal")
        self.deployment("heal")
        self.plane.kubectl("delete", "deployment", "runtime-heal", "-n", NS)
        self.deployment("heal")

    def test_probes_and_metrics(self):
        ports = wait_for("the serving lines",
                         lambda: self.controller.ports() if len(self.controller.ports()) >= 2 else None)
        self.apply_runtime("probe")
        self.deployment("probe")
        for port in ports:
            for path in ("/healthz", "/readyz"):
                with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=10) as r:
                    self.assertEqual(r.status, 200)

        def counted():
            with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % ports[0], timeout=10) as r:
                body = r.read().decode()
            return 'kruntimes_controller_reconcile_total{result="success"}' in body
        wait_for("reconcile metrics", counted)


class RolloutTest(unittest.TestCase):
    """With the local node: its Deployment controller turns a template change
    into a new ReplicaSet, reports Deployment status, and the garbage
    collector removes ReplicaSets with the Deployment. The images are not
    mapped, so no process runs (the pods wait with ImageNotMapped)."""

    @classmethod
    def setUpClass(cls):
        cls.plane = kubetest.plane_with_crds(KRT, {"runtimes": TEST_CRD}, extra_args=())
        cls.controller = ServiceProcess.on_plane(cls.plane, CONTROLLER, "controller.log", [
            "--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"])

    @classmethod
    def tearDownClass(cls):
        kubetest.stop_checked(cls.controller, cls.plane.cleanup, check=False)

    def replica_sets(self):
        r = self.plane.kubectl("get", "replicasets", "-n", "default", "-l", "runtime=roll", "-o", "json")
        return json.loads(r.stdout)["items"]

    def test_template_change_rolls_out(self):
        apply = lambda image: self.plane.kubectl(
            "apply", "-f", "-", input=RUNTIME % {"name": "roll", "ns": "default", "image": image})
        apply("kruntimes/bash-runtime:0.1.0")
        wait_for("the first ReplicaSet", lambda: len(self.replica_sets()) == 1)

        def progressing():
            rt = json.loads(self.plane.kubectl("get", "runtime", "roll", "-o", "json").stdout)
            conds = {c["type"]: c for c in (rt.get("status") or {}).get("conditions") or []}
            return conds if "Progressing" in conds else None
        conds = wait_for("conditions", progressing)
        self.assertEqual(conds["Ready"]["status"], "False")
        apply("kruntimes/bash-runtime:0.2.0")
        wait_for("a second ReplicaSet", lambda: len(self.replica_sets()) == 2)
        images = sorted(rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in self.replica_sets())
        self.assertEqual(images, ["kruntimes/bash-runtime:0.1.0", "kruntimes/bash-runtime:0.2.0"])
        self.plane.kubectl("delete", "runtime", "roll")
        wait_for("the ReplicaSets to be collected", lambda: not self.replica_sets())
        self.assertTrue(self.controller.alive())
        # The Deployment controller's status writes and defaults caused no
        # update of ours: one update, for the one template change.
        updates = [line for line in self.controller.logged("updated") if '"kind":"Deployment"' in line]
        self.assertEqual(len(updates), 1, updates)


class RealCrdTest(unittest.TestCase):
    """With the project's own CRD (k8s/crds/runtimes.yaml): its schema accepts
    the status we write (conditions with every required field)."""

    CRD = os.path.join(kubetest.CRDS, "runtimes.yaml")

    def test_status_accepted_by_the_real_schema(self):
        if not os.path.exists(self.CRD):
            self.skipTest("k8s/crds/runtimes.yaml is not there yet")
        plane = kubetest.plane_with_crds(KRT, {"runtimes": self.CRD})
        proc = None
        try:
            proc = ServiceProcess.on_plane(plane, CONTROLLER, "controller.log", [
                "--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"])
            plane.kubectl("apply", "-f", "-", input=RUNTIME % {"name": "real", "ns": "default", "image": "img:1"})

            def ready_condition():
                rt = json.loads(plane.kubectl("get", "runtime", "real", "-o", "json").stdout)
                conds = [c for c in (rt.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
                return conds[0] if conds else None
            c = wait_for("the Ready condition", ready_condition)
            self.assertEqual(c["reason"], "ReplicasNotReady")
            plane.kubectl("get", "deployment", "runtime-real")
            self.assertEqual(proc.stop(timeout=15), 0, "SIGTERM should end the controller with 0")
        finally:
            if proc is not None:
                proc.stop()
            plane.cleanup()


class HelpTest(unittest.TestCase):
    def test_help(self):
        r = subprocess.run([CONTROLLER, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for flag in ("--metrics-bind-address", "--health-probe-bind-address", "--leader-elect",
                     "--default-daemon-image", "--runtimed-service-account-name", "--kubeconfig", "--namespace"):
            self.assertIn(flag, r.stdout)

    def test_bad_flag(self):
        r = subprocess.run([CONTROLLER, "--metrics-bind-address", "nope"], capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, KUBECONFIG="/nonexistent"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--metrics-bind-address", r.stderr)


if __name__ == "__main__":
    KRT = os.path.abspath(sys.argv[1])
    CONTROLLER = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
