//! Every type that crosses a wire in HAPA: the bodies of the server's HTTP API and the
//! messages between the extension host and the chat webview.
//!
//! Server, extension core and webview all use these definitions, so nobody copies a type
//! across a boundary by hand. This crate is serde only: it must not depend on IO, async
//! runtimes, the parser, the model or anything platform-specific, and it must compile to
//! `wasm32-unknown-unknown`.

pub mod api;
pub mod editor;
pub mod links;
pub mod webview;

/// Version of the host <-> webview message protocol; bumped on any incompatible change.
pub const WEBVIEW_PROTOCOL_VERSION: u32 = 3;
