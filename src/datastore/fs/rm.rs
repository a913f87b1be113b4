//! rm <image_id>  (DS_DRIVER_ACTION_DATA on stdin): remove IMAGE/SOURCE,
//! its snapshots `SOURCE.snap` and its checksum cache `SOURCE.md5sum`;
//! prints nothing.
//!
//! Unlike the reference, an image that is already gone is a success (oned
//! can then drop it without `--force`), and SOURCE is checked on every host,
//! bridges included: its directory, symlinks resolved, must be BASE_PATH's.
//! So a datastore reached through a changed DATASTORE_LOCATION symlink still
//! works, and `..`, `/` or BASE_PATH itself are refused. `rm -rf` removes
//! symlinks, never what they point to.

use std::path::{Component, Path};

use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::hostfs;
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::transport::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmArgs {
    pub base: String,
    pub source: String,
}

impl RmArgs {
    pub fn from_ctx(ctx: &FsCtx) -> Result<RmArgs> {
        let source = ctx.image()?.get("SOURCE").unwrap_or("").to_string();
        plain_path("IMAGE/SOURCE", &source)?;
        Ok(RmArgs {
            base: ctx.base_path()?.to_string_lossy().into_owned(),
            source,
        })
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let args = RmArgs::from_ctx(&ctx)?;
    rm(&mut ctx, &args)?;
    Ok(String::new())
}

pub fn rm(ctx: &mut FsCtx, a: &RmArgs) -> Result<()> {
    let bridge = ctx.bridge(ctx.image_key())?;
    let host = ctx.host(bridge.as_deref())?;
    let src = a.source.as_str();
    check_inside(host, &a.base, src)?;
    let snap = format!("{src}.snap");
    let md5 = format!("{src}.md5sum");
    let present = hostfs::present(host, src)?;
    if present {
        log::info!(
            "Removing {} from the image repository",
            hostfs::at(bridge.as_deref(), src)
        );
    } else {
        log::info!(
            "{} is already gone; removing what is left of its snapshots and checksum",
            hostfs::at(bridge.as_deref(), src)
        );
    }
    hostfs::remove(host, &[src, &snap, &md5])
        .context(|| format!("Error deleting {}", hostfs::at(bridge.as_deref(), src)))
}

/// An absolute path with a file name and no `.`/`..` components or
/// trailing slash: what an image SOURCE looks like.
pub fn plain_path(what: &str, p: &str) -> Result<()> {
    let path = Path::new(p);
    let plain = path.is_absolute()
        && !p.ends_with('/')
        && !p.split('/').any(|c| c == "." || c == "..")
        && path.file_name().is_some()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !plain {
        return Err(Error::Input(format!(
            "{what} '{p}' is not an image path: expected an absolute path to a file in the datastore"
        )));
    }
    Ok(())
}

/// Refuses `src` unless its directory, canonical on `host`, is BASE_PATH's.
pub fn check_inside(host: &mut Host, base: &str, src: &str) -> Result<()> {
    let parent = Path::new(src)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let real = hostfs::canonical(host, &[base, &parent]).context(|| {
        format!(
            "cannot resolve {src} and BASE_PATH {base} on {}",
            host.label()
        )
    })?;
    if real[0] != real[1] {
        return Err(Error::Input(format!(
            "refusing to remove {src} on {}: it is not in the datastore directory {base} (its directory resolves to {}, BASE_PATH to {}); if the image really lives there, remove it by hand and run 'oneimage delete --force'",
            host.label(),
            real[1],
            real[0]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_paths_are_image_paths() {
        for ok in ["/ds/1/abc", "/var/lib/one/datastores/1/3f2a 9c"] {
            assert!(plain_path("S", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/",
            "abc",
            "/ds/1/",
            "/ds/1/..",
            "/ds/1/../../etc/passwd",
            "/ds/./1/x",
            "/ds/1/.",
        ] {
            assert!(plain_path("S", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_directory_must_resolve_to_base_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let base = real.to_str().unwrap();
        let via_link = format!("{}/link/img", dir.path().display());
        let mut h = Host::local();
        assert!(check_inside(&mut h, base, &via_link).is_ok());
        assert!(check_inside(&mut h, base, &format!("{base}/img")).is_ok());
        let e = check_inside(&mut h, base, &format!("{}/img", dir.path().display())).unwrap_err();
        assert!(e.to_string().contains("refusing to remove"), "{e}");
        assert!(check_inside(&mut h, base, base).is_err());
    }
}
