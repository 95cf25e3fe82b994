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
type Cache = InstanceType<ReturnType<typeof hapaCore>['CompletionCache']>;

export class InlineCompletions implements vscode.InlineCompletionItemProvider, vscode.Disposable {
    private readonly status = vscode.window.createStatusBarItem('hapa.backend', vscode.StatusBarAlignment.Right, 100);
    private chooser: Chooser | undefined;
    /** Answers already given, keyed by the Rust core over the normalised code. */
    private cache: Cache | undefined;
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

    /** "HAPA: Clear Cache": forgets every stored completion. */
    clearCache(): void {
        const count = this.cache?.clear() ?? 0;
        this.log.info(`HAPA: cleared ${count} cached completion(s)`);
        void vscode.window.showInformationMessage(`HAPA: cleared ${count} cached completion${count === 1 ? '' : 's'}.`);
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
        this.cache ??= new (hapaCore().CompletionCache)();
        const chooser = this.chooser;
        const cache = this.cache;
        const key = await this.keys.get();
        const remote = chooser.choose(Date.now()) === 'remote' && (key || !chooser.fallsBack());
        const backend = remote ? serverUrl() : 'local';
        const cached = cache.get(backend, prefix, suffix, maxTokens, Date.now());
        if (cached !== undefined) {
            this.log.debug(`HAPA completion from the cache (${backend})`);
            return cached;
        }
        const text = await this.ask(remote ? key ?? '' : undefined, prefix, suffix, maxTokens, token);
        if (text !== undefined) cache.insert(text.backend, prefix, suffix, maxTokens, text.text, Date.now());
        return text?.text ?? '';
    }

    /**
     * A completion and who gave it, or undefined when none came (cancelled or failed). `key`:
     * ask the server with it first (empty when none is set), or undefined for the local model.
     */
    private async ask(
        key: string | undefined,
        prefix: string,
        suffix: string,
        maxTokens: number,
        token: vscode.CancellationToken,
    ): Promise<{ text: string; backend: string } | undefined> {
        const chooser = this.chooser!;
        if (key !== undefined) {
            // Cancellation or the deadline, as one signal (not AbortSignal.any: Node may collect
            // its result while the request still needs it).
            const abort = new AbortController();
            const cancelled = token.onCancellationRequested(() => abort.abort());
            const timer = setTimeout(() => abort.abort(), REMOTE_TIMEOUT_MS);
            try {
                if (!key) throw new Error('No API key is set: run "HAPA: Set API Key".');
                const signal = abort.signal;
                const url = serverUrl();
                const answer = await hapaCore().completeRemote(url, key, prefix, suffix, maxTokens, REMOTE_TIMEOUT_MS, signal);
                chooser.remoteSucceeded(Date.now(), answer.latencyMs);
                this.showStatus(chooser.label(Date.now()));
                return { text: answer.text, backend: url };
            } catch (error) {
                if (token.isCancellationRequested) return undefined;
                chooser.remoteFailed(Date.now());
                this.log.warn(`HAPA remote completion failed: ${message(error)}`);
                if (!chooser.fallsBack()) {
                    this.showStatus(chooser.label(Date.now()), message(error));
                    return undefined;
                }
            } finally {
                clearTimeout(timer);
                cancelled.dispose();
            }
        }
        try {
            const { text, ms } = await this.local.complete(prefix, suffix, maxTokens, token);
            chooser.localUsed();
            this.showStatus(`${chooser.label(Date.now())} ${Math.round(ms)} ms`);
            return token.isCancellationRequested ? undefined : { text, backend: 'local' };
        } catch (error) {
            this.log.error(`HAPA local completion failed: ${message(error)}`);
            this.showStatus('Offline', message(error));
            return undefined;
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
