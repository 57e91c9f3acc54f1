#!/usr/bin/env bash
# The local cluster's one real node: Debian's containerd, runc and CNI plugins, and the cached
# kubelet and kube-proxy (v1.36), on a bridge network the project owns. hack/cluster.sh calls it;
# it can also be run by hand with the same environment (STATE, KUBECONFIG).
#
#   hack/node.sh network   the bridge and its containment rules (before the control plane starts)
#   hack/node.sh up        containerd, the images, the API relay, kubelet, kube-proxy; waits Ready
#   hack/node.sh down      stops all of it and removes every trace (safe to run twice, and cleans
#                          what a killed run left: it goes by names, not only by recorded PIDs)
#   hack/node.sh status    exit 0 when the node is Ready
#   hack/node.sh import TAR...   import image archives (`docker save` format) into the node
#   hack/node.sh images    build the node's own images into the tool cache (once)
#
# Contract other code relies on: node name `real-node`, label headless-auditor.io/real-node=true,
# taint headless-auditor.io/real-node=true:NoSchedule, images localhost/toolbox:local (busybox:
# sh, nslookup, httpd, nc, sleep), localhost/pause:local and localhost/coredns:<version>.
#
# Network containment (addresses in hack/cluster/addresses.sh): the bridge carries the pods; the
# mangle table drops anything forwarded between the bridge and any other interface, the CNI plugin
# masquerades nothing, the Service range and kwok's fake pod range are routed onto the bridge (a
# packet kube-proxy did not translate stays on this machine), and the API server may reach no
# kubelet port but the real node's. Only loopback and the pods on the bridge are ever reached.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_PREFIX=node
DEADLINE_SECONDS=${HEADLESS_AUDITOR_CLUSTER_TIMEOUT:-180}
# shellcheck source=hack/lib.sh
source "$ROOT/hack/lib.sh"

STATE=${HEADLESS_AUDITOR_STATE:-$ROOT/.cluster}
CACHE=${HEADLESS_AUDITOR_CACHE:-$HOME/.cache/headless-auditor}
BIN=$("$ROOT/hack/tools.sh" print-bin)
export NODE_DIR=$STATE/node
export KUBECONFIG=${KUBECONFIG:-$STATE/kubeconfig}
export CONTAINERD_ADDRESS=$NODE_DIR/containerd/containerd.sock
# shellcheck source=hack/cluster/addresses.sh
source "$ROOT/hack/cluster/addresses.sh"
export PATH=$BIN:$PATH
MARK="headless-auditor-node"   # comment on each iptables rule of ours
IMAGES=$CACHE/images

# --- images -----------------------------------------------------------------------------------

# image_archive NAME KEY BUILD_FUNCTION REF ENTRYPOINT_JSON: $IMAGES/NAME-KEY.tar, built once.
image_archive() {
  local tar=$IMAGES/$1-$2.tar
  if [ ! -f "$tar" ]; then
    local root; root=$(mktemp -d)
    "$3" "$root"
    mkdir -p "$IMAGES"
    python3 "$ROOT/hack/node/mkimage.py" "$tar" "$4" "$root" "$5" >/dev/null
    rm -rf "$root"
    log "image $4: built $tar"
  fi
  echo "$tar"
}

rootfs_pause() {
  gcc -static -O2 -s -o "$1/pause" "$ROOT/hack/node/pause.c" ||
    die "cannot build the pause program: apt-get install gcc libc6-dev (hack/tools.sh debian)"
}

rootfs_toolbox() {
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/root"
  chmod 1777 "$1/tmp"
  cp /bin/busybox "$1/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$1/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
}

rootfs_coredns() { cp "$BIN/coredns" "$1/coredns"; }

