# Shared by the tests that compare a tokenizer with a real implementation from npm
# (gpt2_bpe_test.sh, clip_bpe_test.sh). Source it after setting NAME (the test's name, for
# messages); it defines pass/fail/die, WORK (removed on exit) and install_npm_peer.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
passes=0
pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }
die() { echo "FAIL: $1"; echo "$NAME: FAILED (could not run the comparison)"; exit 1; }

# install_npm_peer PACKAGE VERSION DIR: makes sure PACKAGE@VERSION (pinned, so the peer's code
# and files cannot change under the test) is installed under DIR, a cache kept between runs so
# that reruns do not touch the network; sets PKG to its folder.
install_npm_peer() {
  local package="$1" version="$2" dir="$3" installed
  command -v node > /dev/null || die "node is not installed; the peer tokenizer ($package) needs it"
  command -v npm > /dev/null || die "npm is not installed; it is needed to install $package@$version"
  PKG="$dir/node_modules/$package"
  installed=$(node -p "require('$PKG/package.json').version" 2> /dev/null || true)
  if [ "$installed" != "$version" ]; then
    echo "installing $package@$version into $dir"
    mkdir -p "$dir"
    if ! npm install --prefix "$dir" --no-audit --no-fund --no-save "$package@$version" > "$WORK/npm.log" 2>&1; then
      cat "$WORK/npm.log"
      die "npm install $package@$version failed (see the log above)"
    fi
    installed=$(node -p "require('$PKG/package.json').version" 2> /dev/null || true)
    [ "$installed" = "$version" ] || die "$package@$version not found in $dir after npm install"
  fi
}
