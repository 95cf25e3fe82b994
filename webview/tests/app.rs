//! The chat app mounted in a real browser (`wasm-pack test --headless --chrome webview`):
//! the DOM the end-to-end tests rely on, and what sending and receiving do to it.
#![cfg(target_arch = "wasm32")]

use hapa_webview::App;
use leptos::prelude::*;
use leptos::task::tick;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{
    Element, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit,
    MessageEvent, MessageEventInit,
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

/// Dispatches `message` (JSON) on `window` the way VS Code delivers the host's messages.
fn host_says(message: serde_json::Value) {
    let init = MessageEventInit::new();
    init.set_data(&js_sys::JSON::parse(&message.to_string()).unwrap());
    window().dispatch_event(&MessageEvent::new_with_event_init_dict("message", &init).unwrap()).unwrap();
}

/// The messages an answer normally ends with: done, with `code`, a request id and an explanation.
fn answer_done(answer: u32, code: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "answerDone", "answer": answer, "code": code, "explanation": "Adds two numbers.",
        "requestId": "req-1", "backend": "hapa-server (hapa-code)", "elapsedMs": 1234.6,
        "parses": true, "stopped": false,
    })
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

    fn click(&self, selector: &str) {
        self.find(selector).unchecked_into::<HtmlElement>().click();
    }

    fn text(&self, selector: &str) -> String {
        self.find(selector).text_content().unwrap_or_default()
    }

    fn attr(&self, selector: &str, name: &str) -> Option<String> {
        self.find(selector).get_attribute(name)
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
    assert!(!send.disabled());
    let new_chat = app.find("main > header > button#hapa-new-chat");
    assert_eq!(new_chat.text_content().as_deref().map(str::trim), Some("New Chat"));
    assert_eq!(new_chat.get_attribute("aria-label").as_deref(), Some("New chat"));
    let context: HtmlInputElement = app.find("main label > input#hapa-with-context[type=checkbox]").unchecked_into();
    assert!(context.checked(), "context is sent by default");
    assert_eq!(context.parent_element().unwrap().text_content().as_deref(), Some("Use selection / file as context"));
    assert!(app.try_find("#hapa-stop").is_none(), "Stop shows only while an answer streams");

    assert_eq!(last_posted(&posted), r#"{"type":"ready","protocol":3}"#);
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
    assert_eq!(last_posted(&posted), r#"{"type":"ask","text":"write fizzbuzz\nin one line","withContext":true}"#);

    app.click("#hapa-with-context");
    app.type_text("no context");
    app.click("#hapa-send");
    tick().await;
    assert_eq!(last_posted(&posted), r#"{"type":"ask","text":"no context","withContext":false}"#);
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
    host_says(serde_json::json!({ "type": "notice", "text": hostile }));
    // Unknown messages are ignored, not shown.
    host_says(serde_json::json!({ "type": "eval", "code": "1" }));
    tick().await;

    assert_eq!(app.history_texts(), [hostile]);
    assert_eq!(app.find("#hapa-history > li").get_attribute("data-author").as_deref(), Some("hapa"));
    assert_eq!(app.count("#hapa-history img, #hapa-history b"), 0);
}

#[wasm_bindgen_test]
async fn a_streamed_answer_renders_its_code_exactly_and_its_buttons_post() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;
    app.type_text("add two numbers");
    app.click("#hapa-send");

    host_says(serde_json::json!({ "type": "answerStarted", "answer": 4, "context": "selection of app.py, lines 3-9" }));
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 4, "text": "def add(a, b):\n" }));
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 4, "text": "    return a + b  # 'sum'\n" }));
    // Another answer's deltas (e.g. from before New Chat) change nothing.
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 99, "text": "lost" }));
    tick().await;

    let answer = "#hapa-history > li.hapa-message[data-author=hapa][data-answer='4']";
    assert_eq!(app.attr(answer, "data-state").as_deref(), Some("streaming"));
    assert_eq!(app.text(&format!("{answer} .hapa-context")), "Context: selection of app.py, lines 3-9");
    let code = format!("{answer} pre.hapa-code > code.language-python");
    assert_eq!(app.text(&code), "def add(a, b):\n    return a + b  # 'sum'\n");
    assert_eq!(app.text(&format!("{code} .hapa-tok-keyword")), "def", "the first keyword is highlighted");
    assert_eq!(app.count("#hapa-history > li"), 2);
    assert!(app.try_find(".hapa-insert").is_none(), "no buttons before the answer is done");
    assert_eq!(app.text("#hapa-stop").trim(), "Stop");
    assert!(app.find("#hapa-send").unchecked_into::<HtmlButtonElement>().disabled());
    let before = posted.length();
    app.type_text("another question");
    assert!(!app.press("Enter", false));
    tick().await;
    assert_eq!(posted.length(), before, "nothing is asked while an answer streams");
    assert_eq!(app.input().value(), "another question", "the draft is kept");

    let final_code = "def add(a, b):\n    return a + b";
    host_says(answer_done(4, final_code));
    tick().await;

    assert_eq!(app.attr(answer, "data-state").as_deref(), Some("done"));
    assert_eq!(app.text(&code), final_code, "Done replaces the streamed code");
    assert_eq!(app.text(&format!("{answer} .hapa-meta")), "hapa-server (hapa-code) · 1235 ms");
    assert_eq!(app.text(&format!("{answer} .hapa-explanation")), "Adds two numbers.");
    assert!(app.try_find(".hapa-warning").is_none(), "the code parses");
    assert!(app.try_find("#hapa-stop").is_none(), "Stop goes when the answer is done");
    assert!(!app.find("#hapa-send").unchecked_into::<HtmlButtonElement>().disabled());

    for (button, label, text) in [
        (".hapa-insert", "Insert at cursor", "Insert at Cursor"),
        (".hapa-replace", "Replace selection", "Replace Selection"),
        (".hapa-copy", "Copy code", "Copy"),
        (".hapa-up", "Good answer", "👍"),
        (".hapa-down", "Bad answer", "👎"),
    ] {
        let selector = format!("{answer} button{button}");
        assert_eq!(app.attr(&selector, "aria-label").as_deref(), Some(label));
        assert_eq!(app.text(&selector).trim(), text);
    }
    app.click(".hapa-insert");
    assert_eq!(
        last_posted(&posted),
        r#"{"type":"insertCode","code":"def add(a, b):\n    return a + b","target":"cursor"}"#
    );
    app.click(".hapa-replace");
    assert_eq!(
        last_posted(&posted),
        r#"{"type":"insertCode","code":"def add(a, b):\n    return a + b","target":"selection"}"#
    );
    app.click(".hapa-copy");
    assert_eq!(last_posted(&posted), r#"{"type":"copyCode","code":"def add(a, b):\n    return a + b"}"#);

    app.click(".hapa-down");
    tick().await;
    assert_eq!(last_posted(&posted), r#"{"type":"rate","requestId":"req-1","rating":"down"}"#);
    let (up, down): (HtmlButtonElement, HtmlButtonElement) =
        (app.find(".hapa-up").unchecked_into(), app.find(".hapa-down").unchecked_into());
    assert!(up.disabled() && down.disabled(), "an answer is rated once");
    assert_eq!(down.get_attribute("aria-pressed").as_deref(), Some("true"));
    assert_eq!(up.get_attribute("aria-pressed").as_deref(), Some("false"));
}

#[wasm_bindgen_test]
async fn model_output_is_inert_text() {
    fake_host();
    let app = Mounted::new();
    tick().await;

    let hostile = "<img src=x onerror=alert(1)>\n<script>globalThis.hapaPwned = true</script>\nx = '<b>'";
    host_says(serde_json::json!({ "type": "answerStarted", "answer": 1, "context": "<img src=x onerror=alert(1)>" }));
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 1, "text": hostile }));
    tick().await;
    assert_eq!(app.text("pre.hapa-code > code"), hostile);
    let mut done = answer_done(1, hostile);
    done["explanation"] = "<script>globalThis.hapaPwned = true</script>".into();
    done["backend"] = "<img src=x onerror=alert(1)>".into();
    done["parses"] = false.into();
    host_says(done);
    host_says(serde_json::json!({ "type": "answerStarted", "answer": 2, "context": null }));
    host_says(serde_json::json!({ "type": "answerFailed", "answer": 2, "message": "<img src=x onerror=alert(1)>" }));
    tick().await;

    assert_eq!(app.text("[data-answer='1'] pre.hapa-code > code"), hostile);
    assert_eq!(app.text("[data-answer='1'] .hapa-context"), "Context: <img src=x onerror=alert(1)>");
    assert_eq!(app.text(".hapa-explanation").trim_end(), "<script>globalThis.hapaPwned = true</script>");
    assert_eq!(app.text(".hapa-warning"), "This code does not parse on its own.");
    assert_eq!(app.attr("[data-answer='2']", "data-state").as_deref(), Some("failed"));
    assert_eq!(app.attr("[data-answer='2'] .hapa-error", "role").as_deref(), Some("alert"));
    assert_eq!(app.text("[data-answer='2'] .hapa-error"), "<img src=x onerror=alert(1)>");
    assert!(app.try_find("[data-answer='2'] .hapa-insert").is_none(), "a failed answer has no code buttons");
    assert_eq!(app.count("#hapa-history img, #hapa-history script, #hapa-history b"), 0);
    assert!(js_sys::Reflect::get(&js_sys::global(), &"hapaPwned".into()).unwrap().is_undefined());
}

