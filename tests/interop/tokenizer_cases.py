#!/usr/bin/python3
"""Tokenizers against llama.cpp's own test vectors (testdata gguf-vocab/*.inp/.out: no BOS,
specials not parsed) and the encodings listed in the testdata README; decoding round-trips.
`llama-spm` runs with both the vocab GGUF and Llama 2's tokenizer.model (and tokenizer.bin).
usage: tokenizer_cases.py FERRY TESTDATA"""
import os
import subprocess
import sys
from skips import skip_part, skip_test  # noqa: E402  (this folder is on sys.path)

FERRY, TD = sys.argv[1], sys.argv[2]
if not os.path.isdir(TD):
    skip_test("no testdata", installed_by_deps=False)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def tokenize(tok, text, bos=False, special=False):
    # llama.cpp's test vectors are made without parsing special tokens in the text
    args = [FERRY, "tokenize", tok, "--stdin"] + ([] if bos else ["--no-bos"]) + ([] if special else ["--no-parse-special"])
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

bpe = os.path.join(TD, "llama3-tokenizer", "tokenizer.model")
n = bad = 0
for text, want in cases("llama-bpe"):
    got = tokenize(bpe, text)
    n += 1
    if got != want.strip():
        bad += 1
        check(False, "llama3 tokenizer.model: %r -> %s, llama.cpp gives %s" % (text, got, want.strip()))
print("llama3 tokenizer.model: %d llama-bpe cases, %d differ" % (n, bad))
# a model converted with this tokenizer carries merges derived from the ranks; llama.cpp-style
# merging with them must give the same ids
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import shutil
    import tempfile
    import make_llama
    work = tempfile.mkdtemp(prefix="ferry-tok-")
    cfg = make_llama.config(dim=32, layers=1, heads=2, kv_heads=1, ff=32, vocab=128256, theta=500000.0)
    make_llama.write_hf(os.path.join(work, "l3"), make_llama.weights(cfg, seed=2), cfg, tokenizer=bpe)
    g = os.path.join(work, "l3.gguf")
    subprocess.run([FERRY, "convert", os.path.join(work, "l3"), "-o", g, "--type", "f16", "-q"], check=True)
    bad = sum(1 for text, want in cases("llama-bpe") if tokenize(g, text) != want.strip())
    check(bad == 0, "GGUF with derived merges: %d llama-bpe cases differ" % bad)
    print("GGUF with merges derived from tiktoken ranks: %d llama-bpe cases differ" % bad)
    shutil.rmtree(work)
except ImportError:
    skip_part("torch missing for the converted Llama 3 vocabulary")
got = tokenize(bpe, "This is a test sentence.", bos=True)
check(got + " 128001" == "128000 2028 374 264 1296 11914 13 128001", "Llama 3 README vector: %s" % got)

# special tokens named in text (parsed by default, as llama.cpp's tools do): the Llama 3 ids
# are those of Meta's tokenizer; sentencepiece gives every text run the dummy prefix again
got = tokenize(bpe, "<|begin_of_text|>Hello<|eot_id|>", special=True)
check(got == "128000 9906 128009", "Llama 3 specials in text: %s" % got)
got = tokenize(bpe, "<|begin_of_text|>Hello<|eot_id|>")
check("128000" not in got.split() and "9906" in got.split(), "--no-parse-special keeps them as text: %s" % got)
for src in spm_sources[:2]:
    got = tokenize(src, "<s>Hi<s>there", special=True)
    want = "1 %s 1 %s" % (tokenize(src, "Hi"), tokenize(src, "there"))
    check(got == want, "%s: <s>Hi<s>there -> %s, expected %s" % (os.path.basename(src), got, want))

# decoding gives the text back (with BOS, so sentencepiece's dummy prefix is dropped)
for src in (spm_sources[0], spm_sources[1], bpe):
    bad = 0
    for text, _ in cases("llama-spm"):
        ids = tokenize(src, text, bos=True).split()[1:]
        p = subprocess.run([FERRY, "tokenize", src, "--decode", ",".join(ids)], capture_output=True)
        out = p.stdout.decode("utf-8", "replace")
        if not out.endswith("\n") or out[:-1] != text:  # the text, then the newline ending it
            bad += 1
    limit = 0
    check(bad <= limit, "%s: %d texts do not decode back" % (os.path.basename(src), bad))
    print("%s: decoding round trip, %d of %d texts differ (allowed %d)" % (os.path.basename(src), bad, len(cases("llama-spm")), limit))

