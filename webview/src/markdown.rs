//! Markdown from a model, parsed into a small tree the components render as DOM nodes: no
//! HTML string is ever built or injected.
//!
//! What renders: paragraphs, headings, lists, block quotes, rules, emphasis, inline code and
//! fenced code blocks (those get the code actions). What stays inert: raw HTML (shown as its
//! text), images (shown as "[image: alt]", never fetched) and links whose scheme
//! [`hapa_protocol::links::openable`] refuses (shown as their text). Allowed links are opened
//! by the host, never by the webview.

use hapa_protocol::links;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A block of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Text.
    Paragraph(Vec<Inline>),
    /// A heading of level 1 to 6.
    Heading(u8, Vec<Inline>),
    /// A fenced or indented code block.
    Code {
        /// The fence's info string's first word (`python`, `bash`…), if any.
        language: Option<String>,
        /// The code, ending with a newline.
        text: String,
    },
    /// A list; `start` is the first number of an ordered list.
    List {
        /// `None` for a bulleted list.
        start: Option<u64>,
        /// Each item's blocks.
        items: Vec<Vec<Block>>,
    },
    /// A block quote.
    Quote(Vec<Block>),
    /// A horizontal rule.
    Rule,
}

impl Block {
    /// Whether a code block is Python (or unlabelled, which in a Python assistant means Python).
    pub fn is_python(language: Option<&str>) -> bool {
        language.is_none_or(|language| matches!(language.to_ascii_lowercase().as_str(), "python" | "py" | "python3"))
    }
}

/// Text inside a block.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    /// Plain text (raw HTML included: it is shown, not interpreted).
    Text(String),
    /// `inline code`.
    Code(String),
    /// *emphasis*
    Emphasis(Vec<Inline>),
    /// **strong**
    Strong(Vec<Inline>),
    /// ~~struck~~
    Strike(Vec<Inline>),
    /// A link; `openable` says whether the host would open it.
    Link {
        /// Where it points.
        url: String,
        /// Whether its scheme may be opened (http, https, mailto).
        openable: bool,
        /// Its text.
        children: Vec<Inline>,
    },
    /// An image: only its description is shown.
    Image {
        /// Its alt text.
        alt: String,
    },
    /// A hard line break.
    Break,
}

/// `markdown` as blocks.
pub fn parse(markdown: &str) -> Vec<Block> {
    let mut builder = Builder { stack: vec![Node::new(Kind::Root)] };
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS) {
        builder.event(event);
    }
    builder.finish()
}

/// The plain text of `inlines` (an image's alt text, a link's label).
pub fn plain_text(inlines: &[Inline]) -> String {
    let mut text = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(t) | Inline::Code(t) => text.push_str(t),
            Inline::Emphasis(children) | Inline::Strong(children) | Inline::Strike(children) => {
                text.push_str(&plain_text(children));
            }
            Inline::Link { children, .. } => text.push_str(&plain_text(children)),
            Inline::Image { alt } => text.push_str(alt),
            Inline::Break => text.push(' '),
        }
    }
    text
}

#[derive(Debug)]
enum Kind {
    Root,
    /// A paragraph without a start event: text directly in a list item or quote.
    ImplicitParagraph,
    Paragraph,
    Heading(u8),
    Quote,
    List(Option<u64>),
    Item,
    Code(Option<String>),
    Html,
    Emphasis,
    Strong,
    Strike,
    Link(String),
    Image,
    /// Anything else (tables, footnotes…): its content goes to its parent.
    Other,
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    blocks: Vec<Block>,
    inlines: Vec<Inline>,
    items: Vec<Vec<Block>>,
}

impl Node {
    fn new(kind: Kind) -> Self {
        Node { kind, blocks: Vec::new(), inlines: Vec::new(), items: Vec::new() }
    }

    /// Whether it holds blocks (text in it needs a paragraph around it).
    fn holds_blocks(&self) -> bool {
        matches!(self.kind, Kind::Root | Kind::Quote | Kind::Item | Kind::List(_))
    }
}

struct Builder {
    /// Never empty: the root stays at the bottom.
    stack: Vec<Node>,
}

