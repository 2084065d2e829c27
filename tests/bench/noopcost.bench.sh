#!/usr/bin/env bash
# noopcost.bench.sh - what one IMAP NOOP round trip costs each proxy in
# user space, counted by callgrind (docs/bench.md, "What a round trip costs").
#
# The NOOP latency figures of imap.bench.sh are wall-clock times on a
# shared guest, where two identical nginx land up to 5 % apart; a
# proxy's own work is a few per cent of such a round trip.  This bench
# counts that work instead of timing it: instructions are the same from
# run to run and from machine to machine (same binaries), so the
# comparison with nginx is not at the mercy of the scheduler.
#
# Method: one Dovecot; nginx's mail proxy and crm-proxy, one worker each,
# both run under `valgrind --tool=callgrind`.  Each proxy is started
# twice; one connection logs in, sends SHORT (then, on the second start,
# LONG) NOOPs one after the other and logs out.  The worker's instruction
# count of the long run minus that of the short one, divided by
# LONG - SHORT, is the cost of one round trip: start-up, login and logout
# cancel out.  The same difference per function, summed by where the
# function lives, splits the figure into parts (event loop, parser,
# relay, libc).
#
# Environment (defaults in brackets):
#   BENCH_BASE [22000]     ports BASE+160/+960 Dovecot, +161/+162 nginx/auth,
#                          +163 crm-proxy
#   BENCH_COST_SHORT [200] BENCH_COST_LONG [2200]   NOOPs per run
#   BENCH_KEEP=1 keeps the work dir (the callgrind files are in it)
#   CRM_PROXY [$B/crm-proxy]
# Output: the table on stdout and in $BENCH_OUT/noopcost.txt.  Exit 0 even
# when crm-proxy costs more than nginx; 1 when the harness broke.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE="${BENCH_BASE:-22000}"
P_IMAP=$((BASE + 160)) P_IMAPS=$((BASE + 960))
P_NGINX=$((BASE + 161)) P_CRM=$((BASE + 163))
SHORT="${BENCH_COST_SHORT:-200}"
LONG="${BENCH_COST_LONG:-2200}"
CRM_PROXY="${CRM_PROXY:-$B/crm-proxy}"
IB="$B/tests/bench/imapbench"


[ -x "$CRM_PROXY" ] || die "$CRM_PROXY missing (run make)"
[ -x "$IB" ] || die "$IB missing (run make imapbench)"
for tool in valgrind callgrind_annotate /usr/sbin/nginx /usr/sbin/dovecot; do
	command -v "$tool" >/dev/null ||
		die "$tool missing (packaging/deps.sh bench installs it)"
done
[ "$SHORT" -ge 1 ] && [ "$LONG" -gt "$SHORT" ] ||
	die "need 1 <= BENCH_COST_SHORT < BENCH_COST_LONG"
ulimit -Sn "$(ulimit -Hn)"

