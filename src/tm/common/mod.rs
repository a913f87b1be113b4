//! Actions both TM drivers share (the reference's `tm/common`): context,
//! delete, mkimage/mkswap and resize, plus the few helpers they have in
//! common: the trailing `<vm_id> <ds_id>`, the operator's error for a failed
//! host script, and temporary names beside a destination.

pub mod context;
pub mod delete;
pub mod mkimage;
pub mod resize;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::command::Cmd;
use crate::error::{Error, Result};
use crate::tm::args::{number, Location};
use crate::transport::{tail, Host, Output};

/// A VM or datastore id from argv, kept as the decimal text oned sent.
pub(crate) fn id(arg: &str, what: &str) -> Result<String> {
    number::<u64>(arg, what)?;
    Ok(arg.trim().to_string())
}

/// A size in MB from argv: a positive whole number whose size in bytes fits
/// in 64 bits.
pub(crate) fn size_mb(arg: &str) -> Result<u64> {
    match number::<u64>(arg, "size_mb")? {
        0 => Err(Error::Usage(format!(
            "size_mb '{arg}' must be at least 1 (MB)"
        ))),
        n if n > u64::MAX >> 20 => Err(Error::Usage(format!("size_mb '{arg}' is too large"))),
        n => Ok(n),
    }
}

/// Words that mark the line of a tool's stderr that says what went wrong.
const CAUSE_HINTS: &[&str] = &[
    "error",
    "invalid",
    "unrecognized",
    "not found",
    "no such",
    "cannot",
    "can't",
    "could not",
    "failed",
    "denied",
    "no space",
    "refused",
    "not supported",
    "read-only",
];

/// True when `text` contains `word` not glued to other letters
/// (`error:` counts, `errors_behavior` does not).
fn has_word(text: &str, word: &str) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !glued(text[..i].chars().next_back()) && !glued(text[i + word.len()..].chars().next())
    })
}

/// Checks a host script run with [`Host::output`] (whose whole stderr is at
/// hand: a tool's error line may precede a long usage text).
pub(crate) fn check_script(host: &Host, cmd: &Cmd, out: Output, message: &str) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    let mut failure = host.failure(cmd, &out);
    failure.stderr = tail(&out.stderr_str(), 40, 4000);
    Err(script_error(failure.into(), message))
}

/// The operator's error for a failed host script: the reason says what
/// failed and where (`message`, which names the host:path) and why (the stderr lines that name the cause); the script
/// and its stderr, which would drown the reason, go to `ERROR:` log lines,
/// the script ready to paste and re-run. Other errors (connecting, ...) get
/// `message` as context.
pub(crate) fn script_error(err: Error, message: &str) -> Error {
    match err {
        Error::Command(f) => {
            log::error!("command failed{}: {}", f.where_(), f.command);
            log::error!("{} with: {}", f.status, tail(&f.stderr, 12, 2000));
            let why = cause(&f.stderr);
            let why = if why.is_empty() {
                f.status.clone()
            } else {
                why
            };
            Error::failed(format!("{message}: {why}"))
        }
        other => other.context(message),
    }
}

/// The last (at most 3) stderr lines that look like an error, else the last 3 lines.
fn cause(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let hits: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let l = l.to_lowercase();
            CAUSE_HINTS.iter().any(|h| has_word(&l, h))
        })
        .collect();
    let pick = if hits.is_empty() { lines } else { hits };
    tail(&pick.join("\n"), 3, 600)
}

/// A hidden temporary name beside `loc`, unique to this process:
/// `<dir>/.<name>.<pid>.<nanos>.tmp`. Hidden so that monitoring, which counts
/// `disk.*`, never sees it.
pub(crate) fn temp_path(loc: &Location) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = loc.dir();
    let sep = if dir.ends_with('/') { "" } else { "/" };
    format!(
        "{dir}{sep}.{}.{}.{nanos}.tmp",
        loc.name(),
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_sizes() {
        assert_eq!(id(" 42", "vm_id").unwrap(), "42");
        assert!(id("4;2", "vm_id").is_err());
        assert!(id("-1", "vm_id").is_err());
        assert_eq!(size_mb("10").unwrap(), 10);
        assert!(size_mb("0").unwrap_err().to_string().contains("at least 1"));
        assert!(size_mb("1G").is_err());
        assert!(size_mb(&u64::MAX.to_string()).is_err());
        assert_eq!(
            size_mb(&(u64::MAX >> 20).to_string()).unwrap(),
            u64::MAX >> 20
        );
    }

    #[test]
    fn the_cause_is_the_error_line_not_the_usage_text() {
        let mke2fs = "mkfs.ext3: invalid option -- '-'\nUsage: mkfs.ext3 [-c|-l filename]\n\
                      \t[-e errors_behavior][-z undo_file]\n\
                      \t[-i bytes-per-inode] [-I inode-size]\n\t[-jnqvDFSV] device\n";
        assert_eq!(cause(mke2fs), "mkfs.ext3: invalid option -- '-'");
        let progress = "Formatting 'x', fmt=raw\nqemu-img: x: Could not create 'x': No such file\n";
        assert_eq!(
            cause(progress),
            "qemu-img: x: Could not create 'x': No such file"
        );
        assert_eq!(cause("a\nb\nc\nd\n"), "b\nc\nd");
        let e = script_error(
            crate::error::CommandFailure {
                command: "bash -c x".into(),
                host: Some("lab1".into()),
                status: "exit code 1".into(),
                stderr: String::new(),
            }
            .into(),
            "cannot make it",
        );
        assert_eq!(e.summary(), "cannot make it: exit code 1");
    }

    #[test]
    fn temp_paths_are_hidden_siblings() {
        let l = Location::parse("lab1:/ds/0/42/disk.1").unwrap();
        let t = temp_path(&l);
        assert!(t.starts_with("/ds/0/42/.disk.1."), "{t}");
        assert!(t.ends_with(".tmp"), "{t}");
    }

    /// The scripts are logged folded onto one line ("; " between lines) for
    /// the operator to paste: folded, each must still be valid bash.
    #[test]
    fn logged_scripts_stay_valid_on_one_line() {
        let loc = Location::parse("h:/ds/0/42/disk.1").unwrap();
        let mk = mkimage::MkImage {
            dst: loc.clone(),
            size_mb: 8,
            format: mkimage::Format::Qcow2,
            fs: Some("ext4".into()),
            fs_opts: vec!["-m".into(), "0".into()],
            qcow2_opts: vec![],
            preallocate: true,
        };
        for cmd in [
            delete::script(&loc.path),
            context::receive_script(&loc, "/ds/0/42/.t"),
            resize::info_script(&loc.path),
            mk.script("/ds/0/42/.t"),
        ] {
            let folded = crate::error::one_line(&cmd.get_args()[1]);
            let st = std::process::Command::new("bash")
                .args(["-n", "-c", &folded])
                .status()
                .unwrap();
            assert!(st.success(), "{folded}");
        }
    }
}
