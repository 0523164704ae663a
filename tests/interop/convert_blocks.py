#!/usr/bin/python3
"""GGUF sources in every ggml block type convert correctly, judged by llama.cpp's own library
(libggml-base from npm, tests/interop/ggml_lib.py): a small Llama GGUF written by ferry in F32
is rewritten here with each 2-D weight quantized by ggml to one of the 22 block types (IQ1..IQ4,
K-quants, legacy, ternary, MXFP4; random blocks for the codebook types, whose quantizers take
a minute to start); then
- `ferry convert --type f32` gives exactly ggml's dequantized values,
- `--type q8_0 --allow-requantize` (requantizing) gives exactly ggml's Q8_0 blocks of those values,
- `--to safetensors` gives a Hugging Face file whose unpermuted tensors equal them too;
formats/quant_grid_tables.inc is what scripts/gen-iq-grids.py reads off the library now; edge
rows quantize as llama.cpp does in every written type; and an FP8 checkpoint (F8_E4M3 weights
with per-row weight_scale, as Meta ships Llama 3.1 405B) converts to code value * scale.
usage: convert_blocks.py FERRY WORKDIR"""
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
from gguf_min import read, write  # noqa: E402
import make_llama  # noqa: E402
from servers import Checks  # noqa: E402

FERRY, WORK = sys.argv[1], sys.argv[2]
ggml = ggml_lib.load()
if ggml is None:
    skip_test("llama.cpp's libggml-base not installed (scripts/install-deps)")
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()


def ferry(*args):
    p = subprocess.run([FERRY, *args], capture_output=True, text=True)
    check(p.returncode == 0, "ferry %s: exit %d %s" % (" ".join(args[:4]), p.returncode, p.stderr[-300:]))
    return p.returncode == 0


# the codebook tables in the source are what llama.cpp's library gives today
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
regen = os.path.join(WORK, "quant_grid_tables.inc")
subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-iq-grids.py"), ggml_lib.PATH, regen])
check(os.path.exists(regen) and open(regen).read() == open(os.path.join(ROOT, "formats", "quant_grid_tables.inc")).read(),
      "formats/quant_grid_tables.inc equals a fresh scripts/gen-iq-grids.py run")

