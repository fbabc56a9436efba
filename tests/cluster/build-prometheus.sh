#!/usr/bin/env bash
# Build a pinned Prometheus server from the Go module proxy into a per-version cache (beside helm's),
# for the dashboard checks (tests/charts/test_dashboard_prometheus.py, make dashboard-preview). Only its
# HTTP query API is used: no web UI assets, and no service discovery but static, file and http targets
# (-tags remove_all_sd), which keeps the build small. Re-running is cheap: a finished binary is reused.
#
#   build-prometheus.sh [PROMETHEUS_VERSION]      (the Go module version: Prometheus 3.x.y is v0.3xx.y)
#
# Output: $KUBEMCP_CLUSTER_CACHE/bin/prometheus-<PROMETHEUS_VERSION>/prometheus
set -euo pipefail

VERSION="${1:-${KUBEMCP_PROMETHEUS_VERSION:-v0.316.0}}"
CACHE="${KUBEMCP_CLUSTER_CACHE:-$HOME/.cache/kubemcp-cluster}"
JOBS="${KUBEMCP_BUILD_JOBS:-2}"

# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
[[ $VERSION =~ ^v0\.([1-9])([0-9]{2})\.([0-9]+)$ ]] || { echo "unexpected version $VERSION (want v0.3xx.y)" >&2; exit 1; }
release="${BASH_REMATCH[1]}.$((10#${BASH_REMATCH[2]})).${BASH_REMATCH[3]}"  # v0.316.0 -> 3.16.0

PBIN="$CACHE/bin/prometheus-$VERSION"
if [[ ! -x "$PBIN/prometheus" ]]; then
  echo "building Prometheus $release ($VERSION) into $PBIN"
  mkdir -p "$PBIN"
  tmp="$PBIN/.tmp.$$"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
  ldflags+=" -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$VERSION"
  GOBIN="$tmp" go install -p "$JOBS" -trimpath -tags remove_all_sd,netgo -ldflags "$ldflags" \
    "github.com/prometheus/prometheus/cmd/prometheus@$VERSION"
  mv "$tmp/prometheus" "$PBIN/prometheus"
fi
"$PBIN/prometheus" --version 2>&1 | head -1
