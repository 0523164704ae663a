#!/usr/bin/python3
"""Every block type ferry writes, row by row, against llama.cpp's own quantizers: libferry's
ferry_from_float_weighted (through ctypes) and libggml-base's ggml_quantize_chunk get the same
random rows (Gaussian, zero runs, one-signed, a spike; 1 to 3 super-blocks wide) with and
without an importance matrix (random weights, some zero), and every byte must be equal. This is
the quantizer-level check of what quantize_parity.py and imatrix_parity.py check per file.
usage: quant_kernels.py LIBFERRY"""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggml_lib  # noqa: E402
from servers import Checks  # noqa: E402
from skips import skip_test  # noqa: E402

check = Checks()
g = ggml_lib.load()
if g is None:
    skip_test("llama.cpp's libggml-base not installed (scripts/install-deps)")
f = ctypes.CDLL(os.path.abspath(sys.argv[1]))
f.ferry_from_float_weighted.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64,
                                        ctypes.c_void_p]
f.ferry_dtype_from_name.argtypes = [ctypes.c_char_p]
rng = np.random.default_rng(1)
TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "iq3_s",
         "iq3_xxs", "iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m", "tq1_0", "tq2_0"]
# ggml_quantize_chunk aborts on these without an importance matrix (llama-quantize refuses them)
NEED_WEIGHTS = {"iq2_xxs", "iq2_xs", "iq1_s"}
for name in TYPES:
    t, blk, size = ggml_lib.TYPES[name]
    dt = f.ferry_dtype_from_name(name.upper().encode())
    for weighted in (False, True) if name not in NEED_WEIGHTS else (True,):
        bad = []
        for trial in range(24):
            per_row, nrows = 256 * int(rng.integers(1, 4)), 3
            x = rng.standard_normal((nrows, per_row)).astype(np.float32) * 0.02
            if trial % 4 == 1:
                x[:, :40] = 0
            elif trial % 4 == 2:
                x = np.abs(x)
            elif trial % 4 == 3:
                x[0, 5] = 3.0
            if trial % 6 == 5:  # few distinct values: ties where IQ1 sorts a sub-block
                x = np.round(x * 200) / 200
            w = (rng.random(per_row) ** 3 * 10).astype(np.float32)
            if trial % 5 == 0:
                w[:17] = 0
            wp = w.ctypes.data if weighted else None
            want = np.zeros(nrows * per_row // blk * size, np.uint8)
            g.lib.ggml_quantize_chunk(t, x.ctypes.data, want.ctypes.data, 0, nrows, per_row, wp)
            got = np.zeros_like(want)
            rs = per_row // blk * size
            for r in range(nrows):
                row = np.ascontiguousarray(x[r])
                rc = f.ferry_from_float_weighted(dt, row.ctypes.data, int(got.ctypes.data + r * rs), int(per_row), wp)
                if rc != 0:
                    bad.append("trial %d: rc %d" % (trial, rc))
            if not np.array_equal(want, got):
                d = np.nonzero(want != got)[0]
                bad.append("trial %d: %d bytes differ from byte %d" % (trial, d.size, d[0]))
        check(not bad, "%s %s: 24 random row sets equal ggml_quantize_chunk's bytes %s"
              % (name, "with an imatrix" if weighted else "without", bad[:3]))
check.finish()
