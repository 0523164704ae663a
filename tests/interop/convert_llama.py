#!/usr/bin/python3
"""`ferry convert` of generated Llama checkpoints, judged by code we did not share with it:
GGUF layout read by npm @huggingface/gguf; expected names, Q/K permutation, dtype rules and
bytes computed here with numpy from llama.cpp's documented rules (F16 by numpy, BF16 by torch,
Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 by numpy versions of the reference quantizers, and every block type
ferry writes, k-quants included, by llama.cpp's own quantizers in its npm library); Meta shards and HF
files of the same weights must give the same GGUF; the Llama 2 tokenizer.model must give the
arrays of llama.cpp's vocab GGUF; bad inputs are refused; kill -9 leaves no output.
usage: convert_llama.py FERRY WORKDIR [TESTDATA]"""
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
from skips import skip_part, skip_test  # noqa: E402  (this folder is on sys.path)
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_lib  # noqa: E402
import kquant_ref  # noqa: E402
import make_llama  # noqa: E402

FERRY, WORK = sys.argv[1], sys.argv[2]
TESTDATA = sys.argv[3] if len(sys.argv) > 3 else ""
HERE = os.path.dirname(os.path.abspath(__file__))
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
failures = []
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "BF16": 30}
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 20: (32, 18)}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def ferry(*args, expect=0):
    # without the shared testdata the models have no tokenizer: GGUF outputs say so on purpose
    if (expect == 0 and not globals().get("spm") and args and args[0] == "convert" and "-o" in args
            and args[args.index("-o") + 1].endswith(".gguf")
            and not {"--no-vocab", "--vocab-from", "--vocab-only", "--raw"} & set(args)):
        args = (*args, "--no-vocab")
    p = subprocess.run([FERRY, *args], capture_output=True, text=True)
    check(p.returncode == expect, "ferry %s: exit %d, expected %d: %s" % (" ".join(args), p.returncode, expect, p.stderr.strip()))
    return p


