#!/usr/bin/python3
"""Benchmark: converting a generated 134M-parameter Llama (dim 768, 12 layers, F32 safetensors,
536 MB) to GGUF f16 and q8_0 with `ferry convert`, beside `cp` of the source and PyTorch
(torch.load + torch.save of the same tensors) in the same run; and to q4_k_m beside llama.cpp's
own quantizers (libggml-base from npm, through ctypes) giving every tensor the type ferry gave it,
in memory on as many threads, with no reading, hashing or writing counted for the peer. Prints
`case  ferry=S  peer=S  ratio=peer/ferry` (higher = ferry faster) and ferry's peak RSS. The
source is in the page cache unless a case says "cold" (evicted with posix_fadvise before each
run, for cp too). With --quantizers only the quantizer cases run (the source signed first, so no
case pays for the digest).
usage: bench/convert.py FERRY [--quantizers]"""
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import make_llama  # noqa: E402

FERRY = sys.argv[1]


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def best(cmd, n=3, cleanup=None):
    """best of n; before each run the output is removed and the disk drained (sync), so no run
    pays for an earlier one's truncation or writeback"""
    b = None
    for _ in range(n):
        if cleanup:
            cleanup()
        os.sync()
        dt = timed(cmd)
        b = dt if b is None else min(b, dt)
    return b


def peak_rss_kb(cmd):
    code = ("import resource,subprocess,sys; subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,"
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True).stdout)


