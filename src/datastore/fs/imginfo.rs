//! What `qemu-img info --output=json` says about an image, and the one
//! safety rule every new image must pass: it may only refer to files inside
//! its datastore (backing files, qcow2 external data files, vmdk extents).
//! The reference accepted a qcow2 overlay backed by any absolute path, so an
//! uploaded image could read another user's disk or a front-end file.

use std::path::{Component, Path, PathBuf};

use super::json::Json;
use crate::command::Cmd;
use crate::error::{Error, Result};
use crate::tools;

#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// `raw`, `qcow2`, `vmdk`, `luks`, ...
    pub format: String,
    pub virtual_size: u64,
    /// Every file the image refers to besides itself, as qemu-img names them.
    pub references: Vec<String>,
    /// The path qemu-img was given (the image itself).
    pub filename: String,
}

/// `qemu-img info --output=json PATH`, runnable on any host.
pub fn info_cmd(path: &Path) -> Cmd {
    tools::QEMU_IMG
        .cmd()
        .args(["info", "--output=json"])
        .arg(path.to_string_lossy())
}

impl ImageInfo {
    pub fn parse(json: &str) -> Result<ImageInfo> {
        let bad = |why: String| Error::failed(format!("cannot read qemu-img's report: {why}"));
        let j = Json::parse(json).map_err(bad)?;
        let format = j
            .get("format")
            .and_then(Json::as_str)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| bad("it names no format".into()))?
            .to_string();
        let virtual_size = j
            .get("virtual-size")
            .and_then(Json::as_u64)
            .ok_or_else(|| bad("it has no virtual-size".into()))?;
        let filename = j
            .get("filename")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let mut refs = Vec::new();
        for key in [
            "filename",
            "backing-filename",
            "full-backing-filename",
            "data-file",
        ] {
            j.strings_under(key, &mut refs);
        }
        refs.retain(|r| *r != filename);
        refs.sort();
        refs.dedup();
        Ok(ImageInfo {
            format,
            virtual_size,
            references: refs,
            filename,
        })
    }

    /// The format oned is told: a LUKS volume is handed to VMs as raw.
    pub fn reported_format(&self) -> &str {
        if self.format == "luks" {
            "raw"
        } else {
            &self.format
        }
    }

    /// Refuses an image that refers to a file outside `base` (resolved
    /// against the image's own directory, without following symlinks),
    /// or to anything that is not a plain path (`json:{...}`, `nbd://...`).
    pub fn check_references(&self, image: &Path, base: &Path, src: &str) -> Result<()> {
        let dir = image.parent().unwrap_or(Path::new("/"));
        for r in &self.references {
            let inside = !r.contains("://")
                && !r.starts_with("json:")
                && normalize(&dir.join(r)).is_some_and(|p| p.starts_with(base));
            if !inside {
                return Err(Error::failed(format!(
                    "Refusing image {src}: it is a {} image that refers to {r}, outside the datastore ({}); \
                     upload a standalone image (qemu-img convert -O {} IMAGE NEW flattens it)",
                    self.format,
                    base.display(),
                    self.reported_format(),
                )));
            }
        }
        Ok(())
    }
}

/// `a/./b/../c` → `a/c`, lexically; `None` when `..` climbs above the root.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(refs: &[&str]) -> ImageInfo {
        ImageInfo {
            format: "qcow2".into(),
            virtual_size: 1,
            references: refs.iter().map(|s| s.to_string()).collect(),
            filename: "/ds/1/x.part".into(),
        }
    }

    #[test]
    fn references_must_stay_in_the_datastore() {
        let img = Path::new("/ds/1/x.part");
        let base = Path::new("/ds/1");
        assert!(info(&[]).check_references(img, base, "s").is_ok());
        assert!(info(&["/ds/1/base"])
            .check_references(img, base, "s")
            .is_ok());
        assert!(info(&["base.snap/0"])
            .check_references(img, base, "s")
            .is_ok());
        for bad in [
            "/etc/shadow",
            "../2/base",
            "/ds/10/x",
            "nbd://h/x",
            "json:{\"file\":\"/etc\"}",
            "/ds/1/../../etc/passwd",
        ] {
            let e = info(&[bad]).check_references(img, base, "s").unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn parses_backing_and_data_file() {
        let j = r#"{"children":[{"name":"file","info":{"filename":"/ds/1/x","format":"file",
            "virtual-size":5}}],"virtual-size":10485760,"filename":"/ds/1/x","format":"qcow2",
            "format-specific":{"type":"qcow2","data":{"data-file":"/d/data"}},
            "full-backing-filename":"/b/base.raw","backing-filename":"/b/base.raw"}"#;
        let i = ImageInfo::parse(j).unwrap();
        assert_eq!(i.format, "qcow2");
        assert_eq!(i.virtual_size, 10485760);
        assert_eq!(i.references, vec!["/b/base.raw", "/d/data"]);
        assert!(ImageInfo::parse("{}").is_err());
    }
}
