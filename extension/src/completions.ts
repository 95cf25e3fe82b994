// Inline ghost-text completions: debounced, stale requests cancelled (the HTTP request is
// aborted), nothing done while disabled. The server answers while it is healthy; otherwise the
// bundled model does, with no popup: the Rust core's BackendChooser decides and the status bar
// says which answered. Text from either is already trimmed by the Rust core to what keeps the
// module parseable. The prompt is collected by the Rust core (what the file imports from other
// open modules comes along as comments); answers are cached in the core's LRU, and a server
// completion taken with Tab or passed over is reported as feedback.
import * as path from 'path';
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import { hapaCore } from './core';
import type { LocalModel } from './localModel';
import { serverUrl } from './server';

/** Text sent around the cursor at most (the model keeps the lines nearest the cursor anyway). */
const MAX_PREFIX_CHARS = 8_000;
const MAX_SUFFIX_CHARS = 2_000;
/** Tokens of context the Rust core collects for a completion (about the characters above / 4). */
const CONTEXT_TOKENS = 2_500;
/** Files larger than this get only the text around the cursor (no parse per keystroke). */
const MAX_CONTEXT_SOURCE_CHARS = 1024 * 1024;
/** Other open modules offered to the context collector at most, and their size each. */
const MAX_WORKSPACE_MODULES = 32;
const MAX_MODULE_CHARS = 256 * 1024;
/** How long a remote completion may take before the local model answers instead. */
const REMOTE_TIMEOUT_MS = 2_000;
/**
 * How long the cursor rests somewhere before the local model computes the prompt there, so the
 * completion at the next keystroke computes only what that keystroke adds.
 */
const PREPARE_AFTER_MS = 400;
/** Prompt tokens computed ahead of time worth a line in the log (a move, not a keystroke). */
const PREPARE_LOGGED_TOKENS = 32;
const FEEDBACK_TIMEOUT_MS = 5_000;

type Chooser = InstanceType<ReturnType<typeof hapaCore>['BackendChooser']>;
type Cache = InstanceType<ReturnType<typeof hapaCore>['CompletionCache']>;

export class InlineCompletions implements vscode.InlineCompletionItemProvider, vscode.Disposable {
    private readonly status = vscode.window.createStatusBarItem('hapa.backend', vscode.StatusBarAlignment.Right, 100);
    private chooser: Chooser | undefined;
    /** Answers already given, keyed by the Rust core over the normalised code. */
    private cache: Cache | undefined;
    /** The last server completion shown, until it is accepted or passed over. */
    private shown: { id: string; prefix: string; text: string; accepted: boolean } | undefined;
    private readonly subscription: vscode.Disposable;
    /** Cursor moves, which schedule the local model's preparation of the prompt there. */
    private readonly cursorMoves: vscode.Disposable;
    private prepareTimer: NodeJS.Timeout | undefined;
    /** The provider's registration with VS Code, only while completions are on somewhere. */
    private registration: vscode.Disposable | undefined;

    constructor(
        private readonly local: LocalModel,
        private readonly keys: ApiKeyStore,
        private readonly log: vscode.LogOutputChannel,
    ) {
        this.status.name = 'HAPA backend';
        this.status.command = 'hapa.toggleInlineCompletions';
        this.showStatus();
        this.register();
        this.subscription = vscode.workspace.onDidChangeConfiguration((event) => {
            if (event.affectsConfiguration('hapa.mode')) this.chooser?.setMode(mode());
            if (event.affectsConfiguration('hapa.completions.enabled')) this.register();
            if (event.affectsConfiguration('hapa')) this.showStatus();
        });
        this.cursorMoves = vscode.window.onDidChangeTextEditorSelection((event) => {
            clearTimeout(this.prepareTimer);
            if (!this.registration || event.textEditor.document.languageId !== 'python') return;
            this.prepareTimer = setTimeout(() => void this.prepare(event.textEditor), PREPARE_AFTER_MS);
        });
    }

    /**
     * The cursor came to rest in `editor`: when the local model would answer there, it computes
     * the prompt now, in idle time, rather than at the next keystroke (the first completion after
     * a move would otherwise compute the whole window; each later one computes what it adds).
     */
    private async prepare(editor: vscode.TextEditor): Promise<void> {
        const document = editor.document;
        const settings = vscode.workspace.getConfiguration('hapa.completions', document);
        if (vscode.window.activeTextEditor !== editor || !editor.selection.isEmpty || !settings.get<boolean>('enabled', true)) return;
        this.chooser ??= new (hapaCore().BackendChooser)(mode());
        const key = await this.keys.get();
        if (this.chooser.choose(Date.now()) === 'remote' && (key || !this.chooser.fallsBack())) return;
        const position = editor.selection.active;
        const { prefix, suffix } = prompt(document, position);
        if (!prefix.trim()) return;
        try {
            const prepared = await this.local.prepare(prefix, suffix, settings.get<number>('maxTokens', 32));
            if (prepared && prepared.tokens >= PREPARE_LOGGED_TOKENS) {
                const where = `${path.basename(document.fileName)}:${position.line + 1}`;
                this.log.info(`HAPA local model: prompt prepared at ${where} (${prepared.tokens} tokens, ${Math.round(prepared.ms)} ms)`);
            }
        } catch (error) {
            this.log.warn(`HAPA local model: prompt not prepared: ${message(error)}`);
        }
    }

