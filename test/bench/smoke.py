#!/usr/bin/python3
"""Runs every microbenchmark of krt_bench once, briefly, so they keep
building and their self-checks (SkipWithError) keep passing. Times are not
looked at. Usage: smoke.py KRT_BENCH"""

import json
import subprocess
import sys


def main():
    out = subprocess.run([sys.argv[1], "--benchmark_min_time=0.001", "--benchmark_format=json"],
                         capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        print(out.stdout[-2000:], out.stderr[-4000:])
        return 1
    runs = json.loads(out.stdout)["benchmarks"]
    bad = [b["name"] + ": " + b.get("error_message", "") for b in runs if b.get("error_occurred")]
    print("%d microbenchmarks ran" % len(runs))
    for b in bad:
        print("FAILED " + b)
    return 1 if bad or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
