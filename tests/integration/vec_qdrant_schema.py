#!/usr/bin/env python3
"""vec_qdrant_schema.py - check the Qdrant client against Qdrant's OpenAPI.

  vec_qdrant_schema.py responses OPENAPI RESP_DIR
      writes one 200 response per operation the client uses, built from
      the schema's own examples, and checks each against its schema.
  vec_qdrant_schema.py validate OPENAPI CAPTURE_DIR
      validates every captured request: the path and query parameters
      must exist for that operation, and the body must match its
      requestBody schema.

The schema is OpenAPI 3.0, whose "nullable" JSON Schema does not know;
left as is, a branch like {"nullable": true} inside anyOf accepts any
value and the check proves nothing.  So the schema is converted first:
nullable becomes an explicit "null" type, and every object that lists
its properties without saying otherwise gets additionalProperties:
false, so a misspelt or removed field (say the old "top" of search) is
an error rather than ignored.  Negative controls confirm the converted
schema does reject broken bodies.
"""
import copy
import json
import os
import re
import sys
from urllib.parse import urlsplit, parse_qsl

import jsonschema

OPS = {
    # operationId: (method, path template)
    "create_collection": ("put", "/collections/{collection_name}"),
    "collection_exists": ("get", "/collections/{collection_name}/exists"),
    "create_field_index": ("put", "/collections/{collection_name}/index"),
    "upsert_points": ("put", "/collections/{collection_name}/points"),
    "query_points": ("post", "/collections/{collection_name}/points/query"),
    "delete_points": ("post", "/collections/{collection_name}/points/delete"),
    "count_points": ("post", "/collections/{collection_name}/points/count"),
}