    /**
     * Registers the provider while completions are on for the window or any of its folders, and
     * withdraws it otherwise: when off, VS Code does not call HAPA at all as you type.
     */
    private register(): void {
        const folders = vscode.workspace.workspaceFolders ?? [];
        const on = [undefined, ...folders.map((folder) => folder.uri)].some((scope) =>
            vscode.workspace.getConfiguration('hapa.completions', scope).get<boolean>('enabled', true),
        );
        if (on && !this.registration) {
            this.registration = vscode.languages.registerInlineCompletionItemProvider({ language: 'python' }, this);
        } else if (!on && this.registration) {
            this.registration.dispose();
            this.registration = undefined;
        }
    }

    async provideInlineCompletionItems(
        document: vscode.TextDocument,
        position: vscode.Position,
        context: vscode.InlineCompletionContext,
        token: vscode.CancellationToken,
    ): Promise<vscode.InlineCompletionItem[] | undefined> {
        const settings = vscode.workspace.getConfiguration('hapa.completions', document);
        if (!settings.get<boolean>('enabled', true)) return undefined;
        await new Promise((resolve) => setTimeout(resolve, settings.get<number>('debounceMs', 200)));
        if (token.isCancellationRequested) return undefined;

        const { prefix, suffix } = prompt(document, position);
        this.passOver(prefix);
        if (!prefix.trim()) return undefined;
        const maxTokens = settings.get<number>('maxTokens', 32);
        // Asked for explicitly (Alt+\): ask a model again rather than repeat the cache.
        const fresh = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
        const { text, id } = await this.complete(prefix, suffix, maxTokens, fresh, token);
        if (token.isCancellationRequested || !text) return undefined;
        const item = new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
        if (id) {
            // A server completion: VS Code runs the command when Tab accepts it.
            this.shown = { id, prefix, text, accepted: false };
            item.command = { command: 'hapa.completionAccepted', title: 'HAPA: completion accepted', arguments: [id] };
        }
        return [item];
    }

    /** Tab accepted the server completion `id` (the item's command). */
    accepted(id: string): void {
        if (this.shown?.id !== id || this.shown.accepted) return;
        this.shown.accepted = true;
        void this.feedback(id, 'accept');
    }

    /**
     * A new request at `prefix`: the completion shown before was passed over (dismissed) unless
     * it was accepted or the user is typing it out.
     */
    private passOver(prefix: string): void {
        const shown = this.shown;
        if (!shown || shown.accepted) return;
        const typingIt = prefix.startsWith(shown.prefix) && (shown.prefix + shown.text).startsWith(prefix);
        if (typingIt) return;
        this.shown = undefined;
        void this.feedback(shown.id, 'dismiss');
    }

    private async feedback(id: string, event: 'accept' | 'dismiss'): Promise<void> {
        if (!vscode.workspace.getConfiguration('hapa.feedback').get<boolean>('enabled', true)) return;
        try {
            const key = await this.keys.get();
            if (!key) return;
            await hapaCore().sendCompletionFeedback(serverUrl(), key, id, event, FEEDBACK_TIMEOUT_MS);
            this.log.debug(`HAPA completion feedback: ${event} ${id}`);
        } catch (error) {
            // Feedback is best effort: never a popup while typing.
            this.log.warn(`HAPA completion feedback (${event}) not sent: ${message(error)}`);
        }
    }

    /** "HAPA: Clear Cache": forgets every stored completion. */
    clearCache(): void {
        const count = this.cache?.clear() ?? 0;
        this.log.info(`HAPA: cleared ${count} cached completion(s)`);
        void vscode.window.showInformationMessage(`HAPA: cleared ${count} cached completion${count === 1 ? '' : 's'}.`);
    }

    /**
     * "HAPA: Toggle Inline Completions": flips the setting where it is decided for the active
     * file (its folder's, the workspace's or the user's settings).
     */
    async toggle(): Promise<void> {
        const scope = vscode.window.activeTextEditor?.document.uri;
        const settings = vscode.workspace.getConfiguration('hapa.completions', scope);
        const enabled = !settings.get<boolean>('enabled', true);
        const set = settings.inspect<boolean>('enabled');
        const target =
            set?.workspaceFolderValue !== undefined
                ? vscode.ConfigurationTarget.WorkspaceFolder
                : set?.workspaceValue !== undefined
                  ? vscode.ConfigurationTarget.Workspace
                  : vscode.ConfigurationTarget.Global;
        await settings.update('enabled', enabled, target);
        void vscode.window.showInformationMessage(`HAPA: inline completions ${enabled ? 'on' : 'off'}.`);
    }

