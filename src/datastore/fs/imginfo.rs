//! The one safety rule every new image must pass: it may only refer to files inside
//! its datastore (backing files, qcow2 external data files, vmdk extents).
//! The reference accepted a qcow2 overlay backed by any absolute path, so an
//! uploaded image could read another user's disk or a front-end file.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

pub use crate::qemu::{info_cmd, ImageInfo};

impl ImageInfo {
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
            ..Default::default()
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
}
