#!/usr/bin/python3
"""The skip rules of skips.py, checked: without CI a missing oracle is a CTest skip (77) or a
printed partial skip; under CI an oracle that install-deps installs fails the test (1), while
missing testdata (not installed by install-deps) still skips."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
fail = 0


def run(code, ci):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    r = subprocess.run([sys.executable, "-c", "import skips\n" + code + "\nprint('went on')"],
                       cwd=HERE, env=env, capture_output=True, text=True)
    return r.returncode, r.stdout


cases = [("skips.skip_test('libggml missing')", False, 77, "skipped: libggml missing"),
         ("skips.skip_test('libggml missing')", True, 1, "FAIL: libggml missing"),
         ("skips.skip_test('no testdata', installed_by_deps=False)", True, 77, "skipped: no testdata"),
         ("skips.skip_part('torch missing')", False, 0, "went on"),
         ("skips.skip_part('torch missing')", True, 1, "FAIL: torch missing")]
for code, ci, want_rc, want_out in cases:
    rc, out = run(code, ci)
    ok = rc == want_rc and want_out in out
    fail |= not ok
    print("%s %s (CI %s): exit %d%s" % ("ok  " if ok else "FAIL", code, "set" if ci else "unset", rc,
                                        "" if ok else ", output %r" % out))
sys.exit(fail)
