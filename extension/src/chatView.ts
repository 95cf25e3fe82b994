// The "HAPA" activity-bar view: hosts the leptos chat app (out/webview) under a strict CSP
// and answers its messages. The webview never talks to the network or sees the API key: the
// host streams answers from the server through the Rust core and forwards them as messages.
import * as crypto from 'crypto';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import type { LocalModel } from './localModel';
import { hapaCore, type ChatHistory, type FromWebview, type ToWebview } from './core';
import { serverUrl } from './server';

/** The longest an answer may stream before it is given up. */
const ANSWER_TIMEOUT_MS = 120_000;
const FEEDBACK_TIMEOUT_MS = 5_000;
/** Tokens of an answer from the bundled model (as the server's generate). */
const LOCAL_ANSWER_TOKENS = 160;
/** Context sent with a question at most: the end of the file up to the cursor, or the selection. */
const MAX_CONTEXT_CHARS = 8_000;

interface Answering {
    abort: AbortController;
}

/** Where the workspace's chats are stored (JSON of the core's ChatHistory). */
const CHATS_KEY = 'hapa.chat.archive';
/** Where versions before the chat list kept the one chat. */
const LEGACY_HISTORY_KEY = 'hapa.chat.history';

/** What a question is about: code from the editor and, for people, where it comes from. */
export interface EditorContext {
    code: string;
    fileName: string;
    /** e.g. "selection of app.py, lines 3-9". */
    description: string;
}

export class ChatViewProvider implements vscode.WebviewViewProvider {
    static readonly viewId = 'hapa.chat';
    private view: vscode.WebviewView | undefined;
    private nextAnswer = 1;
    private answering: Answering | undefined;
    /** The workspace's chats, loaded on first use. */
    private chats: ChatHistory | undefined;
    /** Whether the page in the view has said it is ready (and been given its chat). */
    private ready = false;
    private readonly readyWaiters: Array<() => void> = [];
    /** Context pinned by "Add Selection to Chat": sent with the next question instead. */
    private pinned: EditorContext | undefined;

    constructor(
        private readonly extensionUri: vscode.Uri,
        private readonly workspaceState: vscode.Memento,
        private readonly keys: ApiKeyStore,
        private readonly localModel: LocalModel,
        private readonly log: vscode.LogOutputChannel,
    ) {}

