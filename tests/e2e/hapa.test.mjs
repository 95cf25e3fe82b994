//! End-to-end tests of the packaged HAPA extension in a real VS Code: the chat view, syntax
//! validation in the Problems panel, and the server check. One workbench serves every test.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, before } from 'node:test';

import {
    FIXTURE_WORKSPACE, REPO_ROOT, Workbench, e2eTest, findFiles, ghostTextAfterTyping, loadedCoreBuild, selectBackend,
    startHapaServer, waitFor, waitForLogLine, waitForStatus,
} from './harness.mjs';
import { coreBuild } from '../model/local-model.mjs';
import { startScriptedModel } from './scripted-model.mjs';

/** The 1-based line of valid.py's `def greet(...)` (code is only ever added after it). */
const GREET_LINE = readFileSync(path.join(FIXTURE_WORKSPACE, 'valid.py'), 'utf8').split('\n').findIndex((line) => line.startsWith('def ')) + 1;

/** 1-based lines of broken.py that carry a `# syntax error` comment: where Problems must point. */
const BROKEN_LINES = readFileSync(path.join(FIXTURE_WORKSPACE, 'broken.py'), 'utf8')
    .split('\n')
    .flatMap((line, index) => (line.includes('# syntax error') ? [index + 1] : []));

/**
 * Workspace files made for this run: a module another one imports from, a ~10 MB module, one
 * nested 5,000 brackets deep, and one whose questions are answered slowly.
 */
const GENERATED_FILES = {
    'helpers.py': 'def shout(text: str) -> str:\n    """Loud."""\n    return text.upper()\n',
    'app_main.py': 'from helpers import shout\n\n\n',
    'big.py': Array.from({ length: 240_000 }, (_, n) => `value_${n} = ${n}  # a line of a big module\n`).join(''),
    'nested.py': `x = ${'('.repeat(5000)}1${')'.repeat(5000)}\n`,
    // Questions about it get the scripted model's slow answer (they name the file).
    'slowly.py': 'def wait(seconds):\n    return seconds\n',
    // Opened with the local backend: the cursor comes to rest in it before any keystroke.
    'resting.py': 'import os\n\n\ndef config_path(directory):\n    """Where the configuration lives."""\n    return os.path.join(directory, "config.ini")\n\n\ndef read_config(directory):\n    with open(config_path(directory)) as handle:\n        return handle.read()\n\n\n',
};

let workbench;
let server;
let serverError;
/** The scripted model server, once a test has put hapa-server in front of it. */
let scripted;
let failedOnce = 0;

before(async () => {
    // The server starts before VS Code so that hapa.serverUrl can point at it from the start. If it
    // cannot start, only the server test fails: the others do not need it.
    try {
        server = await startHapaServer();
    } catch (error) {
        serverError = error;
    }
    workbench = await Workbench.start({
        name: 'hapa',
        // An unused port when the server did not start: its test fails on serverError anyway.
        settings: { 'hapa.serverUrl': server?.url ?? 'http://127.0.0.1:9' },
        files: GENERATED_FILES,
    });
    if (server) workbench.addArtifact(server.logPath);
}, { timeout: 25 * 60_000 }); // a fresh machine installs code-server first (minutes)

after(async () => {
    await workbench?.close();
    await server?.stop();
    await scripted?.close();
});

const session = () => workbench;

e2eTest('the HAPA activity-bar view renders the chat panel', { timeoutMs: 120_000 }, session, async (wb) => {
    await wb.openHapaView();
    // The first load compiles the webview's wasm: allow it time.
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 90_000 });
    const main = frame.locator('main#hapa-chat');

    assert.equal(await main.getAttribute('aria-label'), 'HAPA chat');
    assert.equal((await main.locator('header h1').textContent())?.trim(), 'HAPA');
    assert.equal(await main.locator('#hapa-input').count(), 1, 'one #hapa-input');
    assert.ok(await main.locator('#hapa-input').isVisible(), '#hapa-input is visible');
    assert.equal(await main.locator('#hapa-input').getAttribute('aria-label'), 'Ask HAPA');
    assert.equal((await main.locator('#hapa-send').textContent())?.trim(), 'Send');
    assert.equal(await main.locator('ol#hapa-history').count(), 1, 'one #hapa-history');
    assert.equal(await main.locator('ol#hapa-history > li').count(), 0, 'the history starts empty');
    assert.equal((await main.locator('.hapa-empty').textContent())?.trim(), 'Ask HAPA for Python code.');

    // The page that rendered this is locked down: no requests at all, scripts only by nonce.
    const csp = await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    assert.match(csp, /default-src 'none'/, csp);
    assert.match(csp, /connect-src 'none'/, csp);
    assert.match(csp, /script-src 'nonce-[^']+' 'wasm-unsafe-eval'(;|$)/, csp);
    assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/, csp);
    // Only VS Code's own resource host, never a bare scheme that lets any site in.
    assert.doesNotMatch(csp, /(^|\s)(https?:|\*)(\s|;|$)/, csp);
});

e2eTest('Validate Python File shows every syntax error of broken.py in Problems', { timeoutMs: 120_000 }, session, async (wb, t) => {
    assert.equal(BROKEN_LINES.length, 3, 'the fixture marks three broken lines');

    await wb.openFile('broken.py');
    assert.equal(await wb.activeLanguage(), 'Python');
    await wb.runCommand('HAPA: Validate Python File');
    await wb.openProblems();
    // Diagnostics of one file arrive together: wait for any, then compare the settled list.
    const problems = await wb.waitForProblems(
        'HAPA problems in broken.py',
        (all) => all.some((problem) => problem.source === 'HAPA' && problem.file === 'broken.py'),
        { timeoutMs: 60_000 },
    );

    const hapa = problems.filter((problem) => problem.source === 'HAPA');
    for (const { line, column, message } of hapa) t.diagnostic(`broken.py:${line}:${column}: ${message}`);
    assert.deepEqual(
        hapa.map(({ file, line, severity }) => ({ file, line, severity })),
        BROKEN_LINES.map((line) => ({ file: 'broken.py', line, severity: 'error' })),
        `Problems shows: ${JSON.stringify(problems, null, 1)}`,
    );
    for (const problem of hapa) {
        assert.ok(problem.message.length > 0, `line ${problem.line} has a message`);
        assert.ok(problem.column >= 1, `line ${problem.line} has a column`);
    }
});

e2eTest('Validate Python File says a valid file has no syntax errors', { timeoutMs: 120_000 }, session, async (wb, t) => {
    await wb.openFile('valid.py');
    assert.equal(await wb.activeLanguage(), 'Python');
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Validate Python File');

    const notification = await wb.waitForNotification('HAPA: valid.py has no syntax errors.', { timeoutMs: 60_000 });
    t.diagnostic(`notification: ${notification.text}`);
    assert.equal(notification.severity, 'info');
    await wb.openProblems();
    const problems = await wb.waitForProblems('the Problems panel to settle', () => true);
    assert.deepEqual(problems.filter((problem) => problem.file === 'valid.py'), [], 'no problems in valid.py');
});

