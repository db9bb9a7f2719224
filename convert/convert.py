#!/usr/bin/env python3
"""Convert a Hugging Face jina-clip-v1 checkpoint directory into a .jclip weight file.

    python3 convert/convert.py HF_DIR -o MODEL.jclip

HF_DIR holds config.json, model.safetensors, preprocessor_config.json (optional: the
OpenAI CLIP defaults are used when absent) and vocab.txt and/or tokenizer.json.
Python 3 standard library + numpy only. The file layout is described in convert/FORMAT.md.
"""
import argparse
import json
import mmap
import os
import struct
import sys
import time
import zlib

try:
    import numpy as np
except ImportError:  # pragma: no cover - environment problem, reported plainly
    sys.exit("convert.py: numpy is required (Debian: apt-get install python3-numpy; "
             "run with /usr/bin/python3)")

MAGIC = b"JCLIPWTS"
VERSION = 1
ALIGN = 64
HEADER_SIZE = 128

# Metadata value types (see FORMAT.md).
T_U64, T_F64, T_STR, T_F32A, T_I32A, T_BLOB = 0, 1, 2, 3, 4, 5
# Tensor dtypes.
DT_F32 = 0

# jinaai/jina-bert-flash-implementation's config.json: the text tower sizes, which the
# jina-clip-v1 config.json does not carry (ARCHITECTURE.md 2.2). Keys present in
# text_config.hf_model_config_kwargs override these.
JINA_BERT_DEFAULTS = {
    "vocab_size": 30528, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
    "layer_norm_eps": 1e-12, "type_vocab_size": 2, "pad_token_id": 0, "mlp_type": "glu",
    "use_qk_norm": False, "max_position_embeddings": -1, "position_embedding_type": "alibi",
}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class ConvertError(Exception):
    pass


def load_json(path, what):
    if not os.path.exists(path):
        raise ConvertError("missing %s: %s" % (what, path))
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError("cannot read %s %s: %s" % (what, path, e))


# --------------------------------------------------------------------------------------------
# safetensors reader (the format is an 8-byte little-endian header length, a JSON header
# mapping names to dtype/shape/data_offsets, then the raw data)

ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "F64": (np.float64, 8)}


class SafeTensors:
    def __init__(self, path):
        if not os.path.exists(path):
            raise ConvertError("missing model weights: %s (model.safetensors is required; "
                               "pytorch_model.bin is not supported)" % path)
        self.f = open(path, "rb")
        size = os.fstat(self.f.fileno()).st_size
        if size < 8:
            raise ConvertError("%s: too small to be a safetensors file" % path)
        self.mm = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_READ)
        (hlen,) = struct.unpack("<Q", self.mm[:8])
        if hlen > size - 8 or hlen > 100 << 20:
            raise ConvertError("%s: corrupt safetensors header length %d" % (path, hlen))
        try:
            header = json.loads(bytes(self.mm[8:8 + hlen]).decode("utf-8"))
        except ValueError as e:
            raise ConvertError("%s: corrupt safetensors header: %s" % (path, e))
        self.base = 8 + hlen
        self.size = size
        self.path = path
        self.tensors = {k: v for k, v in header.items() if k != "__metadata__"}

    def get(self, name):
        info = self.tensors[name]
        dt = info.get("dtype")
        shape = tuple(info.get("shape", ()))
        a, b = info.get("data_offsets", (0, 0))
        n = int(np.prod(shape)) if shape else 1
        if dt == "BF16":
            if b - a != 2 * n or self.base + b > self.size:
                raise ConvertError("%s: tensor %s has inconsistent offsets" % (self.path, name))
            raw = np.frombuffer(self.mm, dtype="<u2", count=n, offset=self.base + a)
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)
        if dt not in ST_DTYPES:
            raise ConvertError("%s: tensor %s has unsupported dtype %s" % (self.path, name, dt))
        npdt, width = ST_DTYPES[dt]
        if b - a != width * n or a > b or self.base + b > self.size:
            raise ConvertError("%s: tensor %s has inconsistent offsets" % (self.path, name))
        arr = np.frombuffer(self.mm, dtype=np.dtype(npdt).newbyteorder("<"), count=n,
                            offset=self.base + a).reshape(shape)
        return arr if dt == "F32" else arr.astype(np.float32)


# --------------------------------------------------------------------------------------------
# hyperparameters

