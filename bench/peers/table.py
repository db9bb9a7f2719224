"""table.py RESULTS.jsonl [LOAD_BEFORE LOAD_AFTER MACHINE]: the table of run.sh from its raw lines."""
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
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
            st.median(r["cpu_ms"] * (r["threads"] if r["engine"] == "jclip" else 1) / r["ms_median"] for r in x) if all("cpu_ms" in r for r in x) else None)
print("machine: %s; load average before %s, after %s" % ((sys.argv[4] if len(sys.argv) > 4 else "?"), (sys.argv[2] if len(sys.argv) > 3 else "?"), (sys.argv[3] if len(sys.argv) > 3 else "?")))
print("engines: jclip (%s), PyTorch %s (torch.inference_mode, set_num_threads), ONNX Runtime %s "
      "(onnxruntime-node, CPU EP, intra-op threads)" % (ver.get("jclip", "?"), ver.get("torch", "?"), ver.get("ort", "?")))
print("peer thread pools: %s" % ("passive waits (OMP_WAIT_POLICY=PASSIVE, ORT allow_spinning=0)"
      if any(r.get("spinning") == 0 for r in rows) else "their defaults (busy-waiting)"))
print("cores busy = process CPU time / wall time of a run (median; jclip reports CPU time per thread): how many cores "
      "an engine kept busy")
print("ms = median over rounds of each process's median (min = fastest single run of all rounds); ratio = jclip/peer on the medians "
      "(and on the mins), < 1: jclip faster")
print()
hdr = ("| case | thr | jclip ms (min) | PyTorch ms (min) | ORT ms (min) | jclip/PyTorch | jclip/ORT "
       "| on mins: jclip/PyTorch, jclip/ORT | cores busy jclip / torch / ORT | peak RSS MB jclip / torch / ORT |")
print(hdr); print("|" + "---|" * (hdr.count("|") - 1))
f = lambda a: "%.1f (%.1f)" % (a[0], a[1]) if a else "-"
for c in cases:
    for t in threads:
        j, p, o = agg("jclip", c, t), agg("torch", c, t), agg("ort", c, t)
        ra = lambda x, k=0: "%.2f" % (j[k] / x[k]) if j and x else "-"
        rss = " / ".join("%.0f" % a[2] if a else "-" for a in (j, p, o))
        busy = " / ".join("%.1f" % a[4] if a and a[4] is not None else "-" for a in (j, p, o))
        print("| %s | %d | %s | %s | %s | %s | %s | %s, %s | %s | %s |" % (c, t, f(j), f(p), f(o), ra(p), ra(o),
                                                                     ra(p, 1), ra(o, 1), busy, rss))
print()
print("rounds per cell: %s; raw: %s" % (sorted({a[3] for c in cases for t in threads for e in ("jclip", "torch", "ort")
                                                   for a in [agg(e, c, t)] if a}), sys.argv[1]))