e2eTest('a syntax error typed into a file appears in Problems and clears when fixed', { timeoutMs: 120_000 }, session, async (wb, t) => {
    await wb.openFile('valid.py');
    const inValid = (all) => all.filter((problem) => problem.source === 'HAPA' && problem.file === 'valid.py');
    await wb.openProblems();
    await wb.waitForProblems('valid.py to have no problems', (all) => inValid(all).length === 0);

    // Type a broken line at the end of the file, as a person would.
    await wb.page.locator('.monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.page.keyboard.type('total = (1 +', { delay: 20 });
    const broken = await wb.waitForProblems('a HAPA problem in valid.py', (all) => inValid(all).length > 0, { timeoutMs: 30_000 });
    for (const p of inValid(broken)) t.diagnostic(`while typing: valid.py:${p.line}:${p.column}: ${p.message}`);
    assert.ok(inValid(broken).every((p) => p.line >= 10), JSON.stringify(inValid(broken)));

    // Fix it: finish the expression; the problem goes away without running any command.
    await wb.page.keyboard.type(' 2)', { delay: 20 });
    await wb.waitForProblems('valid.py to be clean again', (all) => inValid(all).length === 0, { timeoutMs: 30_000 });
});

e2eTest('Set API Key refuses a mistyped key as it is typed and stores a good one in SecretStorage', { timeoutMs: 120_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    const key = await server.createKey('e2e-user', 'user');
    const typo = key.slice(0, 10) + (key[10] === 'a' ? 'b' : 'a') + key.slice(11);

    await wb.clearNotifications();
    await wb.runCommand('HAPA: Set API Key');
    const complaint = await wb.typeInInputBox(typo);
    t.diagnostic(`for a mistyped key the input box says: ${complaint}`);
    assert.match(complaint, /check for a typo/);
    await wb.page.keyboard.press('Enter');
    assert.ok(await wb.inputBoxOpen(), 'a malformed key cannot be submitted');

    // A well-formed key: the box shows its prompt again instead of a complaint.
    const prompt = await wb.typeInInputBox(key);
    assert.doesNotMatch(prompt, /typo|is `hapa_`/, 'a well-formed key raises no complaint');
    assert.match(prompt, /Press 'Enter' to confirm/);
    await wb.page.keyboard.press('Enter');
    await wb.waitForNotification('HAPA: API key stored.', { timeoutMs: 30_000 });

    await wb.clearNotifications();
    await wb.runCommand('HAPA: Check Server');
    const accepted = await wb.waitForNotification(/your API key is accepted\.$/, { timeoutMs: 30_000 });
    t.diagnostic(`notification: ${accepted.text}`);
    assert.equal(accepted.severity, 'info');

    // The key lives in SecretStorage only: not in settings, not in any log.
    const files = await findFiles(wb.userDataDir, (f) => f.endsWith('.json') || f.endsWith('.log'));
    for (const file of files) {
        const text = await fs.readFile(file, 'utf8').catch(() => '');
        assert.ok(!text.includes(key), `the key leaked into ${path.relative(wb.userDataDir, file)}`);
    }
});

e2eTest('Check Server reports a running server as ok and a stopped one as not reachable', { timeoutMs: 150_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    const prefix = `HAPA server at ${server.url.replace(/\/$/, '')}`;
    const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    await wb.clearNotifications();
    await wb.runCommand('HAPA: Check Server');
    const ok = await wb.waitForNotification(new RegExp(`^${escaped}/? is ok`), { timeoutMs: 30_000 });
    t.diagnostic(`notification: ${ok.text}`);
    // The previous test stored a key this server issued.
    assert.equal(ok.severity, 'info', ok.text);

    await server.kill();
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Check Server');
    const down = await wb.waitForNotification(new RegExp(`^${escaped}/? is not reachable`), { timeoutMs: 30_000 });
    t.diagnostic(`notification: ${down.text}`);
    assert.equal(down.severity, 'error', down.text);
    // The message goes on to say what to do, not just that it failed.
    assert.match(down.text, /is not reachable\W+\w.{10,}/, down.text);
    // Back up (same address, same keys) for the tests after this one.
    server = await server.restart();
});

e2eTest('the chat streams an answer from the server, inserts it through the syntax check, and sends 👎', { timeoutMs: 240_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    // The key stored by the Set API Key test is in SecretStorage. The cursor goes on a fresh
    // line at the end of valid.py: the question's context and where Insert at Cursor puts code.
    await wb.openFile('valid.py');
    await wb.page.locator('.monaco-editor .view-lines').first().click();
    // The file ends with a newline: Control+End then Enter leaves the cursor at column 0 of an
    // empty last line, so the text before the cursor is the whole file as saved.
    await wb.page.keyboard.press('Control+End');
    await wb.page.keyboard.press('Enter');
    const before = await savedText(wb, 'valid.py');

    await wb.openHapaView();
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 90_000 });
    const question = 'Write a function that returns the <b>sum</b> of a list of numbers';
    // Every state the answer goes through, recorded in the page as it changes (polling from here
    // could miss a short stream): `state stop=<Stop shown> code=<characters shown>`.
    await frame.evaluate(() => {
        const seen = (window.hapaStates = []);
        const record = () => {
            const answer = [...document.querySelectorAll('li[data-answer]')].at(-1);
            if (!answer) return;
            const code = answer.querySelector('pre.hapa-code code')?.textContent ?? '';
            const line = `${answer.dataset.state} stop=${!!document.querySelector('#hapa-stop')} code=${code.length}`;
            if (seen.at(-1) !== line) seen.push(line);
        };
        new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await frame.locator('#hapa-input').fill(question);
    await frame.locator('#hapa-input').press('Enter');

    const user = frame.locator('ol#hapa-history > li[data-author="user"]').last();
    await user.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match((await user.textContent()) ?? '', /<b>sum<\/b>/, 'markup in a question is shown as text');
    assert.equal(await user.locator('b').count(), 0);
    assert.equal(await frame.locator('#hapa-input').inputValue(), '', 'the input is cleared');

    // The answer shows while it is written (Stop offered), then completes.
    const answer = frame.locator('ol#hapa-history > li[data-answer]').last();
    await answer.waitFor({ state: 'visible', timeout: 30_000 });
    await waitFor('the answer to complete', async () => {
        const state = await answer.getAttribute('data-state');
        return state === 'done' || state === 'failed' ? state : undefined;
    }, { timeoutMs: 120_000 });
    const states = await frame.evaluate(() => window.hapaStates);
    t.diagnostic(`states seen: ${states.join(' | ')}`);
    assert.equal(await answer.getAttribute('data-state'), 'done', (await answer.textContent()) ?? '');
    const streaming = states.filter((line) => line.startsWith('streaming'));
    assert.ok(streaming.length > 0 && streaming.every((line) => line.includes('stop=true')), `streamed with a Stop button: ${states}`);
    assert.ok(streaming.some((line) => !line.endsWith('code=0')), `code showed before the answer was done: ${states}`);
    assert.equal(await frame.locator('#hapa-stop').isVisible(), false, 'no Stop once done');
    assert.match((await answer.locator('.hapa-context').textContent()) ?? '', /valid\.py/, 'the context sent is shown');
    assert.match((await answer.locator('.hapa-meta').textContent()) ?? '', /hapa-server \(hapa-code\) · \d+ ms/);
    const code = (await answer.locator('pre.hapa-code code').textContent()) ?? '';
    t.diagnostic(`answer: ${JSON.stringify(code)}`);
    assert.ok(code.trim().length > 0, 'the answer has code');

    // Insert at Cursor goes through the same splice check as every insertion (the Rust core,
    // loaded here too, says what to expect); an acceptable snippet lands as one undoable edit.
    const check = core().checkInsertion(before, code, '');
    t.diagnostic(`after ${JSON.stringify(before.slice(-40))} the core says the insertion is ${check.acceptable ? 'acceptable' : `not acceptable: ${JSON.stringify(check.problems)}`}`);
    await wb.clearNotifications();
    await answer.locator('.hapa-insert').first().click();
    if (check.acceptable) {
        await waitFor('the code in the editor', async () => (await editorText(wb)).includes(firstLine(code)) || undefined, { timeoutMs: 15_000 });
        assert.equal(await savedText(wb, 'valid.py'), before + code, 'inserted at the cursor, exactly');
    } else {
        await wb.waitForNotification(/HAPA: this code would break valid\.py/, { timeoutMs: 15_000 });
        await wb.clearNotifications();
        assert.equal(await savedText(wb, 'valid.py', { changed: false }), before, 'flagged code is not inserted silently');
    }

    // 👎 reaches the server's feedback store, under this answer's request id.
    await answer.locator('.hapa-down').click();
    const stored = await waitFor('the 👎 in the feedback store', async () => {
        const all = await server.feedback();
        return all.find((record) => record.event === 'down');
    }, { timeoutMs: 15_000 });
    t.diagnostic(`stored feedback: ${JSON.stringify(stored)}`);
    assert.equal(stored.key_name, 'e2e-user');
    assert.match(stored.request_id, /\S{8,}/);
    assert.equal(await answer.locator('.hapa-down').getAttribute('aria-pressed'), 'true');
});

e2eTest('chat code that would break the file is flagged, not inserted', { timeoutMs: 120_000 }, session, async (wb) => {
    // Put the cursor inside `-> str:` of `def greet(...)`: no function body fits there.
    await wb.openFile('valid.py');
    const editor = wb.page.locator('.monaco-editor .view-lines').first();
    await editor.click();
    await wb.page.keyboard.press('Control+Home');
    // The previous test's save may still be being written: read until the file is whole.
    const before = await waitFor('valid.py on disk', async () => {
        const text = await savedText(wb, 'valid.py', { changed: false });
        return text.includes('\ndef ') ? text : undefined;
    }, { timeoutMs: 10_000 });
    const line = before.split('\n').findIndex((l) => l.startsWith('def '));
    assert.ok(line >= 0, 'valid.py has a def');
    for (let i = 0; i < line; i++) await wb.page.keyboard.press('ArrowDown');
    await wb.page.keyboard.press('End');
    await wb.page.keyboard.press('ArrowLeft');
    await wb.page.keyboard.press('ArrowLeft');

    await wb.openHapaView();
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answer = frame.locator('ol#hapa-history > li[data-answer][data-state="done"]').last();
    await wb.clearNotifications();
    await answer.locator('.hapa-insert').first().click();
    const warning = await wb.waitForNotification(/HAPA: this code would break valid\.py \(line \d+/, { timeoutMs: 15_000 });
    assert.equal(warning.severity, 'warning');
    // Dismissed: the file is as it was.
    await wb.clearNotifications();
    assert.equal(await savedText(wb, 'valid.py', { changed: false }), before);
});

/**
 * Selects lines `from` to `to` (1-based, whole lines) of the active editor, and waits until the
 * editor shows the selection (a view that takes the focus back as it settles can swallow the
 * keys: then it selects again).
 */
async function selectLines(wb, from, to) {
    const shown = wb.page.locator('.editor-group-container.active .monaco-editor .selected-text');
    for (let attempt = 1; ; attempt++) {
        await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
        await wb.page.keyboard.press('Control+Home');
        for (let i = 1; i < from; i++) await wb.page.keyboard.press('ArrowDown');
        await wb.page.keyboard.press('Home');
        for (let i = from; i < to; i++) await wb.page.keyboard.press('Shift+ArrowDown');
        await wb.page.keyboard.press('Shift+End');
        const selected = await waitFor('the selection to show', async () => (await shown.count()) > 0 || undefined, { timeoutMs: 3_000 }).catch(() => false);
        if (selected) return;
        if (attempt === 3) throw new Error(`lines ${from}-${to} could not be selected`);
    }
}

/** How many answers the chat shows now (the chat view was loaded by an earlier test). */
async function answerCount(wb) {
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    return frame.locator('ol#hapa-history > li[data-answer]').count();
}

/** The chat's last question and the answer after it, once an answer beyond the first `after` has ended. */
async function lastExchange(wb, after, { timeoutMs = 120_000 } = {}) {
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answer = frame.locator('ol#hapa-history > li[data-answer]').nth(after);
    await waitFor('a new answer to end', async () => ['done', 'failed', 'stopped'].includes(await answer.getAttribute('data-state').catch(() => null)) || undefined, { timeoutMs });
    const question = ((await frame.locator('ol#hapa-history > li[data-author="user"] .hapa-text').last().textContent()) ?? '').trim();
    return { frame, question, answer };
}

e2eTest('Explain Selection from the palette asks the chat about the selected lines', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    await wb.openFile('valid.py');
    const def = GREET_LINE;
    await selectLines(wb, def, def + 1);
    const after = await answerCount(wb);
    await wb.runCommand('HAPA: Explain Selection');
    const { question, answer } = await lastExchange(wb, after);
    t.diagnostic(`asked: ${JSON.stringify(question)}`);
    assert.equal(question, `Explain what the selection of valid.py, lines ${def}-${def + 1} does, step by step.`);
    assert.equal(await answer.getAttribute('data-state'), 'done', (await answer.textContent()) ?? '');
    assert.equal(await answer.locator('.hapa-context').textContent(), `Context: selection of valid.py, lines ${def}-${def + 1}`);
    assert.match((await answer.locator('.hapa-meta').textContent()) ?? '', /^hapa-server \(hapa-code\) · \d+ ms/);
});

e2eTest('Generate Code asks what to write and answers in the chat with the file as context', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    await wb.openFile('valid.py');
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    const after = await answerCount(wb);
    await wb.runCommand('HAPA: Generate Code');
    const input = wb.page.locator('.quick-input-widget .quick-input-box input');
    await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'HAPA: Generate Code' }).waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('a function that doubles a number');
    await input.press('Enter');
    const { question, answer } = await lastExchange(wb, after);
    assert.equal(question, 'a function that doubles a number');
    assert.equal(await answer.getAttribute('data-state'), 'done', (await answer.textContent()) ?? '');
    assert.match((await answer.locator('.hapa-context').textContent()) ?? '', /^Context: valid\.py up to line \d+$/);
    t.diagnostic(`answer: ${JSON.stringify(await answer.locator(':scope > pre.hapa-code code').textContent())}`);
    assert.equal(await answer.locator('.hapa-insert').count(), 1, 'Insert at Cursor is offered');
});

