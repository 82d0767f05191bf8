#!/usr/bin/env python3
"""The krt commands that talk to the API server, against a real local control
plane (`krt local serve` with the kruntimes CRDs applied). Runs get their
status from the test itself (kubectl patch --subresource=status), so no
scheduler or runtimed is needed; logs and artifacts come from a stand-in for
runtimed's HTTP port running as a real Pod (testdata/fake_runtimed.py).

Usage: krt_commands_test.py /path/to/krt /path/to/k8s/crds [unittest args...]
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "local"))
from localplane import LocalPlane  # noqa: E402

KRT = None
CRDS = None
LP = None
_ns_counter = [0]


def setUpModule():
    global LP
    LP = LocalPlane(KRT, extra_args=["--apply", CRDS]).start()


def tearDownModule():
    if LP:
        LP.cleanup()


def krt(*args, input=None, timeout=60, env=None):
    return subprocess.run([KRT, *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env=env or LP.env(), stdin=None if input is not None else subprocess.DEVNULL, check=False)


def kubectl(*args, input=None, check=True):
    r = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60, env=LP.env(),
                       check=False)
    if check and r.returncode != 0:
        raise AssertionError("kubectl %s failed: %s" % (" ".join(args), r.stderr))
    return r


def new_ns(prefix):
    _ns_counter[0] += 1
    name = "%s-%d-%d" % (prefix, os.getpid() % 10000, _ns_counter[0])
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    return name


def get_run(ns, name):
    return json.loads(kubectl("get", "run", name, "-n", ns, "-o", "json").stdout)


def patch_status(ns, name, status):
    kubectl("patch", "run", name, "-n", ns, "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": status}))


def create_run(ns, name, runtime="bash", args=("echo", "hi")):
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "kruntimes.io/v1alpha1", "kind": "Run",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"runtime": runtime, "mode": {"task": {"args": list(args)}}},
    }))


def wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


FINISHED = {
    "phase": "Succeeded", "assignedPod": "runtime-bash-0", "attempt": 1, "message": "execution completed",
    "startTime": "2026-01-02T03:04:05.100000Z", "completionTime": "2026-01-02T03:04:06.350000Z",
    "outputs": {"RESULT": "42", "GREETING": "hello world"},
    "artifactRefs": [{
        "name": "report.txt", "driver": "filesystem", "type": "file",
        "location": {"filesystem": {"path": "/artifacts/report.txt"}},
        "sizeBytes": 17, "digest": "sha256:" + "ab" * 32, "contentType": "text/plain",
    }],
    "conditions": [
        {"type": "Scheduled", "status": "True", "reason": "Assigned", "message": "assigned to runtime pod runtime-bash-0",
         "lastTransitionTime": "2026-01-02T03:04:05Z"},
        {"type": "Completed", "status": "True", "reason": "RunCompleted", "message": "Completed successfully",
         "lastTransitionTime": "2026-01-02T03:04:06Z"},
    ],
}


class RunCreateTest(unittest.TestCase):
    """krt run --detach: the object it creates, for every flag."""

    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("create")

    def test_defaults(self):
        r = krt("run", "-n", self.ns, "--detach", "--", "echo", "hello", "-n")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.fullmatch(r"Task (run-[a-z0-9]{8}) created\n", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        obj = get_run(self.ns, m.group(1))
        self.assertEqual(obj["spec"]["runtime"], "bash")
        # The bash server runs several args as script lines, so krt quotes the
        # words into one command line for the bash runtime.
        self.assertEqual(obj["spec"]["mode"], {"task": {"args": ["echo hello -n"]}})
        for absent in ("source", "env", "timeout", "retryPolicy", "cancelRequested"):
            self.assertNotIn(absent, obj["spec"])

    def test_bash_words_are_quoted_unless_raw_or_explicit_shell(self):
        cases = [
            (["echo", "it's", "a b", "$HOME"], ["echo 'it'\\''s' 'a b' '$HOME'"]),
            (["--raw-args", "--", "echo", "hello"], ["echo", "hello"]),
            (["bash", "-c", "echo x", "arg0"], ["bash", "-c", "echo x", "arg0"]),
            (["single word list"], ["single word list"]),
        ]
        for i, (words, want) in enumerate(cases):
            args = words if words[0] == "--raw-args" else ["--"] + words
            r = krt("run", "-n", self.ns, "--detach", "--name", "quote-%d" % i, *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(get_run(self.ns, "quote-%d" % i)["spec"]["mode"]["task"]["args"], want)
        # Other runtimes get the words as given.
        r = krt("run", "-n", self.ns, "--detach", "--name", "quote-py", "-r", "python", "--", "-c", "print(1)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(get_run(self.ns, "quote-py")["spec"]["mode"]["task"]["args"], ["-c", "print(1)"])

    def test_every_flag(self):
        r = krt("run", "-n", self.ns, "--detach", "--name", "all-flags", "-r", "python", "--env", "A=1",
                "--env", "EMPTY", "--env", "EQ=x=y", "--timeout", "90s", "--retry-attempts", "3",
                "--entrypoint", "bin/main.sh", "--repo-url", "https://example.com/r.git", "--commit-sha", "abc123",
                "--", "one", "two words")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Task all-flags created\n")
        spec = get_run(self.ns, "all-flags")["spec"]
        self.assertEqual(spec["runtime"], "python")
        self.assertEqual(spec["env"], [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""},
                                       {"name": "EQ", "value": "x=y"}])
        self.assertEqual(spec["timeout"], "90s")
        self.assertEqual(spec["retryPolicy"], {"maxAttempts": 3, "backoff": "1s"})
        self.assertEqual(spec["mode"], {"task": {"entrypoint": "bin/main.sh", "args": ["one", "two words"]}})
        self.assertEqual(spec["source"], {"repoURL": "https://example.com/r.git", "commitSHA": "abc123"})

    def test_retry_backoff_and_wait_flag(self):
        r = krt("run", "-n", self.ns, "--detach", "--name", "backoff", "--retry-attempts", "2",
                "--retry-backoff", "250ms", "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(get_run(self.ns, "backoff")["spec"]["retryPolicy"], {"maxAttempts": 2, "backoff": "250ms"})

    def test_file_becomes_inline_source(self):
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "script.sh")
            with open(path, "w") as f:
                f.write("echo from file\nexit 3\n")
            r = krt("run", "-n", self.ns, "--detach", "--name", "from-file", "-f", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            spec = get_run(self.ns, "from-file")["spec"]
            self.assertEqual(spec["source"], {"inline": "echo from file\nexit 3\n"})
            self.assertEqual(spec["mode"], {"task": {}})
            empty = os.path.join(d, "empty.sh")
            open(empty, "w").close()
            r = krt("run", "-n", self.ns, "--detach", "--name", "empty-file", "--file", empty)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("source", get_run(self.ns, "empty-file")["spec"])
            r = krt("run", "-n", self.ns, "--detach", "--name", "missing-file", "-f", os.path.join(d, "nope"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot read", r.stderr)
        finally:
            shutil.rmtree(d)

    def test_file_from_stdin(self):
        r = krt("run", "-n", self.ns, "--detach", "--name", "stdin", "-f", "-", input="print('hi')\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(get_run(self.ns, "stdin")["spec"]["source"], {"inline": "print('hi')\n"})

    def test_namespace_defaults_to_the_context(self):
        r = krt("run", "--detach", "--name", "in-default", "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(get_run("default", "in-default")["metadata"]["namespace"], "default")
        kubectl("delete", "run", "in-default", "-n", "default")

    def test_validation_errors(self):
        cases = [
            (["-f", "x.sh", "--repo-url", "https://e/r"], "-f/--file and --repo-url are mutually exclusive"),
            (["--entrypoint", "a", "--handler", "h"], "--entrypoint cannot be used with --handler"),
            (["--handler", "h", "--", "echo"], "command args cannot be used with --handler"),
            (["--entrypoint", "a", "-f", "x.sh"], "--entrypoint cannot be used with --file because"),
            (["-f", "x.sh", "--", "echo"], "command args cannot be used with --file because"),
            (["--commit-sha", "abc", "--", "echo"], "--commit-sha requires --repo-url"),
            (["--timeout", "soon", "--", "echo"], 'invalid --timeout "soon"'),
            (["--retry-attempts", "0", "--", "echo"], "--retry-attempts must be between 1 and 100"),
            (["--retry-attempts", "101", "--", "echo"], "--retry-attempts must be between 1 and 100"),
            (["--retry-backoff", "1s", "--", "echo"], "--retry-backoff needs --retry-attempts"),
            (["--retry-attempts", "2", "--retry-backoff", "x", "--", "echo"], 'invalid --retry-backoff "x"'),
            (["--env", "=v", "--", "echo"], "--env wants KEY=VALUE"),
            (["--wait", "--detach", "--", "echo"], "mutually exclusive"),
            ([], "nothing to run"),
            (["--bogus", "--", "echo"], "bogus"),
            (["--name", "Bad_Name", "--", "echo"], 'Run "Bad_Name" is invalid: metadata.name'),
            (["-r", "-bad-", "--", "echo"], "invalid run: spec.runtime"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                r = krt("run", "-n", self.ns, "--detach", *args)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertTrue(r.stderr.startswith("Error: "), r.stderr)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_duplicate_name_is_an_api_error(self):
        self.assertEqual(krt("run", "-n", self.ns, "--detach", "--name", "dup", "--", "true").returncode, 0)
        r = krt("run", "-n", self.ns, "--detach", "--name", "dup", "--", "true")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, 'Error: runs.kruntimes.io "dup" already exists\n')


class ReadCommandsTest(unittest.TestCase):
    """get, list, describe, outputs, artifact list on Runs whose status the test wrote."""

    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("read")
        create_run(cls.ns, "done", args=("echo", "a b"))
        patch_status(cls.ns, "done", FINISHED)
        create_run(cls.ns, "waiting", runtime="python")
        kubectl("create", "-n", cls.ns, "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "done.1", "namespace": cls.ns},
            "involvedObject": {"apiVersion": "kruntimes.io/v1alpha1", "kind": "Run", "name": "done",
                               "namespace": cls.ns, "uid": get_run(cls.ns, "done")["metadata"]["uid"]},
            "type": "Normal", "reason": "Retrying", "message": "retrying after PodGone",
            "source": {"component": "kruntimes-runtimed"}, "count": 1,
            "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:05Z",
        }))

    def test_get_text(self):
        r = krt("get", "done", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        fields = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(":")
            fields[k] = v.strip()
        keys = [line.partition(":")[0] for line in r.stdout.splitlines()]
        self.assertEqual(keys[:7], ["Name", "Namespace", "Runtime", "Phase", "Assigned Pod", "Message", "Args"])
        self.assertEqual(fields["Name"], "done")
        self.assertEqual(fields["Phase"], "Succeeded")
        self.assertEqual(fields["Assigned Pod"], "runtime-bash-0")
        self.assertEqual(fields["Message"], "execution completed")
        self.assertEqual(fields["Args"], "[echo a b]")
        self.assertRegex(r.stdout, r"(?m)^Start Time:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertRegex(r.stdout, r"(?m)^Completion Time:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        pending = krt("get", "waiting", "-n", self.ns).stdout
        self.assertRegex(pending, r"(?m)^Phase:\s+Pending$")
        self.assertNotIn("Start Time", pending)

    def test_get_json_and_yaml_are_the_object(self):
        want = get_run(self.ns, "done")
        r = krt("get", "done", "-n", self.ns, "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith('{\n  "'), r.stdout[:40])
        self.assertEqual(json.loads(r.stdout), want)
        y = krt("get", "done", "-n", self.ns, "-o", "yaml")
        self.assertEqual(y.returncode, 0, y.stderr)
        self.assertEqual(yaml.safe_load(y.stdout), want)

    def test_unsupported_output(self):
        for cmd in (["get", "done"], ["list"], ["outputs", "done"], ["runtime", "list"]):
            with self.subTest(cmd=cmd):
                r = krt(*cmd, "-n", self.ns, "-o", "xml")
                self.assertEqual(r.returncode, 1)
                self.assertIn('unsupported output format "xml"', r.stderr)
                self.assertTrue(r.stderr.startswith("Error: "))
        self.assertIn('unsupported output format "wide"', krt("get", "done", "-n", self.ns, "-o", "wide").stderr)

    def test_list_table(self):
        r = krt("list", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "NAMESPACE", "RUNTIME", "PHASE", "ASSIGNED", "POD", "AGE"])
        rows = {l.split()[0]: l.split() for l in lines[1:]}
        self.assertEqual(rows["done"][1:5], [self.ns, "bash", "Succeeded", "runtime-bash-0"])
        self.assertEqual(rows["waiting"][1:5], [self.ns, "python", "Pending", "-"])
        self.assertRegex(rows["waiting"][5], r"^\d+(s|m\d*s?)$")
        # Columns line up: every cell starts where its header does.
        at = lines[0].index("PHASE")
        for l in lines[1:]:
            self.assertIn(l[at:].split()[0], ("Succeeded", "Pending"))

    def test_list_filters(self):
        out = krt("list", "-n", self.ns, "--runtime", "python").stdout
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ["waiting"])
        out = krt("list", "-n", self.ns, "--phase", "succeeded").stdout
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ["done"])
        out = krt("list", "-n", self.ns, "--phase", "Pending").stdout
        self.assertEqual([l.split()[0] for l in out.splitlines()[1:]], ["waiting"])
        r = krt("list", "-n", self.ns, "--phase", "Failed")
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        self.assertIn("No runs found", r.stderr)
        r = krt("list", "-n", self.ns, "--phase", "Sleeping")
        self.assertEqual(r.returncode, 1)
        self.assertIn('unknown phase "Sleeping"', r.stderr)

    def test_list_all_namespaces(self):
        other = new_ns("read-other")
        create_run(other, "elsewhere")
        out = krt("list", "-A").stdout
        pairs = {(l.split()[1], l.split()[0]) for l in out.splitlines()[1:]}
        self.assertIn((other, "elsewhere"), pairs)
        self.assertIn((self.ns, "done"), pairs)
        self.assertNotIn("elsewhere", krt("list", "-n", self.ns).stdout)

    def test_list_wide_and_json(self):
        r = krt("list", "-n", self.ns, "-o", "wide")
        self.assertEqual(r.returncode, 0, r.stderr)
        header = r.stdout.splitlines()[0]
        self.assertEqual(header.split()[-4:], ["ATTEMPT", "START", "DURATION", "MESSAGE"])
        done = [l for l in r.stdout.splitlines() if l.startswith("done ")][0]
        self.assertIn("1.25s", done)
        self.assertTrue(done.endswith("execution completed"), done)
        doc = json.loads(krt("list", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(doc["kind"], "RunList")
        self.assertEqual(sorted(i["metadata"]["name"] for i in doc["items"]), ["done", "waiting"])
        self.assertEqual(yaml.safe_load(krt("list", "-n", self.ns, "-o", "yaml").stdout)["items"], doc["items"])

    def test_describe(self):
        r = krt("describe", "done", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        for section in ("Spec:", "Status:", "Conditions:", "Outputs:", "Artifacts:", "Events:"):
            self.assertRegex(out, r"(?m)^" + section)
        self.assertRegex(out, r"(?m)^  Phase:\s+Succeeded$")
        self.assertRegex(out, r"(?m)^  Duration:\s+1\.25s$")
        self.assertRegex(out, r"(?m)^  Completed\s+True\s+RunCompleted\s+")
        self.assertIn("  GREETING=hello world\n", out)
        self.assertRegex(out, r"(?m)^  report\.txt\s+file\s+17\s+text/plain\s+sha256:")
        self.assertRegex(out, r"(?m)^  Normal\s+Retrying\s+\S+\s+kruntimes-runtimed\s+retrying after PodGone$")
        quiet = krt("describe", "waiting", "-n", self.ns).stdout
        self.assertIn("Events:  <none>", quiet)

    def test_outputs(self):
        r = krt("outputs", "done", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "GREETING=hello world\nRESULT=42\n")
        self.assertEqual(json.loads(krt("outputs", "done", "-n", self.ns, "-o", "json").stdout),
                         FINISHED["outputs"])
        self.assertEqual(krt("outputs", "waiting", "-n", self.ns).stdout, "")

    def test_artifact_list(self):
        r = krt("artifact", "list", "done", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "TYPE", "SIZE", "CONTENT-TYPE", "DIGEST"])
        self.assertEqual(lines[1].split(), ["report.txt", "file", "17", "text/plain", "sha256:" + "ab" * 32])
        self.assertEqual(json.loads(krt("artifact", "list", "done", "-n", self.ns, "-o", "json").stdout),
                         FINISHED["artifactRefs"])
        r = krt("artifact", "list", "waiting", "-n", self.ns)
        self.assertEqual((r.returncode, r.stdout), (0, ""))
        self.assertIn("no artifacts", r.stderr)


class ChangeCommandsTest(unittest.TestCase):
    """cancel, delete, wait and watch."""

    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("change")

    def test_cancel(self):
        create_run(self.ns, "to-cancel")
        r = krt("cancel", "to-cancel", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Cancellation requested for run to-cancel\n")
        self.assertIs(get_run(self.ns, "to-cancel")["spec"]["cancelRequested"], True)
        # Again: still true, still fine.
        self.assertEqual(krt("cancel", "to-cancel", "-n", self.ns).returncode, 0)
        r = krt("cancel", "nope", "-n", self.ns)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, 'Error: runs.kruntimes.io "nope" not found\n')

    def test_delete(self):
        create_run(self.ns, "del-a")
        create_run(self.ns, "del-b")
        r = krt("delete", "del-a", "del-b", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'run.kruntimes.io "del-a" deleted\nrun.kruntimes.io "del-b" deleted\n')
        self.assertNotIn("del-a", kubectl("get", "runs", "-n", self.ns).stdout)
        r = krt("delete", "del-a", "-n", self.ns)
        self.assertEqual(r.returncode, 1)
        self.assertIn('runs.kruntimes.io "del-a" not found', r.stderr)
        self.assertEqual(krt("delete", "del-a", "-n", self.ns, "--ignore-not-found").returncode, 0)
        self.assertEqual(krt("delete", "-n", self.ns).returncode, 1)

    def test_delete_all(self):
        ns = new_ns("delall")
        create_run(ns, "x1")
        create_run(ns, "x2")
        r = krt("delete", "--all", "-n", ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2)
        self.assertEqual(json.loads(kubectl("get", "runs", "-n", ns, "-o", "json").stdout)["items"], [])

    def test_wait_succeeds_when_the_phase_arrives(self):
        create_run(self.ns, "w-ok")
        p = subprocess.Popen([KRT, "wait", "w-ok", "-n", self.ns, "--for=phase=Succeeded", "--timeout", "60s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=LP.env())
        try:
            patch_status(self.ns, "w-ok", {"phase": "Running", "assignedPod": "p"})
            patch_status(self.ns, "w-ok", {"phase": "Succeeded"})
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out, "run.kruntimes.io/w-ok condition met\n")
        # Already there: returns at once.
        self.assertEqual(krt("wait", "w-ok", "-n", self.ns, "--for=phase=Succeeded").returncode, 0)

    def test_wait_for_a_condition(self):
        create_run(self.ns, "w-cond")
        patch_status(self.ns, "w-cond", {"phase": "Succeeded", "conditions": FINISHED["conditions"]})
        r = krt("wait", "w-cond", "-n", self.ns, "--for=condition=Completed")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = krt("wait", "w-cond", "-n", self.ns, "--for=condition=Completed=False")
        self.assertEqual(r.returncode, 1)

    def test_wait_times_out(self):
        create_run(self.ns, "w-slow")
        r = krt("wait", "w-slow", "-n", self.ns, "--for=phase=Succeeded", "--timeout", "1s")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "Error: timed out waiting for run w-slow to reach phase Succeeded (it is Pending)\n")

    def test_wait_fails_on_another_terminal_phase(self):
        create_run(self.ns, "w-bad")
        p = subprocess.Popen([KRT, "wait", "w-bad", "-n", self.ns, "--for=phase=Succeeded"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=LP.env())
        try:
            patch_status(self.ns, "w-bad", {"phase": "Failed", "message": "bash exited with code 2"})
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 1)
        self.assertIn("run w-bad finished in phase Failed, not phase Succeeded: bash exited with code 2", err)

    def test_wait_usage(self):
        for flag, msg in (("--for=phase=Done", "unknown phase"), ("--for=ready", "--for must be"),
                          ("--timeout=soon", "invalid --timeout")):
            r = krt("wait", "x", "-n", self.ns, flag)
            self.assertEqual(r.returncode, 1)
            self.assertIn(msg, r.stderr)
        self.assertIn('runs.kruntimes.io "nope" not found', krt("wait", "nope", "-n", self.ns).stderr)

    def test_watch_one_run_prints_changes_and_ends(self):
        create_run(self.ns, "watched")
        p = subprocess.Popen([KRT, "watch", "watched", "-n", self.ns], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=LP.env())
        try:
            header = p.stdout.readline()
            first = p.stdout.readline()
            patch_status(self.ns, "watched", {"phase": "Scheduled", "assignedPod": "pod-1"})
            second = p.stdout.readline()
            patch_status(self.ns, "watched", {"phase": "Running"})
            third = p.stdout.readline()
            patch_status(self.ns, "watched", {"phase": "Succeeded", "message": "execution completed"})
            rest, err = p.communicate(timeout=60)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(header.split()[:3], ["EVENT", "NAME", "RUNTIME"])
        self.assertEqual(first.split()[:4], ["ADDED", "watched", "bash", "Pending"])
        self.assertEqual(second.split()[:5], ["MODIFIED", "watched", "bash", "Scheduled", "pod-1"])
        self.assertEqual(third.split()[:5], ["MODIFIED", "watched", "bash", "Running", "pod-1"])
        self.assertEqual(rest.split("\n")[0].split()[:4], ["MODIFIED", "watched", "bash", "Succeeded"])
        self.assertTrue(rest.rstrip("\n").endswith("execution completed"), rest)

    def test_watch_namespace_sees_new_runs(self):
        ns = new_ns("watchall")
        p = subprocess.Popen([KRT, "watch", "-n", ns], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=LP.env())
        try:
            self.assertIn("EVENT", p.stdout.readline())
            create_run(ns, "newcomer")
            line = p.stdout.readline()
            kubectl("delete", "run", "newcomer", "-n", ns)
            gone = p.stdout.readline()
        finally:
            p.kill()
            p.communicate()
        self.assertEqual(line.split()[:2], ["ADDED", "newcomer"])
        self.assertEqual(gone.split()[:2], ["DELETED", "newcomer"])


FAKE_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: %(name)s
  namespace: %(ns)s
  labels: {runtime: bash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: runtimed
    image: host
    command: ["/usr/bin/python3", "%(script)s"]
    ports:
    - {containerPort: 9094}
    env:
    - {name: GONE_FILE, value: "%(gone)s"}
    - {name: REQUESTS_FILE, value: "%(requests)s"}
    - {name: FLAKY_FILE, value: "%(flaky)s"}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      tcpSocket: {port: 9094}
      periodSeconds: 1
"""


