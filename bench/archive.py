#!/usr/bin/python3
"""Benchmark: a model of about SIZE_MB (default 1024; F32 Llama weights written with Debian's
torch, signed) packed by GNU tar as a plain .tar and as .tar.zst, in the same run:
- plain tar: `ferry inspect`, `ferry verify` and `ferry convert --type f16` on the archive (read
  in place) beside `tar -xf` + the same command on the unpacked folder, and beside the command
  on a folder GNU tar unpacked before the runs (tar/dir: ratio = folder's time / archive's);
  target: the archive at least as fast as unpacking and using the folder (ratio >= 1.0);
- tar.zst: the same three on the archive (verify streams, convert stages) beside `zstd -d` alone,
  the bound any reader of a zstd stream has, and convert beside `tar -xf` (which decompresses) +
  `ferry convert` on the unpacked folder (tar.zst/x), what a user without ferry's staging does;
page cache warm, outputs removed between runs, runs interleaved. Prints `name ferry=S peer=S
ratio=peer/ferry` (higher = ferry faster), median and range of RUNS.
usage: bench/archive.py FERRY [SIZE_MB] [RUNS]"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import make_llama  # noqa: E402

FERRY = os.path.abspath(sys.argv[1])
SIZE_MB = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 3


def run(cmds):
    t = time.perf_counter()
    for c in cmds:
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def show(name, ours, peer):
    r = statistics.median(peer) / statistics.median(ours)
    print(f"{name:22s} ferry={statistics.median(ours):6.2f}s [{min(ours):.2f}-{max(ours):.2f}]  "
          f"peer={statistics.median(peer):6.2f}s [{min(peer):.2f}-{max(peer):.2f}]  ratio={r:.2f}", flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-archive-")
    try:
        dim = 1024
        layers = max(1, int(SIZE_MB * (1 << 20) / 4 / (12.6e6 * dim / 1024)) - 5)
        cfg = make_llama.config(dim=dim, layers=layers, heads=16, kv_heads=8, ff=2816, vocab=32000, ctx=512)
        model = os.path.join(tmp, "src", "model")
        make_llama.write_hf(model, make_llama.weights(cfg), cfg)
        subprocess.run([FERRY, "keygen", "--no-password", "-o", os.path.join(tmp, "k")], check=True,
                       capture_output=True)
        subprocess.run([FERRY, "sign", model, "--key", os.path.join(tmp, "k.key"), "-q"], check=True)
        pub = os.path.join(tmp, "k.pub")
        tar, zst = os.path.join(tmp, "model.tar"), os.path.join(tmp, "model.tar.zst")
        subprocess.run(["tar", "-cf", tar, "-C", os.path.dirname(model), "model"], check=True)
        subprocess.run(["tar", "--zstd", "-cf", zst, "-C", os.path.dirname(model), "model"], check=True)
        size = sum(os.path.getsize(os.path.join(model, n)) for n in os.listdir(model))
        print(f"model: {size / 1e9:.2f} GB, {layers} layers; tar {os.path.getsize(tar) / 1e9:.2f} GB, "
              f"tar.zst {os.path.getsize(zst) / 1e9:.2f} GB; {RUNS} runs each, interleaved", flush=True)
        out, un = os.path.join(tmp, "out.gguf"), os.path.join(tmp, "unpacked")
        # The folder beside the archive is one GNU tar unpacked, as a user's would be. The folder
        # Python wrote is not used: its page cache holds large folios (one big write), the tar's
        # small ones (10 KiB records), and mapping small folios costs several times more kernel
        # time (measured: MADV_POPULATE_READ 7.6% of a conversion from the tar and from a dd copy
        # of it 2.0%, from the Python folder 2.3%, from the unpacked folder 4.7%).
        kept = os.path.join(tmp, "kept", "model")
        os.makedirs(os.path.dirname(kept))
        subprocess.run(["tar", "-xf", tar, "-C", os.path.dirname(kept)], check=True)

        def untar(a):
            shutil.rmtree(un, ignore_errors=True)
            os.makedirs(un)
            return ["tar", "-xf", a, "-C", un]

        cases = {
            "inspect tar": ([[FERRY, "inspect", tar + "//model/model.safetensors"]],
                            lambda: [untar(tar), [FERRY, "inspect", os.path.join(un, "model", "model.safetensors")]]),
            "verify tar": ([[FERRY, "verify", tar, "--pubkey", pub]],
                           lambda: [untar(tar), [FERRY, "verify", os.path.join(un, "model"), "--pubkey", pub]]),
            "convert f16 tar": ([[FERRY, "convert", tar, "-o", out, "--no-vocab", "--force", "-q"]],
                                lambda: [untar(tar), [FERRY, "convert", os.path.join(un, "model"), "-o", out,
                                                      "--no-vocab", "--force", "-q"]]),
            "inspect tar/dir": ([[FERRY, "inspect", tar + "//model/model.safetensors"]],
                                lambda: [[FERRY, "inspect", os.path.join(kept, "model.safetensors")]]),
            "verify tar/dir": ([[FERRY, "verify", tar, "--pubkey", pub]],
                               lambda: [[FERRY, "verify", kept, "--pubkey", pub]]),
            "convert f16 tar/dir": ([[FERRY, "convert", tar, "-o", out, "--no-vocab", "--force", "-q"]],
                                    lambda: [[FERRY, "convert", kept, "-o", out, "--no-vocab", "--force",
                                              "-q"]]),
            "verify tar.zst": ([[FERRY, "verify", zst, "--pubkey", pub]],
                               lambda: [["zstd", "-d", "-q", "-f", zst, "-o", os.path.join(tmp, "d.tar")]]),
            "convert f16 tar.zst": ([[FERRY, "convert", zst, "-o", out, "--no-vocab", "--force", "-q"]],
                                    lambda: [["zstd", "-d", "-q", "-f", zst, "-o", os.path.join(tmp, "d.tar")]]),
            "convert f16 tar.zst/x": ([[FERRY, "convert", zst, "-o", out, "--no-vocab", "--force", "-q"]],
                                      lambda: [untar(zst), [FERRY, "convert", os.path.join(un, "model"), "-o", out,
                                                            "--no-vocab", "--force", "-q"]]),
        }
        for name, (ours_cmd, peer_cmd) in cases.items():
            ours, peer = [], []
            for _ in range(RUNS):
                ours.append(run(ours_cmd))
                peer.append(run(peer_cmd()))
            show(name, ours, peer)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