/**
 * Right-clicks the active editor inside its selection (or where the cursor is without one),
 * opens the HAPA submenu and runs its item `label`; returns every label the menu showed.
 */
async function runFromEditorMenu(wb, label) {
    const selected = wb.page.locator('.editor-group-container.active .monaco-editor .selected-text').first();
    const box = (await selected.count()) ? await selected.boundingBox() : null;
    if (box) {
        await wb.page.mouse.click(box.x + Math.min(box.width / 2, 20), box.y + box.height / 2, { button: 'right' });
    } else {
        await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click({ button: 'right' });
    }
    // VS Code's own menus (in a shadow root, which these locators pierce).
    const hapa = wb.page.locator('.monaco-menu .action-item', { hasText: /^HAPA$/ }).first();
    await hapa.waitFor({ state: 'visible', timeout: 10_000 });
    await hapa.hover();
    const items = wb.page.locator('.monaco-menu .action-label');
    const item = items.filter({ hasText: new RegExp(`^${label}$`) }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    const labels = (await items.allTextContents()).map((text) => text.trim()).filter(Boolean);
    // Hovering an item focuses it and Enter runs it; should the menu still be open, click.
    await item.hover();
    await wb.page.keyboard.press('Enter');
    await wb.page.waitForTimeout(1_000);
    if (await item.isVisible()) await item.click();
    return labels;
}

e2eTest('the editor context menu has a HAPA submenu, and its Fix Selection sends the file\'s syntax errors', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    await wb.openFile('broken.py');
    // HAPA's diagnostics of broken.py are what Fix reports: wait until they are there.
    await wb.runCommand('HAPA: Validate Python File');
    await wb.clearNotifications();
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+A');
    const after = await answerCount(wb);
    const labels = await runFromEditorMenu(wb, 'Fix Selection');
    t.diagnostic(`menu items: ${JSON.stringify(labels)}`);
    for (const label of ['Explain Selection', 'Fix Selection', 'Generate Docstring', 'Generate Tests', 'Add Selection to Chat', 'Open Chat', 'Validate Python File']) {
        assert.ok(labels.includes(label), `${label} in ${JSON.stringify(labels)}`);
    }
    const { question } = await lastExchange(wb, after);
    t.diagnostic(`asked: ${JSON.stringify(question)}`);
    assert.match(question, /^Fix the selection of broken\.py, lines 1-\d+\. Python reports: /);
    for (const line of BROKEN_LINES) assert.ok(question.includes(`line ${line}: `), `line ${line} in ${question}`);
});

