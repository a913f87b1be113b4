//! snap_create|snap_create_live|snap_delete|snap_revert <host:sysdir/disk.i> <snap_id> <vm_id> <ds_id>
//!
//! Snapshots of the ssh layout are full sparse copies, `disk.i.snap/<id>`.
//! Each is written under a temporary name and renamed into place, so a
//! snapshot (or a reverted disk) is never half-written under its real name.
//! Revert copies the snapshot beside `disk.i` and renames it over `disk.i`
//! (the reference removes `disk.i` first). Delete of a missing snapshot
//! succeeds. One command on the host per action (three for the live copy).

use super::live::LiveCopy;
use super::setup::{self, place};
use crate::command::{quote, Cmd, Script};
use crate::dispatch::Invocation;
use crate::error::{Context, Result};
use crate::tm::args::{expect_args, number, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

struct SnapArgs {
    disk: Location,
    id: u32,
    vm_id: String,
}

impl SnapArgs {
    fn parse(args: &[String]) -> Result<SnapArgs> {
        expect_args(args, 4, 4)?;
        let disk = Location::parse(&args[0])?;
        disk.require_host()?;
        let id = number(&args[1], "snap_id")?;
        let vm_id = number::<u64>(&args[2], "vm_id")?.to_string();
        number::<u64>(&args[3], "ds_id")?;
        Ok(SnapArgs { disk, id, vm_id })
    }

    fn snap_dir(&self) -> String {
        format!("{}.snap", self.disk.path)
    }

    fn snap(&self) -> String {
        format!("{}/{}", self.snap_dir(), self.id)
    }

    fn temp(&self) -> String {
        format!("{}/.{}.part", self.snap_dir(), self.id)
    }
}

fn cp(from: &str, to: &str) -> Cmd {
    tools::CP.cmd().args(["--sparse=always", "--", from, to])
}

fn mv(from: &str, to: &str) -> Cmd {
    tools::MV.cmd().args(["-T", "--", from, to])
}

/// `trap 'rm -f -- <file>' EXIT`: the temporary goes whatever happens.
fn remove_on_exit(file: &str) -> String {
    let rm = tools::RM.cmd().args(["-f", "--", file]);
    format!("trap {} EXIT", quote(&rm.shell_line()))
}

fn on_host(inv: &mut Invocation, what: &str, script: fn(&SnapArgs) -> Script) -> Result<String> {
    let a = SnapArgs::parse(&inv.args)?;
    let mut ctx = setup::load(inv)?;
    let p = place(&ctx, &a.disk);
    let host = ctx.hosts.at(p.as_deref())?;
    host.run(&script(&a).into_cmd()).context(|| {
        format!(
            "Error {what} snapshot {} of {} on {}",
            a.id,
            a.disk.path,
            host.label()
        )
    })?;
    Ok(String::new())
}

pub fn create(inv: &mut Invocation) -> Result<String> {
    on_host(inv, "creating", create_script)
}

pub fn revert(inv: &mut Invocation) -> Result<String> {
    on_host(inv, "reverting to", revert_script)
}

pub fn delete(inv: &mut Invocation) -> Result<String> {
    on_host(inv, "deleting", |a| {
        Script::new().cmd(&tools::RM.cmd().args(["-f", "--"]).arg(a.snap()))
    })
}

fn create_script(a: &SnapArgs) -> Script {
    Script::new()
        .cmd(&tools::MKDIR.cmd().args(["-p", "--"]).arg(a.snap_dir()))
        .line(remove_on_exit(&a.temp()))
        .cmd(&cp(&a.disk.path, &a.temp()))
        .cmd(&mv(&a.temp(), &a.snap()))
}

fn revert_script(a: &SnapArgs) -> Script {
    let temp = format!("{}/.{}.revert", a.disk.dir(), a.disk.name());
    let missing = format!(
        "if [ ! -e {s} ]; then echo {m} >&2; exit 1; fi",
        s = quote(&a.snap()),
        m = quote(&format!("the snapshot {} does not exist", a.snap()))
    );
    Script::new()
        .line(missing)
        .line(remove_on_exit(&temp))
        .cmd(&cp(&a.snap(), &temp))
        .cmd(&mv(&temp, &a.disk.path))
}

pub fn create_live(inv: &mut Invocation) -> Result<String> {
    let a = SnapArgs::parse(&inv.args)?;
    let mut ctx = setup::load(inv)?;
    let live = live_copy(&mut ctx, &a)?;
    let p = place(&ctx, &a.disk);
    let host = ctx.hosts.at(p.as_deref())?;
    let prepare = Script::new()
        .cmd(&tools::MKDIR.cmd().args(["-p", "--"]).arg(a.snap_dir()))
        .cmd(&tools::RM.cmd().args(["-f", "--"]).arg(a.temp()));
    let done = host
        .run(&prepare.into_cmd())
        .and_then(|_| host.run(&live.cmd()?))
        .and_then(|_| host.run(&mv(&a.temp(), &a.snap())));
    if let Err(e) = done {
        let _ = host.run(&tools::RM.cmd().args(["-f", "--"]).arg(a.temp()));
        return Err(e.context(format!(
            "Error creating live snapshot {} of {} on {}",
            a.id,
            a.disk.path,
            host.label()
        )));
    }
    Ok(String::new())
}

fn live_copy(ctx: &mut TmCtx, a: &SnapArgs) -> Result<LiveCopy> {
    let vm = ctx.vm(&a.vm_id)?;
    let target = a
        .disk
        .disk_id()
        .and_then(|i| vm.get(&format!("TEMPLATE/DISK[DISK_ID={i}]/TARGET")))
        .unwrap_or("")
        .to_string();
    Ok(LiveCopy {
        vm_mad: vm
            .get("HISTORY_RECORDS/HISTORY[last()]/VM_MAD")
            .unwrap_or("")
            .to_string(),
        deploy_id: vm.get("DEPLOY_ID").unwrap_or("").to_string(),
        libvirt_uri: ctx.conf.get_or("LIBVIRT_URI", "qemu:///system").to_string(),
        disk: if target.is_empty() {
            a.disk.path.clone()
        } else {
            target
        },
        source: a.disk.path.clone(),
        dest: a.temp(),
        freeze_timeout: ctx.conf.seconds("VIRSH_TIMEOUT", 60)?.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_use_a_temporary_and_rename() {
        let args: Vec<String> = ["lab1:/ds/0/7/disk.0", "3", "7", "1"]
            .map(String::from)
            .to_vec();
        let a = SnapArgs::parse(&args).unwrap();
        assert_eq!(a.snap(), "/ds/0/7/disk.0.snap/3");
        assert_eq!(a.temp(), "/ds/0/7/disk.0.snap/.3.part");
        assert_eq!(
            remove_on_exit("/a b"),
            "trap 'rm -f -- '\\''/a b'\\''' EXIT"
        );
        let bad: Vec<String> = ["lab1:/ds/0/7/disk.0", "-2", "7", "1"]
            .map(String::from)
            .to_vec();
        assert!(SnapArgs::parse(&bad).is_err());
    }

    #[test]
    fn create_and_revert_really_copy_data_locally() {
        let d = tempfile::tempdir().unwrap();
        let disk = d.path().join("disk.0");
        std::fs::write(&disk, b"one").unwrap();
        let args: Vec<String> = [&format!("localhost:{}", disk.display()), "0", "7", "1"]
            .map(|s| s.to_string())
            .to_vec();
        let a = SnapArgs::parse(&args).unwrap();
        let mut h = crate::transport::Host::local();
        h.run(&create_script(&a).into_cmd()).unwrap();
        assert_eq!(std::fs::read(a.snap()).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(a.snap_dir()).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::write(&disk, b"two").unwrap();
        h.run(&revert_script(&a).into_cmd()).unwrap();
        assert_eq!(std::fs::read(&disk).unwrap(), b"one");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            2,
            "disk.0 and its .snap only"
        );
        std::fs::remove_file(a.snap()).unwrap();
        let e = h
            .run(&revert_script(&a).into_cmd())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert_eq!(std::fs::read(&disk).unwrap(), b"one", "disk untouched");
    }
}
