"""ctypes declarations of the public C API (jclip.h) over the library built at install time.

ctypes (not a CPython extension): see setup.py. Every call below goes through ctypes.CDLL,
which releases the GIL for the duration of the foreign call, so Python threads, each with its
own jclip_ctx, run the engine in parallel.
"""
import ctypes
import os

c_float_p = ctypes.POINTER(ctypes.c_float)
c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_size_p = ctypes.POINTER(ctypes.c_size_t)

# Status codes (jclip.h, "Status codes").
OK = 0
ERR_ARG = -1
ERR_NOMEM = -2
ERR_IO = -3
ERR_FORMAT = -4
ERR_UNSUPPORTED = -5
ERR_LIMIT = -6
ERR_TRUNCATED = -7
ERR_CAPACITY = -8
ERR_THREAD = -9
STATUS_NAMES = {
    OK: "JCLIP_OK", ERR_ARG: "JCLIP_ERR_ARG", ERR_NOMEM: "JCLIP_ERR_NOMEM", ERR_IO: "JCLIP_ERR_IO",
    ERR_FORMAT: "JCLIP_ERR_FORMAT", ERR_UNSUPPORTED: "JCLIP_ERR_UNSUPPORTED",
    ERR_LIMIT: "JCLIP_ERR_LIMIT", ERR_TRUNCATED: "JCLIP_ERR_TRUNCATED",
    ERR_CAPACITY: "JCLIP_ERR_CAPACITY", ERR_THREAD: "JCLIP_ERR_THREAD",
}


class CtxParams(ctypes.Structure):
    """struct jclip_ctx_params, field for field. It is always overlaid on a larger zeroed
    buffer (see params_buffer) so that fields added later at the end of the C struct cannot
    make jclip_ctx_params_default write past our memory."""
    _fields_ = [
        ("n_threads", ctypes.c_int),
        ("max_tokens", ctypes.c_size_t),
        ("max_text_bytes", ctypes.c_size_t),
        ("max_pixels", ctypes.c_uint64),
        ("max_image_bytes", ctypes.c_size_t),
        ("max_ctx_bytes", ctypes.c_size_t),
        ("max_images", ctypes.c_size_t),
    ]


class ImageInfo(ctypes.Structure):
    """struct jclip_image_info."""
    _fields_ = [
        ("format", ctypes.c_int),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("components", ctypes.c_int),
        ("bit_depth", ctypes.c_int),
        ("progressive", ctypes.c_int),
        ("arithmetic", ctypes.c_int),
        ("exif_orientation", ctypes.c_int),
        ("color", ctypes.c_char * 16),
        ("sampling", ctypes.c_char * 32),
    ]


def params_buffer():
    """A zeroed 1 KiB buffer holding the defaults, and a CtxParams view of its start."""
    buf = ctypes.create_string_buffer(1024)
    p = CtxParams.from_buffer(buf)
    lib.jclip_ctx_params_default(ctypes.byref(buf))
    return buf, p


def _load():
    path = os.environ.get("JCLIP_LIBRARY") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "libjclip.so")
    try:
        so = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("jclip: cannot load the engine library %s (%s); reinstall the package "
                          "with: pip install --no-build-isolation ./python" % (path, e)) from None
    P, I, S, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, c_float_p
    sigs = {
        "jclip_strerror": (ctypes.c_char_p, [I]),
        "jclip_model_load": (I, [ctypes.c_char_p, ctypes.POINTER(P), ctypes.c_char_p, S]),
        "jclip_model_free": (None, [P]),
        "jclip_embed_dim": (I, [P]),
        "jclip_model_describe": (S, [P, ctypes.c_char_p, S]),
        "jclip_model_isa": (ctypes.c_char_p, [P]),
        "jclip_ctx_params_default": (None, [P]),
        "jclip_ctx_create": (I, [P, P, ctypes.POINTER(P), ctypes.c_char_p, S]),
        "jclip_ctx_free": (None, [P]),
        "jclip_ctx_error": (ctypes.c_char_p, [P]),
        "jclip_tokenize": (I, [P, ctypes.c_char_p, S, S, c_int32_p, S, c_size_p]),
        "jclip_embed_text": (I, [P, ctypes.c_char_p, S, F, S]),
        "jclip_embed_texts": (I, [P, ctypes.POINTER(ctypes.c_char_p), c_size_p, S, F, S]),
        "jclip_embed_image": (I, [P, ctypes.c_char_p, S, F, S]),
        "jclip_embed_images": (I, [P, ctypes.POINTER(ctypes.c_char_p), c_size_p, S, F, S]),
        "jclip_embed_rgb": (I, [P, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, F, S]),
        "jclip_decode_info": (I, [ctypes.c_char_p, S, ctypes.POINTER(ImageInfo), ctypes.c_char_p, S]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(so, name)
        fn.restype = res
        fn.argtypes = args
    return so, path


lib, LIBRARY_PATH = _load()


def strerror(status):
    s = lib.jclip_strerror(status)
    return s.decode("utf-8", "replace") if s else "unknown status"