# images: the node's three images, each an archive in the cache keyed by what it is made of.
images() {
  local pause_key busybox_key
  pause_key=$(sha256sum "$ROOT/hack/node/pause.c" "$ROOT/hack/node/mkimage.py" | sha256sum | cut -c1-12)
  busybox_key=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null | tr ':~+' '---') ||
    die "busybox-static is missing: run 'make tools' (hack/tools.sh debian)"
  [ -x /bin/busybox ] || die "/bin/busybox is missing: run 'make tools' (hack/tools.sh debian)"
  image_archive pause "$pause_key" rootfs_pause localhost/pause:local '["/pause"]'
  image_archive toolbox "$busybox_key" rootfs_toolbox localhost/toolbox:local '["/bin/sh"]'
  image_archive coredns "$(coredns_version)-$(sha256sum "$BIN/coredns" | cut -c1-12)" rootfs_coredns \
    "localhost/coredns:$(coredns_version)" '["/coredns"]'
}

import() {
  for tar in "$@"; do
    ctr -n k8s.io images import --no-unpack=false "$tar" >/dev/null || die "ctr images import $tar failed"
  done
}

# --- network ----------------------------------------------------------------------------------

# Host directories the kubelet, containerd and the CNI plugins create outside the state
# directory, whatever their configuration says: removed again if they did not exist before.
HOST_DIRS=(/var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd /run/netns)

# save_host: the sysctls we change and which HOST_DIRS exist, as they were before the node.
save_host() {
  local saved=$NODE_DIR/host.saved
  [ -f "$saved" ] && return
  mkdir -p "$NODE_DIR"
  {
    for key in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables; do
      [ -f "/proc/sys/$key" ] && echo "sysctl $key $(cat "/proc/sys/$key")"
    done
    for dir in "${HOST_DIRS[@]}"; do [ -e "$dir" ] || echo "absent $dir"; done
  } >"$saved.tmp"
  mv "$saved.tmp" "$saved"
}

restore_host() {
  local saved=$NODE_DIR/host.saved
  [ -f "$saved" ] || return 0
  local kind key value
  while read -r kind key value; do
    case $kind in
      sysctl) echo "$value" >"/proc/sys/$key" ;;
      absent) rm -rf "$key" ;;
    esac
  done <"$saved"
  rm -f "$saved"
}

# our_rule TABLE CHAIN ARGS...: the rule, marked as ours, added once.
our_rule() {
  local table=$1 chain=$2; shift 2
  iptables -t "$table" -C "$chain" "$@" -m comment --comment "$MARK" 2>/dev/null ||
    iptables -t "$table" -I "$chain" 1 "$@" -m comment --comment "$MARK"
}

