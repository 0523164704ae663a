#!/usr/bin/python3
"""GGUF sources in every ggml block type convert correctly, judged by llama.cpp's own library
(libggml-base from npm, tests/interop/ggml_lib.py): a small Llama GGUF written by ferry in F32
is rewritten here with each 2-D weight quantized by ggml to one of the 22 block types (IQ1..IQ4,
K-quants, legacy, ternary, MXFP4; random blocks for the codebook types, whose quantizers take
a minute to start); then
- `ferry convert --type f32` gives exactly ggml's dequantized values,
- `--type q8_0` (requantizing) gives exactly ggml's Q8_0 blocks of those values,
- `--to safetensors` gives a Hugging Face file whose unpermuted tensors equal them too;
and formats/quant_grid_tables.inc is what scripts/gen-iq-grids.py reads off the library now.
usage: convert_blocks.py FERRY WORKDIR"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_lib  # noqa: E402
from gguf_min import read, write  # noqa: E402
import make_llama  # noqa: E402
from servers import Checks  # noqa: E402

FERRY, WORK = sys.argv[1], sys.argv[2]
ggml = ggml_lib.load()
if ggml is None:
    print("skipped: llama.cpp's libggml-base not installed (scripts/install-deps)")
    sys.exit(0)
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
ferry("convert", hf, "-o", base, "--type", "f32")
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
    if ferry("convert", g, "-o", out, "--type", "f32"):
        got = read(out)[2]
        bad = [n for n in want if n not in got or got[n][2] != want[n].astype("<f4").tobytes()]
        check(not bad, "%s -> f32 equals llama.cpp's dequantization (differing: %s)" % (kind, bad[:3]))
        if not bad:
            exact.append(kind)
    rq = os.path.join(WORK, "%s-q8_0.gguf" % kind)
    if ferry("convert", g, "-o", rq, "--type", "q8_0"):
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
for kind in ("q2_k", "q3_k", "q4_k_m", "q5_k_m", "q6_k", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"):
    out = os.path.join(WORK, "edge-%s.gguf" % kind)
    if not ferry("convert", he, "-o", out, "--type", kind):
        continue
    for gname, (t, dims, blob) in read(out)[2].items():
        if gname in gg and t in names:
            ok = blob == ggml.quantize(names[t], w[gg[gname]].numpy())
            check(ok, "%s: %s (%s) with edge rows equals llama.cpp's quantizer" % (kind, gname, names[t]))
            seen[names[t]] = seen.get(names[t], 0) + ok
print("edge-row tensors equal to llama.cpp's quantizers: %s" % seen)
check(set(seen) >= {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"},
      "every written type was compared: %s" % sorted(seen))

print("GGUF sources converted exactly: to f32 %d, requantized to q8_0 %d, to safetensors %d of %d types"
      % (len(exact), len(requant), len(hf_ok), len(ggml_lib.TYPES)))
check.finish()
