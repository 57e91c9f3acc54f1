#!/usr/bin/env bash
# The local cluster tests and the demo run against:
# - the real control plane (kwokctl, binary runtime, every component on 127.0.0.1);
# - one real node (hack/node.sh: containerd, kubelet, kube-proxy on a bridge the project owns),
#   running CoreDNS as kubeadm does: a Deployment of two pods behind the kube-dns Service;
# - kwok playing two more nodes, for fake pods at scale;
# - two CoreDNS processes on loopback addresses, for the kwok tier and the benchmark (they are
#   asked directly, never through kube-dns);
# - the operator's CRD.
#
#   hack/cluster.sh up      start what is not running (a running cluster is left as it is)
#   hack/cluster.sh down    stop everything and remove the state; nothing is left behind
#   hack/cluster.sh status  exit 0 when the API server, the node, kube-dns and both loopback
#                           CoreDNS processes answer
#
# State lives in $HEADLESS_AUDITOR_STATE (default: .cluster/ in the repo); `up` writes
# $STATE/env, a shell file with KUBECONFIG, HEADLESS_AUDITOR_CLUSTER_DOMAIN and
# HEADLESS_AUDITOR_LOOPBACK_DNS_SERVERS (the loopback CoreDNS processes, which the kwok tier asks;
# the operator itself discovers kube-dns). Tunables (environment): HEADLESS_AUDITOR_REAL_NODE
# (1; 0 leaves the real node out, as the benchmark does: only one real node runs per machine),
# HEADLESS_AUDITOR_COREDNS_TTL (30, as kubeadm), HEADLESS_AUDITOR_COREDNS_CACHE (30, as
# kubeadm), HEADLESS_AUDITOR_COREDNS_PORT (1053), HEADLESS_AUDITOR_COREDNS_ADDRESSES
# ("127.0.10.1 127.0.10.2"; another pair and another HEADLESS_AUDITOR_STATE let a second
# cluster, e.g. the benchmark's, run beside the first), HEADLESS_AUDITOR_KUBE_AUDIT_POLICY
# (unset: no API audit log; a policy file path: the API server writes its audit log to
# $STATE/kwok/clusters/headless-auditor/logs/audit.log — opt-in, used by the benchmark
# (python -m hack.bench) to count the operator's requests; read only when the cluster is created).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_PREFIX=cluster
DEADLINE_SECONDS=${HEADLESS_AUDITOR_CLUSTER_TIMEOUT:-180}
# shellcheck source=hack/lib.sh
source "$ROOT/hack/lib.sh"
# shellcheck source=hack/cluster/addresses.sh
source "$ROOT/hack/cluster/addresses.sh"
STATE=${HEADLESS_AUDITOR_STATE:-$ROOT/.cluster}
export HEADLESS_AUDITOR_STATE=$STATE
BIN=$("$ROOT/hack/tools.sh" print-bin)
NAME=headless-auditor
REAL_NODE=${HEADLESS_AUDITOR_REAL_NODE:-1}
export KWOK_WORKDIR=$STATE/kwok
export KUBECONFIG=$STATE/kubeconfig
export PATH=$BIN:$PATH
read -r -a COREDNS_ADDRESSES <<<"${HEADLESS_AUDITOR_COREDNS_ADDRESSES:-127.0.10.1 127.0.10.2}"
export COREDNS_PORT=${HEADLESS_AUDITOR_COREDNS_PORT:-1053}
export COREDNS_TTL=${HEADLESS_AUDITOR_COREDNS_TTL:-30}
export COREDNS_CACHE=${HEADLESS_AUDITOR_COREDNS_CACHE:-30}
# The loopback processes' health and ready ports, on their own addresses. Not 8080: the
# operator's default metrics address is 0.0.0.0:8080, which would collide with 127.0.10.x:8080.
COREDNS_HEALTH_PORT=8091
COREDNS_READY_PORT=8181
CRDS=$ROOT/charts/headless-auditor/crds

require_tools() {
  for t in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler kubectl etcd coredns; do
    [ -x "$BIN/$t" ] || die "$BIN/$t is missing: run 'make tools' (hack/tools.sh) first"
  done
}

api_ready() { kubectl get --raw /readyz; }
cluster_exists() { [ -f "$KUBECONFIG" ] && kwokctl get clusters 2>/dev/null | grep -qx "$NAME"; }