network() {
  require
  cleanup_leftovers
  save_host
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Nothing is forwarded between the bridge and any other interface (mangle runs before filter,
  # where kube-proxy and Docker put their own rules).
  our_rule mangle FORWARD -i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -j DROP
  our_rule mangle FORWARD -o "$NODE_BRIDGE" ! -i "$NODE_BRIDGE" -j DROP
  # Pod to pod (also through a Service IP) is allowed even where Docker set FORWARD to DROP.
  our_rule filter FORWARD -i "$NODE_BRIDGE" -o "$NODE_BRIDGE" -j ACCEPT
  # The API server talks to kubelets (exec, logs, port-forward) on port 10250; kwok's fake nodes
  # have InternalIPs of this machine's own network. Only the real node's kubelet is reachable.
  our_rule filter OUTPUT -p tcp --dport 10250 ! -d "$NODE_IP" -j REJECT
  # A Service IP kube-proxy does not translate, or a fake kwok pod IP, goes onto the bridge
  # (where nothing answers), never to the default route.
  ip route add "$SERVICE_CIDR" dev "$NODE_BRIDGE"
  ip route add "$KWOK_POD_CIDR" dev "$NODE_BRIDGE"
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  echo 1 >/proc/sys/net/ipv4/ip_forward   # routed pod -> Service IP -> pod, on the bridge
  log "network: bridge $NODE_BRIDGE $NODE_IP/${NODE_POD_CIDR#*/}; $SERVICE_CIDR and $KWOK_POD_CIDR routed onto it"
}

delete_our_rules() {
  local table rule
  for table in mangle filter; do
    # awk reads all of iptables' output (no SIGPIPE under pipefail) and prints the first match.
    while rule=$(iptables -t "$table" -S | awk -v m="--comment $MARK" 'index($0, m) && !n++') &&
      [ -n "$rule" ]; do
      eval "iptables -t $table ${rule/-A /-D }"
    done
  done
}

# --- daemons ----------------------------------------------------------------------------------

start_containerd() {
  mkdir -p "$NODE_DIR/logs" "$NODE_DIR/containerd" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
  [ ${#CONTAINERD_ADDRESS} -lt 100 ] ||
    die "the state path is too long for a unix socket ($CONTAINERD_ADDRESS): set HEADLESS_AUDITOR_STATE to a shorter directory"
  render "$ROOT/hack/node/containerd.toml" >"$NODE_DIR/containerd/config.toml"
  render "$ROOT/hack/node/cni.conflist" >"$NODE_DIR/cni/net.d/10-headless-auditor-node.conflist"
  spawn "$NODE_DIR/containerd.pid" "$NODE_DIR/logs/containerd.log" \
    containerd --config "$NODE_DIR/containerd/config.toml"
  wait_for "containerd" ctr version
  local archives; mapfile -t archives < <(images)
  import "${archives[@]}"
  log "containerd: up, images imported (pause, toolbox, coredns)"
}

api_port() { kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed 's/.*://'; }

start_kubelet() {
  mkdir -p "$NODE_DIR/kubelet/manifests" "$NODE_DIR/kubelet/pod-logs" "$NODE_DIR/kubelet/root"
  : >"$NODE_DIR/kubelet/resolv.conf"   # no upstream resolver: nothing is asked off the machine
  render "$ROOT/hack/node/kubelet.yaml" >"$NODE_DIR/kubelet/config.yaml"
  render "$ROOT/hack/node/kube-proxy.yaml" >"$NODE_DIR/kube-proxy.yaml"
  spawn "$NODE_DIR/apiforward.pid" "$NODE_DIR/logs/apiforward.log" \
    python3 "$ROOT/hack/node/apiforward.py" "$NODE_IP" "$(api_port)"
  spawn "$NODE_DIR/kubelet.pid" "$NODE_DIR/logs/kubelet.log" \
    kubelet --config="$NODE_DIR/kubelet/config.yaml" --kubeconfig="$KUBECONFIG" \
    --root-dir="$NODE_DIR/kubelet/root" --cert-dir="$NODE_DIR/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels=headless-auditor.io/real-node=true
  spawn "$NODE_DIR/kube-proxy.pid" "$NODE_DIR/logs/kube-proxy.log" \
    kube-proxy --config="$NODE_DIR/kube-proxy.yaml"
  wait_for "node $NODE_NAME to register" kubectl get node "$NODE_NAME"
  wait_for "node $NODE_NAME to be Ready" kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
  log "kubelet, kube-proxy: node $NODE_NAME Ready"
}

require() {
  for t in kubelet kube-proxy; do
    [ -x "$BIN/$t" ] || die "$BIN/$t is missing: run 'make tools' (hack/tools.sh) first"
  done
  for t in containerd ctr runc iptables ip gcc; do
    command -v "$t" >/dev/null || die "$t is missing: run 'make tools' (hack/tools.sh debian)"
  done
  [ -x /usr/lib/cni/bridge ] || die "the CNI plugins are missing: run 'make tools' (hack/tools.sh debian)"
  [ "$(id -u)" -eq 0 ] || die "the real node needs root (bridges, iptables, containers)"
}

up() {
  require
  [ -d "/sys/class/net/$NODE_BRIDGE" ] || network
  start_containerd
  start_kubelet
}

status() { kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s >/dev/null 2>&1; }

# --- teardown ---------------------------------------------------------------------------------

api_up() { [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; }
tasks() { ctr -n k8s.io tasks ls -q 2>/dev/null; }

# Let the kubelet stop its pods (so CNI tears their networks down), then stop the daemons.
stop_node() {
  local pidfile=$NODE_DIR/kubelet.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && api_up; then
    kubectl cordon "$NODE_NAME" >/dev/null 2>&1 || true
    kubectl delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --force --grace-period=0 \
      --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 30))
    while [ -n "$(tasks)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  fi
  stop_pidfile "$NODE_DIR/kubelet.pid"
  if [ -f "$NODE_DIR/kube-proxy.pid" ]; then
    stop_pidfile "$NODE_DIR/kube-proxy.pid"
    kube-proxy --cleanup >/dev/null 2>&1 || true
  fi
  stop_pidfile "$NODE_DIR/apiforward.pid" 5
  if [ -f "$NODE_DIR/containerd.pid" ] && ctr version >/dev/null 2>&1; then
    local task container
    for task in $(tasks); do ctr -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
    for task in $(tasks); do ctr -n k8s.io tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for container in $(ctr -n k8s.io containers ls -q 2>/dev/null); do
      ctr -n k8s.io containers delete "$container" >/dev/null 2>&1 || true
    done
  fi
  stop_pidfile "$NODE_DIR/containerd.pid"
}

# Processes a killed run may have left: the shims of our containerd and everything in the pod
# cgroups (only this node's kubelet makes them), and daemons still running from our state dir.
kill_leftover_processes() {
  local pids
  pids=$( {
    pgrep -f -- "$NODE_DIR/" || true
    find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null || true
  } | sort -u)
  for pid in $pids; do
    [ "$pid" != "$$" ] && kill -9 "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 10))
  for pid in $pids; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  done
}

remove_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/kubepods; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# The kubelet's own chains (it makes them on every node; nothing else on this machine does).
delete_kubelet_chains() {
  local ipt table chain
  for ipt in iptables ip6tables; do
    for chain in INPUT OUTPUT; do
      while $ipt -D "$chain" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    for table in filter nat mangle; do
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        $ipt -t "$table" -F "$chain" 2>/dev/null && $ipt -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# listening_sockets: the paths of every unix socket someone listens on.
listening_sockets() { ss -xlnH | awk '{print $5}'; }

# What the runtime keeps outside the state directory when its pods were not stopped cleanly: runc
# state, shim sockets nobody listens on any more, the CNI plugins' cached results of our network
# (and the loopback results of the same containers), the kubelet's log links to our pods.
remove_runtime_leftovers() {
  rm -rf /run/containerd/runc/k8s.io
  local listening sock result id
  listening=$(listening_sockets)
  for sock in /run/containerd/s/* /var/lib/kubelet/device-plugins/kubelet.sock; do
    [ -S "$sock" ] && ! grep -qxF "$sock" <<<"$listening" && rm -f "$sock"
  done
  for result in /var/lib/cni/results/headless-auditor-node-*; do
    [ -e "$result" ] || continue
    id=${result#/var/lib/cni/results/headless-auditor-node-}
    rm -f "$result" "/var/lib/cni/results/cni-loopback-${id%-eth0}-lo"
  done
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_DIR/*" -delete 2>/dev/null || true
  rmdir /run/containerd/runc /run/containerd/s /run/containerd 2>/dev/null || true
}

cleanup_leftovers() {
  kill_leftover_processes
  # Mounts: everything under the state dir (deepest first), and the pods' network namespaces.
  findmnt -rn -o TARGET | grep -E "^($NODE_DIR/|/run/netns/cni-|/var/run/netns/cni-)" | sort -r |
    xargs -r -n1 umount -l 2>/dev/null || true
  local ns link
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null || true; done
  remove_cgroups
  if [ -d "/sys/class/net/$NODE_BRIDGE" ]; then
    for link in $(ip -o link show master "$NODE_BRIDGE" | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link delete "$link" 2>/dev/null || true
    done
    ip link delete "$NODE_BRIDGE"
  fi
  ip route del "$SERVICE_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
  ip route del "$KWOK_POD_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
  delete_our_rules
  kube-proxy --cleanup >/dev/null 2>&1 || true
  delete_kubelet_chains
  remove_runtime_leftovers
  restore_host
}

down() {
  stop_node
  cleanup_leftovers
  rm -rf "$NODE_DIR"
}

case "${1:-}" in
  network) network ;;
  up) up ;;
  down) down ;;
  status) status ;;
  images) images ;;
  import) shift; import "$@" ;;
  *) echo "usage: $0 network|up|down|status|images|import TAR..." >&2; exit 2 ;;
esac
