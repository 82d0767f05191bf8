#!/usr/bin/python3
"""Create -> Succeeded latency of short Runs, until `krt bench` exists.

Creates N Runs one after another (or C at a time) against the cluster in
KUBECONFIG (the local control plane by default: `krt local up`), and for each
measures on this machine's clock:

  complete  create request sent -> the watch delivers phase Succeeded
  schedule  create -> status.conditions[Scheduled].lastTransitionTime
  claim     create -> status.startTime (runtimed's claim)
  execute   startTime -> completionTime (claim, spawn, run, outputs, write)

The server-side timestamps carry microseconds (docs/run-path.md) and the
local control plane runs on the same clock, so the hops are comparable.
Prints p50/p90/p99/max per hop in milliseconds and deletes what it created.

Usage: scripts/run-latency.py [-n 200] [-c 1] [--runtime bash] [-- command...]
"""

import argparse
import datetime
import os
import queue
import statistics
import sys
import threading
import time
import uuid

from kubernetes import client, config, watch

GROUP, VERSION, PLURAL = "kruntimes.io", "v1alpha1", "runs"


def parse_time(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=200)
    ap.add_argument("-c", "--concurrency", type=int, default=1)
    ap.add_argument("-r", "--runtime", default="bash")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--poll", action="store_true",
                    help="wait by GET every 1 ms instead of a watch (a Python watch thread competes for the "
                         "2 cores); complete is then measured to status.completionTime")
    ap.add_argument("command", nargs="*", default=["true"])
    a = ap.parse_args()

    config.load_kube_config()
    api = client.CustomObjectsApi()
    tag = uuid.uuid4().hex[:8]
    label = "kruntimes.io/latency-run=" + tag

    done = {}  # name -> (t_terminal, status)
    cv = threading.Condition()
    stop = threading.Event()

    def watcher():
        w = watch.Watch()
        while not stop.is_set():
            try:
                for ev in w.stream(api.list_namespaced_custom_object, GROUP, VERSION, a.namespace, PLURAL,
                                   label_selector=label, timeout_seconds=30):
                    obj = ev["object"]
                    phase = obj.get("status", {}).get("phase")
                    if phase in ("Succeeded", "Failed", "Timeout", "Cancelled"):
                        with cv:
                            name = obj["metadata"]["name"]
                            if name not in done:
                                done[name] = (time.time(), obj["status"])
                                cv.notify_all()
                    if stop.is_set():
                        break
            except Exception as e:  # a broken watch is retried
                if not stop.is_set():
                    print("watch: %s" % e, file=sys.stderr)
                    time.sleep(0.2)

    if not a.poll:
        threading.Thread(target=watcher, daemon=True).start()
        time.sleep(0.5)  # let the watch start

    total = a.warmup + a.runs
    work = queue.Queue()
    for i in range(total):
        work.put(i)
    created = {}
    failures = []

    def worker():
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            name = "lat-%s-%05d" % (tag, i)
            body = {"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run",
                    "metadata": {"name": name, "labels": {"kruntimes.io/latency-run": tag}},
                    "spec": {"runtime": a.runtime, "mode": {"task": {"args": a.command}}}}
            t0 = time.time()
            api.create_namespaced_custom_object(GROUP, VERSION, a.namespace, PLURAL, body)
            created[name] = (i, t0)
            if a.poll:
                while True:
                    obj = api.get_namespaced_custom_object(GROUP, VERSION, a.namespace, PLURAL, name)
                    st = obj.get("status", {})
                    if st.get("phase") in ("Succeeded", "Failed", "Timeout", "Cancelled"):
                        t_done = parse_time(st["completionTime"]) if st.get("completionTime") else time.time()
                        with cv:
                            done[name] = (t_done, st)
                        break
                    time.sleep(0.001)
                continue
            with cv:
                if not cv.wait_for(lambda: name in done, timeout=120):
                    failures.append((name, "no terminal phase within 120 s"))

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    t_start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t_start
    stop.set()

    hops = {"complete": [], "schedule": [], "claim": [], "execute": []}
    for name, (i, t0) in created.items():
        if i < a.warmup or name not in done:
            continue
        t1, st = done[name]
        if st.get("phase") != "Succeeded":
            failures.append((name, "%s: %s" % (st.get("phase"), st.get("message"))))
            continue
        hops["complete"].append((t1 - t0) * 1000)
        sched = [c for c in st.get("conditions", []) if c["type"] == "Scheduled"]
        if sched:
            hops["schedule"].append((parse_time(sched[0]["lastTransitionTime"]) - t0) * 1000)
        if st.get("startTime"):
            hops["claim"].append((parse_time(st["startTime"]) - t0) * 1000)
            hops["execute"].append((parse_time(st["completionTime"]) - parse_time(st["startTime"])) * 1000)

    print("%d Runs (after %d warm-up), concurrency %d, runtime %s, command %r" %
          (len(hops["complete"]), a.warmup, a.concurrency, a.runtime, a.command))
    print("%-10s %9s %9s %9s %9s   (ms)" % ("hop", "p50", "p90", "p99", "max"))
    for k in ("schedule", "claim", "execute", "complete"):
        v = hops[k]
        if v:
            print("%-10s %9.2f %9.2f %9.2f %9.2f" % (k, statistics.median(v), pct(v, 90), pct(v, 99), max(v)))
    print("throughput %.1f Runs/s over %.1f s (including warm-up)" % (total / wall, wall))
    for name, why in failures[:10]:
        print("FAILED %s: %s" % (name, why), file=sys.stderr)
    for name in created:
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, a.namespace, PLURAL, name)
        except Exception as e:
            print("cleanup %s: %s" % (name, e), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
