#!/usr/bin/env python3
"""Counts test cases from a meson test run: every GoogleTest case separately
(from meson's JUnit log), every Python unittest case separately (from its
"Ran N tests" summary and the ok/FAIL/ERROR/skipped lines of its verbose
output), every other test (scripts) as one case, and a test binary that
crashed or timed out as one failure even when it wrote no report.

Usage: test-summary.py BUILD_DIR [LABEL]
Prints the failing cases, then one line: "<passed> <failed> <skipped>".
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def unittest_cases(name, output, unit):
    """Per-case results of a verbose Python unittest run, if that is what ran."""
    if not re.search(r"^Ran \d+ tests? in ", output, re.M):
        return
    p = f = s = 0
    failing = []
    current = None
    for line in output.splitlines():
        m = re.match(r"^(\w+) \(([\w.]+)\)", line)
        if m:
            current = f"{m.group(2)}"
        v = re.search(r"\.\.\. (ok|FAIL|ERROR|skipped)", line) if current else None
        if not v:
            v = re.match(r"^(ok|FAIL|ERROR|skipped)\b", line) if current else None
        if v:
            if v.group(1) == "ok":
                p += 1
            elif v.group(1) == "skipped":
                s += 1
            else:
                f += 1
                failing.append(f"{name}: {current}")
            current = None
    if p + f + s > 0:
        unit[name] = [p, f, s, failing]


def main() -> int:
    build = sys.argv[1]
    logs = os.path.join(build, "meson-logs")
    results = {}
    unit = {}  # Python unittest: test name -> [passed, failed, skipped, failing names]
    try:
        with open(os.path.join(logs, "testlog.json"), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    t = json.loads(line)
                    # "kruntimes:unit+lib / core" -> "core"
                    name = t["name"].split(" / ", 1)[-1]
                    results[name] = t["result"]
                    unittest_cases(name, (t.get("stdout") or "") + (t.get("stderr") or ""), unit)
    except FileNotFoundError:
        print("0 1 0")
        print("no test log: the test run did not start", file=sys.stderr)
        return 0

    cases = {name: c[:3] for name, c in unit.items()}  # test name -> [passed, failed, skipped]
    failing_unit = {name: c[3] for name, c in unit.items()}
    failing = []
    junit = os.path.join(logs, "testlog.junit.xml")
    if os.path.exists(junit):
        root = ET.parse(junit).getroot()
        for suite in root.iter("testsuite"):
            # "kruntimes.kruntimes:unit+lib / kube.KubeClient" -> "kube"
            name = suite.get("name", "")
            test = name.split(" / ", 1)[-1].split(".", 1)[0]
            if test not in results or test in unit:
                continue
            counts = cases.setdefault(test, [0, 0, 0])
            for case in suite.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    counts[1] += 1
                    failing.append(f"{test}: {case.get('classname', '')}.{case.get('name', '')}")
                elif case.find("skipped") is not None:
                    counts[2] += 1
                else:
                    counts[0] += 1

    passed = failed = skipped = 0
    for test, result in results.items():
        ok = result in ("OK", "EXPECTEDFAIL")
        if test in cases and sum(cases[test]) > 0:
            p, f, s = cases[test]
            if not ok and f == 0:
                f = 1  # crashed, timed out or exited non-zero after passing cases
                failing.append(f"{test}: {result} (the test binary itself failed)")
            passed += p
            failed += f
            skipped += s
        elif result == "SKIP":
            skipped += 1
        elif ok:
            passed += 1
        else:
            failed += 1
            failing.append(f"{test}: {result}")
    for names in failing_unit.values():
        failing.extend(names)
    for f in failing:
        print(f"FAILED {f}", file=sys.stderr)
    print(f"{passed} {failed} {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
