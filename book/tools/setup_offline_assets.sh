#!/usr/bin/env bash
# Fetch what the book and its tests serve themselves, so that nothing is
# fetched from another host when the book is read or checked.
#
#   bash book/tools/setup_offline_assets.sh
#
# Both come from the npm registry (the ordinary `npm pack` client):
#
# * MathJax 3, unpacked into book/_static/vendor/mathjax/, which _config.yml
#   points `mathjax_path` at: the site typesets its math with it;
# * axe-core, into book/tools/vendor/axe-core/: the browser test injects it
#   into every page to check accessibility (tests/support/book_browser.py). It is
#   never part of the site.
#
# Both folders are generated (see book/.gitignore): never commit them.
# Idempotent: does nothing for a package whose pinned version is in place.
# Needs: npm (Debian: apt-get install npm) and tar.
set -euo pipefail

MATHJAX_VERSION="${MATHJAX_VERSION:-3.2.2}"
AXE_VERSION="${AXE_VERSION:-4.10.3}"
here="$(cd "$(dirname "$0")" && pwd)"

# fetch NAME VERSION DEST MARKER: unpack the npm package NAME@VERSION into a
# temporary folder and run install_NAME on it, unless DEST/MARKER and the
# version stamp are already there.
fetch() {
    local name="$1" version="$2" dest="$3" marker="$4"
    local stamp="$dest/.version"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" && -f "$dest/$marker" ]]; then
        echo "$name $version already in $dest"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "error: npm is needed to fetch $name (apt-get install npm)" >&2
        exit 1
    fi
    local work
    work="$(mktemp -d)"
    (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
    tar -xzf "$work/$name-$version.tgz" -C "$work"
    rm -rf "$dest"
    mkdir -p "$dest"
    "install_${name//-/_}" "$work/package" "$dest"
    cp "$work/package/LICENSE"* "$dest/" 2>/dev/null || true
    echo "$version" > "$stamp"
    rm -rf "$work"
    echo "$name $version installed in $dest ($(du -sh "$dest" | cut -f1))"
}

# The CHTML bundle Sphinx loads, plus what it may load on demand: TeX
# extensions (input/), the CHTML fonts (output/), the menu and accessibility
# components (ui/, a11y/, sre/). The other combined bundles are not needed.
install_mathjax() {
    local es5="$1/es5" dest="$2"
    cp "$es5/tex-chtml.js" "$dest/"
    # The self-contained SVG bundle (no font files): inlined into the grader's HTML
    # feedback pages (autograder/instructor/feedback.py), which must read offline.
    cp "$es5/tex-svg.js" "$dest/"
    cp -r "$es5/input" "$es5/output" "$es5/ui" "$es5/a11y" "$es5/sre" "$es5/adaptors" "$dest/"
}

install_axe_core() {
    cp "$1/axe.min.js" "$2/"
}

fetch mathjax "$MATHJAX_VERSION" "$here/../_static/vendor/mathjax" tex-svg.js
fetch axe-core "$AXE_VERSION" "$here/vendor/axe-core" axe.min.js
