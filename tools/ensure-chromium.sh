#!/bin/sh
# npm's pretest step: the browser test (test/report-browser.test.ts) opens Tessera's pages in
# Debian's headless chromium. When it is missing this installs it with apt-get (as root, or
# through password-less sudo); where it cannot, it says how in one line and the test then fails.
CHROMIUM="${TESSERA_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [ "$SUDO" != "none" ]; then
    echo "pretest: installing Debian's chromium for the browser test (apt-get install -y chromium)"
    if $SUDO apt-get install -y chromium >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y chromium >/dev/null 2>&1; }; then exit 0; fi
  fi
fi
echo "pretest: $CHROMIUM is missing and could not be installed here: run apt-get install -y chromium (or set TESSERA_CHROMIUM); test/report-browser.test.ts fails without it" >&2
exit 0