def text_hparams(cfg):
    tc = cfg.get("text_config") or {}
    hf_name = tc.get("hf_model_name_or_path", "jinaai/jina-bert-flash-implementation")
    if "jina-bert" not in hf_name:
        raise ConvertError("unknown text tower %r (only jinaai/jina-bert-flash-implementation "
                           "is supported)" % hf_name)
    hp = dict(JINA_BERT_DEFAULTS)
    hp.update(tc.get("hf_model_config_kwargs") or {})
    if hp.get("mlp_type", "glu") != "glu":
        raise ConvertError("text tower mlp_type %r is not supported (only glu)" % hp["mlp_type"])
    if hp.get("use_qk_norm"):
        raise ConvertError("text tower use_qk_norm=true is not supported")
    if tc.get("pooler_type", "mean_pooler") != "mean_pooler":
        raise ConvertError("text pooler %r is not supported (only mean_pooler)" % tc.get("pooler_type"))
    if tc.get("proj_type") not in (None, "identity"):
        raise ConvertError("text projection %r is not supported" % tc.get("proj_type"))
    if hp["hidden_size"] % hp["num_attention_heads"]:
        raise ConvertError("text hidden_size %d is not a multiple of num_attention_heads %d"
                           % (hp["hidden_size"], hp["num_attention_heads"]))
    return hp


def vision_hparams(cfg):
    vc = cfg.get("vision_config") or {}
    width = vc.get("width", 768)
    head_width = vc.get("head_width", 64)
    if width % head_width:
        raise ConvertError("vision width %d is not a multiple of head_width %d" % (width, head_width))
    for key, want in (("rope_embeddings", True), ("subln", True), ("naive_swiglu", True),
                      ("post_norm", False), ("intp_freq", False), ("qkv_bias", True)):
        if key in vc and bool(vc[key]) != want:
            raise ConvertError("vision_config.%s=%r is not supported (jina-clip-v1 uses %r)"
                               % (key, vc[key], want))
    if vc.get("proj_type") not in (None, "identity"):
        raise ConvertError("vision projection %r is not supported" % vc.get("proj_type"))
    if vc.get("ls_init_value") is not None:
        raise ConvertError("vision layer scale is not supported")
    patch = vc.get("patch_size", 16)
    image = vc.get("image_size", 224)
    if image % patch:
        raise ConvertError("vision image_size %d is not a multiple of patch_size %d" % (image, patch))
    grid = image // patch
    if vc.get("pt_hw_seq_len", grid) != grid:
        raise ConvertError("vision pt_hw_seq_len %r != grid %d (frequency interpolation is not "
                           "supported)" % (vc.get("pt_hw_seq_len"), grid))
    return {"width": width, "layers": vc.get("layers", 12), "head_width": head_width,
            "heads": width // head_width, "mlp_hidden": int(width * vc.get("mlp_ratio", 2.6667)),
            "patch_size": patch, "image_size": image, "grid": grid}


def expected_tensors(th, vh):
    """Name -> shape for every tensor the engine reads, in file order (th / vh None: that tower
    is absent)."""
    out = []
    if th:
        out += text_tensors(th)
    if vh:
        out += vision_tensors(vh)
    return out


def text_tensors(th):
    H, I, V, T = th["hidden_size"], th["intermediate_size"], th["vocab_size"], th["type_vocab_size"]
    t = "text_model.transformer."
    out = [(t + "embeddings.word_embeddings.weight", (V, H)),
           (t + "embeddings.token_type_embeddings.weight", (T, H)),
           (t + "emb_ln.weight", (H,)), (t + "emb_ln.bias", (H,))]
    for l in range(th["num_hidden_layers"]):
        p = t + "encoder.layers.%d." % l
        out += [(p + "mixer.Wqkv.weight", (3 * H, H)), (p + "mixer.Wqkv.bias", (3 * H,)),
                (p + "mixer.out_proj.weight", (H, H)), (p + "mixer.out_proj.bias", (H,)),
                (p + "norm1.weight", (H,)), (p + "norm1.bias", (H,)),
                (p + "mlp.gated_layers.weight", (2 * I, H)),
                (p + "mlp.wo.weight", (H, I)), (p + "mlp.wo.bias", (H,)),
                (p + "norm2.weight", (H,)), (p + "norm2.bias", (H,))]
    return out


