//! Read-only looks at a host before an action changes anything: what
//! `qemu-img info --output=json` says about an image, what a snap dir holds
//! (every file's backing file, the `.current` indirections) and where a
//! link points. Each is one command on the action's one connection; `-U`
//! lets them read images a running VM holds open.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::command::{quote, Cmd, Script};
use crate::error::{Error, Result};
use crate::tools;
use crate::transport::Host;

pub use crate::qemu::ImageInfo;

/// `qemu-img info` of `path` on `host`; a missing or unreadable image is an
/// error naming the host and the path.
pub fn image_info(host: &mut Host, path: &str, timeout: Duration) -> Result<ImageInfo> {
    let cmd = crate::qemu::info_cmd(path).timeout(timeout);
    let what = format!(
        "cannot read the image {path} on {}: is the datastore mounted there?",
        host.label()
    );
    let out = super::run_cmd(host, &cmd, &what)?;
    ImageInfo::from_json(&out.stdout_str()).ok_or_else(|| {
        Error::failed(format!(
            "{cmd} on {} printed no image format and size",
            host.label()
        ))
    })
}

/// Where the link `path` points (`readlink`), `None` when it is not a link
/// or does not exist.
pub fn read_link(host: &mut Host, path: &str, timeout: Duration) -> Result<Option<String>> {
    let s = Script::new().line(format!(
        "if [ -L {p} ]; then readlink -- {p}; fi",
        p = quote(path)
    ));
    let what = format!("cannot read the link {path} on {}", host.label());
    let out = super::run_cmd(host, &s.into_cmd().timeout(timeout), &what)?.stdout_str();
    Ok(Some(out.trim_end_matches('\n').to_string()).filter(|t| !t.is_empty()))
}

/// The names in `dir` on `host` (none when it does not exist).
pub fn list_dir(host: &mut Host, dir: &str, timeout: Duration) -> Result<Vec<String>> {
    let s = Script::new().line(format!(
        "if [ -d {d} ]; then ls -1A -- {d}; fi",
        d = quote(dir)
    ));
    let what = format!("cannot list {dir} on {}", host.label());
    let out = super::run_cmd(host, &s.into_cmd().timeout(timeout), &what)?.stdout_str();
    Ok(out.lines().map(str::to_string).collect())
}

/// The highest purely numeric name (`0`, `12`), as the reference's
/// `ls | grep '^[[:digit:]]*$' | sort -n | tail -n 1`.
pub fn max_numeric<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    names
        .into_iter()
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .max()
}

/// What a snap dir holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapDir {
    /// Every regular file (or link to one) by name, with its image info;
    /// `None` when qemu-img could not read it.
    pub files: BTreeMap<String, Option<ImageInfo>>,
    /// `<id>.current` files: id -> the path written inside.
    pub current: BTreeMap<String, String>,
}

/// Lists `dir` on `host` (empty when it does not exist).
pub fn scan_snap_dir(host: &mut Host, dir: &str, timeout: Duration) -> Result<SnapDir> {
    let info = tools::QEMU_IMG.cmd().args(["info", "-U", "--output=json"]);
    let s = Script::new()
        .line(format!("[ -d {d} ] || exit 0", d = quote(dir)))
        .cmd(&Cmd::new("cd").arg(dir))
        .raw("for f in *; do")
        .raw("  [ -f \"$f\" ] || continue")
        .raw("  case \"$f\" in")
        .raw("    *.current) printf 'current\\t%s\\t%s\\n' \"$f\" \"$(head -n 1 -- \"$f\")\" ;;")
        .line(format!(
            "    *) j=$({} \"./$f\" 2>/dev/null | tr -d '\\n') || j=''; printf 'image\\t%s\\t%s\\n' \"$f\" \"$j\" ;;",
            info.shell_line()
        ))
        .raw("  esac")
        .raw("done");
    let what = format!("cannot list {dir} on {}", host.label());
    let out = super::run_cmd(host, &s.into_cmd().timeout(timeout), &what)?.stdout_str();
    Ok(parse_scan(&out))
}

fn parse_scan(text: &str) -> SnapDir {
    let mut d = SnapDir::default();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        match (f.next(), f.next(), f.next()) {
            (Some("current"), Some(name), Some(path)) => {
                let id = name.trim_end_matches(".current").to_string();
                d.current.insert(id, path.trim().to_string());
            }
            (Some("image"), Some(name), Some(json)) => {
                d.files.insert(name.to_string(), ImageInfo::from_json(json));
            }
            _ => log::debug!("ignoring an unexpected snap dir line: {line}"),
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_numeric_ignores_other_names() {
        let names = ["abc.snap", "0", "10", "9", "3.current", ".x", "2a"];
        assert_eq!(max_numeric(names), Some(10));
        assert_eq!(max_numeric(["abc.snap"]), None);
    }

    #[test]
    fn parses_qemu_img_json() {
        let i = ImageInfo::from_json(
            r#"{"virtual-size": 1073741824, "filename": "1", "format": "qcow2",
                "backing-filename": "disk.0.snap/0", "backing-filename-format": "qcow2"}"#,
        )
        .unwrap();
        assert_eq!(i.format, "qcow2");
        assert_eq!(i.virtual_size, 1 << 30);
        assert_eq!(i.backing.as_deref(), Some("disk.0.snap/0"));
        assert!(ImageInfo::from_json("").is_none());
    }

    #[test]
    fn scans_a_real_snap_dir() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let q = |args: &[&str]| {
            assert!(std::process::Command::new("qemu-img")
                .args(args)
                .current_dir(d)
                .status()
                .unwrap()
                .success())
        };
        q(&["create", "-q", "-f", "qcow2", "0", "1M"]);
        std::os::unix::fs::symlink(".", d.join("x.snap")).unwrap();
        q(&[
            "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "x.snap/0", "1",
        ]);
        std::fs::write(d.join("3.current"), "/ds/x.snap/0\n").unwrap();
        std::fs::write(d.join("junk"), "not an image").unwrap();
        let mut h = Host::local();
        let s = scan_snap_dir(&mut h, d.to_str().unwrap(), Duration::from_secs(30)).unwrap();
        assert_eq!(s.current.get("3").map(String::as_str), Some("/ds/x.snap/0"));
        assert_eq!(
            s.files["1"].as_ref().unwrap().backing.as_deref(),
            Some("x.snap/0")
        );
        assert_eq!(s.files["0"].as_ref().unwrap().backing, None);
        // qemu-img reads any file as raw: a junk file is a raw image here.
        assert_eq!(s.files["junk"].as_ref().unwrap().format, "raw");
        assert!(!s.files.contains_key("x.snap"));
        let none = scan_snap_dir(&mut h, "/nonexistent/dir", Duration::from_secs(30)).unwrap();
        assert_eq!(none, SnapDir::default());
    }
}
