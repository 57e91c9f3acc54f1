#!/usr/bin/env bash
# Builds the operator image on the local Docker engine, without any image registry.
#
#   hack/image.sh base    a Debian bookworm base with python3 (debootstrap + docker import),
#                         made once and cached as an image and a tarball
#   hack/image.sh build   wheelhouse from the locked versions, then `docker build` (default)
#   hack/image.sh node    build, then import the image into the local cluster's real node
#                         (`docker save` | containerd; IMAGE defaults to
#                         localhost/headless-auditor:dev there, the name the demo installs)
#   hack/image.sh import  only the import (the image is built)
#
# Environment: IMAGE (headless-auditor:dev), BASE_IMAGE (the local base; set it to
# python:3.11-slim-bookworm on a machine that can pull), HEADLESS_AUDITOR_CACHE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${HEADLESS_AUDITOR_CACHE:-$HOME/.cache/headless-auditor}
IMAGE_SET=${IMAGE:-}
IMAGE=${IMAGE:-headless-auditor:dev}
LOCAL_BASE=headless-auditor-base:bookworm-python3
BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
log() { printf '[image %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

ensure_docker() {
  docker info >/dev/null 2>&1 && return
  command -v dockerd >/dev/null || { log "no Docker engine: apt-get install docker.io"; exit 1; }
  log "starting dockerd (log: $CACHE/dockerd.log)"
  mkdir -p "$CACHE"
  # Builds need no network and the tests run containers on the host network: no bridge and no
  # iptables rules (Docker's would set the FORWARD policy to DROP, cutting the real node's pods
  # off from each other).
  setsid dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false >>"$CACHE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return; sleep 0.5; done
  log "dockerd did not start"; tail -n 20 "$CACHE/dockerd.log" >&2; exit 1
}

# The Debian mirror this machine's apt already uses (no host is named in this repo).
debian_mirror() {
  sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1
}

base() {
  ensure_docker
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then log "base $LOCAL_BASE: present"; return; fi
  local tarball=$CACHE/images/bookworm-python3.tar
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    local rootfs; rootfs=$(mktemp -d)
    log "debootstrap bookworm (minbase, python3) into $rootfs; takes a few minutes"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "$(debian_mirror)" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$tarball")"
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  log "docker import $tarball as $LOCAL_BASE"
  docker import "$tarball" "$LOCAL_BASE" >/dev/null
}

wheels() {
  local out=$ROOT/build/wheels
  rm -rf "$out" && mkdir -p "$out"
  log "wheelhouse: locked runtime dependencies and the project"
  "$ROOT/.venv/bin/pip" download -q --only-binary=:all: --no-deps --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -r "$ROOT/requirements-runtime.lock" -d "$out"
  "$ROOT/.venv/bin/pip" wheel -q --no-deps -w "$out" "$ROOT"
}

build() {
  ensure_docker
  [ "$BASE_IMAGE" != "$LOCAL_BASE" ] || base
  wheels
  log "docker build $IMAGE (base $BASE_IMAGE)"
  docker build -q -f "$ROOT/operator/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" "$ROOT" >/dev/null
  docker image ls "$IMAGE" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
}

# import_node: the image in the real node's containerd, where pods with imagePullPolicy Never
# find it (the cluster must be up).
import_node() {
  local archive; archive=$(mktemp --suffix=.tar)
  docker save -o "$archive" "$IMAGE"
  "$ROOT/hack/node.sh" import "$archive"
  rm -f "$archive"
  log "imported $IMAGE into the real node"
}

case "${1:-build}" in
  base) base ;;
  wheels) wheels ;;
  build) build ;;
  node) IMAGE=${IMAGE_SET:-localhost/headless-auditor:dev}; build; import_node ;;
  import) IMAGE=${IMAGE_SET:-localhost/headless-auditor:dev}; import_node ;;
  *) echo "usage: $0 [base|wheels|build|node|import]" >&2; exit 2 ;;
esac
