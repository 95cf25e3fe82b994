//! The chat's components. The DOM ids, classes, labels and texts here are the ones
//! `docs/CONTRACT.md` promises to the end-to-end tests; change them only together with it.
//!
//! Everything from the host or a model is rendered as text nodes (leptos escapes strings);
//! nothing here sets `innerHTML`.

use hapa_protocol::WEBVIEW_PROTOCOL_VERSION;
use hapa_protocol::webview::{ChatSummary, CodeTarget, FromWebview, Rating, ToWebview};
use leptos::either::Either;
use leptos::{ev, html, prelude::*};
use wasm_bindgen::JsValue;

use crate::compose::{self, ContextPreview, KeyAction, KeyPress, Question};
use crate::highlight;
use crate::host;
use crate::markdown::{self, Block, Inline};
use crate::transcript::{AnswerState, Author, Body, Finish, Transcript};

/// The whole chat: header, history and composer. Owns the transcript and the link to the
/// extension host.
#[component]
pub fn App() -> impl IntoView {
    let transcript = RwSignal::new(Transcript::default());
    let streaming = Memo::new(move |_| transcript.with(Transcript::is_streaming));
    let chats = RwSignal::new(ChatList::default());
    let preview = RwSignal::new(ContextPreview::default());

    let listener = window_event_listener(ev::message, move |event| match host::receive(&event.data()) {
        Some(ToWebview::Chats { chats: list, current }) => chats.set(ChatList { chats: list, current }),
        Some(ToWebview::ContextPreview { description, pinned }) => preview.set(ContextPreview { description, pinned }),
        Some(message) => {
            transcript.maybe_update(|t| t.apply(message));
        }
        None => {}
    });
    on_cleanup(move || listener.remove());

    let post = Callback::new(|message: FromWebview| {
        host::post(&message);
    });
    let ask = move |Question { text, with_context }: Question| {
        transcript.update(|t| {
            t.push(Author::User, text.clone());
        });
        post.run(FromWebview::Ask { text, with_context });
    };
    let new_chat = move |()| {
        transcript.update(Transcript::clear);
        post.run(FromWebview::NewChat);
    };
    let rate = Callback::new(move |(answer, rating): (u32, Rating)| {
        if let Some(request_id) = transcript.try_update(|t| t.rate(answer, rating)).flatten() {
            post.run(FromWebview::Rate { request_id, rating });
        }
    });

    // The host answers asynchronously, by which time the listener above is in place.
    post.run(FromWebview::Ready { protocol: WEBVIEW_PROTOCOL_VERSION });

    view! {
        <main id="hapa-chat" data-hapa-ready="true" aria-label="HAPA chat">
            <Header on_new_chat=new_chat chats=chats.read_only() post=post />
            <History transcript=transcript.read_only() post=post rate=rate />
            <Composer
                on_send=ask
                on_stop=move |()| post.run(FromWebview::Stop)
                streaming=streaming
                preview=preview.read_only()
            />
        </main>
    }
}

/// The workspace's chats as the host last listed them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatList {
    /// Newest first.
    pub chats: Vec<ChatSummary>,
    /// The one shown, if it is in the list.
    pub current: Option<String>,
}

/// The chat's title bar: New Chat, and the list of past chats (opened with "Chats").
#[component]
pub fn Header(
    /// Called when the user starts a new chat.
    #[prop(into)]
    on_new_chat: Callback<()>,
    /// The past chats to list.
    chats: ReadSignal<ChatList>,
    /// Sends a message to the host (open or delete a chat).
    post: Callback<FromWebview>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    view! {
        <header>
            <h1>"HAPA"</h1>
            <button
                id="hapa-chats-toggle"
                type="button"
                aria-controls="hapa-chats"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|open| *open = !*open)
            >
                "Chats"
            </button>
            <button
                id="hapa-new-chat"
                type="button"
                aria-label="New chat"
                on:click=move |_| {
                    open.set(false);
                    on_new_chat.run(());
                }
            >
                "New Chat"
            </button>
        </header>
        <Show when=move || open.get()>
            <nav id="hapa-chats" aria-label="Past chats">
                {move || {
                    let list = chats.get();
                    if list.chats.is_empty() {
                        return Either::Left(view! { <p class="hapa-chats-empty">"No past chats yet."</p> });
                    }
                    let items = list
                        .chats
                        .into_iter()
                        .map(|chat| {
                            let current = list.current.as_deref() == Some(chat.id.as_str());
                            view! { <ChatItem chat current post on_open=move || open.set(false) /> }
                        })
                        .collect::<Vec<_>>();
                    Either::Right(view! { <ul>{items}</ul> })
                }}
            </nav>
        </Show>
    }
}