impl Builder {
    fn top(&mut self) -> &mut Node {
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            Event::Text(text) => self.push_inline(Inline::Text(text.into_string())),
            Event::Code(code) => self.push_inline(Inline::Code(code.into_string())),
            Event::Html(html) | Event::InlineHtml(html) => self.push_inline(Inline::Text(html.into_string())),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.push_inline(Inline::Code(math.into_string())),
            Event::FootnoteReference(name) => self.push_inline(Inline::Text(format!("[^{name}]"))),
            Event::SoftBreak => self.push_inline(Inline::Text(" ".to_owned())),
            Event::HardBreak => self.push_inline(Inline::Break),
            Event::Rule => self.push_block(Block::Rule),
            Event::TaskListMarker(done) => {
                self.push_inline(Inline::Text(if done { "[x] " } else { "[ ] " }.to_owned()))
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let kind = match tag {
            Tag::Paragraph => Kind::Paragraph,
            Tag::Heading { level, .. } => Kind::Heading(heading_level(level)),
            Tag::BlockQuote(_) => Kind::Quote,
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                Kind::Code(info.split_whitespace().next().map(str::to_owned).filter(|l| !l.is_empty()))
            }
            Tag::CodeBlock(CodeBlockKind::Indented) => Kind::Code(None),
            Tag::HtmlBlock => Kind::Html,
            Tag::List(start) => Kind::List(start),
            Tag::Item => Kind::Item,
            Tag::Emphasis => Kind::Emphasis,
            Tag::Strong => Kind::Strong,
            Tag::Strikethrough => Kind::Strike,
            Tag::Link { dest_url, .. } => Kind::Link(dest_url.into_string()),
            Tag::Image { .. } => Kind::Image,
            _ => Kind::Other,
        };
        let inline = matches!(kind, Kind::Emphasis | Kind::Strong | Kind::Strike | Kind::Link(_) | Kind::Image);
        if inline {
            self.open_paragraph_if_needed();
        } else {
            self.close_implicit_paragraph();
        }
        self.stack.push(Node::new(kind));
    }

    fn end(&mut self, _end: TagEnd) {
        self.close_implicit_paragraph();
        if self.stack.len() == 1 {
            return; // An end without a start: nothing to close.
        }
        let Some(node) = self.stack.pop() else { return };
        match node.kind {
            Kind::Root | Kind::ImplicitParagraph => {}
            Kind::Paragraph => self.push_block(Block::Paragraph(node.inlines)),
            Kind::Heading(level) => self.push_block(Block::Heading(level, node.inlines)),
            Kind::Quote => self.push_block(Block::Quote(node.blocks)),
            Kind::List(start) => self.push_block(Block::List { start, items: node.items }),
            Kind::Item => {
                let top = self.top();
                if matches!(top.kind, Kind::List(_)) {
                    top.items.push(node.blocks);
                } else {
                    top.blocks.extend(node.blocks);
                }
            }
            Kind::Code(language) => self.push_block(Block::Code { language, text: plain_text(&node.inlines) }),
            Kind::Html => self.push_block(Block::Paragraph(vec![Inline::Text(plain_text(&node.inlines))])),
            Kind::Emphasis => self.push_inline(Inline::Emphasis(node.inlines)),
            Kind::Strong => self.push_inline(Inline::Strong(node.inlines)),
            Kind::Strike => self.push_inline(Inline::Strike(node.inlines)),
            Kind::Link(url) => {
                let openable = links::openable(&url).is_ok();
                self.push_inline(Inline::Link { url, openable, children: node.inlines });
            }
            Kind::Image => self.push_inline(Inline::Image { alt: plain_text(&node.inlines) }),
            Kind::Other => {
                for block in node.blocks {
                    self.push_block(block);
                }
                for inline in node.inlines {
                    self.push_inline(inline);
                }
            }
        }
    }

    fn push_inline(&mut self, inline: Inline) {
        self.open_paragraph_if_needed();
        self.top().inlines.push(inline);
    }

    fn push_block(&mut self, block: Block) {
        self.close_implicit_paragraph();
        let top = self.top();
        if matches!(top.kind, Kind::List(_)) {
            // A block straight in a list (not in an item): give it an item of its own.
            top.items.push(vec![block]);
        } else {
            top.blocks.push(block);
        }
    }

    fn open_paragraph_if_needed(&mut self) {
        if self.top().holds_blocks() {
            self.stack.push(Node::new(Kind::ImplicitParagraph));
        }
    }

    fn close_implicit_paragraph(&mut self) {
        if matches!(self.top().kind, Kind::ImplicitParagraph) {
            let node = self.stack.pop().expect("an implicit paragraph is never the root");
            if !node.inlines.is_empty() {
                self.push_block(Block::Paragraph(node.inlines));
            }
        }
    }

