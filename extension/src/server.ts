// "HAPA: Check Server": GET /health through the Rust API client, with the answer shown.
import * as vscode from 'vscode';
import { hapaCore } from './core';

const HEALTH_TIMEOUT_MS = 3000;

export function serverUrl(): string {
    return vscode.workspace.getConfiguration('hapa').get<string>('serverUrl', 'http://127.0.0.1:8000');
}

export async function checkServer(log: vscode.LogOutputChannel): Promise<void> {
    const url = serverUrl();
    try {
        const report = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `HAPA: checking ${url}` },
            () => hapaCore().checkHealth(url, HEALTH_TIMEOUT_MS),
        );
        const message = `HAPA server at ${report.serverUrl} is ok (version ${report.health.version}, ${Math.round(report.latencyMs)} ms).`;
        log.info(message);
        void vscode.window.showInformationMessage(message);
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
