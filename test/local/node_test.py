#!/usr/bin/env python3
"""The local node with real processes, driven through kubectl: a Deployment of
a real test binary (mapped image) becomes ready pods behind HTTP readiness
probes, a killed process is restarted, logs (and logs -f) work, scaling down
and a rollout replace pods cleanly, a service account token is authorised by
RBAC, and nothing the node started survives the control plane's shutdown.

Usage: node_test.py /path/to/krt /path/to/testpod [unittest args...]
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import LocalPlane  # noqa: E402

KRT = None
TESTPOD = None

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %(name)s
  namespace: %(ns)s
spec:
  replicas: %(replicas)d
  selector:
    matchLabels: {app: %(name)s}
  template:
    metadata:
      labels: {app: %(name)s}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: krt-test/testpod:%(tag)s
        args: ["--data", "/data/x"]
        ports:
        - {name: http, containerPort: 18080}
        env:
        - {name: PORT, value: "18080"}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 1
        livenessProbe:
          httpGet: {path: /healthz, port: 18080}
          periodSeconds: 1
          failureThreshold: 3
        volumeMounts:
        - {name: data, mountPath: /data}
      volumes:
      - name: data
        emptyDir: {}
"""


def pids_of(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


class NodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT, extra_args=["--image", "krt-test/testpod=" + TESTPOD])
        cls.audit_log = os.path.join(cls.lp.state_dir, "audit.jsonl")
        cls.lp.extra_args += ["--audit-log", cls.audit_log]
        cls.lp.start()

    @classmethod
    def tearDownClass(cls):
        cls.lp.cleanup()

    def k(self, *args, **kw):
        return self.lp.kubectl(*args, **kw)

    def ns(self, name):
        self.k("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n" % name)
        return name

    def deploy(self, ns, name, replicas=2, tag="1"):
        self.k("apply", "-f", "-", input=DEPLOYMENT % dict(ns=ns, name=name, replicas=replicas, tag=tag))

    def pods(self, ns, selector):
        out = json.loads(self.k("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout)
        return out["items"]

    def wait_for(self, what, fn, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.2)
        self.fail("timed out waiting for %s (last: %r)\nserver log: %s" % (what, last, self.lp.log_text()[-2000:]))

    def test_deployment_becomes_ready_pods_with_probes_env_and_volumes(self):
        ns = self.ns("node1")
        self.deploy(ns, "web")
        r = self.k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
        self.assertIn("successfully rolled out", r.stdout)
        # Rollout status is level-based; under CI load a readiness probe can
        # still be catching up on a pod, so wait for both to report ready.
        def two_ready():
            ready = [p for p in self.pods(ns, "app=web")
                     if p["status"].get("containerStatuses") and p["status"]["containerStatuses"][0]["ready"]]
            return ready if len(ready) == 2 else None
        pods = self.wait_for("two ready pods", two_ready)
        self.assertEqual(len(pods), 2, json.dumps([p["status"] for p in self.pods(ns, "app=web")], indent=1))
        ips = {p["status"]["podIP"] for p in pods}
        self.assertEqual(len(ips), 2, "each pod has its own loopback address")
        for p in pods:
            self.assertEqual(p["status"]["phase"], "Running")
            self.assertEqual(p["spec"]["nodeName"], "krt-local")
            self.assertTrue(p["status"]["containerStatuses"][0]["ready"])
            self.assertEqual(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")
        table = self.k("get", "pods", "-n", ns).stdout
        self.assertIn("1/1", table)
        self.assertIn("Running", table)
        # The emptyDir mount path in args was rewritten to the pod's host directory.
        logs = self.k("logs", "-n", ns, pods[0]["metadata"]["name"]).stdout
        self.assertIn("request /ready -> 200", logs)
        # stderr lines are in the log too; the mount path was rewritten to
        # <state>/pods/<uid>/volumes/data on the host.
        uid = pods[0]["metadata"]["uid"]
        self.assertIn("--data %s/pods/%s/volumes/data/x" % (self.lp.state_dir, uid), logs)
        # pods/proxy reaches the process on its own address.
        raw = self.k("get", "--raw", "/api/v1/namespaces/%s/pods/%s:18080/proxy/healthz" %
                     (ns, pods[0]["metadata"]["name"])).stdout
        self.assertEqual(raw, "ok\n")
        raw = self.k("get", "--raw", "/api/v1/namespaces/%s/pods/%s/proxy/ready?x=1" %
                     (ns, pods[1]["metadata"]["name"])).stdout
        self.assertEqual(raw, "ok\n")
        d = json.loads(self.k("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
        self.assertEqual(d["status"]["availableReplicas"], 2)
        self.assertEqual(d["status"]["observedGeneration"], d["metadata"]["generation"])
        conds = {c["type"]: c["status"] for c in d["status"]["conditions"]}
        self.assertEqual(conds["Available"], "True")

    def test_killed_process_is_restarted(self):
        ns = self.ns("node2")
        self.deploy(ns, "crash", replicas=1)
        self.k("rollout", "status", "deployment/crash", "-n", ns, "--timeout=60s")
        pod = self.pods(ns, "app=crash")[0]
        name = pod["metadata"]["name"]
        pid = int(pod["status"]["containerStatuses"][0]["containerID"].split("//")[1])
        os.kill(pid, signal.SIGKILL)

        def restarted():
            p = json.loads(self.k("get", "pod", name, "-n", ns, "-o", "json").stdout)
            cs = p["status"]["containerStatuses"][0]
            return cs["restartCount"] >= 1 and cs["ready"] and cs
        cs = self.wait_for("a restart", restarted, timeout=60)
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 137)
        self.assertEqual(cs["lastState"]["terminated"]["signal"], 9)
        prev = self.k("logs", "-n", ns, name, "--previous").stdout
        self.assertIn("request", prev)

    def test_scale_down_and_rollout_replace_pods_cleanly(self):
        ns = self.ns("node3")
        self.deploy(ns, "scale", replicas=3)
        self.k("rollout", "status", "deployment/scale", "-n", ns, "--timeout=60s")
        before = {p["metadata"]["name"]: int(p["status"]["containerStatuses"][0]["containerID"].split("//")[1])
                  for p in self.pods(ns, "app=scale")}
        self.k("scale", "deployment/scale", "-n", ns, "--replicas=1")
        self.wait_for("scale down", lambda: len(self.pods(ns, "app=scale")) == 1)
        gone = [pid for name, pid in before.items() if name not in {p["metadata"]["name"] for p in self.pods(ns, "app=scale")}]
        self.assertEqual(len(gone), 2)
        for pid in gone:
            self.wait_for("process %d to exit" % pid, lambda pid=pid: not os.path.exists("/proc/%d" % pid))
        # A template change rolls out a new ReplicaSet and retires the old pods.
        self.deploy(ns, "scale", replicas=1, tag="2")
        self.k("rollout", "status", "deployment/scale", "-n", ns, "--timeout=60s")
        pods = self.wait_for("one new pod", lambda: [p for p in self.pods(ns, "app=scale")
                                                   if p["spec"]["containers"][0]["image"].endswith(":2")
                                                   and len(self.pods(ns, "app=scale")) == 1])
        self.assertEqual(len(pods), 1)
        rs = json.loads(self.k("get", "rs", "-n", ns, "-o", "json").stdout)["items"]
        self.assertEqual(sorted(r["spec"]["replicas"] for r in rs), [0, 1])

    def test_logs_follow_streams_new_lines(self):
        ns = self.ns("node4")
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: ticker, namespace: %s}
spec:
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done"]
""" % ns)
        self.k("wait", "--for=condition=Ready", "pod/ticker", "-n", ns, "--timeout=30s")
        p = subprocess.Popen(["kubectl", "logs", "-f", "ticker", "-n", ns], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.lp.env())
        try:
            lines = [p.stdout.readline().strip() for _ in range(8)]
        finally:
            p.kill()
            p.communicate()
        self.assertEqual(lines[0], "line-1")
        self.assertEqual(lines[7], "line-8")
        tail = self.k("logs", "ticker", "-n", ns, "--tail=2").stdout.splitlines()
        self.assertEqual(len(tail), 2)
        r = self.k("delete", "pod", "ticker", "-n", ns, "--timeout=30s")
        self.assertIn("deleted", r.stdout)

    def test_tcp_readiness_and_exec_liveness_probes(self):
        ns = self.ns("probes")
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: probed, namespace: %s}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - {name: flags, emptyDir: {}}
  containers:
  - name: main
    image: krt-test/testpod
    env:
    - {name: PORT, value: "18081"}
    - {name: READY_FILE, value: /flags/ready}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    volumeMounts:
    - {name: flags, mountPath: /flags}
    readinessProbe:
      tcpSocket: {port: 18081}
      periodSeconds: 1
    livenessProbe:
      exec: {command: ["/bin/sh", "-c", "test ! -e /flags/die"]}
      periodSeconds: 1
      failureThreshold: 2
""" % ns)
        self.k("wait", "--for=condition=Ready", "pod/probed", "-n", ns, "--timeout=30s")
        pod = json.loads(self.k("get", "pod", "probed", "-n", ns, "-o", "json").stdout)
        flags = os.path.join(self.lp.state_dir, "pods", pod["metadata"]["uid"], "volumes", "flags")
        self.assertTrue(os.path.isdir(flags))
        # The exec probe runs like the container: /flags is its volume, so a
        # file created in the host directory fails the liveness check.
        with open(os.path.join(flags, "die"), "w"):
            pass

        def restarted():
            p = json.loads(self.k("get", "pod", "probed", "-n", ns, "-o", "json").stdout)
            return p["status"]["containerStatuses"][0]["restartCount"] >= 1
        self.wait_for("a liveness restart", restarted, timeout=60)

    def test_readiness_survives_refused_connections_until_the_port_opens(self):
        ns = self.ns("probes2")
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: late, namespace: %s}
spec:
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "sleep 2; exec %s"]
    env:
    - {name: PORT, value: "18082"}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      httpGet: {path: /ready, port: 18082}
      periodSeconds: 1
      failureThreshold: 1
