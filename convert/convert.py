#!/usr/bin/env python3
"""Convert a Hugging Face checkpoint directory into a .jclip weight file.

    python3 convert/convert.py HF_DIR -o MODEL.jclip

Three families, told apart by config.json (see detect_family):
  jina-clip-v1         model_type "jina_clip" (JinaBERT text + EVA02 vision)
  clip                 model_type "clip" (openai/clip-vit-base-patch32, -patch16)
  jina-embeddings-v2   model_type "bert" with JinaBert architectures / auto_map
                       (jinaai/jina-embeddings-v2-base-en, text only)
HF_DIR holds config.json, model.safetensors, preprocessor_config.json (optional: the
OpenAI CLIP defaults are used when absent) and the tokenizer files (vocab.txt and/or
tokenizer.json for WordPiece; vocab.json or tokenizer.json for CLIP).
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
DT_F32, DT_BF16, DT_Q8 = 0, 1, 2
DTYPES = {"f32": DT_F32, "bf16": DT_BF16, "q8": DT_Q8}

# The weights of linear layers (nn.Linear / the patch convolution as one): the tensors --dtype
# bf16|q8 applies to. LayerNorms, biases, embeddings and positions stay float32.
# jina-clip-v1 (JinaBERT text, EVA02 vision), OpenAI CLIP (both towers and projections) and
# jina-embeddings-v2 (JinaBERT v2): every weight the towers' `weights` lists hand to jc_linear.
LINEAR_SUFFIXES = ("mixer.Wqkv.weight", "mixer.out_proj.weight", "mlp.gated_layers.weight", "mlp.wo.weight",
                   "attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight", "attn.proj.weight",
                   "mlp.w1.weight", "mlp.w2.weight", "mlp.w3.weight", "patch_embed.proj.weight",
                   "self_attn.out_proj.weight", "mlp.fc1.weight", "mlp.fc2.weight",
                   "text_projection.weight", "visual_projection.weight", "embeddings.patch_embedding.weight",
                   "attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
                   "attention.output.dense.weight")
# The patch embeddings (EVA02's, CLIP's): see tensor_dtype.
PATCH_SUFFIXES = ("patch_embed.proj.weight", "embeddings.patch_embedding.weight")


def to_bf16(arr):
    """float32 -> bfloat16 bits (uint16), round to nearest even; zeros and denormals -> signed
    zero, NaN -> quiet NaN: exactly the engine's jc_bf16_from_f32 (kernels/kernels.h)."""
    u = np.ascontiguousarray(arr, dtype="<f4").view("<u4").astype(np.uint64)
    sign = (u >> 16) & 0x8000
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = np.where((u & 0x7F800000) == 0, sign, rounded)
    out = np.where((u & 0x7FFFFFFF) > 0x7F800000, (u >> 16) | 0x0040, out)
    return out.astype("<u2")