/// One past chat: its title opens it, × deletes it.
#[component]
fn ChatItem(
    /// The chat.
    chat: ChatSummary,
    /// Whether it is the chat shown.
    current: bool,
    /// Sends a message to the host.
    post: Callback<FromWebview>,
    /// Called after the chat was opened (closes the list).
    #[prop(into)]
    on_open: Callback<()>,
) -> impl IntoView {
    let (open_id, delete_id) = (chat.id.clone(), chat.id.clone());
    let questions = match chat.questions {
        1 => "1 question".to_owned(),
        n => format!("{n} questions"),
    };
    let when = js_sys::Date::new(&chat.updated_ms.into()).to_locale_string("default", &JsValue::UNDEFINED);
    let when = String::from(when);
    view! {
        <li class="hapa-chat-item" data-chat=chat.id.clone() data-current=current.to_string()>
            <button
                type="button"
                class="hapa-open-chat"
                aria-current=current.then_some("true")
                on:click=move |_| {
                    post.run(FromWebview::OpenChat { id: open_id.clone() });
                    on_open.run(());
                }
            >
                <span class="hapa-chat-title">{chat.title.clone()}</span>
                <span class="hapa-chat-meta">{format!("{questions} · {when}")}</span>
            </button>
            <button
                type="button"
                class="hapa-delete-chat"
                aria-label=format!("Delete chat: {}", chat.title)
                on:click=move |_| post.run(FromWebview::DeleteChat { id: delete_id.clone() })
            >
                "×"
            </button>
        </li>
    }
}

/// What the history lists for a message; answers are looked up again as they change.
#[derive(Clone)]
enum Row {
    Text(Author, String),
    Answer(u32),
}

/// The conversation so far, oldest first, kept scrolled to the newest message; a hint
/// takes its place while it is empty.
#[component]
pub fn History(
    /// The conversation to show; this component only reads it.
    transcript: ReadSignal<Transcript>,
    /// Sends a message to the host (the code blocks' buttons).
    post: Callback<FromWebview>,
    /// Rates an answer: `(answer id, rating)`.
    rate: Callback<(u32, Rating)>,
) -> impl IntoView {
    let scroller = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        transcript.track();
        if let Some(scroller) = scroller.get() {
            scroller.set_scroll_top(scroller.scroll_height());
        }
    });
    let rows = move || {
        transcript.with(|t| {
            let rows = t.messages().iter().map(|m| match &m.body {
                Body::Text(text) => (m.id, Row::Text(m.author, text.clone())),
                Body::Answer(answer) => (m.id, Row::Answer(answer.id)),
            });
            rows.collect::<Vec<_>>()
        })
    };

    view! {
        <div class="hapa-history" node_ref=scroller>
            <ol id="hapa-history" aria-label="Chat history" aria-live="polite">
                <For each=rows key=|(id, _)| *id let:((_, row))>
                    {match row {
                        Row::Text(author, text) => {
                            Either::Left(
                                view! {
                                    <li class="hapa-message" data-author=author.as_str()>
                                        <span class="hapa-author">{author.label()}</span>
                                        <p class="hapa-text">{text}</p>
                                    </li>
                                },
                            )
                        }
                        Row::Answer(answer) => {
                            Either::Right(view! { <AnswerItem answer transcript post rate /> })
                        }
                    }}
                </For>
            </ol>
            <Show when=move || transcript.with(Transcript::is_empty)>
                <p class="hapa-empty">"Ask HAPA for Python code."</p>
            </Show>
        </div>
    }
}

