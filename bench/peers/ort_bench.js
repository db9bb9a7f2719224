// ort_bench.js: ONNX Runtime (CPU, onnxruntime-node) peer benchmark for jclip.
// Peer benchmark only: nothing here is part of the jclip library or its tests.
//
//   node ort_bench.js bench ONNX_DIR --case text-8 --threads 1 [--repeat N] [--warmup N] [--engine ort]
//   node ort_bench.js verify ONNX_DIR GOLDEN_DIR        # exported graphs vs the goldens
//   node ort_bench.js compare REF_DIR TEST_DIR GOLDEN_DIR
//                                                       # TEST (e.g. the int8 rewrite) vs REF (fp32)
//
// ONNX_DIR holds text.onnx (input_ids int64 [batch, seq]) and vision.onnx (pixel_values float32
// [batch, 3, 224, 224]) written by `jina_clip_torch.py export` or `clip_torch.py export` (or their
// int8 rewrite by quantize_onnx.py); both output `embedding` [batch, D], L2-normalised. An optional
// meta.json there names the family's special ids (CLIP: vocab 49408, <|startoftext|> 49406,
// <|endoftext|> 49407; default jina-clip-v1: 30528, [CLS] 101, [SEP] 102) and which golden files
// hold normalised vectors (golden_suffix "_norm": text_emb_norm.npy, pixels_emb_norm.npy).
// Cases are those of `jclip bench`: random in-vocabulary ids framed by the start/end ids (timing
// depends only on the shape) and random normalised-range pixels. One line of JSON out.
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

function readMeta(dir) { // the family's special ids; jina-clip-v1 when there is no meta.json
  const def = { family: 'jina-clip-v1', vocab: 30528, bos: 101, eos: 102, max_tokens: 8192, golden_suffix: '' };
  const f = path.join(dir, 'meta.json');
  return fs.existsSync(f) ? Object.assign(def, JSON.parse(fs.readFileSync(f, 'utf8'))) : def;
}

function caseInput(name, meta) {
  let m = /^text-(\d+)(?:x(\d+))?$/.exec(name);
  if (m) {
    const L = +m[1], B = m[2] ? +m[2] : 1;
    if (L > meta.max_tokens) throw new Error(`${name}: ${meta.family} takes at most ${meta.max_tokens} tokens`);
    const ids = new BigInt64Array(B * L);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) ids[b * L + i] = BigInt(1000 + (rand() % (meta.vocab - 1008)));
      ids[b * L] = BigInt(meta.bos);
      ids[b * L + L - 1] = BigInt(meta.eos);
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
  const engine = arg('--engine', 'ort');
  const c = caseInput(name, readMeta(dir));
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
    engine, case: name, threads, ms_median: +med.toFixed(3), ms_min: +times[0].toFixed(3), runs: n,
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

function cosines(got, want, D) { // per row: cosine, and the largest |difference| of all rows
  const n = want.length / D, cos = [];
  let maxDiff = 0;
  for (let r = 0; r < n; r++) {
    let dot = 0, ng = 0, nw = 0;
    for (let j = 0; j < D; j++) {
      const g = got[r * D + j], w = want[r * D + j];
      dot += g * w, ng += g * g, nw += w * w;
      maxDiff = Math.max(maxDiff, Math.abs(g - w));
    }
    cos.push(dot / Math.sqrt(ng * nw));
  }
  return { cos, maxDiff, min: Math.min(...cos), mean: cos.reduce((a, b) => a + b, 0) / n };
}

function compare(label, got, want, D) {
  const c = cosines(got, want, D);
  console.log(`${label.padEnd(24)} n=${c.cos.length}  min cos ${c.min.toFixed(8)}  max|diff| ${c.maxDiff.toExponential(2)}`);
  return c.min >= 0.99999 && c.maxDiff <= 1e-4;
}

// The golden inputs through the graphs of `dir`: the texts as one padded batch (id 0 after the
// end) and one by one, the pixel tensors as one batch and one by one.
async function embedGoldens(dir, gold) {
  const texts = fs.readFileSync(path.join(gold, 'texts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).ids);
  const st = await session(dir, 'text', 2);
  const L = Math.max(...texts.map((t) => t.length));
  const ids = new BigInt64Array(texts.length * L); // padded batch, id 0 = padding
  texts.forEach((t, r) => t.forEach((v, i) => { ids[r * L + i] = BigInt(v); }));
  const batched = (await st.run({ input_ids: new ort.Tensor('int64', ids, [texts.length, L]) })).embedding.data;
  const D = batched.length / texts.length;
  const single = new Float32Array(texts.length * D);
  for (let r = 0; r < texts.length; r++) {
    const o = await st.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(texts[r].map(BigInt)), [1, texts[r].length]) });
    single.set(o.embedding.data, r * D);
  }
  const px = readNpy(path.join(gold, 'pixels.npy'));
  const sv = await session(dir, 'vision', 2);
  const imgBatch = (await sv.run({ pixel_values: new ort.Tensor('float32', px.data, px.shape) })).embedding.data;
  const per = px.data.length / px.shape[0], imgSingle = new Float32Array(px.shape[0] * D);
  for (let r = 0; r < px.shape[0]; r++) {
    const t = new ort.Tensor('float32', px.data.slice(r * per, (r + 1) * per), [1, ...px.shape.slice(1)]);
    imgSingle.set((await sv.run({ pixel_values: t })).embedding.data, r * D);
  }
  return { D, batched, single, imgBatch, imgSingle };
}

async function verify() {
  const dir = process.argv[3], gold = process.argv[4];
  const sfx = readMeta(dir).golden_suffix;
  const wantT = readNpy(path.join(gold, `text_emb${sfx}.npy`)), wantV = readNpy(path.join(gold, `pixels_emb${sfx}.npy`));
  const e = await embedGoldens(dir, gold);
  let ok = compare('text batched (padded)', e.batched, wantT.data, e.D);
  ok = compare('text one by one', e.single, wantT.data, e.D) && ok;
  ok = compare('image (pixels.npy)', e.imgBatch, wantV.data, e.D) && ok;
  console.log(ok ? 'PASS' : 'FAIL');
  process.exitCode = ok ? 0 : 1;
}

// TEST_DIR (the int8 rewrite) against REF_DIR (its fp32 export) on the golden inputs, each way of
// running them against the same way in fp32, plus TEST's own batched-vs-alone consistency.
async function compareDirs() {
  const [ref, test, gold] = process.argv.slice(3, 6);
  const a = await embedGoldens(ref, gold), b = await embedGoldens(test, gold);
  const line = (label, got, want) => {
    const c = cosines(got, want, a.D);
    console.log(`${label.padEnd(44)} n=${String(c.cos.length).padStart(2)}  min cos ${c.min.toFixed(6)}  mean ${c.mean.toFixed(6)}`);
  };
  console.log(`${test} vs ${ref} (golden inputs of ${gold})`);
  line('texts one by one', b.single, a.single);
  line('texts as one padded batch', b.batched, a.batched);
  line('images one by one', b.imgSingle, a.imgSingle);
  line('images as one batch', b.imgBatch, a.imgBatch);
  line('test alone vs in the batch: texts', b.batched, b.single);
  line('test alone vs in the batch: images', b.imgBatch, b.imgSingle);
}

const cmd = process.argv[2];
(cmd === 'bench' ? bench() : cmd === 'verify' ? verify() : cmd === 'compare' ? compareDirs()
  : Promise.reject(new Error('usage: see the header of ort_bench.js')))
  .catch((e) => { console.error(e.message || e); process.exit(1); });
