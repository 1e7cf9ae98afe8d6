#!/usr/bin/env bash
# Debian packages some tests use: pdflatex (the LaTeX report must compile), headless
# Chromium with a font (the HTML report is rendered and looked at), the servers of the
# cluster tests that .ci/services.sh starts (PostgreSQL; SLURM: slurmctld, slurmd,
# munge), iproute2 for the test hosts, libfaketime for a host with a skewed clock and
# the Fashion-MNIST IDX files (the dataset's test reads the real ones).
# Without root or apt-get this only says so; those tests then skip and name what is
# missing.
set -euo pipefail
PACKAGES=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended
          chromium fonts-dejavu-core
          postgresql slurmctld slurmd slurm-client munge iproute2 faketime dataset-fashion-mnist)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "system-deps: not root or no apt-get; install ${PACKAGES[*]} yourself for the LaTeX and HTML checks" >&2
    exit 0
fi
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    # policy-rc.d keeps the packages from starting their services: .ci/services.sh does
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
    apt-get clean  # the downloaded .deb files: disk the tox envs need
fi
