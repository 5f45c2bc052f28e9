//! Configuration files for `baton-scheduler`, `baton-executor` and `baton`
//! (docs/operations.md, "Configuration files").
//!
//! A file is TOML, one `key = value` per flag, named as the flag is without
//! its dashes (`data_dir = "/var/lib/baton"` for `--data-dir`). Precedence
//! is flags > environment > file > defaults. It is implemented ahead of
//! clap, so that every flag is configurable with its own parser, help and
//! checks: each file key whose flag is neither on the command line nor set
//! through its environment variable becomes `--flag value` on the command
//! line clap parses ([`with_file`]). Before that, every key is checked
//! against the flags and every value against its flag's parser, so a
//! mistake is refused naming the file, the line and the key.

pub mod parse;

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use toml_edit::{Document, Item, Value};

/// Flags that are never read from a file: the file's own, and clap's.
const NOT_IN_FILES: [&str; 4] = ["config", "print_config", "help", "version"];

/// A configuration file's text and the name errors give it.
pub struct ConfigFile {
    pub name: String,
    pub text: String,
}

impl ConfigFile {
    /// Reads `path`.
    pub fn read(path: &std::path::Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
        Ok(ConfigFile {
            name: path.display().to_string(),
            text,
        })
    }
}

/// The value of `--config FILE` (or `--config=FILE`) in `argv`, else of
/// the environment variable `env`.
pub fn config_path(argv: &[OsString], env: &str) -> Option<std::path::PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return args.next().map(Into::into);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// `argv` with the file's settings added for the flags it leaves unset,
/// and the ids of those flags. `command` is the binary's clap command; only
/// its own (top-level) flags are configurable.
pub fn with_file(
    command: &Command,
    argv: Vec<OsString>,
    file: &ConfigFile,
) -> Result<(Vec<OsString>, FromFile), String> {
    let at = |span: Option<std::ops::Range<usize>>| match span {
        Some(span) => format!("{} line {}", file.name, line_of(&file.text, span.start)),
        None => file.name.clone(),
    };
    let document = Document::parse(file.text.as_str()).map_err(|e| {
        format!(
            "{}: not TOML: {}",
            at(e.span()),
            e.message().trim_end_matches('\n')
        )
    })?;
    let table = document.as_table();
    let settable: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !NOT_IN_FILES.contains(&key_of(a).as_str()))
        .collect();
    let mut added = Vec::new();
    let mut from_file = BTreeMap::new();
    for (key, item) in table.iter() {
        let where_ = at(table.key(key).and_then(|k| k.span()));
        let name = key.replace('-', "_");
        let Item::Value(value) = item else {
            return Err(format!(
                "{where_}: `{key}` is a table; write `KEY = VALUE` lines at the top of the file, without sections"
            ));
        };
        let Some(arg) = settable.iter().find(|a| key_of(a) == name) else {
            let known: Vec<String> = settable.iter().map(|a| key_of(a)).collect();
            return Err(format!(
                "{where_}: unknown key `{key}`; {} takes: {}",
                command.get_name(),
                known.join(", ")
            ));
        };
        let long = arg.get_long().unwrap_or_default();
        if given(&argv, arg) {
            continue;
        }
        let values = texts(value).map_err(|why| format!("{where_}: `{key}`: {why}"))?;
        let flag = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        if flag {
            match values.as_slice() {
                [v] if v == "true" => added.push(OsString::from(format!("--{long}"))),
                [v] if v == "false" => {}
                _ => return Err(format!("{where_}: `{key}` is true or false")),
            }
            from_file.insert(name, (where_, values.join(",")));
            continue;
        }
        let joined = match (values.len(), arg.get_value_delimiter()) {
            (1, _) => values[0].clone(),
            (_, Some(delimiter)) => values.join(&delimiter.to_string()),
            _ => return Err(format!("{where_}: `{key}` takes one value, not a list")),
        };
        added.push(OsString::from(format!("--{long}")));
        added.push(OsString::from(joined.clone()));
        from_file.insert(name, (where_, joined));
    }
    let mut argv = argv;
    let at = 1.min(argv.len());
    argv.splice(at..at, added);
    Ok((argv, FromFile(from_file)))
}

