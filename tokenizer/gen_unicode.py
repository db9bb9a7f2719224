#!/usr/bin/env python3
"""Writes tokenizer/unicode_tables.h, the Unicode tables of the BERT WordPiece tokenizer.

Usage (from the repository root):
    python3 tokenizer/gen_unicode.py [UNICODE_DIR] [OUTPUT] [UCD_DIR]
UNICODE_DIR defaults to ../shared/golden/tokenizer/unicode and must hold
    unicode_bert_classes.tsv  ranges: clean_text class, handle_chinese_chars, BertPreTokenizer class
    unicode_char_maps.tsv     per code point: strip_accents result, lowercase result, NFC (unused)
Both describe what the Hugging Face `tokenizers` crate does (its own Unicode tables, which are
older than the UCD in places), so the C tokenizer matches the crate rather than a newer UCD.
    unicode_clip_classes.tsv  ranges: class in the CLIP split regex (L, N, S, O) as Oniguruma has it
and UCD_DIR (third argument, default /usr/share/unicode, Debian package unicode-data) must hold
    UnicodeData.txt, DerivedAge.txt, CompositionExclusions.txt
from which the NFC data of the CLIP BPE tokenizer is taken, restricted to the code points
assigned in Unicode 9.0: the crate normalizes with unicode-normalization-alignments 0.1.12,
whose tables are Unicode 9.0.0 (decompositions and combining classes of assigned characters
never change, so the 9.0 subset of a later UCD is exactly 9.0). The generator checks the result
against the "NFC of the lone char" column of unicode_char_maps.tsv.
OUTPUT defaults to tokenizer/unicode_tables.h. Standard library only.

What is generated (all `static const`, names prefixed jc_tok_uc_):
  * jc_tok_uc_range_start[] / jc_tok_uc_range_class[]: a sorted list of range starts covering every
    code point 0..0x10FFFF, each with a class byte (see JC_TOK_UC_* below); adjacent ranges with the
    same class are merged. Surrogates (never produced by the UTF-8 decoder) join the range before.
  * jc_tok_uc_map[]: code points whose strip_accents or lowercase result differs from the code
    point itself, sorted by code point, with offsets into jc_tok_uc_pool[] (deduplicated code point
    sequences). Hangul syllables U+AC00..U+D7A3 are left out: their strip_accents result is the
    algorithmic NFD decomposition, which the generator checks against the input and the C code
    computes.
  * jc_uc_bpe_stage1[] / jc_uc_bpe_stage2[]: a two-stage table (256-code-point blocks) of one
    flags byte per code point for the BPE tokenizer: bits 0-1 the CLIP regex class (JC_UC_CLIP_*),
    bit 2 canonical combining class != 0, bit 3 has a canonical decomposition, bit 4 may compose
    with a preceding character (NFC_QC=Maybe), bit 5 lowercase changes it.
  * jc_uc_ccc[]: {code point, combining class} for every class != 0 (Unicode 9.0), sorted.
  * jc_uc_decomp[] + jc_uc_decomp_pool[]: full canonical decomposition of every decomposable
    code point except Hangul syllables, sorted.
  * jc_uc_compose[]: primary composites, {first << 21 | second, composite} sorted by key.
"""
import os
import sys

HANGUL_S, HANGUL_N = 0xAC00, 11172
L_BASE, V_BASE, T_BASE, V_COUNT, T_COUNT = 0x1100, 0x1161, 0x11A7, 21, 28
KEEP_LEN = 7  # length code meaning "unchanged"
MAX_SEQ = 6   # longest sequence the C code is prepared for (per map column)


