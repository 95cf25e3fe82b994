// The Rust core (crates/hapa-wasm), loaded on first use so activation stays cheap.
import type * as Core from '../../out/wasm/hapa_wasm';

export type { ChatHistory, EditorDiagnostic, FromWebview, ServerHealth, ToWebview } from '../../out/wasm/hapa_wasm';

let core: typeof Core | undefined;

export function hapaCore(): typeof Core {
    // A plain string literal: esbuild leaves it external and Node resolves it next to out/extension.js.
    core ??= require('./wasm/hapa_wasm.js') as typeof Core;
    return core;
}
