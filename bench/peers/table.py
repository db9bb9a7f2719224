"""table.py RESULTS.jsonl [LOAD_BEFORE LOAD_AFTER MACHINE [MODEL]]: the table of run.sh from its raw lines.

Engines: jclip rows are told apart by the model's dtype (jclip-f32, jclip-bf16, jclip-q8; lines
without a dtype are f32), then torch, ort (fp32) and ort-int8, each column shown when it ran."""
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    if r["engine"] == "jclip":
        r["engine"] = "jclip-" + r.get("dtype", "f32")
ORDER = ["jclip-f32", "jclip-bf16", "jclip-q8", "torch", "ort", "ort-int8"]
NAME = {"jclip-f32": "jclip f32", "jclip-bf16": "jclip bf16", "jclip-q8": "jclip q8", "torch": "PyTorch",
        "ort": "ORT fp32", "ort-int8": "ORT int8"}
# ratios shown when both engines ran: jclip at a precision against the peer at that precision
# (bf16 has no peer of its own: against the fp32 ones; q8 against ORT fp32 when ort-int8 did not run)
PAIRS = [("jclip-f32", "torch"), ("jclip-f32", "ort"), ("jclip-bf16", "ort"), ("jclip-q8", "ort-int8")]
engines = [e for e in ORDER if any(r["engine"] == e for r in rows)]
engines += sorted({r["engine"] for r in rows} - set(engines))
pairs = [p for p in PAIRS if p[0] in engines and p[1] in engines]
if "ort-int8" not in engines and "jclip-q8" in engines and "ort" in engines:
    pairs.append(("jclip-q8", "ort"))  # no int8 peer ran: at least against ORT fp32
ver = {r["engine"]: r.get("version", r.get("isa", "")) for r in rows}
cases, threads = [], []
for r in rows:
    if r["case"] not in cases: cases.append(r["case"])
    if r["threads"] not in threads: threads.append(r["threads"])
def agg(eng, c, t):
    x = [r for r in rows if r["engine"] == eng and r["case"] == c and r["threads"] == t]
    if not x: return None
    return (st.median(r["ms_median"] for r in x), min(r["ms_min"] for r in x),
            max(r.get("peak_rss_mb", 0) for r in x), len(x),
            st.median(r["cpu_ms"] * (r["threads"] if r["engine"].startswith("jclip") else 1) / r["ms_median"] for r in x)
            if all("cpu_ms" in r for r in x) else None)
arg = lambda i: sys.argv[i] if len(sys.argv) > i else "?"
print("machine: %s; load average before %s, after %s" % (arg(4), arg(2), arg(3)))
if len(sys.argv) > 5:
    print("model: %s" % sys.argv[5])
desc = []
if any(e.startswith("jclip") for e in engines):
    desc.append("jclip (%s; %s)" % (next(ver[e] for e in engines if e.startswith("jclip")),
                                    ", ".join(e[6:] for e in engines if e.startswith("jclip"))))
if "torch" in engines:
    desc.append("PyTorch %s (torch.inference_mode, set_num_threads)" % ver["torch"])
if "ort" in engines or "ort-int8" in engines:
    desc.append("ONNX Runtime %s (onnxruntime-node, CPU EP, intra-op threads%s)" % (
        ver.get("ort", ver.get("ort-int8")), "; ORT int8 = the fp32 export with every linear layer as "
        "com.microsoft.DynamicQuantizeMatMul" if "ort-int8" in engines else ""))
print("engines: " + ", ".join(desc))
print("peer thread pools: %s" % ("passive waits (OMP_WAIT_POLICY=PASSIVE, ORT allow_spinning=0)"
      if any(r.get("spinning") == 0 for r in rows) else "their defaults (busy-waiting)"))
print("cores busy = process CPU time / wall time of a run (median; jclip reports CPU time per thread): how many cores "
      "an engine kept busy")
print("ms = median over rounds of each process's median (min = fastest single run of all rounds); ratio = jclip/peer on the medians "
      "(and on the mins), < 1: jclip faster")
print()
rn = lambda p: "%s/%s" % (NAME[p[0]], NAME[p[1]])
hdr = ("| case | thr | " + " | ".join("%s ms (min)" % NAME.get(e, e) for e in engines) + " | "
       + " | ".join(rn(p) for p in pairs) + (" | on mins: " + ", ".join(rn(p) for p in pairs) if pairs else "")
       + " | cores busy " + " / ".join(NAME.get(e, e) for e in engines)
       + " | peak RSS MB " + " / ".join(NAME.get(e, e) for e in engines) + " |")
print(hdr); print("|" + "---|" * (hdr.count("|") - 1))
g4 = lambda v: "%.1f" % v if v >= 10 else "%.2f" % v if v >= 1 else "%.3f" % v  # 1214.0, 21.6, 6.47, 0.104
f = lambda a: "%s (%s)" % (g4(a[0]), g4(a[1])) if a else "-"
for c in cases:
    for t in threads:
        a = {e: agg(e, c, t) for e in engines}
        ra = lambda p, k=0: "%.2f" % (a[p[0]][k] / a[p[1]][k]) if a[p[0]] and a[p[1]] else "-"
        cells = [c, str(t)] + [f(a[e]) for e in engines] + [ra(p) for p in pairs]
        if pairs:
            cells.append(", ".join(ra(p, 1) for p in pairs))
        cells.append(" / ".join("%.1f" % a[e][4] if a[e] and a[e][4] is not None else "-" for e in engines))
        cells.append(" / ".join("%.0f" % a[e][2] if a[e] else "-" for e in engines))
        print("| " + " | ".join(cells) + " |")
print()
print("rounds per cell: %s; raw: %s" % (sorted({a[3] for c in cases for t in threads for e in engines
                                                   for a in [agg(e, c, t)] if a}), sys.argv[1]))
