// test/server_clients.mjs: the official clients against `jclip serve`, run by test/t_server.c.
//   NODE_PATH=build/npm/node_modules node test/server_clients.mjs BASE_URL TEXT1 TEXT2 IMG1 IMG2
// Prints one line per vector received, "name<TAB>v0<TAB>v1...", which the C suite compares bit for
// bit with the CLI's (names containing t2 / img1 / img2 say which input it was). Exits non-zero
// when a client call fails. The packages come from .ci/run (npm install --prefix build/npm).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const nm = process.env.NODE_PATH || 'build/npm/node_modules';
const require = createRequire(path.resolve(nm, '..', 'noop.js'));
const openaiMod = require('openai');
const OpenAI = openaiMod.OpenAI || openaiMod.default || openaiMod;
const { createJina } = require('jina-ai-provider');
const { embedMany } = require('ai');

const [base, t1, t2, img1, img2] = process.argv.slice(2);
const show = (name, v) => console.log(name + '\t' + Array.from(v, (x) => String(x)).join('\t'));

const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0 });
// the SDK's default: encoding_format base64, decoded by the SDK into numbers
let r = await client.embeddings.create({ model: 'jina-clip-v1', input: [t1, t2] });
if (r.data.length !== 2 || r.model !== 'jina-clip-v1') throw new Error('openai base64: bad envelope');
show('openai-base64-t1', r.data[0].embedding);
show('openai-base64-t2', r.data[1].embedding);
r = await client.embeddings.create({ model: 'jina-clip-v1', input: t2, encoding_format: 'float' });
show('openai-float-t2', r.data[0].embedding);
console.log('openai usage ' + JSON.stringify(r.usage));

const jina = createJina({ baseURL: base + '/v1', apiKey: 'unused' });
let e = await embedMany({ model: jina.textEmbeddingModel('jina-clip-v1'), values: [t1, t2], maxRetries: 0 });
show('jina-text-t1', e.embeddings[0]);
show('jina-text-t2', e.embeddings[1]);
const b64 = (f) => fs.readFileSync(f).toString('base64');
e = await embedMany({
  model: jina.multiModalEmbeddingModel('jina-clip-v1'),
  values: [{ text: t1 }, { image: b64(img1) }, { image: 'data:image/png;base64,' + b64(img2) }],
  maxRetries: 0,
});
show('jina-mm-t1', e.embeddings[0]);
show('jina-mm-img1', e.embeddings[1]);
show('jina-mm-img2', e.embeddings[2]);
console.log('jina usage ' + JSON.stringify(e.usage));
