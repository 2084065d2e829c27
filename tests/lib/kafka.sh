# tests/lib/kafka.sh - a real Apache Kafka broker (single node, KRaft) for
# integration scenarios.  Source it; it needs bash, java 17, maven, kcat.
#
#   kafka_fetch                 jars from Maven Central into $KAFKA_CACHE
#                               (once; reused across runs)
#   kafka_start DIR [PORT]      broker in DIR on 127.0.0.1:PORT (controller
#                               PORT+1); sets KAFKA_BOOTSTRAP, KAFKA_PID
#   kafka_stop DIR              SIGTERM by PID, waits (KILL after 20 s)
#   kafka_kill DIR              SIGKILL by PID (crash tests)
#   kafka_create_topic TOPIC [PARTITIONS]
#
# Standalone: it defines minimal fail/track_pid/alloc_port only when the
# caller (tests/lib/common.sh) has not.  Variables: T (scenario temp dir),
# ROOT, CRM_CACHE, KAFKA_VERSION.
: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${KAFKA_VERSION:=4.1.1}"
: "${KAFKA_CACHE:=${CRM_CACHE:-$ROOT/.cache}/kafka-$KAFKA_VERSION}"
KAFKA_LOG4J_VERSION=2.24.3

if ! declare -F fail >/dev/null; then
	fail() { echo "FAIL: $*" >&2; exit 1; }
fi
if ! declare -F track_pid >/dev/null; then
	_KAFKA_PIDS=()
	track_pid() { _KAFKA_PIDS+=("$1"); }
fi
if ! declare -F alloc_port >/dev/null; then
	# A free TCP port in 26000-26999 whose neighbour (the controller)
	# is free too.
	alloc_port() {
		local p i
		for i in $(seq 1 200); do
			p=$((26000 + (RANDOM % 499) * 2))
			if ! ss -Htln "sport = :$p or sport = :$((p + 1))" |
			    grep -q .; then
				echo "$p"; return 0
			fi
		done
		fail "no free port in 26000-26999"
	}
fi

# Kafka 4 logs through slf4j 1.7, so the binding is log4j-slf4j-impl (the
# slf4j 1.x one); with log4j-slf4j2-impl the broker logs nothing at all.
kafka_fetch() {
	[ -f "$KAFKA_CACHE/libs/kafka_2.13-$KAFKA_VERSION.jar" ] && return 0
	command -v mvn >/dev/null || return 77
	mkdir -p "$KAFKA_CACHE"
	cat >"$KAFKA_CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>crm-proxy.tests</groupId><artifactId>kafka-jars</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>$KAFKA_LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
	# jansi.noreset: Maven 3.8 writes colour resets even with -B
	MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" \
	    mvn -q -B -f "$KAFKA_CACHE/pom.xml" dependency:copy-dependencies \
	    -DoutputDirectory="$KAFKA_CACHE/libs.tmp" >&2 || return 1
	rm -rf "$KAFKA_CACHE/libs"
	mv "$KAFKA_CACHE/libs.tmp" "$KAFKA_CACHE/libs"
}

# Exit status 77 (skip) when the tools are missing; under CI=true the
# runner turns that into a failure.
kafka_require() {
	local t
	for t in java mvn kcat ss; do
		command -v "$t" >/dev/null || {
			echo "skip: $t not installed (packaging/deps.sh test)"
			exit 77
		}
	done
	kafka_fetch || { [ $? = 77 ] && exit 77; fail "fetching Kafka jars"; }
}

_kafka_java() { # DIR args...
	local d="$1"; shift
	java -Dlog4j2.configurationFile="$d/log4j2.properties" \
	    -cp "$KAFKA_CACHE/libs/*" "$@"
}

kafka_start() { # DIR [PORT]
	local d="$1" port="${2:-}" i
	[ -n "$port" ] || port="$(alloc_port)"
	mkdir -p "$d/data"
	d="$(cd "$d" && pwd)"
	if [ ! -f "$d/server.properties" ]; then
		cat >"$d/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$((port + 1))
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=70000000
replica.fetch.max.bytes=70000000
PROPS
		cat >"$d/log4j2.properties" <<LOG
status = error
appender.f.type = File
appender.f.name = F
appender.f.fileName = $d/server.log
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.f.ref = F
LOG
		local cid
		cid="$(_kafka_java "$d" kafka.tools.StorageTool random-uuid \
		    2>/dev/null | tail -1)"
		_kafka_java "$d" kafka.tools.StorageTool format --standalone \
		    -t "$cid" -c "$d/server.properties" >"$d/format.log" 2>&1 ||
		    { cat "$d/format.log" >&2; fail "kafka storage format"; }
	else
		port="$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1://p' \
		    "$d/server.properties")"
	fi
	# java itself must be the PID we record (no subshell in between),
	# or stopping it would orphan the broker.
	java -Dlog4j2.configurationFile="$d/log4j2.properties" \
	    -cp "$KAFKA_CACHE/libs/*" -Xms256m -Xmx512m kafka.Kafka \
	    "$d/server.properties" >>"$d/stdout.log" 2>&1 </dev/null &
	KAFKA_PID=$!
	echo "$KAFKA_PID" >"$d/kafka.pid"
	track_pid "$KAFKA_PID"
	KAFKA_BOOTSTRAP="127.0.0.1:$port"
	export KAFKA_BOOTSTRAP
	sleep 0.5
	kill -0 "$KAFKA_PID" 2>/dev/null ||
	    { tail -20 "$d/stdout.log" >&2; fail "kafka exited at start"; }
	# ~4 s fresh; after a kill -9 log recovery takes ~15 s.
	for i in $(seq 1 240); do
		kcat -b "$KAFKA_BOOTSTRAP" -L -m 2 >/dev/null 2>&1 && return 0
		kill -0 "$KAFKA_PID" 2>/dev/null || break
		sleep 0.25
	done
	tail -20 "$d/server.log" "$d/stdout.log" >&2
	fail "kafka did not start on $KAFKA_BOOTSTRAP"
}

kafka_stop() { # DIR
	local p i
	p="$(cat "$1/kafka.pid" 2>/dev/null)" || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "$p" 2>/dev/null || true
}

kafka_kill() { # DIR
	local p
	p="$(cat "$1/kafka.pid" 2>/dev/null)" || return 0
	kill -KILL "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}

kafka_create_topic() { # TOPIC
	# A metadata request for a missing topic makes the broker create it
	# (auto.create.topics.enable, num.partitions=4); consumers need it
	# to exist before they start.  kafka-tools' TopicCommand would be
	# one more download for the same effect.
	local i
	for i in $(seq 1 50); do
		kcat -b "$KAFKA_BOOTSTRAP" -L -t "$1" 2>/dev/null |
		    grep -q "topic \"$1\" with [1-9]" && return 0
		sleep 0.2
	done
	fail "cannot create topic $1"
}
