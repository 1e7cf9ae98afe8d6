#!/usr/bin/env bash
# Runs tox's default envlist one env at a time and deletes each env's directory once it
# has run, so that only one env is on disk at a time: each holds its own torch (about
# 5.5 GB with the CUDA build's nvidia-* libraries, GPU or not), and the five together need
# more disk than some CI machines have. Pip's cache is off for the same reason (a Python
# other than 3.11 downloads torch, and the cache would keep a second copy).
#
# Every env runs even when an earlier one failed; the exit status is 1 if any failed.
# Arguments go to every env's command, as with `tox -- ARGS`. KEEP_TOX_ENVS=1 keeps the
# env directories (then plain `python3 -m tox` does the same job).
set -uo pipefail
cd "$(dirname "$0")/.."
export PIP_NO_CACHE_DIR=1

disk_free() { df -h --output=avail . | tail -1 | tr -d ' '; }

mapfile -t envs < <(python3 -m tox list -d --no-desc)
if [ ${#envs[@]} -eq 0 ]; then
    echo "matrix: tox listed no default envs" >&2
    exit 1
fi
summary=()
failed=0
for env in "${envs[@]}"; do
    echo "matrix: $env starts ($(disk_free) free)"
    start=$SECONDS
    if python3 -m tox run -e "$env" -- "$@"; then
        result=OK
    else
        result=FAILED
        failed=1
    fi
    summary+=("$env: $result ($((SECONDS - start)) s, $(disk_free) free at its end)")
    if [ "${KEEP_TOX_ENVS:-0}" != 1 ]; then
        rm -rf ".tox/$env"
    fi
done
echo "matrix summary:"
printf '  %s\n' "${summary[@]}"
exit $failed
