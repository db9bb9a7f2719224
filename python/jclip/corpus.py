"""Corpus embedding: a directory of images or a file of texts -> a directory of shards.

    python3 -m jclip.corpus INPUT OUTDIR [-m MODEL] [--shard-size N] [--workers N | --scheduler ADDR]

INPUT: a directory tree of images (IMAGE_EXTENSIONS, case-insensitive, walked in sorted order)
or a text file: JSONL (.jsonl / .ndjson: one object per line, its "text" field) or plain text
(one text per line). Blank lines are not inputs. OUTDIR receives, for shard k:

  shard-NNNNN.npy   float32 (rows, dim): the embeddings of the shard's inputs that succeeded,
                    in input order (failed inputs have no row);
  shard-NNNNN.ids   one line per row of the .npy: the image path relative to INPUT, or the
                    text's 1-based line number in the file;
  shard-NNNNN.json  the shard's record (inputs, rows, failed inputs with status and error),
                    written last: a shard is complete when it exists and agrees with the two;
  manifest.json     the job: model sha256, dtype, dim, shard size, counts, every failed input
                    with its error; "complete": true once every shard is.

Every file is written under a temporary name and renamed when complete, so a job killed at any
moment leaves only whole shards; a rerun with the same INPUT, model and shard size skips the
complete shards and embeds the others. A failing input (undecodable image, unreadable file,
bad JSON line) is recorded and never stops the job.

Without --workers/--scheduler the job runs in this process. With them it runs on Dask
(distributed): one task per shard, one model per worker process (loaded once from the model
path, memory-mapped, never pickled), engine threads per worker = cores / worker threads on its
machine. Worker processes read the images and the model at the paths the driver sees (use a
shared filesystem on several machines); they return the vectors and the driver writes the shards.
"""
import argparse
import fcntl
import glob
import hashlib
import json
import os
import sys
import threading
import time

import numpy as np

import jclip
from jclip import _lib
from jclip._progress import Progress

# Image files the job picks up in a directory tree (lower-case; matched case-insensitively).
# New decoders in the engine: add their extensions here.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
JSONL_EXTENSIONS = (".jsonl", ".ndjson")
FORMAT = "jclip-corpus/1"
DEFAULT_SHARD_SIZE = 1000
MANIFEST = "manifest.json"


class JobError(Exception):
    """The job cannot run as asked (bad INPUT, OUTDIR holding another job, a failed task)."""


# ---- inputs --------------------------------------------------------------------------------
def list_inputs(input_path):
    """Returns (kind, entries), kind "images" or "texts", entries a list of (id, payload,
    error): payload the image's absolute path or the text's UTF-8 bytes; error None, or why
    the input cannot be embedded (it is then listed as failed)."""
    if os.path.isdir(input_path):
        return "images", _list_images(input_path)
    if os.path.isfile(input_path):
        return "texts", _list_texts(input_path)
    raise JobError("INPUT %s is neither a directory of images nor a text file" % input_path)


def _list_images(top):
    top = os.path.abspath(top)
    out = []

    def onerror(e):
        raise JobError("cannot list %s: %s" % (e.filename, e.strerror))
    for d, dirs, files in os.walk(top, onerror=onerror):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            err = None
            if "\n" in rel or "\r" in rel:
                err = (_lib.ERR_ARG, "the path holds a line break (the .ids file is one per line)")
            out.append((rel, path, err))
    out.sort(key=lambda e: e[0].split("/"))  # walk order is per directory; make it global
    return out


def _list_texts(path):
    jsonl = path.lower().endswith(JSONL_EXTENSIONS)
    out = []
    with open(path, "rb") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line.strip(b" \t\r\n\f\v"):
                continue
            if not jsonl:
                out.append((str(no), line, None))
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError) as e:
                out.append((str(no), None, (_lib.ERR_FORMAT, "invalid JSON: %s" % e)))
                continue
            t = obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(obj, dict):
                out.append((str(no), None, (_lib.ERR_FORMAT, "expected a JSON object")))
            elif not isinstance(t, str):
                out.append((str(no), None, (_lib.ERR_FORMAT, 'missing string field "text"')))
            else:
                out.append((str(no), t.encode("utf-8", "surrogatepass"), None))
    return out