/// `argv` with the settings of the file at `path`, if one is given; a file
/// that cannot be read, is not TOML or names an unknown key ends the
/// process (exit 2) saying so.
pub fn command_line(
    command: &Command,
    argv: Vec<OsString>,
    path: Option<std::path::PathBuf>,
) -> (Vec<OsString>, FromFile) {
    let Some(path) = path else {
        return (argv, FromFile::default());
    };
    match ConfigFile::read(&path).and_then(|file| with_file(command, argv, &file)) {
        Ok(with_file) => with_file,
        Err(why) => {
            eprintln!("error: {why}");
            std::process::exit(2);
        }
    }
}

/// The settings a file gave: key -> (where it is, its value).
#[derive(Debug, Default)]
pub struct FromFile(BTreeMap<String, (String, String)>);

impl FromFile {
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// Parses `argv` (as [`with_file`] made it) with `command`, or exits: a
/// bad value that came from the file is named by its file, line and key.
pub fn get_matches(command: Command, argv: Vec<OsString>, from_file: &FromFile) -> ArgMatches {
    match try_get_matches(command, argv, from_file) {
        Ok(matches) => matches,
        Err(Refusal::File(why)) => {
            eprintln!("error: {why}");
            std::process::exit(2);
        }
        Err(Refusal::Clap(e)) => e.exit(),
    }
}

/// Why a command line with a file's settings did not parse.
#[derive(Debug)]
pub enum Refusal {
    /// A value from the file: where it is and what is wrong.
    File(String),
    Clap(clap::Error),
}

/// [`get_matches`] without exiting.
pub fn try_get_matches(
    command: Command,
    argv: Vec<OsString>,
    from_file: &FromFile,
) -> Result<ArgMatches, Refusal> {
    command.try_get_matches_from(argv).map_err(|e| {
        let invalid = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => Some(arg.clone()),
            _ => None,
        };
        // `--workers <N>`: the flag the error is about.
        let key = invalid.and_then(|arg| {
            arg.trim_start_matches('-')
                .split([' ', '='])
                .next()
                .map(|long| long.replace('-', "_"))
        });
        match key.and_then(|key| from_file.0.get(&key).map(|found| (key, found))) {
            Some((key, (where_, value))) => Refusal::File(format!(
                "{where_}: `{key}` = {value:?}: {}",
                clap_reason(&e)
            )),
            None => Refusal::Clap(e),
        }
    })
}

/// The key that sets `arg` in a file: its long flag with `_` for `-`.
fn key_of(arg: &Arg) -> String {
    arg.get_long()
        .unwrap_or(arg.get_id().as_str())
        .replace('-', "_")
}

/// Whether `argv` or the environment sets `arg` already.
fn given(argv: &[OsString], arg: &Arg) -> bool {
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|s| format!("-{s}"));
    let on_line = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        long.as_ref()
            .is_some_and(|l| a == l.as_str() || a.starts_with(&format!("{l}=")))
            || short.as_ref().is_some_and(|s| a.starts_with(s.as_str()))
    });
    let in_env = arg
        .get_env()
        .is_some_and(|env| std::env::var_os(env).is_some_and(|v| !v.is_empty()));
    on_line || in_env
}

