//! The chat's components. The DOM ids, labels and texts here are the ones `docs/CONTRACT.md`
//! promises to the end-to-end tests; change them only together with it.

use hapa_protocol::WEBVIEW_PROTOCOL_VERSION;
use hapa_protocol::webview::{FromWebview, ToWebview};
use leptos::{ev, html, prelude::*};

use crate::compose::{self, KeyAction, KeyPress};
use crate::host;
use crate::transcript::{Author, Transcript};

/// The whole chat: header, history and composer. Owns the transcript and the link to the
/// extension host.
#[component]
pub fn App() -> impl IntoView {
    let transcript = RwSignal::new(Transcript::default());

    let listener = window_event_listener(ev::message, move |event| match host::receive(&event.data()) {
        Some(ToWebview::Notice { text }) => transcript.update(|t| {
            t.push(Author::Hapa, text);
        }),
        None => {}
    });
    on_cleanup(move || listener.remove());

    let ask = move |text: String| {
        transcript.update(|t| {
            t.push(Author::User, text.clone());
        });
        host::post(&FromWebview::Ask { text });
    };

    // The host answers asynchronously, by which time the listener above is in place.
    host::post(&FromWebview::Ready { protocol: WEBVIEW_PROTOCOL_VERSION });

    view! {
        <main id="hapa-chat" data-hapa-ready="true" aria-label="HAPA chat">
            <Header />
            <History transcript=transcript.read_only() />
            <Composer on_send=ask />
        </main>
    }
}

/// The chat's title bar.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header>
            <h1>"HAPA"</h1>
        </header>
    }
}

/// The conversation so far, oldest first, kept scrolled to the newest message; a hint
/// takes its place while it is empty.
#[component]
pub fn History(
    /// The conversation to show; this component only reads it.
    transcript: ReadSignal<Transcript>,
) -> impl IntoView {
    let scroller = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        transcript.track();
        if let Some(scroller) = scroller.get() {
            scroller.set_scroll_top(scroller.scroll_height());
        }
    });

    view! {
        <div class="hapa-history" node_ref=scroller>
            <ol id="hapa-history" aria-label="Chat history" aria-live="polite">
                <For
                    each=move || transcript.with(|t| t.messages().to_vec())
                    key=|message| message.id
                    let:message
                >
                    <li class="hapa-message" data-author=message.author.as_str()>
                        <span class="hapa-author">{message.author.label()}</span>
                        <p class="hapa-text">{message.text}</p>
                    </li>
                </For>
            </ol>
            <Show when=move || transcript.with(Transcript::is_empty)>
                <p class="hapa-empty">"Ask HAPA for Python code."</p>
            </Show>
        </div>
    }
}

/// The input and its Send button. Enter sends, Shift+Enter starts a new line; blank input
/// sends nothing.
#[component]
pub fn Composer(
    /// Called with the message's text when the user sends; the input is cleared first.
    #[prop(into)]
    on_send: Callback<String>,
) -> impl IntoView {
    let input = NodeRef::<html::Textarea>::new();
    // The textarea itself is the draft's only copy: whatever put text there (typing, paste,
    // an automation tool setting `value`), Send takes what is there now.
    let send = move || {
        let Some(textarea) = input.get() else { return };
        if let Some(text) = compose::message_text(&textarea.value()) {
            textarea.set_value("");
            on_send.run(text);
        }
        // Keep typing where you were after clicking Send.
        let _ = textarea.focus();
    };
    let on_keydown = move |event: ev::KeyboardEvent| {
        let press = KeyPress { key: &event.key(), shift: event.shift_key(), composing: event.is_composing() };
        if compose::key_action(press) == KeyAction::Send {
            event.prevent_default();
            send();
        }
    };

    view! {
        <div class="hapa-composer">
            <textarea
                id="hapa-input"
                aria-label="Ask HAPA"
                rows="3"
                placeholder="Ask for Python code. Enter sends, Shift+Enter adds a line."
                node_ref=input
                on:keydown=on_keydown
            />
            <button id="hapa-send" type="button" on:click=move |_| send()>
                "Send"
            </button>
        </div>
    }
}
