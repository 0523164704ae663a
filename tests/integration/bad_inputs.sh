#!/usr/bin/env bash
# Runs ferry on every case of the corpus under tests/data/{bad,good}: CASE.expect holds the
# exit code (line 1), a piece of stderr (line 2) and optionally the command (line 3, arguments
# after `ferry`, {} standing for the input; default `inspect {}`). A crash (signal, sanitizer
# report) or a hang (30 s) fails the case whatever the exit code.
set -u
ferry=$1
data=$2
fail=0 n=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for expect in "$data"/bad/*/*.expect "$data"/good/*/*.expect; do
  case_base=${expect%.expect}
  input=$(ls -d "$case_base".* | grep -v '\.expect$' | head -1) # a file, or a folder (CASE.model/)
  want_code=$(sed -n 1p "$expect")
  want_msg=$(sed -n 2p "$expect")
  cmd=$(sed -n 3p "$expect")
  [ -n "$cmd" ] || cmd="inspect {}"
  n=$((n + 1))
  read -r -a args <<<"$cmd"
  for i in "${!args[@]}"; do [ "${args[$i]}" = "{}" ] && args[$i]=$input; done
  rm -rf "$work/run" && mkdir "$work/run"
  (cd "$work/run" && timeout 30 "$ferry" "${args[@]}" >/dev/null 2>"$work/err")
  code=$?
  if [ "$code" = 124 ]; then
    echo "FAIL ${input#$data/}: ferry $cmd still running after 30 s"; fail=1; continue
  fi
  if [ "$code" != "$want_code" ]; then
    echo "FAIL ${input#$data/}: ferry $cmd: exit $code, expected $want_code"; cat "$work/err"; fail=1; continue
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
  # a refused conversion leaves nothing behind in the output directory
  if [ "$want_code" != 0 ] && [ -n "$(ls -A "$work/run")" ]; then
    echo "FAIL ${input#$data/}: left $(ls -A "$work/run") behind"; fail=1; continue
  fi
  if ls "$work/run"/ferry-pwned-marker >/dev/null 2>&1; then echo "FAIL: a pickle ran code"; fail=1; fi
done
echo "$n cases checked"
exit $fail
