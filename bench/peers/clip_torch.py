"""clip_torch.py: OpenAI CLIP ViT-B/32 and ViT-B/16 (Hugging Face layout) in plain PyTorch, written
from shared/ARCHITECTURE-CLIP.md part A; the CLIP counterpart of jina_clip_torch.py.

Peer benchmark only: nothing here is part of the jclip library or its tests.

    python3 clip_torch.py verify CKPT_DIR GOLDEN_DIR     # parity with the goldens (*_emb_norm.npy)
    python3 clip_torch.py bench CKPT_DIR --case text-77 --threads 1 [--repeat N] [--warmup N]
    python3 clip_torch.py export CKPT_DIR OUT_DIR        # text.onnx, vision.onnx, meta.json

CKPT_DIR is a checkpoint of shared/tools/make_clip_checkpoint.py (or the real
openai/clip-vit-base-patch32 download): config.json + model.safetensors, read with numpy. Both
towers return the L2-normalised embedding (the goldens' *_emb_norm.npy), like jina_clip_torch.py,
so ort_bench.js treats both families alike. Text: causal pre-LN transformer, pooling at the first
<|endoftext|> (49407, the largest id: argmax), text_projection. Vision: patch conv, class token,
positions, ln_pre, pre-LN blocks, ln_post on the class token, visual_projection. quick_gelu.
Written so that torch.onnx.export traces it with dynamic batch (and sequence) axes: the causal mask
comes from torch.arange of the traced length, pooling is a gather at the argmax.
"""
import json
import os
import sys
import time

# jina_clip_torch sizes OpenBLAS's pool from `bench --threads N` before numpy loads it (see there)
from jina_clip_torch import SafeTensors, _set, peak_rss_mb

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F

BOS, EOS, VOCAB = 49406, 49407, 49408


def quick_gelu(z):
    return z * torch.sigmoid(1.702 * z)


class Layer(nn.Module):
    """One pre-LN encoder layer (A.4), the same for both towers."""

    def __init__(self, D, nh, I, eps):
        super().__init__()
        self.nh, self.d = nh, D // nh
        self.layer_norm1 = nn.LayerNorm(D, eps=eps)
        self.q_proj, self.k_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.v_proj, self.out_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.layer_norm2 = nn.LayerNorm(D, eps=eps)
        self.fc1, self.fc2 = nn.Linear(D, I), nn.Linear(I, D)

    def forward(self, x, mask):
        # x [B, N, D]; mask None or [N, N] (0 / -inf, causal)
        B, N, D = x.shape
        h = self.layer_norm1(x)
        q = (self.q_proj(h) * self.d ** -0.5).view(B, N, self.nh, self.d).transpose(1, 2)   # [B, nh, N, d]
        k = self.k_proj(h).view(B, N, self.nh, self.d).transpose(1, 2)
        v = self.v_proj(h).view(B, N, self.nh, self.d).transpose(1, 2)
        s = torch.matmul(q, k.transpose(-1, -2))
        if mask is not None:
            s = s + mask
        o = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, N, D)
        x = x + self.out_proj(o)
        return x + self.fc2(quick_gelu(self.fc1(self.layer_norm2(x))))

    def load(self, g, p):
        for name in ("layer_norm1", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                     "layer_norm2", "mlp.fc1", "mlp.fc2"):
            mod = getattr(self, name.split(".")[-1])
            _set(mod.weight, g(p + name + ".weight"))
            _set(mod.bias, g(p + name + ".bias"))


def _check_act(c):
    if c.get("hidden_act", "quick_gelu") != "quick_gelu":
        raise SystemExit("hidden_act %r: only quick_gelu is CLIP" % c.get("hidden_act"))


