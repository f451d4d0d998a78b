//! Reading the config file, and turning io and toml errors into messages for the person who
//! edits it: which file, which line and column, which key, and what to do.

use std::fs;
use std::io;
use std::path::Path;

use super::raw::RawConfig;
use super::validate::Validator;
use super::{Config, ConfigError, ConfigErrorKind, ConfigSource};

impl Config {
    /// Reads and validates one file. Relative paths inside it are resolved against the file's
    /// folder so that the config and its keys can be moved together.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = ConfigSource::File(path.to_path_buf());
        let text = fs::read_to_string(path).map_err(|err| {
            let (kind, problem) = match err.kind() {
                io::ErrorKind::NotFound => (
                    ConfigErrorKind::NotFound,
                    // Bilingual: an installer or a service's operator reads it in the
                    // journal, and a kiosk never falls back to the sandbox instead.
                    "no such file; check the path given with --config (a service's file is \
                     written by hand: start from /usr/share/doc/alipay-pos/config.example.toml), \
                     or leave --config out to use the default location / 找不到此文件：请检查 \
                     --config 给出的路径（服务的配置文件需手动创建，可参照 \
                     /usr/share/doc/alipay-pos/config.example.toml），或去掉 --config 以使用默认位置"
                        .to_owned(),
                ),
                io::ErrorKind::InvalidData => (
                    ConfigErrorKind::Unreadable,
                    "the file is not UTF-8 text; save it as UTF-8".to_owned(),
                ),
                _ => (
                    ConfigErrorKind::Unreadable,
                    format!(
                        "cannot read the file ({err}); check that it is a file and that this \
                         user may read it"
                    ),
                ),
            };
            ConfigError::new(&origin, None, problem, kind)
        })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new(""));
        let raw = parse_toml(&text, &origin)?;
        Validator {
            origin: &origin,
            base_dir,
        }
        .validate(raw)
    }
}

/// Parses the TOML, turning toml's errors into ones that name the line, column and key.
///
/// `serde_path_to_error` supplies the key because toml only puts it in its multi-line
/// `Display` output, which does not fit a one-line message.
pub(super) fn parse_toml(text: &str, origin: &ConfigSource) -> Result<RawConfig, ConfigError> {
    let parse_error = |key: Option<String>, err: toml::de::Error, advice: &str| {
        let location = err
            .span()
            .and_then(|span| line_and_column(text, span.start))
            .map(|(line, column)| format!("line {line}, column {column}: "))
            .unwrap_or_default();
        let message = humanize_expected(err.message().trim_end());
        ConfigError::new(
            origin,
            key,
            format!("{location}{message}; {advice}"),
            ConfigErrorKind::Parse,
        )
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|err| parse_error(None, err, "fix the TOML syntax there"))?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let err = err.into_inner();
        let unknown = unknown_field_name(err.message());
        let key = match (path.as_str(), unknown) {
            (".", Some(name)) => Some(name.to_owned()),
            (".", None) => None,
            (parent, Some(name)) if !parent.ends_with(name) => Some(format!("{parent}.{name}")),
            (path, _) => Some(path.to_owned()),
        };
        let advice = if unknown.is_some() {
            "remove it or correct its spelling (see the example config for every key)"
        } else {
            "correct the value's type (see the example config)"
        };
        parse_error(key, err, advice)
    })
}

/// Rewrites serde's Rust type names ("expected u64") in the words of the TOML file.
fn humanize_expected(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "u64" => "a whole number without quotes",
        "a string" => "text in double quotes",
        "path string" => "a path in double quotes",
        other if other.starts_with("struct Raw") => "a table such as [alipay]",
        other => other,
    };
    format!("{head}, expected {expected}")
}

/// Extracts `gatway` from serde's "unknown field `gatway`, expected one of ...".
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// 1-based line and column (in characters) of a byte offset, as editors number them.
fn line_and_column(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use tempfile::TempDir;

    use super::super::test_support::{Fixture, assert_names};
    use crate::config::{Config, ConfigErrorKind, ConfigSource};

    #[test]
    fn empty_file_means_defaults() {
        let fixture = Fixture::new();
        let config = fixture.load("# nothing set\n").unwrap();
        assert_eq!(config.source, ConfigSource::File(fixture.config_path()));
        // A file's own catalog and registration replace the demo café's, even when it
        // has none.
        assert!(config.catalog.is_empty());
        assert_eq!(config.registration, None);
        let defaults = Config::defaults();
        assert!(!defaults.catalog.is_empty() && defaults.registration.is_some());
        assert_eq!(
            Config {
                source: ConfigSource::Defaults,
                catalog: defaults.catalog.clone(),
                registration: defaults.registration.clone(),
                ..config
            },
            defaults
        );
    }

    #[test]
    fn folder_instead_of_file_is_unreadable() {
        let dir = TempDir::new().unwrap();
        let err = Config::load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Unreadable);
    }

    #[test]
    fn non_utf8_file_is_unreadable() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, [0xff, 0xfe, b'a']).unwrap();
        let err = Config::load(&path).unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Unreadable);
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\ngateway = \"asia\"\nclient_id = 5J5Y\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: line 3, column ",
                fixture.config_path().display()
            )),
            "{message}"
        );
        assert!(message.contains("fix the TOML syntax there"), "{message}");
    }

    #[test]
    fn wrong_type_has_line_and_key() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\n\nconnect_timeout_ms = \"5000\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(
            &err,
            &fixture,
            "alipay.connect_timeout_ms",
            "line 3, column 22",
        );
        assert!(
            err.problem()
                .contains("invalid type: string \"5000\", expected a whole number without quotes"),
            "{err}"
        );
        let err = fixture.error("[alipay]\nrequest_timeout_ms = -1\n");
        assert_names(&err, &fixture, "alipay.request_timeout_ms", "line 2");
        let err = fixture.error("merchant = \"M0001\"\n");
        assert_names(
            &err,
            &fixture,
            "merchant",
            "expected a table such as [alipay]",
        );
        let err = fixture.error("[store]\nmcc = 5814\n");
        assert_names(
            &err,
            &fixture,
            "store.mcc",
            "expected text in double quotes",
        );
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let fixture = Fixture::new();
        let err = fixture.error("[alipay]\ngatway = \"asia\"\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(&err, &fixture, "alipay.gatway", "unknown field `gatway`");
        assert!(err.problem().contains("line 2"), "{err}");
        assert!(err.problem().contains("correct its spelling"), "{err}");
        let err = fixture.error("[alipy]\ngateway = \"asia\"\n");
        assert_names(&err, &fixture, "alipy", "unknown field `alipy`");
    }

    #[test]
    fn sandbox_unknown_key_is_rejected_by_name() {
        let fixture = Fixture::new();
        let err = fixture.error("[sandbox]\nlisten = \"127.0.0.1:0\"\nallow_lan = true\n");
        assert_eq!(err.kind(), ConfigErrorKind::Parse);
        assert_names(
            &err,
            &fixture,
            "sandbox.allow_lan",
            "unknown field `allow_lan`",
        );
        assert!(err.problem().contains("line 3"), "{err}");
        let err = fixture.error("sandbox = \"0.0.0.0:8090\"\n");
        assert_names(
            &err,
            &fixture,
            "sandbox",
            "expected a table such as [alipay]",
        );
    }
}
