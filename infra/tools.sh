#!/usr/bin/env bash
# The validators the infra tests run offline (tests/unit/infra): `kubectl kustomize` (the
# machine image's kubectl; Debian's kubernetes-client otherwise) and promtool (Debian's
# `prometheus` package). With --install (CI), installs missing ones with apt-get. Exits non-zero
# if one is still missing: the tests would fail in CI (CI=true) and skip loudly elsewhere.
set -u

missing() {
  command -v promtool >/dev/null 2>&1 || echo prometheus
  kubectl kustomize --help >/dev/null 2>&1 || echo kubernetes-client
}

if [ "${1:-}" = "--install" ]; then
  pkgs=$(missing)
  if [ -n "$pkgs" ]; then
    echo "tools: installing $pkgs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
  fi
fi
rc=0
command -v promtool >/dev/null 2>&1 && echo "tools: $(promtool --version 2>&1 | head -n 1)" \
  || { echo "tools: promtool is missing (bash infra/tools.sh --install)"; rc=1; }
kubectl kustomize --help >/dev/null 2>&1 && echo "tools: kubectl $(kubectl version --client 2>/dev/null | head -n 1)" \
  || { echo "tools: kubectl kustomize is missing (bash infra/tools.sh --install)"; rc=1; }
exit $rc
