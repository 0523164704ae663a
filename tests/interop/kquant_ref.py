"""Q2_K and Q3_K written a second time, in numpy float32, from the block layouts and reference
algorithms of ggml (quantize_row_q2_K_ref, quantize_row_q3_K_ref): an encoder to compare ferry's
bytes with, and a decoder that reads ferry's bytes without ferry. Every sum runs element by
element in the reference's order so float32 rounding matches; vectorised over sub-blocks."""
import numpy as np

F = np.float32


def rint(v):
    return np.rint(v).astype(np.int32)


def f16(v):
    return np.asarray(v, dtype=np.float32).astype(np.float16)


def _qkx2_mad(x, nmax, rmin, rdelta, nstep):
    """make_qkx2_quants with weights |x| and absolute error, for rows of x (n, 16)."""
    w = np.abs(x)
    n = x.shape[1]
    mn, mx = x[:, 0].copy(), x[:, 0].copy()
    sum_w = w[:, 0].copy()
    sum_x = sum_w * x[:, 0]
    for i in range(1, n):
        mn = np.where(x[:, i] < mn, x[:, i], mn)
        mx = np.where(x[:, i] > mx, x[:, i], mx)
        sum_w = sum_w + w[:, i]
        sum_x = sum_x + w[:, i] * x[:, i]
    mn = np.where(mn > 0, F(0), mn)
    flat = mx == mn
    with np.errstate(all="ignore"):
        iscale = F(nmax) / (mx - mn)
        scale = F(1) / iscale
        L = np.clip(rint(iscale[:, None] * (x - mn[:, None])), 0, nmax)
        best = np.zeros(len(x), F)
        for i in range(n):
            d = scale * L[:, i].astype(F) + mn - x[:, i]
            best = best + w[:, i] * np.abs(d)
        for step in range(nstep + 1):
            isc = (F(rmin) + F(rdelta) * F(step) + F(nmax)) / (mx - mn)
            La = np.clip(rint(isc[:, None] * (x - mn[:, None])), 0, nmax)
            sl = np.zeros(len(x), F)
            sl2 = np.zeros(len(x), F)
            sxl = np.zeros(len(x), F)
            for i in range(n):
                lf = La[:, i].astype(F)
                sl = sl + w[:, i] * lf
                sl2 = sl2 + w[:, i] * lf * lf
                sxl = sxl + w[:, i] * lf * x[:, i]
            D = sum_w * sl2 - sl * sl
            ts = (sum_w * sxl - sum_x * sl) / D
            tm = (sl2 * sum_x - sl * sxl) / D
            pos = tm > 0
            tm = np.where(pos, F(0), tm)
            ts = np.where(pos, sxl / sl2, ts)
            cur = np.zeros(len(x), F)
            for i in range(n):
                cur = cur + w[:, i] * np.abs(ts * La[:, i].astype(F) + tm - x[:, i])
            take = (D > 0) & (cur < best)
            L = np.where(take[:, None], La, L)
            best = np.where(take, cur, best)
            scale = np.where(take, ts, scale)
            mn = np.where(take, tm, mn)
    L = np.where(flat[:, None], 0, L)
    return np.where(flat, F(0), scale), -mn, L


