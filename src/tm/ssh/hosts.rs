//! The two ends of a copy: the route between them, and whether two
//! directories on two hosts are in fact the same storage.
//!
//! "Same storage" is decided the way the reference's `mv` does, by a random
//! file: created in one directory, looked for in the other. It covers the
//! same host under two names, NFS, and a front-end sharing the datastore
//! with a host. Nothing is ever removed on the strength of a guess: when the
//! probe cannot be made, the answer is "unknown" and callers keep the data.

use super::copy::Route;
use crate::command::{quote, Cmd, Script};
use crate::error::Result;
use crate::tm::ctx::TmCtx;
use crate::tools;
use crate::transport::Host;

/// The route from `a` to `b` (`None` = the front-end): relayed through this
/// process when one end is the front-end, pushed by `a` when both are hosts,
/// within one host when they are the same.
pub fn route<'a>(
    ctx: &'a mut TmCtx,
    a: &'a Option<String>,
    b: &'a Option<String>,
    ssh_options: &'a [String],
) -> Result<Route<'a>> {
    if a == b {
        return Ok(Route::Within(ctx.hosts.at(a.as_deref())?));
    }
    let (src, dst) = ctx.hosts.pair(a.as_deref(), b.as_deref())?;
    Ok(match b {
        Some(to) if a.is_some() => Route::Push {
            src,
            dst,
            to,
            ssh_options,
        },
        _ => Route::Relay { src, dst },
    })
}

/// Creates a probe file in `dir` on `host` (when `dir` exists there) and
/// returns its name.
pub fn probe_create(host: &mut Host, dir: &str) -> Result<Option<String>> {
    let mktemp = tools::MKTEMP
        .cmd()
        .arg("-p")
        .arg(dir)
        .arg(".one-storage-probe.XXXXXXXX");
    let script = Script::new()
        .line(format!("if [ -d {} ]; then {mktemp}; fi", quote(dir)))
        .into_cmd();
    let out = host.run(&script)?;
    let path = out.stdout_str().trim().to_string();
    Ok(path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string))
}

/// Whether `dir/name` exists on `host`.
pub fn probe_seen(host: &mut Host, dir: &str, name: &str) -> Result<bool> {
    let test = Cmd::new("test").arg("-e").arg(format!("{dir}/{name}"));
    let out = host.output(&test)?;
    match out.status {
        crate::transport::Status::Code(0) => Ok(true),
        crate::transport::Status::Code(1) => Ok(false),
        _ => Err(host.failure(&test, &out).into()),
    }
}

pub fn probe_remove(host: &mut Host, dir: &str, name: &str) -> Result<()> {
    host.run(
        &tools::RM
            .cmd()
            .args(["-f", "--"])
            .arg(format!("{dir}/{name}")),
    )
    .map(drop)
}

/// `Some(true)` when `a_dir` on `a` and `b_dir` on `b` are the same
/// directory; `None` when `a_dir` does not exist on `a` (no probe possible).
pub fn same_dir(a: &mut Host, a_dir: &str, b: &mut Host, b_dir: &str) -> Result<Option<bool>> {
    let Some(name) = probe_create(a, a_dir)? else {
        return Ok(None);
    };
    let seen = probe_seen(b, b_dir, &name);
    let removed = probe_remove(a, a_dir, &name);
    let seen = seen?;
    removed?;
    Ok(Some(seen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_tells_same_from_different_directories() {
        let d = tempfile::tempdir().unwrap();
        let (x, y) = (d.path().join("x"), d.path().join("y"));
        std::fs::create_dir(&x).unwrap();
        std::fs::create_dir(&y).unwrap();
        std::os::unix::fs::symlink(&x, d.path().join("x-too")).unwrap();
        let (mut a, mut b) = (Host::local(), Host::local());
        let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
        assert_eq!(
            same_dir(&mut a, &s(&x), &mut b, &s(&y)).unwrap(),
            Some(false)
        );
        let too = s(&d.path().join("x-too"));
        assert_eq!(same_dir(&mut a, &s(&x), &mut b, &too).unwrap(), Some(true));
        let none = s(&d.path().join("none"));
        assert_eq!(same_dir(&mut a, &none, &mut b, &s(&y)).unwrap(), None);
        assert_eq!(std::fs::read_dir(&x).unwrap().count(), 0, "probe removed");
    }
}
