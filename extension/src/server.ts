// "HAPA: Check Server": GET /health and a keyed request through the Rust API client.
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import { hapaCore } from './core';

const CHECK_TIMEOUT_MS = 3000;

export function serverUrl(): string {
    return vscode.workspace.getConfiguration('hapa').get<string>('serverUrl', 'http://127.0.0.1:8000');
}

export async function checkServer(keys: ApiKeyStore, log: vscode.LogOutputChannel): Promise<void> {
    const url = serverUrl();
    try {
        const key = await keys.get();
        const report = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `HAPA: checking ${url}` },
            () => hapaCore().checkServer(url, key, CHECK_TIMEOUT_MS),
        );
        log.info(report.summary);
        if (report.apiKey === 'accepted') {
            void vscode.window.showInformationMessage(report.summary);
        } else {
            const choice = await vscode.window.showWarningMessage(report.summary, 'Set API Key');
            if (choice === 'Set API Key') await keys.promptAndStore();
        }
    } catch (error) {
        // The Rust client's messages already say what happened and what to do.
        const message = error instanceof Error ? error.message : String(error);
        log.error(message);
        const choice = await vscode.window.showErrorMessage(message, 'Open Settings');
        if (choice === 'Open Settings') {
            await vscode.commands.executeCommand('workbench.action.openSettings', 'hapa.serverUrl');
        }
    }
}
