#!/usr/bin/env bash
# Render the reports of specs from a real store into docs/: run each spec (stored runs
# are skipped), render every report format, export the per-run CSV tables, compile the
# LaTeX and screenshot the HTML, into $OUT/<spec name>/.
#
#   docs/render.sh                          # docs/examples: the quickstart and the digits demo
#   RUN=no RESULTS=docs/examples/store docs/render.sh   # docs/examples again, from its store
#   RESULTS=/tmp/store docs/render.sh
#   SPECS=cifar10_cpu OUT=docs/results docs/render.sh   # the CIFAR-10 grid (about 2 h to run)
#   RUN=no RESULTS=docs/results/store SPECS=cifar10_cpu OUT=docs/results docs/render.sh
#                                           # render only: no `suite run`, the store untouched
#
# Needs pdflatex (texlive-latex-base, texlive-latex-recommended,
# texlive-fonts-recommended) and chromium for the last two steps.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-results}
SUITE=${SUITE:-suite}
PYTHON=${PYTHON:-python3}
SPECS=${SPECS:-"quickstart paper_digits_demo"}
OUT=${OUT:-docs/examples}
RUN=${RUN:-yes}

for name in $SPECS; do
    spec=specs/$name.toml
    out=$OUT/$name
    rm -rf "$out" && mkdir -p "$out"
    if [ "$RUN" != no ]; then
        $SUITE run "$spec" --results "$RESULTS"
    fi
    $SUITE report "$spec" --results "$RESULTS" --format markdown --out "$out/report.md"
    $SUITE report "$spec" --results "$RESULTS" --format csv --out "$out/report.csv"
    for table in runs curves flips layers; do
        $SUITE export "$spec" --results "$RESULTS" --table "$table" --out "$out/csv/$table.csv"
    done
    $SUITE report "$spec" --results "$RESULTS" --format html --out "$out/report.html"
    $SUITE report "$spec" --results "$RESULTS" --format latex --out "$out/tables.tex" \
        --figures "$out/figures"
    $SUITE report "$spec" --results "$RESULTS" --format latex --standalone \
        --out "$out/report.tex" --figures "$out/figures"
    # the compiled document, reproducibly dated
    (cd "$out" && SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1 \
        pdflatex -interaction=nonstopmode -halt-on-error report.tex >/dev/null \
        && rm -f report.aux report.log)
    # what a browser shows: headless Chromium, cropped to the page's content
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --force-device-scale-factor=1 \
        --window-size=1400,6000 --screenshot="$out/report-html.png" \
        "file://$(realpath "$out")/report.html" 2>/dev/null
    rm -rf "$profile"
    $PYTHON - "$out/report-html.png" <<'PY'
import sys
from PIL import Image, ImageChops
path = sys.argv[1]
image = Image.open(path).convert("RGB")
box = ImageChops.difference(image, Image.new("RGB", image.size, "white")).getbbox()
image.crop((0, 0, image.width, min(image.height, box[3] + 40))).save(path, optimize=True)
PY
    echo "wrote $out"
done
