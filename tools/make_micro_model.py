#!/usr/bin/env python3
"""Writes a micro .jclip model (about 20 KB): the real jina-clip-v1 structure with tiny dims
(width 4, one layer per tower, 224-pixel input in 14-pixel patches as the loader requires) and a
40-entry vocab. It is the fuzzing seed for the .jclip loader and a fast model for the hostile
tests (allocation-failure injection walks every allocation, so the model must be small).

    /usr/bin/python3 tools/make_micro_model.py -o build/models/micro.jclip [--seed N]

Uses convert/convert.py's writer helpers, so the layout is exactly the converter's.

--family clip | jina-v2 writes the other families' micro files instead (fuzzing seeds for their
towers' bind paths), through convert.py's own builders and writer from an in-memory
checkpoint: OpenAI CLIP (byte-level BPE with the 512 byte symbols and a few merges, text and
vision towers; with --text-only no vision tower) or jina-embeddings-v2 (WordPiece, text only).
--dtype bf16|q8 stores the linear weights so (the kernels need K % 32 == 0: width 32)."""
import tempfile  # noqa: E402
import argparse
import json
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "convert"))
import convert as cv  # noqa: E402
import numpy as np  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "cat", "dog", "photo",
         "of", "on", "red", "sofa", "##s", "##ing", "sit", "hello", "world", ".", ",", "!",
         "un", "##able", "x", "##x", "é", "中", "(", ")", "##e", "e", "1", "2", "##1", "ab",
         "##b", "c", "##c", "ok"]


class MicroTensors:
    """The part of convert.SafeTensors the builders and the writer use, over random arrays."""

    def __init__(self, plan, rng):
        self.tensors, self.arrays = {}, {}
        for name, shape in plan:
            arr = ((rng.random(int(np.prod(shape))) * 2 - 1) * 0.5).reshape(shape)
            if "norm" in name.lower() and name.endswith(".weight") and len(shape) == 1:
                arr = arr * 0.2 + 1.0
            self.tensors[name] = {"shape": list(shape)}
            self.arrays[name] = arr.astype("<f4")

    def get(self, name):
        return self.arrays[name]