#[wasm_bindgen_test]
async fn stop_shows_only_while_streaming_and_asks_the_host_to_stop() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;
    assert!(app.try_find("#hapa-stop").is_none());

    host_says(serde_json::json!({ "type": "answerStarted", "answer": 1, "context": null }));
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 1, "text": "x = " }));
    tick().await;
    app.click("#hapa-stop");
    assert_eq!(last_posted(&posted), r#"{"type":"stop"}"#);

    let mut stopped = answer_done(1, "x = ");
    stopped["stopped"] = true.into();
    stopped["requestId"] = serde_json::Value::Null;
    host_says(stopped);
    tick().await;
    assert!(app.try_find("#hapa-stop").is_none());
    assert_eq!(app.attr("[data-answer='1']", "data-state").as_deref(), Some("stopped"));
    assert!(app.try_find(".hapa-copy").is_some(), "what arrived can still be used");
    assert!(app.try_find(".hapa-up, .hapa-down").is_none(), "no request id, no rating");

    // A failure also ends streaming.
    host_says(serde_json::json!({ "type": "answerStarted", "answer": 2, "context": null }));
    tick().await;
    assert!(app.try_find("#hapa-stop").is_some());
    host_says(serde_json::json!({ "type": "answerFailed", "answer": 2, "message": "server did not answer" }));
    tick().await;
    assert!(app.try_find("#hapa-stop").is_none());
}

