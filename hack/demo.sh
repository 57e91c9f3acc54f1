#!/usr/bin/env bash
# The demo: local cluster, example workloads, the operator, and the audit result on screen.
#
#   hack/demo.sh        (via `make demo`) — leaves the cluster and the operator running
#   hack/cluster.sh down  (via `make cluster-down`) — stops everything, the operator included
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${HEADLESS_AUDITOR_STATE:-$ROOT/.cluster}
NS=${HEADLESS_AUDITOR_DEMO_NAMESPACE:-headless-demo}
METRICS_PORT=${HEADLESS_AUDITOR_DEMO_METRICS_PORT:-18080}
log() { printf '\n== %s\n' "$*"; }

"$ROOT/hack/cluster.sh" up
# shellcheck disable=SC1091
source "$STATE/env"
PATH=$ROOT/.venv/bin:$PATH

log "CRD and example workloads (deploy/examples) in namespace $NS"
kubectl apply --server-side -f "$ROOT/charts/headless-auditor/crds/" >/dev/null
kubectl wait --for=condition=Established crd/headlessserviceaudits.headless-auditor.io --timeout=60s >/dev/null
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply --server-side -n "$NS" -f "$ROOT/deploy/examples/" >/dev/null
for pod in web-0 web-1 legacy-0 legacy-1 peers-0 peers-1 peers-2 db-0; do
  kubectl wait -n "$NS" --for=create "pod/$pod" --timeout=120s >/dev/null
  kubectl wait -n "$NS" --for=jsonpath='{.status.phase}'=Running "pod/$pod" --timeout=120s >/dev/null
done

log "one pod of each peer cluster turns unready (as a failing readiness probe would)"
for pod in legacy-1 peers-2; do
  conditions=$(kubectl get pod -n "$NS" "$pod" -o json | python3 -c '
import json, sys
pod = json.load(sys.stdin)
conds = [dict(c, status="False") if c["type"] in ("Ready", "ContainersReady") else c
         for c in pod["status"]["conditions"]]
print(json.dumps({"status": {"conditions": conds}}))')
  kubectl patch pod -n "$NS" "$pod" --subresource=status --type=merge -p "$conditions" >/dev/null
  echo "  $pod: Ready=False"
done

if [ -f "$STATE/operator.pid" ] && kill -0 "$(cat "$STATE/operator.pid")" 2>/dev/null; then
  log "operator already running (pid $(cat "$STATE/operator.pid"))"
else
  log "starting the operator (log: $STATE/operator.log, metrics: http://127.0.0.1:$METRICS_PORT/metrics)"
  setsid headless-auditor run --metrics-address 127.0.0.1 --metrics-port "$METRICS_PORT" \
    --sweep-interval 10 </dev/null >>"$STATE/operator.log" 2>&1 &
  echo $! >"$STATE/operator.pid"
fi
pid=$(cat "$STATE/operator.pid")
for _ in $(seq 1 120); do
  curl -fs "127.0.0.1:$METRICS_PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$STATE/operator.log"; echo "the operator exited" >&2; exit 1; }
  sleep 0.5
done

log "kubectl wait --for=condition=headless-auditor.io/DNSConsistent svc/nginx -n $NS"
kubectl wait --for=condition=headless-auditor.io/DNSConsistent svc/nginx -n "$NS" --timeout=60s
for svc in legacy peers db; do
  kubectl wait --for=jsonpath='{.status.dnsState}' "hsa/$svc" -n "$NS" --timeout=60s >/dev/null 2>&1 ||
    kubectl wait --for=create "hsa/$svc" -n "$NS" --timeout=60s >/dev/null
done

log "kubectl get hsa -A"
kubectl get hsa -A

log "conditions on the Services"
kubectl get svc -n "$NS" -o json | python3 -c '
import json, sys
for svc in json.load(sys.stdin)["items"]:
    status = svc.get("status", {})
    ours = [c for c in status.get("conditions", []) if c["type"].startswith("headless-auditor.io/")]
    if ours:
        print(svc["metadata"]["name"] + ":")
    for c in ours:
        kind, message = c["type"].split("/")[1], c["message"]
        if len(message) > 150:
            message = message[:147] + "..."
        print("  %-19s %-7s %s: %s" % (kind, c["status"], c["reason"], message))'

log "next"
cat <<NEXT
  source $STATE/env
  kubectl describe hsa -n $NS legacy          # findings, pod-name problems, per-server results
  headless-auditor check -n $NS               # the same audit, once, as a table
  curl -s 127.0.0.1:$METRICS_PORT/metrics | grep ^headless_auditor_service_dns_state
  make cluster-down                           # stop the cluster and the operator
NEXT
