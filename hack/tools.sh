#!/usr/bin/env bash
# Builds or installs the pinned tools the local cluster needs, once, into a cache outside the repo.
#
# Every Go-built tool lands in $CACHE/tools/<name>-<version>/ and is linked from $CACHE/bin; a
# directory that holds a finished build (marker file .done) is never built again. Debian packages
# are installed with apt-get only when missing. Usage: hack/tools.sh [all|go|debian|print-bin]
set -euo pipefail

K8S_VERSION=v1.36.3          # kube-apiserver, -controller-manager, -scheduler, kubectl; kubelet, kube-proxy
K8S_STAGING_VERSION=v0.36.3  # the published k8s.io/<staging> modules of that release
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.14.3
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.21.4
DEBIAN_PACKAGES=(prometheus dnsperf docker.io bind9-dnsutils debootstrap curl prometheus-blackbox-exporter
  containerd runc containernetworking-plugins busybox-static iptables iproute2 conntrack gcc libc6-dev)

CACHE=${HEADLESS_AUDITOR_CACHE:-$HOME/.cache/headless-auditor}
BIN=$CACHE/bin
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

log() { printf '[tools %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# mod_file MODULE@VERSION -> path of that module's go.mod in the module cache
mod_file() {
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])'
}

# link_tools DIR NAME... -> $BIN/NAME points at DIR/NAME
link_tools() {
  local dir=$1; shift
  mkdir -p "$BIN"
  for name in "$@"; do ln -sfn "$dir/$name" "$BIN/$name"; done
}

# build_wrapped NAME VERSION MODULE REPLACE_LINES PACKAGE... -- LDFLAGS
# Builds PACKAGEs of MODULE@VERSION inside a throw-away wrapper module whose replace directives
# (REPLACE_LINES, "old => new version" lines) point the module's local replaces at published
# versions: plain `go install` refuses a module with replace directives.
build_wrapped() {
  local name=$1 version=$2 module=$3 replaces=$4; shift 4
  local pkgs=() ldflags=""
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then ldflags=$2; break; fi
    pkgs+=("$1"); shift
  done
  local dest=$CACHE/tools/$name-$version
  if [ -f "$dest/.done" ]; then log "$name $version: cached in $dest"; return; fi
  mkdir -p "$CACHE"
  local work; work=$(mktemp -d "$CACHE/build-$name.XXXXXX")
  log "$name $version: building ${#pkgs[@]} binaries in $work (cold builds take long on 2 cores)"
  {
    echo "module headless-auditor.local/build-$name"
    echo "go $(go env GOVERSION | sed 's/^go//')"
    echo "require $module $version"
    [ -n "$replaces" ] && { echo "replace ("; echo "$replaces"; echo ")"; }
  } >"$work/go.mod"
  (
    cd "$work"
    # Resolve the full module graph first; `go build -mod=mod` then records what it needs.
    go mod download "$module"
    mkdir -p out
    local start=$SECONDS
    go build -mod=mod -trimpath -ldflags "-s -w $ldflags" -o out/ "${pkgs[@]}" &
    local pid=$!
    local next=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      sleep 1 & wait $! || true
      if [ $SECONDS -ge $next ] && kill -0 "$pid" 2>/dev/null; then
        log "$name: still building ($((SECONDS - start)) s)"
        next=$((SECONDS + 30))
      fi
    done
    wait "$pid"
    log "$name: built in $((SECONDS - start)) s"
  )
  mkdir -p "$CACHE/tools"
  rm -rf "$dest"
  mv "$work/out" "$dest"
  rm -rf "$work"
  touch "$dest/.done"
}

build_kubernetes() {
  local gomod replaces
  gomod=$(mod_file "k8s.io/kubernetes@$K8S_VERSION")
  # The release's own go.mod lists its staging modules as "k8s.io/x => ./staging/src/k8s.io/x".
  replaces=$(awk -v v="$K8S_STAGING_VERSION" '$2 == "=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " " v}' "$gomod")
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  build_wrapped kubernetes "$K8S_VERSION" k8s.io/kubernetes "$replaces" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl -- "$ld"
  link_tools "$CACHE/tools/kubernetes-$K8S_VERSION" kube-apiserver kube-controller-manager kube-scheduler kubectl
  # The real node's components: a build of their own, so a cache made before the node existed
  # keeps its control plane and only adds these two.
  build_wrapped kubernetes-node "$K8S_VERSION" k8s.io/kubernetes "$replaces" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy -- "$ld"
  link_tools "$CACHE/tools/kubernetes-node-$K8S_VERSION" kubelet kube-proxy
}

