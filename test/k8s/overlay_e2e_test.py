#!/usr/bin/env python3
"""The cluster overlays (k8s/overlays/k3s and k8s/overlays/ha) installed the
way docs/installation.md says — `kubectl apply -k k8s/crds`, wait for
Established, `kubectl apply -k k8s/overlays/<overlay>` — on a real local
control plane whose node runs the project's binaries as the images, then
`krt run -- echo hello`.

The k3s suite first moves every image to another registry and tag in the
overlay's images list (as `kustomize edit set image` would) and maps only
those new names to binaries: Runtime Pods start only if the runtimed image
the controller receives as a flag followed the list.

Usage: overlay_e2e_test.py BUILD_DIR SOURCE_DIR [unittest args...]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "local"))
from e2e_support import PATHS, binaries  # noqa: E402
from localplane import LocalPlane  # noqa: E402

REGISTRY = "registry.example.com/kr/"
TAG = "9.9.9"


class OverlayTest(unittest.TestCase):
    overlay = None
    move_images = False

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="k8s-overlay-e2e-")
        k8s = os.path.join(cls.tmp, "k8s")
        shutil.copytree(os.path.join(PATHS["source"], "k8s"), k8s)
        bins = binaries(PATHS["build"])
        cls.images = {}
        kfile = os.path.join(k8s, "overlays", "k3s", "kustomization.yaml")
        with open(kfile) as f:
            kust = yaml.safe_load(f)
        for entry in kust["images"]:
            if cls.move_images:
                entry["newName"] = REGISTRY + entry["name"].split("/")[-1]
                entry["newTag"] = TAG
            cls.images[entry["name"]] = entry["newName"]
        with open(kfile, "w") as f:
            yaml.safe_dump(kust, f)
        args = []
        for image, path in bins.items():
            if image != "krt":
                args += ["--image", "%s=%s" % (cls.images.get(image, image), path)]
        cls.krt_bin = bins["krt"]
        cls.plane = LocalPlane(bins["krt"], args).start()
        try:
            cls.plane.kubectl("apply", "-k", os.path.join(k8s, "crds"))
            cls.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                              "crd/runs.kruntimes.io", "crd/runtimes.kruntimes.io")
            cls.plane.kubectl("apply", "-k", os.path.join(k8s, "overlays", cls.overlay))
            cls.wait_ready_runtime("bash")
        except Exception:
            cls.dump()
            cls.plane.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.plane.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def dump(cls):
        for args in (("get", "deploy,pods,leases", "-A", "-o", "wide"), ("get", "runtimes,runs", "-A"),
                     ("get", "events", "-A")):
            r = cls.plane.kubectl(*args, check=False)
            sys.stderr.write("$ kubectl %s\n%s%s\n" % (" ".join(args), r.stdout, r.stderr))

    @classmethod
    def wait_ready_runtime(cls, name, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = cls.plane.kubectl("get", "pods", "-l", "runtime=" + name, "-o", "json", check=False)
            if r.returncode == 0:
                for pod in json.loads(r.stdout)["items"]:
                    conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
                    if conds.get("Ready") == "True" and conds.get("kruntimes.io/RuntimedReady") == "True":
                        return pod
            time.sleep(0.2)
        raise AssertionError("no ready, heartbeating pod of Runtime %s within %ds" % (name, timeout))

    def krt(self, *args, timeout=120):
        return subprocess.run([self.krt_bin, *args], capture_output=True, text=True, env=self.plane.env(),
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def deployment(self, name):
        return json.loads(self.plane.kubectl("get", "deploy", name, "-n", "kruntimes-system", "-o", "json").stdout)

    def assert_echo_hello(self, name):
        r = self.krt("run", "--name", name, "--", "echo", "hello")
        if r.returncode != 0:
            self.dump()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n")


class K3sOverlay(OverlayTest):
    overlay = "k3s"
    move_images = True

    def test_echo_hello(self):
        self.assert_echo_hello("hello-k3s")

    def test_runtime_pods_use_the_listed_runtimed_image(self):
        pod = self.wait_ready_runtime("bash")
        images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
        self.assertEqual(images["runtimed"], REGISTRY + "runtimed:" + TAG)
        self.assertEqual(images["runtime"], REGISTRY + "bash-runtime:" + TAG)
        for svc in ("scheduler", "controller"):
            c = self.deployment("kruntimes-" + svc)["spec"]["template"]["spec"]["containers"][0]
            self.assertEqual(c["image"], REGISTRY + svc + ":" + TAG)


class HaOverlay(OverlayTest):
    overlay = "ha"

    def wait_available(self, name, replicas, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = self.deployment(name)
            if d["spec"]["replicas"] == replicas and d.get("status", {}).get("readyReplicas", 0) >= replicas:
                return d
            time.sleep(0.2)
        self.dump()
        raise AssertionError("%s: %d ready replicas not reached within %ds" % (name, replicas, timeout))

    def lease_holder(self, name):
        r = self.plane.kubectl("get", "lease", name, "-n", "kruntimes-system", "-o", "json", check=False)
        return json.loads(r.stdout).get("spec", {}).get("holderIdentity", "") if r.returncode == 0 else ""

    def partition_holders(self):
        """{partition Lease: holder pod name} of the scheduler (--partitions=16)."""
        r = self.plane.kubectl("get", "leases", "-n", "kruntimes-system", "-o", "json")
        out = {}
        for lease in json.loads(r.stdout)["items"]:
            name = lease["metadata"]["name"]
            if name.startswith("kruntimes-scheduler.kruntimes.com-p"):
                out[name] = lease["spec"].get("holderIdentity", "").split("_")[0]
        return out

    def wait_partitions(self, ok, what):
        deadline = time.time() + 90
        holders = {}
        while time.time() < deadline:
            holders = self.partition_holders()
            if len(holders) == 16 and all(holders.values()) and ok(holders):
                return holders
            time.sleep(0.2)
        self.fail("%s: %s" % (what, holders))

    def test_schedulers_share_the_partitions_and_fail_over(self):
        for svc in ("scheduler", "controller", "reaper"):
            self.wait_available("kruntimes-" + svc, 2)
        pods = [p["metadata"]["name"] for p in json.loads(self.plane.kubectl(
            "get", "pods", "-n", "kruntimes-system", "-l", "app.kubernetes.io/component=scheduler",
            "-o", "json").stdout)["items"]]
        # Both replicas hold 8 of the 16 partition Leases.
        self.wait_partitions(
            lambda h: sorted(set(h.values())) == sorted(pods) and
            all(list(h.values()).count(p) == 8 for p in pods), "the replicas to split the partitions")
        self.assert_echo_hello("hello-ha-1")
        # One replica goes away: its partitions move (to the other, then to
        # the ReplicaSet's new pod), and Runs are placed again.
        gone = pods[0]
        self.plane.kubectl("delete", "pod", gone, "-n", "kruntimes-system", "--wait=true", "--timeout=60s")
        self.wait_partitions(lambda h: gone not in h.values(), "the partitions of %s to move" % gone)
        self.assert_echo_hello("hello-ha-2")
        # The controller still has exactly one leader.
        self.assertTrue(self.lease_holder("kruntimes-controller.kruntimes.com"))


def main():
    if len(sys.argv) < 3:
        print("usage: overlay_e2e_test.py BUILD_DIR SOURCE_DIR [unittest args...]", file=sys.stderr)
        return 2
    PATHS["build"] = os.path.abspath(sys.argv[1])
    PATHS["source"] = os.path.abspath(sys.argv[2])
    prog = unittest.main(argv=[sys.argv[0], *sys.argv[3:]], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
