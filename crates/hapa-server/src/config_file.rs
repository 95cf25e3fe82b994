//! `--config FILE`: a TOML file of `hapa-server`'s settings, each keyed by its flag's long name
//! (`bind = "127.0.0.1:8000"`, `rate-limit-user = 60`).
//!
//! The file's values become the flags' defaults before the command line is parsed, so clap
//! itself gives the order flag > environment variable > file > built-in default. The clap
//! definitions stay the one list of settings: what a file may hold, how each value is checked
//! and the [`example`] file are all read from them, so none of it can drift from the flags.

use std::any::TypeId;
use std::ffi::OsString;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

/// The id of the flag that names the config file; a file cannot name another one.
pub const FLAG: &str = "config";

/// Text wider than this is wrapped in the [`example`] file's comments.
const COMMENT_WIDTH: usize = 96;

/// A config file that cannot be used. Each says which file and, where there is one, which key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("cannot read the config file {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("the config file {} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's account, with the line and column.
        message: String,
    },
    /// A key that is no setting, most likely mistyped.
    #[error(
        "{}: `{key}` is not a setting{hint}; `hapa-server config example` lists them all",
        path.display()
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
        /// " (did you mean ...?)", why the key cannot be one, or nothing.
        hint: String,
    },
    /// A value of the wrong TOML type, e.g. a string for a number.
    #[error("{}: `{key}` must be {expected}, not {found}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The setting.
        key: String,
        /// What the setting takes, e.g. "an integer".
        expected: String,
        /// The TOML type found, e.g. "string".
        found: &'static str,
    },
    /// A value of the right type that the flag would refuse too, e.g. a rate limit of 0.
    #[error("{}: `{key} = {value}` is not valid: {reason}", path.display())]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The setting.
        key: String,
        /// The value as TOML.
        value: String,
        /// The flag's own reason.
        reason: String,
    },
}

/// One key a config file may hold: a long flag of the command itself or of one of `sections`.
struct Setting<'a> {
    /// The subcommand the flag belongs to; `None` for the command's own (and global) flags.
    section: Option<&'a str>,
    /// The flag.
    arg: &'a Arg,
}

impl Setting<'_> {
    fn key(&self) -> &str {
        self.arg.get_long().unwrap_or_default()
    }
}

/// Every setting a config file may hold: the long flags of `command` and of its subcommands
/// named in `sections` (not `--config`, help or version, nor hidden ones).
fn settings<'a>(command: &'a Command, sections: &[&str]) -> Vec<Setting<'a>> {
    let own = command.get_arguments().map(|arg| Setting { section: None, arg });
    let nested = sections.iter().filter_map(|name| command.find_subcommand(name)).flat_map(|subcommand| {
        // A global flag is the command's own; built commands repeat it in every subcommand.
        subcommand
            .get_arguments()
            .filter(|arg| !arg.is_global_set())
            .map(|arg| Setting { section: Some(subcommand.get_name()), arg })
    });
    own.chain(nested)
        .filter(|setting| {
            let arg = setting.arg;
            arg.get_long().is_some()
                && arg.get_id() != FLAG
                && !arg.is_hide_set()
                && !matches!(
                    arg.get_action(),
                    ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
                )
        })
        .collect()
}

/// What a setting's value must be in the file, read from its flag's definition.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Boolean,
    Integer,
    /// An integer or a float.
    Number,
    Text,
    /// A string among the flag's possible values.
    OneOf(Vec<String>),
    /// A repeatable flag: an array of these.
    ListOf(Box<Expected>),
}

impl Expected {
    fn of(arg: &Arg) -> Self {
        let each = Self::of_each(arg);
        if matches!(arg.get_action(), ArgAction::Append) { Self::ListOf(Box::new(each)) } else { each }
    }

