#!/usr/bin/env bash
# Run a real Apache Kafka broker (single-node KRaft) on 127.0.0.1:${FLEXSTREAM_KAFKA_PORT:-9092}.
#
#   scripts/kafka.sh start    resolve the broker from Maven Central (once), format storage (once), start, wait
#   scripts/kafka.sh stop     stop the broker started by `start` (by the PID in its pid file)
#   scripts/kafka.sh status   exit 0 when the broker process runs
#
# Security (FLEXSTREAM_KAFKA_SECURITY, default `sasl`): clients authenticate with SASL/SCRAM-SHA-512 on
# 127.0.0.1:$PORT and StandardAuthorizer allows only what an ACL grants (allow.everyone.if.no.acl.found=false).
# The principals admin (super user), gateway, ingest, scheduler and stats get random passwords when the storage is
# formatted (`kafka-storage format --add-scram` bootstraps their SCRAM credentials); they are kept in
# $STATE/kafka-$PORT.credentials ("name password" lines, mode 600). The controller listener uses SASL/PLAIN
# (SCRAM cannot authenticate controllers) for admin alone. FLEXSTREAM_KAFKA_SECURITY=none runs a plain broker.
#
# The release is pinned by KAFKA_VERSION below; the jars are cached under $FLEXSTREAM_CACHE/kafka-<version>, the
# broker's state (data, logs, credentials) under $FLEXSTREAM_KAFKA_STATE (default $FLEXSTREAM_CACHE/state).
# Nothing here runs when FLEXSTREAM_KAFKA_BOOTSTRAP is set: the Makefile skips this script then.
#
# The JVM compiles with C1 alone (FLEXSTREAM_KAFKA_JAVA_OPTS, default -XX:TieredStopAtLevel=1): this broker lives
# for a test run, a benchmark or a demo on a machine of two cores, where C2's compiler thread kept taking about as
# much CPU as the broker's request handlers (docs/operations.md). Set it empty for the JVM's default tiered
# compilation, the better choice for a broker that runs for days.
set -euo pipefail

KAFKA_VERSION="${FLEXSTREAM_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="2.24.3"
SLF4J_VERSION="2.0.16"
CACHE="${FLEXSTREAM_CACHE:-$HOME/.cache/flexstream}"
PORT="${FLEXSTREAM_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FLEXSTREAM_KAFKA_CONTROLLER_PORT:-9093}"
DIST="$CACHE/kafka-$KAFKA_VERSION"
STATE="${FLEXSTREAM_KAFKA_STATE:-$CACHE/state}"; mkdir -p "$STATE"  # a test may keep a broker of its own elsewhere
DATA="$STATE/kafka-$PORT-data"
PIDFILE="$STATE/kafka-$PORT.pid"
LOG="$STATE/kafka-$PORT.log"
CREDENTIALS="$STATE/kafka-$PORT.credentials"
CLIENT_CONFIG="$STATE/kafka-$PORT.client.properties"
SECURITY="${FLEXSTREAM_KAFKA_SECURITY:-sasl}"
read -r -a JAVA_OPTS <<< "${FLEXSTREAM_KAFKA_JAVA_OPTS--XX:TieredStopAtLevel=1}"
PRINCIPALS=(admin gateway ingest scheduler stats)

say() { echo "[kafka] $*" >&2; }

resolve() {
  local pom; pom="$(pom_xml)"
  [ -e "$DIST/.ready" ] && [ "$(cat "$DIST/pom.xml" 2>/dev/null)" = "$pom" ] && return
  say "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central (once)"
  rm -rf "$DIST/libs" "$DIST/.ready"; mkdir -p "$DIST"
  printf '%s\n' "$pom" > "$DIST/pom.xml"
  (cd "$DIST" && mvn -B -q dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime) >"$STATE/kafka-resolve.log" 2>&1 \
    || { say "Maven resolution failed, see $STATE/kafka-resolve.log"; tail -20 "$STATE/kafka-resolve.log" >&2; exit 1; }
  write_log_config
  touch "$DIST/.ready"
}

pom_xml() {
  cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>flexstream</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-1.2-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
}

write_log_config() {
  cat > "$DIST/log4j2.properties" <<'PROPS'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.BrokerServer
logger.server.level = INFO
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
PROPS
}

java_cmd() {
  java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true ${JAVA_OPTS[@]+"${JAVA_OPTS[@]}"} \
    -Dlog4j2.configurationFile="$DIST/log4j2.properties" -cp "$DIST/libs/*" "$@"
}

password_of() { awk -v n="$1" '$1 == n { print $2 }' "$CREDENTIALS"; }

new_credentials() {
  (umask 077; : > "$CREDENTIALS.tmp"
   for name in "${PRINCIPALS[@]}"; do
     echo "$name $(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" >> "$CREDENTIALS.tmp"
   done)
  mv "$CREDENTIALS.tmp" "$CREDENTIALS"
}

listener_properties() {
  if [ "$SECURITY" = none ]; then
    cat <<PROPS
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
    return
  fi
  local admin; admin="$(password_of admin)"
  cat <<PROPS
listeners=CLIENT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=CLIENT://127.0.0.1:$PORT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
PROPS
}

broker_properties() {
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
PROPS
  listener_properties
  cat <<PROPS
log.dirs=$DATA
num.partitions=${FLEXSTREAM_KAFKA_PARTITIONS:-4}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
}

