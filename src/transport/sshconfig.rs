//! The OpenSSH client configuration the operator already keeps, read the way
//! `ssh` reads it, for the keys the SSH transports need.
//!
//! Files: `SSH_CONFIG` alone when set (like `ssh -F`), else `~/.ssh/config`
//! then `/etc/ssh/ssh_config`. For every key the first value obtained wins.
//! `Host` patterns (`*`, `?`, `!negation`), `Match all|host|originalhost|user|
//! localuser` and `Include` (globs; relative to `~/.ssh`, or `/etc/ssh` for the
//! system file) are understood. Blocks under other `Match` criteria (`exec`,
//! `canonical`, ...) are skipped with a debug line. Unknown keys are ignored:
//! they are the system ssh client's business.

use std::path::PathBuf;
use std::time::Duration;

use super::SshSettings;
use crate::error::Result;

const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";
const SYSTEM_DIR: &str = "/etc/ssh";
const MAX_INCLUDE_DEPTH: usize = 16;
const DEFAULT_IDENTITIES: &[&str] = &["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"];
const DEFAULT_USER_KNOWN_HOSTS: &[&str] = &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS: &[&str] =
    &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// What to do with a host key that is not in known_hosts (`StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strict {
    /// Refuse unknown keys.
    Yes,
    /// Record unknown keys, refuse changed ones.
    AcceptNew,
    /// Record unknown keys; a changed key only draws a warning (as with ssh,
    /// which then still logs in by key).
    No,
}

impl Strict {
    pub fn parse(s: &str) -> Option<Strict> {
        match s.trim().to_ascii_lowercase().as_str() {
            // Nobody can answer `ask` under oned: it behaves as `yes`.
            "yes" | "true" | "ask" => Some(Strict::Yes),
            "accept-new" => Some(Strict::AcceptNew),
            "no" | "false" | "off" => Some(Strict::No),
            _ => None,
        }
    }

    /// The value as `ssh -o StrictHostKeyChecking=` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Strict::Yes => "yes",
            Strict::AcceptNew => "accept-new",
            Strict::No => "no",
        }
    }
}

/// Everything a transport needs to reach one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedHost {
    /// The host as the action named it, without `user@` (for messages).
    pub alias: String,
    pub hostname: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    pub strict: Strict,
    /// User known_hosts files; accepted keys are appended to the first.
    pub known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    pub hash_known_hosts: bool,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// `ProxyJump x` or `ProxyCommand y`, which only the system client honours.
    pub proxy: Option<String>,
}

/// The user running the client: `~`, `%d`, `%u`, `%i` and the default `User`.
#[derive(Debug, Clone)]
pub struct LocalUser {
    pub home: PathBuf,
    pub name: String,
    pub uid: u32,
}

impl LocalUser {
    /// `$HOME` (else the passwd entry) and the passwd name of the real uid.
    pub fn current() -> LocalUser {
        // SAFETY: getuid(2) cannot fail and touches no memory.
        let uid = unsafe { libc::getuid() };
        let (pw_name, pw_home) = passwd_entry(uid).unwrap_or_default();
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(pw_home));
        let name = if pw_name.is_empty() {
            std::env::var("USER").unwrap_or_else(|_| uid.to_string())
        } else {
            pw_name
        };
        LocalUser { home, name, uid }
    }
}

/// (name, home) of `uid` from the passwd database.
fn passwd_entry(uid: u32) -> Option<(String, String)> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids).
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage; on success
    // the strings in `pw` point into `buf`, which outlives their use below.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so both are NUL-terminated strings in `buf`.
    let text = |p: *const libc::c_char| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy();
    Some((text(pw.pw_name).into_owned(), text(pw.pw_dir).into_owned()))
}

/// One configuration file and the directory its relative `Include`s start from.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// An explicit `SSH_CONFIG` must exist; the standard files may not.
    pub required: bool,
    pub include_dir: PathBuf,
}

/// The files `ssh` would read for this user and these settings.
pub fn config_files(settings: &SshSettings, me: &LocalUser) -> Vec<ConfigFile> {
    let user_dir = me.home.join(".ssh");
    match &settings.config_file {
        Some(f) => vec![ConfigFile {
            path: f.clone(),
            required: true,
            include_dir: user_dir,
        }],
        None => vec![
            ConfigFile {
                path: user_dir.join("config"),
                required: false,
                include_dir: user_dir.clone(),
            },
            ConfigFile {
                path: PathBuf::from(SYSTEM_CONFIG),
                required: false,
                include_dir: PathBuf::from(SYSTEM_DIR),
            },
        ],
    }
}

