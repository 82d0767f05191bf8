"""Shared helpers for the Python tests of the services against the real local
control plane (`krt local serve`): polling, timestamps, a service process with
its own log file, a plane with CRDs applied, and a cluster of fake runtime pods.

Tests put this directory on sys.path (as they do test/local for localplane).
"""

import datetime
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "local"))
from localplane import LocalPlane  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CRDS = os.path.join(REPO, "k8s", "crds")
G, V, P = "kruntimes.io", "v1alpha1", "runs"
HEARTBEAT_CONDITION = "kruntimes.io/RuntimedReady"
ARTIFACT_FINALIZER = "kruntimes.io/artifact-cleanup"


def wait_for(what, fn, timeout=30, retry_on=()):
    """Polls fn until it returns a truthy value and returns that; fails after
    timeout. Exceptions of the types in retry_on count as a falsy answer."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except retry_on as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def now_micro(offset=0.0):
    """Now plus offset seconds, as the API's microsecond RFC 3339 time."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def store_hash(store):
    """The artifact store hash of SPEC §8: Go's encoding/json of the store
    spec (the dict written in the spec's field order), compact and HTML-safe,
    SHA-256, 16 hex digits."""
    text = json.dumps(store, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- processes

class ServiceProcess:
    """One service binary running with its output in a log file; the ports
    it serves are read from its "serving ..." log lines."""

    def __init__(self, binary, args, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([binary, *args], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, env=env)
        self.name = os.path.basename(binary)

    @classmethod
    def on_plane(cls, plane, binary, log_name, args, env=None):
        """Started with --kubeconfig of plane and its environment, logging to
        log_name in its state directory. If it cannot start, the plane is
        cleaned up before the error goes on."""
        try:
            return cls(binary, ["--kubeconfig", plane.kubeconfig, *args], os.path.join(plane.state_dir, log_name),
                       env or plane.env())
        except Exception:
            plane.cleanup()
            raise

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def logged(self, msg):
        """The log lines whose message is msg."""
        return [line for line in self.text().splitlines() if '"msg":"%s"' % msg in line]

    def ports(self, what=None):
        """The ports of the "serving" lines ("serving <what>" if given), in order."""
        msg = "serving" if what is None else "serving " + what
        return [int(p) for p in re.findall(r'"msg":"%s".*?"port":(\d+)' % msg, self.text())]

    def port(self, what=None):
        return wait_for("%s to serve %s" % (self.name, what or "anything"), lambda: self.ports(what), 20)[0]

    def get(self, what, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port(what), path), timeout=10) as r:
            return r.status, r.read().decode()

    def metrics(self, what="metrics"):
        return self.get(what, "/metrics")[1]

    def metric(self, pattern, what="metrics"):
        """The value of the sample matching the regex pattern (name and labels), or None."""
        m = re.search(r"(?m)^" + pattern + r" (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$", self.metrics(what))
        return float(m.group(1)) if m else None

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            raise AssertionError("%s exited with %r:\n%s" % (self.name, self.proc.returncode, self.text()[-3000:]))

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode


class Replica(ServiceProcess):
    """A leader-electing service (scheduler, reaper) as one replica: POD_NAME
    is pod_name, metrics and probes on free ports of 127.0.0.1, the lease in
    "default", the log in <pod_name>.log."""

    def __init__(self, binary, lp, pod_name, extra=()):
        env = lp.env()
        env["POD_NAME"] = pod_name
        super().__init__(binary, ["--kubeconfig", lp.kubeconfig, "--metrics-bind-address", "127.0.0.1:0",
                                  "--health-probe-bind-address", "127.0.0.1:0", "--leader-election-namespace",
                                  "default", *extra], os.path.join(lp.state_dir, pod_name + ".log"), env)


def wait_started(svc, on_failure, *messages, timeout=30):
    """Waits until svc has logged each message; otherwise stops it, calls
    on_failure() (to release what the test started) and fails with its log."""
    try:
        for msg in messages:
            wait_for("%s to log %r" % (svc.name, msg), lambda: svc.logged(msg), timeout)
    except AssertionError:
        log = svc.text()
        svc.stop()
        on_failure()
        raise AssertionError("%s did not start; its log:\n%s" % (svc.name, log[-3000:]))


def stop_checked(svc, then, check=True):
    """Stops svc, calls then() (even if stopping failed) and, if check,
    fails unless svc exited with 0."""
    try:
        rc = svc.stop()
    finally:
        then()
    if check and rc != 0:
        raise AssertionError("%s exited with %r" % (svc.name, rc))


# ---------------------------------------------------------------- planes

def plane_with_crds(krt, crds, extra_args=("--no-node",), namespaces=()):
    """Starts krt local serve, applies crds ({plural: CRD file}) with kubectl,
    waits until each is served and creates namespaces."""
    plane = LocalPlane(krt, extra_args).start()
    try:
        for path in crds.values():
            plane.kubectl("apply", "-f", path)
        for plural in crds:
            wait_for("the %s CRD" % plural, lambda: plane.kubectl("get", plural, "-A", check=False).returncode == 0)
        for ns in namespaces:
            plane.kubectl("apply", "-f", "-",
                          input='{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' % ns)
    except Exception:
        plane.cleanup()
        raise
    return plane


# ---------------------------------------------------------------- fake runtime pods

def fake_pod(name, labels, annotations=None):
    """A runtime Pod bound to "fake-node", a node that does not exist, so the
    local kubelet leaves it alone (and a graceful delete leaves it Terminating)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
            "spec": {"nodeName": "fake-node", "containers": [{"name": "runtime", "image": "fake/runtime"}]}}


def run_body(name, spec):
    return {"apiVersion": "%s/%s" % (G, V), "kind": "Run", "metadata": {"name": name}, "spec": spec}


class Cluster:
    """The local control plane with the Run CRD (krt local serve --apply
    crds), a python kubernetes client, and fake runtime pods whose status
    (Running, Ready, the runtimed heartbeat) the test writes itself. A thread
    rewrites the status of the pods kept fresh every heartbeat_interval s.
    As a context manager it closes itself (and the services it adopted)."""

    PHASE_TIMEOUT = 30

    def __init__(self, krt, crds=CRDS, heartbeat_interval=4.0):
        from kubernetes import client, config
        self.lp = LocalPlane(krt, extra_args=["--apply", crds]).start()
        self.api = config.new_client_from_config(config_file=self.lp.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.co = client.CustomObjectsApi(self.api)
        self.heartbeat_interval = heartbeat_interval
        self.services = []  # stopped by close()
        self.fresh = {}  # (ns, pod) -> keyword arguments of write_pod_status for each beat
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.beater = threading.Thread(target=self._heartbeat_loop, daemon=True)
        self.beater.start()

    def adopt(self, svc):
        """svc (a ServiceProcess on this plane) is stopped by close()."""
        self.services.append(svc)
        return svc

    def close(self):
        """Stops the adopted services, the heartbeats and the plane."""
        try:
            for svc in self.services:
                svc.stop()
        finally:
            self.stopping.set()
            self.beater.join(timeout=10)
            self.api.close()
            self.lp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def namespace(self, name):
        self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    # ---- fake runtime pods

    def create_pod(self, ns, name, labels, annotations=None):
        return self.core.create_namespaced_pod(ns, fake_pod(name, labels, annotations)).metadata.uid

    def write_pod_status(self, ns, name, ready=True, heartbeat_age=0.0, ready_since=None):
        """Running with a heartbeat heartbeat_age s old; Ready since ready_since
        (default: the heartbeat). Returns the heartbeat time."""
        ts = now_micro(-heartbeat_age)
        status = {"phase": "Running", "podIP": "127.9.9.9", "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_since or ts},
            {"type": HEARTBEAT_CONDITION, "status": "True", "reason": "Heartbeat", "message": "",
             "lastProbeTime": ts, "lastTransitionTime": ts},
        ]}
        self.core.patch_namespaced_pod_status(name, ns, {"status": status})
        return ts

    def keep_fresh(self, ns, name, **status):
        """Heartbeats for the pod from now on, writing status (write_pod_status's arguments)."""
        with self.lock:
            self.fresh[(ns, name)] = status

    def stop_heartbeat(self, ns, name):
        with self.lock:
            self.fresh.pop((ns, name), None)

    def _heartbeat_loop(self):
        from kubernetes.client.rest import ApiException
        while not self.stopping.wait(self.heartbeat_interval):
            with self.lock:
                items = list(self.fresh.items())
            for (ns, name), status in items:
                try:
                    self.write_pod_status(ns, name, **status)
                except ApiException:
                    pass

    # ---- runs

    def create_run(self, ns, name, spec):
        return self.co.create_namespaced_custom_object(G, V, ns, P, run_body(name, spec))

    def patch_run_status(self, ns, name, status):
        return self.co.patch_namespaced_custom_object_status(G, V, ns, P, name, {"status": status})

    def get_run(self, ns, name):
        return self.co.get_namespaced_custom_object(G, V, ns, P, name)

    def status(self, ns, name):
        return self.get_run(ns, name).get("status") or {}

    def wait_phase(self, ns, name, phase, timeout=None):
        return wait_for("Run %s/%s to be %s" % (ns, name, phase),
                        lambda: self.status(ns, name) if self.status(ns, name).get("phase") == phase else None,
                        timeout or self.PHASE_TIMEOUT)

    def finish(self, ns, name, phase="Succeeded"):
        st = self.status(ns, name)
        st["phase"] = phase
        st["completionTime"] = now_micro()
        self.patch_run_status(ns, name, st)

    def events(self, ns, run_name):
        return [e for e in self.core.list_namespaced_event(ns).items if e.involved_object.name == run_name]

    def wait_event(self, ns, run_name, reason):
        return wait_for("event %s on %s" % (reason, run_name),
                        lambda: [e for e in self.events(ns, run_name) if e.reason == reason], 20)[0]
