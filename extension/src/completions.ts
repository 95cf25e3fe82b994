// Inline ghost-text completions: debounced, stale requests cancelled (the HTTP request is
// aborted), nothing done while disabled. The server answers while it is healthy; otherwise the
// bundled model does, with no popup: the Rust core's BackendChooser decides and the status bar
// says which answered. Text from either is already trimmed by the Rust core to what keeps the
// module parseable.
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import { hapaCore } from './core';
import type { LocalModel } from './localModel';
import { serverUrl } from './server';

/** Text sent around the cursor at most (the model keeps the lines nearest the cursor anyway). */
const MAX_PREFIX_CHARS = 8_000;
const MAX_SUFFIX_CHARS = 2_000;
/** How long a remote completion may take before the local model answers instead. */
const REMOTE_TIMEOUT_MS = 2_000;

type Chooser = InstanceType<ReturnType<typeof hapaCore>['BackendChooser']>;

export class InlineCompletions implements vscode.InlineCompletionItemProvider, vscode.Disposable {
    private readonly status = vscode.window.createStatusBarItem('hapa.backend', vscode.StatusBarAlignment.Right, 100);
    private chooser: Chooser | undefined;
    private readonly subscription: vscode.Disposable;

    constructor(
        private readonly local: LocalModel,
        private readonly keys: ApiKeyStore,
        private readonly log: vscode.LogOutputChannel,
    ) {
        this.status.name = 'HAPA backend';
        this.status.command = 'hapa.toggleInlineCompletions';
        this.showStatus();
        this.subscription = vscode.workspace.onDidChangeConfiguration((event) => {
            if (event.affectsConfiguration('hapa.mode')) this.chooser?.setMode(mode());
            if (event.affectsConfiguration('hapa')) this.showStatus();
        });
    }

    async provideInlineCompletionItems(
        document: vscode.TextDocument,
        position: vscode.Position,
        _context: vscode.InlineCompletionContext,
        token: vscode.CancellationToken,
    ): Promise<vscode.InlineCompletionItem[] | undefined> {
        const settings = vscode.workspace.getConfiguration('hapa.completions', document);
        if (!settings.get<boolean>('enabled', true)) return undefined;
        await new Promise((resolve) => setTimeout(resolve, settings.get<number>('debounceMs', 200)));
        if (token.isCancellationRequested) return undefined;

        const { prefix, suffix } = around(document, position);
        if (!prefix.trim()) return undefined;
        const maxTokens = settings.get<number>('maxTokens', 32);
        const text = await this.complete(prefix, suffix, maxTokens, token);
        if (token.isCancellationRequested || !text) return undefined;
        return [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))];
    }

    /** "HAPA: Toggle Inline Completions". */
    async toggle(): Promise<void> {
        const settings = vscode.workspace.getConfiguration('hapa.completions');
        const enabled = !settings.get<boolean>('enabled', true);
        await settings.update('enabled', enabled, vscode.ConfigurationTarget.Global);
        void vscode.window.showInformationMessage(`HAPA: inline completions ${enabled ? 'on' : 'off'}.`);
    }

    dispose(): void {
        this.subscription.dispose();
        this.status.dispose();
    }

    private async complete(prefix: string, suffix: string, maxTokens: number, token: vscode.CancellationToken): Promise<string> {
        this.chooser ??= new (hapaCore().BackendChooser)(mode());
        const chooser = this.chooser;
        const key = await this.keys.get();
        if (chooser.choose(Date.now()) === 'remote' && (key || !chooser.fallsBack())) {
            const abort = new AbortController();
            const cancelled = token.onCancellationRequested(() => abort.abort());
            try {
                if (!key) throw new Error('No API key is set: run "HAPA: Set API Key".');
                const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(REMOTE_TIMEOUT_MS)]);
                const answer = await hapaCore().completeRemote(serverUrl(), key, prefix, suffix, maxTokens, REMOTE_TIMEOUT_MS, signal);
                chooser.remoteSucceeded(Date.now(), answer.latencyMs);
                this.showStatus(chooser.label(Date.now()));
                return answer.text;
            } catch (error) {
                if (token.isCancellationRequested) return '';
                chooser.remoteFailed(Date.now());
                this.log.warn(`HAPA remote completion failed: ${message(error)}`);
                if (!chooser.fallsBack()) {
                    this.showStatus(chooser.label(Date.now()), message(error));
                    return '';
                }
            } finally {
                cancelled.dispose();
            }
        }
        try {
            const { text, ms } = await this.local.complete(prefix, suffix, maxTokens, token);
            chooser.localUsed();
            this.showStatus(`${chooser.label(Date.now())} ${Math.round(ms)} ms`);
            return text;
        } catch (error) {
            this.log.error(`HAPA local completion failed: ${message(error)}`);
            this.showStatus('Offline', message(error));
            return '';
        }
    }

    private showStatus(backend?: string, problem?: string): void {
        const enabled = vscode.workspace.getConfiguration('hapa.completions').get<boolean>('enabled', true);
        const label = backend ?? (mode() === 'local' ? 'Local' : mode() === 'remote' ? 'Remote' : 'Auto');
        this.status.text = enabled ? `$(sparkle) HAPA: ${label}` : '$(circle-slash) HAPA: off';
        this.status.tooltip = problem
            ? `HAPA completions: ${problem} Details in the HAPA output channel.`
            : `HAPA inline completions ${enabled ? `on (mode ${mode()})` : 'off'}. Click to toggle.`;
        this.status.show();
    }
}

function mode(): string {
    return vscode.workspace.getConfiguration('hapa').get<string>('mode', 'auto');
}

function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

/** The text before and after the cursor, cut at line starts/ends to a bounded size. */
function around(document: vscode.TextDocument, position: vscode.Position): { prefix: string; suffix: string } {
    const offset = document.offsetAt(position);
    const text = document.getText();
    let start = Math.max(0, offset - MAX_PREFIX_CHARS);
    if (start > 0) start = text.indexOf('\n', start) + 1 || offset;
    let end = Math.min(text.length, offset + MAX_SUFFIX_CHARS);
    if (end < text.length) end = Math.max(offset, text.lastIndexOf('\n', end));
    return { prefix: text.slice(start, offset), suffix: text.slice(offset, end) };
}