class OutputThroughTheApiServerTest(unittest.TestCase):
    """logs, artifact download and krt run's streaming, through pods/proxy to
    a runtimed stand-in, and the fallback to its container log."""

    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("io")
        cls.dir = tempfile.mkdtemp(prefix="krt-io-")
        cls.gone = os.path.join(cls.dir, "gone")
        cls.requests = os.path.join(cls.dir, "requests")
        cls.flaky = os.path.join(cls.dir, "flaky")
        open(cls.gone, "w").close()
        kubectl("apply", "-f", "-", input=FAKE_POD % {
            "name": "runtime-bash-0", "ns": cls.ns, "script": os.path.join(HERE, "testdata", "fake_runtimed.py"),
            "gone": cls.gone, "requests": cls.requests, "flaky": cls.flaky})
        kubectl("wait", "--for=condition=Ready", "pod/runtime-bash-0", "-n", cls.ns, "--timeout=60s")

    @classmethod
    def tearDownClass(cls):
        kubectl("delete", "pod", "runtime-bash-0", "-n", cls.ns, "--timeout=30s", check=False)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def assigned_run(self, name, phase="Running"):
        create_run(self.ns, name)
        patch_status(self.ns, name, {"phase": phase, "assignedPod": "runtime-bash-0"})
        return get_run(self.ns, name)["metadata"]["uid"]

    def seen(self):
        if not os.path.exists(self.requests):
            return ""
        with open(self.requests) as f:
            return f.read()

    def mark_gone(self, uid):
        with open(self.gone, "a") as f:
            f.write(uid + "\n")
        wait_for("the fallback log lines", lambda: uid in kubectl(
            "logs", "runtime-bash-0", "-n", self.ns, "-c", "runtimed").stdout)

    def test_logs_not_assigned(self):
        create_run(self.ns, "unassigned")
        r = krt("logs", "unassigned", "-n", self.ns)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "Error: run unassigned not yet assigned\n")
        self.assertIn('runs.kruntimes.io "nope" not found', krt("logs", "nope", "-n", self.ns).stderr)

    def test_logs_through_the_proxy(self):
        uid = self.assigned_run("logged")
        r = krt("logs", "logged", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "out 1 %s\nout 2 %s\n" % (uid, uid))
        self.assertEqual(r.stderr, "err 1 %s\n" % uid)
        r = krt("logs", "logged", "-n", self.ns, "--tail", "1")
        self.assertEqual(r.stdout, "out 2 %s\n" % uid)
        r = krt("logs", "logged", "-n", self.ns, "-f")
        self.assertEqual((r.returncode, r.stdout), (0, "out 1 %s\nout 2 %s\n" % (uid, uid)))
        with open(self.requests) as f:
            seen = f.read()
        self.assertIn("/runs/%s/log?stream=stdout&tail=1" % uid, seen)
        self.assertIn("/runs/%s/log?stream=stderr&follow=true" % uid, seen)

    def test_logs_follow_resumes_after_a_failed_stream(self):
        uid = self.assigned_run("flaky")
        with open(self.flaky, "a") as f:
            f.write(uid + "\n")
        r = krt("logs", "flaky", "-n", self.ns, "-f")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "out 1 %s\nout 2 %s\n" % (uid, uid))
        self.assertEqual(r.stderr, "err 1 %s\n" % uid)
        self.assertEqual(self.seen().count("/runs/%s/log?stream=stdout&follow=true" % uid), 2)

    def test_logs_fall_back_to_the_runtimed_container_log(self):
        uid = self.assigned_run("forgotten", phase="Succeeded")
        self.mark_gone(uid)
        r = krt("logs", "forgotten", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "fallback out %s\n" % uid)
        self.assertEqual(r.stderr, "fallback err %s\n" % uid)

    def test_run_streams_output_and_exits_with_the_runs_code(self):
        p = subprocess.Popen([KRT, "run", "-n", self.ns, "--name", "streamed", "--", "echo", "hi"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=LP.env())
        try:
            wait_for("the Run", lambda: kubectl("get", "run", "streamed", "-n", self.ns, check=False).returncode == 0)
            patch_status(self.ns, "streamed", {"phase": "Scheduled", "assignedPod": "runtime-bash-0"})
            patch_status(self.ns, "streamed", {"phase": "Running"})
            uid = get_run(self.ns, "streamed")["metadata"]["uid"]
            wait_for("the log request", lambda: ("/runs/%s/log?stream=stdout&follow=true" % uid) in self.seen())
            patch_status(self.ns, "streamed", {"phase": "Succeeded", "message": "execution completed"})
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(out, "out 1 %s\nout 2 %s\n" % (uid, uid))
        self.assertEqual(err, "Task streamed created\nPending...\nScheduled to runtime-bash-0...\n"
                              "Running on runtime-bash-0...\nerr 1 %s\n" % uid)

    def test_run_falls_back_and_takes_the_exit_code_from_the_log(self):
        p = subprocess.Popen([KRT, "run", "-n", self.ns, "--name", "lost", "--", "false"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=LP.env())
        try:
            wait_for("the Run", lambda: kubectl("get", "run", "lost", "-n", self.ns, check=False).returncode == 0)
            uid = get_run(self.ns, "lost")["metadata"]["uid"]
            self.mark_gone(uid)
            patch_status(self.ns, "lost", {"phase": "Scheduled", "assignedPod": "runtime-bash-0"})
            patch_status(self.ns, "lost", {"phase": "Failed", "message": "RuntimeExecute: non-zero exit"})
            out, err = p.communicate(timeout=60)
        finally:
            p.kill()
        self.assertEqual(p.returncode, 4, err)
        self.assertEqual(out, "fallback out %s\n" % uid)
        self.assertIn("fallback err %s\n" % uid, err)
        self.assertTrue(err.endswith("RuntimeExecute: non-zero exit\nError: run failed\n"), err)

    def test_artifact_download_verifies_size_and_digest(self):
        uid = self.assigned_run("with-artifacts", phase="Running")
        body = ("artifact report.txt of %s\n" % uid).encode()
        good = {"name": "report.txt", "driver": "filesystem", "type": "file",
                "location": {"filesystem": {"path": "/a/report.txt"}}, "sizeBytes": len(body),
                "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "contentType": "text/plain"}
        bad = dict(good, name="bad.txt", sizeBytes=len(("artifact bad.txt of %s\n" % uid).encode()),
                   digest="sha256:" + "0" * 64)
        short = dict(good, name="short.txt", sizeBytes=3)
        patch_status(self.ns, "with-artifacts", {"phase": "Succeeded", "artifactRefs": [good, bad, short]})
        d = tempfile.mkdtemp()
        try:
            dest = os.path.join(d, "got.txt")
            r = krt("artifact", "download", "with-artifacts", "report.txt", "-n", self.ns, "-o", dest)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Downloaded report.txt (file, %d bytes) to %s\n" % (len(body), dest))
            with open(dest, "rb") as f:
                self.assertEqual(f.read(), body)
            # A directory as -o: the artifact's name inside it.
            r = krt("artifact", "download", "with-artifacts", "report.txt", "-n", self.ns, "-o", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.exists(os.path.join(d, "report.txt")))
            r = krt("artifact", "download", "with-artifacts", "bad.txt", "-n", self.ns, "-o", os.path.join(d, "b"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("has digest sha256:" + hashlib.sha256(("artifact bad.txt of %s\n" % uid).encode())
                          .hexdigest() + ", but the Run recorded sha256:" + "0" * 64, r.stderr)
            r = krt("artifact", "download", "with-artifacts", "short.txt", "-n", self.ns, "-o", os.path.join(d, "s"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("but the Run recorded 3", r.stderr)
            r = krt("artifact", "download", "with-artifacts", "missing", "-n", self.ns)
            self.assertEqual(r.returncode, 1)
            self.assertIn('run with-artifacts has no artifact "missing" (it has: report.txt, bad.txt, short.txt)',
                          r.stderr)
            self.assertEqual(sorted(os.listdir(d)), ["got.txt", "report.txt"])  # no partial files left
        finally:
            shutil.rmtree(d)


class RunWaitTest(unittest.TestCase):
    """krt run without --detach, driven by status the test writes."""

    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("runwait")

    def start(self, name, *extra):
        p = subprocess.Popen([KRT, "run", "-n", self.ns, "--name", name, *extra, "--", "echo", "hi"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=LP.env())
        wait_for("the Run", lambda: kubectl("get", "run", name, "-n", self.ns, check=False).returncode == 0)
        return p

    def finish(self, p):
        try:
            return p.communicate(timeout=60)
        finally:
            p.kill()

    def test_failed_run_exit_code_from_the_message(self):
        p = self.start("fails")
        patch_status(self.ns, "fails", {"phase": "Failed", "message": "bash exited with code 3"})
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 3, err)
        self.assertEqual(out, "")
        self.assertEqual(err, "Task fails created\nPending...\nbash exited with code 3\nError: run failed\n")

    def test_pending_shows_why(self):
        p = self.start("starved", "-r", "nothing-here")
        patch_status(self.ns, "starved", {"phase": "Pending",
                                          "message": 'waiting for available runtime pods for runtime "nothing-here"'})
        self.assertEqual(p.stderr.readline(), "Task starved created\n")
        self.assertEqual(p.stderr.readline(), "Pending...\n")
        self.assertEqual(p.stderr.readline(),
                         'Pending: waiting for available runtime pods for runtime "nothing-here"...\n')
        patch_status(self.ns, "starved", {"phase": "Cancelled", "message": "cancelled by user"})
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(err, "cancelled by user\nError: run cancelled\n")

    def test_timeout_and_cancel_exit_1(self):
        for name, phase, word in (("slow", "Timeout", "run timed out"), ("stopped", "Cancelled", "run cancelled")):
            p = self.start(name, "--timeout", "5s")
            patch_status(self.ns, name, {"phase": phase, "message": "gave up"})
            out, err = self.finish(p)
            self.assertEqual(p.returncode, 1, err)
            self.assertTrue(err.endswith("gave up\nError: %s\n" % word), err)

    def test_succeeded_without_output_exits_0(self):
        p = self.start("fine", "--wait")
        patch_status(self.ns, "fine", {"phase": "Succeeded", "message": "execution completed"})
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("Error", err)

    def test_progress_on_a_terminal_is_one_rewritten_line(self):
        master, slave = os.openpty()
        try:
            p = subprocess.Popen([KRT, "run", "-n", self.ns, "--name", "on-tty", "--", "true"],
                                 stdout=subprocess.PIPE, stderr=slave, text=True, env=LP.env())
            os.close(slave)
            slave = None
            wait_for("the Run", lambda: kubectl("get", "run", "on-tty", "-n", self.ns, check=False).returncode == 0)
            patch_status(self.ns, "on-tty", {"phase": "Scheduled", "assignedPod": "pod-9"})
            patch_status(self.ns, "on-tty", {"phase": "Failed", "message": "it broke"})
            p.communicate(timeout=60)
            data = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        text = data.decode()
        self.assertEqual(p.returncode, 1, text)
        self.assertIn("\r\x1b[KPending...", text)
        self.assertIn("\r\x1b[KScheduled to pod-9...", text)
        self.assertNotIn("Pending...\r\n", text)
        self.assertTrue(text.endswith("\r\x1b[Kit broke\r\nError: run failed\r\n"), repr(text))

    def test_deleted_while_waiting(self):
        p = self.start("vanishes")
        kubectl("delete", "run", "vanishes", "-n", self.ns)
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 1)
        self.assertIn("Error: run vanishes was deleted before it finished", err)

    def test_interrupt_stops_waiting_and_says_what_next(self):
        p = self.start("interrupted")
        self.assertEqual(p.stderr.readline(), "Task interrupted created\n")
        self.assertEqual(p.stderr.readline(), "Pending...\n")
        p.send_signal(signal.SIGINT)
        out, err = self.finish(p)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("krt logs -f interrupted", err)
        self.assertIn("krt cancel interrupted", err)
        self.assertEqual(get_run(self.ns, "interrupted")["metadata"]["name"], "interrupted")


RUNTIME = """
apiVersion: kruntimes.io/v1alpha1
kind: Runtime
metadata: {name: %(name)s, namespace: %(ns)s}
spec:
  replicas: %(replicas)d
  port: 9091
  daemonImage: ghcr.io/example/runtimed:1
  template:
    spec:
      serviceAccountName: runner
      containers:
      - name: runtime
        image: %(image)s
        command: ["/bin/bash-runtime"]
        args: ["--port", "9091"]
"""


class RuntimeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = new_ns("rt")
        kubectl("apply", "-f", "-", input=RUNTIME % {"name": "bash", "ns": cls.ns, "replicas": 2,
                                                      "image": "ghcr.io/example/bash:1"})
        kubectl("apply", "-f", "-", input=RUNTIME % {"name": "python", "ns": cls.ns, "replicas": 1,
                                                      "image": "ghcr.io/example/python:1"})

    def test_list(self):
        r = krt("runtime", "list", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "NAMESPACE", "IMAGE", "REPLICAS", "READY", "PORT", "AGE"])
        rows = {l.split()[0]: l.split() for l in lines[1:]}
        self.assertEqual(rows["bash"][:6], ["bash", self.ns, "ghcr.io/example/bash:1", "2", "0", "9091"])
        self.assertEqual(rows["python"][2], "ghcr.io/example/python:1")
        self.assertIn(self.ns, krt("runtime", "list", "-A").stdout)
        doc = json.loads(krt("runtime", "list", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(sorted(i["metadata"]["name"] for i in doc["items"]), ["bash", "python"])

    def test_get(self):
        r = krt("runtime", "get", "bash", "-n", self.ns)
        self.assertEqual(r.returncode, 0, r.stderr)
        keys = [l.partition(":")[0] for l in r.stdout.splitlines()]
        self.assertEqual(keys, ["Name", "Namespace", "Image", "Port", "Replicas", "Ready", "Daemon Image",
                                "ServiceAccount", "Command", "Args", "Age"])
        self.assertRegex(r.stdout, r"(?m)^Command:\s+/bin/bash-runtime$")
        self.assertRegex(r.stdout, r"(?m)^Args:\s+--port 9091$")
        obj = json.loads(krt("runtime", "get", "bash", "-n", self.ns, "-o", "json").stdout)
        self.assertEqual(obj["spec"]["replicas"], 2)
        r = krt("runtime", "get", "nope", "-n", self.ns)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, 'Error: runtimes.kruntimes.io "nope" not found\n')


class ErrorsAndHelpTest(unittest.TestCase):
    def test_unreachable_server(self):
        d = tempfile.mkdtemp()
        try:
            kc = os.path.join(d, "kubeconfig")
            with open(kc, "w") as f:
                f.write("""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:1"}
contexts:
- name: x
  context: {cluster: c, user: u, namespace: team}
users:
- name: u
  user: {token: t}
current-context: x
""")
            for cmd in (["list"], ["get", "r"], ["run", "--detach", "--", "true"], ["runtime", "list"],
                        ["logs", "r"], ["watch", "r"], ["wait", "r"], ["cancel", "r"]):
                with self.subTest(cmd=cmd):
                    at = cmd.index("--") if "--" in cmd else len(cmd)
                    r = krt(*cmd[:at], "--kubeconfig", kc, *cmd[at:])
                    self.assertEqual(r.returncode, 1, r.stdout)
                    self.assertTrue(r.stderr.startswith("Error: cannot reach the API server at http://127.0.0.1:1: "),
                                    r.stderr)
                    self.assertIn("Is the local control plane running? Try: krt local up", r.stderr)
                    self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        finally:
            shutil.rmtree(d)

    def test_missing_kubeconfig(self):
        r = krt("list", "--kubeconfig", "/nonexistent/kubeconfig")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("Error: "), r.stderr)
        self.assertIn("/nonexistent/kubeconfig", r.stderr)

    def test_context_flag(self):
        r = krt("list", "--context", "no-such-context")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-context", r.stderr)

    def test_missing_run_everywhere(self):
        for cmd in (["get", "nope"], ["describe", "nope"], ["outputs", "nope"], ["artifact", "list", "nope"],
                    ["artifact", "download", "nope", "a"], ["watch", "nope"]):
            with self.subTest(cmd=cmd):
                r = krt(*cmd)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr, 'Error: runs.kruntimes.io "nope" not found\n')

    def test_usage_errors(self):
        for cmd, msg in ((["get"], "needs the name of a Run"), (["get", "a", "b"], 'unexpected argument "b"'),
                         (["describe"], "needs"), (["artifact"], "Usage:"), (["artifact", "frob"], "unknown command"),
                         (["runtime", "frob"], "unknown command"), (["completion"], "needs one shell"),
                         (["completion", "fish"], 'unsupported shell "fish"'), (["list", "--bogus"], "bogus")):
            with self.subTest(cmd=cmd):
                r = krt(*cmd)
                self.assertEqual(r.returncode, 1)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_every_help(self):
        commands = [["run"], ["get"], ["list"], ["describe"], ["watch"], ["logs"], ["cancel"], ["delete"], ["wait"],
                    ["outputs"], ["artifact"], ["artifact", "list"], ["artifact", "download"], ["runtime"],
                    ["runtime", "list"], ["runtime", "get"], ["completion"], ["version"], ["local"]]
        for cmd in commands:
            with self.subTest(cmd=cmd):
                r = krt(*cmd, "--help")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("Usage:", r.stdout)
                self.assertEqual(r.stderr, "")
                if cmd[0] not in ("artifact", "runtime", "completion", "version", "local") or len(cmd) > 1:
                    for flag in ("--kubeconfig", "--context", "--namespace"):
                        self.assertIn(flag, r.stdout)
        top = krt("--help").stdout
        for name in ("run", "get", "list", "describe", "watch", "logs", "cancel", "delete", "wait", "outputs",
                     "artifact", "runtime", "completion"):
            self.assertRegex(top, r"(?m)^  %s\s+\S" % name)

    def test_completion_scripts(self):
        bash = krt("completion", "bash")
        self.assertEqual(bash.returncode, 0, bash.stderr)
        subprocess.run(["bash", "-n"], input=bash.stdout, text=True, check=True)
        zsh = krt("completion", "zsh")
        self.assertEqual(zsh.returncode, 0, zsh.stderr)
        self.assertTrue(zsh.stdout.startswith("#compdef krt\n"))
        if shutil.which("zsh"):
            subprocess.run(["zsh", "-n"], input=zsh.stdout, text=True, check=True)

    def test_bash_completion_completes(self):
        script = krt("completion", "bash").stdout
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "krt.bash")
            with open(path, "w") as f:
                f.write(script)

            def complete(line):
                words = line.split(" ")
                prog = ("source %s\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_krt\nprintf '%%s\\n' \"${COMPREPLY[@]}\"\n"
                        % (path, " ".join("'%s'" % w for w in words), len(words) - 1))
                env = LP.env()
                env["PATH"] = os.path.dirname(KRT) + os.pathsep + env.get("PATH", "")
                r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, check=True)
                return sorted(x for x in r.stdout.split("\n") if x)

            self.assertEqual(complete("krt ru"), ["run", "runtime"])
            self.assertIn("--retry-attempts", complete("krt run --re"))
            self.assertEqual(complete("krt artifact d"), ["download"])
            self.assertEqual(complete("krt list -o y"), ["yaml"])
            self.assertIn("--for", complete("krt wait x --f"))
            create_run("default", "completable")
            try:
                self.assertEqual(complete("krt get compl"), ["completable"])
            finally:
                kubectl("delete", "run", "completable", "-n", "default")
        finally:
            shutil.rmtree(d)


def main():
    global KRT, CRDS
    argv = list(sys.argv)
    if len(argv) < 3:
        sys.stderr.write("usage: krt_commands_test.py /path/to/krt /path/to/k8s/crds [unittest args]\n")
        return 2
    KRT = os.path.abspath(argv.pop(1))
    CRDS = os.path.abspath(argv.pop(1))
    if not shutil.which("kubectl"):
        sys.stderr.write("kubectl is required for these tests\n")
        return 77
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
