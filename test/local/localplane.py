"""Starts and stops a real local control plane (`krt local serve`) for tests.

Each instance gets its own state directory, a free port, and a private HOME so
kubectl's discovery cache never leaks between tests.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (for `krt local up
    --port`, which needs a number)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LocalPlane:
    def __init__(self, krt, extra_args=(), state_dir=None):
        self.krt = krt
        self.extra_args = list(extra_args)
        self.owns_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="krt-local-test-")
        self.home = os.path.join(self.state_dir, "home")
        os.makedirs(self.home, exist_ok=True)
        self.proc = None
        self.url = None

    @property
    def kubeconfig(self):
        return os.path.join(self.state_dir, "kubeconfig")

    def env(self):
        env = dict(os.environ)
        env["KUBECONFIG"] = self.kubeconfig
        env["HOME"] = self.home
        return env

    def start(self, timeout=30, port=0):
        """Starts `krt local serve` (again, after kill9, on the same state
        directory: give the old port so clients' kubeconfigs stay valid)."""
        ready = os.path.join(self.state_dir, "apiserver.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.log = open(os.path.join(self.state_dir, "apiserver.log"), "ab")
        self.proc = subprocess.Popen(
            [self.krt, "local", "serve", "--state-dir", self.state_dir, "--port", str(port), *self.extra_args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError("krt local serve exited with %d: %s" % (self.proc.returncode, self.log_text()))
            if os.path.exists(ready):
                with open(ready) as f:
                    parts = f.read().split()
                if len(parts) >= 2:
                    self.url = parts[1]
                    return self
            time.sleep(0.02)
        raise RuntimeError("krt local serve did not become ready: " + self.log_text())

    def log_text(self):
        with open(os.path.join(self.state_dir, "apiserver.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def leftovers(self):
        """Pids of processes that belong to this plane's pods (their command
        line or environment names the state directory) and are still running."""
        mark = self.state_dir.encode()
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if mark in cmd or mark in env:
                out.append(int(pid))
        return out

    def cleanup(self):
        self.stop()
        # A server that died (or was killed) could not stop its pods; their
        # processes must not outlive the test.
        stray = self.leftovers()
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if stray:
            sys.stderr.write("localplane: killed %d process(es) of %s that outlived the server\n" %
                             (len(stray), self.state_dir))
        if self.owns_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def kubectl(self, *args, input=None, check=True, timeout=60):
        r = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True,
                           env=self.env(), timeout=timeout, check=False)
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s failed (%d):\nstdout: %s\nstderr: %s\nserver log tail: %s" %
                                 (" ".join(args), r.returncode, r.stdout, r.stderr, self.log_text()[-1500:]))
        return r

    def token(self):
        with open(os.path.join(self.state_dir, "admin.token")) as f:
            return f.read().strip()

    def ca_file(self):
        return os.path.join(self.state_dir, "pki", "ca.crt")
