"""A certificate a real website would have: ACME end to end against pebble, Let's Encrypt's own
test CA (Debian package), with its DNS stand-in pebble-challtestsrv answering 127.0.0.1.

The server is initialised with a name, obtains a certificate by answering tls-alpn-01 on its own
port, serves it, renews it when forced (renew_before_days past the lifetime, then SIGHUP), and
clients connect with ordinary CA validation (no pin in the link). A stock nginx given the same
certificate files shows a prober the same chain. Run by CTest with CULVERT_BIN set.
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import PROBE_JITTER, Origin, Process, curl, free_port, run, start_stock_nginx, wait_for_port, wait_until

NAME = "culvert-test.example"


def served_certificate(port, name=NAME):
    """The DER certificate the server at 127.0.0.1:port presents for `name`."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            return tls.getpeercert(binary_form=True)


def log_count(path, text):
    try:
        with open(path, errors="replace") as f:
            return f.read().count(text)
    except OSError:
        return 0


@unittest.skipUnless(shutil.which("pebble") and shutil.which("pebble-challtestsrv"), "pebble not installed")
class Acme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-acme-")
        t = cls.tmp
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=pebble", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", "pebble.key", "-out", "pebble.pem"], cwd=t, check=True, capture_output=True)
        cls.port = free_port()
        cls.acme_port, cls.management_port = free_port(), free_port()
        dns_port, dns_management = free_port(), free_port()
        with open(os.path.join(t, "pebble.json"), "w") as f:
            json.dump({"pebble": {
                "listenAddress": f"127.0.0.1:{cls.acme_port}",
                "managementListenAddress": f"127.0.0.1:{cls.management_port}",
                "certificate": os.path.join(t, "pebble.pem"), "privateKey": os.path.join(t, "pebble.key"),
                "httpPort": free_port(), "tlsPort": cls.port,
                "ocspResponderURL": "", "externalAccountBindingRequired": False}}, f)
        cls.dns = subprocess.Popen(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                                    "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                                    "-tlsalpn01", "", "-management", f"127.0.0.1:{dns_management}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Random sleeps off; invalid-nonce rejections left on, so the client's retry is exercised.
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1")
        cls.pebble_log = open(os.path.join(t, "pebble.log"), "wb")
        cls.pebble = subprocess.Popen(["pebble", "-config", os.path.join(t, "pebble.json"), "-dnsserver",
                                       f"127.0.0.1:{dns_port}", "-strict=false"], env=env, stdout=cls.pebble_log,
                                      stderr=cls.pebble_log)
        assert wait_for_port(cls.acme_port, 20), "pebble did not start"
        cls.dir = os.path.join(t, "server")
        init = run(["server", "init", "--dir", cls.dir, "--listen", f"127.0.0.1:{cls.port}", "--public-host",
                    "127.0.0.1", "--sni", NAME, "--allow-private", "--no-qr",
                    "--acme-directory", f"https://127.0.0.1:{cls.acme_port}/dir",
                    "--acme-ca-file", os.path.join(t, "pebble.pem")])
        assert init.returncode == 0, init.stderr
        cls.init_output = init.stdout
        cls.link = init.stdout.strip().splitlines()[-1]
        cls.log = os.path.join(t, "server.log")
        cls.server = Process(["server", "run", "--dir", cls.dir], cls.log)
        # The CA's root, to trust it as a browser would trust Let's Encrypt's.
        ctx = ssl.create_default_context(cafile=os.path.join(t, "pebble.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{cls.management_port}/roots/0", context=ctx,
                                    timeout=10) as r:
            cls.root = os.path.join(t, "root.pem")
            with open(cls.root, "wb") as f:
                f.write(r.read())

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        for p in (cls.pebble, cls.dns):
            p.terminate()
            p.wait(10)
        cls.pebble_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def wait_for_issued(self, count):
        waited = wait_until(lambda: log_count(self.log, "acme: new certificate for") >= count, 90)
        self.assertIsNotNone(waited, open(self.log, errors="replace").read()[-2000:])

    def wait_for_served(self, predicate):
        # The server picks new files up within its housekeeping interval (2 s).
        self.assertIsNotNone(wait_until(lambda: predicate(served_certificate(self.port)), 20))

    def ca_issued(self, der):
        pem = ssl.DER_cert_to_PEM_cert(der)
        text = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-subject", "-serial"], input=pem,
                              capture_output=True, text=True).stdout
        issuer = re.search(r"issuer=(.*)", text).group(1)
        subject = re.search(r"subject=(.*)", text).group(1)
        return issuer != subject

    def fetch_through(self, link, env):
        origin = Origin()
        client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                         os.path.join(self.tmp, f"client-{time.monotonic_ns()}.log"), env=env)
        try:
            return curl("-x", f"socks5h://127.0.0.1:{client.port}", f"http://127.0.0.1:{origin.port}/bytes/1000",
                        timeout=60)
        finally:
            client.stop()
            origin.close()

    def test_1_issued_served_and_validated_by_clients(self):
        self.assertIn(f"obtains one for {NAME}", self.init_output)
        self.assertNotIn("pin=", self.link)  # ordinary CA validation instead
        self.wait_for_issued(1)
        self.wait_for_served(self.ca_issued)
        for name in ("cert.pem", "key.pem", "acme-account.key"):
            self.assertEqual(os.stat(os.path.join(self.dir, name)).st_mode & 0o777, 0o600, name)
        fetched = self.fetch_through(self.link, dict(os.environ, SSL_CERT_FILE=self.root))
        self.assertEqual(fetched.returncode, 0, fetched.stderr)
        self.assertEqual(len(fetched.stdout), 1000)
        # A client that does not trust the CA does not get through.
        refused = self.fetch_through(self.link, dict(os.environ, SSL_CERT_FILE=os.path.join(self.tmp, "pebble.pem")))
        self.assertNotEqual(refused.returncode, 0)

    def test_2_prober_sees_nginx_chain_with_the_same_certificate(self):
        self.wait_for_issued(1)
        self.wait_for_served(self.ca_issued)
        www = os.path.join(self.tmp, "www")
        self.assertEqual(run(["lab", "cover-files", www]).returncode, 0)
        nginx, nginx_port = start_stock_nginx(self.tmp, os.path.join(self.dir, "cert.pem"),
                                              os.path.join(self.dir, "key.pem"), www)
        try:
            r = run(["lab", "audit", f"127.0.0.1:{self.port}", "--reference", f"127.0.0.1:{nginx_port}", "--sni",
                     NAME, "--timeout-ms", "3000"] + PROBE_JITTER, timeout=300)
        finally:
            nginx.terminate()
            nginx.wait(10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"PASS")

    def test_3_forced_renewal_replaces_the_certificate(self):
        self.wait_for_issued(1)
        self.wait_for_served(self.ca_issued)
        before = served_certificate(self.port)
        issued = log_count(self.log, "acme: new certificate for")
        config = os.path.join(self.dir, "config.toml")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(re.sub(r"renew_before_days = \d+", "renew_before_days = 100000", text))
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_for_issued(issued + 1)
        self.wait_for_served(lambda der: der != before and self.ca_issued(der))
        with open(config, "w") as f:
            f.write(text)
        self.server.proc.send_signal(signal.SIGHUP)
        fetched = self.fetch_through(self.link, dict(os.environ, SSL_CERT_FILE=self.root))
        self.assertEqual(fetched.returncode, 0, fetched.stderr)


if __name__ == "__main__":
    unittest.main()
