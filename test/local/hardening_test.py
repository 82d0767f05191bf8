#!/usr/bin/env python3
"""Requests that used to take the local API server down, sent through its real
HTTPS API as any client could send them: a JSON patch whose copies double the
object per operation, objects nested deeper than the server can later load,
and bodies and objects larger than the real API server accepts. Each must get
a Kubernetes Status error, leave the stored object as it was, and leave the
server serving (and able to restart from its database).

Usage: /usr/bin/python3 hardening_test.py /path/to/krt /path/to/libfixed_getrandom.so [unittest args...]
"""

import json
import os
import ssl
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localplane import LocalPlane  # noqa: E402

KRT = None
FIXED_GETRANDOM = None
NS = "default"


def nested(levels, leaf="x"):
    """An object nested `levels` deep: {"a": {"a": ... leaf}}."""
    v = leaf
    for _ in range(levels):
        v = {"a": v}
    return v


class ApiTest(unittest.TestCase):
    """A plane of its own per class, and raw HTTPS requests to it as the admin."""

    @classmethod
    def setUpClass(cls):
        cls.lp = LocalPlane(KRT).start()
        cls.ctx = ssl.create_default_context(cafile=cls.lp.ca_file())
        cls.token = cls.lp.token()

    @classmethod
    def tearDownClass(cls):
        cls.lp.cleanup()

    def request(self, method, path, body=None, content_type="application/json", raw=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.lp.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                self.fail("%s %s: %d with a body that is not JSON: %r" % (method, path, e.code, text[:200]))

    def cm_path(self, name=""):
        return "/api/v1/namespaces/%s/configmaps%s" % (NS, "/" + name if name else "")

    def create_cm(self, name, **fields):
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        obj.update(fields)
        return self.request("POST", self.cm_path(), obj)

    def assert_status(self, got, code, reason, *fragments):
        status, body = got
        self.assertEqual(status, code, body)
        self.assertEqual(body.get("kind"), "Status", body)
        self.assertEqual(body.get("reason"), reason, body)
        for f in fragments:
            self.assertIn(f, body.get("message", ""))

    def assert_serving(self):
        status, body = self.request("GET", "/api/v1/namespaces/" + NS)
        self.assertEqual(status, 200, body)


class HardeningTest(ApiTest):
    def test_a_json_patch_whose_copies_double_the_object_is_refused(self):
        # 40 copies of an array into itself: 2^40 times the array. The real
        # server stops copies at 3 MiB in total (JSONPatchMaxCopyBytes).
        code, _ = self.create_cm("bomb", x=["y" * 10] * 80)
        self.assertEqual(code, 201)
        bomb = [{"op": "copy", "from": "/x", "path": "/x/-"}] * 40
        for query in ("?dryRun=All", ""):
            self.assert_status(self.request("PATCH", self.cm_path("bomb") + query, bomb, "application/json-patch+json"),
                               422, "Invalid", "would add more than 3145728 bytes")
        self.assert_serving()
        code, obj = self.request("GET", self.cm_path("bomb"))
        self.assertEqual(code, 200)
        self.assertEqual(len(obj["x"]), 80)
        # A few copies within the budget still apply.
        code, obj = self.request("PATCH", self.cm_path("bomb"), bomb[:3], "application/json-patch+json")
        self.assertEqual(code, 200, obj)
        self.assertEqual(len(obj["x"]), 83)

    def test_a_json_patch_of_more_than_10000_operations_is_413(self):
        code, _ = self.create_cm("many-ops", data={"k": "v"})
        self.assertEqual(code, 201)
        ops = [{"op": "test", "path": "/data/k", "value": "v"}] * 10001
        self.assert_status(self.request("PATCH", self.cm_path("many-ops"), ops, "application/json-patch+json"),
                           413, "RequestEntityTooLarge", "maximum operations in a JSON patch is 10000, got 10001")
        code, _ = self.request("PATCH", self.cm_path("many-ops"), ops[:10000], "application/json-patch+json")
        self.assertEqual(code, 200)

    def test_deep_objects_are_accepted_to_256_levels_and_reload_after_a_restart(self):
        # 100 levels: legitimate (CRD schemas nest this deep), and once refused
        # by a 32-level parser limit.
        code, body = self.create_cm("deep", x=nested(100))
        self.assertEqual(code, 201, body)
        # Two patches that each stay within the limit must not build an object
        # beyond it: the second one would put 200 levels under 100.
        deep_path = "/x" + "/a" * 99
        self.assert_status(self.request("PATCH", self.cm_path("deep"),
                                        [{"op": "add", "path": deep_path + "/b", "value": nested(200)}],
                                        "application/json-patch+json"),
                           422, "Invalid", "deeper than 256 levels")
        # Nor by copying the object into itself, or moving it deeper.
        self.assert_status(self.request("PATCH", self.cm_path("deep"),
                                        [{"op": "add", "path": "/y", "value": nested(100)},
                                         {"op": "copy", "from": "/x", "path": "/y" + "/a" * 99 + "/c"},
                                         {"op": "copy", "from": "/y", "path": deep_path + "/c"}],
                                        "application/json-patch+json"),
                           422, "Invalid", "deeper than 256 levels")
        self.assert_status(self.request("PATCH", self.cm_path("deep"),
                                        [{"op": "add", "path": "/y", "value": nested(100)},
                                         {"op": "add", "path": "/z", "value": nested(100)},
                                         {"op": "move", "from": "/y", "path": "/z" + "/a" * 99 + "/m"},
                                         {"op": "move", "from": "/z", "path": deep_path + "/m"}],
                                        "application/json-patch+json"),
                           422, "Invalid", "deeper than 256 levels")
        # A merge patch nests no deeper than its body, which the parser bounds.
        self.assert_status(self.request("PATCH", self.cm_path("deep"), {"y": nested(300)},
                                        "application/merge-patch+json"),
                           400, "BadRequest")
        self.lp.stop()
        self.lp.start()
        code, obj = self.request("GET", self.cm_path("deep"))
        self.assertEqual(code, 200, obj)
        self.assertEqual(obj["x"], nested(100))
        self.assertNotIn("y", obj)

    def test_bodies_and_objects_larger_than_the_real_server_accepts_are_413(self):
        big = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"k":"' + \
            b"x" * (3 * 1024 * 1024) + b'"}}'
        self.assert_status(self.request("POST", self.cm_path(), raw=big), 413, "RequestEntityTooLarge",
                           "limit is 3145728")
        # A ConfigMap's own limit (1 MiB of data) is checked first, as on the
        # real server; a kind without one meets the storage limit (1.5 MiB).
        self.assert_status(self.create_cm("two-mb", data={"k": "x" * (2 * 1024 * 1024)}), 422,
                           "Invalid", "must have at most 1048576 bytes")
        roles = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles" % NS

        def role(name, verb_bytes):
            return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["v" * verb_bytes]}]}
        self.assert_status(self.request("POST", roles, role("two-mb", 2 * 1024 * 1024)), 413,
                           "RequestEntityTooLarge", "request is too large")
        code, _ = self.request("POST", roles, role("one-mb", 1024 * 1024))
        self.assertEqual(code, 201)
        grown = {"rules": role("x", 1024 * 1024)["rules"] + role("y", 1024 * 1024)["rules"]}
        self.assert_status(self.request("PATCH", roles + "/one-mb", grown, "application/merge-patch+json"),
                           413, "RequestEntityTooLarge", "request is too large")
        # Repeated updates of a large object are bounded too (each one is
        # checked), and the object can still be edited and deleted.
        code, _ = self.request("PATCH", roles + "/one-mb", {"rules": role("z", 10)["rules"]},
                               "application/merge-patch+json")
        self.assertEqual(code, 200)
        code, _ = self.request("DELETE", roles + "/one-mb")
        self.assertEqual(code, 200)
        self.assert_serving()


