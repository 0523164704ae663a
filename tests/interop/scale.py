#!/usr/bin/python3
"""Models of real size, on sparse files (holes read as zeros and take no disk):
- a Meta-layout set shaped like Llama 3.1 405B (8 consolidated.NN.pth shards of ~100 GB, 126
  layers, GQA 128/8) is planned by `convert --dry-run` in seconds, from the headers alone, with
  the output tensor table and sizes llama.cpp's converter would write;
- a directory of 200 safetensors shards converts, signs and verifies (and sign/verify agree with
  minisign and Python's hashlib);
- a safetensors file holding one 5 GiB tensor converts to GGUF f16 and q8_0 with peak RSS under
  300 MB (the rows are streamed, not loaded);
- offsets past 4 GiB: a tensor stored after 4.5 GiB of another in safetensors converts to GGUF
  and back, its values read at the right place by readers we did not write (@huggingface/gguf
  for the GGUF offsets, numpy over the file for both containers), and a PyTorch checkpoint past
  4 GiB (zip64) written by ferry loads in torch.
usage: scale.py FERRY WORKDIR"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sparse_torch  # noqa: E402
from skips import skip_part  # noqa: E402
from servers import Checks  # noqa: E402

FERRY, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
check = Checks()


def ferry(*args, timeout=600):
    return subprocess.run([FERRY, *args], capture_output=True, text=True, timeout=timeout)


def peak_rss_mb(*args):
    """runs ferry in a child of its own and returns (completed process, its peak RSS in MB)"""
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True);"
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n');"
            "sys.stderr.write(p.stderr.decode()); sys.exit(p.returncode)")
    p = subprocess.run([sys.executable, "-c", code, FERRY, *args], capture_output=True, text=True, timeout=900)
    kb = int(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else 0
    return p, kb / 1024


def safetensors_sparse(path, tensors, fill=None):
    """tensors [(name, dtype, shape)] as holes; fill {name: bytes} written at the tensor's start"""
    size = {"F32": 4, "F16": 2, "BF16": 2}
    header, off = {}, 0
    for name, dt, shape in tensors:
        n = size[dt]
        for d in shape:
            n *= d
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        base = f.tell()
        for name, data in (fill or {}).items():
            f.seek(base + header[name]["data_offsets"][0])
            f.write(data)
        f.truncate(base + off)
    return base, header


def hf_config(d, dim, layers, heads, kv, ff, vocab):
    json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": dim, "intermediate_size": ff,
               "num_attention_heads": heads, "num_key_value_heads": kv, "num_hidden_layers": layers,
               "vocab_size": vocab, "rms_norm_eps": 1e-5, "max_position_embeddings": 2048, "rope_theta": 10000.0},
              open(os.path.join(d, "config.json"), "w"))


# ---------------------------------------------------------------- Llama 3.1 405B, Meta layout
dim, layers, heads, kv, vocab, hidden, mp = 16384, 126, 128, 8, 128256, 53248, 8
hd = dim // heads
meta = os.path.join(WORK, "Llama-3.1-405B")
os.makedirs(meta)
json.dump({"dim": dim, "ffn_dim_multiplier": 1.2, "multiple_of": 4096, "n_heads": heads, "n_kv_heads": kv,
           "n_layers": layers, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": True,
           "vocab_size": vocab}, open(os.path.join(meta, "params.json"), "w"))
