#!/usr/bin/env bash
# Build pinned Kubernetes components, helm and kube-router (the NetworkPolicy
# agent) from the Go module proxy into a per-version cache. Re-running is cheap:
# finished binaries are reused.
#
#   build-bins.sh [K8S_VERSION] [HELM_VERSION] [KUBE_ROUTER_VERSION]
#
# Output: $KUBEMCP_CLUSTER_CACHE/bin/<K8S_VERSION>/{kube-apiserver,...,kubectl}
#         $KUBEMCP_CLUSTER_CACHE/bin/helm-<HELM_VERSION>/helm
#         $KUBEMCP_CLUSTER_CACHE/bin/kube-router-<KUBE_ROUTER_VERSION>/kube-router
set -euo pipefail

K8S_VERSION="${1:-${KUBEMCP_K8S_VERSION:-v1.37.2}}"
HELM_VERSION="${2:-${KUBEMCP_HELM_VERSION:-v3.22.0}}"
# The newest v2 release on the Go module proxy (GOFLAGS=-mod=mod go list -m -versions
# github.com/cloudnativelabs/kube-router/v2) when this was pinned.
KUBE_ROUTER_VERSION="${3:-${KUBEMCP_KUBE_ROUTER_VERSION:-v2.1.0}}"
CACHE="${KUBEMCP_CLUSTER_CACHE:-$HOME/.cache/kubemcp-cluster}"
JOBS="${KUBEMCP_BUILD_JOBS:-2}"

# shellcheck source=go-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
BIN="$CACHE/bin/$K8S_VERSION"
WORK="$CACHE/build/$K8S_VERSION"

need_k8s=0
for c in "${COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || need_k8s=1; done

if [[ $need_k8s == 1 ]]; then
  echo "building Kubernetes $K8S_VERSION into $BIN"
  mkdir -p "$WORK" "$BIN"
  cd "$WORK"
  staging_version="v0.${K8S_VERSION#v1.}"
  major="$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
  minor="$(echo "${K8S_VERSION#v}" | cut -d. -f2)"
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  goline="$(grep -m1 '^go ' "$gomod")"
  {
    echo "module kubemcp.local/k8sbuild"
    echo
    echo "$goline"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$gomod"
    echo ")"
  } > go.mod
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    for c in "${COMPONENTS[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } > tools.go
  go mod tidy
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  pkgs=()
  for c in "${COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  tmp="$BIN/.tmp.$$"
  mkdir -p "$tmp"
  go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
  mv "$tmp"/* "$BIN/"
  rmdir "$tmp"
fi

HBIN="$CACHE/bin/helm-$HELM_VERSION"
if [[ ! -x "$HBIN/helm" ]]; then
  echo "building helm $HELM_VERSION into $HBIN"
  hmajor="$(echo "${HELM_VERSION#v}" | cut -d. -f1)"
  mkdir -p "$HBIN"
  tmp="$HBIN/.tmp.$$"
  mkdir -p "$tmp"
  if [[ $hmajor == 3 ]]; then
    hldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  else
    hldflags="-s -w -X helm.sh/helm/v$hmajor/internal/version.version=$HELM_VERSION -X helm.sh/helm/v$hmajor/internal/version.gitTreeState=clean"
  fi
  GOBIN="$tmp" go install -p "$JOBS" -trimpath -ldflags "$hldflags" "helm.sh/helm/v$hmajor/cmd/helm@$HELM_VERSION"
  mv "$tmp/helm" "$HBIN/helm"
  rmdir "$tmp"
fi

RBIN="$CACHE/bin/kube-router-$KUBE_ROUTER_VERSION"
if [[ ! -x "$RBIN/kube-router" ]]; then
  echo "building kube-router $KUBE_ROUTER_VERSION into $RBIN"
  mkdir -p "$RBIN"
  tmp="$RBIN/.tmp.$$"
  mkdir -p "$tmp"
  rldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
  GOBIN="$tmp" go install -p "$JOBS" -trimpath -ldflags "$rldflags" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  mv "$tmp/kube-router" "$RBIN/kube-router"
  rmdir "$tmp"
fi

"$BIN/kubectl" version --client 2>/dev/null | head -1 || true
"$HBIN/helm" version --short 2>/dev/null || true
"$RBIN/kube-router" --version 2>/dev/null | head -1 || true
