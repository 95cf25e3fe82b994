//! The extension ships the Rust core twice: its model worker loads `out/wasm-relaxed` (matrix
//! kernels with fused multiply-add) where the engine runs relaxed SIMD, as VS Code's Electron does
//! by default. code-server's Node 20 does only with --experimental-wasm-relaxed-simd: here
//! code-server runs with it, so the installed extension takes the path VS Code users get.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { Workbench, e2eTest, ghostTextAfterTyping, loadedCoreBuild, selectBackend, waitForStatus } from './harness.mjs';

let workbench;

before(async () => {
    workbench = await Workbench.start({
        name: 'relaxed-simd',
        // Nothing listens there: completions come from the bundled model.
        settings: { 'hapa.serverUrl': 'http://127.0.0.1:9' },
        nodeFlags: ['--experimental-wasm-relaxed-simd'],
    });
}, { timeout: 25 * 60_000 });

after(async () => {
    await workbench?.close();
});

e2eTest('where the engine runs relaxed SIMD, the local model runs on the core built with it', { timeoutMs: 180_000 }, () => workbench, async (wb, t) => {
    await selectBackend(wb, 'local');
    await waitForStatus(wb, 'HAPA: Local');
    const suggested = await ghostTextAfterTyping(wb, 'valid.py', 'message = greet(');
    t.diagnostic(`ghost text: ${JSON.stringify(suggested)}`);
    assert.equal(await loadedCoreBuild(wb), 'wasm-relaxed');
});
