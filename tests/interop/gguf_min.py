"""A minimal GGUF reader and writer for tests and benchmarks: metadata kept as raw bytes,
tensors as (ggml type, dims, data bytes). read(path) -> (n_kv, kv_bytes, {name: tensor});
write(path, n_kv, kv_bytes, tensors) lays them out again (32-byte alignment)."""
import struct

import numpy as np

from ggml_lib import TYPES

LAYOUT = {0: (1, 4), 1: (1, 2), 30: (1, 2), **{t: (blk, size) for t, blk, size in TYPES.values()}}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(b, pos, t):
    if t in SCALAR:
        return pos + SCALAR[t]
    if t == 8:
        n, = struct.unpack_from("<Q", b, pos)
        return pos + 8 + n
    et, n = struct.unpack_from("<IQ", b, pos)
    pos += 12
    if et in SCALAR:
        return pos + n * SCALAR[et]
    for _ in range(n):
        pos = skip_value(b, pos, et)
    return pos


def read(path):
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    _, nt, nkv = struct.unpack_from("<IQQ", b, 4)
    pos = 24
    for _ in range(nkv):
        n, = struct.unpack_from("<Q", b, pos)
        pos += 8 + n
        t, = struct.unpack_from("<I", b, pos)
        pos = skip_value(b, pos + 4, t)
    kv = b[24:pos]
    infos = []
    for _ in range(nt):
        n, = struct.unpack_from("<Q", b, pos)
        name = b[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        nd, = struct.unpack_from("<I", b, pos)
        dims = struct.unpack_from("<%dQ" % nd, b, pos + 4)
        t, off = struct.unpack_from("<IQ", b, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, dims, t, off))
    base = (pos + 31) // 32 * 32
    tensors = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        blk, size = LAYOUT[t]
        tensors[name] = (t, dims, b[base + off: base + off + n // blk * size])
    return nkv, kv, tensors


def write(path, nkv, kv, tensors):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), nkv) + kv
    data = b""
    for name, (t, dims, blob) in tensors.items():
        head += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
        head += struct.pack("<%dQ" % len(dims), *dims) + struct.pack("<IQ", t, len(data))
        data += blob + b"\0" * ((32 - len(blob) % 32) % 32)
    head += b"\0" * ((32 - len(head) % 32) % 32)
    open(path, "wb").write(head + data)
