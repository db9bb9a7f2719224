"""quantize_onnx.py: the int8 ONNX Runtime peer of jclip's q8 files, made from the fp32 export.

Peer benchmark only: nothing here is part of the jclip library or its tests.

    python3 quantize_onnx.py IN.onnx OUT.onnx          # or: IN_DIR OUT_DIR (text.onnx, vision.onnx)

Every linear layer, i.e. every node that multiplies an activation by a weight initializer, becomes
one `com.microsoft.DynamicQuantizeMatMul` (ONNX Runtime contrib op): the weight is stored as int8,
symmetric, one float scale per output column (no zero point); the op quantises its activation
input itself at run time (uint8, one scale and zero point for the whole tensor, as ORT does). The
forms handled, as torch.onnx.export writes nn.Linear:
  - MatMul(x, W)              W an initializer [K, N] (the export folds W^T into it)
  - MatMul(x, Transpose(W))   W an initializer [N, K] behind a perm=[1,0] Transpose
  - MatMul followed by Add(., b) / Add(b, .) with b an initializer [N] (the bias goes into the op)
  - Gemm(x, W, b)             alpha = 1, transA = 0, transB 0 or 1, b absent or [N] (beta folded)
Everything else stays fp32: the attention products (both inputs are activations), the patch
Conv, LayerNorms, softmax, embeddings. Needs only the standard library, numpy and onnx
(Debian: apt-get install -y python3-onnx python3-numpy).
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def quantize_columns(w):
    """w [K, N] float32 -> (int8 [K, N], scale float32 [N]): symmetric, one scale per column
    (= per output channel), round to nearest, range [-127, 127]."""
    amax = np.abs(w).max(axis=0).astype(np.float32)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def rewrite(model):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}

    def init_array(name):
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def weight_kn(name):
        """(array [K, N], names of nodes that become dead) for a weight operand, or (None, ())."""
        w = init_array(name)
        if w is not None:
            return (w, ()) if w.ndim == 2 and w.dtype == np.float32 else (None, ())
        t = producer.get(name)
        if t is not None and t.op_type == "Transpose" and t.input[0] in inits and len(consumers.get(name, [])) == 1:
            perm = [list(a.ints) for a in t.attribute if a.name == "perm"]
            w = init_array(t.input[0])
            if w.ndim == 2 and w.dtype == np.float32 and perm in ([], [[1, 0]]):
                return w.T, (t.output[0],)
        return None, ()

    def bias_after(mm_out, N):
        """(the Add node, its bias [N]) when mm_out's only use is an Add with a 1-D initializer."""
        users = consumers.get(mm_out, [])
        if len(users) != 1 or users[0].op_type != "Add" or mm_out in outputs:
            return None, None
        add = users[0]
        other = add.input[1] if add.input[0] == mm_out else add.input[0]
        b = init_array(other)
        if b is None or b.shape != (N,) or b.dtype != np.float32:
            return None, None
        return add, b

    new_inits, drop, replace, n_done, bytes_before, bytes_after = [], set(), {}, 0, 0, 0
    for n in g.node:
        if n.op_type == "MatMul":
            w, dead = weight_kn(n.input[1])
            if w is None:
                continue
            add, bias = bias_after(n.output[0], w.shape[1])
            out = add.output[0] if add is not None else n.output[0]
            x = n.input[0]
            fold = [add.output[0]] if add is not None else []
        elif n.op_type == "Gemm":
            at = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            if at.get("alpha", 1.0) != 1.0 or at.get("transA", 0) != 0 or n.input[1] not in inits:
                continue
            w = init_array(n.input[1])
            if w.ndim != 2 or w.dtype != np.float32:
                continue
            if at.get("transB", 0):
                w = w.T
            bias = None
            if len(n.input) > 2 and n.input[2]:
                bias = init_array(n.input[2])
                if bias is None or bias.shape != (w.shape[1],):
                    continue
                bias = bias * np.float32(at.get("beta", 1.0))
            dead, fold, out, x = (), [], n.output[0], n.input[0]
        else:
            continue
        base = n.name or n.output[0]
        q, scale = quantize_columns(np.ascontiguousarray(w, dtype=np.float32))
        names = [base + "_W_int8", base + "_W_scale"]
        new_inits += [numpy_helper.from_array(q, names[0]), numpy_helper.from_array(scale, names[1])]
        ins = [x, names[0], names[1]]
        if bias is not None:
            names.append(base + "_bias")
            new_inits.append(numpy_helper.from_array(bias.astype(np.float32), names[2]))
            ins += ["", names[2]]  # no b_zero_point: symmetric
        replace[n.output[0]] = helper.make_node("DynamicQuantizeMatMul", ins, [out], name=base + "_dqmm",
                                                     domain="com.microsoft")
        drop.update(dead)
        drop.update(fold)
        n_done += 1
        bytes_before += w.nbytes
        bytes_after += q.nbytes + scale.nbytes

    nodes = []
    for n in g.node:
        if n.output[0] in replace:
            nodes.append(replace[n.output[0]])
        elif n.output[0] not in drop:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    used = {i for n in g.node for i in n.input} | outputs
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return n_done, bytes_before, bytes_after


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    src, dst = argv
    pairs = [(src, dst)]
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
        pairs = [(os.path.join(src, f), os.path.join(dst, f)) for f in ("text.onnx", "vision.onnx")
                 if os.path.exists(os.path.join(src, f))]
        for extra in ("meta.json",):  # export metadata (model family, special ids) travels along
            if os.path.exists(os.path.join(src, extra)):
                with open(os.path.join(src, extra), "rb") as f, open(os.path.join(dst, extra), "wb") as o:
                    o.write(f.read())
    for a, b in pairs:
        m = onnx.load(a)
        n, before, after = rewrite(m)
        counts = {}
        for node in m.graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
        onnx.save(m, b)
        print("%s: %d linear layers -> DynamicQuantizeMatMul (%.1f -> %.1f MB of weights); left fp32: %s" % (
            b, n, before / 1e6, after / 1e6,
            ", ".join("%s %d" % (k, counts[k]) for k in ("MatMul", "Gemm", "Conv") if counts.get(k))))
        if n == 0:
            print("no linear layer found in %s" % a, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
