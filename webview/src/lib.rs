//! HAPA's chat sidebar: a leptos app, rendered client-side inside the VS Code webview.
//!
//! Its job is the chat UI and nothing else: it shows the conversation, takes the user's
//! question and hands it to the extension host with `postMessage` (wire types from
//! `hapa-protocol`). It must never do network IO — every call to a HAPA server, and the API
//! key, stay in the extension host, so the webview's CSP can forbid connections. It must not
//! depend on `hapa-core`, `hapa-model` or `hapa-server`. Text from the user, the host or a
//! model is always rendered as text, never as HTML.
//!
//! Logic that needs no browser (key handling, the transcript, highlighting) lives in plain
//! modules with native unit tests; the components are tested in a browser by `tests/app.rs`.

pub mod app;
pub mod compose;
pub mod highlight;
pub mod host;
pub mod markdown;
pub mod transcript;

pub use app::App;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, run by the wasm-bindgen glue's `init()` as soon as the module is instantiated:
/// mounts [`App`] into `<body>`. The glue also exports it as `start()`; calling that again
/// would mount a second app. (The test runner does not call it; tests mount `App` themselves.)
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