e2eTest('Explain, Generate Docstring, Generate Tests and Add Selection to Chat each run from the HAPA submenu', { timeoutMs: 300_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    await wb.openHapaView();
    await wb.openFile('valid.py');
    const what = `the selection of valid.py, lines ${GREET_LINE}-${GREET_LINE + 1}`;
    const asks = [
        ['Explain Selection', `Explain what ${what} does, step by step.`],
        ['Generate Docstring', `Write a docstring for ${what}: what it does, its arguments and what it returns.`],
        ['Generate Tests', `Write pytest unit tests for ${what}.`],
    ];
    for (const [label, expected] of asks) {
        await selectLines(wb, GREET_LINE, GREET_LINE + 1);
        const after = await answerCount(wb);
        await runFromEditorMenu(wb, label);
        const { question, answer } = await lastExchange(wb, after);
        t.diagnostic(`${label} asked: ${JSON.stringify(question)}`);
        assert.equal(question, expected);
        assert.equal(await answer.locator('.hapa-context').textContent(), `Context: ${what.replace(/^the /, '')}`);
    }
    // Fix from the palette too (the submenu's Fix has its own test).
    await selectLines(wb, GREET_LINE, GREET_LINE + 1);
    let after = await answerCount(wb);
    await wb.runCommand('HAPA: Fix Selection');
    const fixed = await lastExchange(wb, after);
    assert.equal(fixed.question, `Fix ${what}: find the bug and correct it.`);

    await selectLines(wb, GREET_LINE, GREET_LINE);
    await runFromEditorMenu(wb, 'Add Selection to Chat');
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const pinned = `The selection of valid.py, lines ${GREET_LINE}-${GREET_LINE} will be sent with your next question.`;
    await frame.locator('ol#hapa-history > li[data-author="hapa"] .hapa-text', { hasText: pinned }).last().waitFor({ state: 'visible', timeout: 15_000 });
});

e2eTest('Add Selection to Chat pins the selection for the next question; Open Chat and Show Logs show theirs', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    await wb.openFile('valid.py');
    const def = GREET_LINE;
    await selectLines(wb, def, def);
    await wb.runCommand('View: Show Explorer');
    await wb.runCommand('HAPA: Add Selection to Chat');
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const pinned = `The selection of valid.py, lines ${def}-${def} will be sent with your next question.`;
    await frame.locator('ol#hapa-history > li[data-author="hapa"] .hapa-text', { hasText: pinned }).last().waitFor({ state: 'visible', timeout: 15_000 });
    const preview = frame.locator('#hapa-context-preview');
    const previewSays = (expected) => waitFor(`the context preview to match ${expected}`, async () => expected.test((await preview.textContent()) ?? '') || undefined, {
        timeoutMs: 10_000,
        describe: async () => JSON.stringify(await preview.textContent()),
    });
    await previewSays(new RegExp(`^Sends the added selection of valid\\.py, lines ${def}-${def}\\.$`));
    // The cursor moves away; the pinned selection is still what goes with the question.
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.openHapaView();
    const after = await answerCount(wb);
    await frame.locator('#hapa-input').fill('what does it return?');
    await frame.locator('#hapa-input').press('Enter');
    const { answer } = await lastExchange(wb, after);
    assert.equal(await answer.locator('.hapa-context').textContent(), `Context: selection of valid.py, lines ${def}-${def}`);
    // Used once; the preview follows the editor again (the cursor at the end, no selection).
    await previewSays(/^Sends the valid\.py up to line \d+\.$/);

    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.runCommand('View: Show Explorer');
    await wb.page.locator('.sidebar .composite.title', { hasText: 'Explorer' }).first().waitFor({ state: 'visible', timeout: 10_000 });
    await wb.runCommand('HAPA: Open Chat');
    await wb.page.locator('.sidebar .composite.title', { hasText: 'HAPA' }).first().waitFor({ state: 'visible', timeout: 10_000 });

    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.runCommand('HAPA: Show Logs');
    // The Output panel, switched to the HAPA channel, showing its log lines.
    const shown = await waitFor('the HAPA channel in the Output panel', async () => {
        const channels = await wb.page.locator('.part.panel select').evaluateAll((selects) => selects.map((select) => select.selectedOptions[0]?.textContent?.trim() ?? ''));
        const text = await wb.page.locator('.part.panel .view-lines').first().innerText().catch(() => '');
        return channels.includes('HAPA') && /\[(info|warning|error)\]/.test(text) ? text : undefined;
    }, { timeoutMs: 15_000, describe: async () => JSON.stringify(await wb.page.locator('.part.panel select').evaluateAll((selects) => selects.map((select) => select.selectedOptions[0]?.textContent))) });
    assert.match(shown, /\[info\]/);
});

