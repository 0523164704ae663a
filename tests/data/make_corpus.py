#!/usr/bin/env python3
"""Writes the corpus of bad (and edge-case good) inputs under tests/data/{bad,good}/.

Each case is a small file plus CASE.expect holding the expected exit code on the first line
and, on the second, a piece of the error message ferry must print. GGUF cases follow
llama.cpp's tests/test-gguf.cpp, safetensors cases the reference loader's tests, PyTorch cases
the weights_only unpickler's refusals. Run it again after changing a case; the files are
committed so the suite needs no generator at test time. Standard library only."""
import io
import os
import pickle
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def emit(kind, fmt, name, ext, data, code, message):
    d = os.path.join(HERE, kind, fmt)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + "." + ext), "wb") as f:
        f.write(data)
    with open(os.path.join(d, name + ".expect"), "w") as f:
        f.write("%d\n%s\n" % (code, message))


# ---------------------------------------------------------------- GGUF
def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def pad(b, align=32):
    return b + b"\0" * ((align - len(b) % align) % align)


def tinfo(name, dims, gtype, offset):
    return gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", gtype, offset)


def gguf_cases():
    bad = lambda n, data, msg: emit("bad", "gguf", n, "gguf", data, 65, msg)
    good = lambda n, data: emit("good", "gguf", n, "gguf", data, 0, "")
    bad("header_bad_magic", pad(header(0, 0, magic=b"FUGG")), "bad magic")
    bad("header_bad_version_0", pad(header(0, 0, version=0)), "unsupported GGUF version 0")
    bad("header_bad_version_1", pad(header(0, 0, version=1)), "no longer supported")
    bad("header_bad_version_future", pad(header(0, 0, version=4)), "unsupported GGUF version 4")
    bad("header_big_endian", pad(header(0, 0, version=0x03000000)), "endianness mismatch")
    bad("header_bad_n_tensors", pad(header(2**64 - 1, 0)), "tensor count")
    bad("header_bad_n_kv", pad(header(0, 2**64 - 1)), "metadata count")
    bad("header_truncated", b"GGUF\x03\x00", "truncated")
    good("header_empty", pad(header(0, 0)))
    bad("kv_bad_key_size", header(0, 1) + struct.pack("<Q", 2**64 - 1) + b"x" * 16, "key length")
    bad("kv_empty_key", header(0, 1) + kv("", 4, struct.pack("<I", 1)), "empty key")
    bad("kv_bad_type", header(0, 1) + kv("my_key", 13, b"\0" * 8), "invalid value type 13")
    bad("kv_duplicate_key", header(0, 2) + kv("my_key_0", 4, struct.pack("<I", 1)) + kv("my_key_0", 4, struct.pack("<I", 2)), "duplicate key")
    bad("kv_bad_align", pad(header(0, 1) + kv("general.alignment", 4, struct.pack("<I", 13))), "not a power of two")
    bad("kv_wrong_type_align", pad(header(0, 1) + kv("general.alignment", 5, struct.pack("<i", 32))), "must be uint32")
    bad("kv_nested_array", header(0, 1) + kv("arr", 9, struct.pack("<IQ", 9, 1)), "invalid array element type 9")
    bad("kv_array_too_long", header(0, 1) + kv("arr", 9, struct.pack("<IQ", 0, 2**40)), "exceeds the limit")
    bad("kv_array_past_end", header(0, 1) + kv("arr", 9, struct.pack("<IQ", 6, 1000)) + b"\0" * 16, "runs past the end")
    bad("kv_string_past_end", header(0, 1) + kv("s", 8, struct.pack("<Q", 1000) + b"abc"), "truncated")
    # every scalar type, strings, and arrays of each non-array type
    kvs = [kv("u8", 0, b"\x07"), kv("i8", 1, b"\xff"), kv("u16", 2, struct.pack("<H", 65535)),
           kv("i16", 3, struct.pack("<h", -2)), kv("u32", 4, struct.pack("<I", 4000000000)),
           kv("i32", 5, struct.pack("<i", -7)), kv("f32", 6, struct.pack("<f", 0.5)),
           kv("bool", 7, b"\x01"), kv("str", 8, gstr("héllo")), kv("u64", 10, struct.pack("<Q", 2**63 + 5)),
           kv("i64", 11, struct.pack("<q", -(2**40))), kv("f64", 12, struct.pack("<d", 1e-300)),
           kv("arr_str", 9, struct.pack("<IQ", 8, 3) + gstr("a") + gstr("") + gstr("ccc")),
           kv("arr_f32", 9, struct.pack("<IQ", 6, 2) + struct.pack("<ff", 1.5, -2.0)),
           kv("arr_empty", 9, struct.pack("<IQ", 4, 0))]
    good("kv_success", pad(header(0, len(kvs)) + b"".join(kvs)))
    # tensors: F32 [4,2] (ggml dims 2,4), 32 bytes each
    def tens(infos, n_kv_bytes=b"", n_kv=0, data=b"", align=32):
        return header(len(infos), n_kv) + n_kv_bytes + b"".join(infos), data
    def full(infos, data, kvb=b"", nkv=0, align=32):
        h = header(len(infos), nkv) + kvb + b"".join(infos)
        return pad(h, align) + data
    d32 = bytes(range(32))
    bad("tensors_bad_name_size", full([tinfo("x" * 64, [2, 4], 0, 0)], d32), "longer than 63")
    bad("tensors_bad_n_dims", full([tinfo("t", [1, 1, 1, 1, 8], 0, 0)], d32), "5 dimensions")
    bad("tensors_bad_shape", full([tinfo("t", [2**64 - 1, 2**64 - 1], 0, 0)], d32), "negative dimension")
    good("tensors_zero_dim", full([tinfo("t", [2, 0], 0, 0)], b""))
    bad("tensors_ne_too_big", full([tinfo("t", [4 * 0x7fffffff, 4 * 0x7fffffff], 0, 0)], d32), "overflows")
    bad("tensors_nbytes_too_big", full([tinfo("t", [2**62, 1], 27, 0)], d32), "overflows")
    bad("tensors_bad_type", full([tinfo("t", [2, 4], 40, 0)], d32), "unknown or removed ggml type 40")
    bad("tensors_removed_type", full([tinfo("t", [32, 1], 4, 0)], d32), "unknown or removed ggml type 4")
    bad("tensors_bad_block_row", full([tinfo("t", [33, 1], 8, 0)], b"\0" * 64), "not a multiple of the Q8_0 block size")
    bad("tensors_bad_offset", full([tinfo("t", [2, 4], 0, 2**64 - 1)], d32), "expected 0")
    bad("tensors_duplicate_name", full([tinfo("my_tensor", [2, 4], 0, 0), tinfo("my_tensor", [2, 4], 0, 32)], d32 * 2), "duplicate tensor name")
    bad("tensors_bad_align", full([tinfo("t", [2, 4], 0, 0)], d32, kv("general.alignment", 4, struct.pack("<I", 13)), 1), "not a power of two")
    # offsets computed with alignment 1 while the file uses 32
    bad("tensors_inconsistent_align", full([tinfo("a", [3], 0, 0), tinfo("b", [3], 0, 12)], b"\0" * 64), "offset 12, expected 32")
    good("tensors_success", full([tinfo("a", [2, 4], 0, 0), tinfo("b", [32, 2], 8, 32)], d32 + b"\1" * 68 + b"\0" * 28))
    al1 = kv("general.alignment", 4, struct.pack("<I", 1))
    good("tensors_custom_align", header(2, 1) + al1 + tinfo("a", [3], 0, 0) + tinfo("b", [3], 0, 12) + b"\0" * 24)
    bad("data_not_enough_data", full([tinfo("a", [2, 4], 0, 0), tinfo("b", [3], 0, 32)], d32 + b"\0" * 31), "truncated: tensor data")
    bad("data_mem_size_overflow", full([tinfo("a", [0x7FFFFFFFFFFFFFC0], 24, 0), tinfo("b", [0x7FFFFFFFFFFFFFC0], 24, 0x7FFFFFFFFFFFFFC0)], d32), "overflow")
    good("data_success", full([tinfo("a", [2, 4], 0, 0)], d32))


