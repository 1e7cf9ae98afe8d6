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
failures=()
failed=0
# Each env's output is kept, so that the end of the run can say what failed in an env
# whose output has scrolled far out of view (a CI log often shows only its tail).
logs=.tox/matrix-logs
mkdir -p "$logs"
for env in "${envs[@]}"; do
    echo "matrix: $env starts ($(disk_free) free)"
    start=$SECONDS
    if python3 -m tox run -e "$env" -- "$@" 2>&1 | tee "$logs/$env.log"; then
        result=OK
    else
        result=FAILED
        failed=1
        failures+=("$env")
    fi
    summary+=("$env: $result ($((SECONDS - start)) s, $(disk_free) free at its end)")
    if [ "${KEEP_TOX_ENVS:-0}" != 1 ]; then
        rm -rf ".tox/$env"
    fi
done
for env in "${failures[@]}"; do
    echo "matrix: what failed in $env (all of its output: $logs/$env.log)"
    # pytest's summary of failed and erroring tests; else (tox or pip failed) the last lines
    if grep -q "short test summary info" "$logs/$env.log"; then
        sed -n '/short test summary info/,$p' "$logs/$env.log" | head -n 60
    else
        tail -n 40 "$logs/$env.log"
    fi
done
echo "matrix summary:"
printf '  %s\n' "${summary[@]}"
exit $failed
