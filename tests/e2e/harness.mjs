//! End-to-end harness: drives a real VS Code (code-server) in headless Chromium with HAPA installed.
//
// Every process started here (code-server, Chromium, hapa-server) is killed by process group
// when the session closes, when the test process exits, or on SIGINT/SIGTERM, so a failed or
// interrupted run leaves nothing behind.

import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURE_WORKSPACE = path.join(REPO_ROOT, 'tests/e2e/fixtures/workspace');
export const ARTIFACTS_DIR = process.env.HAPA_E2E_ARTIFACTS ?? path.join(REPO_ROOT, 'target/e2e-artifacts');

const { chromium } = createRequire(path.join(REPO_ROOT, 'package.json'))('playwright-core');

const CHROMIUM = process.env.HAPA_E2E_CHROMIUM ?? '/usr/bin/chromium';
// Flags verified on these machines (docs: shared notes, "Headless Chromium").
const CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const KEEP_TEMP = process.env.HAPA_E2E_KEEP === '1';

/** Settings every session gets: no trust dialog, no welcome page, nothing that pops up unasked. */
export const BASE_SETTINGS = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.enableExperiments': false,
    'workbench.editor.enablePreview': false,
    'extensions.ignoreRecommendations': true,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
};

// ---- process bookkeeping ------------------------------------------------------------------------

/** Process groups started by this module and not yet reaped; killed on any exit. */
const liveGroups = new Set();
/** Temp dirs not yet removed; removed on any exit (unless HAPA_E2E_KEEP=1). */
const liveTempDirs = new Set();

async function makeTempDir(prefix) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    liveTempDirs.add(dir);
    return dir;
}

async function removeTempDir(dir) {
    liveTempDirs.delete(dir);
    if (KEEP_TEMP) {
        process.stderr.write(`e2e: kept ${dir} (HAPA_E2E_KEEP=1)\n`);
        return;
    }
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
}

function killGroupNow(pid, signal) {
    try {
        process.kill(-pid, signal);
    } catch {
        // already gone
    }
}

process.on('exit', () => {
    for (const pid of liveGroups) killGroupNow(pid, 'SIGKILL');
    if (KEEP_TEMP) return;
    for (const dir of liveTempDirs) {
        try {
            rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
            // a process being killed may still write into it; a leftover temp dir is harmless
        }
    }
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
        for (const pid of liveGroups) killGroupNow(pid, 'SIGKILL');
        process.exit(128 + os.constants.signals[signal]);
    });
}

/** Spawns `command` in its own process group, so stopping it also stops what it started. */
function spawnGroup(command, args, options = {}) {
    const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    // Kept until stopGroup: the leader's exit does not end its group (code-server's children).
    if (child.pid !== undefined) liveGroups.add(child.pid);
    return child;
}

/** SIGTERM the group, then SIGKILL whatever is left after `graceMs`. */
async function stopGroup(child, graceMs = 5000) {
    const pid = child.pid;
    if (pid === undefined || !liveGroups.has(pid)) return;
    const exited = child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.once('exit', resolve));
    killGroupNow(pid, 'SIGTERM');
    await Promise.race([exited, sleep(graceMs)]);
    // Children (extension host, pty host, watchers) can outlive the leader: always finish the group.
    killGroupNow(pid, 'SIGKILL');
    liveGroups.delete(pid);
}