W="$(mktemp -d /tmp/crm-noopcost.XXXXXX)"
chmod 755 "$W"		# Dovecot's unprivileged users must traverse it
RUN_PID=""
cleanup() {
	if [ -n "$RUN_PID" ]; then
		kill -TERM "$RUN_PID" 2>/dev/null || true
		wait "$RUN_PID" 2>/dev/null || true
	fi
	bench_stop "$W/dovecot/dovecot.pid"
	bench_workdir_done "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_dovecot_start "$W/dovecot" "$P_IMAP" "$P_IMAPS" ||
	die "Dovecot did not start"

mkdir -p "$W/nginx" "$W/crm"
bench_nginx_conf "$W/nginx" "$P_NGINX" "$P_IMAP" 1 ||
	die "nginx rejected its configuration"
user=""
[ "$(id -u)" = 0 ] && user="user = nobody"
cat >"$W/crm/crm-proxy.conf" <<EOF
# crm-proxy configuration used by tests/bench/noopcost.bench.sh
[proxy]
workers = 1
$user
log_level = warn
syslog = no

[listen imap]
address = 127.0.0.1:$P_CRM
tls = none
allow_plaintext_auth = yes

[upstream dovecot]
address = 127.0.0.1:$P_IMAP
tls = none

[route]
default = dovecot
EOF
"$CRM_PROXY" -c "$W/crm/crm-proxy.conf" --check >/dev/null ||
	die "crm-proxy rejected its configuration"

# cost_run NAME PORT NOOPS CMD... - start CMD under callgrind, one
# connection of NOOPS round trips, stop it; sets CG_FILE to the callgrind
# file of its worker (the process that counted the most: master and
# worker share what ran before the fork).
cost_run() {
	local name="$1" port="$2" n="$3" d f max=-1 v
	shift 3
	d="$W/$name.$n"
	mkdir -p "$d"
	chmod 777 "$d"		# the workers run as nobody
	valgrind --tool=callgrind --vgdb=no --trace-children=yes \
	    --callgrind-out-file="$d/callgrind.%p" "$@" >"$d/valgrind.log" 2>&1 &
	RUN_PID=$!
	echo "$RUN_PID" >"$d/pid"
	bench_wait_port "$port" "$d/pid" ||
		{ tail -n 20 "$d/valgrind.log" >&2; return 1; }
	if ! "$IB" noop -p "$port" -c 1 -n "$n" --max-time 300 \
	    >"$d/imapbench.out" 2>"$d/imapbench.err" ||
	    ! grep -q 'status=ok.*errors=0' "$d/imapbench.out"; then
		cat "$d/imapbench.out" "$d/imapbench.err" >&2
		return 1
	fi
	kill -TERM "$RUN_PID"
	wait "$RUN_PID" 2>/dev/null || true
	RUN_PID=""
	CG_FILE=""
	for f in "$d"/callgrind.*; do
		v="$(awk '/^(summary|totals):/ { print $2; exit }' "$f")"
		[ -n "$v" ] || continue
		if [ "$v" -gt "$max" ]; then max="$v"; CG_FILE="$f"; fi
	done
	[ -n "$CG_FILE" ] || { bench_log "$name: no callgrind output"; return 1; }
}

# parts FILE - "part instructions" lines: each function's own cost summed
# by where it lives, and "total".
parts() {
	callgrind_annotate --inclusive=no --threshold=100 --auto=no "$1" |
	    awk '
		/PROGRAM TOTALS/ { v = $1; gsub(",", "", v); print "total", v; next }
		/^ *[0-9,]+ +\( *[0-9.]+%\) +[^ ]/ {
			v = $1; gsub(",", "", v)
			fn = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", fn)
			obj = ""
			if (match(fn, / \[[^]]*\]$/)) {
				obj = substr(fn, RSTART + 2, RLENGTH - 3)
				fn = substr(fn, 1, RSTART - 1)
			}
			name = fn; sub(/^.*:/, "", name)
			if (obj ~ /libevent/)
				part = "libevent"
			else if (fn ~ /imap_parse\.c:/ || name ~ /^imap_parser/)
				part = "parser"
			else if (fn ~ /relay\.c:/ || name ~ /^relay_/)
				part = "relay"
			else if (obj ~ /ngx_mail_module/)
				part = "nginx-mail"
			else if (obj ~ /\/nginx$/)
				part = "nginx-core"
			else if (obj ~ /libc\.so/)
				part = "libc"
			else
				part = "other"
			sum[part] += v
		}
		END { for (p in sum) print p, sum[p] }'
}

# per_rt NAME PORT CMD... - sets COST[NAME.part] to instructions per round trip
declare -A COST
per_rt() {
	local name="$1" port="$2" fs fl
	shift 2
	bench_log "$name: $SHORT NOOPs under callgrind"
	cost_run "$name" "$port" "$SHORT" "$@" || return 1
	fs="$CG_FILE"
	bench_log "$name: $LONG NOOPs under callgrind"
	cost_run "$name" "$port" "$LONG" "$@" || return 1
	fl="$CG_FILE"
	while read -r part v; do
		COST[$name.$part]="$v"
	done < <(join <(parts "$fs" | sort) <(parts "$fl" | sort) |
	    awk -v n=$((LONG - SHORT)) '{ printf "%s %.0f\n", $1, ($3 - $2) / n }')
	[ -n "${COST[$name.total]:-}" ] || { bench_log "$name: no totals"; return 1; }
}

per_rt nginx "$P_NGINX" /usr/sbin/nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" \
    -e "$W/nginx/error.log" || die "nginx under callgrind"
per_rt crm-proxy "$P_CRM" "$CRM_PROXY" -c "$W/crm/crm-proxy.conf" -F ||
	die "crm-proxy under callgrind"

report() {
	local t p ng="${COST[nginx.total]}"
	echo "NOOP round trip, user-space instructions (callgrind; one worker each,"
	echo "one connection; ($LONG - $SHORT NOOPs) / $((LONG - SHORT)); the same Dovecot behind both)"
	echo
	printf '%-10s %10s %9s\n' target instr/RT "x nginx"
	for t in nginx crm-proxy; do
		printf '%-10s %10s %9s\n' "$t" "${COST[$t.total]}" \
		    "$(awk -v a="${COST[$t.total]}" -v b="$ng" 'BEGIN { printf "%.2f", a / b }')"
	done
	echo
	echo "by part (a function's own instructions, by where it lives):"
	for t in nginx crm-proxy; do
		printf '  %-10s' "$t"
		for p in nginx-core nginx-mail libevent parser relay libc other; do
			[ "${COST[$t.$p]:-0}" != 0 ] || continue
			printf ' %s %s' "$p" "${COST[$t.$p]}"
		done
		echo
	done
	echo
	if [ "${COST[crm-proxy.total]}" -le "$ng" ]; then
		echo "target crm-proxy <= nginx per round trip: met"
	else
		echo "target crm-proxy <= nginx per round trip: MISSED"
	fi
}
mkdir -p "$BENCH_OUT"
report | tee "$BENCH_OUT/noopcost.txt"
