#!/usr/bin/python3
"""A/B benchmark: two ferry binaries on the same data in one run, runs interleaved (A B A B ...)
so a shared machine's load falls on both alike. Cases: sign and verify of a signed 1 GiB model
in 8 files (hashing and BEP 52 roots on all cores), `inspect --hash` of a 512 MiB safetensors
file (tensor hashing), and conversion of a 134M-parameter Llama to GGUF f16 and q8_0 (the row
conversion fan-out). Prints `case  A=min..max  B=min..max  ratio=A/B` (best times; above 1 means
B is faster). usage: bench/ab.py FERRY_A FERRY_B [RUNS]"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

A, B = sys.argv[1], sys.argv[2]
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 5


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def case(name, make_cmd, before=None):
    ta, tb = [], []
    for _ in range(RUNS):
        for ferry, ts in ((A, ta), (B, tb)):
            if before:
                before()
            ts.append(timed(make_cmd(ferry)))
    print("%-18s A=%.3f..%.3f  B=%.3f..%.3f  ratio=%.2f" % (name, min(ta), max(ta), min(tb), max(tb),
                                                          min(ta) / min(tb)), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-ab-")
    try:
        model = os.path.join(tmp, "model")
        os.makedirs(model)
        block = os.urandom(1 << 20)
        for i in range(8):
            with open(os.path.join(model, "model-%05d-of-00008.safetensors" % (i + 1)), "wb") as f:
                for _ in range(128):
                    f.write(block)
        key = os.path.join(tmp, "k")
        subprocess.run([A, "keygen", "-o", key, "--no-password"], check=True, capture_output=True)
        case("sign 1 GiB", lambda f: [f, "sign", model, "--key", key + ".key", "--force", "-q"])
        case("verify 1 GiB", lambda f: [f, "verify", model, "--pubkey", key + ".pub", "-q"])
        # a Llama-shaped safetensors model: 12 layers of 768, vocab 32000 (134M parameters)
        hf = os.path.join(tmp, "hf")
        os.makedirs(hf)
        E, L, F, V = 768, 12, 2048, 32000
        json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": E, "num_hidden_layers": L,
                   "intermediate_size": F, "num_attention_heads": 12, "num_key_value_heads": 12,
                   "vocab_size": V, "rms_norm_eps": 1e-5, "max_position_embeddings": 1024},
                  open(os.path.join(hf, "config.json"), "w"))
        shapes = {"model.embed_tokens.weight": (V, E), "model.norm.weight": (E,), "lm_head.weight": (V, E)}
        for l in range(L):
            p = "model.layers.%d." % l
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                shapes[p + "self_attn." + n + ".weight"] = (E, E)
            shapes[p + "mlp.gate_proj.weight"] = (F, E)
            shapes[p + "mlp.up_proj.weight"] = (F, E)
            shapes[p + "mlp.down_proj.weight"] = (E, F)
            shapes[p + "input_layernorm.weight"] = (E,)
            shapes[p + "post_attention_layernorm.weight"] = (E,)
        hdr, off = {}, 0
        for k, s in shapes.items():
            n = 4
            for d in s:
                n *= d
            hdr[k] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + n]}
            off += n
        h = json.dumps(hdr).encode()
        with open(os.path.join(hf, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            left = off
            chunk = struct.pack("<262144f", *[((i * 37) % 1000 - 500) / 1e4 for i in range(262144)])  # 1 MiB
            while left:
                n = min(left, len(chunk))
                f.write(chunk[:n])
                left -= n
        st = os.path.join(hf, "model.safetensors")
        case("inspect --hash", lambda f: [f, "inspect", "--hash", "--json", st])
        out = os.path.join(tmp, "out.gguf")

        def rm():
            if os.path.exists(out):
                os.remove(out)
        case("convert f16", lambda f: [f, "convert", hf, "-o", out, "--type", "f16", "-q", "--no-vocab"], rm)
        case("convert q8_0", lambda f: [f, "convert", hf, "-o", out, "--type", "q8_0", "-q", "--no-vocab"], rm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
