//! oned's log and error protocol, in one place.
//!
//! stdout carries the result only. stderr carries log lines
//! `INFO: <action>: msg`, `ERROR: <action>: msg`, `DEBUG: <action>: msg`
//! (oned sends them to its log), and, on failure, exactly one plain line:
//! the reason oned stores as the FAILURE message. stderr is capped well under
//! the 64 KiB that once hung oned's Ruby helpers, and no exit code is 42
//! (that one tells oned to re-sync the remotes).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{one_line, Error};

/// Total bytes this process may write to stderr.
pub const STDERR_CAP: usize = 16 * 1024;
/// Longest failure line; oned keeps 100 characters in the VM template anyway.
const REASON_CAP: usize = 1000;

static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Writes to stderr until the cap, then drops lines, saying so once.
fn emit(line: &str) {
    let len = line.len() + 1;
    let before = WRITTEN.fetch_add(len, Ordering::SeqCst);
    let mut err = std::io::stderr().lock();
    if before + len <= STDERR_CAP {
        let _ = writeln!(err, "{line}");
    } else if before <= STDERR_CAP {
        WRITTEN.store(STDERR_CAP + 1, Ordering::SeqCst);
        let _ = writeln!(
            err,
            "INFO: stderr is capped at {STDERR_CAP} bytes; further log lines dropped"
        );
    }
}

/// The protocol's name for a log level.
fn severity(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn | log::Level::Info => "INFO",
        log::Level::Debug | log::Level::Trace => "DEBUG",
    }
}

/// stderr through the cap, one line at a time (env_logger's pipe target).
struct CappedStderr;

impl Write for CappedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for line in String::from_utf8_lossy(buf).lines() {
            emit(line);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the logger with oned's line format. Verbosity follows
/// `ONE_STORAGE_LOG`, then `RUST_LOG` (`debug`, `one_storage=debug`, ...),
/// default `info`.
pub fn init_logging(action: &str) {
    let spec = std::env::var("ONE_STORAGE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    let action = action.to_string();
    let _ = env_logger::Builder::new()
        .parse_filters(&spec)
        .target(env_logger::Target::Pipe(Box::new(CappedStderr)))
        .format(move |buf, record| {
            let warn = if record.level() == log::Level::Warn {
                "warning: "
            } else {
                ""
            };
            // One line per record: a continuation line would leak into
            // oned's FAILURE text.
            let msg = one_line(&record.args().to_string());
            writeln!(buf, "{}: {}: {warn}{msg}", severity(record.level()), action)
        })
        .try_init();
}

/// Writes the failure to stderr the way oned reads it and returns the exit
/// code: evidence as `ERROR:` lines, then the reason as the one plain line.
pub fn report_failure(action: &str, err: &Error) -> i32 {
    if let Some(cmd) = err.command_failure() {
        emit(&format!(
            "ERROR: {action}: command failed{}: {}",
            cmd.where_(),
            one_line(&cmd.command)
        ));
        if !cmd.stderr.is_empty() {
            emit(&format!(
                "ERROR: {action}: {} with: {}",
                cmd.status,
                one_line(&cmd.stderr)
            ));
        }
    }
    if let Error::Rollback { rollback, .. } = err {
        emit(&format!(
            "ERROR: {action}: clean-up after the failure also failed: {}",
            rollback.summary()
        ));
    }
    let mut reason = err.summary();
    if reason.is_empty() {
        reason = format!("{action} failed");
    }
    // oned drops a FAILURE message that starts with '-'.
    if reason.starts_with('-') {
        reason.insert_str(0, "error: ");
    }
    if reason.len() > REASON_CAP {
        let mut cut = REASON_CAP;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push_str("...");
    }
    emit(&reason);
    exit_code(err)
}

/// 1 for every failure, 2 for usage errors. Never 42.
pub fn exit_code(err: &Error) -> i32 {
    match err {
        Error::Usage(_) => 2,
        _ => 1,
    }
}

/// Prints an action's result on stdout. Every action but the multi-line
/// monitors and export prints exactly one line; a second line would reach
/// oned as a malformed message.
pub fn print_result(out: &str, multi_line: bool) -> std::io::Result<()> {
    let mut so = std::io::stdout().lock();
    if out.is_empty() {
        return so.flush();
    }
    if multi_line {
        so.write_all(out.as_bytes())?;
        if !out.ends_with('\n') {
            so.write_all(b"\n")?;
        }
    } else {
        writeln!(so, "{}", out.lines().next().unwrap_or(""))?;
    }
    so.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_exits_2_and_nothing_exits_42() {
        assert_eq!(exit_code(&Error::Usage("x".into())), 2);
        assert_eq!(exit_code(&Error::failed("x")), 1);
        assert_eq!(exit_code(&Error::NotSupported("x".into())), 1);
    }

    #[test]
    fn severities_match_oned() {
        assert_eq!(severity(log::Level::Error), "ERROR");
        assert_eq!(severity(log::Level::Warn), "INFO");
        assert_eq!(severity(log::Level::Debug), "DEBUG");
    }
}
