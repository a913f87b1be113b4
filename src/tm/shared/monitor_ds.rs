//! monitor_ds <ds_dir>   (runs ON a host: /var/tmp/one/tm/shared/monitor_ds)
//!
//! Per-VM disk usage of a system datastore directory, one line per VM
//! directory that has disks:
//! `VM = [ ID = <vid>, MONITOR = "<base64>"]`, the base64 text holding
//! `DISK_SIZE = [ ID=<i>, SIZE=<MB>]` and
//! `SNAPSHOT_SIZE = [ ID=<s>, DISK_ID=<i>, SIZE=<MB>]` lines. Sizes are
//! allocated blocks in MB, rounded up, following links (`du -mL`). Unlike the
//! reference, every snapshot id is reported, not only single-digit ones.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine;

use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tm::args::expect_args;

const MB: u64 = 1024 * 1024;

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 1, 1)?;
    let dir = Path::new(&inv.args[0]);
    if !dir.is_dir() {
        return Err(Error::failed(format!(
            "{} is not a directory on this host: check the system datastore path",
            dir.display()
        )));
    }
    report(dir)
}

/// The monitor lines for every numeric VM directory of `dir`.
pub fn report(dir: &Path) -> Result<String> {
    let mut out = Vec::new();
    for vm in numeric_entries(dir, "")? {
        let vm_dir = dir.join(vm.to_string());
        if !vm_dir.is_dir() {
            continue;
        }
        let text = vm_monitor(&vm_dir)?;
        if text.is_empty() {
            continue;
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        out.push(format!("VM = [ ID = {vm}, MONITOR = \"{b64}\"]"));
    }
    Ok(out.join("\n"))
}

/// The decoded MONITOR text of one VM directory (empty: no disks).
pub fn vm_monitor(vm_dir: &Path) -> Result<String> {
    let mut lines = Vec::new();
    for disk in numeric_entries(vm_dir, "disk.")? {
        let path = vm_dir.join(format!("disk.{disk}"));
        let Ok(size) = du_mb(&path) else {
            continue;
        };
        lines.push(format!("DISK_SIZE = [ ID={disk}, SIZE={size}]"));
        let snap_dir = vm_dir.join(format!("disk.{disk}.snap"));
        if snap_dir.is_dir() {
            for snap in numeric_entries(&snap_dir, "")? {
                if let Ok(size) = du_mb(&snap_dir.join(snap.to_string())) {
                    lines.push(format!(
                        "SNAPSHOT_SIZE = [ ID={snap}, DISK_ID={disk}, SIZE={size}]"
                    ));
                }
            }
        }
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// The ids of the entries named `<prefix><digits>`, in numeric order.
fn numeric_entries(dir: &Path, prefix: &str) -> Result<Vec<u64>> {
    let rd = std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))?;
    let mut ids: Vec<u64> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let digits = name.strip_prefix(prefix)?;
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Allocated MB of `path` following links, rounded up like `du -mL`.
fn du_mb(path: &Path) -> std::io::Result<u64> {
    Ok(allocated(path)?.div_ceil(MB))
}

fn allocated(path: &Path) -> std::io::Result<u64> {
    let m = std::fs::metadata(path)?;
    let mut bytes = m.blocks() * 512;
    if m.is_dir() {
        for e in std::fs::read_dir(path)?.flatten() {
            // Links to directories (the snap dir's self-link) are not followed.
            if e.file_type().map(|t| t.is_symlink()).unwrap_or(false) && e.path().is_dir() {
                continue;
            }
            bytes += allocated(&e.path()).unwrap_or(0);
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    fn file_with(path: &Path, data_mb: u64, apparent_mb: u64) {
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(&vec![7u8; (data_mb * MB) as usize]).unwrap();
        f.seek(SeekFrom::Start(apparent_mb * MB)).unwrap();
        f.write_all(b"x").unwrap();
    }

    #[test]
    fn reports_disks_and_every_snapshot_id() {
        let ds = tempfile::tempdir().unwrap();
        let vm = ds.path().join("42");
        std::fs::create_dir_all(vm.join("disk.0.snap")).unwrap();
        file_with(&vm.join("disk.0.snap/0"), 2, 100);
        file_with(&vm.join("disk.0.snap/12"), 1, 100);
        std::os::unix::fs::symlink(".", vm.join("disk.0.snap/disk.0.snap")).unwrap();
        std::os::unix::fs::symlink("disk.0.snap/12", vm.join("disk.0")).unwrap();
        std::fs::write(vm.join("disk.1"), b"").unwrap();
        std::fs::write(vm.join("disk.1.iso"), b"junk").unwrap();
        std::fs::create_dir_all(ds.path().join("43")).unwrap();
        std::fs::create_dir_all(ds.path().join(".isofiles")).unwrap();
        let text = vm_monitor(&vm).unwrap();
        assert_eq!(
            text,
            "DISK_SIZE = [ ID=0, SIZE=2]\n\
             SNAPSHOT_SIZE = [ ID=0, DISK_ID=0, SIZE=3]\n\
             SNAPSHOT_SIZE = [ ID=12, DISK_ID=0, SIZE=2]\n\
             DISK_SIZE = [ ID=1, SIZE=0]\n"
        );
        let r = report(ds.path()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&text);
        assert_eq!(r, format!("VM = [ ID = 42, MONITOR = \"{b64}\"]"));
    }
}
