//! HAPA's pure logic: Python validation, context collection and the request cache today;
//! prompt building and post-processing of completions as they arrive.
//!
//! Everything here is a function of its inputs: no IO, no clocks (callers pass the time in),
//! no threads, no async, no global state, so it compiles natively and to
//! `wasm32-unknown-unknown` from the same source and is tested natively. It never fails on bad
//! input: a broken Python file yields diagnostics, not an `Err`. It must not depend on
//! wasm-bindgen, the model runtime, HTTP or VS Code; those live at the edges (`hapa-wasm`,
//! `hapa-model`, `hapa-server`).

pub mod api_key;
pub mod backend;
pub mod cache;
pub mod chats;
mod compact;
pub mod context;
pub mod position;
pub mod prompt;
pub mod retry;
pub mod splice;
pub mod sse;
pub mod tasks;
pub mod validate;