def vision_tensors(vh):
    W, F, P = vh["width"], vh["mlp_hidden"], vh["patch_size"]
    n_pos = vh["grid"] * vh["grid"] + 1
    v = "vision_model."
    out = [(v + "cls_token", (1, 1, W)), (v + "pos_embed", (1, n_pos, W)),
            (v + "patch_embed.proj.weight", (W, 3, P, P)), (v + "patch_embed.proj.bias", (W,))]
    for l in range(vh["layers"]):
        p = v + "blocks.%d." % l
        out += [(p + "norm1.weight", (W,)), (p + "norm1.bias", (W,)),
                (p + "attn.q_proj.weight", (W, W)), (p + "attn.q_bias", (W,)),
                (p + "attn.k_proj.weight", (W, W)),
                (p + "attn.v_proj.weight", (W, W)), (p + "attn.v_bias", (W,)),
                (p + "attn.inner_attn_ln.weight", (W,)), (p + "attn.inner_attn_ln.bias", (W,)),
                (p + "attn.proj.weight", (W, W)), (p + "attn.proj.bias", (W,)),
                (p + "norm2.weight", (W,)), (p + "norm2.bias", (W,)),
                (p + "mlp.w1.weight", (F, W)), (p + "mlp.w1.bias", (F,)),
                (p + "mlp.w2.weight", (F, W)), (p + "mlp.w2.bias", (F,)),
                (p + "mlp.ffn_ln.weight", (F,)), (p + "mlp.ffn_ln.bias", (F,)),
                (p + "mlp.w3.weight", (W, F)), (p + "mlp.w3.bias", (W,))]
    out += [(v + "norm.weight", (W,)), (v + "norm.bias", (W,))]
    return out


# --------------------------------------------------------------------------------------------
# tokenizer

def read_tokenizer(hf_dir):
    """Returns (vocab list indexed by id, settings dict)."""
    tj_path = os.path.join(hf_dir, "tokenizer.json")
    vt_path = os.path.join(hf_dir, "vocab.txt")
    tc_path = os.path.join(hf_dir, "tokenizer_config.json")
    tj = load_json(tj_path, "tokenizer.json") if os.path.exists(tj_path) else None
    tc = load_json(tc_path, "tokenizer_config.json") if os.path.exists(tc_path) else {}
    vocab = None
    if os.path.exists(vt_path):
        with open(vt_path, "r", encoding="utf-8", newline="") as f:
            vocab = f.read().split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        vocab = [w[:-1] if w.endswith("\r") else w for w in vocab]
    if tj is not None:
        model = tj.get("model") or {}
        if model.get("type") != "WordPiece":
            raise ConvertError("tokenizer.json: model type %r is not supported (only WordPiece)"
                               % model.get("type"))
        if vocab is None:
            ids = model.get("vocab") or {}
            vocab = [None] * len(ids)
            for tok, i in ids.items():
                if not (0 <= i < len(vocab)) or vocab[i] is not None:
                    raise ConvertError("tokenizer.json: vocabulary ids are not 0..n-1")
                vocab[i] = tok
    if vocab is None:
        raise ConvertError("missing tokenizer: %s needs vocab.txt or tokenizer.json" % hf_dir)
    if len(set(vocab)) != len(vocab):
        raise ConvertError("vocabulary has duplicate tokens")
    for w in vocab:
        if w == "" or "\0" in w:
            raise ConvertError("vocabulary has an empty token or a NUL byte")
    index = {w: i for i, w in enumerate(vocab)}

    norm = (tj or {}).get("normalizer") or {}
    model = (tj or {}).get("model") or {}
    lowercase = norm.get("lowercase", tc.get("do_lower_case", True))
    strip = norm.get("strip_accents", tc.get("strip_accents"))
    if strip is None:
        strip = lowercase  # BertNormalizer: strip_accents null follows lowercase
    s = {
        "lowercase": int(bool(lowercase)),
        "strip_accents": int(bool(strip)),
        "tokenize_chinese": int(bool(norm.get("handle_chinese_chars",
                                              tc.get("tokenize_chinese_chars", True)))),
        "clean_text": int(bool(norm.get("clean_text", True))),
        "max_word_chars": int(model.get("max_input_chars_per_word", 100)),
        "max_length": int(min(tc.get("model_max_length", 512) or 512, 512)),
    }
    if model.get("continuing_subword_prefix", "##") != "##":
        raise ConvertError("tokenizer: continuing_subword_prefix must be '##'")
    for key, default in (("unk", "[UNK]"), ("cls", "[CLS]"), ("sep", "[SEP]"),
                         ("pad", "[PAD]"), ("mask", "[MASK]")):
        tok = tc.get(key + "_token", default)
        if isinstance(tok, dict):
            tok = tok.get("content", default)
        if tok not in index:
            raise ConvertError("tokenizer: special token %s=%r is not in the vocabulary" % (key, tok))
        s[key + "_id"] = index[tok]
    special = set(s[k] for k in ("unk_id", "cls_id", "sep_id", "pad_id", "mask_id"))
    if tj is not None:
        for at in tj.get("added_tokens") or []:
            if at.get("special") and at.get("content") in index:
                if at.get("normalized"):
                    raise ConvertError("tokenizer: normalized added tokens are not supported")
                special.add(index[at["content"]])
    s["special_ids"] = sorted(special)
    return vocab, s


