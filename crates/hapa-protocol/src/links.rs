//! Which links in an answer may be opened: the rule both the webview (which renders any other
//! link as inert text) and the host (which checks [`crate::webview::FromWebview::OpenLink`]
//! again before opening anything) apply.
//!
//! Only `http`, `https` and `mailto` pass. Everything else a model could write — `command:`
//! (runs a VS Code command), `vscode:`, `file:`, `javascript:`, `data:`, relative paths — is
//! refused, as is anything with whitespace or control characters inside it.

use std::fmt;

/// The longest link opened.
pub const MAX_LINK_CHARS: usize = 2048;

/// Why a link is not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Empty, too long, or with whitespace or control characters inside.
    Malformed,
    /// No `scheme:` in front (a relative link).
    NoScheme,
    /// A scheme other than http, https or mailto (lowercased).
    Scheme(String),
    /// `http(s):` without a `//host`.
    NoHost,
}

impl fmt::Display for LinkRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRefusal::Malformed => {
                f.write_str("the link is empty, too long or has spaces or control characters in it")
            }
            LinkRefusal::NoScheme => f.write_str("the link is relative; only http, https and mailto links open"),
            LinkRefusal::Scheme(scheme) => {
                write!(f, "{scheme}: links do not open; only http, https and mailto links do")
            }
            LinkRefusal::NoHost => f.write_str("the link names no host"),
        }
    }
}

impl std::error::Error for LinkRefusal {}

/// `url` trimmed, when it may be opened.
pub fn openable(url: &str) -> Result<&str, LinkRefusal> {
    let url = url.trim();
    if url.is_empty()
        || url.chars().count() > MAX_LINK_CHARS
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(LinkRefusal::Malformed);
    }
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|scheme| is_scheme(scheme));
    let Some(scheme) = scheme else { return Err(LinkRefusal::NoScheme) };
    let rest = &url[scheme.len() + 1..];
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" => {
            let host = rest.strip_prefix("//").map(|authority| authority.split(['/', '?', '#']).next().unwrap_or(""));
            match host {
                // `https://@` or `https://:80` name no host either.
                Some(host) if !host.rsplit('@').next().unwrap_or("").trim_start_matches(':').is_empty() => Ok(url),
                _ => Err(LinkRefusal::NoHost),
            }
        }
        "mailto" if !rest.is_empty() => Ok(url),
        "mailto" => Err(LinkRefusal::Malformed),
        other => Err(LinkRefusal::Scheme(other.to_owned())),
    }
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_and_mail_links_open() {
        for url in [
            "https://docs.python.org/3/library/functools.html#functools.cache",
            "http://127.0.0.1:8000/health",
            "HTTPS://Example.org",
            "  https://example.org/a?b=c  ",
            "mailto:someone@example.org",
        ] {
            assert_eq!(openable(url), Ok(url.trim()), "{url}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_the_reason() {
        let cases = [
            ("command:workbench.action.quit", LinkRefusal::Scheme("command".into())),
            ("COMMAND:workbench.action.terminal.sendSequence?%7B%7D", LinkRefusal::Scheme("command".into())),
            ("vscode://file/etc/passwd", LinkRefusal::Scheme("vscode".into())),
            ("file:///etc/passwd", LinkRefusal::Scheme("file".into())),
            ("javascript:alert(1)", LinkRefusal::Scheme("javascript".into())),
            ("data:text/html,<script>alert(1)</script>", LinkRefusal::Scheme("data".into())),
            ("vbscript:msgbox", LinkRefusal::Scheme("vbscript".into())),
            ("/relative/path", LinkRefusal::NoScheme),
            ("docs.html", LinkRefusal::NoScheme),
            ("1http://x.org", LinkRefusal::NoScheme),
            ("", LinkRefusal::Malformed),
            ("https://exa mple.org", LinkRefusal::Malformed),
            ("java\nscript:alert(1)", LinkRefusal::Malformed),
            ("https://x.org/\u{0}", LinkRefusal::Malformed),
            ("mailto:", LinkRefusal::Malformed),
            ("https:example.org", LinkRefusal::NoHost),
            ("https://", LinkRefusal::NoHost),
            ("https:///path", LinkRefusal::NoHost),
            ("https://user@", LinkRefusal::NoHost),
        ];
        for (url, refusal) in cases {
            assert_eq!(openable(url), Err(refusal), "{url:?}");
        }
        assert_eq!(openable(&format!("https://x.org/{}", "a".repeat(MAX_LINK_CHARS))), Err(LinkRefusal::Malformed));
    }

    #[test]
    fn refusals_say_what_opens() {
        let refusal = openable("command:workbench.action.quit").unwrap_err();
        assert_eq!(refusal.to_string(), "command: links do not open; only http, https and mailto links do");
    }
}
