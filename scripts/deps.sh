#!/usr/bin/env bash
# Installs what the stack and its tests need from the system's packages:
# PostgreSQL's server binaries and Chromium (browser tests). On Debian or
# Ubuntu as root it uses apt-get; elsewhere it says what to install.
set -euo pipefail

need=()
have_pg() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1
}
have_pg || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)

[ ${#need[@]} -eq 0 ] && exit 0

if [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi

echo "deps: missing ${need[*]}. Install them with your package manager," >&2
echo "      e.g. on macOS: brew install postgresql@16 && brew install --cask chromium" >&2
exit 1
