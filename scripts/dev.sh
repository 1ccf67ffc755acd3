#!/usr/bin/env bash
# npm run dev: the local stack (Kafka + schema registry), the bridge built and started on it,
# and a ready-to-paste curl that posts a sample callback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/stack/stack.sh up
npm run -s build

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export SCHEMA_REGISTRY_URL="${SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081/apis/ccompat/v7}"
export PORT="${PORT:-8080}" ADMIN_PORT="${ADMIN_PORT:-9464}"
export KAFKA_TOPIC_REPLICATION_FACTOR="${KAFKA_TOPIC_REPLICATION_FACTOR:-1}"

query="SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
cat <<TXT

tim-kafka-bridge is starting on http://127.0.0.1:${PORT}/callback (admin: http://127.0.0.1:${ADMIN_PORT}).
In another terminal, post the sample callback (the reply is OK once Kafka has it):

  curl -sS -X POST 'http://127.0.0.1:${PORT}/callback?${query}' \\
    -H 'Content-Type: application/json' \\
    --data-binary @$(pwd)/test/fixtures/callbacks/text.json

Then look at the record (key Jonh) in ${KAFKA_TOPIC:-c2c.after-send-msg}:

  npm run -s peek

TXT
exec node dist/src/main.js
