# tests/lib/common.sh - sourced by every integration scenario.
#
#   . "$(dirname "$0")/../lib/common.sh"
#   scenario_init NAME SLOT      temp dir $T, port block, cleanup trap
#
# Provides ROOT, B (build dir, absolute), PY (python3 for the helpers), $T
# (the scenario's temp dir; kept on failure, removed on success unless
# CRM_TEST_KEEP=1), and:
#   fail MSG / pass MSG / note MSG / step MSG
#   need_cmd CMD...         exit 77 (skip) when missing; exit 1 under CI=true
#   alloc_port VAR          sets VAR to a free port in this scenario's block
#   wait_port PORT [SECS] [PID]
#   track_pid PID [NAME]    stop it (TERM, then KILL) when the scenario ends
#   stop_pid PID [SECS]     TERM, wait, KILL; returns 0 if it exited in time
#   now_ms                  monotonic-enough wall clock in milliseconds
#
# Ports: each scenario owns a block of 100 ports at
# CRM_TEST_PORT_BASE + SLOT*100 (base 20000, wrapping inside
# CRM_TEST_PORT_SPAN, default 10000, so 20000-29999).  Every port is checked
# free before it is handed out, so two runs on one machine do not collide
# unless they race for the same port in the same millisecond.  Stay below
# 32768: the kernel's ephemeral range starts there and a client socket in
# TIME-WAIT can hold a port a server then fails to bind.

set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
export ROOT B
TLIB="$ROOT/tests/lib"
# Debian's python3: the helpers use the standard library only, and
# /usr/bin/python3 is the one every Debian 12 machine has.
PY="${PYTHON:-/usr/bin/python3}"
[ -x "$PY" ] || PY="$(command -v python3 || echo python3)"
# scenarios import tests/lib/*.py; keep bytecode out of the source tree
export PYTHONDONTWRITEBYTECODE=1
export PY TLIB

_scenario=""
_t0_ms=0
_pids=()
_pid_names=()
_port_next=0
_port_end=0
_failed=0

now_ms() {
	local s
	s="$(date +%s%N)"
	echo $((s / 1000000))
}

note() { printf '  %s\n' "$*"; }
step() { printf '== %s\n' "$*"; }

pass() {
	printf 'PASS %s: %s (%d ms)\n' "$_scenario" "$*" \
		$(($(now_ms) - _t0_ms))
	exit 0
}

fail() {
	_failed=1
	printf 'FAIL %s: %s\n' "$_scenario" "$*" >&2
	exit 1
}

skip() {
	if [ "${CI:-}" = true ]; then
		printf 'FAIL %s: %s (a skip is a failure under CI=true)\n' \
			"$_scenario" "$*" >&2
		exit 1
	fi
	# run.sh prints the last line as the reason
	printf 'skipped: %s\n' "$*"
	exit 77
}

need_cmd() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	skip "missing ${missing[*]} (packaging/deps.sh test installs them)"
}

port_is_free() {
	local p="$1"
	# listening sockets and anything bound on the port (TIME-WAIT is fine
	# for servers that set SO_REUSEADDR, which every server here does)
	[ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null | grep -v TIME-WAIT)" ]
}

alloc_port() { # VAR: sets VAR to a free port from this scenario's block
	local p
	while [ "$_port_next" -lt "$_port_end" ]; do
		p=$_port_next
		_port_next=$((_port_next + 1))
		if port_is_free "$p"; then
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	fail "no free port left in the block ending at $_port_end"
}

wait_port() { # PORT [SECS] [PID]
	local port="$1" secs="${2:-10}" pid="${3:-}" i
	for ((i = 0; i < secs * 20; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.05
	done
	return 1
}

track_pid() { # PID [NAME]
	_pids+=("$1")
	_pid_names+=("${2:-pid $1}")
}

stop_pid() { # PID [SECS]
	local pid="$1" secs="${2:-10}" i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	return 1
}

_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	# newest first: the proxy goes before the Dovecot behind it
	for ((i = ${#_pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${_pids[$i]}" 10 ||
			echo "cleanup: ${_pid_names[$i]} needed SIGKILL" >&2
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ $rc -ne 0 ] && [ $rc -ne 77 ] || [ "${CRM_TEST_KEEP:-}" = 1 ]; then
			echo "kept $T for inspection" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit $rc
}

scenario_init() { # NAME SLOT
	_scenario="$1"
	local slot="$2" base span
	base="${CRM_TEST_PORT_BASE:-20000}"
	span="${CRM_TEST_PORT_SPAN:-10000}"
	_port_next=$((base + (slot * 100) % span))
	_port_end=$((_port_next + 100))
	_t0_ms="$(now_ms)"
	need_cmd ss openssl "$PY"
	T="$(mktemp -d "${TMPDIR:-/tmp}/crm-$1.XXXXXX")"
	# Dovecot's auth and mail processes run as other users when started as
	# root: every directory above the mail store must be traversable.
	chmod 755 "$T"
	export T
	trap _cleanup EXIT
	trap 'exit 130' INT TERM
	echo "scenario $1: temp dir $T, ports from $_port_next"
}

# percentile FILE P -> the P-th percentile (nearest rank) of numbers in FILE
percentile() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 }
		END { if (NR == 0) { print "nan"; exit }
		      r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1
		      print v[r] }'
}