e2eTest('Show Menu (Ctrl+Alt+M) offers every HAPA command; Generate Tests from it, Generate Docstring from the palette', { timeoutMs: 180_000 }, session, async (wb) => {
    if (serverError) throw serverError;
    await wb.openHapaView();
    await wb.openFile('valid.py');
    await selectLines(wb, GREET_LINE, GREET_LINE + 1);
    const what = `the selection of valid.py, lines ${GREET_LINE}-${GREET_LINE + 1}`;

    let after = await answerCount(wb);
    await wb.page.keyboard.press('Control+Alt+M');
    const picker = wb.page.locator('.quick-input-widget');
    await picker.locator('.quick-input-title', { hasText: /^HAPA$/ }).waitFor({ state: 'visible', timeout: 10_000 });
    const input = picker.locator('.quick-input-box input');
    const offers = async (label) => {
        await input.fill(label);
        const row = picker.locator('.quick-input-list .monaco-list-row .label-name', { hasText: new RegExp(`^${label}$`) });
        await row.first().waitFor({ state: 'visible', timeout: 5_000 });
    };
    for (const label of ['Generate Code', 'Explain Selection', 'Fix Selection', 'Generate Docstring', 'Add Selection to Chat', 'Open Chat', 'Validate Python File', 'Trigger Completion', 'Toggle Inline Completions', 'Select Backend', 'Check Server', 'Set API Key', 'Clear Cache', 'Show Logs', 'Generate Tests']) {
        await offers(label);
    }
    await input.press('Enter');
    let { question } = await lastExchange(wb, after);
    assert.equal(question, `Write pytest unit tests for ${what}.`);

    after = await answerCount(wb);
    await wb.runCommand('HAPA: Generate Docstring');
    ({ question } = await lastExchange(wb, after));
    assert.equal(question, `Write a docstring for ${what}: what it does, its arguments and what it returns.`);
});

e2eTest('activation is logged with its duration', { timeoutMs: 60_000 }, session, async (wb, t) => {
    // The figure is reported, not judged: README's activation time comes from here.
    const activation = Number((await waitForLogLine(wb, 'the "HAPA ... activated in" log line', /HAPA \S+ activated in ([\d.]+) ms/))[1]);
    t.diagnostic(`activation took ${activation} ms`);
    assert.ok(Number.isFinite(activation), `activation ${activation} ms`);
});

