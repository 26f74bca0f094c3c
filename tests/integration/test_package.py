"""The Debian package: built by CPack from this build, installed with apt into a minimal Debian 12
(debootstrap --variant=minbase: no compiler, nothing of ours) with only its declared dependencies,
then initialised and run there, and used by a client outside. Needs root (chroot); skips
otherwise. Run by CTest with CULVERT_BIN and CULVERT_BUILD_DIR set.
"""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Origin, Process, curl, free_port, wait_for_port

BUILD = os.environ.get("CULVERT_BUILD_DIR", "")


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("debootstrap") and BUILD, "needs root, debootstrap, a build")
@unittest.skipIf(os.environ.get("CULVERT_SANITIZED") == "1",
                 "a sanitizer build is not a package: its runtime needs /proc, which the chroot lacks")
class DebianPackage(unittest.TestCase):
    def test_package_installs_and_serves_in_a_clean_system(self):
        tmp = tempfile.mkdtemp(prefix="culvert-deb-")
        server = None
        try:
            r = subprocess.run(["cpack", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", tmp],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            debs = glob.glob(os.path.join(tmp, "culvert_*_amd64.deb"))
            self.assertEqual(len(debs), 1, os.listdir(tmp))
            deb = debs[0]
            root = os.path.join(tmp, "root")
            r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, "http://deb.debian.org/debian"],
                               capture_output=True, text=True, timeout=900)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
                f.write("deb http://deb.debian.org/debian bookworm main\n"
                        "deb http://deb.debian.org/debian bookworm-updates main\n"
                        "deb http://deb.debian.org/debian-security bookworm-security main\n")
            shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
            shutil.copy(deb, os.path.join(root, "tmp/culvert.deb"))

            def chroot(*command, timeout=600):
                return subprocess.run(["chroot", root] + list(command), capture_output=True, text=True,
                                      timeout=timeout, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                            "DEBIAN_FRONTEND": "noninteractive"})

            self.assertNotEqual(chroot("sh", "-c", "command -v c++ || command -v gcc || command -v cmake").returncode,
                                0, "the clean system has a compiler")
            self.assertEqual(chroot("apt-get", "update", "-qq").returncode, 0)
            r = chroot("apt-get", "install", "-y", "-qq", "--no-install-recommends", "/tmp/culvert.deb")
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            self.assertIn("culvert server init", r.stdout)  # the postinst says what to do next
            version = chroot("culvert", "--version")
            self.assertEqual(version.returncode, 0, version.stderr)
            self.assertTrue(os.path.exists(os.path.join(root, "lib/systemd/system/culvert.service")))
            with open(os.path.join(root, "lib/systemd/system/culvert.service")) as f:
                self.assertIn("ExecStart=/usr/bin/culvert server run --dir /var/lib/culvert", f.read())
            self.assertIn("culvert:", open(os.path.join(root, "etc/passwd")).read())
            self.assertEqual(os.stat(os.path.join(root, "var/lib/culvert")).st_mode & 0o777, 0o700)
            port = free_port()
            init = chroot("culvert", "server", "init", "--dir", "/var/lib/culvert", "--listen", f"127.0.0.1:{port}",
                          "--public-host", "127.0.0.1", "--allow-private", "--admin-listen", "", "--no-qr")
            self.assertEqual(init.returncode, 0, init.stderr)
            link = init.stdout.strip().splitlines()[-1]
            log = open(os.path.join(tmp, "server.log"), "wb")
            server = subprocess.Popen(["chroot", root, "culvert", "server", "run", "--dir", "/var/lib/culvert"],
                                      stdout=log, stderr=log)
            self.assertTrue(wait_for_port(port, 20), open(os.path.join(tmp, "server.log")).read())
            origin = Origin()
            client = Process(["client", link, "--listen", "127.0.0.1:0", "--profile", "none"],
                             os.path.join(tmp, "client.log"))
            try:
                fetched = curl("-x", f"socks5h://127.0.0.1:{client.port}", f"http://127.0.0.1:{origin.port}/bytes/4096")
                self.assertEqual(fetched.returncode, 0, fetched.stderr)
                self.assertEqual(len(fetched.stdout), 4096)
            finally:
                client.stop()
                origin.close()
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
