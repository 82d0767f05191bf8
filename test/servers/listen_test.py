"""The built-in Runtime Servers open no network listener unless asked, and
then only on loopback (issue #14 item 6): Execute has no authentication, so
a server reachable on the pod's address runs anything for anyone.

Usage: listen_test.py <bash-runtime> <python-runtime>
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SERVERS = []


def listening_tcp(pid):
    """(address, port) of the TCP sockets `pid` listens on, from /proc."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            addr_hex, port_hex = f[1].split(":")
            if v6:
                # Four host-order 32-bit words.
                raw = b"".join(bytes.fromhex(addr_hex[i:i + 8])[::-1] for i in range(0, 32, 8))
                addr = socket.inet_ntop(socket.AF_INET6, raw)
                # gRPC binds IPv4 addresses on a dual-stack socket.
                if addr.startswith("::ffff:") and "." in addr:
                    addr = addr[len("::ffff:"):]
                elif addr == "::":
                    addr = "0.0.0.0"
            else:
                addr = socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1])
            found.append((addr, int(port_hex, 16)))
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ListenerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stderr.close()
        self.tmp.cleanup()

    def start(self, server, args, pod_ip=None):
        env = {k: v for k, v in os.environ.items() if k not in ("POD_IP", "KRUNTIMES_RUNTIME_SOCKET")}
        if pod_ip is not None:
            env["POD_IP"] = pod_ip
        sock = os.path.join(self.tmp.name, "s%d.sock" % len(self.procs))
        work = os.path.join(self.tmp.name, "w%d" % len(self.procs))
        env["KRUNTIMES_RUNTIME_SOCKET"] = "unix:" + sock
        p = subprocess.Popen([server, "--work-dir", work, *args], env=env, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        # The server logs "serving" once every listener is bound (the socket
        # file alone appears before the TCP port under a slow build).
        lines = []
        for line in p.stderr:
            lines.append(line)
            if '"serving' in line:
                return p
        p.wait(10)
        self.fail("%s exited %s before serving: %s" % (server, p.returncode, "".join(lines)))

    def test_no_tcp_listener_by_default(self):
        for server in SERVERS:
            for pod_ip in (None, "10.42.0.7"):
                with self.subTest(server=os.path.basename(server), pod_ip=pod_ip):
                    p = self.start(server, [], pod_ip=pod_ip)
                    self.assertEqual(listening_tcp(p.pid), [])

    def test_an_opt_in_port_binds_loopback_not_the_pod_address(self):
        for server in SERVERS:
            with self.subTest(server=os.path.basename(server)):
                port = free_port()
                # A routable $POD_IP (as in a cluster) is not used: 127.0.0.1 is.
                p = self.start(server, ["--port", str(port)], pod_ip="10.42.0.7")
                self.assertEqual(listening_tcp(p.pid), [("127.0.0.1", port)])

    def test_a_loopback_pod_address_is_used(self):
        # The local plane gives each pod its own 127.x address.
        port = free_port()
        p = self.start(SERVERS[0], ["--port", str(port)], pod_ip="127.0.0.9")
        self.assertEqual(listening_tcp(p.pid), [("127.0.0.9", port)])

    def test_an_explicit_host_is_honoured(self):
        port = free_port()
        p = self.start(SERVERS[0], ["--port", str(port), "--host", "0.0.0.0"], pod_ip="127.0.0.9")
        self.assertEqual(listening_tcp(p.pid), [("0.0.0.0", port)])

    def test_nothing_to_listen_on_is_a_usage_error(self):
        env = {k: v for k, v in os.environ.items() if k not in ("POD_IP", "KRUNTIMES_RUNTIME_SOCKET")}
        r = subprocess.run([SERVERS[0], "--work-dir", os.path.join(self.tmp.name, "w")], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing to listen on", r.stderr)
        self.assertIn("--port", r.stderr)


if __name__ == "__main__":
    SERVERS[:] = sys.argv[1:3]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