def hangul_nfd(cp):
    s = cp - HANGUL_S
    out = [L_BASE + s // (V_COUNT * T_COUNT), V_BASE + (s % (V_COUNT * T_COUNT)) // T_COUNT]
    if s % T_COUNT:
        out.append(T_BASE + s % T_COUNT)
    return out


def data_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                yield line.split("\t")


def read_classes(path):
    clean_codes = {"keep": 0, "drop": 1, "space": 2}
    pre_codes = {"-": 0, "ws": 8, "punct": 16}
    ranges = []
    expect = 0
    for f in data_lines(path):
        lo, hi = int(f[0], 16), int(f[1], 16)
        if lo == 0xE000 and expect == 0xD800:
            expect = 0xE000  # surrogates are not scalar values
        if lo != expect or hi < lo:
            raise SystemExit(f"{path}: range {f[0]}-{f[1]} does not follow {expect:04X}")
        cls = clean_codes[f[2]] | (4 if f[3] == "cjk" else 0) | pre_codes[f[4]]
        if f[3] not in ("cjk", "-"):
            raise SystemExit(f"{path}: bad cjk column {f[3]!r}")
        if ranges and ranges[-1][1] == cls:
            pass
        else:
            ranges.append((lo, cls))
        expect = hi + 1
    if expect != 0x110000:
        raise SystemExit(f"{path}: ranges end at {expect:X}, not 110000")
    return ranges


def parse_seq(field, allow_removed):
    if field == "=":
        return None
    if field == "<removed>":
        if not allow_removed:
            raise SystemExit("unexpected <removed>")
        return []
    seq = [int(x, 16) for x in field.split(" ")]
    if not 1 <= len(seq) <= MAX_SEQ:
        raise SystemExit(f"sequence too long: {field}")
    return seq


def read_age(path, max_age):
    assigned = set()
    for line in open(path, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        rng, age = [x.strip() for x in line.split(";")]
        major, minor = (int(x) for x in age.split("."))
        if (major, minor) > max_age:
            continue
        lo, _, hi = rng.partition("..")
        lo = int(lo, 16)
        hi = int(hi, 16) if hi else lo
        assigned.update(range(lo, hi + 1))
    return assigned


def read_nfc_data(ucd, max_age=(9, 0)):
    """Canonical decompositions, combining classes and primary composites of Unicode max_age."""
    assigned = read_age(os.path.join(ucd, "DerivedAge.txt"), max_age)
    ccc, decomp = {}, {}
    for line in open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8"):
        f = line.rstrip("\n").split(";")
        cp = int(f[0], 16)
        if cp not in assigned:
            continue
        if int(f[3]):
            ccc[cp] = int(f[3])
        if f[5] and not f[5].startswith("<"):
            decomp[cp] = [int(x, 16) for x in f[5].split()]
    excl = set()
    for line in open(os.path.join(ucd, "CompositionExclusions.txt"), encoding="utf-8"):
        line = line.split("#")[0].strip()
        if line:
            excl.add(int(line, 16))

    def full(cp):
        if cp not in decomp:
            return [cp]
        out = []
        for c in decomp[cp]:
            out.extend(full(c))
        return out
    full_decomp = {cp: full(cp) for cp in decomp}
    compose = {}
    for cp, d in decomp.items():
        if len(d) != 2 or cp in excl or ccc.get(cp, 0) or ccc.get(d[0], 0):
            continue
        compose[(d[0], d[1])] = cp
    return ccc, full_decomp, compose


def nfc(cps, ccc, full_decomp, compose):
    """Reference NFC (UAX #15) over the tables above, Hangul included."""
    d = []
    for cp in cps:
        if HANGUL_S <= cp < HANGUL_S + HANGUL_N:
            d.extend(hangul_nfd(cp))
        else:
            d.extend(full_decomp.get(cp, [cp]))
    i = 0
    while i < len(d):  # stable sort of each run of non-starters
        if ccc.get(d[i], 0) == 0:
            i += 1
            continue
        j = i
        while j < len(d) and ccc.get(d[j], 0):
            j += 1
        d[i:j] = sorted(d[i:j], key=lambda c: ccc.get(c, 0))
        i = j
    out = []
    starter = None  # index in out of the last starter
    last_cc = -1
    for c in d:
        cc = ccc.get(c, 0)
        if starter is not None and (last_cc < cc or (last_cc == -1)):
            s = out[starter]
            comp = compose.get((s, c))
            if comp is None and L_BASE <= s < L_BASE + 19 and V_BASE <= c < V_BASE + V_COUNT:
                comp = HANGUL_S + ((s - L_BASE) * V_COUNT + (c - V_BASE)) * T_COUNT
            if (comp is None and HANGUL_S <= s < HANGUL_S + HANGUL_N and (s - HANGUL_S) % T_COUNT == 0
                    and T_BASE < c < T_BASE + T_COUNT):
                comp = s + (c - T_BASE)
            if comp is not None:
                out[starter] = comp
                continue
        if cc == 0:
            starter = len(out)
            last_cc = -1
        else:
            last_cc = cc
        out.append(c)
    return out


def bpe_tables(udir, ucd, maps_lower, w):
    clip_codes = {"O": 0, "L": 1, "N": 2, "S": 3}
    cls = bytearray(0x110000)
    expect = 0
    for f in data_lines(os.path.join(udir, "unicode_clip_classes.tsv")):
        lo, hi = int(f[0], 16), int(f[1], 16)
        if lo == 0xE000 and expect == 0xD800:
            expect = 0xE000  # surrogates (class O here) are never decoded
        if lo != expect or hi < lo or f[2] not in clip_codes:
            raise SystemExit(f"unicode_clip_classes.tsv: bad range {f[0]}-{f[1]} {f[2]}")
        for c in range(lo, hi + 1):
            cls[c] = clip_codes[f[2]]
        expect = hi + 1
    if expect != 0x110000:
        raise SystemExit("unicode_clip_classes.tsv: ranges do not reach 10FFFF")
    ccc, full_decomp, compose = read_nfc_data(ucd)
    # Check against the crate: NFC of each lone code point.
    nfc_lone = {}
    for f in data_lines(os.path.join(udir, "unicode_char_maps.tsv")):
        if f[3] != "=":
            nfc_lone[int(f[0], 16)] = [int(x, 16) for x in f[3].split(" ")]
    bad = 0
    for cp in list(full_decomp) + list(nfc_lone):
        want = nfc_lone.get(cp, [cp])
        if nfc([cp], ccc, full_decomp, compose) != want:
            bad += 1
    if bad:
        raise SystemExit(f"NFC of {bad} lone code points differs from unicode_char_maps.tsv")
    second = {b for (_, b) in compose}
    second.update(range(V_BASE, V_BASE + V_COUNT))
    second.update(range(T_BASE + 1, T_BASE + T_COUNT))
    flags = bytearray(0x110000)
    for c in range(0x110000):
        v = cls[c]
        if ccc.get(c, 0):
            v |= 4
        if c in full_decomp or HANGUL_S <= c < HANGUL_S + HANGUL_N:
            v |= 8
        if c in second:
            v |= 16
        if c in maps_lower:
            v |= 32
        flags[c] = v
    blocks, index, stage1 = [], {}, []
    for b in range(0x110000 // 256):
        key = bytes(flags[b * 256:(b + 1) * 256])
        if key not in index:
            index[key] = len(blocks)
            blocks.append(key)
        stage1.append(index[key])
    if len(blocks) > 256:
        raise SystemExit("too many distinct blocks for an 8-bit stage 1")
    w("")
    w("/* ---- CLIP byte-level BPE (tokenizer/bpe.c) ---------------------------------------------- */")
    w("/* Flags byte per code point: bits 0-1 class in the CLIP split regex as Oniguruma evaluates it")
    w(" * (unicode_clip_classes.tsv), bit 2 canonical combining class != 0, bit 3 has a canonical")
    w(" * decomposition, bit 4 may compose with what precedes it, bit 5 lowercase changes it. NFC data")
    w(" * is Unicode 9.0 (the crate's unicode-normalization-alignments tables). */")
    w("#define JC_UC_CLIP_MASK 3u")
    w("#define JC_UC_CLIP_O 0u")
    w("#define JC_UC_CLIP_L 1u")
    w("#define JC_UC_CLIP_N 2u")
    w("#define JC_UC_CLIP_S 3u")
    w("#define JC_UC_CCC 4u")
    w("#define JC_UC_DECOMP 8u")
    w("#define JC_UC_COMP2 16u")
    w("#define JC_UC_LOWER 32u")
    w(f"#define JC_UC_BPE_NBLOCKS {len(blocks)}")
    w("static const uint8_t jc_uc_bpe_stage1[0x1100] = {")
    for i in range(0, len(stage1), 32):
        w("    " + ",".join(str(x) for x in stage1[i:i + 32]) + ",")
    w("};")
    w("static const uint8_t jc_uc_bpe_stage2[JC_UC_BPE_NBLOCKS][256] = {")
    for blk in blocks:
        w("    {" + ",".join(str(x) for x in blk) + "},")
    w("};")
    items = sorted(ccc.items())
    w(f"#define JC_UC_N_CCC {len(items)}")
    w("typedef struct jc_uc_cc { uint32_t cp; uint8_t ccc; } jc_uc_cc;")
    w("static const jc_uc_cc jc_uc_ccc[JC_UC_N_CCC] = {")
    for i in range(0, len(items), 8):
        w("    " + " ".join(f"{{0x{c:X},{v}}}," for c, v in items[i:i + 8]))
    w("};")
    pool, pidx, dec = [], {}, []
    for cp, d in sorted(full_decomp.items()):
        key = tuple(d)
        if key not in pidx:
            pidx[key] = len(pool)
            pool.extend(d)
        if len(d) > 4:
            raise SystemExit(f"decomposition of U+{cp:04X} longer than 4")
        dec.append((cp, pidx[key], len(d)))
    w(f"#define JC_UC_DECOMP_MAX 4u")
    w(f"#define JC_UC_N_DECOMP_POOL {len(pool)}")
    w("static const uint32_t jc_uc_decomp_pool[JC_UC_N_DECOMP_POOL] = {")
    for i in range(0, len(pool), 10):
        w("    " + " ".join(f"0x{c:X}," for c in pool[i:i + 10]))
    w("};")
    w("/* {code point, offset into jc_uc_decomp_pool << 3 | length} */")
    w("typedef struct jc_uc_dec { uint32_t cp; uint32_t ref; } jc_uc_dec;")
    w(f"#define JC_UC_N_DECOMP {len(dec)}")
    w("static const jc_uc_dec jc_uc_decomp[JC_UC_N_DECOMP] = {")
    for i in range(0, len(dec), 6):
        w("    " + " ".join(f"{{0x{c:X},{(o << 3) | n}}}," for c, o, n in dec[i:i + 6]))
    w("};")
    comp = sorted(((a << 21) | b, c) for (a, b), c in compose.items())
    w("/* {first << 21 | second, primary composite}, sorted (Hangul is algorithmic) */")
    w("typedef struct jc_uc_comp { uint64_t key; uint32_t cp; } jc_uc_comp;")
    w(f"#define JC_UC_N_COMPOSE {len(comp)}")
    w("static const jc_uc_comp jc_uc_compose[JC_UC_N_COMPOSE] = {")
    for i in range(0, len(comp), 4):
        w("    " + " ".join(f"{{0x{k:X}u,0x{c:X}}}," for k, c in comp[i:i + 4]))
    w("};")
    return len(blocks), len(items), len(dec), len(comp)


def main():
    udir = sys.argv[1] if len(sys.argv) > 1 else "../shared/golden/tokenizer/unicode"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "unicode_tables.h")
    ucd = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/unicode"
    ranges = read_classes(os.path.join(udir, "unicode_bert_classes.tsv"))

    maps = []
    hangul_seen = 0
    for f in data_lines(os.path.join(udir, "unicode_char_maps.tsv")):
        cp = int(f[0], 16)
        strip = parse_seq(f[1], True)
        lower = parse_seq(f[2], False)
        if HANGUL_S <= cp < HANGUL_S + HANGUL_N:
            if strip != hangul_nfd(cp) or lower is not None:
                raise SystemExit(f"U+{cp:04X}: Hangul entry is not the algorithmic decomposition")
            hangul_seen += 1
            continue
        maps.append((cp, strip, lower))
    if hangul_seen != HANGUL_N:
        raise SystemExit(f"expected {HANGUL_N} Hangul syllables in the map, found {hangul_seen}")
    maps.sort()
    for a, b in zip(maps, maps[1:]):
        if a[0] == b[0]:
            raise SystemExit(f"U+{a[0]:04X} listed twice")

    pool, pool_index = [], {}

    def intern(seq):
        if seq is None:
            return KEEP_LEN
        if not seq:
            return 0
        key = tuple(seq)
        if key not in pool_index:
            pool_index[key] = len(pool)
            pool.extend(seq)
        return (pool_index[key] << 3) | len(seq)

    entries = [(cp, intern(s), intern(l)) for cp, s, l in maps]
    if len(pool) >= 1 << 13:
        raise SystemExit("pool too large for 16-bit packed offsets")

    lines = []
    w = lines.append
    w("/* tokenizer/unicode_tables.h: GENERATED by tokenizer/gen_unicode.py -- do not edit.")
    w(" *")
    w(" * Regenerate from the repository root with")
    w(" *     python3 tokenizer/gen_unicode.py ../shared/golden/tokenizer/unicode tokenizer/unicode_tables.h \\")
    w(" *         /usr/share/unicode")
    w(" * The input tables describe the Hugging Face `tokenizers` crate (BertNormalizer,")
    w(" * BertPreTokenizer) per code point; see the generator's docstring for the layout. */")
    w("#ifndef JC_TOK_UNICODE_TABLES_H")
    w("#define JC_TOK_UNICODE_TABLES_H")
    w("")
    w("/* Class byte: bits 0-1 clean_text (0 keep, 1 drop, 2 -> space), bit 2 handle_chinese_chars")
    w(" * (CJK ideograph), bits 3-4 BertPreTokenizer (0 other, 1 whitespace, 2 punctuation). */")
    w("#define JC_TOK_UC_CLEAN_MASK 3u")
    w("#define JC_TOK_UC_CLEAN_DROP 1u")
    w("#define JC_TOK_UC_CLEAN_SPACE 2u")
    w("#define JC_TOK_UC_CJK 4u")
    w("#define JC_TOK_UC_PRE_WS 8u")
    w("#define JC_TOK_UC_PRE_PUNCT 16u")
    w("/* Packed sequence reference: (offset into jc_tok_uc_pool << 3) | length; length 0 = removed,")
    w(" * length 7 = unchanged. */")
    w(f"#define JC_TOK_UC_SEQ_KEEP {KEEP_LEN}u")
    w(f"#define JC_TOK_UC_SEQ_MAX {MAX_SEQ}u")
    w(f"#define JC_TOK_UC_HANGUL_FIRST 0x{HANGUL_S:X}u")
    w(f"#define JC_TOK_UC_HANGUL_COUNT {HANGUL_N}u")
    w("")
    w(f"#define JC_TOK_UC_N_RANGES {len(ranges)}")
    w("static const uint32_t jc_tok_uc_range_start[JC_TOK_UC_N_RANGES] = {")
    for i in range(0, len(ranges), 10):
        w("    " + " ".join(f"0x{lo:X}," for lo, _ in ranges[i:i + 10]))
    w("};")
    w("static const uint8_t jc_tok_uc_range_class[JC_TOK_UC_N_RANGES] = {")
    for i in range(0, len(ranges), 20):
        w("    " + " ".join(f"{c}," for _, c in ranges[i:i + 20]))
    w("};")
    w("")
    w(f"#define JC_TOK_UC_N_POOL {len(pool)}")
    w("static const uint32_t jc_tok_uc_pool[JC_TOK_UC_N_POOL] = {")
    for i in range(0, len(pool), 10):
        w("    " + " ".join(f"0x{c:X}," for c in pool[i:i + 10]))
    w("};")
    w("")
    w("/* {code point, strip_accents (NFD, drop Mn) result, char::to_lowercase result} */")
    w("typedef struct jc_tok_uc_mapping { uint32_t cp; uint16_t strip, lower; } jc_tok_uc_mapping;")
    w(f"#define JC_TOK_UC_N_MAP {len(entries)}")
    w("static const jc_tok_uc_mapping jc_tok_uc_map[JC_TOK_UC_N_MAP] = {")
    for i in range(0, len(entries), 5):
        w("    " + " ".join(f"{{0x{cp:X},{s},{l}}}," for cp, s, l in entries[i:i + 5]))
    w("};")
    lower_changed = {cp for cp, _, l in maps if l is not None}
    bpe_stats = bpe_tables(udir, ucd, lower_changed, w)
    w("")
    w("#endif")
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {len(ranges)} ranges, {len(entries)} mappings, {len(pool)} pool code points; "
          "BPE: %d blocks, %d combining classes, %d decompositions, %d compositions" % bpe_stats)


if __name__ == "__main__":
    main()