/// One of HAPA's answers, following it from the first streamed line to done, stopped or
/// failed.
#[component]
fn AnswerItem(
    /// The host's id for the answer.
    answer: u32,
    /// Where the answer is read from.
    transcript: ReadSignal<Transcript>,
    /// Sends a message to the host.
    post: Callback<FromWebview>,
    /// Rates an answer.
    rate: Callback<(u32, Rating)>,
) -> impl IntoView {
    // One memo per part, so a delta re-renders only the code and a rating only the thumbs
    // (keeping the focus where it is).
    let state =
        Memo::new(move |_| transcript.with(|t| t.answer(answer).map(|a| a.state)).unwrap_or(AnswerState::Failed));
    let code = Memo::new(move |_| transcript.with(|t| t.answer(answer).map(|a| a.code.clone()).unwrap_or_default()));
    let finish = Memo::new(move |_| transcript.with(|t| t.answer(answer).and_then(|a| a.finish.clone())));
    let error = Memo::new(move |_| transcript.with(|t| t.answer(answer).and_then(|a| a.error.clone())));
    let rating = Memo::new(move |_| transcript.with(|t| t.answer(answer).and_then(|a| a.rating)));
    // Fixed when the answer starts.
    let context = transcript.with_untracked(|t| t.answer(answer).and_then(|a| a.context.clone()));

    view! {
        <li
            class="hapa-message"
            data-author="hapa"
            data-answer=answer.to_string()
            data-state=move || state.get().as_str()
            aria-busy=move || (state.get() == AnswerState::Streaming).to_string()
        >
            <span class="hapa-author">{Author::Hapa.label()}</span>
            {context.map(|context| view! { <p class="hapa-context">"Context: " {context}</p> })}
            <Show when=move || code.with(|c| !c.is_empty())>
                <pre class="hapa-code">
                    <code class="language-python">{move || code.with(|c| highlighted(c))}</code>
                </pre>
            </Show>
            {move || error.get().map(|message| view! { <p class="hapa-error" role="alert">{message}</p> })}
            {move || {
                finish
                    .get()
                    .map(|finish| {
                        view! { <Finished answer code=code.get_untracked() finish rating post rate /> }
                    })
            }}
        </li>
    }
}

/// `code` as highlighted Python: text nodes, some wrapped in `<span class="hapa-tok-…">`.
fn highlighted(code: &str) -> Vec<impl IntoView + use<>> {
    highlight::tokens(code)
        .into_iter()
        .map(|token| match token.kind.class() {
            None => Either::Left(token.text.to_owned()),
            Some(class) => Either::Right(view! { <span class=class>{token.text.to_owned()}</span> }),
        })
        .collect()
}

/// What a done or stopped answer adds under its code: a parse warning, the explanation, the
/// code block's buttons, who answered and how fast, and the thumbs.
#[component]
fn Finished(
    /// The host's id for the answer.
    answer: u32,
    /// The answer's final code.
    code: String,
    /// What the host reported.
    finish: Finish,
    /// The user's rating, once given.
    rating: Memo<Option<Rating>>,
    /// Sends a message to the host.
    post: Callback<FromWebview>,
    /// Rates an answer.
    rate: Callback<(u32, Rating)>,
) -> impl IntoView {
    let actions = (!code.is_empty()).then(|| view! { <CodeActions code post /> });
    let thumbs = finish.request_id.is_some().then(|| {
        let thumb = move |which: Rating, class: &'static str, label: &'static str, face: &'static str| {
            view! {
                <button
                    type="button"
                    class=class
                    aria-label=label
                    aria-pressed=move || (rating.get() == Some(which)).to_string()
                    disabled=move || rating.get().is_some()
                    on:click=move |_| rate.run((answer, which))
                >
                    {face}
                </button>
            }
        };
        view! {
            <div class="hapa-rating" role="group" aria-label="Rate this answer">
                {thumb(Rating::Up, "hapa-up", "Good answer", "👍")}
                {thumb(Rating::Down, "hapa-down", "Bad answer", "👎")}
            </div>
        }
    });

    view! {
        {(!finish.parses).then(|| view! { <p class="hapa-warning">"This code does not parse on its own."</p> })}
        {actions}
        {finish
            .explanation
            .as_deref()
            .map(|explanation| {
                view! { <div class="hapa-explanation">{render_blocks(&markdown::parse(explanation), post)}</div> }
            })}
        <div class="hapa-footer">
            <span class="hapa-meta">{finish.meta()}</span>
            {thumbs}
        </div>
    }
}

