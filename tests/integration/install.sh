#!/usr/bin/env bash
# `cmake --install` puts the program, the library, its headers, ferry.pc, man pages and
# completions under a prefix; the examples build
# against that with `pkg-config --cflags --libs ferry` alone and run.
# usage: install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail=0
cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
pc=$(dirname "$(find "$prefix" -name ferry.pc | head -1)")
[ -n "$pc" ] || { echo "FAIL: no ferry.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$pc
libdir=$(pkg-config --variable=libdir ferry)
for ex in list_tensors fetch_verified; do
  if cc "$src/examples/$ex.c" -o "$prefix/$ex" $(pkg-config --cflags --libs ferry) -Wl,-rpath,"$libdir"; then
    echo "ok: examples/$ex.c builds against the installed library"
  else
    echo "FAIL: examples/$ex.c does not build with pkg-config --cflags --libs ferry"; fail=1
  fi
done
# a C++ program includes the headers cleanly (a function named like a struct hides its name there)
if printf '#include <ferry/ferry.h>\nint main() { return ferry_version() ? 0 : 1; }\n' |
  c++ -x c++ -std=c++17 -Wall -Wextra -Wshadow -pedantic -Werror $(pkg-config --cflags ferry) -fsyntax-only -; then
  echo "ok: ferry/ferry.h compiles as C++ with -Wall -Wextra -Wshadow -pedantic -Werror"
else
  echo "FAIL: ferry/ferry.h is not clean C++"; fail=1
fi
out=$("$prefix/list_tensors" "$src/tests/data/good/gguf/tensors_success.gguf" 2>&1)
grep -q "gguf, 2 tensors" <<<"$out" && echo "ok: list_tensors runs on the installed shared library" \
  || { echo "FAIL: list_tensors: $out"; fail=1; }
ldd "$prefix/list_tensors" | grep -q "$prefix/lib.*libferry.so.0" \
  && echo "ok: linked to the installed libferry.so.0 (SONAME)" || { echo "FAIL: not linked to the installed libferry.so.0"; fail=1; }
bad=$(nm -D --defined-only "$libdir/libferry.so.0" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^ferry_' | head -5)
[ -z "$bad" ] && echo "ok: libferry.so.0 exports only ferry_* names" || { echo "FAIL: libferry.so.0 exports $bad"; fail=1; }
# and only what the installed headers declare: helpers shared through private headers stay local
hidden=$(comm -23 <(nm -D --defined-only "$libdir/libferry.so.0" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u) \
  <(cat "$prefix"/include/ferry/*.h | grep -o 'ferry_[a-z0-9_]*' | sort -u) | head -5)
[ -z "$hidden" ] && echo "ok: every exported symbol is declared in include/ferry" \
  || { echo "FAIL: libferry.so.0 exports names no public header declares: $hidden"; fail=1; }
for f in bin/ferry share/man/man1/ferry.1 share/man/man1/ferry-fetch.1 share/bash-completion/completions/ferry \
  share/zsh/vendor-completions/_ferry; do
  [ -f "$prefix/$f" ] || { echo "FAIL: $f not installed"; fail=1; }
done
[ $fail = 0 ] && echo "ok: the program, man pages and bash and zsh completions installed"
exit $fail
