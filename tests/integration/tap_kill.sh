#!/usr/bin/env bash
# tap_kill.sh - kill -9 of crm-proxy (parent and workers) in the middle of
# bulk fetches, 20 times at random points: nothing complete is lost,
# nothing corrupt or partial is published.
#
# The first half of the rounds the workers write the spool themselves; the
# second half they stage it (stage_dir, docs/spool.md "Staged writes"), so
# a kill leaves records in the stage that crm-capture or the restarted
# writer must write out.
#
# Dovecot holds mailgen's 500 messages (five 2-6 MB).  crm-capture and a
# real Kafka run throughout.  Each round starts the proxy, two imaplib
# clients fetch message after message through it (one command per UID,
# from random starting points, logging every response that completed),
# and after a random 0.3-2.5 s the proxy's parent and workers get SIGKILL.
# Afterwards kcat reads the topic: for every UID at least as many records
# as fetches the clients saw complete, and every record's value is byte-identical to what
# Dovecot holds for its UID (a torn or mixed record would not be).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"

scenario_init tap_kill 9
need_cmd kcat
[ -x "$B/crm-proxy" ] && [ "${CRM_TEST_DIRECT:-}" != 1 ] ||
	skip "the tap lives in crm-proxy: no direct mode"
ROUNDS="${TAP_KILL_ROUNDS:-20}"
dovecot_start
"$PY" "$TLIB/mailgen.py" maildir --count 500 "$T/corpus" >/dev/null ||
	fail "mailgen"
dovecot_import alice "$T/corpus" || fail "doveadm import"
"$PY" "$TAP_CHECK" inventory 127.0.0.1 "$DOVE_IMAP" alice alicepw \
	"$T/inventory.json" INBOX || fail "inventory"
tap_kafka_start
tap_capture_start
tap_proxy_capture acme
target_start
disown "$PROXY_PID" 2>/dev/null	# no job-status noise when it is killed
LOAD="$HERE/tap_load.py"

step "$ROUNDS rounds: fetch through the proxy, kill -9 at a random point"
for round in $(seq 1 "$ROUNDS"); do
	if [ "$round" = $((ROUNDS / 2 + 1)) ]; then
		mkdir -p "$T/stage" && chmod 1777 "$T/stage"
		sed -i "s|^spool_max = .*|&\nstage_dir = $T/stage\nstage_size = 8m|" \
		    "$PROXY_CONF"
		grep -q '^stage_dir' "$PROXY_CONF" || fail "no stage_dir in $PROXY_CONF"
		"$B/crm-proxy" --check -c "$PROXY_CONF" >/dev/null ||
			fail "--check rejected the staged config"
		# a bad stage is refused at start, naming its line
		for bad in "stage_size = 6m" "stage_dir = $T/none"; do
			sed "s|^stage_size = .*|$bad|; s|^stage_dir = .*|$bad|" \
			    "$PROXY_CONF" >"$T/bad.conf"
			l="$(grep -n "^$bad\$" "$T/bad.conf" | head -n 1 | cut -d: -f1)"
			out="$("$B/crm-proxy" --check -c "$T/bad.conf" 2>&1)" &&
				fail "--check accepted '$bad'"
			grep -q "bad.conf:$l" <<<"$out" ||
				fail "--check did not name line $l for '$bad': $out"
		done
		# a stage_dir without room for every writer's stage: a warning
		mkdir -p "$T/small"
		sed "s|^stage_dir = .*|stage_dir = $T/small|" "$PROXY_CONF" \
		    >"$T/small.conf"
		out="$(unshare -m sh -c 'mount -t tmpfs -o size=8m tmpfs "$1" &&
		    exec "$2" --check -c "$3"' - "$T/small" "$B/crm-proxy" \
		    "$T/small.conf" 2>&1)" || true
		if grep -q "OK (" <<<"$out"; then
			grep -q "warning: capture: stage_dir $T/small has 8 MiB free" \
			    <<<"$out" ||
				fail "--check did not warn of a small stage_dir: $out"
		elif [ -n "${CI:-}" ]; then
			fail "no private tmpfs for the stage room check: $out"
		else
			echo "  (stage room warning not checked: no private mount)"
		fi
		echo "  from here on: staged writes"
	fi
	if [ "$round" -gt 1 ]; then
		"$B/crm-proxy" -c "$PROXY_CONF" -F >>"$PROXY_LOG" 2>&1 &
		PROXY_PID=$!
		disown "$PROXY_PID"	# no job-status noise when it is killed
		track_pid "$PROXY_PID" crm-proxy
		wait_port "$TARGET_IMAP" 10 "$PROXY_PID" ||
			fail "round $round: the proxy did not restart"
	fi
	pids=()
	for c in 1 2; do
		"$PY" "$LOAD" fetch "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_CA" \
			alice alicepw 1 500 "$T/done.txt" --loop \
			--seed $((round * 10 + c)) 2>>"$T/load.err" &
		pids+=($!)
	done
	delay_ms=$((300 + RANDOM % 2200))
	sleep "$(awk -v m="$delay_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
	workers="$(pgrep -P "$PROXY_PID" | tr '\n' ' ')"
	kill -KILL "$PROXY_PID" $workers 2>/dev/null
	for p in "${pids[@]}"; do wait "$p"; done
	printf '  round %2d: killed after %4d ms, %s fetches completed so far\n' \
		"$round" "$delay_ms" "$(wc -l <"$T/done.txt")"
