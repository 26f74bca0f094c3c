"""Culvert's QUIC client against a QUIC server we did not write, and Culvert's QUIC server against a
QUIC client we did not write.

ngtcp2's example HTTP/3 server and client (Debian's ngtcp2-server and ngtcp2-client, `gtlsserver`
and `gtlsclient`: ngtcp2 with GnuTLS) on loopback. Culvert's client sends Chromium's Initial (its
ClientHello and transport parameters) and runs TLS 1.3 with its own code; the handshake must
complete with ALPN h3 and the server's transport parameters read. The same first flight must read
as Chromium's to the lab. Culvert's server (`culvert lab quic-serve`: ngtcp2 under Culvert's own
TLS 1.3 server) must complete GnuTLS's handshake, choosing as a stock OpenSSL server would.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CULVERT

SERVER = "/usr/sbin/gtlsserver"
CLIENT = "/usr/bin/gtlsclient"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_udp_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(directory, name, key="key.pem", cert="cert.pem"):
    """A self-signed P-256 certificate for `name` in `directory`."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", f"/CN={name}", "-keyout", key, "-out", cert],
                   cwd=directory, check=True, capture_output=True)


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
        make_certificate(cls.tmp, "quic.example.test", "ec.key", "ec.crt")
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


@unittest.skipUnless(os.path.exists(CLIENT), "ngtcp2-client not installed (scripts/setup.sh --tests)")
class QuicServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-quic-server-")
        make_certificate(cls.tmp, "h3.example.test")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, connections):
        """Starts `culvert lab quic-serve` on a free port; returns the process and the port."""
        server = subprocess.Popen([CULVERT, "lab", "quic-serve", "--listen", "127.0.0.1:0", "--cert",
                                   os.path.join(self.tmp, "cert.pem"), "--key", os.path.join(self.tmp, "key.pem"),
                                   "--connections", str(connections), "--timeout-ms", "60000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = server.stdout.readline().split()
        self.assertEqual(first[:1], ["listening"], server.stderr.read() if server.poll() is not None else first)
        return server, int(first[1])

    def finish(self, server):
        out, err = server.communicate(timeout=60)
        self.assertEqual(server.returncode, 0, err)
        return [dict(zip(line.split()[1::2], line.split()[2::2])) | {"outcome": line.split()[0]}
                for line in out.splitlines()]

    def gtlsclient(self, port, *extra):
        return subprocess.run([CLIENT, "--exit-on-all-streams-close", "--timeout=10s", *extra, "127.0.0.1",
                               str(port), "https://h3.example.test/"], capture_output=True, text=True, timeout=60)

    def test_gnutls_completes_the_handshake_with_h3(self):
        server, port = self.serve(1)
        r = self.gtlsclient(port)
        (served,) = self.finish(server)
        self.assertIn("QUIC handshake has completed", r.stdout + r.stderr)
        self.assertIn("Negotiated ALPN is h3", r.stdout + r.stderr)
        self.assertEqual(served["outcome"], "completed", served)
        self.assertEqual(served["alpn"], "h3")
        self.assertEqual(served["group"], "0x1d")  # GnuTLS's first key share
        # The client's transport parameters were read: initial_source_connection_id at least.
        self.assertIn("15", served["client_parameters"].split(","), served)

    def test_the_cipher_suite_is_chosen_as_the_tcp_cover_chooses(self):
        # Debian's nginx.conf prefers the server's order (OpenSSL's: AES-256-GCM, ChaCha20,
        # AES-128-GCM), whatever order the client lists them in.
        server, port = self.serve(2)
        first = self.gtlsclient(port, "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM")
        second = self.gtlsclient(port,
                                 "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305")
        served = self.finish(server)
        self.assertIn("Negotiated cipher suite is AES-256-GCM", first.stdout + first.stderr)
        self.assertIn("Negotiated cipher suite is CHACHA20-POLY1305", second.stdout + second.stderr)
        self.assertEqual([s["cipher_suite"] for s in served], ["0x1302", "0x1303"])

    def test_a_client_without_a_usable_share_is_asked_for_one(self):
        # GnuTLS offering P-521 and P-384 sends a P-521 share only; the server (no P-521, as the
        # groups it implements go) answers with a HelloRetryRequest for P-384, as OpenSSL would.
        server, port = self.serve(1)
        r = self.gtlsclient(port, "--groups=-GROUP-ALL:+GROUP-SECP521R1:+GROUP-SECP384R1")
        (served,) = self.finish(server)
        self.assertIn("QUIC handshake has completed", r.stdout + r.stderr)
        self.assertEqual(served["outcome"], "completed", served)
        self.assertEqual(served["group"], "0x18")

    def test_a_non_user_meets_the_cover_site_over_http3(self):
        # What a prober with an HTTP/3 client sees: the cover's pages with nginx's headers, byte
        # for byte the files the TCP cover serves, and nginx's 404 for a missing one.
        served_dir = os.path.join(self.tmp, "served")
        download = os.path.join(self.tmp, "download")
        os.makedirs(download, exist_ok=True)
        subprocess.run([CULVERT, "lab", "cover-files", served_dir], check=True, capture_output=True, timeout=30)
        server = subprocess.Popen([CULVERT, "lab", "quic-serve", "--listen", "127.0.0.1:0", "--http3", "--cert",
                                   os.path.join(self.tmp, "cert.pem"), "--key", os.path.join(self.tmp, "key.pem"),
                                   "--connections", "1", "--timeout-ms", "60000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        port = int(server.stdout.readline().split()[1])
        r = subprocess.run([CLIENT, "--exit-on-all-streams-close", "--timeout=10s", f"--download={download}",
                            "127.0.0.1", str(port), "https://h3.example.test/index.html",
                            "https://h3.example.test/no-such-page"], capture_output=True, text=True, timeout=60)
        (served,) = self.finish(server)
        log = r.stdout + r.stderr
        self.assertEqual(served["http3_requests"], "2", served)
        with open(os.path.join(download, "index.html"), "rb") as got, \
                open(os.path.join(served_dir, "index.html"), "rb") as want:
            self.assertEqual(got.read(), want.read())
        self.assertIn("[:status: 200]", log)
        self.assertIn("[:status: 404]", log)
        self.assertIn("[server: nginx/1.22.1]", log)

    def test_our_client_and_server_agree(self):
        # Ten in a row: the server's grease_quic_bit once let ngtcp2 clear the fixed bit of our
        # third Initial, which the shaper then did not renumber (4 handshakes in 10 failed).
        server, port = self.serve(10)
        for _ in range(10):
            r = subprocess.run([CULVERT, "lab", "quic-handshake", "127.0.0.1", str(port), "--sni", "h3.example.test",
                                "--timeout-ms", "10000"], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        served = self.finish(server)
        self.assertEqual([s["outcome"] for s in served], ["completed"] * 10, served)
        served = served[-1]
        fields = report(r.stdout)
        self.assertEqual(fields["alpn"], "h3")
        # Chromium's first share is X25519MLKEM768; the cover's OpenSSL 3.0 has no ML-KEM: X25519.
        self.assertEqual(fields["group"], "0x1d")
        self.assertEqual(served["group"], "0x1d")
        self.assertEqual(served["cipher_suite"], "0x1302")
        self.assertEqual(served["sni"], "h3.example.test")
        self.assertEqual(served["outcome"], "completed", served)


class QuicSniRule(unittest.TestCase):
    """The lab's QUIC SNI rule (`culvert lab quic-relay`): it decrypts the client's Initials as the
    GFW does, blocks a flow whose SNI is on its list and passes others, and leaves alone flows
    whose source port is below the destination port, as the GFW did when measured."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-quic-relay-")
        make_certificate(cls.tmp, "h3.example.test")
        with open(os.path.join(cls.tmp, "blocklist"), "w") as f:
            f.write("# names the censor blocks\nblocked.example\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def start(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline().split()
        self.assertEqual(first[:1], ["listening"], proc.stderr.read() if proc.poll() is not None else first)
        return proc, int(first[1])

    def relay(self, server_port, *extra, listen="127.0.0.1:0"):
        return self.start([CULVERT, "lab", "quic-relay", "--listen", listen, "--to", f"127.0.0.1:{server_port}",
                           "--blocklist", os.path.join(self.tmp, "blocklist"), "--seconds", "20", *extra])

    def server(self, connections):
        return self.start([CULVERT, "lab", "quic-serve", "--listen", "127.0.0.1:0", "--cert",
                           os.path.join(self.tmp, "cert.pem"), "--key", os.path.join(self.tmp, "key.pem"),
                           "--connections", str(connections), "--timeout-ms", "30000"])

    def handshake(self, port, sni):
        return subprocess.run([CULVERT, "lab", "quic-handshake", "127.0.0.1", str(port), "--sni", sni,
                               "--timeout-ms", "3000"], capture_output=True, text=True, timeout=60)

    def stop(self, proc):
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        return out

    def test_a_blocked_name_is_dropped_and_others_pass(self):
        # The server takes one connection at a time: the passing name goes first.
        server, server_port = self.server(1)
        relay, port = self.relay(server_port, "--any-ports")
        passed = self.handshake(port, "fine.example")
        blocked = self.handshake(port, "www.blocked.example")
        verdicts = self.stop(relay)
        self.stop(server)
        self.assertEqual(passed.returncode, 0, passed.stderr)
        self.assertNotEqual(blocked.returncode, 0)
        self.assertIn("timed out", blocked.stderr)
        self.assertIn("pass sni fine.example", verdicts)
        self.assertIn("block sni www.blocked.example (entry blocked.example)", verdicts)

    def test_a_source_port_below_the_destination_port_is_exempt(self):
        # A relay port above the kernel's ephemeral range: every client port is below it.
        import socket
        port = None
        for candidate in range(65400, 65530):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", candidate))
                    port = candidate
                    break
                except OSError:
                    continue
        self.assertIsNotNone(port)
        server, server_port = self.server(1)
        relay, _ = self.relay(server_port, listen=f"127.0.0.1:{port}")
        r = self.handshake(port, "www.blocked.example")
        verdicts = self.stop(relay)
        self.stop(server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("exempt sni www.blocked.example (source port below destination port)", verdicts)


if __name__ == "__main__":
    unittest.main()
