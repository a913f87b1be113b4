//! monitor_ds <ds_dir>   (runs ON a host, from /var/tmp/one/tm/<driver>/monitor_ds)
//!
//! Both TM drivers' host-side probe (called by the monitoring probe for
//! datastore directories whose `.monitor` names the driver). It reports, for every
//! numeric VM directory with disks, one line
//! `VM = [ ID = <vid>, MONITOR = "<base64>"]` (the reference's spacing); the base64 text holds
//! `DISK_SIZE = [ ID=i, SIZE=<MB>]` and `SNAPSHOT_SIZE = [ ID=s, DISK_ID=i,
//! SIZE=<MB>]` lines. Sizes are allocated MB following symlinks, rounded
//! up (`du -mL`), and every snapshot id counts, not only single digits.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine;

use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::expect_args;

const MIB: u64 = 1 << 20;

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 1, 1)?;
    let dir = Path::new(&inv.args[0]);
    if !dir.is_dir() {
        return Err(Error::failed(format!(
            "{} is not a directory on this host: check the system datastore path",
            dir.display()
        )));
    }
    Ok(report(dir))
}

/// The `VM = [...]` lines for every VM directory of `ds_dir` (empty when
/// the directory cannot be read, like the reference).
pub(crate) fn report(ds_dir: &Path) -> String {
    let mut out = String::new();
    for (vm_id, dir) in numbered(ds_dir, "") {
        let text = vm_text(&dir);
        if text.is_empty() {
            continue;
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        out.push_str(&format!("VM = [ ID = {vm_id}, MONITOR = \"{b64}\"]\n"));
    }
    out
}

/// The decoded MONITOR text of one VM directory (empty without disks).
pub(crate) fn vm_text(vm_dir: &Path) -> String {
    let mut lines = Vec::new();
    for (disk_id, disk) in numbered(vm_dir, "disk.") {
        let Some(size) = du_mb(&disk) else { continue };
        lines.push(format!("DISK_SIZE = [ ID={disk_id}, SIZE={size}]"));
        let snaps = vm_dir.join(format!("disk.{disk_id}.snap"));
        for (snap_id, snap) in numbered(&snaps, "") {
            if let Some(size) = du_mb(&snap) {
                lines.push(format!(
                    "SNAPSHOT_SIZE = [ ID={snap_id}, DISK_ID={disk_id}, SIZE={size}]"
                ));
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    lines.join("\n") + "\n"
}

/// Entries of `dir` named `<prefix><number>`, by number.
fn numbered(dir: &Path, prefix: &str) -> Vec<(u64, std::path::PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, std::path::PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(prefix)?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((n.parse().ok()?, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Allocated size in MB, rounded up, following symlinks (`du -mL`); `None`
/// for a dangling link.
fn du_mb(path: &Path) -> Option<u64> {
    let bytes = allocated(path, true)?;
    Some(bytes.div_ceil(MIB))
}

fn allocated(path: &Path, follow: bool) -> Option<u64> {
    let md = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    }
    .ok()?;
    let mut total = md.blocks() * 512;
    if md.is_dir() {
        for e in fs::read_dir(path).ok()?.flatten() {
            // A link to a directory (a snap dir's `x.snap -> .` self-link)
            // would count a tree twice, or for ever.
            if e.file_type().is_ok_and(|t| t.is_symlink()) && e.path().is_dir() {
                continue;
            }
            total += allocated(&e.path(), true).unwrap_or(0);
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(p: &Path, mib: usize) {
        fs::write(p, vec![1u8; mib << 20]).unwrap();
    }

    #[test]
    fn reports_disks_and_every_snapshot() {
        let d = tempfile::tempdir().unwrap();
        let vm = d.path().join("42");
        fs::create_dir_all(vm.join("disk.0.snap")).unwrap();
        data(&vm.join("disk.0"), 2);
        data(&vm.join("disk.0.snap/3"), 1);
        data(&vm.join("disk.0.snap/12"), 1);
        fs::write(vm.join("disk.0.snap/.4.part"), b"x").unwrap();
        let f = fs::File::create(vm.join("disk.1")).unwrap();
        f.set_len(1 << 30).unwrap();
        std::os::unix::fs::symlink("disk.0", vm.join("disk.2")).unwrap();
        std::os::unix::fs::symlink("nowhere", vm.join("disk.3")).unwrap();
        fs::create_dir_all(d.path().join("43")).unwrap();
        fs::create_dir_all(d.path().join(".42.part/42")).unwrap();
        let text = vm_text(&vm);
        assert_eq!(
            text,
            "DISK_SIZE = [ ID=0, SIZE=2]\n\
             SNAPSHOT_SIZE = [ ID=3, DISK_ID=0, SIZE=1]\n\
             SNAPSHOT_SIZE = [ ID=12, DISK_ID=0, SIZE=1]\n\
             DISK_SIZE = [ ID=1, SIZE=0]\n\
             DISK_SIZE = [ ID=2, SIZE=2]\n"
        );
        let r = report(d.path());
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        assert_eq!(r, format!("VM = [ ID = 42, MONITOR = \"{b64}\"]\n"));
        assert_eq!(report(&d.path().join("missing")), "");
    }

    #[test]
    fn a_directory_disk_with_a_self_link_is_counted_once() {
        let d = tempfile::tempdir().unwrap();
        let disk = d.path().join("7/disk.0");
        fs::create_dir_all(&disk).unwrap();
        data(&disk.join("f"), 1);
        std::os::unix::fs::symlink(".", disk.join("disk.0.snap")).unwrap();
        assert_eq!(
            vm_text(&d.path().join("7")),
            "DISK_SIZE = [ ID=0, SIZE=2]\n"
        );
    }
}
