#!/usr/bin/env bash
# Prepares rootful podman for machines without a Docker engine or a reachable image registry,
# and exports the settings every later podman / podman-compose call needs. Source it:
#   source scripts/podman_env.sh        (then: podman build ..., podman-compose ...)
# What it does, once per state folder (later calls take well under a second):
#   - keeps all podman state (images, containers, networks) in $MASKGRPO_PODMAN_DIR
#     (default /var/tmp/maskgrpo-podman), never in the host's /var/lib/containers;
#   - writes storage.conf / containers.conf with the settings this kind of host needs
#     (runc and cgroupfs: the host mixes cgroup v1 and v2, which crun refuses; open-file
#     limits no higher than root may set here);
#   - builds a minimal Debian 12 root with debootstrap from the archive apt already uses and
#     imports it as debian:bookworm and debian:bookworm-slim, so the Dockerfiles' FROM lines
#     resolve without a registry.
# Packages: scripts/install_deps.sh (the full install). See docs/deployment.md ("podman").


podman_env_main() {
  local dir="${MASKGRPO_PODMAN_DIR:-/var/tmp/maskgrpo-podman}"
  local tool
  for tool in podman podman-compose debootstrap runc iptables; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "podman_env: $tool is not installed (run: bash scripts/install_deps.sh)" >&2
      return 1
    }
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman_env: run as root (this recipe uses rootful podman)" >&2
    return 1
  fi
  mkdir -p "$dir"/{storage,run,tmp,netcfg}
  local nofile nproc
  nofile="$(ulimit -Hn)"
  if [ "$nofile" = "unlimited" ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
  nproc="$(ulimit -Hu)"
  if [ "$nproc" = "unlimited" ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  # Written to a temporary file and moved, so that a podman reading them meanwhile never
  # sees half a file.
  cat > "$dir/storage.conf.tmp" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOF
  cat > "$dir/containers.conf.tmp" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$dir/tmp"
image_copy_tmp_dir = "$dir/tmp"
[network]
network_config_dir = "$dir/netcfg"
EOF
  local f
  for f in storage.conf containers.conf; do
    if cmp -s "$dir/$f.tmp" "$dir/$f"; then rm -f "$dir/$f.tmp"; else mv "$dir/$f.tmp" "$dir/$f"; fi
  done
  export CONTAINERS_STORAGE_CONF="$dir/storage.conf" CONTAINERS_CONF="$dir/containers.conf"
  export MASKGRPO_PODMAN_DIR="$dir"
  if ! podman image exists docker.io/library/debian:bookworm; then
    local mirror
    # The first Debian archive apt uses (deb822 or one-line format, options in [] skipped).
    mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
      awk '/^URIs:/ && /debian/ && !/security/ {print $2; exit}
           /^deb / && /debian/ && !/security/ {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; exit}}')"
    [ -n "$mirror" ] || { echo "podman_env: no Debian archive found in apt's sources" >&2; return 1; }
    echo "podman_env: making the debian:bookworm base image with debootstrap from $mirror"
    rm -rf "$dir/rootfs"
    debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror" > "$dir/debootstrap.log" 2>&1 || {
      tail -20 "$dir/debootstrap.log" >&2
      return 1
    }
    # Images use the same archives and the same apt settings (a proxy, a frozen snapshot's
    # Check-Valid-Until) as the host: no other mirror may be reachable from here.
    rm -f "$dir/rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$dir/rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$dir/rootfs/etc/apt/sources.list"
    apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
      > "$dir/rootfs/etc/apt/apt.conf.d/90host-archive" || true
    tar -C "$dir/rootfs" -c . | podman import -q --change 'CMD ["bash"]' - docker.io/library/debian:bookworm >/dev/null || {
      echo "podman_env: podman import of the debootstrap root failed" >&2
      return 1
    }
    rm -rf "$dir/rootfs"
  fi
  podman image exists docker.io/library/debian:bookworm-slim ||
    podman tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
}

podman_env_main "$@" || { unset CONTAINERS_STORAGE_CONF CONTAINERS_CONF; unset -f podman_env_main; false; }
unset -f podman_env_main 2>/dev/null || true
