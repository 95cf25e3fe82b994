// HAPA's VS Code entry point: registers the chat view and the commands, nothing else.
// Every piece of logic is in the Rust core (out/wasm), loaded lazily by core.ts.
import * as vscode from 'vscode';
import { ApiKeyStore } from './apiKey';
import { ChatViewProvider } from './chatView';
import { registerEditorCommands } from './editorCommands';
import { InlineCompletions } from './completions';
import { LocalModel } from './localModel';
import { checkServer } from './server';
import { PythonValidator } from './validate';

export function activate(context: vscode.ExtensionContext): void {
    const started = performance.now();
    const log = vscode.window.createOutputChannel('HAPA', { log: true });
    const validator = new PythonValidator(log);
    const keys = new ApiKeyStore(context.secrets, log);
    const localModel = new LocalModel(context.extensionUri, log);
    const completions = new InlineCompletions(localModel, keys, log);
    const chat = new ChatViewProvider(context.extensionUri, context.workspaceState, keys, localModel, log);
    context.subscriptions.push(
        log,
        validator,
        localModel,
        completions,
        vscode.window.registerWebviewViewProvider(
            ChatViewProvider.viewId,
            chat,
            // The conversation lives in the page: hiding the side bar must not lose it.
            { webviewOptions: { retainContextWhenHidden: true } },
        ),
        vscode.commands.registerCommand('hapa.validateFile', () => validator.validateActiveFile()),
        vscode.commands.registerCommand('hapa.checkServer', () => checkServer(keys, log)),
        vscode.commands.registerCommand('hapa.setApiKey', () => keys.promptAndStore()),
        vscode.commands.registerCommand('hapa.toggleInlineCompletions', () => completions.toggle()),
        vscode.commands.registerCommand('hapa.clearCache', () => completions.clearCache()),
        // Run by VS Code when Tab accepts a server completion (not in the palette).
        vscode.commands.registerCommand('hapa.completionAccepted', (id: string) => completions.accepted(id)),
        vscode.commands.registerCommand('hapa.selectBackend', () => selectBackend()),
        vscode.commands.registerCommand('hapa.triggerCompletion', () => completions.trigger()),
        ...registerEditorCommands(chat, log, context.extension.packageJSON.contributes?.commands ?? []),
    );
    log.info(`HAPA ${context.extension.packageJSON.version} activated in ${(performance.now() - started).toFixed(1)} ms`);
}

/** "HAPA: Select Backend": sets `hapa.mode`. */
async function selectBackend(): Promise<void> {
    const current = vscode.workspace.getConfiguration('hapa').get<string>('mode', 'auto');
    const picked = await vscode.window.showQuickPick(
        [
            { label: 'auto', detail: 'The server while it answers; the bundled model otherwise (no popup).' },
            { label: 'remote', detail: 'Only the server.' },
            { label: 'local', detail: 'Only the bundled model: nothing leaves this machine.' },
        ].map((item) => ({ ...item, description: item.label === current ? 'current' : undefined })),
        { title: 'HAPA: where completions come from' },
    );
    if (picked) await vscode.workspace.getConfiguration('hapa').update('mode', picked.label, vscode.ConfigurationTarget.Global);
}

export function deactivate(): void {}
