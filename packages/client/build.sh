#!/usr/bin/env bash
# Builds the client package from the bridge's own sources (src/client/ and the pure modules it
# imports: the catalogue, the schemas, the record mapper, the registry reader) and copies the
# Avro schemas beside it; `npm pack` runs it (prepack).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf dist schemas
cp -R ../../schemas schemas
../../node_modules/.bin/tsc -p tsconfig.json
# the package must not reach the bridge's server code (Express, KafkaJS, the spool)
if grep -rlE "require\(\"(express|kafkajs|@kafkajs/confluent-schema-registry|pino|prom-client)\"\)" dist; then
  echo "the client package imports server dependencies (files above)" >&2
  exit 1
fi
