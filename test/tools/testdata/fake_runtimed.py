#!/usr/bin/env python3
"""A stand-in for runtimed's HTTP port (docs/run-path.md), run as the
`runtimed` container of a local-plane Pod by krt_commands_test.py.

GET /runs/<uid>/log?stream=stdout|stderr[&tail=N][&follow=true]
    stdout: "out 1 <uid>\\nout 2 <uid>\\n", stderr: "err 1 <uid>\\n"
    404 when <uid> is listed in $GONE_FILE (the Run is no longer known);
    503 for the first request of each stream when <uid> is in $FLAKY_FILE.
GET /runs/<uid>/artifacts/<name>
    the bytes "artifact <name> of <uid>\\n".
Every request line is appended to $REQUESTS_FILE. For every UID that appears
in $GONE_FILE, per-Run JSON log lines go to stdout (the container log krt
falls back to).
"""

import http.server
import json
import os
import threading
import time
import urllib.parse

GONE_FILE = os.environ["GONE_FILE"]
FLAKY_FILE = os.environ.get("FLAKY_FILE", "")
failed_once = set()
lock = threading.Lock()
REQUESTS_FILE = os.environ["REQUESTS_FILE"]


def listed(path):
    try:
        with open(path) as f:
            return {line.strip() for line in f if line.strip()}
    except FileNotFoundError:
        return set()


def gone():
    try:
        with open(GONE_FILE) as f:
            return {line.strip() for line in f if line.strip()}
    except FileNotFoundError:
        return set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with open(REQUESTS_FILE, "a") as f:
            f.write(self.path + "\n")
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "runs" and parts[2] == "log":
            uid = parts[1]
            if uid in gone():
                return self.send(404, b'{"error":"run not found"}', "application/json")
            stream = q.get("stream", ["stdout"])[0]
            with lock:
                first = FLAKY_FILE and uid in listed(FLAKY_FILE) and (uid, stream) not in failed_once
                if first:
                    failed_once.add((uid, stream))
            if first:
                return self.send(503, b"try again")
            lines = ["out 1 %s" % uid, "out 2 %s" % uid] if stream == "stdout" else ["err 1 %s" % uid]
            if "tail" in q and int(q["tail"][0]) >= 0:
                lines = lines[len(lines) - min(len(lines), int(q["tail"][0])):]
            return self.send(200, "".join(l + "\n" for l in lines).encode())
        if len(parts) == 4 and parts[0] == "runs" and parts[2] == "artifacts":
            return self.send(200, ("artifact %s of %s\n" % (parts[3], parts[1])).encode(), "application/octet-stream")
        self.send(404, b"not found")


def announce():
    seen = set()
    while True:
        for uid in sorted(gone() - seen):
            seen.add(uid)
            for line in (
                {"msg": "claimed", "run_uid": "someone-else"},
                {"msg": "fallback out %s" % uid, "run_uid": uid, "stream": "stdout"},
                {"msg": "fallback err %s" % uid, "run_uid": uid, "stream": "stderr"},
                {"msg": "", "run_uid": uid, "exit_code": 4},
            ):
                print(json.dumps(line), flush=True)
        time.sleep(0.05)


if __name__ == "__main__":
    threading.Thread(target=announce, daemon=True).start()
    server = http.server.ThreadingHTTPServer((os.environ.get("POD_IP", "127.0.0.1"), 9094), Handler)
    server.serve_forever()
