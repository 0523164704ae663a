#!/usr/bin/python3
"""PyTorch is the oracle: checkpoints written by torch.save (zip and legacy formats) must be
reported by `ferry inspect --hash --json` with exactly the names, dtypes, shapes and data
hashes torch computes; files ferry writes (`convert --raw`) must load in
torch.load(weights_only=True) with equal tensors; ferry's safetensors must parse with a
reader written here from the format description; sharded indexes must list every tensor.

usage: torch_checkpoints.py FERRY WORKDIR"""
import collections
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

FERRY, WORK = sys.argv[1], sys.argv[2]
shutil.rmtree(WORK, ignore_errors=True)  # each run starts clean
os.makedirs(WORK)
DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
      torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
      torch.uint8: "U8", torch.bool: "BOOL"}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def flatten(obj, prefix=""):
    out = collections.OrderedDict()
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, prefix + "." + str(k) if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(flatten(v, prefix + "." + str(i) if prefix else str(i)))
    return out


def ferry(*args, expect=0):
    p = subprocess.run([FERRY, *args], capture_output=True, text=True)
    check(p.returncode == expect, "ferry %s: exit %d (expected %d): %s" % (" ".join(args), p.returncode, expect, p.stderr.strip()))
    return p


def inspect(path):
    p = ferry("inspect", "--hash", "--json", path)
    return json.loads(p.stdout) if p.returncode == 0 else None


def compare(path, tensors, label):
    doc = inspect(path)
    if doc is None:
        return
    got = {t["name"]: t for t in doc["tensors"]}
    check(list(got) == list(tensors) or set(got) == set(tensors),
          "%s: names %s != %s" % (label, sorted(got), sorted(tensors)))
    for name, t in tensors.items():
        g = got.get(name)
        if g is None:
            check(False, "%s: %s missing" % (label, name))
            continue
        check(g["dtype"] == DT[t.dtype], "%s: %s dtype %s != %s" % (label, name, g["dtype"], DT[t.dtype]))
        check(g["shape"] == list(t.shape), "%s: %s shape %s != %s" % (label, name, g["shape"], list(t.shape)))
        want = hashlib.sha256(tensor_bytes(t)).hexdigest()
        check(g["sha256"] == want, "%s: %s sha256 %s != %s" % (label, name, g["sha256"], want))
    return doc


torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
lin = torch.nn.Linear(5, 3)
obj = collections.OrderedDict()
obj["f32"] = torch.randn(3, 4)
obj["f16"] = torch.randn(2, 8).half()
obj["bf16"] = torch.randn(7).bfloat16()
obj["f64"] = torch.randn(2, 2, dtype=torch.float64)
obj["i64"] = torch.arange(-5, 5, dtype=torch.int64)
obj["i32"] = torch.tensor([1, -2, 3], dtype=torch.int32)
obj["i16"] = torch.tensor([[1, -2], [3, 4]], dtype=torch.int16)
obj["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
obj["u8"] = torch.arange(0, 250, 7, dtype=torch.uint8)
obj["bool"] = torch.tensor([True, False, True])
obj["transposed"] = torch.randn(3, 5).t()
obj["view_a"] = base[1:3]          # shares base's storage with an offset
obj["view_b"] = base[:, 2]         # strided column of the same storage
obj["scalar"] = torch.tensor(3.5)
obj["empty"] = torch.zeros(0, 4)
obj["param"] = torch.nn.Parameter(torch.randn(2, 3))
obj["nested"] = {"inner": {"w": torch.randn(2, 2)}, "list": [torch.ones(2), torch.zeros(1, dtype=torch.int64)]}
obj["module"] = lin.state_dict()
obj["not_a_tensor"] = 42
expected = flatten(obj)

zip_path = os.path.join(WORK, "zip.pt")
legacy_path = os.path.join(WORK, "legacy.pt")
torch.save(obj, zip_path)
torch.save(obj, legacy_path, _use_new_zipfile_serialization=False)
compare(zip_path, expected, "zip")
compare(legacy_path, expected, "legacy")

# ferry writes PyTorch: torch.load(weights_only=True) must give equal tensors
for src in (zip_path, legacy_path):
    out = os.path.join(WORK, os.path.basename(src) + ".ferry.pt")
    ferry("convert", "--raw", src, "-o", out)
    loaded = torch.load(out, weights_only=True)
    check(isinstance(loaded, collections.OrderedDict), "ferry .pt is not an OrderedDict")
    check(list(loaded) == list(expected), "ferry .pt names/order differ: %s" % list(loaded))
    for name, t in expected.items():
        g = loaded.get(name)
        check(g is not None and g.dtype == t.dtype and g.shape == t.shape and torch.equal(g, t.detach()),
              "ferry .pt tensor %s differs" % name)

# refusing to overwrite without --force, accepting with it
out = os.path.join(WORK, "zip.pt.ferry.pt")
p = ferry("convert", "--raw", zip_path, "-o", out, expect=73)
check("--force" in p.stderr, "overwrite refusal does not mention --force")
ferry("convert", "--raw", zip_path, "-o", out, "--force")

# ferry writes safetensors: parse with a reader written from the format description
st_path = os.path.join(WORK, "out.safetensors")
ferry("convert", "--raw", zip_path, "-o", st_path)
raw = open(st_path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
check(n % 8 == 0, "safetensors header length not a multiple of 8")
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__", {})
check(meta.get("ferry.source.format") == "pytorch", "provenance metadata missing: %s" % meta)
np_dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I16": "<i2",
         "I8": "i1", "U8": "u1", "BOOL": "?", "BF16": "<i2"}
end = 0
for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, en = e["data_offsets"]
    check(b == end, "safetensors gap before %s" % name)
    end = en
    arr = np.frombuffer(raw[8 + n + b: 8 + n + en], dtype=np_dt[e["dtype"]]).reshape(e["shape"])
    t = expected[name].detach().contiguous()
    want = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
    check(np.array_equal(arr, want), "safetensors tensor %s differs" % name)
check(8 + n + end == len(raw), "safetensors has trailing or missing bytes")
compare(st_path, expected, "safetensors")
# and back to PyTorch from safetensors
back = os.path.join(WORK, "back.pt")
ferry("convert", "--raw", st_path, "-o", back)
loaded = torch.load(back, weights_only=True)
check(all(torch.equal(loaded[k], v.detach()) for k, v in expected.items()), "safetensors -> pt changed data")

# GGUF has no U8/BOOL: a clean usage error naming the tensor
p = ferry("convert", "--raw", zip_path, "-o", os.path.join(WORK, "x.gguf"), expect=64)
check("'u8'" in p.stderr and "no GGUF type" in p.stderr, "GGUF refusal message: " + p.stderr)

# sharded safetensors and pytorch indexes
shard_dir = os.path.join(WORK, "sharded")
os.makedirs(shard_dir, exist_ok=True)
floats = collections.OrderedDict((k, v) for k, v in expected.items() if v.dtype == torch.float32)
names = list(floats)
halves = [names[: len(names) // 2], names[len(names) // 2:]]
wm = {}
for i, part in enumerate(halves):
    fn = "pytorch_model-%05d-of-00002.bin" % (i + 1)
    torch.save({k: floats[k].detach().clone() for k in part}, os.path.join(shard_dir, fn))
    wm.update({k: fn for k in part})
json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(os.path.join(shard_dir, "pytorch_model.bin.index.json"), "w"))
compare(shard_dir, floats, "pytorch index")
st_dir = os.path.join(WORK, "st_sharded")
os.makedirs(st_dir, exist_ok=True)
wm = {}
for i, part in enumerate(halves):
    fn = "model-%05d-of-00002.safetensors" % (i + 1)
    src = os.path.join(shard_dir, "pytorch_model-%05d-of-00002.bin" % (i + 1))
    ferry("convert", "--raw", src, "-o", os.path.join(st_dir, fn))
    wm.update({k: fn for k in part})
json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, open(os.path.join(st_dir, "model.safetensors.index.json"), "w"))
compare(st_dir, floats, "safetensors index")
wm[names[0]] = "model-00002-of-00002.safetensors"
json.dump({"weight_map": wm}, open(os.path.join(st_dir, "model.safetensors.index.json"), "w"))
p = ferry("inspect", st_dir, expect=65)
check(names[0] in p.stderr, "index mismatch message does not name the tensor: " + p.stderr)

# ---- PyTorch 2.x files (issue 13). torch.save since 2.3 writes tensors of dtypes without a legacy
# storage class (uint16/32/64, float8) as _rebuild_tensor_v3 over a torch.storage.UntypedStorage
# with the dtype as a torch.<dtype> global, and adds .format_version, .storage_alignment and
# .data/serialization_id. Debian's torch 1.13 cannot write these, so they are built here from the
# pickle opcodes and zip layout torch 2.x uses (records aligned to 64 bytes).
import zipfile  # noqa: E402


from sparse_torch import glob_op as g, str_op as s, int_op as i, tuple_op as tup  # noqa: E402


def v3_tensor(key, dtype, nbytes, shape, stride):
    """_rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype)"""
    pid = tup(s("storage"), g("torch.storage", "UntypedStorage"), s(key), s("cpu"), i(nbytes))
    args = tup(pid + b"Q", i(0), tup(*[i(d) for d in shape]), tup(*[i(d) for d in stride]), b"\x89",
               g("collections", "OrderedDict") + b")R", g("torch", dtype))
    return g("torch._utils", "_rebuild_tensor_v3") + args + b"R"


def torch2_zip(path, entries):
    pkl = b"\x80\x02" + g("collections", "OrderedDict") + b")R("
    blobs = {}
    for n, (key, dtype, data, shape) in enumerate(entries):
        stride, acc = [], 1
        for d in reversed(shape):
            stride.insert(0, acc)
            acc *= d
        pkl += s(key) + v3_tensor(str(n), dtype, len(data), shape, stride)
        blobs[str(n)] = data
    pkl += b"u."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        def put(name, data, align=False):
            info = zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            if align:  # torch pads the local header's extra field so the record starts at 64
                hdr = 30 + len(info.filename.encode())
                pad = (-(z.fp.tell() + hdr + 4)) % 64
                info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
            z.writestr(info, data)
        put("data.pkl", pkl)
        put(".format_version", b"1")
        put(".storage_alignment", b"64")
        put("byteorder", b"little")
        for key, data in blobs.items():
            put("data/" + key, data, align=True)
        put("version", b"3\n")
        put(".data/serialization_id", b"1234567890123456789012345678901234567890")


u16 = np.arange(12, dtype="<u2").reshape(3, 4) * 5000
f8 = np.array([0x00, 0x38, 0x40, 0xB8, 0x7E, 0x01, 0x44, 0x3C], dtype=np.uint8)  # E4M3 codes
u64 = np.array([1, 2**40, 2**63 + 7], dtype="<u8")
p2 = os.path.join(WORK, "torch2.pt")
torch2_zip(p2, [("w_u16", "uint16", u16.tobytes(), [3, 4]), ("w_f8", "float8_e4m3fn", f8.tobytes(), [2, 4]),
                ("w_u64", "uint64", u64.tobytes(), [3])])
doc = inspect(p2)
if doc:
    got = {t["name"]: t for t in doc["tensors"]}
    for name, dt, data, shape in (("w_u16", "U16", u16.tobytes(), [3, 4]), ("w_f8", "F8_E4M3", f8.tobytes(), [2, 4]),
                                  ("w_u64", "U64", u64.tobytes(), [3])):
        t = got.get(name, {})
        check(t.get("dtype") == dt and t.get("shape") == shape and t.get("sha256") == hashlib.sha256(data).hexdigest(),
              "torch 2.x _rebuild_tensor_v3 + UntypedStorage: %s read as %s %s: %s" % (name, dt, shape, t))
# what torch's weights_only refuses stays refused inside such a file
p3 = os.path.join(WORK, "torch2-evil.pt")
torch2_zip(p3, [("w_u16", "uint16", u16.tobytes(), [3, 4])])
with zipfile.ZipFile(p3) as z:
    pk = z.read("archive/data.pkl")
evil = pk.replace(g("torch.storage", "UntypedStorage"), g("torch.storage", "_load_from_bytes"), 1)
with zipfile.ZipFile(p3, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", evil)
    z.writestr("archive/data/0", u16.tobytes())
p = ferry("inspect", p3, expect=65)
check("torch.storage._load_from_bytes" in p.stderr, "a global beside UntypedStorage is still refused: " + p.stderr)

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
