//! The chat app mounted in a real browser (`wasm-pack test --headless --chrome webview`):
//! the DOM the end-to-end tests rely on, and what sending and receiving do to it.
#![cfg(target_arch = "wasm32")]

use hapa_webview::App;
use leptos::prelude::*;
use leptos::task::tick;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    Element, HtmlButtonElement, HtmlElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit, MessageEvent,
    MessageEventInit,
};

wasm_bindgen_test_configure!(run_in_browser);

/// Stands in for VS Code: defines `acquireVsCodeApi` (once per page, like the real one) and
/// returns the array every posted message lands in.
fn fake_host() -> js_sys::Array {
    let install = js_sys::Function::new_no_args(
        "if (!globalThis.hapaPosted) {
             globalThis.hapaPosted = [];
             globalThis.acquireVsCodeApi = () => ({ postMessage: (m) => globalThis.hapaPosted.push(m) });
         }
         return globalThis.hapaPosted;",
    );
    install.call0(&JsValue::NULL).unwrap().unchecked_into()
}

/// JSON of the last message posted to the fake host.
fn last_posted(posted: &js_sys::Array) -> String {
    js_sys::JSON::stringify(&posted.at(-1)).unwrap().as_string().unwrap()
}

/// A fresh `<div>` in `<body>` with `App` mounted in it; dropping it unmounts the app and
/// removes the div.
struct Mounted {
    root: HtmlElement,
    handle: Option<Box<dyn std::any::Any>>,
}

impl Mounted {
    fn new() -> Self {
        let document = document();
        let root: HtmlElement = document.create_element("div").unwrap().unchecked_into();
        document.body().unwrap().append_child(&root).unwrap();
        let handle = leptos::mount::mount_to(root.clone(), App);
        Mounted { root, handle: Some(Box::new(handle)) }
    }

    fn find(&self, selector: &str) -> Element {
        self.try_find(selector).unwrap_or_else(|| panic!("no element matches {selector}"))
    }

    fn try_find(&self, selector: &str) -> Option<Element> {
        self.root.query_selector(selector).unwrap()
    }

    fn count(&self, selector: &str) -> u32 {
        self.root.query_selector_all(selector).unwrap().length()
    }

    fn input(&self) -> HtmlTextAreaElement {
        self.find("textarea#hapa-input").unchecked_into()
    }

    fn type_text(&self, text: &str) {
        let input = self.input();
        input.set_value(text);
        input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
    }

    /// Dispatches a `keydown` on the input; returns whether the app let the key through
    /// (`false`: it called `preventDefault`).
    fn press(&self, key: &str, shift: bool) -> bool {
        let init = KeyboardEventInit::new();
        init.set_key(key);
        init.set_shift_key(shift);
        init.set_bubbles(true);
        init.set_cancelable(true);
        let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
        self.input().dispatch_event(&event).unwrap()
    }

    fn history_texts(&self) -> Vec<String> {
        let items = self.root.query_selector_all("#hapa-history > li .hapa-text").unwrap();
        (0..items.length()).map(|i| items.item(i).unwrap().text_content().unwrap()).collect()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        drop(self.handle.take());
        self.root.remove();
    }
}

#[wasm_bindgen_test]
async fn renders_the_contract_dom_and_says_ready() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;

    let main = app.find("main#hapa-chat");
    assert_eq!(main.get_attribute("data-hapa-ready").as_deref(), Some("true"));
    assert_eq!(main.get_attribute("aria-label").as_deref(), Some("HAPA chat"));
    assert_eq!(app.find("main > header > h1").text_content().as_deref(), Some("HAPA"));
    let history = app.find("main ol#hapa-history");
    assert_eq!(history.get_attribute("aria-label").as_deref(), Some("Chat history"));
    assert_eq!(app.count("#hapa-history > li"), 0);
    assert_eq!(app.find("main p.hapa-empty").text_content().as_deref(), Some("Ask HAPA for Python code."));
    assert_eq!(app.input().get_attribute("aria-label").as_deref(), Some("Ask HAPA"));
    let send: HtmlButtonElement = app.find("main button#hapa-send").unchecked_into();
    assert_eq!(send.text_content().as_deref().map(str::trim), Some("Send"));

    assert_eq!(last_posted(&posted), r#"{"type":"ready","protocol":1}"#);
}

#[wasm_bindgen_test]
async fn send_appends_the_message_clears_the_input_and_asks_the_host() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;

    app.type_text("write fizzbuzz\nin one line");
    app.find("#hapa-send").unchecked_into::<HtmlElement>().click();
    tick().await;

    assert_eq!(app.history_texts(), ["write fizzbuzz\nin one line"]);
    assert_eq!(app.find("#hapa-history > li").get_attribute("data-author").as_deref(), Some("user"));
    assert_eq!(app.input().value(), "");
    assert!(app.try_find(".hapa-empty").is_none(), "the empty hint stays after a message");
    assert_eq!(last_posted(&posted), r#"{"type":"ask","text":"write fizzbuzz\nin one line"}"#);
}

#[wasm_bindgen_test]
async fn enter_sends_but_shift_enter_and_blank_input_do_not() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;
    let before = posted.length();

    app.type_text("first line");
    assert!(app.press("Enter", true), "Shift+Enter must insert a newline");
    app.type_text("   \n ");
    assert!(!app.press("Enter", false), "Enter must not insert a newline");
    tick().await;
    assert_eq!(app.count("#hapa-history > li"), 0, "blank input was sent");
    assert_eq!(posted.length(), before);

    app.type_text("first line\nsecond line");
    assert!(!app.press("Enter", false));
    tick().await;
    assert_eq!(app.history_texts(), ["first line\nsecond line"]);
    assert_eq!(app.input().value(), "");
    assert_eq!(posted.length(), before + 1);
}

#[wasm_bindgen_test]
async fn host_notices_are_shown_as_text_never_as_html() {
    fake_host();
    let app = Mounted::new();
    tick().await;

    let hostile = "<img src=x onerror=\"globalThis.hapaPwned = true\"><b>bold</b>";
    let data = js_sys::JSON::parse(&serde_json::json!({ "type": "notice", "text": hostile }).to_string()).unwrap();
    let init = MessageEventInit::new();
    init.set_data(&data);
    let event = MessageEvent::new_with_event_init_dict("message", &init).unwrap();
    window().dispatch_event(&event).unwrap();
    // Unknown messages are ignored, not shown.
    let init = MessageEventInit::new();
    init.set_data(&js_sys::JSON::parse(r#"{"type":"eval","code":"1"}"#).unwrap());
    window().dispatch_event(&MessageEvent::new_with_event_init_dict("message", &init).unwrap()).unwrap();
    tick().await;

    assert_eq!(app.history_texts(), [hostile]);
    assert_eq!(app.find("#hapa-history > li").get_attribute("data-author").as_deref(), Some("hapa"));
    assert_eq!(app.count("#hapa-history img, #hapa-history b"), 0);
}