    /// What each value of `arg` is.
    fn of_each(arg: &Arg) -> Self {
        if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            return Self::Boolean;
        }
        let names: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| value.get_name().to_owned())
            .collect();
        if !names.is_empty() {
            return Self::OneOf(names);
        }
        let parsed = arg.get_value_parser().type_id();
        let integers = [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
            TypeId::of::<NonZeroU32>(),
            TypeId::of::<NonZeroU64>(),
            TypeId::of::<NonZeroUsize>(),
        ];
        if integers.iter().any(|integer| parsed == *integer) {
            Self::Integer
        } else if parsed == TypeId::of::<f64>() || parsed == TypeId::of::<f32>() {
            Self::Number
        } else {
            Self::Text
        }
    }

    /// The value(s) to hand the flag, as the command line would; `None` for a value of the
    /// wrong type.
    fn flag_values(&self, value: &toml::Value) -> Option<Vec<String>> {
        match (self, value) {
            (Self::ListOf(each), toml::Value::Array(items)) => items.iter().map(|item| each.flag_value(item)).collect(),
            (Self::ListOf(_), _) => None,
            (_, value) => self.flag_value(value).map(|one| vec![one]),
        }
    }

    fn flag_value(&self, value: &toml::Value) -> Option<String> {
        match (self, value) {
            (Self::Boolean, toml::Value::Boolean(yes)) => Some(yes.to_string()),
            (Self::Integer | Self::Number, toml::Value::Integer(n)) => Some(n.to_string()),
            (Self::Number, toml::Value::Float(x)) => Some(x.to_string()),
            (Self::Text | Self::OneOf(_), toml::Value::String(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// A flag's default as the TOML the file would hold for it.
    fn toml_value(&self, defaults: &[String]) -> toml::Value {
        match self {
            Self::ListOf(each) => {
                toml::Value::Array(defaults.iter().map(|one| each.toml_value(std::slice::from_ref(one))).collect())
            }
            _ => {
                let text = defaults.first().map(String::as_str).unwrap_or_default();
                match self {
                    Self::Boolean => text.parse().map(toml::Value::Boolean).ok(),
                    Self::Integer => text.parse().map(toml::Value::Integer).ok(),
                    Self::Number => {
                        text.parse().map(toml::Value::Integer).or_else(|_| text.parse().map(toml::Value::Float)).ok()
                    }
                    _ => None,
                }
                .unwrap_or_else(|| toml::Value::String(text.to_owned()))
            }
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("a boolean (true or false)"),
            Self::Integer => f.write_str("an integer"),
            Self::Number => f.write_str("a number"),
            Self::Text => f.write_str("a string"),
            Self::OneOf(names) => {
                let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
                write!(f, "one of {}", quoted.join(", "))
            }
            Self::ListOf(each) => write!(f, "an array, each {each}"),
        }
    }
}

/// Runs `values` through `arg`'s own value parser, as if given on the command line, so the
/// file is held to exactly what the flag accepts; the parser's reason when it refuses.
fn check(arg: &Arg, values: &[String], expected: &Expected) -> Result<(), String> {
    let probe = Command::new("config").no_binary_name(true).arg(
        Arg::new(arg.get_id().clone())
            .long("value")
            .value_parser(arg.get_value_parser().clone())
            .action(ArgAction::Append),
    );
    match probe.try_get_matches_from(values.iter().map(|value| format!("--value={value}"))) {
        Ok(_) => Ok(()),
        Err(error) => Err(match std::error::Error::source(&error) {
            Some(reason) => reason.to_string(),
            None if matches!(expected, Expected::OneOf(_)) => format!("expected {expected}"),
            None => error.kind().to_string(),
        }),
    }
}

/// " (did you mean `closest`?)" when a known key is close to `key`; why not, for a table.
fn hint(key: &str, value: &toml::Value, known: &[Setting<'_>]) -> String {
    if value.is_table() {
        return " (the file has no tables: each setting is a top-level key named like its flag)".to_owned();
    }
    known
        .iter()
        .map(|setting| (strsim::jaro_winkler(key, setting.key()), setting.key()))
        .filter(|(likeness, _)| *likeness > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, closest)| format!(" (did you mean `{closest}`?)"))
        .unwrap_or_default()
}

/// The config file the command line or the environment names, found by a first, forgiving
/// parse of `args`; the real parse, with the file's values in place, reports what is wrong.
pub fn requested(command: Command, args: &[OsString]) -> Option<PathBuf> {
    let matches = command.ignore_errors(true).try_get_matches_from(args).ok()?;
    matches.try_get_one::<PathBuf>(FLAG).ok().flatten().cloned()
}

/// Reads the config file at `path` and makes its values the defaults of `command`'s flags (and
/// those of the subcommands named in `sections`), so the command line and the environment
/// still win over it. Every key and value is checked first: nothing is applied from a file
/// with any mistake in it.
pub fn apply(mut command: Command, path: &Path, sections: &[&str]) -> Result<Command, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| ConfigError::Syntax { path: path.to_owned(), message: error.to_string() })?;
    let known = settings(&command, sections);
    let mut defaults = Vec::new();
    for (key, value) in &table {
        let Some(setting) = known.iter().find(|setting| setting.key() == key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                hint: hint(key, value, &known),
            });
        };
        let expected = Expected::of(setting.arg);
        let values = expected.flag_values(value).ok_or_else(|| ConfigError::WrongType {
            path: path.to_owned(),
            key: key.clone(),
            expected: expected.to_string(),
            found: value.type_str(),
        })?;
        check(setting.arg, &values, &expected).map_err(|reason| ConfigError::InvalidValue {
            path: path.to_owned(),
            key: key.clone(),
            value: value.to_string(),
            reason,
        })?;
        defaults.push((setting.section.map(str::to_owned), setting.arg.get_id().clone(), values));
    }
    for (section, id, values) in defaults {
        command = match section {
            None => command.mut_arg(id, |arg| arg.default_values(values)),
            Some(name) => {
                command.mut_subcommand(name, |subcommand| subcommand.mut_arg(id, |arg| arg.default_values(values)))
            }
        };
    }
    Ok(command)
}

