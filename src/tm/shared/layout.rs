//! The qcow2 directory layout on shared storage, and the small script
//! fragments every action uses to change it safely.
//!
//! A cloned qcow2 disk (spec §13.2):
//! ```text
//! sysdir/disk.i                  -> disk.i.snap/<active>      (relative link)
//! sysdir/disk.i.snap/disk.i.snap -> .                         (self-link)
//! sysdir/disk.i.snap/0           qcow2 over the ABSOLUTE image path (or standalone)
//! sysdir/disk.i.snap/k           qcow2 over `disk.i.snap/<k-1>` (relative)
//! ```
//! A persistent qcow2 image (§13.3) keeps its snapshots beside it,
//! `<img>.snap/{<img>.snap -> ., 0 -> <img>, N, k.current}`, and
//! `sysdir/disk.i` is an absolute link to `<img>.snap/<active>`.
//!
//! Temporary names start with a dot (`.disk.0.snap.one-storage-tmp`): no
//! reader of the layout (monitor_ds, snapshot scans, globbing `*`) sees them,
//! and a re-run removes them first.

use crate::command::{quote, Cmd, Script};
use crate::tm::args::{normalise, parent};
use crate::tools;

/// `<base>.snap`
pub fn snap_dir(base: &str) -> String {
    format!("{base}.snap")
}

/// The last component of a normalised path.
pub fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `<base>.snap/<name>.snap`, the self-link that makes relative backing
/// names `<name>.snap/N` resolve from inside the snap dir too.
pub fn self_link(base: &str) -> String {
    format!("{}/{}.snap", snap_dir(base), name(base))
}

/// A temporary name beside `path`, hidden from every reader of the layout.
pub fn tmp_path(path: &str) -> String {
    format!("{}/.{}.one-storage-tmp", parent(path), name(path))
}

/// `<DATASTORE_LOCATION>/<sys_ds>/.monitor` for a VM directory.
pub fn monitor_file(sysdir: &str) -> String {
    format!("{}/.monitor", parent(sysdir))
}

/// `dirname` applied `n` times.
fn up(path: &str, n: usize) -> String {
    (0..n).fold(path.to_string(), |p, _| parent(&p))
}

/// The image path as the host sees it: the SOURCE re-rooted under the
/// datastore base of `host_disk` (`<base>/<sys_ds>/<vid>/disk.i`). The
/// reference does this so that a front-end and hosts may mount the
/// datastores under different DATASTORE_LOCATIONs; usually it returns
/// SOURCE with its slashes normalised.
pub fn reroot(source: &str, host_disk: &str) -> String {
    let source = normalise(source);
    let host_base = up(&normalise(host_disk), 3);
    let src_base = up(&source, 2);
    match source.strip_prefix(&src_base) {
        Some(rest) if src_base != "/" => normalise(&format!("{host_base}/{rest}")),
        _ => source,
    }
}

/// Points `link` at `target` atomically: a new link under a temporary name,
/// renamed over the old one (`mv -T`), so readers never see it missing.
pub fn relink(s: Script, target: &str, link: &str) -> Script {
    let tmp = tmp_path(link);
    s.cmd(&tools::RM.cmd().args(["-f", &tmp]))
        .cmd(&tools::LN.cmd().args(["-s", target, &tmp]))
        .cmd(&tools::MV.cmd().args(["-Tf", &tmp, link]))
}

/// Creates `<base>.snap` and its self-link when missing.
pub fn ensure_snap_dir(s: Script, base: &str) -> Script {
    let link = self_link(base);
    s.cmd(&tools::MKDIR.cmd().args(["-p", &snap_dir(base)]))
        .line(format!(
            "[ -L {l} ] || {}",
            tools::LN.cmd().args(["-s", ".", &link]).shell_line(),
            l = quote(&link)
        ))
}

/// `qemu-img create -f qcow2 -o backing_fmt=<fmt> -b <backing> <options> <file>`
pub fn qcow2_overlay(backing: &str, backing_fmt: &str, options: &[String], file: &str) -> Cmd {
    tools::QEMU_IMG
        .cmd()
        .args(["create", "-q", "-f", "qcow2", "-o"])
        .arg(format!("backing_fmt={backing_fmt}"))
        .args(["-b", backing])
        .args(options.iter().cloned())
        .arg(file)
}

/// `qemu-img resize [--preallocation=falloc] <file> <size>M`
pub fn resize(file: &str, size_mb: u64, sparse: bool) -> Cmd {
    let mut c = tools::QEMU_IMG.cmd().arg("resize").arg("-q");
    if !sparse {
        c = c.arg("--preallocation=falloc");
    }
    c.arg(file).arg(format!("{size_mb}M"))
}

/// A sparse full copy of `src` to `dst`; with `sparse == false` every block
/// of `dst` is then allocated (fallocate keeps the data, fills the holes).
pub fn copy_file(s: Script, src: &str, dst: &str, sparse: bool) -> Script {
    let s = s.cmd(&tools::CP.cmd().args(["--sparse=always", src, dst]));
    if sparse {
        return s;
    }
    s.line(format!(
        "{} --length \"$(stat -c %s -- {d})\" -- {d}",
        quote(tools::FALLOCATE.name),
        d = quote(dst)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_layout() {
        assert_eq!(snap_dir("/ds/0/7/disk.1"), "/ds/0/7/disk.1.snap");
        assert_eq!(
            self_link("/ds/0/7/disk.1"),
            "/ds/0/7/disk.1.snap/disk.1.snap"
        );
        assert_eq!(
            tmp_path("/ds/0/7/disk.1.snap"),
            "/ds/0/7/.disk.1.snap.one-storage-tmp"
        );
        assert_eq!(monitor_file("/ds/0/7"), "/ds/0/.monitor");
    }

    #[test]
    fn reroot_maps_the_source_under_the_hosts_base() {
        assert_eq!(
            reroot(
                "/var/lib/one//datastores/1/abc",
                "/var/lib/one//datastores/0/7/disk.0"
            ),
            "/var/lib/one/datastores/1/abc"
        );
        assert_eq!(
            reroot("/fe/ds/1/abc", "/host/ds/0/7/disk.0"),
            "/host/ds/1/abc"
        );
        // Too short to have a datastore base: left as it is.
        assert_eq!(reroot("/abc", "/ds/0/7/disk.0"), "/abc");
    }

    #[test]
    fn relink_replaces_a_link_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("disk.0");
        std::os::unix::fs::symlink("old", &link).unwrap();
        let s = relink(Script::new(), "disk.0.snap/3", link.to_str().unwrap());
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(s.into_cmd().shell_line())
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            std::fs::read_link(&link).unwrap().to_str(),
            Some("disk.0.snap/3")
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
