#!/usr/bin/env python3
"""Writes tokenizer/unicode_tables.h, the Unicode tables of the BERT WordPiece tokenizer.

Usage (from the repository root):
    python3 tokenizer/gen_unicode.py [UNICODE_DIR] [OUTPUT]
UNICODE_DIR defaults to ../shared/golden/tokenizer/unicode and must hold
    unicode_bert_classes.tsv  ranges: clean_text class, handle_chinese_chars, BertPreTokenizer class
    unicode_char_maps.tsv     per code point: strip_accents result, lowercase result, NFC (unused)
Both describe what the Hugging Face `tokenizers` crate does (its own Unicode tables, which are
older than the UCD in places), so the C tokenizer matches the crate rather than a newer UCD.
OUTPUT defaults to tokenizer/unicode_tables.h. Standard library only.

What is generated (all `static const`, names prefixed tok_uc_):
  * jc_tok_uc_range_start[] / jc_tok_uc_range_class[]: a sorted list of range starts covering every
    code point 0..0x10FFFF, each with a class byte (see TOK_UC_* below); adjacent ranges with the
    same class are merged. Surrogates (never produced by the UTF-8 decoder) join the range before.
  * jc_tok_uc_map[]: code points whose strip_accents or lowercase result differs from the code
    point itself, sorted by code point, with offsets into jc_tok_uc_pool[] (deduplicated code point
    sequences). Hangul syllables U+AC00..U+D7A3 are left out: their strip_accents result is the
    algorithmic NFD decomposition, which the generator checks against the input and the C code
    computes.
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


def main():
    udir = sys.argv[1] if len(sys.argv) > 1 else "../shared/golden/tokenizer/unicode"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "unicode_tables.h")
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
    w(" *     python3 tokenizer/gen_unicode.py ../shared/golden/tokenizer/unicode tokenizer/unicode_tables.h")
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
    w("")
    w("#endif")
    with open(out, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {len(ranges)} ranges, {len(entries)} mappings, {len(pool)} pool code points")


if __name__ == "__main__":
    main()