def convert(node, strict=True):
    """OpenAPI 3.0 schema -> JSON Schema (draft 7), strict objects."""
    if isinstance(node, list):
        return [convert(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("example", "examples", "nullable", "deprecated",
                 "discriminator", "xml", "externalDocs", "readOnly",
                 "writeOnly"):
            continue
        if k == "properties":
            out[k] = {p: convert(s, strict) for p, s in v.items()}
        elif k == "allOf":
            # Members of allOf describe parts of one object; closing
            # each would reject the others' fields.
            out[k] = [convert(s, False) for s in v]
        else:
            out[k] = convert(v, strict)
    if node.get("nullable"):
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        elif len(out) == 0 or set(out) <= {"description", "default"}:
            out["type"] = "null"
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if (strict and "properties" in out and "additionalProperties" not in
            out and "allOf" not in out):
        out["additionalProperties"] = False
    return out


def load(openapi_path):
    with open(openapi_path) as f:
        spec = json.load(f)
    comps = {n: convert(s) for n, s in spec["components"]["schemas"].items()}
    return spec, comps


def validator(comps, schema):
    root = {"$schema": "http://json-schema.org/draft-07/schema#",
            "components": {"schemas": comps}}
    root.update(convert(schema))
    # Formats are checked too: a point id string must really be a UUID.
    return jsonschema.Draft7Validator(
        root, format_checker=jsonschema.FormatChecker())


def deref(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].split("/")[-1]
        node = spec["components"]["schemas"][name]
    return node


def example(spec, node, depth=0):
    """An instance built from the schema's examples (first branch wins)."""
    node = deref(spec, node)
    if depth > 12:
        return None
    if "example" in node:
        return copy.deepcopy(node["example"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            for b in node[key]:
                b = deref(spec, b)
                if set(b) - {"description"} == {"nullable"}:
                    continue
                return example(spec, b, depth + 1)
    if "allOf" in node:
        out = {}
        for b in node["allOf"]:
            out.update(example(spec, b, depth + 1) or {})
        return out
    t = node.get("type")
    if "enum" in node:
        return node["enum"][0]
    if t == "object" or "properties" in node:
        props = node.get("properties", {})
        return {k: example(spec, props[k], depth + 1)
                for k in node.get("required", []) + (
                    ["status", "time", "result"] if depth == 0 else [])
                if k in props}
    if t == "array":
        return [example(spec, node.get("items", {}), depth + 1)]
    if t == "integer":
        return node.get("minimum", 0)
    if t == "number":
        return 0.5
    if t == "boolean":
        return True
    if t == "string":
        return "ok"
    return None


def response_schema(spec, op_id):
    method, path = OPS[op_id]
    op = spec["paths"][path][method]
    assert op["operationId"] == op_id, (op["operationId"], op_id)
    return op["responses"]["200"]["content"]["application/json"]["schema"]


def cmd_responses(openapi, out_dir):
    spec, comps = load(openapi)
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    for op_id in OPS:
        schema = response_schema(spec, op_id)
        inst = example(spec, schema)
        errs = list(validator(comps, schema).iter_errors(inst))
        if errs:
            print(f"FAIL response example for {op_id}: {errs[0].message}")
            return 1
        with open(os.path.join(out_dir, op_id + ".json"), "w") as f:
            json.dump(inst, f)
        print(f"response {op_id}: {json.dumps(inst)[:160]}")
        n += 1
    print(f"{n} responses built from schema examples, all valid")
    return 0


# Bodies the validator must reject, or it is not checking anything.
NEGATIVE = [
    ("create_collection", {"vectors": {"size": 4, "distance": "cosine"}}),
    ("create_collection", {"vectors": {"size": 0, "distance": "Cosine"}}),
    ("upsert_points", {"points": [{"id": 1, "payload": {}}]}),
    ("upsert_points", {"points": [{"id": -1, "vector": [0.1]}]}),
    ("query_points", {"vector": [0.1, 0.2], "top": 3}),
    ("query_points", {"query": [0.1], "limit": 0}),
    ("query_points", {"query": [0.1], "filter": {"must": [{"key": "ts",
                      "range": {"gte": True}}]}}),
    ("delete_points", {"points": ["not-a-uuid"]}),
    ("delete_points", {"filter": {"must": [{"key": "a",
                       "match": {"valeu": "x"}}]}}),
    ("create_field_index", {"field_name": "ts", "field_schema": "int"}),
    ("count_points", {"exact": "yes"}),
]


def request_schema(spec, op_id):
    method, path = OPS[op_id]
    op = spec["paths"][path][method]
    rb = op.get("requestBody")
    if rb is None:
        return None, op
    return rb["content"]["application/json"]["schema"], op


def cmd_validate(openapi, capture_dir):
    spec, comps = load(openapi)
    files = sorted(f for f in os.listdir(capture_dir) if f.endswith(".json"))
    ok = bad = 0
    seen = set()
    for name in files:
        with open(os.path.join(capture_dir, name)) as f:
            rec = json.load(f)
        op_id = rec["operation"]
        method, template = OPS[op_id]
        url = urlsplit(rec["url"])
        pattern = "^" + re.escape(template).replace(
            re.escape("{collection_name}"), "(?P<c>[^/]+)") + "$"
        m = re.match(pattern, url.path)
        problems = []
        if rec["method"].lower() != method:
            problems.append(f"method {rec['method']} != {method}")
        if m is None:
            problems.append(f"path {url.path} is not {template}")
        elif not re.match(r"^crm_[A-Za-z0-9_-]{1,64}$", m.group("c")):
            problems.append(f"collection name {m.group('c')} not derived "
                            "from a tenant id")
        schema, op = request_schema(spec, op_id)
        params = {p["name"] for p in op.get("parameters", [])
                  if p.get("in") == "query"}
        for k, v in parse_qsl(url.query):
            if k not in params:
                problems.append(f"query parameter {k} not in the schema")
        if rec.get("api_key") is None:
            problems.append("api-key header missing")
        body = rec.get("body")
        if schema is None:
            if body is not None:
                problems.append("body sent where the schema has none")
        else:
            errs = sorted(validator(comps, schema).iter_errors(body),
                          key=lambda e: e.path)
            problems += [f"{list(e.path)}: {e.message[:200]}"
                         for e in errs[:3]]
        if problems:
            bad += 1
            print(f"FAIL {name} {op_id} {rec['method']} {rec['url']}")
            for p in problems:
                print(f"     {p}")
        else:
            ok += 1
            seen.add(op_id)
            print(f"ok   {name} {op_id} {rec['method']} {url.path}"
                  f"{'?' + url.query if url.query else ''}")
    neg_ok = 0
    for op_id, body in NEGATIVE:
        schema, _ = request_schema(spec, op_id)
        if list(validator(comps, schema).iter_errors(body)):
            neg_ok += 1
        else:
            bad += 1
            print(f"FAIL negative control accepted: {op_id} "
                  f"{json.dumps(body)}")
    missing = sorted(set(OPS) - seen)
    if missing:
        bad += 1
        print(f"FAIL operations never exercised: {missing}")
    print(f"schema: {spec['info'].get('title')} "
          f"version {spec['info'].get('version')}, openapi "
          f"{spec.get('openapi')}")
    print(f"{ok} requests valid, {neg_ok}/{len(NEGATIVE)} negative "
          f"controls rejected, {len(seen)}/{len(OPS)} operations covered")
    print(f"{ok + neg_ok} passed, {bad} failed")
    return 0 if bad == 0 and ok > 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("responses", "validate"):
        print(__doc__)
        sys.exit(2)
    fn = cmd_responses if sys.argv[1] == "responses" else cmd_validate
    sys.exit(fn(sys.argv[2], sys.argv[3]))
