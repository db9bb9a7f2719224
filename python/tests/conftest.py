"""Shared fixtures: the tiny test model, the shared test data, the CLI, the reference outputs.

Paths: models from $JCLIP_TEST_MODELS (default <repo>/build/models, as test/t_model.c), shared
data from $JCLIP_SHARED (default <repo>/../shared), the CLI at <repo>/jclip ($JCLIP_CLI)."""
import os
import subprocess

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("JCLIP_TEST_MODELS") or os.path.join(REPO, "build", "models")
SHARED = os.environ.get("JCLIP_SHARED") or os.path.join(REPO, "..", "shared")
if not os.path.isabs(SHARED):
    SHARED = os.path.join(REPO, SHARED)
if not os.path.isabs(MODELS):
    MODELS = os.path.join(REPO, MODELS)
CLI = os.environ.get("JCLIP_CLI") or os.path.join(REPO, "jclip")
IMAGES = os.path.join(SHARED, "testdata", "images")


def _need(path, what):
    if not os.path.exists(path):
        pytest.fail("%s missing: %s" % (what, path))
    return path


@pytest.fixture(scope="session")
def tiny_path():
    return _need(os.path.join(MODELS, "tiny-s1.jclip"), "tiny test model (set JCLIP_TEST_MODELS)")


@pytest.fixture(scope="session")
def images_dir():
    return _need(IMAGES, "shared test images (set JCLIP_SHARED)")


@pytest.fixture(scope="session")
def cli():
    return _need(CLI, "the jclip CLI (make jclip)")


@pytest.fixture(scope="session")
def model(tiny_path):
    import jclip
    m = jclip.Model(tiny_path, threads=2)
    yield m
    m.close()


def bits(a):
    """float32 array -> its uint32 bit patterns, for exact comparisons."""
    a = np.asarray(a, dtype=np.float32)
    return a.view(np.uint32)


def cli_vectors(cli, model_path, args, stdin=None):
    """Runs `jclip ARGS -m MODEL --format tsv` and parses its rows into float32. The CLI prints
    %.9g, which round-trips float32, so the parse is exact."""
    r = subprocess.run([cli] + args + ["-m", model_path, "--format", "tsv"], input=stdin,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    rows = [[np.float32(x) for x in line.split(b"\t")] for line in r.stdout.splitlines()]
    return np.array(rows, dtype=np.float32)
