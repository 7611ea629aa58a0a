//! Configuration and secrets as dlt users know them: `.ele/config.toml`, `.ele/secrets.toml` and environment
//! variables with `__` between sections.
//!
//! A value is named by its path of sections and key, `["sources", "github", "access_token"]`, and looked up in
//! this order, the first place that has it wins:
//!
//! 1. a value given explicitly, in code or on the command line ([`Config::set`]);
//! 2. the environment variable named by the path in upper case joined by `__`: `SOURCES__GITHUB__ACCESS_TOKEN`;
//! 3. `.ele/secrets.toml`: key `access_token` in the table `[sources.github]`;
//! 4. `.ele/config.toml`, the same way.
//!
//! A missing value is an error naming every place looked at. Secrets go into [`Secret`], whose `Debug` and
//! `Display` print `***`; error messages of this module never contain a value.
//!
//! ```text
//! use ele::config::{Config, Secret};
//!
//! # fn main() -> ele::Result<()> {
//! let config = Config::load()?;
//! let token: Secret<String> = config.get(&["sources", "github", "access_token"])?;
//! let page_size: u32 = config.get_opt(&["sources", "github", "page_size"])?.unwrap_or(100);
//! println!("token {token}, page size {page_size}"); // token ***, page size 100
//! # let _ = token.expose();
//! # Ok(())
//! # }
//! ```
//!
//! The PostgreSQL destination's credentials are `destination.postgres.credentials`, dlt's name, either a
//! connection string or a table (`database`, `username`, `password`, `host`, `port`, `connect_timeout`);
//! `Postgres::from_config` builds the destination from them, and `Postgres::from_env` reads them this way.
//!
//! The parameters of resources and sources marked `#[config]` or `#[secret]` are looked up by
//! [`Config::param`], under dlt's section layout (see there).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::foundation::error::{Error, Result};

/// The folder holding `config.toml` and `secrets.toml`, under the current directory.
pub const CONFIG_DIR: &str = ".ele";
/// The file of ordinary settings.
pub const CONFIG_FILE: &str = "config.toml";
/// The file of secrets (keep it out of version control).
pub const SECRETS_FILE: &str = "secrets.toml";
/// The path of the PostgreSQL credentials, as dlt names it.
pub const POSTGRES_CREDENTIALS: [&str; 3] = ["destination", "postgres", "credentials"];

/// The configuration given to [`Config::install`].
static INSTALLED: RwLock<Option<Config>> = RwLock::new(None);

/// Where a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Given in code or on the command line.
    Explicit,
    /// An environment variable.
    Environment,
    /// `.ele/secrets.toml`.
    SecretsToml,
    /// `.ele/config.toml`.
    ConfigToml,
}

/// A value that must not be shown: `Debug` and `Display` print `***`. Deserializes like `T`; read it with
/// [`Secret::expose`]. It has no `Serialize`, so it cannot end up in a state, a log field or a JSON document by
/// accident.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself; use it where it is needed and nowhere else.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// One TOML file: its path as shown in messages, and its content when it exists.
#[derive(Clone)]
struct TomlFile {
    path: PathBuf,
    values: Option<Value>,
}

impl TomlFile {
    fn read(path: PathBuf) -> Result<Self> {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TomlFile { path, values: None });
            }
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            // Only the message and the position: toml's full message quotes the line, which may hold a secret.
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            Error::config(format!(
                "cannot parse {}{at}: {}",
                path.display(),
                e.message().trim()
            ))
        })?;
        Ok(TomlFile {
            path,
            values: Some(toml_to_json(toml::Value::Table(table))),
        })
    }

    fn get(&self, path: &[&str]) -> Option<&Value> {
        let mut current = self.values.as_ref()?;
        for key in path {
            current = current.as_object()?.get(*key)?;
        }
        Some(current)
    }

    fn place(&self, path: &[&str]) -> String {
        let (key, sections) = path.split_last().unwrap_or((&"", &[]));
        let missing = if self.values.is_none() {
            " (no such file)"
        } else {
            ""
        };
        if sections.is_empty() {
            format!("key `{key}` of {}{missing}", self.path.display())
        } else {
            format!(
                "key `{key}` in [{}] of {}{missing}",
                sections.join("."),
                self.path.display()
            )
        }
    }
}

