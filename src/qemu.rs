//! What `qemu-img info --output=json` says about an image, parsed in one
//! place for every driver.
//!
//! qemu-img is authoritative and cheap (~5 ms). Only the top-level fields are
//! read for format and size: newer qemu also lists child nodes (`children`)
//! with sizes of their own. `-U` (force-share) lets the probe read an image a
//! running VM holds open; nothing here writes.

use serde_json::Value;

use crate::command::Cmd;
use crate::error::{Error, Result};
use crate::tools;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    /// `raw`, `qcow2`, `vmdk`, `luks`, ...
    pub format: String,
    pub virtual_size: u64,
    /// The path qemu-img was given (the image itself).
    pub filename: String,
    /// The backing file name as written in the image (relative or absolute).
    pub backing: Option<String>,
    /// The backing file as qemu resolves it.
    pub full_backing: Option<String>,
    pub backing_format: Option<String>,
    /// Every file the image refers to besides itself (backing files, qcow2
    /// external data files, vmdk extents), as qemu-img names them; sorted.
    pub references: Vec<String>,
}

/// `qemu-img info -U --output=json PATH`, runnable on any host.
pub fn info_cmd(path: &str) -> Cmd {
    tools::QEMU_IMG
        .cmd()
        .args(["info", "-U", "--output=json", "--", path])
}

/// The same for the whole backing chain (`--backing-chain`: a JSON array).
pub fn chain_cmd(path: &str) -> Cmd {
    tools::QEMU_IMG
        .cmd()
        .args(["info", "-U", "--output=json", "--backing-chain", "--", path])
}

impl ImageInfo {
    /// Parses qemu-img's report; the error says what it lacked.
    pub fn parse(json: &str) -> Result<ImageInfo> {
        let bad = |why: &str| Error::failed(format!("cannot read qemu-img's report: {why}"));
        let v: Value = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
        if v.get("format")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(bad("it names no format"));
        }
        ImageInfo::from_value(&v).ok_or_else(|| bad("it has no virtual-size"))
    }

    /// Parses qemu-img's report; `None` when it lacks a format or size.
    pub fn from_json(json: &str) -> Option<ImageInfo> {
        ImageInfo::from_value(&serde_json::from_str(json).ok()?)
    }

    fn from_value(v: &Value) -> Option<ImageInfo> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let filename = s("filename").unwrap_or_default();
        let mut references = Vec::new();
        for key in [
            "filename",
            "backing-filename",
            "full-backing-filename",
            "data-file",
        ] {
            strings_under(v, key, &mut references);
        }
        references.retain(|r| *r != filename);
        references.sort();
        references.dedup();
        Some(ImageInfo {
            format: s("format").filter(|f| !f.is_empty())?,
            virtual_size: v.get("virtual-size")?.as_u64()?,
            filename,
            backing: s("backing-filename"),
            full_backing: s("full-backing-filename"),
            backing_format: s("backing-filename-format"),
            references,
        })
    }

    /// The backing file, resolved when qemu could resolve it.
    pub fn backing_file(&self) -> Option<&str> {
        self.full_backing.as_deref().or(self.backing.as_deref())
    }

    /// The format oned is told: a LUKS volume is handed to VMs as raw.
    pub fn reported_format(&self) -> &str {
        if self.format == "luks" {
            "raw"
        } else {
            &self.format
        }
    }
}

/// Parses the `--backing-chain` report: the image first, then its backing files.
pub fn parse_chain(json: &str) -> Option<Vec<ImageInfo>> {
    let v: Value = serde_json::from_str(json).ok()?;
    v.as_array()?.iter().map(ImageInfo::from_value).collect()
}

/// Every string value under `key`, at any depth (vmdk extents and data files
/// sit inside `format-specific`).
fn strings_under(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(s) if k == key => out.push(s.to_string()),
                    _ => strings_under(v, key, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| strings_under(v, key, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_format_size_and_every_reference() {
        let j = r#"{"children":[{"name":"file","info":{"filename":"/ds/1/x","format":"file",
            "virtual-size":5}}],"virtual-size":10485760,"filename":"/ds/1/x","format":"qcow2",
            "format-specific":{"type":"qcow2","data":{"data-file":"/d/data"}},
            "full-backing-filename":"/b/base.raw","backing-filename":"base.raw",
            "backing-filename-format":"raw"}"#;
        let i = ImageInfo::parse(j).unwrap();
        assert_eq!(i.format, "qcow2");
        assert_eq!(i.virtual_size, 10485760);
        assert_eq!(i.backing.as_deref(), Some("base.raw"));
        assert_eq!(i.backing_file(), Some("/b/base.raw"));
        assert_eq!(i.backing_format.as_deref(), Some("raw"));
        assert_eq!(i.references, vec!["/b/base.raw", "/d/data", "base.raw"]);
    }

    #[test]
    fn incomplete_reports_say_what_is_missing() {
        assert!(ImageInfo::parse("{}")
            .unwrap_err()
            .to_string()
            .contains("no format"));
        let e = ImageInfo::parse(r#"{"format":"raw"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no virtual-size"), "{e}");
        assert!(ImageInfo::parse("not json").is_err());
        assert_eq!(ImageInfo::from_json("{}"), None);
    }

    #[test]
    fn luks_is_reported_as_raw() {
        let i = ImageInfo {
            format: "luks".into(),
            ..Default::default()
        };
        assert_eq!(i.reported_format(), "raw");
    }
}
