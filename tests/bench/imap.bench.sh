#!/usr/bin/env bash
# imap.bench.sh - IMAP proxy benchmark (docs/bench.md): one private Dovecot,
# measured directly and through nginx's mail proxy and crm-proxy.
#
# Targets (all against the same Dovecot, all on 127.0.0.1):
#   direct      Dovecot, plaintext IMAP
#   direct-tls  Dovecot, implicit TLS (the reference for the TLS row)
#   nginx       nginx mail proxy, plaintext both legs (its only backend mode)
#   nginx-b     a second nginx, configured as the first: the A/A control.
#               It is measured in every round beside nginx, as crm-proxy
#               is, so nginx-b/nginx shows how far two identical proxies
#               land apart on this machine (no idle-memory rows).
#   crm-proxy   tls = none listener, upstream tls none
#   crm-tls     implicit-TLS listener, upstream Dovecot IMAPS (TLS both legs)
#   crm-copy    the crm-proxy row with [proxy] splice = no: literal data is
#               copied through the proxy instead of spliced.  Bulk FETCH
#               in the tap phase only, as the in-run baseline of splice.
#   crm-tap     crm-proxy as the crm-proxy row, with the capture tap on:
#               every fetched message streams into the spool, which
#               crm-capture (nice 19) ships to a real Kafka broker (nice 19,
#               standing in for a broker on another host).  Bulk FETCH
#               only; needs build/crm-capture and the Kafka jars
#               (tests/lib/kafka.sh fetches them with mvn once).
#   crm-stage   the crm-tap proxy restarted with staged spool writes
#               ([capture] stage_dir on tmpfs, docs/spool.md): the relay
#               copies into a ring, a thread writes the segments with
#               O_DIRECT.  Same port, spool and crm-capture as crm-tap.
#
# Environment (defaults in brackets):
#   BENCH_BASE [22000]     ports BASE+143/993 Dovecot, +144/+145 nginx/auth,
#                          +149/+150 nginx-b/auth,
#                          +146 crm-proxy plain, +994 crm-proxy TLS,
#                          +147 crm-tap, +148 crm-copy, +190/+191 Kafka
#   BENCH_SESSION_SECS [5] BENCH_SESSION_ROUNDS [5] BENCH_BULK_ROUNDS [11]
#   BENCH_NOOP_ROUNDS [11] BENCH_TAP_ROUNDS [3]
#   BENCH_IDLE ["1000 5000"]   BENCH_KEEP=1 keeps the work dir
#   CRM_PROXY [$B/crm-proxy]
# Output: the table on stdout and in $BENCH_OUT/imap.txt; logs of every
# server in $BENCH_OUT/imap-logs/.  Exit 0 even when a target is missed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE="${BENCH_BASE:-22000}"
SESSION_SECS="${BENCH_SESSION_SECS:-5}"
SESSION_ROUNDS="${BENCH_SESSION_ROUNDS:-5}"
# A bulk round lasts 1-2 s, and on a 2-CPU guest one round of any target
# can land 20 % off the next (Dovecot's own CPU per GB moves that much,
# whatever it sends to): eleven rounds give a steadier median.  The tap
# phase keeps three, since each tap round puts 1.6 GB on disk.
BULK_ROUNDS="${BENCH_BULK_ROUNDS:-11}"
NOOP_ROUNDS="${BENCH_NOOP_ROUNDS:-11}"
TAP_ROUNDS="${BENCH_TAP_ROUNDS:-3}"
IDLE_COUNTS="${BENCH_IDLE:-1000 5000}"
CRM_PROXY="${CRM_PROXY:-$B/crm-proxy}"
IB="$B/tests/bench/imapbench"
BULK_MSGS=100		# x ~2 MB
BULK_CONNS=4
BULK_REPEAT=2		# whole-mailbox fetches per connection and round
HELD_TARGET=5000

P_IMAP=$((BASE + 143)) P_IMAPS=$((BASE + 993)) P_NGINX=$((BASE + 144))
P_CRM=$((BASE + 146)) P_CRM_TLS=$((BASE + 994))
P_TAP=$((BASE + 147)) P_COPY=$((BASE + 148)) P_KAFKA=$((BASE + 190))
P_NGINX_B=$((BASE + 149))


[ -x "$IB" ] || die "$IB is missing (make imapbench)"
for t in /usr/sbin/dovecot /usr/bin/doveadm /usr/sbin/nginx openssl; do
	command -v "$t" >/dev/null ||
		die "$t not installed (run packaging/deps.sh bench)"
done
[ -f /usr/lib/nginx/modules/ngx_mail_module.so ] ||
	die "libnginx-mod-mail not installed (run packaging/deps.sh bench)"

# 5,000 sessions cost a proxy two descriptors each; everything started
# from here inherits this limit.
ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 12000 ] ||
	die "open-file limit $(ulimit -n) is below 12000 (raise ulimit -Hn)"

# Anything already running competes with client and servers for the CPUs.
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

W="$(mktemp -d /tmp/crm-bench.XXXXXX)"
# the crm-stage row's rings: tmpfs where there is one
STAGE_DIR="$(mktemp -d /dev/shm/crm-bench-stage.XXXXXX 2>/dev/null ||
    mktemp -d /tmp/crm-bench-stage.XXXXXX)"
chmod 1777 "$STAGE_DIR"
chmod 755 "$W"	# Dovecot's unprivileged users must traverse it
mkdir -p "$W/dovecot" "$W/nginx" "$W/nginx-b" "$W/crm" "$W/crm-tls" \
    "$W/crm-tap" "$W/crm-copy" "$W/tls"