/** The editor's text as shown (spaces restored). */
async function editorText(wb) {
    return (await wb.page.locator('.monaco-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
}

/**
 * Saves the active editor and reads `relative` from disk: the document's exact text. `changed`:
 * the document was edited since it was last saved, so wait for the write itself.
 */
async function savedText(wb, relative, { changed = true } = {}) {
    const file = wb.workspacePath(relative);
    const before = (await fs.stat(file)).mtimeMs;
    await wb.runCommand('File: Save');
    if (changed) {
        await waitFor(`${relative} to be written`, async () => (await fs.stat(file)).mtimeMs !== before || undefined, {
            timeoutMs: 10_000,
            describe: async () => `tabs: ${JSON.stringify(await wb.page.locator('.tabs-container .tab').evaluateAll((tabs) => tabs.map((tab) => tab.className)))}`,
        });
    }
    return fs.readFile(file, 'utf8');
}

function firstLine(code) {
    return code.split('\n').find((line) => line.trim()) ?? '';
}

/** The Rust core as the extension loads it (out/wasm), for what a check should conclude. */
function core() {
    return createRequire(import.meta.url)(path.join(REPO_ROOT, 'out/wasm/hapa_wasm.js'));
}

e2eTest('the bundled model offers ghost text for a partial line and Tab accepts it', { timeoutMs: 180_000 }, session, async (wb, t) => {
    await selectBackend(wb, 'local');
    await waitForStatus(wb, 'HAPA: Local');
    const typed = 'message = greet(';
    const suggested = await ghostTextAfterTyping(wb, 'valid.py', typed);
    t.diagnostic(`ghost text after ${JSON.stringify(typed)}: ${JSON.stringify(suggested)}`);
    t.diagnostic(`status bar: ${await waitForStatus(wb, 'HAPA: Local')}`);
    // The worker loaded the build of the core this engine runs: code-server's Node 20 has no
    // relaxed SIMD unless asked (relaxed-simd.test.mjs asks).
    assert.equal(await loadedCoreBuild(wb), coreBuild);
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');

    await wb.page.keyboard.press('Tab');
    await waitFor('the suggestion to be inserted', async () => {
        const lines = ((await wb.page.locator('.monaco-editor .view-lines').first().innerText())).replace(/\u00a0/g, ' ');
        return lines.includes(typed + suggested) || undefined;
    }, { timeoutMs: 10_000 });
    // The model may offer the next piece at once (shown after it); the accepted one is in the line.
    t.diagnostic(`ghost text after accepting: ${JSON.stringify((await ghost.allTextContents()).join(''))}`);
    // The line's indentation is the editor's (Enter keeps the previous line's), not the typed text.
    const line = (await editorText(wb)).split('\n').find((l) => l.includes(typed)) ?? '';
    assert.ok(line.trimStart().startsWith(`${typed}${suggested}`), line);

    // The cursor comes to rest in another file: the model computes the prompt there before the
    // first keystroke asks for it.
    await wb.openFile('resting.py');
    await wb.page.keyboard.press('Control+End');
    const prepared = await waitForLogLine(wb, 'the "prompt prepared at resting.py" log line', /HAPA local model: prompt prepared at resting\.py:14 \((\d+) tokens, \d+ ms\)/);
    t.diagnostic(prepared[0]);
});

e2eTest('with the local backend the chat is answered by the bundled model, offline', { timeoutMs: 180_000 }, session, async (wb, t) => {
    await selectBackend(wb, 'local');
    await waitForStatus(wb, 'HAPA: Local');
    await wb.openHapaView();
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answers = frame.locator('ol#hapa-history > li[data-answer]');
    const count = await answers.count();
    await frame.locator('#hapa-input').fill('print the numbers from 1 to 10');
    await frame.locator('#hapa-input').press('Enter');
    const answer = answers.nth(count);
    await waitFor('the local answer', async () => ['done', 'failed'].includes(await answer.getAttribute('data-state')) || undefined, { timeoutMs: 120_000 });
    t.diagnostic(`local answer: ${JSON.stringify(await answer.locator('pre.hapa-code code').textContent())}`);
    assert.equal(await answer.getAttribute('data-state'), 'done', (await answer.textContent()) ?? '');
    assert.match((await answer.locator('.hapa-meta').textContent()) ?? '', /^local model \(hapa-code\) · \d+ ms/);
    assert.equal(await answer.locator('.hapa-down').count(), 0, 'no server answer, nothing to rate');
    assert.equal(await answers.count(), count + 1, 'the server was not asked first');
});

e2eTest('completions come from the server, from the local model while it is down, and from the server again', { timeoutMs: 240_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    // The key stored by the Set API Key test is in SecretStorage; auto mode prefers the server.
    await selectBackend(wb, 'auto');
    await waitForStatus(wb, 'HAPA: Auto');
    await wb.openFile('valid.py');
    await wb.page.locator('.monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.page.keyboard.press('Enter');
    const ask = async (typed) => {
        await wb.page.keyboard.type(typed, { delay: 20 });
        await wb.page.keyboard.press('Alt+Backslash');
    };
    await ask('value = len(');
    t.diagnostic(`with the server up: ${await waitForStatus(wb, 'HAPA: Remote', 60_000)}`);

    await server.kill();
    // Completions go on without a popup; the status bar names the local model.
    await waitFor('a local completion while the server is down', async () => {
        await ask('x');
        const texts = await wb.page.locator('.statusbar-item').allTextContents();
        return texts.find((text) => text.includes('HAPA: Local'));
    }, { timeoutMs: 90_000, intervalMs: 1_000 });
    assert.equal((await wb.notifications()).filter((n) => n.text.includes('HAPA')).length, 0, 'no popup on failover');

    server = await server.restart();
    const back = await waitFor('the server to answer again', async () => {
        await ask('y');
        const texts = await wb.page.locator('.statusbar-item').allTextContents();
        return texts.find((text) => text.includes('HAPA: Remote'));
    }, { timeoutMs: 90_000, intervalMs: 2_000 });
    t.diagnostic(`after the restart: ${back}`);
});

e2eTest('a server completion taken with Tab is reported as accepted, one passed over as dismissed', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (serverError) throw serverError;
    // Auto mode with the server up (the test before restarted it): completions come from it.
    await wb.openFile('valid.py');
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');
    const offered = async (typed) => {
        // A new line after the end of this one: an accepted completion leaves the cursor before
        // the `)` the editor closed by itself, and Enter there would carry it to the next line.
        await wb.page.keyboard.press('End');
        await wb.page.keyboard.press('Enter');
        await wb.page.keyboard.type(typed, { delay: 20 });
        return waitFor(`a server completion after ${JSON.stringify(typed)}`, async () => {
            const text = (await ghost.allTextContents()).join('');
            if (text) return text;
            await wb.page.keyboard.press('Alt+Backslash');
            return undefined;
        }, { timeoutMs: 60_000, intervalMs: 1_000 });
    };
    const events = async () => (await server.feedback()).filter((f) => f.completion_id);

    t.diagnostic(`offered: ${JSON.stringify(await offered('accepted = greet('))}`);
    await wb.page.keyboard.press('Tab');
    const accepted = await waitFor('an accept in the feedback store', async () => (await events()).find((f) => f.event === 'accept'), { timeoutMs: 15_000 });
    t.diagnostic(`stored: ${JSON.stringify(accepted)}`);
    assert.equal(accepted.key_name, 'e2e-user');

    t.diagnostic(`offered: ${JSON.stringify(await offered('passed = greet('))}`);
    await wb.page.keyboard.press('Escape');
    await wb.page.keyboard.type('"x")', { delay: 20 });
    const dismissed = await waitFor('a dismiss in the feedback store', async () => (await events()).find((f) => f.event === 'dismiss'), { timeoutMs: 15_000 });
    assert.notEqual(dismissed.completion_id, accepted.completion_id);
    await wb.runCommand('File: Revert File');
});

e2eTest('Clear Cache forgets the completions kept so far', { timeoutMs: 60_000 }, session, async (wb, t) => {
    // The completion tests before this one left answers in the cache.
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Clear Cache');
    const cleared = await wb.waitForNotification(/^HAPA: cleared \d+ cached completions?\.$/, { timeoutMs: 10_000 });
    t.diagnostic(cleared.text);
    assert.ok(Number(/cleared (\d+)/.exec(cleared.text)[1]) > 0, cleared.text);
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Clear Cache');
    await wb.waitForNotification('HAPA: cleared 0 cached completions.', { timeoutMs: 10_000 });
});

/** The answer the scripted model gives: hostile markdown around one Python block. */
function hostileAnswer(url) {
    return [
        'Here is a safe sum. <img src=x onerror="window.hapaPwned=1"> <script>window.hapaPwned=2</script>',
        '',
        '```python',
        'def total(xs):',
        '    return sum(xs)',
        '```',
        '',
        '- It uses the built-in `sum`, **no loop**',
        `- ![tracker](${url}/pixel.png) [the docs](${url}/docs) [quit](command:workbench.action.quit)`,
        '',
    ].join('\n');
}

/** A long answer that streams one short line every 100 ms (about 40 s in all). */
function slowAnswer() {
    const lines = Array.from({ length: 400 }, (_, n) => `print(${n})\n`).join('');
    return { text: `\`\`\`python\n${lines}\`\`\`\n`, chunkChars: 9, delayMs: 100 };
}

/** hapa-server (same address, keys and data) asking the scripted model instead of the bundled one. */
async function useScriptedModel() {
    if (serverError) throw serverError;
    if (!scripted) {
        scripted = await startScriptedModel(
            (question) => (question.includes('slowly') ? slowAnswer() : { text: hostileAnswer(scripted.url) }),
            (prompt) => {
                if (!prompt.endsWith('retry_me = ')) return "shout('hi')";
                // The first request for this line fails: hapa-server answers 502, the client retries.
                failedOnce += 1;
                return failedOnce === 1 ? { status: 500 } : "shout('again')";
            },
        );
    }
    await server.kill();
    server = await server.restart({ args: ['--provider', 'openai', '--openai-base-url', `${scripted.url}/v1`, '--openai-model', 'scripted'] });
}

/** Asks `question` in the chat and returns the new answer's locator. */
async function askInChat(frame, question) {
    const answers = frame.locator('ol#hapa-history > li[data-answer]');
    const count = await answers.count();
    await frame.locator('#hapa-input').fill(question);
    await frame.locator('#hapa-input').press('Enter');
    const answer = answers.nth(count);
    await answer.waitFor({ state: 'attached', timeout: 30_000 });
    return answer;
}

e2eTest('a hostile markdown answer renders inert, fetches nothing, and only its web link opens, through the host', { timeoutMs: 180_000 }, session, async (wb, t) => {
    await useScriptedModel();
    await selectBackend(wb, 'remote');
    await wb.openHapaView();
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answer = await askInChat(frame, 'sum a list, with a picture');
    await waitFor('the scripted answer', async () => ['done', 'failed'].includes(await answer.getAttribute('data-state')) || undefined, { timeoutMs: 60_000 });
    assert.equal(await answer.getAttribute('data-state'), 'done', (await answer.textContent()) ?? '');
    assert.equal(await answer.locator(':scope > pre.hapa-code code').textContent(), 'def total(xs):\n    return sum(xs)\n');

    const words = answer.locator('.hapa-explanation');
    const text = (await words.textContent()) ?? '';
    t.diagnostic(`explanation as shown: ${JSON.stringify(text)}`);
    assert.match(text, /<img src=x onerror="window\.hapaPwned=1">/, 'raw HTML shows as text');
    assert.match(text, /<script>window\.hapaPwned=2<\/script>/);
    assert.equal(await words.locator('li code').textContent(), 'sum', 'inline code');
    assert.equal(await words.locator('li strong').textContent(), 'no loop', 'emphasis');
    assert.equal(await words.locator('.hapa-image').textContent(), '[image: tracker]');
    assert.equal(await words.locator('.hapa-link-inert').textContent(), 'quit');
    assert.equal(await frame.locator('#hapa-history img, #hapa-history script, #hapa-history a, #hapa-history [src], #hapa-history [href]').count(), 0);
    assert.equal(await frame.evaluate(() => window.hapaPwned), undefined, 'no script ran');

    // The command: link is text; clicking it does nothing. The web link asks the host, which
    // checks its scheme and opens it (code-server opens a loopback link through its port
    // forwarding): the browser then really requests that server. Nothing else ever GETs it.
    await words.locator('.hapa-link-inert').click();
    const pages = wb.page.context().pages().length;
    assert.equal(scripted.requests.filter((r) => r.method === 'GET').length, 0, 'nothing fetched before the click');
    await words.locator('button.hapa-link', { hasText: 'the docs' }).click();
    await waitFor('the link to be opened', async () => scripted.requests.some((r) => r.method === 'GET') || undefined, {
        timeoutMs: 30_000,
        describe: async () => `requests: ${JSON.stringify(scripted.requests)}; notifications: ${JSON.stringify(await wb.notifications())}`,
    });
    const opened = wb.page.context().pages().slice(pages);
    t.diagnostic(`the model server saw: ${JSON.stringify(scripted.requests)}; pages opened: ${JSON.stringify(opened.map((p) => p.url()))}`);
    assert.equal(scripted.requests.filter((r) => r.path.includes('pixel')).length, 0, 'the image was never fetched');
    for (const page of opened) await page.close();
});

e2eTest('a completion\'s prompt carries the stubs of what the file imports from other open modules', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (!scripted) await useScriptedModel();
    await wb.openFile('helpers.py');
    await wb.openFile('app_main.py');
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    const before = scripted.completions.length;
    await wb.page.keyboard.type('message = ', { delay: 20 });
    const sent = await waitFor('hapa-server to ask the model for a completion', async () => {
        const asked = scripted.completions.slice(before).filter((c) => c.prompt.endsWith('message = '));
        if (asked.length) return asked.at(-1);
        await wb.page.keyboard.press('Alt+Backslash');
        return undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000 });
    t.diagnostic(`prompt: ${JSON.stringify(sent.prompt)}`);
    assert.match(sent.prompt, /^# From helpers:\n#   def shout\(text: str\) -> str: \.\.\.\n/, 'the imported function, as a stub');
    assert.ok(sent.prompt.endsWith('from helpers import shout\n\n\nmessage = '), 'then the file up to the cursor');
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');
    await waitFor('the scripted completion as ghost text', async () => (await ghost.allTextContents()).join('').includes("shout('hi')") || undefined, { timeoutMs: 30_000 });
    await wb.page.keyboard.press('Escape');
    await wb.runCommand('File: Revert File');
});

e2eTest('Toggle Inline Completions turns them off (nothing asked, Alt+\\ says how to turn them on) and on again; Trigger Completion asks', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (!scripted) await useScriptedModel();
    await wb.openFile('app_main.py');
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Toggle Inline Completions');
    await wb.waitForNotification('HAPA: inline completions off.', { timeoutMs: 10_000 });
    await waitForStatus(wb, 'HAPA: off');

    const before = scripted.completions.length;
    await wb.page.keyboard.type('toggled = ', { delay: 20 });
    await wb.page.keyboard.press('Alt+Backslash');
    const off = await wb.waitForNotification('HAPA: inline completions are off.', { timeoutMs: 10_000 });
    t.diagnostic(`Alt+\\ while off: ${JSON.stringify(off)}`);
    await wb.page.waitForTimeout(1_500); // longer than the debounce: a request would have gone out
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');
    assert.equal(scripted.completions.length, before, 'nothing was asked while off');
    assert.equal((await ghost.allTextContents()).join(''), '', 'no ghost text while off');

    // The notification's own button turns them on again.
    await wb.page.locator('.notifications-toasts .notification-toast', { hasText: 'HAPA: inline completions are off.' })
        .locator('.monaco-button', { hasText: /^Turn On$/ }).click();
    await wb.waitForNotification('HAPA: inline completions on.', { timeoutMs: 10_000 });
    await waitFor('the status bar to leave "off"', async () => !(await wb.page.locator('.statusbar-item').allTextContents()).some((s) => s.includes('HAPA: off')) || undefined, { timeoutMs: 10_000 });
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await waitFor('the scripted completion after Trigger Completion', async () => {
        if ((await ghost.allTextContents()).join('').includes("shout('hi')")) return true;
        await wb.runCommand('HAPA: Trigger Completion');
        return undefined;
    }, { timeoutMs: 60_000, intervalMs: 2_000 });
    assert.ok(scripted.completions.slice(before).some((c) => c.prompt.endsWith('toggled = ')), 'asked once on again');
    await wb.page.keyboard.press('Escape');
    await wb.runCommand('File: Revert File');

    // Writing the user setting leaves every other one as it was: the server is still the one set.
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Check Server');
    const check = await wb.waitForNotification(/^HAPA server at /, { timeoutMs: 20_000 });
    assert.ok(check.text.startsWith(`HAPA server at ${server.url} is ok`), check.text);
});

e2eTest('a completion the server fails once (502) is retried by the client and still arrives', { timeoutMs: 120_000 }, session, async (wb, t) => {
    if (!scripted) await useScriptedModel();
    await wb.openFile('app_main.py');
    await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.page.keyboard.type('retry_me = ', { delay: 20 });
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');
    await waitFor('the retried completion as ghost text', async () => {
        if ((await ghost.allTextContents()).join('').includes("shout('again')")) return true;
        if (!scripted.completions.some((c) => c.prompt.endsWith('retry_me = '))) await wb.page.keyboard.press('Alt+Backslash');
        return undefined;
    }, { timeoutMs: 30_000, intervalMs: 1_000 });
    const asked = scripted.completions.filter((c) => c.prompt.endsWith('retry_me = ')).map((c) => c.status);
    t.diagnostic(`the model saw: ${JSON.stringify(asked)}`);
    assert.deepEqual(asked.slice(0, 2), [500, 200], 'failed once, then answered on the retry');
    assert.ok(!(await wb.page.locator('.statusbar-item').allTextContents()).some((s) => s.includes('HAPA: Local')), 'no failover to the local model');
    await wb.page.keyboard.press('Escape');
    await wb.runCommand('File: Revert File');
});

e2eTest('an editor request shows cancellable progress, and Cancel stops the answer', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (!scripted) await useScriptedModel();
    await wb.openFile('slowly.py');
    await selectLines(wb, 1, 2);
    await wb.clearNotifications();
    const after = await answerCount(wb);
    await wb.runCommand('HAPA: Explain Selection');
    const title = 'HAPA: Explaining the selection of slowly.py, lines 1-2…';
    await wb.waitForNotification(title, { timeoutMs: 30_000 });
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answer = frame.locator('ol#hapa-history > li[data-answer]').nth(after);
    const code = answer.locator('pre.hapa-code code');
    await waitFor('code to stream in', async () => ((await code.count()) && ((await code.textContent()) ?? '').includes('print(3)')) || undefined, { timeoutMs: 60_000 });
    assert.equal(await answer.getAttribute('data-state'), 'streaming');
    const toast = wb.page.locator('.notifications-toasts .notification-toast', { hasText: title });
    await toast.locator('.monaco-button', { hasText: /^Cancel$/ }).click();
    await waitFor('the answer to stop', async () => (await answer.getAttribute('data-state')) === 'stopped' || undefined, { timeoutMs: 15_000 });
    await toast.waitFor({ state: 'detached', timeout: 10_000 });
    assert.ok(!((await code.textContent()) ?? '').includes('print(399)'), 'it did not run to the end');
    const stream = scripted.streams.findLast((s) => s.question.includes('slowly.py'));
    await waitFor('hapa-server to hang up on the model', async () => stream.closedEarly || undefined, { timeoutMs: 15_000 });
    t.diagnostic(`the model sent ${stream.sent} chunks before Cancel`);
});

