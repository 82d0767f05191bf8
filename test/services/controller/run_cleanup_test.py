#!/usr/bin/env python3
"""The controller's Run side (SPEC §8) against the real local control plane
(`krt local serve --no-node`, the project's CRDs): finished Runs with a TTL
are deleted once it expires, others are left alone; a Run carrying the
artifact-cleanup finalizer gets its Runtime's store recorded, and once deleted
its namespace gets the maintainer's ServiceAccount, Role, RoleBinding and
Deployment; an s3 store gets a Warning Event instead.

Usage: run_cleanup_test.py /path/to/krt /path/to/kruntimes-controller [unittest args...]
"""

import json
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "test", "support"))
import kubetest  # noqa: E402
from kubetest import ARTIFACT_FINALIZER as FINALIZER, now_micro, store_hash, wait_for  # noqa: E402

KRT = None
CONTROLLER = None
NS = "ttl-test"

RUNTIME = """
apiVersion: kruntimes.io/v1alpha1
kind: Runtime
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  port: 9091
  replicas: 1
  artifactStore: %(store)s
  template:
    spec:
      containers:
      - name: runtime
        image: kruntimes/bash-runtime:0.1.0
"""


class RunSideTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        crds = {kind: os.path.join(kubetest.CRDS, kind + ".yaml") for kind in ("runs", "runtimes")}
        cls.plane = kubetest.plane_with_crds(KRT, crds, namespaces=[NS])
        cls.controller = kubetest.ServiceProcess.on_plane(cls.plane, CONTROLLER, "controller.log", [
            "--namespace", NS, "--leader-elect=false", "--metrics-bind-address", "127.0.0.1:0",
            "--health-probe-bind-address", "0", "--runtime-maintainer-image", "kruntimes/maintainer:test",
            "--runtime-maintainer-image-pull-secrets", "reg-a, reg-b"])

    @classmethod
    def tearDownClass(cls):
        kubetest.stop_checked(cls.controller, cls.plane.cleanup, check=False)

    # -------------------------------------------------------------- helpers

    def get(self, kind, name):
        r = self.plane.kubectl("get", kind, name, "-n", NS, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def create_run(self, name, ttl=None, finalizers=None, runtime="bash"):
        run = {"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run",
               "metadata": {"name": name, "namespace": NS},
               "spec": {"runtime": runtime, "mode": {"task": {"args": ["echo", "hi"]}}}}
        if ttl is not None:
            run["spec"]["ttlSecondsAfterFinished"] = ttl
        if finalizers:
            run["metadata"]["finalizers"] = finalizers
        self.plane.kubectl("create", "-f", "-", input=json.dumps(run))
        return self.get("run", name)

    def patch_status(self, name, status):
        self.plane.kubectl("patch", "run", name, "-n", NS, "--subresource=status", "--type=merge",
                           "-p", json.dumps({"status": status}))

    def finish(self, name, completed=None, phase="Succeeded"):
        self.patch_status(name, {"phase": phase, "startTime": now_micro(-5),
                                 "completionTime": completed or now_micro()})

    def metric(self, text):
        m = re.search(re.escape(text) + r" (\S+)", self.controller.metrics(None))  # the only "serving" line
        return float(m.group(1)) if m else 0.0

    def drop_finalizers(self, name):
        self.plane.kubectl("patch", "run", name, "-n", NS, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                           check=False)

    # -------------------------------------------------------------- tests

    def test_ttl(self):
        # Left alone: ttl 0, no ttl, not finished, finished long ago without ttl.
        for name, ttl in (("keep-zero", 0), ("keep-unset", None), ("keep-running", 1)):
            self.create_run(name, ttl=ttl)
        self.finish("keep-zero", completed=now_micro(-3600))
        self.finish("keep-unset", completed=now_micro(-3600))
        self.patch_status("keep-running", {"phase": "Running", "startTime": now_micro(-3600)})
        # Expired long ago (deleted at once) and due in 2 s (deleted by the timer).
        self.create_run("expired", ttl=60)
        self.finish("expired", completed=now_micro(-3600), phase="Failed")
        self.create_run("soon", ttl=2)
        self.finish("soon")
        wait_for("the expired Run to go", lambda: self.get("run", "expired") is None)
        wait_for("the Run with a 2 s TTL to go", lambda: self.get("run", "soon") is None)
        self.controller.assert_alive()
        for name in ("keep-zero", "keep-unset", "keep-running"):
            self.assertIsNotNone(self.get("run", name), name + " must not be deleted")
        self.assertEqual(self.metric('kruntimes_controller_runs_deleted_total{reason="ttl"}'), 2.0)
        self.assertIn("TTL expired", self.controller.text())

    def test_cleanup_filesystem(self):
        store = {"driver": "filesystem", "filesystem": {"volumeClaimName": "artifacts"}}
        h = store_hash(store)
        self.plane.kubectl("apply", "-f", "-",
                           input=RUNTIME % {"name": "fsrt", "ns": NS, "store": json.dumps(store)})
        self.create_run("art", finalizers=[FINALIZER], runtime="fsrt")
        # The Runtime's store is recorded in the Run's status.
        run = wait_for("status.artifactStore", lambda: (self.get("run", "art").get("status") or {}).get("artifactStore"))
        self.assertEqual(run, store)
        self.assertIsNone(self.get("deployment", "runtime-maintainer-" + h), "nothing until the Run is deleted")
        self.plane.kubectl("delete", "run", "art", "-n", NS, "--wait=false")

        d = wait_for("the maintainer Deployment", lambda: self.get("deployment", "runtime-maintainer-" + h))
        self.controller.assert_alive()
        labels = {"app.kubernetes.io/name": "kruntimes", "app.kubernetes.io/component": "runtime-maintainer",
                  "kruntimes.io/artifact-store-hash": h}
        self.assertEqual(d["metadata"]["labels"], labels)
        self.assertNotIn("ownerReferences", d["metadata"])
        self.assertEqual(d["spec"]["replicas"], 1)
        pod = d["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], "kruntimes-runtime-maintainer")
        self.assertEqual(pod["imagePullSecrets"], [{"name": "reg-a"}, {"name": "reg-b"}])
        self.assertEqual(pod["securityContext"]["fsGroup"], 65532)
        (c,) = pod["containers"]
        self.assertEqual((c["name"], c["image"]), ("cleaner", "kruntimes/maintainer:test"))
        self.assertEqual(c["args"], ["--run-namespace=" + NS, "--store-hash=" + h, "--driver=filesystem",
                                     "--filesystem-root=/var/lib/kruntimes/artifacts",
                                     "--filesystem-volume-claim=artifacts"])
        self.assertEqual(pod["volumes"], [{"name": "artifact-store", "persistentVolumeClaim": {"claimName": "artifacts"}}])

        sa = self.get("serviceaccount", "kruntimes-runtime-maintainer")
        self.assertIsNotNone(sa)
        role = wait_for("the maintainer Role", lambda: self.get("role", "kruntimes-runtime-maintainer"))
        self.assertEqual(role["rules"], [
            {"apiGroups": ["kruntimes.io"], "resources": ["runs"], "verbs": ["list", "patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}])
        rb = wait_for("the maintainer RoleBinding", lambda: self.get("rolebinding", "kruntimes-runtime-maintainer"))
        self.assertEqual(rb["roleRef"]["name"], "kruntimes-runtime-maintainer")
        self.assertEqual(rb["subjects"], [{"kind": "ServiceAccount", "name": "kruntimes-runtime-maintainer",
                                           "namespace": NS}])
        # The finalizer stays until the maintainer removes it.
        self.assertIn(FINALIZER, self.get("run", "art")["metadata"]["finalizers"])
        self.drop_finalizers("art")
        wait_for("the Run to go", lambda: self.get("run", "art") is None)

    def test_cleanup_s3_is_reported(self):
        self.create_run("s3run", finalizers=[FINALIZER], runtime="nort")
        s3 = {"driver": "s3", "s3": {"bucket": "b"}}
        self.patch_status("s3run", {"phase": "Succeeded", "artifactStore": s3})
        self.plane.kubectl("delete", "run", "s3run", "-n", NS, "--wait=false")

        def warned():
            r = self.plane.kubectl("get", "events", "-n", NS, "-o", "json")
            return [e for e in json.loads(r.stdout)["items"]
                    if e.get("reason") == "ArtifactCleanupUnsupported" and e["involvedObject"]["name"] == "s3run"]
        (ev,) = wait_for("the Warning Event", warned)
        self.assertEqual(ev["type"], "Warning")
        self.assertIn("s3", ev["message"])
        self.assertIsNone(self.get("deployment", "runtime-maintainer-" + store_hash(s3)))
        self.assertIn(FINALIZER, self.get("run", "s3run")["metadata"]["finalizers"])
        self.drop_finalizers("s3run")
        wait_for("the Run to go", lambda: self.get("run", "s3run") is None)


class FlagsTest(unittest.TestCase):
    def test_help_names_the_new_flags(self):
        r = subprocess.run([CONTROLLER, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--runtime-maintainer-image", r.stdout)
        self.assertIn("--runtime-maintainer-image-pull-secrets", r.stdout)


if __name__ == "__main__":
    KRT = os.path.abspath(sys.argv[1])
    CONTROLLER = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
