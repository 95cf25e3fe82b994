// What the editor asks of the core, timed in the WebAssembly build under Node, on the 5,000-line
// module written by `cargo run --release -p hapa-core --example bench_editor` (run that first):
//   node tests/bench/editor.mjs [SERVER_URL API_KEY]
// Prints validation and prompt collection (min / p50 / p95 ms), then inline-completion latency
// at distinct cursors, each prompt collected as the extension collects it: from the local model
// in WebAssembly and, given a server and a key, from `POST /api/v1/code/complete`.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { loadLocalModel, root } from '../model/local-model.mjs';

const [serverUrl, apiKey] = process.argv.slice(2);
const file = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'bench', 'editor-5000.py');
const WARM_UPS = 3;
const RUNS = 30;
const COMPLETIONS = 40;
/** The extension's CONTEXT_TOKENS and default `hapa.completions.maxTokens`. */
const CONTEXT_TOKENS = 2_500;
const MAX_TOKENS = 32;

const core = createRequire(import.meta.url)(join(root, 'out', 'wasm', 'hapa_wasm.js'));
const source = readFileSync(file, 'utf8');
const lines = source.split('\n');
const lineStart = (index) => lines.slice(0, index).reduce((sum, line) => sum + line.length + 1, 0);
const indentation = (line) => line.length - line.trimStart().length;

const percentile = (sorted, q) => sorted[Math.round((sorted.length - 1) * q)];
const row = (label, name, ms) => {
    const sorted = [...ms].sort((a, b) => a - b);
    const cells = [sorted[0], percentile(sorted, 0.5), percentile(sorted, 0.95)].map((v) => v.toFixed(2).padStart(6));
    console.log(`${label.padEnd(11)} ${name.padEnd(58)} ${cells.join('    ')}`);
};
const time = (operation) => {
    const started = performance.now();
    operation();
    return performance.now() - started;
};
const repeat = (operation) => {
    for (let i = 0; i < WARM_UPS; i++) operation();
    return Array.from({ length: RUNS }, () => time(operation));
};

// The same cursor as the native example: after the indentation of the middle line.
const middle = (lines.length - 1) / 2; // the file ends with a newline
const cursor = lineStart(middle) + indentation(lines[middle]);
const before = source.slice(0, cursor);
const after = source.slice(cursor);
if (core.validatePython(source).length !== 0) throw new Error(`${file} does not parse; rerun the native example`);
console.log(`${file} (${lines.length - 1} lines); cursor at offset ${cursor}`);
console.log(`            ${'operation'.padEnd(58)} min ms    p50 ms    p95 ms`);
row('WASM', 'validatePython', repeat(() => core.validatePython(source)));
row('WASM', 'completionPrompt', repeat(() => core.completionPrompt(before, after, undefined, {}, CONTEXT_TOKENS)));

// Cursors in the middle of non-blank lines spread over the file: every prompt differs, so the
// server's response cache never answers. The first WARM_UPS load the models.
const cursors = [];
for (let index = 100; cursors.length < WARM_UPS + COMPLETIONS; index += 97) {
    const line = lines[index % lines.length];
    if (line.trim().length < 8) continue;
    const start = lineStart(index % lines.length) + indentation(line);
    cursors.push(start + Math.floor((line.length - indentation(line)) / 2));
}
const prompt = (at) => core.completionPrompt(source.slice(0, at), source.slice(at), undefined, {}, CONTEXT_TOKENS);

const model = loadLocalModel();
const local = [];
for (const [n, at] of cursors.entries()) {
    // Cold: nothing of the previous completion's cache is reused.
    model.forgetPrompt();
    const ms = time(() => {
        const { prefix, suffix } = prompt(at);
        model.completeLine(prefix, suffix, MAX_TOKENS);
    });
    if (n >= WARM_UPS) local.push(ms);
}
row('local/WASM', `inline completion (${MAX_TOKENS} tokens max)`, local);

/**
 * Each cursor's keystroke timed after `before(prefix, suffix)` ran on the prompt of the keystroke
 * before it, with nothing else held.
 */
const afterTheKeystrokeBefore = (before) => {
    const ms = [];
    for (const [n, at] of cursors.entries()) {
        model.forgetPrompt();
        const earlier = prompt(at - 1);
        before(earlier.prefix, earlier.suffix);
        const elapsed = time(() => {
            const { prefix, suffix } = prompt(at);
            model.completeLine(prefix, suffix, MAX_TOKENS);
        });
        if (n >= WARM_UPS) ms.push(elapsed);
    }
    return ms;
};

// Typing: the keystroke before the cursor was completed first, as the extension's worker does
// while someone types; its key/value cache is reused for the shared start of the prompt.
const typing = afterTheKeystrokeBefore((prefix, suffix) => model.completeLine(prefix, suffix, MAX_TOKENS));
row('local/WASM', `inline completion while typing (${MAX_TOKENS} tokens max)`, typing);

// After a move: the extension prepares the prompt where the cursor came to rest (prepareLine),
// and the first keystroke there is completed from it.
const moved = afterTheKeystrokeBefore((prefix, suffix) => model.prepareLine(prefix, suffix, MAX_TOKENS));
row('local/WASM', `inline completion after a move, prepared (${MAX_TOKENS} tokens max)`, moved);

if (serverUrl && apiKey) {
    const remote = [];
    let cacheHits = 0;
    for (const [n, at] of cursors.entries()) {
        const started = performance.now();
        const { prefix, suffix } = prompt(at);
        const response = await fetch(`${serverUrl}/api/v1/code/complete`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-API-Key': apiKey },
            body: JSON.stringify({ prefix, suffix, language: 'python', max_tokens: MAX_TOKENS }),
        });
        const body = await response.text();
        if (!response.ok) throw new Error(`${serverUrl} answered ${response.status}: ${body}`);
        if (n >= WARM_UPS) remote.push(performance.now() - started);
        cacheHits += response.headers.get('x-hapa-cache') === 'hit' ? 1 : 0;
    }
    if (cacheHits) throw new Error(`${cacheHits} answers came from the server's cache; the prompts must differ`);
    row('server', `inline completion (${MAX_TOKENS} tokens max)`, remote);
}
console.log(`(${RUNS} runs after ${WARM_UPS} warm-ups; completions: ${COMPLETIONS} distinct cursors, prompt collection included)`);
