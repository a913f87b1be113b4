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
use crate::dispatch::{DriverSpec, Kind};
use crate::error::{Error, Result};
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
/// followed by the stderr lines that state the cause; the script itself goes
/// to the log as evidence (the TM drivers share one rendering:
/// [`common::script_error`]).
pub(crate) fn run_script(host: &mut Host, script: Script, what: &str) -> Result<Output> {
    run_cmd(host, &script.into_cmd(), what)
}

/// [`run_script`] for a script already made a command (with a deadline).
pub(crate) fn run_cmd(host: &mut Host, cmd: &crate::command::Cmd, what: &str) -> Result<Output> {
    let out = host.output(cmd).map_err(|e| e.context(what.to_string()))?;
    common::check_script(host, cmd, out, what)
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

pub static DRIVER: DriverSpec = DriverSpec {
    kind: Kind::Tm,
    names: &["shared", "qcow2"],
    default_conf: include_str!("../../../tm/shared/shared.conf"),
    actions: tm_actions!(),
};