/// What was found, before it is turned into the requested type.
enum Found<'a> {
    Json(&'a Value),
    Text(String),
}

/// Configuration and secrets: explicit values, the environment, `.ele/secrets.toml`, `.ele/config.toml`, in
/// that order (see the [module documentation](self)). `Debug` shows the files, never a value.
#[derive(Clone)]
pub struct Config {
    explicit: Map<String, Value>,
    /// `None`: the process environment.
    env: Option<HashMap<String, String>>,
    secrets: TomlFile,
    config: TomlFile,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("explicit", &self.explicit.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.path)
            .field("config", &self.config.path)
            .finish()
    }
}

impl Config {
    /// Reads `.ele/secrets.toml` and `.ele/config.toml` of the current directory (missing files are fine) and
    /// uses the process environment.
    pub fn load() -> Result<Config> {
        Config::load_from(CONFIG_DIR)
    }

    /// Reads `secrets.toml` and `config.toml` in `dir` (missing files are fine) and uses the process
    /// environment.
    pub fn load_from(dir: impl AsRef<Path>) -> Result<Config> {
        let dir = dir.as_ref();
        Ok(Config {
            explicit: Map::new(),
            env: None,
            secrets: TomlFile::read(dir.join(SECRETS_FILE))?,
            config: TomlFile::read(dir.join(CONFIG_FILE))?,
        })
    }

    /// Uses `vars` instead of the process environment (for tests and embedding).
    pub fn with_env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Sets an explicit value (from code or a command-line flag), which wins over every other place.
    pub fn set(&mut self, path: &[&str], value: impl Into<Value>) -> &mut Self {
        self.explicit.insert(path.join("."), value.into());
        self
    }

    /// [`Config::set`] for a builder chain.
    pub fn with(mut self, path: &[&str], value: impl Into<Value>) -> Self {
        self.set(path, value);
        self
    }

    /// The environment variable of a path: `SOURCES__GITHUB__ACCESS_TOKEN`.
    pub fn env_name(path: &[&str]) -> String {
        path.iter()
            .map(|p| p.to_uppercase())
            .collect::<Vec<_>>()
            .join("__")
    }

    /// The value at `path`, converted to `T`. Missing: an error naming every place looked at. Found but not a
    /// `T`: an error naming the place and the type, not the value. Environment values are taken as text when
    /// `T` accepts text, else parsed as JSON (`42`, `true`, `["a", "b"]`, `{"k": 1}`).
    pub fn get<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T> {
        match self.get_opt(path)? {
            Some(value) => Ok(value),
            None => Err(Error::config(format!(
                "missing configuration value `{}`; looked in: {}",
                path.join("."),
                self.places(path).join(", ")
            ))),
        }
    }

    /// Like [`Config::get`], `None` when no place has the value.
    pub fn get_opt<T: DeserializeOwned>(&self, path: &[&str]) -> Result<Option<T>> {
        match self.lookup(path) {
            Some((found, provider)) => self.convert(found, path, provider).map(Some),
            None => Ok(None),
        }
    }

