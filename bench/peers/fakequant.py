"""fakequant.py: what other q8 formats would cost in accuracy, simulated on the PyTorch models.

Peer tooling only: nothing here is part of the jclip library or its tests.

    python3 bench/peers/fakequant.py [jina|clip] CKPT_DIR GOLDEN_DIR text|vision

Runs a tower of jina-clip-v1 (jina_clip_torch.py, the default family) or OpenAI CLIP
(clip_torch.py) on the golden texts (one by one, from ids) or the golden pixel tensors, first in
float32, then with every linear layer fake-quantised (symmetric int8, round to nearest, one scale
per block along K for the weights and per row and block for the activations, as jclip's q8
does), and prints the min / mean cosine of each variant to the float32 vectors. The weights are
smoothed first exactly as convert.py does for q8 (jina-clip-v1's vision LayerNorms, OpenAI
CLIP's; none for JinaBERT text), so blocks of 32 is jclip's q8 up to float summation order.

Variants (weights / activations), numbered from 0: blocks of 32 (jclip's default), 64, 128 and 256
for both (64 and 128: convert.py --q8-block), the blocks of 128 only on the smoothed layers
(those fed by a LayerNorm), block-32 weights with activation blocks of 64 or 128, block-128
weights with block-32 activations (the mixed forms a kernel could scale once per coarse block),
block-32 weights with per-token activations, per-channel weights with per-token activations
(ONNX Runtime's dynamic quantisation, but per token instead of per tensor), and per-channel
weights with activations in blocks of 32, block-32 weights with power-of-two activation block
scales (the row's largest times a power of two, the smallest not below the block's own), and
the converse: power-of-two weight block scales (each row's largest times a power of two) with
block-32 activations (variants 10-12 need one float instruction less per block, if a kernel
applies the per-channel or power-of-two factor outside the float step). A block larger than a layer's K falls back to the
largest power-of-two multiple of 32 dividing K, as convert.py's q8_scale_blocks.

Environment: FAKEQUANT_ONLY=0,5,6 runs only those variants; FAKEQUANT_THREADS (default 2) sets
PyTorch's threads; FAKEQUANT_ATTN=bf16 also rounds both operands of the two attention products
(QK^T and PV, the towers' only torch.matmul calls, made in that order) to bf16 in every variant
(not in the float32 reference), products and sums staying float32, as a vdpbf16ps kernel would;
FAKEQUANT_ATTN=qk or pv rounds only that product's operands.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "convert"))
import convert as C  # noqa: E402

_LINEAR = F.linear
_MATMUL = torch.matmul
_MODE = {"v": None}   # (variant for other layers, variant for smoothed layers); each (w, a) block
_SMOOTHED = set()     # keys of the smoothed weights, as (shape, first values)


def _key(w):
    return tuple(w.shape), tuple(np.asarray(w).reshape(-1)[:6].tolist())


def fake_q8(x, blk):
    """Symmetric int8 round trip along the last axis in blocks of blk (0: the whole row; -32:
    blocks of 32 whose scales are the row's largest times a power of two, the smallest not below
    the block's own)."""
    shape, K = x.shape, x.shape[-1]
    b = K if blk == 0 else 32 * C.q8_scale_blocks(abs(blk), K)
    xr = x.reshape(*shape[:-1], K // b, b)
    d = xr.abs().amax(-1, keepdim=True) / 127.0
    if blk < 0:
        top = d.amax(-2, keepdim=True)
        e = torch.floor(torch.log2(torch.where(d > 0, top / torch.where(d > 0, d, torch.ones_like(d)), torch.ones_like(d))))
        d = torch.where(d > 0, top * torch.pow(2.0, -e), d)
    safe = torch.where(d > 0, d, torch.ones_like(d))
    q = torch.where(d > 0, torch.clamp(torch.round(xr / safe), -127, 127), torch.zeros_like(xr))
    return (q * d).reshape(shape)


def linear(x, w, b=None):
    v = _MODE["v"]
    if v is not None and x.shape[-1] % 32 == 0 and w.dim() == 2:
        wb, ab = v[1] if _key(w.detach().numpy()) in _SMOOTHED else v[0]
        x, w = fake_q8(x, ab), fake_q8(w, wb)
    return _LINEAR(x, w, b)


_ATTN = {"which": "", "n": 0}


def matmul_bf16(a, b):
    which = ("qk", "pv")[_ATTN["n"] % 2]
    _ATTN["n"] += 1
    if _MODE["v"] is None or _ATTN["which"] not in ("bf16", which):
        return _MATMUL(a, b)
    return _MATMUL(a.to(torch.bfloat16).float(), b.to(torch.bfloat16).float())


def main(argv):
    fam = "jina"
    if argv and argv[0] in ("jina", "clip"):
        fam, argv = argv[0], argv[1:]
    if len(argv) != 3 or argv[2] not in ("text", "vision"):
        sys.exit(__doc__)
    ckpt, gold, tower = argv
    if fam == "jina":
        import jina_clip_torch as M
    else:
        import clip_torch as M
    st = C.SafeTensors(os.path.join(ckpt, "model.safetensors"))
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    smooth = {}
    if fam == "jina" and tower == "vision":
        smooth = C.smooth_vision(st, C.vision_hparams(cfg))
    elif fam == "clip":
        smooth = C.smooth_pairs(st, C.clip_smooth_pairs([(n, None) for n in st.tensors]))
    pop = M.SafeTensors.pop

    def smoothed_pop(self, name):
        a = pop(self, name)
        if name in smooth:
            a = smooth[name].reshape(a.shape).astype(a.dtype)
            if a.ndim == 2:
                _SMOOTHED.add(_key(a))
        return a

    M.SafeTensors.pop = smoothed_pop
    F.linear = linear
    _ATTN["which"] = os.environ.get("FAKEQUANT_ATTN", "")
    if _ATTN["which"]:
        torch.matmul = matmul_bf16
    torch.set_num_threads(int(os.environ.get("FAKEQUANT_THREADS", "2")))
    m = M.load_tower(ckpt, tower)
    if tower == "text":
        texts = [json.loads(line)["ids"] for line in open(os.path.join(gold, "texts.jsonl"))]

        def run():
            with torch.inference_mode():
                return np.concatenate([m(torch.tensor([t], dtype=torch.int64)).numpy() for t in texts])
    else:
        px = torch.from_numpy(np.load(os.path.join(gold, "pixels.npy")))

        def run():
            with torch.inference_mode():
                return m(px).numpy()
    _MODE["v"] = None
    ref = run()

    def both(w, a):
        return (w, a), (w, a)
    variants = (("blocks of 32 (jclip q8)", both(32, 32)), ("blocks of 64", both(64, 64)),
                ("blocks of 128", both(128, 128)), ("blocks of 256", both(256, 256)),
                ("128 on smoothed layers, 32 else", ((32, 32), (128, 128))),
                ("w blocks of 32, a blocks of 64", both(32, 64)),
                ("w blocks of 32, a blocks of 128", both(32, 128)),
                ("w blocks of 128, a blocks of 32", both(128, 32)),
                ("w blocks of 32, a per token", both(32, 0)), ("w per channel, a per token", both(0, 0)),
                ("w per channel, a blocks of 32", both(0, 32)),
                ("w blocks of 32, a power-of-two blocks", both(32, -32)),
                ("w power-of-two blocks, a blocks of 32", both(-32, 32)))
    only = os.environ.get("FAKEQUANT_ONLY")  # comma-separated variant numbers (0 = the first)
    if only:
        variants = [variants[int(i)] for i in only.split(",")]
    for name, v in variants:
        _MODE["v"] = v
        got = run()
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        print("%s %-6s %-34s min %.6f  mean %.6f" % (fam, tower, name, cos.min(), cos.mean()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
