"""jina_clip_torch.py: jina-clip-v1's two towers in plain PyTorch, written from
shared/ARCHITECTURE.md (the official remote code cannot be downloaded here).

Peer benchmark only: nothing here is part of the jclip library or its tests.

    python3 jina_clip_torch.py verify CKPT_DIR GOLDEN_DIR     # parity with the goldens
    python3 jina_clip_torch.py bench CKPT_DIR --case text-8 --threads 1 [--repeat N] [--warmup N]
    python3 jina_clip_torch.py export CKPT_DIR OUT_DIR        # text.onnx, vision.onnx

CKPT_DIR is a Hugging Face-layout checkpoint (config.json + model.safetensors), e.g. one made by
shared/tools/make_checkpoint.py. The safetensors file is read with numpy (no safetensors package).

Every construct is written so that torch.onnx.export (opset 14..17) traces it with dynamic batch
and sequence axes: the ALiBi bias is built from torch.arange of the traced length, the RoPE
rotation uses strided slices instead of a reshape to (..., 32, 2), and there is no in-place
indexing. The numerics follow the reference order of operations (ARCHITECTURE.md sections 3, 4):
text scales k by 0.125, adds the -10000 padding term, then subtracts slope*|i-j|; vision scales q.
"""
import json
import math
import os
import struct
import sys
import time

# Debian's torch 1.13 runs its GEMMs in OpenBLAS (pthread build), whose own pool ignores
# torch.set_num_threads and defaults to every core. `bench --threads N` must mean N threads in all,
# so the pool size is fixed before libopenblas is first loaded, which numpy already does: set
# after `import numpy`, a 1-thread run kept both cores busy (sgemm_thread_tn on 2 threads).
if len(sys.argv) > 2 and sys.argv[1] == "bench" and "--threads" in sys.argv:
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F


# ------------------------------------------------------------------------------------------
# checkpoint

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


