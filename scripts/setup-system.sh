#!/usr/bin/env bash
# Installs the Debian packages scangate uses, where it can, and says clearly what
# is missing when it cannot. Idempotent: does nothing when all are present.
set -u
# --venv: only what `python3 -m venv` needs on Debian (python3-venv).
if [ "${1:-}" = "--venv" ]; then
  want=(python3-venv)
else
  want=(libzbar0 chromium fonts-wqy-microhei)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scangate setup: apt-get not found; please install: ${missing[*]}" >&2
  echo "  (libzbar0: pyzbar decoder backend; chromium: staff-screen browser test)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "scangate setup: not root and no passwordless sudo; please install: ${missing[*]}" >&2
    exit 0
  fi
fi
echo "scangate setup: installing ${missing[*]} (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "scangate setup: could not install ${missing[*]}; tests that need them will be skipped with a reason" >&2
fi
exit 0
