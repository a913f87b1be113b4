//! Running child processes in tests, with loud failures.
//!
//! A test that runs a program and gets the wrong outcome panics with everything an
//! operator needs to see why: the command line (shell-escaped, so it can be pasted),
//! the working directory, the exit status with the signal named, stdout and stderr.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output};

/// Run `cmd` to completion with stdin closed and both outputs captured. No status
/// check; panics only when the program cannot be started at all.
pub fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot start `{}`: {e}", render(cmd)),
    }
}

/// Run `cmd`; panic with the full evidence unless it exits with status 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if !out.status.success() {
        panic!("{}", report(cmd, &out, "command failed"));
    }
    out
}

/// Run `cmd`; panic with the full evidence if it succeeds.
pub fn run_fail(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if out.status.success() {
        panic!(
            "{}",
            report(cmd, &out, "command succeeded but should have failed")
        );
    }
    out
}

/// `headline`, then the command, its directory, status and both output streams.
pub fn report(cmd: &Command, out: &Output, headline: &str) -> String {
    let cwd = match cmd.get_current_dir() {
        Some(d) => d.display().to_string(),
        None => match std::env::current_dir() {
            Ok(d) => format!("{} (inherited)", d.display()),
            Err(e) => format!("? ({e})"),
        },
    };
    format!(
        "{headline}\ncommand: {}\ncwd:     {cwd}\n{}",
        render(cmd),
        outcome(out)
    )
}

/// For an output whose command is not at hand (say, from `Lab::run_on`): panic with
/// `what`, the status and both streams unless it succeeded.
pub fn expect_ok(out: Output, what: &str) -> Output {
    if !out.status.success() {
        panic!("{what}: failed\n{}", outcome(&out));
    }
    out
}

/// Status, stdout and stderr.
pub fn outcome(out: &Output) -> String {
    format!(
        "status:  {}\n{}{}",
        describe(out.status),
        section("stdout", &out.stdout),
        section("stderr", &out.stderr),
    )
}

/// The command as a shell line: environment overrides, program, arguments.
pub fn render(cmd: &Command) -> String {
    let envs = cmd.get_envs().filter_map(|(k, v)| {
        let v = v?;
        Some(format!("{}={}", k.to_string_lossy(), quote(v)))
    });
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote);
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

/// Quote one word for a POSIX shell, only when needed.
pub fn quote(word: impl AsRef<OsStr>) -> String {
    let s = word.as_ref().to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// "exit status 3" or "killed by signal 9 (SIGKILL)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let sig = status.signal().unwrap_or(0);
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "?",
    };
    format!("killed by signal {sig} ({name})")
}

fn section(name: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.is_empty() {
        format!("{name}:  (empty)\n")
    } else {
        format!("--- {name} ---\n{text}\n--- end of {name} ---\n")
    }
}
