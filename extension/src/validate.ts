// "HAPA: Validate Python File": the Rust core parses the file; this publishes what it found.
import * as path from 'path';
import * as vscode from 'vscode';
import { hapaCore } from './core';

export function validateActiveFile(diagnostics: vscode.DiagnosticCollection, log: vscode.LogOutputChannel): void {
    const document = vscode.window.activeTextEditor?.document;
    if (!document || document.languageId !== 'python') {
        void vscode.window.showWarningMessage('HAPA: open a Python file, then run "HAPA: Validate Python File" again.');
        return;
    }
    const started = performance.now();
    const found = hapaCore().validatePython(document.getText());
    diagnostics.set(
        document.uri,
        found.map((d) => {
            const range = new vscode.Range(d.startLine, d.startCharacter, d.endLine, d.endCharacter);
            const diagnostic = new vscode.Diagnostic(range, d.message, vscode.DiagnosticSeverity.Error);
            diagnostic.source = 'HAPA';
            return diagnostic;
        }),
    );
    const name = path.basename(document.uri.path);
    log.info(`validated ${name}: ${found.length} syntax error(s) in ${(performance.now() - started).toFixed(1)} ms`);
    if (found.length === 0) {
        void vscode.window.showInformationMessage(`HAPA: ${name} has no syntax errors.`);
    } else {
        const plural = found.length === 1 ? 'error' : 'errors';
        void vscode.window.showWarningMessage(`HAPA: ${name} has ${found.length} syntax ${plural}; see the Problems panel.`);
    }
}
