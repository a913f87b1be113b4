//! The snapshot directory of an image, `<SOURCE>.snap/`, as the qcow2
//! (= shared) transfer manager lays it out:
//!
//! ```text
//! <SOURCE>.snap/0                    symlink to SOURCE, or a standalone file
//! <SOURCE>.snap/1 .. n               qcow2 overlays, k backed by "<name>.snap/<k-1>"
//! <SOURCE>.snap/<name>.snap -> .     self-link: relative backing names resolve
//! ```
//! The highest number is the active (writable) layer; the others are the
//! frozen snapshots. With other transfer managers, or raw images, the files
//! are full copies and SOURCE is the active data.

use std::path::Path;

use crate::datastore::fs::hostfs;
use crate::datastore::fs::qemu_info::backing_chain;
use crate::error::{Context, Result};
use crate::tools;
use crate::transport::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapDir {
    pub source: String,
    /// `<SOURCE>.snap`
    pub dir: String,
}

impl SnapDir {
    pub fn of(source: &str) -> SnapDir {
        SnapDir {
            source: source.to_string(),
            dir: format!("{source}.snap"),
        }
    }

    /// `<SOURCE>.snap/<id>`
    pub fn file(&self, id: u64) -> String {
        format!("{}/{id}", self.dir)
    }

    /// The self-link's name inside the directory: `<basename>.snap`.
    pub fn self_link(&self) -> String {
        let name = Path::new(&self.dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or_default()
    }

    /// The numeric entries (snapshot files), sorted.
    pub fn ids(&self, host: &mut Host) -> Result<Vec<u64>> {
        let ls = tools::LS.cmd().args(["-1", "-A", "--", &self.dir]);
        let out = host.run_stdout(&ls).context(|| {
            format!(
                "cannot list the snapshots in {} on {}",
                self.dir,
                host.label()
            )
        })?;
        let mut ids: Vec<u64> = out
            .lines()
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|l| l.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The active layer: the highest numbered file, if any.
    pub fn active(&self, host: &mut Host) -> Result<Option<u64>> {
        Ok(self.ids(host)?.last().copied())
    }

    /// True when file `id` is the active layer or one of the files the
    /// active layer reads through its backing chain (deleting it would
    /// break the image).
    pub fn in_active_chain(&self, host: &mut Host, id: u64, active: u64) -> Result<bool> {
        if id == active {
            return Ok(true);
        }
        let mut files = backing_chain(host, &self.file(active))?;
        files.push(self.file(id));
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let real = hostfs::canonical(host, &refs)?;
        let (chain, target) = real.split_at(real.len() - 1);
        Ok(chain.contains(&target[0]))
    }

    /// The backing name a new overlay in this directory gives for file `id`:
    /// relative through the self-link when it is in place (the layout keeps
    /// working when the datastore moves), else absolute.
    pub fn backing_name(&self, host: &mut Host, id: u64) -> Result<String> {
        let link = format!("{}/{}", self.dir, self.self_link());
        if hostfs::is_symlink(host, &link)? {
            let real = hostfs::canonical(host, &[&link, &self.dir])?;
            if real[0] == real[1] {
                return Ok(format!("{}/{id}", self.self_link()));
            }
        }
        Ok(self.file(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn qemu(args: &[&str]) {
        assert!(Command::new("qemu-img")
            .args(args)
            .status()
            .unwrap()
            .success());
    }

    #[test]
    fn ids_active_chain_and_backing_names() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("img");
        let src = src.to_str().unwrap();
        qemu(&["create", "-q", "-f", "qcow2", src, "1M"]);
        let sd = SnapDir::of(src);
        std::fs::create_dir(&sd.dir).unwrap();
        let mut h = Host::local();
        assert_eq!(sd.backing_name(&mut h, 1).unwrap(), sd.file(1));
        std::os::unix::fs::symlink(".", format!("{}/img.snap", sd.dir)).unwrap();
        std::os::unix::fs::symlink(src, sd.file(0)).unwrap();
        for k in 1..=3u64 {
            let b = format!("img.snap/{}", k - 1);
            qemu(&[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                &b,
                &sd.file(k),
            ]);
        }
        assert_eq!(sd.ids(&mut h).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(sd.active(&mut h).unwrap(), Some(3));
        assert_eq!(sd.backing_name(&mut h, 1).unwrap(), "img.snap/1");
        for k in 0..=3 {
            assert!(sd.in_active_chain(&mut h, k, 3).unwrap(), "{k}");
        }
        // A side branch: 4 backed by 1 is not in 3's chain, and 3 not in 4's.
        qemu(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            "img.snap/1",
            &sd.file(4),
        ]);
        assert!(!sd.in_active_chain(&mut h, 3, 4).unwrap());
        assert!(sd.in_active_chain(&mut h, 0, 4).unwrap());
    }
}
