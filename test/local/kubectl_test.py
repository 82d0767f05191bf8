#!/usr/bin/env python3
"""Conformance of the local control plane against the real kubectl (1.32 via
the machine's dispatcher): apply, apply -k, get (Table columns, -o formats,
selectors, -A), get -w, patch (merge, json, status, strategic), delete with
finalizers, wait, replace conflicts, validation errors.

Usage: kubectl_test.py /path/to/krt [unittest args...]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import LocalPlane  # noqa: E402

KRT = None
TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


class KubectlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT).start()
        cls.lp.kubectl("apply", "-f", os.path.join(TESTDATA, "manifests", "crds", "widgets-crd.yaml"))
        cls.lp.kubectl("wait", "--for=condition=established", "crd/widgets.example.kruntimes.io", "--timeout=20s")

    @classmethod
    def tearDownClass(cls):
        cls.lp.cleanup()

    def k(self, *args, **kw):
        return self.lp.kubectl(*args, **kw)

    def ns(self, name):
        r = self.k("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n" % name)
        self.assertIn("created", r.stdout)
        return name

    def widget(self, ns, name, color="red", extra=""):
        doc = ("apiVersion: example.kruntimes.io/v1\nkind: Widget\nmetadata:\n  name: %s\n  namespace: %s\n%s"
               "spec:\n  color: %s\n" % (name, ns, extra, color))
        return self.k("apply", "-f", "-", input=doc)

    # --- version and discovery ---

    def test_version_reports_minor_32(self):
        r = self.k("version", "-o", "json")
        server = json.loads(r.stdout)["serverVersion"]
        self.assertEqual(server["major"], "1")
        self.assertEqual(server["minor"], "32")

    def test_api_resources_lists_builtins_and_crd(self):
        r = self.k("api-resources")
        for line in ("deployments", "customresourcedefinitions", "leases", "widgets", "rolebindings"):
            self.assertIn(line, r.stdout)
        wd = [l for l in r.stdout.splitlines() if l.startswith("widgets")][0]
        self.assertIn("wd", wd.split())
        self.assertIn("example.kruntimes.io/v1", wd)
        self.assertIn("true", wd)  # namespaced

    # --- apply ---

    def test_apply_create_unchanged_configured(self):
        ns = self.ns("apply1")
        cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: %s\ndata:\n  a: '1'\n" % ns
        self.assertIn("configmap/c1 created", self.k("apply", "-f", "-", input=cm).stdout)
        self.assertIn("configmap/c1 unchanged", self.k("apply", "-f", "-", input=cm).stdout)
        self.assertIn("configmap/c1 configured", self.k("apply", "-f", "-", input=cm.replace("'1'", "'2'")).stdout)
        got = json.loads(self.k("get", "cm", "c1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(got["data"], {"a": "2"})
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", got["metadata"]["annotations"])

    def test_apply_deployment_strategic_merge_keeps_containers_by_name(self):
        ns = self.ns("apply2")
        with open(os.path.join(TESTDATA, "kustomize", "deployment.yaml")) as f:
            dep = f.read()
        self.k("apply", "-n", ns, "-f", "-", input=dep)
        self.k("apply", "-n", ns, "-f", "-", input=dep.replace("example/web:1", "example/web:2"))
        got = json.loads(self.k("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
        containers = got["spec"]["template"]["spec"]["containers"]
        self.assertEqual(len(containers), 1)
        self.assertEqual(containers[0]["image"], "example/web:2")
        self.assertEqual(containers[0]["env"], [{"name": "A", "value": "1"}])
        self.assertEqual(got["metadata"]["generation"], 2)

    def test_apply_kustomization_with_crd_namespace_deployment_and_crs(self):
        kdir = os.path.join(TESTDATA, "kustomize")
        # The CRD is already established here, so one apply maps every object.
        r = self.k("apply", "-k", kdir)
        self.assertIn("namespace/kdemo", r.stdout)
        self.assertIn("deployment.apps/web", r.stdout)
        self.assertIn("widget.example.kruntimes.io/w1", r.stdout)
        r = self.k("get", "widgets", "-n", "kdemo", "-o", "json")
        items = {i["metadata"]["name"]: i for i in json.loads(r.stdout)["items"]}
        self.assertEqual(sorted(items), ["w1", "w2"])
        self.assertEqual(items["w2"]["spec"]["size"], 3, "schema default applied")
        r = self.k("apply", "-k", kdir)
        self.assertIn("widget.example.kruntimes.io/w1 unchanged", r.stdout)

    def test_apply_rejects_unknown_field_strictly(self):
        ns = self.ns("strict")
        r = self.k("apply", "-f", "-", check=False, input=(
            "apiVersion: example.kruntimes.io/v1\nkind: Widget\nmetadata:\n  name: s1\n  namespace: %s\n"
            "spec:\n  color: red\n  bogus: 1\n" % ns))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('unknown field "spec.bogus"', r.stderr)
        r = self.k("apply", "--validate=false", "-f", "-", input=(
            "apiVersion: example.kruntimes.io/v1\nkind: Widget\nmetadata:\n  name: s1\n  namespace: %s\n"
            "spec:\n  color: red\n  bogus: 1\n" % ns))
        got = json.loads(self.k("get", "widget", "s1", "-n", ns, "-o", "json").stdout)
        self.assertNotIn("bogus", got["spec"], "unknown fields are pruned")

    def test_invalid_custom_resource_reports_field_causes(self):
        ns = self.ns("invalid")
        r = self.k("apply", "-f", "-", check=False, input=(
            "apiVersion: example.kruntimes.io/v1\nkind: Widget\nmetadata:\n  name: bad\n  namespace: %s\n"
            "spec:\n  color: purple\n  size: 11\n  owner: bob\n" % ns))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('The Widget "bad" is invalid', r.stderr)
        self.assertIn("spec.color", r.stderr)
        self.assertIn("spec.size", r.stderr)
        # CEL rules run once the schema's own checks pass (as in Kubernetes).
        r = self.k("apply", "-f", "-", check=False, input=(
            "apiVersion: example.kruntimes.io/v1\nkind: Widget\nmetadata:\n  name: bad\n  namespace: %s\n"
            "spec:\n  color: red\n  owner: bob\n" % ns))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec: Invalid value", r.stderr)
        self.assertIn("owner must start with team-", r.stderr)

    def test_create_in_missing_namespace_is_not_found(self):
        r = self.k("apply", "-f", "-", check=False,
                   input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: nope\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('namespaces "nope" not found', r.stderr)

    # --- get ---

    def test_get_table_columns_wide_and_formats(self):
        ns = self.ns("get1")
        self.widget(ns, "g1", "green", extra="  labels:\n    tier: front\n")
        self.widget(ns, "g2", "blue")
        r = self.k("get", "widgets", "-n", ns)
        header = r.stdout.splitlines()[0].split()
        self.assertEqual(header, ["NAME", "COLOR", "SIZE", "PHASE", "AGE"])
        row = r.stdout.splitlines()[1].split()
        self.assertEqual(row[:3], ["g1", "green", "3"])
        self.assertRegex(row[-1], r"^\d+s$")
        wide = self.k("get", "wd", "-n", ns, "-o", "wide").stdout
        self.assertIn("OWNER", wide.splitlines()[0])
        names = self.k("get", "widgets", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").stdout
        self.assertEqual(names.split(), ["g1", "g2"])
        y = self.k("get", "widget", "g1", "-n", ns, "-o", "yaml").stdout
        self.assertIn("kind: Widget", y)
        self.assertIn("color: green", y)
        one = self.k("get", "widget", "g1", "-n", ns).stdout
        self.assertIn("green", one)

    def test_get_selectors_and_all_namespaces(self):
        a, b = self.ns("sel-a"), self.ns("sel-b")
        self.widget(a, "x1", "red", extra="  labels:\n    tier: front\n")
        self.widget(a, "x2", "blue", extra="  labels:\n    tier: back\n")
        self.widget(b, "x3", "red")
        out = self.k("get", "widgets", "-A", "-o", "name").stdout.split()
        for n in ("x1", "x2", "x3"):
            self.assertIn("widget.example.kruntimes.io/" + n, out)
        allns = self.k("get", "widgets", "-A").stdout
        self.assertIn("NAMESPACE", allns.splitlines()[0])
        self.assertEqual(self.k("get", "widgets", "-n", a, "-l", "tier=front", "-o", "name").stdout.split(),
                         ["widget.example.kruntimes.io/x1"])
        self.assertEqual(self.k("get", "widgets", "-n", a, "-l", "tier in (front,back),tier!=front", "-o",
                                "name").stdout.split(), ["widget.example.kruntimes.io/x2"])
        self.assertEqual(self.k("get", "widgets", "-n", a, "--field-selector", "metadata.name=x2", "-o",
                                "name").stdout.split(), ["widget.example.kruntimes.io/x2"])
        self.assertEqual(self.k("get", "widgets", "-A", "--field-selector", "spec.color=red", "-o",
                                "name").stdout.split().count("widget.example.kruntimes.io/x2"), 0)
        r = self.k("get", "widgets", "-n", a, "--field-selector", "status.phase=x", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("field label not supported: status.phase", r.stderr)
        r = self.k("get", "widgets", "-n", "sel-empty-none", check=False)
        self.assertIn("No resources found", r.stderr)

    def test_get_missing_is_not_found(self):
        r = self.k("get", "widget", "nope", "-n", "default", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('widgets.example.kruntimes.io "nope" not found', r.stderr)

    def test_get_watch_prints_new_rows(self):
        ns = self.ns("watch1")
        self.widget(ns, "before", "red")
        p = subprocess.Popen(["kubectl", "get", "widgets", "-n", ns, "-w"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.lp.env())
        try:
            first = p.stdout.readline()
            self.assertIn("NAME", first)
            self.assertIn("before", p.stdout.readline())
            self.widget(ns, "after", "blue")
            line = p.stdout.readline()
            self.assertIn("after", line)
            self.assertIn("blue", line)
        finally:
            p.kill()
            p.communicate()

    # --- patch ---

    def test_patch_merge_json_status_and_strategic_rejected(self):
        ns = self.ns("patch1")
        self.widget(ns, "p1", "red")
        r = self.k("patch", "widget", "p1", "-n", ns, "--type", "merge", "-p", '{"spec":{"size":5}}')
        self.assertIn("patched", r.stdout)
        r = self.k("patch", "widget", "p1", "-n", ns, "--type", "merge", "-p", '{"spec":{"size":5}}')
        self.assertIn("patched (no change)", r.stdout)
        self.k("patch", "widget", "p1", "-n", ns, "--type", "json",
               "-p", '[{"op":"replace","path":"/spec/color","value":"green"}]')
        got = json.loads(self.k("get", "widget", "p1", "-n", ns, "-o", "json").stdout)
        self.assertEqual((got["spec"]["size"], got["spec"]["color"]), (5, "green"))
        self.assertEqual(got["metadata"]["generation"], 3)
        # status only through the subresource
        self.k("patch", "widget", "p1", "-n", ns, "--type", "merge", "-p", '{"status":{"phase":"Main"}}')
        got = json.loads(self.k("get", "widget", "p1", "-n", ns, "-o", "json").stdout)
        self.assertNotIn("status", got)
        self.k("patch", "widget", "p1", "-n", ns, "--subresource=status", "--type", "merge",
               "-p", '{"status":{"phase":"Ready"},"spec":{"size":9}}')
        got = json.loads(self.k("get", "widget", "p1", "-n", ns, "-o", "json").stdout)
        self.assertEqual(got["status"]["phase"], "Ready")
        self.assertEqual(got["spec"]["size"], 5, "spec changes are ignored on /status")
        self.assertEqual(got["metadata"]["generation"], 3, "status writes do not bump generation")
        r = self.k("patch", "widget", "p1", "-n", ns, "-p", '{"spec":{"size":6}}', check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("application/strategic-merge-patch+json is not supported", r.stderr)
        r = self.k("label", "widget", "p1", "-n", ns, "tier=gold")
        self.assertIn("labeled", r.stdout)

    def test_replace_with_stale_resource_version_conflicts(self):
        ns = self.ns("conflict")
        self.widget(ns, "c1", "red")
        obj = json.loads(self.k("get", "widget", "c1", "-n", ns, "-o", "json").stdout)
        self.k("patch", "widget", "c1", "-n", ns, "--type", "merge", "-p", '{"spec":{"size":4}}')
        obj["spec"]["size"] = 7
        r = self.k("replace", "-f", "-", input=json.dumps(obj), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Conflict", r.stderr)
        self.assertIn("the object has been modified", r.stderr)

    # --- delete and wait ---

    def test_delete_with_finalizer_waits_until_removed(self):
        ns = self.ns("fin")
        self.widget(ns, "f1", "red", extra="  finalizers:\n  - example.kruntimes.io/hold\n")
        r = self.k("delete", "widget", "f1", "-n", ns, "--wait=false")
        self.assertIn("deleted", r.stdout)
        got = json.loads(self.k("get", "widget", "f1", "-n", ns, "-o", "json").stdout)
        self.assertIn("deletionTimestamp", got["metadata"])
        waiter = subprocess.Popen(["kubectl", "wait", "--for=delete", "widget/f1", "-n", ns, "--timeout=30s"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.lp.env())
        time.sleep(0.5)
        self.k("patch", "widget", "f1", "-n", ns, "--type", "json",
               "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        out, err = waiter.communicate(timeout=40)
        self.assertEqual(waiter.returncode, 0, err)
        r = self.k("get", "widget", "f1", "-n", ns, check=False)
        self.assertIn("not found", r.stderr)

    def test_delete_missing_and_ignore_not_found(self):
        r = self.k("delete", "widget", "ghost", "-n", "default", check=False)
        self.assertIn('widgets.example.kruntimes.io "ghost" not found', r.stderr)
        r = self.k("delete", "widget", "ghost", "-n", "default", "--ignore-not-found")
        self.assertEqual(r.stdout, "")

    def test_wait_for_jsonpath_and_condition(self):
        ns = self.ns("wait1")
        self.widget(ns, "w", "red")
        waiter = subprocess.Popen(["kubectl", "wait", "--for=jsonpath={.status.phase}=Done", "widget/w", "-n", ns,
                                   "--timeout=30s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=self.lp.env())
        time.sleep(0.5)
        self.k("patch", "widget", "w", "-n", ns, "--subresource=status", "--type", "merge",
               "-p", '{"status":{"phase":"Done","conditions":[{"type":"Ready","status":"True"}]}}')
        out, err = waiter.communicate(timeout=40)
        self.assertEqual(waiter.returncode, 0, err)
        self.assertIn("condition met", out)
        r = self.k("wait", "--for=condition=Ready", "widget/w", "-n", ns, "--timeout=10s")
        self.assertIn("condition met", r.stdout)

    def test_namespace_deletion_cascades(self):
        ns = self.ns("doomed")
        self.widget(ns, "d1", "red")
        self.k("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: %s\n" % ns)
        self.k("delete", "namespace", ns, "--timeout=30s")
        r = self.k("get", "namespace", ns, check=False)
        self.assertIn("not found", r.stderr)
        self.assertEqual(self.k("get", "widgets", "-n", ns, "-o", "name").stdout, "")

    def test_owner_reference_garbage_collection(self):
        ns = self.ns("gc1")
        self.widget(ns, "owner", "red")
        uid = json.loads(self.k("get", "widget", "owner", "-n", ns, "-o", "json").stdout)["metadata"]["uid"]
        cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dep\n  namespace: %s\n  ownerReferences:\n"
              "  - apiVersion: example.kruntimes.io/v1\n    kind: Widget\n    name: owner\n    uid: %s\n" % (ns, uid))
        self.k("apply", "-f", "-", input=cm)
        self.k("delete", "widget", "owner", "-n", ns)
        self.k("wait", "--for=delete", "configmap/dep", "-n", ns, "--timeout=20s")

    def test_protobuf_create_gets_a_clear_415(self):
        r = self.k("create", "configmap", "pb", "-n", "default", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("JSON only", r.stderr)


if __name__ == "__main__":
    KRT = os.environ.get("KRT_BIN")
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        KRT = sys.argv.pop(1)
    if not KRT:
        sys.exit("usage: kubectl_test.py /path/to/krt")
    unittest.main(verbosity=2)