/// How `host` (`name`, `user@name`, `[v6addr]`) is reached under `settings`.
pub fn resolve(host: &str, settings: &SshSettings) -> Result<ResolvedHost> {
    let me = LocalUser::current();
    resolve_with(host, &config_files(settings, &me), settings, &me)
}

pub fn resolve_with(
    host: &str,
    files: &[ConfigFile],
    settings: &SshSettings,
    me: &LocalUser,
) -> Result<ResolvedHost> {
    let (arg_user, alias) = match host.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, host),
    };
    let alias = strip_brackets(alias).to_string();
    let mut reader = parse::Reader::new(&alias, arg_user.as_deref(), me);
    for f in files {
        reader.read_file(&f.path, &f.include_dir, f.required)?;
    }
    let v = reader.values;

    let hostname = match &v.hostname {
        Some(h) => strip_brackets(&h.replace("%h", &alias).replace("%%", "%")).to_string(),
        None => alias.clone(),
    };
    let port = v.port.unwrap_or(22);
    let user = arg_user.or(v.user).unwrap_or_else(|| me.name.clone());
    let tokens = Tokens {
        me,
        hostname: &hostname,
        alias: &alias,
        user: &user,
        port,
    };
    let paths = |given: Option<Vec<String>>, default: &[&str]| -> Vec<PathBuf> {
        given
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
            .iter()
            .filter(|p| !p.eq_ignore_ascii_case("none"))
            .map(|p| PathBuf::from(tokens.expand(p)))
            .collect()
    };
    let identities = (!v.identity_files.is_empty()).then_some(v.identity_files);
    Ok(ResolvedHost {
        identity_files: paths(identities, DEFAULT_IDENTITIES),
        known_hosts_files: paths(v.user_known_hosts, DEFAULT_USER_KNOWN_HOSTS),
        global_known_hosts_files: paths(v.global_known_hosts, DEFAULT_GLOBAL_KNOWN_HOSTS),
        identities_only: v.identities_only.unwrap_or(false),
        strict: v.strict.unwrap_or(settings.strict_host_key_checking),
        hash_known_hosts: v.hash_known_hosts.unwrap_or(false),
        connect_timeout: v.connect_timeout.unwrap_or(settings.connect_timeout),
        keepalive: v.keepalive.unwrap_or(settings.keepalive),
        proxy: v.proxy.flatten(),
        alias,
        hostname,
        port,
        user,
    })
}

/// `[fd00::1]` → `fd00::1`: ssh takes IPv6 literals bare.
fn strip_brackets(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h)
}

/// The `%` tokens and `~` of IdentityFile and UserKnownHostsFile.
struct Tokens<'a> {
    me: &'a LocalUser,
    hostname: &'a str,
    alias: &'a str,
    user: &'a str,
    port: u16,
}

impl Tokens<'_> {
    fn expand(&self, s: &str) -> String {
        let home = self.me.home.to_string_lossy();
        let s = match s.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
            _ => s.to_string(),
        };
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('d') => out.push_str(&home),
                Some('u') => out.push_str(&self.me.name),
                Some('i') => out.push_str(&self.me.uid.to_string()),
                Some('h') => out.push_str(self.hostname),
                Some('n') => out.push_str(self.alias),
                Some('r') => out.push_str(self.user),
                Some('p') => out.push_str(&self.port.to_string()),
                Some(other) => {
                    log::debug!("ssh_config: %{other} in {s} is not expanded");
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

/// `*` and `?` wildcards over bytes.
fn wildcard_bytes(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A host pattern with `*` and `?`; host names compare case-insensitively.
pub fn wildcard(pattern: &str, host: &str) -> bool {
    wildcard_bytes(
        pattern.to_ascii_lowercase().as_bytes(),
        host.to_ascii_lowercase().as_bytes(),
    )
}

/// A list of patterns, some negated with `!`: true when a positive pattern
/// matches and no negated one does (a negated match vetoes the list).
pub fn pattern_list<'a>(patterns: impl IntoIterator<Item = &'a str>, host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) if wildcard(neg, host) => return false,
            Some(_) => {}
            None => matched |= wildcard(p, host),
        }
    }
    matched
}

mod parse;

#[cfg(test)]
mod tests;