done
completed="$(wc -l <"$T/done.txt")"
[ "$completed" -gt 50 ] || fail "only $completed fetches completed: the load did not run"

step "ship, then read everything back with kcat"
"$B/crm-proxy" -c "$PROXY_CONF" -F >>"$PROXY_LOG" 2>&1 &
PROXY_PID=$!
track_pid "$PROXY_PID" crm-proxy
prev=-1
for i in $(seq 1 60); do
	n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl")"
	[ "$n" = "$prev" ] && [ "$n" -ge "$completed" ] && break
	prev="$n"
	sleep 2
done
"$PY" - "$T/inventory.json" "$T/done.txt" "$T/kafka.jsonl" <<'PYEOF' || fail "lost or corrupt records"
import json, sys, collections
inv = json.load(open(sys.argv[1]))["INBOX"]["uids"]
done = collections.Counter()
for line in open(sys.argv[2]):
    uid, t, sha, size = line.split()
    assert inv[uid][0] == sha, "client got a wrong message for uid %s" % uid
    done[uid] += 1
recs = [json.loads(l) for l in open(sys.argv[3])]
onk = collections.Counter()
bad = 0
for r in recs:
    uid = r["headers"].get("uid")
    if uid not in inv or inv[uid][0] != r["sha256"] or inv[uid][1] != r["size"]:
        bad += 1
        print("  CORRUPT record uid %s: %d bytes" % (uid, r["size"]))
    onk[uid] += 1
# each completed fetch committed its own record before the client saw the
# end of the response: per UID at least as many records as fetches
lost = [u for u in done if onk[u] < done[u]]
print("  %d fetches completed (%d distinct messages); %d records on Kafka, "
      "%d corrupt, %d completed messages missing" % (sum(done.values()),
      len(done), len(recs), bad, len(lost)))
if lost:
    print("  missing uids: %s" % " ".join(sorted(lost, key=int)[:20]))
sys.exit(1 if bad or lost else 0)
PYEOF
note "crm-capture: $(sed -n 's/^crm_capture_\(records_torn_total\|records_aborted_total\|records_corrupt_total\) /\1=/p' "$T/capture.prom" | tr '\n' ' ')"
grep -q 'records_corrupt_total 0' "$T/capture.prom" ||
	fail "crm-capture counted corrupt records"
proxy_check_log
# every stage was written out and removed (crm-capture or a restarted
# writer); the running proxy's own stages are the only ones left
ls "$T/stage" >"$T/stages.txt"
note "stages left by the running proxy: $(wc -l <"$T/stages.txt");" \
    "written out by crm-capture: $(grep -c 'wrote out what its stage held' "$T/capture.log")"
pass "$ROUNDS kill -9 rounds (half staged): $completed completed fetches all on Kafka, no corrupt record"