def write_family(family, out, seed, dtype, text_only, force_wide=False):
    rng = np.random.default_rng(seed)
    wide = dtype != "f32" or force_wide
    D, F = (32, 64) if wide else (4, 8)
    with tempfile.TemporaryDirectory() as hf:
        if family == "clip":
            byte_syms = list(cv.bpe_byte_chars().values())
            vocab = byte_syms + [c + "</w>" for c in byte_syms]
            merges = [("c", "a"), ("ca", "t</w>"), ("o", "n</w>"), ("p", "h"), ("ph", "o")]
            for a_, b_ in merges:
                vocab.append(a_ + b_)
            vocab += ["<|startoftext|>", "<|endoftext|>"]
            with open(os.path.join(hf, "vocab.json"), "w") as f:
                json.dump({t: i for i, t in enumerate(vocab)}, f)
            with open(os.path.join(hf, "merges.txt"), "w") as f:
                f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
            cfg = {"model_type": "clip", "projection_dim": 8 if not wide else 32,
                   "text_config": {"hidden_size": D, "intermediate_size": F, "num_attention_heads": 2,
                                   "num_hidden_layers": 1, "vocab_size": len(vocab), "max_position_embeddings": 16},
                   "vision_config": {"hidden_size": D, "intermediate_size": F, "num_attention_heads": 1,
                                     "num_hidden_layers": 1, "patch_size": 32, "image_size": 224}}
            th, vh = cv.clip_text_hparams(cfg), None if text_only else cv.clip_vision_hparams(cfg)
            P = cfg["projection_dim"]
            plan = cv.clip_text_tensors(th, P) + (cv.clip_vision_tensors(vh, P) if vh else [])
        else:
            with open(os.path.join(hf, "vocab.txt"), "w", encoding="utf-8") as f:
                f.write("".join(w + "\n" for w in VOCAB))
            cfg = {"model_type": "bert", "architectures": ["JinaBertForMaskedLM"], "hidden_size": D,
                   "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": F,
                   "vocab_size": len(VOCAB), "type_vocab_size": 2, "model_max_length": 64}
            plan = cv.jina_v2_tensors(cv.jina_v2_hparams(cfg))
        st = MicroTensors(plan, rng)
        family_name = cv.detect_family(cfg)
        body, plan, _, _ = cv.BUILDERS[family_name](hf, cfg, st)
        meta = [("general.architecture", cv.T_STR, family_name), ("general.source", cv.T_STR, "micro")] + body
        smoothed = cv.smooth_pairs(st, cv.clip_smooth_pairs(plan)) if family_name == "clip" and dtype == "q8" else {}
        dtype_of = None
        if dtype == "mixed":  # the linear weights alternately q8 and bf16, the last q8 (one file, both kernels)
            linear = [n for n, shape in plan if cv.tensor_dtype(n, shape, cv.DT_BF16) == cv.DT_BF16]
            dtype_of = {n: (cv.DT_Q8, cv.DT_BF16)[i % 2] for i, n in enumerate(linear)}
        cv.write_file(out, meta, plan, st, cv.DTYPES.get(dtype, cv.DT_F32), smoothed, dtype_of)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--family", choices=("jina-clip", "clip", "jina-v2"), default="jina-clip")
    ap.add_argument("--dtype", choices=("f32", "bf16", "q8", "mixed"), default="f32",
                    help="mixed: the linear weights alternately bf16 and q8 (a test of mixed files)")
    ap.add_argument("--wide", action="store_true", help="width 32 even for f32 (the weights of --dtype bf16|q8|mixed)")
    ap.add_argument("--text-only", action="store_true", help="clip: no vision tower")
    a = ap.parse_args()
    if a.family != "jina-clip":
        os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
        write_family(a.family, a.output, a.seed, a.dtype, a.text_only, a.wide)
        return
    th = {"vocab_size": len(VOCAB), "hidden_size": 4, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 8, "type_vocab_size": 2,
          "layer_norm_eps": 1e-12}
    vh = {"width": 4, "layers": 1, "head_width": 4, "heads": 1, "mlp_hidden": 8,
          "patch_size": 14, "image_size": 224, "grid": 16}
    plan = cv.expected_tensors(th, vh)
    rng = np.random.default_rng(a.seed)
    meta = [
        ("general.architecture", cv.T_STR, "jina-clip-v1"),
        ("general.source", cv.T_STR, "micro"),
        ("general.embed_dim", cv.T_U64, 4),
        ("text.vocab_size", cv.T_U64, th["vocab_size"]),
        ("text.d_model", cv.T_U64, 4),
        ("text.n_layer", cv.T_U64, 1),
        ("text.n_head", cv.T_U64, 2),
        ("text.d_ff", cv.T_U64, 8),
        ("text.type_vocab_size", cv.T_U64, 2),
        ("text.ln_eps", cv.T_F64, 1e-12),
        ("vision.d_model", cv.T_U64, 4),
        ("vision.n_layer", cv.T_U64, 1),
        ("vision.n_head", cv.T_U64, 1),
        ("vision.d_ff", cv.T_U64, 8),
        ("vision.patch_size", cv.T_U64, 14),
        ("vision.image_size", cv.T_U64, 224),
        ("vision.ln_eps", cv.T_F64, 1e-6),
        ("vision.rope_theta", cv.T_F64, 10000.0),
        ("preprocess.size", cv.T_U64, 224),
        ("preprocess.mean", cv.T_F32A, cv.CLIP_MEAN),
        ("preprocess.std", cv.T_F32A, cv.CLIP_STD),
        ("tokenizer.type", cv.T_STR, "wordpiece"),
        ("tokenizer.n_vocab", cv.T_U64, len(VOCAB)),
        ("tokenizer.vocab", cv.T_BLOB, b"".join(w.encode("utf-8") + b"\0" for w in VOCAB)),
    ]
    for key, val in (("unk_id", 1), ("cls_id", 2), ("sep_id", 3), ("pad_id", 0), ("mask_id", 4),
                     ("lowercase", 1), ("strip_accents", 1), ("tokenize_chinese", 1),
                     ("clean_text", 1), ("max_word_chars", 100), ("max_length", 512)):
        meta.append(("tokenizer." + key, cv.T_U64, val))
    meta.append(("tokenizer.special_ids", cv.T_I32A, [0, 1, 2, 3, 4]))
    meta_bytes = struct.pack("<I", len(meta)) + b"".join(cv.meta_entry(*m) for m in meta)
    table = struct.pack("<I", len(plan))
    off, blobs = 0, []
    for name, shape in plan:
        n = int(np.prod(shape))
        arr = (rng.random(n, dtype=np.float64) * 2 - 1).astype("<f4") * 0.5
        if name.endswith("norm.weight") or "norm1.weight" in name or "norm2.weight" in name \
                or "_ln.weight" in name:
            arr = arr * 0.2 + 1.0
        k = name.encode("utf-8")
        table += struct.pack("<H", len(k)) + k + struct.pack("<BB", cv.DT_F32, len(shape))
        table += b"".join(struct.pack("<Q", d) for d in shape)
        table += struct.pack("<QQ", off, 4 * n)
        blobs.append((off, arr.astype("<f4").tobytes()))
        off = cv.align(off + 4 * n)
    meta_off = cv.HEADER_SIZE
    table_off = meta_off + len(meta_bytes)
    data_off = cv.align(table_off + len(table))
    file_size = data_off + off
    crc = zlib.crc32(meta_bytes + table) & 0xFFFFFFFF
    header = cv.MAGIC + struct.pack("<IIQQQQQQI", cv.VERSION, 0, file_size, meta_off,
                                    len(meta_bytes), table_off, len(table), data_off, crc)
    out = bytearray(header + b"\0" * (cv.HEADER_SIZE - len(header)) + meta_bytes + table)
    out += b"\0" * (file_size - len(out))
    for o, b in blobs:
        out[data_off + o:data_off + o + len(b)] = b
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    with open(a.output, "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