def main():
    tmp = tempfile.mkdtemp(prefix="ferry-bench-convert-")
    cfg = make_llama.config(dim=768, layers=12, heads=12, kv_heads=12, ff=2048, vocab=32000, ctx=2048)
    w = make_llama.weights(cfg, seed=0)
    n = sum(t.numel() for t in w.values())
    src = os.path.join(tmp, "hf")
    make_llama.write_hf(src, w, cfg)
    pt = os.path.join(tmp, "model.pt")
    import torch
    torch.save(w, pt)
    del w
    st = os.path.join(src, "model.safetensors")
    subprocess.run(["cat", st, pt], stdout=subprocess.DEVNULL)
    print("# %.1fM parameters, %d MB F32, %d cores" % (n / 1e6, os.path.getsize(st) // 1000000, os.cpu_count()))
    out = os.path.join(tmp, "out.gguf")
    if "--quantizers" in sys.argv:
        key = os.path.join(tmp, "k")
        subprocess.run([FERRY, "keygen", "-o", key, "--no-password"], capture_output=True)
        subprocess.run([FERRY, "sign", src, "--key", key + ".key"], capture_output=True)
        kquant_vs_ggml(src, out, tmp)
        subprocess.run(["rm", "-rf", tmp])
        return
    rm = lambda: os.path.exists(out) and os.remove(out)
    copy = os.path.join(tmp, "copy")
    rm_copy = lambda: os.path.exists(copy) and os.remove(copy)
    cp_t = best(["cp", st, copy], cleanup=rm_copy)
    # ferry fsyncs its output before renaming it into place; cp does not, so show both
    cps_t = best(["sh", "-c", 'cp "$0" "$1" && sync "$1"', st, copy], cleanup=rm_copy)
    torch_code = "import torch,sys; torch.save(torch.load(sys.argv[1]), sys.argv[2])"
    torch_t = best([sys.executable, "-c", torch_code, pt, os.path.join(tmp, "copy.pt")],
                   cleanup=lambda: os.path.exists(os.path.join(tmp, "copy.pt")) and os.remove(os.path.join(tmp, "copy.pt")))
    # ferry.source.digest hashes the source in 64 MiB shards on all cores (OMS "shards"); one
    # whole-file SHA-256, as the "files" serialization needs, is one core's sequential work
    sha_t = best(["openssl", "dgst", "-sha256", st])
    print("# SHA-256 of the source alone (openssl dgst, one core): %.3fs; cp: %.3fs" % (sha_t, cp_t))
    for kind in ("f16", "q8_0"):
        for threads in (1, 2):
            cmd = [FERRY, "convert", src, "-o", out, "--type", kind, "--force", "--no-vocab", "--threads", str(threads)]
            t = best(cmd, cleanup=rm)
            print("convert-%s-threads-%d-vs-cp  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (kind, threads, t, cp_t, cp_t / t))
            print("convert-%s-threads-%d-vs-cp+fsync  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (kind, threads, t, cps_t, cps_t / t))
    # cold source: evicted from the page cache before every run (as a model larger than memory
    # always is), so cp and ferry both read the disk
    def evict_then(cleanup):
        def f():
            cleanup()
            os.sync()
            fd = os.open(st, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        return f
    cp_cold = best(["cp", st, copy], cleanup=evict_then(rm_copy))
    f16_cold = best([FERRY, "convert", src, "-o", out, "--type", "f16", "--force", "--no-vocab"], cleanup=evict_then(rm))
    print("convert-f16-cold-source-vs-cp  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (f16_cold, cp_cold, cp_cold / f16_cold))
    for kind in ("f16", "q8_0"):
        cmd = [FERRY, "convert", src, "-o", out, "--type", kind, "--force", "--no-vocab"]
        t = best(cmd, cleanup=rm)
        print("convert-%s-vs-cp  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (kind, t, cp_t, cp_t / t))
        print("convert-%s-vs-cp+fsync  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (kind, t, cps_t, cps_t / t))
        print("convert-%s-vs-torch-load-save  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (kind, t, torch_t, torch_t / t))
        rm()
        print("peak-rss-%s  ferry=%d KiB" % (kind, peak_rss_kb(cmd)))
    # a source that carries its signed manifest (after ferry fetch --manifest or ferry sign) gives
    # its digest without hashing again
    key = os.path.join(tmp, "k")
    subprocess.run([FERRY, "keygen", "-o", key, "--no-password"], capture_output=True)
    subprocess.run([FERRY, "sign", src, "--key", key + ".key"], capture_output=True)
    if os.path.exists(os.path.join(src, "model.manifest.json")):
        cmd = [FERRY, "convert", src, "-o", out, "--type", "f16", "--force", "--no-vocab"]
        t = best(cmd, cleanup=rm)
        print("convert-f16-signed-source-vs-cp  ferry=%.3fs  peer=%.3fs  ratio=%.2f" % (t, cp_t, cp_t / t))
        kquant_vs_ggml(src, out, tmp)
    subprocess.run(["rm", "-rf", tmp])


def write_imatrix(path, f32):
    """an importance matrix for every 2-D weight (random positive values, as llama-imatrix's
    GGUF file holds them: NAME.in_sum2 and NAME.counts, imatrix.* keys); returns {name: values}"""
    import struct
    import numpy as np
    from gguf_min import read, write

    def gstr(t):
        return struct.pack("<Q", len(t)) + t.encode()

    rng = np.random.default_rng(0)
    kvs = [gstr("imatrix.datasets") + struct.pack("<IIQ", 9, 8, 1) + gstr("bench"),
           gstr("imatrix.chunk_count") + struct.pack("<II", 4, 10),
           gstr("imatrix.chunk_size") + struct.pack("<II", 4, 512)]
    tensors, values = {}, {}
    for name, (_, dims, _) in read(f32)[2].items():
        if len(dims) == 2 and name != "token_embd.weight":
            sums = (rng.gamma(0.6, 2.0, dims[0]) * 40).astype(np.float32)
            values[name] = (sums / np.float32(100)).astype(np.float32)
            tensors[name + ".in_sum2"] = (0, [dims[0], 1], sums.tobytes())
            tensors[name + ".counts"] = (0, [1, 1], np.array([100], np.float32).tobytes())
    write(path, len(kvs), b"".join(kvs), tensors)
    return values


def kquant_vs_ggml(src, out, tmp):
    """ferry convert (reading, quantizing on all cores, writing) beside llama.cpp's quantizers
    alone in memory on as many threads, every tensor in the type ferry gave it, with and without
    an importance matrix"""
    import threading
    import numpy as np
    import ggml_lib
    from gguf_min import read
    g = ggml_lib.load()
    if g is None:
        print("# quantizers: skipped, libggml-base not installed (scripts/install-deps)")
        return
    f32 = os.path.join(tmp, "f32.gguf")
    subprocess.run([FERRY, "convert", src, "-o", f32, "--type", "f32", "--force", "--no-vocab"], check=True,
                   capture_output=True)
    rows = {n: np.frombuffer(blob, np.float32).reshape(dims[1], dims[0])
            for n, (_, dims, blob) in read(f32)[2].items() if len(dims) == 2}
    im = os.path.join(tmp, "imatrix.gguf")
    values = write_imatrix(im, f32)
    names = {typ: n for n, (typ, _, _) in ggml_lib.TYPES.items()}
    nthreads = os.cpu_count() or 1
    for ftype, use_im in (("q4_k_m", False), ("q4_k_m", True), ("iq4_xs", False), ("iq4_xs", True),
                          ("iq3_s", False), ("iq3_m", True), ("iq3_xs", True), ("tq2_0", False),
                          ("iq2_xxs", True), ("iq2_xs", True), ("iq2_s", True), ("iq2_m", True),
                          ("iq1_s", True), ("iq1_m", True)):
        args = [FERRY, "convert", src, "-o", out, "--type", ftype, "--force", "--no-vocab"]
        t = best(args + (["--imatrix", im] if use_im else []), n=2,
                 cleanup=lambda: os.path.exists(out) and os.remove(out))
        types = {name: typ for name, (typ, _, _) in read(out)[2].items()}
        work = [(names[types[n]], x, values.get(n) if use_im else None) for n, x in rows.items()
                if types.get(n) in names]
        for kind, x, w in work:  # ggml builds its codebook tables on first use: not timed
            g.quantize(kind, x[:1], w)

        def run(k):  # every thread quantizes its share of each tensor's rows
            for kind, x, w in work:
                a, b = len(x) * k // nthreads, len(x) * (k + 1) // nthreads
                g.quantize(kind, x[a:b], w)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=run, args=(k,)) for k in range(nthreads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        peer = time.perf_counter() - t0
        print("convert-%s%s-vs-libggml-quantize  ferry=%.3fs  peer=%.3fs  ratio=%.2f"
              % (ftype, "-imatrix" if use_im else "", t, peer, peer / t))


if __name__ == "__main__":
    main()
