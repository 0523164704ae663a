"""How a test says that an oracle or data it needs is missing.

A test that cannot run at all exits with SKIP (77), which CTest reports as skipped through the
tests' SKIP_RETURN_CODE, never as passed. A part of a test that cannot run prints "skipped:".
Under CI (the CI environment variable set), an oracle that scripts/install-deps installs must
be there: its absence fails the test instead, so an oracle cannot silently vanish from CI.
The shared testdata is not installed by install-deps: without it, tests skip even under CI."""
import os
import sys

SKIP = 77


def _ci_fail(reason):
    print("FAIL: %s, but scripts/install-deps installs it and CI is set" % reason)
    sys.exit(1)


def skip_test(reason, installed_by_deps=True):
    """Nothing of this test can run: a skip (or a failure under CI for an installed oracle)."""
    if installed_by_deps and os.environ.get("CI"):
        _ci_fail(reason)
    print("skipped: " + reason)
    sys.exit(SKIP)


def skip_part(reason, installed_by_deps=True):
    """One part of this test cannot run; the rest goes on."""
    if installed_by_deps and os.environ.get("CI"):
        _ci_fail(reason)
    print("skipped: " + reason)
