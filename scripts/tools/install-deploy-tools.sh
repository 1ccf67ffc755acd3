#!/usr/bin/env bash
# Installs the tools that test/deploy/ needs, pinned, into the git-ignored .tools/ folder:
#   kustomize    the one in `kubectl` when it is kustomize v5+ (kubectl 1.27+), else
#                sigs.k8s.io/kustomize/kustomize/v5 built from the Go module proxy (.tools/bin)
#   kubeconform  github.com/yannh/kubeconform, from the Go module proxy (.tools/bin)
#   compose      Docker Compose v2 (github.com/docker/compose/v2), built from the Go module proxy
#                as a docker CLI plugin in .tools/docker/cli-plugins (use DOCKER_CONFIG=.tools/docker)
#   schemas      Kubernetes JSON schemas for kubeconform (.tools/k8s-schemas): the strict schemas
#                of the PyPI package kubernetes-validate (pinned by version and sha256) for one
#                Kubernetes release, plus custom resources' CRDs from Go modules, made standalone
#                by k8s-json-schemas.mjs: ServiceMonitor and PrometheusRule (prometheus-operator),
#                HTTPRoute, Gateway, ReferenceGrant (Gateway API, standard channel), and Envoy
#                Gateway's BackendTrafficPolicy (k8s/components/gateway-api*)
# Idempotent: a tool already at its pinned version is left alone (a second run takes a second).
# Needs Go (1.24+), Python 3 with pip, Node.js with `npm ci` done (for the yaml package).
set -euo pipefail

KUSTOMIZE_VERSION=v5.5.0
KUBECONFORM_VERSION=v0.7.0
COMPOSE_VERSION=v2.40.3
KUBERNETES_VERSION=1.32.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VALIDATE_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
PROMETHEUS_OPERATOR_VERSION=v0.85.0
GATEWAY_API_VERSION=v1.3.0
ENVOY_GATEWAY_VERSION=v1.5.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
mkdir -p "$BIN"

say() { printf '[install-deploy-tools] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { say "ERROR: $1 not found: $2"; exit 1; }; }

# ---- kustomize ---------------------------------------------------------------------------------
kubectl_kustomize_major() {
  command -v kubectl >/dev/null 2>&1 || return 1
  kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\)\..*/\1/p' | head -n1
}
major=$(kubectl_kustomize_major || true)
if [[ -n $major && $major -ge 5 ]]; then
  say "kustomize: kubectl's ($(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
elif [[ -x $BIN/kustomize ]] && "$BIN/kustomize" version 2>/dev/null | grep -q "$KUSTOMIZE_VERSION"; then
  say "kustomize: $BIN/kustomize $KUSTOMIZE_VERSION already installed"
else
  need go "install Go 1.24+ (https://go.dev/dl or Debian's golang-go) or a kubectl 1.27+"
  say "kustomize: building sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION (no kubectl with kustomize v5)"
  GOBIN="$BIN" go install \
    -ldflags "-X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

# ---- kubeconform -------------------------------------------------------------------------------
if [[ -x $BIN/kubeconform ]] && [[ $("$BIN/kubeconform" -v 2>/dev/null) == "$KUBECONFORM_VERSION" ]]; then
  say "kubeconform: $KUBECONFORM_VERSION already installed"
else
  need go "install Go 1.24+ (https://go.dev/dl or Debian's golang-go)"
  say "kubeconform: building github.com/yannh/kubeconform@$KUBECONFORM_VERSION"
  GOBIN="$BIN" go install -ldflags "-X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

# ---- docker compose (v2, as a docker CLI plugin) -----------------------------------------------
PLUGIN="$TOOLS/docker/cli-plugins/docker-compose"
if [[ -x $PLUGIN ]] && "$PLUGIN" version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then
  say "docker compose: $COMPOSE_VERSION already installed"
else
  need go "install Go 1.24+ (https://go.dev/dl or Debian's golang-go)"
  # `go install pkg@version` refuses modules with exclude directives (compose has some): build
  # inside a copy of the module instead. About 2.5 minutes on 2 cores with an empty Go cache.
  say "docker compose: building github.com/docker/compose/v2@$COMPOSE_VERSION (a few minutes)"
  dir=$(cd "$TOOLS" && go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir ]] || { say "ERROR: go mod download github.com/docker/compose/v2@$COMPOSE_VERSION failed"; exit 1; }
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -R "$dir/." "$src/"
  chmod -R u+w "$src"
  mkdir -p "$(dirname "$PLUGIN")"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$PLUGIN" ./cmd)
  rm -rf "$src"
  trap - EXIT