e2eTest('Stop ends a streaming answer, keeps what came, and the model stops being asked', { timeoutMs: 180_000 }, session, async (wb, t) => {
    if (!scripted) await useScriptedModel();
    await wb.openHapaView();
    const frame = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const answer = await askInChat(frame, 'count to four hundred, slowly');
    const code = answer.locator('pre.hapa-code code');
    await waitFor('code to stream in', async () => ((await code.count()) && ((await code.textContent()) ?? '').includes('print(3)')) || undefined, { timeoutMs: 60_000 });
    assert.equal(await answer.getAttribute('data-state'), 'streaming');
    await frame.locator('#hapa-stop').click();
    await waitFor('the answer to stop', async () => (await answer.getAttribute('data-state')) === 'stopped' || undefined, { timeoutMs: 15_000 });
    assert.equal(await frame.locator('#hapa-stop').count(), 0, 'no Stop once stopped');
    const kept = (await code.textContent()) ?? '';
    assert.match(kept, /^print\(0\)\nprint\(1\)\n/, 'what arrived is kept');
    assert.ok(!kept.includes('print(399)'), 'it did not run to the end');
    const stream = scripted.streams.findLast((s) => s.question.includes('slowly'));
    await waitFor('hapa-server to hang up on the model', async () => stream.closedEarly || undefined, { timeoutMs: 15_000 });
    t.diagnostic(`the model sent ${stream.sent} of ${Math.ceil(slowAnswer().text.length / 9)} chunks before hapa-server hung up`);

    // Back to the bundled model for what follows.
    await server.kill();
    server = await server.restart();
});