""" % (ns, TESTPOD))
        self.k("wait", "--for=condition=Ready", "pod/late", "-n", ns, "--timeout=40s")

    def test_unmapped_image_waits_with_a_clear_reason(self):
        ns = self.ns("node5")
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: nope, namespace: %s}
spec:
  containers:
  - {name: main, image: "example.com/unknown:1"}
""" % ns)

        def waiting():
            p = json.loads(self.k("get", "pod", "nope", "-n", ns, "-o", "json").stdout)
            st = p.get("status", {}).get("containerStatuses", [{}])[0].get("state", {}).get("waiting", {})
            return st.get("reason") == "ImageNotMapped" and st
        st = self.wait_for("ImageNotMapped", waiting)
        self.assertIn("--image", st["message"])
        self.assertIn("ImageNotMapped", self.k("get", "pod", "nope", "-n", ns).stdout)

    def test_service_account_token_is_authorised_by_rbac(self):
        ns = self.ns("rbac1")
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: %(ns)s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader, namespace: %(ns)s}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: %(ns)s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: %(ns)s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: %(ns)s}
""" % {"ns": ns})
        # A pod's mounted token is what in-cluster clients use.
        self.k("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: tok, namespace: %s}
spec:
  serviceAccountName: reader
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; sleep 300"]
""" % ns)
        token = self.wait_for("the token in the pod's log",
                              lambda: self.k("logs", "tok", "-n", ns, check=False).stdout.strip())
        as_sa = ["--token", token, "--kubeconfig", self.lp.kubeconfig]
        ok = subprocess.run(["kubectl", *as_sa, "get", "configmaps", "-n", ns], capture_output=True, text=True,
                            env=self.lp.env())
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("c ", ok.stdout)
        denied = subprocess.run(["kubectl", *as_sa, "delete", "configmap", "c", "-n", ns], capture_output=True,
                                text=True, env=self.lp.env())
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn('User "system:serviceaccount:%s:reader" cannot delete resource "configmaps"' % ns, denied.stderr)
        denied = subprocess.run(["kubectl", *as_sa, "get", "secrets", "-n", ns], capture_output=True, text=True,
                                env=self.lp.env())
        self.assertIn("Forbidden", denied.stderr)
        # --audit-log recorded each of the service account's requests with
        # RBAC's answer.
        with open(self.audit_log) as f:
            lines = [json.loads(line) for line in f]
        mine = {(e["verb"], e["resource"], e["name"], e["allowed"]) for e in lines
                if e["user"] == "system:serviceaccount:%s:reader" % ns and e["namespace"] == ns}
        self.assertEqual(mine, {("list", "configmaps", "", True), ("delete", "configmaps", "c", False),
                                ("list", "secrets", "", False)})
        self.k("delete", "pod", "tok", "-n", ns, "--grace-period=1", "--timeout=30s")


