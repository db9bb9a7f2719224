"""fakequant.py: what other q8 formats would cost in accuracy, simulated on the PyTorch model.

Peer tooling only: nothing here is part of the jclip library or its tests.

    python3 bench/peers/fakequant.py CKPT_DIR GOLDEN_DIR text|vision

Runs jina-clip-v1's text tower on the golden texts (one by one, from ids) or its vision tower on
the golden pixel tensors, first in float32, then with every linear layer fake-quantised (symmetric
int8, round to nearest, one scale per block along K for the weights and per row and block for
the activations, as jclip's q8 does), and prints the min / mean cosine of each variant to the
float32 vectors. Variants: blocks of 32 for both (jclip's q8 format, without the vision
smoothing that jclip's converter adds), per-token activation scales with block-32 weights,
blocks of 64, blocks of 128, per-channel weights with per-token activations (ONNX Runtime's
dynamic quantisation, but per token instead of per tensor), and per-channel weights with
activations in blocks of 32 (which would spare the GEMM the per-block scale product).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jina_clip_torch as J  # noqa: E402

_LINEAR = F.linear
_MODE = {"w": None, "a": None}


def fake_q8(x, blk):
    """Symmetric int8 round trip along the last axis in blocks of blk (0: the whole row)."""
    shape, K = x.shape, x.shape[-1]
    b = K if blk == 0 else blk
    xr = x.reshape(*shape[:-1], K // b, b)
    d = xr.abs().amax(-1, keepdim=True) / 127.0
    safe = torch.where(d > 0, d, torch.ones_like(d))
    q = torch.where(d > 0, torch.clamp(torch.round(xr / safe), -127, 127), torch.zeros_like(xr))
    return (q * d).reshape(shape)


def linear(x, w, b=None):
    if _MODE["w"] is not None and x.shape[-1] % 128 == 0 and w.dim() == 2:
        x, w = fake_q8(x, _MODE["a"]), fake_q8(w, _MODE["w"])
    return _LINEAR(x, w, b)


def main(argv):
    if len(argv) != 3 or argv[2] not in ("text", "vision"):
        sys.exit(__doc__)
    ckpt, gold, tower = argv
    F.linear = linear
    torch.set_num_threads(2)
    m = J.load_tower(ckpt, tower)
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
    _MODE["w"] = None
    ref = run()
    for wb, ab, name in ((32, 32, "blocks of 32 (jclip q8)"), (32, 0, "w blocks of 32, a per token"),
                         (64, 64, "blocks of 64"), (128, 128, "blocks of 128"),
                         (0, 0, "w per channel, a per token"), (0, 32, "w per channel, a blocks of 32")):
        _MODE["w"], _MODE["a"] = wb, ab
        got = run()
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        print("%-7s %-30s min %.6f  mean %.6f" % (tower, name, cos.min(), cos.mean()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
