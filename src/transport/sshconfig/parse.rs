//! Reading ssh_config text: lines, blocks, `Include`, and the first value of
//! each key that applies to the host.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::{pattern_list, wildcard_bytes, LocalUser, Strict, MAX_INCLUDE_DEPTH};
use crate::error::{Error, Result};

/// The raw values obtained so far; `None` means "not yet set".
#[derive(Debug, Default)]
pub(super) struct Values {
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Every IdentityFile that applies, in order (they accumulate).
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    pub strict: Option<Strict>,
    pub user_known_hosts: Option<Vec<String>>,
    pub global_known_hosts: Option<Vec<String>>,
    pub hash_known_hosts: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub keepalive: Option<Duration>,
    /// `Some(None)` when the first proxy setting was `none`.
    pub proxy: Option<Option<String>>,
}

pub(super) struct Reader<'a> {
    alias: &'a str,
    arg_user: Option<&'a str>,
    me: &'a LocalUser,
    pub values: Values,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(alias: &'a str, arg_user: Option<&'a str>, me: &'a LocalUser) -> Reader<'a> {
        Reader {
            alias,
            arg_user,
            me,
            values: Values::default(),
            depth: 0,
        }
    }

    pub fn read_file(&mut self, path: &Path, include_dir: &Path, required: bool) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(()),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read the ssh configuration {}: {e}",
                    path.display()
                )))
            }
        };
        self.parse(&text, path, include_dir)
    }

    /// Parses one file's text. A file starts active (it may be included from
    /// inside a block that applies); its own `Host`/`Match` lines end at its end.
    pub fn parse(&mut self, text: &str, path: &Path, include_dir: &Path) -> Result<()> {
        let mut active = true;
        for (n, line) in text.lines().enumerate() {
            let at = || format!("{}, line {}", path.display(), n + 1);
            let (key, args) = match split_line(line) {
                Ok(Some(kv)) => kv,
                Ok(None) => continue,
                Err(m) => return Err(Error::Config(format!("{}: {m}", at()))),
            };
            match key.to_ascii_lowercase().as_str() {
                "host" => active = pattern_list(args.iter().map(String::as_str), self.alias),
                "match" => active = self.match_applies(&args, &at()),
                "include" if active => {
                    if self.depth >= MAX_INCLUDE_DEPTH {
                        return Err(Error::Config(format!("{}: Include nested too deep", at())));
                    }
                    let files: Vec<PathBuf> = args
                        .iter()
                        .flat_map(|a| self.include(a, include_dir))
                        .collect();
                    for file in files {
                        self.depth += 1;
                        let r = self.read_file(&file, include_dir, false);
                        self.depth -= 1;
                        r?;
                    }
                }
                k if active => self
                    .set(k, &args)
                    .map_err(|m| Error::Config(format!("{}: {m}", at())))?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Sets `key` unless an earlier line did (IdentityFile accumulates).
    fn set(&mut self, key: &str, args: &[String]) -> Result<(), String> {
        let Some(first) = args.first() else {
            return Err(format!("{key} has no value"));
        };
        let v = &mut self.values;
        match key {
            "hostname" => once(&mut v.hostname, || Ok(first.clone())),
            "port" => once(&mut v.port, || {
                first
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(format!("Port {first} is not a port number"))
            }),
            "user" => once(&mut v.user, || Ok(first.clone())),
            "identityfile" => {
                v.identity_files.push(first.clone());
                Ok(())
            }
            "identitiesonly" => once(&mut v.identities_only, || flag(key, first)),
            "hashknownhosts" => once(&mut v.hash_known_hosts, || flag(key, first)),
            "stricthostkeychecking" => once(&mut v.strict, || {
                Strict::parse(first).ok_or(format!(
                    "StrictHostKeyChecking {first} is not yes, accept-new or no"
                ))
            }),
            "userknownhostsfile" => once(&mut v.user_known_hosts, || Ok(args.to_vec())),
            "globalknownhostsfile" => once(&mut v.global_known_hosts, || Ok(args.to_vec())),
            "connecttimeout" => once(&mut v.connect_timeout, || seconds(key, first)),
            "serveraliveinterval" => once(&mut v.keepalive, || seconds(key, first)),
            // Both name the way to the host; whichever comes first wins, as in ssh.
            "proxyjump" | "proxycommand" => once(&mut v.proxy, || {
                let name = if key == "proxyjump" {
                    "ProxyJump"
                } else {
                    "ProxyCommand"
                };
                let value = args.join(" ");
                Ok((!value.eq_ignore_ascii_case("none")).then(|| format!("{name} {value}")))
            }),
            _ => Ok(()),
        }
    }

    /// Whether a `Match` line's criteria all hold. Criteria this reader does
    /// not evaluate make the block not apply.
    fn match_applies(&self, args: &[String], at: &str) -> bool {
        let mut i = 0;
        while i < args.len() {
            let (negated, criterion) = match args[i].strip_prefix('!') {
                Some(c) => (true, c.to_ascii_lowercase()),
                None => (false, args[i].to_ascii_lowercase()),
            };
            let subject = match criterion.as_str() {
                "all" => None,
                "host" => Some(self.values.hostname.as_deref().unwrap_or(self.alias)),
                "originalhost" => Some(self.alias),
                "user" => Some(
                    self.arg_user
                        .or(self.values.user.as_deref())
                        .unwrap_or(&self.me.name),
                ),
                "localuser" => Some(self.me.name.as_str()),
                other => {
                    log::debug!("{at}: Match {other} is not evaluated; the block is skipped");
                    return false;
                }
            };
            let holds = match subject {
                None => true,
                Some(s) => {
                    i += 1;
                    match args.get(i) {
                        Some(list) => pattern_list(list.split(','), &s.replace("%h", self.alias)),
                        None => return false,
                    }
                }
            };
            if holds == negated {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The files an `Include` argument names, sorted as glob(3) sorts them.
    fn include(&self, arg: &str, dir: &Path) -> Vec<PathBuf> {
        let expanded = match arg.strip_prefix("~/") {
            Some(rest) => self.me.home.join(rest),
            None => dir.join(arg),
        };
        glob(&expanded)
    }
}

/// Sets `slot` from `value` only if it is still empty: the first value wins.
fn once<T>(slot: &mut Option<T>, value: impl FnOnce() -> Result<T, String>) -> Result<(), String> {
    if slot.is_none() {
        *slot = Some(value()?);
    }
    Ok(())
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{key} {v} is not yes or no")),
    }
}

fn seconds(key: &str, v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{key} {v} is not a number of seconds"))
}

/// Splits a line into its key and arguments: `Key value`, `Key=value`,
/// `"quoted values"`, and `#` starting a comment where an argument would.
pub(super) fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let key_end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let key = line[..key_end].to_string();
    let mut rest = line[key_end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    while !rest.is_empty() && !rest.starts_with('#') {
        let (word, tail) = match rest.strip_prefix('"') {
            Some(q) => {
                let end = q
                    .find('"')
                    .ok_or(format!("unterminated quote after {key}"))?;
                (&q[..end], &q[end + 1..])
            }
            None => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        args.push(word.to_string());
        rest = tail.trim_start();
    }
    Ok(Some((key, args)))
}

/// Expands `*` and `?` in any component of `p`; hidden names only match
/// patterns that start with a dot. Only existing files are returned.
pub(super) fn glob(p: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in p.components() {
        let part = comp.as_os_str().to_string_lossy();
        let is_pattern = matches!(comp, Component::Normal(_)) && part.contains(['*', '?']);
        if !is_pattern {
            found.iter_mut().for_each(|f| f.push(comp));
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| wildcard_bytes(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.retain(|f| f.is_file());
    found
}
