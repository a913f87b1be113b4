//! Driver configuration: `KEY=value` files read as data, never evaluated.
//!
//! Precedence, lowest first:
//! 1. built-in defaults of the driver;
//! 2. the driver's file, `<remotes>/etc/datastore/<driver>/<driver>.conf` or
//!    `<remotes>/etc/tm/<driver>/<driver>.conf`;
//! 3. the process environment, for the keys a driver lists as environment
//!    keys (oned's `tmrc`/`defaultrc` export e.g. `QCOW2_OPTIONS`);
//! 4. the datastore template attribute of the same name (then, for TM
//!    actions, the disk attribute), as oned sends them.
//!
//! `<remotes>` is found from the path the action was called by
//! (`.../remotes/datastore/fs/cp`), else `$ONE_LOCATION/var/remotes`, else
//! `/var/lib/one/remotes`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dump::Element;
use crate::error::{Error, Result};

/// Where a value came from, for messages that tell the operator what to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Environment,
    Template(&'static str),
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Default => "the built-in default".to_string(),
            Origin::File(p) => p.display().to_string(),
            Origin::Environment => "the environment".to_string(),
            Origin::Template(t) => format!("the {t} template"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, (String, Origin)>,
    /// The files layered, in order, whether or not they existed.
    files: Vec<PathBuf>,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    pub fn with_defaults(defaults: &[(&str, &str)]) -> Config {
        let mut c = Config::new();
        for (k, v) in defaults {
            c.set(k, v, Origin::Default);
        }
        c
    }

    pub fn set(&mut self, key: &str, value: &str, origin: Origin) {
        self.values
            .insert(key.to_string(), (value.to_string(), origin));
    }

    /// Layers a `KEY=value` file on top. A missing file is not an error: the
    /// defaults stand. An unreadable or malformed one is.
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        self.files.push(path.to_path_buf());
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        for (k, v) in parse_conf(&text, path)? {
            self.set(&k, &v, Origin::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Layers the listed environment variables on top.
    pub fn load_env(&mut self, keys: &[&str]) {
        for k in keys {
            if let Ok(v) = std::env::var(k) {
                self.set(k, &v, Origin::Environment);
            }
        }
    }

    /// Layers every attribute of a template element (`DATASTORE/TEMPLATE`).
    pub fn load_template(&mut self, template: Option<&Element>, what: &'static str) {
        for c in template.map(|t| t.children.as_slice()).unwrap_or_default() {
            if c.children.is_empty() {
                self.set(&c.name, &c.text, Origin::Template(what));
            }
        }
    }

    /// A value; empty values count as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The configuration files layered so far (for messages that say which
    /// file to edit).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|(_, o)| o)
    }

    /// `yes`/`no`-style flags (`yes|true|1|on`, case-insensitive).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_flag(v).ok_or_else(|| self.invalid(key, "yes or no")),
        }
    }

    /// A duration in whole seconds.
    pub fn seconds(&self, key: &str, default: u64) -> Result<Duration> {
        match self.get(key) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| self.invalid(key, "a number of seconds")),
        }
    }

    /// The error for a value that does not parse, naming where it was set.
    pub fn invalid(&self, key: &str, expected: &str) -> Error {
        let (v, o) = self.values.get(key).cloned().unwrap_or_default_origin();
        Error::Config(format!(
            "{key}={v} (set in {}) is not valid: expected {expected}",
            o.describe()
        ))
    }
}

trait OrDefaultOrigin {
    fn unwrap_or_default_origin(self) -> (String, Origin);
}
impl OrDefaultOrigin for Option<(String, Origin)> {
    fn unwrap_or_default_origin(self) -> (String, Origin) {
        self.unwrap_or((String::new(), Origin::Default))
    }
}

pub fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Some(true),
        "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Parses shell-style `KEY=value` lines as data: comments, blank lines,
