//! Values the Rust core hands the TypeScript extension host across the wasm-bindgen boundary.
//!
//! Positions here are the editor's: 0-based lines, columns in UTF-16 code units, so the host
//! can build a `vscode.Range` without converting anything.

use serde::{Deserialize, Serialize};

use crate::api::HealthResponse;

/// A syntax error positioned for VS Code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditorDiagnostic {
    /// 0-based line where the error starts.
    pub start_line: u32,
    /// 0-based UTF-16 column where the error starts.
    pub start_character: u32,
    /// 0-based line where the error ends.
    pub end_line: u32,
    /// 0-based UTF-16 column where the error ends (exclusive).
    pub end_character: u32,
    /// The parser's message.
    pub message: String,
}

/// The outcome of a successful health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerHealth {
    /// The server's base URL, as it was asked.
    pub server_url: String,
    /// What `GET /health` answered.
    pub health: HealthResponse,
    /// Round-trip time of the request, in milliseconds.
    pub latency_ms: f64,
}

/// What the server said about the API key the editor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyStatus {
    /// The server accepted it.
    Accepted,
    /// No key is stored in the editor.
    Missing,
    /// The server answered 401 to it (unknown, revoked or mistyped).
    Rejected,
}

/// The outcome of "HAPA: Check Server": health, then whether the key works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerCheck {
    /// The health check.
    pub health: ServerHealth,
    /// Whether the key works.
    pub api_key: KeyStatus,
    /// One sentence for the person: what is fine and what to do.
    pub summary: String,
}
