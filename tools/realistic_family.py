#!/usr/bin/env python3
"""Rewrites an OpenAI CLIP or jina-embeddings-v2 checkpoint directory (the shared family
generators' output, or a real one) with the value statistics of ../shared/tools/make_checkpoint.py
--realistic, which the family generators do not offer: a measurement tool for reduced precision
(convert.py --dtype bf16|q8), not a test input.

    /usr/bin/python3 tools/realistic_family.py IN_DIR OUT_DIR [--seed N]

Two changes, as make_checkpoint.py's docstring describes them for jina-clip-v1:
  1. heavy-tailed weights: every linear / convolution / projection weight becomes
         sqrt(1 / fan_in) * clip(sign(r) * ((1 - |r|)^(-1/3) - 1), -20, 20),  r uniform in [-1, 1)
     (symmetric Lomax, alpha 3; r from numpy's PCG64 seeded by the seed and the tensor name);
  2. outlier channels: 4 channels per tower (text / vision), drawn from the seed, carry LayerNorm
     weights of 10 + 4 r instead of their own in every LayerNorm of the tower's width.
Embeddings, positions, biases and LayerNorm biases are copied. The other files of IN_DIR
(config, tokenizer, preprocessor) are copied unchanged."""
import argparse
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

# The weights the heavy-tailed rule applies to, by name suffix (CLIP, then JinaBERT v2).
HEAVY = ("_proj.weight", "mlp.fc1.weight", "mlp.fc2.weight", "patch_embedding.weight", "text_projection.weight",
         "visual_projection.weight", "attention.self.query.weight", "attention.self.key.weight",
         "attention.self.value.weight", "attention.output.dense.weight", "mlp.gated_layers.weight", "mlp.wo.weight")
# LayerNorm weights of the towers' width, by name suffix.
LN = ("layer_norm1.weight", "layer_norm2.weight", "final_layer_norm.weight", "pre_layrnorm.weight",
      "post_layernorm.weight", "embeddings.LayerNorm.weight", "attention.output.LayerNorm.weight",
      "mlp.layernorm.weight")


def rng_for(seed, name):
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    meta = header.pop("__metadata__", None)
    return raw, 8 + hlen, header, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("in_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    raw, base, header, meta = read_safetensors(os.path.join(a.in_dir, "model.safetensors"))
    os.makedirs(a.out_dir, exist_ok=True)
    for f in os.listdir(a.in_dir):
        if f != "model.safetensors" and os.path.isfile(os.path.join(a.in_dir, f)):
            shutil.copy(os.path.join(a.in_dir, f), os.path.join(a.out_dir, f))
    outliers = {}
    names = sorted(header, key=lambda n: header[n]["data_offsets"][0])
    blobs, new_header, off = [], {}, 0
    for name in names:
        info = header[name]
        lo, hi = info["data_offsets"]
        data = raw[base + lo:base + hi]
        shape = tuple(info["shape"])
        if info["dtype"] == "F32" and len(shape) >= 2 and name.endswith(HEAVY):
            fan_in = int(np.prod(shape[1:]))
            r = rng_for(a.seed, name).uniform(-1.0, 1.0, size=shape)
            x = np.clip(np.sign(r) * ((1.0 - np.abs(r)) ** (-1.0 / 3.0) - 1.0), -20.0, 20.0)
            data = (np.sqrt(1.0 / fan_in) * x).astype("<f4").tobytes()
        elif info["dtype"] == "F32" and len(shape) == 1 and name.endswith(LN):
            tower = "vision" if name.startswith("vision_model.") else "text"
            width = shape[0]
            if (tower, width) not in outliers:
                outliers[(tower, width)] = rng_for(a.seed, "outliers." + tower).choice(width, size=min(4, width), replace=False)
            w = np.frombuffer(data, dtype="<f4").copy()
            ch = outliers[(tower, width)]
            w[ch] = 10.0 + 4.0 * rng_for(a.seed, name).uniform(-1.0, 1.0, size=len(ch))
            data = w.astype("<f4").tobytes()
        new_header[name] = {"dtype": info["dtype"], "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if meta is not None:
        new_header["__metadata__"] = meta
    hj = json.dumps(new_header, sort_keys=True).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    with open(os.path.join(a.out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj)
        for b in blobs:
            f.write(b)
    for (tower, width), ch in sorted(outliers.items()):
        print("%s (width %d): outlier channels %s" % (tower, width, sorted(int(c) for c in ch)), file=sys.stderr)


if __name__ == "__main__":
    main()
