#!/usr/bin/python3
"""numpy and PyTorch as oracles for the small formats and the float rounding:
- F32 -> F16 must equal numpy's astype(float16) and F32 -> BF16 PyTorch's .bfloat16(), bit for
  bit, over random values, ties, subnormals, overflow and NaN (through tests/unit/half_oracle);
- .npy files written by ferry load in numpy; numpy's C- and Fortran-order files are hashed by
  `ferry inspect --hash` exactly as numpy sees the array;
- a split GGUF set (split.no/count/tensors.count, NAME-0000k-of-0000n.gguf) reads as one model,
  and a wrong count or a missing shard is refused;
- every ggml block type dequantizes exactly as numpy decoders (table and ternary types) and
  llama.cpp's own dequantizers (all 22 types, through its npm library) do, and the 8-bit
  floats and unsigned/bool dtypes of safetensors as their definitions say.
usage: numpy_formats.py FERRY HALF_ORACLE WORKDIR"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from skips import skip_part, skip_test  # noqa: E402  (this folder is on sys.path)

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_lib  # noqa: E402

FERRY, ORACLE, WORK = sys.argv[1:4]
shutil.rmtree(WORK, ignore_errors=True)  # each run starts clean
os.makedirs(WORK)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


# --- rounding
rng = np.random.default_rng(7)
vals = [rng.standard_normal(200000).astype(np.float32) * np.float32(10.0) ** rng.integers(-9, 6, 200000).astype(np.float32),
        rng.integers(0, 2**32, 200000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        np.array([0.0, -0.0, 65504, 65519.99, 65520, 1e-8, 2**-25, 2**-24, 1 + 2**-11, 1 + 3 * 2**-11,
                  np.inf, -np.inf, np.nan, 1e38, -3.0e-39], dtype=np.float32)]
x = np.concatenate(vals)
src = os.path.join(WORK, "x.npy")
np.save(src, x)
f16p, bf16p = os.path.join(WORK, "h.npy"), os.path.join(WORK, "b.npy")
p = subprocess.run([ORACLE, src, f16p, bf16p], capture_output=True, text=True)
check(p.returncode == 0, "half_oracle: " + p.stderr)
if p.returncode == 0:
    h = np.load(f16p)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    bad = np.nonzero((h != want) & ~nan)[0]
    check(len(bad) == 0, "F16 differs from numpy at %d values, e.g. %s" % (len(bad), [(float(x[i]), hex(h[i]), hex(want[i])) for i in bad[:5]]))
    check(np.all((h[nan] & 0x7c00) == 0x7c00) and np.all((h[nan] & 0x3ff) != 0), "F16 NaN not kept")
    try:
        import torch
        b = np.load(bf16p)
        wantb = torch.from_numpy(x.copy()).bfloat16().view(torch.int16).numpy().view(np.uint16)
        badb = np.nonzero((b != wantb) & ~nan)[0]
        check(len(badb) == 0, "BF16 differs from torch at %d values, e.g. %s" % (len(badb), [(float(x[i]), hex(b[i]), hex(wantb[i])) for i in badb[:5]]))
        check(np.all(((b[nan] >> 7) & 0xff) == 0xff) and np.all((b[nan] & 0x40) != 0), "BF16 NaN not quiet")
    except ImportError:
        skip_part("torch missing for the BF16 oracle")
    print("rounding checked on %d values" % len(x))


def inspect(path, expect=0):
    p = subprocess.run([FERRY, "inspect", "--json", "--hash", path], capture_output=True, text=True)
    check(p.returncode == expect, "inspect %s: exit %d, expected %d: %s" % (path, p.returncode, expect, p.stderr))
    return json.loads(p.stdout) if p.returncode == 0 else p.stderr


# --- npy
a = rng.standard_normal((3, 5)).astype(np.float32)
for order in ("C", "F"):
    path = os.path.join(WORK, "a_%s.npy" % order)
    np.save(path, np.asarray(a, order=order))
    doc = inspect(path)
    if isinstance(doc, dict):
        t = doc["tensors"][0]
        check(t["shape"] == [3, 5] and t["dtype"] == "F32", "npy %s shape/dtype" % order)
        check(t["sha256"] == hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(), "npy %s hash" % order)


# --- split GGUF
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def shard(path, no, count, total, tensors, extra_kv=b"", n_extra=0):
    kvs = extra_kv + gstr("split.no") + struct.pack("<IH", 2, no) + gstr("split.count") + struct.pack("<IH", 2, count) + \
        gstr("split.tensors.count") + struct.pack("<Ii", 5, total)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 3 + n_extra) + kvs
    data, off = b"", 0
    for name, values in tensors:
        head += gstr(name) + struct.pack("<IQIQ", 1, len(values), 0, off)
        blob = struct.pack("<%df" % len(values), *values)
        blob += b"\0" * ((32 - len(blob) % 32) % 32)
        data += blob
        off += len(blob)
    head += b"\0" * ((32 - len(head) % 32) % 32)
    open(path, "wb").write(head + data)


sd = os.path.join(WORK, "split")
os.makedirs(sd, exist_ok=True)
arch = gstr("general.architecture") + struct.pack("<I", 8) + gstr("llama")
parts = [[("a", [1.0, 2.0, 3.0])], [("b", [4.0] * 9), ("c", [5.0])], [("d", [6.0, 7.0])]]
for i, ts in enumerate(parts):
    shard(os.path.join(sd, "m-%05d-of-00003.gguf" % (i + 1)), i, 3, 4, ts, arch if i == 0 else b"", 1 if i == 0 else 0)
doc = inspect(os.path.join(sd, "m-00001-of-00003.gguf"))
if isinstance(doc, dict):
    check([t["name"] for t in doc["tensors"]] == ["a", "b", "c", "d"], "split: tensor names %s" % [t["name"] for t in doc["tensors"]])
    check(len(doc["files"]) == 3, "split: files")
    want = hashlib.sha256(struct.pack("<9f", *([4.0] * 9))).hexdigest()
    check(doc["tensors"][1]["sha256"] == want and doc["tensors"][1]["file"] == 1, "split: shard 2 data")
shard(os.path.join(sd, "m-00003-of-00003.gguf"), 2, 3, 4, [])
err = inspect(os.path.join(sd, "m-00001-of-00003.gguf"), expect=65)
check("split.tensors.count" in str(err), "split: wrong total not named: %s" % err)
os.remove(os.path.join(sd, "m-00003-of-00003.gguf"))
# 65 as for a shard missing from an index: the set the first shard describes is incomplete
err = inspect(os.path.join(sd, "m-00001-of-00003.gguf"), expect=65)
check("m-00003-of-00003.gguf" in str(err) and "is missing" in str(err), "split: missing shard not named: %s" % err)

# --- dequantization of the table and ternary block types: random blocks, decoded here with numpy
# from ggml's layouts, against `ferry diff` (which dequantizes the GGUF) on a safetensors copy
IQ4 = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.float32)
E2M1x2 = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], np.float32)


def halves(n):
    return (rng.standard_normal(n) * 0.01).astype(np.float16)


def nib(qs, table, d):  # (nb, 16) bytes -> (nb, 32): low nibbles, then high nibbles
    return np.concatenate([table[qs & 15], table[qs >> 4]], 1) * d[:, None]


def trits(q, k):
    return ((((q.astype(np.uint32) * 3 ** k) & 255) * 3) >> 8).astype(np.float32) - 1


def make_blocks(kind, nb):
    if kind == "IQ4_NL":
        d, qs = halves(nb), rng.integers(0, 256, (nb, 16), dtype=np.uint8)
        raw = np.concatenate([d.view(np.uint8).reshape(nb, 2), qs], 1)
        return 20, 32, raw, nib(qs, IQ4, d.astype(np.float32))
    if kind == "IQ4_XS":
        d, sh = halves(nb), rng.integers(0, 65536, nb, dtype=np.uint16)
        sl, qs = rng.integers(0, 256, (nb, 4), dtype=np.uint8), rng.integers(0, 256, (nb, 128), dtype=np.uint8)
        raw = np.concatenate([d.view(np.uint8).reshape(nb, 2), sh.view(np.uint8).reshape(nb, 2), sl, qs], 1)
        out = []
        for ib in range(8):
            ls = ((sl[:, ib // 2] >> (4 * (ib % 2))) & 15).astype(np.int32) | (((sh >> (2 * ib)) & 3).astype(np.int32) << 4)
            out.append(nib(qs[:, 16 * ib:16 * ib + 16], IQ4, d.astype(np.float32) * (ls - 32).astype(np.float32)))
        return 23, 256, raw, np.concatenate(out, 1)
    if kind == "MXFP4":
        e, qs = rng.integers(100, 140, (nb, 1), dtype=np.uint8), rng.integers(0, 256, (nb, 16), dtype=np.uint8)
        d = np.ldexp(np.float32(1), e[:, 0].astype(np.int32) - 128).astype(np.float32)
        return 39, 32, np.concatenate([e, qs], 1), nib(qs, E2M1x2, d)
    if kind == "TQ2_0":
        d, qs = halves(nb), rng.integers(0, 256, (nb, 64), dtype=np.uint8)
        out = [((qs[:, j:j + 32] >> (2 * l)) & 3).astype(np.float32) - 1 for j in (0, 32) for l in range(4)]
        raw = np.concatenate([qs, d.view(np.uint8).reshape(nb, 2)], 1)
        return 35, 256, raw, np.concatenate(out, 1) * d.astype(np.float32)[:, None]
    # TQ1_0: qs[48] with 5 trits per byte, qh[4] with 4, then d
    d, qs, qh = halves(nb), rng.integers(0, 243, (nb, 48), dtype=np.uint8), rng.integers(0, 81, (nb, 4), dtype=np.uint8)
    out = [trits(qs[:, :32], k) for k in range(5)] + [trits(qs[:, 32:], k) for k in range(5)] + \
        [trits(qh, k) for k in range(4)]
    raw = np.concatenate([qs, qh, d.view(np.uint8).reshape(nb, 2)], 1)
    return 34, 256, raw, np.concatenate(out, 1) * d.astype(np.float32)[:, None]


def write_gguf(path, tensors):  # [(name, ggml type, ne0, ne1, bytes)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 0)
    data, off = b"", 0
    for name, t, ne0, ne1, blob in tensors:
        head += gstr(name) + struct.pack("<IQQIQ", 2, ne0, ne1, t, off)
        blob += b"\0" * ((32 - len(blob) % 32) % 32)
        data += blob
        off += len(blob)
    head += b"\0" * ((32 - len(head) % 32) % 32)
    open(path, "wb").write(head + data)


def write_st(path, arrays, dtypes=None):
    """arrays as F32, or as raw bytes of dtypes[name] (a safetensors dtype string)"""
    hdr, off, blobs = {}, 0, []
    for name, a in arrays:
        dt = (dtypes or {}).get(name, "F32")
        b = a.tobytes() if dt != "F32" else a.astype("<f4").tobytes()
        hdr[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


gq, refs = [], []
for kind in ("IQ4_NL", "IQ4_XS", "MXFP4", "TQ1_0", "TQ2_0"):
    t, blk, raw, vals = make_blocks(kind, 32)
    ne0 = 256 if blk == 256 else 64
    gq.append((kind.lower(), t, ne0, vals.size // ne0, raw.tobytes()))
    refs.append((kind.lower(), vals.reshape(-1, ne0)))
write_gguf(os.path.join(WORK, "lut.gguf"), gq)
write_st(os.path.join(WORK, "lut.safetensors"), refs)
p = subprocess.run([FERRY, "diff", os.path.join(WORK, "lut.gguf"), os.path.join(WORK, "lut.safetensors"), "--json",
                    "--tolerance", "0"], capture_output=True, text=True)
check(p.returncode == 0, "diff of dequantized table/ternary types: exit %d %s %s" % (p.returncode, p.stdout[-600:], p.stderr[-300:]))
if p.stdout:
    got = {t["name"]: t for t in json.loads(p.stdout).get("tensors", [])}
    for kind, _ in refs:
        check(kind in got and got[kind].get("status") == "identical", "%s: dequantized values differ: %s" % (kind, got.get(kind)))
    print("table/ternary dequantization equal to numpy for %d types" % len(got))
# --- the 8-bit floats and unsigned/bool dtypes of safetensors, decoded here from the format
# definitions (sign, exponent bias, mantissa bits, which codes are NaN/inf), against `ferry diff`
def minifloat(codes, mbits, bias):
    e = (codes & 0x7f) >> mbits
    m = (codes & ((1 << mbits) - 1)).astype(np.float64)
    v = np.where(e > 0, (1 + m / 2 ** mbits) * np.exp2(e.astype(np.float64) - bias),
                 m / 2 ** mbits * 2.0 ** (1 - bias))
    return np.where(codes & 0x80, -v, v)


codes = np.arange(256, dtype=np.uint8)
f8 = {"F8_E4M3": (minifloat(codes, 3, 7), (codes & 0x7f) != 0x7f),
      "F8_E5M2": (minifloat(codes, 2, 15), ((codes >> 2) & 31) != 31),
      "F8_E4M3FNUZ": (minifloat(codes, 3, 8), codes != 0x80),
      "F8_E5M2FNUZ": (minifloat(codes, 2, 16), codes != 0x80),
      "F8_E8M0": (np.exp2(codes.astype(np.float64) - 127), codes != 0xff)}
raw, ref, dts = [], [], {}
for dt, (vals, finite) in f8.items():
    raw.append((dt.lower(), codes[finite]))
    ref.append((dt.lower(), vals[finite].astype(np.float32)))
    dts[dt.lower()] = dt
ints = {"U16": rng.integers(0, 2 ** 16, 64, dtype=np.uint16), "U32": rng.integers(0, 2 ** 32, 64, dtype=np.uint32),
        "U64": rng.integers(0, 2 ** 63, 64, dtype=np.uint64) * np.uint64(2) + np.uint64(1),
        "BOOL": rng.integers(0, 2, 64, dtype=np.uint8)}
for dt, a in ints.items():
    raw.append((dt.lower(), a.astype("<" + a.dtype.str[1:])))
    ref.append((dt.lower(), a.astype(np.float32)))  # numpy's own round-to-nearest conversion
    dts[dt.lower()] = dt
write_st(os.path.join(WORK, "small.safetensors"), raw, dts)
write_st(os.path.join(WORK, "small-ref.safetensors"), ref)
p = subprocess.run([FERRY, "diff", os.path.join(WORK, "small.safetensors"), os.path.join(WORK, "small-ref.safetensors"),
                    "--json", "--tolerance", "0"], capture_output=True, text=True)
check(p.returncode == 0, "diff of F8/unsigned/bool dtypes: exit %d %s %s" % (p.returncode, p.stdout[-600:], p.stderr[-300:]))
got = {t["name"]: t for t in json.loads(p.stdout or "{}").get("tensors", [])}
for name in dts:
    check(got.get(name, {}).get("status") == "identical", "%s: decoded values differ: %s" % (name, got.get(name)))
print("F8 / unsigned / bool decoding equal to the definitions for %d dtypes" %
      sum(t.get("status") == "identical" for t in got.values()))

# --- dequantization of every block type llama.cpp has, against llama.cpp's own dequantizers
# (libggml-base from npm, tests/interop/ggml_lib.py): random blocks with finite scales (every
# codebook index and sign pattern), plus blocks made by ggml's quantizers from rows at several
# magnitudes (types with a quick start); `ferry diff` must see no difference at all
ggml = ggml_lib.load()
if ggml is None:
    skip_part("llama.cpp's libggml-base not installed (scripts/install-deps)")
else:
    gq, refs = [], []
    for kind, (t, blk, size) in ggml_lib.TYPES.items():
        blocks = ggml_lib.random_blocks(kind, 64, rng)
        if kind not in ggml_lib.SLOW_INIT:
            rows = rng.standard_normal((8, 512)) * np.array([1e-3, 0.02, 1, 30, 1e-3, 0.02, 1, 30])[:, None]
            blocks = ggml.quantize(kind, rows.astype(np.float32)) + blocks
        vals = ggml.dequantize(kind, blocks)
        ne0 = 256 if blk == 256 else 64
        gq.append((kind, t, ne0, vals.size // ne0, blocks))
        refs.append((kind, vals.reshape(-1, ne0)))
    write_gguf(os.path.join(WORK, "ggml.gguf"), gq)
    write_st(os.path.join(WORK, "ggml.safetensors"), refs)
    p = subprocess.run([FERRY, "diff", os.path.join(WORK, "ggml.gguf"), os.path.join(WORK, "ggml.safetensors"),
                        "--json", "--tolerance", "0"], capture_output=True, text=True)
    check(p.returncode == 0, "diff against llama.cpp's dequantizers: exit %d %s %s" %
          (p.returncode, p.stdout[-600:], p.stderr[-300:]))
    got = {t["name"]: t for t in json.loads(p.stdout or "{}").get("tensors", [])}
    for kind, _ in refs:
        check(got.get(kind, {}).get("status") == "identical", "%s: differs from llama.cpp: %s" % (kind, got.get(kind)))
    print("dequantization equal to llama.cpp's for %d of %d block types" %
          (sum(t.get("status") == "identical" for t in got.values()), len(refs)))

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
