//! The bridge to the extension host: messages out through `acquireVsCodeApi().postMessage`,
//! messages in as `message` events on `window`. Both directions use `hapa-protocol`'s types,
//! crossing the boundary as JSON.

use std::cell::OnceCell;

use hapa_protocol::webview::{FromWebview, ToWebview};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The object VS Code's `acquireVsCodeApi()` returns.
    type VsCodeApi;

    /// Throws when called a second time, so it is called once and the result kept.
    #[wasm_bindgen(catch, js_name = acquireVsCodeApi)]
    fn acquire_vs_code_api() -> Result<VsCodeApi, JsValue>;

    #[wasm_bindgen(method, js_name = postMessage)]
    fn post_message(this: &VsCodeApi, message: &JsValue);
}

thread_local! {
    /// `None` outside VS Code (a plain browser page or the component tests without a fake host).
    static VS_CODE: OnceCell<Option<VsCodeApi>> = const { OnceCell::new() };
}

/// Sends `message` to the extension host. Returns `false`, having sent nothing, when the page
/// is not running inside a VS Code webview.
pub fn post(message: &FromWebview) -> bool {
    VS_CODE.with(|cell| {
        let Some(api) = cell.get_or_init(|| acquire_vs_code_api().ok()) else {
            return false;
        };
        // Serialising these plain enums cannot fail, and JSON.parse of serde_json's output
        // cannot either; an `expect` here would only ever fire on a broken build.
        let json = serde_json::to_string(message).expect("webview messages serialise to JSON");
        let value = js_sys::JSON::parse(&json).expect("serde_json writes valid JSON");
        api.post_message(&value);
        true
    })
}

/// Reads the `data` of a `message` event as a message from the host; anything else (other
/// senders, unknown or malformed messages) gives `None` and is ignored.
pub fn receive(data: &JsValue) -> Option<ToWebview> {
    let json = js_sys::JSON::stringify(data).ok()?.as_string()?;
    serde_json::from_str(&json).ok()
}