class SafeTensors:
    """Lazy reader of a .safetensors file (numpy only): pop(name) reads that one tensor into its
    own buffer (no mmap), so the process's RSS holds only what the model keeps; `left` is the set
    of names (under the prefix) not yet taken."""

    def __init__(self, path, prefix=""):
        self.f = open(path, "rb")
        n = struct.unpack("<Q", self.f.read(8))[0]
        self.header = {k: v for k, v in json.loads(self.f.read(n)).items()
                       if k != "__metadata__" and k.startswith(prefix)}
        self.base = 8 + n
        self.left = set(self.header)

    def pop(self, name):
        info = self.header[name]
        self.left.discard(name)
        a, b = info["data_offsets"]
        dt = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        self.f.seek(self.base + a)
        return np.fromfile(self.f, dtype=dt, count=(b - a) // dt.itemsize).reshape(info["shape"])


def text_sizes(cfg):
    """JinaBERT defaults (jina-bert-flash-implementation config) overridden by hf_model_config_kwargs."""
    t = dict(vocab_size=30528, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, layer_norm_eps=1e-12, type_vocab_size=2)
    t.update((cfg.get("text_config") or {}).get("hf_model_config_kwargs") or {})
    return t


def alibi_slopes(n):
    def pow2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return pow2(n)
    c = 2 ** math.floor(math.log2(n))
    return pow2(c) + alibi_slopes(2 * c)[0::2][: n - c]


# ------------------------------------------------------------------------------------------
# text tower: JinaBERT-v2, post-LN, ALiBi, GLU (GELU-gated) MLP, mean pooling

class TextLayer(nn.Module):
    def __init__(self, H, nh, I, eps):
        super().__init__()
        self.nh, self.d = nh, H // nh
        self.Wqkv = nn.Linear(H, 3 * H)
        self.out_proj = nn.Linear(H, H)
        self.norm1 = nn.LayerNorm(H, eps=eps)
        self.gated_layers = nn.Linear(H, 2 * I, bias=False)
        self.wo = nn.Linear(I, H)
        self.norm2 = nn.LayerNorm(H, eps=eps)
        self.I = I

    def forward(self, x, bias):
        # x [B, L, H]; bias [B, nh, L, L] = padding term - alibi (precomputed once per batch)
        B, L, H = x.shape
        qkv = self.Wqkv(x).view(B, L, 3, self.nh, self.d)
        q = qkv[:, :, 0].transpose(1, 2)                      # [B, nh, L, d]
        k = qkv[:, :, 1].transpose(1, 2)
        v = qkv[:, :, 2].transpose(1, 2)
        s = torch.matmul(q, (k * 0.125).transpose(-1, -2)) + bias
        p = torch.softmax(s, dim=-1)
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(B, L, H)
        x = self.norm1(x + self.out_proj(ctx))
        g = self.gated_layers(x)
        u = F.gelu(g[..., : self.I]) * g[..., self.I:]
        return self.norm2(x + self.wo(u))


class TextTower(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = text_sizes(cfg)
        H, nh, I, eps = t["hidden_size"], t["num_attention_heads"], t["intermediate_size"], t["layer_norm_eps"]
        self.word_embeddings = nn.Embedding(t["vocab_size"], H)
        self.token_type_embeddings = nn.Embedding(t["type_vocab_size"], H)
        self.emb_ln = nn.LayerNorm(H, eps=eps)
        self.layers = nn.ModuleList(TextLayer(H, nh, I, eps) for _ in range(t["num_hidden_layers"]))
        self.register_buffer("slopes", torch.tensor(alibi_slopes(nh), dtype=torch.float32).view(1, nh, 1, 1),
                             persistent=False)

    def forward(self, ids):
        # ids [B, L] int64, 0 = padding anywhere
        B, L = ids.shape
        mask = (ids != 0)
        x = self.word_embeddings(ids) + self.token_type_embeddings.weight[0]
        x = self.emb_ln(x)
        pad = (1.0 - mask.to(torch.float32)) * -10000.0                      # [B, L]
        pos = torch.arange(L, device=ids.device)
        dist = (pos.view(1, L) - pos.view(L, 1)).abs().to(torch.float32)     # [L, L]
        bias = pad.view(B, 1, 1, L) - dist.view(1, 1, L, L) * self.slopes     # [B, nh, L, L]
        for layer in self.layers:
            x = layer(x, bias)
        m = mask.to(torch.float32).unsqueeze(-1)
        e = (x * m).sum(dim=1) / m.sum(dim=1)
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def load(self, sd, prefix="text_model.transformer."):
        g = lambda n: torch.from_numpy(sd.pop(prefix + n))
        with torch.no_grad():
            _set(self.word_embeddings.weight, g("embeddings.word_embeddings.weight"))
            _set(self.token_type_embeddings.weight, g("embeddings.token_type_embeddings.weight"))
            _set(self.emb_ln.weight, g("emb_ln.weight")); _set(self.emb_ln.bias, g("emb_ln.bias"))
            for i, l in enumerate(self.layers):
                p = "encoder.layers.%d." % i
                for mod, name in ((l.Wqkv, "mixer.Wqkv"), (l.out_proj, "mixer.out_proj"), (l.norm1, "norm1"),
                                  (l.gated_layers, "mlp.gated_layers"), (l.wo, "mlp.wo"), (l.norm2, "norm2")):
                    _set(mod.weight, g(p + name + ".weight"))
                    if mod.bias is not None:
                        _set(mod.bias, g(p + name + ".bias"))
        return self


# ------------------------------------------------------------------------------------------
# vision tower: EVA02-B/16, pre-LN, sub-LN, 2-D RoPE (interleaved pairs), SwiGLU, CLS pooling

def rope_tables(grid=14, dim=32):
    inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))  # as torch computes it
    t = torch.arange(grid).float() / grid * grid
    ang = torch.einsum("i,f->if", t, inv_freq).repeat_interleave(2, dim=-1)          # [grid, 32]
    rows = ang.view(grid, 1, dim).expand(grid, grid, dim)
    cols = ang.view(1, grid, dim).expand(grid, grid, dim)
    table = torch.cat((rows, cols), dim=-1).reshape(grid * grid, 2 * dim)           # [196, 64]
    return table.cos(), table.sin()


def rope(u, cos, sin):
    # u [B, nh, P, 64]; interleaved pairs: (u0,u1) -> (u0 c - u1 s, u1 c + u0 s)
    even, odd = u[..., 0::2], u[..., 1::2]
    rot = torch.stack((-odd, even), dim=-1).flatten(-2)
    return u * cos + rot * sin


