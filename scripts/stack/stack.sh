#!/usr/bin/env bash
# Local dev stack, without Docker: Apache Kafka 4.x (single node, KRaft) and Apicurio Registry 3.x
# (Confluent-compatible API), both resolved from Maven Central by pom.xml beside this script and
# run as plain Java processes bound to loopback.
#
#   stack.sh up                  install what is missing, start what is not running (restarting a
#                                Kafka started with another config), wait, print env
#   stack.sh down [--purge]      stop both (by recorded pid); --purge also deletes Kafka's data
#   stack.sh status              one line per service; exit 0 if both up, 3 otherwise
#   stack.sh env                 print the environment variables to use
#   stack.sh kafka-stop [--kill] stop Kafka only (SIGTERM, or SIGKILL with --kill)
#   stack.sh kafka-start         start Kafka only and wait for it
#   stack.sh install             only resolve the artifacts (Kafka's classpath, Apicurio) into
#                                STACK_DIR, starting nothing: what the tests' Java tools and their
#                                private stacks need when they run against an existing cluster
#
# Kafka listens on KAFKA_PORT (PLAINTEXT, the default for clients), on KAFKA_SASL_PORT
# (SASL_PLAINTEXT with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, no authorization) and on
# KAFKA_TLS_PORT (SSL with ssl.client.auth=required: mutual TLS). Once Kafka answers, the SCRAM
# user STACK_SCRAM_USER / STACK_SCRAM_PASSWORD is made to exist for both SCRAM mechanisms; PLAIN
# knows the same user and password (statically, in server.properties). The TLS listener's CA,
# its certificate (SAN IP:127.0.0.1, DNS:localhost) and a client certificate that CA signed are
# made once with openssl, in STACK_DIR/tls/: ca.crt (the CA to trust), client.crt and client.key
# (PEM, unencrypted PKCS#8: the client's certificate and key), server.pem (the broker's key,
# encrypted, and certificate chain), ca.key; delete the folder to make new ones.
#
# Environment (optional): STACK_DIR (default <repo>/.stack), KAFKA_PORT (9092),
# KAFKA_CONTROLLER_PORT (9093), KAFKA_SASL_PORT (9094), KAFKA_TLS_PORT (9095), STACK_SCRAM_USER
# (bridge), STACK_SCRAM_PASSWORD (bridge-secret), REGISTRY_PORT (8081), STACK_JAVA (default: java
# on PATH, >= 17), STACK_KAFKA_TIMEOUT (90) and STACK_REGISTRY_TIMEOUT (120): seconds to wait for
# each. Layout of STACK_DIR: kafka-data/ (kept across restarts), kafka/server.properties,
# kafka.classpath, apicurio/ (unpacked app), tls/ (see above), logs/{kafka,apicurio,maven}.log,
# kafka.pid, apicurio.pid, kafka.scram.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
STACK_DIR=${STACK_DIR:-$REPO_ROOT/.stack}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-9094}
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-9095}
SCRAM_USER=${STACK_SCRAM_USER:-bridge}
SCRAM_PASSWORD=${STACK_SCRAM_PASSWORD:-bridge-secret}
REGISTRY_PORT=${REGISTRY_PORT:-8081}
JAVA=${STACK_JAVA:-java}
HOST=127.0.0.1

KAFKA_WAIT_S=${STACK_KAFKA_TIMEOUT:-90}
REGISTRY_WAIT_S=${STACK_REGISTRY_TIMEOUT:-120}
STOP_WAIT_S=20