class LargeCollectionsTest(ApiTest):
    """Item 10: a watch from resourceVersion 0 and a list of a large
    collection are written a chunk at a time, so watches that do not read
    hold no copy of the collection; and the event history is bounded by
    bytes, so updates of large objects do not pile up superseded versions."""

    def rss_mib(self, field="VmRSS"):
        with open("/proc/%d/status" % self.lp.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return 0

    def raw_watch(self, path):
        """A TLS connection that asks for a watch and never reads."""
        import socket
        host, port = self.lp.url[len("https://"):].rsplit(":", 1)
        sock = self.ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
                      % (path, host, self.token)).encode())
        return sock

    def test_watches_that_do_not_read_hold_no_copy_of_the_collection(self):
        self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "big"}})
        value = "v" * (1000 * 1000)
        for i in range(40):
            code, body = self.request("POST", "/api/v1/namespaces/big/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm%02d" % i}, "data": {"k": value}})
            self.assertEqual(code, 201, body)
        before = self.rss_mib()
        # Fewer under a sanitizer, whose builds serialise slowly; the memory
        # bound is checked in the release build.
        sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
        socks = [self.raw_watch("/api/v1/namespaces/big/configmaps?watch=1&resourceVersion=0")
                 for _ in range(6 if sanitized else 20)]
        try:
            time.sleep(3)  # let the server serialise what it will
            self.assert_serving()
            grown = self.rss_mib() - before
            # Before: each watch held the 40 MB collection as one string.
            if not sanitized:
                self.assertLess(grown, 200, "20 watches of a 40 MB collection grew the server %.0f MiB" % grown)
        finally:
            for s in socks:
                s.close()
        # The chunked forms are complete and valid.
        code, body = self.request("GET", "/api/v1/namespaces/big/configmaps")
        self.assertEqual(code, 200)
        self.assertEqual(sorted(i["metadata"]["name"] for i in body["items"]), ["cm%02d" % i for i in range(40)])
        self.assertTrue(all(i["data"]["k"] == value for i in body["items"]))
        req = urllib.request.Request(self.lp.url + "/api/v1/namespaces/big/configmaps?watch=1&timeoutSeconds=2")
        req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
            events = [json.loads(line) for line in r if line.strip()]
        self.assertEqual([e["type"] for e in events], ["ADDED"] * 40)
        self.assertEqual(len({e["object"]["metadata"]["name"] for e in events}), 40)

    def test_history_is_bounded_by_bytes(self):
        code, body = self.create_cm("churn", data={"k": "0"})
        self.assertEqual(code, 201, body)
        first_rv = body["metadata"]["resourceVersion"]
        # 80 versions of a 1 MB object: 80 MB of history, over the 64 MiB
        # bound; the count bound (100,000 events) alone kept all of them.
        for i in range(80):
            code, body = self.request("PATCH", self.cm_path("churn"), {"data": {"k": ("%02d" % i) * 500000}},
                                      "application/merge-patch+json")
            self.assertEqual(code, 200, body)
        req = urllib.request.Request(self.lp.url + self.cm_path() + "?watch=1&timeoutSeconds=1&resourceVersion=" +
                                     first_rv)
        req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
            first = json.loads(r.readline())
        self.assertEqual(first["type"], "ERROR", first)
        self.assertEqual(first["object"]["code"], 410)
        self.assertEqual(first["object"]["reason"], "Expired")
        # A watch from the newest version still works.
        req = urllib.request.Request(self.lp.url + self.cm_path() + "?watch=1&timeoutSeconds=1&resourceVersion=" +
                                     body["metadata"]["resourceVersion"])
        req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
            self.assertEqual([json.loads(line)["type"] for line in r if line.strip()], [])


