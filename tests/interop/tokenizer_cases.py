#!/usr/bin/python3
"""Tokenizers against llama.cpp's own test vectors (testdata gguf-vocab/*.inp/.out: no BOS,
specials not parsed) and the encodings listed in the testdata README; decoding round-trips.
`llama-spm` runs with both the vocab GGUF and Llama 2's tokenizer.model (and tokenizer.bin).
usage: tokenizer_cases.py FERRY TESTDATA"""
import os
import subprocess
import sys

FERRY, TD = sys.argv[1], sys.argv[2]
if not os.path.isdir(TD):
    print("skipped: no testdata")
    sys.exit(0)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def tokenize(tok, text, bos=False):
    args = [FERRY, "tokenize", tok, "--stdin"] + ([] if bos else ["--no-bos"])
    p = subprocess.run(args, input=text.encode(), capture_output=True)
    if p.returncode != 0:
        return "error: " + p.stderr.decode()
    return p.stdout.decode().strip()


def cases(name):
    inp = open(os.path.join(TD, "gguf-vocab", "ggml-vocab-%s.gguf.inp" % name), encoding="utf-8").read()
    out = open(os.path.join(TD, "gguf-vocab", "ggml-vocab-%s.gguf.out" % name), encoding="utf-8").read()
    texts = inp.split("\n__ggml_vocab_test__\n")
    if texts and texts[-1] == "":
        texts = texts[:-1]
    expected = out.split("\n")
    return list(zip(texts, expected))


spm_sources = [os.path.join(TD, "gguf-vocab", "ggml-vocab-llama-spm.gguf"),
               os.path.join(TD, "llama2-tokenizer", "tokenizer.model"),
               os.path.join(TD, "llama2-tokenizer", "tokenizer.bin")]
for src in spm_sources:
    n = bad = 0
    for text, want in cases("llama-spm"):
        got = tokenize(src, text)
        n += 1
        if got != want.strip():
            bad += 1
            check(False, "%s: %r -> %s, llama.cpp gives %s" % (os.path.basename(src), text, got, want.strip()))
    print("%s: %d llama-spm cases, %d differ" % (os.path.basename(src), n, bad))

readme = [("I believe the meaning of life is", "1 306 4658 278 6593 310 2834 338"), ("", "1"),
          ("Simply put, the theory of relativity states that ", "1 3439 17632 1925 29892 278 6368 310 14215 537 5922 393 29871")]
for src in spm_sources:
    for text, want in readme:
        got = tokenize(src, text, bos=True)
        check(got == want, "%s: %r with BOS -> %s, expected %s" % (os.path.basename(src), text, got, want))

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
