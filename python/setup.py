"""Builds the `jclip` Python package and, at install time, the shared library it drives.

    pip install --no-build-isolation ./python        (from the repository root, or any path)

Why ctypes over the C API rather than a CPython extension: the package then needs only a C
compiler, not the Python headers (Debian ships them separately, in python3-dev), the library
is the same jclip.c every C user compiles (the public jclip.h API, nothing private), and
ctypes drops the GIL around every foreign call, so Python threads run the engine in parallel.
The per-call overhead (microseconds) is nothing next to one embedding (milliseconds).

Where the C sources come from, first match wins:
  1. $JCLIP_SRC: a directory holding jclip.c (e.g. a checkout, or dist/ from `make amalgamate`);
  2. the repository this file sits in (its parent directory): pip >= 21.3 builds a local
     directory in place, so this is what `pip install ./python` uses;
  3. python/csrc/, which `setup.py sdist` fills with jclip.c and every file it #includes, so
     an sdist built here installs on a machine without the repository.
The library is compiled with the Makefile's flags (-std=c11 -O2 -D_GNU_SOURCE): same compiler,
same flags, hence the same floating-point code as the ./jclip CLI and bit-identical vectors.
$CC picks the compiler (default cc); $JCLIP_OPT replaces -O2 (parity with the CLI then holds
only if the CLI is built with the same OPT).
"""
import os
import re
import shlex
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
LIBNAME = "libjclip.so"  # loaded by jclip/_lib.py from the package directory
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def find_sources():
    """Returns the directory holding jclip.c (see the module docstring for the order)."""
    cands = []
    env = os.environ.get("JCLIP_SRC")
    if env:
        cands.append(os.path.abspath(env))
    cands += [os.path.dirname(HERE), os.path.join(HERE, "csrc")]
    for d in cands:
        if os.path.isfile(os.path.join(d, "jclip.c")) and os.path.isfile(os.path.join(d, "jclip.h")):
            return d
    raise SystemExit(
        "jclip: cannot find the C sources (jclip.c, jclip.h); looked in: %s.\n"
        "Install from a checkout of the repository (pip install --no-build-isolation ./python)\n"
        "or set JCLIP_SRC to the directory holding jclip.c." % ", ".join(cands))


def included_files(src):
    """jclip.c and every file it #includes with quotes, recursively (paths relative to src)."""
    seen, todo = [], ["jclip.c", "jclip.h"]
    while todo:
        rel = os.path.normpath(todo.pop())
        if rel in seen:
            continue
        path = os.path.join(src, rel)
        if not os.path.isfile(path):
            continue  # an include guarded out for another platform, or a system header
        seen.append(rel)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE_RE.findall(text):
            todo.append(os.path.join(os.path.dirname(rel), inc))
    return sorted(seen)


def version(src):
    with open(os.path.join(src, "jclip.h"), encoding="utf-8") as f:
        m = re.search(r'#define\s+JCLIP_VERSION\s+"([^"]+)"', f.read())
    return m.group(1) if m else "0.0.0"


def compile_library(src, out):
    """cc -shared jclip.c -> out (written to a temporary name, then renamed)."""
    cc = shlex.split(os.environ.get("CC") or "cc")
    opt = shlex.split(os.environ.get("JCLIP_OPT") or "-O2")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    cmd = cc + ["-std=c11", "-Wall", "-Wextra", "-Wshadow"] + opt + [
        "-D_GNU_SOURCE", "-fPIC", "-fvisibility=default", "-shared",
        "-o", tmp, os.path.join(src, "jclip.c"), "-lm", "-lpthread"]
    print("jclip: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("jclip: compiling the library failed (%s); a C compiler is needed "
                         "(apt-get install gcc), or set CC" % e)
    os.replace(tmp, out)


class BuildPyWithLibrary(build_py):
    """build_py, then the shared library and _version.py into the package's build directory."""

    def run(self):
        super().run()
        src = find_sources()
        pkg = os.path.join(self.build_lib, "jclip")
        compile_library(src, os.path.join(pkg, LIBNAME))
        with open(os.path.join(pkg, "_version.py"), "w", encoding="utf-8") as f:
            f.write('__version__ = "%s"\nsource_dir = %r\n' % (version(src), src))


class SdistWithSources(sdist):
    """sdist that carries the C sources in csrc/, so it builds without the repository."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        src = find_sources()
        for rel in included_files(src):
            dst = os.path.join(base_dir, "csrc", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(src, rel), dst)


class BinaryDistribution(Distribution):
    """The wheel holds a compiled library: tag it for this platform, not as pure Python."""

    def has_ext_modules(self):
        return True


setup(
    name="jclip",
    version=version(find_sources()),
    description="jina-clip-v1 text and image embeddings from a dependency-free C engine (ctypes)",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=["jclip"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    extras_require={"dask": ["distributed"], "pil": ["Pillow"]},
    cmdclass={"build_py": BuildPyWithLibrary, "sdist": SdistWithSources},
    distclass=BinaryDistribution,
    zip_safe=False,
)