LOG_DIR=$STACK_DIR/logs
KAFKA_DATA=$STACK_DIR/kafka-data
KAFKA_CONF=$STACK_DIR/kafka/server.properties
CLASSPATH_FILE=$STACK_DIR/kafka.classpath
APICURIO_DIR=$STACK_DIR/apicurio
ARTIFACTS_STAMP=$STACK_DIR/artifacts.sha256
SCRAM_STAMP=$STACK_DIR/kafka.scram
TLS_DIR=$STACK_DIR/tls
# the broker's key is stored encrypted (Kafka's file-based PEM key store requires a key password)
TLS_SERVER_KEY_PASSWORD=stack-tls-key
REGISTRY_URL=http://$HOST:$REGISTRY_PORT/apis/ccompat/v7

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- services
# A service is a name; these functions give its pid file, its log and the string that must be in
# its command line (so that a recycled pid is never taken for ours).
pid_file() { echo "$STACK_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }
marker_of() { if [[ $1 == kafka ]]; then echo "kafka.Kafka"; else echo "stack.service=apicurio"; fi; }

# Prints the recorded pid if that process is alive and is ours; returns 1 otherwise.
live_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # /proc/PID/cmdline is NUL-separated
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(marker_of "$1")" || return 1
  echo "$pid"
}

# Is the process running? A zombie (a child of this script that died, not yet reaped) is not.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # drop "pid (comm) ", comm may contain spaces
  [[ ${stat:0:1} != Z ]]
}

