#!/usr/bin/env python3
"""onnx2st.py - a BERT encoder exported to ONNX with int8 dynamic
quantization, rewritten as an F32 safetensors file with the tensor names
and layout of the Hugging Face checkpoint, so the engine (model.c) loads it
like any other model.  Standard library only; nothing is executed from the
ONNX file, it is only read.

    onnx2st.py MODEL.onnx OUT.safetensors

What is read (protobuf, by field number): ModelProto.graph (7);
GraphProto.node (1) and .initializer (5); NodeProto.input (1), .name (3),
.op_type (4); TensorProto.dims (1), .data_type (2), .float_data (4),
.int32_data (5), .name (8), .raw_data (9), .data_location (14, external
data is refused).

What is written:
  - every F32 initializer whose name is a checkpoint name (embeddings.*,
    encoder.layer.N.*: biases and LayerNorms), as is;
  - every int8/uint8 initializer NAME_quantized with NAME_scale and
    NAME_zero_point, dequantized: w = (q - zero_point) * scale, per tensor
    or per output column;
  - the weight of each MatMulInteger node, whose initializer names are
    anonymous ("onnx::MatMul_1525"): the checkpoint name comes from the node
    name ("/encoder/layer.0/attention/self/query/MatMul_quant" ->
    "encoder.layer.0.attention.self.query.weight"), and the [in, out]
    matrix is transposed to torch's [out, in];
  - nothing else (the pooler and any head are dropped).
The output is deterministic: tensors sorted by name, 8-byte aligned
offsets, a fixed metadata entry, so its sha256 can be pinned.
"""
import json
import re
import struct
import sys
from array import array

LIMIT = 1 << 30  # largest ONNX file read


def varint(b, i):
    r = s = 0
    while True:
        if i >= len(b) or s > 63:
            raise ValueError("bad varint")
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    """Yields (field number, wire type, value) of one message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            if i + n > len(b):
                raise ValueError("truncated field")
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield f, wt, v


def packed_varints(v, wt):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


F32, U8, I8 = 1, 2, 3


def tensor(b):
    t = {"dims": [], "type": 0, "name": "", "raw": None, "f": [], "i": []}
    for f, wt, v in fields(b):
        if f == 1:
            t["dims"] += packed_varints(v, wt)
        elif f == 2:
            t["type"] = v
        elif f == 4:
            t["f"] += (list(struct.unpack(f"<{len(v) // 4}f", v)) if wt == 2
                       else [struct.unpack("<f", v)[0]])
        elif f == 5:
            t["i"] += [x - (1 << 64) if x >> 63 else x for x in packed_varints(v, wt)]
        elif f == 8:
            t["name"] = v.decode()
        elif f == 9:
            t["raw"] = v
        elif f == 14 and v == 1:
            raise ValueError(f"{t['name']}: external data")
    return t


def values(t):
    """The tensor's elements as a flat float list (F32, U8, I8)."""
    n = 1
    for d in t["dims"]:
        n *= d
    if t["raw"] is not None:
        code = {F32: "f", U8: "B", I8: "b"}[t["type"]]
        a = array(code)
        a.frombytes(bytes(t["raw"]))
        if sys.byteorder != "little":
            a.byteswap()
    elif t["type"] == F32:
        a = t["f"]
    else:
        a = t["i"]
    if len(a) != n:
        raise ValueError(f"{t['name']}: {len(a)} values for dims {t['dims']}")
    return a


def main(src, dst):
    with open(src, "rb") as fh:
        data = fh.read(LIMIT + 1)
    if len(data) > LIMIT:
        raise ValueError("ONNX file too large")
    graph = next(v for f, _, v in fields(data) if f == 7)
    inits, nodes = {}, []
    for f, _, v in fields(graph):
        if f == 5:
            t = tensor(v)
            inits[t["name"]] = t
        elif f == 1:
            node = {"in": [], "name": "", "op": ""}
            for g, _, w in fields(v):
                if g == 1:
                    node["in"].append(w.decode())
                elif g == 3:
                    node["name"] = w.decode()
                elif g == 4:
                    node["op"] = w.decode()
            nodes.append(node)

    def dequant(base):
        """Per tensor, or per output column (the last axis of [in, out])."""
        s, z = values(inits[base + "_scale"]), values(inits[base + "_zero_point"])
        q = inits[base + "_quantized"]
        a, n = values(q), len(s)
        if len(z) != n or (n != 1 and (len(q["dims"]) != 2 or q["dims"][1] != n)):
            raise ValueError(f"{base}: unsupported quantization layout")
        if n == 1:
            return q["dims"], array("f", ((x - z[0]) * s[0] for x in a))
        return q["dims"], array("f", ((x - z[i % n]) * s[i % n] for i, x in enumerate(a)))

    ckpt = re.compile(r"^(embeddings|encoder\.layer\.\d+)\.[A-Za-z_.]+$")
    out = {}
    for name, t in inits.items():
        if t["type"] == F32 and ckpt.match(name):
            out[name] = (t["dims"], array("f", values(t)))
        elif name.endswith("_quantized") and ckpt.match(name[:-10]):
            out[name[:-10]] = dequant(name[:-10])
    node_re = re.compile(r"^/(encoder/layer\.\d+/[a-z_/]+)/MatMul(_quant)?$")
    quantized = False
    for node in nodes:
        m = node_re.match(node["name"])
        if not m or (node["op"], bool(m.group(2))) not in (
                ("MatMulInteger", True), ("MatMul", False)):
            continue
        w = node["in"][1]
        if node["op"] == "MatMulInteger":
            if not w.endswith("_quantized"):
                raise ValueError(f"{node['name']}: weight {w}")
            (rows, cols), a = dequant(w[:-10])
            quantized = True
        elif w in inits:
            t = inits[w]
            if t["type"] != F32 or len(t["dims"]) != 2:
                raise ValueError(f"{node['name']}: weight {w} is not an F32 matrix")
            (rows, cols), a = t["dims"], array("f", values(t))
        else:
            continue        # activation x activation (attention scores)
        tr = array("f", bytes(4 * rows * cols))
        for r in range(rows):       # [in, out] -> [out, in]
            tr[r::rows] = a[r * cols:(r + 1) * cols]
        name = m.group(1).replace("/", ".") + ".weight"
        if name in out:
            raise ValueError(f"{name}: two weights")
        out[name] = ([cols, rows], tr)
    if not any(n.endswith(".attention.self.query.weight") for n in out):
        raise ValueError("no encoder weight matrices found")
    quantized = quantized or any(n.endswith("_quantized") for n in inits)

    source = "onnx-int8" if quantized else "onnx-f32"
    header, off, blobs = {"__metadata__": {"format": "pt", "source": source}}, 0, []
    for name in sorted(out):
        dims, a = out[name]
        raw = a.tobytes() if sys.byteorder == "little" else (a.byteswap() or a).tobytes()
        header[name] = {"dtype": "F32", "shape": list(dims), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(dst, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h)
        for raw in blobs:
            fh.write(raw)
    print(f"onnx2st: {len(out)} tensors, {off} bytes", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