def q8_scale_blocks(block, k):
    """Blocks of 32 per q8 scale block for a weight with k inputs in a tower of q8_block `block`
    (32, 64 or 128): the largest S <= block / 32 that divides k / 32; the engine applies the same
    rule (jc_q8_scale_blocks in model/model.c) and checks the scales repeat accordingly."""
    s = block // 32
    while s > 1 and (k // 32) % s:
        s //= 2
    return s


def to_q8(arr, block=32):
    """float32 [N, ...] -> (int8 [N, K], float32 scales [N, K/32]): per row, one symmetric scale
    per scale block along K (amax / 127; 32 values, or 32 S with S = q8_scale_blocks(block, K),
    the scale then written once for each of its S blocks of 32), values rounded to nearest even
    and clamped to +-127."""
    w = np.ascontiguousarray(arr, dtype="<f4").reshape(arr.shape[0], -1)
    n, k = w.shape
    g = 32 * q8_scale_blocks(block, k)
    blocks = w.reshape(n, k // g, g).astype(np.float64)
    scale = (np.abs(blocks).max(axis=2) / 127.0).astype("<f4")
    s64 = scale.astype(np.float64)[:, :, None]
    q = np.where(s64 > 0, np.rint(blocks / np.where(s64 > 0, s64, 1.0)), 0.0)
    return (np.clip(q, -127, 127).astype("i1").reshape(n, k),
            np.ascontiguousarray(np.repeat(scale, g // 32, axis=1)))


# q8 scale blocks per family and tower under --q8-block auto (the default): values per scale,
# 32 where not listed. One scale per 128 values lets the int32 sums run 4x longer between float
# steps (q8 GEMM at M = 197: 442 -> 515 GOP/s a core). Chosen by measurement with
# bench/peers/fakequant.py-style simulation (jclip's smoothing, then int8 in scale blocks): OpenAI
# CLIP's vision tower keeps min cosine 0.99894 (realistic b32-s1-real) and 0.99981 (b32-s1) with
# blocks of 128, against 0.99941 / 0.99985 with blocks of 32; CLIP's text tower falls to 0.99298
# and jina-clip-v1's vision tower to a mean of 0.99751 on its realistic checkpoint (the q8 bars
# are 0.995 min, 0.998 mean), so they keep 32.
Q8_BLOCK_AUTO = {("clip", "vision"): 128}


def tower_of(name):
    """The tower a tensor belongs to, as the engine binds it: vision or text."""
    return "vision" if name.startswith(("vision_model.", "visual_projection.")) else "text"


# q8: the LayerNorm in front of each of these vision linear layers (pre-LN, so its output feeds
# only them) gets a per-channel smoothing factor folded in (SmoothQuant): output channel j of the
# LayerNorm is divided by s_j and input column j of the weights multiplied by it, which leaves the
# float product unchanged but moves activation outliers (channels whose LayerNorm weight is ~10x
# the others, as in trained ViTs) into the weights, where the per-32 block scales absorb them.
VISION_SMOOTH = (("norm1", ("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight")),
                 ("attn.inner_attn_ln", ("attn.proj.weight",)),
                 ("norm2", ("mlp.w1.weight", "mlp.w2.weight")),
                 ("mlp.ffn_ln", ("mlp.w3.weight",)))


def smooth_vision(st, vh):
    """name -> float32 array for the smoothed LayerNorms and weights of the vision tower.
    s_j = sqrt(a_j / w_j), a_j = |gamma_j| + |beta_j| (the LayerNorm output's scale: its input is
    normalised), w_j = max |W[:, j]| over the layers it feeds; 1 where either is 0."""
    out = {}
    for l in range(vh["layers"]):
        p = "vision_model.blocks.%d." % l
        for ln, consumers in VISION_SMOOTH:
            g = st.get(p + ln + ".weight").astype(np.float64)
            b = st.get(p + ln + ".bias").astype(np.float64)
            ws = [st.get(p + c).astype(np.float64) for c in consumers]
            a = np.abs(g) + np.abs(b)
            w = np.max([np.abs(x).max(axis=0) for x in ws], axis=0)
            s = np.where((a > 0) & (w > 0), np.sqrt(a / np.where(w > 0, w, 1.0)), 1.0)
            out[p + ln + ".weight"] = (g / s).astype("<f4")
            out[p + ln + ".bias"] = (b / s).astype("<f4")
            for c, x in zip(consumers, ws):
                out[p + c] = (x * s[None, :]).astype("<f4")
    return out


def smooth_pairs(st, pairs):
    """SmoothQuant folded into LayerNorms, as smooth_vision: for each (ln, consumers), ln the
    prefix of a LayerNorm whose output feeds only the linear layers consumers (weight names),
    returns name -> float32 array for the LayerNorm's weight and bias divided by s and the
    consumers' input columns multiplied by it; s_j = sqrt(a_j / w_j), a_j = |gamma_j| + |beta_j|,
    w_j = max |W[:, j]| over the consumers, 1 where either is 0. The float product is unchanged."""
    out = {}
    for ln, consumers in pairs:
        g = st.get(ln + ".weight").astype(np.float64)
        b = st.get(ln + ".bias").astype(np.float64)
        ws = [st.get(c).astype(np.float64) for c in consumers]
        a = np.abs(g) + np.abs(b)
        w = np.max([np.abs(x).max(axis=0) for x in ws], axis=0)
        s = np.where((a > 0) & (w > 0), np.sqrt(a / np.where(w > 0, w, 1.0)), 1.0)
        out[ln + ".weight"] = (g / s).astype("<f4")
        out[ln + ".bias"] = (b / s).astype("<f4")
        for c, x in zip(consumers, ws):
            out[c] = (x * s[None, :]).astype("<f4")
    return out


def clip_smooth_pairs(plan):
    """OpenAI CLIP is pre-LN: in each layer of both towers layer_norm1 feeds only q/k/v_proj and
    layer_norm2 only mlp.fc1; the final LayerNorms feed only the projections. (pre_layrnorm's
    output is the residual stream itself: it cannot absorb a factor.)"""
    names = set(n for n, _ in plan)
    pairs = []
    for tower in ("text_model.", "vision_model."):
        l = 0
        while tower + "encoder.layers.%d.layer_norm1.weight" % l in names:
            p = tower + "encoder.layers.%d." % l
            pairs.append((p + "layer_norm1", [p + "self_attn.%s_proj.weight" % x for x in "qkv"]))
            pairs.append((p + "layer_norm2", [p + "mlp.fc1.weight"]))
            l += 1
    if "text_projection.weight" in names:
        pairs.append(("text_model.final_layer_norm", ["text_projection.weight"]))
    if "visual_projection.weight" in names:
        pairs.append(("vision_model.post_layernorm", ["visual_projection.weight"]))
    return pairs


def tensor_dtype(name, shape, dtype):
    """The file dtype of a tensor under --dtype."""
    if dtype == DT_F32 or not name.endswith(LINEAR_SUFFIXES):
        return DT_F32
    if dtype == DT_Q8 and name.endswith(PATCH_SUFFIXES):
        # Raw pixels in, and every later layer carries its error: measured on the realistic tiny
        # checkpoint, q8 here costs min cosine 0.9966 -> 0.9912 over the image files, for 1% of
        # the image FLOPs. It stays float32.
        return DT_F32
    k = int(np.prod(shape[1:]))
    return dtype if k % 32 == 0 else DT_F32  # the kernels need K % 32 == 0; such a weight stays f32


def tensor_nbytes(shape, dt):
    count = int(np.prod(shape))
    return {DT_F32: 4 * count, DT_BF16: 2 * count, DT_Q8: count + count // 32 * 4}[dt]


def tensor_bytes(arr, dt, q8_block=32):
    if dt == DT_F32:
        return memoryview(np.ascontiguousarray(arr, dtype="<f4")).cast("B")
    if dt == DT_BF16:
        return memoryview(to_bf16(arr)).cast("B")
    q, scale = to_q8(arr, q8_block)
    return q.tobytes() + scale.tobytes()

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

def read_tokenizer(hf_dir, max_length_cap=512):
    """Returns (vocab list indexed by id, settings dict); max_length is the tokenizer's
    model_max_length, at most max_length_cap."""
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
        "max_length": int(min(tc.get("model_max_length", max_length_cap) or max_length_cap, max_length_cap)),
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


# --------------------------------------------------------------------------------------------
# byte-level BPE tokenizer (OpenAI CLIP)

CLIP_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
CLIP_SPLIT_LITERALS = r"<\|startoftext\|>|<\|endoftext\|>|" + CLIP_SPLIT


def bpe_byte_chars():
    """GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the other
    68 bytes take U+0100.. in byte order."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def _check_bpe_pipeline(tj):
    """Raises ConvertError unless tokenizer.json is the CLIPTokenizerFast pipeline jclip runs."""
    def bad(what):
        raise ConvertError("tokenizer.json: %s is not the CLIP BPE pipeline jclip implements" % what)
    norm = tj.get("normalizer") or {}
    steps = norm.get("normalizers") if norm.get("type") == "Sequence" else None
    if (not steps or len(steps) != 3 or steps[0].get("type") != "NFC" or steps[2].get("type") != "Lowercase"
            or steps[1].get("type") != "Replace" or (steps[1].get("pattern") or {}).get("Regex") != r"\s+"
            or steps[1].get("content") != " "):
        bad("normalizer %s" % json.dumps(norm)[:200])
    pre = tj.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if not steps or len(steps) != 2:
        bad("pre_tokenizer")
    split, bl = steps
    regex = (split.get("pattern") or {}).get("Regex")
    if (split.get("type") != "Split" or regex not in (CLIP_SPLIT, CLIP_SPLIT_LITERALS)
            or split.get("behavior") not in ("Removed", "removed") or split.get("invert") is not True):
        bad("Split pre-tokenizer %s" % json.dumps(split)[:200])
    if bl.get("type") != "ByteLevel" or bl.get("add_prefix_space", True) is not False:
        bad("ByteLevel pre-tokenizer")
    if regex == CLIP_SPLIT_LITERALS and bl.get("use_regex", True) is False:
        bad("Split with special literals and ByteLevel use_regex=false")
    model = tj.get("model") or {}
    if (model.get("type") != "BPE" or model.get("end_of_word_suffix") != "</w>"
            or (model.get("continuing_subword_prefix") or "") != "" or model.get("dropout") not in (None, 0, 0.0)
            or model.get("byte_fallback", False) or model.get("ignore_merges", False)):
        bad("model (BPE with end_of_word_suffix </w>)")
    post = tj.get("post_processor") or {}
    if post.get("type") != "RobertaProcessing":
        bad("post_processor %r" % post.get("type"))
    return post


def read_bpe_tokenizer(hf_dir):
    """Reads a CLIP checkpoint directory's tokenizer (tokenizer.json, else vocab.json +
    merges.txt) and returns the metadata entries the .jclip file carries for it, as a list of
    (key, type, value) in file order (see FORMAT.md, "BPE tokenizer"):
      tokenizer.type "bpe", tokenizer.n_vocab, tokenizer.vocab (NUL-terminated entries, id =
      position), tokenizer.n_merges, tokenizer.merges (u32 left, right, result per merge, in
      rank order), tokenizer.bos_id / eos_id / pad_id, tokenizer.bos_normalized /
      eos_normalized (1: the literal is matched after normalization), tokenizer.max_length.
    Raises ConvertError with the reason when the files are missing, inconsistent or describe
    another pipeline."""
    tj_path = os.path.join(hf_dir, "tokenizer.json")
    vj_path = os.path.join(hf_dir, "vocab.json")
    mt_path = os.path.join(hf_dir, "merges.txt")
    tc_path = os.path.join(hf_dir, "tokenizer_config.json")
    tc = load_json(tc_path, "tokenizer_config.json") if os.path.exists(tc_path) else {}
    tj = load_json(tj_path, "tokenizer.json") if os.path.exists(tj_path) else None
    bos_tok, eos_tok = "<|startoftext|>", "<|endoftext|>"
    normalized = {bos_tok: 1, eos_tok: 0}  # hub tokenizer.json: <|startoftext|> normalized, <|endoftext|> not
    if tj is not None:
        post = _check_bpe_pipeline(tj)
        model = tj["model"]
        ids = model.get("vocab")
        merges = model.get("merges")
        if not isinstance(ids, dict) or not isinstance(merges, list):
            raise ConvertError("tokenizer.json: BPE model without vocab or merges")
        pairs = []
        for m in merges:
            if isinstance(m, str):
                parts = m.split(" ")
            elif isinstance(m, list):
                parts = m
            else:
                parts = []
            if len(parts) != 2 or not all(isinstance(x, str) for x in parts):
                raise ConvertError("tokenizer.json: merge %r is not two tokens" % (m,))
            pairs.append(tuple(parts))
        try:
            bos_tok, eos_tok = post["cls"][0], post["sep"][0]
        except (KeyError, IndexError, TypeError):
            raise ConvertError("tokenizer.json: RobertaProcessing without cls/sep")
        added = {}
        for at in tj.get("added_tokens") or []:
            if at.get("lstrip") or at.get("rstrip") or at.get("single_word"):
                raise ConvertError("tokenizer.json: added token %r with lstrip/rstrip/single_word"
                                   % at.get("content"))
            added[at.get("content")] = int(bool(at.get("normalized")))
        if set(added) != {bos_tok, eos_tok}:
            raise ConvertError("tokenizer.json: added tokens %r, expected exactly %r and %r"
                               % (sorted(added), bos_tok, eos_tok))
        normalized = added
    else:
        if not (os.path.exists(vj_path) and os.path.exists(mt_path)):
            raise ConvertError("missing tokenizer: %s needs tokenizer.json or vocab.json + merges.txt" % hf_dir)
        ids = load_json(vj_path, "vocab.json")
        pairs = []
        with open(mt_path, "r", encoding="utf-8", newline="") as f:
            for n, line in enumerate(f.read().split("\n")):
                line = line.rstrip("\r")
                if not line or (n == 0 and line.startswith("#version")):
                    continue
                parts = line.split(" ")
                if len(parts) != 2:
                    raise ConvertError("merges.txt line %d is not two tokens: %r" % (n + 1, line[:80]))
                pairs.append(tuple(parts))
        for key, default in (("bos_token", bos_tok), ("eos_token", eos_tok)):
            tok = tc.get(key, default)
            if isinstance(tok, dict):
                tok = tok.get("content", default)
            if tok != default:
                raise ConvertError("tokenizer_config.json: %s %r is not %r" % (key, tok, default))
    if not isinstance(ids, dict) or not ids:
        raise ConvertError("tokenizer: empty or malformed vocabulary")
    vocab = [None] * len(ids)
    for tok, i in ids.items():
        if not isinstance(i, int) or not (0 <= i < len(vocab)) or vocab[i] is not None:
            raise ConvertError("tokenizer: vocabulary ids are not 0..n-1")
        if tok == "" or "\0" in tok:
            raise ConvertError("tokenizer: vocabulary has an empty token or a NUL byte")
        vocab[i] = tok
    if len(vocab) >= (1 << 20) - 1 or len(pairs) >= (1 << 24) - 1:
        raise ConvertError("tokenizer: %d tokens / %d merges: at most 2^20-2 / 2^24-2" % (len(vocab), len(pairs)))
    for b, c in bpe_byte_chars().items():
        for t in (c, c + "</w>"):
            if t not in ids:
                raise ConvertError("tokenizer: byte symbol %r (byte 0x%02X) is not in the vocabulary" % (t, b))
    merges = bytearray()
    for r, (a, b) in enumerate(pairs):
        if a not in ids or b not in ids or a + b not in ids:
            raise ConvertError("tokenizer: merge %d %r %r: a token or the result is not in the vocabulary"
                               % (r, a, b))
        merges += struct.pack("<III", ids[a], ids[b], ids[a + b])
    for tok in (bos_tok, eos_tok):
        if tok not in ids or not (1 <= len(tok.encode("utf-8")) <= 64):
            raise ConvertError("tokenizer: special token %r is missing or longer than 64 bytes" % tok)
    if normalized[bos_tok] and normalized[eos_tok]:
        raise ConvertError("tokenizer: both special tokens normalized is not supported")
    for tok in (bos_tok, eos_tok):
        if normalized[tok] and not tok.isascii():
            raise ConvertError("tokenizer: normalized special token %r is not ASCII" % tok)
    pad = tc.get("pad_token", eos_tok)
    if isinstance(pad, dict):
        pad = pad.get("content", eos_tok)
    max_length = int(min(tc.get("model_max_length", 77) or 77, 1 << 20))
    return [
        ("tokenizer.type", T_STR, "bpe"),
        ("tokenizer.n_vocab", T_U64, len(vocab)),
        ("tokenizer.vocab", T_BLOB, b"".join(w.encode("utf-8") + b"\0" for w in vocab)),
        ("tokenizer.n_merges", T_U64, len(pairs)),
        ("tokenizer.merges", T_BLOB, bytes(merges)),
        ("tokenizer.bos_id", T_U64, ids[bos_tok]),
        ("tokenizer.eos_id", T_U64, ids[eos_tok]),
        ("tokenizer.pad_id", T_U64, ids.get(pad, ids[eos_tok])),
        ("tokenizer.bos_normalized", T_U64, normalized[bos_tok]),
        ("tokenizer.eos_normalized", T_U64, normalized[eos_tok]),
        ("tokenizer.max_length", T_U64, max_length),
    ]


def write_bpe_blobs(hf_dir, out_path):
    """Test helper: the BPE tokenizer entries of read_bpe_tokenizer in a small file the C test
    suite `bpe` reads ($JCLIP_BPE_BLOBS): "JCBPEBL1", u32 n_vocab, u32 n_merges, i32 bos_id,
    i32 eos_id, u64 vocab bytes, u64 merges bytes, the vocab blob, the merges blob."""
    m = {k: v for k, _, v in read_bpe_tokenizer(hf_dir)}
    if m["tokenizer.bos_normalized"] != 1 or m["tokenizer.eos_normalized"] != 0:
        raise ConvertError("blob file: the test expects <|startoftext|> normalized and <|endoftext|> raw")
    v, mg = m["tokenizer.vocab"], m["tokenizer.merges"]
    with open(out_path, "wb") as f:
        f.write(b"JCBPEBL1" + struct.pack("<IIiiQQ", m["tokenizer.n_vocab"], m["tokenizer.n_merges"],
                                          m["tokenizer.bos_id"], m["tokenizer.eos_id"], len(v), len(mg)))
        f.write(v)
        f.write(mg)


# --------------------------------------------------------------------------------------------
# writer

# --------------------------------------------------------------------------------------------
# families

FAMILIES = ("jina-clip-v1", "clip", "jina-embeddings-v2")


def detect_family(cfg):
    """The model family of a config.json: "jina-clip-v1", "clip" or "jina-embeddings-v2"."""
    mt = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if not isinstance(archs, list):
        archs = []
    auto = json.dumps(cfg.get("auto_map") or {}).lower()
    if mt == "jina_clip" or "JinaCLIPModel" in archs:
        return "jina-clip-v1"
    if mt == "clip" or "CLIPModel" in archs:
        return "clip"
    if mt == "bert" and (any(isinstance(a, str) and a.startswith("JinaBert") for a in archs)
                         or "jina-bert" in auto or "jinabert" in auto):
        return "jina-embeddings-v2"
    raise ConvertError("unknown architecture: model_type=%r architectures=%r (supported: "
                       "jina_clip / JinaCLIPModel (jina-clip-v1), clip / CLIPModel (OpenAI CLIP "
                       "ViT), bert with JinaBert* architectures or a jina-bert auto_map "
                       "(jina-embeddings-v2))" % (mt, archs))


def check_plan(st, plan, optional=()):
    """Every tensor of plan (name, shape) must be in st with that shape; returns the names of
    the other tensors (ignored), after checking that the optional ones have a sane dtype."""
    for name, shape in plan:
        if name not in st.tensors:
            raise ConvertError("model.safetensors: missing tensor %s (expected shape %s)"
                               % (name, list(shape)))
        got = tuple(st.tensors[name].get("shape", ()))
        if got != shape:
            raise ConvertError("model.safetensors: tensor %s: expected %s, got %s"
                               % (name, list(shape), list(got)))
    known = set(n for n, _ in plan)
    return sorted(set(st.tensors) - known)


def preprocess_size(pp):
    size = pp.get("size", 224)
    if isinstance(size, dict):
        size = size.get("shortest_edge", size.get("height", 224))
    return size


# ---- jina-clip-v1 ----

def build_jina_clip(hf_dir, cfg, st):
    if cfg.get("add_projections"):
        raise ConvertError("add_projections=true is not supported")
    pp_path = os.path.join(hf_dir, "preprocessor_config.json")
    pp = load_json(pp_path, "preprocessor_config.json") if os.path.exists(pp_path) else {}
    if pp.get("interpolation", "bicubic") != "bicubic" or pp.get("resize_mode", "shortest") != "shortest":
        raise ConvertError("preprocessor: only bicubic / shortest resizing is supported")
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
    extra = check_plan(st, plan)
    extra = [n for n in extra if n != "logit_scale"]
    meta = [("general.embed_dim", T_U64, embed_dim)]
    if th:
        meta += text_meta(th)
    if vh:
        meta += vision_meta(vh, preprocess_size(pp), pp)
        meta.append(("preprocess.mode", T_STR, "jina-clip"))
    if th:
        meta += tokenizer_meta(vocab, tok)
    text = ("text %dx%d (%d heads), vocab %d" % (th["num_hidden_layers"], th["hidden_size"],
                                                 th["num_attention_heads"], len(vocab))
            if th else "no text tower")
    vision = ("vision %dx%d (%d heads)" % (vh["layers"], vh["width"], vh["heads"])
              if vh else "no vision tower")
    return meta, plan, extra, text + ", " + vision


# ---- OpenAI CLIP (Hugging Face CLIPModel layout, ARCHITECTURE-CLIP.md part A) ----

def clip_tower_hparams(tc, which):
    if not isinstance(tc, dict):
        raise ConvertError("config.json: %s_config is missing" % which)
    hp = {}
    for key in ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers"):
        v = tc.get(key)
        if not isinstance(v, int) or v <= 0:
            raise ConvertError("config.json: %s_config.%s must be a positive integer, got %r" % (which, key, v))
        hp[key] = v
    act = tc.get("hidden_act", "quick_gelu")
    if act != "quick_gelu":
        raise ConvertError("config.json: %s_config.hidden_act %r is not supported (CLIP uses quick_gelu)"
                           % (which, act))
    if hp["hidden_size"] % hp["num_attention_heads"]:
        raise ConvertError("config.json: %s hidden_size %d is not a multiple of num_attention_heads %d"
                           % (which, hp["hidden_size"], hp["num_attention_heads"]))
    hp["layer_norm_eps"] = float(tc.get("layer_norm_eps", 1e-5))
    return hp


def clip_text_hparams(cfg):
    tc = cfg.get("text_config")
    hp = clip_tower_hparams(tc, "text")
    hp["vocab_size"] = int(tc.get("vocab_size", 49408))
    hp["max_position_embeddings"] = int(tc.get("max_position_embeddings", 77))
    return hp


def clip_vision_hparams(cfg):
    vc = cfg.get("vision_config")
    hp = clip_tower_hparams(vc, "vision")
    hp["patch_size"] = int(vc.get("patch_size", 32))
    hp["image_size"] = int(vc.get("image_size", 224))
    if vc.get("num_channels", 3) != 3:
        raise ConvertError("config.json: vision_config.num_channels %r is not supported (3)" % vc.get("num_channels"))
    if hp["patch_size"] <= 0 or hp["image_size"] % hp["patch_size"]:
        raise ConvertError("config.json: vision image_size %d is not a multiple of patch_size %d"
                           % (hp["image_size"], hp["patch_size"]))
    hp["grid"] = hp["image_size"] // hp["patch_size"]
    return hp


def clip_layer_tensors(prefix, n_layer, D, F):
    out = []
    for l in range(n_layer):
        p = prefix + "encoder.layers.%d." % l
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(p + "self_attn.%s.weight" % proj, (D, D)), (p + "self_attn.%s.bias" % proj, (D,))]
        out += [(p + "layer_norm1.weight", (D,)), (p + "layer_norm1.bias", (D,)),
                (p + "mlp.fc1.weight", (F, D)), (p + "mlp.fc1.bias", (F,)),
                (p + "mlp.fc2.weight", (D, F)), (p + "mlp.fc2.bias", (D,)),
                (p + "layer_norm2.weight", (D,)), (p + "layer_norm2.bias", (D,))]
    return out


def clip_text_tensors(th, P):
    D, t = th["hidden_size"], "text_model."
    out = [(t + "embeddings.token_embedding.weight", (th["vocab_size"], D)),
           (t + "embeddings.position_embedding.weight", (th["max_position_embeddings"], D))]
    out += clip_layer_tensors(t, th["num_hidden_layers"], D, th["intermediate_size"])
    out += [(t + "final_layer_norm.weight", (D,)), (t + "final_layer_norm.bias", (D,)),
            ("text_projection.weight", (P, D))]
    return out


def clip_vision_tensors(vh, P):
    D, v, p = vh["hidden_size"], "vision_model.", vh["patch_size"]
    out = [(v + "embeddings.class_embedding", (D,)),
           (v + "embeddings.patch_embedding.weight", (D, 3, p, p)),
           (v + "embeddings.position_embedding.weight", (vh["grid"] * vh["grid"] + 1, D)),
           (v + "pre_layrnorm.weight", (D,)), (v + "pre_layrnorm.bias", (D,))]
    out += clip_layer_tensors(v, vh["num_hidden_layers"], D, vh["intermediate_size"])
    out += [(v + "post_layernorm.weight", (D,)), (v + "post_layernorm.bias", (D,)),
            ("visual_projection.weight", (P, D))]
    return out


def clip_tokenizer_meta(hf_dir, n_rows):
    """The CLIP byte-level BPE tokenizer (tokenizer.type "bpe"; FORMAT.md): vocabulary, merges
    and special ids from read_bpe_tokenizer, which tokenizer/bpe.c runs; returns the entries
    and the end-of-text id the text tower pools at."""
    entries = read_bpe_tokenizer(hf_dir)
    m = {k: v for k, _, v in entries}
    if m["tokenizer.n_vocab"] > n_rows:
        raise ConvertError("tokenizer has %d tokens but the embedding table only %d rows" % (m["tokenizer.n_vocab"], n_rows))
    return entries, m["tokenizer.eos_id"]


def build_clip(hf_dir, cfg, st):
    P = cfg.get("projection_dim")
    if not isinstance(P, int) or P <= 0:
        raise ConvertError("config.json: projection_dim must be a positive integer, got %r" % (P,))
    pp_path = os.path.join(hf_dir, "preprocessor_config.json")
    pp = load_json(pp_path, "preprocessor_config.json") if os.path.exists(pp_path) else {}
    if pp.get("resample", 3) != 3:
        raise ConvertError("preprocessor: resample %r is not supported (3 = bicubic)" % pp.get("resample"))
    for key in ("do_resize", "do_center_crop", "do_normalize", "do_rescale", "do_convert_rgb"):
        if pp.get(key, True) is not True:
            raise ConvertError("preprocessor: %s=%r is not supported" % (key, pp.get(key)))
    if abs(float(pp.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-12:
        raise ConvertError("preprocessor: rescale_factor %r is not supported (1/255)" % pp.get("rescale_factor"))
    crop = pp.get("crop_size", 224)
    if isinstance(crop, dict):
        crop = crop.get("height", 224) if crop.get("height") == crop.get("width") else -1
    has_text = any(n.startswith("text_model.") for n in st.tensors)
    has_vision = any(n.startswith("vision_model.") for n in st.tensors)
    if not has_text and not has_vision:
        raise ConvertError("model.safetensors holds neither text_model.* nor vision_model.* tensors")
    th = clip_text_hparams(cfg) if has_text else None
    vh = clip_vision_hparams(cfg) if has_vision else None
    if vh and (preprocess_size(pp) != vh["image_size"] or crop != vh["image_size"]):
        raise ConvertError("preprocessor: size %r / crop_size %r differ from the vision image_size %d"
                           % (preprocess_size(pp), crop, vh["image_size"]))
    plan = (clip_text_tensors(th, P) if th else []) + (clip_vision_tensors(vh, P) if vh else [])
    extra = check_plan(st, plan)
    ignorable = {"logit_scale", "text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"}
    extra = [n for n in extra if n not in ignorable]
    meta = [("general.embed_dim", T_U64, P)]
    if th:
        tok_meta, eot = clip_tokenizer_meta(hf_dir, th["vocab_size"])
        meta += [("text.vocab_size", T_U64, th["vocab_size"]),
                 ("text.d_model", T_U64, th["hidden_size"]),
                 ("text.n_layer", T_U64, th["num_hidden_layers"]),
                 ("text.n_head", T_U64, th["num_attention_heads"]),
                 ("text.d_ff", T_U64, th["intermediate_size"]),
                 ("text.n_pos", T_U64, th["max_position_embeddings"]),
                 ("text.eot_id", T_U64, eot),
                 ("text.ln_eps", T_F64, th["layer_norm_eps"])]
    if vh:
        meta += [("vision.d_model", T_U64, vh["hidden_size"]),
                 ("vision.n_layer", T_U64, vh["num_hidden_layers"]),
                 ("vision.n_head", T_U64, vh["num_attention_heads"]),
                 ("vision.d_ff", T_U64, vh["intermediate_size"]),
                 ("vision.patch_size", T_U64, vh["patch_size"]),
                 ("vision.image_size", T_U64, vh["image_size"]),
                 ("vision.ln_eps", T_F64, vh["layer_norm_eps"]),
                 ("preprocess.size", T_U64, preprocess_size(pp)),
                 ("preprocess.mean", T_F32A, pp.get("image_mean", CLIP_MEAN)),
                 ("preprocess.std", T_F32A, pp.get("image_std", CLIP_STD)),
                 ("preprocess.mode", T_STR, "clip")]
    if th:
        meta += tok_meta
    text = ("text %dx%d (%d heads), projection %d" % (th["num_hidden_layers"], th["hidden_size"],
                                                      th["num_attention_heads"], P)
            if th else "no text tower")
    vision = ("vision %dx%d (%d heads), patch %d" % (vh["num_hidden_layers"], vh["hidden_size"],
                                                      vh["num_attention_heads"], vh["patch_size"])
              if vh else "no vision tower")
    return meta, plan, extra, text + ", " + vision


# ---- jina-embeddings-v2 (JinaBERT v2, ARCHITECTURE-CLIP.md part B) ----

def jina_v2_hparams(cfg):
    hp = {}
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        v = cfg.get(key)
        if not isinstance(v, int) or v <= 0:
            raise ConvertError("config.json: %s must be a positive integer, got %r" % (key, v))
        hp[key] = v
    hp["type_vocab_size"] = int(cfg.get("type_vocab_size", 2))
    hp["layer_norm_eps"] = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("position_embedding_type", "alibi") != "alibi":
        raise ConvertError("config.json: position_embedding_type %r is not supported (alibi)"
                           % cfg.get("position_embedding_type"))
    if cfg.get("feed_forward_type", "geglu") != "geglu":
        raise ConvertError("config.json: feed_forward_type %r is not supported (geglu)" % cfg.get("feed_forward_type"))
    if cfg.get("hidden_act", "gelu") not in ("gelu", "gelu_python"):
        raise ConvertError("config.json: hidden_act %r is not supported (gelu)" % cfg.get("hidden_act"))
    if cfg.get("emb_pooler", "mean") not in ("mean", None):
        raise ConvertError("config.json: emb_pooler %r is not supported (mean)" % cfg.get("emb_pooler"))
    if hp["hidden_size"] % hp["num_attention_heads"]:
        raise ConvertError("config.json: hidden_size %d is not a multiple of num_attention_heads %d"
                           % (hp["hidden_size"], hp["num_attention_heads"]))
    if hp["num_attention_heads"] > 64:
        raise ConvertError("config.json: %d attention heads (at most 64)" % hp["num_attention_heads"])
    hp["max_length"] = int(min(cfg.get("model_max_length", cfg.get("max_position_embeddings", 8192)) or 8192, 8192))
    return hp


def jina_v2_tensors(hp):
    H, I = hp["hidden_size"], hp["intermediate_size"]
    out = [("embeddings.word_embeddings.weight", (hp["vocab_size"], H)),
           ("embeddings.token_type_embeddings.weight", (hp["type_vocab_size"], H)),
           ("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,))]
    for l in range(hp["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for proj in ("query", "key", "value"):
            out += [(p + "attention.self.%s.weight" % proj, (H, H)), (p + "attention.self.%s.bias" % proj, (H,))]
        out += [(p + "attention.output.dense.weight", (H, H)), (p + "attention.output.dense.bias", (H,)),
                (p + "attention.output.LayerNorm.weight", (H,)), (p + "attention.output.LayerNorm.bias", (H,)),
                (p + "mlp.gated_layers.weight", (2 * I, H)),
                (p + "mlp.wo.weight", (H, I)), (p + "mlp.wo.bias", (H,)),
                (p + "mlp.layernorm.weight", (H,)), (p + "mlp.layernorm.bias", (H,))]
    return out


def build_jina_v2(hf_dir, cfg, st):
    hp = jina_v2_hparams(cfg)
    if any(n.startswith("bert.") for n in st.tensors):
        raise ConvertError("model.safetensors: tensors carry a bert. prefix (a JinaBertForMaskedLM "
                           "checkpoint?); jclip reads JinaBertModel names (embeddings.*, encoder.layer.*)")
    vocab, tok = read_tokenizer(hf_dir, max_length_cap=8192)
    if len(vocab) > hp["vocab_size"]:
        raise ConvertError("tokenizer has %d tokens but the embedding table only %d rows" % (len(vocab), hp["vocab_size"]))
    tok["max_length"] = min(tok["max_length"], hp["max_length"])
    plan = jina_v2_tensors(hp)
    extra = check_plan(st, plan)
    extra = [n for n in extra if not n.startswith("pooler.")]  # the optional pooler is unused by mean pooling
    meta = [("general.embed_dim", T_U64, hp["hidden_size"])] + text_meta(hp) + tokenizer_meta(vocab, tok)
    return meta, plan, extra, "text %dx%d (%d heads), vocab %d, max %d tokens" % (
        hp["num_hidden_layers"], hp["hidden_size"], hp["num_attention_heads"], len(vocab), tok["max_length"])


BUILDERS = {"jina-clip-v1": build_jina_clip, "clip": build_clip, "jina-embeddings-v2": build_jina_v2}


def write_file(out_path, meta, plan, st, file_dt=DT_F32, smoothed=None, dtype_of=None, q8_blocks=None):
    """Writes the .jclip file (FORMAT.md): header, metadata, tensor table, aligned data; returns
    its size. dtype_of (tests): name -> dtype overriding tensor_dtype's choice. q8_blocks: tower
    ("text" / "vision") -> values per q8 scale block, where not 32; meta must carry the matching
    "<tower>.q8_block" entries (convert adds them)."""
    meta_bytes = struct.pack("<I", len(meta)) + b"".join(meta_entry(*m) for m in meta)

    # Tensor table: offsets relative to the (aligned) data section, every tensor aligned.
    table = struct.pack("<I", len(plan))
    off = 0
    layout = []
    for name, shape in plan:
        dt = dtype_of[name] if dtype_of and name in dtype_of else tensor_dtype(name, shape, file_dt)
        nbytes = tensor_nbytes(shape, dt)
        k = name.encode("utf-8")
        table += struct.pack("<H", len(k)) + k + struct.pack("<BB", dt, len(shape))
        table += b"".join(struct.pack("<Q", d) for d in shape)
        table += struct.pack("<QQ", off, nbytes)
        layout.append((name, off, dt))
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
            smoothed = smoothed or {}
            for name, rel, dt in layout:
                data = tensor_bytes(smoothed[name] if name in smoothed else st.get(name), dt,
                                    (q8_blocks or {}).get(tower_of(name), 32))
                pad = data_off + rel - f.tell()
                if pad:
                    f.write(b"\0" * pad)
                f.write(data)
            f.write(b"\0" * (file_size - f.tell()))
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return file_size


def convert(hf_dir, out_path, quiet=False, dtype="f32", smooth="auto", q8_block="auto"):
    if dtype not in DTYPES:
        raise ConvertError("--dtype %s: choose one of %s" % (dtype, ", ".join(DTYPES)))
    if smooth not in ("auto", "on", "off"):
        raise ConvertError("--smooth %s: choose auto, on or off" % smooth)
    if str(q8_block) not in ("auto", "32", "64", "128"):
        raise ConvertError("--q8-block %s: choose auto, 32, 64 or 128" % q8_block)
    file_dt = DTYPES[dtype]
    t0 = time.time()
    if not os.path.isdir(hf_dir):
        raise ConvertError("not a directory: %s" % hf_dir)
    cfg = load_json(os.path.join(hf_dir, "config.json"), "config.json")
    if not isinstance(cfg, dict):
        raise ConvertError("config.json is not a JSON object")
    family = detect_family(cfg)
    st = SafeTensors(os.path.join(hf_dir, "model.safetensors"))
    body, plan, extra, summary = BUILDERS[family](hf_dir, cfg, st)
    if extra and not quiet:
        print("convert.py: ignoring %d tensors the engine does not use (%s%s)"
              % (len(extra), ", ".join(extra[:3]), "..." if len(extra) > 3 else ""), file=sys.stderr)
    meta = [
        ("general.architecture", T_STR, family),
        ("general.source", T_STR, str(cfg.get("_name_or_path", os.path.basename(os.path.abspath(hf_dir))))),
    ] + body
    # SmoothQuant folded into the LayerNorms that feed only linear layers (smooth_vision,
    # clip_smooth_pairs): on by default for q8, where it pays; --smooth on applies it to any
    # dtype (the f32 file then gives the same embeddings up to float rounding: the folding is
    # exact), off leaves the weights as they are. JinaBERT text towers are post-LN: their
    # LayerNorm output is the residual stream itself, so there is nothing to fold into.
    do_smooth = smooth == "on" or (smooth == "auto" and file_dt == DT_Q8)
    smoothed = {}
    if do_smooth and family == "jina-clip-v1" and any(n.startswith("vision_model.") for n, _ in plan):
        smoothed = smooth_vision(st, vision_hparams(cfg))
    elif do_smooth and family == "clip":
        smoothed = smooth_pairs(st, clip_smooth_pairs(plan))
    # q8 scale blocks per tower: Q8_BLOCK_AUTO, or --q8-block for every tower; a tower whose
    # blocks are not 32 says so in "<tower>.q8_block" (FORMAT.md), which the engine needs.
    q8_blocks = {}
    if file_dt == DT_Q8:
        for tower in sorted(set(tower_of(n) for n, _ in plan)):
            b = Q8_BLOCK_AUTO.get((family, tower), 32) if q8_block == "auto" else int(q8_block)
            if b != 32:
                q8_blocks[tower] = b
                meta.append((tower + ".q8_block", T_U64, b))
    file_size = write_file(out_path, meta, plan, st, file_dt, smoothed, q8_blocks=q8_blocks)
    if not quiet:
        print("wrote %s: %s, %d tensors, %.1f MB, %s, linear weights %s%s%s, %.1fs"
              % (out_path, family, len(plan), file_size / 1e6, summary, dtype,
                 "".join(" (%s: scale blocks of %d)" % (t, b) for t, b in sorted(q8_blocks.items())),
                 " (smoothed)" if smoothed else "", time.time() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a Hugging Face directory of jina-clip-v1, "
                                             "OpenAI CLIP (ViT) or jina-embeddings-v2 (config.json, "
                                             "model.safetensors, tokenizer files) into a .jclip weight file.")
    ap.add_argument("hf_dir", help="Hugging Face checkpoint directory")
    ap.add_argument("-o", "--output", required=True, help="output .jclip file")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f32",
                    help="storage of the linear layers' weights: f32 (default, exact), bf16 (rounded to "
                         "nearest even) or q8 (int8 with a float scale per block of 32 along K)")
    ap.add_argument("--smooth", choices=("auto", "on", "off"), default="auto",
                    help="fold SmoothQuant factors into the LayerNorms in front of linear layers (jina-clip-v1 "
                         "vision, OpenAI CLIP): auto (default) = for q8 only; on = for any dtype (exact in "
                         "float: an f32 file gives the same embeddings); off = never (to measure what it buys)")
    ap.add_argument("--q8-block", choices=("auto", "32", "64", "128"), default="auto",
                    help="q8 only: values per weight scale (and per activation scale at run time): auto "
                         "(default) = 128 for OpenAI CLIP's vision tower, 32 elsewhere (chosen by measured "
                         "accuracy, see README); a number = that for every tower (where K allows)")
    ap.add_argument("--bpe-blobs", action="store_true",
                    help="test mode: write only the BPE tokenizer blobs of HF_DIR (a CLIP directory) "
                         "to OUTPUT, in the file test/t_bpe.c reads")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args(argv)
    try:
        if args.bpe_blobs:
            write_bpe_blobs(args.hf_dir, args.output)
            return 0
        convert(args.hf_dir, args.output, args.quiet, args.dtype, args.smooth, args.q8_block)
    except ConvertError as e:
        print("convert.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
