"""Culvert's own TLS 1.3 client (`culvert lab fetch`) against real servers: `openssl s_server` and
nginx, each with a certificate chain signed by a test CA, checked by name; a HelloRetryRequest when
the server wants P-256; refusal of a wrong name and of an untrusted CA."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import free_port, start_tls_site, wait_for_port


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="culvert-interop-")
        t = cls.tmp

        cls.nginx, cls.nginx_port = start_tls_site(t, "served by nginx over TLS 1.3")
        cls.env = dict(os.environ, SSL_CERT_FILE=os.path.join(t, "ca.pem"))

    @classmethod
    def tearDownClass(cls):
        cls.nginx.terminate()
        cls.nginx.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fetch(self, url, connect, env=None):
        return subprocess.run([os.environ["CULVERT_BIN"], "lab", "fetch", url, "--connect", connect],
                              capture_output=True, env=env or self.env, timeout=30)

    def s_server(self, *extra):
        port = free_port()
        p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "leaf.pem",
                              "-key", "leaf.key", "-CAfile", "ca.pem", "-www", "-tls1_3", "-quiet"] + list(extra),
                             cwd=self.tmp, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (p.terminate(), p.wait(10)))
        self.assertTrue(wait_for_port(port))
        return port

    def test_nginx_serves_its_page_to_the_own_client(self):
        r = self.fetch(f"https://localhost:{self.nginx_port}/", f"127.0.0.1:{self.nginx_port}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"HTTP/1.1 200 OK", r.stdout)
        self.assertIn(b"served by nginx over TLS 1.3", r.stdout)
        self.assertIn(b"group=0x1d", r.stderr)  # Debian 12's nginx (OpenSSL 3.0) picks X25519

    def test_openssl_s_server_answers_and_a_retry_to_p256_works(self):
        port = self.s_server()
        r = self.fetch(f"https://localhost:{port}/", f"127.0.0.1:{port}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"HTTP/1.0 200 ok", r.stdout)
        self.assertIn(b"hello_retry=no", r.stderr)
        port = self.s_server("-groups", "P-256")
        r = self.fetch(f"https://localhost:{port}/", f"127.0.0.1:{port}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"hello_retry=yes", r.stderr)
        self.assertIn(b"group=0x17", r.stderr)

    def test_wrong_name_and_untrusted_ca_are_refused(self):
        r = self.fetch(f"https://example.org:{self.nginx_port}/", f"127.0.0.1:{self.nginx_port}")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"TLS handshake", r.stderr)
        system = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
        r = self.fetch(f"https://localhost:{self.nginx_port}/", f"127.0.0.1:{self.nginx_port}", env=system)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
