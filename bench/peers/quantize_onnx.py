"""quantize_onnx.py: the int8 ONNX Runtime peer of jclip's q8 files, made from the fp32 export.

Peer benchmark only: nothing here is part of the jclip library or its tests.

    python3 quantize_onnx.py IN.onnx OUT.onnx          # or: IN_DIR OUT_DIR (text.onnx, vision.onnx)
    python3 quantize_onnx.py --selftest                # each form below, run by ONNX Runtime (node)

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


def selftest():
    """A small graph with every handled form (Gemm transB=1 with bias, MatMul by a Transpose of a
    weight, MatMul + Add(bias, .), Gemm transB=0 with beta 0.5) and one activation x activation
    MatMul that must stay, rewritten and run by onnxruntime-node (this folder's node_modules).
    The int8 graph must equal a numpy model of the quantised arithmetic (these weights quantised
    per column, each activation quantised to uint8 with one scale and zero point per tensor)."""
    import json, subprocess, tempfile
    from onnx import TensorProto
    rng = np.random.default_rng(0)
    M, K, N = 7, 48, 40
    w = {"W1": rng.standard_normal((N, K)), "b1": rng.standard_normal(N), "W2": rng.standard_normal((N, N)),
         "W3": rng.standard_normal((N, 24)), "b3": rng.standard_normal(24), "W4": rng.standard_normal((24, 16)),
         "b4": rng.standard_normal(16)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h1"], name="g1", transB=1),
             helper.make_node("Transpose", ["W2"], ["W2t"], name="t2", perm=[1, 0]),
             helper.make_node("MatMul", ["h1", "W2t"], ["h2"], name="m2"),
             helper.make_node("MatMul", ["h2", "W3"], ["h3a"], name="m3"),
             helper.make_node("Add", ["b3", "h3a"], ["h3"], name="a3"),
             helper.make_node("Gemm", ["h3", "W4", "b4"], ["y"], name="g4", beta=0.5),
             helper.make_node("Transpose", ["h3"], ["h3t"], name="th3", perm=[1, 0]),
             helper.make_node("MatMul", ["h3", "h3t"], ["att"], name="att")]
    g = helper.make_graph(nodes, "selftest", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [M, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, 16]),
                           helper.make_tensor_value_info("att", TensorProto.FLOAT, [M, M])],
                          [numpy_helper.from_array(v, k) for k, v in w.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    n, _, _ = rewrite(m)
    ops = [node.op_type for node in m.graph.node]
    ok = n == 4 and ops.count("DynamicQuantizeMatMul") == 4 and ops.count("MatMul") == 1 and "Add" not in ops
    print("rewrite: %d layers, nodes %s" % (n, ops))

    def qw(a):  # the stored weight, dequantised
        q, s = quantize_columns(a)
        return q.astype(np.float64) * s
    def qa(a):  # what the op does to its activation input
        lo, hi = min(0.0, float(a.min())), max(0.0, float(a.max()))
        s = (hi - lo) / 255
        zp = np.clip(np.rint(-lo / s), 0, 255)
        return (np.clip(np.rint(a / s) + zp, 0, 255) - zp) * s
    x = rng.standard_normal((M, K)).astype(np.float32)
    h1 = qa(x) @ qw(w["W1"].T) + w["b1"]
    h2 = qa(h1) @ qw(w["W2"].T)
    h3 = qa(h2) @ qw(w["W3"]) + w["b3"]
    want = qa(h3) @ qw(w["W4"]) + 0.5 * w["b4"]
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as d:
        onnx.save(m, os.path.join(d, "int8.onnx"))
        js = ("const ort = require(process.argv[1]); const fs = require('fs');"
              "(async () => { const a = JSON.parse(fs.readFileSync(0, 'utf8'));"
              "const s = await ort.InferenceSession.create(process.argv[2]);"
              "const o = await s.run({x: new ort.Tensor('float32', Float32Array.from(a.x), a.shape)});"
              "console.log(JSON.stringify(Array.from(o.y.data))); })()"
              ".catch((e) => { console.error(String(e)); process.exit(1); });")
        r = subprocess.run(["node", "-e", js, os.path.join(here, "node_modules", "onnxruntime-node"),
                            os.path.join(d, "int8.onnx")], input=json.dumps({"x": x.ravel().tolist(), "shape": [M, K]}),
                           capture_output=True, text=True)
    if r.returncode != 0:
        print("onnxruntime-node failed: %s" % r.stderr.strip())
        return 1
    got = np.array(json.loads(r.stdout), dtype=np.float64).reshape(want.shape)
    err = np.abs(got - want).max() / np.abs(want).max()
    print("ONNX Runtime int8 graph vs numpy model of the quantised arithmetic: max|diff| / max|y| = %.2e" % err)
    ok &= bool(err < 1e-5)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main(argv):
    if argv == ["--selftest"]:
        return selftest()
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
