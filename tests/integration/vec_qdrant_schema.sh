#!/usr/bin/env bash
# vec_qdrant_schema.sh - every request the Qdrant backend builds, checked
# against Qdrant's published OpenAPI schema; responses made from the
# schema's examples fed back through the client's parsers.
#
# No Qdrant server runs here (none can be installed on these machines):
# this checks the client's side of the contract, not a live server.
#
# Schema: ../shared/qdrant/openapi.json beside the repository, read-only
# (override with QDRANT_OPENAPI).  Validator: jsonschema from PyPI in a
# venv under $B, created once and reused.
# Exit 0 pass, 1 fail, 77 skip (missing schema or PyPI; a failure under
# CI=true).
set -uo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
SCHEMA="${QDRANT_OPENAPI:-$ROOT/../shared/qdrant/openapi.json}"
JSONSCHEMA_VERSION=4.23.0

skip() {
	echo "vec_qdrant_schema: $*"
	if [ "${CI:-}" = true ]; then
		echo "vec_qdrant_schema: a skip is a failure under CI=true"
		exit 1
	fi
	exit 77
}

[ -r "$SCHEMA" ] || skip "Qdrant OpenAPI schema not found at $SCHEMA"
CAP="$B/tests/vec_qdrant_capture"
if [ ! -x "$CAP" ]; then
	make -C "$ROOT" B="$B" "$CAP" >/dev/null || { echo "build failed"; exit 1; }
fi

VENV="$B/venv-qdrant-schema"
if [ ! -f "$VENV/.ok-$JSONSCHEMA_VERSION" ]; then
	rm -rf "$VENV"
	python3 -m venv "$VENV" || skip "python3 -m venv failed"
	"$VENV/bin/pip" install -q "jsonschema==$JSONSCHEMA_VERSION" \
	    || skip "pip install jsonschema failed (no PyPI?)"
	touch "$VENV/.ok-$JSONSCHEMA_VERSION"
fi
PY="$VENV/bin/python"

echo "schema: $SCHEMA (sha256 $(sha256sum "$SCHEMA" | cut -c1-16))"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/resp" "$WORK/req"

"$PY" "$ROOT/tests/integration/vec_qdrant_schema.py" responses "$SCHEMA" \
    "$WORK/resp" || exit 1
"$CAP" "$WORK/req" "$WORK/resp" || exit 1
"$PY" "$ROOT/tests/integration/vec_qdrant_schema.py" validate "$SCHEMA" \
    "$WORK/req"
