#!/usr/bin/env bash
# Make sure headless Chromium (Debian's package) is there for the browser tests
# (tests/support/browser.py drives it with Playwright; Playwright's own browser download needs
# the internet and is never used). With --install (CI), installs it with apt-get when missing.
# Exits non-zero if it is still missing: the browser tests would fail in CI (CI=true) and skip
# loudly elsewhere.
set -u

CHROMIUM="${LARDER_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ] && [ "${1:-}" = "--install" ]; then
  echo "browser: installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "browser: Chromium is not installed at $CHROMIUM (bash infra/browser.sh --install)"
  exit 1
fi
echo "browser: $("$CHROMIUM" --version 2>/dev/null)"