shard_tensors = [("tok_embeddings.weight", [vocab // mp, dim])]
for i in range(layers):
    p = "layers.%d." % i
    shard_tensors += [(p + "attention.wq.weight", [heads * hd // mp, dim]),
                      (p + "attention.wk.weight", [kv * hd // mp, dim]),
                      (p + "attention.wv.weight", [kv * hd // mp, dim]),
                      (p + "attention.wo.weight", [dim, heads * hd // mp]),
                      (p + "feed_forward.w1.weight", [hidden // mp, dim]),
                      (p + "feed_forward.w2.weight", [dim, hidden // mp]),
                      (p + "feed_forward.w3.weight", [hidden // mp, dim]),
                      (p + "attention_norm.weight", [dim]), (p + "ffn_norm.weight", [dim])]
shard_tensors += [("norm.weight", [dim]), ("output.weight", [vocab // mp, dim])]
t0 = time.time()
for s in range(mp):
    sparse_torch.write(os.path.join(meta, "consolidated.%02d.pth" % s), "consolidated.%02d" % s, shard_tensors)
apparent = sum(os.path.getsize(os.path.join(meta, n)) for n in os.listdir(meta))
on_disk = sum(os.stat(os.path.join(meta, n)).st_blocks * 512 for n in os.listdir(meta))
print("405B-shaped Meta set: %d shards, %.0f GB apparent, %.1f MB on disk, made in %.1f s"
      % (mp, apparent / 1e9, on_disk / 1e6, time.time() - t0))
t0 = time.time()
p = ferry("convert", meta, "-o", os.path.join(WORK, "405b.gguf"), "--no-vocab", "--dry-run", "--json")
took = time.time() - t0
plan = json.loads(p.stdout) if p.returncode == 0 else {}
tensors = {t["name"]: t for t in plan.get("tensors", [])}
params = sum(t["bytes"] // 2 for t in tensors.values() if t["type"] == "F16") + \
    sum(t["bytes"] // 4 for t in tensors.values() if t["type"] == "F32")
check(p.returncode == 0 and took < 30, "405B dry run: exit %d in %.1f s (%s)" % (p.returncode, took, p.stderr.strip()[-200:]))
want = {"token_embd.weight": [vocab, dim], "blk.0.attn_q.weight": [dim, dim], "blk.0.attn_k.weight": [kv * hd, dim],
        "blk.125.attn_output.weight": [dim, dim], "blk.125.ffn_gate.weight": [hidden, dim],
        "blk.7.ffn_down.weight": [dim, hidden], "output.weight": [vocab, dim], "rope_freqs.weight": [hd // 2]}
check(all(tensors.get(n, {}).get("shape") == s for n, s in want.items()),
      "405B plan: shards joined along the right axes (%s)" % {n: tensors.get(n, {}).get("shape") for n in want})
check(len(tensors) == 9 * layers + 4, "405B plan: %d tensors (126 layers x 9 + embeddings, norm, output, "
      "rope_freqs)" % len(tensors))
check(abs(params - 405.85e9) < 0.05e9, "405B plan: %.2f billion parameters" % (params / 1e9))
print("405B dry run: %d tensors, %.1f GB of f16 GGUF data, planned in %.2f s"
      % (len(tensors), plan.get("tensor_bytes", 0) / 1e9, took))
shutil.rmtree(meta)

# ---------------------------------------------------------------- 200 shards
d200 = os.path.join(WORK, "shards200")
os.makedirs(d200)
dim, layers, heads, kv, ff, vocab = 64, 49, 4, 2, 128, 256
hf_config(d200, dim, layers, heads, kv, ff, vocab)
names = [("model.embed_tokens.weight", [vocab, dim]), ("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim])]
for i in range(layers):
    p = "model.layers.%d." % i
    names += [(p + "self_attn.q_proj.weight", [dim, dim]), (p + "self_attn.k_proj.weight", [dim // 2, dim]),
              (p + "self_attn.v_proj.weight", [dim // 2, dim]), (p + "self_attn.o_proj.weight", [dim, dim])]
index = {}
import random  # noqa: E402
rng = random.Random(7)
full = [(n, s) for n, s in names]
for i in range(layers):
    p = "model.layers.%d." % i
    full += [(p + "mlp.gate_proj.weight", [ff, dim]), (p + "mlp.up_proj.weight", [ff, dim]),
             (p + "mlp.down_proj.weight", [dim, ff]), (p + "input_layernorm.weight", [dim]),
             (p + "post_attention_layernorm.weight", [dim])]
seen, uniq = set(), []
for n, s in full:
    if n not in seen:
        seen.add(n)
        uniq.append((n, s))
groups = [uniq[k::200] for k in range(200)]
for k, g in enumerate(groups):
    fname = "model-%05d-of-00200.safetensors" % (k + 1)
    fill = {}
    for n, s in g:
        cnt = 1
        for x in s:
            cnt *= x
        fill[n] = struct.pack("<%df" % cnt, *[rng.uniform(-1, 1) for _ in range(cnt)])
    safetensors_sparse(os.path.join(d200, fname), [(n, "F32", s) for n, s in g], fill)
    for n, _ in g:
        index[n] = fname
json.dump({"metadata": {}, "weight_map": index}, open(os.path.join(d200, "model.safetensors.index.json"), "w"))
t0 = time.time()
p = ferry("convert", d200, "-o", os.path.join(WORK, "s200.gguf"), "--no-vocab", "--type", "f32")
check(p.returncode == 0, "200 shards convert (%.1f s, %s)" % (time.time() - t0, p.stderr.strip()[-200:]))
p = ferry("diff", d200, os.path.join(WORK, "s200.gguf"), "--json")
doc = json.loads(p.stdout) if p.returncode == 0 else {}
check(doc.get("ok") and doc.get("identical") == doc.get("total") == len(uniq),
      "200 shards: the GGUF's %s tensors equal the shards' %d"
      % (doc.get("identical"), len(uniq)))
subprocess.run([FERRY, "keygen", "--no-password", "-o", os.path.join(WORK, "k")], capture_output=True, check=True)
t0 = time.time()
p = ferry("sign", d200, "--key", os.path.join(WORK, "k.key"), "-q")
check(p.returncode == 0, "200 shards sign (%.1f s, %s)" % (time.time() - t0, p.stderr.strip()[-200:]))
p = ferry("verify", d200, "--pubkey", os.path.join(WORK, "k.pub"))
check(p.returncode == 0, "200 shards verify (%s)" % p.stderr.strip()[-200:])
man = json.load(open(os.path.join(d200, "model.manifest.json")))
res = {r["name"]: r["digest"] for r in man["predicate"]["resources"]}
check(len(res) == 202 and all(hashlib.sha256(open(os.path.join(d200, n), "rb").read()).hexdigest() == h
                              for n, h in res.items()), "200 shards: every manifest digest equals hashlib's (%d files)" % len(res))
if shutil.which("minisign"):
    p = subprocess.run(["minisign", "-Vm", os.path.join(d200, "model.manifest.json"), "-p", os.path.join(WORK, "k.pub")],
                       capture_output=True, text=True)
    check(p.returncode == 0, "200 shards: minisign -V accepts the manifest")
else:
    skip_part("minisign missing")
shutil.rmtree(d200)

# ---------------------------------------------------------------- one 5 GiB tensor
import numpy as np  # noqa: E402


def gguf_infos(path):
    """tensor offsets as @huggingface/gguf reads them: {name: (absolute offset, dims)}"""
    p = subprocess.run(["node", os.path.join(HERE, "gguf_dump.mjs"), path], capture_output=True, text=True)
    if p.returncode:
        return None
    doc = json.loads(p.stdout)
    base = int(doc["tensorDataOffset"])
    return {t["name"]: (base + int(t["offset"]), [int(x) for x in t["shape"]]) for t in doc["tensors"]}


have_node = shutil.which("node") and os.path.isdir(os.path.join(HERE, "node_modules", "@huggingface", "gguf"))
if not have_node:
    skip_part("node or @huggingface/gguf missing (GGUF offsets read by another reader)")
big = os.path.join(WORK, "big")
os.makedirs(big)
dim, vocab, ff = 4096, 327680, 256  # the embedding: 327680 x 4096 F32 = 5 GiB; one thin layer
json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": dim, "intermediate_size": ff,
           "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 1, "vocab_size": vocab,
           "rms_norm_eps": 1e-5, "max_position_embeddings": 2048, "tie_word_embeddings": True},
          open(os.path.join(big, "config.json"), "w"))
marker = np.array([(k % 97) / 97.0 - 0.5 for k in range(dim)], dtype="<f4")
L = "model.layers.0."
safetensors_sparse(os.path.join(big, "model.safetensors"),
                   [("model.embed_tokens.weight", "F32", [vocab, dim]), ("model.norm.weight", "F32", [dim]),
                    (L + "input_layernorm.weight", "F32", [dim]), (L + "post_attention_layernorm.weight", "F32", [dim]),
                    (L + "self_attn.q_proj.weight", "F32", [dim, dim]), (L + "self_attn.k_proj.weight", "F32", [1024, dim]),
                    (L + "self_attn.v_proj.weight", "F32", [1024, dim]), (L + "self_attn.o_proj.weight", "F32", [dim, dim]),
                    (L + "mlp.gate_proj.weight", "F32", [ff, dim]), (L + "mlp.up_proj.weight", "F32", [ff, dim]),
                    (L + "mlp.down_proj.weight", "F32", [dim, ff])],
                   {"model.embed_tokens.weight": marker.tobytes()})
print("a model whose embedding is one tensor of %.2f GiB (sparse file)" % (vocab * dim * 4 / 2**30), flush=True)
for typ in ("f16", "q8_0"):
    out = os.path.join(WORK, "big-%s.gguf" % typ)
    t0 = time.time()
    p, rss = peak_rss_mb("convert", big, "-o", out, "--type", typ, "--no-vocab")
    check(p.returncode == 0 and rss < 300, "5 GiB tensor to GGUF %s: exit %d, peak RSS %.0f MB (limit 300), %.1f s (%s)"
          % (typ, p.returncode, rss, time.time() - t0, p.stderr.strip()[-200:]))
    infos = gguf_infos(out) if have_node and p.returncode == 0 else None
    if infos:
        off, dims = infos["token_embd.weight"]
        with open(out, "rb") as f:
            f.seek(off)
            if typ == "f16":
                row = np.frombuffer(f.read(dim * 2), dtype="<f2").astype(np.float32)
            else:  # q8_0 blocks: f16 scale + 32 int8
                blk = np.frombuffer(f.read(dim // 32 * 34), dtype=np.uint8).reshape(-1, 34)
                d = blk[:, :2].copy().view("<f2").astype(np.float32)
                row = (blk[:, 2:].view(np.int8).astype(np.float32) * d).reshape(-1)
        check(dims == [dim, vocab] and np.abs(row - marker).max() < 0.01,
              "5 GiB tensor to GGUF %s: row 0 read where @huggingface/gguf says it is equals the source (max error %.4f)"
              % (typ, float(np.abs(row - marker).max())))
    if os.path.exists(out):
        os.remove(out)
shutil.rmtree(big)

# ---------------------------------------------------------------- offsets past 4 GiB
four = os.path.join(WORK, "four")
os.makedirs(four)
tail = np.arange(1000, dtype="<f4") * 0.25 - 7
src = os.path.join(four, "src.safetensors")
safetensors_sparse(src, [("a", "F32", [1152, 1 << 20]), ("b", "F32", [1000])], {"b": tail.tobytes()})  # a: 4.5 GiB


def st_read(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        s, e = h[name]["data_offsets"]
        f.seek(8 + n + s)
        return s, np.frombuffer(f.read(e - s), dtype="<f4")


g = os.path.join(four, "x.gguf")
p = ferry("convert", src, "-o", g, "--raw", "--to", "gguf")
infos = gguf_infos(g) if have_node and p.returncode == 0 else None
if infos:
    off = infos["b"][0]
    with open(g, "rb") as f:
        f.seek(off)
        got = np.frombuffer(f.read(4000), dtype="<f4")
    check(off > 4 << 30 and np.array_equal(got, tail),
          "GGUF written with a tensor at %.2f GiB: @huggingface/gguf's offset holds its values" % (off / 2**30))
elif p.returncode:
    check(False, "safetensors past 4 GiB to GGUF: %s" % p.stderr.strip()[-200:])
st = os.path.join(four, "back.safetensors")
p = ferry("convert", g, "-o", st, "--raw", "--to", "safetensors")
if p.returncode == 0:
    s, got = st_read(st, "b")
    check(s > 4 << 30 and np.array_equal(got, tail), "GGUF past 4 GiB read back into safetensors: b at %.2f GiB" % (s / 2**30))
else:
    check(False, "GGUF past 4 GiB to safetensors: %s" % p.stderr.strip()[-200:])
os.remove(g)
pt = os.path.join(four, "x.pt")
p = ferry("convert", st, "-o", pt, "--raw", "--to", "pytorch")
check(p.returncode == 0, "safetensors past 4 GiB to a PyTorch zip (zip64): %s" % p.stderr.strip()[-200:])
os.remove(st)
try:
    import torch
    sd = torch.load(pt)
    check(sd["a"].shape == (1152, 1 << 20) and torch.equal(sd["b"], torch.from_numpy(tail.copy())),
          "torch.load reads ferry's zip64 checkpoint: b after 4.5 GiB of a")
    del sd
except ImportError:
    skip_part("torch missing (zip64 read by torch.load)")
p = ferry("convert", pt, "-o", os.path.join(four, "again.safetensors"), "--raw", "--to", "safetensors")
if p.returncode == 0:
    s, got = st_read(os.path.join(four, "again.safetensors"), "b")
    check(np.array_equal(got, tail), "ferry reads the zip64 checkpoint back: b equal")
else:
    check(False, "PyTorch zip64 read: %s" % p.stderr.strip()[-200:])
shutil.rmtree(four)

check.finish()
