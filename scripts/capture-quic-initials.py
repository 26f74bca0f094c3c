#!/usr/bin/env python3
"""Captures Chromium's first QUIC datagrams as reference data for the lab (lab/data/quic/).

  scripts/capture-quic-initials.py [--host quic.example.test] [--seconds 8] [--out DIR] [--prefix conn1]

Needs root (a network namespace) and Debian's `chromium`. Chromium is told to reach https://HOST/
over QUIC and that HOST is 127.0.0.1:4433, inside a fresh namespace whose only interface is
loopback, so nothing can leave the machine. A UDP socket there saves every datagram it receives
as PREFIX-N.bin; nothing answers, so Chromium repeats its first flight and gives up. Read them with
`culvert lab fingerprint OUT/PREFIX-*.bin`.
"""
import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

PORT = 4433


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="quic.example.test")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--out", default="lab/data/quic")
    parser.add_argument("--prefix", default="conn1")
    args = parser.parse_args()
    namespace = f"culvert-qcap-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    profile = tempfile.mkdtemp(prefix="culvert-qcap-")
    try:
        subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True)
        # The listener runs in the namespace too: a child that binds there and prints what it got.
        listener = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "python3", "-c", LISTENER, args.out, args.prefix, str(args.seconds + 2)],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        version = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
        subprocess.run(
            ["timeout", str(args.seconds), "ip", "netns", "exec", namespace, "chromium", "--headless=new",
             "--no-sandbox", f"--user-data-dir={profile}", "--enable-quic",
             f"--origin-to-force-quic-on={args.host}:443",
             f"--host-resolver-rules=MAP {args.host}:443 127.0.0.1:{PORT}", f"https://{args.host}/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out, _ = listener.communicate(timeout=args.seconds + 10)
        print(f"{version}: {out.strip() or 'no datagrams'}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", namespace])


LISTENER = r"""
import os, socket, sys, time
out, prefix, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.makedirs(out, exist_ok=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 4433))
s.settimeout(0.25)
sizes, end = [], time.time() + seconds
while time.time() < end:
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        continue
    sizes.append(len(data))
    with open(os.path.join(out, f"{prefix}-{len(sizes)}.bin"), "wb") as f:
        f.write(data)
print(f"{len(sizes)} datagrams of {sizes} bytes")
"""

if __name__ == "__main__":
    main()