# ---- a Llama 3 vocabulary survives conversion out of GGUF and back (issue 13): the HF output
# carries tokenizer.json (+ tokenizer_config.json, special_tokens_map.json, generation_config.json),
# the Meta output Meta's tiktoken tokenizer.model; converting either back gives the same
# tokenizer.* keys. tokenizer.json is checked against the GGUF arrays here, not by ferry.
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_llama  # noqa: E402
    work = tempfile.mkdtemp(prefix="ferry-tok-rt-")
    cfg = make_llama.config(dim=16, layers=1, heads=2, kv_heads=1, ff=32, vocab=128256)
    make_llama.write_hf(os.path.join(work, "hf"), make_llama.weights(cfg, seed=5), cfg, tokenizer=bpe)

    def conv(*args):
        p = subprocess.run([FERRY, "convert", *args, "-q"], capture_output=True, text=True)
        check(p.returncode == 0, "convert %s: %s" % (" ".join(args), p.stderr.strip()))

    def tok_keys(path):
        p = subprocess.run([FERRY, "inspect", "--json", "--full", path], capture_output=True, text=True)
        md = json.loads(p.stdout or "{}").get("metadata", {})
        return {k: v["value"] for k, v in md.items() if k.startswith("tokenizer.")}
    w = lambda n: os.path.join(work, n)  # noqa: E731
    conv(w("hf"), "-o", w("a.gguf"), "--type", "f32")
    conv(w("a.gguf"), "-o", w("hf-back"), "--to", "safetensors")
    conv(w("a.gguf"), "-o", w("meta-back"), "--to", "meta")
    conv(w("hf-back"), "-o", w("b.gguf"), "--type", "f32")
    conv(w("meta-back"), "-o", w("c.gguf"), "--type", "f32")
    ta = tok_keys(w("a.gguf"))
    for label, g in (("Hugging Face", "b.gguf"), ("Meta", "c.gguf")):
        tb = tok_keys(w(g))
        check(len(ta) >= 8 and ta == tb, "GGUF -> %s -> GGUF: tokenizer keys differ in %s"
              % (label, sorted(k for k in set(ta) | set(tb) if ta.get(k) != tb.get(k))))
    tj = json.load(open(w("hf-back/tokenizer.json")))
    toks, types = ta.get("tokenizer.ggml.tokens", []), ta.get("tokenizer.ggml.token_type", [])
    vocab = tj["model"]["vocab"]
    added = {a["id"]: a["content"] for a in tj["added_tokens"]}
    check(all(vocab.get(t) == i for i, t in enumerate(toks) if types[i] == 1)
          and all(added.get(i) == t for i, t in enumerate(toks) if types[i] == 3)
          and len(vocab) + len(added) == len(toks),
          "tokenizer.json: vocab and added tokens are the GGUF's tokens by id")
    check(tj["model"]["merges"] == ta.get("tokenizer.ggml.merges"), "tokenizer.json: merges are the GGUF's")
    tc = json.load(open(w("hf-back/tokenizer_config.json")))
    check(tc["bos_token"] == toks[ta["tokenizer.ggml.bos_token_id"]] and
          json.load(open(w("hf-back/generation_config.json")))["eos_token_id"] == ta["tokenizer.ggml.eos_token_id"],
          "tokenizer_config.json and generation_config.json name the GGUF's bos and eos")
    for text in ("Hello world", "This is a test sentence.", "  spaces\tand\nnew lines 12345"):
        check(tokenize(w("hf-back/tokenizer.json"), text) == tokenize(w("a.gguf"), text)
              == tokenize(w("meta-back/tokenizer.model"), text), "the written tokenizers tokenize %r alike" % text)

    # the SPM vocabulary the same way: HF output carries tokenizer.json beside tokenizer.model
    cfg2 = make_llama.config(dim=16, layers=1, heads=2, kv_heads=1, ff=32, vocab=32000)
    make_llama.write_hf(w("hf2"), make_llama.weights(cfg2, seed=5), cfg2, tokenizer=spm_sources[1])
    conv(w("hf2"), "-o", w("s.gguf"), "--type", "f32")
    conv(w("s.gguf"), "-o", w("hf2-back"), "--to", "safetensors")
    conv(w("hf2-back"), "-o", w("s2.gguf"), "--type", "f32")
    ts = tok_keys(w("s.gguf"))
    check(len(ts) >= 8 and ts == tok_keys(w("s2.gguf")), "SPM GGUF -> Hugging Face -> GGUF: tokenizer keys differ")
    check(os.path.exists(w("hf2-back/tokenizer.json")) and os.path.exists(w("hf2-back/tokenizer.model")),
          "SPM Hugging Face output has tokenizer.json and tokenizer.model")
    # a repository that ships only the tokenizer.json of a sentencepiece model (byte fallback) is
    # read as that sentencepiece vocabulary, not as byte-level BPE (which gave other ids, silently)
    shutil.copytree(w("hf2-back"), w("hf2-json"))
    os.remove(w("hf2-json/tokenizer.model"))
    conv(w("hf2-json"), "-o", w("s3.gguf"), "--type", "f32")
    tj3 = tok_keys(w("s3.gguf"))
    check(all(tj3.get(k) == ts.get(k) for k in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                                 "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")),
          "SPM tokenizer.json alone: the GGUF's model, tokens and types differ from the tokenizer.model's")
    bad = sum(1 for text, want in cases("llama-spm") if tokenize(w("s3.gguf"), text) != want.strip())
    check(bad == 0, "SPM tokenizer.json alone: %d llama-spm cases differ from llama.cpp" % bad)
    print("GGUF from a sentencepiece tokenizer.json alone: %d llama-spm cases differ" % bad)

    # the tokenizer.json files read by tokenizers.js (@huggingface/tokenizers, the tokenizer of
    # transformers.js), not by ferry: llama.cpp's test vectors give llama.cpp's ids, decoding gives
    # the text back, and BOS is added as transformers adds it (a Llama model without BOS computes
    # worse logits, silently)
    def hf_tokenize(d, texts, special):
        p = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_tokenize.mjs"), d],
                           input=json.dumps({"texts": texts, "special": special}), capture_output=True, text=True)
        check(p.returncode == 0, "tokenizers.js on %s: %s" % (d, p.stderr.strip()[-300:]))
        return json.loads(p.stdout) if p.returncode == 0 else {"ids": [], "decoded": []}
    here = os.path.dirname(os.path.abspath(__file__))
    if not shutil.which("node") or not os.path.isdir(os.path.join(here, "node_modules", "@huggingface", "tokenizers")):
        skip_part("node or @huggingface/tokenizers missing (tokenizer.json read by tokenizers.js)")
    else:
        for d, name, first in (("hf-back", "llama-bpe", "This is a test sentence."),
                               ("hf2-back", "llama-spm", "I believe the meaning of life is")):
            cs = cases(name)
            r = hf_tokenize(w(d), [t for t, _ in cs], False)
            bad = sum(1 for (t, want), got in zip(cs, r["ids"]) if " ".join(map(str, got)) != want.strip())
            check(len(r["ids"]) == len(cs) and bad == 0, "%s tokenizer.json in tokenizers.js: %d of %d %s cases differ from llama.cpp"
                  % (d, bad, len(cs), name))
            back = sum(1 for (t, _), dec in zip(cs, r["decoded"]) if dec != t)
            check(len(r["decoded"]) == len(cs) and back == 0, "%s tokenizer.json in tokenizers.js: %d texts do not decode back" % (d, back))
            print("%s/tokenizer.json in tokenizers.js: %d %s cases, %d differ from llama.cpp, %d do not decode back"
                  % (d, len(cs), name, bad, back))
            with_bos = hf_tokenize(w(d), [first], True)["ids"]
            want = [int(x) for x in tokenize(w("a.gguf" if name == "llama-bpe" else "s.gguf"), first, bos=True).split()]
            check(with_bos == [want], "%s: tokenizers.js with special tokens gives %s, the GGUF (with BOS) %s" % (d, with_bos, want))
    shutil.rmtree(work)
except ImportError:
    skip_part("torch missing for the GGUF -> HF/Meta tokenizer round trip")

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
