"""A minimal MaxMind DB (.mmdb) writer for tests: IPv4 networks -> {"country": {"iso_code": CC}}.

Format: MaxMind DB File Format Specification 2.0 — a binary search tree (24-bit records), 16 zero
bytes, the data section, then the metadata marker and map. Only what country lookups need.
"""
import ipaddress
import struct
import time


def _control(type_id, size):
    if size >= 29:
        raise ValueError("test writer supports short fields only")
    if type_id <= 7:
        return bytes([(type_id << 5) | size])
    return bytes([size, type_id - 7])  # extended type: type 0 in the control byte


def _encode(value):
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, dict):
        out = _control(7, len(value))
        for k, v in value.items():
            out += _encode(k) + _encode(v)
        return out
    if isinstance(value, list):
        out = _control(11, len(value))
        for v in value:
            out += _encode(v)
        return out
    if isinstance(value, tuple) and value[0] == "u16":
        raw = value[1].to_bytes(2, "big").lstrip(b"\0")
        return _control(5, len(raw)) + raw
    if isinstance(value, tuple) and value[0] == "u32":
        raw = value[1].to_bytes(4, "big").lstrip(b"\0")
        return _control(6, len(raw)) + raw
    if isinstance(value, tuple) and value[0] == "u64":
        raw = value[1].to_bytes(8, "big").lstrip(b"\0")
        return _control(9, len(raw)) + raw
    raise TypeError(value)


def write(path, networks):
    """networks: {"1.2.3.0/24": "CN", ...} (IPv4)."""
    data = b""
    offsets = {}
    for country in sorted(set(networks.values())):
        offsets[country] = len(data)
        data += _encode({"country": {"iso_code": country}})
    # Trie: node = [left, right], each a node index, ("data", offset) or None.
    nodes = [[None, None]]
    for text, country in networks.items():
        net = ipaddress.ip_network(text)
        bits = int(net.network_address)
        node = 0
        for i in range(net.prefixlen):
            bit = (bits >> (31 - i)) & 1
            if i == net.prefixlen - 1:
                nodes[node][bit] = ("data", offsets[country])
            else:
                if not isinstance(nodes[node][bit], int):
                    nodes.append([None, None])
                    nodes[node][bit] = len(nodes) - 1
                node = nodes[node][bit]
    count = len(nodes)

    def record(r):
        if r is None:
            return count
        if isinstance(r, int):
            return r
        return count + 16 + r[1]

    tree = b""
    for left, right in nodes:
        tree += record(left).to_bytes(3, "big") + record(right).to_bytes(3, "big")
    metadata = _encode({
        "node_count": ("u32", count), "record_size": ("u16", 24), "ip_version": ("u16", 4),
        "database_type": "Culvert-Test-Country", "languages": ["en"],
        "binary_format_major_version": ("u16", 2), "binary_format_minor_version": ("u16", 0),
        "build_epoch": ("u64", int(time.time())), "description": {"en": "test"},
    })
    with open(path, "wb") as f:
        f.write(tree + b"\0" * 16 + data + b"\xab\xcd\xefMaxMind.com" + metadata)


if __name__ == "__main__":
    import sys
    write(sys.argv[1], dict(arg.split("=") for arg in sys.argv[2:]))