/// A code block's buttons: Insert at Cursor, Replace Selection, Copy.
#[component]
fn CodeActions(
    /// The code block's text.
    code: String,
    /// Sends a message to the host.
    post: Callback<FromWebview>,
) -> impl IntoView {
    let (insert, replace, copy) = (code.clone(), code.clone(), code);
    view! {
        <div class="hapa-actions" role="group" aria-label="Code actions">
            <button
                type="button"
                class="hapa-insert"
                aria-label="Insert at cursor"
                on:click=move |_| post.run(FromWebview::InsertCode { code: insert.clone(), target: CodeTarget::Cursor })
            >
                "Insert at Cursor"
            </button>
            <button
                type="button"
                class="hapa-replace"
                aria-label="Replace selection"
                on:click=move |_| {
                    post.run(FromWebview::InsertCode { code: replace.clone(), target: CodeTarget::Selection })
                }
            >
                "Replace Selection"
            </button>
            <button
                type="button"
                class="hapa-copy"
                aria-label="Copy code"
                on:click=move |_| post.run(FromWebview::CopyCode { code: copy.clone() })
            >
                "Copy"
            </button>
        </div>
    }
}

/// Markdown blocks as DOM: every piece of text a text node, code blocks highlighted with their
/// actions, links as buttons that ask the host to open them.
fn render_blocks(blocks: &[Block], post: Callback<FromWebview>) -> Vec<AnyView> {
    blocks.iter().map(|block| render_block(block, post)).collect()
}

fn render_block(block: &Block, post: Callback<FromWebview>) -> AnyView {
    match block {
        Block::Paragraph(inlines) => view! { <p>{render_inlines(inlines, post)}</p> }.into_any(),
        Block::Heading(level, inlines) => {
            // Headings inside an answer stay below the view's own title.
            let content = render_inlines(inlines, post);
            match level {
                1 | 2 => view! { <h3 class="hapa-md-heading">{content}</h3> }.into_any(),
                3 => view! { <h4 class="hapa-md-heading">{content}</h4> }.into_any(),
                _ => view! { <h5 class="hapa-md-heading">{content}</h5> }.into_any(),
            }
        }
        Block::Code { language, text } => {
            let python = Block::is_python(language.as_deref());
            let class = format!("language-{}", language.as_deref().unwrap_or("python"));
            let code = if python { Either::Left(highlighted(text)) } else { Either::Right(text.clone()) };
            let actions = python.then(|| view! { <CodeActions code=text.clone() post /> });
            view! {
                <div class="hapa-md-code">
                    <pre class="hapa-code">
                        <code class=class>{code}</code>
                    </pre>
                    {actions}
                </div>
            }
            .into_any()
        }
        Block::List { start, items } => {
            let items: Vec<_> = items.iter().map(|item| view! { <li>{render_blocks(item, post)}</li> }).collect();
            match start {
                Some(start) => view! { <ol start=start.to_string()>{items}</ol> }.into_any(),
                None => view! { <ul>{items}</ul> }.into_any(),
            }
        }
        Block::Quote(blocks) => view! { <blockquote>{render_blocks(blocks, post)}</blockquote> }.into_any(),
        Block::Rule => view! { <hr /> }.into_any(),
    }
}

