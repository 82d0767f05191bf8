#!/usr/bin/env python3
"""The real deployment, end to end, in real containers (issue #13).

The project's images (scripts/build-images.sh) run on a local control plane
whose node runs pods as podman containers (`krt local up --node-runtime
podman --bare`: an empty cluster). kruntimes is installed exactly as
docs/installation.md says for a cluster:

    kubectl apply -k k8s/crds
    kubectl wait --for=condition=Established crd/runs.kruntimes.io crd/runtimes.kruntimes.io
    kubectl apply -k k8s/overlays/k3s        (then the same for k8s/overlays/ha)
    kubectl -n kruntimes-system wait --for=condition=Available deploy --all
    kubectl wait --for=condition=Ready runtime/bash runtime/python

and then used: Runs on bash and python, outputs, an artifact downloaded with
`krt artifact`, `krt logs`, cancel, timeout, a retry after the Runtime
Pod's container is killed, a Runtime created by the user; and every
container of every pod is checked to run as the non-root user its manifest
says, with a read-only root filesystem where the manifest says so.

Needs root, podman and the images; it fails (never skips) without them, so
CI cannot pass without running it. Usage:
    container_e2e_test.py BUILD_DIR SOURCE_DIR [unittest args...]
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "local"))
from localplane import free_port  # noqa: E402

PATHS = {"build": None, "source": None}
IMAGES = ("scheduler", "controller", "reaper", "maintainer", "runtimed", "bash-runtime", "python-runtime")
NODE_LABEL = "io.kruntimes.local/node"


def podman(*args, check=True, timeout=120):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("podman %s failed: %s" % (" ".join(args), r.stderr))
    return r


def version():
    with open(os.path.join(PATHS["source"], "meson.build")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("version:"):
                return line.split("'")[1]
    raise AssertionError("no version in meson.build")


class ContainerPlane(unittest.TestCase):
    """One plane per class, kruntimes installed from one overlay."""

    overlay = None

    @classmethod
    def setUpClass(cls):
        missing = [i for i in IMAGES
                   if podman("image", "exists", "kruntimes/%s:%s" % (i, version()), check=False).returncode != 0]
        if missing:
            raise AssertionError("images missing from podman's storage: %s (build them with "
                                 "scripts/build-images.sh)" % ", ".join(missing))
        cls.tmp = tempfile.mkdtemp(prefix="krt-container-e2e-")
        cls.state = os.path.join(cls.tmp, "state")
        cls.krt_bin = os.path.join(PATHS["build"], "tools", "krt", "krt")
        cls.env = dict(os.environ, HOME=cls.tmp, KUBECONFIG=os.path.join(cls.state, "kubeconfig"))
        cls.env.pop("KRT_LOCAL_DIR", None)
        cls.before = set(cls.node_containers())
        r = cls.run_krt("local", "up", "--state-dir", cls.state, "--port", str(free_port()),
                        "--node-runtime", "podman", "--bare", "--timeout", "60")
        if r.returncode != 0:
            raise AssertionError("krt local up failed: %s%s" % (r.stdout, r.stderr))
        try:
            k8s = os.path.join(PATHS["source"], "k8s")
            cls.kubectl("apply", "-k", os.path.join(k8s, "crds"))
            cls.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                        "crd/runs.kruntimes.io", "crd/runtimes.kruntimes.io")
            cls.kubectl("apply", "-k", os.path.join(k8s, "overlays", cls.overlay))
            cls.kubectl("-n", "kruntimes-system", "wait", "--for=condition=Available", "deploy", "--all",
                        "--timeout=300s", timeout=320)
            cls.kubectl("wait", "--for=condition=Ready", "runtime/bash", "runtime/python", "--timeout=300s",
                        timeout=320)
        except Exception:
            cls.dump()
            cls.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop()

    @classmethod
    def stop(cls):
        cls.run_krt("local", "down", "--state-dir", cls.state)
        left = set(cls.node_containers()) - cls.before
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if left:
            podman("rm", "-f", *left, check=False)
            raise AssertionError("containers left after krt local down: %s" % sorted(left))

    @staticmethod
    def node_containers():
        r = podman("ps", "-a", "--filter", "label=" + NODE_LABEL, "--format", "{{.Names}}", check=False)
        return [n for n in r.stdout.split() if n]

    @classmethod
    def run_krt(cls, *args, timeout=180, input=None):
        return subprocess.run([cls.krt_bin, *args], capture_output=True, text=True, env=cls.env, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL, timeout=timeout)

    @classmethod
    def kubectl(cls, *args, check=True, input=None, timeout=120):
        r = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=cls.env, input=input,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    @classmethod
    def dump(cls):
        for args in (("get", "deploy,pods", "-A", "-o", "wide"), ("get", "runtimes,runs", "-A"),
                     ("get", "events", "-A")):
            r = cls.kubectl(*args, check=False)
            sys.stderr.write("$ kubectl %s\n%s%s\n" % (" ".join(args), r.stdout, r.stderr))
        pods = cls.kubectl("get", "pods", "-A", "-o", "json", check=False)
        try:
            for pod in json.loads(pods.stdout)["items"]:
                for c in pod["spec"]["containers"]:
                    r = cls.kubectl("logs", "-n", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                    "-c", c["name"], "--tail", "20", check=False)
                    sys.stderr.write("--- %s/%s [%s]\n%s%s\n" % (pod["metadata"]["namespace"],
                                                                 pod["metadata"]["name"], c["name"], r.stdout,
                                                                 r.stderr))
        except (ValueError, KeyError):
            pass
        try:
            with open(os.path.join(cls.state, "apiserver.log")) as f:
                sys.stderr.write("--- apiserver.log (last 40 lines)\n" + "".join(f.readlines()[-40:]))
        except OSError:
            pass

    # ------------------------------------------------------------ helpers

    def krt(self, *args, timeout=180, input=None):
        return self.run_krt(*args, timeout=timeout, input=input)

    def get(self, kind, name, ns=None):
        extra = ["-n", ns] if ns else []
        return json.loads(self.kubectl("get", kind, name, "-o", "json", *extra).stdout)

    def wait_run(self, name, phases=("Succeeded", "Failed", "Timeout", "Cancelled"), timeout=120):
        deadline = time.time() + timeout
        run = None
        while time.time() < deadline:
            run = self.get("run", name)
            if run.get("status", {}).get("phase") in phases:
                return run
            time.sleep(0.1)
        self.dump()
        raise AssertionError("Run %s did not reach %s within %ds: %s" % (name, phases, timeout,
                                                                         json.dumps(run.get("status"))))

    def wait_runtime_ready(self, name, timeout=300):
        self.kubectl("wait", "--for=condition=Ready", "runtime/" + name, "--timeout=%ds" % timeout,
                     timeout=timeout + 20)

    def container_of(self, pod, container, ns="default"):
        """The running podman container of one container of a pod."""
        uid = self.get("pod", pod, ns)["metadata"]["uid"]
        r = podman("ps", "--filter", "label=io.kubernetes.pod.uid=" + uid,
                   "--filter", "label=io.kubernetes.container.name=" + container, "--format", "{{.Names}}")
        names = r.stdout.split()
        self.assertEqual(len(names), 1, "containers of %s/%s: %s" % (pod, container, names))
        return names[0]

    def assert_echo_hello(self, name):
        r = self.krt("run", "--name", name, "--", "echo", "hello")
        if r.returncode != 0:
            self.dump()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "hello\n")


class EveryContainerChecked:
    """Mixed into each overlay's suite: the last test, over every pod the
    suite's other tests left running."""

    def test_zz_every_container_runs_as_its_manifest_says(self):
        """Runs last (unittest sorts by name), when every pod of the other
        tests exists: each running container's process runs as the user its
        pod asks for (never root), and a read-only root filesystem where the
        manifest says so, checked by writing to it."""
        pods = json.loads(self.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
        checked = 0
        for pod in pods:
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if pod.get("status", {}).get("phase") != "Running":
                continue
            psc = pod["spec"].get("securityContext", {})
            for c in pod["spec"]["containers"]:
                csc = c.get("securityContext", {})
                ctr = self.container_of(name, c["name"], ns)
                info = json.loads(podman("inspect", ctr).stdout)[0]
                with open("/proc/%d/status" % info["State"]["Pid"]) as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
                uid = int(status["Uid"].split()[1])
                want = csc.get("runAsUser", psc.get("runAsUser", 65532))
                self.assertEqual(uid, want, "%s/%s [%s]" % (ns, name, c["name"]))
                self.assertNotEqual(uid, 0, "%s/%s [%s] runs as root" % (ns, name, c["name"]))
                if csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                    self.assertNotEqual(uid, 0)
                read_only = bool(csc.get("readOnlyRootFilesystem"))
                self.assertEqual(info["HostConfig"]["ReadonlyRootfs"], read_only, "%s/%s [%s]" % (ns, name, c["name"]))
                w = podman("exec", ctr, "/bin/sh", "-c", "touch /krt-write-probe", check=False)
                if read_only:
                    self.assertNotEqual(w.returncode, 0, "%s/%s [%s] wrote to its root filesystem" % (ns, name, c["name"]))
                    self.assertIn("Read-only file system", w.stderr)
                if csc.get("capabilities", {}).get("drop") == ["ALL"]:
                    self.assertEqual(status["CapEff"].strip(), "0000000000000000", "%s/%s [%s]" % (ns, name, c["name"]))
                if csc.get("allowPrivilegeEscalation") is False:
                    self.assertEqual(status["NoNewPrivs"].strip(), "1")
                checked += 1
        # scheduler, controller, reaper, and two containers per Runtime pod.
        self.assertGreaterEqual(checked, 3 + 2 * 2, [p["metadata"]["name"] for p in pods])


class K3sOverlayInContainers(ContainerPlane, EveryContainerChecked):
    overlay = "k3s"

    def test_a_bash_run(self):
        self.assert_echo_hello("hello-containers")

    def test_a_python_run(self):
        r = self.krt("run", "--name", "py", "-r", "python", "--", "-c",
                     "import os, sys; print(6 * 7); print(sys.executable, os.getuid(), file=sys.stderr)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "42\n")
        self.assertIn("/usr/bin/python3 65532", r.stderr)

    def test_run_code_cannot_read_the_planes_secrets(self):
        # Issue #14 item 7: with host processes a Run could read the admin
        # token; in a container neither the state directory nor any API
        # credential is there, and the Runtime Server has no TCP listener.
        secrets = [os.path.join(self.state, f) for f in ("admin.token", os.path.join("pki", "token.key"))]
        r = self.krt("run", "--name", "snoop", "--", "cat %s; rc=$?; ls /var/run/secrets 2>&1; "
                     "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {print $2}'; exit $rc"
                     % " ".join(secrets))
        self.assertNotEqual(r.returncode, 0)
        with open(secrets[0]) as f:
            self.assertNotIn(f.read().strip(), r.stdout + r.stderr)
        self.assertIn("No such file or directory", r.stderr + r.stdout)
        # Host network: every listener of the host shows; none is the
        # Runtime Server's old 0.0.0.0:9091 (hex 238B).
        self.assertNotIn(":238B", r.stdout)

    def test_outputs_and_logs(self):
        r = self.krt("run", "--name", "outs", "--", "echo answer=42 >> $KRUNTIME_OUTPUTS; echo to-the-log")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.krt("outputs", "outs")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "answer=42\n")
        logs = self.krt("logs", "outs")
        self.assertEqual(logs.returncode, 0, logs.stderr)
        self.assertIn("to-the-log", logs.stdout)

    def test_an_artifact_downloaded_with_krt_artifact(self):
        self.kubectl("apply", "-f", "-", input=(
            "apiVersion: kruntimes.io/v1alpha1\nkind: Runtime\nmetadata: {name: with-store}\nspec:\n"
            "  replicas: 1\n  port: 9091\n  capacity: {resources: {runs: 2}}\n"
            "  artifactStore:\n    driver: filesystem\n    filesystem: {volumeClaimName: container-artifacts}\n"
            "  template:\n    spec:\n      containers:\n        - name: runtime\n"
            "          image: kruntimes/bash-runtime:%s\n"
            "          args: [\"--work-dir=/workspace\"]\n" % version()))
        self.wait_runtime_ready("with-store")
        r = self.krt("run", "--name", "art", "-r", "with-store", "--",
                     'echo report > "$KRUNTIME_ARTIFACTS_DIR/report.txt"')
        self.assertEqual(r.returncode, 0, r.stderr)
        refs = {a["name"]: a for a in self.get("run", "art")["status"]["artifactRefs"]}
        self.assertEqual(refs["report.txt"]["digest"], "sha256:" + hashlib.sha256(b"report\n").hexdigest())
        path = os.path.join(self.tmp, "report.txt")
        r = self.krt("artifact", "download", "art", "report.txt", "-o", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"report\n")

    def test_cancel(self):
        r = self.krt("run", "--detach", "--name", "to-cancel", "--", "sleep 300")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_run("to-cancel", phases=("Running",))
        r = self.krt("cancel", "to-cancel")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.wait_run("to-cancel")["status"]["phase"], "Cancelled")

    def test_timeout(self):
        r = self.krt("run", "--name", "too-slow", "--timeout", "1s", "--", "sleep 300")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.wait_run("too-slow")["status"]["phase"], "Timeout")

    def test_a_run_is_retried_after_its_runtime_container_is_killed(self):
        self.kubectl("apply", "-f", "-", input=(
            "apiVersion: kruntimes.io/v1alpha1\nkind: Runtime\nmetadata: {name: crashy}\nspec:\n"
            "  replicas: 1\n  port: 9091\n  capacity: {resources: {runs: 4}}\n"
            "  template:\n    spec:\n      containers:\n        - name: runtime\n"
            "          image: kruntimes/bash-runtime:%s\n"
            "          args: [\"--work-dir=/workspace\"]\n" % version()))
        self.wait_runtime_ready("crashy")
        self.kubectl("apply", "-f", "-", input=(
            "apiVersion: kruntimes.io/v1alpha1\nkind: Run\nmetadata: {name: survives}\nspec:\n"
            "  runtime: crashy\n  mode: {task: {args: [\"sleep 5; echo ok=1 >> $KRUNTIME_OUTPUTS\"]}}\n"
            "  retryPolicy: {maxAttempts: 3, backoff: 200ms}\n"))
        run = self.wait_run("survives", phases=("Running",))
        pod = run["status"]["assignedPod"]
        podman("kill", "--signal", "KILL", self.container_of(pod, "runtime"))
        run = self.wait_run("survives", timeout=180)
        self.assertEqual(run["status"]["phase"], "Succeeded", run["status"])
        self.assertGreaterEqual(run["status"]["attempt"], 2, run["status"])
        self.assertEqual(run["status"].get("outputs"), {"ok": "1"})
        restarts = {c["name"]: c["restartCount"] for c in self.get("pod", pod)["status"]["containerStatuses"]}
        self.assertGreaterEqual(restarts["runtime"], 1)

    def test_a_runtime_created_by_the_user_becomes_ready(self):
        # (`kubectl create namespace` sends protobuf, which the local plane
        # does not read yet: apply the object instead.)
        self.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")
        self.kubectl("apply", "-n", "team-a", "-f", "-", input=(
            "apiVersion: kruntimes.io/v1alpha1\nkind: Runtime\nmetadata: {name: mine}\nspec:\n"
            "  replicas: 1\n  port: 9091\n  capacity: {resources: {runs: 2}}\n"
            "  template:\n    spec:\n      containers:\n        - name: runtime\n"
            "          image: kruntimes/python-runtime:%s\n"
            "          args: [\"--work-dir=/workspace\"]\n" % version()))
        self.kubectl("wait", "-n", "team-a", "--for=condition=Ready", "runtime/mine", "--timeout=300s", timeout=320)
        r = self.krt("run", "-n", "team-a", "-r", "mine", "--", "-c", "print('mine')")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "mine\n")

