#!/usr/bin/env python3
"""The local control plane driven by Debian's python3-kubernetes: CRUD on
custom objects and built-ins, list selectors and paging, watch with resume,
a 410 that forces a relist, DynamicClient discovery; and crash safety: kill -9
under concurrent write load, restart, every acknowledged write is present and
resourceVersions keep increasing.

Usage: /usr/bin/python3 pyclient_test.py /path/to/krt [unittest args...]
"""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import LocalPlane  # noqa: E402

import kubernetes  # noqa: E402
from kubernetes import client, config, dynamic, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

KRT = None
TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
G, V, P = "example.kruntimes.io", "v1", "widgets"


def api_client(lp):
    return config.new_client_from_config(config_file=lp.kubeconfig)


def widget(name, color="red", labels=None):
    return {"apiVersion": "%s/%s" % (G, V), "kind": "Widget",
            "metadata": {"name": name, "labels": labels or {}}, "spec": {"color": color}}


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT, extra_args=["--history", "64", "--bookmark-interval", "0.3"]).start()
        cls.lp.kubectl("apply", "-f", os.path.join(TESTDATA, "manifests", "crds", "widgets-crd.yaml"))
        cls.api = api_client(cls.lp)
        cls.core = client.CoreV1Api(cls.api)
        cls.co = client.CustomObjectsApi(cls.api)

    @classmethod
    def tearDownClass(cls):
        cls.api.close()
        cls.lp.cleanup()

    def namespace(self, name):
        self.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def test_crud_custom_objects(self):
        ns = self.namespace("py-crud")
        created = self.co.create_namespaced_custom_object(G, V, ns, P, widget("a", labels={"k": "v"}))
        self.assertEqual(created["spec"]["size"], 3)
        self.assertTrue(created["metadata"]["uid"])
        rv1 = int(created["metadata"]["resourceVersion"])
        got = self.co.get_namespaced_custom_object(G, V, ns, P, "a")
        self.assertEqual(got["metadata"]["resourceVersion"], str(rv1))
        got["spec"]["color"] = "blue"
        replaced = self.co.replace_namespaced_custom_object(G, V, ns, P, "a", got)
        self.assertGreater(int(replaced["metadata"]["resourceVersion"]), rv1)
        with self.assertRaises(ApiException) as e:
            self.co.replace_namespaced_custom_object(G, V, ns, P, "a", got)  # stale rv
        self.assertEqual(e.exception.status, 409)
        patched = self.co.patch_namespaced_custom_object_status(G, V, ns, P, "a", {"status": {"phase": "Up"}})
        self.assertEqual(patched["status"]["phase"], "Up")
        with self.assertRaises(ApiException) as e:
            self.co.patch_namespaced_custom_object(G, V, ns, P, "a", [{"op": "add", "path": "/x", "value": 1}])
        self.assertIn(e.exception.status, (400, 422))
        self.co.create_namespaced_custom_object(G, V, ns, P, widget("b", "green", labels={"k": "w"}))
        items = self.co.list_namespaced_custom_object(G, V, ns, P, label_selector="k=w")["items"]
        self.assertEqual([i["metadata"]["name"] for i in items], ["b"])
        with self.assertRaises(ApiException) as e:
            self.co.create_namespaced_custom_object(G, V, ns, P, widget("b"))
        self.assertEqual(e.exception.status, 409)
        self.assertIn("AlreadyExists", e.exception.body)
        self.co.delete_namespaced_custom_object(G, V, ns, P, "a", propagation_policy="Foreground",
                                                grace_period_seconds=0)
        # Foreground deletion finishes asynchronously (the garbage collector
        # removes the foregroundDeletion finalizer), as in Kubernetes.
        deadline = time.time() + 20
        status = None
        while time.time() < deadline:
            try:
                got = self.co.get_namespaced_custom_object(G, V, ns, P, "a")
                self.assertIn("deletionTimestamp", got["metadata"])
                self.assertIn("foregroundDeletion", got["metadata"]["finalizers"])
            except ApiException as e:
                status = e.status
                break
            time.sleep(0.05)
        self.assertEqual(status, 404)

    def test_invalid_object_is_422_with_causes(self):
        ns = self.namespace("py-invalid")
        with self.assertRaises(ApiException) as e:
            self.co.create_namespaced_custom_object(G, V, ns, P, widget("bad", color="pink"))
        self.assertEqual(e.exception.status, 422)
        import json
        body = json.loads(e.exception.body)
        self.assertEqual(body["reason"], "Invalid")
        self.assertEqual(body["details"]["causes"][0]["field"], "spec.color")

    def test_paging_with_limit_and_continue(self):
        ns = self.namespace("py-page")
        for i in range(7):
            self.core.create_namespaced_config_map(ns, {"metadata": {"name": "c%d" % i}, "data": {"i": str(i)}})
        seen, token = [], None
        while True:
            page = self.core.list_namespaced_config_map(ns, limit=3, _continue=token)
            seen += [c.metadata.name for c in page.items]
            token = page.metadata._continue
            if not token:
                break
        self.assertEqual(seen, ["c%d" % i for i in range(7)])

    def test_watch_resumes_from_resource_version(self):
        ns = self.namespace("py-watch")
        rv = self.co.list_namespaced_custom_object(G, V, ns, P)["metadata"]["resourceVersion"]
        self.co.create_namespaced_custom_object(G, V, ns, P, widget("w1"))
        self.co.patch_namespaced_custom_object(G, V, ns, P, "w1", {"spec": {"size": 4}})
        self.co.delete_namespaced_custom_object(G, V, ns, P, "w1")
        events = []
        w = watch.Watch()
        for ev in w.stream(self.co.list_namespaced_custom_object, G, V, ns, P, resource_version=rv,
                           timeout_seconds=2):
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(events) == 3:
                w.stop()
        self.assertEqual(events, [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")])

    def test_watch_from_zero_sends_synthetic_added_then_live(self):
        ns = self.namespace("py-watch0")
        self.co.create_namespaced_custom_object(G, V, ns, P, widget("old"))
        seen = []
        w = watch.Watch()

        def later():
            time.sleep(0.3)
            self.co.create_namespaced_custom_object(G, V, ns, P, widget("new"))
        t = threading.Thread(target=later)
        t.start()
        for ev in w.stream(self.co.list_namespaced_custom_object, G, V, ns, P, resource_version="0",
                           timeout_seconds=5):
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(seen) == 2:
                w.stop()
        t.join()
        self.assertEqual(seen, [("ADDED", "old"), ("ADDED", "new")])

    def test_too_old_resource_version_gets_410_and_relist_works(self):
        ns = self.namespace("py-410")
        first = self.co.create_namespaced_custom_object(G, V, ns, P, widget("x0"))
        old_rv = first["metadata"]["resourceVersion"]
        for i in range(1, 100):  # history is 64 events
            self.core.create_namespaced_config_map(ns, {"metadata": {"name": "f%d" % i}})
        with self.assertRaises(ApiException) as e:
            for _ in watch.Watch().stream(self.co.list_namespaced_custom_object, G, V, ns, P,
                                          resource_version=old_rv, timeout_seconds=2):
                pass
        self.assertEqual(e.exception.status, 410)
        listed = self.co.list_namespaced_custom_object(G, V, ns, P)
        self.assertEqual([i["metadata"]["name"] for i in listed["items"]], ["x0"])
        events = list(watch.Watch().stream(self.co.list_namespaced_custom_object, G, V, ns, P,
                                           resource_version=listed["metadata"]["resourceVersion"],
                                           timeout_seconds=1))
        self.assertEqual(events, [])

    def test_watch_with_selector_sees_objects_enter_and_leave(self):
        ns = self.namespace("py-selwatch")
        self.co.create_namespaced_custom_object(G, V, ns, P, widget("s", labels={"tier": "front"}))
        rv = self.co.list_namespaced_custom_object(G, V, ns, P)["metadata"]["resourceVersion"]
        self.co.patch_namespaced_custom_object(G, V, ns, P, "s", {"metadata": {"labels": {"tier": "back"}}})
        self.co.patch_namespaced_custom_object(G, V, ns, P, "s", {"spec": {"size": 5}})  # not selected either way
        self.co.patch_namespaced_custom_object(G, V, ns, P, "s", {"metadata": {"labels": {"tier": "front"}}})
        self.co.patch_namespaced_custom_object(G, V, ns, P, "s", {"spec": {"size": 6}})
        events = [(e["type"], e["object"]["metadata"]["labels"]["tier"]) for e in
                  watch.Watch().stream(self.co.list_namespaced_custom_object, G, V, ns, P, resource_version=rv,
                                       label_selector="tier=front", timeout_seconds=1)]
        self.assertEqual(events, [("DELETED", "back"), ("ADDED", "front"), ("MODIFIED", "front")])

    def test_bookmarks_when_asked(self):
        ns = self.namespace("py-bookmark")
        rv = self.co.list_namespaced_custom_object(G, V, ns, P)["metadata"]["resourceVersion"]
        seen = []
        w = watch.Watch()
        for ev in w.stream(self.co.list_namespaced_custom_object, G, V, ns, P, resource_version=rv,
                           allow_watch_bookmarks=True, timeout_seconds=3):
            seen.append(ev)
            if ev["type"] == "BOOKMARK":
                w.stop()
        self.assertTrue(seen, "no event in 3 s")
        self.assertEqual(seen[-1]["type"], "BOOKMARK")
        self.assertEqual(seen[-1]["object"]["kind"], "Widget")
        self.assertGreaterEqual(int(seen[-1]["object"]["metadata"]["resourceVersion"]), int(rv))
        # Without allowWatchBookmarks there are none.
        plain = list(watch.Watch().stream(self.co.list_namespaced_custom_object, G, V, ns, P,
                                          resource_version=rv, timeout_seconds=1))
        self.assertEqual(plain, [])

    def test_dynamic_client_discovery(self):
        dyn = dynamic.DynamicClient(self.api)
        res = dyn.resources.get(api_version="%s/%s" % (G, V), kind="Widget")
        self.assertEqual(res.name, "widgets")
        ns = self.namespace("py-dyn")
        res.create(body=widget("d1"), namespace=ns)
        self.assertEqual(res.get(name="d1", namespace=ns).spec.color, "red")
        deps = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        self.assertTrue(deps.namespaced)


class CrashSafetyTest(unittest.TestCase):
    def test_kill9_under_write_load_loses_no_acknowledged_write(self):
        lp = LocalPlane(KRT).start()
        try:
            api = api_client(lp)
            core = client.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": "crash"}})
            acked, lock, stop = [], threading.Lock(), threading.Event()

            def writer(n):
                c = client.CoreV1Api(api_client(lp))
                i = 0
                while not stop.is_set():
                    name = "w%d-%d" % (n, i)
                    try:
                        c.create_namespaced_config_map("crash", {"metadata": {"name": name}})
                    except Exception:
                        return  # the server died mid-request: not acknowledged
                    with lock:
                        acked.append(name)
                    i += 1
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            deadline = time.time() + 30
            while len(acked) < 300 and time.time() < deadline:
                time.sleep(0.05)
            lp.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            self.assertGreaterEqual(len(acked), 300)
            rv_before = 0
            lp.start()
            core = client.CoreV1Api(api_client(lp))
            listed = core.list_namespaced_config_map("crash")
            names = {c.metadata.name for c in listed.items}
            missing = [a for a in acked if a not in names]
            self.assertEqual(missing, [], "acknowledged writes lost after kill -9")
            rv_before = max(int(c.metadata.resource_version) for c in listed.items)
            after = core.create_namespaced_config_map("crash", {"metadata": {"name": "after-restart"}})
            self.assertGreater(int(after.metadata.resource_version), rv_before)
        finally:
            lp.cleanup()

    def test_corrupted_database_is_a_clear_error(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="krt-corrupt-")
        with open(os.path.join(d, "state.db"), "wb") as f:
            f.write(b"this is not a database" * 100)
        lp = LocalPlane(KRT, state_dir=d)
        with self.assertRaises(RuntimeError) as e:
            lp.start(timeout=15)
        self.assertIn("state.db", str(e.exception))
        self.assertIn("move it away", str(e.exception))
        import shutil
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    KRT = os.environ.get("KRT_BIN")
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        KRT = sys.argv.pop(1)
    if not KRT:
        sys.exit("usage: pyclient_test.py /path/to/krt")
    unittest.main(verbosity=2)
