#!/usr/bin/env bash
# The browser tests drive Debian's Chromium at /usr/bin/chromium (a test tool's own browser download
# does not work offline). Installing it uses apt-get, which needs root.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}  # the path the tests' browser fixture uses
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "scripts/install-browser.sh: the browser tests need Debian's chromium and installing it needs root: run" \
       "'sudo apt-get install chromium' once, or run the other tests with: python -m pytest -q -m 'not browser'" >&2
  exit 1
fi
echo "scripts/install-browser.sh: installing Debian's chromium for the browser tests (apt-get, as root)" >&2
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