# --------------------------------------------------------------------------------------------
# writer

def meta_entry(key, typ, value):
    k = key.encode("utf-8")
    out = struct.pack("<H", len(k)) + k + struct.pack("<B", typ)
    if typ == T_U64:
        out += struct.pack("<Q", int(value))
    elif typ == T_F64:
        out += struct.pack("<d", float(value))
    elif typ == T_STR:
        b = value.encode("utf-8")
        out += struct.pack("<I", len(b)) + b
    elif typ == T_F32A:
        out += struct.pack("<I", len(value)) + np.asarray(value, "<f4").tobytes()
    elif typ == T_I32A:
        out += struct.pack("<I", len(value)) + np.asarray(value, "<i4").tobytes()
    elif typ == T_BLOB:
        out += struct.pack("<Q", len(value)) + value
    return out


def align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def text_meta(th):
    return [
        ("text.vocab_size", T_U64, th["vocab_size"]),
        ("text.d_model", T_U64, th["hidden_size"]),
        ("text.n_layer", T_U64, th["num_hidden_layers"]),
        ("text.n_head", T_U64, th["num_attention_heads"]),
        ("text.d_ff", T_U64, th["intermediate_size"]),
        ("text.type_vocab_size", T_U64, th["type_vocab_size"]),
        ("text.ln_eps", T_F64, th["layer_norm_eps"]),
    ]


def vision_meta(vh, size, pp):
    return [
        ("vision.d_model", T_U64, vh["width"]),
        ("vision.n_layer", T_U64, vh["layers"]),
        ("vision.n_head", T_U64, vh["heads"]),
        ("vision.d_ff", T_U64, vh["mlp_hidden"]),
        ("vision.patch_size", T_U64, vh["patch_size"]),
        ("vision.image_size", T_U64, vh["image_size"]),
        ("vision.ln_eps", T_F64, 1e-6),
        ("vision.rope_theta", T_F64, 10000.0),
        ("preprocess.size", T_U64, size),
        ("preprocess.mean", T_F32A, pp.get("mean", CLIP_MEAN)),
        ("preprocess.std", T_F32A, pp.get("std", CLIP_STD)),
    ]


def tokenizer_meta(vocab, tok):
    meta = [
        ("tokenizer.type", T_STR, "wordpiece"),
        ("tokenizer.n_vocab", T_U64, len(vocab)),
        ("tokenizer.vocab", T_BLOB, b"".join(w.encode("utf-8") + b"\0" for w in vocab)),
    ]
    for key in ("unk_id", "cls_id", "sep_id", "pad_id", "mask_id", "lowercase", "strip_accents",
                "tokenize_chinese", "clean_text", "max_word_chars", "max_length"):
        meta.append(("tokenizer." + key, T_U64, tok[key]))
    meta.append(("tokenizer.special_ids", T_I32A, tok["special_ids"]))
    return meta


