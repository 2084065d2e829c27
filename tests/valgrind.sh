#!/usr/bin/env bash
# valgrind.sh - run scenarios with every crm-* program under valgrind's
# memcheck, and fail on any memory error or leak (make check-valgrind).
#
#   tests/valgrind.sh BUILD_DIR SCENARIO...
#
# BUILD_DIR is a normal build (make B=build-vg OPT="-O1 -g" all).  Each
# crm-* executable in it is moved to crm-X.real and replaced by a
# two-line script that execs valgrind on it, so the scenarios, their
# helpers and the daemons' own restarts run unchanged; exec keeps the PID
# the scenario tracks.  Every process writes its own report into
# $BUILD_DIR/valgrind/ (one file per PID, children of a fork included).
# After the scenarios, a report counts as failed if it shows an error
# ("ERROR SUMMARY: n" with n > 0) or bytes definitely or indirectly lost.
# Reachable memory at exit (libevent's and OpenSSL's globals, librdkafka's
# threads) is not a leak and is not counted.  tests/valgrind.supp holds the
# few reports proven to be in system code, each with its reason.
#
# Scenarios with timing bounds do not belong here: memcheck runs the code
# 20-50 times slower.  CRM_SANITIZED=1 is set, which relaxes the memory
# bounds some scenarios hold daemons to (an instrumented RSS says nothing).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR SCENARIO..." >&2; exit 2; }
B="$1"; shift
case "$B" in /*) ;; *) B="$HERE/../$B";; esac
command -v valgrind >/dev/null ||
	{ echo "valgrind not installed (packaging/deps.sh test)" >&2; exit 1; }

LOGS="$B/valgrind"
rm -rf "$LOGS"
mkdir -p "$LOGS"
chmod 1777 "$LOGS"	# daemons drop to nobody before they exit

for f in "$B"/crm-*; do
	case "$f" in *.real) continue;; esac
	[ -f "$f" ] && [ -x "$f" ] || continue
	# a fresh link replaced the wrapper: wrap the new binary
	if head -c 4 "$f" | grep -q 'ELF'; then
		mv -f "$f" "$f.real"
	fi
	[ -f "$f.real" ] || continue
	cat >"$f" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full \\
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \\
    --num-callers=30 --child-silent-after-fork=no \\
    --suppressions=$HERE/valgrind.supp \\
    --log-file=$LOGS/$(basename "$f").%p.log "$f.real" "\$@"
EOF
	chmod 755 "$f"
done

CRM_SANITIZED=1 B="$B" "$HERE/run.sh" "$@"
rc=$?

bad=0 n=0
for log in "$LOGS"/*.log; do
	[ -f "$log" ] || continue
	n=$((n + 1))
	if grep -qE 'ERROR SUMMARY: [1-9]' \
	    "$log"; then
		bad=$((bad + 1))
		echo "== $log"
		sed -n '1,80p' "$log"
	fi
done
echo "valgrind: $n process reports, $bad with errors or leaks ($LOGS)"
[ "$bad" -eq 0 ] || rc=1
exit $rc
