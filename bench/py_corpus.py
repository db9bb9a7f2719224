"""Corpus-job throughput: the CLI, `python3 -m jclip.corpus` in one process, and the same job
on a 2-worker Dask LocalCluster, on one corpus of images and one of texts (a benchmark, not a
test: it prints a Markdown table).

    build/pyvenv/bin/python bench/py_corpus.py MODEL [--images N] [--texts N] [--repeat R]

Needs the package installed in that python (make test's python suite leaves one in
build/pyvenv) and ./jclip. Images: the first N of ../shared/testdata/images/jpeg/gen (149
generated JPEGs, mostly 1008x756); texts: N synthetic sentences of 10-60 words.
"""
import argparse
import glob
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, **kw):
    """(wall seconds, CPU seconds of the command and its waited-for descendants)."""
    t, ru = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    if r.returncode:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")[-2000:]))
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - t, (ru2.ru_utime - ru.ru_utime) + (ru2.ru_stime - ru.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="best of R runs")
    ap.add_argument("--shard-size", type=int, default=16)
    a = ap.parse_args()
    shared = os.environ.get("JCLIP_SHARED") or os.path.join(REPO, "..", "shared")
    files = sorted(glob.glob(os.path.join(shared, "testdata/images/jpeg/gen/*.jpg")))[:a.images]
    tmp = tempfile.mkdtemp(prefix="jclip-bench-")
    try:
        imgdir = os.path.join(tmp, "images")
        os.makedirs(imgdir)
        for f in files:
            shutil.copy(f, imgdir)
        files = sorted(os.path.join(imgdir, os.path.basename(f)) for f in files)
        rnd = random.Random(1)
        words = ("the a photo of cat dog city night river mountain small large red blue green "
                 "walking sitting under over near bright dark old new picture shows").split()
        texts = [" ".join(rnd.choice(words) for _ in range(rnd.randint(10, 60))) for _ in range(a.texts)]
        tfile = os.path.join(tmp, "texts.jsonl")
        with open(tfile, "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        cli = os.path.join(REPO, "jclip")
        rows = []
        for kind, inp, n, clicmd in (("images", imgdir, len(files), [cli, "image", "-m", a.model] + files),
                                     ("texts", tfile, len(texts), [cli, "text", "-m", a.model, "--jsonl", tfile])):
            if n == 0:
                continue
            runs = {"CLI (`jclip %s`, one process)" % kind[:-1] if kind == "images" else
                    "CLI (`jclip text --jsonl`, one process)": clicmd}
            for label, extra in (("corpus job, in process", []),
                                 ("corpus job, `--workers 2` (LocalCluster)", ["--workers", "2"])):
                runs[label] = ["corpus"] + extra
            for label, cmd in runs.items():
                best = None
                for _ in range(a.repeat):
                    if cmd[0] == "corpus":
                        out = os.path.join(tmp, "out")
                        shutil.rmtree(out, ignore_errors=True)
                        c = [sys.executable, "-m", "jclip.corpus", inp, out, "-m", a.model, "-q",
                             "--shard-size", str(a.shard_size)] + cmd[1:]
                    else:
                        c = cmd
                    s = timed(c)
                    best = s if best is None or s[0] < best[0] else best
                rows.append((kind, n, label, best[0], n / best[0], best[1]))
        print("| corpus | inputs | run | wall s (incl. start-up) | inputs/s | CPU s |")
        print("|---|---:|---|---:|---:|---:|")
        for kind, n, label, s, r, cpu in rows:
            print("| %s | %d | %s | %.2f | %.1f | %.1f |" % (kind, n, label, s, r, cpu))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
