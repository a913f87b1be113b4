//! `one-storage install --remotes DIR`: the tree oned runs.
//!
//! ```text
//! DIR/bin/one-storage                      the binary (copied atomically)
//! DIR/datastore/fs/<action>   -> ../../bin/one-storage
//! DIR/tm/{shared,qcow2,ssh}/<action> -> ../../bin/one-storage
//! DIR/etc/datastore/fs/fs.conf, DIR/etc/tm/<driver>/<driver>.conf   (kept if present)
//! DIR/lib/one-storage/scripts_common.sh    log/error helpers for operators' hooks
//! ```
//! Running it again changes nothing that is already right, and never
//! overwrites a configuration file an operator edited.

use std::path::{Path, PathBuf};

use crate::dispatch::drivers;
use crate::error::{Context, Result};

pub const BIN: &str = "bin/one-storage";
pub const SCRIPTS_COMMON: &str = "lib/one-storage/scripts_common.sh";
const SCRIPTS_COMMON_TEXT: &str = include_str!("../scripts_common/scripts_common.sh");

/// Every symlink of the tree: (path relative to the remotes dir, link target).
pub fn links() -> Vec<(PathBuf, PathBuf)> {
    let mut v = Vec::new();
    for d in drivers() {
        for name in d.names {
            for a in d.actions {
                let rel = Path::new(d.kind.dir()).join(name).join(a.name);
                v.push((rel, PathBuf::from("../..").join(BIN)));
            }
        }
    }
    v
}

/// Every default configuration file: (path relative to the remotes dir, text).
pub fn conf_files() -> Vec<(PathBuf, &'static str)> {
    drivers()
        .iter()
        .map(|d| {
            let n = d.name();
            (
                Path::new("etc")
                    .join(d.kind.dir())
                    .join(n)
                    .join(format!("{n}.conf")),
                d.default_conf,
            )
        })
        .collect()
}

pub fn install(remotes: &Path, _called_as: &Path) -> Result<String> {
    let mut report = Vec::new();
    let exe =
        std::env::current_exe().context(|| "cannot find the running binary to install".into())?;
    let bin = remotes.join(BIN);
    if !same_file(&exe, &bin) {
        copy_atomic(&exe, &bin, 0o755)?;
        report.push(format!("installed {}", bin.display()));
    }
    for (rel, target) in links() {
        let path = remotes.join(&rel);
        if std::fs::read_link(&path).ok().as_deref() == Some(target.as_path()) {
            continue;
        }
        let dir = path.parent().expect("relative path has a parent");
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(
            ".{}.one-storage-tmp",
            rel.file_name().unwrap().to_string_lossy()
        ));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)
            .context(|| format!("cannot create {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).context(|| format!("cannot replace {}", path.display()))?;
        report.push(format!("linked {}", rel.display()));
    }
    for (rel, text) in conf_files() {
        let path = remotes.join(&rel);
        if path.exists() {
            continue;
        }
        std::fs::create_dir_all(path.parent().unwrap())
            .context(|| format!("cannot create {}", path.display()))?;
        std::fs::write(&path, text).context(|| format!("cannot write {}", path.display()))?;
        report.push(format!("wrote {}", rel.display()));
    }
    let sc = remotes.join(SCRIPTS_COMMON);
    if std::fs::read_to_string(&sc).ok().as_deref() != Some(SCRIPTS_COMMON_TEXT) {
        std::fs::create_dir_all(sc.parent().unwrap())
            .context(|| format!("cannot create {}", sc.display()))?;
        std::fs::write(&sc, SCRIPTS_COMMON_TEXT)
            .context(|| format!("cannot write {}", sc.display()))?;
        report.push(format!("wrote {SCRIPTS_COMMON}"));
    }
    if report.is_empty() {
        report.push(format!("{} is up to date", remotes.display()));
    }
    Ok(report.join("\n"))
}

/// True when `b` already holds the bytes of `a` (a re-install is a no-op).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    if ma.len() != mb.len() {
        return false;
    }
    matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
}

fn copy_atomic(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = to
        .parent()
        .expect("absolute or relative path with a parent");
    std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::copy(from, tmp.path())
        .context(|| format!("cannot copy {} to {}", from.display(), dir.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .context(|| format!("cannot chmod {}", tmp.path().display()))?;
    tmp.persist(to).map_err(|e| {
        crate::error::Error::io(
            format!("cannot move the binary to {}", to.display()),
            e.error,
        )
    })?;
    Ok(())
}
