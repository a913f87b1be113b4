//! mv <hostA:pathA> <hostB:pathB> <vm_id> <ds_id>
//!
//! On shared storage nothing moves for migrate, stop or resume: every host
//! and the front-end see the same files. Per-disk lines are no-ops, and so
//! is a directory line whose two paths are equal. Only a change of system
//! datastore moves the VM directory, with `mv` on hostB, which must mount
//! both datastores. Re-running after it succeeded is a success.

use crate::command::{quote, Script};
use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, parent, Location};
use crate::tools;

use super::conf;

/// What `mv` does for a pair of locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A `.../disk.i` line: disks move with their directory.
    Disk,
    /// Same path on both sides: shared storage, nothing to move.
    SamePath,
    /// Another system datastore: move the directory on hostB.
    Move,
}

pub fn plan(a: &Location, b: &Location) -> Plan {
    if b.is_disk() || a.is_disk() {
        Plan::Disk
    } else if a.path == b.path {
        Plan::SamePath
    } else {
        Plan::Move
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let a = Location::parse(&inv.args[0])?;
    let b = Location::parse(&inv.args[1])?;
    let vm_id = conf::vm_id(&inv.args[2])?.to_string();
    match plan(&a, &b) {
        Plan::Disk => {
            log::debug!("{b} is a disk: it moves with the VM directory");
            return Ok(String::new());
        }
        Plan::SamePath => {
            log::info!("Not moving {a} to {b}: same path on shared storage");
            return Ok(String::new());
        }
        Plan::Move => {}
    }
    super::check_vm_dir(&a, &vm_id)?;
    super::check_vm_dir(&b, &vm_id)?;
    let mut ctx = conf::load(inv)?;
    let host = super::connect(&mut ctx, &b)?;
    let label = host.label();
    log::info!("Moving {} to {} on {label}", a.path, b.path);
    let what = format!(
        "Error moving VM files to another system datastore: {} to {} on {label} (both datastores must be mounted on {label})",
        a.path, b.path
    );
    let out = super::run_script(host, script(&a.path, &b.path), &what)?.stdout_str();
    if out.contains("already-moved") {
        log::info!("{} is already at {}: nothing left to move", a.path, b.path);
    }
    Ok(String::new())
}

/// `mv -T` on hostB; when the source is gone and the destination exists, a
/// previous run already moved it.
pub fn script(from: &str, to: &str) -> Script {
    Script::new()
        .line(format!(
            "if [ ! -e {f} ] && [ -e {t} ]; then echo already-moved; exit 0; fi",
            f = quote(from),
            t = quote(to)
        ))
        .cmd(&tools::MKDIR.cmd().args(["-p", &parent(to)]))
        .cmd(&tools::MV.cmd().args(["-T", from, to]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap()
    }

    #[test]
    fn plans() {
        assert_eq!(
            plan(&loc("a:/ds/0/7/disk.1"), &loc("b:/ds/0/7/disk.1")),
            Plan::Disk
        );
        assert_eq!(plan(&loc("a:/ds/0/7"), &loc("b:/ds//0/7/")), Plan::SamePath);
        assert_eq!(plan(&loc("a:/ds/0/7"), &loc("b:/ds/100/7")), Plan::Move);
    }

    #[test]
    fn move_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("0/7");
        let b = dir.path().join("100/7");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("disk.0"), b"x").unwrap();
        let s = script(a.to_str().unwrap(), b.to_str().unwrap());
        let run = || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(s.clone().into_cmd().shell_line())
                .output()
                .unwrap()
        };
        assert!(run().status.success());
        assert!(b.join("disk.0").exists() && !a.exists());
        let again = run();
        assert!(again.status.success());
        assert_eq!(String::from_utf8_lossy(&again.stdout), "already-moved\n");
    }
}
