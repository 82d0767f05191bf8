#!/usr/bin/env python3
"""The manifests in k8s/ and the images in docker/Dockerfile, checked with the
real `kubectl kustomize` (docs/installation.md, docs/security.md):

- crds and every overlay (k3s, ha, local) render and parse;
- RBAC has no wildcard; every control-plane Deployment has probes on named
  ports, requests and limits, and the restricted security context;
- Services and PodDisruptionBudgets select a Deployment's pods, ports exist,
  budgets let a drain proceed;
- ha runs two replicas of each service, spread over nodes;
- in the k3s render every image, including those the controller gets as
  flags, comes from the overlay's images list and follows it when it changes;
- every image has a Dockerfile target; the build stage uses install-deps.sh;
- overlays/local uses only `resources` (what `krt local up` understands), and
  the real local control plane accepts it.

Every checker returns a list of problems; MutationTest breaks copies of k8s/
in a temp dir and asserts each checker notices.

Usage: kustomize_test.py /path/to/repo [/path/to/krt] [unittest args...]
       kustomize_test.py /path/to/repo --rbac-table          (print the table)
       kustomize_test.py /path/to/repo --update-security-md  (rewrite it in docs/security.md)
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

REPO = None
KRT = None
COMPONENTS = ("scheduler", "controller", "reaper")
# Flags whose value is an image the controller writes into objects it creates.
IMAGE_FLAGS = ("--default-daemon-image", "--runtime-maintainer-image")
SYSTEM_NS = "kruntimes-system"

_render_cache = {}


def render(path):
    """`kubectl kustomize path` parsed into a list of objects (cached per path)."""
    path = os.path.abspath(path)
    if path not in _render_cache:
        r = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL, check=False)
        if r.returncode != 0:
            raise AssertionError("kubectl kustomize %s failed:\n%s" % (path, r.stderr))
        _render_cache[path] = [d for d in yaml.safe_load_all(r.stdout) if d]
    return copy.deepcopy(_render_cache[path])


def k8s(*parts):
    return os.path.join(REPO, "k8s", *parts)


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def name_of(d):
    return "%s %s/%s" % (d.get("kind"), d["metadata"].get("namespace", ""), d["metadata"]["name"])


def pod_spec(d):
    return d["spec"]["template"]["spec"]


def pod_labels(d):
    return d["spec"]["template"]["metadata"].get("labels", {})


def subset(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def expand(value, env):
    """Kubelet's $(VAR) expansion of args against literal env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def container_env(c):
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


# ------------------------------------------------------------------ checkers

def problems_rbac(docs):
    out = []
    for d in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
        for i, rule in enumerate(d.get("rules", [])):
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                if any("*" in str(v) for v in rule.get(field, [])):
                    out.append("%s rule %d: wildcard in %s" % (name_of(d), i, field))
            if not rule.get("verbs"):
                out.append("%s rule %d: no verbs" % (name_of(d), i))
    return out


def named_ports(c):
    return {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}


def problems_deployment(d):
    out = []
    spec = pod_spec(d)
    psc = spec.get("securityContext", {})
    for c in spec.get("containers", []):
        where = "%s container %s" % (name_of(d), c["name"])
        ports = named_ports(c)
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe)
            if not p:
                out.append("%s: no %s" % (where, probe))
                continue
            action = p.get("httpGet") or p.get("tcpSocket") or p.get("grpc")
            port = action.get("port") if action else None
            if not isinstance(port, str) or port not in ports:
                out.append("%s: %s port %r is not a named container port (%s)" % (where, probe, port, sorted(ports)))
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    out.append("%s: no resources.%s.%s" % (where, kind, r))
        sc = c.get("securityContext", {})
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            out.append("%s: runAsNonRoot is not true" % where)
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append("%s: readOnlyRootFilesystem is not true" % where)
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append("%s: allowPrivilegeEscalation is not false" % where)
        if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
            out.append("%s: capabilities must drop ALL and add none" % where)
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            out.append("%s: seccompProfile is not RuntimeDefault" % where)
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid in (None, 0):
            out.append("%s: runAsUser must be a non-zero uid (the images use 65532)" % where)
    return out


