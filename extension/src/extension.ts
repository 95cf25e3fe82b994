// HAPA's VS Code entry point: registers the chat view and the commands, nothing else.
// Every piece of logic is in the Rust core (out/wasm), loaded lazily by core.ts.
import * as vscode from 'vscode';
import { ApiKeyStore } from './apiKey';
import { ChatViewProvider } from './chatView';
import { checkServer } from './server';
import { PythonValidator } from './validate';

export function activate(context: vscode.ExtensionContext): void {
    const started = performance.now();
    const log = vscode.window.createOutputChannel('HAPA', { log: true });
    const validator = new PythonValidator(log);
    const keys = new ApiKeyStore(context.secrets, log);
    context.subscriptions.push(
        log,
        validator,
        vscode.window.registerWebviewViewProvider(
            ChatViewProvider.viewId,
            new ChatViewProvider(context.extensionUri, log),
        ),
        vscode.commands.registerCommand('hapa.validateFile', () => validator.validateActiveFile()),
        vscode.commands.registerCommand('hapa.checkServer', () => checkServer(keys, log)),
        vscode.commands.registerCommand('hapa.setApiKey', () => keys.promptAndStore()),
    );
    log.info(`HAPA ${context.extension.packageJSON.version} activated in ${(performance.now() - started).toFixed(1)} ms`);
}

export function deactivate(): void {}
