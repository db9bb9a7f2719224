"""jclip.Model: parity with the CLI bit for bit, shapes, inputs of every kind, errors, threads."""
import ctypes
import gc
import glob
import os
import pathlib
import subprocess
import threading
import time

import numpy as np
import pytest

import jclip
from conftest import bits, cli_vectors

TEXTS = [
    "How is the weather today?",
    "a photo of a cat",                      # <= 8 tokens: batched like the rest (bitwise, jclip.h)
    "x",
    "",
    "Ünïcödé, 日本語 and emoji 🐈 — mixed scripts",
    "word " * 9,                               # just over 8 tokens
    "the quick brown fox jumps over the lazy dog " * 80,  # > 512 tokens: truncated
]


def image_files(images_dir):
    pick = ["jpeg/pillow/hopper.jpg", "jpeg/pillow/hopper_gray.jpg", "jpeg/pillow/pil_sample_cmyk.jpg",
            "jpeg/gen/bus_p420.jpg", "jpeg/gen/size17x9_b411.jpg", "png/gen/chelsea_pal2.png",
            "png/gen/chelsea_gray16.png", "png/gen/bus_1008x756_rgb8_adam7.png"]
    return [os.path.join(images_dir, p) for p in pick]


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6" and parts[3] == b"255"
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(parts[4][-w * h * 3:], dtype=np.uint8).reshape(h, w, 3)


# ---- parity with the CLI -----------------------------------------------------------------
def test_text_parity_with_cli(model, tiny_path, cli):
    ref = cli_vectors(cli, tiny_path, ["text"] + TEXTS)
    for bs in (1, 3, 32):
        v = model.encode_text(TEXTS, batch_size=bs)
        assert v.shape == (len(TEXTS), model.dim) and v.dtype == np.float32
        assert (bits(v) == bits(ref)).all(), "batch_size %d differs from the CLI" % bs
    for i, t in enumerate(TEXTS):
        assert (bits(model.encode_text(t)) == bits(ref[i])).all()


def test_text_parity_jsonl_and_bytes(model, tiny_path, cli, tmp_path):
    import json
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    ref = cli_vectors(cli, tiny_path, ["text", "--jsonl", str(p)])
    v = model.encode_text([t.encode("utf-8") for t in TEXTS])
    assert (bits(v) == bits(ref)).all()


def test_image_parity_with_cli_every_input_kind(model, tiny_path, cli, images_dir, tmp_path):
    files = image_files(images_dir)
    ref = cli_vectors(cli, tiny_path, ["image"] + files)
    as_paths = model.encode_image(files)
    assert as_paths.shape == (len(files), model.dim)
    assert (bits(as_paths) == bits(ref)).all()
    as_pathlib = model.encode_image([pathlib.Path(f) for f in files], batch_size=3)
    assert (bits(as_pathlib) == bits(ref)).all()
    blobs = [open(f, "rb").read() for f in files]
    assert (bits(model.encode_image(blobs, batch_size=1)) == bits(ref)).all()
    assert (bits(model.encode_image(bytearray(blobs[0]))) == bits(ref[0])).all()
    # uint8 HxWx3 arrays: the CLI's own decoder output (jclip decode -> PPM), then embed_rgb
    arrays = []
    for i, f in enumerate(files):
        out = tmp_path / ("%d.ppm" % i)
        subprocess.run([cli, "decode", f, "-o", str(out)], check=True, timeout=60)
        arrays.append(read_ppm(out))
    assert (bits(model.encode_image(arrays)) == bits(ref)).all()
    assert (bits(model.encode_image(arrays[0])) == bits(ref[0])).all()
    # a non-contiguous view is accepted (copied)
    flipped = np.ascontiguousarray(arrays[1][:, ::-1])[:, ::-1]
    assert (bits(model.encode_image(flipped)) == bits(ref[1])).all()
    # mixed list: path, bytes, array
    mixed = model.encode_image([files[0], blobs[1], arrays[2], files[3]])
    assert (bits(mixed) == bits(ref[:4])).all()
    # 4-D batch of equal-sized arrays
    batch = np.stack([arrays[0], arrays[0]])
    assert (bits(model.encode_image(batch)) == bits(np.stack([ref[0], ref[0]]))).all()


