#!/usr/bin/env python3
"""ref_embed.py - an independent reference for crm-embed's vectors.

  ref_embed.py MODEL TEXTS OURS [N]
      TEXTS: NUL-separated texts; OURS: crm-embed output (JSON Lines, one
      vector per text).  Embeds the first N (all) texts here and prints the
      minimum and mean cosine; exits 1 if the minimum is below 0.999.

Everything is computed in float64 with numpy from the safetensors file
(header parsed here, no `safetensors`/torch package), token ids from HF
`tokenizers`, one text at a time with no padding, so neither the C
tokenizer nor the C batching is trusted.  Sizes and pooling come from the
model's config files, as in the C code.
"""
import json
import math
import struct
import sys

import numpy as np
from tokenizers import Tokenizer


def load_weights(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    dt = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}
    out = {}
    for name, d in header.items():
        if name == "__metadata__" or d["dtype"] not in ("F32", "F16"):
            continue
        a, b = d["data_offsets"]
        out[name.removeprefix("bert.")] = (
            raw[a:b].view(dt[d["dtype"]]).reshape(d["shape"]).astype(np.float64))
    return out


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


_erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def encode(W, cfg, ids):
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, L, eps = H // nh, len(ids), cfg.get("layer_norm_eps", 1e-12)
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][:L]
         + W["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"],
                   W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(t, name):
            return t @ W[p + name + ".weight"].T + W[p + name + ".bias"]

        def heads(t):
            return t.reshape(L, nh, hd).transpose(1, 0, 2)

        q, k, v = (heads(lin(x, "attention.self." + n))
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x = layer_norm(lin(ctx, "attention.output.dense") + x,
                       W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(lin(h, "output.dense") + x,
                       W[p + "output.LayerNorm.weight"],
                       W[p + "output.LayerNorm.bias"], eps)
    return x


def main(argv):
    model, texts_path, ours_path = argv[:3]
    texts = open(texts_path, "rb").read().decode().split("\0")
    if len(argv) > 3:
        texts = texts[:int(argv[3])]
    ours = [np.array(json.loads(l)) for l, _ in zip(open(ours_path), texts)]
    cfg = json.load(open(f"{model}/config.json"))
    pool = json.load(open(f"{model}/1_Pooling/config.json"))
    modules = json.load(open(f"{model}/modules.json"))
    normalize = any("Normalize" in m["type"] for m in modules)
    max_len = json.load(open(f"{model}/sentence_bert_config.json"))["max_seq_length"]
    tok = Tokenizer.from_file(f"{model}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_length=max_len)
    W = load_weights(f"{model}/model.safetensors")
    cos = []
    for i, (t, o) in enumerate(zip(texts, ours)):
        h = encode(W, cfg, np.array(tok.encode(t).ids))
        v = h[0] if pool.get("pooling_mode_cls_token") else h.mean(0)
        if normalize:
            v = v / max(np.linalg.norm(v), 1e-12)
        c = float(v @ o / (np.linalg.norm(v) * np.linalg.norm(o)))
        cos.append(c)
        if c < 0.999:
            print(f"LOW text {i} {t[:60]!r}: cosine {c:.6f}")
    print(f"embeddings: {len(cos)} texts, min cosine {min(cos):.9f}, "
          f"mean {sum(cos) / len(cos):.9f}, max |norm-1| "
          f"{max(abs(np.linalg.norm(o) - 1) for o in ours):.2e}")
    return 0 if min(cos) >= 0.999 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
