"""Shared harness of the end-to-end suites on the local control plane.

Each suite class gets its own `krt local serve` with the node, the CRDs and
`k8s/overlays/local` applied with the real kubectl, and the project's binaries
mapped as the images of the pods (see docs/run-path.md, "Images").
"""

import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "local"))
from localplane import LocalPlane  # noqa: E402

PATHS = {"build": None, "source": None}
TERMINAL = ("Succeeded", "Failed", "Timeout", "Cancelled")


def binaries(build):
    bins = {
        "krt": os.path.join(build, "tools", "krt", "krt"),
        "kruntimes/runtimed": os.path.join(build, "sidecar", "runtimed"),
        "kruntimes/bash-runtime": os.path.join(build, "servers", "bash-runtime"),
        "kruntimes/python-runtime": os.path.join(build, "servers", "python-runtime"),
        "kruntimes/scheduler": os.path.join(build, "services", "scheduler", "kruntimes-scheduler"),
        "kruntimes/controller": os.path.join(build, "services", "controller", "kruntimes-controller"),
        "kruntimes/reaper": os.path.join(build, "services", "reaper", "kruntimes-reaper"),
        "kruntimes/maintainer": os.path.join(build, "services", "maintainer", "kruntimes-maintainer"),
    }
    # meson builds every image's binary before the suites run (their
    # `depends`); a missing one simply has no image mapping.
    return {k: v for k, v in bins.items() if k == "krt" or os.path.exists(v)}


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
          args: ["--work-dir=/workspace"]
"""


class PlaneTest(unittest.TestCase):
    """Base of the e2e suites: one plane per class with k8s/overlays/local applied."""

    extra_plane_args = ()
    plane = None

    @classmethod
    def setUpClass(cls):
        bins = binaries(PATHS["build"])
        args = ["--apply", os.path.join(PATHS["source"], "k8s", "crds"), *cls.extra_plane_args]
        for image, path in bins.items():
            if image != "krt":
                args += ["--image", "%s=%s" % (image, path)]
        cls.krt_bin = bins["krt"]
        cls.plane = LocalPlane(bins["krt"], args).start()
        try:
            cls.plane.kubectl("apply", "-k", os.path.join(PATHS["source"], "k8s", "overlays", "local"))
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
        rc = p.proc.poll() if p.proc else None
        if rc is not None:
            sys.stderr.write("krt local serve EXITED with %d; its log:\n%s\n" % (rc, p.log_text()))
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

    def plane_pids(self, binary, pod=None):
        """Pids of this plane's container processes running `binary` (a
        basename), of one pod when `pod` is given."""
        return plane_pids(int(self.plane.url.rsplit(":", 1)[1]), binary,
                          None if pod is None else "HOSTNAME=" + pod, exact=True)

    def container_pid(self, pod, binary):
        """The pid of the process running `binary` for `pod`, or None."""
        pids = self.plane_pids(binary, pod)
        return pids[0] if pids else None

    def runtimed_pid(self, pod):
        return self.container_pid(pod, "runtimed")


def plane_pids(api_port, binary, env_prefix=None, exact=False):
    """Pids of the container processes of the plane whose API server listens
    on `api_port` that run `binary` (a basename); with env_prefix, only those
    with an environment entry starting with it (e.g. "HOSTNAME=runtime-x-"),
    or equal to it when exact (e.g. "HOSTNAME=<pod>")."""
    port = ("KUBERNETES_SERVICE_PORT=%d" % api_port).encode()
    prefix = None if env_prefix is None else env_prefix.encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            if not argv0.endswith(b"/" + binary.encode()):
                continue
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if port in env and (prefix is None or (prefix in env if exact else any(e.startswith(prefix) for e in env))):
            out.append(int(pid))
    return out


def main():
    """Usage: <suite>.py BUILD_DIR SOURCE_DIR [unittest args]"""
    PATHS["build"], PATHS["source"] = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
