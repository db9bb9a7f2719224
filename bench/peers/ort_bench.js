// ort_bench.js: ONNX Runtime (CPU, onnxruntime-node) peer benchmark for jclip.
// Peer benchmark only: nothing here is part of the jclip library or its tests.
//
//   node ort_bench.js bench ONNX_DIR --case text-8 --threads 1 [--repeat N] [--warmup N]
//   node ort_bench.js verify ONNX_DIR GOLDEN_DIR        # exported graphs vs the goldens
//
// ONNX_DIR holds text.onnx (input_ids int64 [batch, seq]) and vision.onnx (pixel_values float32
// [batch, 3, 224, 224]) written by `jina_clip_torch.py export`; both output `embedding` [batch, D],
// L2-normalised. Cases are those of `jclip bench`: random in-vocabulary ids framed by [CLS]/[SEP]
// (timing depends only on the shape) and random normalised-range pixels. One line of JSON out.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

let seed = 2024 >>> 0; // same LCG as cli/bench.c (values differ from it; only shapes matter)
function rand() {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed >>> 8;
}

function caseInput(name) {
  let m = /^text-(\d+)(?:x(\d+))?$/.exec(name);
  if (m) {
    const L = +m[1], B = m[2] ? +m[2] : 1;
    const ids = new BigInt64Array(B * L);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) ids[b * L + i] = BigInt(1000 + (rand() % (30528 - 1008)));
      ids[b * L] = 101n;
      ids[b * L + L - 1] = 102n;
    }
    return { tower: 'text', feeds: { input_ids: new ort.Tensor('int64', ids, [B, L]) } };
  }
  m = /^image-(\d+)$/.exec(name);
  if (m) {
    const B = +m[1], n = B * 3 * 224 * 224;
    const px = new Float32Array(n);
    for (let i = 0; i < n; i++) px[i] = (rand() % 4096) / 1024 - 2;
    return { tower: 'vision', feeds: { pixel_values: new ort.Tensor('float32', px, [B, 3, 224, 224]) } };
  }
  throw new Error('unknown case ' + name);
}

async function session(dir, tower, threads) {
  return ort.InferenceSession.create(path.join(dir, tower + '.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT_SPIN=0 turns off the intra-op pool's busy-waiting (ORT's default is on)
    extra: { session: { intra_op: { allow_spinning: process.env.ORT_SPIN === '0' ? '0' : '1' } } },
  });
}

async function bench() {
  const dir = process.argv[3];
  const name = arg('--case');
  const threads = +arg('--threads', '1');
  const repeat = +arg('--repeat', '0');
  const warmup = +arg('--warmup', '1');
  const c = caseInput(name);
  const s = await session(dir, c.tower, threads);
  for (let w = 0; w < warmup; w++) await s.run(c.feeds);
  const times = [], cpus = [];
  let want = repeat;
  for (;;) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    await s.run(c.feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c1 = process.cpuUsage(c0); // process CPU time (all threads), microseconds
    cpus.push((c1.user + c1.system) / 1e3);
    if (!want) want = Math.max(3, Math.min(50, Math.floor(2000 / times[0])));
    if (times.length >= want) break;
  }
  const median = (v) => {
    v.sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : 0.5 * (v[v.length / 2 - 1] + v[v.length / 2]);
  };
  const n = times.length;
  const med = median(times), cpu = median(cpus);
  console.log(JSON.stringify({
    engine: 'ort', case: name, threads, ms_median: +med.toFixed(3), ms_min: +times[0].toFixed(3), runs: n,
    cpu_ms: +cpu.toFixed(3),
    peak_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1), version: ort.env.versions.node,
    spinning: process.env.ORT_SPIN === '0' ? 0 : 1,
  }));
}

function readNpy(file) { // little-endian float32, C order
  const buf = fs.readFileSync(file);
  const v1 = buf[6] === 1; // magic "\x93NUMPY", major, minor, then header length (u16 v1, u32 v2+)
  const hlen = v1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = (v1 ? 10 : 12) + hlen;
  const hdr = buf.toString('latin1', v1 ? 10 : 12, off);
  if (!/'descr': '<f4'/.test(hdr) || /'fortran_order': True/.test(hdr)) throw new Error(file + ': want <f4 C order');
  const shape = /'shape': \(([^)]*)\)/.exec(hdr)[1].split(',').filter((x) => x.trim()).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { shape, data };
}

function compare(label, got, want, D) {
  let minCos = 1, maxDiff = 0;
  const n = want.length / D;
  for (let r = 0; r < n; r++) {
    let dot = 0, ng = 0, nw = 0;
    for (let j = 0; j < D; j++) {
      const g = got[r * D + j], w = want[r * D + j];
      dot += g * w, ng += g * g, nw += w * w;
      maxDiff = Math.max(maxDiff, Math.abs(g - w));
    }
    minCos = Math.min(minCos, dot / Math.sqrt(ng * nw));
  }
  console.log(`${label.padEnd(24)} n=${n}  min cos ${minCos.toFixed(8)}  max|diff| ${maxDiff.toExponential(2)}`);
  return minCos >= 0.99999 && maxDiff <= 1e-4;
}

async function verify() {
  const dir = process.argv[3], gold = process.argv[4];
  let ok = true;
  const texts = fs.readFileSync(path.join(gold, 'texts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).ids);
  const wantT = readNpy(path.join(gold, 'text_emb.npy'));
  const D = wantT.shape[1];
  const st = await session(dir, 'text', 2);
  const L = Math.max(...texts.map((t) => t.length));
  const ids = new BigInt64Array(texts.length * L); // padded batch, id 0 = padding
  texts.forEach((t, r) => t.forEach((v, i) => { ids[r * L + i] = BigInt(v); }));
  let out = await st.run({ input_ids: new ort.Tensor('int64', ids, [texts.length, L]) });
  ok = compare('text batched (padded)', out.embedding.data, wantT.data, D) && ok;
  const single = new Float32Array(texts.length * D);
  for (let r = 0; r < texts.length; r++) {
    const o = await st.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(texts[r].map(BigInt)), [1, texts[r].length]) });
    single.set(o.embedding.data, r * D);
  }
  ok = compare('text one by one', single, wantT.data, D) && ok;
  const px = readNpy(path.join(gold, 'pixels.npy'));
  const wantV = readNpy(path.join(gold, 'pixels_emb.npy'));
  const sv = await session(dir, 'vision', 2);
  out = await sv.run({ pixel_values: new ort.Tensor('float32', px.data, px.shape) });
  ok = compare('image (pixels.npy)', out.embedding.data, wantV.data, D) && ok;
  console.log(ok ? 'PASS' : 'FAIL');
  process.exitCode = ok ? 0 : 1;
}

const cmd = process.argv[2];
(cmd === 'bench' ? bench() : cmd === 'verify' ? verify() : Promise.reject(new Error('usage: see the header of ort_bench.js')))
  .catch((e) => { console.error(e.message || e); process.exit(1); });
