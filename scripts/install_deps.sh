#!/usr/bin/env bash
# Installs every Debian 12 package the project needs. Idempotent and non-interactive:
# when everything is already installed it returns at once without touching apt.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc libabsl-dev prometheus-cpp-dev libspdlog-dev
  python3 python3-numpy
  prometheus curl openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
