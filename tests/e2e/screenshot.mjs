// Regenerates docs/screenshot.png (the README's picture) from the real extension in a real
// VS Code: broken.py validated, Problems open, the HAPA chat view beside it.
// Usage: node tests/e2e/screenshot.mjs [OUT.png]   (after `cargo xtask dist`)
import path from 'node:path';

import { REPO_ROOT, Workbench, startHapaServer } from './harness.mjs';

const out = path.resolve(process.argv[2] ?? path.join(REPO_ROOT, 'docs/screenshot.png'));
const server = await startHapaServer();
const workbench = await Workbench.start({ name: 'screenshot', settings: { 'hapa.serverUrl': server.url } });
try {
    await workbench.page.setViewportSize({ width: 1280, height: 760 });
    await workbench.openFile('broken.py');
    await workbench.runCommand('HAPA: Validate Python File');
    await workbench.openProblems();
    await workbench.waitForProblems('HAPA problems', (all) => all.some((p) => p.source === 'HAPA'));
    await workbench.openHapaView();
    const frame = await workbench.frameWith('main#hapa-chat[data-hapa-ready="true"]', { timeoutMs: 90_000 });
    await frame.locator('#hapa-input').fill('How do I read a CSV file with the csv module?');
    await frame.locator('#hapa-input').press('Enter');
    await frame.locator('ol#hapa-history > li').nth(1).waitFor({ timeout: 30_000 });
    await workbench.clearNotifications();
    await workbench.page.screenshot({ path: out });
    console.log(`wrote ${out}`);
} finally {
    await workbench.close();
    await server.stop();
}