def test_image_pil(model, tiny_path, cli, images_dir):
    Image = pytest.importorskip("PIL.Image")
    files = [os.path.join(images_dir, "png/gen/chelsea_pal2.png"),
             os.path.join(images_dir, "png/gen/chelsea_gray16.png"),
             os.path.join(images_dir, "jpeg/pillow/hopper.jpg")]
    ref = cli_vectors(cli, tiny_path, ["image"] + files)
    ims = [Image.open(f) for f in files]  # P, I;16 and RGB modes: converted to RGB
    v = model.encode_image(ims)
    # jclip decodes exactly as Pillow 9.4 does (jclip.h), so even the vectors agree
    assert (bits(v) == bits(ref)).all()
    assert (bits(model.encode_image(ims[0])) == bits(ref[0])).all()


def test_tokenize_matches_cli(model, tiny_path, cli):
    texts = TEXTS[:5]
    r = subprocess.run([cli, "tokenize", "-m", tiny_path] + texts, capture_output=True, timeout=60)
    assert r.returncode == 0
    ref = [[int(x) for x in line.split()] for line in r.stdout.decode().splitlines()]
    assert model.tokenize(texts) == ref
    assert model.tokenize(texts[0]) == ref[0]
    ids = model.tokenize(TEXTS[-1], max_tokens=10)
    assert len(ids) == 10 and ids[0] == 101 and ids[-1] == 102
    assert len(model.tokenize(TEXTS[-1])) == model.max_tokens


# ---- shapes, normalisation, description -----------------------------------------------------
def test_shapes_and_dtypes(model):
    D = model.dim
    assert model.encode_text("a").shape == (D,)
    assert model.encode_text(["a"]).shape == (1, D)
    assert model.encode_text(("a", "b")).shape == (2, D)
    assert model.encode_text(t for t in ["a", "b", "c"]).shape == (3, D)
    e = model.encode_text([])
    assert e.shape == (0, D) and e.dtype == np.float32
    assert model.encode_image([]).shape == (0, D)
    assert model.encode_text("a").flags["C_CONTIGUOUS"]


def test_normalized(model, images_dir):
    v = np.concatenate([model.encode_text(TEXTS), model.encode_image(image_files(images_dir)[:3])])
    n = np.linalg.norm(v.astype(np.float64), axis=1)
    assert np.all(np.abs(n - 1) < 1e-5)
    with pytest.raises(ValueError, match="L2-normalised"):
        model.encode_text("a", normalize=False)
    with pytest.raises(ValueError, match="L2-normalised"):
        model.encode_image(image_files(images_dir)[0], normalize=False)
    with pytest.raises(TypeError):
        model.encode_text("a", normalize="yes")


def test_info_and_dim(model, tiny_path):
    info = model.info
    assert info["dim"] == model.dim == 128
    assert info["path"] == tiny_path
    assert info["isa"] in ("scalar", "avx2", "avx512", "neon")
    assert "jina-clip-v1" in info["description"] and "architecture" in info
    assert jclip.__version__ and info["version"] == jclip.__version__


def test_gil_released_by_ctypes():
    # ctypes.CDLL (not PyDLL) drops the GIL around each foreign call
    assert type(jclip._lib.lib) is ctypes.CDLL


# ---- errors -------------------------------------------------------------------------------
def test_errors_name_the_input(model, images_dir, tmp_path):
    good = image_files(images_dir)[0]
    with pytest.raises(jclip.Error) as e:
        model.encode_image([good, good, b"not an image", good])
    assert e.value.input == 2 and "images[2]" in str(e.value) and e.value.status < 0
    assert e.value.code.startswith("JCLIP_ERR_")
    trunc = open(good, "rb").read()[:500]
    with pytest.raises(jclip.Error) as e:
        model.encode_image([good, trunc])
    assert e.value.input == 1 and e.value.status in (jclip._lib.ERR_TRUNCATED, jclip._lib.ERR_FORMAT)
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(jclip.Error) as e:
        model.encode_image([good, missing])
    assert e.value.status == jclip._lib.ERR_IO and "nope.jpg" in str(e.value) and e.value.input == 1
    with pytest.raises(jclip.Error) as e:
        model.encode_image(b"")
    assert e.value.input is None and str(e.value).startswith("image: ")
    with pytest.raises(jclip.Error) as e:
        model.encode_text(["short", "word " * 600], truncate=False)
    assert e.value.input == 1 and e.value.status == jclip._lib.ERR_LIMIT
    # the model still works after every failure
    assert model.encode_text("still fine").shape == (model.dim,)


def test_limits_raise(tiny_path):
    with jclip.Model(tiny_path, threads=1, max_text_bytes=100, max_tokens=16) as m:
        with pytest.raises(jclip.Error) as e:
            m.encode_text(["ok", "y" * 101])
        assert e.value.status == jclip._lib.ERR_LIMIT and "texts[1]" in str(e.value)
        assert len(m.tokenize("w " * 40)) == 16