def problems_services(docs):
    out = []
    deps = of_kind(docs, "Deployment")
    for s in of_kind(docs, "Service"):
        ns = s["metadata"].get("namespace")
        sel = s["spec"].get("selector", {})
        matches = [d for d in deps if d["metadata"].get("namespace") == ns and subset(sel, pod_labels(d))]
        if not matches:
            out.append("%s: selector %s matches no Deployment's pods" % (name_of(s), sel))
            continue
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p.get("port"))
            for d in matches:
                ok = any((tp in named_ports(c)) if isinstance(tp, str)
                         else tp in named_ports(c).values() or any(q.get("containerPort") == tp for q in c.get("ports", []))
                         for c in pod_spec(d)["containers"])
                if not ok:
                    out.append("%s: targetPort %r is not a port of %s" % (name_of(s), tp, name_of(d)))
    return out


def allowed_disruptions(pdb, replicas):
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        v = spec["maxUnavailable"]
        return int(v) if not str(v).endswith("%") else int(replicas * int(str(v)[:-1]) / 100)
    v = spec.get("minAvailable", 0)
    need = int(v) if not str(v).endswith("%") else -(-replicas * int(str(v)[:-1]) // 100)
    return replicas - need


def problems_pdbs(docs):
    out = []
    deps = of_kind(docs, "Deployment")
    for b in of_kind(docs, "PodDisruptionBudget"):
        ns = b["metadata"].get("namespace")
        sel = b["spec"].get("selector", {}).get("matchLabels", {})
        matches = [d for d in deps if d["metadata"].get("namespace") == ns and subset(sel, pod_labels(d))]
        if len(matches) != 1:
            out.append("%s: selects %d Deployments (want exactly 1)" % (name_of(b), len(matches)))
            continue
        replicas = matches[0]["spec"].get("replicas", 1)
        if allowed_disruptions(b, replicas) < 1:
            out.append("%s: with %d replica(s) no eviction is ever allowed, so a node drain would hang"
                       % (name_of(b), replicas))
    for d in deps:
        if d["metadata"].get("namespace") == SYSTEM_NS and not any(
                subset(b["spec"].get("selector", {}).get("matchLabels", {}), pod_labels(d))
                for b in of_kind(docs, "PodDisruptionBudget")):
            out.append("%s: no PodDisruptionBudget" % name_of(d))
    return out


def problems_ha(docs, components):
    out = []
    deps = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    for c in components:
        d = deps.get("kruntimes-" + c)
        if d is None:
            out.append("ha: no Deployment kruntimes-%s" % c)
            continue
        if d["spec"].get("replicas") != 2:
            out.append("%s: replicas %r, want 2" % (name_of(d), d["spec"].get("replicas")))
        spec = pod_spec(d)
        own = pod_labels(d)
        spread = [t for t in spec.get("topologySpreadConstraints", [])
                  if t.get("topologyKey") == "kubernetes.io/hostname" and subset(t["labelSelector"]["matchLabels"], own)]
        if not spread:
            out.append("%s: no topologySpreadConstraint over kubernetes.io/hostname selecting its own pods" % name_of(d))
        anti = spec.get("affinity", {}).get("podAntiAffinity", {}).get(
            "preferredDuringSchedulingIgnoredDuringExecution", [])
        if not any(subset(a["podAffinityTerm"]["labelSelector"]["matchLabels"], own) for a in anti):
            out.append("%s: no preferred podAntiAffinity against its own pods" % name_of(d))
        if "--leader-elect=false" in spec["containers"][0].get("args", []):
            out.append("%s: two replicas need leader election" % name_of(d))
    for b in of_kind(docs, "PodDisruptionBudget"):
        if b["spec"].get("minAvailable") != 1 or "maxUnavailable" in b["spec"]:
            out.append("%s: ha wants minAvailable: 1 (got %s)" % (name_of(b), b["spec"]))
    return out


def images_list(kustomization_dir):
    with open(os.path.join(kustomization_dir, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    return {i["name"]: "%s:%s" % (i.get("newName", i["name"]), i["newTag"]) for i in k.get("images", [])}


def referenced_images(docs):
    """(where, image) for every image field and every image flag (after $(VAR) expansion)."""
    out = []

    def containers(obj, path):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("containers", "initContainers") and isinstance(v, list):
                    for c in v:
                        if isinstance(c, dict):
                            yield path + "/" + c.get("name", "?"), c
                else:
                    yield from containers(v, path + "/" + k)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                yield from containers(v, "%s[%d]" % (path, i))

    for d in docs:
        if d.get("kind") == "CustomResourceDefinition":
            continue
        for where, c in containers(d.get("spec", {}), name_of(d)):
            if "image" in c:
                out.append((where, c["image"]))
            env = container_env(c)
            for a in c.get("args", []) + c.get("command", []):
                for flag in IMAGE_FLAGS:
                    if a.startswith(flag + "="):
                        out.append((where + " " + flag, expand(a.split("=", 1)[1], env)))
    return out


def problems_images(docs, listed):
    out = []
    wanted = set(listed.values())
    refs = referenced_images(docs)
    for where, image in refs:
        if image not in wanted:
            out.append("%s: image %r is not one of the images list's %s" % (where, image, sorted(wanted)))
    for flag in IMAGE_FLAGS:
        if not any(w.endswith(" " + flag) for w, _ in refs):
            out.append("the controller gets no %s, so that image ignores the images list" % flag)
    used = {image for _, image in refs}
    for name, ref in sorted(listed.items()):
        if ref not in used:
            out.append("images list entry %s (%s) is used by nothing" % (name, ref))
    return out


def dockerfile_targets(path):
    with open(path) as f:
        text = f.read()
    stages = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", line, re.I)
        if m:
            current = m.group(2)
            stages[current] = {"from": m.group(1), "lines": []}
        elif current:
            stages[current]["lines"].append(line)
    return stages


def problems_dockerfile(path, image_names):
    out = []
    stages = dockerfile_targets(path)
    build = stages.get("build")
    if not build or not build["from"].startswith("debian:bookworm"):
        out.append("Dockerfile: no `FROM debian:bookworm AS build` stage")
    elif not any("scripts/install-deps.sh" in l and l.lstrip().startswith(("RUN", "&&")) for l in build["lines"]):
        out.append("Dockerfile: the build stage does not run scripts/install-deps.sh")
    for name in sorted(image_names):
        target = name.split("/")[-1]
        st = stages.get(target)
        if st is None:
            out.append("Dockerfile: image %s has no `FROM … AS %s` target" % (name, target))
            continue
        body = "\n".join(st["lines"])
        if not re.search(r"^USER 65532:65532$", body, re.M):
            out.append("Dockerfile target %s: no USER 65532:65532" % target)
        if not re.search(r"^ENTRYPOINT \[", body, re.M):
            out.append("Dockerfile target %s: no ENTRYPOINT" % target)
    return out


def problems_resources_only(kdir, seen=None):
    """The in-process applier (local/apiserver/manifests.cpp) reads only
    apiVersion, kind and resources, recursively."""
    seen = seen if seen is not None else set()
    kdir = os.path.normpath(kdir)
    if kdir in seen:
        return []
    seen.add(kdir)
    with open(os.path.join(kdir, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    out = ["%s/kustomization.yaml uses %r, which `krt local up` cannot apply" % (kdir, key)
           for key in k if key not in ("apiVersion", "kind", "resources")]
    for r in k.get("resources", []):
        p = os.path.join(kdir, r)
        if os.path.isdir(p):
            out += problems_resources_only(p, seen)
    return out


def declared_flags(component):
    """Long flags a service's cxxopts declarations name (its main.cpp and app code)."""
    src = os.path.join(REPO, "services", component)
    text = ""
    for fn in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        if fn.endswith(".cpp"):
            with open(os.path.join(src, fn)) as f:
                text += f.read()
    return set(re.findall(r'"(?:[a-z],)?([a-z][a-z0-9-]+)"', text))


def problems_flags(docs):
    out = []
    for d in of_kind(docs, "Deployment"):
        m = re.fullmatch(r"kruntimes-(%s)" % "|".join(COMPONENTS), d["metadata"]["name"])
        if not m:
            continue
        known = declared_flags(m.group(1))
        for c in pod_spec(d)["containers"]:
            for a in c.get("args", []):
                flag = a.split("=", 1)[0]
                if flag.startswith("--") and flag[2:] not in known:
                    out.append("%s: flag %s is not declared in services/%s" % (name_of(d), flag, m.group(1)))
    return out


def rbac_table(docs):
    """The markdown table of docs/security.md "RBAC of the control plane",
    derived from the rendered ClusterRoles/Roles and their bindings."""
    bindings = {}
    for b in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        key = (b["roleRef"]["kind"], b["metadata"].get("namespace", ""), b["roleRef"]["name"])
        for sub in b.get("subjects", []):
            bindings.setdefault(key, []).append("%s/%s" % (sub.get("namespace", ""), sub["name"]))
    rows = ["| service account | role | scope | API group | resources | verbs |", "|---|---|---|---|---|---|"]
    roles = sorted(of_kind(docs, "ClusterRole") + of_kind(docs, "Role"),
                   key=lambda d: (d["metadata"]["name"], d["kind"]))
    for d in roles:
        ns = d["metadata"].get("namespace", "")
        subjects = ", ".join(sorted(bindings.get((d["kind"], ns, d["metadata"]["name"]), []))) or "(unbound)"
        scope = "cluster" if d["kind"] == "ClusterRole" else "namespace " + ns
        for rule in d.get("rules", []):
            groups = ", ".join(g or "core" for g in rule.get("apiGroups", []))
            rows.append("| %s | %s | %s | %s | %s | %s |" % (
                subjects, d["metadata"]["name"], scope, groups, ", ".join(rule.get("resources", [])),
                ", ".join(rule.get("verbs", []))))
    return "\n".join(rows) + "\n"


def doc_rbac_table():
    with open(os.path.join(REPO, "docs", "security.md")) as f:
        text = f.read()
    m = re.search(r"<!-- rbac-table:begin[^>]*-->\n(.*?)<!-- rbac-table:end -->", text, re.S)
    return m.group(1) if m else None


# ------------------------------------------------------------------ tests

def base_has(component):
    return any(d["metadata"]["name"] == "kruntimes-" + component for d in of_kind(render(k8s("base")), "Deployment"))


class RenderTest(unittest.TestCase):
    def test_every_kustomization_renders_and_parses(self):
        for rel in ("crds", "base", "runtimes", "overlays/k3s", "overlays/ha", "overlays/local"):
            with self.subTest(rel):
                docs = render(k8s(*rel.split("/")))
                self.assertTrue(docs)
                for d in docs:
                    self.assertIn("apiVersion", d)
                    self.assertIn("kind", d)
                    self.assertTrue(d.get("metadata", {}).get("name"), d)

    def test_overlays_contain_crds_base_and_runtimes(self):
        for rel in ("k3s", "ha", "local"):
            kinds = {d["kind"] for d in render(k8s("overlays", rel))}
            for kind in ("CustomResourceDefinition", "Namespace", "Deployment", "Runtime", "Service",
                         "PodDisruptionBudget", "ClusterRole"):
                self.assertIn(kind, kinds, rel)

    def test_namespace_enforces_restricted_pod_security(self):
        ns = [d for d in of_kind(render(k8s("base")), "Namespace") if d["metadata"]["name"] == SYSTEM_NS]
        self.assertEqual(len(ns), 1)
        self.assertEqual(ns[0]["metadata"]["labels"].get("pod-security.kubernetes.io/enforce"), "restricted")


class PolicyTest(unittest.TestCase):
    def test_no_rbac_wildcards_anywhere(self):
        for rel in ("overlays/k3s", "overlays/ha", "overlays/local"):
            self.assertEqual(problems_rbac(render(k8s(*rel.split("/")))), [], rel)

    def test_base_deployments_are_probed_bounded_and_locked_down(self):
        deps = of_kind(render(k8s("base")), "Deployment")
        self.assertGreaterEqual(len(deps), 2)
        for d in deps:
            self.assertEqual(problems_deployment(d), [])

    def test_overlays_keep_the_security_settings(self):
        for rel in ("k3s", "ha"):
            for d in of_kind(render(k8s("overlays", rel)), "Deployment"):
                self.assertEqual(problems_deployment(d), [], rel)

    def test_services_select_deployments_and_ports_exist(self):
        for rel in ("base", "overlays/k3s", "overlays/ha"):
            docs = render(k8s(*rel.split("/")))
            self.assertTrue(of_kind(docs, "Service"))
            self.assertEqual(problems_services(docs), [], rel)

    def test_one_metrics_service_per_component(self):
        svcs = of_kind(render(k8s("base")), "Service")
        want = {"scheduler": 8080, "controller": 8082, "reaper": 8084}
        for comp, port in want.items():
            s = [x for x in svcs if x["spec"]["selector"].get("app.kubernetes.io/component") == comp]
            self.assertEqual(len(s), 1, comp)
            self.assertEqual([(p["name"], p["port"]) for p in s[0]["spec"]["ports"]], [("metrics", port)])

    def test_pdbs_select_one_deployment_and_allow_a_drain(self):
        for rel in ("base", "overlays/k3s", "overlays/ha"):
            self.assertEqual(problems_pdbs(render(k8s(*rel.split("/")))), [], rel)

    def test_flags_in_manifests_exist_in_the_binaries(self):
        for rel in ("base", "overlays/k3s", "overlays/ha"):
            self.assertEqual(problems_flags(render(k8s(*rel.split("/")))), [], rel)


class DocsTest(unittest.TestCase):
    def test_security_md_rbac_table_matches_the_manifests(self):
        want = rbac_table(render(k8s("overlays", "k3s")))
        got = doc_rbac_table()
        self.assertIsNotNone(got, "docs/security.md has no rbac-table markers")
        self.assertEqual(got, want, "docs/security.md is out of date; regenerate its table with: "
                         "test/k8s/kustomize_test.py . --update-security-md")


class HaTest(unittest.TestCase):
    def test_two_spread_replicas_per_service_and_min_available_budgets(self):
        comps = [c for c in COMPONENTS if base_has(c)]
        self.assertIn("scheduler", comps)
        self.assertIn("controller", comps)
        self.assertEqual(problems_ha(render(k8s("overlays", "ha")), comps), [])


class ImagesTest(unittest.TestCase):
    def test_k3s_images_come_from_the_images_list(self):
        listed = images_list(k8s("overlays", "k3s"))
        for name in ("kruntimes/%s" % n for n in ("scheduler", "controller", "reaper", "runtimed", "maintainer",
                                                  "bash-runtime", "python-runtime")):
            self.assertIn(name, listed)
        self.assertEqual(problems_images(render(k8s("overlays", "k3s")), listed), [])

    def test_tags_are_the_project_version(self):
        with open(os.path.join(REPO, "meson.build")) as f:
            version = re.search(r"version:\s*'([^']+)'", f.read()).group(1)
        for name, ref in images_list(k8s("overlays", "k3s")).items():
            self.assertEqual(ref.rsplit(":", 1)[1], version, name)

    def test_changing_the_list_moves_every_image_and_flag(self):
        with tempfile.TemporaryDirectory(prefix="k8s-images-") as tmp:
            shutil.copytree(k8s(), os.path.join(tmp, "k8s"))
            kfile = os.path.join(tmp, "k8s", "overlays", "k3s", "kustomization.yaml")
            with open(kfile) as f:
                k = yaml.safe_load(f)
            for i in k["images"]:
                i["newName"] = "registry.example.com/team/" + i["name"].split("/")[-1]
                i["newTag"] = "9.9.9"
            with open(kfile, "w") as f:
                yaml.safe_dump(k, f)
            listed = images_list(os.path.dirname(kfile))
            for ov in ("k3s", "ha"):
                docs = render(os.path.join(tmp, "k8s", "overlays", ov))
                self.assertEqual(problems_images(docs, listed), [], ov)
                for where, image in referenced_images(docs):
                    self.assertTrue(image.startswith("registry.example.com/team/") and image.endswith(":9.9.9"),
                                    "%s: %s" % (where, image))

    def test_every_image_has_a_dockerfile_target(self):
        names = set(images_list(k8s("overlays", "k3s")))
        for rel in ("overlays/k3s", "overlays/ha", "overlays/local"):
            for _, image in referenced_images(render(k8s(*rel.split("/")))):
                names.add(image.rsplit(":", 1)[0])
        names.add("kruntimes/krt")
        self.assertEqual(problems_dockerfile(os.path.join(REPO, "docker", "Dockerfile"), names), [])


class LocalOverlayTest(unittest.TestCase):
    def test_local_overlay_is_resources_only(self):
        self.assertEqual(problems_resources_only(k8s("overlays", "local")), [])

    def test_the_local_control_plane_applies_it(self):
        if not KRT:
            self.skipTest("no krt binary given")
        sys.path.insert(0, os.path.join(REPO, "test", "local"))
        from localplane import LocalPlane  # noqa: E402
        lp = LocalPlane(KRT, extra_args=["--no-node", "--apply", k8s("crds"), "--apply", k8s("overlays", "local")])
        try:
            lp.start()
            want = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
                    for d in render(k8s("overlays", "local")) if d["kind"] != "CustomResourceDefinition"}
            got = set()
            for kind in ("namespaces", "deployments", "services", "poddisruptionbudgets", "serviceaccounts",
                         "clusterroles", "clusterrolebindings", "roles", "rolebindings", "runtimes"):
                items = json.loads(lp.kubectl("get", kind, "-A", "-o", "json").stdout)["items"]
                got |= {(i["kind"], i["metadata"].get("namespace", ""), i["metadata"]["name"]) for i in items}
            # Runtimes without a namespace land in "default".
            want = {(k, ns or ("default" if k == "Runtime" else ""), n) for k, ns, n in want}
            self.assertEqual(want - got, set())
        finally:
            lp.cleanup()


class MutationTest(unittest.TestCase):
    """Each checker reports a new problem on a broken copy of k8s/ (so the
    checks above can fail). Problems the unbroken copy already has do not
    count, so a mutation that misses its target fails the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="k8s-mutate-")
        self.reset()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        _render_cache.clear()

    def reset(self):
        shutil.rmtree(self.path(), ignore_errors=True)
        shutil.copytree(k8s(), self.path())
        _render_cache.clear()

    def path(self, *parts):
        return os.path.join(self.tmp, "k8s", *parts)

    def edit(self, rel, old, new):
        p = self.path(*rel.split("/"))
        with open(p) as f:
            text = f.read()
        self.assertEqual(text.count(old), 1, "%s: %r must occur exactly once" % (rel, old))
        with open(p, "w") as f:
            f.write(text.replace(old, new))
        _render_cache.clear()

    def assertBreaks(self, check, rel, old, new, fresh=True):
        """check() gains a problem when `old` becomes `new` in k8s/<rel>
        (in a fresh copy unless fresh=False)."""
        if fresh:
            self.reset()
        before = set(check())
        self.edit(rel, old, new)
        after = set(check())
        self.assertTrue(after - before, "%s: %r -> %r went unnoticed" % (rel, old, new))

    def test_wildcard_verb(self):
        self.assertBreaks(lambda: problems_rbac(render(self.path("overlays", "k3s"))),
                          "base/scheduler.yaml", "resources: [runs]\n    verbs: [list, watch]",
                          "resources: [runs]\n    verbs: ['*']")

    def test_missing_probe_unnamed_port_and_writable_root(self):
        def check():
            return [p for d in of_kind(render(self.path("base")), "Deployment") for p in problems_deployment(d)]
        for old, new in (("readinessProbe:", "startupProbe:"),
                         ("readinessProbe:\n            httpGet: {path: /readyz, port: health}",
                          "readinessProbe:\n            httpGet: {path: /readyz, port: 8081}"),
                         ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
                         ("runAsNonRoot: true", "runAsNonRoot: false"),
                         ("limits: {cpu: '1', memory: 256Mi}", "limits: {cpu: '1'}"),
                         ("capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}"),
                         ("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
                         ("seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}")):
            with self.subTest(old):
                self.assertBreaks(check, "base/scheduler.yaml", old, new)

    def test_service_with_wrong_selector_or_port(self):
        check = lambda: problems_services(render(self.path("base")))  # noqa: E731
        self.assertBreaks(check, "base/services.yaml",
                          "selector: {app.kubernetes.io/name: kruntimes, app.kubernetes.io/component: scheduler}",
                          "selector: {app.kubernetes.io/name: kruntimes, app.kubernetes.io/component: schedulr}")
        self.assertBreaks(check, "base/services.yaml", "port: 8080, targetPort: metrics",
                          "port: 8080, targetPort: metricz")

    def test_pdb_that_blocks_drains_or_selects_nothing(self):
        check = lambda: problems_pdbs(render(self.path("base")))  # noqa: E731
        self.assertBreaks(check, "base/pdb.yaml", "name: kruntimes-scheduler\n  namespace: kruntimes-system\n"
                          "  labels: {app.kubernetes.io/name: kruntimes, app.kubernetes.io/component: scheduler}\n"
                          "spec:\n  maxUnavailable: 1",
                          "name: kruntimes-scheduler\n  namespace: kruntimes-system\n"
                          "  labels: {app.kubernetes.io/name: kruntimes, app.kubernetes.io/component: scheduler}\n"
                          "spec:\n  minAvailable: 1")
        self.assertBreaks(check, "base/pdb.yaml",
                          "matchLabels: {app.kubernetes.io/name: kruntimes, app.kubernetes.io/component: controller}",
                          "matchLabels: {app.kubernetes.io/name: kruntimes}")

    def test_ha_with_one_replica_or_no_spread(self):
        check = lambda: problems_ha(render(self.path("overlays", "ha")), ["scheduler", "controller"])  # noqa: E731
        self.assertBreaks(check, "overlays/ha/controller.yaml", "replicas: 2", "replicas: 1")
        self.assertBreaks(check, "overlays/ha/scheduler.yaml", "topologyKey: kubernetes.io/hostname\n          when",
                          "topologyKey: example.com/rack\n          when")
        self.assertBreaks(check, "overlays/ha/kustomization.yaml", "path: /spec/minAvailable\n        value: 1",
                          "path: /spec/minAvailable\n        value: 2")

    def test_image_outside_the_list_and_flag_left_behind(self):
        def check():
            return problems_images(render(self.path("overlays", "k3s")), images_list(self.path("overlays", "k3s")))
        self.assertBreaks(check, "runtimes/bash.yaml", "kruntimes/bash-runtime:0.1.0", "docker.io/library/bash:5")
        # Without the env indirection the runtimed flag would not follow the list.
        self.reset()
        self.edit("overlays/k3s/controller-flags.yaml", "$(KRUNTIMES_RUNTIMED_IMAGE)", "kruntimes/runtimed:0.1.0")
        self.assertBreaks(check, "overlays/k3s/kustomization.yaml",
                          "{name: kruntimes/runtimed, newName: kruntimes/runtimed,",
                          "{name: kruntimes/runtimed, newName: registry.example.com/runtimed,", fresh=False)

    def test_dockerfile_without_a_target_or_install_deps(self):
        df = os.path.join(self.tmp, "Dockerfile")
        with open(os.path.join(REPO, "docker", "Dockerfile")) as f:
            text = f.read()
        names = {"kruntimes/python-runtime", "kruntimes/scheduler"}
        self.assertEqual(problems_dockerfile(os.path.join(REPO, "docker", "Dockerfile"), names), [])
        for old, new in ((" AS python-runtime", " AS py"), ("/src/scripts/install-deps.sh --build \\", "true \\"),
                         ("FROM debian:bookworm AS build", "FROM ubuntu:24.04 AS build")):
            with self.subTest(old):
                self.assertEqual(text.count(old), 1, old)
                with open(df, "w") as f:
                    f.write(text.replace(old, new))
                self.assertTrue(problems_dockerfile(df, names))

    def test_local_overlay_with_a_transformer(self):
        self.assertEqual(problems_resources_only(self.path("overlays", "local")), [])
        with open(self.path("overlays", "local", "kustomization.yaml"), "a") as f:
            f.write("namePrefix: x-\n")
        self.assertTrue(problems_resources_only(self.path("overlays", "local")))
        self.reset()
        with open(self.path("base", "kustomization.yaml"), "a") as f:
            f.write("commonLabels: {a: b}\n")
        self.assertTrue(problems_resources_only(self.path("overlays", "local")))

    def test_undeclared_flag(self):
        self.assertBreaks(lambda: problems_flags(render(self.path("base"))), "base/scheduler.yaml",
                          "- --leader-elect=true", "- --leader-elekt=true")


def main():
    global REPO, KRT
    args = sys.argv[1:]
    if not args or not os.path.isdir(os.path.join(args[0], "k8s")):
        print("usage: kustomize_test.py /path/to/repo [/path/to/krt] [unittest args...]", file=sys.stderr)
        return 2
    REPO = os.path.abspath(args.pop(0))
    if args and os.path.isfile(args[0]) and os.access(args[0], os.X_OK):
        KRT = os.path.abspath(args.pop(0))
    KRT = KRT or os.environ.get("KRT_BIN")
    if args and args[0] == "--rbac-table":
        sys.stdout.write(rbac_table(render(k8s("overlays", "k3s"))))
        return 0
    if args and args[0] == "--update-security-md":
        path = os.path.join(REPO, "docs", "security.md")
        with open(path) as f:
            text = f.read()
        table = rbac_table(render(k8s("overlays", "k3s")))
        new, n = re.subn(r"(<!-- rbac-table:begin[^>]*-->\n)(.*?)(<!-- rbac-table:end -->)",
                         lambda m: m.group(1) + table + m.group(3), text, flags=re.S)
        if n != 1:
            print("docs/security.md has no rbac-table markers", file=sys.stderr)
            return 1
        with open(path, "w") as f:
            f.write(new)
        return 0
    if shutil.which("kubectl") is None:
        print("kubectl is not on PATH; it is needed for `kubectl kustomize`", file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0], *args], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
