#!/usr/bin/env python3
"""Chaos soak (issue #14): N Runs on the local control plane while the
scheduler, the controller, the reaper, a runtimed, a Runtime Server and the
API server itself (with its node and every pod) are SIGKILLed at random
intervals; the API server is restarted on its port and state directory, the
others by the node. Then, for every Run:

  - it exists and is terminal (none lost, none stuck);
  - if it Succeeded, its code ran at least once;
  - its code ran no more often than its attempts (status.attempt);
  - if it did not succeed, its status says why (a reason and a message).

Each Run's code appends "<run name> <pid>" to a file on the host as it
starts, so executions are counted outside the system under test.

Usage: chaos_soak.py BUILD_DIR SOURCE_DIR [--runs N] [--seed S] [--duration SECONDS]
                     [--max-attempts A] [--report FILE]

--duration: how long Runs keep being created and components killed (the
kills stop with the last create; the check waits for every Run after that).
Exit status 0 when every check holds. The report (stdout, and --report as
JSON) lists kills per component, Runs retried, wall time and every Run that
did not succeed with its reason.
"""

import argparse
import collections
import json
import os
import random
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e_support  # noqa: E402
from e2e_support import RUNTIME, TERMINAL, binaries, plane_pids  # noqa: E402
from localplane import LocalPlane  # noqa: E402