e2eTest('a 10 MB file and a pathologically nested one keep the editor responsive and are validated', { timeoutMs: 240_000 }, session, async (wb, t) => {
    // big.py and nested.py are among GENERATED_FILES.
    assert.ok(GENERATED_FILES['big.py'].length > 10 * 1024 * 1024, 'big.py is over 10 MB');
    for (const [file, expected] of [
        ['big.py', /^HAPA: big\.py has no syntax errors\.$/],
        ['nested.py', /^HAPA: nested\.py has 1 syntax error; see the Problems panel\.$/],
    ]) {
        await wb.openFile(file, { timeoutMs: 60_000 });
        await wb.clearNotifications();
        // Typing at the end shows at once, whatever HAPA does in the background.
        await wb.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
        await wb.page.keyboard.press('Control+End');
        await wb.page.keyboard.type('tail = 1', { delay: 20 });
        await waitFor(`typing to show in ${file}`, async () => (await editorText(wb)).includes('tail = 1') || undefined, { timeoutMs: 30_000 });
        const started = Date.now();
        await wb.runCommand('HAPA: Validate Python File', { timeoutMs: 30_000 });
        const notification = await waitFor(`validation of ${file} to report`, async () => {
            // (VS Code's own "large file" notice names the file too.)
            const shown = await wb.notifications();
            return shown.find((n) => n.text.startsWith('HAPA') && n.text.includes(file));
        }, { timeoutMs: 60_000, describe: async () => JSON.stringify(await wb.notifications()) });
        t.diagnostic(`${file}: "${notification.text}" after ${Date.now() - started} ms`);
        assert.match(notification.text, expected);
        if (file === 'nested.py') {
            await wb.openProblems();
            const nested = await waitFor('the nesting error in Problems', async () => {
                const found = (await wb.problems()).filter((p) => p.file === 'nested.py');
                return found.length > 0 ? found : undefined;
            }, { timeoutMs: 15_000 });
            t.diagnostic(`nested.py problems: ${JSON.stringify(nested)}`);
            assert.ok(nested.some((p) => /too many nested parentheses/.test(p.message)), JSON.stringify(nested));
        }
        await wb.runCommand('File: Revert File');
    }
});

// Last: it reloads the window, which restarts the extension host.
e2eTest('the chat of a workspace is there again after the window reloads', { timeoutMs: 180_000 }, session, async (wb, t) => {
    await wb.openHapaView();
    const before = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 30_000 });
    const shown = async (frame) => ({
        questions: await frame.locator('ol#hapa-history > li[data-author="user"]').allTextContents(),
        codes: await frame.locator('ol#hapa-history > li[data-answer] pre.hapa-code code').allTextContents(),
        metas: await frame.locator('ol#hapa-history > li[data-answer] .hapa-meta').allTextContents(),
    });
    const was = await shown(before);
    t.diagnostic(`before the reload: ${JSON.stringify(was)}`);
    assert.ok(was.questions.length >= 2 && was.codes.length >= 2, 'the earlier chat tests left a conversation');

    await reload(wb);
    const after = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 90_000 });
    const is = await waitFor('the chat to be restored', async () => {
        const now = await shown(after);
        return now.questions.length === was.questions.length && now.codes.length === was.codes.length ? now : undefined;
    }, { timeoutMs: 30_000, describe: async () => JSON.stringify(await shown(after)) });
    assert.deepEqual(is, was, 'the same questions, code and backends, in order');
    assert.equal(await after.locator('ol#hapa-history li[data-answer] b, ol#hapa-history li img').count(), 0, 'still text');

    // New Chat starts an empty chat, also across a reload; the old one waits in the chat list.
    await after.locator('#hapa-new-chat').click();
    await waitFor('an empty chat', async () => (await after.locator('ol#hapa-history > li').count()) === 0 || undefined, { timeoutMs: 10_000 });
    await reload(wb);
    const fresh = await wb.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 90_000 });
    await fresh.locator('.hapa-empty').waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await fresh.locator('ol#hapa-history > li').count(), 0);

    await fresh.locator('#hapa-chats-toggle').click();
    const listed = fresh.locator('#hapa-chats li.hapa-chat-item');
    await listed.first().waitFor({ state: 'visible', timeout: 10_000 });
    const titles = await listed.locator('.hapa-chat-title').allTextContents();
    t.diagnostic(`past chats: ${JSON.stringify(titles)}`);
    // One chat, titled by its first question (shortened to 60 characters).
    const first = was.questions[0].replace(/^You/, '').trim();
    assert.deepEqual(titles, [first.length > 60 ? `${first.slice(0, 59)}…` : first]);
    await listed.first().locator('.hapa-open-chat').click();
    const reopened = await waitFor('the past chat to be shown', async () => {
        const now = await shown(fresh);
        return now.questions.length === was.questions.length ? now : undefined;
    }, { timeoutMs: 15_000, describe: async () => JSON.stringify(await shown(fresh)) });
    assert.deepEqual(reopened, was, 'the past chat as it was');

    // Deleting the chat shown empties the view and the list.
    await fresh.locator('#hapa-chats-toggle').click();
    await listed.first().locator('.hapa-delete-chat').click();
    await waitFor('the chat to be gone', async () => (await fresh.locator('ol#hapa-history > li').count()) === 0 || undefined, { timeoutMs: 10_000 });
    await fresh.locator('#hapa-chats .hapa-chats-empty').waitFor({ state: 'visible', timeout: 10_000 });
});

/** Reloads the window (no unsaved files left to ask about) and shows the HAPA view again. */
async function reload(wb) {
    await wb.runCommand('File: Save All Files');
    wb.page.once('dialog', (dialog) => void dialog.accept());
    await wb.page.reload();
    await wb.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    await wb.openHapaView({ timeoutMs: 60_000 });
}