cleanup() {
	bench_stop "$W/crm/crm-proxy.pid"
	bench_stop "$W/crm-tls/crm-proxy.pid"
	bench_stop "$W/crm-copy/crm-proxy.pid"
	bench_stop "$W/crm-tap/crm-proxy.pid"
	bench_stop "$W/crm-tap/crm-capture.pid"
	rm -rf "$STAGE_DIR"
	bench_stop "$W/kafka/kafka.pid"
	bench_stop "$W/nginx/nginx.pid.master"
	bench_stop "$W/nginx-b/nginx.pid.master"
	bench_stop "$W/dovecot/dovecot.pid"
	mkdir -p "$BENCH_OUT/imap-logs"
	cp -f "$W/dovecot/dovecot.log" "$BENCH_OUT/imap-logs/dovecot.log" 2>/dev/null || true
	cp -f "$W/nginx/error.log" "$BENCH_OUT/imap-logs/nginx.log" 2>/dev/null || true
	cp -f "$W/nginx-b/error.log" "$BENCH_OUT/imap-logs/nginx-b.log" 2>/dev/null || true
	cp -f "$W/crm/crm-proxy.log" "$BENCH_OUT/imap-logs/crm-proxy.log" 2>/dev/null || true
	cp -f "$W/crm-tls/crm-proxy.log" "$BENCH_OUT/imap-logs/crm-proxy-tls.log" 2>/dev/null || true
	cp -f "$W/crm-copy/crm-proxy.log" "$BENCH_OUT/imap-logs/crm-proxy-copy.log" 2>/dev/null || true
	cp -f "$W/crm-tap/crm-proxy.log" "$BENCH_OUT/imap-logs/crm-proxy-tap.log" 2>/dev/null || true
	cp -f "$W/crm-tap/crm-capture.log" "$BENCH_OUT/imap-logs/crm-capture.log" 2>/dev/null || true
	cp -f "$W"/*.err "$BENCH_OUT/imap-logs/" 2>/dev/null || true
	bench_workdir_done "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers -------------------------------------------------------------

# nginx-b and crm-proxy sit on either side of nginx: each is measured next
# to it, before it in one round and after it in the next.
TARGETS=(direct direct-tls nginx-b nginx crm-proxy crm-tls)
# The tap phase, after the others (Kafka must not run during them).
TAP_TARGETS=(direct nginx crm-proxy crm-copy crm-tap crm-stage)
declare -A PORT=([direct]=$P_IMAP [direct-tls]=$P_IMAPS [nginx]=$P_NGINX
	[nginx-b]=$P_NGINX_B [crm-proxy]=$P_CRM [crm-tls]=$P_CRM_TLS
	[crm-tap]=$P_TAP [crm-stage]=$P_TAP [crm-copy]=$P_COPY)
declare -A TLS=([direct]="" [direct-tls]=--tls [nginx]="" [nginx-b]=""
	[crm-proxy]="" [crm-tls]=--tls [crm-tap]="" [crm-stage]="" [crm-copy]="")
declare -A PIDFILE=([direct]=$W/dovecot/dovecot.pid
	[direct-tls]=$W/dovecot/dovecot.pid [nginx]=$W/nginx/nginx.pid.master
	[nginx-b]=$W/nginx-b/nginx.pid.master
	[crm-proxy]=$W/crm/crm-proxy.pid [crm-tls]=$W/crm-tls/crm-proxy.pid
	[crm-tap]=$W/crm-tap/crm-proxy.pid [crm-stage]=$W/crm-tap/crm-proxy.pid
	[crm-copy]=$W/crm-copy/crm-proxy.pid)
declare -A REF=([direct]=direct [direct-tls]=direct-tls [nginx]=direct
	[nginx-b]=direct [crm-proxy]=direct [crm-tls]=direct-tls
	[crm-tap]=direct [crm-stage]=direct [crm-copy]=direct)
declare -A STATE	# "" = running, otherwise why the row is empty
declare -A R		# results: R[target.metric]

bench_cert "$W/tls"

crm_conf() { # FILE plain|tls|tap|copy
	local user="" splice=""
	[ "$(id -u)" = 0 ] && user="user = nobody"
	[ "$2" != copy ] || splice="splice = no"
	{
		cat <<EOF
# crm-proxy configuration used by tests/bench/imap.bench.sh ($2)
[proxy]
workers = 2
$user
log_level = warn
syslog = no
$splice

[limits]
connections_per_ip = 20000
connections_per_user = 20000
preauth_timeout = 60s
idle_timeout = 30m
connect_timeout = 10s

EOF
		if [ "$2" = tap ]; then
			cat <<EOF
[listen imap]
address = 127.0.0.1:$P_TAP
tls = none
allow_plaintext_auth = yes

[upstream dovecot]
address = 127.0.0.1:$P_IMAP
tls = none

[capture]
spool_dir = $W/crm-tap/spool
spool_max = 64g
tenant = bench
EOF
		elif [ "$2" = plain ] || [ "$2" = copy ]; then
			local port=$P_CRM
			[ "$2" = plain ] || port=$P_COPY
			cat <<EOF
[listen imap]
address = 127.0.0.1:$port
tls = none
allow_plaintext_auth = yes

[upstream dovecot]
address = 127.0.0.1:$P_IMAP
tls = none
EOF
		else
			cat <<EOF
[listen imaps]
address = 127.0.0.1:$P_CRM_TLS
tls = implicit
cert = $W/tls/cert.pem
key = $W/tls/key.pem

[upstream dovecot]
address = 127.0.0.1:$P_IMAPS
tls = implicit
ca_file = $W/dovecot/tls/cert.pem
verify = yes
server_name = localhost
EOF
		fi
		printf '\n[route]\ndefault = dovecot\n'
	} >"$1"
}

# The crm-tap row: Kafka (nice 19) and crm-capture (nice 19) first, then
# the proxy with [capture] on.  Kafka on this host stands in for a broker
# elsewhere, so it must not take the relay's CPU; crm-capture runs on the
# proxy host in production too, and yields to the relay (the spool absorbs
# the burst and it catches up).
tap_start() {
	[ -x "$B/crm-capture" ] ||
		{ STATE[crm-tap]="crm-capture not built"; return 1; }
	(. "$ROOT/tests/lib/kafka.sh"; kafka_fetch) >"$W/kafka-fetch.log" 2>&1 ||
		{ STATE[crm-tap]="no Kafka jars (mvn)"; return 1; }
	(
		. "$ROOT/tests/lib/kafka.sh"
		kafka_start "$W/kafka" "$P_KAFKA" &&
		    kafka_create_topic crm.mail.v1 &&
		    kafka_create_topic crm.mail.seen.v1
	) >"$W/kafka-start.log" 2>&1 ||
		{ STATE[crm-tap]="Kafka did not start"; return 1; }
	renice -n 19 -p "$(cat "$W/kafka/kafka.pid")" >/dev/null 2>&1 || true
	mkdir -p "$W/crm-tap/spool"
	[ "$(id -u)" != 0 ] || chown nobody "$W/crm-tap/spool"
	cat >"$W/crm-tap/capture.conf" <<EOF
[spool]
dir = $W/crm-tap/spool
[kafka]
brokers = 127.0.0.1:$P_KAFKA
compression = lz4
message_max = 65m
linger_ms = 5
[metrics]
file = $W/crm-tap/capture.prom
interval_ms = 500
EOF
	nice -n 19 "$B/crm-capture" -c "$W/crm-tap/capture.conf" \
	    >>"$W/crm-tap/crm-capture.log" 2>&1 &
	echo $! >"$W/crm-tap/crm-capture.pid"
	bench_proxy_start "$W/crm-tap" "$W/crm-tap/crm-proxy.conf" "$P_TAP"
}

start_target() { # TARGET
	case "$1" in
	direct|direct-tls)
		bench_dovecot_start "$W/dovecot" "$P_IMAP" "$P_IMAPS" ||
			die "Dovecot did not start";;
	nginx)
		bench_nginx_start "$W/nginx" "$P_NGINX" "$P_IMAP" ||
			die "nginx did not start";;
	nginx-b)
		bench_nginx_start "$W/nginx-b" "$P_NGINX_B" "$P_IMAP" ||
			die "nginx-b did not start";;
	crm-proxy)
		bench_proxy_start "$W/crm" "$W/crm/crm-proxy.conf" "$P_CRM" ||
			{ STATE[crm-proxy]="did not start"; return 1; };;
	crm-tls)
		bench_proxy_start "$W/crm-tls" "$W/crm-tls/crm-proxy.conf" \
		    "$P_CRM_TLS" ||
			{ STATE[crm-tls]="did not start"; return 1; };;
	crm-copy)
		bench_proxy_start "$W/crm-copy" "$W/crm-copy/crm-proxy.conf" \
		    "$P_COPY" ||
			{ STATE[crm-copy]="did not start"; return 1; };;
	crm-tap)
		tap_start ||
			{ STATE[crm-tap]="${STATE[crm-tap]:-did not start}"; return 1; };;
	esac
}

stop_target() { # TARGET
	bench_stop "${PIDFILE[$1]}"
	# Dovecot's master waits for its children; the port must be free
	# before the next start
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/${PORT[$1]}") 2>/dev/null || break
		sleep 0.1
	done
}

restart_target() { stop_target "$1"; start_target "$1"; }

running() { [ -z "${STATE[$1]:-}" ]; }

bench_log "work dir $W; ports: dovecot $P_IMAP/$P_IMAPS nginx $P_NGINX/$P_NGINX_B" \
    "crm-proxy $P_CRM/$P_CRM_TLS"
start_target direct

# ---- mail ----------------------------------------------------------------
# INBOX: one ~3 KB message for the session script.  "bulk": BULK_MSGS
# messages of ~2 MB (base64 of random bytes, like an attachment), saved
# with doveadm so no proxy is involved in setting up.
bench_log "delivering 1 small + $BULK_MSGS x 2 MB messages"
{
	printf 'From: Carol <carol@example.test>\r\nTo: alice@example.test\r\n'
	printf 'Subject: quarterly numbers\r\nMessage-ID: <small-1@example.test>\r\n\r\n'
	for _ in $(seq 40); do
		printf 'The renewal looks good; legal wants one more pass on the terms.\r\n'
	done
} | bench_dovecot_save "$W/dovecot" alice INBOX
/usr/bin/doveadm -c "$W/dovecot/dovecot.conf" mailbox create -u alice bulk
head -c 1500000 /dev/urandom | base64 -w 76 | sed 's/$/\r/' >"$W/body.b64"
for i in $(seq "$BULK_MSGS"); do
	{
		printf 'From: Dan <dan@example.test>\r\nTo: alice@example.test\r\n'
		printf 'Subject: bulk %d\r\nMessage-ID: <bulk-%d@example.test>\r\n' "$i" "$i"
		printf 'MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n'
		printf 'Content-Transfer-Encoding: base64\r\n\r\n'
		cat "$W/body.b64"
	} | bench_dovecot_save "$W/dovecot" alice bulk
done
rm -f "$W/body.b64"

start_target nginx
start_target nginx-b
if [ -x "$CRM_PROXY" ]; then
	crm_conf "$W/crm/crm-proxy.conf" plain
	crm_conf "$W/crm-tls/crm-proxy.conf" tls
	crm_conf "$W/crm-tap/crm-proxy.conf" tap
	crm_conf "$W/crm-copy/crm-proxy.conf" copy
	sed "s|^tenant = bench|&\nstage_dir = $STAGE_DIR|" \
	    "$W/crm-tap/crm-proxy.conf" >"$W/crm-tap/crm-proxy-stage.conf"
	cp -f "$W/crm/crm-proxy.conf" "$BENCH_OUT/crm-proxy-bench.conf"
	cp -f "$W/crm-tls/crm-proxy.conf" "$BENCH_OUT/crm-proxy-bench-tls.conf"
	start_target crm-proxy || true
	start_target crm-tls || true
else
	STATE[crm-proxy]="not built"
	STATE[crm-tls]="not built"
	STATE[crm-tap]="not built"
	STATE[crm-copy]="not built"
fi

# ---- measurements --------------------------------------------------------

# kv LINE KEY -> value of key=value in a RESULT line
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }

# ib TARGET LABEL [taskset ... IMAPBENCH] ARGS... -> the RESULT line in $OUT; imapbench's stderr
# goes to $W/TARGET.err.  A failed run counts against the target (the
# "errors" column), never against the bench.  Returns 1 without a RESULT.
ib() {
	local t="$1" label="$2" rc=0 e
	shift 2
	[ "$1" = taskset ] || set -- "$IB" "$@"
	OUT="$("$@" -p "${PORT[$t]}" ${TLS[$t]} 2>>"$W/$t.err")" || rc=$?
	OUT="$(grep '^RESULT' <<<"$OUT" || true)"
	if [ $rc -ne 0 ] || ! grep -q 'status=ok' <<<"$OUT"; then
		bench_log "$t $label: imapbench exit $rc: $(tail -n 2 "$W/$t.err" | tr '\n' ' ')"
		R[$t.err]=$(( ${R[$t.err]:-0} + 1 ))
		return 1
	fi
	e="$(kv "$OUT" errors)"
	R[$t.err]=$(( ${R[$t.err]:-0} + ${e:-0} ))
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# round_order ROUND -> the targets in the order that round measures them:
# as listed in odd rounds, reversed in even ones, so no target always runs
# right after the same neighbour (a drift of the machine's speed within a
# round then falls on both sides of a pair alike).
round_order() {
	local i
	if [ $(($1 % 2)) -eq 1 ]; then
		printf '%s\n' "${TARGETS[@]}"
	else
		for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do
			printf '%s\n' "${TARGETS[$i]}"
		done
	fi
}

# The proxy's processes, or for the direct rows Dovecot's.
root_pid() { cat "${PIDFILE[$1]}"; }

bench_log "sessions/s: $SESSION_SECS s, 8 clients, $SESSION_ROUNDS rounds"
for t in "${TARGETS[@]}"; do
	running "$t" || continue
	# first sessions spawn Dovecot's imap processes; not measured
	ib "$t" warmup sessions -c 8 -t 1 --max-time 60 || true
done
# Rounds interleave the targets, as for bulk, so a slow moment of the
# machine does not land on one target only; the median is reported.
for round in $(seq "$SESSION_ROUNDS"); do
	for t in $(round_order "$round"); do
		running "$t" || continue
		ib "$t" sessions sessions -c 8 -t "$SESSION_SECS" --max-time 120 ||
			continue
		R[$t.sess.$round]="$(kv "$OUT" rate)"
	done
done
for t in "${TARGETS[@]}"; do
	v="$(for r in $(seq "$SESSION_ROUNDS"); do echo "${R[$t.sess.$r]:-}"; done | grep . | median || true)"
	[ -z "$v" ] || R[$t.sess]="$v"
done

bench_log "bulk FETCH: $BULK_CONNS connections x whole mailbox, $BULK_ROUNDS rounds"
for t in "${TARGETS[@]}"; do	# warm Dovecot's cache and index once
	running "$t" && { ib "$t" warmup bulk -c 1 --max-time 120 || true; break; }
done
# machine_ticks -> "busy total": every CPU's ticks from /proc/stat, busy
# being all but idle and iowait
machine_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9,
	    $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}
# bulk_round TARGET KEY ROUND: one measured round; R[T.KEY.ROUND] MB/s,
# R[T.KEYticks] / R[T.KEYbytes] summed for the CPU figure, and the whole
# machine's busy and total ticks (R[T.KEYmbusy], R[T.KEYmall]): a round
# that keeps every CPU busy is limited by the CPU its processes need.
bulk_round() {
	local t="$1" k="$2" round="$3" c0 c1 k0=0 m0 m1 d0 d1
	c0="$(bench_cpu_ticks "$(root_pid "$t")")"
	d0="$(bench_cpu_ticks "$(root_pid direct)")"
	m0="$(machine_ticks)"
	case "$t" in crm-tap|crm-stage)
		k0="$(bench_cpu_ticks "$(cat "$W/crm-tap/crm-capture.pid")")";;
	esac
	ib "$t" bulk bulk -c "$BULK_CONNS" -r "$BULK_REPEAT" --max-time 120 ||
		return 0
	c1="$(bench_cpu_ticks "$(root_pid "$t")")"
	d1="$(bench_cpu_ticks "$(root_pid direct)")"
	m1="$(machine_ticks)"
	R[$t.${k}mbusy]=$(( ${R[$t.${k}mbusy]:-0} + ${m1% *} - ${m0% *} ))
	R[$t.${k}mall]=$(( ${R[$t.${k}mall]:-0} + ${m1#* } - ${m0#* } ))
	case "$t" in crm-tap|crm-stage)
		R[capture.ticks]=$(( ${R[capture.ticks]:-0} +
		    $(bench_cpu_ticks "$(cat "$W/crm-tap/crm-capture.pid")") - k0 ));;
	esac
	R[$t.$k.$round]="$(kv "$OUT" mb_per_s)"
	R[$t.${k}ticks]=$(( ${R[$t.${k}ticks]:-0} + c1 - c0 ))
	R[$t.${k}bytes]=$(( ${R[$t.${k}bytes]:-0} + $(kv "$OUT" bytes) ))
	# Dovecot, whichever target the round went through: its CPU seconds
	# per GB, and how much of one CPU it had over the round's wall time
	# (bytes / MB/s).  Near one CPU's worth with the sessions in one
	# imap process, it was the bound.
	R[$t.${k}dticks]=$(( ${R[$t.${k}dticks]:-0} + d1 - d0 ))
	R[$t.${k}wallus]=$(( ${R[$t.${k}wallus]:-0} +
	    $(awk -v b="$(kv "$OUT" bytes)" -v m="${R[$t.$k.$round]}" \
	    'BEGIN { if (m > 0) printf "%d", b / m; else print 0 }') ))
	R[$t.$k.$round.d]="$(awk -v d=$((d1 - d0)) -v hz="$HZ" \
	    -v b="$(kv "$OUT" bytes)" \
	    'BEGIN { if (b > 0) printf "%.2f", d / hz / (b / 1e9) }')"
}
HZ="$(getconf CLK_TCK)"
# bulk_summary KEY ROUNDS TARGET...: R[T.KEY] median MB/s, R[T.KEYcpu] s/GB
bulk_summary() {
	local k="$1" n="$2" t
	shift 2
	for t in "$@"; do
		[ -n "${R[$t.${k}bytes]:-}" ] || continue
		R[$t.$k]="$(for r in $(seq "$n"); do echo "${R[$t.$k.$r]:-}"; done | grep . | median)"
		R[$t.${k}cpu]="$(awk -v c="${R[$t.${k}ticks]}" -v hz="$HZ" \
		    -v b="${R[$t.${k}bytes]}" \
		    'BEGIN { if (b > 0) printf "%.3f", c / hz / (b / 1e9) }')"
		# the whole machine: share of CPU time busy, and busy CPU
		# seconds per GB relayed (every process, kernel included)
		R[$t.${k}busy]="$(awk -v m="${R[$t.${k}mbusy]:-0}" \
		    -v a="${R[$t.${k}mall]:-0}" \
		    'BEGIN { if (a > 0) printf "%.0f%%", 100 * m / a }')"
		R[$t.${k}mcpu]="$(awk -v m="${R[$t.${k}mbusy]:-0}" -v hz="$HZ" \
		    -v b="${R[$t.${k}bytes]}" \
		    'BEGIN { if (b > 0) printf "%.3f", m / hz / (b / 1e9) }')"
		R[$t.${k}dcpu]="$(awk -v d="${R[$t.${k}dticks]:-0}" -v hz="$HZ" \
		    -v b="${R[$t.${k}bytes]}" \
		    'BEGIN { if (b > 0) printf "%.3f", d / hz / (b / 1e9) }')"
		R[$t.${k}dshare]="$(awk -v d="${R[$t.${k}dticks]:-0}" -v hz="$HZ" \
		    -v w="${R[$t.${k}wallus]:-0}" \
		    'BEGIN { if (w > 0) printf "%.2f", d / hz / (w / 1e6) }')"
	done
}
for round in $(seq "$BULK_ROUNDS"); do
	for t in $(round_order "$round"); do
		running "$t" || continue
		bulk_round "$t" mbs "$round"
	done
done
bulk_summary mbs "$BULK_ROUNDS" "${TARGETS[@]}"
for t in "${TARGETS[@]}"; do
	R[$t.cpu]="${R[$t.mbscpu]:-}"
done

# pin_tree CPUS PID... - move every thread of the trees to CPUS
pin_tree() {
	local cpus="$1" root p
	shift
	for root in "$@"; do
		for p in $(bench_tree "$root"); do
			taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true
		done
	done
}
ALL_CPUS="0-$(( $(nproc) - 1 ))"

# One connection: client, proxy and Dovecot all pinned to CPU 0, so the
# figure is the cost of the path, not of waking another CPU (which on a
# VM varies between ~10 and ~90 us from run to run).  Four connections:
# unpinned, the scheduler decides, as it would in production.
bench_log "NOOP round trips: 5000 per connection; 1 (pinned) and 4, $NOOP_ROUNDS rounds"
for round in $(seq "$NOOP_ROUNDS"); do
	for t in $(round_order "$round"); do
		running "$t" || continue
		pin_tree 0 "$(root_pid direct)" "$(root_pid "$t")"
		if ib "$t" noop taskset -c 0 "$IB" noop -c 1 -n 5000 --max-time 120; then
			R[$t.n1.p50.$round]="$(kv "$OUT" p50_ms)"
			R[$t.n1.p99.$round]="$(kv "$OUT" p99_ms)"
		fi
		pin_tree "$ALL_CPUS" "$(root_pid direct)" "$(root_pid "$t")"
		if ib "$t" noop noop -c 4 -n 5000 --max-time 120; then
			R[$t.n4.p50.$round]="$(kv "$OUT" p50_ms)"
			R[$t.n4.p99.$round]="$(kv "$OUT" p99_ms)"
		fi
	done
done
for t in "${TARGETS[@]}"; do
	for k in n1.p50 n1.p99 n4.p50 n4.p99; do
		v="$(for r in $(seq "$NOOP_ROUNDS"); do echo "${R[$t.$k.$r]:-}"; done | grep . | median || true)"
		[ -z "$v" ] || R[$t.$k]="$v"
	done
done

# Idle memory: restart the measured server so no earlier phase has grown
# its heap, warm it with a few sessions, take the summed PSS, hold N
# logged-in connections, take it again; then prove they are alive.
idle_run() { # TARGET N
	local t="$1" n="$2" pid before after ib_pid out="$W/$1.idle.$2" rc=0
	restart_target "$t" || return 1
	ib "$t" warmup sessions -c 2 -t 0.5 --max-time 60 || true
	sleep 0.5
	pid="$(root_pid "$t")"
	before="$(bench_pss_kb "$pid")"
	"$IB" idle -c "$n" -p "${PORT[$t]}" ${TLS[$t]} --ramp 100 --hold 240 \
	    --max-time 300 >"$out" 2>>"$W/$t.err" &
	ib_pid=$!
	for _ in $(seq 1800); do
		grep -q '^READY' "$out" && break
		kill -0 "$ib_pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^READY' "$out"; then
		bench_log "$t idle $n: never ready: $(tail -n 2 "$W/$t.err" | tr '\n' ' ')"
		kill -TERM "$ib_pid" 2>/dev/null || true
		wait "$ib_pid" || true
		R[$t.err]=$(( ${R[$t.err]:-0} + 1 ))
		return 0
	fi
	sleep 1
	after="$(bench_pss_kb "$pid")"
	kill -USR1 "$ib_pid" 2>/dev/null || true
	wait "$ib_pid" || rc=$?
	local res held checked e
	res="$(grep '^RESULT' "$out" || true)"
	held="$(kv "$(grep '^READY' "$out")" held)"
	checked="$(kv "$res" checked)"
	e="$(kv "$res" errors)"
	R[$t.err]=$(( ${R[$t.err]:-0} + ${e:-1} ))
	[ $rc -eq 0 ] || bench_log "$t idle $n: imapbench exit $rc"
	R[$t.held$n]="${checked:-0}"
	# with fewer held than asked, divide by what was held
	if [ "${held:-0}" -gt 0 ]; then
		R[$t.mem$n]="$(awk -v a="$after" -v b="$before" -v n="$held" \
		    'BEGIN { printf "%.1f", (a - b) / n }')"
	fi
	bench_log "$t idle $n: held $held, alive at the end $checked," \
	    "PSS $before -> $after kB"
}

bench_log "idle memory at: $IDLE_COUNTS"
for t in "${TARGETS[@]}"; do
	running "$t" || continue
	# the control is for the relay's figures; nginx's memory is measured
	[ "$t" != nginx-b ] || continue
	for n in $IDLE_COUNTS; do
		idle_run "$t" "$n" || break
	done
done

# ---- the tap: bulk FETCH with capture on ---------------------------------
# Last, so the broker and the shipper never run during the other phases.
# Tap on (crm-tap) against tap off (crm-proxy), nginx and direct, rounds
# interleaved as above, with Kafka and crm-capture up for all of them.
prom() { sed -n "s/^crm_capture_$1 //p" "$W/crm-tap/capture.prom" 2>/dev/null; }
# tap_settle: wait (at most 120 s) until crm-capture has every spooled
# record acknowledged by Kafka, then (at most 30 s) until less than 64 MB
# of the page cache is dirty or under writeback, then 1 s more; prints
# the seconds the acknowledgements took.  Every round
# starts from a settled pipeline: a crm-tap round leaves ~1.6 GB for
# crm-capture and the broker to ship, and a round measured while they
# ship it would be measured against their CPU, whichever row it is.
# Only the crm-tap rounds have shipping running during them: their own.
tap_settle() {
	local t0=$SECONDS sp ak
	for _ in $(seq 240); do
		sp="$(prom records_spooled_total)" ak="$(prom records_acked_total)"
		[ -n "$sp" ] && [ "${ak:-0}" -ge "$sp" ] && break
		sleep 0.5
	done
	echo $((SECONDS - t0))
	# and the kernel's writeback of the spool and the broker's log
	for _ in $(seq 60); do
		awk '/^(Dirty|Writeback):/ { kb += $2 } END { exit !(kb > 65536) }' \
		    /proc/meminfo || break
		sleep 0.5
	done
	sleep 1
}
# The crm-tap and crm-stage rows are one proxy on one port, restarted with
# the other configuration when the row changes (SIGTERM: a staged writer
# writes out its ring and removes it).
TAP_CONF_NOW=crm-tap
tap_proxy_as() { # crm-tap|crm-stage
	local conf="$W/crm-tap/crm-proxy.conf"

	[ "$1" != "$TAP_CONF_NOW" ] || return 0
	[ "$1" = crm-tap ] || conf="$W/crm-tap/crm-proxy-stage.conf"
	stop_target crm-tap
	bench_proxy_start "$W/crm-tap" "$conf" "$P_TAP" ||
		{ STATE[$1]="did not start"; return 1; }
	TAP_CONF_NOW="$1"
}
if [ -x "$CRM_PROXY" ] && start_target crm-tap; then
	start_target crm-copy || true
	bench_log "tap: bulk FETCH, $TAP_ROUNDS rounds: ${TAP_TARGETS[*]}"
	ib crm-tap warmup bulk -c 1 --max-time 120 || true
	for round in $(seq "$TAP_ROUNDS"); do
		for t in "${TAP_TARGETS[@]}"; do
			running "$t" || continue
			case "$t" in crm-tap|crm-stage)
				tap_proxy_as "$t" || continue;;
			esac
			w="$(tap_settle)"
			[ "$t" != direct ] || [ "$round" = 1 ] ||
				R[tap.settle]="${R[tap.settle]:+${R[tap.settle]} }$w"
			bulk_round "$t" tap "$round"
		done
	done
	bulk_summary tap "$TAP_ROUNDS" "${TAP_TARGETS[@]}"
	# how long crm-capture needed after the last round to have every
	# record acknowledged by Kafka (at most 120 s is waited)
	R[tap.drain]="$(tap_settle)"
	R[tap.spooled]="$(prom records_spooled_total)"
	R[tap.acked]="$(prom records_acked_total)"
	R[tap.capcpu]="$(awk -v k="${R[capture.ticks]:-0}" -v hz="$HZ" \
	    -v b="$(( ${R[crm-tap.tapbytes]:-0} + ${R[crm-stage.tapbytes]:-0} ))" \
	    'BEGIN { if (b > 0) printf "%.3f", k / hz / (b / 1e9) }')"
fi

# ---- report --------------------------------------------------------------

# cell TARGET METRIC [noratio] -> "value (ratio x)" against REF[target]
cell() {
	local t="$1" m="$2" v ref
	v="${R[$t.$m]:-}"
	[ -n "$v" ] || { echo "-"; return; }
	ref="${R[${REF[$t]}.$m]:-}"
	if [ "${3:-}" = noratio ] || [ "${REF[$t]}" = "$t" ] || [ -z "$ref" ]; then
		echo "$v"
	else
		awk -v v="$v" -v r="$ref" 'BEGIN {
			if (r > 0) printf "%s (%.2fx)", v, v / r; else print v }'
	fi
}

checks=()
missed=0
# check OK|MISSED text
check() {
	checks+=("$(printf '  %-7s %s' "$1" "$2")")
	[ "$1" = PASS ] || missed=$((missed + 1))
}
# cmp A OP B -> 0 if true (numbers)
cmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }

# us MS -> microseconds, one decimal ("-" for nothing)
us() { [ -n "$1" ] && awk -v m="$1" 'BEGIN { printf "%.1f", m * 1000 }' || printf -- -; }

# ratios TARGET KEY ROUNDS higher|lower -> one line per round both have:
# TARGET's figure over nginx's, and 1 if TARGET was ahead (ties: 0)
ratios() {
	local t="$1" k="$2" n="$3" better="$4" r a b
	for r in $(seq "$n"); do
		a="${R[$t.$k.$r]:-}" b="${R[nginx.$k.$r]:-}"
		[ -n "$a" ] && [ -n "$b" ] && echo "$a $b"
	done | awk -v better="$better" '$2 > 0 {
		print $1 / $2, (better == "higher" ? $1 > $2 : $1 < $2) }'
}

# paired_cell TARGET KEY ROUNDS higher|lower -> "median (ahead N of M)"
paired_cell() {
	local q
	q="$(ratios "$@")"
	[ -n "$q" ] || { echo -; return; }
	printf '%.3f (%d of %d)' "$(cut -d' ' -f1 <<<"$q" | median)" \
	    "$(awk '{ s += $2 } END { print s }' <<<"$q")" "$(wc -l <<<"$q")"
}

# worse_p KEY ROUNDS higher|lower -> p of a one-sided rank-sum test
# (Mann-Whitney, exact): were crm-proxy one more nginx, how likely would
# its per-round ratios to nginx sit at least this far on the worse side of
# nginx-b's?  U counts the pairs (one crm-proxy round, one nginx-b round)
# in which crm-proxy's ratio is the worse; p = P(U >= observed) over every
# way the pooled ratios could split, counted by the usual recurrence
# N(i, j, u) = N(i-1, j, u-j) + N(i, j-1, u).  Small p: crm-proxy trails
# nginx by more than this run moves two identical proxies apart.
worse_p() {
	local k="$1" n="$2" better="$3"
	{
		ratios crm-proxy "$k" "$n" "$better" | sed 's/^/c /'
		ratios nginx-b "$k" "$n" "$better" | sed 's/^/b /'
	} | awk -v better="$better" '
	{ v = (better == "higher") ? 1 / $2 : $2	# larger is worse
	  if ($1 == "c") x[++nx] = v; else y[++ny] = v }
	END {
		if (nx < 2 || ny < 2) { print "-"; exit }
		u = 0
		for (i = 1; i <= nx; i++)
			for (j = 1; j <= ny; j++)
				u += x[i] > y[j] ? 1 : (x[i] == y[j] ? 0.5 : 0)
		for (i = 0; i <= nx; i++)
			for (j = 0; j <= ny; j++)
				for (w = 0; w <= i * j; w++) {
					if (i == 0 || j == 0) { N[i, j, w] = (w == 0); continue }
					N[i, j, w] = (w >= j ? N[i - 1, j, w - j] : 0) + N[i, j - 1, w]
				}
		for (w = 0; w <= nx * ny; w++) {
			all += N[nx, ny, w]
			if (w >= u) tail += N[nx, ny, w]
		}
		printf "%.2f", tail / all
	}'
}

# pair_row KEY ROUNDS higher|lower LABEL: crm-proxy and nginx-b against
# nginx, and the test between the two
pair_row() {
	printf '  %-12s %-7s %-22s %-22s %s\n' "$4" "$3" \
	    "$(paired_cell crm-proxy "$1" "$2" "$3")" \
	    "$(paired_cell nginx-b "$1" "$2" "$3")" "$(worse_p "$1" "$2" "$3")"
}

# rounds_us KEY: the target's per-round figure KEY ($t, ms) in us
rounds_us() {
	local r
	for r in $(seq "$NOOP_ROUNDS"); do
		printf ' %s' "$(us "${R[$t.$1.$r]:-}")"
	done
}

report() {
	local t m1 m5
	local first="${IDLE_COUNTS%% *}" last="${IDLE_COUNTS##* }"
	echo "IMAP benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, client and servers on one host"
	echo "Dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1), nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///')," \
	    "crm-proxy: ${STATE[crm-proxy]:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo built)}"
	echo "sessions: 8 clients x LOGIN/SELECT/FETCH 3 KB/LOGOUT for ${SESSION_SECS}s, median of $SESSION_ROUNDS; bulk: $BULK_CONNS x UID FETCH 1:*"
	echo "BODY.PEEK[] of $BULK_MSGS x 2 MB, ${BULK_REPEAT}x each, median of $BULK_ROUNDS; NOOP: 5000 per connection, median of"
	echo "$NOOP_ROUNDS; 1 connection with client, proxy and Dovecot pinned to CPU 0, 4 connections unpinned;"
	echo "ratios (in brackets) are to 'direct', and to 'direct-tls' for crm-tls.  CPU: the proxy's processes;"
	echo "for the direct rows it is Dovecot's own.  Idle memory: PSS delta / connections, KiB."
	echo "Load average (1/5/15 min) before the bench: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	if awk -v l="${LOAD_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > 0.25 * n) }'; then
		echo "WARNING: the machine was busy before the bench started; other processes"
		echo "competed for the CPUs and the throughput and latency figures are unreliable."
	fi
	echo
	printf '%-11s %-16s %-16s %-7s %-15s %-15s %-15s %-15s %-15s %-15s %-9s %s\n' \
	    target sessions/s "bulk MB/s" "CPU s/GB" "NOOP p50 ms" "NOOP p99 ms" \
	    "NOOPx4 p50 ms" "NOOPx4 p99 ms" "KiB/conn@$first" "KiB/conn@$last" "held@$last" errors
	for t in "${TARGETS[@]}"; do
		if ! running "$t" && [ -z "${R[$t.sess]:-}" ]; then
			printf '%-11s %s\n' "$t" "${STATE[$t]}"
			continue
		fi
		printf '%-11s %-16s %-16s %-7s %-15s %-15s %-15s %-15s %-15s %-15s %-9s %s\n' "$t" \
		    "$(cell "$t" sess)" "$(cell "$t" mbs)" "$(cell "$t" cpu noratio)" \
		    "$(cell "$t" n1.p50)" "$(cell "$t" n1.p99)" \
		    "$(cell "$t" n4.p50)" "$(cell "$t" n4.p99)" \
		    "$(cell "$t" "mem$first")" "$(cell "$t" "mem$last")" \
		    "${R[$t.held$last]:--}" "${R[$t.err]:-0}"
	done
	echo "Per round, in the order run (the spread is the machine's):"
	for t in "${TARGETS[@]}"; do
		[ -n "${R[$t.sess]:-}" ] || continue
		printf '  %-11s sessions/s' "$t"
		for r in $(seq "$SESSION_ROUNDS"); do printf ' %s' "${R[$t.sess.$r]:--}"; done
		printf ';  bulk MB/s'
		for r in $(seq "$BULK_ROUNDS"); do printf ' %s' "${R[$t.mbs.$r]:--}"; done
		printf ' (machine busy %s, %s CPU s/GB)\n' "${R[$t.mbsbusy]:--}" \
		    "${R[$t.mbsmcpu]:--}"
		printf '  %-11s Dovecot CPU s/GB per bulk round' ""
		for r in $(seq "$BULK_ROUNDS"); do printf ' %s' "${R[$t.mbs.$r.d]:--}"; done
		printf ' (%s s/GB, %s CPUs busy)\n' "${R[$t.mbsdcpu]:--}" \
		    "${R[$t.mbsdshare]:--}"
	done
	for t in "${TARGETS[@]}"; do
		[ -n "${R[$t.n1.p50]:-}" ] || continue
		printf '  %-11s NOOP p50 us%s;  NOOPx4 p50 us%s\n' "$t" \
		    "$(rounds_us n1.p50)" "$(rounds_us n4.p50)"
	done
	echo "Dovecot: every Dovecot process, whichever target the round went through; 'CPUs busy' is its CPU time"
	echo "over the rounds' wall time: at 1.00 with the four sessions in one imap process, Dovecot was the bound."
	echo "Rounds measure the targets in the order listed, reversed every second round."
	if [ -n "${R[crm-proxy.n1.p50]:-}" ] && [ -n "${R[nginx.n1.p50]:-}" ]; then
		echo "Round by round against nginx (each measured within seconds of nginx): the median over the rounds"
		echo "of the ratio to nginx, and in how many rounds the target was ahead of it.  nginx-b is a second,"
		echo "identical nginx: its column is how far apart this machine puts two equal proxies.  p: were"
		echo "crm-proxy one more nginx, the chance that its ratios sit at least this far on the worse side of"
		echo "nginx-b's (one-sided exact rank-sum test); below 0.05, crm-proxy is behind nginx beyond the noise."
		printf '  %-12s %-7s %-22s %-22s %s\n' figure better crm-proxy/nginx \
		    nginx-b/nginx p
		pair_row sess "$SESSION_ROUNDS" higher "sessions/s"
		pair_row mbs "$BULK_ROUNDS" higher "bulk MB/s"
		pair_row n1.p50 "$NOOP_ROUNDS" lower "NOOP p50"
		pair_row n1.p99 "$NOOP_ROUNDS" lower "NOOP p99"
		pair_row n4.p50 "$NOOP_ROUNDS" lower "NOOPx4 p50"
		pair_row n4.p99 "$NOOP_ROUNDS" lower "NOOPx4 p99"
	fi
	echo
	if [ -n "${R[tap.spooled]:-}" ]; then
		echo "Capture tap (measured last, median of $TAP_ROUNDS, with Kafka (nice 19) and crm-capture (nice 19) up for every row;"
		echo "each round starts once every record spooled so far is acknowledged by Kafka):"
		printf '%-11s %-16s %-9s %-13s %s\n' target "bulk MB/s" "CPU s/GB" \
		    "machine busy" "machine CPU s/GB"
		for t in "${TAP_TARGETS[@]}"; do
			printf '%-11s %-16s %-9s %-13s %s\n' "$t" "$(cell "$t" tap)" \
			    "${R[$t.tapcpu]:--}" "${R[$t.tapbusy]:--}" "${R[$t.tapmcpu]:--}"
		done
		echo "machine: every process on the host during the rounds (client, Dovecot, proxy, crm-capture, Kafka, kernel);"
		echo "while it is busy throughout, MB/s is about its CPUs divided by the machine CPU s/GB."
		echo "crm-copy: the crm-proxy row with [proxy] splice = no (literal data copied, not spliced)."
		echo "crm-stage: the crm-tap proxy with staged spool writes ([capture] stage_dir on tmpfs)."
		echo "crm-capture used ${R[tap.capcpu]:--} s/GB while the crm-tap and crm-stage rounds ran; records spooled" \
		    "${R[tap.spooled]}, acknowledged by Kafka ${R[tap.acked]:-0}, all ${R[tap.drain]} s after the last round"
		echo "(after the earlier crm-tap rounds: ${R[tap.settle]:--} s, the wait before the next round)."
		echo
	elif [ -n "${STATE[crm-tap]:-}" ]; then
		echo "Capture tap: not measured (${STATE[crm-tap]})."
		echo
	fi
	if [ -n "${STATE[crm-proxy]:-}" ] && [ -n "${STATE[crm-tls]:-}" ]; then
		echo "Targets: not checked, crm-proxy ${STATE[crm-proxy]}."
		return
	fi
	# Plaintext crm-proxy against nginx (same legs) and the absolutes.
	local p=crm-proxy n=nginx a b what
	if running "$p" || [ -n "${R[$p.sess]:-}" ]; then
		for spec in "sess:>=:sessions/s" "mbs:>=:bulk MB/s" "cpu:<=:CPU s/GB" \
		    "n1.p50:<=:NOOP p50" "n1.p99:<=:NOOP p99" \
		    "n4.p50:<=:NOOPx4 p50" "n4.p99:<=:NOOPx4 p99" \
		    "mem$first:<=:KiB/conn @$first" "mem$last:<=:KiB/conn @$last"; do
			IFS=: read -r m op what <<<"$spec"
			a="${R[$p.$m]:-}" b="${R[$n.$m]:-}"
			if [ -z "$a" ] || [ -z "$b" ]; then
				check MISSED "$what at least as good as nginx: no figure (crm-proxy '${a:--}', nginx '${b:--}')"
			elif cmp "$a" "$op" "$b"; then
				check PASS "$what at least as good as nginx: $a vs $b"
			else
				check MISSED "$what at least as good as nginx: $a vs $b"
			fi
		done
		a="${R[$p.mbs]:-0}" b="${R[direct.mbs]:-0}"
		if cmp "$a" ">=" "$(awk -v b="$b" 'BEGIN { print 0.9 * b }')" && cmp "$a" ">" 0; then
			check PASS "bulk >= 0.9x direct: $a vs $b MB/s"
		else
			check MISSED "bulk >= 0.9x direct: $a vs $b MB/s"
		fi
		a="${R[$p.cpu]:-}"
		if [ -n "$a" ] && cmp "$a" "<=" 1; then
			check PASS "proxy CPU <= 1 s/GB: $a"
		else
			check MISSED "proxy CPU <= 1 s/GB: ${a:--}"
		fi
		for m in "$first" "$last"; do
			a="${R[$p.mem$m]:-}"
			if [ -n "$a" ] && cmp "$a" "<=" 12; then
				check PASS "plaintext idle memory <= 12 KiB/conn @$m: $a"
			else
				check MISSED "plaintext idle memory <= 12 KiB/conn @$m: ${a:--}"
			fi
		done
		a="${R[$p.held$last]:-0}"
		if [ "$last" -ge "$HELD_TARGET" ] && [ "$a" -ge "$HELD_TARGET" ]; then
			check PASS "$HELD_TARGET idle connections held (plaintext): $a"
		else
			check MISSED "$HELD_TARGET idle connections held (plaintext): $a of $last"
		fi
		# the tap as deployed for throughput: staged writes
		local tp=crm-stage
		[ -n "${R[crm-stage.tap]:-}" ] || tp=crm-tap
		a="${R[$tp.tap]:-}" b="${R[direct.tap]:-0}"
		if [ -z "$a" ]; then
			check MISSED "tap-on bulk >= 0.85x direct: no figure (crm-tap ${STATE[crm-tap]:-did not run})"
		elif cmp "$a" ">=" "$(awk -v b="$b" 'BEGIN { print 0.85 * b }')"; then
			check PASS "tap-on bulk >= 0.85x direct ($tp): $a vs $b MB/s"
		else
			check MISSED "tap-on bulk >= 0.85x direct ($tp): $a vs $b MB/s"
		fi
		if [ -n "${R[tap.spooled]:-}" ] &&
		    [ "${R[tap.acked]:-0}" -ge "${R[tap.spooled]}" ]; then
			check PASS "tap: every spooled record acknowledged by Kafka: ${R[tap.acked]} of ${R[tap.spooled]}"
		elif [ -n "${R[tap.spooled]:-}" ]; then
			check MISSED "tap: every spooled record acknowledged by Kafka: ${R[tap.acked]:-0} of ${R[tap.spooled]}"
		fi
	else
		check MISSED "crm-proxy (plaintext) ${STATE[$p]}"
	fi
	p=crm-tls
	if running "$p" || [ -n "${R[$p.sess]:-}" ]; then
		for m in "$first" "$last"; do
			a="${R[$p.mem$m]:-}"
			if [ -n "$a" ] && cmp "$a" "<=" 40; then
				check PASS "TLS-both-legs idle memory <= 40 KiB/conn @$m: $a"
			else
				check MISSED "TLS-both-legs idle memory <= 40 KiB/conn @$m: ${a:--}"
			fi
		done
		a="${R[$p.held$last]:-0}"
		if [ "$last" -ge "$HELD_TARGET" ] && [ "$a" -ge "$HELD_TARGET" ]; then
			check PASS "$HELD_TARGET idle connections held (TLS both legs): $a"
		else
			check MISSED "$HELD_TARGET idle connections held (TLS both legs): $a of $last"
		fi
	else
		check MISSED "crm-proxy (TLS both legs) ${STATE[$p]}"
	fi
	echo "Targets (crm-proxy; 'as good as nginx' compares the plaintext rows):"
	printf '%s\n' "${checks[@]}"
	if [ $missed -gt 0 ]; then
		echo "MISSED: $missed of ${#checks[@]} targets"
	else
		echo "ALL ${#checks[@]} TARGETS MET"
	fi
}

report | tee "$BENCH_OUT/imap.txt"
