#!/usr/bin/env python3
"""kruntimes-maintainer as an outside process against the real local control
plane (`krt local serve --no-node`, the project's Run CRD) with a temporary
--filesystem-root: a deleted Run's directory and finalizer go (other
finalizers stay), other Runs' directories stay, an old orphan directory is
swept and a fresh one is not; --run-uid cleans one Run and exits; --help and
bad flags.

Usage: maintainer_test.py /path/to/krt /path/to/kruntimes-maintainer [unittest args...]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "test", "support"))
import kubetest  # noqa: E402
from kubetest import ARTIFACT_FINALIZER as FINALIZER, store_hash, wait_for  # noqa: E402

KRT = None
MAINTAINER = None
STORE = {"driver": "filesystem", "filesystem": {"volumeClaimName": "artifacts"}}
OTHER_STORE = {"driver": "filesystem", "filesystem": {"volumeClaimName": "elsewhere"}}


class MaintainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plane = kubetest.plane_with_crds(KRT, {"runs": os.path.join(kubetest.CRDS, "runs.yaml")})

    @classmethod
    def tearDownClass(cls):
        cls.plane.cleanup()

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="maintainer-root-")
        self.services = []
        self.ns = "m-" + self._testMethodName.replace("_", "-")[5:][:40].strip("-")
        self.plane.kubectl("apply", "-f", "-",
                           input='{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' % self.ns)

    def tearDown(self):
        for svc in self.services:
            svc.stop()
        # Let the namespace's Runs go so nothing waits on our finalizer.
        r = self.plane.kubectl("get", "runs", "-n", self.ns, "-o", "json", check=False)
        if r.returncode == 0:
            for item in json.loads(r.stdout)["items"]:
                self.plane.kubectl("patch", "run", item["metadata"]["name"], "-n", self.ns, "--type=merge",
                                   "-p", '{"metadata":{"finalizers":null}}', check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # -------------------------------------------------------------- helpers

    def get(self, name):
        r = self.plane.kubectl("get", "run", name, "-n", self.ns, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def run_dir(self, uid):
        return os.path.join(self.root, "namespaces", self.ns, "runs", uid)

    def make_run(self, name, finalizers=(FINALIZER,), store=STORE):
        run = {"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run",
               "metadata": {"name": name, "namespace": self.ns, "finalizers": list(finalizers)},
               "spec": {"runtime": "bash", "mode": {"task": {"args": ["true"]}}}}
        self.plane.kubectl("create", "-f", "-", input=json.dumps(run))
        status = {"phase": "Succeeded"}
        if store is not None:
            status["artifactStore"] = store
        self.plane.kubectl("patch", "run", name, "-n", self.ns, "--subresource=status", "--type=merge",
                           "-p", json.dumps({"status": status}))
        uid = self.get(name)["metadata"]["uid"]
        d = self.run_dir(uid)
        os.makedirs(os.path.join(d, "nested"), exist_ok=True)
        with open(os.path.join(d, "nested", "out.bin"), "wb") as f:
            f.write(b"x" * 1000)
        return uid

    def delete(self, name):
        self.plane.kubectl("delete", "run", name, "-n", self.ns, "--wait=false")
        wait_for("deletionTimestamp on " + name, lambda: self.get(name)["metadata"].get("deletionTimestamp"))

    def start(self, *extra):
        svc = kubetest.ServiceProcess(MAINTAINER, [
            "--kubeconfig", self.plane.kubeconfig, "--run-namespace", self.ns, "--filesystem-root", self.root,
            "--filesystem-volume-claim", "artifacts", "--interval", "200ms", *extra],
            os.path.join(self.plane.state_dir, self.ns + ".log"), self.plane.env())
        self.services.append(svc)
        return svc

    def run_once(self, *extra, env=None):
        return subprocess.run([MAINTAINER, "--kubeconfig", self.plane.kubeconfig, "--run-namespace", self.ns,
                               "--filesystem-root", self.root, *extra],
                              capture_output=True, text=True, timeout=60, env=env or self.plane.env())

    # -------------------------------------------------------------- tests

    def test_loop_cleans_and_sweeps(self):
        gone = self.make_run("gone")
        held = self.make_run("held", finalizers=("example.com/hold", FINALIZER))
        keep = self.make_run("keep")                       # not deleted
        other = self.make_run("other", store=OTHER_STORE)  # another store's maintainer owns it
        self.delete("gone")
        self.delete("held")
        self.delete("other")
        runs = os.path.join(self.root, "namespaces", self.ns, "runs")
        os.makedirs(os.path.join(runs, "orphan-old", "x"))
        os.makedirs(os.path.join(runs, "orphan-new", "x"))
        hour_ago = time.time() - 3600
        os.utime(os.path.join(runs, "orphan-old"), (hour_ago, hour_ago))

        p = self.start("--store-hash", store_hash(STORE), "--orphan-grace", "10m")
        wait_for("the deleted Run to go", lambda: self.get("gone") is None)
        self.assertFalse(os.path.exists(self.run_dir(gone)))
        held_run = wait_for("our finalizer off the held Run",
                            lambda: (lambda r: r if r["metadata"].get("finalizers") == ["example.com/hold"] else None)(
                                self.get("held")))
        self.assertIsNotNone(held_run["metadata"].get("deletionTimestamp"))
        self.assertFalse(os.path.exists(self.run_dir(held)))
        wait_for("the old orphan to be swept", lambda: not os.path.exists(os.path.join(runs, "orphan-old")))
        self.assertTrue(os.path.exists(os.path.join(runs, "orphan-new")))
        self.assertTrue(os.path.exists(os.path.join(self.run_dir(keep), "nested", "out.bin")))
        self.assertTrue(os.path.exists(self.run_dir(other)))
        self.assertIn(FINALIZER, self.get("other")["metadata"]["finalizers"])

        def deleted_event():
            r = self.plane.kubectl("get", "events", "-n", self.ns, "-o", "json")
            return [e for e in json.loads(r.stdout)["items"]
                    if e.get("reason") == "ArtifactsDeleted" and e["involvedObject"]["uid"] == gone]
        wait_for("the ArtifactsDeleted Event", deleted_event)
        lines = [json.loads(line) for line in p.text().splitlines() if line.startswith("{")]
        self.assertTrue(any(line.get("run_uid") == gone and "deleted" in line.get("msg", "") for line in lines))
        self.assertTrue(any(line.get("run_uid") == "orphan-old" for line in lines))
        self.assertTrue(p.alive())
        self.assertEqual(p.stop(timeout=15), 0)

    def test_run_uid_once(self):
        uid = self.make_run("single")
        keep = self.make_run("alive")
        r = self.run_once("--run-uid", keep)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not being deleted", r.stderr)
        self.assertTrue(os.path.exists(self.run_dir(keep)))

        self.delete("single")
        r = self.run_once("--run-uid", uid, "--store-hash", "0000000000000000")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(os.path.exists(self.run_dir(uid)))

        r = self.run_once("--run-uid", uid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.run_dir(uid)))
        wait_for("the Run to go", lambda: self.get("single") is None)
        self.assertTrue(os.path.exists(self.run_dir(keep)))
        # A uid no Run has: its directory (if any) goes, exit 0.
        os.makedirs(self.run_dir("no-such-run"))
        r = self.run_once("--run-uid", "no-such-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.run_dir("no-such-run")))

    def test_namespace_from_env(self):
        uid = self.make_run("envns")
        self.delete("envns")
        env = dict(self.plane.env(), POD_NAMESPACE=self.ns)
        r = subprocess.run([MAINTAINER, "--kubeconfig", self.plane.kubeconfig, "--filesystem-root", self.root,
                            "--run-uid", uid], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for("the Run to go", lambda: self.get("envns") is None)


class FlagsTest(unittest.TestCase):
    def run_flags(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "POD_NAMESPACE"}
        env["KUBECONFIG"] = "/nonexistent"
        return subprocess.run([MAINTAINER, *args], capture_output=True, text=True, timeout=30, env=env)

    def test_help(self):
        r = self.run_flags("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--run-namespace", "--run-uid", "--driver", "--filesystem-root", "--filesystem-volume-claim",
                     "--store-hash", "--interval", "--orphan-grace", "--kubeconfig", "--log-level"):
            self.assertIn(flag, r.stdout)

    def test_bad_flags(self):
        cases = [
            (["--run-namespace=x", "--store-hash=h", "--interval=soon"], 2, "--interval"),
            (["--run-namespace=x", "--store-hash=h", "--orphan-grace=-1s"], 2, "--orphan-grace"),
            (["--run-namespace=x", "--store-hash=h", "--driver=gcs"], 2, "--driver"),
            (["--run-namespace=x", "--store-hash=h", "--driver=s3"], 1, "not supported yet"),
            (["--store-hash=h"], 2, "--run-namespace"),
            (["--run-namespace=x"], 2, "--store-hash"),
            (["--run-namespace=../x", "--store-hash=h"], 2, "namespace"),
            (["--run-namespace=x", "--run-uid=../../etc"], 2, "--run-uid"),
            (["--no-such-flag"], 2, "no-such-flag"),
            (["--run-namespace=x", "--store-hash=h", "--log-level=loud"], 2, "--log-level"),
        ]
        for args, code, text in cases:
            r = self.run_flags(*args)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(text, r.stderr, args)


if __name__ == "__main__":
    KRT = os.path.abspath(sys.argv[1])
    MAINTAINER = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
