#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs. Idempotent and non-interactive: when
# everything is already installed it returns at once without touching apt.
#   bash scripts/install_deps.sh            everything: build, tests, deployment checks, podman
#   bash scripts/install_deps.sh --build    only what building needs (the Docker builder stage)
#   bash scripts/install_deps.sh --build --no-torch
#                                           the same without Debian's LibTorch (CUDA images
#                                           bring PyTorch's own)
set -euo pipefail

BUILD=(
  build-essential cmake ninja-build ccache pkg-config
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc libabsl-dev prometheus-cpp-dev libspdlog-dev
)
TORCH=(libtorch-dev libopenblas0-openmp)
# Tests: the learning test's tools, python3-torch for the independent numerical references (Show-o, MAGVIT-v2,
# pickled checkpoints), node (npm ships with it) for the GPT-2 BPE reference encoder, promtool for /metrics, curl, openssl for test certificates,
# and the deployment checks (compose files, Kubernetes manifests, YAML).
TEST=(python3 python3-numpy python3-torch python3-pil nodejs prometheus curl openssl docker-compose python3-kubernetes python3-yaml yamllint
  clang libclang-rt-14-dev)  # scripts/test_sanitized.sh: ASan/UBSan and libFuzzer need clang's runtime
# The container test: rootful podman (no Docker engine here) with the settings in
# scripts/podman_env.sh, and debootstrap for the debian:bookworm base image.
CONTAINERS=(podman podman-compose buildah runc iptables netavark aardvark-dns slirp4netns uidmap fuse-overlayfs
  debootstrap catatonit)

build_only=0
torch=1
for arg in "$@"; do
  case "$arg" in
    --build) build_only=1 ;;
    --no-torch) torch=0 ;;
    *) echo "install_deps: unknown option $arg (expected --build, --no-torch)" >&2; exit 2 ;;
  esac
done
PACKAGES=("${BUILD[@]}")
if [ "$torch" -eq 1 ]; then PACKAGES+=("${TORCH[@]}"); fi
if [ "$build_only" -eq 0 ]; then PACKAGES+=("${TEST[@]}" "${CONTAINERS[@]}"); fi

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
# No recommends: docker-compose would otherwise pull in the Docker engine.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
