#!/usr/bin/env bash
# The Kafka container of compose.yaml (image apache/kafka): the same authenticated single-node KRaft broker as
# scripts/kafka.sh, SASL/SCRAM-SHA-512 for clients and StandardAuthorizer without access where no ACL grants it.
# The principals' passwords come from the environment (FLEXSTREAM_KAFKA_PASSWORD_<NAME>); their SCRAM credentials are
# bootstrapped when the storage is formatted (first start), with `kafka-storage format --add-scram`.
set -euo pipefail
DATA=/var/lib/kafka/data
CONFIG=/tmp/server.properties
password() { local name="FLEXSTREAM_KAFKA_PASSWORD_${1^^}"; echo "${!name:?$name is not set}"; }
ADMIN="$(password admin)"

cat > "$CONFIG" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=CLIENT://:9092,CONTROLLER://localhost:9093
advertised.listeners=CLIENT://kafka:9092
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$ADMIN" user_admin="$ADMIN";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs=$DATA
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

# For the healthcheck: the admin's client settings.
cat > /tmp/client.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN";
PROPS

if [ ! -e "$DATA/meta.properties" ]; then
  scram=()
  for name in admin gateway ingest scheduler stats; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(password "$name")]")
  done
  /opt/kafka/bin/kafka-storage.sh format --standalone -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    -c "$CONFIG" "${scram[@]}" >/dev/null
fi
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
