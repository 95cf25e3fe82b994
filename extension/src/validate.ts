// Python syntax validation: the Rust core parses, this publishes what it found — live as the
// user types (debounced) and on demand with "HAPA: Validate Python File".
import * as path from 'path';
import * as vscode from 'vscode';
import { hapaCore } from './core';

/** Files larger than this are validated only on demand, so typing never waits on a parse. */
const MAX_LIVE_BYTES = 2 * 1024 * 1024;

export class PythonValidator implements vscode.Disposable {
    private readonly diagnostics = vscode.languages.createDiagnosticCollection('hapa');
    private readonly pending = new Map<string, NodeJS.Timeout>();
    private readonly subscriptions: vscode.Disposable[];

    constructor(private readonly log: vscode.LogOutputChannel) {
        this.subscriptions = [
            vscode.workspace.onDidChangeTextDocument((event) => this.schedule(event.document)),
            vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document)),
            vscode.workspace.onDidCloseTextDocument((document) => this.forget(document)),
            vscode.workspace.onDidChangeConfiguration((event) => {
                if (event.affectsConfiguration('hapa.validation')) this.revalidateOpenDocuments();
            }),
        ];
        this.revalidateOpenDocuments();
    }

    /** "HAPA: Validate Python File": validates now and says what it found. */
    validateActiveFile(): void {
        const document = vscode.window.activeTextEditor?.document;
        if (!document || document.languageId !== 'python') {
            void vscode.window.showWarningMessage('HAPA: open a Python file, then run "HAPA: Validate Python File" again.');
            return;
        }
        const count = this.validate(document);
        const name = path.basename(document.uri.path);
        if (count === 0) {
            void vscode.window.showInformationMessage(`HAPA: ${name} has no syntax errors.`);
        } else {
            const plural = count === 1 ? 'error' : 'errors';
            void vscode.window.showWarningMessage(`HAPA: ${name} has ${count} syntax ${plural}; see the Problems panel.`);
        }
    }

    dispose(): void {
        for (const timer of this.pending.values()) clearTimeout(timer);
        this.pending.clear();
        for (const subscription of this.subscriptions) subscription.dispose();
        this.diagnostics.dispose();
    }

    private schedule(document: vscode.TextDocument): void {
        if (document.languageId !== 'python' || !liveSettings().enabled) return;
        const key = document.uri.toString();
        clearTimeout(this.pending.get(key));
        if (document.getText().length > MAX_LIVE_BYTES) return;
        this.pending.set(key, setTimeout(() => {
            this.pending.delete(key);
            if (!document.isClosed) this.validate(document);
        }, liveSettings().debounceMs));
    }

    private revalidateOpenDocuments(): void {
        if (!liveSettings().enabled) {
            this.diagnostics.clear();
            return;
        }
        for (const document of vscode.workspace.textDocuments) this.schedule(document);
    }

    private forget(document: vscode.TextDocument): void {
        const key = document.uri.toString();
        clearTimeout(this.pending.get(key));
        this.pending.delete(key);
        this.diagnostics.delete(document.uri);
    }

    /** Parses `document` in the Rust core and publishes its errors; returns how many. */
    private validate(document: vscode.TextDocument): number {
        const started = performance.now();
        const found = hapaCore().validatePython(document.getText());
        this.diagnostics.set(
            document.uri,
            found.map((d) => {
                const range = new vscode.Range(d.startLine, d.startCharacter, d.endLine, d.endCharacter);
                const diagnostic = new vscode.Diagnostic(range, d.message, vscode.DiagnosticSeverity.Error);
                diagnostic.source = 'HAPA';
                return diagnostic;
            }),
        );
        const name = path.basename(document.uri.path);
        this.log.debug(`validated ${name}: ${found.length} syntax error(s) in ${(performance.now() - started).toFixed(1)} ms`);
        return found.length;
    }
}

function liveSettings(): { enabled: boolean; debounceMs: number } {
    const config = vscode.workspace.getConfiguration('hapa.validation');
    return {
        enabled: config.get<boolean>('onType', true),
        debounceMs: Math.max(0, config.get<number>('debounceMs', 300)),
    };
}
