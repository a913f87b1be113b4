//! The `shared` (= `qcow2`) transfer-manager driver: system and image datastores on
//! storage every host mounts at the same path; qcow2 overlays and snapshot chains.

pub(crate) mod chain;
pub(crate) mod clone;
pub(crate) mod conf;
pub(crate) mod cpds;
pub(crate) mod disk;
pub(crate) mod layout;
pub(crate) mod live;
pub(crate) mod ln;
pub(crate) mod migrate;
pub(crate) mod monitor;
pub(crate) mod mv;
pub(crate) mod mvds;
pub(crate) mod probe;
pub(crate) mod snap;
pub(crate) mod snap_delete;
pub(crate) mod snap_revert;

use crate::command::Script;
use crate::dispatch::{ActionSpec, DriverSpec, Kind, Stdout};
use crate::error::{one_line, Error, Result};
use crate::tm::args::{parent, Location};
use crate::tm::common;
use crate::tm::ctx::TmCtx;
use crate::transport::{Host, Output};

/// The host holding `loc` (the front-end for front-end names), connected;
/// a host that cannot be reached is named with what to check.
pub(crate) fn connect<'a>(ctx: &'a mut TmCtx, loc: &Location) -> Result<&'a mut Host> {
    let name = loc.host.clone().unwrap_or_default();
    ctx.host(loc).map_err(|e| {
        e.context(format!(
            "cannot reach host {name}: check that it is up and that oneadmin can ssh to it"
        ))
    })
}

/// Runs an action's one host script. On failure the reason line is `what`
/// followed by the script's last stderr lines and exit status (the cause an
/// operator needs); the script itself goes to the log as evidence, not into
/// the one-line reason.
pub(crate) fn run_script(host: &mut Host, script: Script, what: &str) -> Result<Output> {
    run_cmd(host, &script.into_cmd(), what)
}

/// [`run_script`] for a script already made a command (with a deadline).
pub(crate) fn run_cmd(host: &mut Host, cmd: &crate::command::Cmd, what: &str) -> Result<Output> {
    let out = host.output(cmd).map_err(|e| e.context(what.to_string()))?;
    if out.status.success() {
        return Ok(out);
    }
    let f = host.failure(cmd, &out);
    log::error!("command failed{}: {}", f.where_(), one_line(&f.command));
    let cause = one_line(&f.stderr);
    Err(Error::failed(if cause.is_empty() {
        format!("{what} ({})", f.status)
    } else {
        format!("{what}: {cause} ({})", f.status)
    }))
}

/// Refuses a disk location outside VM `vm_id`'s directory
/// (`<DATASTORE_LOCATION>/<sys_ds>/<vm_id>/disk.<i>`): the actions remove
/// leftovers there, and never elsewhere.
pub(crate) fn check_vm_path(loc: &Location, vm_id: &str) -> Result<()> {
    check_vm_dir(&loc.with_path(&parent(&loc.path)), vm_id)
}

/// Refuses a VM directory that is not `<DATASTORE_LOCATION>/<sys_ds>/<vm_id>`.
pub(crate) fn check_vm_dir(loc: &Location, vm_id: &str) -> Result<()> {
    let depth = loc.path.split('/').filter(|c| !c.is_empty()).count();
    if loc.name() != vm_id || depth < 3 {
        return Err(Error::Usage(format!(
            "'{loc}' is not in the directory of VM {vm_id}: expected <DATASTORE_LOCATION>/<sys_ds>/{vm_id}"
        )));
    }
    Ok(())
}

/// The path whose `.snap` dir holds a disk's snapshots: `sysdir/disk.i` for a
/// clone, the image SOURCE (as the host sees it) for a persistent disk.
pub(crate) fn disk_base(disk: &disk::DiskAttrs, loc: &Location, vm_id: &str) -> Result<String> {
    if disk.clone {
        Ok(loc.path.clone())
    } else {
        Ok(layout::reroot(disk.require_source(vm_id)?, &loc.path))
    }
}

macro_rules! tm_action {
    ($name:literal, $usage:literal, $summary:literal, $out:ident, $run:expr) => {
        ActionSpec {
            name: $name,
            usage: $usage,
            summary: $summary,
            stdout: Stdout::$out,
            run: $run,
        }
    };
}

#[rustfmt::skip]
pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Tm,
    names: &["shared", "qcow2"],
    default_conf: include_str!("../../../tm/shared/shared.conf"),
    actions: &[
        tm_action!("clone", "<fe:SOURCE> <host:DST> <vm_id> <ds_id>", "Copy an image to a VM disk.", OneLine, clone::run),
        tm_action!("ln", "<fe:SOURCE> <host:DST> <vm_id> <ds_id>", "Link (shared) or copy (ssh) a persistent image as a VM disk.", OneLine, ln::run),
        tm_action!("mv", "<hostA:SRC> <hostB:DST> <vm_id> <ds_id>", "Move a VM disk or directory between hosts.", OneLine, mv::run),
        tm_action!("mvds", "<host:DISK> <SOURCE> <vm_id> <ds_id>", "Move a persistent disk back to its image datastore.", OneLine, mvds::run),
        tm_action!("cpds", "<host:DISK> <SOURCE> <snap_id|-1> <vm_id> <ds_id>", "Copy a disk (or one of its snapshots) to a new image (disk-saveas).", OneLine, cpds::run),
        tm_action!("premigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Prepare a live migration.", OneLine, migrate::pre),
        tm_action!("postmigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Clean up after a live migration.", OneLine, migrate::post),
        tm_action!("failmigrate", "<src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]   (base64 VM XML on stdin)", "Roll back a failed live migration.", OneLine, migrate::fail),
        tm_action!("context", "<context.sh> [FILE...] <host:DST> <vm_id> <ds_id>", "Build the context ISO and put it on the host.", OneLine, common::context::run),
        tm_action!("delete", "<host:PATH> <vm_id> <ds_id>", "Delete a VM disk or directory; succeeds when already gone.", OneLine, common::delete::run),
        tm_action!("mkimage", "<size_mb> <format> <host:DST> <vm_id> <ds_id>", "Create a volatile disk.", OneLine, common::mkimage::mkimage),
        tm_action!("mkswap", "<size_mb> <host:DST> <vm_id> <ds_id>", "Create a swap disk.", OneLine, common::mkimage::mkswap),
        tm_action!("resize", "<host:DISK> <size_mb> <vm_id> <ds_id>", "Grow a disk to size_mb.", OneLine, common::resize::run),
        tm_action!("monitor", "<ds_id>   (base64 DS_DRIVER_ACTION_DATA on stdin)", "Monitor a system datastore from the front-end.", MultiLine, monitor::monitor),
        tm_action!("monitor_ds", "<ds_dir>", "On a host: per-VM disk usage of a system datastore.", MultiLine, monitor::monitor_ds),
        tm_action!("snap_create", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Snapshot a disk of a stopped VM.", OneLine, snap::create),
        tm_action!("snap_create_live", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Snapshot a disk of a running VM.", OneLine, snap::create_live),
        tm_action!("snap_delete", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Delete a disk snapshot.", OneLine, snap::delete),
        tm_action!("snap_revert", "<host:DISK> <snap_id> <vm_id> <ds_id>", "Revert a disk to a snapshot.", OneLine, snap::revert),
    ],
};