// ---- small utilities ----------------------------------------------------------------------------

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value other than undefined/false, or throws after `timeoutMs`
 * with `describe()` (what was seen last) in the message.
 */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 250, describe } = {}) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    for (;;) {
        try {
            const value = await probe();
            if (value !== undefined && value !== false && value !== null) return value;
        } catch (error) {
            lastError = error;
        }
        if (Date.now() > deadline) {
            const seen = describe ? `; last seen: ${await describe()}` : '';
            const cause = lastError ? `; last error: ${lastError.message}` : '';
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}${cause}`);
        }
        await sleep(intervalMs);
    }
}

function safeName(name) {
    return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 120) || 'unnamed';
}

function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Resolves on the first stdout line matching `pattern` (returns the match); rejects on exit/timeout. */
function waitForLine(child, pattern, what, timeoutMs) {
    return new Promise((resolve, reject) => {
        let buffered = '';
        let stderr = '';
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        const onData = (chunk) => {
            buffered += chunk;
            const lines = buffered.split('\n');
            buffered = lines.pop();
            for (const line of lines) {
                const match = pattern.exec(line);
                if (match) return finish(null, match);
            }
        };
        const onErr = (chunk) => { stderr += chunk; };
        const onExit = (code, signal) => finish(new Error(`${what}: process exited (code ${code}, signal ${signal}) first; stderr: ${stderr.slice(-2000)}`));
        const onSpawnError = (error) => finish(new Error(`${what}: could not start: ${error.message}`));
        function finish(error, match) {
            clearTimeout(timer);
            child.stdout.off('data', onData);
            child.stderr.off('data', onErr);
            child.off('exit', onExit);
            child.off('error', onSpawnError);
            if (error) reject(error); else resolve(match);
        }
        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stdout.on('data', onData);
        child.stderr.on('data', onErr);
        child.once('exit', onExit);
        child.once('error', onSpawnError);
    });
}

/** Appends everything a child writes to `logPath` (kept as an artifact). */
async function teeToFile(child, logPath) {
    const handle = await fs.open(logPath, 'a');
    const write = (tag) => (chunk) => { handle.write(`[${tag}] ${chunk}`).catch(() => {}); };
    child.stdout.on('data', write('out'));
    child.stderr.on('data', write('err'));
    child.once('close', () => handle.close().catch(() => {}));
}

async function copyLogs(fromDir, toDir) {
    if (!existsSync(fromDir)) return;
    for (const entry of await fs.readdir(fromDir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile() || !entry.name.endsWith('.log')) continue;
        const source = path.join(entry.parentPath ?? entry.path, entry.name);
        const target = path.join(toDir, path.relative(fromDir, source));
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.copyFile(source, target).catch(() => {});
    }
}

// ---- inputs: code-server, the .vsix, hapa-server -------------------------------------------------

/** Path of the code-server executable, installing it first if needed (a no-op once installed). */
export function codeServerBin() {
    if (process.env.HAPA_CODE_SERVER) return process.env.HAPA_CODE_SERVER;
    const script = path.join(REPO_ROOT, 'tests/e2e/install-code-server.sh');
    const args = process.env.HAPA_CODE_SERVER_DIR ? [process.env.HAPA_CODE_SERVER_DIR] : [];
    const result = spawnSync(script, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
    if (result.status !== 0) throw new Error(`${script} failed (status ${result.status}, ${result.error?.message ?? 'see its output above'})`);
    return result.stdout.trim().split('\n').pop();
}

/** The .vsix under test: $HAPA_VSIX, else the newest dist/hapa-*.vsix. */
export function vsixPath() {
    if (process.env.HAPA_VSIX) {
        if (!existsSync(process.env.HAPA_VSIX)) throw new Error(`HAPA_VSIX=${process.env.HAPA_VSIX} does not exist`);
        return path.resolve(process.env.HAPA_VSIX);
    }
    const dist = path.join(REPO_ROOT, 'dist');
    const candidates = existsSync(dist)
        ? readdirSync(dist).filter((name) => /^hapa-.*\.vsix$/.test(name)).map((name) => path.join(dist, name))
        : [];
    if (candidates.length === 0) throw new Error('no dist/hapa-*.vsix: run `cargo xtask dist` first, or set HAPA_VSIX');
    return candidates.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** The hapa-server executable: $HAPA_SERVER_BIN, else target/{debug,release}/hapa-server. */
export function hapaServerBin() {
    if (process.env.HAPA_SERVER_BIN) return process.env.HAPA_SERVER_BIN;
    const built = ['debug', 'release']
        .map((profile) => path.join(REPO_ROOT, 'target', profile, 'hapa-server'))
        .filter((candidate) => existsSync(candidate))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    if (built.length === 0) throw new Error('hapa-server not found: set HAPA_SERVER_BIN (cargo xtask sets it) or build it with cargo');
    return built[0];
}

/**
 * Starts `hapa-server serve --bind 127.0.0.1:0 --data-dir <tmp>` and returns once it prints its
 * address, with `args` added to `serve`. `stop()` kills it and removes its data dir; `kill()` only
 * stops the process, and `restart({ args })` starts it again on the same address with the same
 * data (its keys still valid), with other `serve` flags if given.
 */
export async function startHapaServer({ timeoutMs = 60_000, bind = '127.0.0.1:0', reuse, args = [] } = {}) {
    const bin = hapaServerBin();
    const root = reuse?.root ?? (await makeTempDir('hapa-e2e-server-'));
    const dataDir = path.join(root, 'data');
    await fs.mkdir(dataDir, { recursive: true });
    const logPath = path.join(root, 'hapa-server.log');
    const child = spawnGroup(bin, ['serve', '--bind', bind, '--data-dir', dataDir, ...args], {
        env: { ...process.env, RUST_BACKTRACE: '1' },
    });
    await teeToFile(child, logPath);
    let match;
    try {
        match = await waitForLine(child, /hapa-server listening on (http:\/\/\S+)/, `${bin} to print "hapa-server listening on"`, timeoutMs);
    } catch (error) {
        await stopGroup(child);
        throw error;
    }
    const url = match[1];
    return {
        url,
        logPath,
        dataDir,
        /** Stops the process, keeping its data dir. */
        async kill() {
            await stopGroup(child);
        },
        /** The same server again: same address, same data; `args` replace the extra flags. */
        async restart({ args: again = [] } = {}) {
            return startHapaServer({ timeoutMs, bind: new URL(url).host, reuse: { root }, args: again });
        },
        /** `hapa-server keys create`: returns the new key (the last line it prints). */
        async createKey(name, role = 'user') {
            const { stdout } = await execFileAsync(bin, ['--data-dir', dataDir, 'keys', 'create', '--name', name, '--role', role]);
            return stdout.trim().split('\n').at(-1);
        },
        /** `hapa-server feedback export`: every stored feedback, oldest first. */
        async feedback() {
            const { stdout } = await execFileAsync(bin, ['--data-dir', dataDir, 'feedback', 'export']);
            return stdout.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
        },
        async stop() {
            await stopGroup(child);
            await removeTempDir(root);
        },
        async log() {
            return fs.readFile(logPath, 'utf8').catch(() => '');
        },
    };
}

// ---- the workbench ------------------------------------------------------------------------------

/**
 * One code-server + Chromium session with HAPA installed and a fresh copy of the fixture workspace.
 * Create with `Workbench.start()`; always `close()` (also safe after a failed start).
 */
export class Workbench {
    /** @private use Workbench.start */
    constructor(name) {
        this.name = name;
        this.root = undefined;
        this.codeServer = undefined;
        this.browser = undefined;
        this.page = undefined;
        this.url = undefined;
        this.consoleLines = [];
        this.extraArtifacts = [];
    }

    /**
     * @param {object} options
     * @param {string} options.name session name, used for artifact folders of startup failures
     * @param {object} [options.settings] user settings on top of BASE_SETTINGS (e.g. hapa.serverUrl)
     * @param {string} [options.vsix] .vsix to install (default: vsixPath())
     * @param {object} [options.env] extra environment for code-server and its extension host
     * @param {string[]} [options.nodeFlags] flags for the Node that runs code-server, which its
     *     extension host inherits (e.g. --experimental-wasm-relaxed-simd, which VS Code's Electron
     *     has on by default); code-server must then be the npm package's Node script
     * @param {Record<string, string>} [options.files] more workspace files (relative path → text),
     *     written before VS Code starts so that quick open finds them
     */
    static async start({ name, settings = {}, vsix = vsixPath(), timeoutMs = 120_000, env = {}, files = {}, nodeFlags = [] } = {}) {
        const workbench = new Workbench(name ?? 'workbench');
        try {
            await workbench.#start({ settings, vsix, timeoutMs, extraEnv: env, files, nodeFlags });
        } catch (error) {
            await workbench.saveArtifacts(`${workbench.name} startup`).catch(() => {});
            await workbench.close();
            throw error;
        }
        return workbench;
    }

    async #start({ settings, vsix, timeoutMs, extraEnv, files, nodeFlags }) {
        const bin = codeServerBin();
        this.root = await makeTempDir('hapa-e2e-');
        this.userDataDir = path.join(this.root, 'user-data');
        this.extensionsDir = path.join(this.root, 'extensions');
        this.workspace = path.join(this.root, 'workspace');
        this.codeServerLog = path.join(this.root, 'code-server.log');
        await fs.mkdir(path.join(this.userDataDir, 'User'), { recursive: true });
        await fs.mkdir(this.extensionsDir);
        await fs.cp(FIXTURE_WORKSPACE, this.workspace, { recursive: true });
        for (const [relative, text] of Object.entries(files)) {
            await fs.mkdir(path.dirname(path.join(this.workspace, relative)), { recursive: true });
            await fs.writeFile(path.join(this.workspace, relative), text);
        }
        await fs.writeFile(
            path.join(this.userDataDir, 'User', 'settings.json'),
            JSON.stringify({ ...BASE_SETTINGS, ...settings }, null, 2),
        );

        // Everything code-server writes goes under this session's temp dir, not into ~/.config
        // (a default config.yaml) or ~/.local/share/code-server.
        const env = {
            ...process.env,
            ...extraEnv,
            XDG_CONFIG_HOME: path.join(this.root, 'xdg-config'),
            XDG_DATA_HOME: path.join(this.root, 'xdg-data'),
        };
        const dirs = [
            '--config', path.join(this.root, 'config.yaml'),
            '--user-data-dir', this.userDataDir, '--extensions-dir', this.extensionsDir,
        ];
        const install = spawnSync(bin, [...dirs, '--install-extension', vsix], { encoding: 'utf8', timeout: 120_000, env });
        await fs.writeFile(path.join(this.root, 'install-extension.log'), `${install.stdout}\n${install.stderr}`);
        if (install.status !== 0 || !/successfully installed/.test(install.stdout)) {
            throw new Error(`code-server --install-extension ${vsix} failed (status ${install.status}): ${install.stdout}${install.stderr}`);
        }

        // Port 0: the kernel picks a free port and code-server prints it, so there is no race.
        const serve = [
            '--auth', 'none', '--bind-addr', '127.0.0.1:0', '--disable-telemetry', '--disable-update-check',
            ...dirs, this.workspace,
        ];
        // code-server forks its server and that forks the extension host, each with its parent's
        // Node flags.
        this.codeServer = nodeFlags.length > 0
            ? spawnGroup(process.execPath, [...nodeFlags, bin, ...serve], { env })
            : spawnGroup(bin, serve, { env });
        await teeToFile(this.codeServer, this.codeServerLog);
        const [, address] = await waitForLine(
            this.codeServer, /HTTP server listening on (http:\/\/[^\s/]+)/, 'code-server to listen', timeoutMs,
        );
        this.url = address;

        this.browser = await chromium.launch({
            executablePath: CHROMIUM,
            args: CHROMIUM_ARGS,
            headless: true,
            timeout: timeoutMs,
            // Chromium's crash reporter writes under $XDG_CONFIG_HOME whatever its profile dir.
            env: { ...process.env, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME, XDG_CACHE_HOME: path.join(this.root, 'xdg-cache') },
        });
        const context = await this.browser.newContext({ viewport: { width: 1400, height: 900 } });
        this.page = await context.newPage();
        this.page.on('console', (message) => this.consoleLines.push(`[${message.type()}] ${message.text()}`));
        this.page.on('pageerror', (error) => this.consoleLines.push(`[pageerror] ${error.stack ?? error.message}`));
        await this.page.goto(`${this.url}/?folder=${encodeURIComponent(this.workspace)}`, { timeout: timeoutMs });
        await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
        // The explorer lists the workspace once the remote file system answers.
        await this.page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ state: 'visible', timeout: timeoutMs });
        // The palette offers HAPA's commands only once the extension host has reported the
        // installed extension; its activity-bar item shows at the same moment. On a cold machine
        // that can take longer than a command's own wait, so every test starts after it.
        await this.page.locator('.activitybar .action-item a.action-label[aria-label="HAPA"]')
            .waitFor({ state: 'visible', timeout: timeoutMs });
    }

    /** Absolute path of a file in this session's copy of the fixture workspace. */
    workspacePath(relative) {
        return path.join(this.workspace, relative);
    }

    // ---- palette and editors ----

    async #openQuickInput(value) {
        const page = this.page;
        const input = page.locator('.quick-input-widget .quick-input-box input');
        // A webview that takes the focus back (e.g. the chat as it loads) closes the quick input
        // again: try a few times until it stays open with the text in it.
        for (let attempt = 1; ; attempt++) {
            try {
                // Escape first if a leftover quick input or suggest widget would swallow F1 (only
                // then: in an editor, Escape also drops the selection a command may be about).
                const leftover = page.locator('.quick-input-widget:visible, .editor-widget.suggest-widget.visible');
                if ((await leftover.count()) > 0) await page.keyboard.press('Escape');
                await page.keyboard.press('F1');
                await input.waitFor({ state: 'visible', timeout: 10_000 });
                await input.fill(value, { timeout: 5_000 });
                await page.waitForTimeout(100);
                if ((await input.isVisible()) && (await input.inputValue()) === value) return input;
                throw new Error('the quick input closed as it was typed into');
            } catch (error) {
                if (attempt === 3) throw error;
            }
        }
    }

    async #pickQuickInputRow(label, timeoutMs) {
        const page = this.page;
        const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
        const row = rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) }).first();
        try {
            await row.waitFor({ state: 'visible', timeout: timeoutMs });
        } catch {
            const offered = await rows.locator('.label-name').allTextContents().catch(() => []);
            await page.keyboard.press('Escape');
            throw new Error(`"${label}" is not offered in the quick input (offered: ${JSON.stringify(offered)})`);
        }
        await row.click();
        // The palette closes, unless the command opens an input box of its own in the same
        // widget (e.g. Set API Key): then the palette's '>' query is gone.
        const widget = page.locator('.quick-input-widget');
        const input = widget.locator('.quick-input-box input');
        await waitFor('the command palette to close', async () =>
            !(await widget.isVisible()) || !(await input.inputValue().catch(() => '>')).startsWith('>'),
        { timeoutMs: 10_000, intervalMs: 100 });
    }

    /**
     * Types `text` into the open input box (e.g. one a command showed). Returns the validation
     * message the box shows for it, or '' when it shows none.
     */
    async typeInInputBox(text, { timeoutMs = 10_000 } = {}) {
        const input = this.page.locator('.quick-input-widget .quick-input-box input');
        await input.waitFor({ state: 'visible', timeout: timeoutMs });
        await input.fill(text);
        await sleep(300); // validation runs asynchronously after each edit
        const message = this.page.locator('.quick-input-widget .quick-input-message');
        return ((await message.isVisible()) ? await message.textContent() : '')?.trim() ?? '';
    }

    /** Whether an input box (quick input) is open. */
    async inputBoxOpen() {
        return this.page.locator('.quick-input-widget').isVisible();
    }

    /** Runs a command from the palette by its full title, e.g. "HAPA: Validate Python File". */
    async runCommand(title, { timeoutMs = 20_000 } = {}) {
        // The palette lists the commands known when it opens and does not add those registered
        // while it is open: where the title is not offered, open it again until the deadline.
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            await this.#openQuickInput(`>${title}`);
            try {
                await this.#pickQuickInputRow(title, Math.max(1_000, Math.min(5_000, deadline - Date.now())));
                return;
            } catch (error) {
                if (Date.now() >= deadline || !/is not offered/.test(error.message)) throw error;
            }
        }
    }

    /** Opens a workspace file with quick open and waits until its editor is active and focused. */
    async openFile(relative, { timeoutMs = 30_000 } = {}) {
        const name = path.basename(relative);
        await this.#openQuickInput(relative);
        await this.#pickQuickInputRow(name, timeoutMs);
        const tab = this.page.locator('.tabs-container .tab.active', { has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(name)}$`) }) });
        await tab.waitFor({ state: 'visible', timeout: timeoutMs });
        const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
        // A file over VS Code's large-file limit (10 MB in the browser) asks first, as it would a user.
        const openAnyway = this.page.locator('.editor-group-container.active .monaco-button', { hasText: 'Open Anyway' });
        await waitFor(`${name} to show (or ask to)`, async () => (await lines.isVisible()) || (await openAnyway.isVisible()) || undefined, { timeoutMs });
        if (await openAnyway.isVisible()) await openAnyway.click();
        await lines.click({ timeout: timeoutMs });
    }

    /** The language shown in the status bar for the active editor ("Python"). */
    async activeLanguage() {
        return (await this.page.locator('#status\\.editor\\.mode').textContent({ timeout: 10_000 }))?.trim();
    }

    // ---- notifications ----

    /** Dismisses every notification, so a later waitForNotification only sees new ones. */
    async clearNotifications() {
        await this.runCommand('Notifications: Clear All Notifications');
        await waitFor('notification toasts to disappear', async () => (await this.page.locator('.notification-toast').count()) === 0, { timeoutMs: 10_000 });
    }

    /** Texts and severities of the notification toasts now shown. */
    async notifications() {
        return this.page.locator('.notifications-toasts .notification-toast').evaluateAll((toasts) => toasts.map((toast) => {
            const icon = toast.querySelector('.notification-list-item-icon');
            const severity = ['error', 'warning', 'info'].find((level) => icon?.classList.contains(`codicon-${level}`)) ?? 'unknown';
            return { text: toast.querySelector('.notification-list-item-message')?.textContent ?? '', severity };
        }));
    }

    /** Waits for a notification whose text contains `text` (string or RegExp); returns {text, severity}. */
    async waitForNotification(text, { timeoutMs = 30_000 } = {}) {
        const matches = (candidate) => (text instanceof RegExp ? text.test(candidate) : candidate.includes(text));
        const seen = new Map(); // every toast shown while waiting, for the failure message
        return waitFor(`a notification containing ${JSON.stringify(String(text))}`, async () => {
            const shown = await this.notifications();
            for (const notification of shown) seen.set(notification.text, notification);
            return shown.find((notification) => matches(notification.text));
        }, { timeoutMs, intervalMs: 200, describe: async () => JSON.stringify([...seen.values()]) });
    }

    // ---- the Problems panel ----

    /** Opens (and focuses) the Problems panel. */
    async openProblems() {
        await this.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
        await this.page.locator('.markers-panel').waitFor({ state: 'visible', timeout: 10_000 });
    }

    /**
     * Entries of the Problems panel (tree view) in display order:
     * `{ file, message, source, line, column, severity }`, line/column 1-based as shown.
     */
    async problems() {
        const rows = await this.page.locator('.markers-panel .monaco-list-row').evaluateAll((elements) => elements.map((row) => ({
            index: Number(row.getAttribute('data-index')),
            level: Number(row.getAttribute('aria-level')),
            resource: row.querySelector('.resource-label-container .label-name')?.textContent ?? '',
            isMarker: row.querySelector('.marker-message-details-container') !== null,
            message: row.querySelector('.marker-message')?.textContent ?? '',
            source: row.querySelector('.marker-source')?.textContent ?? '',
            position: row.querySelector('.marker-line')?.textContent ?? '',
            icon: row.querySelector('.marker-icon')?.outerHTML ?? '',
            ariaLabel: row.getAttribute('aria-label') ?? '',
        })));
        rows.sort((a, b) => a.index - b.index);
        const problems = [];
        let file = '';
        for (const row of rows) {
            if (!row.isMarker) {
                if (row.level === 1) file = row.resource.trim();
                continue;
            }
            const position = /Ln\s*(\d+),\s*Col\s*(\d+)/.exec(row.position);
            problems.push({
                file,
                message: row.message.trim(),
                source: row.source.trim(),
                line: position ? Number(position[1]) : NaN,
                column: position ? Number(position[2]) : NaN,
                severity: /codicon-(error|warning|info)\b/.exec(row.icon)?.[1] ?? 'unknown',
                ariaLabel: row.ariaLabel,
            });
        }
        return problems;
    }

    /**
     * Waits until `predicate(problems)` holds on two reads 500 ms apart (diagnostics arrive
     * asynchronously) and returns the problems.
     */
    async waitForProblems(what, predicate, { timeoutMs = 30_000 } = {}) {
        let previous;
        return waitFor(what, async () => {
            const current = await this.problems();
            const stable = previous !== undefined && JSON.stringify(previous) === JSON.stringify(current);
            previous = current;
            return predicate(current) && stable ? current : undefined;
        }, { timeoutMs, intervalMs: 500, describe: async () => JSON.stringify(await this.problems()) });
    }

    // ---- HAPA's view ----

    /** Clicks the activity-bar item titled "HAPA" and waits for its view container to show. */
    async openHapaView({ timeoutMs = 15_000 } = {}) {
        // The item appears once the extension's contributions are registered, a moment after load.
        const item = this.page.locator('.activitybar .action-item a.action-label[aria-label="HAPA"]');
        const title = this.page.locator('.sidebar .composite.title', { hasText: 'HAPA' }).first();
        await item.waitFor({ state: 'visible', timeout: timeoutMs });
        // Clicking the item of the view already shown hides the side bar, and after a reload the
        // view may show itself a moment after it was found hidden: click until it stays shown.
        const deadline = Date.now() + timeoutMs;
        while (!(await title.isVisible())) {
            await item.click();
            try {
                await title.waitFor({ state: 'visible', timeout: 3_000 });
            } catch (error) {
                if (Date.now() > deadline) throw error;
            }
        }
    }

    /**
     * The frame whose document contains `selector` (webview content lives in nested iframes).
     * Waits up to `timeoutMs`.
     */
    async frameWith(selector, { timeoutMs = 60_000 } = {}) {
        return waitFor(`a frame containing ${selector}`, async () => {
            for (const frame of this.page.frames()) {
                if (frame.isDetached()) continue;
                const found = await frame.$(selector).catch(() => null);
                if (found) {
                    await found.dispose();
                    return frame;
                }
            }
            return undefined;
        }, {
            timeoutMs,
            intervalMs: 300,
            describe: async () => JSON.stringify(this.page.frames().map((frame) => frame.url().slice(0, 120))),
        });
    }

    // ---- failure artifacts and shutdown ----

    /** Adds a file to copy into the artifacts of a failing test (e.g. a hapa-server log). */
    addArtifact(file) {
        this.extraArtifacts.push(file);
    }

    /**
     * Saves what explains a failure into <repo>/target/e2e-artifacts/<testName>/: a screenshot,
     * the page's HTML, the browser console, code-server's output, and every log under the
     * user-data dir (extension host, output channels such as "HAPA", the remote server).
     */
    async saveArtifacts(testName) {
        const dir = path.join(ARTIFACTS_DIR, safeName(testName));
        await fs.rm(dir, { recursive: true, force: true });
        await fs.mkdir(dir, { recursive: true });
        const attempts = [];
        if (this.page && !this.page.isClosed()) {
            attempts.push(this.page.screenshot({ path: path.join(dir, 'screenshot.png'), fullPage: true, timeout: 15_000 }));
            attempts.push(this.page.content().then((html) => fs.writeFile(path.join(dir, 'page.html'), html)));
        }
        attempts.push(fs.writeFile(path.join(dir, 'browser-console.log'), this.consoleLines.join('\n')));
        if (this.root) {
            for (const file of ['code-server.log', 'install-extension.log']) {
                attempts.push(fs.copyFile(path.join(this.root, file), path.join(dir, file)));
            }
            attempts.push(copyLogs(path.join(this.userDataDir, 'logs'), path.join(dir, 'logs')));
        }
        for (const file of this.extraArtifacts) {
            attempts.push(fs.copyFile(file, path.join(dir, path.basename(file))));
        }
        const results = await Promise.allSettled(attempts);
        const failed = results.filter((result) => result.status === 'rejected').map((result) => result.reason.message);
        if (failed.length) await fs.writeFile(path.join(dir, 'artifact-errors.txt'), failed.join('\n'));
        process.stderr.write(`e2e: artifacts of "${testName}" saved in ${dir}\n`);
        return dir;
    }

    /** Closes Chromium and kills code-server's process group; removes the temp dir. Idempotent. */
    async close() {
        if (this.browser) {
            await Promise.race([this.browser.close().catch(() => {}), sleep(10_000)]);
            this.browser = undefined;
        }
        if (this.codeServer) {
            await stopGroup(this.codeServer);
            this.codeServer = undefined;
        }
        if (this.root) await removeTempDir(this.root);
        this.root = undefined;
    }
}