class ShutdownTest(unittest.TestCase):
    def test_nothing_survives_stopping_the_control_plane(self):
        lp = LocalPlane(KRT, extra_args=["--image", "krt-test/testpod=" + TESTPOD]).start()
        try:
            marker = "krt-shutdown-marker-%d" % os.getpid()
            lp.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: stubborn, namespace: default}
spec:
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo %s; wait"]
""" % marker)
            lp.kubectl("wait", "--for=condition=Ready", "pod/stubborn", "--timeout=30s")
            self.assertTrue(pids_of(marker), "the pod's process runs")
            lp.stop()
            self.assertEqual(pids_of(marker), [], "processes survived the control plane")
            self.assertEqual(pids_of("sleep 1000"), [], "a child of the pod survived")
        finally:
            lp.cleanup()


    def test_a_restart_kills_what_a_killed_node_left(self):
        """kill -9 of `krt local serve` leaves its pods' processes running (own
        sessions); the next start on that state directory kills them."""
        lp = LocalPlane(KRT, extra_args=["--image", "krt-test/testpod=" + TESTPOD]).start()
        try:
            marker = "krt-leftover-marker-%d" % os.getpid()
            lp.kubectl("apply", "-f", "-", input="""
apiVersion: v1
kind: Pod
metadata: {name: survivor, namespace: default}
spec:
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "sleep 1001 & echo %s; wait"]
""" % marker)
            lp.kubectl("wait", "--for=condition=Ready", "pod/survivor", "--timeout=30s")
            lp.kill9()
            old = set(pids_of(marker)) | set(pids_of("sleep 1001"))
            self.assertEqual(len(old), 2, "the pod's processes should outlive a kill -9 of their node")
            lp.start()
            deadline = time.time() + 20
            while time.time() < deadline and old & set(pids_of(marker) + pids_of("sleep 1001")):
                time.sleep(0.1)
            self.assertEqual(old & set(pids_of(marker) + pids_of("sleep 1001")), set(),
                             "a leftover of the killed node still runs")
            self.assertIn("killed container processes left by a previous run", lp.log_text())
            # The pod itself starts again, as after a node reboot.
            lp.kubectl("wait", "--for=condition=Ready", "pod/survivor", "--timeout=30s")
            lp.stop()
        finally:
            lp.cleanup()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    if len(args) < 2:
        sys.exit("usage: node_test.py /path/to/krt /path/to/testpod")
    KRT, TESTPOD = os.path.abspath(args[0]), os.path.abspath(args[1])
    sys.argv = [sys.argv[0]] + [a for a in sys.argv[1:] if a not in args[:2]]
    unittest.main(verbosity=2)