def convert(hf_dir, out_path, quiet=False):
    t0 = time.time()
    if not os.path.isdir(hf_dir):
        raise ConvertError("not a directory: %s" % hf_dir)
    cfg = load_json(os.path.join(hf_dir, "config.json"), "config.json")
    archs = cfg.get("architectures") or []
    if cfg.get("model_type") != "jina_clip" and "JinaCLIPModel" not in archs:
        raise ConvertError("unknown architecture: model_type=%r architectures=%r (expected "
                           "jina_clip / JinaCLIPModel)" % (cfg.get("model_type"), archs))
    if cfg.get("add_projections"):
        raise ConvertError("add_projections=true is not supported")
    pp_path = os.path.join(hf_dir, "preprocessor_config.json")
    pp = load_json(pp_path, "preprocessor_config.json") if os.path.exists(pp_path) else {}
    if pp.get("interpolation", "bicubic") != "bicubic" or pp.get("resize_mode", "shortest") != "shortest":
        raise ConvertError("preprocessor: only bicubic / shortest resizing is supported")

    st = SafeTensors(os.path.join(hf_dir, "model.safetensors"))
    # A tower is converted when the checkpoint carries any of its tensors (then it must carry
    # all of them); a checkpoint without one tower's weights gives a file without that tower.
    has_text = any(n.startswith("text_model.") for n in st.tensors)
    has_vision = any(n.startswith("vision_model.") for n in st.tensors)
    if not has_text and not has_vision:
        raise ConvertError("model.safetensors holds neither text_model.* nor vision_model.* tensors")
    th = text_hparams(cfg) if has_text else None
    vh = vision_hparams(cfg) if has_vision else None
    widths = [h for h in (th and th["hidden_size"], vh and vh["width"]) if h]
    embed_dim = cfg.get("projection_dim", widths[0])
    if any(w != embed_dim for w in widths):
        raise ConvertError("projection_dim %d differs from the tower widths (%s): projections "
                           "are not supported" % (embed_dim, ", ".join(map(str, widths))))
    if th:
        vocab, tok = read_tokenizer(hf_dir)
        if len(vocab) > th["vocab_size"]:
            raise ConvertError("tokenizer has %d tokens but the embedding table only %d rows"
                               % (len(vocab), th["vocab_size"]))
    plan = expected_tensors(th, vh)
    for name, shape in plan:
        if name not in st.tensors:
            raise ConvertError("model.safetensors: missing tensor %s (expected shape %s)"
                               % (name, list(shape)))
        got = tuple(st.tensors[name].get("shape", ()))
        if got != shape:
            raise ConvertError("model.safetensors: tensor %s: expected %s, got %s"
                               % (name, list(shape), list(got)))
    known = set(n for n, _ in plan) | {"logit_scale"}
    extra = sorted(set(st.tensors) - known)
    if extra and not quiet:
        print("convert.py: ignoring %d tensors the engine does not use (%s%s)"
              % (len(extra), ", ".join(extra[:3]), "..." if len(extra) > 3 else ""), file=sys.stderr)

    size = pp.get("size", 224)
    if isinstance(size, dict):
        size = size.get("shortest_edge", size.get("height", 224))
    meta = [
        ("general.architecture", T_STR, "jina-clip-v1"),
        ("general.source", T_STR, str(cfg.get("_name_or_path", os.path.basename(os.path.abspath(hf_dir))))),
        ("general.embed_dim", T_U64, embed_dim),
    ]
    if th:
        meta += text_meta(th)
    if vh:
        meta += vision_meta(vh, size, pp)
    if th:
        meta += tokenizer_meta(vocab, tok)
    meta_bytes = struct.pack("<I", len(meta)) + b"".join(meta_entry(*m) for m in meta)

    # Tensor table: offsets relative to the (aligned) data section, every tensor aligned.
    table = struct.pack("<I", len(plan))
    off = 0
    layout = []
    for name, shape in plan:
        nbytes = 4 * int(np.prod(shape))
        k = name.encode("utf-8")
        table += struct.pack("<H", len(k)) + k + struct.pack("<BB", DT_F32, len(shape))
        table += b"".join(struct.pack("<Q", d) for d in shape)
        table += struct.pack("<QQ", off, nbytes)
        layout.append((name, off))
        off = align(off + nbytes)
    data_size = off

    meta_off = HEADER_SIZE
    table_off = meta_off + len(meta_bytes)
    data_off = align(table_off + len(table))
    file_size = data_off + data_size
    crc = zlib.crc32(meta_bytes + table) & 0xFFFFFFFF
    header = MAGIC + struct.pack("<IIQQQQQQI", VERSION, 0, file_size, meta_off, len(meta_bytes),
                                 table_off, len(table), data_off, crc)
    header += b"\0" * (HEADER_SIZE - len(header))

    tmp = out_path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(meta_bytes)
            f.write(table)
            f.write(b"\0" * (data_off - f.tell()))
            for name, rel in layout:
                arr = np.ascontiguousarray(st.get(name), dtype="<f4")
                pad = data_off + rel - f.tell()
                if pad:
                    f.write(b"\0" * pad)
                f.write(memoryview(arr).cast("B"))
            f.write(b"\0" * (file_size - f.tell()))
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if not quiet:
        text = ("text %dx%d (%d heads), vocab %d" % (th["num_hidden_layers"], th["hidden_size"],
                                                     th["num_attention_heads"], len(vocab))
                if th else "no text tower")
        vision = ("vision %dx%d (%d heads)" % (vh["layers"], vh["width"], vh["heads"])
                  if vh else "no vision tower")
        print("wrote %s: %d tensors, %.1f MB, %s, %s, %.1fs"
              % (out_path, len(plan), file_size / 1e6, text, vision, time.time() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a Hugging Face jina-clip-v1 directory "
                                             "(config.json, model.safetensors, vocab.txt or "
                                             "tokenizer.json) into a .jclip weight file.")
    ap.add_argument("hf_dir", help="Hugging Face checkpoint directory")
    ap.add_argument("-o", "--output", required=True, help="output .jclip file")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args(argv)
    try:
        convert(args.hf_dir, args.output, args.quiet)
    except ConvertError as e:
        print("convert.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
