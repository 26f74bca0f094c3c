"""The borrowed-site transport end to end. A local nginx with a test-CA certificate for
"localhost" stands in for the real site; a Culvert server borrows its identity.

- Users' tunnels carry data; the client restarts cleanly across a killed server.
- Anyone else (a TLS client, a prober, a replay, Chromium) reaches the target itself.
- The server's answer to an authenticated ClientHello has the target's shape: the same ServerHello
  size and extension order, suite, ChangeCipherSpec and encrypted record lengths.
- `culvert lab probe` finds no probe where the server differs from the target."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import (MIB, PROBE_JITTER, Origin, Process, curl, exchange, free_port, pattern, run, start_tls_site,
                     tls_records)

CULVERT = os.environ["CULVERT_BIN"]


class Borrow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = t = tempfile.mkdtemp(prefix="culvert-borrow-")
        cls.nginx, cls.target_port = start_tls_site(t, "the borrowed site itself")
        cls.port = free_port()
        cls.dir = os.path.join(t, "server")
        init = run(["server", "init", "--dir", cls.dir, "--listen", f"127.0.0.1:{cls.port}", "--public-host",
                    "127.0.0.1", "--transport", "borrow", "--target", f"localhost:{cls.target_port}",
                    "--allow-private", "--no-qr"])
        assert init.returncode == 0, init.stderr
        cls.link = init.stdout.strip().splitlines()[-1]
        cls.server = Process(["server", "run", "--dir", cls.dir], os.path.join(t, "server.log"))
        cls.origin = Origin()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.origin.close()
        cls.nginx.terminate()
        cls.nginx.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def client(self):
        c = Process(["client", self.link, "--listen", "127.0.0.1:0", "--profile", "none"], os.path.join(self.tmp, "client.log"))
        self.addCleanup(c.stop)
        return c

    def test_link_names_the_borrowed_site_and_the_server_key(self):
        self.assertIn("tr=borrow", self.link)
        self.assertIn("sni=localhost", self.link)
        self.assertIn("&pk=", self.link)
        self.assertNotIn("pin=", self.link)

    def test_tunnel_carries_bodies_intact(self):
        c = self.client()
        for n in (1, 1000, 4 * MIB):
            r = curl("-x", f"socks5h://127.0.0.1:{c.port}", f"http://localhost:{self.origin.port}/bytes/{n}")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, pattern(n))

    def test_a_tls_client_gets_the_target_and_its_certificate(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.tmp, "ca.pem"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.getpeercert()["subject"], ((("commonName", "localhost"),),))
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                body = b""
                while chunk := s.recv(65536):
                    body += chunk
        self.assertIn(b"the borrowed site itself", body)

    def authenticated_hello(self, name):
        path = os.path.join(self.tmp, name)
        r = subprocess.run([CULVERT, "lab", "borrow-hello", self.link, path], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(path, "rb") as f:
            return path, f.read()

    def test_answer_to_a_user_has_the_targets_shape(self):
        _, hello = self.authenticated_hello("shape.bin")
        ours = exchange(self.port, hello)
        theirs = exchange(self.target_port, hello)
        self.assertEqual(tls_records(ours), tls_records(theirs))
        self.assertGreaterEqual(len(tls_records(ours)), 3)
        # ServerHello: the same suite (after version, random, session id echo) and extension order.
        def suite_and_extensions(data):
            body = data[5 + 4:5 + int.from_bytes(data[3:5], "big")]
            pos = 2 + 32 + 1 + body[2 + 32]
            suite = body[pos:pos + 2]
            ext, types = body[pos + 5:], []
            while len(ext) >= 4:
                types.append(ext[:2])
                ext = ext[4 + int.from_bytes(ext[2:4], "big"):]
            return suite, types
        self.assertEqual(suite_and_extensions(ours), suite_and_extensions(theirs))
        # The same hello again is a replay: the target answers it (a different random, same shape).
        again = exchange(self.port, hello)
        self.assertEqual(tls_records(again), tls_records(theirs))
        self.assertNotEqual(again[5 + 6:5 + 38], ours[5 + 6:5 + 38])

    def test_prober_finds_no_difference_from_the_target(self):
        # A fresh authenticated hello (first seen in the prober's own replay) and a used one.
        fresh, _ = self.authenticated_hello("fresh.bin")
        used, hello = self.authenticated_hello("used.bin")
        exchange(self.port, hello)
        for replay in (fresh, used):
            r = subprocess.run([CULVERT, "lab", "probe", f"127.0.0.1:{self.port}", "--reference",
                                f"127.0.0.1:{self.target_port}", "--sni", "localhost", "--replay", replay,
                                "--timeout-ms", "3000"] + PROBE_JITTER, capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("0 of ", r.stdout)

    def test_session_tickets_are_learned_from_the_target(self):
        # What the target sends after a full handshake (our own client, nothing sent after it)...
        env = dict(os.environ, SSL_CERT_FILE=os.path.join(self.tmp, "ca.pem"))
        r = subprocess.run([CULVERT, "lab", "fetch", f"https://localhost:{self.target_port}/"], capture_output=True,
                           text=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        tickets = [line for line in r.stderr.splitlines() if line.startswith("tickets=")][0][len("tickets="):]
        self.assertTrue(tickets)
        # ...is what the server learned and now sends its users after their Finished.
        deadline = time.monotonic() + 10
        expected = f"session ticket record(s): {tickets} bytes"
        while time.monotonic() < deadline:
            with open(os.path.join(self.tmp, "server.log"), errors="replace") as f:
                if expected in f.read():
                    break
            time.sleep(0.1)
        with open(os.path.join(self.tmp, "server.log"), errors="replace") as f:
            self.assertIn(expected, f.read())

    @unittest.skipUnless(shutil.which("chromium"), "chromium not installed (scripts/setup.sh)")
    def test_chromium_sent_to_the_server_loads_the_targets_page(self):
        profile = tempfile.mkdtemp(prefix="culvert-chromium-", dir=self.tmp)
        r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-quic",
                            "--ignore-certificate-errors", f"--user-data-dir={profile}", "--dump-dom",
                            f"https://localhost:{self.port}/"], capture_output=True, text=True, timeout=120)
        self.assertIn("the borrowed site itself", r.stdout, r.stderr[-2000:])

    def test_client_recovers_after_the_server_is_killed(self):
        c = self.client()
        url = f"http://localhost:{self.origin.port}/bytes/1000"
        self.assertEqual(curl("-x", f"socks5h://127.0.0.1:{c.port}", url).stdout, pattern(1000))
        self.__class__.server.kill()
        self.__class__.server = Process(["server", "run", "--dir", self.dir], os.path.join(self.tmp, "server.log"))
        restarted, ok = time.monotonic(), False
        while time.monotonic() - restarted < 5.0:
            r = curl("-x", f"socks5h://127.0.0.1:{c.port}", url, timeout=10)
            if r.returncode == 0 and r.stdout == pattern(1000):
                ok = True
                break
        self.assertTrue(ok, "no request served within 5 s of the server's restart")


if __name__ == "__main__":
    unittest.main()