def test_bad_arguments(model, tiny_path):
    for bad in (3, [1, 2], ["ok", None], {"text": "a"}, None):
        with pytest.raises(TypeError):
            model.encode_text(bad)
    for bad in (3, [1.5], np.zeros((4, 4, 3), np.float32), None):
        with pytest.raises(TypeError):
            model.encode_image(bad)
    for bad in (np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ValueError):
            model.encode_image(bad)
    with pytest.raises(ValueError):
        model.encode_text("a", batch_size=0)
    with pytest.raises(TypeError):
        model.encode_text("a", batch_size=2.0)
    with pytest.raises(ValueError):
        jclip.Model(tiny_path, threads=0)
    with pytest.raises(TypeError):
        jclip.Model(tiny_path, threads="2")
    with pytest.raises(ValueError):
        jclip.Model(tiny_path, max_tokens=1)
    with pytest.raises(TypeError):
        jclip.Model(3.5)


def test_bad_models(tmp_path, tiny_path):
    with pytest.raises(jclip.Error) as e:
        jclip.Model(str(tmp_path / "missing.jclip"))
    assert e.value.status == jclip._lib.ERR_IO and "missing.jclip" in str(e.value)
    junk = tmp_path / "junk.jclip"
    junk.write_bytes(b"JCLIP\0" + os.urandom(4000))
    with pytest.raises(jclip.Error) as e:
        jclip.Model(str(junk))
    assert e.value.status < 0
    half = tmp_path / "half.jclip"
    half.write_bytes(open(tiny_path, "rb").read()[:1 << 20])
    with pytest.raises(jclip.Error):
        jclip.Model(str(half))


def test_default_path_like_cli(tiny_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JCLIP_MODEL", tiny_path)
    with jclip.Model() as m:
        assert m.path == tiny_path
    monkeypatch.delenv("JCLIP_MODEL")
    with pytest.raises(jclip.Error, match="models/jina-clip-v1.jclip"):
        jclip.Model()
    os.makedirs("models")
    os.symlink(tiny_path, "models/jina-clip-v1.jclip")
    with jclip.Model() as m:
        assert m.dim == 128


# ---- lifetime and threads -----------------------------------------------------------------
def test_close_and_context_manager(tiny_path):
    with jclip.Model(tiny_path, threads=1) as m:
        m.encode_text("a")
    assert m.closed
    with pytest.raises(ValueError, match="closed"):
        m.encode_text("a")
    m.close()  # twice is fine
    m2 = jclip.Model(tiny_path, threads=1)
    del m2  # __del__ frees it
    gc.collect()


def test_threads_share_one_model(tiny_path, images_dir):
    texts = ["thread text number %d with some words in it" % i for i in range(24)] + TEXTS
    files = image_files(images_dir)
    with jclip.Model(tiny_path, threads=1) as m:
        ref_t = m.encode_text(texts)
        ref_i = m.encode_image(files)
        results, errors = {}, []
        barrier = threading.Barrier(4)

        def work(k):
            try:
                barrier.wait(timeout=30)
                for r in range(3):
                    results[(k, r, "t")] = m.encode_text(texts[k:] + texts[:k], batch_size=5)
                    results[(k, r, "i")] = m.encode_image(files[k:] + files[:k])
            except Exception as e:  # reported below
                errors.append(e)
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in ts) and not errors, errors
        for (k, r, kind), v in results.items():
            if kind == "t":
                assert (bits(v) == bits(np.roll(ref_t, -k, axis=0))).all()
            else:
                assert (bits(v) == bits(np.roll(ref_i, -k, axis=0))).all()
        del ts
        gc.collect()
        # each finished thread's context was freed; the constructing thread's remains
        assert len(m._ctxs) == 1


def test_close_waits_for_running_calls(tiny_path):
    m = jclip.Model(tiny_path, threads=1)
    out = {}

    def long_call():
        out["v"] = m.encode_text(["a sentence to embed with several tokens in it"] * 400)
    t = threading.Thread(target=long_call)
    t.start()
    for _ in range(10000):  # until the call holds its context (bounded: 10 s)
        if m._active:
            break
        time.sleep(0.001)
    assert m._active
    m.close()  # waits for the call in flight, then frees everything
    t.join(60)
    assert out["v"].shape == (400, m.dim) and m.closed
    with pytest.raises(ValueError):
        m.encode_text("a")
