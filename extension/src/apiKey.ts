// The API key: kept only in VS Code's SecretStorage (the OS keyring), never in settings,
// logs or the webview. The Rust core checks a typed key's shape and checksum.
import * as vscode from 'vscode';
import { hapaCore } from './core';

const SECRET = 'hapa.apiKey';

export class ApiKeyStore {
    /** Settles once a key from the environment, if any, is stored. */
    private readonly imported: Promise<void>;

    constructor(
        private readonly secrets: vscode.SecretStorage,
        private readonly log: vscode.LogOutputChannel,
    ) {
        this.imported = process.env.HAPA_API_KEY ? this.importFromEnvironment() : Promise.resolve();
    }

    async get(): Promise<string | undefined> {
        await this.imported;
        return this.secrets.get(SECRET);
    }

    /**
     * `cargo xtask run` hands a development key to the VS Code it starts through HAPA_API_KEY;
     * it is moved into SecretStorage once, when none is stored yet.
     */
    private async importFromEnvironment(): Promise<void> {
        const key = process.env.HAPA_API_KEY?.trim();
        if (!key || (await this.secrets.get(SECRET))) return;
        const problem = hapaCore().apiKeyProblem(key);
        if (problem) {
            this.log.warn(`ignored HAPA_API_KEY: ${problem}`);
            return;
        }
        try {
            await this.secrets.store(SECRET, key);
            this.log.info('stored the API key from HAPA_API_KEY in SecretStorage');
        } catch (error) {
            this.log.error(`could not store HAPA_API_KEY in SecretStorage: ${error instanceof Error ? error.message : error}`);
        }
    }

    /** "HAPA: Set API Key": asks for the key, checks it as it is typed, stores it. */
    async promptAndStore(): Promise<void> {
        const key = await vscode.window.showInputBox({
            title: 'HAPA: Set API Key',
            prompt: 'Paste your HAPA API key (from `hapa-server keys create`). It is kept in VS Code\'s secret storage.',
            placeHolder: 'hapa_…',
            password: true,
            ignoreFocusOut: true,
            validateInput: (value) => hapaCore().apiKeyProblem(value.trim()) ?? undefined,
        });
        if (key === undefined) return;
        try {
            await this.secrets.store(SECRET, key.trim());
        } catch (error) {
            // No keyring (a Linux box without libsecret): say so; never fall back to plain text.
            const message = `HAPA could not store the key in VS Code's secret storage: ${error instanceof Error ? error.message : error}`;
            this.log.error(message);
            void vscode.window.showErrorMessage(message);
            return;
        }
        this.log.info('API key stored in SecretStorage');
        void vscode.window.showInformationMessage('HAPA: API key stored. Run "HAPA: Check Server" to try it.');
    }
}