/// an optional `export `, and single or double quotes around the value.
/// Anything that would need a shell to mean something is an error, not a guess.
pub fn parse_conf(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim();
        let bad = |why: &str| {
            Error::Config(format!(
                "{}:{}: {why}: expected KEY=value, got '{line}'",
                path.display(),
                n + 1
            ))
        };
        let (k, v) = line.split_once('=').ok_or_else(|| bad("no '='"))?;
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("the key is not a variable name"));
        }
        let v = v.trim();
        let value = if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            if inner.contains(['$', '`']) {
                return Err(bad("values are data: '$' and '`' are not expanded"));
            }
            inner.to_string()
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            inner.to_string()
        } else {
            let v = v.split(" #").next().unwrap_or("").trim();
            if v.contains(['$', '`', '"', '\'', ';', '|', '&']) || v.contains(char::is_whitespace) {
                return Err(bad(
                    "quote the value; '$', '`' and shell syntax are not expanded",
                ));
            }
            v.to_string()
        };
        out.push((k.to_string(), value));
    }
    Ok(out)
}

/// The remotes directory this invocation belongs to.
pub fn remotes_dir(called_as: Option<&Path>) -> PathBuf {
    if let Some(p) = called_as.and_then(|p| p.parent()?.parent()?.parent()) {
        if !p.as_os_str().is_empty() {
            return p.to_path_buf();
        }
    }
    match std::env::var_os("ONE_LOCATION") {
        Some(l) if !l.is_empty() => Path::new(&l).join("var/remotes"),
        _ => PathBuf::from("/var/lib/one/remotes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_files_are_data() {
        let p = Path::new("fs.conf");
        let kv = parse_conf(
            "# c\n\nDD_BLOCK_SIZE=64k\nexport A=\"x y\"\nB='$HOME'\nC=1 # note\n",
            p,
        )
        .unwrap();
        assert_eq!(
            kv,
            vec![
                ("DD_BLOCK_SIZE".into(), "64k".into()),
                ("A".into(), "x y".into()),
                ("B".into(), "$HOME".into()),
                ("C".into(), "1".into())
            ]
        );
        for bad in ["A=$(rm -rf /)", "A=\"$HOME\"", "rm -rf /", "A B=1", "A=x;y"] {
            let e = parse_conf(bad, p).unwrap_err().to_string();
            assert!(e.starts_with("fs.conf:1:"), "{e}");
        }
    }

    #[test]
    fn precedence_template_over_env_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.conf");
        std::fs::write(&f, "A=file\nB=file\nC=file\n").unwrap();
        let mut c =
            Config::with_defaults(&[("A", "def"), ("B", "def"), ("C", "def"), ("D", "def")]);
        c.load_file(&f).unwrap();
        std::env::set_var("ONE_STORAGE_TEST_B", "env");
        c.load_env(&["ONE_STORAGE_TEST_B"]);
        let t = Element::parse("<TEMPLATE><A>tpl</A></TEMPLATE>", "t").unwrap();
        c.load_template(Some(&t), "datastore");
        assert_eq!(c.get("A"), Some("tpl"));
        assert_eq!(c.get("B"), Some("file"));
        assert_eq!(c.get("ONE_STORAGE_TEST_B"), Some("env"));
        assert_eq!(c.get("C"), Some("file"));
        assert_eq!(c.get("D"), Some("def"));
        assert_eq!(c.origin("A"), Some(&Origin::Template("datastore")));
    }

    #[test]
    fn invalid_values_name_key_and_origin() {
        let mut c = Config::new();
        c.set("SPARSE", "maybe", Origin::Template("datastore"));
        let e = c.flag("SPARSE", true).unwrap_err().to_string();
        assert_eq!(
            e,
            "SPARSE=maybe (set in the datastore template) is not valid: expected yes or no"
        );
    }

    #[test]
    fn remotes_dir_from_the_called_path() {
        let p = Path::new("/var/lib/one/remotes/datastore/fs/cp");
        assert_eq!(remotes_dir(Some(p)), PathBuf::from("/var/lib/one/remotes"));
    }
}
