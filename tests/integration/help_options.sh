#!/usr/bin/env bash
# Every long option a command takes (its getopt table in cli/cmd_NAME.c) is named in its
# --help, so the help never hides an option. usage: help_options.sh FERRY SOURCE_DIR
set -u
ferry=$1 src=$2
fail=0 n=0
for f in "$src"/cli/cmd_*.c; do
  cmd=$(basename "$f" .c); cmd=${cmd#cmd_}
  help=$("$ferry" "$cmd" --help 2>&1)
  for opt in $(grep -o '{"[a-z0-9-]*", *\(no\|required\|optional\)_argument' "$f" | sed 's/{"\([^"]*\)".*/\1/' | sort -u); do
    case $opt in help | quiet | verbose) continue ;; esac
    n=$((n + 1))
    if ! grep -q -- "--$opt\b" <<<"$help"; then
      echo "FAIL: ferry $cmd --help does not mention --$opt"
      fail=1
    fi
  done
done
echo "$n options checked"
exit $fail
