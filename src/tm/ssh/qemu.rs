//! `qemu-img info --output=json` of several files on a host, in one command:
//! their format and the backing file each header names.
//!
//! `-U` (force-share) lets it read an image a running VM holds open; nothing
//! here writes. qemu-img does not open the backing file for `info`, so a
//! backing file missing on this host is reported, not an error.

use crate::command::{Cmd, Script};
use crate::error::{Error, Result};
use crate::tools;
use crate::transport::Host;

pub use crate::qemu::{info_cmd, ImageInfo as Info};

/// `qemu-img info` of every file in `paths` (absolute), one remote command.
pub fn infos(host: &mut Host, paths: &[String]) -> Result<Vec<Info>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut s = Script::new();
    for p in paths {
        s = s.cmd(&info_cmd(p)).raw("printf '\\0'");
    }
    let out = host.run(&s.into_cmd()).map_err(|e| {
        e.context(format!(
            "cannot read the image format of {} on {}",
            paths.join(", "),
            host.label()
        ))
    })?;
    let text = out.stdout_str();
    let docs: Vec<&str> = text.split('\0').filter(|d| !d.trim().is_empty()).collect();
    if docs.len() != paths.len() {
        return Err(Error::failed(format!(
            "qemu-img info on {} printed {} answers for {} files",
            host.label(),
            docs.len(),
            paths.len()
        )));
    }
    docs.iter()
        .zip(paths)
        .map(|(d, p)| {
            Info::from_json(d).ok_or_else(|| {
                Error::failed(format!(
                    "qemu-img info printed no format for {p} on {}",
                    host.label()
                ))
            })
        })
        .collect()
}

/// Splits QCOW2_OPTIONS (oned's tmrc, e.g. `-o compat=0.10`) into arguments.
pub fn qcow2_options(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `qemu-img convert` of `src` (a chain, or a symlink) into one standalone
/// file `dst` of `format`: zeroes stay holes.
pub fn flatten_cmd(src: &str, dst: &str, format: &str, qcow2_opts: &[String]) -> Cmd {
    let mut c = tools::QEMU_IMG
        .cmd()
        .args(["convert", "-q", "-U", "-O", format]);
    if format == "qcow2" {
        c = c.args(qcow2_opts.iter().cloned());
    }
    c.arg("--").arg(src).arg(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_format_and_backing_of_real_images() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("base");
        let top = d.path().join("top img");
        let mut h = Host::local();
        h.run(
            &Cmd::new("qemu-img")
                .args(["create", "-q", "-f", "raw"])
                .arg(base.to_str().unwrap())
                .arg("1M"),
        )
        .unwrap();
        h.run(
            &Cmd::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b", "base"])
                .arg(top.to_str().unwrap()),
        )
        .unwrap();
        let paths = vec![
            base.to_str().unwrap().to_string(),
            top.to_str().unwrap().to_string(),
        ];
        let i = infos(&mut h, &paths).unwrap();
        assert_eq!(i[0].format, "raw");
        assert_eq!(i[0].backing, None);
        assert_eq!(i[1].format, "qcow2");
        assert_eq!(i[1].virtual_size, 1 << 20);
        assert_eq!(i[1].backing.as_deref(), Some("base"));
        assert_eq!(i[1].backing_format.as_deref(), Some("raw"));
        let missing = vec![d.path().join("nope").to_str().unwrap().to_string()];
        assert!(infos(&mut h, &missing).is_err());
    }

    #[test]
    fn qcow2_options_apply_to_qcow2_outputs_only() {
        let o = qcow2_options(Some(" -o  compat=0.10 "));
        assert_eq!(o, vec!["-o", "compat=0.10"]);
        let c = flatten_cmd("/a", "/b", "qcow2", &o);
        assert_eq!(
            c.shell_line(),
            "qemu-img convert -q -U -O qcow2 -o compat=0.10 -- /a /b"
        );
        assert!(!flatten_cmd("/a", "/b", "raw", &o)
            .shell_line()
            .contains("compat"));
    }
}
