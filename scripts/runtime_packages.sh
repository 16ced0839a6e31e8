#!/usr/bin/env bash
# Prints, one per line, the Debian packages that hold the shared libraries the given
# executables load (ldd + dpkg -S): what a slim runtime image must install. Libraries no
# package owns (e.g. a LibTorch unpacked by hand) are reported on stderr.
#   bash scripts/runtime_packages.sh build/bin/learner build/bin/reward_server ...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: runtime_packages.sh EXECUTABLE..." >&2; exit 2; }
libs=$(ldd "$@" | awk '/=> \// {print $3}' | sort -u)
for lib in $libs; do
  real=$(readlink -f "$lib")
  # dpkg knows a file by the path it installed, which may be the symlink or the target,
  # and under /lib or /usr/lib (merged /usr).
  owner=""
  for candidate in "$lib" "$real" "${lib#/usr}" "${real#/usr}" "/usr$lib" "/usr$real"; do
    owner=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$owner" ] && break
  done
  if [ -n "$owner" ]; then echo "$owner"; else echo "runtime_packages: no package owns $lib" >&2; fi
done | sort -u
