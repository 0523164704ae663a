#!/usr/bin/python3
"""Quality of quantized files, measured: a trained model (the shared testdata's stories260K,
a llama2.c TinyStories checkpoint) is converted to GGUF F16 and quantized by `ferry convert`
to several file types with and without an importance matrix, and `ferry check` gives each
one's mean KL divergence from F16 and top-1 agreement over text the importance matrix never
saw. The model has no tokenizer of its own in the testdata, so the texts are its own samples
(`ferry run --temp 1`, one seed per text): a calibration set for `ferry imatrix --ids-file`
and, from other seeds, the evaluation prompts. Its rows are 64 and 172 wide, so the K and
IQ4_XS types take llama-quantize's 32-block fallbacks (Q5_0, Q5_1, Q8_0, IQ4_NL) for most
tensors: the file types still differ in their mixes.
Then the same for a model 256 wide trained here on stories260K's samples (bench/tiny_trained.py),
where the IQ1/IQ2/IQ3 types keep their own blocks (skipped with --no-train).
Prints `type  kl(no imatrix)  kl(imatrix)  top1 ...` per file type; a type llama-quantize (and
ferry) makes only with an imatrix is measured in the first column with a uniform one (every
importance 1: no calibration information).
usage: bench/quant_quality.py FERRY [TESTDATA] [--no-train] [--calib TEXTS]"""
import json
import os
import subprocess
import sys
import tempfile

FERRY = os.path.abspath(sys.argv[1])
TD = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else os.environ.get(
    "FERRY_TESTDATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "testdata"))
SRC = os.path.join(TD, "stories260K", "stories260K.bin")
if not os.path.exists(SRC):
    print("skipped: %s is missing (the shared testdata)" % SRC)
    sys.exit(0)
TYPES = ["q4_0", "q4_k_m", "q3_k_m", "q2_k", "iq4_xs", "iq3_m", "iq3_s"]
TRAINED_TYPES = ["q4_k_m", "iq4_xs", "iq3_m", "iq3_xxs", "iq2_m", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s"]
NCALIB = int(sys.argv[sys.argv.index("--calib") + 1]) if "--calib" in sys.argv else 8  # texts of 401 tokens
CALIB_SEEDS, EVAL_SEEDS, TRAIN_SEEDS = range(1, 1 + NCALIB), range(101, 109), range(1001, 1065)


def ferry(*args):
    r = subprocess.run([FERRY, *args], capture_output=True, text=True)
    if r.returncode not in (0, 1):  # check exits 1 when out of its default tolerance
        sys.exit("ferry %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr[-300:]))
    return r.stdout


def sample(model, seed, n=400):
    """BOS then n tokens the model samples at temperature 1"""
    doc = json.loads(ferry("run", model, "--ids", "1", "-n", str(n), "--temp", "1", "--seed", str(seed),
                           "--json", "--no-stream"))
    return [1] + [int(t) for t in doc["tokens"]]


uniform = set()


def uniform_imatrix(f16, work):
    """an importance matrix of ones for every 2-D weight of f16 (GGUF imatrix layout), written
    once per model"""
    import struct
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
    from gguf_min import read, write
    path = os.path.join(work, os.path.basename(f16) + ".uniform-imatrix.gguf")
    if os.path.exists(path):
        return path

    def key(k):
        return struct.pack("<Q", len(k)) + k.encode()
    kv = (key("imatrix.datasets") + struct.pack("<IIQ", 9, 8, 1) + key("uniform")
          + key("imatrix.chunk_count") + struct.pack("<II", 4, 1) + key("imatrix.chunk_size") + struct.pack("<II", 4, 128))
    tensors = {}
    for name, (_, dims, _) in read(f16)[2].items():
        if len(dims) == 2:
            tensors[name + ".in_sum2"] = (0, [dims[0], 1], b"\x00\x00\x80\x3f" * dims[0])
            tensors[name + ".counts"] = (0, [1, 1], b"\x00\x00\x80\x3f")
    write(path, 3, kv, tensors)
    return path


def measure(label, f16, calib, evals, types, work):
    """KL and top-1 of each file type against f16, with and without an imatrix from calib"""
    ids_file = os.path.join(work, "calibration.ids")
    open(ids_file, "w").write(" ".join(map(str, calib)))
    im = os.path.join(work, "imatrix.gguf")
    ferry("imatrix", f16, "--ids-file", ids_file, "--ctx", "128", "-o", im, "-q", "--force")
    print("%s: %d calibration tokens (imatrix over %d chunks of 128), %d evaluation texts of 256 tokens"
          % (label, len(calib), len(calib) // 128, len(evals)))
    print("%-8s %14s %14s %10s %10s" % ("type", "KL no imatrix", "KL imatrix", "top1 no", "top1 im"))
    for t in types:
        row = []
        for use in (False, True):
            out = os.path.join(work, "%s-%d.gguf" % (t, use))
            r = subprocess.run([FERRY, "convert", f16, "-o", out, "--type", t, "--no-vocab", "-q", "--force",
                                *(["--imatrix", im] if use else [])], capture_output=True, text=True)
            if r.returncode == 64 and not use:
                # a type llama-quantize makes only with an imatrix: measured instead with one that
                # says nothing (every importance 1), the uniform baseline
                r = subprocess.run([FERRY, "convert", f16, "-o", out, "--type", t, "--no-vocab", "-q", "--force",
                                    "--imatrix", uniform_imatrix(f16, work)], capture_output=True, text=True)
                uniform.add(t)
            if r.returncode:
                sys.exit("ferry convert --type %s: exit %d: %s" % (t, r.returncode, r.stderr[-300:]))
            kls, tops = [], []
            for ids in evals:
                doc = json.loads(ferry("check", out, "--ref", f16, "--ids", ids, "--json"))
                kls.append(doc["mean_kl"])
                tops.append(doc["top1"])
            row.append((sum(kls) / len(kls), sum(tops) / len(tops)))
        print("%-8s %14.6f %14.6f %9.2f%% %9.2f%%%s" % (t, row[0][0], row[1][0], 100 * row[0][1], 100 * row[1][1],
                                                      "  (no imatrix: refused; uniform one)" if t in uniform else ""))


with tempfile.TemporaryDirectory() as work:
    f16 = os.path.join(work, "f16.gguf")
    ferry("convert", SRC, "-o", f16, "--type", "f16", "--no-vocab", "-q")
    calib = []
    for s in CALIB_SEEDS:
        calib += sample(f16, s)
    evals = [",".join(map(str, sample(f16, s, 255))) for s in EVAL_SEEDS]
    measure("stories260K", f16, calib, evals, TYPES, work)
    # a model 256 wide, trained here on stories260K's samples: the 1- to 3-bit IQ types keep
    # their own blocks on every weight of it
    if "--no-train" not in sys.argv:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
        import tiny_trained
        texts = [sample(f16, s) for s in TRAIN_SEEDS]
        hf = os.path.join(work, "trained")
        first, last = tiny_trained.train(texts, hf)
        t16 = os.path.join(work, "trained-f16.gguf")
        ferry("convert", hf, "-o", t16, "--type", "f16", "--no-vocab", "-q")
        print("trained-256: %d training tokens, loss %.3f -> %.3f" % (sum(map(len, texts)), first, last))
        measure("trained-256", t16, calib, evals, TRAINED_TYPES, work)