def read_gguf(path):
    """Metadata and tensor bytes as @huggingface/gguf locates them."""
    p = subprocess.run(["node", os.path.join(HERE, "gguf_dump.mjs"), path], capture_output=True, text=True)
    check(p.returncode == 0, "@huggingface/gguf cannot read %s: %s" % (path, p.stderr[-300:]))
    d = json.loads(p.stdout)
    raw = open(path, "rb").read()
    base = int(d["tensorDataOffset"])
    tensors = {}
    for t in d["tensors"]:
        shape = [int(x) for x in t["shape"]]
        n = int(np.prod(shape))
        blk, size = BLOCK[t["dtype"]]
        off = base + int(t["offset"])
        tensors[t["name"]] = (t["dtype"], shape[::-1], raw[off: off + n // blk * size])
    return {k: v["value"] for k, v in d["metadata"].items()}, tensors


# ---- numpy reference quantizers (llama.cpp reference rounding, reference/formats.md 2.3)
def roundf(v):
    a = np.abs(v)
    fl = np.floor(a)
    return np.sign(v) * (fl + np.floor(2 * (a - fl)))


def f16b(v):
    return v.astype(np.float16).view(np.uint8).reshape(-1, 2)


def quantize(x, kind):
    b = x.astype(np.float32).reshape(-1, 32)
    n = b.shape[0]
    if kind in ("Q8_0", "Q4_0", "Q5_0"):
        if kind == "Q8_0":
            d = (np.abs(b).max(axis=1) / np.float32(127)).astype(np.float32)
        else:
            mx = b[np.arange(n), np.abs(b).argmax(axis=1)]
            d = (mx / np.float32(-8 if kind == "Q4_0" else -16)).astype(np.float32)
        with np.errstate(divide="ignore"):
            idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
        v = b * idv[:, None]
        if kind == "Q8_0":
            return np.concatenate([f16b(d), roundf(v).astype(np.int8).view(np.uint8)], axis=1).tobytes()
        q = np.minimum(np.trunc(v + np.float32(8.5 if kind == "Q4_0" else 16.5)), 15 if kind == "Q4_0" else 31).astype(np.uint8)
        lo = (q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)
        if kind == "Q4_0":
            return np.concatenate([f16b(d), lo], axis=1).tobytes()
        qh = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
        qh = qh.sum(axis=1, dtype=np.uint32).view(np.uint8).reshape(-1, 4)
        return np.concatenate([f16b(d), qh, lo], axis=1).tobytes()
    mn, mx = b.min(axis=1), b.max(axis=1)
    d = ((mx - mn) / np.float32(15 if kind == "Q4_1" else 31)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.trunc((b - mn[:, None]) * idv[:, None] + np.float32(0.5))
    if kind == "Q4_1":
        q = np.minimum(q, 15).astype(np.uint8)
        return np.concatenate([f16b(d), f16b(mn), (q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)], axis=1).tobytes()
    q = q.astype(np.uint8)
    qh = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
    qh = qh.sum(axis=1, dtype=np.uint32).view(np.uint8).reshape(-1, 4)
    return np.concatenate([f16b(d), f16b(mn), qh, (q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)], axis=1).tobytes()


def hf_to_gguf_permute(w, heads):
    r, c = w.shape
    return w.reshape(heads, 2, r // heads // 2, c).swapaxes(1, 2).reshape(r, c)


GGUF_NAME = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
LAYER = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
         "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
         "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def expected(w, cfg):
    """GGUF name -> float32 array as convert_hf_to_gguf would write it (before typing)."""
    out = {}
    for k, t in w.items():
        a = t.float().numpy()
        if k in GGUF_NAME:
            name = GGUF_NAME[k]
        else:
            parts = k.split(".")
            name = "blk.%s.%s.weight" % (parts[2], LAYER[".".join(parts[3:-1])])
            if name.endswith("attn_q.weight"):
                a = hf_to_gguf_permute(a, cfg["num_attention_heads"])
            if name.endswith("attn_k.weight"):
                a = hf_to_gguf_permute(a, cfg["num_key_value_heads"])
        out[name] = np.ascontiguousarray(a)
    return out


def expect_bytes(name, a, kind):
    if a.ndim == 1 or name.endswith("_norm.weight"):
        return "F32", a.astype(np.float32).tobytes()
    if kind == "F32":
        return kind, a.astype(np.float32).tobytes()
    if kind == "F16":
        return kind, a.astype(np.float16).tobytes()
    if kind == "BF16":
        return kind, torch.from_numpy(a).bfloat16().view(torch.int16).numpy().tobytes()
    return kind, quantize(a, kind)


def compare(gguf, exp, kind, label):
    meta, tensors = read_gguf(gguf)
    check(set(tensors) == set(exp), "%s: tensor names %s" % (label, sorted(set(tensors) ^ set(exp))))
    for name, a in exp.items():
        if name not in tensors:
            continue
        dt, shape, data = tensors[name]
        want_kind, want = expect_bytes(name, a, kind)
        check(dt == GGML[want_kind], "%s: %s dtype %d, expected %s" % (label, name, dt, want_kind))
        check(shape == list(a.shape), "%s: %s shape %s vs %s" % (label, name, shape, list(a.shape)))
        check(data == want, "%s: %s bytes differ from the %s reference" % (label, name, want_kind))
    return meta, tensors


spm = os.path.join(TESTDATA, "llama2-tokenizer", "tokenizer.model") if TESTDATA else ""
spm = spm if spm and os.path.exists(spm) else None
cfg = make_llama.config(dim=64, layers=2, heads=4, kv_heads=2, ff=96, vocab=32000 if spm else 320)
w = make_llama.weights(cfg, seed=1)
hf = os.path.join(WORK, "hf")
make_llama.write_hf(hf, w, cfg, tokenizer=spm)
exp = expected(w, cfg)

# ---- HF -> GGUF in every type, bytes against the references. The legacy block types run with
# --pure (every weight in the one type) to check each encoder; llama-quantize's per-tensor choices
# (output.weight Q6_K or Q8_0) are checked against llama.cpp itself in quantize_parity.py
for kind in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
    out = os.path.join(WORK, "hf-%s.gguf" % kind.lower())
    ferry("convert", hf, "-o", out, "--type", kind.lower(), "--name", "tiny",
          *(["--pure"] if kind in ("Q4_0", "Q4_1", "Q5_0", "Q5_1") else []))
    if os.path.exists(out):
        meta, _ = compare(out, exp, kind, "hf->" + kind)
        if kind == "Q8_0":
            check(meta.get("general.file_type") == 7 and meta.get("general.quantization_version") == 2, "file type keys")
            check(meta.get("llama.attention.head_count_kv") == 2 and meta.get("llama.embedding_length") == 64, "hparams")
            check(abs(meta.get("llama.rope.freq_base", 0) - 10000.0) < 1e-3, "rope.freq_base")
            check(meta.get("ferry.source.format") == "hf-safetensors" and len(meta.get("ferry.source.digest", "")) == 64, "provenance")
print("type checks done")

# ---- the same weights as sharded pytorch_model.bin and as Meta shards give the same tensors
def hashes(path):
    d = json.loads(ferry("inspect", "--json", "--hash", path).stdout or "{}")
    return {t["name"]: (t["dtype"], t["shape"], t["sha256"]) for t in d.get("tensors", [])}


def meta_keys(path):
    d = json.loads(ferry("inspect", "--json", "--full", path).stdout or "{}")
    return {k: v for k, v in d.get("metadata", {}).items() if not k.startswith("ferry.") and k != "general.name"}


hfbin = os.path.join(WORK, "hfbin")
make_llama.write_hf(hfbin, w, cfg, fmt="bin", shards=2, tokenizer=spm)
meta_dir = os.path.join(WORK, "meta")
make_llama.write_meta(meta_dir, w, cfg, shards=2, tokenizer=spm)
# inspect of a model-parallel Meta folder: each shard's slices (wq split by rows, wo by columns)
p = ferry("inspect", meta_dir, "--json")
shards = json.loads(p.stdout)["shards"] if p.returncode == 0 else []
shape = {(i, t["name"]): t["shape"] for i, sh in enumerate(shards) for t in sh["tensors"]}
dim = cfg["hidden_size"]
check(len(shards) == 2 and shape.get((1, "layers.0.attention.wq.weight")) == [dim // 2, dim]
      and shape.get((0, "layers.0.attention.wo.weight")) == [dim, dim // 2],
      "inspect of a 2-shard Meta folder shows each shard's slices: %s" % (sorted(shape.items())[:3],))
ref = os.path.join(WORK, "hf-q8_0.gguf")
for label, src in (("hf-bin-sharded", hfbin), ("meta-2-shards", meta_dir)):
    out = os.path.join(WORK, label + ".gguf")
    ferry("convert", src, "-o", out, "--type", "q8_0", "--name", "tiny")
    if os.path.exists(out):
        check(hashes(out) == hashes(ref), "%s: tensors differ from the safetensors conversion" % label)
        mo, mr = meta_keys(out), meta_keys(ref)
        check(mo == mr, "%s: metadata differs in %s" % (label, sorted(k for k in set(mo) | set(mr) if mo.get(k) != mr.get(k))))

# ---- tokenizer arrays equal llama.cpp's own conversion of the same tokenizer.model
vocab = os.path.join(TESTDATA, "gguf-vocab", "ggml-vocab-llama-spm.gguf") if TESTDATA else ""
if spm and os.path.exists(vocab):
    mine = json.loads(ferry("inspect", "--json", "--full", ref).stdout)["metadata"]
    theirs = json.loads(ferry("inspect", "--json", "--full", vocab).stdout)["metadata"]
    for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
              "tokenizer.ggml.model", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token"):
        check(mine.get(k) == theirs.get(k), "tokenizer key %s differs from llama.cpp's vocab GGUF" % k)
    print("tokenizer arrays compared (%d tokens)" % len(mine["tokenizer.ggml.tokens"]["value"]))
else:
    skip_part("no testdata (tokenizer comparison)", installed_by_deps=False)

# ---- a GGUF needs a vocabulary (issue 13): llama.cpp refuses one without tokenizer.ggml.model,
# so a source without tokenizer files is refused unless --no-vocab, or --vocab-from names one
hfnv = os.path.join(WORK, "hf-novocab")
shutil.copytree(hf, hfnv)
for n in ("tokenizer.model", "tokenizer.json"):
    if os.path.exists(os.path.join(hfnv, n)):
        os.remove(os.path.join(hfnv, n))
nv = os.path.join(WORK, "novocab.gguf")
p = ferry("convert", hfnv, "-o", nv, "--type", "q8_0", expect=65)
check("tokenizer.model or tokenizer.json" in p.stderr and "--no-vocab" in p.stderr and not os.path.exists(nv),
      "no vocabulary: refused, naming the missing files and the options: " + p.stderr)
ferry("convert", hfnv, "-o", nv, "--type", "q8_0", "--no-vocab")
if os.path.exists(nv):
    check(not [k for k in meta_keys(nv) if k.startswith("tokenizer.")], "--no-vocab writes no tokenizer keys")
if spm:
    def tok_keys(path):
        md = json.loads(ferry("inspect", "--json", "--full", path).stdout or "{}").get("metadata", {})
        return {k: v for k, v in md.items() if k.startswith("tokenizer.")}
    for label, src in (("tokenizer.model", spm), ("a model directory", hf), ("a GGUF", ref)):
        vf = os.path.join(WORK, "vocab-from.gguf")
        ferry("convert", hfnv, "-o", vf, "--type", "q8_0", "--vocab-from", src, "--force")
        check(os.path.exists(vf) and tok_keys(vf) == tok_keys(ref) and hashes(vf) == hashes(ref),
              "--vocab-from %s: the same tokenizer keys and tensors as the source's own" % label)
    vo = os.path.join(WORK, "vocab-only.gguf")
    ferry("convert", hf, "-o", vo, "--vocab-only")
    if os.path.exists(vo):
        doc = json.loads(ferry("inspect", "--json", "--full", vo).stdout)
        check(not doc["tensors"] and tok_keys(vo) == tok_keys(ref) and "llama.block_count" in doc["metadata"],
              "--vocab-only: the vocabulary and hyperparameters, no tensors")

# ---- tied embeddings and llama3 rope scaling
cfg3 = make_llama.config(dim=64, layers=1, heads=4, kv_heads=1, ff=64, vocab=256, tied=True, llama3=True, theta=500000.0)
w3 = make_llama.weights(cfg3, seed=3)
d3 = os.path.join(WORK, "hf3")
make_llama.write_hf(d3, w3, cfg3)
o3 = os.path.join(WORK, "hf3.gguf")
ferry("convert", d3, "-o", o3, "--type", "f32", "--no-vocab")
if os.path.exists(o3):
    exp3 = expected(w3, cfg3)
    hd = 16
    base, factor, lo, hi, old = 500000.0, 8.0, 1.0, 4.0, 64
    freqs = 1.0 / (base ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    wl = 2 * np.pi / freqs
    smooth = (old / wl - lo) / (hi - lo)
    rf = np.where(wl < old / hi, 1.0, np.where(wl > old / lo, factor, 1 / ((1 - smooth) / factor + smooth)))
    exp3["rope_freqs.weight"] = rf.astype(np.float32)
    meta3, t3 = read_gguf(o3)
    check("output.weight" not in t3, "tied embeddings must not write output.weight")
    got = np.frombuffer(t3["rope_freqs.weight"][2], dtype=np.float32) if "rope_freqs.weight" in t3 else None
    check(got is not None and np.allclose(got, rf, rtol=1e-6), "rope_freqs.weight %s vs %s" % (got, rf))
    del exp3["rope_freqs.weight"]
    for name, a in exp3.items():
        check(name in t3 and t3[name][2] == a.astype(np.float32).tobytes(), "llama3 model: %s" % name)

    # a GGUF keeps the scaling only as rope_freqs; its Hugging Face export names it again
    back3 = os.path.join(WORK, "hf3-from-gguf")
    ferry("convert", o3, "-o", back3, "--to", "safetensors")
    if os.path.exists(os.path.join(back3, "config.json")):
        rs = json.load(open(os.path.join(back3, "config.json"))).get("rope_scaling", {})
        check(rs.get("rope_type") == "llama3" and rs.get("factor") == 8.0 and rs.get("low_freq_factor") == 1.0
              and rs.get("high_freq_factor") == 4.0 and rs.get("original_max_position_embeddings") == 64,
              "GGUF -> Hugging Face: llama3 rope scaling recovered from rope_freqs: %s" % rs)
        la, lb = os.path.join(WORK, "l3-gguf.npy"), os.path.join(WORK, "l3-back.npy")
        ferry("logits", o3, "--ids", "1,5,9,200", "--all-positions", "-o", la)
        ferry("logits", back3, "--ids", "1,5,9,200", "--all-positions", "-o", lb)
        check(os.path.exists(la) and os.path.exists(lb) and np.allclose(np.load(la), np.load(lb), atol=1e-5),
              "GGUF -> Hugging Face: the export computes the GGUF's logits")

# ---- the same model as transformers 5 writes its config (issue 13): "rope_parameters" with
# rope_theta and the llama3 fields instead of top-level rope_theta + rope_scaling, "dtype" instead
# of "torch_dtype", an explicit head_dim. It must convert and compute exactly as the old shape.
d3b = os.path.join(WORK, "hf3-tf5")
shutil.copytree(d3, d3b)
c5 = json.load(open(os.path.join(d3, "config.json")))
rp = dict(c5.pop("rope_scaling"))
rp["rope_theta"] = c5.pop("rope_theta")
rp.pop("type", None)
c5["rope_parameters"] = rp
c5["dtype"] = c5.pop("torch_dtype", "float32")
c5["head_dim"] = c5["hidden_size"] // c5["num_attention_heads"]
json.dump(c5, open(os.path.join(d3b, "config.json"), "w"))
o3b = os.path.join(WORK, "hf3-tf5.gguf")
ferry("convert", d3b, "-o", o3b, "--type", "f32", "--no-vocab")
if os.path.exists(o3b) and os.path.exists(o3):
    meta3b, t3b = read_gguf(o3b)
    check(meta3b.get("llama.rope.freq_base") == 500000.0, "transformers 5 config: rope_theta %s" % meta3b.get("llama.rope.freq_base"))
    check(sorted(t3b) == sorted(t3) and all(t3b[k][2] == t3[k][2] for k in t3),
          "transformers 5 config: the same tensors as the transformers 4 shape (rope_freqs included)")
    la, lb = os.path.join(WORK, "tf4.npy"), os.path.join(WORK, "tf5.npy")
    ferry("logits", d3, "--ids", "1,5,9,200", "--all-positions", "-o", la)
    ferry("logits", d3b, "--ids", "1,5,9,200", "--all-positions", "-o", lb)
    check(os.path.exists(la) and os.path.exists(lb) and np.array_equal(np.load(la), np.load(lb)),
          "transformers 5 config: the same logits as the transformers 4 shape")
c6 = dict(c5, rope_parameters={"rope_type": "yarn", "rope_theta": 500000.0, "factor": 4.0})
d3c = os.path.join(WORK, "hf3-yarn")
shutil.copytree(d3, d3c)
json.dump(c6, open(os.path.join(d3c, "config.json"), "w"))
p = subprocess.run([FERRY, "convert", d3c, "-o", os.path.join(WORK, "yarn.gguf")], capture_output=True, text=True)
check(p.returncode == 65 and "'yarn'" in p.stderr, "a rope type ferry cannot compute is refused by name: %d %s" % (p.returncode, p.stderr))
# ferry's own Hugging Face output carries both shapes, saying the same (from the transformers 5
# directory, so the rope fields come from rope_parameters)
hfo = os.path.join(WORK, "hf3-back")
ferry("convert", d3b, "-o", hfo, "--to", "safetensors")
if os.path.exists(os.path.join(hfo, "config.json")):
    cb = json.load(open(os.path.join(hfo, "config.json")))
    rpb = cb.get("rope_parameters", {})
    check(rpb.get("rope_theta") == cb.get("rope_theta") == 500000.0 and rpb.get("rope_type") == "llama3"
          and cb.get("rope_scaling", {}).get("factor") == rpb.get("factor") and cb.get("dtype") == cb.get("torch_dtype"),
          "HF output: rope_parameters and rope_theta/rope_scaling agree: %s" % cb)

# ---- back to Hugging Face, PyTorch and Meta layouts: torch is the judge
def load_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    h.pop("__metadata__", None)
    out = {}
    for k, e in h.items():
        a, b = e["data_offsets"]
        buf = bytearray(raw[8 + n + a: 8 + n + b])
        if e["dtype"] == "BF16":
            out[k] = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16).reshape(e["shape"])
        else:
            dt = {"F32": torch.float32, "F16": torch.float16}[e["dtype"]]
            out[k] = torch.frombuffer(buf, dtype=dt).reshape(e["shape"])
    return out


for kind, tdt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
    wk = {k: v.to(tdt) for k, v in w.items()}
    src_dir = os.path.join(WORK, "rt-src-" + kind)
    make_llama.write_hf(src_dir, wk, cfg, tokenizer=spm)
    g = os.path.join(WORK, "rt-%s.gguf" % kind)
    back = os.path.join(WORK, "rt-back-" + kind)
    ferry("convert", src_dir, "-o", g, "--type", kind)
    ferry("convert", g, "-o", back, "--to", "safetensors", "--type", kind)
    if os.path.exists(os.path.join(back, "model.safetensors")):
        got = load_st(os.path.join(back, "model.safetensors"))
        check(set(got) == set(wk), "HF->GGUF->HF %s: names %s" % (kind, sorted(set(got) ^ set(wk))))
        same = all(k in got and got[k].dtype == v.dtype and torch.equal(got[k], v) for k, v in wk.items())
        check(same, "HF->GGUF->HF %s is not bit-identical" % kind)
        c = json.load(open(os.path.join(back, "config.json")))
        check(c["num_key_value_heads"] == 2 and c["intermediate_size"] == 96, "HF config after round trip")
pt_dir = os.path.join(WORK, "to-pytorch")
ferry("convert", hf, "-o", pt_dir, "--to", "pytorch")
if os.path.exists(os.path.join(pt_dir, "pytorch_model.bin")):
    got = torch.load(os.path.join(pt_dir, "pytorch_model.bin"), weights_only=True)
    check(all(torch.equal(got[k], v) for k, v in w.items()) and set(got) == set(w), "--to pytorch differs from the source")
meta_out = os.path.join(WORK, "to-meta")
ferry("convert", hf, "-o", meta_out, "--to", "meta")
ref_meta = os.path.join(WORK, "meta-ref")
make_llama.write_meta(ref_meta, w, cfg, shards=1)
if os.path.exists(os.path.join(meta_out, "consolidated.00.pth")):
    got = torch.load(os.path.join(meta_out, "consolidated.00.pth"), weights_only=True)
    want = torch.load(os.path.join(ref_meta, "consolidated.00.pth"), weights_only=True)
    check(set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want), "--to meta differs from Meta's layout")
    p = json.load(open(os.path.join(meta_out, "params.json")))
    check(p["n_kv_heads"] == 2 and p["dim"] == 64, "params.json")

    def meta_hidden(dim, multiple_of, mult):  # Meta's FeedForward sizing, from its model code
        h = int(2 * (4 * dim) / 3)
        if mult is not None:
            h = int(mult * h)
        return multiple_of * ((h + multiple_of - 1) // multiple_of)
    check("multiple_of" in p and meta_hidden(p["dim"], p["multiple_of"], p.get("ffn_dim_multiplier")) == cfg["intermediate_size"]
          and p.get("max_seq_len") == cfg["max_position_embeddings"],
          "params.json: multiple_of/ffn_dim_multiplier give the feed-forward size back, max_seq_len present: %s" % p)
meta_back = os.path.join(WORK, "meta-to-hf")
ferry("convert", meta_dir, "-o", meta_back, "--to", "safetensors")
if os.path.exists(os.path.join(meta_back, "model.safetensors")):
    got = load_st(os.path.join(meta_back, "model.safetensors"))
    check(all(torch.equal(got[k], v) for k, v in w.items()), "Meta -> HF does not give the HF weights back")
if spm and os.path.exists(vocab):
    # the tokenizer.model ferry writes from GGUF arrays converts back to the same arrays
    spm_back = os.path.join(WORK, "rt-back-f32")
    g2 = os.path.join(WORK, "spm-again.gguf")
    ferry("convert", spm_back, "-o", g2, "--type", "f32")
    a = json.loads(ferry("inspect", "--json", "--full", g2).stdout)["metadata"]
    b = json.loads(ferry("inspect", "--json", "--full", vocab).stdout)["metadata"]
    for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        check(a.get(k) == b.get(k), "tokenizer.model written from GGUF arrays: %s differs" % k)

# ---- k-quants: llama-quantize's per-tensor choices, readable by @huggingface/gguf, and less
# error than the legacy type of the same size
cfgk = make_llama.config(dim=256, layers=2, heads=4, kv_heads=2, ff=512, vocab=512)
wk = make_llama.weights(cfgk, seed=4)
dk = os.path.join(WORK, "kq")
make_llama.write_hf(dk, wk, cfgk)
def more_bits(i, n):  # llama-quantize: first and last eighth, every third layer between
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def lay(i, base):
    return "Q6_K" if more_bits(i, 2) else base


want = {"q2_k": {"attn_v": "Q3_K", "ffn_down": "Q3_K", "attn_output": "Q3_K", "attn_q": "Q2_K", "ffn_up": "Q2_K",
                 "output": "Q6_K", "token_embd": "Q2_K"},  # n_gqa 2: attn_v Q3_K
        "q3_k_s": {"attn_v": "Q3_K", "ffn_down": "Q3_K", "attn_output": "Q3_K", "attn_q": "Q3_K", "output": "Q6_K"},
        "q3_k": {"attn_v": "Q5_K", "ffn_down": "Q4_K", "attn_output": "Q4_K", "attn_q": "Q3_K", "ffn_gate": "Q3_K"},
        "q3_k_l": {"attn_v": "Q5_K", "ffn_down": "Q5_K", "attn_output": "Q5_K", "attn_k": "Q3_K"},
        "q4_k": {"attn_v": "Q5_K", "ffn_down": "Q4_K", "attn_q": "Q4_K", "output": "Q6_K"},  # Q4_K_S
        "q4_k_m": {"blk.0.attn_v": lay(0, "Q4_K"), "blk.1.attn_v": lay(1, "Q4_K"), "blk.0.ffn_down": lay(0, "Q4_K"),
                   "blk.1.ffn_down": lay(1, "Q4_K"), "attn_q": "Q4_K", "ffn_up": "Q4_K", "output": "Q6_K", "token_embd": "Q4_K"},
        "q5_k_m": {"blk.0.attn_v": lay(0, "Q5_K"), "blk.1.ffn_down": lay(1, "Q5_K"), "attn_q": "Q5_K", "output": "Q6_K"},
        "q6_k": {"attn_q": "Q6_K", "output": "Q6_K"}}
for kind, rules in want.items():
    g = os.path.join(WORK, "kq-%s.gguf" % kind)
    ferry("convert", dk, "-o", g, "--type", kind, "--no-vocab")
    if not os.path.exists(g):
        continue
    _, tens = read_gguf(g)
    inv = {v: k for k, v in GGML.items()}
    inv.update({10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K"})
    for name, (dt, shape, data) in tens.items():
        for key, t in rules.items():
            if ("." + key + ".") in name or name.startswith(key + "."):
                check(inv.get(dt) == t, "%s: %s is %s, llama-quantize gives %s" % (kind, name, inv.get(dt), t))
ferry("convert", os.path.join(WORK, "hf"), "-o", os.path.join(WORK, "kq-fallback.gguf"), "--type", "q4_k")
_, tens = read_gguf(os.path.join(WORK, "kq-fallback.gguf"))
check(tens.get("blk.0.attn_q.weight", (0,))[0] == 6, "rows of 64 fall back from Q4_K to Q5_0")
# Q2_K rows of 64 or 96 become Q4_0, as the llama.cpp of tests/interop decides (older releases
# chose IQ4_NL; quantize_parity.py checks every choice against its llama_model_quantize), in
# llama.cpp's own bytes
ferry("convert", os.path.join(WORK, "hf"), "-o", os.path.join(WORK, "kq-fallback-q2.gguf"), "--type", "q2_k")
_, tens = read_gguf(os.path.join(WORK, "kq-fallback-q2.gguf"))
fb = [n for n, (t, _, _) in tens.items() if t == 2]
check({"blk.0.attn_q.weight", "blk.0.ffn_down.weight"} <= set(fb), "Q2_K rows of 64/96 fall back to Q4_0: %s" % fb)
g = ggml_lib.load()
if g is not None:
    same = sum(tens[n][2] == g.quantize("q4_0", exp[n]) for n in fb)
    print("Q4_0 fallback tensors equal to llama.cpp's quantize_q4_0: %d of %d" % (same, len(fb)))
    check(same == len(fb), "Q4_0 fallback blocks differ from llama.cpp's quantize_q4_0")


def err_of(kind):
    g = os.path.join(WORK, "kq-err-%s.gguf" % kind)
    ferry("convert", dk, "-o", g, "--type", kind, "--no-vocab")
    p = ferry("diff", dk, g, "--json")
    d = json.loads(p.stdout or "{}")
    return max(t.get("max_abs", 0) for t in d.get("tensors", []) if t["name"].endswith("attn_q.weight"))
e = {k: err_of(k) for k in ("q2_k", "q3_k", "q4_0", "q4_1", "q4_k", "q5_0", "q5_1", "q5_k", "q6_k", "q8_0")}
print("max |error| of attn_q: %s" % e)
check(e["q4_k"] < e["q4_0"] and e["q6_k"] < e["q5_k"] < e["q4_k"] < e["q3_k"] < e["q2_k"],
      "k-quant errors not ordered: %s" % e)
# Q2_K and Q3_K bytes against a second implementation of ggml's reference quantizers (numpy, in
# this test), and decoded by this test's own reader close to the source
expk = expected(wk, cfgk)
for kind, dt, enc, dec, bound in (("q2_k", 10, kquant_ref.quantize_q2_k, kquant_ref.dequantize_q2_k, 0.45),
                                   ("q3_k", 11, kquant_ref.quantize_q3_k, kquant_ref.dequantize_q3_k, 0.25)):
    g = os.path.join(WORK, "kq-%s.gguf" % kind)
    if not os.path.exists(g):
        continue
    _, tens = read_gguf(g)
    seen = 0
    for name, (t, shape, data) in tens.items():
        if t != dt:
            continue
        src = expk[name].astype(np.float32)
        check(data == enc(src), "%s: %s bytes differ from the numpy reference quantizer" % (kind, name))
        y = dec(data)
        rel = float(np.sqrt(np.mean((y - src.reshape(-1)) ** 2)) / np.sqrt(np.mean(src ** 2)))
        check(rel < bound, "%s: %s relative RMS error %.3f" % (kind, name, rel))
        seen += 1
    print("%s: %d tensors equal to the numpy reference" % (kind, seen))
    check(seen >= 4, "%s: only %d tensors of that type" % (kind, seen))

# every block tensor of every k-quant and legacy file above against llama.cpp's own quantizers
# (libggml-base from npm, through ctypes): the bytes must be the same
ggml = ggml_lib.load()
if ggml is None:
    skip_part("llama.cpp's libggml-base not installed (scripts/install-deps)")
else:
    names = {t: n for n, (t, _, _) in ggml_lib.TYPES.items()}
    same, differ = {}, {}
    for f in sorted(os.listdir(WORK)):
        if not (f.startswith("kq-") and f.endswith(".gguf")) or "fallback" in f:
            continue
        _, tens = read_gguf(os.path.join(WORK, f))
        for name, (t, shape, data) in tens.items():
            if t not in names:
                continue
            ok = data == ggml.quantize(names[t], expk[name])
            (same if ok else differ)[names[t]] = (same if ok else differ).get(names[t], 0) + 1
            check(ok, "%s: %s (%s) bytes differ from llama.cpp's quantizer" % (f, name, names[t]))
    print("block tensors equal to llama.cpp's quantizers: %s; differing: %s" % (same, differ))
    check(set(same) == {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"}, "types compared: %s" % same)

# ---- split output: llama.cpp's names and split keys (read by @huggingface/gguf), the same tensors
# as one file; --resume keeps good shards and rewrites a damaged one
sp = os.path.join(WORK, "split", "m.gguf")
os.makedirs(os.path.dirname(sp))
ferry("convert", dk, "-o", sp, "--type", "q8_0", "--split-max-size", "400K", "--no-vocab")
shards = sorted(f for f in os.listdir(os.path.dirname(sp)) if f.endswith(".gguf"))
nsh = len(shards)
check(nsh > 2 and shards == ["m-%05d-of-%05d.gguf" % (i + 1, nsh) for i in range(nsh)], "split names: %s" % shards)
total = 0
for i, f in enumerate(shards):
    meta, tens = read_gguf(os.path.join(os.path.dirname(sp), f))
    check(meta.get("split.no") == i and meta.get("split.count") == nsh, "%s: split keys %s" % (f, meta))
    check((i == 0) == ("general.architecture" in meta), "%s: metadata only in the first shard" % f)
    total += len(tens)
one = os.path.join(WORK, "kq-one.gguf")
ferry("convert", dk, "-o", one, "--type", "q8_0", "--no-vocab")
first = os.path.join(os.path.dirname(sp), shards[0])
check(hashes(first) == hashes(one) and total == len(hashes(one)), "split set holds other tensors than one file")
mt = {f: os.stat(os.path.join(os.path.dirname(sp), f)).st_mtime_ns for f in shards}
victim = os.path.join(os.path.dirname(sp), shards[1])
with open(victim, "r+b") as fh:
    fh.truncate(os.path.getsize(victim) - 10)
ferry("convert", dk, "-o", sp, "--type", "q8_0", "--split-max-size", "400K", "--resume", "--no-vocab")
mt2 = {f: os.stat(os.path.join(os.path.dirname(sp), f)).st_mtime_ns for f in shards}
check(all(mt[f] == mt2[f] for f in shards if f != shards[1]) and mt[shards[1]] != mt2[shards[1]],
      "--resume should rewrite only the damaged shard")
check(hashes(first) == hashes(one), "split set after --resume differs")

# ---- Hugging Face output in safetensors shards with an index, read back here
shd = os.path.join(WORK, "hf-sharded")
ferry("convert", dk, "-o", shd, "--to", "safetensors", "--shard-size", "300K")
idx = json.load(open(os.path.join(shd, "model.safetensors.index.json")))
files = sorted(set(idx["weight_map"].values()))
check(len(files) > 2 and all(os.path.exists(os.path.join(shd, f)) for f in files), "shards: %s" % files)
got = {}
for f in files:
    got.update(load_st(os.path.join(shd, f)))
check(set(got) == set(wk) and all(torch.equal(got[k], v) for k, v in wk.items()), "sharded HF output differs from the source")
check(idx["metadata"]["total_size"] == sum(v.numel() * 4 for v in wk.values()), "index total_size")

# ---- ferry diff across formats
p = ferry("diff", hf, os.path.join(WORK, "hf-f32.gguf"))
check("21 of 21 tensors identical" in p.stdout if not spm else "tensors identical" in p.stdout, "diff HF vs its f32 GGUF: " + p.stdout[-200:])
ferry("diff", hf, meta_dir)
ferry("diff", hf, os.path.join(WORK, "hf-q8_0.gguf"))
p = ferry("diff", hf, os.path.join(WORK, "hf-q8_0.gguf"), "--tolerance", "1e-6", expect=1)
ferry("diff", hf, os.path.join(WORK, "hf-q8_0.gguf"), "--tolerance", "0.05")
changed = {k: v.clone() for k, v in w.items()}
changed["model.layers.1.self_attn.k_proj.weight"][3, 5] += 0.5
dchg = os.path.join(WORK, "changed")
make_llama.write_hf(dchg, changed, cfg)
p = ferry("diff", hf, dchg, "--json", expect=1)
doc = json.loads(p.stdout or "{}")
bad = [t for t in doc.get("tensors", []) if t["status"] != "identical"]
check(len(bad) == 1 and bad[0]["name"] == "blk.1.attn_k.weight" and bad[0]["different_values"] == 1
      and abs(bad[0]["max_abs"] - 0.5) < 1e-3, "diff names the one changed value: %s" % bad)

# ---- bad inputs
def bad_case(label, mutate, code=65, msg=""):
    d = os.path.join(WORK, "bad-" + label)
    shutil.copytree(hfbin, d)
    mutate(d)
    p = ferry("convert", d, "-o", os.path.join(WORK, "bad-%s.gguf" % label), expect=code)
    check(msg in p.stderr, "%s: message lacks '%s': %s" % (label, msg, p.stderr))
    check(not os.path.exists(os.path.join(WORK, "bad-%s.gguf" % label)), "%s: output left behind" % label)


def set_cfg(d, **kw):
    c = json.load(open(os.path.join(d, "config.json")))
    c.update(kw)
    json.dump(c, open(os.path.join(d, "config.json"), "w"))


bad_case("shape", lambda d: set_cfg(d, intermediate_size=128), msg="does not match the config")
bad_case("missing-shard", lambda d: os.remove(os.path.join(d, "pytorch_model-00002-of-00002.bin")), msg="is missing")


def outside(d):
    p = os.path.join(d, "pytorch_model.bin.index.json")
    idx = json.load(open(p))
    k = next(iter(idx["weight_map"]))
    idx["weight_map"][k] = "../elsewhere.bin"
    json.dump(idx, open(p, "w"))


bad_case("outside", outside, msg="plain file name")


def truncate(d):
    p = os.path.join(d, "pytorch_model-00001-of-00002.bin")
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) - 100])


bad_case("truncated", truncate)
bad_case("arch", lambda d: set_cfg(d, architectures=["GPT2LMHeadModel"], model_type="gpt2"), msg="unsupported architecture")
nan = {k: v.clone() for k, v in w.items()}
nan["model.layers.0.mlp.up_proj.weight"][0, 0] = float("nan")
nan["model.layers.0.mlp.up_proj.weight"][1, 1] = float("inf")
nan["model.layers.0.mlp.up_proj.weight"][2, 31] = float("nan")  # last of a block: ggml keeps it in amax
nan["model.layers.0.mlp.up_proj.weight"][3, 40] = float("-inf")
dn = os.path.join(WORK, "nan")
make_llama.write_hf(dn, nan, cfg)
up = nan["model.layers.0.mlp.up_proj.weight"].numpy()
for kind in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1"):
    ferry("convert", dn, "-o", os.path.join(WORK, "nan-%s.gguf" % kind), "--type", kind, "--no-vocab")
    if ggml is not None and os.path.exists(os.path.join(WORK, "nan-%s.gguf" % kind)):
        t, _, data = read_gguf(os.path.join(WORK, "nan-%s.gguf" % kind))[1]["blk.0.ffn_up.weight"]
        check(data == ggml.quantize(kind, up), "%s: NaN/Inf blocks differ from llama.cpp's quantizer" % kind)

# ---- kill -9 in the middle leaves nothing under the output name
big = make_llama.config(dim=512, layers=8, heads=8, kv_heads=8, ff=1536, vocab=32000)
db = os.path.join(WORK, "big")
make_llama.write_hf(db, make_llama.weights(big, seed=5), big)
ob = os.path.join(WORK, "big.gguf")
killed_mid = False
for attempt in range(5):  # kill while the temporary output exists, i.e. really mid-conversion
    if os.path.exists(ob):
        os.unlink(ob)
    proc = subprocess.Popen([FERRY, "convert", db, "-o", ob, "--type", "q4_0", "--threads", "1", "--no-vocab"],
                            stderr=subprocess.DEVNULL)
    end = time.time() + 30
    while time.time() < end and proc.poll() is None:
        if any(n.startswith(".big.gguf.tmp") for n in os.listdir(WORK)):
            break
        time.sleep(0.005)
    time.sleep(0.05 * attempt)
    killed_mid = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if killed_mid:
        break
check(killed_mid, "could not catch the conversion in progress to kill it")
check(not os.path.exists(ob), "kill -9 left a file under the output name")
ferry("convert", db, "-o", ob, "--type", "q4_0", "--no-vocab")
check(os.path.exists(ob), "rerun after kill -9 did not produce the output")

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
