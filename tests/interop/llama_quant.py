"""llama-quantize itself as an oracle: llama.cpp's own libllama (the prebuilt library npm's
node-llama-cpp ships; llama-quantize is a thin program over its llama_model_quantize), called
through ctypes with the parameter structs of that release's llama.h, and the comparison of two
GGUF files tensor by tensor as @huggingface/gguf reads them. load() returns the library, or
None when the package or node is missing."""
import ctypes
import hashlib
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")

FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q3_k_s": 11, "q3_k_m": 12,
          "q3_k_l": 13, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "iq4_nl": 25,
          "iq4_xs": 30, "tq1_0": 36, "tq2_0": 37, "iq3_s": 26, "iq3_m": 27,
          "iq3_xs": 22, "iq2_xxs": 19, "iq2_xs": 20, "q2_k_s": 21, "iq3_xxs": 23, "iq1_s": 24, "iq2_s": 28,
          "iq2_m": 29, "iq1_m": 31}
GGML_ID = {"q4_0": 2, "q8_0": 8, "q2_k": 10, "q6_k": 14, "f16": 1}
GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K",
              12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL",
              21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0"}


class QuantizeParams(ctypes.Structure):  # llama.h, llama_model_quantize_params, of that release
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int), ("output_tensor_type", ctypes.c_int),
                ("token_embedding_type", ctypes.c_int), ("allow_requantize", ctypes.c_bool),
                ("quantize_output_tensor", ctypes.c_bool), ("only_copy", ctypes.c_bool), ("pure", ctypes.c_bool),
                ("keep_split", ctypes.c_bool), ("dry_run", ctypes.c_bool), ("imatrix", ctypes.c_void_p),
                ("kv_overrides", ctypes.c_void_p), ("tt_overrides", ctypes.c_void_p),
                ("prune_layers", ctypes.c_void_p), ("max_buf_size", ctypes.c_size_t)]


class TensorOverride(ctypes.Structure):  # llama.h, llama_model_tensor_override
    _fields_ = [("pattern", ctypes.c_char_p), ("type", ctypes.c_int)]


class ImatrixData(ctypes.Structure):  # llama.h, llama_model_imatrix_data
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.POINTER(ctypes.c_float)), ("size", ctypes.c_size_t)]


class KvValue(ctypes.Union):
    _fields_ = [("val_i64", ctypes.c_int64), ("val_f64", ctypes.c_double), ("val_bool", ctypes.c_bool),
                ("val_str", ctypes.c_char * 128)]


class KvOverride(ctypes.Structure):  # llama.h, llama_model_kv_override (tag: 0 int, 3 str)
    _fields_ = [("tag", ctypes.c_int), ("key", ctypes.c_char * 128), ("value", KvValue)]


class Llama:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.llama_model_quantize_default_params.restype = QuantizeParams
        self.lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantizeParams)]
        self.lib.llama_model_quantize.restype = ctypes.c_uint32
        if hasattr(self.lib, "llama_backend_init"):
            self.lib.llama_backend_init()
        if hasattr(self.lib, "llama_log_set"):  # quiet
            self._quiet = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None)
            self.lib.llama_log_set(self._quiet, None)

    def quantize(self, src, dst, ftype, pure=False, output=None, embd=None, leave_output=False, tensor_types=(),
                 requantize=False, imatrix=None, kv=()):
        """llama_model_quantize as llama-quantize calls it; imatrix {name: float32 array} (the
        values it feeds the quantizers), kv [(key, int or str)] its metadata overrides"""
        p = self.lib.llama_model_quantize_default_params()
        p.ftype, p.pure, p.nthread, p.allow_requantize = ftype, pure, 2, requantize
        if output:
            p.output_tensor_type = GGML_ID[output]
        if embd:
            p.token_embedding_type = GGML_ID[embd]
        p.quantize_output_tensor = not leave_output
        keep = [(TensorOverride * (len(tensor_types) + 1))(
            *[TensorOverride(pat.encode(), GGML_ID[ty]) for pat, ty in tensor_types], TensorOverride(None, 0))]
        if tensor_types:
            p.tt_overrides = ctypes.cast(keep[0], ctypes.c_void_p)
        if imatrix:
            arrs = [(n.encode(), v) for n, v in sorted(imatrix.items())]
            rows = (ImatrixData * (len(arrs) + 1))(
                *[ImatrixData(n, v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), v.size) for n, v in arrs],
                ImatrixData(None, None, 0))
            keep += [arrs, rows]
            p.imatrix = ctypes.cast(rows, ctypes.c_void_p)
        if kv:
            items = (KvOverride * (len(kv) + 1))()
            for i, (key, val) in enumerate(kv):
                items[i].key = key.encode()
                if isinstance(val, str):
                    items[i].tag, items[i].value.val_str = 3, val.encode()[:127]
                else:
                    items[i].tag, items[i].value.val_i64 = 0, val
            keep.append(items)
            p.kv_overrides = ctypes.cast(items, ctypes.c_void_p)
        return self.lib.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))


def load():
    libs = sorted(n for n in os.listdir(LIB) if n.startswith("libllama")) if os.path.isdir(LIB) else []
    if not libs or not shutil.which("node"):
        return None
    for dep in ("libggml-base.so", "libggml-cpu.so", "libggml.so"):  # libllama's own dependencies first
        if os.path.exists(os.path.join(LIB, dep)):
            ctypes.CDLL(os.path.join(LIB, dep), mode=ctypes.RTLD_GLOBAL)
    return Llama(os.path.join(LIB, libs[0]))


def dump(path):
    """what @huggingface/gguf reads: {metadata, tensorDataOffset, tensors}"""
    p = subprocess.run(["node", os.path.join(HERE, "gguf_dump.mjs"), path], capture_output=True, text=True)
    return json.loads(p.stdout)


def tensors(path):
    """{name: (type name, its bytes)}: types and offsets from @huggingface/gguf"""
    doc = dump(path)
    base, infos = int(doc["tensorDataOffset"]), doc["tensors"]
    offs = sorted(int(t["offset"]) for t in infos) + [os.path.getsize(path) - base]
    out = {}
    with open(path, "rb") as f:
        for t in infos:
            o = int(t["offset"])
            f.seek(base + o)
            nxt = min(x for x in offs if x > o)
            out[t["name"]] = (str(t["dtype"]), f.read(nxt - o))
    return out


def compare(a, b):
    """names whose type or data (up to the padding llama.cpp adds after the last row) differ"""
    bad = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            bad.append(name + " (missing)")
            continue
        ta, da = a[name]
        tb, db = b[name]
        n = min(len(da), len(db))
        if ta != tb:
            bad.append("%s (%s vs %s)" % (name, GGML_TYPES.get(int(ta), ta), GGML_TYPES.get(int(tb), tb)))
        elif da[:n] != db[:n] or hashlib.sha256(da[:n]).digest() != hashlib.sha256(db[:n]).digest():
            bad.append(name + " (bytes)")
    return bad