class RequestParametersTest(ApiTest):
    """Item 12: a resourceVersion the server has not reached and a malformed
    timeoutSeconds are errors, as on the real server, not silently served."""

    def test_a_future_resource_version_is_504_too_large(self):
        code, body = self.request("GET", self.cm_path())
        self.assertEqual(code, 200, body)
        future = str(int(body["metadata"]["resourceVersion"]) + 1000)
        for query in ("?resourceVersion=" + future, "?watch=1&resourceVersion=" + future):
            got = self.request("GET", self.cm_path() + query)
            self.assert_status(got, 504, "Timeout", "Too large resource version: " + future)
            self.assertEqual(got[1]["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")
        self.assert_status(self.request("GET", self.cm_path() + "?resourceVersion=abc"), 400, "BadRequest",
                           "invalid resourceVersion")

    def test_a_malformed_timeout_is_400(self):
        for value in ("abc", "-5", "1.5"):
            self.assert_status(self.request("GET", self.cm_path() + "?watch=1&timeoutSeconds=" + value), 400,
                               "BadRequest", "invalid timeoutSeconds")


class BuiltinContentsAreValidatedTest(ApiTest):
    """Item 12: ConfigMap and Secret contents are checked as the real server
    checks them: nested values do not decode (400), keys and sizes are
    validated (422)."""

    def secret_path(self, name=""):
        return "/api/v1/namespaces/%s/secrets%s" % (NS, "/" + name if name else "")

    def create_secret(self, name, **fields):
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
        obj.update(fields)
        return self.request("POST", self.secret_path(), obj)

    def test_wrong_types_are_400(self):
        self.assert_status(self.create_cm("nested", data={"k": {"x": 1}}), 400, "BadRequest", "data[k]")
        self.assert_status(self.create_cm("list", data=["a"]), 400, "BadRequest", "data must be a map")
        self.assert_status(self.create_cm("bin", binaryData={"k": "not base64!"}), 400, "BadRequest", "base64")
        self.assert_status(self.create_secret("s1", data={"k": "???"}), 400, "BadRequest", "base64")
        self.assert_status(self.create_secret("s2", stringData={"k": 5}), 400, "BadRequest", "stringData[k]")
        code, body = self.create_cm("fine", data={"k": "v"})
        self.assertEqual(code, 201, body)
        self.assert_status(self.request("PATCH", self.cm_path("fine"), {"data": {"k": {"deep": True}}},
                                        "application/merge-patch+json"), 400, "BadRequest", "data[k]")
        self.assertEqual(self.request("GET", self.cm_path("fine"))[1]["data"], {"k": "v"})

    def test_keys_duplicates_and_size_are_422(self):
        self.assert_status(self.create_cm("badkey", data={"a/b": "x"}), 422, "Invalid", "a valid config key")
        self.assert_status(self.create_cm("dup", data={"k": "x"}, binaryData={"k": "eA=="}), 422, "Invalid",
                           "Duplicate value")
        half = "x" * (600 * 1024)
        self.assert_status(self.create_cm("huge", data={"a": half, "b": half}), 422, "Invalid",
                           "must have at most 1048576 bytes")
        self.assert_status(self.create_secret("dotdot", stringData={"..": "x"}), 422, "Invalid", "'..'")
        code, body = self.create_secret("ok", data={"k": "eA=="}, stringData={"s": "y"})
        self.assertEqual(code, 201, body)
        self.assert_serving()


class ObjectMetaIsValidatedTest(ApiTest):
    """Malformed ObjectMeta is refused as the real server refuses it: wrong
    types with 400 (it cannot decode them), bad contents with 422. One such
    object used to stop every informer of its type in every namespace."""

    def test_wrong_types_are_400_on_create_and_patch(self):
        for name, meta in (("labels-number", {"labels": {"x": 5}}),
                           ("annotations-list", {"annotations": ["a"]}),
                           ("finalizers-string", {"finalizers": "nope"}),
                           ("owners-object", {"ownerReferences": {}}),
                           ("owner-uid-number", {"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                                                      "name": "o", "uid": 7}]}),
                           ("generation-string", {"generation": "1"})):
            meta = dict(meta, name=name)
            got = self.request("POST", self.cm_path(), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
            self.assert_status(got, 400, "BadRequest", "metadata.")
            code, _ = self.request("GET", self.cm_path(name))
            self.assertEqual(code, 404, name)
        code, _ = self.create_cm("meta-patch", metadata={"name": "meta-patch", "labels": {"ok": "yes"}})
        self.assertEqual(code, 201)
        self.assert_status(self.request("PATCH", self.cm_path("meta-patch"), {"metadata": {"labels": {"x": 5}}},
                                        "application/merge-patch+json"), 400, "BadRequest", "metadata.labels.x")
        self.assert_status(self.request("PATCH", self.cm_path("meta-patch"),
                                        [{"op": "replace", "path": "/metadata/labels", "value": [1]}],
                                        "application/json-patch+json"), 400, "BadRequest", "metadata.labels")
        code, obj = self.request("GET", self.cm_path("meta-patch"))
        self.assertEqual(obj["metadata"]["labels"], {"ok": "yes"})

    def test_bad_contents_are_422_with_the_field(self):
        cases = (({"labels": {"a b": "v"}}, "metadata.labels"),
                 ({"labels": {"k": "not valid!"}}, "metadata.labels.k"),
                 ({"annotations": {"big": "x" * (256 * 1024 + 1)}}, "metadata.annotations"),
                 ({"finalizers": ["not a name"]}, "metadata.finalizers"),
                 ({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o"}]},
                  "metadata.ownerReferences[0].uid"),
                 ({"ownerReferences": [{"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
                                       {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2",
                                        "controller": True}]}, "metadata.ownerReferences"))
        for i, (meta, field) in enumerate(cases):
            meta = dict(meta, name="bad-%d" % i)
            status, body = self.request("POST", self.cm_path(),
                                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
            self.assertEqual(status, 422, body)
            self.assertIn(field, [c.get("field") for c in body["details"]["causes"]], body)


class RbacEscalationTest(ApiTest):
    """A service account that may write Roles and RoleBindings cannot grant
    what it does not hold (Kubernetes' escalation prevention): with only the
    controller's kind of rights, a Role with */*/* in another namespace, or a
    binding of itself to a powerful ClusterRole, is a 403, and it cannot then
    read that namespace's Secrets. `escalate` and `bind` lift the check."""

    RBAC = "/apis/rbac.authorization.k8s.io/v1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls()  # for the helpers
        for ns in ("rbac-home", "rbac-victim"):
            t.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        t.request("POST", "/api/v1/namespaces/rbac-home/serviceaccounts",
                  {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "writer"}})
        t.request("POST", cls.RBAC + "/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "rbac-writer"},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                       "verbs": ["get", "create", "update", "patch"]},
                      {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
        t.request("POST", cls.RBAC + "/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "everything"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
        t.request("POST", cls.RBAC + "/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "rbac-writer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rbac-writer"},
            "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": "rbac-home"}]})
        code, body = t.request("POST", "/api/v1/namespaces/rbac-home/serviceaccounts/writer/token",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
        assert code == 201, body
        cls.sa_token = body["status"]["token"]

    def as_writer(self, method, path, body):
        admin, self.token = self.token, self.sa_token
        try:
            return self.request(method, path, body)
        finally:
            self.token = admin

    def role(self, name, rules):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
                "rules": rules}

    def binding(self, name, kind, role):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": "rbac-home"}]}

    def test_a_role_or_binding_beyond_what_the_writer_holds_is_403(self):
        roles = self.RBAC + "/namespaces/rbac-victim/roles"
        bindings = self.RBAC + "/namespaces/rbac-victim/rolebindings"
        self.assert_status(self.as_writer("POST", roles, self.role("all", [{"apiGroups": ["*"], "resources": ["*"],
                                                                            "verbs": ["*"]}])),
                           403, "Forbidden", "attempting to grant RBAC permissions not currently held",
                           '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}')
        self.assert_status(self.as_writer("POST", roles, self.role("secrets", [{"apiGroups": [""],
                                                                                "resources": ["secrets"],
                                                                                "verbs": ["get"]}])),
                           403, "Forbidden", '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
        self.assert_status(self.as_writer("POST", bindings, self.binding("me-everything", "ClusterRole",
                                                                          "everything")),
                           403, "Forbidden", "not currently held")
        code, _ = self.request("GET", "/api/v1/namespaces/rbac-victim/secrets")
        self.assertEqual(code, 200)
        admin, self.token = self.token, self.sa_token
        try:
            code, _ = self.request("GET", "/api/v1/namespaces/rbac-victim/secrets")
        finally:
            self.token = admin
        self.assertEqual(code, 403)
        # What it holds, it may grant, and bind.
        code, body = self.as_writer("POST", roles, self.role("cm", [{"apiGroups": [""], "resources": ["configmaps"],
                                                                     "verbs": ["get"]}]))
        self.assertEqual(code, 201, body)
        code, body = self.as_writer("POST", bindings, self.binding("me-cm", "Role", "cm"))
        self.assertEqual(code, 201, body)
        # Nor can an allowed Role be widened by an update.
        code, cm_role = self.request("GET", roles + "/cm")
        cm_role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]})
        self.assert_status(self.as_writer("PUT", roles + "/cm", cm_role), 403, "Forbidden", "secrets")

    def test_escalate_and_bind_lift_the_check(self):
        self.request("POST", self.RBAC + "/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "rbac-lifts"},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
                      {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"],
                       "resourceNames": ["everything"]}]})
        code, body = self.request("POST", self.RBAC + "/namespaces/rbac-home/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "lifts"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rbac-lifts"},
            "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": "rbac-home"}]})
        self.assertEqual(code, 201, body)
        code, body = self.as_writer("POST", self.RBAC + "/namespaces/rbac-home/roles",
                                    self.role("wide", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]))
        self.assertEqual(code, 201, body)
        code, body = self.as_writer("POST", self.RBAC + "/namespaces/rbac-home/rolebindings",
                                    self.binding("bound", "ClusterRole", "everything"))
        self.assertEqual(code, 201, body)
        # Only where they were granted: not in another namespace.
        self.assert_status(self.as_writer("POST", self.RBAC + "/namespaces/rbac-victim/rolebindings",
                                          self.binding("bound", "ClusterRole", "everything")),
                           403, "Forbidden", "not currently held")