# Is something listening on 127.0.0.1:PORT (or on the wildcard address)?
port_listening() {
  if command -v ss >/dev/null; then
    [[ -n $(ss -ltnH "sport = :$1" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
  fi
}

# Cheap liveness checks, used by status and by the "already up" test.
kafka_answers() {
  local port
  for port in "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_TLS_PORT"; do
    (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null || return 1
  done
}
registry_answers() { curl -fsS -m 3 -o /dev/null "$REGISTRY_URL/subjects" 2>/dev/null; }
answers() { if [[ $1 == kafka ]]; then kafka_answers; else registry_answers; fi; }

# Runs StackProbe.java; its own messages go to stderr, and so does the Kafka client's log, at
# PROBE_LOG_LEVEL.
PROBE_LOG_LEVEL=WARN
stack_probe() { # StackProbe.java arguments...
  "$JAVA" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" -Dstack.log.level="$PROBE_LOG_LEVEL" \
    -Dstack.log.target=SYSTEM_ERR -cp "$(<"$CLASSPATH_FILE")" "$SCRIPT_DIR/StackProbe.java" "$@"
}

# The real Kafka check: produce with acks=all and read metadata back (StackProbe.java).
kafka_probe() { stack_probe probe "$HOST:$KAFKA_PORT"; }

# What kafka.scram holds once the SCRAM user is known to log in on this Kafka process: so "up" on a
# running stack need not start a JVM to check it again (SCRAM credentials live in the metadata log,
# which survives restarts; only a new process, or other credentials, calls for a new check).
scram_stamp() { # kafka pid
  printf '%s %s %s\n' "$1" "$KAFKA_SASL_PORT" "$(printf '%s\0%s' "$SCRAM_USER" "$SCRAM_PASSWORD" | sha256sum | cut -d' ' -f1)"
}
scram_user_checked() {
  local pid
  pid=$(live_pid kafka) && [[ -f $SCRAM_STAMP && $(<"$SCRAM_STAMP") == "$(scram_stamp "$pid")" ]]
}

# Makes the SCRAM user log in with both mechanisms (StackProbe.java scram-user: idempotent, upserts
# only a missing or different credential through the Admin API).
ensure_scram_user() {
  local pid out
  rm -f "$SCRAM_STAMP"
  pid=$(live_pid kafka) || die "kafka is not running"
  # the client logs the expected refusal of a missing credential as an ERROR: not worth showing
  out=$(PROBE_LOG_LEVEL=OFF stack_probe scram-user "$HOST:$KAFKA_PORT" "$HOST:$KAFKA_SASL_PORT" "$SCRAM_USER" "$SCRAM_PASSWORD" 2>"$STACK_DIR/probe.err") ||
    { cat "$STACK_DIR/probe.err" >&2; die "could not set up the SCRAM user $SCRAM_USER on $HOST:$KAFKA_SASL_PORT"; }
  say "$out"
  scram_stamp "$pid" >"$SCRAM_STAMP"
}

# ---------------------------------------------------------------- prerequisites and install
check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (need Java 17+ on PATH, or set STACK_JAVA)"
  local v
  v=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 17)); then
    die "$JAVA is Java '${v:-unknown}'; Java 17 or newer is needed"
  fi
  # the probe is launched from source, which needs a JDK (jdk.compiler), not just a JRE
  "$JAVA" --list-modules 2>/dev/null | grep -q '^jdk.compiler@' ||
    die "$JAVA is a JRE without jdk.compiler; install a Java 17+ JDK (e.g. openjdk-17-jdk-headless)"
}

check_tools() {
  command -v curl >/dev/null || die "curl not found (needed to check the registry)"
  check_java
}

# The ports must differ (a typo in an override would otherwise show up as an obscure bind error).
check_ports_distinct() {
  local ports=("$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_PORT" "$KAFKA_TLS_PORT" "$REGISTRY_PORT")
  if [[ $(printf '%s\n' "${ports[@]}" | sort -u | wc -l) != "${#ports[@]}" ]]; then
    die "KAFKA_PORT ($KAFKA_PORT), KAFKA_CONTROLLER_PORT ($KAFKA_CONTROLLER_PORT), KAFKA_SASL_PORT ($KAFKA_SASL_PORT), KAFKA_TLS_PORT ($KAFKA_TLS_PORT) and REGISTRY_PORT ($REGISTRY_PORT) must differ"
  fi
}

# The PLAIN user is written into server.properties (JAAS syntax, a quoted string).
check_credentials() {
  if [[ $SCRAM_USER =~ [[:space:]\"\\=] || $SCRAM_PASSWORD =~ [[:space:]\"\\] || -z $SCRAM_USER || -z $SCRAM_PASSWORD ]]; then
    die "STACK_SCRAM_USER and STACK_SCRAM_PASSWORD must be non-empty, without blanks, quotes or backslashes (and no '=' in the user)"
  fi
}

# Fails if a port we need is taken by a process that is not the recorded one.
check_port_free() { # service port
  if port_listening "$2"; then
    local who
    who=$(ss -ltnpH "sport = :$2" 2>/dev/null | grep -o 'users:.*' | head -1 || true)
    die "port $2 (needed by $1) is already in use by another process ${who:-(unknown)}; stop it or set ${3:-the port variable}"
  fi
}

# Runs Maven when the stamp (hash of pom.xml and stub-repo/) changed or an output is missing.
ensure_artifacts() {
  local hash
  hash=$(cat "$SCRIPT_DIR/pom.xml" "$SCRIPT_DIR"/stub-repo/io/apicurio/*/*/*.pom | sha256sum | cut -d' ' -f1)
  if [[ -f $ARTIFACTS_STAMP && $(<"$ARTIFACTS_STAMP") == "$hash" && -s $CLASSPATH_FILE ]] &&
    apicurio_jar >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed once, to fetch Kafka and Apicurio from Maven Central)"
  say "resolving Kafka and Apicurio Registry with Maven (first run downloads ~170 MB into ~/.m2) ..."
  mkdir -p "$LOG_DIR"
  rm -f "$ARTIFACTS_STAMP"
  rm -rf "$APICURIO_DIR/markers" # makes dependency:unpack unpack again
  # drop other unpacked versions, unless a registry still runs from one
  if ! live_pid apicurio >/dev/null; then
    find "$APICURIO_DIR" -mindepth 1 -maxdepth 1 -type d ! -name "$(apicurio_version)" -exec rm -rf {} + 2>/dev/null || true
  fi
  if ! mvn -q -B -f "$SCRIPT_DIR/pom.xml" -Dstack.dir="$STACK_DIR" \
    dependency:build-classpath -Dmdep.outputFile="$CLASSPATH_FILE" \
    dependency:unpack >"$LOG_DIR/maven.log" 2>&1; then
    tail -n 30 "$LOG_DIR/maven.log" >&2
    die "Maven could not resolve the stack (full log: $LOG_DIR/maven.log)"
  fi
  apicurio_jar >/dev/null || die "no quarkus-run.jar or *-runner.jar found under $APICURIO_DIR after unpacking"
  echo "$hash" >"$ARTIFACTS_STAMP"
}

apicurio_version() { sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$SCRIPT_DIR/pom.xml"; }

# The Apicurio launcher jar: quarkus-run.jar (fast-jar) or *-runner.jar (legacy-jar, as in 3.0.x).
apicurio_jar() {
  local jar
  jar=$(find "$APICURIO_DIR/$(apicurio_version)" -maxdepth 2 -type f \( -name quarkus-run.jar -o -name '*-runner.jar' \) 2>/dev/null | head -1)
  [[ -n $jar ]] && echo "$jar"
}

# The TLS listener's CA, server and client certificates (see the header), made once with openssl in a
# scratch folder that then becomes TLS_DIR (so that a failure leaves no half-made set).
TLS_FILES=(ca.crt ca.key server.crt server.pem client.crt client.key)
ensure_tls_material() {
  local f tmp
  for f in "${TLS_FILES[@]}"; do [[ -s $TLS_DIR/$f ]] || break; done
  [[ -s $TLS_DIR/$f ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed once, to make the TLS listener's certificates in $TLS_DIR)"
  say "making a CA, a server and a client certificate in $TLS_DIR"
  mkdir -p "$LOG_DIR"
  tmp=$(mktemp -d "$STACK_DIR/tls.new.XXXXXX")
  # errexit does not apply inside the tested subshell: each step says `|| exit`
  if ! (
    cd "$tmp" || exit
    umask 077
    cat >openssl.cnf <<'CNF' || exit
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
    openssl req -x509 -config openssl.cnf -extensions ca -newkey rsa:2048 -nodes -days 3650 \
      -subj "/CN=tim-kafka-bridge local stack CA" -keyout ca.key -out ca.crt || exit
    for who in server client; do
      openssl req -new -config openssl.cnf -newkey rsa:2048 -nodes \
        -subj "/CN=tim-kafka-bridge local stack $who" -keyout "$who.key" -out "$who.csr" || exit
      openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile openssl.cnf -extensions "$who" -out "$who.crt" || exit
    done
    # Kafka reads an encrypted PKCS#8 key with a PBES1 scheme (openssl's default, PBES2, it may not)
    openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in server.key -passout "pass:$TLS_SERVER_KEY_PASSWORD" \
      -out server.enc.key || exit
    cat server.enc.key server.crt ca.crt >server.pem || exit
    rm -f server.key server.enc.key ./*.csr ca.srl openssl.cnf
    openssl verify -CAfile ca.crt server.crt client.crt
  ) >"$LOG_DIR/tls.log" 2>&1; then
    cat "$LOG_DIR/tls.log" >&2
    rm -rf "$tmp"
    die "could not make the TLS certificates (log: $LOG_DIR/tls.log)"
  fi
  chmod 755 "$tmp" && chmod 644 "$tmp"/*.crt # the keys stay 600
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

# Names the TLS material in server.properties, so that new certificates make the config outdated.
tls_fingerprint() { cat "$TLS_DIR/ca.crt" "$TLS_DIR/server.pem" 2>/dev/null | sha256sum | cut -c1-16 || true; }

# ---------------------------------------------------------------- start
kafka_config() {
  cat <<EOF
# Written by scripts/stack/stack.sh at every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_PLAINTEXT://$HOST:$KAFKA_SASL_PORT,SSL://$HOST:$KAFKA_TLS_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_PLAINTEXT://$HOST:$KAFKA_SASL_PORT,SSL://$HOST:$KAFKA_TLS_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
# SASL_PLAINTEXT: SCRAM, credentials in the metadata log (stack.sh upserts its user after start),
# and PLAIN, the same user and password here; no authorizer, so an authenticated user (like an
# anonymous PLAINTEXT client) may do anything
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SCRAM_USER="$SCRAM_PASSWORD";
# SSL: mutual TLS, PEM files made by stack.sh in $TLS_DIR (material $(tls_fingerprint))
listener.name.ssl.ssl.client.auth=required
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$TLS_DIR/server.pem
listener.name.ssl.ssl.key.password=$TLS_SERVER_KEY_PASSWORD
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$TLS_DIR/ca.crt
log.dirs=$KAFKA_DATA
num.partitions=1
auto.create.topics.enable=true
# a single node: every internal topic has one replica, and few partitions (quick first group join)
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# After a SIGKILL the controller keeps the dead broker's registration until its session expires
# (default 9 s), refusing the restarted broker (DUPLICATE_BROKER_REGISTRATION) meanwhile: a
# shorter session makes kafka-stop --kill + kafka-start take ~6 s instead of ~16 s. The heartbeat
# never leaves the process (broker and controller are one JVM), so 5 s is still a wide margin.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000
EOF
}

write_kafka_config() {
  mkdir -p "$(dirname "$KAFKA_CONF")"
  kafka_config >"$KAFKA_CONF"
}

# Does the running Kafka use the config this script would write now? (It was started from KAFKA_CONF.)
kafka_config_current() { [[ -f $KAFKA_CONF ]] && cmp -s "$KAFKA_CONF" <(kafka_config); }

# A Kafka started by an older stack.sh, or with other ports, lacks listeners we promise: restart it.
restart_kafka_if_outdated() {
  if live_pid kafka >/dev/null && ! kafka_config_current; then
    say "kafka runs with an outdated config (e.g. no TLS listener on $KAFKA_TLS_PORT, or other certificates): restarting it"
    stop_service kafka TERM
  fi
}

check_kafka_ports_free() {
  check_port_free kafka "$KAFKA_PORT" KAFKA_PORT
  check_port_free kafka "$KAFKA_CONTROLLER_PORT" KAFKA_CONTROLLER_PORT
  check_port_free kafka "$KAFKA_SASL_PORT" KAFKA_SASL_PORT
  check_port_free kafka "$KAFKA_TLS_PORT" KAFKA_TLS_PORT
}

# Formats the data dir once (KRaft needs it); meta.properties marks a formatted dir.
format_kafka_storage() {
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  local cp cluster_id
  cp=$(<"$CLASSPATH_FILE")
  cluster_id=$("$JAVA" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" -Dstack.log.level=WARN \
    -Dstack.log.target=SYSTEM_ERR -cp "$cp" kafka.tools.StorageTool random-uuid)
  say "formatting $KAFKA_DATA (cluster id $cluster_id)"
  "$JAVA" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" -Dstack.log.level=WARN \
    -Dstack.log.target=SYSTEM_ERR -cp "$cp" kafka.tools.StorageTool format \
    --cluster-id "$cluster_id" --config "$KAFKA_CONF" --ignore-formatted >"$LOG_DIR/kafka-format.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/kafka-format.log" >&2; die "kafka storage format failed"; }
}

# Starts a service in the background, in its own session (so that Ctrl-C in the terminal or a test
# runner killing its process group does not take the stack down), and records its pid.
launch() { # service workdir command...
  local svc=$1 dir=$2 log
  shift 2
  log=$(log_file "$svc")
  [[ -f $log ]] && mv -f "$log" "$log.1" # keep one previous log
  # setsid does not fork here (a background child of a script is no group leader), so $! is java's pid
  # 9>&-: the service must not inherit (and so hold) the lock taken by take_lock
  (cd "$dir" && exec setsid "$@" >"$log" 2>&1 </dev/null 9>&-) &
  echo $! >"$(pid_file "$svc")"
}

start_kafka() {
  write_kafka_config
  mkdir -p "$KAFKA_DATA"
  format_kafka_storage
  launch kafka "$STACK_DIR" "$JAVA" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.xml" \
    -cp "$(<"$CLASSPATH_FILE")" kafka.Kafka "$KAFKA_CONF"
}

start_registry() {
  local jar
  jar=$(apicurio_jar)
  # -Dstack.service=apicurio only tags the command line (see marker_of). Storage: the default of
  # Apicurio 3.x, SQL on an in-memory H2 database, stated here so that it is explicit.
  launch apicurio "$(dirname "$jar")" "$JAVA" -Xmx384m -Dstack.service=apicurio \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -jar "$jar"
}

# Waits until the service answers, within its time budget; on failure shows its log, stops what we
# started and fails. Kafka must pass the full produce/metadata probe.
wait_ready() { # service
  local svc=$1 budget deadline pid
  if [[ $svc == kafka ]]; then budget=$KAFKA_WAIT_S; else budget=$REGISTRY_WAIT_S; fi
  deadline=$((SECONDS + budget))
  while ((SECONDS < deadline)); do
    if ! pid=$(live_pid "$svc"); then
      tail -n 30 "$(log_file "$svc")" >&2 || true
      rm -f "$(pid_file "$svc")"
      die "$svc exited during start-up (log: $(log_file "$svc"))"
    fi
    if [[ $svc == kafka ]]; then
      if kafka_answers && kafka_probe >/dev/null 2>"$STACK_DIR/probe.err"; then return 0; fi
    elif registry_answers; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$(log_file "$svc")" >&2 || true
  [[ $svc == kafka && -s $STACK_DIR/probe.err ]] && cat "$STACK_DIR/probe.err" >&2
  stop_service "$svc" TERM
  die "$svc did not answer within ${budget}s (log: $(log_file "$svc"))"
}

# Starts the service unless our recorded process is alive (possibly still starting). Clears a stale
# pid file; fails if the port is taken by another process.
start_if_needed() { # service
  local svc=$1
  live_pid "$svc" >/dev/null && return 0
  rm -f "$(pid_file "$svc")"
  if [[ $svc == kafka ]]; then
    check_kafka_ports_free
    say "starting kafka ..."
    start_kafka
  else
    check_port_free registry "$REGISTRY_PORT" REGISTRY_PORT
    say "starting apicurio ..."
    start_registry
  fi
}

await() { # service
  local t0=$SECONDS
  wait_ready "$1"
  say "$1 answering after $((SECONDS - t0))s (pid $(live_pid "$1"), log $(log_file "$1"))"
  if [[ $1 == kafka ]]; then ensure_scram_user; fi
}

# ---------------------------------------------------------------- stop
stop_service() { # service TERM|KILL
  local svc=$1 sig=$2 pid deadline
  if ! pid=$(live_pid "$svc"); then
    [[ -f $(pid_file "$svc") ]] && say "$svc: stale pid file removed"
    rm -f "$(pid_file "$svc")"
    return 0
  fi
  say "stopping $svc (pid $pid, SIG$sig)"
  kill -"$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_WAIT_S))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid"; then
    say "$svc did not stop within ${STOP_WAIT_S}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  rm -f "$(pid_file "$svc")"
}

# ---------------------------------------------------------------- commands
# Serializes the commands that start or stop things (e.g. test workers each running `up`).
take_lock() {
  mkdir -p "$STACK_DIR" "$LOG_DIR"
  exec 9>"$STACK_DIR/.lock"
  if command -v flock >/dev/null; then
    flock -w 300 9 || die "another stack.sh is still running (lock $STACK_DIR/.lock)"
  fi
}

print_env() {
  echo "KAFKA_BROKERS=$HOST:$KAFKA_PORT"
  echo "SCHEMA_REGISTRY_URL=$REGISTRY_URL"
  echo "# SCRAM: KAFKA_BROKERS=$HOST:$KAFKA_SASL_PORT KAFKA_SASL_MECHANISM=scram-sha-256 KAFKA_SASL_USERNAME=$SCRAM_USER KAFKA_SASL_PASSWORD=$SCRAM_PASSWORD"
  echo "# PLAIN: KAFKA_BROKERS=$HOST:$KAFKA_SASL_PORT KAFKA_SASL_MECHANISM=plain KAFKA_SASL_USERNAME=$SCRAM_USER KAFKA_SASL_PASSWORD=$SCRAM_PASSWORD"
  echo "# TLS: KAFKA_BROKERS=$HOST:$KAFKA_TLS_PORT KAFKA_SSL=true KAFKA_SSL_CA_FILE=$TLS_DIR/ca.crt KAFKA_SSL_CERT_FILE=$TLS_DIR/client.crt KAFKA_SSL_KEY_FILE=$TLS_DIR/client.key"
}

service_up() { live_pid "$1" >/dev/null && answers "$1"; }

cmd_up() {
  take_lock
  check_tools
  check_ports_distinct
  check_credentials
  ensure_tls_material
  if service_up kafka && service_up apicurio && kafka_config_current && scram_user_checked &&
    kafka_probe >/dev/null 2>&1; then
    echo "stack already up"
    print_env
    return 0
  fi
  ensure_artifacts
  restart_kafka_if_outdated
  # fail fast on a taken port before starting anything
  live_pid kafka >/dev/null || check_kafka_ports_free
  live_pid apicurio >/dev/null || check_port_free registry "$REGISTRY_PORT" REGISTRY_PORT
  # both start at once (they do not depend on each other), then we wait for each
  start_if_needed kafka
  start_if_needed apicurio
  await kafka
  await apicurio
  echo "stack up"
  print_env
}

cmd_down() {
  take_lock
  stop_service apicurio TERM
  stop_service kafka TERM
  if [[ ${1:-} == --purge ]]; then
    say "deleting $KAFKA_DATA"
    rm -rf "$KAFKA_DATA"
  fi
  echo "stack down"
}

cmd_status() {
  local rc=0 svc pid state
  for svc in kafka apicurio; do
    if pid=$(live_pid "$svc"); then
      if answers "$svc"; then state="up (pid $pid, answering)"; else state="starting or unhealthy (pid $pid, not answering)"; rc=3; fi
    elif [[ -f $(pid_file "$svc") ]]; then
      state="down (stale pid file $(pid_file "$svc"))"
      rc=3
    else
      state="down"
      rc=3
    fi
    printf '%-9s %s\n' "$svc:" "$state"
  done
  return "$rc"
}

cmd_kafka_stop() {
  take_lock
  if [[ ${1:-} == --kill ]]; then stop_service kafka KILL; else stop_service kafka TERM; fi
}

cmd_kafka_start() {
  take_lock
  check_tools
  check_ports_distinct
  check_credentials
  ensure_tls_material
  ensure_artifacts
  restart_kafka_if_outdated
  start_if_needed kafka
  await kafka
}

cmd_install() {
  take_lock
  check_tools
  ensure_artifacts
  echo "stack artifacts installed in $STACK_DIR"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit 2
}

case "${1:-} ${2:-}" in
  "up ") cmd_up ;;
  "down " | "down --purge") cmd_down "${2:-}" ;;
  "status ") cmd_status ;;
  "env ") print_env ;;
  "kafka-stop " | "kafka-stop --kill") cmd_kafka_stop "${2:-}" ;;
  "kafka-start ") cmd_kafka_start ;;
  "install ") cmd_install ;;
  *) usage ;;
esac