/// A config file with every setting of `command` (and of `sections`) at its built-in default,
/// each under its flag's help, flag and environment variable, as comments. Settings with no
/// default are commented out.
pub fn example(command: &Command, sections: &[&str]) -> String {
    let name = command.get_name();
    let mut out = format!(
        "# {name}'s settings, for `{name} --config FILE` (or the environment variable {}).\n\
         # Each key is a flag's long name. A flag, then its environment variable, win over this\n\
         # file; the file wins over the built-in defaults written here. Relative paths are from\n\
         # the working directory.\n",
        command
            .get_arguments()
            .find(|arg| arg.get_id() == FLAG)
            .and_then(Arg::get_env)
            .map_or_else(|| "that names it".to_owned(), |env| env.to_string_lossy().into_owned()),
    );
    // `None` before the first heading; then the section under the last one.
    let mut section: Option<Option<&str>> = None;
    for setting in settings(command, sections) {
        if section != Some(setting.section) {
            section = Some(setting.section);
            let heading =
                setting.section.map_or_else(|| format!("every `{name}` command"), |s| format!("`{name} {s}`"));
            out.push_str(&format!("\n# ---- Settings of {heading} ----\n"));
        }
        let arg = setting.arg;
        let expected = Expected::of(arg);
        out.push('\n');
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            // clap drops the full stop of a one-sentence help; a comment keeps it.
            let mut help = help.to_string();
            if help.ends_with(|c: char| c.is_alphanumeric() || c == ')') {
                help.push('.');
            }
            for line in wrap(&help, COMMENT_WIDTH - 2) {
                out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
            }
        }
        let env = arg.get_env().map(|env| format!(", environment {}", env.to_string_lossy())).unwrap_or_default();
        out.push_str(&format!("# Flag --{}{env}; {expected}.\n", setting.key()));
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|value| value.to_string_lossy().into_owned()).collect();
        if defaults.is_empty() && !matches!(expected, Expected::ListOf(_)) {
            out.push_str(&format!("# {} =  (not set by default)\n", setting.key()));
        } else {
            out.push_str(&format!("{} = {}\n", setting.key(), expected.toml_value(&defaults)));
        }
    }
    out
}

