#!/usr/bin/env python3
"""Black-box tests of the krt binary (SPEC §9): exit codes, stdout/stderr split
and the exact output of `krt version`.

Usage: krt_cli_test.py /path/to/krt [unittest args...]
   or: KRT_BIN=/path/to/krt krt_cli_test.py
"""

import json
import os
import re
import subprocess
import sys
import unittest

KRT = None


def krt(*args):
    """Runs krt with args; returns the CompletedProcess (text mode)."""
    return subprocess.run(
        [KRT, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class VersionTest(unittest.TestCase):
    def test_text_is_exactly_three_lines(self):
        r = krt("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertTrue(r.stdout.endswith("\n"), repr(r.stdout))
        lines = r.stdout.split("\n")
        self.assertEqual(lines[-1], "")
        lines = lines[:-1]
        self.assertEqual(len(lines), 3, repr(r.stdout))
        self.assertRegex(lines[0], r"^krt \S+$")
        self.assertRegex(lines[1], r"^commit: \S+$")
        self.assertRegex(lines[2], r"^built: \S+$")

    def test_text_version_is_semver_like(self):
        first = krt("version").stdout.split("\n")[0]
        self.assertRegex(first, r"^krt v?\d+\.\d+\.\d+")

    def test_text_built_is_a_timestamp_or_unknown(self):
        built = krt("version").stdout.split("\n")[2][len("built: "):]
        self.assertTrue(
            built == "unknown" or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", built),
            built,
        )

    def test_json_has_version_commit_built(self):
        r = krt("version", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        doc = json.loads(r.stdout)
        self.assertIsInstance(doc, dict)
        for key in ("version", "commit", "built"):
            self.assertIn(key, doc)
            self.assertIsInstance(doc[key], str)
            self.assertNotEqual(doc[key], "")

    def test_json_agrees_with_text(self):
        lines = krt("version").stdout.split("\n")
        doc = json.loads(krt("version", "--output", "json").stdout)
        self.assertEqual(lines[0], "krt " + doc["version"])
        self.assertEqual(lines[1], "commit: " + doc["commit"])
        self.assertEqual(lines[2], "built: " + doc["built"])

    def test_long_output_flag_text_matches_default(self):
        self.assertEqual(krt("version", "--output", "text").stdout, krt("version").stdout)

    def test_unsupported_format_fails_naming_it(self):
        r = krt("version", "-o", "yaml")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("unsupported output format", r.stderr)
        self.assertIn('"yaml"', r.stderr)
        self.assertTrue(r.stderr.startswith("Error: "), r.stderr)

    def test_unknown_flag_fails(self):
        r = krt("version", "--bogus")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("bogus", r.stderr)

    def test_version_help(self):
        r = krt("version", "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--output", r.stdout)

    def test_global_version_flag_matches_command(self):
        r = krt("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, krt("version").stdout)


class DispatchTest(unittest.TestCase):
    def assert_usage(self, text):
        self.assertIn("Usage:", text)
        self.assertIn("krt <command>", text)
        self.assertRegex(text, r"(?m)^\s+version\s+\S")

    def test_help_flag(self):
        for flag in ("--help", "-h", "help"):
            with self.subTest(flag=flag):
                r = krt(flag)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_usage(r.stdout)
                self.assertEqual(r.stderr, "")

    def test_no_command_prints_usage_to_stderr(self):
        r = krt()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assert_usage(r.stderr)

    def test_unknown_command(self):
        r = krt("bogus")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn('unknown command "bogus"', r.stderr)
        self.assertTrue(r.stderr.startswith("Error: "), r.stderr)
        self.assert_usage(r.stderr)

    def test_removed_commands_do_not_exist(self):
        # SPEC §9 lists watch, delete, wait and outputs as absent from the Go
        # krt; ours adds them ("Where we deliberately differ"). `artifacts`
        # (plural) stays absent: the command is `artifact`.
        for name in ("artifacts", "workflow", "wf"):
            with self.subTest(command=name):
                r = krt(name)
                self.assertEqual(r.returncode, 1)
                self.assertIn('unknown command "%s"' % name, r.stderr)


def main():
    global KRT
    argv = list(sys.argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        KRT = argv.pop(1)
    else:
        KRT = os.environ.get("KRT_BIN")
    if not KRT:
        sys.stderr.write("usage: krt_cli_test.py /path/to/krt (or set KRT_BIN)\n")
        return 2
    KRT = os.path.abspath(KRT)
    if not os.access(KRT, os.X_OK):
        sys.stderr.write("krt binary not found or not executable: %s\n" % KRT)
        return 2
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
