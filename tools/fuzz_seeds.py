#!/usr/bin/env python3
"""Builds the fuzzing seed corpora under OUT/<target>/ from the shared test data.

    /usr/bin/python3 tools/fuzz_seeds.py SHARED_DIR MICRO_MODEL OUT

tokenizer: texts (and raw bytes_hex inputs) from golden/tokenizer/bert_wordpiece*.jsonl;
bpe: the same from golden/tokenizer/clip_bpe.jsonl and clip_bpe_invalid_utf8.jsonl;
json: lines of the golden JSONL files plus hand-written edge cases; model: the micro model and
the other families' micro files (tools/make_micro_model.py --family: OpenAI CLIP in f32 with
both towers and text-only in bf16 / q8, jina-embeddings-v2 in f32 / bf16 / q8, 4-93 KB);
image: the encoded images under testdata/images (JPEG, PNG, WebP, GIF, BMP, PNM and the
unsupported and malformed format folders; up to 64 KB each); inflate: zlib streams of
several kinds (stored, fixed, dynamic)."""
import glob
import json
import os
import sys
import zlib

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".pnm", ".pbm", ".pgm", ".ppm")


def put(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shared, micro, out = sys.argv[1:4]
    tok = os.path.join(out, "tokenizer")
    js = os.path.join(out, "json")
    n = 0
    for path in sorted(glob.glob(os.path.join(shared, "golden/tokenizer/bert_wordpiece*.jsonl"))):
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, line in enumerate(lines[:300]):
            if not line.strip():
                continue
            put(js, "%s_%d" % (os.path.basename(path), i), line)
            o = json.loads(line)
            data = bytes.fromhex(o["bytes_hex"]) if "bytes_hex" in o else o["text"].encode("utf-8")
            put(tok, "t%05d" % n, bytes([n % 64]) + data)  # first byte: max_tokens - 2
            n += 1
    # bpe: CLIP golden texts and invalid byte strings, first byte max_tokens - 2 (75 -> 77)
    bpe = os.path.join(out, "bpe")
    n = 0
    for path in sorted(glob.glob(os.path.join(shared, "golden/tokenizer/clip_bpe*.jsonl"))):
        if "trunc" in path:
            continue
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for line in lines[:400]:
            if not line.strip():
                continue
            o = json.loads(line)
            data = bytes.fromhex(o["bytes_hex"]) if "bytes_hex" in o else o["text"].encode("utf-8")
            put(bpe, "b%05d" % n, bytes([75 if n % 2 else n % 64]) + data)
            n += 1
    for i, s in enumerate([b'{"text": "a\\u00e9\\ud83d\\ude00", "id": [1, 2.5e-3, true, null]}',
                           b'[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]', b'"\\ud800"', b'-0.0e+10',
                           b'{"a":{"b":{"c":[]}}}', b'  "x"  ']):
        put(js, "edge%d" % i, s)
    with open(micro, "rb") as f:
        put(os.path.join(out, "model"), "micro.jclip", f.read())
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_micro_model  # noqa: E402 (imports convert/convert.py, which needs numpy)
    for family, dtype, text_only in (("clip", "f32", False), ("clip", "bf16", True), ("clip", "q8", True),
                                     ("jina-v2", "f32", False), ("jina-v2", "bf16", False), ("jina-v2", "q8", False)):
        path = os.path.join(out, "model", "micro-%s-%s%s.jclip" % (family, dtype, "-text" if text_only else ""))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        make_micro_model.write_family(family, path, 1, dtype, text_only)
    img = os.path.join(out, "image")
    for path in sorted(glob.glob(os.path.join(shared, "testdata/images/**/*"), recursive=True)):
        other = "/unsupported/" in path or "/malformed-formats/" in path  # format sniffing
        if os.path.isfile(path) and (other or path.lower().endswith(IMAGE_EXTS)) \
                and os.path.getsize(path) <= 65536:
            with open(path, "rb") as f:
                put(img, os.path.relpath(path, shared).replace(os.sep, "_")[-120:], f.read())
    # http: whole requests for `jclip serve` (head, then the /v1/embeddings body)
    http = os.path.join(out, "http")
    bodies = [b'{"input":"a photo of a cat","model":"jina-clip-v1"}',
              b'{"input":["a","b"],"encoding_format":"base64","dimensions":128}',
              b'{"input":[[101,2000,102]],"encoding_format":"float"}',
              b'{"input":[{"text":"a"},{"image":"iVBORw0KGgo="},{"image":"data:image/png;base64,AAEC"},'
              b'{"bytes":"AAEC"},{"url":"https://x"}],"embedding_type":"ubinary","truncate":false,'
              b'"normalized":true,"task":"retrieval.query"}',
              b'{"input":[{"text":"x"}],"encoding_type":"binary","late_chunking":false}']
    for i, body in enumerate(bodies):
        put(http, "post%d" % i, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer k\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        put(http, "body%d" % i, body)
    put(http, "get", b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    put(http, "expect", b"POST /embeddings?x HTTP/1.1\nExpect: 100-continue\nContent-Length: 2\n\n{}")
    put(http, "chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    # inflate: first byte = output capacity / 256 - 1, then a zlib stream
    infl = os.path.join(out, "inflate")
    samples = [b"", b"a", b"hello hello hello hello", bytes(range(256)) * 8,
               b"abcabcabd" * 300, os.urandom(300)]
    for i, s in enumerate(samples):
        for level in (0, 1, 9):
            put(infl, "z%d_%d" % (i, level), bytes([255]) + zlib.compress(s, level))
        co = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_FIXED)
        put(infl, "fixed%d" % i, bytes([255]) + co.compress(s) + co.flush())


if __name__ == "__main__":
    main()
