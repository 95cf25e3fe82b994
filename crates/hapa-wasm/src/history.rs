//! The workspace's chats for the host: [`hapa_core::chats::ChatArchive`] behind a JavaScript
//! class. The host stores [`ChatHistory::to_json`] in VS Code's workspace state after each
//! change and posts the messages these methods return to the chat view.

use hapa_core::chats::ChatArchive;
use hapa_protocol::webview::ToWebview;
use wasm_bindgen::prelude::*;

use crate::to_js;

/// Every chat of the workspace and which one the view shows.
#[wasm_bindgen]
pub struct ChatHistory {
    archive: ChatArchive,
}

#[wasm_bindgen]
impl ChatHistory {
    /// The chats stored as `json` (as [`ChatHistory::to_json`] wrote it, or an earlier
    /// version's single chat); empty when there is none or it cannot be read.
    #[wasm_bindgen(constructor)]
    pub fn new(json: Option<String>, now_ms: f64) -> ChatHistory {
        ChatHistory { archive: ChatArchive::from_json(json.as_deref(), now_ms) }
    }

    /// What to store.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> String {
        self.archive.to_json()
    }

    /// The user asked `text`.
    pub fn question(&mut self, text: &str, now_ms: f64) {
        self.archive.question(text, now_ms);
    }

    /// The host posted `message` to the view; returns whether the archive changed.
    pub fn record(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ToWebview")] message: JsValue,
        now_ms: f64,
    ) -> Result<bool, JsError> {
        let message: ToWebview = serde_wasm_bindgen::from_value(message)
            .map_err(|error| JsError::new(&format!("not a chat view message: {error}")))?;
        Ok(self.archive.record(&message, now_ms))
    }

    /// New Chat.
    #[wasm_bindgen(js_name = newChat)]
    pub fn new_chat(&mut self) {
        self.archive.new_chat();
    }

    /// Switches to chat `id`: the messages that show it, or `undefined` when there is none.
    #[wasm_bindgen(unchecked_return_type = "ToWebview[] | undefined")]
    pub fn open(&mut self, id: &str) -> Result<JsValue, JsError> {
        match self.archive.open(id) {
            Some(messages) => to_js(&messages),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Forgets chat `id`; returns whether it was the one shown.
    pub fn delete(&mut self, id: &str) -> bool {
        self.archive.delete(id)
    }

    /// The messages that show the current chat in a fresh view.
    #[wasm_bindgen(unchecked_return_type = "ToWebview[]")]
    pub fn replay(&self) -> Result<JsValue, JsError> {
        to_js(&self.archive.replay())
    }

    /// The chat list message.
    #[wasm_bindgen(unchecked_return_type = "ToWebview")]
    pub fn list(&self) -> Result<JsValue, JsError> {
        to_js(&self.archive.list())
    }

    /// The highest answer id in any stored chat.
    #[wasm_bindgen(js_name = lastAnswerId)]
    pub fn last_answer_id(&self) -> u32 {
        self.archive.last_answer_id()
    }
}
