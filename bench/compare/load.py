#!/usr/bin/env python3
"""Client-side load for the comparison harness; runs where the proxy's SOCKS5 port is (inside the client
namespace on the emulated link). Prints one JSON object per run.

  load.py ttfb  --proxy PORT --target HOST:PORT --path /small --size N --count 200
  load.py burst --proxy PORT --target HOST:PORT --path /small --size N --count 10000
  load.py page  --proxy PORT --target HOST:PORT --paths-file F --parallel 6
  load.py idle  --proxy PORT --target HOST:PORT --count 1000   (holds them until a line on stdin)

--proxy 0 connects directly (the ceiling). Every request is a new connection (a new proxied stream).
"""
import argparse
import asyncio
import ipaddress
import json
import os
import resource
import socket
import statistics
import struct
import sys
import time


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def socks5_request(host, port):
    """Greeting and CONNECT for an IPv4 literal (no name resolution in the measurement)."""
    return b"\x05\x01\x00", b"\x05\x01\x00\x01" + ipaddress.IPv4Address(host).packed + struct.pack(">H", port)


async def open_stream(proxy, host, port):
    """A new connection to host:port, through the SOCKS5 proxy on 127.0.0.1:proxy unless proxy is 0."""
    if not proxy:
        return await asyncio.open_connection(host, port)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
    greeting, connect = socks5_request(host, port)
    writer.write(greeting)
    if await reader.readexactly(2) != b"\x05\x00":
        raise ConnectionError("SOCKS5 method refused")
    writer.write(connect)
    head = await reader.readexactly(4)
    if head[1] != 0:
        raise ConnectionError(f"SOCKS5 CONNECT failed with {head[1]}")
    rest = {1: 4, 4: 16}.get(head[3])
    if rest is None:
        rest = (await reader.readexactly(1))[0]
    await reader.readexactly(rest + 2)
    return reader, writer


async def get(proxy, host, port, path, size):
    """GETs `path` on a new stream; returns (seconds to the first response byte, seconds in all)."""
    start = time.perf_counter()
    reader, writer = await open_stream(proxy, host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n".encode())
        first = await reader.read(1)
        if not first:
            raise ConnectionError("closed before the response")
        ttfb = time.perf_counter() - start
        head = first + await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ConnectionError(head[:40])
        body = await reader.readexactly(size)
        return ttfb, time.perf_counter() - start, len(body)
    finally:
        writer.close()


def target(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def ttfb(a):
    host, port = target(a.target)
    samples, failures = [], 0
    for _ in range(a.count):
        try:
            first, _, _ = await asyncio.wait_for(get(a.proxy, host, port, a.path, a.size), a.timeout)
            samples.append(first * 1000)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            failures += 1
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] if samples else None
    return {"count": a.count, "failures": failures, "median_ms": statistics.median(samples) if samples else None,
            "p99_ms": p99, "samples_ms": samples}


async def burst(a):
    host, port = target(a.target)

    async def one():
        try:
            _, _, n = await asyncio.wait_for(get(a.proxy, host, port, a.path, a.size), a.timeout)
            return n == a.size
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return False

    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(a.count)))
    ok = sum(results)
    return {"count": a.count, "ok": ok, "failed": a.count - ok, "seconds": time.perf_counter() - start}


async def page(a):
    """A page of objects over fresh connections, `parallel` at a time (a browser's per-host limit)."""
    host, port = target(a.target)
    with open(a.paths_file) as f:
        objects = [(p, int(n)) for p, n in (line.split() for line in f if line.strip())]
    queue = list(objects)
    ok, failed = 0, 0

    async def worker():
        nonlocal ok, failed
        while queue:
            path, size = queue.pop(0)
            try:
                _, _, n = await asyncio.wait_for(get(a.proxy, host, port, path, size), a.timeout)
                ok += n == size
                failed += n != size
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(a.parallel)))
    return {"objects": len(objects), "ok": ok, "failed": failed, "seconds": time.perf_counter() - start}


async def idle(a):
    """Opens `count` streams that send nothing, reports, and holds them until stdin has a line."""
    host, port = target(a.target)
    streams, failed, in_a_row = [], 0, 0
    for _ in range(a.count):
        try:
            streams.append(await asyncio.wait_for(open_stream(a.proxy, host, port), a.timeout))
            in_a_row = 0
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            failed += 1
            in_a_row += 1
            if in_a_row == 3:  # the proxy is out of descriptors or memory: stop asking
                failed += a.count - len(streams) - failed
                break
    print(json.dumps({"opened": len(streams), "failed": failed}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for _, writer in streams:
        writer.close()
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ttfb", "burst", "page", "idle"])
    p.add_argument("--proxy", type=int, default=0)
    p.add_argument("--target", required=True)
    p.add_argument("--path", default="/small")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--paths-file")
    p.add_argument("--parallel", type=int, default=6)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    raise_fd_limit()
    result = asyncio.run({"ttfb": ttfb, "burst": burst, "page": page, "idle": idle}[a.mode](a))
    if result is not None:
        print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
