#!/usr/bin/env bash
# The demo is the user's path: the local cluster (with its real node), the operator image,
# `helm install` of the chart, the examples as real pods with real readiness probes, and what the
# operator concluded side by side with what a client pod resolves.
#
#   hack/demo.sh          (via `make demo`) — leaves the cluster, the operator and the examples running
#   hack/cluster.sh down  (via `make cluster-down`) — stops everything
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${HEADLESS_AUDITOR_STATE:-$ROOT/.cluster}
NS=${HEADLESS_AUDITOR_DEMO_NAMESPACE:-headless-demo}
RELEASE=headless-auditor
RELEASE_NS=headless-auditor
IMAGE=localhost/headless-auditor:dev
DOMAIN=cluster.local
start=$SECONDS
log() { printf '\n== [%3d s] %s\n' $((SECONDS - start)) "$*"; }

log "the local cluster: control plane, real node, kube-dns (hack/cluster.sh up)"
"$ROOT/hack/cluster.sh" up
# shellcheck disable=SC1091
source "$STATE/env"
PATH=$ROOT/.venv/bin:$PATH

log "the operator image, imported into the real node ($IMAGE)"
IMAGE=$IMAGE "$ROOT/hack/image.sh" node

log "helm install $RELEASE (namespace $RELEASE_NS), on the real node, auditing namespace $NS"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
helm upgrade --install "$RELEASE" "$ROOT/charts/headless-auditor" -n "$RELEASE_NS" --create-namespace \
  -f "$ROOT/hack/demo-values.yaml" --set "config.namespaces={$NS}" --wait --timeout 3m
kubectl -n "$RELEASE_NS" get pods -o wide

log "the examples (deploy/examples), pinned to the real node, and a client pod"
kubectl create -n "$NS" --dry-run=client -o json -f "$ROOT/deploy/examples/" | "$ROOT/hack/node/pin.py" |
  kubectl apply --server-side -n "$NS" -f - >/dev/null
kubectl run dns-client -n "$NS" --image=busybox:1.36 --restart=Never --dry-run=client -o json \
  --command -- sleep 86400 | "$ROOT/hack/node/pin.py" | kubectl apply --server-side -n "$NS" -f - >/dev/null
pods=(web-0 web-1 legacy-0 legacy-1 peers-0 peers-1 peers-2 db-0 dns-client)
for pod in "${pods[@]}"; do kubectl wait -n "$NS" --for=create "pod/$pod" --timeout=120s >/dev/null; done
kubectl wait -n "$NS" --for=condition=Ready "${pods[@]/#/pod/}" --timeout=120s >/dev/null
kubectl get pods -n "$NS" -o wide

log "one pod of each peer cluster fails its readiness probe (kubectl exec <pod> -- rm /www/ready)"
for pod in legacy-1 peers-2; do
  kubectl exec -n "$NS" "$pod" -- rm /www/ready
  kubectl wait -n "$NS" --for=condition=Ready=false "pod/$pod" --timeout=60s >/dev/null
  echo "  $pod: Ready=False"
done

log "kubectl wait for the operator's verdicts"
kubectl wait -n "$NS" --for=condition=headless-auditor.io/DNSConsistent svc/nginx --timeout=120s
kubectl wait -n "$NS" --for=condition=headless-auditor.io/PodNamesResolvable=false svc/legacy --timeout=120s
kubectl wait -n "$NS" --for=condition=headless-auditor.io/ConfigurationValid=false svc/db --timeout=120s
kubectl wait -n "$NS" --for=jsonpath='{.status.dnsState}'=Consistent hsa/peers --timeout=120s

log "kubectl get hsa -A"
kubectl get hsa -A

log "conditions on the Services"
kubectl get svc -n "$NS" -o json | python3 "$ROOT/hack/demo_view.py" conditions

log "what a client pod resolves (kubectl exec dns-client -- nslookup NAME) beside the operator's verdict"
names=()
for svc in nginx legacy peers; do
  names+=("$svc.$NS.svc.$DOMAIN")
done
for pod in web-0 web-1; do names+=("$pod.nginx.$NS.svc.$DOMAIN"); done
for pod in legacy-0 legacy-1; do names+=("$pod.legacy.$NS.svc.$DOMAIN"); done
for pod in peers-0 peers-1 peers-2; do names+=("$pod.peers.$NS.svc.$DOMAIN"); done
{
  kubectl get hsa -n "$NS" -o json
  for name in "${names[@]}"; do
    printf '#nslookup %s\n' "$name"
    kubectl exec -n "$NS" dns-client -- nslookup "$name" 2>&1 || true
  done
} | python3 "$ROOT/hack/demo_view.py" side-by-side

log "next"
cat <<NEXT
  source $STATE/env
  kubectl describe hsa -n $NS legacy          # findings, pod-name problems, per-server results
  kubectl exec -n $NS legacy-1 -- touch /www/ready   # the probe passes: PodNamesResolvable True
  kubectl logs -n $RELEASE_NS deploy/$RELEASE # the operator's log
  helm test $RELEASE -n $RELEASE_NS
  make cluster-down                           # stop everything
NEXT
echo "demo: $((SECONDS - start)) s"
