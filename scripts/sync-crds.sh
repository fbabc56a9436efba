#!/usr/bin/env bash
# crds/ is generated from the models (python -m kubemcp.crd.generate crds; a test checks it); the chart
# carries byte-for-byte copies in its crds/ folder, which Helm installs before any template (so the
# chart's MCPGateway maps on a cluster that never had them).
#   scripts/sync-crds.sh          copy crds/*.yaml into charts/kubemcp/crds/
#   scripts/sync-crds.sh --check  fail if the copies drifted (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
target=charts/kubemcp/crds
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r crds "$target"; then
    echo "charts/kubemcp/crds differs from crds/: run scripts/sync-crds.sh" >&2
    exit 1
  fi
  exit 0
fi
rm -rf "$target"
mkdir -p "$target"
cp crds/*.yaml "$target/"
echo "copied $(ls crds/*.yaml | wc -l) CRDs into $target"
