//! `cargo xtask run` hands its development key to the VS Code it starts through HAPA_API_KEY:
//! the extension must move it into SecretStorage, so the first Check Server already uses it.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { Workbench, e2eTest, startHapaServer } from './harness.mjs';

let workbench;
let server;

before(async () => {
    server = await startHapaServer();
    const key = await server.createKey('dev-from-environment', 'admin');
    workbench = await Workbench.start({
        name: 'dev-key',
        settings: { 'hapa.serverUrl': server.url },
        env: { HAPA_API_KEY: key },
    });
    workbench.addArtifact(server.logPath);
}, { timeout: 25 * 60_000 });

after(async () => {
    await workbench?.close();
    await server?.stop();
});

e2eTest('a key handed over in HAPA_API_KEY is used without asking', { timeoutMs: 120_000 }, () => workbench, async (wb, t) => {
    await wb.clearNotifications();
    await wb.runCommand('HAPA: Check Server');
    const accepted = await wb.waitForNotification(/your API key is accepted\.$/, { timeoutMs: 30_000 });
    t.diagnostic(`notification: ${accepted.text}`);
    assert.equal(accepted.severity, 'info');
});
