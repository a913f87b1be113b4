//! What `qemu-img info --output=json` says about an image on a host: its
//! format, virtual size and backing file, or the files of its whole chain.
//!
//! `-U` (force-share) lets the probe read an image a running VM holds open;
//! nothing here writes.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::tools;
use crate::transport::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: String,
    pub virtual_size: u64,
    /// The backing file as qemu resolves it (`full-backing-filename`).
    pub backing: Option<String>,
}

impl ImageInfo {
    fn from_json(v: &Value) -> Option<ImageInfo> {
        Some(ImageInfo {
            format: v.get("format")?.as_str()?.to_string(),
            virtual_size: v.get("virtual-size")?.as_u64()?,
            backing: v
                .get("full-backing-filename")
                .or_else(|| v.get("backing-filename"))
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The format, size and backing file of `path` on `host`.
pub fn image_info(host: &mut Host, path: &str) -> Result<ImageInfo> {
    let v = info_json(host, path, false)?;
    ImageInfo::from_json(&v).ok_or_else(|| unexpected(host, path))
}

/// The files of `path`'s backing chain, `path` first, as qemu names them.
pub fn backing_chain(host: &mut Host, path: &str) -> Result<Vec<String>> {
    let v = info_json(host, path, true)?;
    let files: Option<Vec<String>> = v.as_array().map(|a| {
        a.iter()
            .filter_map(|i| i.get("filename")?.as_str().map(str::to_string))
            .collect()
    });
    match files {
        Some(f) if !f.is_empty() => Ok(f),
        _ => Err(unexpected(host, path)),
    }
}

fn info_json(host: &mut Host, path: &str, chain: bool) -> Result<Value> {
    let mut cmd = tools::QEMU_IMG.cmd().args(["info", "-U", "--output=json"]);
    if chain {
        cmd = cmd.arg("--backing-chain");
    }
    let out = host.run(&cmd.arg(path))?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::failed(format!(
            "qemu-img info printed no JSON for {path} on {} ({e})",
            host.label()
        ))
    })
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
        assert_eq!(i.backing.as_deref(), Some(base.to_str().unwrap()));
        let raw = image_info(&mut h, base.to_str().unwrap()).unwrap();
        assert_eq!((raw.format.as_str(), raw.backing), ("raw", None));
        let chain = backing_chain(&mut h, top.to_str().unwrap()).unwrap();
        assert_eq!(chain, vec![top.to_str().unwrap(), base.to_str().unwrap()]);
        let e = image_info(&mut h, "/nonexistent/x").unwrap_err();
        assert!(e.summary().contains("qemu-img info"), "{}", e.summary());
    }
}
