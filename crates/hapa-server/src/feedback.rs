//! Feedback on answers and completions: checked, then stored durably before the 201.

// The bounds are the protocol's, so the OpenAPI schema states the same ones.
use hapa_protocol::api::{
    FeedbackRequest, MAX_FEEDBACK_COMMENT_CHARS as MAX_COMMENT_CHARS, MAX_FEEDBACK_ID_CHARS as MAX_ID_CHARS,
};

/// What is wrong with a feedback body, for a 422; `None` when it can be stored.
pub fn problem(feedback: &FeedbackRequest) -> Option<String> {
    let ids = [("request_id", &feedback.request_id), ("completion_id", &feedback.completion_id)];
    let given: Vec<(&str, &String)> = ids.iter().filter_map(|(name, id)| id.as_ref().map(|id| (*name, id))).collect();
    let [(name, id)] = given.as_slice() else {
        return Some("give exactly one of request_id and completion_id".to_owned());
    };
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Some(format!("{name} must be 1 to {MAX_ID_CHARS} printable characters"));
    }
    if let Some(comment) = &feedback.comment {
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Some(format!("comment is longer than {MAX_COMMENT_CHARS} characters"));
        }
        // NUL is refused everywhere, so SQLite and PostgreSQL (whose text cannot hold it) agree.
        if comment.contains('\0') {
            return Some("comment contains a NUL character".to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use hapa_protocol::api::FeedbackEvent;

    use super::*;

    fn feedback(request_id: Option<&str>, completion_id: Option<&str>, comment: Option<&str>) -> FeedbackRequest {
        FeedbackRequest {
            request_id: request_id.map(str::to_owned),
            completion_id: completion_id.map(str::to_owned),
            event: FeedbackEvent::Up,
            comment: comment.map(str::to_owned),
        }
    }

    #[test]
    fn exactly_one_target_and_bounded_printable_text() {
        assert_eq!(problem(&feedback(Some("r1"), None, Some("thanks 👍"))), None);
        assert_eq!(problem(&feedback(None, Some("c1"), None)), None);
        let long_id = "x".repeat(MAX_ID_CHARS + 1);
        let long_comment = "x".repeat(MAX_COMMENT_CHARS + 1);
        for (bad, why) in [
            (feedback(None, None, None), "exactly one"),
            (feedback(Some("r"), Some("c"), None), "exactly one"),
            (feedback(Some(""), None, None), "printable"),
            (feedback(Some("a\r\nSet-Cookie: x"), None, None), "printable"),
            (feedback(Some(&long_id), None, None), "printable"),
            (feedback(Some("r"), None, Some(&long_comment)), "longer than"),
            (feedback(Some("r"), None, Some("a\0b")), "NUL"),
        ] {
            let message = problem(&bad).unwrap_or_default();
            assert!(message.contains(why), "{bad:?}: {message:?}");
        }
    }
}