    async resolveWebviewView(view: vscode.WebviewView): Promise<void> {
        this.view = view;
        const bundle = vscode.Uri.joinPath(this.extensionUri, 'out', 'webview');
        view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [bundle] };
        view.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw));
        this.ready = false;
        // The line under the context switch follows the editor (coalesced: selections change fast).
        let pending: ReturnType<typeof setTimeout> | undefined;
        const follow = () => {
            clearTimeout(pending);
            pending = setTimeout(() => this.previewContext(), 100);
        };
        const following = [
            vscode.window.onDidChangeTextEditorSelection(follow),
            vscode.window.onDidChangeActiveTextEditor(follow),
        ];
        view.onDidDispose(() => {
            this.stop();
            this.view = undefined;
            this.ready = false;
            clearTimeout(pending);
            for (const listener of following) listener.dispose();
        });
        // The app's .wasm travels inside the page, so the webview needs no connect-src at all.
        const wasm = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(bundle, 'hapa_webview_bg.wasm'));
        view.webview.html = this.html(view.webview, bundle, Buffer.from(wasm).toString('base64'));
    }

    private receive(raw: unknown): void {
        let message: FromWebview;
        try {
            message = hapaCore().parseWebviewMessage(raw);
        } catch (error) {
            this.log.warn(`ignored a message from the chat view: ${errorText(error)}`);
            return;
        }
        switch (message.type) {
            case 'ready':
                this.log.info(`chat view ready (protocol ${message.protocol})`);
                if (message.protocol !== hapaCore().webviewProtocolVersion()) {
                    // Only a stale webview bundle can get here; say how to recover.
                    this.log.error(`the chat view speaks protocol ${message.protocol}, this extension ${hapaCore().webviewProtocolVersion()}`);
                    void vscode.window.showErrorMessage('HAPA: the chat view is from another version of HAPA. Run "Developer: Reload Window".');
                    return;
                }
                this.restore();
                this.previewContext();
                this.ready = true;
                for (const waiter of this.readyWaiters.splice(0)) waiter();
                break;
            case 'ask': {
                this.history().question(message.text, Date.now());
                this.save();
                const context = this.pinned ?? (message.withContext ? editorContext() : undefined);
                this.pinned = undefined;
                this.previewContext();
                void this.ask(message.text, context);
                break;
            }
            case 'stop':
                this.stop();
                break;
            case 'newChat':
                this.stop();
                this.history().newChat();
                this.save();
                break;
            case 'openChat': {
                const messages = this.history().open(message.id);
                if (!messages) break;
                this.stop();
                this.save();
                void this.view?.webview.postMessage({ type: 'reset' } satisfies ToWebview);
                for (const shown of messages) void this.view?.webview.postMessage(shown);
                break;
            }
            case 'deleteChat':
                if (this.history().delete(message.id)) {
                    this.stop();
                    void this.view?.webview.postMessage({ type: 'reset' } satisfies ToWebview);
                }
                this.save();
                break;
            case 'openLink':
                void this.openLink(message.url);
                break;
            case 'insertCode':
                void insertCode(message.code, message.target, this.log);
                break;
            case 'copyCode':
                void vscode.env.clipboard
                    .writeText(message.code)
                    .then(() => vscode.window.setStatusBarMessage('HAPA: code copied', 3000));
                break;
            case 'rate':
                void this.rate(message.requestId, message.rating);
                break;
        }
    }

    private stop(): void {
        this.answering?.abort.abort();
    }

    /** Shows the chat view and resolves once its page is ready for messages. */
    async show(): Promise<void> {
        await vscode.commands.executeCommand(`${ChatViewProvider.viewId}.focus`);
        if (this.ready) return;
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('the HAPA chat view did not load; run "Developer: Reload Window"')), 30_000);
            this.readyWaiters.push(() => {
                clearTimeout(timer);
                resolve();
            });
        });
    }

    /**
     * Asks `question` about `context` from an editor command: shown in the chat as if typed,
     * with a cancellable progress notification titled `progress` until the answer ends
     * (cancelling it is the chat's Stop).
     */
    async askFromEditor(question: string, context: EditorContext | undefined, progress: string): Promise<void> {
        await this.show();
        if (this.answering) {
            this.post({ type: 'notice', text: 'HAPA is still answering: press Stop first, then try again.' });
            return;
        }
        this.history().question(question, Date.now());
        this.save();
        void this.view?.webview.postMessage({ type: 'question', text: question } satisfies ToWebview);
        await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `HAPA: ${progress}…`, cancellable: true },
            async (_progress, token) => {
                const cancelled = token.onCancellationRequested(() => this.stop());
                try {
                    await this.ask(question, context);
                } finally {
                    cancelled.dispose();
                }
            },
        );
    }

    /** "Add Selection to Chat": the next question is sent with `context`, wherever the cursor is then. */
    async pinContext(context: EditorContext): Promise<void> {
        await this.show();
        this.pinned = context;
        this.post({ type: 'notice', text: `The ${context.description} will be sent with your next question.` });
        this.previewContext();
    }

    /** Tells the view what a question would be sent with now. */
    private previewContext(): void {
        const context = this.pinned ?? editorContext();
        void this.view?.webview.postMessage({
            type: 'contextPreview',
            description: context?.description ?? null,
            pinned: this.pinned !== undefined,
        } satisfies ToWebview);
    }

    private async ask(question: string, context: EditorContext | undefined): Promise<void> {
        if (this.answering) {
            this.post({ type: 'notice', text: 'HAPA is still answering: press Stop first.' });
            return;
        }
        const abort = new AbortController();
        this.answering = { abort };
        try {
            // The view's own progress bar runs while the answer comes, wherever it was asked.
            await vscode.window.withProgress({ location: { viewId: ChatViewProvider.viewId } }, () =>
                this.answer(question, context, abort.signal),
            );
        } finally {
            this.answering = undefined;
        }
    }

    /** The server's answer or, when it fails in auto mode, the bundled model's. */
    private async answer(question: string, context: EditorContext | undefined, stop: AbortSignal): Promise<void> {
        const mode = vscode.workspace.getConfiguration('hapa').get<string>('mode', 'auto');
        if (mode !== 'local') {
            const failure = await this.answerRemotely(question, context, stop);
            if (!failure) return;
            if (mode === 'remote') return;
            // Auto: the bundled model answers instead; the failed answer above says why.
            this.log.warn(`HAPA chat: the server did not answer (${failure}); the local model answers`);
        }
        await this.answerLocally(question, context, stop);
    }

    /** One answer from the server; returns why it failed (already shown), or undefined. */
    private async answerRemotely(question: string, context: EditorContext | undefined, stop: AbortSignal): Promise<string | undefined> {
        const answer = this.begin(context);
        const started = performance.now();
        let streamed = '';
        // Stop or the deadline, as one signal (not AbortSignal.any: Node may collect its result
        // while the request still needs it).
        const request = new AbortController();
        const timer = setTimeout(() => request.abort(), ANSWER_TIMEOUT_MS);
        const onStop = () => request.abort();
        stop.addEventListener('abort', onStop);
        try {
            const key = await this.keys.get();
            if (!key) throw new Error('No API key is set: run "HAPA: Set API Key" to ask the server.');
            const signal = request.signal;
            const result = await hapaCore().generateStream(
                serverUrl(),
                key,
                question,
                context?.code,
                context?.fileName,
                ANSWER_TIMEOUT_MS,
                signal,
                (text) => {
                    streamed += text;
                    this.post({ type: 'answerDelta', answer, text });
                },
            );
            if (!result.code.trim() && result.errorMessage) throw new Error(result.errorMessage);
            this.finish(answer, result.code, `hapa-server (${result.model})`, started, result.requestId, result.explanation, false);
            return undefined;
        } catch (error) {
            if (stop.aborted) {
                this.finish(answer, streamed, 'hapa-server', started, undefined, undefined, true);
                return undefined;
            }
            this.log.error(`HAPA chat: ${errorText(error)}`);
            this.post({ type: 'answerFailed', answer, message: errorText(error) });
            return errorText(error);
        } finally {
            clearTimeout(timer);
            stop.removeEventListener('abort', onStop);
        }
    }

    /** One answer from the bundled model, in its worker thread. */
    private async answerLocally(question: string, context: EditorContext | undefined, stop: AbortSignal): Promise<void> {
        const answer = this.begin(context);
        const started = performance.now();
        try {
            const result = await this.localModel.answer(question, context?.code, LOCAL_ANSWER_TOKENS, (text) =>
                this.post({ type: 'answerDelta', answer, text }),
            stop);
            this.finish(answer, result.text, 'local model (hapa-code)', started, undefined, undefined, stop.aborted);
        } catch (error) {
            this.log.error(`HAPA chat (local model): ${errorText(error)}`);
            this.post({ type: 'answerFailed', answer, message: `The bundled model failed: ${errorText(error)}` });
        }
    }

    private begin(context: EditorContext | undefined): number {
        const answer = this.nextAnswer++;
        this.post({ type: 'answerStarted', answer, context: context?.description ?? null });
        return answer;
    }

    private finish(
        answer: number,
        code: string,
        backend: string,
        started: number,
        requestId: string | undefined,
        explanation: string | undefined,
        stopped: boolean,
    ): void {
        this.post({
            type: 'answerDone',
            answer,
            code,
            explanation: explanation ?? null,
            requestId: requestId ?? null,
            backend,
            elapsedMs: performance.now() - started,
            parses: hapaCore().validatePython(code).length === 0,
            stopped,
        });
    }

    private async rate(requestId: string, rating: 'up' | 'down'): Promise<void> {
        if (!vscode.workspace.getConfiguration('hapa.feedback').get<boolean>('enabled', true)) {
            this.log.info('HAPA chat: feedback is off (hapa.feedback.enabled); nothing sent');
            return;
        }
        try {
            const key = await this.keys.get();
            if (!key) throw new Error('No API key is set: run "HAPA: Set API Key".');
            await hapaCore().sendFeedback(serverUrl(), key, requestId, rating, FEEDBACK_TIMEOUT_MS);
            this.log.info(`HAPA chat: feedback ${rating} sent for ${requestId}`);
        } catch (error) {
            this.log.error(`HAPA chat feedback: ${errorText(error)}`);
            void vscode.window.showWarningMessage(`HAPA could not send your feedback: ${errorText(error)}`);
        }
    }

    private post(message: ToWebview): void {
        void this.view?.webview.postMessage(message);
        if (message.type !== 'answerDelta' && this.history().record(message, Date.now())) this.save();
    }

    /** Opens a link from an answer, after the same scheme check the view made. */
    private async openLink(url: string): Promise<void> {
        const problem = hapaCore().linkProblem(url);
        if (problem) {
            this.log.warn(`HAPA chat: did not open a link: ${problem}`);
            void vscode.window.showWarningMessage(`HAPA did not open that link: ${problem}.`);
            return;
        }
        const opened = await vscode.env.openExternal(vscode.Uri.parse(url.trim(), true));
        this.log.info(`HAPA chat: ${opened ? 'opened' : 'did not open'} ${url.trim()}`);
    }

    private history(): ChatHistory {
        if (!this.chats) {
            const stored = this.workspaceState.get<string>(CHATS_KEY);
            const legacy = this.workspaceState.get<unknown>(LEGACY_HISTORY_KEY);
            const json = stored ?? (legacy === undefined ? undefined : JSON.stringify(legacy));
            this.chats = new (hapaCore().ChatHistory)(json, Date.now());
            // New answers never reuse a stored answer's id (the view ignores repeats).
            this.nextAnswer = Math.max(this.nextAnswer, this.chats.lastAnswerId() + 1);
        }
        return this.chats;
    }

    /** Stores the chats and shows the list as it is now. */
    private save(): void {
        const chats = this.history();
        void this.workspaceState.update(CHATS_KEY, chats.toJson());
        // Migrated into the archive on first load: drop the old key once it is saved there.
        if (this.workspaceState.get(LEGACY_HISTORY_KEY) !== undefined) void this.workspaceState.update(LEGACY_HISTORY_KEY, undefined);
        void this.view?.webview.postMessage(chats.list());
    }

    /** Shows the workspace's current chat in a freshly loaded view, as it was, and the list. */
    private restore(): void {
        const webview = this.view?.webview;
        if (!webview) return;
        const chats = this.history();
        for (const message of chats.replay()) void webview.postMessage(message);
        void webview.postMessage(chats.list());
    }

    private html(webview: vscode.Webview, bundle: vscode.Uri, wasmBase64: string): string {
        const nonce = crypto.randomBytes(18).toString('base64');
        const script = webview.asWebviewUri(vscode.Uri.joinPath(bundle, 'hapa_webview.js'));
        const style = webview.asWebviewUri(vscode.Uri.joinPath(bundle, 'style.css'));
        // No connect-src: the webview may not make a single request (model output cannot
        // exfiltrate anything), and the app's wasm comes as a data block in this page.
        const csp = [
            "default-src 'none'",
            `script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`,
            `style-src ${webview.cspSource}`,
            `img-src ${webview.cspSource} data:`,
            `font-src ${webview.cspSource}`,
            "connect-src 'none'",
        ].join('; ');
        return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>HAPA</title>
</head>
<body>
<script id="hapa-webview-wasm" type="application/octet-stream">${wasmBase64}</script>
<script type="module" nonce="${nonce}">
import init from "${script}";
const encoded = document.getElementById("hapa-webview-wasm").textContent;
init({ module_or_path: Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)) });
</script>
</body>
</html>`;
    }
}

/** The code a question is about: the selection, or the file up to the cursor (its end). */
export function editorContext(editor = vscode.window.activeTextEditor): EditorContext | undefined {
    if (!editor || editor.document.languageId !== 'python') return undefined;
    const fileName = path.basename(editor.document.fileName);
    const selection = editor.selection;
    if (!selection.isEmpty) {
        const code = editor.document.getText(selection).slice(-MAX_CONTEXT_CHARS);
        return { code, fileName, description: `selection of ${fileName}, lines ${selection.start.line + 1}-${selection.end.line + 1}` };
    }
    const upToCursor = editor.document.getText(new vscode.Range(new vscode.Position(0, 0), selection.active));
    return {
        code: upToCursor.slice(-MAX_CONTEXT_CHARS),
        fileName,
        description: `${fileName} up to line ${selection.active.line + 1}`,
    };
}

/**
 * Puts a code block into the active Python editor at the cursor or over the selection, as one
 * undoable edit, after splicing it into the module and re-parsing: code that would add a syntax
 * error is flagged with where, and goes in only if the user says so.
 */
export async function insertCode(code: string, target: 'cursor' | 'selection', log: vscode.LogOutputChannel): Promise<boolean> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors.find((e) => e.document.languageId === 'python');
    if (!editor) {
        void vscode.window.showWarningMessage('HAPA: open a Python file and put the cursor where the code should go, then insert again.');
        return false;
    }
    const document = editor.document;
    const range = target === 'selection' ? new vscode.Range(editor.selection.start, editor.selection.end) : new vscode.Range(editor.selection.active, editor.selection.active);
    const text = document.getText();
    const before = text.slice(0, document.offsetAt(range.start));
    const after = text.slice(document.offsetAt(range.end));
    const check = hapaCore().checkInsertion(before, code, after);
    if (!check.acceptable) {
        const first = check.problems[0];
        const where = first ? `line ${first.startLine + 1}: ${first.message}` : 'a syntax error';
        const warning = `HAPA: this code would break ${path.basename(document.fileName)} (${where}).`;
        log.warn(`${warning} ${check.problems.length} new syntax error(s)`);
        const choice = await vscode.window.showWarningMessage(warning, 'Insert Anyway', 'Cancel');
        if (choice !== 'Insert Anyway') return false;
    }
    const done = await editor.edit((edit) => edit.replace(range, code));
    if (!done) void vscode.window.showWarningMessage('HAPA: the editor refused the insertion (was the file changed meanwhile?). Try again.');
    return done;
}

function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}
