#!/usr/bin/env bash
# Run a real Apache Kafka broker (single-node KRaft) on 127.0.0.1:${FLEXSTREAM_KAFKA_PORT:-9092}.
#
#   scripts/kafka.sh start    resolve the broker from Maven Central (once), format storage (once), start, wait
#   scripts/kafka.sh stop     stop the broker started by `start` (by the PID in its pid file)
#   scripts/kafka.sh status   exit 0 when the broker process runs
#
# The release is pinned by KAFKA_VERSION below; the jars are cached under $FLEXSTREAM_CACHE/kafka-<version>.
# Nothing here runs when FLEXSTREAM_KAFKA_BOOTSTRAP is set: the Makefile skips this script then.
set -euo pipefail

KAFKA_VERSION="${FLEXSTREAM_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="2.24.3"
SLF4J_VERSION="2.0.16"
CACHE="${FLEXSTREAM_CACHE:-$HOME/.cache/flexstream}"
PORT="${FLEXSTREAM_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FLEXSTREAM_KAFKA_CONTROLLER_PORT:-9093}"
DIST="$CACHE/kafka-$KAFKA_VERSION"
STATE="$CACHE/state"; mkdir -p "$STATE"
DATA="$STATE/kafka-$PORT-data"
PIDFILE="$STATE/kafka-$PORT.pid"
LOG="$STATE/kafka-$PORT.log"

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
  java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIST/log4j2.properties" -cp "$DIST/libs/*" "$@"
}

configure() {
  mkdir -p "$DATA"
  cat > "$STATE/kafka-$PORT.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
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
  if [ ! -e "$DATA/meta.properties" ]; then
    say "formatting KRaft storage in $DATA (once)"
    java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$STATE/kafka-$PORT.properties" --standalone >"$STATE/kafka-format.log" 2>&1 \
    || java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$STATE/kafka-$PORT.properties" >"$STATE/kafka-format.log" 2>&1 \
    || { say "format failed, see $STATE/kafka-format.log"; tail -20 "$STATE/kafka-format.log" >&2; exit 1; }
  fi
}

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# A metadata request answered by the broker (not just an open port) means it is ready.
ready() {
  java_cmd org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "127.0.0.1:$PORT" >/dev/null 2>&1 \
    || python3 - "$PORT" <<'PY'
import socket, struct, sys
# Metadata v0 request for all topics; any well-formed reply with our correlation id means ready.
port = int(sys.argv[1]); cid = 4242
client = b"flexstream-probe"
body = struct.pack(">hhih", 3, 1, cid, len(client)) + client + struct.pack(">i", 0)
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
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIST/log4j2.properties" -cp "$DIST/libs/*" \
    kafka.Kafka "$STATE/kafka-$PORT.properties" >"$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$KAFKA_VERSION" > "$STATE/kafka-$PORT.release"
  for _ in $(seq 1 120); do
    running || { say "broker exited during start-up:"; tail -30 "$LOG" >&2; exit 1; }
    if ready; then say "ready: 127.0.0.1:$PORT (Apache Kafka $KAFKA_VERSION)"; return; fi
    sleep 1
  done
  say "broker did not answer a metadata request within 120 s; log: $LOG"; exit 1
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
  version) if running && [ -s "$STATE/kafka-$PORT.release" ]; then cat "$STATE/kafka-$PORT.release"; else echo "$KAFKA_VERSION"; fi ;;
  *) echo "usage: $0 start|stop|status|version" >&2; exit 2 ;;
esac
