#!/usr/bin/env bash
# The house rules of SPEC section 2 and STYLE.md that a grep can check: cli/ renders and
# dispatches, so it includes no crypto, HTTP or format-reader headers (the library wraps them),
# and the library folders never print or exit. usage: layering.sh SOURCE_DIR
set -u
src=$1
fail=0
bad=$(grep -ln '#include <openssl/\|#include <curl/\|#include <sodium.h>\|#include "ferry/gguf.h"\|#include "ferry/safetensors.h"\|#include "ferry/pytorch.h"\|#include "ferry/llama2c.h"\|#include "ferry/npy.h"' "$src"/cli/*.c "$src"/cli/*.h)
if [ -n "$bad" ]; then echo "FAIL: cli/ files use a library's internals directly: $bad"; fail=1; else echo "ok: cli/ uses libferry only"; fi
lib=$(grep -ln '\bprintf(\|\bputs(\|\bexit(\|fprintf(stderr\|fprintf(stdout' "$src"/formats/*.c "$src"/convert/*.c "$src"/verify/*.c "$src"/fetch/*.c "$src"/fetch/*.cpp "$src"/inference/*.c)
if [ -n "$lib" ]; then echo "FAIL: library files print or exit: $lib"; fail=1; else echo "ok: the library never prints or exits"; fi
# folders meet through declared headers (include/ferry/), never another folder's private ones
cross=$(grep -ln '#include "\.\./' "$src"/formats/*.c "$src"/convert/*.[ch] "$src"/verify/*.[ch] "$src"/fetch/*.[ch] "$src"/fetch/*.cpp "$src"/inference/*.[ch])
if [ -n "$cross" ]; then echo "FAIL: private headers of another folder included: $cross"; fail=1; else echo "ok: folders meet through include/ferry"; fi
# commands never call commands: only main.c's table names cmd_* functions (besides each file's own)
calls=$(cd "$src/cli" && for f in *.c; do [ "$f" = main.c ] && continue; own=${f%.c}
  grep -Hnow '\bcmd_[a-z]*\b' "$f" | grep -v ":$own\$" ; done)
if [ -n "$calls" ]; then echo "FAIL: a command calls another command: $calls"; fail=1; else echo "ok: commands never call commands"; fi
# an error record starts cleared: ferry_error_set keeps the first cause, so one left with stack
# garbage can turn a refusal into any code (found: a missing archive member reported as present)
unclear=$(awk 'FNR == 1 { pending = ""; in_type = 0 }
  /^(static |typedef )?struct [a-z_]+ \{/ { in_type = 1 }
  /^\}/ { in_type = 0 }
  pending != "" && index($0, "ferry_error_clear(&" var ")") { pending = "" }
  pending != "" && FNR > line + 6 { print pending; pending = "" }
  !in_type && match($0, /^[ \t]+struct ferry_error [a-z_]+;/) { var = $3; sub(";", "", var); pending = FILENAME ":" FNR; line = FNR }
  ENDFILE { if (pending != "") print pending; pending = "" }' "$src"/formats/*.c "$src"/convert/*.c "$src"/verify/*.c "$src"/fetch/*.c "$src"/fetch/*.cpp "$src"/inference/*.c "$src"/cli/*.c)
if [ -n "$unclear" ]; then echo "FAIL: error records declared without ferry_error_clear: $unclear"; fail=1; else echo "ok: every local error record is cleared before use"; fi
exit $fail
