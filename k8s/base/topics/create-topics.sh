#!/bin/sh
# Creates the topics listed in topics.conf (next to this script, or $TOPICS_FILE) with
# kafka-topics.sh from the Apache Kafka image. Idempotent: existing topics are left as they are
# (--if-not-exists; change an existing topic's configs with kafka-configs.sh --alter).
# Connection settings use the bridge's own variable names (KAFKA_BROKERS, KAFKA_SASL_MECHANISM,
# KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL, KAFKA_SSL_CA_FILE, and for mutual TLS
# KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE, KAFKA_SSL_KEY_PASSWORD), so the same ConfigMap, Secrets
# and mounted files serve the bridge, the consumers and this script.
set -eu

: "${KAFKA_BROKERS:?KAFKA_BROKERS must be set (comma-separated host:port)}"
RF=${TOPIC_REPLICATION_FACTOR:?TOPIC_REPLICATION_FACTOR must be set (3 in production, 1 on a single broker)}
MIN_ISR=${TOPIC_MIN_INSYNC_REPLICAS:?TOPIC_MIN_INSYNC_REPLICAS must be set (2 in production, 1 on a single broker)}
TOPICS_FILE=${TOPICS_FILE:-$(dirname "$0")/topics.conf}
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
# the tools' JVM writes logs and perf data: keep them in /tmp (the root filesystem is read-only)
export LOG_DIR=${LOG_DIR:-/tmp/kafka-logs}
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms64m -Xmx256m}

# client properties for SASL and/or TLS
PROPS=$(mktemp "${TMPDIR:-/tmp}/create-topics-client.XXXXXX")
trap 'rm -f "$PROPS"' EXIT
mech=${KAFKA_SASL_MECHANISM:-none}
ssl=${KAFKA_SSL:-false}
case "$mech" in
  none) ;;
  plain) sasl=PLAIN; module=org.apache.kafka.common.security.plain.PlainLoginModule ;;
  scram-sha-256) sasl=SCRAM-SHA-256; module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
  scram-sha-512) sasl=SCRAM-SHA-512; module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
  *) echo "create-topics: KAFKA_SASL_MECHANISM=$mech is not none, plain, scram-sha-256 or scram-sha-512" >&2; exit 2 ;;
esac
if [ "$mech" != none ]; then
  : "${KAFKA_SASL_USERNAME:?KAFKA_SASL_USERNAME must be set with KAFKA_SASL_MECHANISM=$mech}"
  : "${KAFKA_SASL_PASSWORD:?KAFKA_SASL_PASSWORD must be set with KAFKA_SASL_MECHANISM=$mech}"
  if [ "$ssl" = true ] || [ "$ssl" = 1 ]; then proto=SASL_SSL; else proto=SASL_PLAINTEXT; fi
  {
    echo "security.protocol=$proto"
    echo "sasl.mechanism=$sasl"
    printf 'sasl.jaas.config=%s required username="%s" password="%s";\n' "$module" "$KAFKA_SASL_USERNAME" "$KAFKA_SASL_PASSWORD"
  } >>"$PROPS"
elif [ "$ssl" = true ] || [ "$ssl" = 1 ]; then
  echo "security.protocol=SSL" >>"$PROPS"
fi
if [ -n "${KAFKA_SSL_CA_FILE:-}" ]; then
  printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$KAFKA_SSL_CA_FILE" >>"$PROPS"
fi
# mutual TLS: the certificate chain and key inline (a PEM key store file would need an encrypted
# key), each line break written as the properties format's \n escape
pem_value() { awk 'BEGIN { ORS = "\\n" } { sub(/\r$/, ""); print }' "$1"; }
cert=${KAFKA_SSL_CERT_FILE:-}
key=${KAFKA_SSL_KEY_FILE:-}
if [ -n "$cert" ] || [ -n "$key" ]; then
  if [ -z "$cert" ] || [ -z "$key" ]; then
    echo "create-topics: KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (mutual TLS)" >&2
    exit 2
  fi
  if ! grep -q -e '-----BEGIN PRIVATE KEY-----' -e '-----BEGIN ENCRYPTED PRIVATE KEY-----' "$key"; then
    echo "create-topics: $key is not a PKCS#8 PEM key (BEGIN PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY), the only form the Kafka tools read: convert it with openssl pkcs8 -topk8 -nocrypt -in <key>" >&2
    exit 2
  fi
  {
    echo "ssl.keystore.type=PEM"
    printf 'ssl.keystore.certificate.chain=%s\n' "$(pem_value "$cert")"
    printf 'ssl.keystore.key=%s\n' "$(pem_value "$key")"
    if [ -n "${KAFKA_SSL_KEY_PASSWORD:-}" ]; then printf 'ssl.key.password=%s\n' "$KAFKA_SSL_KEY_PASSWORD"; fi
  } >>"$PROPS"
fi

created=0
# (the last line counts too when the file does not end with a line break)
while read -r name partitions configs || [ -n "$name" ]; do
  case "$name" in '' | '#'*) continue ;; esac
  set -- --config "min.insync.replicas=$MIN_ISR"
  for c in $configs; do set -- "$@" --config "$c"; done
  echo "create-topics: $name (partitions $partitions, replication $RF, $configs)"
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$KAFKA_BROKERS" --command-config "$PROPS" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" \
    --replication-factor "$RF" "$@"
  created=$((created + 1))
done <"$TOPICS_FILE"
echo "create-topics: $created topics present"
