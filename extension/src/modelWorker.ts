// The local model's thread: decoding is synchronous WebAssembly, so it runs here, never on the
// extension host's event loop. One request at a time, in order, except that the editor's requests
// replace its own waiting ones (it has moved on), so a burst of keystrokes costs one completion,
// not a queue of them; a chat answer is never replaced by the editor's, nor a completion by a
// prompt prepared ahead of time.
import { readFileSync } from 'fs';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import type * as Core from '../../out/wasm/hapa_wasm';
import type { LocalRequest, LocalAnswer } from './localModel';

// The build the host chose (`coreBuild` in localModel.ts): the one with relaxed SIMD where the
// engine runs it.
const core = (
    workerData.core === 'wasm-relaxed' ? require('./wasm-relaxed/hapa_wasm.js') : require('./wasm/hapa_wasm.js')
) as typeof Core;
const modelDir: string = workerData.modelDir;

let model: Core.LocalModel | undefined;
let waiting: LocalRequest[] = [];
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
    while (waiting.length > 0) {
        const request = waiting.shift()!;
        const started = performance.now();
        let answer: LocalAnswer;
        try {
            if (request.kind === 'prepare') {
                const tokens = load().prepareLine(request.prefix, request.suffix, request.maxTokens);
                answer = { id: request.id, prepared: tokens, ms: performance.now() - started };
            } else if (request.kind === 'line') {
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

/** Whether `newer` makes `older`, still waiting, pointless. */
function replaces(newer: LocalRequest, older: LocalRequest): boolean {
    return newer.kind === 'answer' ? older.kind === 'answer' : older.kind !== 'answer';
}

parentPort?.on('message', (request: LocalRequest) => {
    if (request.kind === 'prepare' && waiting.some((older) => older.kind === 'line')) {
        parentPort?.postMessage({ id: request.id, superseded: true } satisfies LocalAnswer);
        return;
    }
    const kept: LocalRequest[] = [];
    for (const older of waiting) {
        if (replaces(request, older)) {
            parentPort?.postMessage({ id: older.id, superseded: true } satisfies LocalAnswer);
        } else {
            kept.push(older);
        }
    }
    waiting = [...kept, request];
    if (busy) return;
    busy = true;
    // Let messages already queued arrive first, so only the newest of a burst is decoded.
    setImmediate(() => {
        drain();
        busy = false;
    });
});
