#!/usr/bin/env python3
"""Differential check of jclip's GIF/BMP/PNM decoders against Pillow (a developer tool, not a
test: it needs Debian's python3-pil 9.4, and imagemagick for --generate).

    /usr/bin/python3 tools/formats_vs_pillow.py [--jclip ./jclip] [--mutations N] [--seed S]
                                                [--generate DIR] FILE...

Every FILE (and, with --generate, a set of GIF/BMP/PNM files written by Pillow and ImageMagick
into DIR from the corpus photo) is decoded by Pillow (Image.open(f).convert('RGB')) and by
`jclip decode`, then N random mutations / truncations of it. Outcomes must match: the same RGB
bytes, or both refusing. Mismatches are copied to /tmp/formats_vs_pillow/ and listed. Known
difference: BMP RLE delta escapes, which jclip reads as the BMP specification says."""
import argparse
import glob
import hashlib
import os
import random
import subprocess
import sys
import warnings

warnings.simplefilter("ignore")
from PIL import Image  # noqa: E402

Image.MAX_IMAGE_PIXELS = 89478485
OUT = "/tmp/formats_vs_pillow"


def pil(path):
    try:
        with open(path, "rb") as f:
            im = Image.open(f)
            if im.format not in ("GIF", "BMP", "PPM"):
                return None
            return ("ok", hashlib.sha256(im.convert("RGB").tobytes()).hexdigest())
    except Exception as e:  # every Pillow failure is a refusal
        return ("err", repr(e)[:80])


def ours(jclip, path):
    out = os.path.join(OUT, "o.ppm")
    r = subprocess.run([jclip, "decode", path, "-o", out], capture_output=True, timeout=60)
    if r.returncode != 0:
        return ("err", r.stderr.decode("latin1")[-100:])
    data = open(out, "rb").read().split(b"\n", 3)[3]
    return ("ok", hashlib.sha256(data).hexdigest())


def mutate(b, rng):
    b = bytearray(b)
    k = rng.randrange(6)
    if k == 0 and len(b) > 1:
        return bytes(b[:rng.randrange(1, len(b))])
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        i = rng.randrange(min(len(b), rng.choice([64, 800, len(b)])))
        if k == 1:
            b[i] ^= 1 << rng.randrange(8)
        elif k == 2:
            b[i] = rng.choice([0, 1, 2, 3, 0xff, 0x80, 0x7f, 0x20, 0x0a, 0x23, 0x30, 0x31, (b[i] + 1) & 255])
        elif k == 3:
            b.insert(i, rng.randrange(256))
        elif k == 4 and len(b) > 2:
            del b[i]
        else:
            b[i] = rng.randrange(256)
    return bytes(b)


def generate(d, photo):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(7)
    src = Image.open(photo).convert("RGB")
    n = 0

    def crop(w, h):
        x, y = rng.randrange(src.width - w + 1), rng.randrange(src.height - h + 1)
        return src.crop((x, y, x + w, y + h))

    def name(ext):
        nonlocal n
        n += 1
        return os.path.join(d, "f%04d.%s" % (n, ext))

    for w, h in [(1, 1), (1, 7), (7, 1), (2, 3), (5, 5), (13, 9), (31, 17), (64, 48), (100, 75), (257, 3), (3, 129)]:
        im = crop(w, h)
        for colors in (2, 4, 16, 100, 256):
            p = im.quantize(colors)
            p.save(name("gif"))
            p.save(name("gif"), interlace=True)
            p.save(name("gif"), transparency=rng.randrange(colors))
            p.save(name("bmp"))
        for mode in ("L", "1"):
            im.convert(mode).save(name("gif"))
            im.convert(mode).save(name("bmp"))
        im.save(name("bmp"))
        im.convert("RGBA").save(name("bmp"))
        im.save(name("ppm"))
        im.convert("L").save(name("pgm"))
        im.convert("1").save(name("pbm"))
        frames = [crop(w, h).quantize(rng.choice([4, 16, 64])) for _ in range(3)]
        frames[0].save(name("gif"), save_all=True, append_images=frames[1:], disposal=rng.randrange(4))
        tmp = os.path.join(d, "src.png")
        im.save(tmp)
        for args, ext in [(["-colors", "16", "-compress", "RLE"], "BMP"), (["-colors", "200", "-compress", "RLE"], "BMP"),
                          (["-define", "bmp:subtype=RGB565"], "BMP"), (["-define", "bmp:subtype=RGB555"], "BMP"),
                          (["-define", "bmp:subtype=ARGB8888"], "BMP"), (["-type", "palette", "-colors", "8"], "BMP3"),
                          (["-type", "truecolor"], "BMP2"), (["-colors", "4", "-type", "palette"], "BMP"),
                          (["-compress", "none"], "PPM"), (["-compress", "none", "-colorspace", "gray"], "PGM"),
                          (["-compress", "none", "-monochrome"], "PBM"), (["-depth", "16"], "PPM"),
                          (["-depth", "16", "-colorspace", "gray"], "PGM"), (["-compress", "none", "-depth", "16"], "PPM"),
                          (["-depth", "4"], "PGM"), (["-colors", "32"], "GIF"), (["-interlace", "GIF", "-colors", "64"], "GIF"),
                          (["-monochrome"], "GIF")]:
            out = name(ext.lower().rstrip("23"))
            subprocess.run(["convert", tmp] + args + [ext + ":" + out], capture_output=True)
        os.remove(tmp)
    return sorted(glob.glob(os.path.join(d, "f*")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jclip", default="./jclip")
    ap.add_argument("--mutations", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--generate")
    ap.add_argument("--shared", default=os.environ.get("JCLIP_SHARED", "../shared"))
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    files = list(a.files)
    if a.generate:
        files += generate(a.generate, os.path.join(a.shared, "testdata/images/photos/skimage_chelsea.png"))
    rng = random.Random(a.seed)
    counts, bad = {}, 0
    for f in files:
        src = open(f, "rb").read()
        ext = os.path.splitext(f)[1]
        for it in range(a.mutations + 1):
            m = src if it == 0 else mutate(src, rng)
            p = os.path.join(OUT, "m" + ext)
            open(p, "wb").write(m)
            want = pil(p)
            if want is None:
                continue
            got = ours(a.jclip, p)
            key = "%s/%s" % (want[0], got[0])
            counts[key] = counts.get(key, 0) + 1
            if not ((want[0] == got[0] == "err") or want == got):
                bad += 1
                keep = os.path.join(OUT, "bad_%d%s" % (bad, ext))
                open(keep, "wb").write(m)
                print(keep, os.path.basename(f), "Pillow", want, "jclip", got)
    print("outcomes (Pillow/jclip):", counts, "mismatches:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