def _pack2(L):
    """(nb, 256) levels 0..3 -> (nb, 64) bytes: element l of each 32-run in bits 2k."""
    q = np.zeros((L.shape[0], 64), np.uint8)
    for j in range(0, 256, 128):
        for k in range(4):
            q[:, j // 4:j // 4 + 32] |= (L[:, j + 32 * k:j + 32 * k + 32] << (2 * k)).astype(np.uint8)
    return q


def quantize_q2_k(x):
    x = np.asarray(x, F).reshape(-1, 256)
    nb = len(x)
    sub = x.reshape(-1, 16)
    scales, mins, L = _qkx2_mad(sub, 3, -0.5, 0.1, 15)
    scales, mins, L = scales.reshape(nb, 16), mins.reshape(nb, 16), L.reshape(nb, 256)
    max_scale = np.maximum(scales.max(axis=1), F(0))
    max_min = np.maximum(mins.max(axis=1), F(0))
    with np.errstate(all="ignore"):
        ls = np.where((max_scale > 0)[:, None], rint((F(15) / max_scale)[:, None] * scales), 0)
        lm = np.where((max_min > 0)[:, None], rint((F(15) / max_min)[:, None] * mins), 0)
    sc = (ls | (lm << 4)).astype(np.uint8)
    d = f16(np.where(max_scale > 0, max_scale / F(15), F(0)))
    dmin = f16(np.where(max_min > 0, max_min / F(15), F(0)))
    dd = d.astype(F)[:, None] * (sc & 15).astype(F)
    dm = dmin.astype(F)[:, None] * (sc >> 4).astype(F)
    xs = x.reshape(nb, 16, 16)
    with np.errstate(all="ignore"):
        Lq = np.clip(rint((xs + dm[:, :, None]) / dd[:, :, None]), 0, 3)
    L = np.where((dd != 0)[:, :, None], Lq, L.reshape(nb, 16, 16)).reshape(nb, 256)
    out = np.concatenate([sc, _pack2(L), d.view(np.uint8).reshape(nb, 2), dmin.view(np.uint8).reshape(nb, 2)], 1)
    return out.tobytes()


def _q3_levels(x):
    """make_q3_quants(16, 4, x, L, do_rmse=true) for rows of x (n, 16)."""
    n = len(x)
    ax = np.abs(x)
    idx = np.argmax(ax, axis=1)
    amax = ax[np.arange(n), idx]
    mx = x[np.arange(n), idx]
    zero = amax < F(1e-15)
    with np.errstate(all="ignore"):
        iscale = F(-4) / mx
        L = np.clip(rint(iscale[:, None] * x), -4, 3)
    w = x * x
    slx = np.zeros(n, F)
    sl2 = np.zeros(n, F)
    for i in range(16):
        lf = L[:, i].astype(F)
        slx = slx + w[:, i] * x[:, i] * lf
        sl2 = sl2 + w[:, i] * lf * lf
    for _ in range(5):
        for i in range(16):
            lf = L[:, i].astype(F)
            tlx = slx - w[:, i] * x[:, i] * lf
            tl2 = sl2 - w[:, i] * lf * lf
            with np.errstate(all="ignore"):
                nl = np.clip(rint(x[:, i] * tl2 / tlx), -4, 3)
            nf = nl.astype(F)
            tlx2 = tlx + w[:, i] * x[:, i] * nf
            tl22 = tl2 + w[:, i] * nf * nf
            ok = (tlx > 0) & (nl != L[:, i]) & (tl22 > 0) & (tlx2 * tlx2 * sl2 > slx * slx * tl22)
            L[:, i] = np.where(ok, nl, L[:, i])
            slx = np.where(ok, tlx2, slx)
            sl2 = np.where(ok, tl22, sl2)
    with np.errstate(all="ignore"):
        scale = np.where(sl2 > 0, slx / sl2, F(0))
    return np.where(zero, F(0), scale), np.where(zero[:, None], 0, L + 4)


def quantize_q3_k(x):
    x = np.asarray(x, F).reshape(-1, 256)
    nb = len(x)
    scales, L = _q3_levels(x.reshape(-1, 16))
    scales, L = scales.reshape(nb, 16), L.reshape(nb, 256)
    idx = np.argmax(np.abs(scales), axis=1)
    max_scale = scales[np.arange(nb), idx]
    nz = max_scale != 0
    with np.errstate(all="ignore"):
        iscale = F(-32) / max_scale
        ls = np.where(nz[:, None], np.clip(rint(iscale[:, None] * scales), -32, 31) + 32, 0)
        d = f16(np.where(nz, F(1) / iscale, F(0)))
    s = np.zeros((nb, 12), np.uint8)
    for j in range(16):
        lo = (ls[:, j] & 15).astype(np.uint8)
        if j < 8:
            s[:, j] |= lo
        else:
            s[:, j - 8] |= lo << 4
        s[:, 8 + j % 4] |= ((ls[:, j] >> 4) << (2 * (j // 4))).astype(np.uint8)
    dd = d.astype(F)[:, None] * (ls - 32).astype(F)
    xs = x.reshape(nb, 16, 16)
    with np.errstate(all="ignore"):
        Lq = np.clip(rint(xs / dd[:, :, None]), -4, 3) + 4
    L = np.where((dd != 0)[:, :, None], Lq, L.reshape(nb, 16, 16)).reshape(nb, 256)
    hm = np.zeros((nb, 32), np.uint8)
    for j in range(256):
        hi = L[:, j] > 3
        hm[:, j % 32] |= (hi.astype(np.uint8) << (j // 32)).astype(np.uint8)
    L = np.where(L > 3, L - 4, L)
    out = np.concatenate([hm, _pack2(L), s, d.view(np.uint8).reshape(nb, 2)], 1)
    return out.tobytes()


def _unpack2(q):
    """(nb, 64) bytes -> (nb, 256) 2-bit levels."""
    L = np.zeros((q.shape[0], 256), np.int32)
    for j in range(0, 256, 128):
        for k in range(4):
            L[:, j + 32 * k:j + 32 * k + 32] = (q[:, j // 4:j // 4 + 32] >> (2 * k)) & 3
    return L


def dequantize_q2_k(raw):
    b = np.frombuffer(raw, np.uint8).reshape(-1, 84)
    sc = b[:, :16].astype(np.int32)
    d = b[:, 80:82].copy().view(np.float16).astype(F)
    dmin = b[:, 82:84].copy().view(np.float16).astype(F)
    L = _unpack2(b[:, 16:80]).reshape(-1, 16, 16).astype(F)
    y = (d * (sc & 15).astype(F))[:, :, None] * L - (dmin * (sc >> 4).astype(F))[:, :, None]
    return y.reshape(-1)


def dequantize_q3_k(raw):
    b = np.frombuffer(raw, np.uint8).reshape(-1, 110)
    hm, s = b[:, :32], b[:, 96:108].astype(np.int32)
    d = b[:, 108:110].copy().view(np.float16).astype(F)
    L = _unpack2(b[:, 32:96])
    for j in range(256):
        L[:, j] -= np.where(hm[:, j % 32] & (1 << (j // 32)), 0, 4)
    sc = np.zeros((len(b), 16), np.int32)
    for j in range(16):
        lo = s[:, j] & 15 if j < 8 else s[:, j - 8] >> 4
        sc[:, j] = (lo | (((s[:, 8 + j % 4] >> (2 * (j // 4))) & 3) << 4)) - 32
    y = (d * sc.astype(F))[:, :, None] * L.reshape(-1, 16, 16).astype(F)
    return y.reshape(-1)
