"""`culvert lab link`: the user-space link emulator between two network namespaces of our own.

Needs root (ip netns, TUN); skipped otherwise. Traffic stays inside the namespaces this test makes.
"""
import os
import shutil
import subprocess
import time
import unittest

from harness import CULVERT

ADDR_A, ADDR_B = "10.201.0.1", "10.201.0.2"

# Runs inside a namespace: connect time to B, and the bytes of a bounded download.
CLIENT = r"""
import socket, sys, time
start = time.monotonic()
s = socket.create_connection((sys.argv[1], 8000), timeout=20)
rtt = time.monotonic() - start
s.sendall(b"x")
got = 0
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += len(chunk)
print(f"{rtt:.4f} {got} {time.monotonic() - start:.3f}")
"""

SERVER = r"""
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 8000))
l.listen(4)
print("up", flush=True)
for _ in range(int(sys.argv[2])):
    c, _ = l.accept()
    c.recv(1)
    c.sendall(b"\0" * int(sys.argv[3]))
    c.close()
"""


def can_run():
    return os.geteuid() == 0 and shutil.which("ip") and os.path.exists("/dev/net/tun")


@unittest.skipUnless(can_run(), "needs root, iproute2 and /dev/net/tun")
class LinkEmulator(unittest.TestCase):
    def setUp(self):
        self.ns = [f"cvt{os.getpid()}a", f"cvt{os.getpid()}b"]
        for ns in self.ns:
            subprocess.run(["ip", "netns", "add", ns], check=True)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p.stdout:
                p.stdout.close()
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns])

    def start_link(self, *args):
        link = subprocess.Popen([CULVERT, "lab", "link", "--ns-a", self.ns[0], "--ns-b", self.ns[1]] + list(args),
                                stdout=subprocess.PIPE, text=True)
        self.procs.append(link)
        self.assertTrue(link.stdout.readline().startswith("ready"))
        for ns, addr in zip(self.ns, (ADDR_A, ADDR_B)):
            for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{addr}/30", "dev", "cvlink0"],
                        ["ip", "link", "set", "cvlink0", "up"]):
                subprocess.run(["ip", "netns", "exec", ns] + cmd, check=True)
        return link

    def serve(self, connections, size):
        server = subprocess.Popen(["ip", "netns", "exec", self.ns[1], "python3", "-c", SERVER, ADDR_B,
                                   str(connections), str(size)], stdout=subprocess.PIPE, text=True)
        self.procs.append(server)
        self.assertEqual(server.stdout.readline().strip(), "up")
        return server

    def fetch(self):
        out = subprocess.run(["ip", "netns", "exec", self.ns[0], "python3", "-c", CLIENT, ADDR_B],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        rtt, got, seconds = out.stdout.split()
        return float(rtt), int(got), float(seconds)

    def stop_and_count(self, link):
        link.terminate()
        text = link.communicate(timeout=10)[0]
        counts = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 7 and parts[0] in ("a->b", "b->a"):
                counts[parts[0]] = {"forwarded": int(parts[2]), "lost": int(parts[4]), "queue": int(parts[6])}
        return counts

    def test_delay_shapes_the_round_trip(self):
        link = self.start_link("--delay-ms", "45")
        self.serve(3, 1000)
        rtts = [self.fetch()[0] for _ in range(3)]
        # A TCP connect takes one round trip: 2 x 45 ms, plus scheduling.
        self.assertGreaterEqual(min(rtts), 0.088, rtts)
        self.assertLess(min(rtts), 0.140, rtts)
        counts = self.stop_and_count(link)
        self.assertGreater(counts["a->b"]["forwarded"], 0)
        self.assertEqual(counts["b->a"]["lost"], 0)

    def test_bottleneck_rate_bounds_throughput(self):
        link = self.start_link("--rate-mbit", "20", "--delay-ms", "5")
        self.serve(1, 8 * 1024 * 1024)
        rtt, got, seconds = self.fetch()
        self.assertEqual(got, 8 * 1024 * 1024)
        mbit = got * 8 / seconds / 1e6
        self.assertLess(mbit, 21, mbit)   # never faster than the bottleneck
        self.assertGreater(mbit, 8, mbit)  # and not starved by the emulator itself
        self.stop_and_count(link)

    def test_loss_is_applied_to_its_direction_only(self):
        link = self.start_link("--loss-b-to-a", "0.1", "--seed", "7")
        self.serve(1, 2 * 1024 * 1024)
        rtt, got, seconds = self.fetch()
        self.assertEqual(got, 2 * 1024 * 1024)  # TCP recovers every byte
        counts = self.stop_and_count(link)
        self.assertEqual(counts["a->b"]["lost"], 0)
        lost, sent = counts["b->a"]["lost"], counts["b->a"]["lost"] + counts["b->a"]["forwarded"]
        self.assertGreater(lost / sent, 0.05, counts)
        self.assertLess(lost / sent, 0.15, counts)


if __name__ == "__main__":
    unittest.main()
