// The editor's requests about its selection — Explain, Fix, Generate Docstring, Generate Tests,
// Add Selection to Chat — and Open Chat / Show Logs / Show Menu. Each request asks in the chat
// (where the answer streams, with Insert / Replace / Copy), worded by the Rust core
// (editorTaskQuestion).
import * as vscode from 'vscode';
import { type ChatViewProvider, editorContext } from './chatView';
import { hapaCore } from './core';

type Task = 'explain' | 'fix' | 'docstring' | 'tests';

export function registerEditorCommands(
    chat: ChatViewProvider,
    log: vscode.LogOutputChannel,
    commands: ContributedCommand[],
): vscode.Disposable[] {
    const task = (name: Task) => () => askAbout(chat, name, log);
    return [
        vscode.commands.registerCommand('hapa.explainSelection', task('explain')),
        vscode.commands.registerCommand('hapa.fixSelection', task('fix')),
        vscode.commands.registerCommand('hapa.generateDocstring', task('docstring')),
        vscode.commands.registerCommand('hapa.generateTests', task('tests')),
        vscode.commands.registerCommand('hapa.generateCode', () => generate(chat, log)),
        vscode.commands.registerCommand('hapa.addSelectionToChat', () => addSelection(chat, log)),
        vscode.commands.registerCommand('hapa.openChat', () => chat.show().catch((error) => failed(log, 'Open Chat', error))),
        vscode.commands.registerCommand('hapa.showLogs', () => log.show(true)),
        vscode.commands.registerCommand('hapa.showMenu', () => showMenu(commands)),
    ];
}

/** A palette command as package.json contributes it. */
interface ContributedCommand {
    command: string;
    title: string;
    category?: string;
}

/** "HAPA: Show Menu" (Ctrl+Alt+M): every HAPA command in one quick pick, as package.json lists them. */
async function showMenu(commands: ContributedCommand[]): Promise<void> {
    const items = commands
        .filter((c) => c.category === 'HAPA' && c.command !== 'hapa.showMenu')
        .map((c) => ({ label: c.title, command: c.command }));
    const picked = await vscode.window.showQuickPick(items, { title: 'HAPA', placeHolder: 'What should HAPA do?' });
    if (picked) await vscode.commands.executeCommand(picked.command);
}

async function askAbout(chat: ChatViewProvider, task: Task, log: vscode.LogOutputChannel): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const context = editorContext(editor);
    if (!editor || !context) {
        void vscode.window.showWarningMessage('HAPA: open a Python file and select the code to ask about, then run the command again.');
        return;
    }
    const problems = task === 'fix' ? problemsIn(editor) : [];
    try {
        const what = `the ${context.description}`;
        const question = hapaCore().editorTaskQuestion(task, what, problems);
        log.info(`HAPA: ${task} asked about ${what}`);
        await chat.askFromEditor(question, context, hapaCore().editorTaskProgress(task, what));
    } catch (error) {
        failed(log, task, error);
    }
}

/**
 * "HAPA: Generate Code": asks for what to write, then asks the chat with the file up to the
 * cursor (or the selection) as context. The answer is the preview — highlighted, checked for
 * parsing — and Insert at Cursor puts it where the cursor is, after the splice check.
 */
async function generate(chat: ChatViewProvider, log: vscode.LogOutputChannel): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const context = editorContext(editor);
    const question = await vscode.window.showInputBox({
        title: 'HAPA: Generate Code',
        prompt: context ? `What should HAPA write? (The ${context.description} goes with it.)` : 'What should HAPA write?',
        placeHolder: 'e.g. a function that reads a CSV file into a list of dicts',
        ignoreFocusOut: true,
        validateInput: (text) => (text.trim() ? undefined : 'Say what the code should do.'),
    });
    if (!question?.trim()) return;
    const progress = context ? `Writing code with the ${context.description}` : 'Writing code';
    await chat.askFromEditor(question.trim(), context, progress).catch((error) => failed(log, 'Generate Code', error));
}

async function addSelection(chat: ChatViewProvider, log: vscode.LogOutputChannel): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const context = editorContext(editor);
    if (!editor || !context || editor.selection.isEmpty) {
        void vscode.window.showWarningMessage('HAPA: select Python code first, then add it to the chat.');
        return;
    }
    await chat.pinContext(context).catch((error) => failed(log, 'Add Selection to Chat', error));
}

/** The errors VS Code knows of in the selection (or the whole file without one), as "line N: message". */
function problemsIn(editor: vscode.TextEditor): string[] {
    const selection = editor.selection;
    return vscode.languages
        .getDiagnostics(editor.document.uri)
        .filter((d) => d.severity === vscode.DiagnosticSeverity.Error && (selection.isEmpty || selection.intersection(d.range)))
        .map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

function failed(log: vscode.LogOutputChannel, what: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`HAPA ${what}: ${message}`);
    void vscode.window.showErrorMessage(`HAPA could not ${what}: ${message}`);
}
