#!/usr/bin/env bash
# deploy/kubemcp.yaml is the chart rendered for the plain path:
#   kubectl apply -f crds/ && kubectl apply -f deploy/kubemcp.yaml
# (the operator in namespace kubemcp-system, watching every namespace; no default gateway).
#   scripts/render-manifest.sh          write it
#   scripts/render-manifest.sh --check  fail if it is out of date (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
helm="${HELM:-$(python3 -m tests.cluster helm-path)}"
render() {
  echo "# Rendered from charts/kubemcp by scripts/render-manifest.sh; do not edit by hand."
  echo "# Apply after the CRDs:  kubectl apply -f crds/ && kubectl apply -f deploy/kubemcp.yaml"
  cat <<'NS'
apiVersion: v1
kind: Namespace
metadata:
  name: kubemcp-system
  labels:
    pod-security.kubernetes.io/enforce: restricted
NS
  "$helm" template kubemcp charts/kubemcp --namespace kubemcp-system \
    --set gateway.create=false
}
if [[ "${1:-}" == "--check" ]]; then
  if ! diff <(render) deploy/kubemcp.yaml >/dev/null; then
    echo "deploy/kubemcp.yaml is out of date: run scripts/render-manifest.sh" >&2
    exit 1
  fi
  exit 0
fi
render > deploy/kubemcp.yaml
echo "wrote deploy/kubemcp.yaml"