fi

# ---- Kubernetes and CRD JSON schemas -----------------------------------------------------------
SCHEMAS="$TOOLS/k8s-schemas"
STAMP="$SCHEMAS/.installed-k8s-$KUBERNETES_VERSION-kv-$KUBERNETES_VALIDATE_VERSION-po-$PROMETHEUS_OPERATOR_VERSION-gw-$GATEWAY_API_VERSION-eg-$ENVOY_GATEWAY_VERSION"
# the prometheus-operator custom resources the manifests use (k8s/base): their CRDs' schemas are converted
CRDS=(servicemonitors prometheusrules alertmanagerconfigs)
if [[ -f $STAMP && $STAMP -nt "$ROOT/scripts/tools/k8s-json-schemas.mjs" ]] &&
  [[ $(cat "$STAMP") == "${CRDS[*]}" ]]; then
  say "schemas: Kubernetes $KUBERNETES_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION, Gateway API $GATEWAY_API_VERSION, Envoy Gateway $ENVOY_GATEWAY_VERSION already installed"
else
  need python3 "install Python 3 with pip"
  need node "install Node.js and run npm ci"
  need go "install Go 1.24+ (https://go.dev/dl or Debian's golang-go)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  say "schemas: kubernetes-validate==$KUBERNETES_VALIDATE_VERSION from PyPI (sha256 pinned)"
  printf 'kubernetes-validate==%s --hash=sha256:%s\n' "$KUBERNETES_VALIDATE_VERSION" \
    "$KUBERNETES_VALIDATE_SHA256" >"$work/requirements.txt"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$work/requirements.txt" -d "$work"
  python3 - "$work" "v$KUBERNETES_VERSION-local-strict" <<'PY'
import glob, sys, zipfile
work, folder = sys.argv[1], sys.argv[2]
prefix = f"kubernetes_validate/kubernetes-json-schema/{folder}/"
with zipfile.ZipFile(glob.glob(f"{work}/kubernetes_validate-*.whl")[0]) as z:
    names = [n for n in z.namelist() if n.startswith(prefix)]
    if not names:
        sys.exit(f"no {folder} in the wheel")
    z.extractall(f"{work}/wheel", names)
PY
  say "schemas: prometheus-operator CRDs from github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
  po=$(cd "$TOOLS" && go mod download -json \
    "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  crds="$po/example/prometheus-operator-crd"
  [[ -f $crds/monitoring.coreos.com_servicemonitors.yaml ]] || { say "ERROR: CRDs not found in $po"; exit 1; }
  say "schemas: Gateway API CRDs from sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
  gw=$(cd "$TOOLS" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  gwcrds="$gw/config/crd/standard"
  [[ -f $gwcrds/gateway.networking.k8s.io_httproutes.yaml ]] || { say "ERROR: CRDs not found in $gw"; exit 1; }
  say "schemas: Envoy Gateway CRDs from github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION"
  eg=$(cd "$TOOLS" && go mod download -json "github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  egcrds="$eg/charts/gateway-helm/crds/generated"
  [[ -f $egcrds/gateway.envoyproxy.io_backendtrafficpolicies.yaml ]] || { say "ERROR: CRDs not found in $eg"; exit 1; }
  rm -rf "$SCHEMAS"
  crd_files=()
  for c in "${CRDS[@]}"; do crd_files+=("$crds/monitoring.coreos.com_$c.yaml"); done
  node "$ROOT/scripts/tools/k8s-json-schemas.mjs" \
    "$work/wheel/kubernetes_validate/kubernetes-json-schema/v$KUBERNETES_VERSION-local-strict" "$SCHEMAS" \
    "${crd_files[@]}" \
    "$gwcrds/gateway.networking.k8s.io_httproutes.yaml" "$gwcrds/gateway.networking.k8s.io_gateways.yaml" \
    "$gwcrds/gateway.networking.k8s.io_referencegrants.yaml" \
    "$egcrds/gateway.envoyproxy.io_backendtrafficpolicies.yaml"
  echo "${CRDS[*]}" >"$STAMP"
  rm -rf "$work"
  trap - EXIT
fi

say "ready: $(ls "$BIN" | tr '\n' ' ')docker-compose plugin, schemas for Kubernetes $KUBERNETES_VERSION and the CRDs (in $TOOLS)"
