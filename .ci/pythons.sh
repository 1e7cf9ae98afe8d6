#!/usr/bin/env bash
# The interpreters of the tox matrix (python3.11, python3.12, python3.13), put on PATH:
#
#   eval "$(bash .ci/pythons.sh)"
#
# tox looks each one up on PATH by name. An interpreter that pyenv has installed but not
# selected (its shim then answers "command not found") is added by its own bin folder, at
# the end of PATH so that `python3` stays what it was. One found nowhere is named on stderr;
# tox then fails its env.
set -euo pipefail
add=()
for minor in 3.11 3.12 3.13; do
    if python$minor -c pass 2>/dev/null; then continue; fi
    dir=
    if command -v pyenv >/dev/null; then
        v=$(pyenv versions --bare 2>/dev/null | grep -E "^$minor\.[0-9]+$" | sort -V | tail -n1 || true)
        [ -n "$v" ] && dir="$(pyenv root)/versions/$v/bin"
    fi
    if [ -n "$dir" ] && [ -x "$dir/python$minor" ]; then
        add+=("$dir")
    else
        echo "pythons: no python$minor (install it, e.g. pyenv install $minor); tox's py${minor/./} env will fail" >&2
    fi
done
if [ ${#add[@]} -gt 0 ]; then
    printf 'export PATH="$PATH'; printf ':%s' "${add[@]}"; printf '"\n'
fi