class VisionBlock(nn.Module):
    def __init__(self, W, nh, Fh, eps=1e-6):
        super().__init__()
        self.nh, self.d = nh, W // nh
        self.norm1 = nn.LayerNorm(W, eps=eps)
        self.q_proj = nn.Linear(W, W, bias=False)
        self.k_proj = nn.Linear(W, W, bias=False)
        self.v_proj = nn.Linear(W, W, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(W))
        self.v_bias = nn.Parameter(torch.zeros(W))
        self.inner_attn_ln = nn.LayerNorm(W, eps=eps)
        self.proj = nn.Linear(W, W)
        self.norm2 = nn.LayerNorm(W, eps=eps)
        self.w1 = nn.Linear(W, Fh)
        self.w2 = nn.Linear(W, Fh)
        self.ffn_ln = nn.LayerNorm(Fh, eps=eps)
        self.w3 = nn.Linear(Fh, W)

    def forward(self, x, cos, sin):
        B, N, W = x.shape
        h = self.norm1(x)
        q = F.linear(h, self.q_proj.weight, self.q_bias).view(B, N, self.nh, self.d).transpose(1, 2)
        k = F.linear(h, self.k_proj.weight).view(B, N, self.nh, self.d).transpose(1, 2)
        v = F.linear(h, self.v_proj.weight, self.v_bias).view(B, N, self.nh, self.d).transpose(1, 2)
        q = torch.cat((q[:, :, :1], rope(q[:, :, 1:], cos, sin)), dim=2)
        k = torch.cat((k[:, :, :1], rope(k[:, :, 1:], cos, sin)), dim=2)
        s = torch.matmul(q * 0.125, k.transpose(-1, -2))
        o = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, N, W)
        x = x + self.proj(self.inner_attn_ln(o))
        h = self.norm2(x)
        a = self.ffn_ln(F.silu(self.w1(h)) * self.w2(h))
        return x + self.w3(a)


class VisionTower(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vision_config"]
        W, P, S = v.get("width", 768), v.get("patch_size", 16), v.get("image_size", 224)
        nh = W // v.get("head_width", 64)
        Fh = int(W * v.get("mlp_ratio", 2.6667))
        G = S // P
        self.patch_embed = nn.Conv2d(3, W, kernel_size=P, stride=P)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, W))
        self.pos_embed = nn.Parameter(torch.zeros(1, G * G + 1, W))
        self.blocks = nn.ModuleList(VisionBlock(W, nh, Fh) for _ in range(v.get("layers", 12)))
        self.norm = nn.LayerNorm(W, eps=1e-6)
        cos, sin = rope_tables(v.get("pt_hw_seq_len", 14), (W // nh) // 2)
        self.register_buffer("rcos", cos, persistent=False)
        self.register_buffer("rsin", sin, persistent=False)

    def forward(self, pixels):
        B = pixels.shape[0]
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)               # [B, 196, W]
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x, self.rcos, self.rsin)
        e = self.norm(x)[:, 0]
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def load(self, sd, prefix="vision_model."):
        g = lambda n: torch.from_numpy(sd.pop(prefix + n))
        with torch.no_grad():
            _set(self.patch_embed.weight, g("patch_embed.proj.weight"))
            _set(self.patch_embed.bias, g("patch_embed.proj.bias"))
            _set(self.cls_token, g("cls_token")); _set(self.pos_embed, g("pos_embed"))
            _set(self.norm.weight, g("norm.weight")); _set(self.norm.bias, g("norm.bias"))
            for i, b in enumerate(self.blocks):
                p = "blocks.%d." % i
                _set(b.q_bias, g(p + "attn.q_bias")); _set(b.v_bias, g(p + "attn.v_bias"))
                for mod, name in ((b.norm1, "norm1"), (b.q_proj, "attn.q_proj"), (b.k_proj, "attn.k_proj"),
                                  (b.v_proj, "attn.v_proj"), (b.inner_attn_ln, "attn.inner_attn_ln"),
                                  (b.proj, "attn.proj"), (b.norm2, "norm2"), (b.w1, "mlp.w1"), (b.w2, "mlp.w2"),
                                  (b.ffn_ln, "mlp.ffn_ln"), (b.w3, "mlp.w3")):
                    _set(mod.weight, g(p + name + ".weight"))
                    if mod.bias is not None:
                        _set(mod.bias, g(p + name + ".bias"))
        return self


def _set(param, t):
    """Point a parameter at the loaded array (no second copy of the weights)."""
    assert tuple(param.shape) == tuple(t.shape), (tuple(param.shape), tuple(t.shape))
    param.data = t


def load_tower(ckpt, which):
    """which: 'text' or 'vision'. Only that tower's tensors are read (and held) in memory."""
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    prefix = "text_model." if which == "text" else "vision_model."
    m = TextTower(cfg) if which == "text" else VisionTower(cfg)
    sd = SafeTensors(os.path.join(ckpt, "model.safetensors"), prefix)
    m.load(sd)
    assert not sd.left, "tensors not used: %s" % sorted(sd.left)[:5]
    return m.eval()


# ------------------------------------------------------------------------------------------
# the benchmark cases of `jclip bench`

