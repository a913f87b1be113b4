//! A command is a value: program, arguments, environment, working directory.
//!
//! Printed, it is shell-escaped so an operator can paste it. This module is the
//! one place where text is quoted for a shell: remote command lines and the
//! small host-side scripts are built from [`Cmd`] values and [`quote`], never
//! by interpolating values into shell text.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// One program invocation, runnable on any [`crate::transport::Host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    timeout: Option<Duration>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            timeout: None,
        }
    }

    /// A POSIX shell script run with `sh -c`. The script text must be built
    /// from constants and [`quote`]d values (see [`Script`]).
    pub fn shell(script: impl Into<String>) -> Cmd {
        Cmd::new("sh").arg("-c").arg(script)
    }

    pub fn arg(mut self, a: impl Into<String>) -> Cmd {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Cmd {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<String>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// A deadline for this command alone (the transport's default otherwise).
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = Some(t);
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }
    pub fn get_args(&self) -> &[String] {
        &self.args
    }
    pub fn get_env(&self) -> &[(String, String)] {
        &self.env
    }
    pub fn get_cwd(&self) -> Option<&str> {
        self.cwd.as_deref()
    }
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The command as one shell line: `cd DIR && K=V prog 'arg' ...`.
    /// This is what runs on a remote host, and what an operator pastes.
    pub fn shell_line(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.cwd {
            s.push_str("cd ");
            s.push_str(&quote(d));
            s.push_str(" && ");
        }
        for (k, v) in &self.env {
            s.push_str(k);
            s.push('=');
            s.push_str(&quote(v));
            s.push(' ');
        }
        s.push_str(&quote(&self.program));
        for a in &self.args {
            s.push(' ');
            s.push_str(&quote(a));
        }
        s
    }
}

/// What every remote command starts with: the sbin directories in PATH (as
/// the reference drivers add them; mkfs and friends live there) and the C
/// locale, so tool output reads the same on every host. Constant text.
const REMOTE_PRELUDE: &str = "export PATH=\"/usr/sbin:/sbin:$PATH\" LANG=C LC_ALL=C; ";

impl Cmd {
    /// The line an SSH transport hands to the remote user's shell: the
    /// [`shell_line`](Cmd::shell_line) behind a fixed environment prelude.
    /// A plain command replaces the shell (`exec`), so that how it ended,
    /// signals included, is what the server reports.
    pub fn remote_line(&self) -> String {
        let exec = if self.cwd.is_none() && self.env.is_empty() {
            "exec "
        } else {
            ""
        };
        format!("{REMOTE_PRELUDE}{exec}{}", self.shell_line())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shell_line())
    }
}

/// Quotes one word for a POSIX shell. Words made only of safe characters are
/// left bare so that printed commands stay readable.
pub fn quote(s: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return Cow::Borrowed(s);
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    Cow::Owned(q)
}

/// A small POSIX shell script assembled from commands. It runs with
/// `set -e` semantics; pipelines add `pipefail`-equivalent checks by
/// construction (see [`Script::pipe`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    lines: Vec<String>,
}

impl Script {
    pub fn new() -> Script {
        Script {
            lines: vec!["set -e".to_string()],
        }
    }

    /// Adds one command.
    pub fn cmd(mut self, c: &Cmd) -> Script {
        self.lines.push(c.shell_line());
        self
    }

    /// Adds shell text that contains no runtime values (a constant).
    pub fn raw(mut self, text: &'static str) -> Script {
        self.lines.push(text.to_string());
        self
    }

    /// Adds a line built by the caller from quoted values. Prefer `cmd`.
    pub fn line(mut self, text: impl Into<String>) -> Script {
        self.lines.push(text.into());
        self
    }

    /// A pipeline `a | b` whose every stage's status is checked: bash's
    /// `pipefail` is not POSIX, so the script runs under bash when it has one.
    pub fn pipe(mut self, stages: &[&Cmd]) -> Script {
        let line: Vec<String> = stages.iter().map(|c| c.shell_line()).collect();
        self.lines.push(line.join(" | "));
        self
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The script as a command: bash with pipefail (hosts have bash, as the
    /// reference drivers require).
    pub fn into_cmd(self) -> Cmd {
        Cmd::new("bash")
            .arg("-c")
            .arg(format!("set -o pipefail\n{}", self.text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_leaves_safe_words_bare() {
        assert_eq!(
            quote("/var/lib/one/datastores/1/abc"),
            "/var/lib/one/datastores/1/abc"
        );
        assert_eq!(quote("lab1:/x"), "lab1:/x");
    }

    #[test]
    fn quote_wraps_everything_else() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(touch /tmp/x);`id`"), "'$(touch /tmp/x);`id`'");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let nasty = [
            "a b",
            "it's",
            "$(echo pwned)",
            "x;y",
            "tab\there",
            "new\nline",
            "*",
            "-n",
        ];
        let c = Cmd::new("printf").arg("%s\\0").args(nasty);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.shell_line())
            .output()
            .unwrap();
        let got: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap()
            .split_terminator('\0')
            .collect();
        assert_eq!(got, nasty);
    }

    #[test]
    fn shell_line_has_cwd_and_env() {
        let c = Cmd::new("qemu-img")
            .arg("info")
            .arg("my disk")
            .cwd("/tmp/a b")
            .env("LANG", "C");
        assert_eq!(
            c.shell_line(),
            "cd '/tmp/a b' && LANG=C qemu-img info 'my disk'"
        );
    }

    #[test]
    fn remote_line_sets_path_and_locale_then_runs_the_command() {
        let c = Cmd::new("sh")
            .arg("-c")
            .arg("echo \"$LANG $LC_ALL\"; echo \"$PATH\"; echo \"$1\"")
            .arg("x")
            .arg("it's $(here)")
            .cwd("/");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.remote_line())
            .env("LANG", "fr_FR.UTF-8")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "C C");
        assert!(lines[1].starts_with("/usr/sbin:/sbin:"), "{text}");
        assert_eq!(lines[2], "it's $(here)");
    }

    #[test]
    fn script_pipes_fail_when_any_stage_fails() {
        let s = Script::new()
            .pipe(&[&Cmd::new("false"), &Cmd::new("cat")])
            .into_cmd();
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(s.shell_line())
            .status()
            .unwrap();
        assert!(!st.success());
    }
}