class TextTower(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = cfg["text_config"]
        _check_act(t)
        D, eps = t.get("hidden_size", 512), t.get("layer_norm_eps", 1e-5)
        self.token_embedding = nn.Embedding(t.get("vocab_size", VOCAB), D)
        self.position_embedding = nn.Embedding(t.get("max_position_embeddings", 77), D)
        self.layers = nn.ModuleList(Layer(D, t.get("num_attention_heads", 8), t.get("intermediate_size", 4 * D), eps)
                                    for _ in range(t.get("num_hidden_layers", 12)))
        self.final_layer_norm = nn.LayerNorm(D, eps=eps)
        self.projection = nn.Linear(D, cfg.get("projection_dim", 512), bias=False)

    def forward(self, ids):
        # ids [B, L] int64, L <= 77; whatever follows the first 49407 does not matter (causal)
        B, L = ids.shape
        pos = torch.arange(L, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(pos)
        mask = torch.zeros(L, L).masked_fill(pos.view(1, L) > pos.view(L, 1), float("-inf"))   # [L, L]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        eot = ids.argmax(dim=-1)                       # the first 49407 (the largest id)
        D = x.shape[-1]
        e = x.gather(1, eot.view(B, 1, 1).expand(B, 1, D)).squeeze(1)
        e = self.projection(e)
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def load(self, sd, p="text_model."):
        g = lambda n: torch.from_numpy(sd.pop(p + n))
        with torch.no_grad():
            _set(self.token_embedding.weight, g("embeddings.token_embedding.weight"))
            _set(self.position_embedding.weight, g("embeddings.position_embedding.weight"))
            for i, l in enumerate(self.layers):
                l.load(g, "encoder.layers.%d." % i)
            _set(self.final_layer_norm.weight, g("final_layer_norm.weight"))
            _set(self.final_layer_norm.bias, g("final_layer_norm.bias"))
            _set(self.projection.weight, torch.from_numpy(sd.pop("text_projection.weight")))
        return self


class VisionTower(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vision_config"]
        _check_act(v)
        D, eps = v.get("hidden_size", 768), v.get("layer_norm_eps", 1e-5)
        P, S = v.get("patch_size", 32), v.get("image_size", 224)
        self.patch_embedding = nn.Conv2d(3, D, kernel_size=P, stride=P, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(D))
        self.position_embedding = nn.Parameter(torch.zeros((S // P) ** 2 + 1, D))
        self.pre_layrnorm = nn.LayerNorm(D, eps=eps)
        self.layers = nn.ModuleList(Layer(D, v.get("num_attention_heads", 12), v.get("intermediate_size", 4 * D), eps)
                                    for _ in range(v.get("num_hidden_layers", 12)))
        self.post_layernorm = nn.LayerNorm(D, eps=eps)
        self.projection = nn.Linear(D, cfg.get("projection_dim", 512), bias=False)

    def forward(self, pixels):
        B = pixels.shape[0]
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)                         # [B, g*g, D]
        x = torch.cat((self.class_embedding.view(1, 1, -1).expand(B, 1, -1), x), dim=1) + self.position_embedding
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x, None)
        e = self.projection(self.post_layernorm(x[:, 0]))
        return e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def load(self, sd, p="vision_model."):
        g = lambda n: torch.from_numpy(sd.pop(p + n))
        with torch.no_grad():
            _set(self.patch_embedding.weight, g("embeddings.patch_embedding.weight"))
            _set(self.class_embedding, g("embeddings.class_embedding"))
            _set(self.position_embedding, g("embeddings.position_embedding.weight"))
            for n in ("pre_layrnorm", "post_layernorm"):
                _set(getattr(self, n).weight, g(n + ".weight"))
                _set(getattr(self, n).bias, g(n + ".bias"))
            for i, l in enumerate(self.layers):
                l.load(g, "encoder.layers.%d." % i)
            _set(self.projection.weight, torch.from_numpy(sd.pop("visual_projection.weight")))
        return self


def load_tower(ckpt, which):
    """which: 'text' or 'vision'. Only that tower's tensors (and its projection) are read."""
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    if cfg.get("model_type", "clip") != "clip":
        raise SystemExit("%s: model_type %r, not clip" % (ckpt, cfg.get("model_type")))
    path = os.path.join(ckpt, "model.safetensors")
    sd = SafeTensors(path, "text_" if which == "text" else "vis")   # text_model.* + text_projection.*
    m = TextTower(cfg) if which == "text" else VisionTower(cfg)
    m.load(sd)
    left = {n for n in sd.left if not n.endswith("position_ids")}
    assert not left, "tensors not used: %s" % sorted(left)[:5]
    return m.eval()


def case_inputs(case, seed=2024):
    """(tower, tensor) for a `jclip bench` case: random ids in 1000..49399 framed by
    <|startoftext|> / <|endoftext|>, or normalised-range pixels; timing depends only on shapes."""
    rng = np.random.default_rng(seed)
    if case.startswith("text-"):
        spec = case[5:]
        L, B = (int(spec.split("x")[0]), int(spec.split("x")[1])) if "x" in spec else (int(spec), 1)
        if L > 77:
            raise SystemExit("CLIP texts have at most 77 tokens")
        ids = rng.integers(1000, VOCAB - 8, size=(B, L), dtype=np.int64)
        ids[:, 0], ids[:, -1] = BOS, EOS
        return "text", torch.from_numpy(ids)
    if case.startswith("image-"):
        B = int(case[6:])
        px = rng.integers(0, 4096, size=(B, 3, 224, 224)).astype(np.float32) / 1024.0 - 2.0
        return "vision", torch.from_numpy(px)
    raise SystemExit("unknown case " + case)


def cmd_bench(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="clip_torch.py bench")
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


def _report(name, got, want):
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    d = np.abs(got - want).max()
    print("%-24s n=%d  min cos %.8f  max|diff| %.3g" % (name, len(got), cos.min(), d))
    return bool(cos.min() >= 0.99999 and d <= 1e-4)


def cmd_verify(argv):
    ckpt, gold = argv[0], argv[1]
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    ok = True
    texts = [json.loads(l)["ids"] for l in open(os.path.join(gold, "texts.jsonl"))]
    want = np.load(os.path.join(gold, "text_emb_norm.npy"))
    m = load_tower(ckpt, "text")
    L = max(len(t) for t in texts)
    ids = np.zeros((len(texts), L), dtype=np.int64)   # padded with 0 after the end token: causal, no effect
    for i, t in enumerate(texts):
        ids[i, : len(t)] = t
    with torch.inference_mode():
        batched = m(torch.from_numpy(ids)).numpy()
        single = np.concatenate([m(torch.tensor([t], dtype=torch.int64)).numpy() for t in texts])
    del m
    ok &= _report("text batched (padded)", batched, want)
    ok &= _report("text one by one", single, want)
    m = load_tower(ckpt, "vision")
    px = np.load(os.path.join(gold, "pixels.npy"))
    with torch.inference_mode():
        got = m(torch.from_numpy(px)).numpy()
    ok &= _report("image (pixels.npy)", got, np.load(os.path.join(gold, "pixels_emb_norm.npy")))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def cmd_export(argv):
    ckpt, out = argv[0], argv[1]
    opset = int(os.environ.get("OPSET", "17"))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    for tower, case, names, axes in (
            ("text", "text-77x8", ["input_ids"], {"input_ids": {0: "batch", 1: "seq"}}),
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
    # what ort_bench.js needs to make the bench cases of this family
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"family": "clip", "vocab": VOCAB, "bos": BOS, "eos": EOS, "max_tokens": 77,
                   "golden_suffix": "_norm"}, f)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("verify", "bench", "export"):
        print(__doc__)
        sys.exit(2)
    sys.exit({"verify": cmd_verify, "bench": cmd_bench, "export": cmd_export}[sys.argv[1]](sys.argv[2:]) or 0)