NS = "default"
RUNS = "/apis/kruntimes.io/v1alpha1/namespaces/%s/runs" % NS
SERVICES = ["kruntimes-scheduler", "kruntimes-controller", "kruntimes-reaper"]
POD_PROCESSES = ["runtimed", "bash-runtime"]


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.kills = collections.Counter()
        self.restarts = 0
        self.stop_killing = threading.Event()
        self.lock = threading.Lock()  # held while the API server is down
        self.work = tempfile.mkdtemp(prefix="krt-soak-")
        self.executions = os.path.join(self.work, "executions.log")
        open(self.executions, "w").close()
        os.chmod(self.work, 0o755)
        os.chmod(self.executions, 0o666)

    # ------------------------------------------------------------ plane
    def start_plane(self):
        bins = binaries(self.args.build)
        plane_args = ["--apply", os.path.join(self.args.source, "k8s", "crds")]
        for image, path in bins.items():
            if image != "krt":
                plane_args += ["--image", "%s=%s" % (image, path)]
        self.plane = LocalPlane(bins["krt"], plane_args).start()
        self.port = int(self.plane.url.rsplit(":", 1)[1])
        self.plane.kubectl("apply", "-k", os.path.join(self.args.source, "k8s", "overlays", "local"))
        self.plane.kubectl("apply", "-f", "-", input=RUNTIME % {
            "name": "soak", "replicas": 2, "capacity": 8, "extra": ""})
        self.ctx = ssl.create_default_context(cafile=self.plane.ca_file())
        self.token = self.plane.token()
        self.wait_ready(timeout=180)

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                rt = self.request("GET", "/apis/kruntimes.io/v1alpha1/namespaces/%s/runtimes/soak" % NS)
                if rt.get("status", {}).get("readyReplicas", 0) >= 1:
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("Runtime soak not ready within %ds" % timeout)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.plane.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read())

    # ------------------------------------------------------------ faults
    def kill_one(self, victim):
        if victim == "apiserver":
            with self.lock:
                self.plane.kill9()
                time.sleep(self.rng.uniform(0.1, 1.0))
                self.plane.start(timeout=60, port=self.port)
                self.restarts += 1
            self.kills[victim] += 1
            return
        # runtimed and the Runtime Server: those of the soak's own pods,
        # which carry its Runs (the overlay's bash and python Runtimes do not).
        pids = plane_pids(self.port, victim, "HOSTNAME=runtime-soak-" if victim in POD_PROCESSES else None)
        if not pids:
            return
        try:
            os.kill(self.rng.choice(pids), signal.SIGKILL)
            self.kills[victim] += 1
        except OSError:
            pass

    def killer(self):
        # The API server takes the node and every pod with it: kill it less
        # often than the single components.
        victims = SERVICES + POD_PROCESSES
        while not self.stop_killing.wait(self.rng.uniform(*self.args.kill_interval)):
            victim = "apiserver" if self.rng.random() < 0.12 else self.rng.choice(victims)
            try:
                self.kill_one(victim)
            except Exception as e:  # a failed restart ends the soak
                self.killer_error = e
                self.stop_killing.set()

    # ------------------------------------------------------------ Runs
    def create(self, name):
        # 0-1.9 s of work, so several Runs are in flight when a kill lands.
        script = ('echo "%s $$" >> %s; sleep %.1f; echo ok=1 >> "$KRUNTIME_OUTPUTS"'
                  % (name, self.executions, self.rng.randrange(0, 20) / 10))
        body = {"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run", "metadata": {"name": name},
                "spec": {"runtime": "soak", "mode": {"task": {"args": [script]}},
                         "retryPolicy": {"maxAttempts": self.args.max_attempts, "backoff": "100ms"}}}
        for _ in range(600):
            with self.lock:
                try:
                    self.request("POST", RUNS, body)
                    return
                except urllib.error.HTTPError as e:
                    if e.code == 409:  # an earlier try got through before the server died
                        return
                    if e.code < 500 and e.code != 429:
                        raise
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(0.1)
        raise AssertionError("could not create Run %s" % name)

    def list_runs(self):
        for _ in range(600):
            with self.lock:
                try:
                    return self.request("GET", RUNS)["items"]
                except (OSError, urllib.error.URLError, ValueError):
                    pass
            time.sleep(0.1)
        raise AssertionError("cannot list Runs")

    def run(self):
        t0 = time.time()
        self.killer_error = None
        self.start_plane()
        names = ["soak-%05d" % i for i in range(self.args.runs)]
        killer = threading.Thread(target=self.killer, daemon=True)
        killer.start()
        pace = self.args.duration / max(1, len(names))
        started = time.time()
        for i, name in enumerate(names):
            self.create(name)
            ahead = started + (i + 1) * pace - time.time()
            if ahead > 0:
                time.sleep(ahead)
        self.stop_killing.set()
        killer.join()
        if self.killer_error:
            raise AssertionError("restarting the API server failed: %s" % self.killer_error)
        deadline = time.time() + self.args.settle
        runs = {}
        while time.time() < deadline:
            runs = {r["metadata"]["name"]: r for r in self.list_runs()}
            if all(runs.get(n, {}).get("status", {}).get("phase") in TERMINAL for n in names):
                break
            time.sleep(1)
        return self.check(names, runs, time.time() - t0)

    def check(self, names, runs, wall):
        executed = collections.Counter()
        with open(self.executions) as f:
            for line in f:
                parts = line.split()
                if parts:
                    executed[parts[0]] += 1
        problems = []
        phases = collections.Counter()
        retried = 0
        not_succeeded = {}
        for n in names:
            r = runs.get(n)
            if r is None:
                problems.append("%s: lost (no such Run)" % n)
                continue
            st = r.get("status", {})
            phase = st.get("phase")
            phases[phase] += 1
            attempt = int(st.get("attempt", 0) or 0)
            if attempt > 1:
                retried += 1
            if phase not in TERMINAL:
                problems.append("%s: not terminal (%s)" % (n, phase))
                continue
            if phase == "Succeeded" and executed[n] < 1:
                problems.append("%s: Succeeded without its code running" % n)
            if executed[n] > max(attempt, 1):
                problems.append("%s: ran %d times in %d attempt(s)" % (n, executed[n], attempt))
            if phase != "Succeeded":
                conds = [c for c in st.get("conditions", []) if c.get("type") == "Completed"]
                reason = conds[0].get("reason", "") if conds else ""
                message = st.get("message") or (conds[0].get("message", "") if conds else "")
                not_succeeded[n] = {"phase": phase, "reason": reason, "message": message, "attempt": attempt}
                if not reason or not message:
                    problems.append("%s: %s without a reason and message: %s" % (n, phase, json.dumps(st)))
        report = {
            "runs": len(names), "seed": self.args.seed, "wall_seconds": round(wall, 1),
            "phases": dict(phases), "runs_retried": retried, "executions": sum(executed.values()),
            "kills": dict(self.kills), "api_server_restarts": self.restarts,
            "not_succeeded": not_succeeded, "problems": problems,
        }
        return report

    def cleanup(self):
        if getattr(self, "plane", None):
            self.plane.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("build")
    p.add_argument("source")
    p.add_argument("--runs", type=int, default=int(os.environ.get("KRT_SOAK_RUNS", "500")))
    p.add_argument("--seed", type=int, default=int(os.environ.get("KRT_SOAK_SEED", "0")) or None)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--settle", type=float, default=600.0, help="seconds to wait for every Run to finish")
    p.add_argument("--max-attempts", type=int, default=8)
    p.add_argument("--kill-interval", type=float, nargs=2, default=(0.5, 3.0), metavar=("MIN", "MAX"))
    p.add_argument("--report", help="also write the report as JSON to this file")
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 30)
    args.build, args.source = os.path.abspath(args.build), os.path.abspath(args.source)
    e2e_support.PATHS["build"], e2e_support.PATHS["source"] = args.build, args.source
    soak = Soak(args)
    try:
        report = soak.run()
    except Exception:
        sys.stderr.write("soak failed (seed %d); API server log:\n%s\n" % (args.seed, soak.plane.log_text()
                                                                          if getattr(soak, "plane", None) else ""))
        raise
    finally:
        soak.cleanup()
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    if report["problems"]:
        sys.stderr.write("chaos soak: %d problem(s), seed %d (rerun with --seed %d)\n" %
                         (len(report["problems"]), args.seed, args.seed))
        return 1
    print("chaos soak: %d Runs, all terminal, none lost, none run more often than its attempts "
          "(seed %d, %.0f s)" % (report["runs"], args.seed, report["wall_seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
