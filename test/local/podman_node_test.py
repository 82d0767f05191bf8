#!/usr/bin/env python3
"""The local node's podman runtime (`krt local serve --node-runtime podman`)
against real podman and runc, driven through kubectl: command/args composed
with the image's ENTRYPOINT/CMD as Kubernetes does, the environment (also
multi-line values), volumes shared between containers, the service account
at the standard path, the pod's address and hostname, every securityContext
field the node honours (and runAsNonRoot refused with the kubelet's
messages), memory limits, restarts with logs --previous, exec liveness
probes, ErrImageNeverPull, graceful deletion, and containers left by a
SIGKILLed node removed at its next start.

Needs root, podman, and the project's bash-runtime image (which
scripts/build-images.sh builds); the test images are built from it here.

Usage: podman_node_test.py /path/to/krt IMAGE_VERSION [unittest args...]
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import LocalPlane  # noqa: E402

KRT = None
BASE = None  # docker.io/kruntimes/bash-runtime:<version>
ROOT_IMAGE = "localhost/krt-test/podman-node:root"
NAMED_IMAGE = "localhost/krt-test/podman-node:named"


def podman(*args, check=True, timeout=120, input=None):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise AssertionError("podman %s failed: %s" % (" ".join(args), r.stderr))
    return r


def build_test_images():
    """Two images over the project's bash-runtime image: one running as root
    with an ENTRYPOINT and a CMD, one whose USER is a name."""
    if podman("image", "exists", BASE, check=False).returncode != 0:
        raise AssertionError("%s is not in podman's storage: run scripts/build-images.sh" % BASE)
    for tag, user in ((ROOT_IMAGE, "0"), (NAMED_IMAGE, "nobody")):
        containerfile = ("FROM %s\nUSER %s\nWORKDIR /\nENTRYPOINT [\"/bin/echo\", \"entrypoint\"]\n"
                         "CMD [\"cmd-1\", \"cmd-2\"]\n" % (BASE, user))
        r = subprocess.run(["buildah", "bud", "--isolation", "chroot", "--layers", "-q", "-f", "-", "-t", tag, "."],
                           input=containerfile, capture_output=True, text=True, timeout=300,
                           cwd=os.path.dirname(os.path.abspath(__file__)) + "/testdata")
        if r.returncode != 0:
            raise AssertionError("building %s failed: %s" % (tag, r.stderr))


def setUpModule():
    build_test_images()


POD = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: default}
spec:
  terminationGracePeriodSeconds: 10
%(spec)s"""


class PodmanNodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT, extra_args=["--node-runtime", "podman"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.lp.kubectl("delete", "pods", "--all", "--wait=true", "--timeout=60s", check=False, timeout=90)
        cls.lp.cleanup()
        left = podman("ps", "-a", "--filter", "label=io.kruntimes.local/node", "--format", "{{.Names}}").stdout.split()
        mine = [n for n in left if cls.pod_uid_prefix_of(n)]
        if mine:
            podman("rm", "-f", *mine, check=False)
            raise AssertionError("containers left after the plane stopped: %s" % mine)

    @classmethod
    def pod_uid_prefix_of(cls, name):
        return any(uid in name for uid in cls.uids)

    uids = set()

    # ------------------------------------------------------------ helpers

    def create(self, name, spec):
        self.lp.kubectl("apply", "-f", "-", input=POD % {"name": name, "spec": spec})
        uid = json.loads(self.lp.kubectl("get", "pod", name, "-o", "json").stdout)["metadata"]["uid"]
        PodmanNodeTest.uids.add(uid)
        self.addCleanup(self.lp.kubectl, "delete", "pod", name, "--wait=false", check=False)
        return uid

    def pod(self, name):
        return json.loads(self.lp.kubectl("get", "pod", name, "-o", "json").stdout)

    def statuses(self, name):
        return {c["name"]: c for c in self.pod(name).get("status", {}).get("containerStatuses", [])}

    def wait_for(self, what, fn, timeout=90):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError("%s: not within %ds (last: %r); server log: %s" % (what, timeout, last,
                                                                             self.lp.log_text()[-1500:]))

    def logs(self, name, container, *extra):
        return self.lp.kubectl("logs", name, "-c", container, *extra, check=False).stdout

    def wait_logs(self, name, container, needle, *extra):
        return self.wait_for("%s/%s logs with %r" % (name, container, needle),
                             lambda: needle in self.logs(name, container, *extra) and self.logs(name, container, *extra))

    def wait_state(self, name, container, state, reason=None):
        def ok():
            st = self.statuses(name).get(container, {}).get("state", {})
            if state in st and (reason is None or st[state].get("reason") == reason):
                return st[state]
            return None
        return self.wait_for("%s/%s %s %s" % (name, container, state, reason or ""), ok)

    def container(self, uid, container):
        r = podman("ps", "--filter", "label=io.kubernetes.pod.uid=" + uid,
                   "--filter", "label=io.kubernetes.container.name=" + container, "--format", "{{.Names}}")
        names = r.stdout.split()
        return names[0] if names else None

    # ------------------------------------------------------------ tests

    def test_command_and_args_compose_with_the_images_entrypoint_and_cmd(self):
        cases = [("neither", "", "entrypoint cmd-1 cmd-2"),
                 ("args-only", "    args: [a1, a2]\n", "entrypoint a1 a2"),
                 ("command-only", "    command: [/bin/echo, c]\n", "c"),
                 ("both", "    command: [/bin/echo, c]\n    args: [a1]\n", "c a1")]
        spec = "  restartPolicy: Never\n  containers:\n"
        for name, extra, _ in cases:
            spec += "  - name: %s\n    image: %s\n    securityContext: {runAsUser: 1000}\n%s" % (name, ROOT_IMAGE, extra)
        self.create("compose", spec)
        for name, _, want in cases:
            self.wait_state("compose", name, "terminated")
            self.assertEqual(self.logs("compose", name), want + "\n", name)
        self.wait_for("phase Succeeded", lambda: self.pod("compose")["status"].get("phase") == "Succeeded")

    def test_environment_volumes_identity_and_api_access(self):
        self.lp.kubectl("apply", "-f", "-", input=(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello, file.txt: from-cm}\n"
            "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: s3cret}\n"))
        script = (
            'echo "user=$(id -u):$(id -g) groups=$(id -G)"; echo "host=$(hostname) ip=$POD_IP"; '
            'echo "greeting=$GREETING multi=[$MULTI] expanded=$EXPANDED"; '
            'echo "cm=$(cat /cm/file.txt) secret=$(cat /sec/password)"; '
            'echo "sa-ns=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"; '
            'test -r /var/run/secrets/kubernetes.io/serviceaccount/token && echo token-readable; '
            'exec 3<>/dev/tcp/$KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT && echo api-reachable; '
            'echo shared > /shared/from-writer; echo "pwd=$(pwd)"; '
            'stat -c "shared-group=%g" /shared; sleep 300')
        spec = """  securityContext: {runAsUser: 1234, runAsGroup: 2345, fsGroup: 3456, supplementalGroups: [4567]}
  containers:
  - name: writer
    image: %(image)s
    command: [/bin/bash, -c, '%(script)s']
    workingDir: /shared
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    - {name: MULTI, value: "line1\\nline2"}
    - {name: EXPANDED, value: "$(GREETING)-world"}
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec, readOnly: true}
  - name: reader
    image: %(image)s
    command: [/bin/bash, -c, 'until test -e /in/from-writer; do sleep 0.1; done; echo "read=$(cat /in/from-writer)"; sleep 300']
    volumeMounts:
    - {name: shared, mountPath: /in}
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: cm, configMap: {name: settings}}
  - {name: sec, secret: {secretName: creds}}
""" % {"image": ROOT_IMAGE, "script": script.replace("'", "''")}
        self.create("env", spec)
        out = self.wait_logs("env", "writer", "shared-group=")
        ip = self.pod("env")["status"]["podIP"]
        self.assertIn("user=1234:2345 groups=2345 3456 4567", out)
        self.assertIn("host=env ip=%s" % ip, out)
        self.assertIn("greeting=hello multi=[line1\nline2] expanded=hello-world", out)
        self.assertIn("cm=from-cm secret=s3cret", out)
        self.assertIn("sa-ns=default", out)
        self.assertIn("token-readable", out)
        self.assertIn("api-reachable", out)
        self.assertIn("pwd=/shared", out)
        self.assertIn("shared-group=3456", out)
        self.assertIn("read=shared", self.wait_logs("env", "reader", "read="))

    def test_security_context_is_enforced(self):
        spec = """  containers:
  - name: locked
    image: %s
    command: [/bin/bash, -c]
    args:
    - 'touch /x 2>&1 | grep -q "Read-only file system" && echo root-fs-read-only; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; sleep 300'
    resources: {limits: {memory: 96Mi}}
    securityContext:
      runAsUser: 1000
      runAsNonRoot: true
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
""" % ROOT_IMAGE
        uid = self.create("locked", spec)
        out = self.wait_logs("locked", "locked", "NoNewPrivs")
        self.assertIn("root-fs-read-only", out)
        self.assertIn("CapEff:\t0000000000000000", out)
        self.assertIn("NoNewPrivs:\t1", out)
        limit = self.wait_logs("locked", "locked", str(96 * 1024 * 1024))
        self.assertIn(str(96 * 1024 * 1024), limit)
        info = json.loads(podman("inspect", self.container(uid, "locked")).stdout)[0]
        self.assertTrue(info["HostConfig"]["ReadonlyRootfs"])

    def test_run_as_non_root_is_refused_as_the_kubelet_refuses_it(self):
        spec = """  securityContext: {runAsNonRoot: true}
  containers:
  - name: root-image
    image: %s
  - name: named-user
    image: %s
  - name: explicit-root
    image: %s
    securityContext: {runAsUser: 0}
""" % (ROOT_IMAGE, NAMED_IMAGE, ROOT_IMAGE)
        self.create("nonroot", spec)
        st = self.wait_state("nonroot", "root-image", "waiting", "CreateContainerConfigError")
        self.assertIn("container has runAsNonRoot and image will run as root", st["message"])
        st = self.wait_state("nonroot", "named-user", "waiting", "CreateContainerConfigError")
        self.assertIn("image has non-numeric user (nobody), cannot verify user is non-root", st["message"])
        st = self.wait_state("nonroot", "explicit-root", "waiting", "CreateContainerConfigError")
        self.assertIn("runAsUser breaks non-root policy", st["message"])

    def test_a_missing_image_says_how_to_build_it(self):
        self.create("missing", "  containers:\n  - name: c\n    image: kruntimes/does-not-exist:0.0.1\n")
        st = self.wait_state("missing", "c", "waiting", "ErrImageNeverPull")
        self.assertIn("scripts/build-images.sh", st["message"])

    def test_restarts_previous_logs_and_exec_liveness_probes(self):
        spec = """  containers:
  - name: crasher
    image: %(image)s
    securityContext: {runAsUser: 1000}
    command: [/bin/bash, -c, 'echo "run $(date +%%s%%N)"; sleep 0.5; exit 3']
  - name: unhealthy
    image: %(image)s
    securityContext: {runAsUser: 1000}
    command: [/bin/bash, -c, 'touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 300']
    readinessProbe:
      exec: {command: [/bin/bash, -c, 'test -e /tmp/healthy']}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [/bin/bash, -c, 'test -e /tmp/healthy']}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
""" % {"image": ROOT_IMAGE}
        self.create("restarts", spec)
        self.wait_for("crasher restarted twice", lambda: self.statuses("restarts").get("crasher", {}).get("restartCount", 0) >= 2)
        st = self.statuses("restarts")["crasher"]
        self.assertEqual(st["lastState"]["terminated"]["exitCode"], 3)
        prev = self.logs("restarts", "crasher", "--previous")
        self.assertTrue(prev.startswith("run "), prev)
        # Exec probes run inside the container (podman exec): ready while
        # the file exists there, restarted by the liveness probe once it is
        # gone.
        self.wait_for("unhealthy ready", lambda: self.statuses("restarts").get("unhealthy", {}).get("ready"))
        self.wait_for("unhealthy restarted by its liveness probe",
                      lambda: self.statuses("restarts").get("unhealthy", {}).get("restartCount", 0) >= 1)

    def test_deletion_is_graceful_and_removes_the_containers(self):
        spec = """  containers:
  - name: graceful
    image: %s
    securityContext: {runAsUser: 1000}
    command: [/bin/bash, -c, 'trap "echo got-sigterm; exit 0" TERM; echo ready; while :; do sleep 0.1; done']
""" % ROOT_IMAGE
        uid = self.create("graceful", spec)
        self.wait_logs("graceful", "graceful", "ready")
        name = self.container(uid, "graceful")
        self.assertIsNotNone(name)
        t0 = time.time()
        self.lp.kubectl("delete", "pod", "graceful", "--wait=true", "--timeout=60s", timeout=90)
        self.assertLess(time.time() - t0, 9, "the trap should end it well before the grace period")
        self.assertNotEqual(podman("container", "exists", name, check=False).returncode, 0,
                            "container %s still exists" % name)


