#!/usr/bin/python3
"""Regenerates inference/unicode_tables.c: code point ranges of the Unicode general categories
L* and N* and of the White_Space property, from this Python's unicodedata."""
import sys
import unicodedata


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        ok = pred(cp)
        if ok and start is None:
            start = cp
        if not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


WS = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(range(0x2000, 0x200B))


def emit(name, rs):
    s, line = "const struct urange %s[] = {\n" % name, "   "
    for a, b in rs:
        item = " {0x%X, 0x%X}," % (a, b)
        if len(line) + len(item) > 98:
            s += line + "\n"
            line = "   "
        line += item
    return s + line + "\n};\nconst size_t %s_n = sizeof(%s) / sizeof(%s[0]);\n" % (name, name, name)


src = ("/* Unicode general categories L (letters) and N (numbers) and the White_Space property as\n"
       " * code point ranges, for the Llama 3 pre-tokenizer. Generated from Python %s's unicodedata\n"
       " * (Unicode %s) by scripts/gen-unicode-tables.py; do not edit by hand. */\n"
       "#include \"unicode_tables.h\"\n\n" % (sys.version.split()[0], unicodedata.unidata_version))
src += emit("ferry_uni_letter", ranges(lambda c: unicodedata.category(chr(c)).startswith("L"))) + "\n"
src += emit("ferry_uni_number", ranges(lambda c: unicodedata.category(chr(c)).startswith("N"))) + "\n"
src += emit("ferry_uni_space", ranges(lambda c: c in WS))
sys.stdout.write(src)
