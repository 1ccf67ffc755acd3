#!/usr/bin/env bash
# Copies into k8s/ the files that kustomize must read but that live elsewhere in the repo
# (kustomize refuses files outside the kustomization's folder):
#   config/moderation-rules.example.yaml -> k8s/base/consumers/moderation-rules.yaml
# (observability/generate.sh writes the PrometheusRule and dashboard copies itself.)
# Run it after editing the source; test/deploy/kubernetes.test.ts checks the copies are current.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cp "$ROOT/config/moderation-rules.example.yaml" "$ROOT/k8s/base/consumers/moderation-rules.yaml"
echo "copied config/moderation-rules.example.yaml to k8s/base/consumers/moderation-rules.yaml" >&2