class PodmanLeftoversTest(unittest.TestCase):
    def test_a_sigkilled_node_leaves_nothing_after_its_restart(self):
        lp = LocalPlane(KRT, extra_args=["--node-runtime", "podman"]).start()
        try:
            lp.kubectl("apply", "-f", "-", input=POD % {"name": "survivor", "spec": (
                "  containers:\n  - name: c\n    image: %s\n    securityContext: {runAsUser: 1000}\n"
                "    command: [/bin/bash, -c, 'echo up; sleep 300']\n" % ROOT_IMAGE)})
            uid = json.loads(lp.kubectl("get", "pod", "survivor", "-o", "json").stdout)["metadata"]["uid"]
            deadline = time.time() + 90
            while time.time() < deadline and "up" not in lp.kubectl("logs", "survivor", check=False).stdout:
                time.sleep(0.2)
            self.assertIn("up", lp.kubectl("logs", "survivor", check=False).stdout, lp.log_text()[-1500:])
            before = podman("ps", "--filter", "label=io.kubernetes.pod.uid=" + uid, "--format", "{{.Names}}").stdout.split()
            self.assertEqual(len(before), 1, before)
            lp.kill9()
            # The container outlives a SIGKILLed node (conmon keeps it) ...
            self.assertEqual(podman("container", "exists", before[0], check=False).returncode, 0)
            lp.start()
            # ... and the next start removes it before the pod starts again.
            deadline = time.time() + 60
            while time.time() < deadline and "containers left by a previous run" not in lp.log_text():
                time.sleep(0.1)
            self.assertIn("removed 1 containers left by a previous run", lp.log_text())
            self.assertNotEqual(podman("container", "exists", before[0], check=False).returncode, 0)
            deadline = time.time() + 90
            while time.time() < deadline and len(podman("ps", "--filter", "label=io.kubernetes.pod.uid=" + uid,
                                                         "--format", "{{.Names}}").stdout.split()) != 1:
                time.sleep(0.2)
            self.assertEqual(len(podman("ps", "--filter", "label=io.kubernetes.pod.uid=" + uid,
                                        "--format", "{{.Names}}").stdout.split()), 1)
            lp.kubectl("delete", "pod", "survivor", "--wait=true", "--timeout=60s", timeout=90)
        finally:
            lp.cleanup()


