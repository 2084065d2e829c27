#!/usr/bin/env python3
"""remote_server.py - an OpenAI-compatible /v1/embeddings endpoint for tests.

  remote_server.py MODEL_DIR PORT KEY_FILE LOG

No OpenAI (or other hosted) endpoint is reachable from the test machines,
so this server stands in for one.  It is not a stub: every vector it
returns is computed here, by the float64 numpy forward pass of
ref_embed.py over the same all-MiniLM-L6-v2 weights, with token ids from
HF `tokenizers`.  The client under test therefore has to get real
vectors through a real HTTP exchange, and its output can be compared
with the C engine's.

The "model" field of a request selects a behaviour, so one server covers
the error paths the client must handle:
  all-minilm-l6-v2   normal answer
  always-500         HTTP 500 with an OpenAI-style error body
  flaky-N            HTTP 503 for the first N requests of this model, then OK
  slow               sleeps 5 s before answering (client timeout)
  malformed          a truncated JSON body with status 200
  wrong-dim          vectors one element short
Requests must carry "Authorization: Bearer <key>" with the key in
KEY_FILE; otherwise 401.  Each request appends "model count" to LOG so
the test can count retries.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_embed  # noqa: E402

MODEL, PORT, KEY_FILE, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
KEY = open(KEY_FILE).read().strip()
CFG = json.load(open(f"{MODEL}/config.json"))
POOL = json.load(open(f"{MODEL}/1_Pooling/config.json"))
MAXLEN = json.load(open(f"{MODEL}/sentence_bert_config.json"))["max_seq_length"]
TOK = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
TOK.no_padding()
TOK.enable_truncation(max_length=MAXLEN)
W = ref_embed.load_weights(f"{MODEL}/model.safetensors")
LOCK = threading.Lock()
COUNTS = {}
MAX_BODY = 8 << 20


def embed(text):
    h = ref_embed.encode(W, CFG, np.array(TOK.encode(text).ids))
    v = h[0] if POOL.get("pooling_mode_cls_token") else h.mean(0)
    return v / max(np.linalg.norm(v), 1e-12)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n > MAX_BODY:
            return self.reply(413, {"error": {"message": "too large"}})
        req = json.loads(self.rfile.read(n))
        if self.path != "/v1/embeddings":
            return self.reply(404, {"error": {"message": "no such path"}})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self.reply(401, {"error": {"message": "Incorrect API key provided"}})
        model = req.get("model", "")
        with LOCK:
            COUNTS[model] = COUNTS.get(model, 0) + 1
            count = COUNTS[model]
            with open(LOG, "a") as f:
                f.write(f"{model} {count} {len(req['input'])}\n")
        if model == "always-500":
            return self.reply(500, {"error": {"message": "The server had an error", "type": "server_error"}})
        if model.startswith("flaky-") and count <= int(model[6:]):
            return self.reply(503, {"error": {"message": "overloaded"}})
        if model == "slow":
            time.sleep(5)
        texts = req["input"]
        vecs = [embed(t) for t in texts]
        if model == "wrong-dim":
            vecs = [v[:-1] for v in vecs]
        body = {"object": "list", "model": model,
                "data": [{"object": "embedding", "index": i,
                          "embedding": [float(x) for x in v]}
                         for i, v in enumerate(vecs)],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        data = json.dumps(body).encode()
        if model == "malformed":
            data = data[: len(data) // 2]
        self.reply(200, data)


srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
print("ready", flush=True)
srv.serve_forever()
