//! cpds <host:sysdir/disk.i> <SOURCE> <snap_id|-1> <vm_id> <ds_id>
//!
//! disk-saveas: copies a disk, or its snapshot `disk.i.snap/<snap_id>`, to
//! a new image SOURCE on the front-end, atomically (temporary name, rename).
//! A chain is flattened on the host into a temporary file first. While the
//! VM runs (LCM_STATE 26, HOTPLUG_SAVEAS) the disk is exported on the host
//! with `virsh blockcopy` (or freeze/suspend and copy) into a temporary file.

use super::export::{export, Export};
use super::live::LiveCopy;
use super::setup;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, number, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

/// LCM_STATE of a running VM saving a disk (HOTPLUG_SAVEAS).
const HOTPLUG_SAVEAS: &str = "26";

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 5, 5)?;
    let mut disk = Location::parse(&inv.args[0])?;
    disk.require_host()?;
    let source = Location::parse(&inv.args[1])?;
    let snap: i64 = number(&inv.args[2], "snap_id")?;
    let vm_id = number::<u64>(&inv.args[3], "vm_id")?.to_string();
    number::<u64>(&inv.args[4], "ds_id")?;
    if snap < -1 {
        return Err(Error::Usage(format!(
            "snap_id {snap} is not a snapshot id nor -1"
        )));
    }
    let mut ctx = setup::load(inv)?;
    let live = snap == -1 && ctx.vm(&vm_id)?.get("LCM_STATE") == Some(HOTPLUG_SAVEAS);
    if snap >= 0 {
        disk = disk.with_path(&format!("{}.snap/{snap}", disk.path));
    }
    let prepared = if live {
        Some(live_export(&mut ctx, &disk, &vm_id)?)
    } else {
        None
    };
    export(
        &mut ctx,
        &Export {
            disk: &disk,
            source: &source,
            with_snapshots: false,
            prepared,
        },
    )?;
    Ok(String::new())
}

/// Exports the running disk on its host into `.<disk>.export` next to it.
fn live_export(ctx: &mut TmCtx, disk: &Location, vm_id: &str) -> Result<String> {
    let vm = ctx.vm(vm_id)?;
    let disk_id = disk.disk_id().unwrap_or_default();
    let target = vm
        .get(&format!("TEMPLATE/DISK[DISK_ID={disk_id}]/TARGET"))
        .unwrap_or("")
        .to_string();
    let live = LiveCopy {
        vm_mad: vm
            .get("HISTORY_RECORDS/HISTORY[last()]/VM_MAD")
            .unwrap_or("")
            .to_string(),
        deploy_id: vm.get("DEPLOY_ID").unwrap_or("").to_string(),
        libvirt_uri: ctx.conf.get_or("LIBVIRT_URI", "qemu:///system").to_string(),
        disk: if target.is_empty() {
            disk.path.clone()
        } else {
            target
        },
        source: disk.path.clone(),
        dest: format!("{}/.{}.export", disk.dir(), disk.name()),
        freeze_timeout: ctx.conf.seconds("VIRSH_TIMEOUT", 60)?.as_secs(),
    };
    let cmd = live.cmd()?;
    let place = setup::place(ctx, disk);
    let host = ctx.hosts.at(place.as_deref())?;
    if let Err(e) = host.run(&cmd) {
        let _ = host.run(&tools::RM.cmd().args(["-f", "--"]).arg(&live.dest));
        return Err(e.context(format!(
            "Error exporting {} of running VM {} ({}) on {}",
            disk.path,
            vm_id,
            live.deploy_id,
            host.label()
        )));
    }
    Ok(live.dest)
}
