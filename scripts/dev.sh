#!/usr/bin/env bash
# npm run dev: the local stack (Kafka + schema registry), the bridge and both example consumers
# built and started on it (consumers' logs in .stack/logs/), and a ready-to-paste curl that posts
# a sample callback.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/stack/stack.sh up
npm run -s build

export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export SCHEMA_REGISTRY_URL="${SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081/apis/ccompat/v7}"
export PORT="${PORT:-8080}" ADMIN_PORT="${ADMIN_PORT:-9464}"
export KAFKA_TOPIC_REPLICATION_FACTOR="${KAFKA_TOPIC_REPLICATION_FACTOR:-1}"

# the consumers in the background, stopped with the bridge
mkdir -p .stack/logs
export OUTPUT_TOPIC_REPLICATION_FACTOR="${OUTPUT_TOPIC_REPLICATION_FACTOR:-1}"
ADMIN_PORT=9465 ANALYTICS_IDLE_CLOSE_SECONDS="${ANALYTICS_IDLE_CLOSE_SECONDS:-10}" \
  node dist/src/consumers/analytics/main.js >>.stack/logs/analytics.log 2>&1 &
analytics=$!
ADMIN_PORT=9466 node dist/src/consumers/moderation/main.js >>.stack/logs/moderation.log 2>&1 &
moderation=$!
trap 'kill -TERM $analytics $moderation 2>/dev/null; wait $analytics $moderation 2>/dev/null' EXIT

query="SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
cat <<TXT

tim-kafka-bridge is starting on http://127.0.0.1:${PORT}/callback (admin: http://127.0.0.1:${ADMIN_PORT}).
In another terminal, post the sample callback (the reply is OK once Kafka has it):

  curl -sS -X POST 'http://127.0.0.1:${PORT}/callback?${query}' \\
    -H 'Content-Type: application/json' \\
    --data-binary @$(pwd)/test/fixtures/callbacks/text.json

Then look at the record (key Jonh) in ${KAFKA_TOPIC:-c2c.after-send-msg}:

  npm run -s peek

The analytics consumer (admin :9465) publishes closed minute windows to c2c.analytics.minutely
(a window closes 120 s of MsgTime later, or after 10 s without messages). The sample's MsgTime
is from 2019: too far from now, it is counted as out of range, in no window. For a window, send
it with the current time:

  sed "s/1557481126/\$(date +%s)/g" test/fixtures/callbacks/text.json | curl -sS -X POST \
    'http://127.0.0.1:${PORT}/callback?${query}' -H 'Content-Type: application/json' --data-binary @-

The moderation
consumer (admin :9466) publishes verdicts to c2c.moderation.verdicts for the example rules in
config/moderation-rules.example.yaml. Logs: .stack/logs/{analytics,moderation}.log.

TXT
node --min-semi-space-size=32 --max-semi-space-size=32 dist/src/main.js
