#!/usr/bin/env bash
# Runs `ferry inspect` on every case of the corpus under tests/data/{bad,good}: the exit code
# must match CASE.expect's first line and stderr must contain its second line. A crash
# (signal, sanitizer report) fails the case whatever the exit code.
set -u
ferry=$1
data=$2
fail=0 n=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for expect in "$data"/bad/*/*.expect "$data"/good/*/*.expect; do
  case_base=${expect%.expect}
  input=$(ls "$case_base".* | grep -v '\.expect$' | head -1)
  want_code=$(sed -n 1p "$expect")
  want_msg=$(sed -n 2p "$expect")
  n=$((n + 1))
  (cd "$work" && "$ferry" inspect "$input" >/dev/null 2>"$work/err")
  code=$?
  if [ "$code" != "$want_code" ]; then
    echo "FAIL ${input#$data/}: exit $code, expected $want_code"; cat "$work/err"; fail=1; continue
  fi
  if [ -n "$want_msg" ] && ! grep -qF -- "$want_msg" "$work/err"; then
    echo "FAIL ${input#$data/}: message lacks '$want_msg':"; cat "$work/err"; fail=1; continue
  fi
  if grep -q "Sanitizer\|runtime error" "$work/err"; then
    echo "FAIL ${input#$data/}: sanitizer report"; cat "$work/err"; fail=1; continue
  fi
  # a refused input never names a file other than itself
  if [ "$want_code" != 0 ] && ! grep -qF -- "$(basename "$input")" "$work/err"; then
    echo "FAIL ${input#$data/}: message does not name the file"; cat "$work/err"; fail=1; continue
  fi
done
if ls "$work"/ferry-pwned-marker >/dev/null 2>&1; then echo "FAIL: a pickle ran code"; fail=1; fi
echo "$n cases checked"
exit $fail
