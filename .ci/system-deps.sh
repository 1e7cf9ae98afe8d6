#!/usr/bin/env bash
# Debian packages some tests use: pdflatex (the LaTeX report must compile) and headless
# Chromium with a font (the HTML report is rendered and looked at). Without root or
# apt-get this only says so; those tests then skip and name what is missing.
set -euo pipefail
PACKAGES=(texlive-latex-base texlive-latex-recommended texlive-fonts-recommended
          chromium fonts-dejavu-core)
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
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