/// `text`'s paragraphs, each broken into lines of at most `width` characters at spaces (a
/// longer word stands alone); an empty line between paragraphs.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, paragraph) in text.split("\n\n").enumerate() {
        if n > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    /// A command shaped like `hapa-server`'s, with one of each kind of setting.
    fn command() -> Command {
        Command::new("tool")
            .arg(Arg::new(FLAG).long(FLAG).global(true).value_parser(clap::value_parser!(PathBuf)))
            .arg(Arg::new("data_dir").long("data-dir").global(true).default_value("data"))
            .subcommand(
                Command::new("serve")
                    .arg(
                        Arg::new("limit")
                            .long("limit")
                            .value_parser(clap::value_parser!(NonZeroU32))
                            .default_value("60"),
                    )
                    .arg(
                        Arg::new("timeout").long("timeout").value_parser(clap::value_parser!(f64)).default_value("2.5"),
                    )
                    .arg(Arg::new("mode").long("mode").value_parser(["fast", "slow"]).default_value("fast"))
                    .arg(Arg::new("origin").long("origin").action(ArgAction::Append))
                    .arg(Arg::new("verbose").long("verbose").action(ArgAction::SetTrue))
                    .arg(Arg::new("threads").long("threads").value_parser(clap::value_parser!(u64))),
            )
            .subcommand(Command::new("keys").arg(Arg::new("name").long("name")))
    }

    struct File(PathBuf);

    impl File {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("hapa-config-{}-{name}.toml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
    }

    impl Drop for File {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn parse(file: &File, args: &[&str]) -> Result<clap::ArgMatches, ConfigError> {
        let command = apply(command(), &file.0, &["serve"])?;
        let matches = command.try_get_matches_from([&["tool"], args].concat()).unwrap();
        Ok(matches.subcommand_matches("serve").unwrap().clone())
    }

    #[test]
    fn values_of_every_kind_become_defaults_that_flags_override() {
        let file = File::new(
            "kinds",
            "data-dir = \"here\"\nlimit = 7\ntimeout = 3\nmode = \"slow\"\norigin = [\"a\", \"b\"]\n\
             verbose = true\nthreads = 4\n",
        );
        let serve = parse(&file, &["serve"]).unwrap();
        assert_eq!(serve.get_one::<String>("data_dir").unwrap(), "here");
        assert_eq!(serve.get_one::<NonZeroU32>("limit").unwrap().get(), 7);
        assert_eq!(*serve.get_one::<f64>("timeout").unwrap(), 3.0);
        assert_eq!(serve.get_one::<String>("mode").unwrap(), "slow");
        assert_eq!(serve.get_many::<String>("origin").unwrap().collect::<Vec<_>>(), ["a", "b"]);
        assert!(serve.get_flag("verbose"));
        assert_eq!(*serve.get_one::<u64>("threads").unwrap(), 4);

        let serve = parse(&file, &["serve", "--limit", "9", "--origin", "c"]).unwrap();
        assert_eq!(serve.get_one::<NonZeroU32>("limit").unwrap().get(), 9);
        assert_eq!(serve.get_many::<String>("origin").unwrap().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn mistakes_name_the_file_the_key_and_what_was_expected() {
        let cases = [
            ("limt = 3", "`limt` is not a setting (did you mean `limit`?)"),
            ("name = \"x\"", "`name` is not a setting;"),
            ("config = \"other.toml\"", "`config` is not a setting"),
            ("[serve]\nlimit = 3", "`serve` is not a setting (the file has no tables"),
            ("limit = \"3\"", "`limit` must be an integer, not string"),
            ("timeout = \"soon\"", "`timeout` must be a number, not string"),
            ("origin = \"a\"", "`origin` must be an array, each a string, not string"),
            ("mode = \"medium\"", "`mode = \"medium\"` is not valid: expected one of \"fast\", \"slow\""),
            ("limit = 0", "`limit = 0` is not valid: number would be zero for non-zero type"),
            ("limit = ", "is not valid TOML"),
        ];
        for (n, (text, message)) in cases.into_iter().enumerate() {
            let file = File::new(&format!("mistake{n}"), text);
            let error = parse(&file, &["serve"]).unwrap_err().to_string();
            assert!(error.contains(message), "{text:?}: {error}");
            assert!(error.contains(&file.0.display().to_string()), "{text:?}: {error}");
        }
        let missing = apply(command(), Path::new("/nonexistent/hapa.toml"), &["serve"]).unwrap_err();
        assert!(matches!(missing, ConfigError::Unreadable { .. }), "{missing}");
        assert!(missing.to_string().contains("/nonexistent/hapa.toml"), "{missing}");
    }

    #[test]
    fn the_example_is_a_config_file_of_the_built_in_defaults() {
        let text = example(&command(), &["serve"]);
        assert!(text.contains("\nlimit = 60\n") && text.contains("\ntimeout = 2.5\n"), "{text}");
        assert!(text.contains("\norigin = []\n") && text.contains("\n# threads =  (not set by default)\n"), "{text}");
        let file = File::new("example", &text);
        let from_file = parse(&file, &["serve"]).unwrap();
        let built_in = command().try_get_matches_from(["tool", "serve"]).unwrap();
        let built_in = built_in.subcommand_matches("serve").unwrap();
        assert_eq!(from_file.get_one::<NonZeroU32>("limit"), built_in.get_one::<NonZeroU32>("limit"));
        assert_eq!(from_file.get_one::<f64>("timeout"), built_in.get_one::<f64>("timeout"));
        assert_eq!(from_file.get_one::<String>("data_dir"), built_in.get_one::<String>("data_dir"));
    }

    #[test]
    fn the_file_is_found_before_the_real_parse() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(requested(command(), &args(&["tool", "serve", "--config", "a.toml"])), Some("a.toml".into()));
        assert_eq!(requested(command(), &args(&["tool", "--config=b.toml", "serve", "--bad"])), Some("b.toml".into()));
        assert_eq!(requested(command(), &args(&["tool", "serve"])), None);
    }
}
