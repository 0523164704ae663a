"""What a folder holds, for comparing trees in tests: {relative path: SHA-256 hex} of the files
below it, leaving out the names skip(name) picks (folders and files alike)."""
import hashlib
import os


def tree(d, skip=lambda name: False):
    out = {}
    for dp, dn, names in os.walk(d):
        dn[:] = [x for x in dn if not skip(x)]
        for n in names:
            if not skip(n):
                p = os.path.join(dp, n)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, d)] = hashlib.sha256(f.read()).hexdigest()
    return out


def hidden(name):
    return name.startswith(".")
