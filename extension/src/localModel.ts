// The bundled model (models/ inside the installed extension), run by the Rust core in a worker
// thread. Started on first use, so activation stays cheap and a user who never needs the local
// model never pays for loading it.
import * as path from 'path';
import * as vscode from 'vscode';
import { Worker } from 'worker_threads';

declare const WebAssembly: { validate(bytes: Uint8Array): boolean }; // not in the ES2022 library

// The smallest module that uses relaxed SIMD (one fused multiply-add of its three arguments).
const RELAXED_SIMD_PROBE = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1,
    32, 2, 253, 133, 2, 11,
]);

/**
 * The build of the Rust core the model worker loads: `out/wasm-relaxed`, whose matrix kernels
 * multiply and add in one fused step, where the engine accepts the probe (VS Code's Electron
 * does; Node 20, so code-server, only with --experimental-wasm-relaxed-simd), else `out/wasm`.
 * V8's flags are the process's, so the worker's answer is the same as this thread's.
 */
export function coreBuild(): 'wasm-relaxed' | 'wasm' {
    return WebAssembly.validate(RELAXED_SIMD_PROBE) ? 'wasm-relaxed' : 'wasm';
}

/** The rest of a line at the cursor (inline completions). */
export interface LineRequest {
    kind: 'line';
    id: number;
    prefix: string;
    suffix: string;
    maxTokens: number;
}

/** A line completion's prompt at a cursor that came to rest, computed ahead of its keystroke. */
export interface PrepareRequest {
    kind: 'prepare';
    id: number;
    prefix: string;
    suffix: string;
    maxTokens: number;
}

/** A chat answer written offline; `stop` is a shared flag the host sets to 1 to stop decoding. */
export interface AnswerRequest {
    kind: 'answer';
    id: number;
    question: string;
    context: string | undefined;
    maxTokens: number;
    stop: SharedArrayBuffer;
}

export type LocalRequest = LineRequest | PrepareRequest | AnswerRequest;

export type LocalAnswer =
    | { id: number; text: string; ms: number }
    | { id: number; prepared: number; ms: number }
    | { id: number; delta: string }
    | { id: number; error: string }
    | { id: number; superseded: true };

export class LocalModel implements vscode.Disposable {
    private worker: Worker | undefined;
    private nextId = 1;
    private readonly pending = new Map<number, (answer: LocalAnswer) => void>();
    private readonly deltas = new Map<number, (text: string) => void>();

    constructor(private readonly extensionUri: vscode.Uri, private readonly log: vscode.LogOutputChannel) {}

    /** The rest of the line at the cursor; '' when superseded or cancelled. */
    async complete(prefix: string, suffix: string, maxTokens: number, token: vscode.CancellationToken): Promise<{ text: string; ms: number }> {
        const worker = this.start();
        const id = this.nextId++;
        const answer = await new Promise<LocalAnswer>((resolve) => {
            this.pending.set(id, resolve);
            token.onCancellationRequested(() => {
                this.pending.delete(id);
                resolve({ id, superseded: true });
            });
            worker.postMessage({ kind: 'line', id, prefix, suffix, maxTokens } satisfies LocalRequest);
        });
        if ('error' in answer) throw new Error(answer.error);
        if ('superseded' in answer) return { text: '', ms: 0 };
        if (!('text' in answer)) throw new Error('the local model answered a line with something else');
        return answer;
    }

    /**
     * Computes the prompt of a completion at the cursor ahead of time (the cursor came to rest
     * somewhere new), so the completion at the next keystroke computes only what it adds.
     * Resolves with the prompt tokens computed, or undefined when a completion came first.
     */
    async prepare(prefix: string, suffix: string, maxTokens: number): Promise<{ tokens: number; ms: number } | undefined> {
        const worker = this.start();
        const id = this.nextId++;
        const answer = await new Promise<LocalAnswer>((resolve) => {
            this.pending.set(id, resolve);
            worker.postMessage({ kind: 'prepare', id, prefix, suffix, maxTokens } satisfies LocalRequest);
        });
        if ('error' in answer) throw new Error(answer.error);
        return 'prepared' in answer ? { tokens: answer.prepared, ms: answer.ms } : undefined;
    }

    /**
     * A chat answer from the bundled model: `onDelta` sees each piece as it is decoded; `signal`
     * stops decoding between tokens. Resolves with the whole code.
     */
    async answer(question: string, context: string | undefined, maxTokens: number, onDelta: (text: string) => void, signal: AbortSignal): Promise<{ text: string; ms: number }> {
        const worker = this.start();
        const id = this.nextId++;
        const stop = new SharedArrayBuffer(4);
        const onAbort = () => Atomics.store(new Int32Array(stop), 0, 1);
        signal.addEventListener('abort', onAbort);
        try {
            const answer = await new Promise<LocalAnswer>((resolve) => {
                this.pending.set(id, resolve);
                this.deltas.set(id, onDelta);
                worker.postMessage({ kind: 'answer', id, question, context, maxTokens, stop } satisfies LocalRequest);
            });
            if ('error' in answer) throw new Error(answer.error);
            if ('superseded' in answer) throw new Error('the local model was busy with a newer request; ask again');
            if (!('text' in answer)) throw new Error('the local model answered a question with something else');
            return answer;
        } finally {
            signal.removeEventListener('abort', onAbort);
            this.deltas.delete(id);
        }
    }

    dispose(): void {
        void this.worker?.terminate();
        this.worker = undefined;
    }

    private start(): Worker {
        if (this.worker) return this.worker;
        const out = path.join(this.extensionUri.fsPath, 'out');
        const core = coreBuild();
        const worker = new Worker(path.join(out, 'model-worker.js'), {
            workerData: { modelDir: path.join(this.extensionUri.fsPath, 'models'), core },
        });
        worker.on('message', (answer: LocalAnswer) => {
            if ('delta' in answer) {
                this.deltas.get(answer.id)?.(answer.delta);
                return;
            }
            const resolve = this.pending.get(answer.id);
            this.pending.delete(answer.id);
            resolve?.(answer);
        });
        worker.on('error', (error) => {
            this.log.error(`HAPA local model stopped: ${error.message}`);
            for (const [id, resolve] of this.pending) resolve({ id, error: error.message });
            this.pending.clear();
            this.worker = undefined;
        });
        this.log.info(`HAPA local model: worker started (core: out/${core})`);
        this.worker = worker;
        return worker;
    }
}
