"""The comparison harness (bench/compare) in its quick mode: every tool - direct, Culvert's transports,
shadowsocks-libev, trojan, v2ray - moves every byte intact both ways on loopback, idle streams reach
the origin, and (as root) over the emulated link; 5,000 concurrent requests all succeed through
Culvert (more than one tunnel's 4,096 streams: the pool must spill into a second tunnel).
The figures are printed, not asserted: speed targets live in the full run (bench/compare/run.sh)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from harness import CULVERT

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class CompareQuick(unittest.TestCase):
    def test_every_tool_moves_every_byte(self):
        with tempfile.TemporaryDirectory(prefix="culvert-compare-test-") as out:
            run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "compare", "compare.py"), "--quick",
                                  "--binary", CULVERT, "--out", out], capture_output=True, text=True, timeout=1500)
            print(run.stdout)
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            with open(os.path.join(out, "results.json")) as f:
                report = json.load(f)
        names = set(report["loopback"])
        for expected in ("direct", "culvert tls", "culvert borrow", "shadowsocks-libev aes-256-gcm",
                         "shadowsocks-libev chacha20-ietf-poly1305", "trojan", "v2ray vmess"):
            self.assertIn(expected, names)
        for name, r in report["loopback"].items():
            self.assertGreater(r["download_mib_s"], 0, name)
            self.assertGreater(r["upload_mib_s"], 0, name)
            if name.startswith("culvert") or name == "direct":
                self.assertEqual(r["burst"]["ok"], r["burst"]["count"], name)
            for idle in r["idle"]:
                self.assertEqual(idle["opened"], idle["streams"], name)
                self.assertTrue(idle["reached_origin"], name)
        if os.geteuid() == 0:
            self.assertEqual(set(report["link"]), names)
            for name, r in report["link"].items():
                for loss in report["loss"]:
                    self.assertEqual(r[f"{loss:g}"]["failed"], 0, name)
            for name in ("culvert tls", "culvert borrow"):
                self.assertNotEqual(report["link"][name][f"{report['loss'][0]:g}"]["congestion"], "?")


if __name__ == "__main__":
    unittest.main()
