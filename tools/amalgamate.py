#!/usr/bin/env python3
"""Writes the drop-in pair dist/jclip.c + dist/jclip.h from the unity build root jclip.c.

    /usr/bin/python3 tools/amalgamate.py [--root .] [--out dist]

Every quoted #include is resolved relative to the including file (as the compiler does) and
the file is pasted in place at its first inclusion; later inclusions of the same file are
dropped (they are all include-guarded or included once). Angle-bracket includes stay. The
result is stamped with JCLIP_VERSION (from jclip.h) and the git commit the sources came from
("-dirty" when the work tree differs). dist/jclip.h is jclip.h with the same stamp;
dist/jclip.c pastes jclip.h too, so it compiles alone. Standard library only."""
import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def git_stamp(root):
    try:
        commit = subprocess.check_output(["git", "-C", root, "rev-parse", "HEAD"],
                                         stderr=subprocess.DEVNULL, text=True).strip()
        dirty = subprocess.call(["git", "-C", root, "diff", "--quiet", "HEAD", "--",
                                 "jclip.c", "jclip.h", "jclip_base.h", "kernels", "tokenizer",
                                 "image"], stderr=subprocess.DEVNULL)
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def version(root):
    with open(os.path.join(root, "jclip.h"), encoding="utf-8") as f:
        m = re.search(r'#define\s+JCLIP_VERSION\s+"([^"]+)"', f.read())
    if not m:
        sys.exit("amalgamate.py: JCLIP_VERSION not found in jclip.h")
    return m.group(1)


def paste(path, root, seen, out, chain):
    real = os.path.realpath(path)
    if real in seen:
        return
    seen.add(real)
    rel = os.path.relpath(real, root)
    out.append("/* ==== begin %s ==== */\n" % rel)
    with open(real, encoding="utf-8") as f:
        for line in f:
            m = INCLUDE.match(line)
            if not m:
                out.append(line)
                continue
            target = os.path.join(os.path.dirname(real), m.group(1))
            if not os.path.exists(target):
                sys.exit("amalgamate.py: %s includes %s, which does not exist (via %s)"
                         % (rel, m.group(1), " -> ".join(chain)))
            if os.path.realpath(target) in seen:
                out.append("/* %s: already included above */\n" % line.strip())
            else:
                paste(target, root, seen, out, chain + [rel])
    if out and not out[-1].endswith("\n"):
        out.append("\n")
    out.append("/* ==== end %s ==== */\n" % rel)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--out", default="dist")
    a = ap.parse_args()
    root = os.path.realpath(a.root)
    ver, commit = version(root), git_stamp(root)
    stamp = ("/* jclip %s, amalgamated from commit %s by tools/amalgamate.py.\n"
             " * Drop-in use: add jclip.c and jclip.h to your project; compile jclip.c as C11 and link\n"
             " * -lm -lpthread (or define JCLIP_NO_THREADS). Do not edit: regenerate with\n"
             " * `make amalgamate`. */\n" % (ver, commit))
    ids = ('#ifndef JCLIP_AMALGAMATION\n#define JCLIP_AMALGAMATION 1\n#endif\n'
           '#define JCLIP_SOURCE_ID "%s"\n' % commit)
    os.makedirs(a.out, exist_ok=True)
    out = [stamp, ids]
    paste(os.path.join(root, "jclip.c"), root, set(), out, [])
    body = "".join(out)
    if re.search(r'^\s*#\s*include\s+"', body, re.M):
        sys.exit("amalgamate.py: a quoted #include survived")
    with open(os.path.join(a.out, "jclip.c.tmp"), "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(os.path.join(a.out, "jclip.c.tmp"), os.path.join(a.out, "jclip.c"))
    with open(os.path.join(root, "jclip.h"), encoding="utf-8") as f:
        hdr = f.read()
    with open(os.path.join(a.out, "jclip.h"), "w", encoding="utf-8") as f:
        f.write(stamp + hdr)
    print("amalgamate.py: %s/jclip.c (%d lines) and %s/jclip.h, jclip %s, commit %s"
          % (a.out, body.count("\n"), a.out, ver, commit))


if __name__ == "__main__":
    main()
