#!/usr/bin/env bash
# Builds podnet as a managed Docker plugin and (re)creates it, disabled, as podnet/podnet:latest.
#
#   plugin/build.sh              build the image, turn it into a plugin, docker plugin create
#   plugin/build.sh base-tarball build only the offline base (Debian bookworm + this machine's Node
#                                20 + the host tools) as a tarball, print its path
#
# Base image: PODNET_BASE_IMAGE if set; else node:20-bookworm-slim if it can be pulled; else an
# offline base made with debootstrap (cached under .cache/plugin, inside this checkout only).
# Then, as root:
#   docker plugin set podnet/podnet:latest PODNET_TUNNEL=vxlan     # settings: while disabled
#   docker plugin enable podnet/podnet:latest
#   docker network create -d podnet/podnet:latest --ipam-driver podnet/podnet:latest podnet
#   docker plugin push podnet/podnet:latest                        # to a registry, if you have one
# The tag stays "latest": Docker keys networks on the full driver name.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${PODNET_PLUGIN_TAG:-podnet/podnet:latest}
PUBLIC_BASE=node:20-bookworm-slim
OFFLINE_BASE=podnet/base:bookworm-node20
CACHE=.cache/plugin
TOOLS=iproute2,iptables,ethtool,openvswitch-common,openvswitch-switch,util-linux,ca-certificates

say() { echo "podnet plugin: $*" >&2; }

debian_mirror() {
  # The machine's own apt source (never written into the project).
  local uri
  uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  [ -n "$uri" ] || { say "no Debian mirror found in /etc/apt sources"; exit 1; }
  echo "$uri"
}

base_tarball() {
  local node_version tarball dir
  node_version=$(node --version)
  tarball="$PWD/$CACHE/base-bookworm-node-$node_version.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { say "debootstrap is needed for the offline base: apt-get install debootstrap"; exit 1; }
    mkdir -p "$CACHE"
    dir=$(mktemp -d)
    say "debootstrap of Debian bookworm with $TOOLS (about a minute)"
    debootstrap --variant=minbase --include="$TOOLS" bookworm "$dir" "$(debian_mirror)" >"$CACHE/debootstrap.log" 2>&1 \
      || { say "debootstrap failed: see $CACHE/debootstrap.log"; rm -rf "$dir"; exit 1; }
    install -m 0755 "$(command -v node)" "$dir/usr/bin/node"
    rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
    tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$dir"
  fi
  echo "$tarball"
}

if [ "${1:-}" = base-tarball ]; then
  base_tarball
  exit 0
fi

base=${PODNET_BASE_IMAGE:-}
if [ -z "$base" ]; then
  if docker image inspect "$PUBLIC_BASE" >/dev/null 2>&1 || timeout 60 docker pull "$PUBLIC_BASE" >/dev/null 2>&1; then
    base=$PUBLIC_BASE
  else
    say "cannot pull $PUBLIC_BASE (no registry reachable?): building an offline base with debootstrap and this machine's Node"
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$(base_tarball)" "$OFFLINE_BASE" >/dev/null
    base=$OFFLINE_BASE
  fi
fi
say "base image $base"

node scripts/prepare.js >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/context/dist" "$stage/plugin/rootfs"
cp -a package.json package-lock.json bin Dockerfile "$stage/context/"
cp -a dist/src "$stage/context/dist/"
cp -a node_modules "$stage/context/"
(cd "$stage/context" && npm prune --omit=dev --no-audit --no-fund >/dev/null 2>&1)

version=$(node -p 'require("./package.json").version')
docker build -q --build-arg BASE="$base" --label org.opencontainers.image.version="$version" -t podnet/rootfs:latest "$stage/context" >/dev/null
cid=$(docker create podnet/rootfs:latest)
docker export "$cid" | tar -x -C "$stage/plugin/rootfs"
docker rm "$cid" >/dev/null
cp config.json "$stage/plugin/config.json"

if docker plugin inspect "$TAG" >/dev/null 2>&1; then
  say "replacing the existing $TAG (networks keep the name)"
  docker plugin rm -f "$TAG" >/dev/null
fi
docker plugin create "$TAG" "$stage/plugin" >/dev/null
say "created $TAG $version (disabled): docker plugin set / enable it"
