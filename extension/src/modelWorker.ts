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

declare const WebAssembly: { validate(bytes: Uint8Array): boolean }; // not in the ES2022 library

// The smallest module that uses relaxed SIMD (one fused multiply-add of its three arguments):
// where the engine accepts it (VS Code's Electron does; Node 20 only behind a flag), the worker
// loads the core built with relaxed SIMD, whose matrix kernels multiply and add in one step.
const RELAXED_SIMD_PROBE = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1,
    32, 2, 253, 133, 2, 11,
]);
const core = (
    WebAssembly.validate(RELAXED_SIMD_PROBE) ? require('./wasm-relaxed/hapa_wasm.js') : require('./wasm/hapa_wasm.js')
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
