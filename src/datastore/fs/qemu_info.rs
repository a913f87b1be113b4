//! What `qemu-img info --output=json` says about an image on a host: its
//! format, virtual size and backing file, or the files of its whole chain.
//!
//! `-U` (force-share) lets the probe read an image a running VM holds open;
//! nothing here writes.

use crate::error::{Error, Result};
use crate::qemu;
pub use crate::qemu::ImageInfo;
use crate::transport::Host;

/// The format, size and backing file of `path` on `host`.
pub fn image_info(host: &mut Host, path: &str) -> Result<ImageInfo> {
    let out = host.run(&qemu::info_cmd(path))?;
    ImageInfo::from_json(&out.stdout_str()).ok_or_else(|| unexpected(host, path))
}

/// The files of `path`'s backing chain, `path` first, as qemu names them.
pub fn backing_chain(host: &mut Host, path: &str) -> Result<Vec<String>> {
    let out = host.run(&qemu::chain_cmd(path))?;
    match qemu::parse_chain(&out.stdout_str()) {
        Some(c) if !c.is_empty() => Ok(c.into_iter().map(|i| i.filename).collect()),
        _ => Err(unexpected(host, path)),
    }
}

fn unexpected(host: &Host, path: &str) -> Error {
    Error::failed(format!(
        "qemu-img info on {} gave no format or size for {path}",
        host.label()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn reads_format_size_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let top = dir.path().join("top");
        let ok = |args: &[&str]| {
            assert!(Command::new("qemu-img")
                .args(args)
                .status()
                .unwrap()
                .success())
        };
        ok(&["create", "-q", "-f", "raw", base.to_str().unwrap(), "3M"]);
        ok(&[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            "base",
            top.to_str().unwrap(),
        ]);
        let mut h = Host::local();
        let i = image_info(&mut h, top.to_str().unwrap()).unwrap();
        assert_eq!(i.format, "qcow2");
        assert_eq!(i.virtual_size, 3 << 20);
        assert_eq!(i.backing_file(), Some(base.to_str().unwrap()));
        let raw = image_info(&mut h, base.to_str().unwrap()).unwrap();
        assert_eq!((raw.format.as_str(), raw.backing), ("raw", None));
        let chain = backing_chain(&mut h, top.to_str().unwrap()).unwrap();
        assert_eq!(chain, vec![top.to_str().unwrap(), base.to_str().unwrap()]);
        let e = image_info(&mut h, "/nonexistent/x").unwrap_err();
        assert!(e.summary().contains("qemu-img info"), "{}", e.summary());
    }
}