class PodBoundTokenTest(ApiTest):
    """The token the node writes into a pod is bound to that pod (items 9 and
    11): with RBAC that allows patching every pod's status and every Run's
    status in the namespace, as runtimed's Role does, it may write only its
    own pod and the Runs assigned to it; nobody but the node changes a pod's
    podIP (pods/proxy connects there); and the token stops working when its
    pod is deleted."""

    NS = "bound"
    RUNS = "/apis/kruntimes.io/v1alpha1/namespaces/bound/runs"

    @classmethod
    def setUpClass(cls):
        crds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "k8s", "crds")
        cls.lp = LocalPlane(KRT, ["--apply", crds, "--image", "test/sleep=/bin/sleep"]).start()
        cls.ctx = ssl.create_default_context(cafile=cls.lp.ca_file())
        cls.token = cls.lp.token()
        t = cls()
        t.ok(t.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": cls.NS}}))
        t.ok(t.request("POST", "/api/v1/namespaces/bound/serviceaccounts",
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}}))
        t.ok(t.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/bound/roles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "runner"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "pods/status"], "verbs": ["get", "patch"]},
                      {"apiGroups": ["kruntimes.io"], "resources": ["runs", "runs/status"],
                       "verbs": ["get", "patch"]}]}))
        t.ok(t.request("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/bound/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "runner"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runner"},
            "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": cls.NS}]}))
        cls.pod_tokens = {}
        # p1-p3 are a Runtime's pods (runtimed's tokens); svc is not (a
        # service's, such as the scheduler, which assigns any Run).
        for name in ("p1", "p2", "p3", "svc"):
            labels = {} if name == "svc" else {"runtime": "rt"}
            code, body = t.request("POST", "/api/v1/namespaces/bound/pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": {"serviceAccountName": "runner",
                         "containers": [{"name": "main", "image": "test/sleep", "args": ["600"]}]}})
            assert code == 201, body
            cls.pod_tokens[name] = t.wait_token(body["metadata"]["uid"])
        for run, pod in (("mine", "p1"), ("theirs", "p2")):
            t.ok(t.request("POST", cls.RUNS, {
                "apiVersion": "kruntimes.io/v1alpha1", "kind": "Run", "metadata": {"name": run},
                "spec": {"runtime": "bash", "mode": {"task": {"args": ["true"]}}}}))
            t.ok(t.request("PATCH", cls.RUNS + "/" + run + "/status",
                           {"status": {"phase": "Scheduled", "assignedPod": pod}},
                           "application/merge-patch+json"))

    def ok(self, got):
        self.assertIn(got[0], (200, 201), got[1])
        return got[1]

    def wait_token(self, uid):
        path = os.path.join(self.lp.state_dir, "pods", uid, "serviceaccount", "token")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for root, _, files in os.walk(self.lp.state_dir):
                if root.endswith(os.path.join(uid, "serviceaccount")) and "token" in files:
                    path = os.path.join(root, "token")
                    with open(path) as f:
                        token = f.read().strip()
                    if token:
                        return token
            time.sleep(0.1)
        self.fail("no service account token for pod %s under %s" % (uid, self.lp.state_dir))

    def as_pod(self, pod, method, path, body, content_type="application/merge-patch+json"):
        admin, self.token = self.token, self.pod_tokens[pod]
        try:
            return self.request(method, path, body, content_type)
        finally:
            self.token = admin

    def condition(self, n):
        return {"status": {"conditions": [{"type": "example.com/Beat", "status": "True", "reason": "R%d" % n}]}}

    def test_a_pod_token_writes_its_own_pod_status_only(self):
        pods = "/api/v1/namespaces/bound/pods/"
        self.ok(self.as_pod("p1", "PATCH", pods + "p1/status", self.condition(1),
                            "application/strategic-merge-patch+json"))
        self.assert_status(self.as_pod("p1", "PATCH", pods + "p2/status", self.condition(2),
                                       "application/strategic-merge-patch+json"),
                           403, "Forbidden", 'bound to pod "bound/p1"', "only that pod")

    def test_only_the_node_changes_where_a_pod_is_reachable(self):
        pods = "/api/v1/namespaces/bound/pods/"
        before = self.ok(self.request("GET", pods + "p1"))["status"]["podIP"]
        for body in ({"status": {"podIP": "127.0.0.1"}}, {"status": {"podIPs": [{"ip": "127.0.0.1"}]}},
                     {"status": {"hostIP": "10.0.0.1"}}):
            self.assert_status(self.as_pod("p1", "PATCH", pods + "p1/status", body), 403, "Forbidden",
                               "is set by the node")
        self.assertEqual(self.ok(self.request("GET", pods + "p1"))["status"]["podIP"], before)

    def test_a_pod_token_writes_only_the_runs_assigned_to_its_pod(self):
        self.ok(self.as_pod("p1", "PATCH", self.RUNS + "/mine/status", {"status": {"phase": "Running"}}))
        self.ok(self.as_pod("p1", "PATCH", self.RUNS + "/mine", {"metadata": {"labels": {"seen": "yes"}}}))
        self.assert_status(self.as_pod("p1", "PATCH", self.RUNS + "/theirs/status",
                                       {"status": {"phase": "Failed"}}),
                           403, "Forbidden", "assigned to it", '"p2"')
        self.assert_status(self.as_pod("p1", "PATCH", self.RUNS + "/theirs", {"metadata": {"labels": {"x": "y"}}}),
                           403, "Forbidden", "assigned to it")
        self.assert_status(self.as_pod("p1", "PATCH", self.RUNS + "/mine/status",
                                       {"status": {"assignedPod": "p2"}}),
                           403, "Forbidden", "may not change status.assignedPod")
        theirs = self.ok(self.request("GET", self.RUNS + "/theirs"))
        self.assertEqual(theirs["status"]["phase"], "Scheduled")
        # A token bound to a pod that is not a Runtime's is held to RBAC only.
        self.ok(self.as_pod("svc", "PATCH", self.RUNS + "/theirs", {"metadata": {"labels": {"by": "svc"}}}))

    def test_the_token_dies_with_its_pod(self):
        path = "/api/v1/namespaces/bound/pods/p3"
        self.ok(self.as_pod("p3", "GET", path, None))
        self.ok(self.request("DELETE", path + "?gracePeriodSeconds=0"))
        deadline = time.monotonic() + 60
        while self.request("GET", path)[0] != 404:
            self.assertLess(time.monotonic(), deadline, "pod p3 was not deleted")
            time.sleep(0.1)
        code, body = self.as_pod("p3", "GET", "/api/v1/namespaces/bound/pods/p1", None)
        self.assertEqual(code, 401, body)