class PodmanUpTest(unittest.TestCase):
    def test_up_with_the_podman_runtime_runs_the_local_overlay_in_containers(self):
        """`krt local up --node-runtime podman`: the compiled-in overlay, its
        pods from the images, and a Run, with nothing else configured."""
        import shutil
        import tempfile
        from localplane import free_port
        home = tempfile.mkdtemp(prefix="krt-podman-up-")
        env = dict(os.environ, HOME=home, KRT_LOCAL_DIR=os.path.join(home, "state"))
        env.pop("KUBECONFIG", None)
        run = lambda *a, t=180: subprocess.run([KRT, *a], capture_output=True, text=True, env=env, timeout=t)
        try:
            r = run("local", "up", "--node-runtime", "podman", "--port", str(free_port()))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("node runtime podman", r.stdout)
            self.assertIn("Node runtime: podman", run("local", "status").stdout)
            r = run("run", "--timeout", "120s", "--", "echo hello from a container; id -u", t=300)
            self.assertEqual(r.returncode, 0, r.stderr + run("local", "logs", "--tail", "30").stdout)
            self.assertEqual(r.stdout, "hello from a container\n65532\n")
        finally:
            run("local", "down")
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    KRT = os.path.abspath(sys.argv.pop(1))
    BASE = "docker.io/kruntimes/bash-runtime:" + sys.argv.pop(1)
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[1:]])