# ---------------------------------------------------------------- safetensors
def st(header_json, data=b"", n=None):
    h = header_json.encode() if isinstance(header_json, str) else header_json
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def safetensors_cases():
    bad = lambda n, data, msg: emit("bad", "safetensors", n, "safetensors", data, 65, msg)
    good = lambda n, data: emit("good", "safetensors", n, "safetensors", data, 0, "")
    ok = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}'
    good("reference_valid", st(ok, b"\0" * 16))
    overlap = '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    bad("json_attack_overlap", st(overlap, b"\0" * 16), "gap or overlap")
    bad("gap", st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8), "gap or overlap")
    bad("metadata_incomplete_trailing", st(ok, b"\0" * 16 + b"extra_bogus_data_for_polyglot_file"), "trailing bytes")
    bad("metadata_incomplete_truncated", st(ok, b"\0" * 14), "truncated")
    bad("header_too_large", b"<\0\0\0\0\xff\xff\xff" + b"{}", "exceeds the 100 MB limit")
    bad("header_too_small", b"", "header too small")
    bad("invalid_header_length", struct.pack("<Q", 60), "runs past the end")
    bad("invalid_header_non_utf8", st(b"\xff"), "not valid JSON")
    bad("invalid_header_not_json", st(b"{"), "not valid JSON")
    good("whitespace_padded_header", st("{}\r \t\n"))
    good("whitespace_leading_padded_header", st("\t\n{}\r "))
    good("zero_sized_tensor", st('{"t":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}}'))
    bad("invalid_info", st('{"t":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}', b"\0" * 4), "need 16")
    bad("validation_overflow", st('{"t":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}', b"\0" * 16), "overflow")
    bad("unknown_dtype", st('{"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4), "unknown dtype \"F33\"")
    bad("duplicate_key", st('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4), "duplicate")
    bad("metadata_not_string", st('{"__metadata__":{"a":1}}'), "must be strings")
    bad("negative_shape", st('{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b"\0" * 4), "not a non-negative integer")
    bad("f4_odd_elements", st('{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', b"\0" * 2), "whole bytes")


# ---------------------------------------------------------------- PyTorch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch ferry-pwned-marker",))


def torch_zip(pkl, extra=None):
    b = io.BytesIO()
    # fixed member times, so a rerun of this generator writes the same bytes
    put = lambda z, name, data: z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        put(z, "archive/data.pkl", pkl)
        put(z, "archive/byteorder", "little")
        for k, v in (extra or {}).items():
            put(z, k, v)
        put(z, "archive/version", "3\n")
    return b.getvalue()


def pytorch_cases():
    bad = lambda n, data, msg: emit("bad", "pytorch", n, "pt", data, 65, msg)
    evil = pickle.dumps({"w": Evil()}, protocol=2)
    bad("os_system_zip", torch_zip(evil), "refusing global 'posix.system'")
    bad("os_system_legacy", pickle.dumps(Evil(), protocol=2), "refusing global 'posix.system'")
    bad("builtins_eval", torch_zip(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."), "refusing global 'builtins.eval'")
    bad("no_data_pkl", io.BytesIO().getvalue() or _zip_without_pkl(), "no data.pkl")
    # a storage whose record is missing
    pid = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
           b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")
    bad("missing_storage", torch_zip(pid), "storage record missing")
    # a view running past its storage: 4 elements declared, 8 bytes stored
    bad("view_past_storage", torch_zip(pid, {"archive/data/0": b"\0" * 8}), "needs 16 bytes, record has 8")
    big = pid.replace(b"K\x00K\x04\x85", b"K\x02K\x04\x85")
    bad("offset_past_storage", torch_zip(big, {"archive/data/0": b"\0" * 16}), "runs past its storage")
    bad("unknown_opcode", torch_zip(b"\x80\x02\xff."), "unsupported pickle opcode 0xff")
    bad("truncated_pickle", torch_zip(b"\x80\x02X\xff\x00\x00\x00ab"), "truncated")
    bad("memo_get_unset", torch_zip(b"\x80\x02h\x05."), "never stored")
    bad("stack_underflow", torch_zip(b"\x80\x02R."), "stack underflow")
    whole = torch_zip(pid, {"archive/data/0": b"\0" * 16})
    bad("truncated_zip", whole[: len(whole) // 2], "end-of-central-directory")
    bad("not_a_checkpoint", b"\x80\x02K\x01.", "magic number missing")


def _zip_without_pkl():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("archive/version", date_time=(1980, 1, 1, 0, 0, 0)), "3\n")
    return b.getvalue()


def other_cases():
    emit("bad", "npy", "bad_magic", "npy", b"\x93NUMPX\x01\x00" + b"\0" * 8, 65, "bad magic")
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
    hdr += b" " * (64 - 10 - len(hdr) - 1) + b"\n"
    emit("bad", "npy", "short_data", "npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\0" * 8, 65, "shape needs 16")
    emit("bad", "llama2c", "truncated", "bin", struct.pack("<7i", 64, 172, 5, 8, 4, 512, 512) + b"\0" * 100, 65, "truncated")
    emit("bad", "llama2c", "implausible", "bin", struct.pack("<7i", 64, 172, 5, 0, 4, 512, 512) + b"\0" * 100, 65, "implausible header value 0")


# ---------------------------------------------------------------- issue 11 (attacked from outside)
# Each case failed before its fix: a crash (SIGSEGV, SIGFPE, a sanitizer report), a hang, or a
# wrong acceptance. The expect file's third line is the ferry command ({} = the input).
def gguf_file(kvs, tensors):
    """A GGUF v3 file: kvs as (key, type, payload); tensors as (name, ggml dims, F32 data)."""
    infos, data, off = [], b"", 0
    for name, dims, blob in tensors:
        infos.append(tinfo(name, dims, 0, off))
        blob = pad(blob)
        data += blob
        off += len(blob)
    return pad(header(len(tensors), len(kvs)) + b"".join(kv(k, t, v) for k, t, v in kvs) + b"".join(infos)) + data


def u32kv(key, v):
    return (key, 4, struct.pack("<I", v))


def strs(items):
    return struct.pack("<IQ", 8, len(items)) + b"".join(gstr(x) for x in items)


SPM_TOKENS = ["<unk>", "<s>", "</s>", "<0x-1>", "<0x68>", "<0x69>", "\u2581h", "i", "\u2581hi", "\u2581"]


def llama_gguf(n_embd=8, n_head=2, n_head_kv=1, n_ff=16, key_length=None, tokens=SPM_TOKENS,
               bos=1, unk=0, n_layer=1):
    """A one-layer Llama GGUF with a sentencepiece vocabulary, F32 weights of small values."""
    hd = key_length or n_embd // n_head
    nv = max(len(tokens), 1)
    kvs = [("general.architecture", 8, gstr("llama")), u32kv("llama.block_count", n_layer),
           u32kv("llama.context_length", 64), u32kv("llama.embedding_length", n_embd),
           u32kv("llama.feed_forward_length", n_ff), u32kv("llama.attention.head_count", n_head),
           u32kv("llama.attention.head_count_kv", n_head_kv),
           ("tokenizer.ggml.model", 8, gstr("llama")), ("tokenizer.ggml.tokens", 9, strs(tokens)),
           ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, len(tokens)) + struct.pack("<%df" % len(tokens), *[-float(i) for i in range(len(tokens))])),
           ("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(tokens)) + struct.pack("<%di" % len(tokens), *[2 if i == 0 else 3 if i < 3 else 6 if t.startswith("<0x") else 1 for i, t in enumerate(tokens)])),
           u32kv("tokenizer.ggml.bos_token_id", bos), u32kv("tokenizer.ggml.eos_token_id", 2),
           u32kv("tokenizer.ggml.unknown_token_id", unk)]
    if key_length:
        kvs.append(u32kv("llama.attention.key_length", key_length))

    def w(rows, cols):
        n = rows * cols
        return struct.pack("<%df" % n, *[((i * 7) % 11 - 5) / 50.0 for i in range(n)])

    t = [("token_embd.weight", [n_embd, nv], w(nv, n_embd)), ("output_norm.weight", [n_embd], w(1, n_embd)),
         ("output.weight", [n_embd, nv], w(nv, n_embd)),
         ("blk.0.attn_norm.weight", [n_embd], w(1, n_embd)),
         ("blk.0.attn_q.weight", [n_embd, n_head * hd], w(n_head * hd, n_embd)),
         ("blk.0.attn_k.weight", [n_embd, n_head_kv * hd], w(n_head_kv * hd, n_embd)),
         ("blk.0.attn_v.weight", [n_embd, n_head_kv * hd], w(n_head_kv * hd, n_embd)),
         ("blk.0.attn_output.weight", [n_head * hd, n_embd], w(n_embd, n_head * hd)),
         ("blk.0.ffn_norm.weight", [n_embd], w(1, n_embd)),
         ("blk.0.ffn_gate.weight", [n_embd, n_ff], w(n_ff, n_embd)),
         ("blk.0.ffn_up.weight", [n_embd, n_ff], w(n_ff, n_embd)),
         ("blk.0.ffn_down.weight", [n_ff, n_embd], w(n_embd, n_ff))]
    return gguf_file(kvs, t)


def spm_model(pieces):
    """A sentencepiece ModelProto holding only pieces (field 1: piece, score, type)."""
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    out = b""
    for i, (text, typ) in enumerate(pieces):
        t = text.encode()
        sp = b"\x0a" + varint(len(t)) + t + b"\x15" + struct.pack("<f", -float(i)) + b"\x18" + varint(typ)
        out += b"\x0a" + varint(len(sp)) + sp
    return out


def tiktoken_text(entries):
    import base64
    return "".join("%s %s\n" % (base64.b64encode(b).decode(), r) for b, r in entries).encode()


def issue11_cases():
    def case(fmt, name, ext, data, code, msg, cmd):
        d = os.path.join(HERE, "bad", fmt)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name + "." + ext), "wb") as f:
            f.write(data)
        with open(os.path.join(d, name + ".expect"), "w") as f:
            f.write("%d\n%s\n%s\n" % (code, msg, cmd))

    tok = "tokenize {} -p hi"
    run = "run {} -p hi -n 2 --temp 0"
    # '<0x-1>': sscanf's %X took the sign, byte_id[4294967295] was written (SIGSEGV)
    case("vocab", "byte_token_minus_gguf", "gguf", llama_gguf(), 0, "", tok)
    case("vocab", "byte_token_minus_run", "gguf", llama_gguf(), 0, "", run)
    spm = [(t, 2 if i == 0 else 3 if i < 3 else 6 if t.startswith("<0x") else 1) for i, t in enumerate(SPM_TOKENS)]
    case("vocab", "byte_token_minus_spm", "model", spm_model(spm), 0, "", tok)
    tj = {"model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "<0x-1>": 2, "hi": 3}, "merges": ["h i"]},
          "added_tokens": [{"id": 4, "content": "<|begin_of_text|>", "special": True}]}
    import json as _json
    case("vocab", "byte_token_minus_json", "json", _json.dumps(tj).encode(), 0, "", tok)
    tbin = struct.pack("<I", 8) + b"".join(struct.pack("<fi", -float(i), len(t.encode())) + t.encode()
                                           for i, t in enumerate(["<unk>", "<s>", "</s>", "<0x-1>", "h", "i"]))
    d = os.path.join(HERE, "bad", "vocab_llama2c")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "tokenizer.bin"), "wb").write(tbin)
    open(os.path.join(d, "tokenizer.expect"), "w").write("0\n\n%s\n" % tok)
    case("vocab", "byte_token_minus_tiktoken", "model",
         tiktoken_text([(b"h", 0), (b"i", 1), (b"<0x-1>", 2), (b"hi", 3)]), 0, "", tok)
    # tiktoken: a file of exactly one page ending in digits (strtol ran past the mapping), junk
    # after a rank, the same token bytes under two ranks
    entries = [(bytes([b]), r) for r, b in enumerate(b"abcdefghijklmnopqrstuvwxyz")]
    long = [(bytes([0x41 + i]) * 500, 26 + i) for i in range(5)]
    body = tiktoken_text(entries + long)
    import base64
    for n in range(1, 600):  # a last token long enough that the file is exactly 4096 bytes
        b64 = base64.b64encode(b"z" * n)
        room = 4096 - len(body) - len(b64) - 1
        if 2 <= room <= 10:
            body += b64 + b" " + b"0" * (room - 2) + b"31"
            break
    assert len(body) == 4096
    case("vocab", "tiktoken_page_ends_in_digits", "model", body, 0, "", tok)
    case("vocab", "tiktoken_junk_after_rank", "model", tiktoken_text(entries[:3]) + b"aGk= 3x\n", 65,
         "not a tiktoken line", tok)
    case("vocab", "tiktoken_duplicate_bytes", "model", tiktoken_text(entries[:3] + [(b"a", 3)]), 65,
         "hold the same token bytes", tok)
    # tokenizer.json merges that are not strings used to become "(null) (null)"
    tj2 = {"model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2}, "merges": [[1, 2]]}}
    case("vocab", "json_merge_not_strings", "json", _json.dumps(tj2).encode(), 65,
         "neither \"a b\" nor", tok)
    # GGUF vocabularies: no tokens, bos or unk outside the vocabulary (64 at eval before)
    case("vocab", "gguf_zero_tokens", "gguf", llama_gguf(tokens=[], bos=0, unk=0), 65,
         "a vocabulary of 0 tokens", tok)
    case("vocab", "gguf_bos_out_of_range", "gguf", llama_gguf(bos=999), 65,
         "token id 999 is outside the vocabulary", run)
    case("vocab", "gguf_unk_out_of_range", "gguf", llama_gguf(unk=4096), 65,
         "token id 4096 is outside the vocabulary", tok)
    # GGUF head counts, checked as config.json's are (SIGFPE, heap overflow, written out)
    case("hparams", "kv_heads_exceed_heads", "gguf", llama_gguf(n_head=2, n_head_kv=4), 65,
         "do not divide 2 attention heads", run)
    case("hparams", "kv_heads_not_dividing", "gguf", llama_gguf(n_embd=12, n_head=3, n_head_kv=2), 65,
         "do not divide 3 attention heads", run)
    case("hparams", "kv_heads_convert", "gguf", llama_gguf(n_head=2, n_head_kv=4), 65,
         "do not divide", "convert {} -o out.gguf")
    case("hparams", "embd_not_multiple_of_heads", "gguf", llama_gguf(n_embd=10, n_head=4, n_head_kv=2), 65,
         "not a multiple of 4 heads", run)
    case("hparams", "odd_key_length", "gguf", llama_gguf(key_length=3), 65,
         "head size 3 is not a positive even number", run)
    case("hparams", "too_many_layers", "gguf", llama_gguf(n_layer=100000), 65,
         "implausible size", "convert {} -o out.gguf")
    # llama2.c: vocab_size INT32_MIN has no positive counterpart (negation was undefined)
    case("llama2c", "vocab_int32_min", "bin", struct.pack("<7i", 64, 172, 5, 8, 4, -2**31, 512) + b"\0" * 100,
         65, "implausible header value -2147483648", "inspect {}")
    # pickles: 20,000 nested _rebuild_from_type_v2 (C stack), and shared references whose paths
    # double at every level (time 2^60)
    g_from = b"ctorch._tensor\n_rebuild_from_type_v2\nq\x00"
    body = b"\x80\x02" + g_from + b"ctorch\nTensor\nq\x01ccollections\nOrderedDict\nq\x02"
    depth = 20000
    inner = b"h\x02h\x01)}\x86\x86"  # (OrderedDict, Tensor, (), {}) as two 2-tuples
    inner = b"(h\x02h\x01)}t"
    for _ in range(depth):
        inner = b"(h\x00h\x01" + inner + b"}t"
    body += b"h\x00" + inner + b"R."
    case("pickle", "nested_rebuild_from_type", "pt", torch_zip(body), 0, "", "inspect {}")
    shared = b"\x80\x02]q\x00"
    for k in range(1, 61):
        shared += b"](h" + bytes([k - 1]) + b"h" + bytes([k - 1]) + b"eq" + bytes([k])
    shared += b"."
    case("pickle", "shared_references_zip", "pt", torch_zip(shared), 65,
         "shared references make the object tree too large", "inspect {}")
    legacy = (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
              + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2) + shared
              + pickle.dumps([], protocol=2))
    case("pickle", "shared_references_legacy", "pt", legacy, 65,
         "shared references make the object tree too large", "inspect {}")
    # .npy: a shape tuple that never closes, a shape whose size overflows
    def npy(h, newline=True):
        if newline:
            h = h + b" " * (64 - 10 - len(h) - 1) + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h
    # a metadata string of valid multibyte sequences and bad bytes, as JSON: each sequence was
    # checked by making a JSON string that was never freed (LeakSanitizer)
    d = os.path.join(HERE, "good", "gguf")
    open(os.path.join(d, "kv_string_bad_utf8.gguf"), "wb").write(
        pad(header(0, 1) + kv("s", 8, gstr(b"h\xc3\xa9llo \xe2\x96\x81\xff\xfe w\xc3\xb6rld"))))
    open(os.path.join(d, "kv_string_bad_utf8.expect"), "w").write("0\n\ninspect --json {}\n")
    case("npy", "shape_unclosed", "npy", npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4", newline=False) + b"\0" * 16, 65,
         "no closing ')'", "inspect {}")
    case("npy", "shape_overflow", "npy",
         npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), 65,
         "more than 2^64 bytes", "inspect {}")


# ---------------------------------------------------------------- .torrent (BEP 3, 47, 52)
def benc(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(benc(i) for i in x) + b"e"
    keys = sorted(x, key=lambda k: k.encode() if isinstance(k, str) else k)
    return b"d" + b"".join(benc(k) + benc(x[k]) for k in keys) + b"e"


def torrent_cases():
    import hashlib
    def case(name, data, msg, cmd="inspect {}"):
        d = os.path.join(HERE, "bad", "torrent")
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, name + ".torrent"), "wb").write(data)
        open(os.path.join(d, name + ".expect"), "w").write("65\n%s\n%s\n" % (msg, cmd))
    P = 16384
    one = hashlib.sha1(b"\0" * 10).digest()
    def v1(**kw):
        info = {"name": "m", "piece length": P, "pieces": one, "files": [{"length": 10, "path": ["a"]}]}
        info.update(kw)
        return benc({"info": {k: v for k, v in info.items() if v is not None}})
    root = hashlib.sha256(b"x" * 100).digest()
    def v2(tree, layers=None, **kw):
        info = {"name": "m", "piece length": P, "meta version": 2, "file tree": tree}
        info.update(kw)
        t = {"info": info}
        if layers is not None:
            t["piece layers"] = layers
        return benc(t)
    case("not_bencode", b"hello world", "bencode: unexpected byte")
    case("truncated", v1()[:-7], "bencode: string runs past the end", "torrent magnet {}")
    case("leading_zero", b"d4:infod4:name1:m12:piece lengthi016384eee", "leading zero")
    case("string_past_end", b"d4:info99:abce", "string runs past the end")
    case("nested_deep", b"d4:info" + b"l" * 70 + b"e" * 70 + b"e", "nested too deeply")
    case("no_info", benc({"announce": "http://t/announce"}), "no info dictionary")
    case("name_dotdot", v1(name=".."), "unsafe name", "fetch {} -o out")
    case("name_slash", v1(name="a/b"), "unsafe name")
    case("path_dotdot", v1(files=[{"length": 10, "path": ["..", "etc", "passwd"]}]), "unsafe path in 'files'",
         "fetch {} -o out")
    case("path_absolute", v1(files=[{"length": 10, "path": ["/etc/passwd"]}]), "unsafe path in 'files'")
    case("path_empty_component", v1(files=[{"length": 10, "path": ["a", "", "b"]}]), "unsafe path in 'files'")
    case("path_empty_list", v1(files=[{"length": 10, "path": []}]), "without a valid length and path")
    case("piece_length_zero", v1(**{"piece length": 0}), "piece length is not a multiple of 16 KiB")
    case("piece_length_odd", v1(**{"piece length": 20000}), "piece length is not a multiple of 16 KiB")
    case("pieces_count", v1(pieces=one * 2), "v1 piece hashes do not match the total length")
    case("pieces_not_20", v1(pieces=one[:19]), "v1 piece hashes do not match the total length")
    case("negative_length", v1(files=[{"length": -5, "path": ["a"]}]), "without a valid length and path")
    case("files_and_length", v1(length=10), "exactly one of 'files' and 'length'")
    case("lengths_overflow", v1(files=[{"length": 1 << 62, "path": ["a"]}, {"length": 1 << 62, "path": ["b"]}]),
         "lengths overflow")
    case("meta_version_3", v2({"a": {"": {"length": 100, "pieces root": root}}}, {}, **{"meta version": 3}),
         "unsupported meta version")
    case("tree_dotdot", v2({"..": {"x": {"": {"length": 100, "pieces root": root}}}}, {}),
         "unsafe path in the file tree", "fetch {} -o out")
    case("tree_top_file", v2({"": {"length": 100, "pieces root": root}}, {}), "the file tree's top is a file")
    case("root_short", v2({"a": {"": {"length": 100, "pieces root": root[:31]}}}, {}), "32-byte pieces root")
    big = 3 * P
    case("layer_missing", v2({"a": {"": {"length": big, "pieces root": root}}}, {}),
         "piece layer missing or of the wrong length", "torrent magnet {}")
    case("layer_wrong", v2({"a": {"": {"length": big, "pieces root": root}}}, {root: b"\1" * 96}),
         "piece layer does not hash to the file's pieces root", "fetch {} -o out")
    case("v2_piece_not_pow2", v2({"a": {"": {"length": 100, "pieces root": root}}}, {},
                                 **{"piece length": 3 * P}), "must be a power of two")
    case("hybrid_disagree", v2({"a": {"": {"length": 100, "pieces root": root}}}, {},
                               pieces=hashlib.sha1(b"").digest(), files=[{"length": 100, "path": ["b"]}]),
         "v1 and v2 file lists disagree")
    case("empty_tree", v2({}, {}), "empty file tree")


# ---------------------------------------------------------------- archives (tar, zip)
def archive_cases():
    import bz2
    import tarfile
    import zipfile
    d = os.path.join(HERE, "bad", "archive")
    os.makedirs(d, exist_ok=True)

    def case(name, ext, data, msg, cmd="inspect {}"):
        open(os.path.join(d, name + ext), "wb").write(data)
        open(os.path.join(d, name + ".expect"), "w").write("65\n%s\n%s\n" % (msg, cmd))

    def tar(members, fmt=tarfile.PAX_FORMAT, **kw):
        bio = io.BytesIO()
        with tarfile.open(fileobj=bio, mode="w", format=fmt, **kw) as t:
            for info, data in members:
                info.mtime = 0
                t.addfile(info, io.BytesIO(data) if data is not None else None)
        return bio.getvalue()

    def reg(name, data=b"x"):
        i = tarfile.TarInfo(name)
        i.size = len(data)
        return i, data

    def special(name, kind, **attrs):
        i = tarfile.TarInfo(name)
        i.type = kind
        for k, v in attrs.items():
            setattr(i, k, v)
        return i, None

    case("dotdot", ".tar", tar([reg("model/../../etc/passwd")]), "unsafe member name", "inspect {}")
    case("absolute", ".tar", tar([reg("/etc/passwd")]), "unsafe member name", "verify {} --pubkey k.pub")
    case("symlink", ".tar", tar([special("model/config.json", tarfile.SYMTYPE, linkname="/etc/passwd")]),
         "links are refused")
    case("hardlink", ".tar", tar([reg("a"), special("b", tarfile.LNKTYPE, linkname="a")]), "links are refused")
    case("device", ".tar", tar([special("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)]),
         "a device, FIFO or socket is refused")
    case("fifo", ".tar", tar([special("pipe", tarfile.FIFOTYPE)]), "a device, FIFO or socket is refused")
    case("duplicate", ".tar", tar([reg("model/a.bin", b"1"), reg("./model/a.bin", b"2")]),
         "holds this name twice")
    case("truncated", ".tar", tar([reg("w.bin", b"w" * 5000)])[:2048], "truncated", "inspect {}")
    case("not_utf8", ".tar", tar([reg("model/\udcff\udcfe.bin")], fmt=tarfile.GNU_FORMAT,
                                   encoding="utf-8", errors="surrogateescape"), "unsafe member name")
    case("control_char", ".tar", tar([reg("model/a\x1b[2J.bin")]), "unsafe member name")
    case("empty_component", ".tar", tar([reg("model//a.bin")]), "unsafe member name")
    raw = tar([reg("zeros.bin", b"\0" * (80 << 20))], fmt=tarfile.USTAR_FORMAT)
    case("bomb_ratio", ".tar.bz2", bz2.compress(raw, 9), "expands more than 1000 times")
    case("not_an_archive", ".tar.gz", b"this is not gzip data at all" * 10, "not a readable archive")
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        z.writestr(zipfile.ZipInfo("../evil.txt", date_time=(1980, 1, 1, 0, 0, 0)), b"x")
    case("zip_dotdot", ".zip", bio.getvalue(), "unsafe member name")
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        z.writestr(zipfile.ZipInfo("a.bin", date_time=(1980, 1, 1, 0, 0, 0)), b"x" * 100)
    data = bytearray(bio.getvalue())
    data[18:22] = struct.pack("<I", 1 << 30)  # local header: compressed size 1 GiB
    data[22:26] = struct.pack("<I", 1 << 30)
    case("zip_size_lies", ".zip", bytes(data), "a.bin")


def emit_dir(fmt, name, files, code, message, cmd):
    """a case whose input is a folder NAME.model/ holding files (name -> bytes)"""
    import shutil
    d = os.path.join(HERE, "bad", fmt)
    folder = os.path.join(d, name + ".model")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for n, data in files.items():
        with open(os.path.join(folder, n), "wb") as f:
            f.write(data)
    with open(os.path.join(d, name + ".expect"), "w") as f:
        f.write("%d\n%s\n%s\n" % (code, message, cmd))


def config_cases():
    """config.json (transformers 4 and 5 shapes) and params.json refusals: each names the file and
    the field. The folders hold a one-tensor safetensors so only the hyperparameters are wrong."""
    import json as _json
    header = _json.dumps({"model.embed_tokens.weight": {"dtype": "F32", "shape": [4, 8],
                                                         "data_offsets": [0, 128]}}).encode()
    weights = struct.pack("<Q", len(header)) + header + b"\0" * 128
    base = {"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 16,
            "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 4,
            "rms_norm_eps": 1e-5, "max_position_embeddings": 64}
    cmd = "convert {} -o out.gguf --no-vocab"

    def hf(name, message, raw=None, **over):
        cfg = dict(base, **over)
        body = raw if raw is not None else _json.dumps({k: v for k, v in cfg.items() if v is not None}).encode()
        emit_dir("config", name, {"config.json": body, "model.safetensors": weights}, 65, message, cmd)
    l3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192}
    hf("not_json", "config.json", raw=b'{"hidden_size": 8,')
    hf("duplicate_key", "config.json", raw=b'{"hidden_size": 8, "hidden_size": 16}')
    hf("not_llama", "unsupported architecture 'GPT2LMHeadModel'", architectures=["GPT2LMHeadModel"])
    hf("hidden_size_string", "needs positive integer", hidden_size="8")
    hf("layers_negative", "needs positive integer", num_hidden_layers=-1)
    hf("kv_heads_not_dividing", "inconsistent", num_attention_heads=4, num_key_value_heads=3, hidden_size=12)
    hf("rope_parameters_list", "'rope_parameters': not an object", rope_parameters=[1, 2])
    hf("rope_theta_string", "'rope_theta': not a number", rope_theta="500000")
    hf("rope_theta_zero", "not a RoPE base", rope_theta=0)
    hf("rope_type_yarn", "rope type 'yarn' is not supported", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    hf("rope5_type_dynamic", "rope type 'dynamic' is not supported",
       rope_parameters={"rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    hf("llama3_factor_zero", "factor 0 is not a positive number", rope_scaling=dict(l3, factor=0.0))
    hf("llama3_equal_freq_factors", "low_freq_factor < high_freq_factor",
       rope_parameters=dict(l3, rope_theta=500000.0, high_freq_factor=1.0))
    hf("llama3_orig_ctx_negative", "original_max_position_embeddings",
       rope_scaling=dict(l3, original_max_position_embeddings=-5))
    hf("head_dim_odd", "head size 3", head_dim=3)
    hf("too_many_layers", "implausible size", num_hidden_layers=100000)
    params = {"dim": 8, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "vocab_size": 4, "norm_eps": 1e-5}

    def meta(name, message, raw=None, **over):
        p = dict(params, **over)
        body = raw if raw is not None else _json.dumps({k: v for k, v in p.items() if v is not None}).encode()
        # an empty consolidated.00.pth, so the folder opens as far as the hyperparameter checks
        emit_dir("config", name, {"params.json": body, "consolidated.00.pth": torch_zip(pickle.dumps({}, protocol=2))},
                 65, message, cmd)
    meta("params_not_object", "needs positive integer dim", raw=b"[8, 1, 2]")
    meta("params_heads_zero", "needs positive integer dim", n_heads=0)
    meta("params_kv_not_dividing", "inconsistent: dim 12, 4 heads, 3 kv heads", dim=12, n_heads=4, n_kv_heads=3)
    meta("params_scaled_rope_factor_negative", "factor -8 is not a positive number", use_scaled_rope=True,
         rope_theta=500000.0, rope_scaling_factor=-8.0)


if __name__ == "__main__":
    gguf_cases()
    safetensors_cases()
    pytorch_cases()
    other_cases()
    issue11_cases()
    torrent_cases()
    archive_cases()
    config_cases()
    print("corpus written under", HERE)