    /** "HAPA: Trigger Completion" (Alt+\\): asks now; while completions are off, says how to turn them on. */
    async trigger(): Promise<void> {
        const scope = vscode.window.activeTextEditor?.document.uri;
        if (vscode.workspace.getConfiguration('hapa.completions', scope).get<boolean>('enabled', true)) {
            await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
            return;
        }
        const turnOn = 'Turn On';
        const picked = await vscode.window.showInformationMessage('HAPA: inline completions are off.', turnOn);
        if (picked === turnOn) await this.toggle();
    }

    dispose(): void {
        clearTimeout(this.prepareTimer);
        this.cursorMoves.dispose();
        this.subscription.dispose();
        this.registration?.dispose();
        this.status.dispose();
    }

    /** A completion, with the server's id when the server wrote it just now (not from the cache). */
    private async complete(
        prefix: string,
        suffix: string,
        maxTokens: number,
        fresh: boolean,
        token: vscode.CancellationToken,
    ): Promise<{ text: string; id?: string }> {
        this.chooser ??= new (hapaCore().BackendChooser)(mode());
        this.cache ??= new (hapaCore().CompletionCache)();
        const chooser = this.chooser;
        const cache = this.cache;
        const key = await this.keys.get();
        const remote = chooser.choose(Date.now()) === 'remote' && (key || !chooser.fallsBack());
        const backend = remote ? serverUrl() : 'local';
        const cached = fresh ? undefined : cache.get(backend, prefix, suffix, maxTokens, Date.now());
        if (cached !== undefined) {
            this.log.debug(`HAPA completion from the cache (${backend})`);
            return { text: cached };
        }
        const answer = await this.ask(remote ? key ?? '' : undefined, prefix, suffix, maxTokens, token);
        if (answer === undefined) return { text: '' };
        cache.insert(answer.backend, prefix, suffix, maxTokens, answer.text, Date.now());
        return { text: answer.text, id: answer.id };
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
    ): Promise<{ text: string; backend: string; id?: string } | undefined> {
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
                return { text: answer.text, backend: url, id: answer.id };
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

/**
 * The prompt at the cursor: collected by the Rust core (the window around the cursor, and the
 * stubs of what the file imports from other open workspace modules), or for a very large file
 * just the text around the cursor.
 */
function prompt(document: vscode.TextDocument, position: vscode.Position): { prefix: string; suffix: string } {
    const text = document.getText();
    if (text.length > MAX_CONTEXT_SOURCE_CHARS) return around(document, position);
    const offset = document.offsetAt(position);
    const { modules, pkg } = workspaceModules(document, text);
    return hapaCore().completionPrompt(text.slice(0, offset), text.slice(offset), pkg, modules, CONTEXT_TOKENS);
}

/**
 * The other Python modules open in `document`'s workspace folder that `text` (the document's)
 * may import, by dotted name (`app/models.py` is `app.models`, `app/__init__.py` is `app`), and
 * `document`'s package. Any import of a module names its last part, so a module whose last
 * part `text` never mentions is not sent to the core at all.
 */
function workspaceModules(document: vscode.TextDocument, text: string): { modules: Record<string, string>; pkg: string | undefined } {
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    if (!folder) return { modules: {}, pkg: undefined };
    const dotted = (uri: vscode.Uri): string[] | undefined => {
        const relative = path.posix.relative(folder.uri.path, uri.path);
        if (relative.startsWith('..') || !relative.endsWith('.py')) return undefined;
        const parts = relative.slice(0, -'.py'.length).split('/');
        if (parts.at(-1) === '__init__') parts.pop();
        return parts.every((part) => /^[A-Za-z_]\w*$/.test(part)) ? parts : undefined;
    };
    const modules: Record<string, string> = {};
    const others = vscode.workspace.textDocuments.filter(
        (other) => other !== document && other.languageId === 'python' && other.uri.scheme === document.uri.scheme,
    );
    let offered = 0;
    for (const other of others) {
        if (offered === MAX_WORKSPACE_MODULES) break;
        const name = dotted(other.uri);
        if (!name || name.length === 0 || !text.includes(name.at(-1)!)) continue;
        const source = other.getText();
        if (source.length > MAX_MODULE_CHARS) continue;
        modules[name.join('.')] = source;
        offered += 1;
    }
    const own = dotted(document.uri);
    const isPackage = document.uri.path.endsWith('/__init__.py');
    const pkg = own && (isPackage ? own : own.slice(0, -1)).join('.');
    return { modules, pkg: pkg || undefined };
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
