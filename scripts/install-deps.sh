#!/usr/bin/env bash
# Installs the Debian packages Reef needs to build, test and run. Idempotent: when every package is
# already present it prints nothing and touches nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  libasio-dev libsodium-dev libprotobuf-dev protobuf-compiler
  libsqlite3-dev libzstd-dev libxxhash-dev liblua5.4-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libhttp-parser-dev libtomlplusplus-dev
  iproute2 nftables procps python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or install them with sudo apt-get install)" >&2
  exit 1
fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends matters: libasio-dev recommends all of Boost.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