fn render_inlines(inlines: &[Inline], post: Callback<FromWebview>) -> Vec<AnyView> {
    inlines.iter().map(|inline| render_inline(inline, post)).collect()
}

fn render_inline(inline: &Inline, post: Callback<FromWebview>) -> AnyView {
    match inline {
        Inline::Text(text) => text.clone().into_any(),
        Inline::Code(code) => view! { <code>{code.clone()}</code> }.into_any(),
        Inline::Emphasis(children) => view! { <em>{render_inlines(children, post)}</em> }.into_any(),
        Inline::Strong(children) => view! { <strong>{render_inlines(children, post)}</strong> }.into_any(),
        Inline::Strike(children) => view! { <s>{render_inlines(children, post)}</s> }.into_any(),
        Inline::Link { url, openable: true, children } => {
            let target = url.clone();
            view! {
                <button
                    type="button"
                    class="hapa-link"
                    title=url.clone()
                    on:click=move |_| post.run(FromWebview::OpenLink { url: target.clone() })
                >
                    {render_inlines(children, post)}
                </button>
            }
            .into_any()
        }
        Inline::Link { url, openable: false, children } => {
            let why = format!("Not a link HAPA opens: {url}");
            view! { <span class="hapa-link-inert" title=why>{render_inlines(children, post)}</span> }.into_any()
        }
        Inline::Image { alt } => {
            let label = if alt.trim().is_empty() { "[image]".to_owned() } else { format!("[image: {alt}]") };
            view! { <span class="hapa-image">{label}</span> }.into_any()
        }
        Inline::Break => view! { <br /> }.into_any(),
    }
}

/// The input, the context switch and the Send / Stop buttons. Enter sends, Shift+Enter starts
/// a new line; blank input sends nothing, and nothing is sent while an answer is streaming.
#[component]
pub fn Composer(
    /// Called with the question when the user sends; the input is cleared first.
    #[prop(into)]
    on_send: Callback<Question>,
    /// Called when the user presses Stop.
    #[prop(into)]
    on_stop: Callback<()>,
    /// Whether an answer is being written: Stop shows and Send waits.
    #[prop(into)]
    streaming: Signal<bool>,
    /// What the host would send as context now.
    preview: ReadSignal<ContextPreview>,
) -> impl IntoView {
    let input = NodeRef::<html::Textarea>::new();
    let with_context = RwSignal::new(true);
    // The textarea itself is the draft's only copy: whatever put text there (typing, paste,
    // an automation tool setting `value`), Send takes what is there now.
    let send = move || {
        let Some(textarea) = input.get() else { return };
        if streaming.get_untracked() {
            // The draft stays; it can be sent once the answer ends.
            return;
        }
        if let Some(text) = compose::message_text(&textarea.value()) {
            textarea.set_value("");
            on_send.run(Question { text, with_context: with_context.get_untracked() });
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
    let stop = move || {
        on_stop.run(());
        // Stop disappears when the answer ends; leave the focus somewhere useful.
        if let Some(textarea) = input.get() {
            let _ = textarea.focus();
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
            <div class="hapa-composer-row">
                <label class="hapa-context-switch">
                    <input
                        id="hapa-with-context"
                        type="checkbox"
                        aria-describedby="hapa-context-preview"
                        bind:checked=with_context
                    />
                    "Use selection / file as context"
                </label>
                <Show when=move || streaming.get()>
                    <button id="hapa-stop" type="button" on:click=move |_| stop()>
                        "Stop"
                    </button>
                </Show>
                <button id="hapa-send" type="button" disabled=move || streaming.get() on:click=move |_| send()>
                    "Send"
                </button>
            </div>
            <p id="hapa-context-preview" aria-live="polite">
                {move || preview.with(|p| p.line(with_context.get()))}
            </p>
        </div>
    }
}
