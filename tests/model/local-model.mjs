// Loads the bundled model into the WebAssembly core (out/wasm, built by `cargo xtask dist`),
// the way the extension host does: the host reads the files and hands over their contents.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The build the extension's model worker loads here (`coreBuild` in extension/src/localModel.ts):
// the one with relaxed SIMD where this engine accepts the probe module (Node 20 with
// --experimental-wasm-relaxed-simd, as VS Code's Electron does by default), else the plain one.
// The bytes are written out again here so the check does not lean on the code it checks.
const relaxedSimdProbe = Uint8Array.from(
    [0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11],
);
export const coreBuild = WebAssembly.validate(relaxedSimdProbe) ? 'wasm-relaxed' : 'wasm';

export function loadLocalModel(modelDir = process.env.HAPA_MODEL_DIR ?? join(root, 'models')) {
    const core = createRequire(import.meta.url)(join(root, 'out', coreBuild, 'hapa_wasm.js'));
    return new core.LocalModel(
        readFileSync(join(modelDir, 'hapa-code.onnx')),
        readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'),
        readFileSync(join(modelDir, 'hapa-code.json'), 'utf8'),
    );
}
