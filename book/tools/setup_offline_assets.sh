#!/usr/bin/env bash
# Fetch the assets the book serves itself so that it reads with the network off.
#
#   bash book/tools/setup_offline_assets.sh
#
# MathJax 3 comes from the npm registry (the ordinary `npm pack` client) and is
# unpacked into book/_static/vendor/mathjax/, which _config.yml points
# `mathjax_path` at. The folder is generated (see book/.gitignore): never
# commit it. Idempotent: does nothing when the pinned version is in place.
# Needs: npm (Debian: apt-get install npm) and tar.
set -euo pipefail

MATHJAX_VERSION="${MATHJAX_VERSION:-3.2.2}"
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/../_static/vendor/mathjax"
stamp="$dest/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$MATHJAX_VERSION" && -f "$dest/tex-chtml.js" && -f "$dest/tex-svg.js" ]]; then
    echo "MathJax $MATHJAX_VERSION already in $dest"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to fetch MathJax (apt-get install npm)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null)
tar -xzf "$work"/mathjax-"$MATHJAX_VERSION".tgz -C "$work"
es5="$work/package/es5"

rm -rf "$dest"
mkdir -p "$dest"
# The CHTML bundle Sphinx loads, plus what it may load on demand: TeX
# extensions (input/), the CHTML fonts (output/), the menu and accessibility
# components (ui/, a11y/, sre/). The other combined bundles are not needed.
cp "$es5/tex-chtml.js" "$dest/"
# The self-contained SVG bundle (no font files): inlined into the grader's HTML
# feedback pages (autograder/instructor/feedback.py), which must read offline.
cp "$es5/tex-svg.js" "$dest/"
cp -r "$es5/input" "$es5/output" "$es5/ui" "$es5/a11y" "$es5/sre" "$es5/adaptors" "$dest/"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "$MATHJAX_VERSION" > "$stamp"
echo "MathJax $MATHJAX_VERSION installed in $dest ($(du -sh "$dest" | cut -f1))"
