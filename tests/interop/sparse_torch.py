"""Writes PyTorch zip checkpoints whose tensor records are holes of a sparse file: the zip
layout torch.save writes (stored members under NAME/, data.pkl with _rebuild_tensor_v2 over
legacy storage classes, version, data/N records), with zip64 sizes and offsets, built from the
format's definition (PKWARE APPNOTE 4.3 and 4.5.3, the pickle opcodes of protocol 2) so that a
checkpoint of hundreds of gigabytes takes no disk and no time. The CRC-32 of each all-zero record
is computed in O(log n) by the standard GF(2) matrix method (as zlib's crc32_combine does), so the
files are valid zips. Standard library only."""
import struct
import zlib


# ---- pickle protocol 2, the opcodes torch.save's data.pkl uses (also used by torch_checkpoints.py)

def glob_op(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def str_op(text):
    b = text.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def int_op(v):
    if -(1 << 31) <= v < (1 << 31):
        return b"J" + struct.pack("<i", v)
    b = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b  # LONG1


def tuple_op(*items):
    return b"(" + b"".join(items) + b"t"


STORAGE = {"bf16": ("BFloat16Storage", 2), "f16": ("HalfStorage", 2), "f32": ("FloatStorage", 4)}


def data_pkl(tensors, dtype):
    """tensors: [(name, shape)] in order; record k holds tensor k"""
    cls = STORAGE[dtype][0]
    out = b"\x80\x02" + glob_op("collections", "OrderedDict") + b")R("
    for k, (name, shape) in enumerate(tensors):
        n = 1
        for d in shape:
            n *= d
        stride, acc = [], 1
        for d in reversed(shape):
            stride.insert(0, acc)
            acc *= d
        pid = tuple_op(str_op("storage"), glob_op("torch", cls), str_op(str(k)), str_op("cpu"), int_op(n))
        out += str_op(name) + glob_op("torch._utils", "_rebuild_tensor_v2") + tuple_op(
            pid + b"Q", int_op(0), tuple_op(*[int_op(d) for d in shape]), tuple_op(*[int_op(d) for d in stride]),
            b"\x89", glob_op("collections", "OrderedDict") + b")R") + b"R"
    return out + b"u."


# ---- CRC-32 of n zero bytes without reading them

def _gf2_times(mat, vec):
    s, i = 0, 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_zeros(n, crc=0):
    """zlib.crc32(b"\\0" * n, crc), in O(log n)"""
    if n == 0:
        return crc
    odd = [0xEDB88320] + [1 << k for k in range(31)]  # the operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    crc ^= 0xFFFFFFFF
    while True:
        even = _gf2_square(odd)  # apply len's bits, from one zero byte (eight bits) up
        if n & 1:
            crc = _gf2_times(even, crc)
        n >>= 1
        if not n:
            break
        odd = _gf2_square(even)
        if n & 1:
            crc = _gf2_times(odd, crc)
        n >>= 1
        if not n:
            break
    return crc ^ 0xFFFFFFFF


# ---- the zip

def write(path, prefix, tensors, dtype="bf16"):
    """A sparse torch zip at path: tensors [(name, shape)], records of zeros (holes)."""
    size = STORAGE[dtype][1]
    members = [(prefix + "/data.pkl", data_pkl(tensors, dtype)), (prefix + "/byteorder", b"little")]
    for k, (name, shape) in enumerate(tensors):
        n = size
        for d in shape:
            n *= d
        members.append((prefix + "/data/%d" % k, n))  # an int: that many zero bytes
    members.append((prefix + "/version", b"3\n"))
    central = b""
    with open(path, "wb") as f:
        for name, data in members:
            nb = name.encode()
            n = data if isinstance(data, int) else len(data)
            crc = crc32_zeros(n) if isinstance(data, int) else zlib.crc32(data)
            off = f.tell()
            z64 = n >= 0xFFFFFFFF
            extra = struct.pack("<HHQQ", 1, 16, n, n) if z64 else b""
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc,
                                0xFFFFFFFF if z64 else n, 0xFFFFFFFF if z64 else n, len(nb), len(extra)))
            f.write(nb + extra)
            if isinstance(data, int):
                f.seek(n, 1)  # a hole
            else:
                f.write(data)
            cextra = struct.pack("<HHQQQ", 1, 24, n, n, off)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(nb), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + nb + cextra
        cd_off = f.tell()
        f.write(central)
        z64_off = f.tell()
        count = len(members)
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_off))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