#[wasm_bindgen_test]
async fn new_chat_clears_the_history_and_tells_the_host() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;
    app.type_text("q");
    app.click("#hapa-send");
    host_says(serde_json::json!({ "type": "answerStarted", "answer": 1, "context": null }));
    host_says(serde_json::json!({ "type": "answerDelta", "answer": 1, "text": "x" }));
    tick().await;
    assert_eq!(app.count("#hapa-history > li"), 2);

    app.click("#hapa-new-chat");
    tick().await;
    assert_eq!(last_posted(&posted), r#"{"type":"newChat"}"#);
    assert_eq!(app.count("#hapa-history > li"), 0);
    assert!(app.try_find(".hapa-empty").is_some(), "the hint is back");
    assert!(app.try_find("#hapa-stop").is_none());

    // The old answer's end arrives after New Chat: ignored.
    host_says(answer_done(1, "x = 1"));
    tick().await;
    assert_eq!(app.count("#hapa-history > li"), 0);
}

#[wasm_bindgen_test]
async fn explanations_render_markdown_as_dom_and_keep_links_and_images_inert() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;

    let explanation = "Use `sum`, it is **fast**:\n\n- no loop\n- no <img src=x onerror=globalThis.hapaPwned=1>\n\n\
        ![tracker](http://127.0.0.1:9/pixel.png) [docs](https://docs.python.org/3/) [quit](command:workbench.action.quit)\n\n\
        ```python\nprint(total([1, 2]))\n```\n\n```bash\npip install nothing\n```\n";
    host_says(serde_json::json!({ "type": "answerStarted", "answer": 1, "context": null }));
    let mut done = answer_done(1, "def total(xs):\n    return sum(xs)\n");
    done["explanation"] = explanation.into();
    host_says(done);
    tick().await;

    let words = "[data-answer='1'] .hapa-explanation";
    assert_eq!(app.text(&format!("{words} > p:first-child > code")), "sum");
    assert_eq!(app.text(&format!("{words} > p:first-child > strong")), "fast");
    assert_eq!(app.count(&format!("{words} > ul > li")), 2);
    assert_eq!(
        app.text(&format!("{words} > ul > li:nth-child(2)")),
        "no <img src=x onerror=globalThis.hapaPwned=1>",
        "raw HTML shows as its text"
    );
    assert_eq!(app.text(&format!("{words} .hapa-image")), "[image: tracker]");
    assert_eq!(app.text(&format!("{words} .hapa-link-inert")), "quit");
    assert_eq!(
        app.count(&format!("{words} a, {words} img, {words} script, #hapa-history [href], #hapa-history [src]")),
        0
    );
    assert!(js_sys::Reflect::get(&js_sys::global(), &"hapaPwned".into()).unwrap().is_undefined());

    // A fenced Python block gets its own code actions; other languages are shown plainly.
    assert_eq!(app.count(&format!("{words} .hapa-md-code")), 2);
    assert_eq!(app.text(&format!("{words} .hapa-md-code code.language-python")), "print(total([1, 2]))\n");
    assert_eq!(app.text(&format!("{words} .hapa-md-code code.language-bash")), "pip install nothing\n");
    assert_eq!(app.count(&format!("{words} .hapa-md-code .hapa-copy")), 1);
    app.click(&format!("{words} .hapa-md-code .hapa-insert"));
    assert_eq!(last_posted(&posted), r#"{"type":"insertCode","code":"print(total([1, 2]))\n","target":"cursor"}"#);

    let link = format!("{words} button.hapa-link");
    assert_eq!(app.text(&link), "docs");
    assert_eq!(app.attr(&link, "title").as_deref(), Some("https://docs.python.org/3/"));
    app.click(&link);
    assert_eq!(last_posted(&posted), r#"{"type":"openLink","url":"https://docs.python.org/3/"}"#);
    let before = posted.length();
    app.click(&format!("{words} .hapa-link-inert"));
    assert_eq!(posted.length(), before, "an inert link asks nothing");
}

#[wasm_bindgen_test]
async fn the_chat_list_opens_and_deletes_past_chats() {
    let posted = fake_host();
    let app = Mounted::new();
    tick().await;
    assert!(app.try_find("#hapa-chats").is_none(), "the list is closed at first");
    let toggle = "main > header > button#hapa-chats-toggle";
    assert_eq!(app.attr(toggle, "aria-expanded").as_deref(), Some("false"));
    app.click(toggle);
    tick().await;
    assert_eq!(app.attr(toggle, "aria-expanded").as_deref(), Some("true"));
    assert_eq!(app.text("nav#hapa-chats .hapa-chats-empty"), "No past chats yet.");

    host_says(serde_json::json!({
        "type": "chats",
        "chats": [
            { "id": "c2", "title": "<b>second</b>", "questions": 1, "updatedMs": 1_700_000_000_000.0_f64 },
            { "id": "c1", "title": "first", "questions": 3, "updatedMs": 1_600_000_000_000.0_f64 },
        ],
        "current": "c2",
    }));
    tick().await;
    assert_eq!(app.count("#hapa-chats li.hapa-chat-item"), 2);
    assert_eq!(app.text("#hapa-chats li[data-chat='c2'] .hapa-chat-title"), "<b>second</b>");
    assert_eq!(app.attr("#hapa-chats li[data-chat='c2']", "data-current").as_deref(), Some("true"));
    assert_eq!(app.attr("#hapa-chats li[data-chat='c2'] .hapa-open-chat", "aria-current").as_deref(), Some("true"));
    assert_eq!(app.attr("#hapa-chats li[data-chat='c1']", "data-current").as_deref(), Some("false"));
    assert!(app.text("#hapa-chats li[data-chat='c1'] .hapa-chat-meta").starts_with("3 questions · "));
    assert_eq!(app.count("#hapa-chats b"), 0);

    app.click("#hapa-chats li[data-chat='c1'] .hapa-delete-chat");
    assert_eq!(last_posted(&posted), r#"{"type":"deleteChat","id":"c1"}"#);
    assert_eq!(
        app.attr("#hapa-chats li[data-chat='c1'] .hapa-delete-chat", "aria-label").as_deref(),
        Some("Delete chat: first")
    );
    app.click("#hapa-chats li[data-chat='c1'] .hapa-open-chat");
    tick().await;
    assert_eq!(last_posted(&posted), r#"{"type":"openChat","id":"c1"}"#);
    assert!(app.try_find("#hapa-chats").is_none(), "opening a chat closes the list");

    // The host then replays that chat after a reset.
    app.type_text("shown before");
    app.click("#hapa-send");
    host_says(serde_json::json!({ "type": "reset" }));
    host_says(serde_json::json!({ "type": "question", "text": "from chat one" }));
    tick().await;
    assert_eq!(app.history_texts(), ["from chat one"]);
}

#[wasm_bindgen_test]
async fn the_composer_shows_what_a_question_would_be_sent_with() {
    fake_host();
    let app = Mounted::new();
    tick().await;
    let preview = "p#hapa-context-preview";
    assert_eq!(app.text(preview), "No Python editor is active: only the question is sent.");
    assert_eq!(app.attr("#hapa-with-context", "aria-describedby").as_deref(), Some("hapa-context-preview"));

    host_says(
        serde_json::json!({ "type": "contextPreview", "description": "selection of <b>app.py</b>, lines 3-9", "pinned": false }),
    );
    tick().await;
    assert_eq!(app.text(preview), "Sends the selection of <b>app.py</b>, lines 3-9.");
    app.click("#hapa-with-context");
    tick().await;
    assert_eq!(app.text(preview), "Only the question is sent.", "the switch is off");

    host_says(
        serde_json::json!({ "type": "contextPreview", "description": "selection of app.py, lines 4-4", "pinned": true }),
    );
    tick().await;
    assert_eq!(
        app.text(preview),
        "Sends the added selection of app.py, lines 4-4.",
        "pinned goes even with the switch off"
    );
    assert_eq!(app.count("#hapa-history > li"), 0, "the preview is not a message");
}
