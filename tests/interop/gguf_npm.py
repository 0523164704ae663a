#!/usr/bin/python3
"""GGUF files ferry writes must parse with npm @huggingface/gguf (which we did not write) with
equal metadata and tensor infos. A GGUF holding every metadata type and several tensor types
(written here byte by byte from the spec) is rewritten by `ferry convert --raw`; a PyTorch
checkpoint is converted to GGUF; and llama.cpp's vocab GGUF from the testdata is read by both
readers. usage: gguf_npm.py FERRY WORKDIR [TESTDATA]"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from skips import skip_part, skip_test  # noqa: E402  (this folder is on sys.path)

FERRY, WORK = sys.argv[1], sys.argv[2]
TESTDATA = sys.argv[3] if len(sys.argv) > 3 else ""
HERE = os.path.dirname(os.path.abspath(__file__))
shutil.rmtree(WORK, ignore_errors=True)  # each run starts clean
os.makedirs(WORK)
failures = []
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14, "BF16": 30, "I32": 26, "F64": 28, "I8": 24, "I16": 25, "I64": 27}
VT = {"uint8": 0, "int8": 1, "uint16": 2, "int16": 3, "uint32": 4, "int32": 5, "float32": 6, "bool": 7,
      "string": 8, "array": 9, "uint64": 10, "int64": 11, "float64": 12}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def node_dump(path):
    p = subprocess.run(["node", os.path.join(HERE, "gguf_dump.mjs"), path], capture_output=True, text=True)
    check(p.returncode == 0, "@huggingface/gguf failed on %s: %s" % (path, p.stderr[-500:]))
    return json.loads(p.stdout) if p.returncode == 0 else None


def ferry_json(path):
    p = subprocess.run([FERRY, "inspect", "--json", "--full", path], capture_output=True, text=True)
    check(p.returncode == 0, "ferry inspect %s: %s" % (path, p.stderr))
    return json.loads(p.stdout)


def same_scalar(a, b):
    # the npm reader decodes strings with TextDecoder, which drops a leading U+FEFF
    # (llama's vocab has the BOM as token 30143); the bytes ferry reports are the file's
    if isinstance(a, str) and isinstance(b, str) and b.startswith("\ufeff"):
        return a == b[1:]
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    return str(a) == str(b)


def compare(path, label):
    """ferry's view and npm's view of the same file must agree key by key, tensor by tensor."""
    n, f = node_dump(path), ferry_json(path)
    if n is None:
        return None, None
    check(list(n["metadata"]) == list(f["metadata"]), "%s: key order/sets differ:\n%s\n%s" % (label, list(n["metadata"]), list(f["metadata"])))
    for k, fv in f["metadata"].items():
        nv = n["metadata"].get(k)
        if nv is None:
            continue
        if fv["type"] == "array":
            check(nv["type"] == 9 and nv["subType"] == VT[fv["element_type"]], "%s: %s array type" % (label, k))
            ok = len(nv["value"]) == len(fv["value"]) and all(same_scalar(x, y) for x, y in zip(nv["value"], fv["value"]))
            check(ok, "%s: %s array values differ" % (label, k))
        else:
            check(nv["type"] == VT[fv["type"]], "%s: %s type %s vs %s" % (label, k, nv["type"], fv["type"]))
            check(same_scalar(nv["value"], fv["value"]), "%s: %s value %r vs %r" % (label, k, nv["value"], fv["value"]))
    check(len(n["tensors"]) == len(f["tensors"]), "%s: tensor counts differ" % label)
    for nt, ft in zip(n["tensors"], f["tensors"]):
        check(nt["name"] == ft["name"], "%s: tensor name %s vs %s" % (label, nt["name"], ft["name"]))
        check([int(x) for x in nt["shape"]][::-1] == ft["shape"] if ft["shape"] else int(nt["n_dims"]) == 0,
              "%s: %s shape %s vs %s" % (label, ft["name"], nt["shape"], ft["shape"]))
        check(nt["dtype"] == GGML[ft["dtype"]], "%s: %s dtype %s vs %s" % (label, ft["name"], nt["dtype"], ft["dtype"]))
        check(int(n["tensorDataOffset"]) + int(nt["offset"]) == ft["offset"], "%s: %s offset" % (label, ft["name"]))
    return n, f


# --- a GGUF with every metadata type and block-quantized tensors, written from the spec
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, t, payload):
    return gstr(key) + struct.pack("<I", t) + payload


kvs = [
    kv("general.architecture", 8, gstr("llama")),
    kv("t.u8", 0, struct.pack("<B", 200)), kv("t.i8", 1, struct.pack("<b", -100)),
    kv("t.u16", 2, struct.pack("<H", 60000)), kv("t.i16", 3, struct.pack("<h", -30000)),
    kv("t.u32", 4, struct.pack("<I", 4000000000)), kv("t.i32", 5, struct.pack("<i", -2000000000)),
    kv("t.f32", 6, struct.pack("<f", 1e-5)), kv("t.bool", 7, b"\x01"),
    kv("t.string", 8, gstr("grüße, ▁tokens")),
    kv("t.u64", 10, struct.pack("<Q", 2**60 + 3)), kv("t.i64", 11, struct.pack("<q", -(2**50))),
    kv("t.f64", 12, struct.pack("<d", math.pi)),
    kv("t.arr_str", 9, struct.pack("<IQ", 8, 3) + gstr("<s>") + gstr("") + gstr("▁the")),
    kv("t.arr_f32", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.0, -1.5, 3.25)),
    kv("t.arr_i32", 9, struct.pack("<IQ", 5, 2) + struct.pack("<2i", -1, 7)),
    kv("t.arr_bool", 9, struct.pack("<IQ", 7, 2) + b"\x00\x01"),
    kv("t.arr_u64", 9, struct.pack("<IQ", 10, 1) + struct.pack("<Q", 12345678901234)),
]
tensors = [("token_embd.weight", [64, 4], "Q8_0"), ("blk.0.attn_q.weight", [256, 2], "Q4_K"),
           ("output.weight", [256, 3], "Q6_K"), ("output_norm.weight", [64], "F32"),
           ("blk.0.ffn_up.weight", [8, 2], "F16"), ("rope", [4], "BF16")]
blocks = {"Q8_0": (32, 34), "Q4_K": (256, 144), "Q6_K": (256, 210), "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2)}
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
data, off = b"", 0
for name, dims, dt in tensors:
    n = 1
    for d in dims:
        n *= d
    nbytes = n // blocks[dt][0] * blocks[dt][1]
    head += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", GGML[dt], off)
    chunk = bytes((off + i) % 251 for i in range(nbytes))
    chunk += b"\0" * ((32 - len(chunk) % 32) % 32)
    data += chunk
    off += len(chunk)
head += b"\0" * ((32 - len(head) % 32) % 32)
src = os.path.join(WORK, "spec.gguf")
open(src, "wb").write(head + data)
out = os.path.join(WORK, "ferry.gguf")
p = subprocess.run([FERRY, "convert", "--raw", src, "-o", out, "--force"], capture_output=True, text=True)
check(p.returncode == 0, "convert --raw to gguf: " + p.stderr)
n, f = compare(out, "ferry-written")
if n:
    m = n["metadata"]
    check(m["t.string"]["value"] == "grüße, ▁tokens", "string value")
    check(m["t.u64"]["value"] == str(2**60 + 3), "u64 value")
    check(m["t.f32"]["value"] == struct.unpack("<f", struct.pack("<f", 1e-5))[0], "f32 value")
    check(m["t.arr_str"]["value"] == ["<s>", "", "▁the"], "string array")
    check(m["ferry.source.format"]["value"] == "gguf", "provenance key")
    # tensor bytes survive the rewrite
    src_doc = json.loads(subprocess.run([FERRY, "inspect", "--json", "--hash", src], capture_output=True, text=True).stdout)
    out_doc = json.loads(subprocess.run([FERRY, "inspect", "--json", "--hash", out], capture_output=True, text=True).stdout)
    check([t["sha256"] for t in src_doc["tensors"]] == [t["sha256"] for t in out_doc["tensors"]], "tensor data changed")

# --- a PyTorch checkpoint converted to GGUF
try:
    import torch
    torch.manual_seed(1)
    sd = {"a.weight": torch.randn(4, 32), "b.bias": torch.randn(7).half(), "c": torch.randn(3, 2, 2).bfloat16(),
          "d": torch.arange(6, dtype=torch.int32)}
    pt = os.path.join(WORK, "sd.pt")
    torch.save(sd, pt)
    g = os.path.join(WORK, "sd.gguf")
    p = subprocess.run([FERRY, "convert", "--raw", pt, "-o", g, "--force"], capture_output=True, text=True)
    check(p.returncode == 0, "pt -> gguf: " + p.stderr)
    compare(g, "from-pytorch")
except ImportError:
    skip_part("torch not available for the PyTorch -> GGUF case")

# --- a real file written by llama.cpp's converter
vocab = os.path.join(TESTDATA, "gguf-vocab", "ggml-vocab-llama-spm.gguf") if TESTDATA else ""
if vocab and os.path.exists(vocab):
    n, f = compare(vocab, "llama-spm vocab")
    if f:
        check(len(f["metadata"]) == 22 and len(f["tensors"]) == 0, "vocab GGUF: %d keys, %d tensors" % (len(f["metadata"]), len(f["tensors"])))
    rew = os.path.join(WORK, "vocab.gguf")
    subprocess.run([FERRY, "convert", "--raw", vocab, "-o", rew, "--force"], check=False)
    compare(rew, "llama-spm vocab rewritten")
else:
    skip_part("no testdata", installed_by_deps=False)

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
