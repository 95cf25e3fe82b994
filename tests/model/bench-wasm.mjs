// Latency of the local model in WebAssembly under Node, for `cargo xtask eval-model`:
//   node tests/model/bench-wasm.mjs CASES.jsonl [LIMIT] [REPEATS]
// prints one JSON object: per-case line completions (p50/p95 ms, tokens/s, exact match) over
// the first LIMIT cases, cold and as typing (the previous keystroke completed first, its cache
// reused), and a fixed 512-token prompt + 24-token completion REPEATS times.
import { readFileSync } from 'node:fs';
import { coreBuild, loadLocalModel } from './local-model.mjs';

const [casesPath, limit = '100', repeats = '20'] = process.argv.slice(2);
const percentile = (values, q) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.round((sorted.length - 1) * q)] : 0;
};

const loadStarted = performance.now();
const model = loadLocalModel();
const loadMs = performance.now() - loadStarted;
const cases = readFileSync(casesPath, 'utf8').trim().split('\n').slice(0, Number(limit)).map((l) => JSON.parse(l));
const latencies = [];
let tokens = 0;
let seconds = 0;
let exact = 0;
const colds = [];
for (const c of cases) {
    model.forgetPrompt();
    const started = performance.now();
    const completion = model.completeLine(c.prefix, c.suffix, 32);
    const ms = performance.now() - started;
    latencies.push(ms);
    tokens += completion.generated_tokens;
    seconds += ms / 1000;
    exact += completion.text.trim() === c.target.trim() ? 1 : 0;
    colds.push(completion.text);
}
const typing = [];
let sameAsCold = 0;
cases.forEach((c, index) => {
    model.forgetPrompt();
    model.completeLine([...c.prefix].slice(0, -1).join(''), c.suffix, 32);
    const started = performance.now();
    const completion = model.completeLine(c.prefix, c.suffix, 32);
    typing.push(performance.now() - started);
    sameAsCold += completion.text === colds[index] ? 1 : 0;
});
// As natively: the prompt is tokenized once, before the clock starts.
const longest = cases.reduce((a, b) => (b.prefix.length > a.prefix.length ? b : a));
const prompt = model.fimPrompt(longest.prefix, 509);
const fixed = [];
for (let i = 0; i < Number(repeats); i++) {
    const started = performance.now();
    model.decodeExactly(prompt, 24);
    fixed.push(performance.now() - started);
}
console.log(JSON.stringify({
    build: coreBuild,
    load_ms: loadMs,
    cases: cases.length,
    exact_match: (100 * exact) / cases.length,
    latency_ms: { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95) },
    tokens_per_second: tokens / seconds,
    typing: {
        latency_ms: { p50: percentile(typing, 0.5), p95: percentile(typing, 0.95) },
        same_as_cold: (100 * sameAsCold) / cases.length,
    },
    fixed_512_prompt_24_tokens_ms: { prompt_tokens: prompt.length, p50: percentile(fixed, 0.5), p95: percentile(fixed, 0.95) },
}, null, 1));