class HaOverlayInContainers(ContainerPlane, EveryContainerChecked):
    overlay = "ha"

    def partition_holders(self):
        leases = json.loads(self.kubectl("get", "leases", "-n", "kruntimes-system", "-o", "json").stdout)["items"]
        return {l["metadata"]["name"]: l["spec"].get("holderIdentity", "").split("_")[0] for l in leases
                if l["metadata"]["name"].startswith("kruntimes-scheduler.kruntimes.com-p")}

    def wait_partitions(self, ok, what, timeout=120):
        deadline = time.time() + timeout
        holders = {}
        while time.time() < deadline:
            holders = self.partition_holders()
            if len(holders) == 16 and all(holders.values()) and ok(holders):
                return holders
            time.sleep(0.2)
        self.dump()
        self.fail("%s: %s" % (what, holders))

    def test_two_schedulers_share_the_partitions_and_one_is_killed(self):
        pods = [p["metadata"]["name"] for p in json.loads(self.kubectl(
            "get", "pods", "-n", "kruntimes-system", "-l", "app.kubernetes.io/component=scheduler",
            "-o", "json").stdout)["items"]]
        self.assertEqual(len(pods), 2, pods)
        self.wait_partitions(lambda h: sorted(set(h.values())) == sorted(pods) and
                             all(list(h.values()).count(p) == 8 for p in pods), "the replicas to split the partitions")
        self.assert_echo_hello("ha-before")
        # SIGKILL of one scheduler's container: no Lease is released; the
        # other takes its partitions when they expire, and Runs are placed.
        killed = pods[0]
        podman("kill", "--signal", "KILL", self.container_of(killed, "scheduler", "kruntimes-system"))
        for i in range(3):
            self.assert_echo_hello("ha-after-%d" % i)
        self.wait_partitions(lambda h: len(set(h.values())) >= 1, "every partition held after the kill")

    def test_a_python_run(self):
        r = self.krt("run", "--name", "py-ha", "-r", "python", "--", "-c", "print(6 * 7)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "42\n")


def main():
    if len(sys.argv) < 3:
        print("usage: container_e2e_test.py BUILD_DIR SOURCE_DIR [unittest args...]", file=sys.stderr)
        return 2
    PATHS["build"] = os.path.abspath(sys.argv[1])
    PATHS["source"] = os.path.abspath(sys.argv[2])
    prog = unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
