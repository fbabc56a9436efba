#!/usr/bin/env bash
# Prepare this machine for the test cluster. Idempotent: re-running only does what is missing.
#   1. Debian packages (containerd, runc, CNI plugins, etcd, buildah, debootstrap, ...)
#   2. pinned Kubernetes components, helm and kube-router, built from the Go module proxy into
#      ~/.cache/kubemcp-cluster/bin/ (reused by later runs)
#   3. the pause and base images (debootstrap of Debian with python3) into
#      ~/.cache/kubemcp-cluster/images/
#
# Usage (as root, from anywhere):  bash tests/cluster/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ $(id -u) != 0 ]]; then
  echo "tests/cluster/setup.sh needs root (apt, network namespaces, mounts)" >&2
  exit 1
fi

PACKAGES=(
  containerd runc containernetworking-plugins etcd-server
  iproute2 iptables ipset conntrack util-linux procps
  buildah debootstrap tar ca-certificates
  openssl gcc libc6-dev binutils python3
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  echo "setup: Go is needed to build Kubernetes (expected /usr/local/go/bin/go)" >&2
  exit 1
fi

SECONDS=0
bash "$here/build-bins.sh"
echo "setup: binaries ready (${SECONDS}s)"

SECONDS=0
cd "$repo"
python3 -m tests.cluster build-images
echo "setup: images ready (${SECONDS}s)"
