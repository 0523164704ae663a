#!/usr/bin/env bash
# The generated completions, run in the shells they are for: bash (COMP_WORDS/COMPREPLY through
# the real `complete` machinery's function) and zsh (the _ferry function with the completion
# system's builtins replaced by recorders, since a completion widget needs a terminal).
# Exit 77 (skip) without zsh; under CI zsh is installed by scripts/install-deps, so it fails.
# usage: completion.sh SOURCE_DIR
set -u
src=$1
fail=0
expect() { # what, output, word that must be among the candidates, word that must not
  if printf '%s\n' "$2" | grep -qx -- "$3" && ! printf '%s\n' "$2" | grep -qx -- "${4:-@none@}"; then
    echo "ok: $1"
  else
    echo "FAIL: $1: candidates were: $(printf '%s ' $2)"
    fail=1
  fi
}

bash_complete() { # the words typed so far; prints the candidates
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ferry
           printf "%s\n" "${COMPREPLY[@]}"' _ "$src/docs/completion/ferry.bash" "$@"
}
expect "bash: ferry con<TAB> offers convert" "$(bash_complete ferry con)" convert check
expect "bash: ferry fetch --jo<TAB> offers --jobs" "$(bash_complete ferry fetch --jo)" --jobs --json
expect "bash: ferry convert --t<TAB> offers --type" "$(bash_complete ferry convert --t)" --type --jobs

if ! command -v zsh >/dev/null; then
  if [ -n "${CI:-}" ]; then echo "FAIL: zsh missing, but scripts/install-deps installs it and CI is set"; exit 1; fi
  echo "skipped: zsh missing (zsh completion)"
  exit 77
fi
zsh_complete() { # CURRENT is the last word; prints what _describe/compadd/_files were given
  zsh -f -c '
    _describe() { local -a a; a=(${(P)4}); print -l -- ${a%%:*} }
    compadd() { [[ $1 == -a ]] && print -l -- ${(P)2} }
    _files() { print -- @files@ }
    source "$1" >/dev/null
    shift
    words=("$@"); CURRENT=$#words; PREFIX=$words[-1]
    _ferry' _ "$src/docs/completion/_ferry" "$@"
}
expect "zsh: ferry <TAB> offers the commands" "$(zsh_complete ferry '')" perplexity --jobs
expect "zsh: ferry fetch --<TAB> offers --jobs" "$(zsh_complete ferry fetch --)" --jobs --type
expect "zsh: ferry license <TAB> offers its actions" "$(zsh_complete ferry license '')" accept @files@
expect "zsh: ferry license accept <TAB> offers files" "$(zsh_complete ferry license accept '')" @files@ accept
expect "zsh: ferry convert m<TAB> offers files" "$(zsh_complete ferry convert m)" @files@ convert
zsh -c "autoload -U compinit && compinit -u -D && fpath=($src/docs/completion \$fpath) && autoload -U _ferry" ||
  { echo "FAIL: zsh cannot autoload _ferry"; fail=1; }
exit $fail
