// The local model's thread: decoding is synchronous WebAssembly, so it runs here, never on the
// extension host's event loop. One request at a time; a newer request replaces a waiting one
// (the editor has moved on), so a burst of keystrokes costs one completion, not a queue of them.
import { readFileSync } from 'fs';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import type * as Core from '../../out/wasm/hapa_wasm';
import type { LocalRequest, LocalAnswer } from './localModel';

const core = require('./wasm/hapa_wasm.js') as typeof Core;
const modelDir: string = workerData.modelDir;

let model: Core.LocalModel | undefined;
let waiting: LocalRequest | undefined;
let busy = false;

function load(): Core.LocalModel {
    model ??= new core.LocalModel(
        readFileSync(path.join(modelDir, 'hapa-code.onnx')),
        readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8'),
        readFileSync(path.join(modelDir, 'hapa-code.json'), 'utf8'),
    );
    return model;
}

function drain(): void {
    while (waiting) {
        const request = waiting;
        waiting = undefined;
        const started = performance.now();
        let answer: LocalAnswer;
        try {
            if (request.kind === 'line') {
                const completion = load().completeLine(request.prefix, request.suffix, request.maxTokens);
                answer = { id: request.id, text: completion.text, ms: performance.now() - started };
            } else {
                const stop = new Int32Array(request.stop);
                const completion = load().answer(request.question, request.context, request.maxTokens, (text) => {
                    parentPort?.postMessage({ id: request.id, delta: text } satisfies LocalAnswer);
                    return Atomics.load(stop, 0) === 0;
                });
                answer = { id: request.id, text: completion.text, ms: performance.now() - started };
            }
        } catch (error) {
            answer = { id: request.id, error: error instanceof Error ? error.message : String(error) };
        }
        parentPort?.postMessage(answer);
    }
}

parentPort?.on('message', (request: LocalRequest) => {
    if (waiting) parentPort?.postMessage({ id: waiting.id, superseded: true } satisfies LocalAnswer);
    waiting = request;
    if (busy) return;
    busy = true;
    // Let messages already queued arrive first, so only the newest of a burst is decoded.
    setImmediate(() => {
        drain();
        busy = false;
    });
});
