"""Culvert's QUIC client against a QUIC server we did not write.

ngtcp2's example HTTP/3 server (Debian's ngtcp2-server, `gtlsserver`: ngtcp2 with GnuTLS) on
loopback. Culvert's client sends Chromium's Initial (its ClientHello and transport parameters)
and runs TLS 1.3 with its own code; the handshake must complete with ALPN h3 and the server's
transport parameters read. The same first flight must read as Chromium's to the lab.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CULVERT

SERVER = "/usr/sbin/gtlsserver"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_udp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(output):
    fields = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        fields[key] = value
    return fields


@unittest.skipUnless(os.path.exists(SERVER), "ngtcp2-server not installed (scripts/setup.sh --tests)")
class QuicHandshake(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-quic-")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=quic.example.test", "-keyout", "ec.key", "-out", "ec.crt"],
                       cwd=cls.tmp, check=True, capture_output=True)
        cls.port = free_udp_port()
        cls.log = open(os.path.join(cls.tmp, "server.log"), "wb")
        cls.server = subprocess.Popen([SERVER, "--quiet", "-d", cls.tmp, "127.0.0.1", str(cls.port), "ec.key", "ec.crt"],
                                      cwd=cls.tmp, stdout=cls.log, stderr=cls.log)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        try:
            cls.server.wait(10)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait(5)
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def handshake(self, *extra):
        # The server needs a moment to bind; the client retransmits its Initial until the timeout.
        return subprocess.run([CULVERT, "lab", "quic-handshake", "127.0.0.1", str(self.port), *extra],
                              capture_output=True, text=True, timeout=60)

    def test_handshake_completes_with_h3_and_the_servers_parameters(self):
        r = self.handshake("--sni", "quic.example.test", "--timeout-ms", "10000")
        self.assertEqual(r.returncode, 0, r.stderr)
        fields = report(r.stdout)
        self.assertEqual(fields["alpn"], "h3")
        self.assertIn(fields["cipher_suite"], ("0x1301", "0x1302", "0x1303"))
        self.assertEqual(fields["group"], "0x1d")  # GnuTLS 3.7 has no ML-KEM: X25519, without a retry
        params = [int(p) for p in fields["server_parameters"].split()]
        self.assertIn(0x0f, params)  # initial_source_connection_id (RFC 9000 §7.3)
        self.assertIn(0x00, params)  # original_destination_connection_id

    def test_handshakes_repeat(self):
        # Twenty in a row: a Handshake packet whose CRYPTO frame fills it once failed one time in
        # four (ngtcp2 read the tag as frames until the crypto context was set at that level).
        for _ in range(20):
            r = self.handshake("--sni", "quic.example.test", "--timeout-ms", "10000")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_nothing_listening_times_out_with_a_clear_error(self):
        r = subprocess.run([CULVERT, "lab", "quic-handshake", "127.0.0.1", str(free_udp_port()), "--timeout-ms", "1500"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("QUIC handshake failed", r.stderr)

    def test_first_flight_reads_as_chromiums(self):
        out = os.path.join(self.tmp, "flight")
        r = subprocess.run([CULVERT, "lab", "quic-flight", "--out", out], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        ours = subprocess.run([CULVERT, "lab", "fingerprint"] + r.stdout.split(), capture_output=True, text=True,
                              timeout=30)
        captures = os.path.join(REPO, "lab", "data", "quic")
        chromium_files = sorted(os.path.join(captures, f) for f in os.listdir(captures)
                                if f.startswith("chromium-") and "-conn1-" in f)
        theirs = subprocess.run([CULVERT, "lab", "fingerprint"] + chromium_files, capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(report(ours.stdout)["quic"], report(theirs.stdout)["quic"])


if __name__ == "__main__":
    unittest.main()
