//! The typed errors of one-storage.
//!
//! Everything below `main` returns [`Error`]. Each variant knows the one line an
//! operator reads in oned's log (`Display`), and may carry detail that goes to
//! an `ERROR:` log line (`detail`). Rendering happens once, in `protocol`.

use std::fmt;
use std::process::ExitStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A command that ran and failed, with the evidence to paste and re-run it.
#[derive(Debug, Clone)]
pub struct CommandFailure {
    /// The command, shell-escaped, as it could be pasted into a shell.
    pub command: String,
    /// `None` for the front-end, `Some(host)` when it ran over SSH.
    pub host: Option<String>,
    /// How it ended: `exit code 1`, `killed by signal 9 (SIGKILL)`, `timed out after 30 s`.
    pub status: String,
    /// The last lines of its stderr, trimmed.
    pub stderr: String,
}

impl CommandFailure {
    pub fn where_(&self) -> String {
        match &self.host {
            Some(h) => format!(" on {h}"),
            None => String::new(),
        }
    }
}

impl fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed{} ({})",
            self.command,
            self.where_(),
            self.status
        )?;
        if !self.stderr.is_empty() {
            write!(f, ": {}", one_line(&self.stderr))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong arguments on the command line: print the signature.
    #[error("{0}")]
    Usage(String),
    /// The action is not part of this driver.
    #[error("{0}: Operation not supported")]
    NotSupported(String),
    /// The action data (base64 XML dump, argv) is malformed or lacks a field.
    #[error("{0}")]
    Input(String),
    /// A configuration value is invalid; names the key and the fix.
    #[error("{0}")]
    Config(String),
    /// A failed operation: `message` is the operator's line, `cause` the evidence.
    #[error("{message}")]
    Failed {
        message: String,
        cause: Option<Box<Error>>,
    },
    /// A command that failed; shown with its evidence.
    #[error("{0}")]
    Command(Box<CommandFailure>),
    /// Connecting or authenticating to a host.
    #[error("{0}")]
    Ssh(String),
    /// A local I/O error with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The operation failed and so did the clean-up after it; both are reported.
    #[error("{cause} (and clean-up failed: {rollback})")]
    Rollback {
        cause: Box<Error>,
        rollback: Box<Error>,
    },
}

impl Error {
    /// An operator-facing failure with no further evidence.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed {
            message: message.into(),
            cause: None,
        }
    }

    /// Wrap `self` as the cause of a clearer, operator-facing message.
    pub fn context(self, message: impl Into<String>) -> Error {
        Error::Failed {
            message: message.into(),
            cause: Some(Box::new(self)),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The operator's line: the top message followed by the root cause, on one
    /// line, so that oned's FAILURE text says both what and why.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.to_string()];
        let mut cur = self;
        while let Error::Failed { cause: Some(c), .. } = cur {
            parts.push(c.to_string());
            cur = c;
        }
        one_line(&parts.join(": "))
    }

    /// The innermost failed command, if any (for the `ERROR:` evidence line).
    pub fn command_failure(&self) -> Option<&CommandFailure> {
        match self {
            Error::Command(c) => Some(c),
            Error::Failed { cause: Some(c), .. } => c.command_failure(),
            Error::Rollback { cause, .. } => cause.command_failure(),
            _ => None,
        }
    }
}

impl From<CommandFailure> for Error {
    fn from(c: CommandFailure) -> Error {
        Error::Command(Box::new(c))
    }
}

/// Adds operator-facing context to a `Result`.
pub trait Context<T> {
    fn context(self, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(message()))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(message(), e))
    }
}

/// Folds text onto one line: oned turns every non-log stderr line into part
/// of one FAILURE message, so a message must never span lines.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(line);
    }
    out
}

/// Describes how a process ended, naming the signal when there was one.
pub fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(sig) => format!("killed by signal {sig} ({})", signal_name(sig)),
        None => "unknown status".to_string(),
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_chains_causes_on_one_line() {
        let inner = Error::from(CommandFailure {
            command: "qemu-img info /x".into(),
            host: Some("lab1".into()),
            status: "exit code 1".into(),
            stderr: "qemu-img: Could not open '/x'\nNo such file\n".into(),
        });
        let e = inner.context("Error converting /x");
        let s = e.summary();
        assert!(!s.contains('\n'));
        assert_eq!(
            s,
            "Error converting /x: qemu-img info /x failed on lab1 (exit code 1): \
             qemu-img: Could not open '/x'; No such file"
        );
    }

    #[test]
    fn one_line_drops_blank_lines() {
        assert_eq!(one_line("a\n\n  b  \n"), "a; b");
    }
}
