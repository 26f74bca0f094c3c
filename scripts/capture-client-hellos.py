#!/usr/bin/env python3
"""Captures real browsers' TLS ClientHellos as reference data for the lab's fingerprint rule.

  scripts/capture-client-hellos.py [--count 3] [--browsers chromium,firefox] [--host localhost|127.0.0.1]
                                   [--out lab/data/clienthello]

Installs nothing itself: needs Debian's `chromium` and `firefox-esr` (scripts/setup.sh --browsers).
Each browser is started headless with an empty profile against a local TCP listener that records
the first TLS record(s) of every connection and closes it; nothing leaves the machine. Files are
named BROWSER-VERSION-N.bin and hold the raw bytes of the ClientHello's TLS record(s).
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def read_client_hello(conn):
    """Reads whole TLS records until the handshake message they carry is complete."""
    data = b""
    conn.settimeout(5)
    need = None
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
        # Handshake length (3 bytes after the 5-byte record header and 1-byte type).
        if need is None and len(data) >= 9:
            need = int.from_bytes(data[6:9], "big")
        if need is not None:
            body, off = b"", 0
            while off + 5 <= len(data):
                length = int.from_bytes(data[off + 3:off + 5], "big")
                body += data[off + 5:off + 5 + length]
                off += 5 + length
            if len(body) >= need + 4:
                return data[:off]


def capture(name, version, command, count, out_dir, host="localhost"):
    """Starts the browser `count` times, each with a fresh profile, and writes each first hello.

    host "localhost" gives a hello with SNI (a site by name); an IP literal gives one without
    (browsers send no SNI for addresses); the files of the latter are named NAME-VERSION-ip-N.bin.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(1)
    port = listener.getsockname()[1]
    got = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            with conn:
                try:
                    hello = read_client_hello(conn)
                except OSError:
                    continue
                if hello[:1] == b"\x16":
                    got.append(hello)

    thread = threading.Thread(target=accept)
    thread.start()
    suffix = "" if host == "localhost" else "-ip"
    written = 0
    try:
        # One browser start per connection, each with an empty profile: a fresh first contact.
        for i in range(count):
            before = len(got)
            profile = tempfile.mkdtemp(prefix=f"capture-{name}-")
            url = f"https://{host}:{port}/?n={i}"
            p = subprocess.Popen(command(profile, url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while len(got) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            shutil.rmtree(profile, ignore_errors=True)
            # Keep the first hello of this start (a browser may open more than one connection).
            if len(got) > before:
                written += 1
                path = os.path.join(out_dir, f"{name}-{version}{suffix}-{written}.bin")
                with open(path, "wb") as f:
                    f.write(got[before])
                print(f"{path}: {len(got[before])} bytes", flush=True)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    return written


def version_of(binary):
    text = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+(\.\d+)+)", text)
    return m.group(1) if m else "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--browsers", default="chromium,firefox", help="comma-separated: chromium, firefox")
    ap.add_argument("--host", default="localhost", help="localhost (hello with SNI) or 127.0.0.1 (no SNI)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "lab", "data", "clienthello"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    def chromium(profile, url):
        return ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", url]

    def firefox(profile, url):
        return ["firefox-esr", "--headless", "--no-remote", "--profile", profile, url]

    wanted = a.browsers.split(",")
    total = 0
    if "chromium" in wanted:
        total += capture("chromium", version_of("chromium"), chromium, a.count, a.out, a.host)
    if "firefox" in wanted:
        total += capture("firefox", version_of("firefox-esr"), firefox, a.count, a.out, a.host)
    if total < len(wanted) * a.count:
        raise SystemExit(f"captured only {total} ClientHellos")


if __name__ == "__main__":
    main()
