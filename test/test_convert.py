#!/usr/bin/env python3
"""Converter checks (run by the test runner's `convert` suite with the system python3 + numpy).

    test_convert.py CKPT_DIR WORK_DIR

CKPT_DIR is the tiny Hugging Face checkpoint made by make_checkpoint.py. Each check prints
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


def run(src, out):
    p = subprocess.run([sys.executable, CONVERT, src, "-o", out, "-q"], capture_output=True, text=True)
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
    print("convert: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
