//! The context's sources and how each lands in the staging directory.
//!
//! oned passes, before `<host:DST> <vm_id> <ds_id>`:
//! - a front-end path (`context.sh`, a `FILES` entry): copied under its
//!   basename; a directory recursively;
//! - `path:'name'` (a `FILES_DS` entry: image SOURCE, then the image name in
//!   literal single quotes) or `path:name`: copied under `name`, with one pair
//!   of surrounding single quotes removed and nothing else changed, so a name
//!   with spaces or inner quotes survives exactly (the reference's bash
//!   strips the quotes through a shell; its Ruby port keeps them, a bug);
//! - an `http://` or `https://` URL: downloaded under the last segment of its
//!   path (`index.html` when that is empty).
//!
//! A name must be a single file name (no `/`, not `.` or `..`). The source
//! path itself is followed when it is a link; links inside a directory are
//! copied as links, like `cp -R`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Whole-download deadline for a URL source.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts for transient download failures (connection, 5xx).
const DOWNLOAD_TRIES: u32 = 3;

/// One source of the context ISO and its file name in the ISO's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File { path: PathBuf, name: String },
    Url { url: String, name: String },
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::File { name, .. } | Source::Url { name, .. } => name,
        }
    }
}

pub fn parse_source(arg: &str) -> Result<Source> {
    if arg.starts_with("http://") || arg.starts_with("https://") {
        let path = arg.split(['?', '#']).next().unwrap_or(arg);
        let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
        let last = after_host.rsplit('/').next().unwrap_or("");
        let name = if last.is_empty() { "index.html" } else { last };
        check_name(name, arg)?;
        return Ok(Source::Url {
            url: arg.to_string(),
            name: name.to_string(),
        });
    }
    let (path, name) = match arg.split_once(':') {
        Some((p, n)) => {
            let unquoted = n
                .strip_prefix('\'')
                .and_then(|n| n.strip_suffix('\''))
                .unwrap_or(n);
            (p, unquoted.to_string())
        }
        None => {
            let base = Path::new(arg).file_name().map(|b| b.to_string_lossy());
            (arg, base.unwrap_or_default().into_owned())
        }
    };
    if !path.starts_with('/') {
        return Err(Error::Input(format!(
            "context file '{arg}' is not an absolute path on the front-end"
        )));
    }
    check_name(&name, arg)?;
    Ok(Source::File {
        path: PathBuf::from(path),
        name,
    })
}

fn check_name(name: &str, arg: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(Error::Input(format!(
            "context file '{arg}' would be named '{name}' in the ISO, which is not a file \
             name: give a name without '/' (FILES_DS entries are path:'name')"
        )));
    }
    Ok(())
}

/// Copies or downloads every source into `dir`. A later source with the
/// same name replaces an earlier one, as copying them in turn would.
pub fn stage(sources: &[Source], dir: &Path) -> Result<()> {
    for s in sources {
        let dst = dir.join(s.name());
        if fs::symlink_metadata(&dst).is_ok() {
            log::warn!(
                "two context files are named '{}': the last one is used",
                s.name()
            );
            let gone = fs::remove_dir_all(&dst).or_else(|_| fs::remove_file(&dst));
            gone.map_err(|e| Error::io(format!("cannot replace {}", dst.display()), e))?;
        }
        match s {
            Source::File { path, .. } => copy_in(path, &dst)?,
            Source::Url { url, .. } => download(url, &dst)?,
        }
    }
    Ok(())
}

fn copy_in(src: &Path, dst: &Path) -> Result<()> {
    let what = || format!("context file {}", src.display());
    let meta = fs::metadata(src).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::Input(format!(
            "{} does not exist on the front-end: check the VM's CONTEXT/FILES and FILES_DS",
            what()
        )),
        _ => Error::io(format!("cannot read {}", what()), e),
    })?;
    let copied = if meta.is_dir() {
        copy_tree(src, dst)
    } else if meta.is_file() {
        fs::copy(src, dst).map(drop)
    } else {
        return Err(Error::Input(format!(
            "{} is neither a regular file nor a directory",
            what()
        )));
    };
    copied.map_err(|e| Error::io(format!("cannot copy {}", what()), e))
}

/// `cp -R`: directories recursively, links as links, other special files skipped.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let t = entry.file_type()?;
        if t.is_dir() {
            copy_tree(&from, &to)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if t.is_file() {
            fs::copy(&from, &to)?;
        } else {
            log::warn!("context: skipping {}: not a regular file", from.display());
        }
    }
    Ok(())
}

fn download(url: &str, dst: &Path) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .build()
        .into();
    let mut why = String::new();
    for attempt in 1..=DOWNLOAD_TRIES {
        if attempt > 1 {
            log::info!("context: retrying {url} ({why})");
            std::thread::sleep(Duration::from_secs(1));
        }
        let resp = match agent.get(url).call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(code)) if code < 500 => {
                return Err(Error::failed(format!(
                    "cannot download context file {url}: HTTP status {code}"
                )))
            }
            Err(e) => {
                why = e.to_string();
                continue;
            }
        };
        let mut body = resp.into_body().into_reader();
        let written = fs::File::create(dst).and_then(|mut f| io::copy(&mut body, &mut f));
        match written {
            Ok(_) => return Ok(()),
            Err(e) => why = e.to_string(),
        }
    }
    Err(Error::failed(format!(
        "cannot download context file {url} ({DOWNLOAD_TRIES} tries): {why}"
    )))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