def case_inputs(case, vocab=30528, seed=2024):
    """(tower, tensor). Random in-vocabulary ids framed by [CLS]/[SEP], or normalised-range pixels;
    timing depends only on the shapes."""
    rng = np.random.default_rng(seed)
    if case.startswith("text-"):
        spec = case[5:]
        L, B = (int(spec.split("x")[0]), int(spec.split("x")[1])) if "x" in spec else (int(spec), 1)
        ids = rng.integers(1000, vocab - 8, size=(B, L), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        return "text", torch.from_numpy(ids)
    if case.startswith("image-"):
        B = int(case[6:])
        px = (rng.integers(0, 4096, size=(B, 3, 224, 224)).astype(np.float32) / 1024.0 - 2.0)
        return "vision", torch.from_numpy(px)
    raise SystemExit("unknown case " + case)


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cmd_bench(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="jina_clip_torch.py bench")
    ap.add_argument("ckpt")
    ap.add_argument("--case", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=0, help="timed runs (default: about 2 s worth, 3..50)")
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    tower, x = case_inputs(a.case)
    m = load_tower(a.ckpt, tower)
    times, cpus = [], []
    with torch.inference_mode():
        for _ in range(a.warmup):
            m(x)
        want = a.repeat
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            m(x)
            times.append((time.perf_counter() - t0) * 1e3)
            cpus.append((time.process_time() - c0) * 1e3)
            if not want:
                want = max(3, min(50, int(2000.0 / times[0])))
            if len(times) >= want:
                break
    print(json.dumps({"engine": "torch", "case": a.case, "threads": a.threads,
                      "ms_median": round(float(np.median(times)), 3), "ms_min": round(min(times), 3),
                      "cpu_ms": round(float(np.median(cpus)), 3),
                      "runs": len(times), "peak_rss_mb": round(peak_rss_mb(), 1),
                      "version": torch.__version__, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}))


# ------------------------------------------------------------------------------------------
# parity with the goldens

def cmd_verify(argv):
    ckpt, gold = argv[0], argv[1]
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    ok = True
    texts = [json.loads(l)["ids"] for l in open(os.path.join(gold, "texts.jsonl"))]
    want = np.load(os.path.join(gold, "text_emb.npy"))
    m = load_tower(ckpt, "text")
    L = max(len(t) for t in texts)
    ids = np.zeros((len(texts), L), dtype=np.int64)
    for i, t in enumerate(texts):
        ids[i, : len(t)] = t
    with torch.inference_mode():
        batched = m(torch.from_numpy(ids)).numpy()
        single = np.concatenate([m(torch.tensor([t], dtype=torch.int64)).numpy() for t in texts])
    del m
    for name, got in (("text batched (padded)", batched), ("text one by one", single)):
        cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        d = np.abs(got - want).max()
        print("%-24s n=%d  min cos %.8f  max|diff| %.3g" % (name, len(texts), cos.min(), d))
        ok &= bool(cos.min() >= 0.99999 and d <= 1e-4)
    px = np.load(os.path.join(gold, "pixels.npy"))
    want = np.load(os.path.join(gold, "pixels_emb.npy"))
    m = load_tower(ckpt, "vision")
    with torch.inference_mode():
        got = m(torch.from_numpy(px)).numpy()
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    d = np.abs(got - want).max()
    print("%-24s n=%d  min cos %.8f  max|diff| %.3g" % ("image (pixels.npy)", len(px), cos.min(), d))
    ok &= bool(cos.min() >= 0.99999 and d <= 1e-4)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------
# ONNX export

def cmd_export(argv):
    ckpt, out = argv[0], argv[1]
    opset = int(os.environ.get("OPSET", "17"))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    for tower, case, names, axes in (
            ("text", "text-64x8", ["input_ids"], {"input_ids": {0: "batch", 1: "seq"}}),
            ("vision", "image-1", ["pixel_values"], {"pixel_values": {0: "batch"}})):
        m = load_tower(ckpt, tower)
        _, x = case_inputs(case)
        path = os.path.join(out, tower + ".onnx")
        with torch.no_grad():
            torch.onnx.export(m, (x,), path, input_names=names, output_names=["embedding"],
                              dynamic_axes=dict(axes, embedding={0: "batch"}), opset_version=opset,
                              do_constant_folding=True)
        print("wrote %s (%.1f MB, opset %d)" % (path, os.path.getsize(path) / 1e6, opset))
        del m


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("verify", "bench", "export"):
        print(__doc__)
        sys.exit(2)
    sys.exit({"verify": cmd_verify, "bench": cmd_bench, "export": cmd_export}[sys.argv[1]](sys.argv[2:]) or 0)
