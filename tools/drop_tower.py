#!/usr/bin/env python3
"""Copies a Hugging Face checkpoint directory without one tower's weights (standard library only).

    python3 tools/drop_tower.py SRC_DIR OUT_DIR --drop vision|text

Every file of SRC_DIR is copied to OUT_DIR except model.safetensors, which is rewritten without
the tensors whose names start with vision_model. (or text_model.), so that convert.py makes a
text-only (or vision-only) .jclip file from it. The tests use it; it also shows how to ship a
smaller file to a device that only ever embeds one kind of input."""
import argparse
import json
import os
import shutil
import struct
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--drop", choices=("vision", "text"), required=True)
    a = ap.parse_args(argv)
    prefix = a.drop + "_model."
    os.makedirs(a.out, exist_ok=True)
    for name in os.listdir(a.src):
        if name != "model.safetensors" and os.path.isfile(os.path.join(a.src, name)):
            shutil.copyfile(os.path.join(a.src, name), os.path.join(a.out, name))
    with open(os.path.join(a.src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        keep = {k: v for k, v in header.items() if k != "__metadata__" and not k.startswith(prefix)}
        if len(keep) == len(header) - ("__metadata__" in header):
            sys.exit("drop_tower.py: %s has no %s* tensors" % (a.src, prefix))
        out_header, chunks, off = {}, [], 0
        for k in sorted(keep, key=lambda k: keep[k]["data_offsets"][0]):
            b, e = keep[k]["data_offsets"]
            f.seek(base + b)
            chunks.append(f.read(e - b))
            out_header[k] = dict(keep[k], data_offsets=[off, off + e - b])
            off += e - b
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    hb = json.dumps(out_header).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    tmp = os.path.join(a.out, "model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for c in chunks:
            f.write(c)
    os.replace(tmp, os.path.join(a.out, "model.safetensors"))


if __name__ == "__main__":
    main()
