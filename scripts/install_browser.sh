#!/usr/bin/env bash
# Install headless Chromium for the browser tests: Debian packages chromium + chromium-driver
# (plus a CJK font so screenshots of the Chinese UI show characters, not boxes).
# Idempotent: skips the install when /usr/bin/chromium already exists. Needs root (CI runs it as root).
# Playwright drives this binary via executable_path; it never downloads a browser of its own.
set -euo pipefail
have_cjk_font() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null | head -n 1)" ]
}
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  if have_cjk_font; then
    exit 0
  fi
  PACKAGES="fonts-noto-cjk"
else
  PACKAGES="chromium chromium-driver fonts-noto-cjk"
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PACKAGES
/usr/bin/chromium --version