class SecretsComeFromTheKernelTest(unittest.TestCase):
    """The admin token, the token signing key, UIDs and generated names come
    from getrandom(2). Run with a getrandom that returns only zeros, they must
    be exactly what zeros map to: a value that is not came from elsewhere (a
    generator seeded with 32 bits was, and its seed could be recovered)."""

    def start(self, preload):
        env = dict(os.environ)
        if preload:
            env["LD_PRELOAD"] = FIXED_GETRANDOM
            # A sanitizer runtime must come first among the loaded libraries.
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            lp = LocalPlane(KRT).start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.addCleanup(lp.cleanup)
        return lp

    def create_named(self, lp):
        r = lp.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "g-", "namespace": "default"}}))
        return json.loads(r.stdout)["metadata"]

    def test_with_zeros_from_the_kernel_every_secret_is_the_zero_value(self):
        lp = self.start(preload=True)
        self.assertEqual(lp.token(), "b" * 48)
        with open(os.path.join(lp.state_dir, "pki", "token.key")) as f:
            self.assertEqual(f.read().strip(), "b" * 64)
        meta = self.create_named(lp)
        self.assertEqual(meta["uid"], "00000000-0000-4000-8000-000000000000")
        self.assertEqual(meta["name"], "g-bbbbb")

    def test_normally_two_planes_share_nothing(self):
        a, b = self.start(preload=False), self.start(preload=False)
        alphabet = set("bcdfghjklmnpqrstvwxz2456789")
        for lp in (a, b):
            self.assertEqual(len(lp.token()), 48)
            self.assertLessEqual(set(lp.token()), alphabet)
        self.assertNotEqual(a.token(), b.token())
        self.assertNotEqual(self.create_named(a)["uid"], self.create_named(b)["uid"])


if __name__ == "__main__":
    KRT = sys.argv.pop(1)
    FIXED_GETRANDOM = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
