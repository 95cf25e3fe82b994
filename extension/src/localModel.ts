// The bundled model (models/ inside the installed extension), run by the Rust core in a worker
// thread. Started on first use, so activation stays cheap and a user who never needs the local
// model never pays for loading it.
import * as path from 'path';
import * as vscode from 'vscode';
import { Worker } from 'worker_threads';

export interface LocalRequest {
    id: number;
    prefix: string;
    suffix: string;
    maxTokens: number;
}

export type LocalAnswer =
    | { id: number; text: string; ms: number }
    | { id: number; error: string }
    | { id: number; superseded: true };

export class LocalModel implements vscode.Disposable {
    private worker: Worker | undefined;
    private nextId = 1;
    private readonly pending = new Map<number, (answer: LocalAnswer) => void>();

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
            worker.postMessage({ id, prefix, suffix, maxTokens } satisfies LocalRequest);
        });
        if ('error' in answer) throw new Error(answer.error);
        if ('superseded' in answer) return { text: '', ms: 0 };
        return answer;
    }

    dispose(): void {
        void this.worker?.terminate();
        this.worker = undefined;
    }

    private start(): Worker {
        if (this.worker) return this.worker;
        const out = path.join(this.extensionUri.fsPath, 'out');
        const worker = new Worker(path.join(out, 'model-worker.js'), {
            workerData: { modelDir: path.join(this.extensionUri.fsPath, 'models') },
        });
        worker.on('message', (answer: LocalAnswer) => {
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
        this.log.info('HAPA local model: worker started');
        this.worker = worker;
        return worker;
    }
}