    /// The value of the parameter `key` of a resource or source marked `#[config]` or `#[secret]`, looked up as
    /// dlt looks up the arguments it injects: in each provider (explicit values, the environment,
    /// `.ele/secrets.toml`, then `.ele/config.toml`, which secrets skip), from the most specific section to the
    /// least, the first found wins. For the parameter `token` of the resource `tweets` in the source `twitter`:
    ///
    /// | environment | TOML |
    /// |---|---|
    /// | `SOURCES__TWITTER__TWEETS__TOKEN` | `[sources.twitter.tweets] token = ...` |
    /// | `SOURCES__TWITTER__TOKEN` | `[sources.twitter] token = ...` |
    /// | `SOURCES__TOKEN` | `[sources] token = ...` |
    /// | `TOKEN` | `token = ...` at the top |
    ///
    /// A source parameter (`resource` is `None`) starts at `sources.<source>.<key>`. A resource run on its own,
    /// outside a source, has the pipeline name as its source name. Missing: an error naming every place looked
    /// at, never a value.
    pub fn param<T: DeserializeOwned>(
        &self,
        source: &str,
        resource: Option<&str>,
        key: &str,
        secret: bool,
    ) -> Result<T> {
        let mut sections = vec!["sources", source];
        sections.extend(resource);
        let paths: Vec<Vec<&str>> = (0..=sections.len())
            .rev()
            .map(|n| {
                let mut path = sections[..n].to_vec();
                path.push(key);
                path
            })
            .collect();
        let providers: &[Provider] = if secret {
            &[
                Provider::Explicit,
                Provider::Environment,
                Provider::SecretsToml,
            ]
        } else {
            &[
                Provider::Explicit,
                Provider::Environment,
                Provider::SecretsToml,
                Provider::ConfigToml,
            ]
        };
        for &provider in providers {
            for path in &paths {
                if let Some(found) = self.lookup_in(path, provider) {
                    return self.convert(found, path, provider);
                }
            }
        }
        let places: Vec<String> = providers
            .iter()
            .filter(|p| **p != Provider::Explicit)
            .flat_map(|&provider| paths.iter().map(move |path| (provider, path)))
            .map(|(provider, path)| self.place(path, provider))
            .collect();
        let what = if secret {
            "secret"
        } else {
            "configuration value"
        };
        let owner = match resource {
            Some(resource) => format!("resource `{resource}` of source `{source}`"),
            None => format!("source `{source}`"),
        };
        let skipped = if secret {
            " (secrets are not read from config.toml)"
        } else {
            ""
        };
        Err(Error::config(format!(
            "missing {what} `{key}` of {owner}; pass it in code, or set it in one of: {}{skipped}",
            places.join(", ")
        )))
    }

    /// The configuration that `#[config]` and `#[secret]` parameters and `Postgres::from_env` read: the one
    /// given to [`Config::install`], else [`Config::load`] (read anew at each call).
    pub fn current() -> Result<Config> {
        let installed = INSTALLED.read().unwrap_or_else(|p| p.into_inner()).clone();
        match installed {
            Some(config) => Ok(config),
            None => Config::load(),
        }
    }

    /// Makes this configuration the one [`Config::current`] returns, for the whole process: a program that
    /// reads its settings elsewhere, or sets values in code ([`Config::set`]), installs it once at start.
    pub fn install(self) {
        *INSTALLED.write().unwrap_or_else(|p| p.into_inner()) = Some(self);
    }

    /// Converts what was found at `path` into `T`, naming the place and the type on failure, never the value.
    fn convert<T: DeserializeOwned>(
        &self,
        found: Found<'_>,
        path: &[&str],
        provider: Provider,
    ) -> Result<T> {
        let converted = match &found {
            Found::Json(value) => serde_json::from_value::<T>((*value).clone()).ok(),
            Found::Text(text) => serde_json::from_value::<T>(Value::String(text.clone()))
                .ok()
                .or_else(|| {
                    serde_json::from_str::<Value>(text)
                        .ok()
                        .and_then(|v| serde_json::from_value(v).ok())
                }),
        };
        match converted {
            Some(value) => Ok(value),
            // serde's message may quote the value; name the place and the type instead.
            None => Err(Error::config(format!(
                "configuration value `{}` from {} is not a valid {}",
                path.join("."),
                self.place(path, provider),
                short_type_name::<T>()
            ))),
        }
    }

    /// Where the value at `path` comes from, if anywhere.
    pub fn provider(&self, path: &[&str]) -> Option<Provider> {
        self.lookup(path).map(|(_, p)| p)
    }

    /// The places looked at for `path`, in lookup order, as messages name them (explicit values not included:
    /// they are the caller's).
    pub fn places(&self, path: &[&str]) -> Vec<String> {
        [
            Provider::Environment,
            Provider::SecretsToml,
            Provider::ConfigToml,
        ]
        .into_iter()
        .map(|p| self.place(path, p))
        .collect()
    }

    fn place(&self, path: &[&str], provider: Provider) -> String {
        match provider {
            Provider::Explicit => "a value given in code or on the command line".to_owned(),
            Provider::Environment => format!("environment variable {}", Config::env_name(path)),
            Provider::SecretsToml => self.secrets.place(path),
            Provider::ConfigToml => self.config.place(path),
        }
    }

    fn lookup(&self, path: &[&str]) -> Option<(Found<'_>, Provider)> {
        [
            Provider::Explicit,
            Provider::Environment,
            Provider::SecretsToml,
            Provider::ConfigToml,
        ]
        .into_iter()
        .find_map(|provider| self.lookup_in(path, provider).map(|f| (f, provider)))
    }

