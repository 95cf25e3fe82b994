// The same prompts decode to the same tokens in WebAssembly (under Node) as natively
// (crates/hapa-model/tests/parity.rs) and in PyTorch (models/export.py wrote the vectors).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { loadLocalModel, root } from './local-model.mjs';

const modelDir = process.env.HAPA_MODEL_DIR ?? join(root, 'models');
const model = loadLocalModel(modelDir);

test('greedy tokens in WASM equal the trainer\'s for every parity prompt', () => {
    const vectors = JSON.parse(readFileSync(join(modelDir, 'parity.json'), 'utf8'));
    assert.ok(vectors.length > 0);
    for (const vector of vectors) {
        const tokens = Array.from(model.greedyTokens(Uint32Array.from(vector.prompt), vector.greedy.length));
        assert.deepEqual(tokens, vector.greedy, `prefix ${JSON.stringify(vector.prefix)}`);
    }
});

test('a line completion in WASM is text that keeps the module parseable', () => {
    const completion = model.completeLine('def area(width, height):\n    return width', '\n', 24);
    assert.equal(typeof completion.text, 'string');
    assert.ok(!completion.text.includes('\n'), JSON.stringify(completion));
    assert.ok(completion.prompt_tokens > 5 && completion.generated_tokens >= 1, JSON.stringify(completion));
});

test('a prompt prepared in WASM while the cursor rests is reused by the next keystroke', () => {
    const file = 'import os\n\n\ndef read_config(directory):\n    path = os.path.join(directory, "config.ini")\n    with open(';
    model.forgetPrompt();
    const prepared = model.prepareLine(file, '\n', 16);
    assert.ok(prepared > 20, `prepared ${prepared} tokens`);
    const warm = model.completeLine(`${file}p`, '\n', 16);
    model.forgetPrompt();
    const cold = model.completeLine(`${file}p`, '\n', 16);
    assert.equal(warm.text, cold.text);
    assert.equal(cold.reused_prompt_tokens, 0);
    assert.ok(warm.reused_prompt_tokens + 3 >= warm.prompt_tokens, JSON.stringify(warm));
});
