"""jclip: jina-clip-v1 text and image embeddings from the jclip C engine, numpy in, numpy out.

    import jclip
    with jclip.Model("models/jina-clip-v1.jclip") as m:
        t = m.encode_text(["a photo of a cat", "a photo of a dog"])   # (2, 768) float32
        i = m.encode_image("cat.jpg")                                 # (768,) float32
        print(t @ i)                                                  # cosines

The vectors are the engine's, bit for bit the ones `jclip text` / `jclip image` print. The
engine runs through ctypes over the public C API (jclip.h) with the GIL released; see setup.py
for why ctypes. Corpus-scale jobs (sharded, resumable, on Dask): `python3 -m jclip.corpus`.
"""
import contextlib
import ctypes
import os
import re
import sys
import threading
import weakref

import numpy as np

from . import _lib
from ._lib import lib
from ._progress import Progress

try:
    from ._version import __version__
except ImportError:  # running from the source tree without an install
    __version__ = "0+unknown"

__all__ = ["Model", "Error", "DEFAULT_MODEL", "default_model_path", "__version__"]

# The CLI's default model and environment variable (cli/main.c: model_path()).
DEFAULT_MODEL = "models/jina-clip-v1.jclip"

_IMAGE_INDEX_RE = re.compile(r"^image (\d+): ")


class Error(Exception):
    """An engine failure: `status` is the negative JCLIP_ERR_* code, `code` its name,
    `message` the engine's one-line reason prefixed with the failing input, `input` the index
    (or None for a single input)."""

    def __init__(self, status, message, input=None):
        self.status = status
        self.code = _lib.STATUS_NAMES.get(status, str(status))
        self.message = message
        self.input = input
        super().__init__("%s [%s]" % (message, self.code))


def default_model_path():
    """The model the CLI would load: $JCLIP_MODEL, else models/jina-clip-v1.jclip."""
    env = os.environ.get("JCLIP_MODEL")
    return env if env else DEFAULT_MODEL


def _int_arg(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError("%s must be an int, got %s" % (name, type(v).__name__))
    if not lo <= v <= hi:
        raise ValueError("%s must be in [%d, %d], got %d" % (name, lo, hi, v))
    return int(v)


def _check_normalize(normalize):
    if normalize is True:
        return
    if normalize is False:
        # jclip.h: "Embeddings are float32, L2-normalised"; the public API exposes no vector
        # before normalisation, so there is no honest way to return one.
        raise ValueError("normalize=False is not available: the jclip engine returns only "
                         "L2-normalised embeddings (jclip.h), so the cosine is the dot product")
    raise TypeError("normalize must be True or False, got %r" % (normalize,))


def _as_list(x, what):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, dict) or x is None:
        raise TypeError("%s must be a list, got %s" % (what, type(x).__name__))
    try:
        return list(x)
    except TypeError:
        raise TypeError("%s must be a %s or a list of them, got %s"
                        % (what, what.rstrip("s"), type(x).__name__)) from None


def _text_bytes(t, where):
    if isinstance(t, str):
        return t.encode("utf-8", "surrogatepass")
    if isinstance(t, (bytes, bytearray, memoryview)):
        return bytes(t)
    raise TypeError("%s must be str or bytes, got %s" % (where, type(t).__name__))


def _is_pil(x):
    mod = sys.modules.get("PIL.Image")  # never imports Pillow: only recognises its images
    return mod is not None and isinstance(x, mod.Image)


def _image_item(x, where, index=None):
    """('enc', bytes, label) for an encoded image or ('rgb', HxWx3 uint8 array, label)."""
    if isinstance(x, (str, os.PathLike)):
        path = os.fspath(x)
        try:
            with open(path, "rb") as f:
                return ("enc", f.read(), "%s (%s)" % (where, os.fsdecode(path)))
        except OSError as e:
            raise Error(_lib.ERR_IO, "%s (%s): cannot read: %s" % (where, os.fsdecode(path),
                                                                  e.strerror or e), index) from None
    if isinstance(x, (bytes, bytearray, memoryview)):
        return ("enc", bytes(x), where)
    if _is_pil(x):
        return ("rgb", np.asarray(x.convert("RGB"), dtype=np.uint8), where)
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8:
            raise TypeError("%s: an image array must be uint8 (HxWx3 RGB), got %s" % (where, x.dtype))
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError("%s: an image array must be HxWx3 RGB, got shape %s" % (where, x.shape))
        if x.shape[0] == 0 or x.shape[1] == 0 or max(x.shape[:2]) >= 1 << 32:
            raise ValueError("%s: bad image size %dx%d" % (where, x.shape[1], x.shape[0]))
        return ("rgb", np.ascontiguousarray(x), where)
    raise TypeError("%s must be a path, bytes, a uint8 HxWx3 numpy array or a PIL.Image, got %s"
                    % (where, type(x).__name__))