def _sha256_lines(ids):
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- one shard (runs in the driver or in a Dask worker) -----------------------------------
_MODELS = {}
_MODELS_LOCK = threading.Lock()


def _worker_model(path, threads):
    """The model of this process for (path, threads), loaded on first use and kept: a Dask
    worker process loads it once and shares it between its task threads."""
    key = (path, threads)
    with _MODELS_LOCK:
        m = _MODELS.get(key)
        if m is None or m.closed:
            m = jclip.Model(path, threads=threads)
            _MODELS[key] = m
        return m


def _engine_threads(task):
    if task.get("threads"):
        return task["threads"]
    try:
        from distributed import get_worker
        w = get_worker()
    except (ImportError, ValueError):
        return None  # in the driver: all cores
    host = w.address.split("://")[-1].rsplit(":", 1)[0]
    per_host = task.get("host_threads") or {}
    if host in per_host:
        return per_host[host]
    return max(1, (os.cpu_count() or 1) // max(1, w.state.nthreads if hasattr(w, "state") else w.nthreads))


def embed_shard(task, progress=None):
    """Embeds one shard. task: a dict (kind, model, threads, batch_size, shard, entries as
    list_inputs gives them). Returns {"shard", "rows" (float32 array), "ids", "failed"}."""
    threads = _engine_threads(task)
    if task.get("log"):
        _log(task["log"], "start", task["shard"], threads)
    model = _worker_model(task["model"], threads)
    entries = task["entries"]
    failed = {}
    D = model.dim
    rows = np.zeros((len(entries), D), dtype=np.float32)
    ok = np.zeros(len(entries), dtype=bool)
    for pos, (_id, _payload, err) in enumerate(entries):
        if err is not None:
            failed[pos] = tuple(err)
    todo = [pos for pos in range(len(entries)) if pos not in failed]
    bs = task["batch_size"]
    with model._use() as ctx:
        if task["kind"] == "texts":
            for s in range(0, len(todo), 256):  # chunks: progress, and bounded memory
                chunk = todo[s:s + 256]
                out, errs = model._texts_each(ctx, [entries[p][1] for p in chunk], True, bs)
                _collect(chunk, out, errs, rows, ok, failed)
                if progress:
                    progress.update(len(chunk))
        else:
            for s in range(0, len(todo), bs):  # read a batch of files, embed, drop the bytes
                chunk = todo[s:s + bs]
                items, live = [], []
                for p in chunk:
                    try:
                        with open(entries[p][1], "rb") as f:
                            items.append(("enc", f.read(), entries[p][0]))
                        live.append(p)
                    except OSError as e:
                        failed[p] = (_lib.ERR_IO, "cannot read: %s" % (e.strerror or e))
                out, errs = model._images_each(ctx, items, bs)
                _collect(live, out, errs, rows, ok, failed)
                if progress:
                    progress.update(len(chunk))
    if task.get("delay"):  # tests: keep the task running long enough to kill its worker
        time.sleep(task["delay"])
    if task.get("log"):
        _log(task["log"], "end", task["shard"], threads)
    return {
        "shard": task["shard"],
        "rows": np.ascontiguousarray(rows[ok]),
        "ids": [entries[p][0] for p in range(len(entries)) if ok[p]],
        "failed": [{"id": entries[p][0], "status": int(failed[p][0]),
                    "code": _lib.STATUS_NAMES.get(failed[p][0], str(failed[p][0])),
                    "error": failed[p][1]} for p in sorted(failed)],
    }


def _collect(positions, out, errs, rows, ok, failed):
    for j, p in enumerate(positions):
        if j in errs:
            failed[p] = errs[j]
        else:
            rows[p] = out[j]
            ok[p] = True


def _log(path, what, shard, threads):
    """Tests: one line per task start / end: what, shard, pid, engine threads (0 = all cores)."""
    with open(path, "a") as f:
        f.write("%s %d %d %d\n" % (what, shard, os.getpid(), threads or 0))


# ---- output --------------------------------------------------------------------------------
def shard_name(k):
    return "shard-%05d" % k


def _atomic_write(path, data, pause=0.0):
    d, base = os.path.split(path)
    tmp = os.path.join(d, ".%s.tmp-%d" % (base, os.getpid()))
    with open(tmp, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if pause:  # tests: a window in which the temporary file exists and the final one does not
        time.sleep(pause)
    os.replace(tmp, path)


def _write_shard(outdir, job, k, first, n_inputs, ids_sha, res, pause=0.0):
    name = os.path.join(outdir, shard_name(k))
    rows = res["rows"].astype("<f4", copy=False)
    _atomic_write(name + ".npy", lambda f: np.save(f, rows, allow_pickle=False), pause)
    ids = "".join(i + "\n" for i in res["ids"]).encode("utf-8", "surrogateescape")
    _atomic_write(name + ".ids", ids)
    meta = {"format": FORMAT, "shard": k, "first": first, "inputs": n_inputs,
            "rows": int(rows.shape[0]), "dim": job["dim"], "ids_sha256": ids_sha,
            "model_sha256": job["model_sha256"], "failed": res["failed"]}
    _atomic_write(name + ".json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def _complete_shard(outdir, job, k, ids_sha):
    """The shard's record when shard k is complete and belongs to this job, else None."""
    name = os.path.join(outdir, shard_name(k))
    try:
        with open(name + ".json", "rb") as f:
            meta = json.load(f)
        if (meta.get("format") != FORMAT or meta.get("ids_sha256") != ids_sha
                or meta.get("model_sha256") != job["model_sha256"] or meta.get("dim") != job["dim"]):
            return None
        with open(name + ".npy", "rb") as f:  # the header, and a size that fits it
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f)
            data_at = f.tell()
            size = os.fstat(f.fileno()).st_size
        if (dtype != np.dtype("<f4") or fortran or shape != (meta["rows"], job["dim"])
                or size != data_at + 4 * meta["rows"] * job["dim"]):
            return None
        with open(name + ".ids", "rb") as f:
            if f.read().count(b"\n") != meta["rows"]:
                return None
        return meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---- the job -------------------------------------------------------------------------------
def embed_corpus(input, outdir, model=None, shard_size=DEFAULT_SHARD_SIZE, workers=None,
                 scheduler=None, threads=None, batch_size=None, progress=None, on_shard=None,
                 _task_delay=0.0, _task_log=None, _commit_pause=0.0):
    """Runs the corpus job (see the module docstring) and returns the manifest dict plus
    "embedded_shards" / "skipped_shards" (shard numbers done by this run / found complete)
    and "seconds".

    model: .jclip path (default as the CLI's). workers: start a local Dask cluster of that
    many worker processes. scheduler: address of a running Dask scheduler ("tcp://host:8786")
    or a distributed.Client. threads: engine threads per process (default: all cores in
    process, cores / worker threads per Dask worker). progress: draw a progress bar (None:
    on a terminal only). on_shard(meta): called in this process after each shard is written.
    """
    t0 = time.monotonic()
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError("shard_size must be a positive int, got %r" % (shard_size,))
    if workers is not None and scheduler is not None:
        raise ValueError("give workers or scheduler, not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError("workers must be a positive int, got %r" % (workers,))
    model_path = os.path.abspath(model if model is not None else jclip.default_model_path())
    kind, entries = list_inputs(input)
    if batch_size is None:
        batch_size = 8 if kind == "images" else 32
    if not os.path.isfile(model_path):
        raise JobError("model %s not found (pass -m MODEL or set $JCLIP_MODEL)" % model_path)
    with jclip.Model(model_path, threads=1) as m:  # fails early on a bad model; gives dim
        dim = m.dim
    job = {
        "format": FORMAT, "kind": kind, "input": os.path.abspath(input), "model": model_path,
        "model_sha256": file_sha256(model_path), "dim": dim, "dtype": "float32",
        "shard_size": shard_size, "inputs": len(entries),
        "inputs_sha256": _sha256_lines(e[0] for e in entries),
        "shards": (len(entries) + shard_size - 1) // shard_size,
    }
    os.makedirs(outdir, exist_ok=True)
    lock = open(os.path.join(outdir, ".lock"), "w")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise JobError("another corpus job is writing %s" % outdir) from None
        return _run_locked(outdir, job, entries, workers, scheduler, threads, batch_size,
                           progress, on_shard, _task_delay, _task_log, _commit_pause, t0)
    finally:
        lock.close()


_IDENTITY = ("format", "kind", "model_sha256", "dim", "dtype", "shard_size", "inputs", "inputs_sha256")


def _run_locked(outdir, job, entries, workers, scheduler, threads, batch_size, progress,
                on_shard, task_delay, task_log, commit_pause, t0):
    mpath = os.path.join(outdir, MANIFEST)
    if os.path.exists(mpath):
        try:
            with open(mpath, "rb") as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            raise JobError("%s is unreadable (%s); remove it or use another OUTDIR" % (mpath, e))
        diff = [k for k in _IDENTITY if old.get(k) != job[k]]
        if diff:
            raise JobError("%s holds another job (%s differ: different input, model or shard "
                           "size); use another OUTDIR" % (outdir, ", ".join(diff)))
    for stale in glob.glob(os.path.join(outdir, ".shard-*.tmp-*")):  # a killed run's leftovers
        os.unlink(stale)
    _atomic_write(mpath, (json.dumps(dict(job, complete=False), indent=1) + "\n").encode())

    S = job["shard_size"]
    metas, todo, skipped = {}, [], []
    for k in range(job["shards"]):
        part = entries[k * S:(k + 1) * S]
        ids_sha = _sha256_lines(e[0] for e in part)
        meta = _complete_shard(outdir, job, k, ids_sha)
        if meta is not None:
            metas[k] = meta
            skipped.append(k)
        else:
            todo.append((k, part, ids_sha))

    def task_of(k, part):
        return {"kind": job["kind"], "model": job["model"], "threads": threads,
                "batch_size": batch_size, "shard": k, "entries": part,
                "delay": task_delay, "log": task_log}

    n_todo = sum(len(p) for _, p, _ in todo)
    embedded = []
    # The bar draws only on a terminal (stderr), whatever progress says, unless it is False.
    with Progress(n_todo, job["kind"], progress is not False, label="jclip.corpus: ") as bar:
        def done(k, part, ids_sha, res):
            meta = _write_shard(outdir, job, k, k * S, len(part), ids_sha, res, commit_pause)
            metas[k] = meta
            embedded.append(k)
            if on_shard:
                on_shard(meta)

        if workers is None and scheduler is None:
            for k, part, ids_sha in todo:
                done(k, part, ids_sha, embed_shard(task_of(k, part), bar))
        else:
            _run_dask(todo, task_of, done, bar, workers, scheduler, threads)

    failed = []
    for k in sorted(metas):
        for f in metas[k]["failed"]:
            failed.append(dict(f, shard=k))
    manifest = dict(job, complete=True,
                    embedded=sum(metas[k]["rows"] for k in metas), failed_count=len(failed),
                    shard_files=[{"name": shard_name(k), "first": metas[k]["first"],
                                  "inputs": metas[k]["inputs"], "rows": metas[k]["rows"]}
                                 for k in sorted(metas)],
                    failed=failed)
    _atomic_write(mpath, (json.dumps(manifest, indent=1) + "\n").encode())
    return dict(manifest, embedded_shards=sorted(embedded), skipped_shards=skipped,
                seconds=time.monotonic() - t0)


def _run_dask(todo, task_of, done, bar, workers, scheduler, threads):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise JobError("--workers / --scheduler need Dask distributed "
                       "(apt-get install python3-distributed)") from None
    import logging
    cluster = client = None
    own_client = True
    try:
        if workers is not None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
            if not threads:
                threads = max(1, (os.cpu_count() or 1) // workers)
        elif isinstance(scheduler, str):
            client = Client(scheduler)
        else:
            client, own_client = scheduler, False
        host_threads = {}
        if not threads:  # cores / dask threads, per machine
            info = client.scheduler_info()["workers"]
            cores = client.run(os.cpu_count)
            per_host = {}
            for addr, w in info.items():
                h = w.get("host") or addr.split("://")[-1].rsplit(":", 1)[0]
                c = per_host.setdefault(h, [0, cores.get(addr) or 1])
                c[0] += w.get("nthreads", 1)
            host_threads = {h: max(1, c // max(1, t)) for h, (t, c) in per_host.items()}
        n_slots = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        window = max(2, 2 * n_slots + 2)  # shards in flight: bounded driver and scheduler memory
        pending = iter(todo)
        meta_of = {}
        ac = as_completed()

        def submit_next():
            nxt = next(pending, None)
            if nxt is None:
                return
            k, part, ids_sha = nxt
            t = task_of(k, part)
            t["threads"] = threads  # LocalCluster: cores / N unless given
            t["host_threads"] = host_threads
            fut = client.submit(embed_shard, t, pure=False, key="jclip-shard-%05d-%s" % (k, os.urandom(6).hex()))
            meta_of[fut.key] = nxt
            ac.add(fut)
        for _ in range(window):
            submit_next()
        for fut in ac:
            k, part, ids_sha = meta_of.pop(fut.key)
            try:
                res = fut.result()
            except Exception as e:
                raise JobError("shard %d failed on Dask: %s: %s" % (k, type(e).__name__, e)) from e
            fut.release()
            done(k, part, ids_sha, res)
            bar.update(len(part))
            submit_next()
    finally:
        if client is not None and own_client:
            client.close()
        if cluster is not None:
            cluster.close()


# ---- command line --------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python3 -m jclip.corpus",
        description="Embeds a corpus into OUTDIR/shard-NNNNN.npy + .ids + .json and manifest.json; "
                    "resumable (a rerun skips complete shards).")
    ap.add_argument("input", metavar="INPUT", help="directory tree of images (%s) or a JSONL "
                    "(\"text\" field) / plain-text file" % " ".join(IMAGE_EXTENSIONS))
    ap.add_argument("outdir", metavar="OUTDIR")
    ap.add_argument("-m", "--model", help="the .jclip model (default: $JCLIP_MODEL, else %s)"
                    % jclip.DEFAULT_MODEL)
    ap.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                    help="inputs per shard (default %d)" % DEFAULT_SHARD_SIZE)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDR", help="run on the Dask cluster at ADDR (tcp://host:8786)")
    ap.add_argument("-t", "--threads", type=int, help="engine threads per process (default: "
                    "all cores; with Dask, cores / worker threads on each machine)")
    ap.add_argument("--batch-size", type=int, help="inputs per engine call (default 8 images, 32 texts)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    ap.add_argument("--test-commit-pause", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--test-task-log", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.shard_size < 1:
        ap.error("--shard-size must be at least 1")
    if a.workers is not None and a.workers < 1:
        ap.error("--workers must be at least 1")
    if a.threads is not None and a.threads < 1:
        ap.error("--threads must be at least 1")
    if a.batch_size is not None and a.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    try:
        r = embed_corpus(a.input, a.outdir, model=a.model, shard_size=a.shard_size,
                         workers=a.workers, scheduler=a.scheduler, threads=a.threads,
                         batch_size=a.batch_size, progress=False if a.quiet else None,
                         _commit_pause=a.test_commit_pause, _task_log=a.test_task_log)
    except (JobError, jclip.Error, OSError) as e:
        print("jclip.corpus: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jclip.corpus: interrupted; rerun the same command to finish the missing shards",
              file=sys.stderr)
        return 130
    if not a.quiet:
        n = sum(s["inputs"] for s in r["shard_files"] if s["name"] in
                {shard_name(k) for k in r["embedded_shards"]})
        print("jclip.corpus: %d inputs in %d shards (%d embedded now, %d already complete): "
              "%d rows, %d failed%s; %.1f s, %.1f inputs/s this run -> %s"
              % (r["inputs"], r["shards"], len(r["embedded_shards"]), len(r["skipped_shards"]),
                 r["embedded"], r["failed_count"],
                 " (listed in manifest.json)" if r["failed_count"] else "",
                 r["seconds"], n / r["seconds"] if r["seconds"] > 0 else 0.0, a.outdir),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run main() from the importable module jclip.corpus, not from __main__: Dask pickles
    # embed_shard by module name, and workers import jclip.corpus, not this script.
    from jclip.corpus import main as _main
    sys.exit(_main())
