// The extension's model worker (out/model-worker.js, built by `cargo xtask dist`) with the
// bundled model: the editor's newest request replaces its waiting ones, a prompt prepared ahead
// of time never replaces a waiting completion, and a chat answer is never replaced.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { Worker } from 'node:worker_threads';
import { root } from './local-model.mjs';

const file = 'import os\n\n\ndef read_config(directory):\n    path = os.path.join(directory, "config.ini")\n    with open(';

test('the model worker answers the newest editor request and every chat question', async (t) => {
    const worker = new Worker(join(root, 'out', 'model-worker.js'), {
        workerData: { modelDir: process.env.HAPA_MODEL_DIR ?? join(root, 'models') },
    });
    t.after(() => worker.terminate());
    const waiting = new Map();
    worker.on('message', (answer) => {
        if (!('delta' in answer)) waiting.get(answer.id)?.(answer);
    });
    const send = (request) => new Promise((resolve) => {
        waiting.set(request.id, resolve);
        worker.postMessage(request);
    });
    const line = (id, prefix) => send({ kind: 'line', id, prefix, suffix: '\n', maxTokens: 12 });
    const prepare = (id, prefix) => send({ kind: 'prepare', id, prefix, suffix: '\n', maxTokens: 12 });

    // Sent together, as a chat question and a burst of keystrokes arrive while the worker is busy.
    const [question, first, prepared, last] = await Promise.all([
        send({ kind: 'answer', id: 1, question: 'Read a file.', context: undefined, maxTokens: 12, stop: new SharedArrayBuffer(4) }),
        line(2, `${file}p`),
        prepare(3, `${file}pa`),
        line(4, `${file}pat`),
    ]);
    assert.equal(typeof question.text, 'string', `the chat answer is not replaced: ${JSON.stringify(question)}`);
    assert.deepEqual(first, { id: 2, superseded: true }, 'a newer keystroke replaces a waiting completion');
    assert.deepEqual(prepared, { id: 3, superseded: true }, 'a prepared prompt does not replace a waiting completion');
    assert.equal(typeof last.text, 'string', JSON.stringify(last));

    // Alone, a prepared prompt is computed: everything but what `last` already holds of it.
    const rest = await prepare(5, `${file}path`);
    assert.ok(rest.prepared >= 1 && rest.prepared < 10, JSON.stringify(rest));
    const elsewhere = await prepare(6, 'class Stack:\n    def push(self, item):\n        self.');
    assert.ok(elsewhere.prepared > 10, JSON.stringify(elsewhere));
    assert.equal(typeof (await line(7, 'class Stack:\n    def push(self, item):\n        self.i')).text, 'string');
});
