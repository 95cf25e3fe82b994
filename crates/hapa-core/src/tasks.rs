//! The editor's one-click requests — Explain, Fix, Generate Docstring, Generate Tests — as the
//! chat questions they become. The selection (or the file up to the cursor) travels as the
//! question's context; this only words the request, the same way for the server and the
//! bundled model.

/// A request made from the editor about its selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorTask {
    /// "HAPA: Explain Selection".
    Explain,
    /// "HAPA: Fix Selection", with the syntax errors found in it.
    Fix,
    /// "HAPA: Generate Docstring".
    Docstring,
    /// "HAPA: Generate Tests".
    Tests,
}

/// Most problems named in a Fix question; the rest are counted.
pub const MAX_PROBLEMS: usize = 5;

impl EditorTask {
    /// The task named `name` (`explain`, `fix`, `docstring`, `tests`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "explain" => Some(EditorTask::Explain),
            "fix" => Some(EditorTask::Fix),
            "docstring" => Some(EditorTask::Docstring),
            "tests" => Some(EditorTask::Tests),
            _ => None,
        }
    }

    /// The question asked for `what` (e.g. "the selection of app.py"), with `problems` ("line 3:
    /// Expected ':'") for Fix.
    pub fn question(self, what: &str, problems: &[String]) -> String {
        match self {
            EditorTask::Explain => format!("Explain what {what} does, step by step."),
            EditorTask::Fix => {
                let mut question = format!("Fix {what}");
                if problems.is_empty() {
                    question.push_str(": find the bug and correct it.");
                } else {
                    question.push_str(". Python reports: ");
                    let named: Vec<&str> = problems.iter().take(MAX_PROBLEMS).map(|p| p.trim()).collect();
                    question.push_str(&named.join("; "));
                    if problems.len() > MAX_PROBLEMS {
                        question.push_str(&format!("; and {} more", problems.len() - MAX_PROBLEMS));
                    }
                    question.push('.');
                }
                question
            }
            EditorTask::Docstring => {
                format!("Write a docstring for {what}: what it does, its arguments and what it returns.")
            }
            EditorTask::Tests => format!("Write pytest unit tests for {what}."),
        }
    }

    /// What the editor shows while the answer comes (a progress notification's title), for
    /// `what` as in [`EditorTask::question`].
    pub fn progress(self, what: &str) -> String {
        match self {
            EditorTask::Explain => format!("Explaining {what}"),
            EditorTask::Fix => format!("Fixing {what}"),
            EditorTask::Docstring => format!("Writing a docstring for {what}"),
            EditorTask::Tests => format!("Writing tests for {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_words_its_question() {
        let cases = [
            ("explain", "Explain what the selection of app.py does, step by step."),
            ("fix", "Fix the selection of app.py: find the bug and correct it."),
            (
                "docstring",
                "Write a docstring for the selection of app.py: what it does, its arguments and what it returns.",
            ),
            ("tests", "Write pytest unit tests for the selection of app.py."),
        ];
        for (name, expected) in cases {
            let task = EditorTask::from_name(name).unwrap();
            assert_eq!(task.question("the selection of app.py", &[]), expected);
        }
    }

    #[test]
    fn each_task_names_its_progress() {
        let cases = [
            ("explain", "Explaining the selection of app.py"),
            ("fix", "Fixing the selection of app.py"),
            ("docstring", "Writing a docstring for the selection of app.py"),
            ("tests", "Writing tests for the selection of app.py"),
        ];
        for (name, expected) in cases {
            assert_eq!(EditorTask::from_name(name).unwrap().progress("the selection of app.py"), expected);
        }
        assert_eq!(EditorTask::from_name("rm -rf"), None);
    }

    #[test]
    fn fix_names_the_problems_and_counts_the_rest() {
        let problems: Vec<String> = (1..=7).map(|n| format!("line {n}: Expected ':' ")).collect();
        let question = EditorTask::Fix.question("app.py up to line 9", &problems[..2]);
        assert_eq!(question, "Fix app.py up to line 9. Python reports: line 1: Expected ':'; line 2: Expected ':'.");
        let question = EditorTask::Fix.question("app.py up to line 9", &problems);
        assert!(question.ends_with("line 5: Expected ':'; and 2 more."), "{question}");
    }
}