def _row_ptr(out, i):
    return ctypes.cast(out.ctypes.data + i * out.strides[0], _lib.c_float_p)


class _CtxHolder:
    """Owns nothing itself: its finalizer frees the thread's context when the thread ends."""
    __slots__ = ("ctx", "__weakref__")

    def __init__(self, ctx):
        self.ctx = ctx


class Model:
    """A loaded .jclip model.

    Model(path=None, threads=None, *, max_tokens=None, max_images=None, max_pixels=None,
          max_image_bytes=None, max_text_bytes=None)

    path: the .jclip file; default as the CLI's: $JCLIP_MODEL, else models/jina-clip-v1.jclip.
    threads: engine threads per calling thread (default: all cores; results do not depend on
    it). The other keywords set the jclip_ctx_params limits of the same names.

    One model (memory-mapped weights) is shared by every Python thread using this object; each
    thread gets its own engine context on first use, freed when the thread ends or on close().
    The engine runs with the GIL released. Use as a context manager or call close().
    """

    def __init__(self, path=None, threads=None, *, max_tokens=None, max_images=None,
                 max_pixels=None, max_image_bytes=None, max_text_bytes=None):
        self._model = None
        self._closed = True
        if path is None:
            path = default_model_path()
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError("path must be a str or os.PathLike, got %s" % type(path).__name__)
        self.path = os.fsdecode(os.fspath(path))
        self._params_buf, p = _lib.params_buffer()
        p.n_threads = 0 if threads is None else _int_arg("threads", threads, 1, 1024)
        if max_tokens is not None:
            p.max_tokens = _int_arg("max_tokens", max_tokens, 2, 8192)
        if max_images is not None:
            p.max_images = _int_arg("max_images", max_images, 1, 64)
        if max_pixels is not None:
            p.max_pixels = _int_arg("max_pixels", max_pixels, 1, 1 << 62)
        if max_image_bytes is not None:
            p.max_image_bytes = _int_arg("max_image_bytes", max_image_bytes, 1, 1 << 62)
        if max_text_bytes is not None:
            p.max_text_bytes = _int_arg("max_text_bytes", max_text_bytes, 1, 1 << 62)
        self.threads = p.n_threads
        self.max_tokens = int(p.max_tokens)
        if not os.path.exists(self.path):
            raise Error(_lib.ERR_IO, "model %s not found: get one with `make model` in the jclip "
                        "repository, or pass path= / set $JCLIP_MODEL" % self.path)
        err = ctypes.create_string_buffer(512)
        m = ctypes.c_void_p()
        rc = lib.jclip_model_load(os.fsencode(self.path), ctypes.byref(m), err, len(err))
        if rc:
            raise Error(rc, "%s: %s" % (self.path, err.value.decode("utf-8", "replace")))
        self._model = m
        self._dim = int(lib.jclip_embed_dim(m))
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._local = threading.local()
        self._ctxs = {}
        self._active = 0
        self._closed = False
        try:  # the first context now, so that bad limits fail here rather than on first use
            with self._use():
                pass
        except BaseException:
            self.close()
            raise

    # ---- lifetime and per-thread contexts --------------------------------------------------
    def _new_ctx(self):
        err = ctypes.create_string_buffer(512)
        c = ctypes.c_void_p()
        rc = lib.jclip_ctx_create(self._model, ctypes.byref(self._params_buf), ctypes.byref(c),
                                  err, len(err))
        if rc:
            raise Error(rc, "creating a context: %s" % err.value.decode("utf-8", "replace"))
        h = _CtxHolder(c)
        key = id(h)
        with self._lock:
            self._ctxs[key] = c
        fin = weakref.finalize(h, Model._drop_ctx, weakref.ref(self), key)
        fin.atexit = False  # at exit a daemon thread may still be using it; the OS frees it
        self._local.h = h
        return h

    @staticmethod
    def _drop_ctx(model_ref, key):
        m = model_ref()
        if m is None:
            return
        with m._lock:
            c = m._ctxs.pop(key, None)
            if c is not None and not m._closed:
                lib.jclip_ctx_free(c)

    @contextlib.contextmanager
    def _use(self):
        """The calling thread's context, held open against close() for the duration."""
        if self._closed:
            raise ValueError("this jclip.Model is closed")
        with self._cond:
            if self._closed:
                raise ValueError("this jclip.Model is closed")
            self._active += 1
        try:
            h = getattr(self._local, "h", None)
            if h is None:
                h = self._new_ctx()
            yield h.ctx
        finally:
            with self._cond:
                self._active -= 1
                if self._active == 0:
                    self._cond.notify_all()

    def close(self):
        """Frees every context and the model; waits for calls running in other threads.
        Further calls raise ValueError. Closing twice is a no-op."""
        if self._model is None:
            return
        with self._cond:
            if self._closed and self._model is None:
                return
            self._closed = True
            while self._active:
                self._cond.wait()
            ctxs = list(self._ctxs.values())
            self._ctxs.clear()
            for c in ctxs:
                lib.jclip_ctx_free(c)
            lib.jclip_model_free(self._model)
            self._model = None

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<jclip.Model %s dim=%d%s>" % (self.path, getattr(self, "_dim", 0),
                                              " closed" if self._closed else "")

    # ---- description -----------------------------------------------------------------------
    @property
    def dim(self):
        """Floats per embedding (768 for jina-clip-v1)."""
        return self._dim

    @property
    def info(self):
        """A dict: path, dim, isa (kernel set), version, max_tokens, threads, description (the
        paragraph `jclip info` prints) and its "key: value" lines as keys."""
        with self._use():
            need = lib.jclip_model_describe(self._model, None, 0)
            buf = ctypes.create_string_buffer(need + 1)
            lib.jclip_model_describe(self._model, buf, len(buf))
            isa = lib.jclip_model_isa(self._model)
        desc = buf.value.decode("utf-8", "replace")
        d = {"path": self.path, "dim": self._dim, "isa": isa.decode() if isa else "",
             "version": __version__, "max_tokens": self.max_tokens, "threads": self.threads,
             "description": desc}
        for line in desc.splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip() and k.strip() not in d:
                d[k.strip()] = v.strip()
        return d

    @staticmethod
    def _ctx_error(ctx):
        s = lib.jclip_ctx_error(ctx)
        return s.decode("utf-8", "replace") if s else ""

    # ---- text ------------------------------------------------------------------------------
    def tokenize(self, texts, max_tokens=None):
        """Token ids ([CLS] ... [SEP], BERT uncased WordPiece) of a text (a list of ints) or of
        each text of a list (a list of lists), truncated to max_tokens (default: the model's)."""
        single = isinstance(texts, (str, bytes, bytearray, memoryview))
        items = [texts] if single else _as_list(texts, "texts")
        cap = self.max_tokens if max_tokens is None else _int_arg("max_tokens", max_tokens, 2, 8192)
        blobs = [_text_bytes(t, "text" if single else "texts[%d]" % i) for i, t in enumerate(items)]
        res = []
        ids = (ctypes.c_int32 * cap)()
        n = ctypes.c_size_t()
        with self._use() as ctx:
            for i, b in enumerate(blobs):
                rc = lib.jclip_tokenize(ctx, b, len(b), cap, ids, cap, ctypes.byref(n))
                if rc:
                    raise Error(rc, "%s: %s" % ("text" if single else "texts[%d]" % i,
                                                self._ctx_error(ctx)), None if single else i)
                res.append(list(ids[:n.value]))
        return res[0] if single else res

    def _texts_each(self, ctx, blobs, truncate=True, batch_size=32, progress=None):
        """Embeds every text; returns (out (n, dim) float32, {index: (status, message)}) and
        never raises for a failing input: the corpus job records those and goes on."""
        D, n = self._dim, len(blobs)
        out = np.zeros((n, D), dtype=np.float32)
        errors = {}
        limit = self.max_tokens if truncate else self.max_tokens + 1
        ids = (ctypes.c_int32 * limit)()
        cnt = ctypes.c_size_t()
        batched = []
        for i, b in enumerate(blobs):
            rc = lib.jclip_tokenize(ctx, b, len(b), limit, ids, limit, ctypes.byref(cnt))
            if rc:
                errors[i] = (rc, self._ctx_error(ctx))
            elif cnt.value > self.max_tokens:
                errors[i] = (_lib.ERR_LIMIT, "more than %d tokens (truncate=False)" % self.max_tokens)
            else:
                batched.append(i)

        def one(i):
            b = blobs[i]
            rc = lib.jclip_embed_text(ctx, b, len(b), _row_ptr(out, i), D)
            if rc:
                errors[i] = (rc, self._ctx_error(ctx))
        if progress and errors:
            progress.update(len(errors))
        for s in range(0, len(batched), batch_size):
            idx = batched[s:s + batch_size]
            arr = (ctypes.c_char_p * len(idx))(*[blobs[i] for i in idx])
            lens = (ctypes.c_size_t * len(idx))(*[len(blobs[i]) for i in idx])
            tmp = np.empty((len(idx), D), dtype=np.float32)
            rc = lib.jclip_embed_texts(ctx, arr, lens, len(idx), _row_ptr(tmp, 0), tmp.size)
            if rc == 0:
                out[idx] = tmp
            else:  # isolate the failing text(s): one call each, same vectors
                for i in idx:
                    one(i)
            if progress:
                progress.update(len(idx))
        return out, errors

    def encode_text(self, texts, batch_size=32, normalize=True, truncate=True,
                    show_progress_bar=False):
        """Embeds a text (str or UTF-8 bytes) -> (dim,) float32, or a list of texts ->
        (n, dim) float32. Texts longer than max_tokens are truncated as the reference does
        (truncate=False raises jclip.Error instead). batch_size: texts per engine pass."""
        _check_normalize(normalize)
        batch_size = _int_arg("batch_size", batch_size, 1, 1 << 20)
        single = isinstance(texts, (str, bytes, bytearray, memoryview))
        items = [texts] if single else _as_list(texts, "texts")
        blobs = [_text_bytes(t, "text" if single else "texts[%d]" % i) for i, t in enumerate(items)]
        with Progress(len(blobs), "texts", show_progress_bar) as prog, self._use() as ctx:
            out, errors = self._texts_each(ctx, blobs, bool(truncate), batch_size, prog)
        if errors:
            i = min(errors)
            rc, msg = errors[i]
            raise Error(rc, "%s: %s" % ("text" if single else "texts[%d]" % i, msg),
                        None if single else i)
        return out.reshape(-1) if single else out

    # ---- images ----------------------------------------------------------------------------
    def _images_each(self, ctx, items, batch_size=8, progress=None):
        """Embeds items ('enc', bytes, label) / ('rgb', array, label) / None (skipped); returns
        (out (n, dim) float32, {index: (status, message)}) without raising for an input."""
        D, n = self._dim, len(items)
        out = np.zeros((n, D), dtype=np.float32)
        errors = {}

        def one(i):
            kind, data = items[i][0], items[i][1]
            if kind == "enc":
                rc = lib.jclip_embed_image(ctx, data, len(data), _row_ptr(out, i), D)
            else:
                h, w = data.shape[0], data.shape[1]
                rc = lib.jclip_embed_rgb(ctx, data.ctypes.data, w, h, _row_ptr(out, i), D)
            if rc:
                errors[i] = (rc, self._ctx_error(ctx))

        i = 0
        while i < n:
            if items[i] is None:
                i += 1
                continue
            if items[i][0] != "enc":
                one(i)
                i += 1
                if progress:
                    progress.update(1)
                continue
            j = i  # a run of encoded images, at most batch_size
            while j < n and j - i < batch_size and items[j] is not None and items[j][0] == "enc":
                j += 1
            s = i
            while s < j:  # jclip_embed_images stops at a failure: record it, resume after it
                k = j - s
                arr = (ctypes.c_char_p * k)(*[items[t][1] for t in range(s, j)])
                lens = (ctypes.c_size_t * k)(*[len(items[t][1]) for t in range(s, j)])
                rc = lib.jclip_embed_images(ctx, arr, lens, k, _row_ptr(out, s), k * D)
                if rc == 0:
                    break
                msg = self._ctx_error(ctx)
                m = _IMAGE_INDEX_RE.match(msg)
                if m and int(m.group(1)) < k:
                    bad = s + int(m.group(1))
                    errors[bad] = (rc, msg[m.end():])
                    s = bad + 1
                else:  # no index in the message: one call each for the rest of the run
                    for t in range(s, j):
                        one(t)
                    break
            if progress:
                progress.update(j - i)
            i = j
        return out, errors

    def encode_image(self, images, batch_size=8, normalize=True, show_progress_bar=False):
        """Embeds an image -> (dim,) float32, or a list of images -> (n, dim) float32. An image
        is a path (str / os.PathLike) or bytes of a JPEG/PNG file, a uint8 HxWx3 RGB numpy
        array, or a PIL.Image (converted to RGB; Pillow is never required). A 4-D uint8
        array (n, H, W, 3) is a list of n arrays. batch_size: images per vision pass."""
        _check_normalize(normalize)
        batch_size = _int_arg("batch_size", batch_size, 1, 1 << 20)
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
            single = False
        else:
            single = (isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray))
                      or _is_pil(images))
        raw = [images] if single else _as_list(images, "images")
        items = [_image_item(x, "image" if single else "images[%d]" % i, None if single else i)
                 for i, x in enumerate(raw)]
        with Progress(len(items), "images", show_progress_bar) as prog, self._use() as ctx:
            out, errors = self._images_each(ctx, items, batch_size, prog)
        if errors:
            i = min(errors)
            rc, msg = errors[i]
            raise Error(rc, "%s: %s" % (items[i][2], msg), None if single else i)
        return out.reshape(-1) if single else out