/**
 * A node:test test that saves artifacts when it fails. `getWorkbench` returns the session
 * (created in a `before` hook). The test's own timeout fires first, so artifacts are saved while
 * the workbench is still open.
 */
export function e2eTest(name, { timeoutMs = 120_000 } = {}, getWorkbench, body) {
    test(name, { timeout: timeoutMs + 60_000 }, async (t) => {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
            const workbench = getWorkbench();
            if (!workbench) throw new Error('the workbench did not start (see the before hook\'s error)');
            await Promise.race([body(workbench, t), timeout]);
        } catch (error) {
            const workbench = getWorkbench();
            if (workbench) await workbench.saveArtifacts(name).catch((saveError) => process.stderr.write(`e2e: saving artifacts failed: ${saveError.message}\n`));
            throw error;
        } finally {
            clearTimeout(timer);
        }
    });
}

// ---- helpers the test files share -----------------------------------------------------------------

/** The files under `dir` (recursively) that `keep` accepts. */
export async function findFiles(dir, keep) {
    const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name)).filter(keep);
}

/** The first match of `pattern` in a log file of the session, waited for (30 s at most). */
export async function waitForLogLine(wb, what, pattern) {
    return waitFor(what, async () => {
        for (const file of await findFiles(wb.userDataDir, (f) => f.endsWith('.log'))) {
            const match = pattern.exec(await fs.readFile(file, 'utf8').catch(() => ''));
            if (match) return match;
        }
        return undefined;
    }, { timeoutMs: 30_000 });
}

