#!/usr/bin/env bash
# The Debian packages the tests need, installed one way for `make test` and .ci/run.
# Usage: scripts/system_packages.sh chromium [postgresql]
# As root with apt-get: installs what is missing. Otherwise: prints the exact command and fails at once,
# rather than letting the browser tests fail minutes later.
set -euo pipefail

missing=()
for package in "$@"; do
  case "$package" in
    chromium) command -v chromium >/dev/null || [ -x "${INDELIBLE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium) ;;
    postgresql) ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql) ;;
    *) echo "system_packages.sh: unknown package $package" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing Debian packages: ${missing[*]} (the browser tests drive Debian's Chromium and never skip)." >&2
  echo "Install them, then run make test again:  sudo sh -c '$command'" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