/// A TOML value as the texts its flag takes.
fn texts(value: &Value) -> Result<Vec<String>, String> {
    let one = |value: &Value| -> Result<String, String> {
        Ok(match value {
            Value::String(s) => s.value().clone(),
            Value::Integer(i) => i.value().to_string(),
            Value::Float(f) => f.value().to_string(),
            Value::Boolean(b) => b.value().to_string(),
            Value::Datetime(d) => d.value().to_string(),
            Value::Array(_) => return Err("a list inside a list".into()),
            Value::InlineTable(_) => return Err("a table is not a flag's value".into()),
        })
    };
    match value {
        Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_reason(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The 1-based line of byte offset `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The effective configuration as TOML, each setting with where it came
/// from (flag, environment, file or default); flags without a value and
/// never given are left out.
pub fn effective(command: &Command, matches: &ArgMatches, from_file: &FromFile) -> String {
    let mut out = String::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let key = key_of(arg);
        if NOT_IN_FILES.contains(&key.as_str()) || arg.get_long().is_none() {
            continue;
        }
        let Some(raw) = matches.get_raw(id) else {
            continue;
        };
        let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
        let source = match matches.value_source(id) {
            _ if from_file.contains(&key) => "file",
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) => "default",
            _ => "default",
        };
        let flag = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let value = match (flag, values.as_slice()) {
            (true, [v]) => v.clone(),
            (_, [v]) => quote(v),
            (_, many) => format!(
                "[{}]",
                many.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
            ),
        };
        out.push_str(&format!("{key} = {value}  # {source}\n"));
    }
    out
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser, Debug)]
    #[command(name = "demo")]
    struct Args {
        #[arg(long)]
        config: Option<String>,
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
        #[arg(long, default_value_t = 3)]
        workers: u32,
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        #[arg(long)]
        join: bool,
        #[arg(long, env = "BATON_CONFIG_TEST_POOL", default_value = "default")]
        pool: String,
    }

    fn file(text: &str) -> ConfigFile {
        ConfigFile {
            name: "demo.toml".into(),
            text: text.into(),
        }
    }

    fn parse(argv: &[&str], text: &str) -> Result<(Args, String), String> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let command = Args::command();
        let (argv, from_file) = with_file(&command, argv, &file(text))?;
        let matches = try_get_matches(command, argv, &from_file).map_err(|e| match e {
            Refusal::File(why) => why,
            Refusal::Clap(e) => e.to_string(),
        })?;
        let shown = effective(&Args::command(), &matches, &from_file);
        Ok((Args::from_arg_matches(&matches).unwrap(), shown))
    }

    #[test]
    fn a_file_sets_what_flags_and_the_environment_leave_unset() {
        let text =
            "listen = \"0.0.0.0:7070\"\nworkers = 8\npeers = [\"1=a:1\", \"2=b:2\"]\njoin = true\n";
        let (args, shown) = parse(&["demo", "--workers", "2"], text).unwrap();
        assert_eq!(args.listen, "0.0.0.0:7070");
        assert_eq!(args.workers, 2, "the flag wins");
        assert_eq!(args.peers, ["1=a:1", "2=b:2"]);
        assert!(args.join);
        assert!(
            shown.contains("listen = \"0.0.0.0:7070\"  # file"),
            "{shown}"
        );
        assert!(shown.contains("workers = \"2\"  # flag"), "{shown}");
        let (args, _) = parse(&["demo", "--listen=x:1"], text).unwrap();
        assert_eq!(args.listen, "x:1");
    }

    #[test]
    fn the_environment_outranks_the_file() {
        std::env::set_var("BATON_CONFIG_TEST_POOL", "from-env");
        let (args, shown) = parse(&["demo"], "pool = \"from-file\"\n").unwrap();
        std::env::remove_var("BATON_CONFIG_TEST_POOL");
        assert_eq!(args.pool, "from-env");
        assert!(
            shown.contains("pool = \"from-env\"  # environment"),
            "{shown}"
        );
    }

    #[test]
    fn mistakes_are_refused_by_file_line_and_key() {
        for (text, says) in [
            ("listen = \"a:1\"\nlistn = \"b:2\"\n", "demo.toml line 2: unknown key `listn`; demo takes: listen, workers, peers, join, pool"),
            ("workers = \"many\"\n", "demo.toml line 1: `workers` = \"many\": invalid value 'many'"),
            ("\n\njoin = 3\n", "demo.toml line 3: `join` is true or false"),
            ("listen = [\"a\", \"b\"]\n", "demo.toml line 1: `listen` takes one value, not a list"),
            ("[server]\nlisten = \"a\"\n", "demo.toml line 1: `server` is a table"),
            ("listen = \n", "demo.toml line 1: not TOML"),
            ("config = \"x\"\n", "unknown key `config`"),
        ] {
            let why = parse(&["demo"], text).unwrap_err();
            assert!(why.contains(says), "{text:?}: {why}\nshould say: {says}");
        }
    }

    #[test]
    fn the_path_comes_from_the_flag_else_the_environment() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(
                &argv(&["x", "--config", "a.toml"]),
                "BATON_CONFIG_TEST_UNSET"
            ),
            Some("a.toml".into())
        );
        assert_eq!(
            config_path(&argv(&["x", "--config=b.toml"]), "BATON_CONFIG_TEST_UNSET"),
            Some("b.toml".into())
        );
        assert_eq!(config_path(&argv(&["x"]), "BATON_CONFIG_TEST_UNSET"), None);
    }
}