coredns_pid() { cat "$STATE/coredns-$1.pid" 2>/dev/null || true; }
coredns_alive() { local pid; pid=$(coredns_pid "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
coredns_ready() { python3 - "$1" "$COREDNS_READY_PORT" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
opener.open(f"http://{sys.argv[1]}:{sys.argv[2]}/ready", timeout=1).read()
PY
}

start_control_plane() {
  if cluster_exists; then
    log "control plane: exists, starting it if stopped"
    kwokctl start cluster --name "$NAME" >/dev/null 2>&1 || true
  else
    log "control plane: creating (kwokctl, binary runtime, 127.0.0.1)"
    mkdir -p "$STATE"
    BIN=$BIN render "$ROOT/hack/cluster/kwokctl.yaml" >"$STATE/kwokctl.yaml"
    local audit=()
    if [ -n "${HEADLESS_AUDITOR_KUBE_AUDIT_POLICY:-}" ]; then
      [ -f "$HEADLESS_AUDITOR_KUBE_AUDIT_POLICY" ] ||
        die "HEADLESS_AUDITOR_KUBE_AUDIT_POLICY=$HEADLESS_AUDITOR_KUBE_AUDIT_POLICY: no such file"
      log "control plane: API audit log on (policy $HEADLESS_AUDITOR_KUBE_AUDIT_POLICY)"
      audit=(--kube-audit-policy "$HEADLESS_AUDITOR_KUBE_AUDIT_POLICY")
    fi
    kwokctl create cluster --name "$NAME" --config "$STATE/kwokctl.yaml" "${audit[@]}" \
      --kubeconfig "$KUBECONFIG" --wait 2m >"$STATE/kwokctl-create.log" 2>&1 ||
      { cat "$STATE/kwokctl-create.log" >&2; die "kwokctl create cluster failed"; }
  fi
  wait_for "the API server" api_ready
  if [ "$(kubectl get nodes -l "!headless-auditor.io/real-node" -o name | wc -l)" -lt 2 ]; then
    log "nodes: creating 2 kwok nodes"
    kwokctl scale node --name "$NAME" --replicas 2 >/dev/null
  fi
  wait_for "the default ServiceAccount" kubectl -n default get serviceaccount default
}

start_coredns() {
  local i=$1 address=${COREDNS_ADDRESSES[$((i - 1))]}
  if coredns_alive "$i"; then return; fi
  log "coredns-$i: starting on $address:$COREDNS_PORT"
  COREDNS_ADDRESS=$address COREDNS_KUBECONFIG=$KUBECONFIG COREDNS_HEALTH_PORT=$COREDNS_HEALTH_PORT \
    COREDNS_READY_PORT=$COREDNS_READY_PORT COREDNS_METRICS_PORT=9153 \
    spawn "$STATE/coredns-$i.pid" "$STATE/coredns-$i.log" coredns -conf "$STATE/Corefile"
}

# Cluster DNS as kubeadm deploys it, on the real node: the Corefile's ConfigMap, the RBAC, the
# CoreDNS Deployment and the kube-dns Service (its EndpointSlice comes from the controller).
start_kube_dns() {
  local corefile=$STATE/Corefile.pods
  render "$ROOT/hack/node/Corefile" >"$corefile"
  kubectl -n kube-system create configmap coredns --from-file=Corefile="$corefile" \
    --dry-run=client -o yaml | kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
  COREDNS_IMAGE="localhost/coredns:$(coredns_version)" \
    render "$ROOT/hack/node/kube-dns.yaml" |
    kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
  wait_for "kube-dns: 2 CoreDNS pods ready" kube_dns_ready
  log "kube-dns: $KUBE_DNS_IP -> $(kubectl -n kube-system get endpointslices \
    -l kubernetes.io/service-name=kube-dns -o jsonpath='{.items[*].endpoints[*].addresses[0]}')"
}

# kube_dns_ready: two ready endpoints, and they and the Service IP answer (a Deployment's status
# may be stale after a killed run; an answer is not).
kube_dns_ready() {
  local ips ip
  ips=$(kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns -o \
    jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{" "}{end}')
  [ "$(wc -w <<<"$ips")" = 2 ] || return 1
  for ip in $KUBE_DNS_IP $ips; do
    dig +short +time=1 +tries=1 @"$ip" "kubernetes.default.svc.$CLUSTER_DOMAIN" |
      grep -xF "$KUBERNETES_SERVICE_IP" >/dev/null || return 1
  done
}

# Without the real node (the benchmark's cluster): what the operator's discovery reads, with
# unroutable stand-ins for the loopback processes (the API server refuses loopback addresses in
# EndpointSlices); HEADLESS_AUDITOR_LOOPBACK_DNS_SERVERS is what such a cluster's operator asks.
publish_standin_kube_dns() {
  kubectl -n kube-system create configmap coredns --from-file=Corefile="$STATE/Corefile" \
    --dry-run=client -o yaml | kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
  COREDNS_STANDIN_1=198.51.100.53 COREDNS_STANDIN_2=198.51.100.54 \
    render "$ROOT/hack/cluster/kube-dns.yaml" |
    kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
}

install_crds() {
  kubectl apply --server-side --field-manager=local-cluster -f "$CRDS" >/dev/null
  wait_for "the CRD" kubectl wait --for=condition=Established \
    crd/headlessserviceaudits.headless-auditor.io --timeout=5s
}

write_env() {
  local servers
  servers=$(printf '%s:'"$COREDNS_PORT"',' "${COREDNS_ADDRESSES[@]}")
  cat >"$STATE/env" <<ENV
# Written by hack/cluster.sh up: source it to talk to the local cluster.
export KUBECONFIG=$KUBECONFIG
export HEADLESS_AUDITOR_CLUSTER_DOMAIN=$CLUSTER_DOMAIN
# The loopback CoreDNS processes (kwok tier, benchmark); an operator run by hand discovers kube-dns.
export HEADLESS_AUDITOR_LOOPBACK_DNS_SERVERS=${servers%,}
export HEADLESS_AUDITOR_TOOLS_BIN=$BIN
export PATH=$BIN:\$PATH
ENV
}

up() {
  require_tools
  if status >/dev/null 2>&1; then log "already running (state in $STATE)"; return; fi
  local start=$SECONDS
  # What a killed run left (bridge, rules, mounts, pods' cgroups) goes first.
  [ "$REAL_NODE" = 0 ] || { "$ROOT/hack/node.sh" down; "$ROOT/hack/node.sh" network; }
  start_control_plane
  sed -e "s/@TTL@/$COREDNS_TTL/" -e "s/@CACHE@/$COREDNS_CACHE/" "$ROOT/hack/cluster/Corefile" \
    >"$STATE/Corefile"
  for i in 1 2; do start_coredns "$i"; done
  install_crds
  if [ "$REAL_NODE" = 0 ]; then
    publish_standin_kube_dns
  else
    "$ROOT/hack/node.sh" up
    start_kube_dns
  fi
  for address in "${COREDNS_ADDRESSES[@]}"; do wait_for "CoreDNS on $address" coredns_ready "$address"; done
  write_env
  log "ready in $((SECONDS - start)) s: source $STATE/env"
}

down() {
  for i in 1 2; do
    local pid; pid=$(coredns_pid "$i")
    [ -n "$pid" ] && { log "coredns-$i: stopping"; stop_pid "$pid"; }
  done
  # The node first: its kubelet stops its pods through the API server.
  if [ "$REAL_NODE" != 0 ]; then log "real node: stopping"; "$ROOT/hack/node.sh" down; fi
  if [ -d "$KWOK_WORKDIR" ] && [ -x "$BIN/kwokctl" ]; then
    log "control plane: deleting"
    kwokctl delete cluster --name "$NAME" >/dev/null 2>&1 || true
  fi
  # Anything still running from this state directory is ours and must go.
  local leftovers
  leftovers=$(pgrep -f -- "$STATE/" || true)
  for pid in $leftovers; do log "stopping leftover process $pid"; stop_pid "$pid"; done
  rm -rf "$STATE"
  log "down"
}

status() {
  [ -f "$STATE/env" ] || { echo "not running (no $STATE/env)"; return 1; }
  api_ready >/dev/null 2>&1 || { echo "API server not answering"; return 1; }
  for i in 1 2; do
    coredns_alive "$i" && coredns_ready "${COREDNS_ADDRESSES[$((i - 1))]}" >/dev/null 2>&1 ||
      { echo "coredns-$i not ready"; return 1; }
  done
  if [ "$REAL_NODE" != 0 ]; then
    "$ROOT/hack/node.sh" status || { echo "node $NODE_NAME not Ready"; return 1; }
    kube_dns_ready || { echo "kube-dns: CoreDNS pods not ready"; return 1; }
  fi
  echo "running: source $STATE/env"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