/** The build of the core the local model's worker loaded (`wasm` or `wasm-relaxed`), from its log line. */
export async function loadedCoreBuild(wb) {
    const [, build] = await waitForLogLine(wb, 'the "worker started" log line', /HAPA local model: worker started \(core: out\/([\w-]+)\)/);
    return build;
}

/** The HAPA status-bar item's text, once it contains `what`. */
export async function waitForStatus(wb, what, timeoutMs = 30_000) {
    return waitFor(`the status bar to say ${JSON.stringify(what)}`, async () => {
        const texts = await wb.page.locator('.statusbar-item').allTextContents();
        return texts.find((text) => text.includes(what));
    }, { timeoutMs, describe: async () => JSON.stringify((await wb.page.locator('.statusbar-item').allTextContents()).filter((t) => t.includes('HAPA'))) });
}

/** "HAPA: Select Backend" from the palette, then the `mode` row of its quick pick. */
export async function selectBackend(wb, mode) {
    await wb.runCommand('HAPA: Select Backend');
    await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: 'where completions come from' })
        .waitFor({ state: 'visible', timeout: 10_000 });
    await wb.page.keyboard.type(mode, { delay: 20 });
    await wb.page.keyboard.press('Enter');
}

/**
 * Opens `file`, types `typed` on a new line at its end and waits for ghost text (the first
 * completion of a session may start the model's worker and load the model: allow it time).
 */
export async function ghostTextAfterTyping(wb, file, typed, { timeoutMs = 90_000 } = {}) {
    await wb.openFile(file);
    await wb.page.locator('.monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+End');
    await wb.page.keyboard.press('Enter');
    await wb.page.keyboard.type(typed, { delay: 30 });
    const ghost = wb.page.locator('.monaco-editor .ghost-text-decoration');
    return waitFor(`ghost text after ${JSON.stringify(typed)}`, async () => {
        const text = ((await ghost.allTextContents()).join('')).replace(/\u00a0/g, ' ');
        return text.length > 0 ? text : undefined;
    }, { timeoutMs });
}
