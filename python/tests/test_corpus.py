"""The corpus job: shards, failures, resume after a kill, and Dask (2-worker LocalCluster,
a worker killed mid-job) giving shards bit-identical to the single-process run."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jclip
from jclip import corpus
from conftest import bits


def need_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Dask distributed is missing (apt-get install python3-distributed)")
        pytest.skip("Dask distributed not installed (apt-get install python3-distributed)")


def shard_files(d):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "shard-*")))


def assert_same_output(a, b):
    fa, fb = shard_files(a), shard_files(b)
    assert fa == fb and fa
    for f in fa + ["manifest.json"]:
        with open(os.path.join(a, f), "rb") as x, open(os.path.join(b, f), "rb") as y:
            assert x.read() == y.read(), "%s differs" % f
    assert not glob.glob(os.path.join(b, ".shard-*"))


def load_output(d):
    """(ids, rows) over all shards in order."""
    ids, rows = [], []
    for f in shard_files(d):
        if f.endswith(".npy"):
            a = np.load(os.path.join(d, f))
            with open(os.path.join(d, f[:-4] + ".ids"), encoding="utf-8") as g:
                i = g.read().splitlines()
            assert a.dtype == np.float32 and a.shape[0] == len(i)
            ids += i
            rows.append(a)
    return ids, np.concatenate(rows)


@pytest.fixture(scope="session")
def image_tree(tmp_path_factory, images_dir):
    root = tmp_path_factory.mktemp("corpus") / "images"
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    for f in sorted(glob.glob(os.path.join(images_dir, "jpeg/gen/size*.jpg")))[:6]:
        shutil.copy(f, root / "a")
    for f in sorted(glob.glob(os.path.join(images_dir, "png/gen/chelsea*.png")))[:4]:
        shutil.copy(f, root / "b" / "c")
    shutil.copy(os.path.join(images_dir, "jpeg/pillow/hopper.jpg"), root / "UPPER.JPG")
    shutil.copy(os.path.join(images_dir, "jpeg/pillow/hopper_gray.jpg"), root / "x.jpeg")
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    png = open(os.path.join(images_dir, "png/gen/chelsea_gray8.png"), "rb").read()
    (root / "b" / "trunc.png").write_bytes(png[:len(png) // 2])
    os.symlink(str(root / "gone.jpg"), str(root / "dangling.jpg"))
    return str(root)


@pytest.fixture(scope="session")
def text_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("corpus") / "texts.jsonl"
    lines = []
    for i in range(26):
        lines.append(json.dumps({"text": "corpus sentence %d about %s" % (i, "cats " * (i % 7)), "n": i}))
    lines[3] = ""                                   # blank: not an input
    lines[5] = "{not json"                          # failed: invalid JSON
    lines[8] = json.dumps({"title": "no text"})     # failed: no "text"
    lines[11] = json.dumps(["a", "list"])           # failed: not an object
    lines[14] = json.dumps({"text": ""})            # the empty text is a text
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(p)


@pytest.fixture(scope="session")
def ref_images(tmp_path_factory, image_tree, tiny_path):
    out = str(tmp_path_factory.mktemp("ref") / "images")
    r = corpus.embed_corpus(image_tree, out, model=tiny_path, shard_size=4, progress=False)
    return out, r


@pytest.fixture(scope="session")
def ref_texts(tmp_path_factory, text_file, tiny_path):
    out = str(tmp_path_factory.mktemp("ref") / "texts")
    r = corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=3, progress=False)
    return out, r


def test_image_corpus(ref_images, image_tree, model):
    out, r = ref_images
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert m["complete"] and m["kind"] == "images" and m["dtype"] == "float32" and m["dim"] == model.dim
    assert m["inputs"] == 15 and m["shards"] == 4 and r["embedded_shards"] == [0, 1, 2, 3]
    assert len(m["model_sha256"]) == 64
    failed = {f["id"]: f for f in m["failed"]}
    assert set(failed) == {"broken.jpg", "b/trunc.png", "dangling.jpg"}
    assert failed["dangling.jpg"]["code"] == "JCLIP_ERR_IO"
    assert all(f["error"] and f["status"] < 0 for f in m["failed"])
    assert m["embedded"] == 12 and m["failed_count"] == 3
    ids, rows = load_output(out)
    assert "notes.txt" not in ids and "UPPER.JPG" in ids and "x.jpeg" in ids
    assert ids == sorted(ids, key=lambda s: s.split("/"))
    ref = model.encode_image([os.path.join(image_tree, i) for i in ids])
    assert (bits(rows) == bits(ref)).all()
    s0 = json.load(open(os.path.join(out, "shard-00000.json")))
    assert s0["inputs"] == 4 and s0["first"] == 0


def test_text_corpus(ref_texts, text_file, model):
    out, r = ref_texts
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert m["kind"] == "texts" and m["inputs"] == 25 and m["complete"]
    assert {f["id"] for f in m["failed"]} == {"6", "9", "12"}  # 1-based line numbers
    ids, rows = load_output(out)
    assert "4" not in ids and "15" in ids and len(ids) == 22
    lines = open(text_file, encoding="utf-8").read().split("\n")
    texts = [json.loads(lines[int(i) - 1])["text"] for i in ids]
    assert (bits(rows) == bits(model.encode_text(texts))).all()


def test_plain_text_corpus(tmp_path, tiny_path, model):
    p = tmp_path / "plain.txt"
    p.write_bytes(b"first line\r\nsecond line\n\n  \nfourth \xff invalid utf-8\nlast, no newline")
    out = str(tmp_path / "out")
    r = corpus.embed_corpus(str(p), out, model=tiny_path, shard_size=2, progress=False)
    ids, rows = load_output(out)
    assert ids == ["1", "2", "5", "6"] and r["failed_count"] == 0
    ref = model.encode_text([b"first line", b"second line", b"fourth \xff invalid utf-8", b"last, no newline"])
    assert (bits(rows) == bits(ref)).all()


def test_rerun_skips_complete_shards(ref_texts, text_file, tiny_path, tmp_path):
    src, _ = ref_texts
    out = str(tmp_path / "out")
    shutil.copytree(src, out)
    before = {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in shard_files(out)}
    r = corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=3, progress=False)
    assert r["embedded_shards"] == [] and len(r["skipped_shards"]) == r["shards"]
    assert before == {f: os.stat(os.path.join(out, f)).st_mtime_ns for f in shard_files(out)}
    os.unlink(os.path.join(out, "shard-00002.json"))             # incomplete: no record
    with open(os.path.join(out, "shard-00004.npy"), "r+b") as f:  # damaged: wrong shape
        f.truncate(100)
    r = corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=3, progress=False)
    assert r["embedded_shards"] == [2, 4]
    assert_same_output(src, out)
    with pytest.raises(corpus.JobError, match="another job"):
        corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=4, progress=False)


def test_shard_of_failures_only(tmp_path, tiny_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"bad json\n{"no": "text"}\n{"text": "fine"}\n', encoding="utf-8")
    out = str(tmp_path / "out")
    r = corpus.embed_corpus(str(p), out, model=tiny_path, shard_size=2, progress=False)
    assert r["failed_count"] == 2 and r["embedded"] == 1 and r["embedded_shards"] == [0, 1]
    assert np.load(os.path.join(out, "shard-00000.npy")).shape == (0, 128)
    assert open(os.path.join(out, "shard-00000.ids")).read() == ""
    r = corpus.embed_corpus(str(p), out, model=tiny_path, shard_size=2, progress=False)
    assert r["skipped_shards"] == [0, 1] and r["embedded_shards"] == []
    with open(os.path.join(out, "shard-00001.npy"), "ab") as f:  # a stray byte: not complete
        f.write(b"\0")
    r = corpus.embed_corpus(str(p), out, model=tiny_path, shard_size=2, progress=False)
    assert r["skipped_shards"] == [0] and r["embedded_shards"] == [1]


def test_kill_and_resume(ref_texts, text_file, tiny_path, tmp_path):
    """The job killed (SIGKILL) while it writes shards: a rerun redoes only the missing ones."""
    src, _ = ref_texts
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "jclip.corpus", text_file, out, "-m", tiny_path,
           "--shard-size", "3", "-q", "--test-commit-pause", "0.5"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(glob.glob(os.path.join(out, "shard-*.json"))) < 3:
        time.sleep(0.02)
    while time.monotonic() < deadline and not glob.glob(os.path.join(out, ".shard-*.tmp-*")):
        time.sleep(0.01)  # inside the pause: a temporary .npy exists, its final name not yet
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    done = sorted(int(os.path.basename(f)[6:11]) for f in glob.glob(os.path.join(out, "shard-*.json")))
    assert 3 <= len(done) < 9, done
    assert glob.glob(os.path.join(out, ".shard-*.tmp-*")), "killed outside the write window"
    m = json.load(open(os.path.join(out, "manifest.json")))
    assert m["complete"] is False
    r = corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=3, progress=False)
    assert r["skipped_shards"] == done
    assert r["embedded_shards"] == [k for k in range(r["shards"]) if k not in done]
    assert_same_output(src, out)


def test_dask_local_cluster_cli_matches_single_process(ref_images, image_tree, tiny_path, tmp_path):
    need_distributed()
    src, _ = ref_images
    out = str(tmp_path / "dask")
    log = str(tmp_path / "tasks.log")
    r = subprocess.run([sys.executable, "-m", "jclip.corpus", image_tree, out, "-m", tiny_path,
                        "--shard-size", "4", "--workers", "2", "--test-task-log", log],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    assert b"15 inputs in 4 shards" in r.stderr
    lines = [line.split() for line in open(log).read().splitlines()]
    assert len({w[2] for w in lines}) <= 2  # worker processes (pids)
    # engine threads per worker: cores / 2 workers, no oversubscription
    assert {int(w[3]) for w in lines} == {max(1, (os.cpu_count() or 1) // 2)}
    assert_same_output(src, out)


def test_dask_worker_killed_mid_job(ref_texts, text_file, tiny_path, tmp_path):
    """A 2-process LocalCluster; one worker is SIGKILLed while it runs a shard. Dask reruns the
    shard on a worker (the nanny restarts the dead one); the output is the single-process one."""
    need_distributed()
    from distributed import Client, LocalCluster
    import logging
    src, _ = ref_texts
    out = str(tmp_path / "dask")
    log = str(tmp_path / "tasks.log")
    killed = {}

    def started_ended(pid_log):
        starts, ends = [], set()
        for line in open(pid_log).read().splitlines():
            what, k, pid = line.split()[:3]
            (starts.append if what == "start" else ends.add)((int(k), int(pid)))
        return starts, ends

    def on_shard(meta):
        if killed:
            return
        # A shard that starts after this call: it has its whole task (>= the 0.3 s delay) ahead
        # of it, so it cannot end between the log read and the kill. (A shard already running
        # here may be the one whose end is due this very moment: its batch-mate just ended.)
        before = set(started_ended(log)[0])
        busy = []
        for _ in range(1000):  # bounded: 10 s
            starts, ends = started_ended(log)
            busy = [kp for kp in starts if kp not in before and kp not in ends]
            if busy:
                break
            time.sleep(0.01)
        assert busy, "no shard started after the first one ended"
        killed["shard"], killed["pid"] = busy[0]
        os.kill(killed["pid"], signal.SIGKILL)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        r = corpus.embed_corpus(text_file, out, model=tiny_path, shard_size=3, scheduler=client,
                                progress=False, on_shard=on_shard,
                                _task_delay=0.3, _task_log=log)
    assert killed, "the kill never happened"
    assert r["embedded_shards"] == list(range(r["shards"]))
    lines = [line.split() for line in open(log).read().splitlines()]
    ends = [(int(w[1]), int(w[2])) for w in lines if w[0] == "end"]
    # threads=None: each worker got cores / (Dask threads on this host) = cores / 2 engine threads
    assert {int(w[3]) for w in lines} == {max(1, (os.cpu_count() or 1) // 2)}
    assert (killed["shard"], killed["pid"]) not in ends
    assert any(k == killed["shard"] and pid != killed["pid"] for k, pid in ends), \
        "the killed worker's shard was not redone"
    assert_same_output(src, out)


def test_bad_job_arguments(tmp_path, tiny_path, text_file):
    with pytest.raises(corpus.JobError):
        corpus.embed_corpus(str(tmp_path / "missing"), str(tmp_path / "o"), model=tiny_path)
    with pytest.raises(ValueError):
        corpus.embed_corpus(text_file, str(tmp_path / "o"), model=tiny_path, shard_size=0)
    with pytest.raises(ValueError):
        corpus.embed_corpus(text_file, str(tmp_path / "o"), model=tiny_path, workers=2,
                            scheduler="tcp://127.0.0.1:1")
    with pytest.raises(corpus.JobError, match="not found"):
        corpus.embed_corpus(text_file, str(tmp_path / "o"), model=str(tmp_path / "none.jclip"))
    r = subprocess.run([sys.executable, "-m", "jclip.corpus", text_file, str(tmp_path / "o"),
                        "--shard-size", "0"], capture_output=True, timeout=60)
    assert r.returncode == 2
    r = subprocess.run([sys.executable, "-m", "jclip.corpus", str(tmp_path / "nothing"),
                        str(tmp_path / "o"), "-m", tiny_path], capture_output=True, timeout=60)
    assert r.returncode == 1 and b"neither a directory" in r.stderr
