#!/usr/bin/env bash
# Builds the real kube-apiserver and kube-controller-manager that the cluster tiers of the
# tests run against, from the Go module proxy (test/kube/build/go.mod pins the release).
# Binaries are cached by version in test/kube/.bin/<version>/ (git-ignored); a warm
# machine only checks that they exist. Go's module and build caches stay in their default
# homes (~/go/pkg/mod, ~/.cache/go-build), so a rebuild after a version bump is incremental.
#
# Usage: test/kube/build.sh            builds what is missing, prints the bin directory
# Env:   FERRY_KUBE_BUILD_JOBS         go build -p (default: all cores)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$HERE/build/go.mod")
[ -n "$VERSION" ] || { echo "test/kube/build.sh: no k8s.io/kubernetes version in $HERE/build/go.mod" >&2; exit 1; }
BIN="$HERE/.bin/$VERSION"
mkdir -p "$BIN"
command -v go >/dev/null || { echo "test/kube/build.sh: Go is not installed (the real API server tier needs it)" >&2; exit 1; }
for cmd in kube-apiserver kube-controller-manager; do
  if [ -x "$BIN/$cmd" ]; then continue; fi
  start=$(date +%s)
  echo "kube: building $cmd $VERSION (cold: several minutes; cached in $BIN afterwards)" >&2
  # -trimpath and no symbols: smaller, reproducible binaries; tmp name so a killed build never leaves a half file.
  (cd "$HERE/build" && go build -p "${FERRY_KUBE_BUILD_JOBS:-$(nproc)}" -trimpath -ldflags='-s -w' -o "$BIN/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$BIN/.$cmd.tmp" "$BIN/$cmd"
  echo "kube: built $cmd in $(( $(date +%s) - start )) s" >&2
done
echo "$BIN"