build_etcd() {
  local gomod replaces
  gomod=$(mod_file "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  replaces=$(awk -v v="$ETCD_VERSION" '$2 == "=>" && $3 ~ /^\.\./ {print "\t" $1 " => " $1 " " v}' "$gomod")
  build_wrapped etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$replaces" go.etcd.io/etcd/server/v3 -- \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=release"
  # go build names the binary after the module (server); give it its real name.
  local dir=$CACHE/tools/etcd-$ETCD_VERSION
  if [ -f "$dir/server" ]; then mv "$dir/server" "$dir/etcd"; fi
  link_tools "$dir" etcd
}

# go_install NAME VERSION PACKAGE@VERSION BINARY... [-- LDFLAGS]
go_install() {
  local name=$1 version=$2 pkg=$3; shift 3
  local bins=() ldflags=""
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then ldflags=$2; break; fi
    bins+=("$1"); shift
  done
  local dest=$CACHE/tools/$name-$version
  if [ ! -f "$dest/.done" ]; then
    log "$name $version: go install $pkg"
    local start=$SECONDS
    mkdir -p "$dest"
    GOBIN=$dest go install -trimpath -ldflags "-s -w $ldflags" "$pkg"
    touch "$dest/.done"
    log "$name: installed in $((SECONDS - start)) s"
  else
    log "$name $version: cached in $dest"
  fi
  link_tools "$dest" "${bins[@]}"
}

install_go_tools() {
  build_kubernetes
  build_etcd
  # Static, as CoreDNS's own releases are: the same binary runs on the host and, as the image
  # localhost/coredns, in the real node's pods (an image without a libc).
  CGO_ENABLED=0 go_install coredns "$COREDNS_VERSION-static" "github.com/coredns/coredns@$COREDNS_VERSION" coredns
  local kwok_ld="-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
  go_install kwok "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" kwok -- "$kwok_ld"
  go_install kwokctl "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" kwokctl -- "$kwok_ld"
  install_helm
}

# helm, stamped as its own release build is: its version, and the Kubernetes version it assumes
# when no cluster is asked (`helm template`, `helm lint`), taken from the client-go it is built
# with. Unstamped, helm believes in Kubernetes v1.20 and refuses charts needing a newer one.
install_helm() {
  local gomod kube major minor ld
  gomod=$(mod_file "helm.sh/helm/v3@$HELM_VERSION")
  kube=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")   # v0.M.P
  [ -n "$kube" ] || { log "helm: no k8s.io/client-go in $gomod"; exit 1; }
  major=1; minor=$(echo "$kube" | cut -d. -f2)
  ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
  done
  # The directory name carries the stamp: a helm cached before it was stamped is built anew.
  go_install helm "$HELM_VERSION-k8s$major.$minor" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" helm -- "$ld"
}

install_debian() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "debian packages present: ${DEBIAN_PACKAGES[*]}"; return; fi
  log "apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

print_versions() {
  log "versions:"
  "$BIN/kube-apiserver" --version
  "$BIN/kube-controller-manager" --version
  "$BIN/kube-scheduler" --version
  "$BIN/kubectl" version --client 2>/dev/null | sed -n 1p
  "$BIN/kubelet" --version
  "$BIN/kube-proxy" --version
  "$BIN/etcd" --version | sed -n 1p
  "$BIN/coredns" -version | sed -n 1p
  "$BIN/kwok" --version
  "$BIN/kwokctl" --version
  "$BIN/helm" version --short
  prometheus --version 2>&1 | sed -n 1p
  promtool --version 2>&1 | sed -n 1p
  dnsperf -h 2>&1 | grep -i version | sed -n 1p || true
  docker --version
  dig -v 2>&1 | sed -n 1p
}

case "${1:-all}" in
  all) install_debian; install_go_tools; print_versions ;;
  go) install_go_tools ;;
  debian) install_debian ;;
  print-bin) echo "$BIN" ;;
  versions) print_versions ;;
  *) echo "usage: $0 [all|go|debian|print-bin|versions]" >&2; exit 2 ;;
esac
