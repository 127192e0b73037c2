#!/usr/bin/env bash
# Browser stage: the HTML report of a package, opened from disk (file://) in headless Chromium.
# Every image of the page must decode, and a screenshot must show the thumbnail with coloured
# overlays over the greyscale image.
# Usage: bash tests/browser/run.sh MIFA PACKAGE   (e.g. target/release/mifa demo-out/dsb2018)
# Installs Debian's chromium when /usr/bin/chromium is missing. The screenshot is kept at
# $REPORT_SCREENSHOT when set, else in $OUT_DIR when set.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 MIFA PACKAGE" >&2
  exit 2
fi
mifa=$1
pkg=$2
here=$(cd "$(dirname "$0")" && pwd)
chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=
  elif command -v sudo >/dev/null; then
    sudo=sudo
  else
    echo "chromium is missing and cannot be installed (not root, no sudo)" >&2
    exit 1
  fi
  echo "== installing chromium (Debian package)"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "chromium: $("$chromium" --version 2>/dev/null | head -1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$mifa" report "$pkg" --out "$tmp/site"
[ -f "$tmp/site/index.html" ] || { echo "FAIL: no $tmp/site/index.html" >&2; exit 1; }
expected=$( (grep -o '<img ' "$tmp/site/index.html" || true) | wc -l)
echo "ok report: $(find "$tmp/site" -type f | wc -l) files, $expected <img> elements"

# Both runs share the window size, so that the thumbnail box measured by the page's script
# (body data-thumb) is where the screenshot shows it. The virtual-time budget lets the load
# event fire before the DOM is dumped and the picture taken.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --hide-scrollbars --force-device-scale-factor=1 --user-data-dir="$tmp/profile"
  --window-size=1280,2000 --virtual-time-budget=5000)
url="file://$tmp/site/index.html"

"$chromium" "${flags[@]}" --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/dom.log" || {
  tail -20 "$tmp/dom.log" >&2
  echo "FAIL: chromium --dump-dom failed" >&2
  exit 1
}
body=$(grep -o '<body[^>]*>' "$tmp/dom.html" | head -1 || true)
loaded=$(sed -n 's/.*data-loaded="\([0-9]*\)".*/\1/p' <<<"$body")
if [ -z "$loaded" ]; then
  echo "FAIL: the page's load handler did not run (body: $body)" >&2
  exit 1
fi
if grep -q 'data-broken=' <<<"$body" || [ "$loaded" -ne "$expected" ]; then
  echo "FAIL: $loaded of $expected images loaded; broken: $(sed -n 's/.*data-broken="\([^"]*\)".*/\1/p' <<<"$body")" >&2
  exit 1
fi
echo "ok chromium: $loaded of $expected images loaded from file://"
thumb=$(sed -n 's/.*data-thumb="\([0-9,-]*\)".*/\1/p' <<<"$body")

"$chromium" "${flags[@]}" --screenshot="$tmp/shot.png" "$url" >"$tmp/shot.log" 2>&1 || {
  tail -20 "$tmp/shot.log" >&2
  echo "FAIL: chromium --screenshot failed" >&2
  exit 1
}
keep=${REPORT_SCREENSHOT:-}
if [ -z "$keep" ] && [ -n "${OUT_DIR:-}" ]; then
  keep="$OUT_DIR/report-screenshot.png"
fi
if [ -n "$keep" ]; then
  mkdir -p "$(dirname "$keep")"
  cp "$tmp/shot.png" "$keep"
  echo "screenshot: $keep"
fi
if [ "$expected" -eq 0 ]; then
  # A package without images (tracks only): the page, but no thumbnail to look at.
  python3 "$here/check_screenshot.py" "$tmp/shot.png"
elif [ -z "$thumb" ]; then
  echo "FAIL: the page did not report where its first thumbnail is (body data-thumb)" >&2
  exit 1
else
  python3 "$here/check_screenshot.py" "$tmp/shot.png" --box "$thumb"
fi