cfg = make_llama.config(dim=256, layers=1, heads=4, kv_heads=2, ff=512, vocab=512)
hf = os.path.join(WORK, "hf")
make_llama.write_hf(hf, make_llama.weights(cfg, seed=11), cfg)
base = os.path.join(WORK, "f32.gguf")
ferry("convert", hf, "-o", base, "--type", "f32", "--no-vocab")
nkv, kv, src = read(base)
rng = np.random.default_rng(5)
exact, requant, hf_ok = [], [], []
for kind, (t, blk, size) in ggml_lib.TYPES.items():
    tens, want = {}, {}
    for name, (st, dims, blob) in src.items():
        x = np.frombuffer(blob, np.float32).reshape(dims[::-1])
        if len(dims) == 2:
            q = ggml_lib.random_blocks(kind, x.size // blk, rng, 0.003) if kind in ggml_lib.SLOW_INIT \
                else ggml.quantize(kind, x)
            tens[name] = (t, dims, q)
            want[name] = ggml.dequantize(kind, q).reshape(x.shape)
        else:
            tens[name] = (st, dims, blob)
            want[name] = x
    g = os.path.join(WORK, "%s.gguf" % kind)
    write(g, nkv, kv, tens)
    out = os.path.join(WORK, "%s-f32.gguf" % kind)
    if ferry("convert", g, "-o", out, "--type", "f32", "--no-vocab"):
        got = read(out)[2]
        bad = [n for n in want if n not in got or got[n][2] != want[n].astype("<f4").tobytes()]
        check(not bad, "%s -> f32 equals llama.cpp's dequantization (differing: %s)" % (kind, bad[:3]))
        if not bad:
            exact.append(kind)
    rq = os.path.join(WORK, "%s-q8_0.gguf" % kind)
    if ferry("convert", g, "-o", rq, "--type", "q8_0", "--no-vocab", "--allow-requantize"):
        got = read(rq)[2]
        bad = [n for n in want if len(want[n].shape) == 2 and
               (n not in got or got[n][2] != ggml.quantize("q8_0", want[n]))]
        check(not bad, "%s -> q8_0 equals llama.cpp's Q8_0 of the same values (differing: %s)" % (kind, bad[:3]))
        if not bad:
            requant.append(kind)
    hd = os.path.join(WORK, "%s-hf" % kind)
    if ferry("convert", g, "-o", hd, "--to", "safetensors", "--type", "f32"):
        raw = open(os.path.join(hd, "model.safetensors"), "rb").read()
        n, = struct.unpack_from("<Q", raw, 0)
        hdr = json.loads(raw[8:8 + n])
        ok = True
        for gname, hname in (("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"),
                             ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
                             ("output.weight", "lm_head.weight")):
            a, b = hdr[hname]["data_offsets"]
            ok &= raw[8 + n + a: 8 + n + b] == want[gname].astype("<f4").tobytes()
        check(ok, "%s -> safetensors equals llama.cpp's dequantization" % kind)
        if ok:
            hf_ok.append(kind)
# --- edge rows through ferry's writers against llama.cpp's quantizers: zeros, a constant, one
# spike, alternating signs, tiny and huge magnitudes, NaN and infinities, in the tensors that
# keep their row order (no Q/K permutation)
import torch  # noqa: E402
w = make_llama.weights(cfg, seed=12)
edge = [torch.zeros(256), torch.full((256,), 0.37), torch.eye(256)[5] * 3, torch.tensor([1.0, -1.0] * 128),
        torch.randn(256) * 1e-30, torch.randn(256) * 1e30, torch.linspace(-1, 1, 256),
        torch.where(torch.arange(256) % 7 == 0, torch.tensor(float("nan")), torch.randn(256)),
        torch.where(torch.arange(256) == 255, torch.tensor(float("inf")), torch.randn(256)),
        torch.cat([torch.zeros(128), torch.randn(128)]), torch.cat([torch.randn(32), torch.zeros(224)])]
for name in ("model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.gate_proj.weight",
             "model.layers.0.self_attn.v_proj.weight", "lm_head.weight"):
    for k, row in enumerate(edge):
        w[name][3 * k] = row
he = os.path.join(WORK, "edge")
make_llama.write_hf(he, w, cfg)
gg = {"blk.0.ffn_up.weight": "model.layers.0.mlp.up_proj.weight",
      "blk.0.ffn_gate.weight": "model.layers.0.mlp.gate_proj.weight",
      "blk.0.attn_v.weight": "model.layers.0.self_attn.v_proj.weight", "output.weight": "lm_head.weight"}
names = {t: n for n, (t, _, _) in ggml_lib.TYPES.items()}
seen = {}
# IQ3_S's codebook search aborts llama.cpp on NaN, infinity and 1e30 (whose square overflows):
# every distance is NaN. Its edge rows leave those out; ferry writes something for them and
# does not crash
wf = {k: v.clone() for k, v in w.items()}
for name in gg.values():
    for k in (5, 7, 8):
        wf[name][3 * k] = torch.linspace(-3, 3, 256) * (k - 4)
hef = os.path.join(WORK, "edge-finite")
make_llama.write_hf(hef, wf, cfg)
for kind in ("q2_k", "q3_k", "q4_k_m", "q5_k_m", "q6_k", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
             "iq4_xs", "tq1_0", "tq2_0", "iq3_s"):
    out = os.path.join(WORK, "edge-%s.gguf" % kind)
    if kind == "iq3_s" and not ferry("convert", he, "-o", out, "--type", kind, "--no-vocab"):
        continue
    src_w, src_dir = (wf, hef) if kind == "iq3_s" else (w, he)
    if not ferry("convert", src_dir, "-o", out, "--type", kind, "--no-vocab", "--force"):
        continue
    for gname, (t, dims, blob) in read(out)[2].items():
        if gname in gg and t in names:
            ok = blob == ggml.quantize(names[t], src_w[gg[gname]].numpy())
            check(ok, "%s: %s (%s) with edge rows equals llama.cpp's quantizer" % (kind, gname, names[t]))
            seen[names[t]] = seen.get(names[t], 0) + ok
# the 1- and 2-bit IQ types need an importance matrix: one of ones for every weight (token_embd
# too), with --pure so each weight is in the type; llama.cpp's quantizers get the same ones.
# They abort on NaN and infinity as IQ3_S does: ferry converts those rows without crashing
# (this test also runs under AddressSanitizer) and is compared on the finite ones
ones = os.path.join(WORK, "ones-imatrix.gguf")
kv = (struct.pack("<Q", 16) + b"imatrix.datasets" + struct.pack("<IIQ", 9, 8, 1) + struct.pack("<Q", 4) + b"ones"
      + struct.pack("<Q", 19) + b"imatrix.chunk_count" + struct.pack("<II", 4, 1)
      + struct.pack("<Q", 18) + b"imatrix.chunk_size" + struct.pack("<II", 4, 512))
write(ones, 3, kv, {n + s: (0, [d[0], 1] if s == ".in_sum2" else [1, 1],
                            (np.ones(d[0], np.float32) if s == ".in_sum2" else np.ones(1, np.float32)).tobytes())
                    for n, (t, d, _) in read(os.path.join(WORK, "edge-q8_0.gguf"))[2].items()
                    for s in (".in_sum2", ".counts") if len(d) == 2})
# Under the sanitizers (FERRY_SANITIZED, set by tests/CMakeLists.txt) the unoptimized codebook
# searches take minutes per type: there one IQ2 and one IQ1 type convert the non-finite rows, and
# the comparisons are left to the optimized build
SANITIZED = bool(os.environ.get("FERRY_SANITIZED"))
LOW = ("iq2_m", "iq1_s") if SANITIZED else ("iq2_xxs", "iq2_xs", "iq2_m", "iq1_s", "iq1_m", "iq3_xxs")
for kind in LOW:
    out = os.path.join(WORK, "edge-%s.gguf" % kind)
    if not ferry("convert", he, "-o", out, "--type", kind, "--pure", "--imatrix", ones, "--no-vocab") or \
            SANITIZED or \
            not ferry("convert", hef, "-o", out, "--type", kind, "--pure", "--imatrix", ones, "--no-vocab", "--force"):
        continue
    for gname, (t, dims, blob) in read(out)[2].items():
        if gname in gg and t in names:
            ok = blob == ggml.quantize(names[t], wf[gg[gname]].numpy(), np.ones(dims[0], np.float32))
            check(ok, "%s: %s (%s) with edge rows equals llama.cpp's quantizer" % (kind, gname, names[t]))
            seen[names[t]] = seen.get(names[t], 0) + ok
print("edge-row tensors equal to llama.cpp's quantizers: %s" % seen)
check(set(seen) >= {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
                    "iq4_xs", "tq1_0", "tq2_0", "iq3_s"} | (set() if SANITIZED else {"iq2_xxs", "iq2_xs", "iq2_s",
                                                                                    "iq1_s", "iq1_m", "iq3_xxs"}),
      "every written type was compared: %s" % sorted(seen))

# --- an FP8 checkpoint as Meta ships Llama 3.1 405B (fbgemm_fp8): linear weights in F8_E4M3
# with one F32 scale per row (X.weight_scale, [rows, 1]); ferry must give code value * scale,
# the scale following its source row through the Q/K permutation
def e4m3_table():
    c = np.arange(256, dtype=np.uint8)
    e, m = (c & 0x7f) >> 3, (c & 7).astype(np.float64)
    v = np.where(e > 0, (1 + m / 8) * np.exp2(e.astype(np.float64) - 7), m / 8 * 2.0 ** -6)
    v = np.where(c & 0x80, -v, v)
    return c[(c & 0x7f) != 0x7f], v[(c & 0x7f) != 0x7f].astype(np.float32)


CODES, VALUES = e4m3_table()
fp8 = os.path.join(WORK, "fp8")
os.makedirs(fp8)
w8 = make_llama.weights(cfg, seed=13)
tensors, want8 = [], {}
for name, t in w8.items():
    a = t.numpy().astype(np.float32)
    if a.ndim == 2 and "embed" not in name and "lm_head" not in name:
        scale = (np.abs(a).max(1, keepdims=True) / np.float32(448)).astype(np.float32)
        idx = np.abs((a / scale)[..., None] - VALUES).argmin(-1)
        tensors += [(name, "F8_E4M3", CODES[idx]), (name + "_scale", "F32", scale)]
        want8[name] = VALUES[idx] * scale  # float32 product, as the dequantization defines it
    else:
        tensors.append((name, "F32", a))
        want8[name] = a
hdr, blobs, off = {}, [], 0
for name, dt, a in tensors:
    b = np.ascontiguousarray(a).tobytes()
    hdr[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(hdr).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(os.path.join(fp8, "model.safetensors"), "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
json.dump(dict(cfg, quantization_config={"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}),
          open(os.path.join(fp8, "config.json"), "w"))


def hf_to_gguf_rows(a, heads):  # GGUF row r takes HF row h*hd + (w%2)*hd/2 + w//2
    hd = a.shape[0] // heads
    r = np.arange(a.shape[0])
    h, w = r // hd, r % hd
    return a[h * hd + (w % 2) * (hd // 2) + w // 2]


g8 = os.path.join(WORK, "fp8.gguf")
if ferry("convert", fp8, "-o", g8, "--type", "f32", "--no-vocab"):
    got = read(g8)[2]
    pairs = {"blk.0.attn_q.weight": hf_to_gguf_rows(want8["model.layers.0.self_attn.q_proj.weight"], cfg["num_attention_heads"]),
             "blk.0.attn_k.weight": hf_to_gguf_rows(want8["model.layers.0.self_attn.k_proj.weight"], cfg["num_key_value_heads"]),
             "blk.0.attn_v.weight": want8["model.layers.0.self_attn.v_proj.weight"],
             "blk.0.attn_output.weight": want8["model.layers.0.self_attn.o_proj.weight"],
             "blk.0.ffn_down.weight": want8["model.layers.0.mlp.down_proj.weight"],
             "token_embd.weight": want8["model.embed_tokens.weight"]}
    bad = [n for n, v in pairs.items() if got.get(n, (0, 0, b""))[2] != v.astype("<f4").tobytes()]
    check(not bad, "FP8 checkpoint -> f32 GGUF equals code value * row scale (differing: %s)" % bad)
    # the forward pass runs the FP8 directory itself (scales applied as its weights load)
    p = subprocess.run([FERRY, "check", fp8, "--ref", g8, "--ids", "1,5,9,200,33", "--max-kl", "1e-9"],
                       capture_output=True, text=True)
    check(p.returncode == 0, "ferry check of the FP8 directory against its GGUF: exit %d %s" %
          (p.returncode, (p.stdout + p.stderr)[-300:]))
# a scale that does not fit its weight is refused with the file and tensor named
hdr2 = dict(hdr)
name = "model.layers.0.mlp.up_proj.weight_scale"
hdr2[name] = dict(hdr[name], shape=[hdr[name]["shape"][0] // 2, 2])
h2 = json.dumps(hdr2).encode()
h2 += b" " * ((8 - len(h2) % 8) % 8)
badd = os.path.join(WORK, "fp8-bad")
shutil.copytree(fp8, badd)
open(os.path.join(badd, "model.safetensors"), "wb").write(struct.pack("<Q", len(h2)) + h2 + b"".join(blobs))
p = subprocess.run([FERRY, "convert", badd, "-o", os.path.join(WORK, "fp8-bad.gguf")], capture_output=True, text=True)
check(p.returncode == 65 and "up_proj.weight_scale" in p.stderr and "per row" in p.stderr,
      "a misshapen FP8 scale is refused (exit %d: %s)" % (p.returncode, p.stderr.strip()[-200:]))

print("GGUF sources converted exactly: to f32 %d, requantized to q8_0 %d, to safetensors %d of %d types"
      % (len(exact), len(requant), len(hf_ok), len(ggml_lib.TYPES)))
check.finish()
