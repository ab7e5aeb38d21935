#!/usr/bin/env bash
# Finds a Chromium for the browser test, installing Debian's when none is there and apt can; prints
# its path on stdout (nothing when there is none) and what it did on stderr. Always exits 0: without
# a browser the suite still runs and skips the browser test (CI=true makes that test fail instead).
set -uo pipefail
say() { echo "make test: $*" >&2; }

if [ -n "${IMPASTO_CHROMIUM:-}" ]; then
  [ -x "$IMPASTO_CHROMIUM" ] || say "IMPASTO_CHROMIUM=$IMPASTO_CHROMIUM is not an executable file"
  echo "$IMPASTO_CHROMIUM"
  exit 0
fi
for name in chromium chromium-browser google-chrome; do
  if path=$(command -v "$name"); then echo "$path"; exit 0; fi
done
for path in "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome; do
  if [ -x "$path" ]; then say "using Playwright's Chromium at $path"; echo "$path"; exit 0; fi
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
if command -v apt-get >/dev/null && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
  say "no Chromium found: installing Debian's chromium for the browser test (${sudo:+sudo }apt-get install chromium)"
  if $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2; then
    command -v chromium
    exit 0
  fi
  say "installing chromium failed"
fi
say "no Chromium and no way to install one (apt-get as root or with sudo): the browser test will be skipped;" \
  "install chromium or set IMPASTO_CHROMIUM to its path to run it"
