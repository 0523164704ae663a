"""llama.cpp's ggml library as an oracle for block types: npm's @node-llama-cpp/linux-x64 ships
libggml-base.so, whose exported quantizers (ggml_quantize_chunk: the reference quantizers that
llama-quantize uses without an importance matrix) and dequantizers (dequantize_row_<type>) this
module calls through ctypes. load() returns None when the package is not installed."""
import ctypes
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64", "libggml-base.so")

# name: (ggml type id, values per block, bytes per block)
TYPES = {"q4_0": (2, 32, 18), "q4_1": (3, 32, 20), "q5_0": (6, 32, 22), "q5_1": (7, 32, 24),
         "q8_0": (8, 32, 34), "q2_K": (10, 256, 84), "q3_K": (11, 256, 110), "q4_K": (12, 256, 144),
         "q5_K": (13, 256, 176), "q6_K": (14, 256, 210), "iq2_xxs": (16, 256, 66), "iq2_xs": (17, 256, 74),
         "iq3_xxs": (18, 256, 98), "iq1_s": (19, 256, 50), "iq4_nl": (20, 32, 18), "iq3_s": (21, 256, 110),
         "iq2_s": (22, 256, 82), "iq4_xs": (23, 256, 136), "iq1_m": (29, 256, 56), "tq1_0": (34, 256, 54),
         "tq2_0": (35, 256, 66), "mxfp4": (39, 32, 17)}
# quantizing to these first builds codebook search tables (ggml_quantize_init): seconds to a
# minute of one core each, so tests make their blocks with random_blocks() instead
SLOW_INIT = {"iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m", "iq3_xxs", "iq3_s"}
# byte offsets of the fp16 scales in a block (all others: one at 0)
HALVES = {"q4_1": [0, 2], "q5_1": [0, 2], "q2_K": [80, 82], "q3_K": [108], "q4_K": [0, 2], "q5_K": [0, 2],
          "q6_K": [208], "tq1_0": [52], "tq2_0": [64]}


def random_blocks(kind, nb, rng, scale=0.01):
    """nb blocks of random bytes (every codebook index, sign and sub-scale pattern) whose scales
    are finite fp16 values of about `scale`"""
    size = TYPES[kind][2]
    raw = rng.integers(0, 256, (nb, size), dtype=np.uint8)
    h = (rng.standard_normal(nb) * scale).astype(np.float16).view(np.uint16)
    if kind == "mxfp4":  # an E8M0 exponent byte
        raw[:, 0] = rng.integers(110, 135, nb)
    elif kind == "iq1_m":  # the fp16 scale is spread over the top nibbles of four u16
        for k in range(4):
            raw[:, 49 + 2 * k] = (raw[:, 49 + 2 * k] & 15) | (((h >> (4 * k)) & 15) << 4).astype(np.uint8)
    else:
        for off in HALVES.get(kind, [0]):
            raw[:, off:off + 2] = h.view(np.uint8).reshape(nb, 2)
            h = (rng.standard_normal(nb) * scale).astype(np.float16).view(np.uint16)
    return raw.tobytes()


class Ggml:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        q = self.lib.ggml_quantize_chunk
        q.restype = ctypes.c_size_t
        q.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                      ctypes.c_int64, ctypes.c_void_p]
        self.lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
        self.lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool

    def quantize(self, name, x, imatrix=None):
        """rows of float32 values -> ggml's blocks (bytes), weighted by imatrix (one value per
        column) when given; an importance matrix of ones where the type demands one"""
        t, blk, size = TYPES[name]
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
        nrows, per_row = x.shape
        out = np.zeros(nrows * per_row // blk * size, np.uint8)
        imat = np.ones(per_row, np.float32) if self.lib.ggml_quantize_requires_imatrix(t) else None
        if imatrix is not None:
            imat = np.ascontiguousarray(imatrix, dtype=np.float32)
        n = self.lib.ggml_quantize_chunk(t, x.ctypes.data, out.ctypes.data, 0, nrows, per_row,
                                         imat.ctypes.data if imat is not None else None)
        assert n == out.size, (name, n, out.size)
        return out.tobytes()

    def dequantize(self, name, raw):
        _, blk, size = TYPES[name]
        f = getattr(self.lib, "dequantize_row_" + name)
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        b = np.frombuffer(raw, np.uint8).copy()
        y = np.zeros(b.size // size * blk, np.float32)
        f(b.ctypes.data, y.ctypes.data, y.size)
        return y


def load():
    return Ggml(PATH) if os.path.exists(PATH) else None
