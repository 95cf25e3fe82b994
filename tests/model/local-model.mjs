// Loads the bundled model into the WebAssembly core (out/wasm, built by `cargo xtask dist`),
// the way the extension host does: the host reads the files and hands over their contents.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function loadLocalModel(modelDir = process.env.HAPA_MODEL_DIR ?? join(root, 'models')) {
    const core = createRequire(import.meta.url)(join(root, 'out', 'wasm', 'hapa_wasm.js'));
    return new core.LocalModel(
        readFileSync(join(modelDir, 'hapa-code.onnx')),
        readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'),
        readFileSync(join(modelDir, 'hapa-code.json'), 'utf8'),
    );
}
