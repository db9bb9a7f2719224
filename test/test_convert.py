#!/usr/bin/env python3
"""Converter checks (run by the test runner's `convert` suite with the system python3 + numpy).

    test_convert.py CKPT_DIR WORK_DIR [CLIP_DIR JINA_V2_DIR]

CKPT_DIR is the tiny Hugging Face checkpoint made by make_checkpoint.py; CLIP_DIR and
JINA_V2_DIR (optional) the tiny ones of make_clip_checkpoint.py and make_jina_v2_checkpoint.py. Each check prints
"ok NAME" or "FAIL NAME: why"; the last line is "convert: N passed, N failed".
"""
import json
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, "..", "convert", "convert.py")
passed = failed = 0


def check(name, cond, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def run(src, out, *extra):
    p = subprocess.run([sys.executable, CONVERT, src, "-o", out, "-q"] + list(extra), capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def variant(base, work, name, edit):
    d = os.path.join(work, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for f in os.listdir(base):
        if f == "model.safetensors":
            os.symlink(os.path.abspath(os.path.join(base, f)), os.path.join(d, f))
        else:
            shutil.copy(os.path.join(base, f), d)
    edit(d)
    return d


def bpe_checks(work):
    """The BPE tokenizer side of the converter on shared/vocab/clip-vit-base-patch32 (the files
    make_clip_checkpoint.py copies into a CLIP checkpoint): blobs round-trip, tokenizer.json and
    vocab.json + merges.txt agree, bad pipelines are refused, and the C tokenizer built from the
    converter's blobs gives the golden ids (suite bpe run with $JCLIP_BPE_BLOBS)."""
    sys.path.insert(0, os.path.dirname(CONVERT))
    import convert as cv
    shared = os.environ.get("JCLIP_SHARED") or os.path.join(HERE, "..", "..", "shared")
    src = os.path.join(shared, "vocab", "clip-vit-base-patch32")
    if not os.path.isfile(os.path.join(src, "tokenizer.json")):
        check("bpe: shared CLIP tokenizer files present", False, "missing %s (set JCLIP_SHARED)" % src)
        return
    entries = cv.read_bpe_tokenizer(src)
    m = {k: v for k, _, v in entries}
    vj = json.load(open(os.path.join(src, "vocab.json"), encoding="utf-8"))
    vocab = m["tokenizer.vocab"].split(b"\0")[:-1]
    check("bpe: vocab blob round-trips", [w.decode("utf-8") for w in vocab] ==
          [t for t, _ in sorted(vj.items(), key=lambda kv: kv[1])] and m["tokenizer.n_vocab"] == 49408)
    with open(os.path.join(src, "merges.txt"), encoding="utf-8") as f:
        pairs = [tuple(l.split(" ")) for l in f.read().split("\n")[1:] if l]
    mg = m["tokenizer.merges"]
    trip = [struct.unpack_from("<III", mg, 12 * i) for i in range(len(mg) // 12)]
    back = [(vocab[a].decode(), vocab[b].decode()) for a, b, _ in trip]
    check("bpe: merges blob round-trips", back == pairs and m["tokenizer.n_merges"] == len(pairs) == 48894
          and all(vocab[c] == vocab[a] + vocab[b] for a, b, c in trip))
    check("bpe: specials and settings", (m["tokenizer.type"], m["tokenizer.bos_id"], m["tokenizer.eos_id"],
          m["tokenizer.pad_id"], m["tokenizer.bos_normalized"], m["tokenizer.eos_normalized"],
          m["tokenizer.max_length"]) == ("bpe", 49406, 49407, 49407, 1, 0, 77), repr(m.get("tokenizer.bos_id")))

    def tok_variant(name, files, edit=None):
        d = os.path.join(work, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for f in files:
            shutil.copy(os.path.join(src, f), d)
        if edit:
            p = os.path.join(d, "tokenizer.json")
            tj = json.load(open(p, encoding="utf-8"))
            edit(tj)
            json.dump(tj, open(p, "w", encoding="utf-8"))
        return d

    d = tok_variant("bpe-slow", ["vocab.json", "merges.txt", "tokenizer_config.json"])
    check("bpe: vocab.json + merges.txt alone give the same blobs", cv.read_bpe_tokenizer(d) == entries)

    def expect_error(name, edit, words):
        d = tok_variant(name, ["tokenizer.json", "tokenizer_config.json"], edit)
        try:
            cv.read_bpe_tokenizer(d)
            check("bpe: " + name + " refused", False, "no error")
        except cv.ConvertError as e:
            check("bpe: " + name + " refused", all(w in str(e) for w in words), str(e))

    expect_error("no-nfc", lambda tj: tj["normalizer"]["normalizers"].pop(0), ["normalizer"])
    expect_error("other-regex", lambda tj: tj["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(Regex=r"\w+"),
                 ["Split"])
    expect_error("no-suffix", lambda tj: tj["model"].update(end_of_word_suffix=""), ["end_of_word_suffix"])
    expect_error("bad-merge", lambda tj: tj["model"]["merges"].insert(5, "zzqq< xx"), ["merge 5"])

    def no_byte(tj):
        v = tj["model"]["vocab"]
        v["<no-such-byte>"] = v.pop("!")
    expect_error("missing-byte", no_byte, ["byte symbol"])

    def literals(tj):
        tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = cv.CLIP_SPLIT_LITERALS
    d = tok_variant("bpe-literals", ["tokenizer.json", "tokenizer_config.json"], literals)
    check("bpe: split regex with the special literals accepted", cv.read_bpe_tokenizer(d) == entries)

    blobs = os.path.join(work, "clip.bpeblobs")
    p = subprocess.run([sys.executable, CONVERT, "--bpe-blobs", src, "-o", blobs], capture_output=True, text=True)
    check("bpe: --bpe-blobs writes the blob file", p.returncode == 0 and os.path.getsize(blobs) > 1000000, p.stderr)
    runner = os.path.join(os.getcwd(), "build", "test_runner")
    if not os.access(runner, os.X_OK):
        check("bpe: C suite on the converter's blobs", False, "no %s (make build/test_runner)" % runner)
        return
    env = dict(os.environ, JCLIP_BPE_BLOBS=blobs, JCLIP_SHARED=shared)
    p = subprocess.run([runner, "bpe"], capture_output=True, text=True, env=env)
    out = p.stdout + p.stderr
    check("bpe: C tokenizer from the converter's blobs gives the golden ids", p.returncode == 0
          and "clip_bpe.jsonl: 15000/15000 identical" in out and "clip_bpe_trunc77.jsonl: 15000/15000" in out
          and "400/400 identical" in out and out.strip().endswith(" 0 failed"), out[-600:])



def read_meta(path):
    """The metadata of a .jclip file as {key: value} (strings decoded, numbers as numbers)."""
    with open(path, "rb") as f:
        data = f.read()
    off = struct.unpack("<Q", data[24:32])[0]
    n = struct.unpack("<I", data[off:off + 4])[0]
    off += 4
    out = {}
    for _ in range(n):
        kl = struct.unpack("<H", data[off:off + 2])[0]
        key = data[off + 2:off + 2 + kl].decode()
        typ = data[off + 2 + kl]
        off += 3 + kl
        if typ in (0, 1):
            out[key] = struct.unpack("<Q" if typ == 0 else "<d", data[off:off + 8])[0]
            off += 8
        elif typ in (2, 3, 4):
            cnt = struct.unpack("<I", data[off:off + 4])[0]
            size = cnt if typ == 2 else 4 * cnt
            out[key] = data[off + 4:off + 4 + size].decode() if typ == 2 else data[off + 4:off + 4 + size]
            off += 4 + size
        else:
            cnt = struct.unpack("<Q", data[off:off + 8])[0]
            out[key] = data[off + 8:off + 8 + cnt]
            off += 8 + cnt
    return out


def drop_tensors(d, names):
    """Rewrites d/model.safetensors (a symlink from variant) without the tensors names (the
    data block is kept as is: the offsets of the others stay valid)."""
    p = os.path.join(d, "model.safetensors")
    with open(p, "rb") as f:
        raw = f.read()
    hl = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + hl])
    missing = [n for n in names if n not in header]
    if missing:
        raise SystemExit("drop_tensors: %s not in %s" % (missing, p))
    for n in names:
        del header[n]
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    os.remove(p)
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + raw[8 + hl:])


def families(clip, jv2, work):
    """The CLIP and jina-embeddings-v2 checkpoints: family detection, ignored extra tensors,
    refused configurations, shape mismatches."""
    out = os.path.join(work, "fam.jclip")
    rc, err = run(clip, out)
    meta = read_meta(out) if rc == 0 else {}
    check("clip: converts", rc == 0 and meta.get("general.architecture") == "clip" and meta.get("general.embed_dim") == 64
          and meta.get("preprocess.mode") == "clip" and meta.get("tokenizer.type") == "bpe" and meta.get("text.eot_id") == 49407
          and meta.get("text.n_pos") == 77 and meta.get("vision.patch_size") == 32, err or str(meta.get("general.architecture")))
    first = open(out, "rb").read() if rc == 0 else b""
    d = variant(clip, work, "clip_nopos", lambda d: drop_tensors(d, ["text_model.embeddings.position_ids",
                                                                    "vision_model.embeddings.position_ids"]))
    rc, err = run(d, out)
    check("clip: without position_ids, the same file", rc == 0 and open(out, "rb").read() == first, err)
    d = variant(clip, work, "clip_vocabjson", lambda d: os.remove(os.path.join(d, "tokenizer.json")))
    rc, err = run(d, out)
    check("clip: vocab.json alone gives the same file as tokenizer.json", rc == 0 and open(out, "rb").read() == first, err)

    def clip_cfg(edit):
        def f(d):
            p = os.path.join(d, "config.json")
            cfg = json.load(open(p))
            edit(cfg)
            json.dump(cfg, open(p, "w"))
        return f
    d = variant(clip, work, "clip_act", clip_cfg(lambda c: c["vision_config"].__setitem__("hidden_act", "gelu")))
    rc, err = run(d, out + "2")
    check("clip: hidden_act gelu is refused", rc == 1 and "quick_gelu" in err, err)
    d = variant(clip, work, "clip_shape", clip_cfg(lambda c: c["text_config"].__setitem__("intermediate_size", 256)))
    rc, err = run(d, out + "2")
    check("clip: shape mismatch names tensor, expected and got", rc == 1 and "mlp.fc1.weight" in err
          and "expected [256, 128], got [512, 128]" in err, err)
    d = variant(clip, work, "clip_proj", clip_cfg(lambda c: c.__setitem__("projection_dim", 128)))
    rc, err = run(d, out + "2")
    check("clip: projection_dim must match the projections", rc == 1 and "text_projection.weight" in err, err)
    d = variant(clip, work, "clip_heads", clip_cfg(lambda c: c["text_config"].__setitem__("num_attention_heads", 3)))
    rc, err = run(d, out + "2")
    check("clip: heads that do not divide the width are refused", rc == 1 and "num_attention_heads" in err, err)

    # q8 scale blocks: CLIP's vision tower gets 128 by default, every tower what --q8-block says
    rc, err = run(clip, out, "--dtype", "q8")
    meta = read_meta(out) if rc == 0 else {}
    check("clip q8: vision.q8_block = 128, text keeps 32", rc == 0 and meta.get("vision.q8_block") == 128
          and "text.q8_block" not in meta, err or str(sorted(k for k in meta if "q8" in k)))
    rc, err = run(clip, out, "--dtype", "q8", "--q8-block", "32")
    meta = read_meta(out) if rc == 0 else {}
    check("clip q8 --q8-block 32: no q8_block keys", rc == 0 and not [k for k in meta if "q8_block" in k], err)
    rc, err = run(clip, out, "--dtype", "q8", "--q8-block", "64")
    meta = read_meta(out) if rc == 0 else {}
    check("clip q8 --q8-block 64: both towers", rc == 0 and meta.get("vision.q8_block") == 64 and meta.get("text.q8_block") == 64, err)
    rc, err = run(clip, out, "--dtype", "f32", "--q8-block", "128")
    meta = read_meta(out) if rc == 0 else {}
    check("clip f32: no q8_block keys whatever --q8-block says", rc == 0 and not [k for k in meta if "q8_block" in k], err)
    rc, err = run(clip, out + "2", "--dtype", "q8", "--q8-block", "96")
    check("--q8-block 96 is refused", rc == 2 and "--q8-block" in err, err)
    sys.path.insert(0, os.path.dirname(CONVERT))
    import convert as cv
    import numpy as np
    w = np.random.default_rng(5).standard_normal((3, 192)).astype("<f4") * np.linspace(0.1, 3, 192, dtype="<f4")
    q, sc = cv.to_q8(w, 128)  # K = 192: blocks of 64 (S = 2)
    back = q.astype(np.float64) * np.repeat(sc, 32, axis=1)
    check("to_q8 with blocks of 128 at K = 192: scales per 64, repeated per 32, round trip within half a step",
          cv.q8_scale_blocks(128, 192) == 2 and cv.q8_scale_blocks(128, 768) == 4 and cv.q8_scale_blocks(64, 96) == 1
          and sc.shape == (3, 6) and (sc[:, 0::2] == sc[:, 1::2]).all()
          and np.allclose(sc[:, 0::2], np.abs(w).reshape(3, 3, 64).max(axis=2) / 127, rtol=1e-6)
          and (np.abs(back - w) <= np.repeat(sc, 32, axis=1) / 2 + 1e-7).all())

    rc, err = run(jv2, out)
    meta = read_meta(out) if rc == 0 else {}
    check("jina-v2: converts", rc == 0 and meta.get("general.architecture") == "jina-embeddings-v2"
          and meta.get("general.embed_dim") == 128 and meta.get("tokenizer.max_length") == 8192
          and meta.get("tokenizer.type") == "wordpiece" and "preprocess.mode" not in meta, err)
    first = open(out, "rb").read() if rc == 0 else b""
    d = variant(jv2, work, "jv2_nopooler", lambda d: drop_tensors(d, ["pooler.dense.weight", "pooler.dense.bias"]))
    rc, err = run(d, out)
    check("jina-v2: without the pooler, the same file", rc == 0 and open(out, "rb").read() == first, err)
    d = variant(jv2, work, "jv2_glu", clip_cfg(lambda c: c.__setitem__("feed_forward_type", "reglu")))
    rc, err = run(d, out + "2")
    check("jina-v2: feed_forward_type reglu is refused", rc == 1 and "reglu" in err, err)
    d = variant(jv2, work, "jv2_bert", clip_cfg(lambda c: (c.__setitem__("architectures", ["BertModel"]),
                                                          c.__setitem__("auto_map", None))))
    rc, err = run(d, out + "2")
    check("plain BERT is an unknown architecture that lists the families", rc == 1 and "unknown architecture" in err
          and "jina-embeddings-v2" in err and "CLIPModel" in err, err)
    d = variant(jv2, work, "jv2_shape", clip_cfg(lambda c: c.__setitem__("intermediate_size", 256)))
    rc, err = run(d, out + "2")
    check("jina-v2: shape mismatch names tensor, expected and got", rc == 1 and "encoder.layer.0.mlp.gated_layers.weight" in err
          and "expected [512, 128], got [1024, 128]" in err, err)


def main():
    base, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "out.jclip")

    rc, err = run(base, out)
    check("converts the tiny checkpoint", rc == 0 and os.path.getsize(out) > 0, err)
    with open(out, "rb") as f:
        head = f.read(128)
    check("magic and version", head[:8] == b"JCLIPWTS" and struct.unpack("<I", head[8:12])[0] == 1)
    size = struct.unpack("<Q", head[16:24])[0]
    check("header file size", size == os.path.getsize(out))
    data_off = struct.unpack("<Q", head[56:64])[0]
    check("data section aligned", data_off % 64 == 0)

    rc, err = run(os.path.join(work, "nope"), out + "2")
    check("missing directory is an error", rc == 1 and "not a directory" in err, err)

    d = variant(base, work, "noconfig", lambda d: os.remove(os.path.join(d, "config.json")))
    rc, err = run(d, out + "2")
    check("missing config.json named", rc == 1 and "config.json" in err, err)

    def no_weights(d):
        os.remove(os.path.join(d, "model.safetensors"))
    d = variant(base, work, "noweights", no_weights)
    rc, err = run(d, out + "2")
    check("missing model.safetensors named", rc == 1 and "model.safetensors" in err, err)

    def no_vocab(d):
        for f in ("vocab.txt", "tokenizer.json"):
            os.remove(os.path.join(d, f))
    d = variant(base, work, "novocab", no_vocab)
    rc, err = run(d, out + "2")
    check("missing tokenizer named", rc == 1 and "vocab.txt" in err, err)

    def only_tokenizer_json(d):
        os.remove(os.path.join(d, "vocab.txt"))
    d = variant(base, work, "tokjson", only_tokenizer_json)
    rc, err = run(d, out + "3")
    same = rc == 0 and open(out, "rb").read() == open(out + "3", "rb").read()
    check("tokenizer.json alone gives the same file as vocab.txt", same, err)

    def edit_config(key, value):
        def f(d):
            p = os.path.join(d, "config.json")
            cfg = json.load(open(p))
            cfg[key] = value
            json.dump(cfg, open(p, "w"))
        return f
    d = variant(base, work, "arch", edit_config("model_type", "llama"))
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["architectures"] = ["LlamaForCausalLM"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    rc, err = run(d, out + "2")
    check("unknown architecture is named", rc == 1 and "unknown architecture" in err, err)

    def wrong_heads(d):
        p = os.path.join(d, "config.json")
        cfg = json.load(open(p))
        cfg["text_config"]["hf_model_config_kwargs"]["intermediate_size"] = 256
        json.dump(cfg, open(p, "w"))
    d = variant(base, work, "shape", wrong_heads)
    rc, err = run(d, out + "2")
    check("shape mismatch names tensor, expected and got", rc == 1 and "mlp.gated_layers.weight" in err
          and "expected [512, 128], got [1024, 128]" in err, err)

    def corrupt_st(d):
        os.remove(os.path.join(d, "model.safetensors"))
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + b"{}")
    d = variant(base, work, "badst", corrupt_st)
    rc, err = run(d, out + "2")
    check("corrupt safetensors header is an error", rc == 1 and "corrupt" in err, err)
    check("no partial output left behind", not os.path.exists(out + "2") and not os.path.exists(out + "2.tmp"))
    bpe_checks(work)
    if len(sys.argv) > 4:
        families(sys.argv[3], sys.argv[4], work)
    print("convert: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