    /// The value at `path` in one provider.
    fn lookup_in(&self, path: &[&str], provider: Provider) -> Option<Found<'_>> {
        match provider {
            Provider::Explicit => self.explicit.get(&path.join(".")).map(Found::Json),
            Provider::Environment => {
                let name = Config::env_name(path);
                let from_env = match &self.env {
                    Some(vars) => vars.get(&name).cloned(),
                    None => std::env::var(&name).ok(),
                };
                // An empty variable counts as unset, as a scheduler's blank template variable should.
                from_env.filter(|t| !t.trim().is_empty()).map(Found::Text)
            }
            Provider::SecretsToml => self.secrets.get(path).map(Found::Json),
            Provider::ConfigToml => self.config.get(path).map(Found::Json),
        }
    }
}

/// `Secret<String>` rather than `ele::config::Secret<alloc::string::String>`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            segment.clear();
        } else if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    out
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(secrets: Option<&str>, config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(text) = secrets {
            std::fs::write(dir.path().join(SECRETS_FILE), text).expect("write secrets");
        }
        if let Some(text) = config {
            std::fs::write(dir.path().join(CONFIG_FILE), text).expect("write config");
        }
        dir
    }

    const PATH: [&str; 3] = ["sources", "github", "access_token"];

    #[test]
    fn lookup_order_is_explicit_env_secrets_config() {
        let dir = dir_with(
            Some("[sources.github]\naccess_token = \"from-secrets\"\n"),
            Some("[sources.github]\naccess_token = \"from-config\"\n"),
        );
        let env = [("SOURCES__GITHUB__ACCESS_TOKEN", "from-env")];
        let load = || Config::load_from(dir.path()).expect("config loads");

        let all = load().with_env(env).with(&PATH, "explicit");
        assert_eq!(all.get::<String>(&PATH).expect("found"), "explicit");
        assert_eq!(all.provider(&PATH), Some(Provider::Explicit));

        let no_explicit = load().with_env(env);
        assert_eq!(no_explicit.get::<String>(&PATH).expect("found"), "from-env");
        assert_eq!(no_explicit.provider(&PATH), Some(Provider::Environment));

        let no_env = load().with_env(Vec::<(String, String)>::new());
        assert_eq!(no_env.get::<String>(&PATH).expect("found"), "from-secrets");
        assert_eq!(no_env.provider(&PATH), Some(Provider::SecretsToml));

        let only_config = Config::load_from(
            dir_with(
                None,
                Some("[sources.github]\naccess_token = \"from-config\"\n"),
            )
            .path(),
        )
        .expect("loads")
        .with_env(Vec::<(String, String)>::new());
        assert_eq!(
            only_config.get::<String>(&PATH).expect("found"),
            "from-config"
        );
        assert_eq!(only_config.provider(&PATH), Some(Provider::ConfigToml));

        // A blank variable counts as unset.
        let blank = load().with_env([("SOURCES__GITHUB__ACCESS_TOKEN", "  ")]);
        assert_eq!(blank.get::<String>(&PATH).expect("found"), "from-secrets");
    }

    #[test]
    fn a_missing_value_names_every_place_looked_at() {
        let dir = dir_with(None, Some("[sources.github]\nother = 1\n"));
        let config = Config::load_from(dir.path())
            .expect("loads")
            .with_env(Vec::<(String, String)>::new());
        let message = config
            .get::<Secret<String>>(&PATH)
            .expect_err("missing")
            .to_string();
        let secrets = dir.path().join(SECRETS_FILE);
        let config_file = dir.path().join(CONFIG_FILE);
        for part in [
            "`sources.github.access_token`",
            "environment variable SOURCES__GITHUB__ACCESS_TOKEN",
            &format!(
                "key `access_token` in [sources.github] of {} (no such file)",
                secrets.display()
            ),
            &format!(
                "key `access_token` in [sources.github] of {}",
                config_file.display()
            ),
        ] {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
        assert!(config.get_opt::<String>(&PATH).expect("no error").is_none());
    }

    #[test]
    fn values_convert_to_the_requested_type_without_showing_them() {
        let dir = dir_with(
            Some("[sources.api]\nkey = \"hunter2-secret\"\nlimits = [1, 2]\n"),
            None,
        );
        let config = Config::load_from(dir.path()).expect("loads").with_env([
            ("SOURCES__API__PAGE_SIZE", "250"),
            ("SOURCES__API__VERBOSE", "true"),
            ("SOURCES__API__NAME", "plain text"),
        ]);
        assert_eq!(
            config
                .get::<u32>(&["sources", "api", "page_size"])
                .expect("a number"),
            250
        );
        assert!(
            config
                .get::<bool>(&["sources", "api", "verbose"])
                .expect("a bool")
        );
        assert_eq!(
            config
                .get::<String>(&["sources", "api", "page_size"])
                .expect("text"),
            "250"
        );
        assert_eq!(
            config
                .get::<String>(&["sources", "api", "name"])
                .expect("text"),
            "plain text"
        );
        assert_eq!(
            config
                .get::<Vec<i64>>(&["sources", "api", "limits"])
                .expect("a list"),
            [1, 2]
        );
        let wrong = config
            .get::<i64>(&["sources", "api", "key"])
            .expect_err("not a number")
            .to_string();
        assert!(wrong.contains("is not a valid i64"), "{wrong}");
        assert!(wrong.contains("secrets.toml"), "{wrong}");
        assert!(!wrong.contains("hunter2"), "{wrong}");
    }

    #[test]
    fn secrets_never_show() {
        let secret: Secret<String> = Secret::new("hunter2".into());
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
        let config = Config::load_from(dir_with(None, None).path())
            .expect("loads")
            .with(&PATH, "hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_broken_file_is_reported_without_its_content() {
        let dir = dir_with(Some("[sources]\ntoken = \"hunter2\n"), None);
        let message = Config::load_from(dir.path())
            .expect_err("broken toml")
            .to_string();
        assert!(message.contains("secrets.toml at line 2"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn parameters_walk_up_the_sections_in_each_provider() {
        let dir = dir_with(
            Some("[sources.twitter]\ntoken = \"from-secrets\"\n"),
            Some("[sources.twitter.tweets]\ntoken = \"from-config\"\npage_size = 5\n"),
        );
        let load = |env: &[(&str, &str)]| {
            Config::load_from(dir.path())
                .expect("loads")
                .with_env(env.iter().copied())
        };
        let token = |c: &Config, secret: bool| {
            c.param::<String>("twitter", Some("tweets"), "token", secret)
        };
        // The environment wins over the files, at any section.
        let env = load(&[("TOKEN", "bare-env")]);
        assert_eq!(token(&env, true).expect("found"), "bare-env");
        // In one provider the most specific section wins.
        let env = load(&[
            ("SOURCES__TWITTER__TOKEN", "a"),
            ("SOURCES__TWITTER__TWEETS__TOKEN", "b"),
        ]);
        assert_eq!(token(&env, false).expect("found"), "b");
        // secrets.toml before config.toml, even at a less specific section.
        assert_eq!(token(&load(&[]), false).expect("found"), "from-secrets");
        // A config value is read from config.toml; a secret never is.
        assert_eq!(
            load(&[])
                .param::<u32>("twitter", Some("tweets"), "page_size", false)
                .expect("found"),
            5
        );
        let message = load(&[])
            .param::<Secret<u32>>("twitter", Some("tweets"), "page_size", true)
            .expect_err("secrets skip config.toml")
            .to_string();
        assert!(
            message.contains("missing secret `page_size` of resource `tweets` of source `twitter`"),
            "{message}"
        );
        for place in [
            "environment variable SOURCES__TWITTER__TWEETS__PAGE_SIZE",
            "environment variable SOURCES__TWITTER__PAGE_SIZE",
            "environment variable SOURCES__PAGE_SIZE",
            "environment variable PAGE_SIZE",
            "key `page_size` in [sources.twitter.tweets] of",
            "key `page_size` of",
        ] {
            assert!(message.contains(place), "`{place}` not in {message}");
        }
        assert!(!message.contains("config.toml,"), "{message}");
        // A source parameter starts at the source's section.
        assert_eq!(
            load(&[])
                .param::<String>("twitter", None, "token", true)
                .expect("found"),
            "from-secrets"
        );
    }
}
