//! The datastore's files as seen from the host that holds them (the
//! front-end or a BRIDGE_LIST host): existence, canonical paths, fresh image
//! names, temporary names, atomic renames and clean-up after a failure.
//!
//! Everything here is a [`Cmd`] run on a [`Host`], so the same code serves
//! the front-end and a bridge. Paths are UTF-8 strings: they come from the
//! XML dump and go back into command lines.

use std::cell::RefCell;
use std::path::Path;

use crate::command::Cmd;
use crate::datastore::fs::ctx::new_image_path;
use crate::error::{Error, Result};
use crate::tools;
use crate::transport::{Host, Status};

/// `host:path` on a bridge, `path` on the front-end, for messages.
pub fn at(bridge: Option<&str>, path: &str) -> String {
    match bridge {
        Some(h) => format!("{h}:{path}"),
        None => path.to_string(),
    }
}

/// True when `path` exists on `host` (a symlink counts when its target does).
pub fn exists(host: &mut Host, path: &str) -> Result<bool> {
    probe(host, tools::TEST.cmd().args(["-e", path]))
}

/// True when `path` is a symlink on `host`, dangling or not.
pub fn is_symlink(host: &mut Host, path: &str) -> Result<bool> {
    probe(host, tools::TEST.cmd().args(["-L", path]))
}

/// True when anything is at `path`: a file, a directory or a symlink, even
/// dangling (one command: `test -e P -o -L P`; P is absolute, so never
/// mistaken for an operator).
pub fn present(host: &mut Host, path: &str) -> Result<bool> {
    probe(host, tools::TEST.cmd().args(["-e", path, "-o", "-L", path]))
}

fn probe(host: &mut Host, cmd: Cmd) -> Result<bool> {
    let out = host.output(&cmd)?;
    match out.status {
        Status::Code(0) => Ok(true),
        Status::Code(1) => Ok(false),
        _ => Err(host.failure(&cmd, &out).into()),
    }
}

/// The canonical form of each path (symlinks resolved, `..` folded), on
/// `host`. Missing trailing components are allowed (`realpath -m`).
pub fn canonical(host: &mut Host, paths: &[&str]) -> Result<Vec<String>> {
    let cmd = tools::REALPATH
        .cmd()
        .args(["-m", "-z", "--"])
        .args(paths.iter().copied());
    let out = host.run(&cmd)?;
    let text = out.stdout_str();
    let v: Vec<String> = text.split_terminator('\0').map(str::to_string).collect();
    if v.len() != paths.len() {
        return Err(Error::failed(format!(
            "{cmd} on {} printed {} paths for {} arguments",
            host.label(),
            v.len(),
            paths.len()
        )));
    }
    Ok(v)
}

/// `mkdir -p dir`, with a message that names the setting to check.
pub fn make_dir(host: &mut Host, dir: &str) -> Result<()> {
    let cmd = tools::MKDIR.cmd().args(["-p", "--", dir]);
    host.run(&cmd).map(drop).map_err(|e| {
        e.context(format!(
            "cannot create the datastore directory {dir} on {}: check DATASTORE/BASE_PATH and its permissions",
            host.label()
        ))
    })
}

/// A new image path `BASE_PATH/<md5>` that names no existing file on `host`.
pub fn fresh_image_path(host: &mut Host, base: &str, id: &str) -> Result<String> {
    let host = RefCell::new(host);
    let failed: RefCell<Option<Error>> = RefCell::new(None);
    let path = new_image_path(Path::new(base), id, |p| {
        match exists(&mut host.borrow_mut(), &p.to_string_lossy()) {
            Ok(e) => e,
            Err(e) => {
                failed.borrow_mut().get_or_insert(e);
                false
            }
        }
    });
    match failed.into_inner() {
        Some(e) => Err(e.context(format!("cannot look for a free image name in {base}"))),
        None => Ok(path.to_string_lossy().into_owned()),
    }
}

/// The temporary name a result is built under before its final rename: a
/// hidden file beside `dst`, unique to this process.
pub fn temp_name(dst: &str, tag: &str) -> String {
    let p = Path::new(dst);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let dir = p.parent().map(|d| d.to_string_lossy()).unwrap_or_default();
    format!(
        "{}/.{name}.{tag}-{}.one-storage-tmp",
        dir.trim_end_matches('/'),
        std::process::id()
    )
}

/// Renames `from` to `to` (atomic within one file system; replaces `to`,
/// never moves into it when it is a directory).
pub fn rename(host: &mut Host, from: &str, to: &str) -> Result<()> {
    host.run(&tools::MV.cmd().args(["-f", "-T", "--", from, to]))
        .map(drop)
}

/// Removes files and directories without following symlinks (`rm -rf`).
pub fn remove(host: &mut Host, paths: &[&str]) -> Result<()> {
    host.run(
        &tools::RM
            .cmd()
            .args(["-rf", "--"])
            .args(paths.iter().copied()),
    )
    .map(drop)
}

/// After `cause`, removes the temporaries; the error says if that failed too.
pub fn discard(host: &mut Host, temps: &[&str], cause: Error) -> Error {
    match remove(host, temps) {
        Ok(()) => cause,
        Err(rollback) => Error::Rollback {
            cause: Box::new(cause),
            rollback: Box::new(rollback),
        },
    }
}

/// Runs `build` and, when it fails, removes `temps` before returning its error.
pub fn or_discard<T>(
    host: &mut Host,
    temps: &[&str],
    build: impl FnOnce(&mut Host) -> Result<T>,
) -> Result<T> {
    match build(host) {
        Ok(v) => Ok(v),
        Err(e) => Err(discard(host, temps, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_siblings() {
        let t = temp_name("/ds/1/abc", "mkfs");
        assert!(t.starts_with("/ds/1/.abc.mkfs-"), "{t}");
        assert!(t.ends_with(".one-storage-tmp"), "{t}");
    }

    #[test]
    fn probes_and_canonical_paths_on_the_front_end() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let mut h = Host::local();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("self")).unwrap();
        assert!(exists(&mut h, &format!("{d}/f")).unwrap());
        assert!(!exists(&mut h, &format!("{d}/nope")).unwrap());
        assert!(is_symlink(&mut h, &format!("{d}/self")).unwrap());
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
        assert!(present(&mut h, &format!("{d}/dangling")).unwrap());
        assert!(present(&mut h, &format!("{d}/f")).unwrap());
        assert!(!present(&mut h, &format!("{d}/nope")).unwrap());
        let c = canonical(
            &mut h,
            &[&format!("{d}/self/self/f"), &format!("{d}/x/../f")],
        )
        .unwrap();
        let real = std::fs::canonicalize(dir.path().join("f")).unwrap();
        assert_eq!(c, vec![real.to_str().unwrap(); 2]);
    }

    #[test]
    fn or_discard_removes_temporaries_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("t");
        std::fs::write(&tmp, "partial").unwrap();
        let t = tmp.to_str().unwrap();
        let mut h = Host::local();
        let r: Result<()> = or_discard(&mut h, &[t], |_| Err(Error::failed("boom")));
        assert_eq!(r.unwrap_err().to_string(), "boom");
        assert!(!tmp.exists());
    }
}