configure() {
  mkdir -p "$DATA"
  if [ "$SECURITY" != none ] && [ -e "$DATA/meta.properties" ] && [ ! -s "$CREDENTIALS" ]; then add_scram_credentials; fi
  if [ "$SECURITY" != none ] && [ ! -e "$DATA/meta.properties" ]; then new_credentials; fi
  (umask 077; broker_properties > "$STATE/kafka-$PORT.properties")
  rm -f "$CLIENT_CONFIG"  # written again below for an authenticated broker (the credentials file is kept)
  if [ "$SECURITY" != none ]; then
    (umask 077; cat > "$CLIENT_CONFIG" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(password_of admin)";
PROPS
    )
  fi
  if [ ! -e "$DATA/meta.properties" ]; then
    say "formatting KRaft storage in $DATA (once)"
    local scram=()
    if [ "$SECURITY" != none ]; then
      for name in "${PRINCIPALS[@]}"; do
        scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(password_of "$name")]")
      done
    fi
    java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$STATE/kafka-$PORT.properties" --standalone "${scram[@]}" >"$STATE/kafka-$PORT-format.log" 2>&1 \
    || java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$STATE/kafka-$PORT.properties" "${scram[@]}" >"$STATE/kafka-$PORT-format.log" 2>&1 \
    || { say "format failed, see $STATE/kafka-$PORT-format.log"; tail -20 "$STATE/kafka-$PORT-format.log" >&2; exit 1; }
    chmod 600 "$STATE/kafka-$PORT-format.log"  # it lists the SCRAM records (salted keys)
  fi
}

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# Storage formatted without authentication (by FLEXSTREAM_KAFKA_SECURITY=none, or by an earlier version of this
# script) keeps its topics and offsets: the broker runs once more without authentication, the principals' SCRAM
# credentials are added through it, and it stops. The credentials file appears only when all of them are in.
add_scram_credentials() {
  say "$DATA was formatted without SCRAM credentials: adding them (once; its topics and offsets are kept)"
  if running; then say "a broker runs on this port already (pid $(cat "$PIDFILE")): stop it first"; exit 1; fi
  local final="$CREDENTIALS" plain="$STATE/kafka-$PORT.no-auth.properties" name
  CREDENTIALS="$CREDENTIALS.adding"; new_credentials
  (umask 077; SECURITY=none broker_properties > "$plain")
  rm -f "$CLIENT_CONFIG"
  launch "$plain"
  for name in "${PRINCIPALS[@]}"; do
    java_cmd org.apache.kafka.tools.ConfigCommand --bootstrap-server "127.0.0.1:$PORT" --alter --entity-type users \
      --entity-name "$name" --add-config "SCRAM-SHA-512=[password=$(password_of "$name")]" >>"$LOG.scram" 2>&1 \
      || { say "adding the SCRAM credential of $name failed, see $LOG.scram"; stop; exit 1; }
  done
  stop
  rm -f "$plain" "$LOG.scram"
  mv "$CREDENTIALS" "$final"; CREDENTIALS="$final"
}

# Start the broker with the given properties and wait until it answers a metadata request.
launch() {
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true ${JAVA_OPTS[@]+"${JAVA_OPTS[@]}"} \
    -Dlog4j2.configurationFile="$DIST/log4j2.properties" -cp "$DIST/libs/*" \
    kafka.Kafka "$1" >"$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 120); do
    running || { say "broker exited during start-up:"; tail -30 "$LOG" >&2; exit 1; }
    if ready; then return; fi
    sleep 1
  done
  say "broker did not answer a metadata request within 120 s; log: $LOG"; exit 1
}

# A metadata request answered by the broker (not just an open port) means it is ready.
ready() {
  local config=()
  [ -s "$CLIENT_CONFIG" ] && config=(--command-config "$CLIENT_CONFIG")
  java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$PORT" "${config[@]}" \
    >/dev/null 2>&1 \
    || python3 - "$PORT" <<'PY'
import socket, struct, sys
# ApiVersions v0 (answered before authentication too); a reply with our correlation id means ready.
port = int(sys.argv[1]); cid = 4242
client = b"flexstream-probe"
body = struct.pack(">hhih", 18, 0, cid, len(client)) + client
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", s.recv(4))[0]
    data = s.recv(size)
    sys.exit(0 if struct.unpack(">i", data[:4])[0] == cid else 1)
except OSError:
    sys.exit(1)
PY
}

start() {
  resolve
  configure
  if running; then say "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"; return; fi
  say "starting Apache Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$PORT"
  echo "$KAFKA_VERSION" > "$STATE/kafka-$PORT.release"
  launch "$STATE/kafka-$PORT.properties"
  say "ready: 127.0.0.1:$PORT (Apache Kafka $KAFKA_VERSION)"
}

stop() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"; say "stopping (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$PIDFILE"
  else say "not running"; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  # the credentials file, when the broker on this port is configured to authenticate
  credentials) grep -q '^allow.everyone.if.no.acl.found=false' "$STATE/kafka-$PORT.properties" 2>/dev/null \
    && [ -s "$CREDENTIALS" ] && echo "$CREDENTIALS" ;;
  version) if running && [ -s "$STATE/kafka-$PORT.release" ]; then cat "$STATE/kafka-$PORT.release"; else echo "$KAFKA_VERSION"; fi ;;
  *) echo "usage: $0 start|stop|status|version|credentials" >&2; exit 2 ;;
esac
