#!/usr/bin/env bash
# The local cluster tests and the demo run against: the real control plane (kwokctl, binary
# runtime, every component on 127.0.0.1), kwok playing the nodes, and two real CoreDNS processes
# on two loopback addresses, plus the kube-system objects a kind cluster has.
#
#   hack/cluster.sh up      start what is not running (a running cluster is left as it is)
#   hack/cluster.sh down    stop everything and remove the state; no process is left behind
#   hack/cluster.sh status  exit 0 when the API server and both CoreDNS replicas answer
#
# State lives in $HEADLESS_AUDITOR_STATE (default: .cluster/ in the repo); `up` writes
# $STATE/env, a shell file with KUBECONFIG, HEADLESS_AUDITOR_DNS_SERVERS and
# HEADLESS_AUDITOR_CLUSTER_DOMAIN. Tunables (environment): HEADLESS_AUDITOR_COREDNS_TTL (30, as
# kubeadm), HEADLESS_AUDITOR_COREDNS_CACHE (30, as kubeadm), HEADLESS_AUDITOR_COREDNS_PORT (1053),
# HEADLESS_AUDITOR_COREDNS_ADDRESSES ("127.0.10.1 127.0.10.2"; another pair and another
# HEADLESS_AUDITOR_STATE let a second cluster, e.g. the benchmark's, run beside the first),
# HEADLESS_AUDITOR_KUBE_AUDIT_POLICY (unset: no API audit log; a policy file path: the API server
# writes its audit log to $STATE/kwok/clusters/headless-auditor/logs/audit.log — opt-in, used by
# hack/bench.py to count the operator's requests; read only when the cluster is created).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${HEADLESS_AUDITOR_STATE:-$ROOT/.cluster}
BIN=$("$ROOT/hack/tools.sh" print-bin)
NAME=headless-auditor
export KWOK_WORKDIR=$STATE/kwok
export KUBECONFIG=$STATE/kubeconfig
export PATH=$BIN:$PATH
read -r -a COREDNS_ADDRESSES <<<"${HEADLESS_AUDITOR_COREDNS_ADDRESSES:-127.0.10.1 127.0.10.2}"
export COREDNS_PORT=${HEADLESS_AUDITOR_COREDNS_PORT:-1053}
COREDNS_TTL=${HEADLESS_AUDITOR_COREDNS_TTL:-30}
COREDNS_CACHE=${HEADLESS_AUDITOR_COREDNS_CACHE:-30}
CLUSTER_DOMAIN=cluster.local
DEADLINE_SECONDS=${HEADLESS_AUDITOR_CLUSTER_TIMEOUT:-180}

log() { printf '[cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# render FILE: substitute ${VAR} from the environment; an unset variable is an error.
render() {
  python3 -c 'import os, string, sys; sys.stdout.write(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' "$1"
}

# wait_for DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + DEADLINE_SECONDS))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${DEADLINE_SECONDS}s waiting for $what"
    sleep 0.5
  done
}

require_tools() {
  for t in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler kubectl etcd coredns; do
    [ -x "$BIN/$t" ] || die "$BIN/$t is missing: run 'make tools' (hack/tools.sh) first"
  done
}

api_ready() { kubectl get --raw /readyz; }
cluster_exists() { [ -f "$KUBECONFIG" ] && kwokctl get clusters 2>/dev/null | grep -qx "$NAME"; }

coredns_pid() { cat "$STATE/coredns-$1.pid" 2>/dev/null || true; }
coredns_alive() { local pid; pid=$(coredns_pid "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
coredns_ready() { python3 - "$1" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
opener.open(f"http://{sys.argv[1]}:8181/ready", timeout=1).read()
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
  if [ "$(kubectl get nodes -o name | wc -l)" -lt 2 ]; then
    log "nodes: creating 2 kwok nodes"
    kwokctl scale node --name "$NAME" --replicas 2 >/dev/null
  fi
  wait_for "the default ServiceAccount" kubectl -n default get serviceaccount default
}

start_coredns() {
  local i=$1 address=${COREDNS_ADDRESSES[$((i - 1))]}
  if coredns_alive "$i"; then return; fi
  log "coredns-$i: starting on $address:$COREDNS_PORT"
  COREDNS_ADDRESS=$address COREDNS_KUBECONFIG=$KUBECONFIG COREDNS_HEALTH_PORT=8080 \
    COREDNS_READY_PORT=8181 COREDNS_METRICS_PORT=9153 \
    setsid coredns -conf "$STATE/Corefile" -pidfile "$STATE/coredns-$i.pid" \
    </dev/null >>"$STATE/coredns-$i.log" 2>&1 &
  echo $! >"$STATE/coredns-$i.pid"
}

publish_kube_system_objects() {
  kubectl -n kube-system create configmap coredns --from-file=Corefile="$STATE/Corefile" \
    --dry-run=client -o yaml | kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
  COREDNS_STANDIN_1=198.51.100.53 COREDNS_STANDIN_2=198.51.100.54 \
    render "$ROOT/hack/cluster/kube-dns.yaml" |
    kubectl apply --server-side --field-manager=local-cluster -f - >/dev/null
}

write_env() {
  local servers
  servers=$(printf '%s:'"$COREDNS_PORT"',' "${COREDNS_ADDRESSES[@]}")
  cat >"$STATE/env" <<ENV
# Written by hack/cluster.sh up: source it to talk to the local cluster.
export KUBECONFIG=$KUBECONFIG
export HEADLESS_AUDITOR_DNS_SERVERS=${servers%,}
export HEADLESS_AUDITOR_CLUSTER_DOMAIN=$CLUSTER_DOMAIN
export HEADLESS_AUDITOR_TOOLS_BIN=$BIN
export PATH=$BIN:\$PATH
ENV
}

up() {
  require_tools
  if status >/dev/null 2>&1; then log "already running (state in $STATE)"; return; fi
  local start=$SECONDS
  start_control_plane
  sed -e "s/@TTL@/$COREDNS_TTL/" -e "s/@CACHE@/$COREDNS_CACHE/" "$ROOT/hack/cluster/Corefile" \
    >"$STATE/Corefile"
  publish_kube_system_objects
  for i in 1 2; do start_coredns "$i"; done
  for address in "${COREDNS_ADDRESSES[@]}"; do wait_for "CoreDNS on $address" coredns_ready "$address"; done
  write_env
  log "ready in $((SECONDS - start)) s: source $STATE/env"
}

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

down() {
  if [ -f "$STATE/operator.pid" ]; then
    log "operator (demo): stopping"
    stop_pid "$(cat "$STATE/operator.pid")"
  fi
  for i in 1 2; do
    local pid; pid=$(coredns_pid "$i")
    [ -n "$pid" ] && { log "coredns-$i: stopping"; stop_pid "$pid"; }
  done
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
  echo "running: source $STATE/env"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
