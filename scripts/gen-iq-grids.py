#!/usr/bin/python3
"""Reads the codebooks ("grids") of ggml's IQ1/IQ2/IQ3 block types off llama.cpp's own
dequantizers and writes them, packed, as formats/quant_grid_tables.inc.

Each grid entry is 8 (IQ2, IQ1) or 4 (IQ3) small values drawn from a level set of at most 4 or 8
values, so one entry packs into 16 bits: 2 or 3 bits per value, each an index into the level set.
The entries are probed, not copied: for every grid index we build a block whose scale makes the
dequantized value equal the grid value (or a known affine function of it), run ggml's
dequantize_row_<type> from the library that npm's @node-llama-cpp/linux-x64 ships, and read
the values back. tests/interop/ggml_oracle.py then checks ferry against the same library on
random blocks, so a wrong table cannot pass unnoticed.

usage: gen-iq-grids.py LIBGGML_BASE_SO OUT.c"""
import ctypes
import sys

import numpy as np

lib = ctypes.CDLL(sys.argv[1])
ONE = np.array([1.0], np.float16).view(np.uint8)  # fp16 1.0, little-endian


def dequant(name, blocks, size):
    f = getattr(lib, "dequantize_row_" + name)
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    raw = np.ascontiguousarray(blocks.reshape(-1))
    assert raw.size % size == 0
    y = np.zeros(raw.size // size * 256, np.float32)
    f(raw.ctypes.data, y.ctypes.data, y.size)
    return y


def blank(n, size):
    """n zero blocks of `size` bytes whose leading fp16 scale is 1"""
    b = np.zeros((n, size), np.uint8)
    b[:, 0:2] = ONE
    return b


def iq2_xxs():  # qs: per 32 values 4 index bytes, then u32 of signs (7 bits each) and scale (top 4)
    b = blank(8, 66)
    for e in range(256):
        blk, slot = divmod(e, 32)
        ib, l = divmod(slot, 4)
        b[blk, 2 + 8 * ib + l] = e
    return dequant("iq2_xxs", b, 66).reshape(256, 8) / 0.125  # d * 0.5 * 0.25


def iq2_xs():  # qs: u16 per 8 values, low 9 bits the index, high 7 the signs; scales[8]
    b = blank(16, 74)
    for e in range(512):
        blk, slot = divmod(e, 32)
        b[blk, 2 + 2 * slot:4 + 2 * slot] = [e & 255, e >> 8]
    return dequant("iq2_xs", b, 74).reshape(512, 8) / 0.125


def iq2_s():  # qs[32] low index bits, signs[32], qh[8] two high bits per 8 values, scales[8]
    b = blank(32, 82)
    for e in range(1024):
        blk, slot = divmod(e, 32)
        ib, l = divmod(slot, 4)
        b[blk, 2 + slot] = e & 255
        b[blk, 66 + ib] |= (e >> 8) << (2 * l)
    return dequant("iq2_s", b, 82).reshape(1024, 8) / 0.125


def iq3_xxs():  # qs[64] one index per 4 values, then u32 signs/scale per 32 values
    b = blank(4, 98)
    for e in range(256):
        blk, slot = divmod(e, 64)
        b[blk, 2 + slot] = e
    return dequant("iq3_xxs", b, 98).reshape(256, 4) / 0.25  # d * 0.5 * 0.5


def iq3_s():  # qs[64] low index bits, qh[8] one high bit per index, signs[32], scales[4]
    b = blank(8, 110)
    for e in range(512):
        blk, slot = divmod(e, 64)
        b[blk, 2 + slot] = e & 255
        b[blk, 66 + slot // 8] |= (e >> 8) << (slot % 8)
    return dequant("iq3_s", b, 110).reshape(512, 4)  # d * (1 + 2 * 0)


def iq1_s():  # qs[32] low index bits, qh u16[8]: 3 high bits per index, scale, delta sign
    b = blank(64, 50)
    for e in range(2048):
        blk, slot = divmod(e, 32)
        ib, l = divmod(slot, 4)
        b[blk, 2 + slot] = e & 255
        qh = int(b[blk, 34 + 2 * ib]) | int(b[blk, 35 + 2 * ib]) << 8
        qh |= (e >> 8) << (3 * l)
        b[blk, 34 + 2 * ib:36 + 2 * ib] = [qh & 255, qh >> 8]
    return dequant("iq1_s", b, 50).reshape(2048, 8) - 0.125  # d * (grid + delta), delta 1/8


def pack(name, grid, bits):
    levels = sorted(set(grid.reshape(-1).tolist()))
    assert len(levels) <= 1 << bits, (name, levels)
    assert all(float(v).is_integer() for v in levels), (name, levels)
    idx = np.searchsorted(np.array(levels), grid)
    words = [sum(int(idx[e, j]) << (bits * j) for j in range(grid.shape[1])) for e in range(grid.shape[0])]
    out = ["static const int8_t %s_levels[%d] = {%s};" % (name, len(levels), ", ".join("%d" % v for v in levels)),
           "static const uint16_t %s_packed[%d] = {" % (name, len(words))]
    for i in range(0, len(words), 12):
        out.append("    " + ", ".join("0x%04x" % w for w in words[i:i + 12]) + ",")
    out.append("};")
    return "\n".join(out)


# the sign patterns: 7 stored bits, the eighth makes the count of minus signs even
b = blank(1, 66)
signs = []
for s in range(0, 128, 4):
    # the four sign fields of the first 32 values select patterns s..s+3 (grid entry 0 is all 8s)
    word = sum((s + l) << (7 * l) for l in range(4))
    b[0, 6:10] = [word & 255, (word >> 8) & 255, (word >> 16) & 255, (word >> 24) & 255]
    y = dequant("iq2_xxs", b, 66)[:32].reshape(4, 8)
    for l in range(4):
        signs.append(sum(1 << j for j in range(8) if y[l, j] < 0))
for i, v in enumerate(signs):
    assert v == i | (bin(i).count("1") & 1) << 7, (i, v)

parts = [pack("iq2xxs", iq2_xxs(), 2), pack("iq2xs", iq2_xs(), 2), pack("iq2s", iq2_s(), 2),
         pack("iq3xxs", iq3_xxs(), 3), pack("iq3s", iq3_s(), 3), pack("iq1s", iq1_s(), 2)]
head = ("/* Generated by scripts/gen-iq-grids.py from llama.cpp's dequantizers (libggml-base): the\n"
        " * codebooks of the IQ1/IQ2/IQ3 block types, one 16-bit word per entry holding a 2- or 3-bit\n"
        " * level index per value, lowest bits first. Do not edit; regenerate. */\n"
        "#include <stdint.h>\n\n")
open(sys.argv[2], "w").write(head + "\n\n".join(parts) + "\n")