    fn finish(mut self) -> Vec<Block> {
        // Close whatever a truncated answer left open, innermost first.
        while self.stack.len() > 1 {
            self.end(TagEnd::Paragraph);
        }
        self.stack.pop().map(|root| root.blocks).unwrap_or_default()
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Inline {
        Inline::Text(t.to_owned())
    }

    #[test]
    fn paragraphs_lists_inline_code_and_fences() {
        let blocks = parse(
            "Use `sum`, *not* a **loop**:\n\n- first\n- second with `code`\n\n1. one\n2. two\n\n```python\ndef total(xs):\n    return sum(xs)\n```\n",
        );
        assert_eq!(
            blocks,
            vec![
                Block::Paragraph(vec![
                    text("Use "),
                    Inline::Code("sum".into()),
                    text(", "),
                    Inline::Emphasis(vec![text("not")]),
                    text(" a "),
                    Inline::Strong(vec![text("loop")]),
                    text(":"),
                ]),
                Block::List {
                    start: None,
                    items: vec![
                        vec![Block::Paragraph(vec![text("first")])],
                        vec![Block::Paragraph(vec![text("second with "), Inline::Code("code".into())])],
                    ],
                },
                Block::List {
                    start: Some(1),
                    items: vec![vec![Block::Paragraph(vec![text("one")])], vec![Block::Paragraph(vec![text("two")])]],
                },
                Block::Code { language: Some("python".into()), text: "def total(xs):\n    return sum(xs)\n".into() },
            ]
        );
    }

    #[test]
    fn raw_html_is_text_and_images_are_only_their_alt_text() {
        let blocks = parse(
            "Look <img src=x onerror=alert(1)> here\n\n<script>alert(1)</script>\n\n![tracker](http://127.0.0.1:9/pixel.png)\n",
        );
        assert_eq!(
            blocks,
            vec![
                Block::Paragraph(vec![text("Look "), text("<img src=x onerror=alert(1)>"), text(" here")]),
                Block::Paragraph(vec![text("<script>alert(1)</script>\n")]),
                Block::Paragraph(vec![Inline::Image { alt: "tracker".into() }]),
            ]
        );
    }

    #[test]
    fn links_know_whether_they_may_be_opened() {
        let blocks = parse(
            "[docs](https://docs.python.org/3/) and [quit](command:workbench.action.quit) [js](javascript:alert(1))",
        );
        let Block::Paragraph(inlines) = &blocks[0] else { panic!("{blocks:?}") };
        let links: Vec<(&str, bool)> = inlines
            .iter()
            .filter_map(|inline| match inline {
                Inline::Link { url, openable, .. } => Some((url.as_str(), *openable)),
                _ => None,
            })
            .collect();
        assert_eq!(
            links,
            [
                ("https://docs.python.org/3/", true),
                ("command:workbench.action.quit", false),
                ("javascript:alert(1)", false)
            ]
        );
    }

    #[test]
    fn nesting_quotes_and_tight_items_with_sublists() {
        let blocks = parse("> quoted *text*\n\n- outer\n  - inner\n\n---\n# Title\n");
        assert_eq!(
            blocks,
            vec![
                Block::Quote(vec![Block::Paragraph(vec![text("quoted "), Inline::Emphasis(vec![text("text")])])]),
                Block::List {
                    start: None,
                    items: vec![vec![
                        Block::Paragraph(vec![text("outer")]),
                        Block::List { start: None, items: vec![vec![Block::Paragraph(vec![text("inner")])]] },
                    ]],
                },
                Block::Rule,
                Block::Heading(1, vec![text("Title")]),
            ]
        );
    }

    #[test]
    fn an_unclosed_fence_is_code_to_the_end() {
        let blocks = parse("Here:\n```\nx = 1\n");
        assert_eq!(
            blocks,
            vec![Block::Paragraph(vec![text("Here:")]), Block::Code { language: None, text: "x = 1\n".into() }]
        );
        assert!(Block::is_python(None) && Block::is_python(Some("Python")) && !Block::is_python(Some("bash")));
    }

    #[test]
    fn anything_parses_without_panicking() {
        for input in ["", "*", "[", "![", "```", "> - [ ] ", "<div>\n\n*x*\n</div>", "1. \n\n\t- \u{0}", "[a](<>)"] {
            let _ = parse(input);
        }
    }
}
