//! snap_revert <host:sysdir/disk.i> <snap_id> <vm_id> <ds_id>
//!
//! qcow2 (§11.8): the disk's active file is re-created as an empty overlay
//! over the snapshot (under a temporary name, renamed over it); the unsnapshotted
//! changes are discarded and `disk.i` keeps pointing at the same file. raw: the
//! full copy is copied back over the file `disk.i` is, which for a persistent
//! disk is the image itself (the reference replaced the link by a copy).

use crate::command::Script;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tools;

use super::chain::Chain;
use super::snap::SnapArgs;
use super::{conf, layout, probe};

pub fn run(inv: &mut Invocation) -> Result<String> {
    let (mut ctx, a) = SnapArgs::load(inv)?;
    let options = conf::qcow2_options(&ctx)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let host = super::connect(&mut ctx, &a.disk_loc)?;
    let label = host.label();
    let snap_dir = a.snap_dir();
    let id = a.id.to_string();
    let s = if !a.disk.is_qcow2() {
        // The file disk.i is: the clone itself, or the persistent image.
        let target = if a.disk.clone {
            a.disk_loc.path.clone()
        } else {
            a.base.clone()
        };
        let tmp = layout::tmp_path(&target);
        let s = Script::new().cmd(&tools::RM.cmd().args(["-f", &tmp]));
        layout::copy_file(s, &format!("{snap_dir}/{id}"), &tmp, true)
            .cmd(&tools::MV.cmd().args(["-Tf", &tmp, &target]))
    } else {
        let prev = probe::read_link(host, &a.disk_loc.path, timeout)?;
        let dir = probe::scan_snap_dir(host, &snap_dir, timeout)?;
        let chain = Chain::new(&dir, &snap_dir);
        let Some(active) = prev.as_deref().and_then(|p| chain.resolve(p)) else {
            return Err(Error::failed(format!(
                "{} on {label} does not point into {snap_dir}: cannot tell the disk's active file",
                a.disk_loc.path
            )));
        };
        let file = chain.file_of(&id);
        let Some(info) = chain.info(&file) else {
            return Err(Error::failed(format!(
                "Snapshot {id} of {} does not exist on {label}: {snap_dir}/{file} is missing",
                a.disk_loc.path
            )));
        };
        if file == active {
            return Err(Error::failed(format!(
                "Snapshot {id} is the disk's active file {snap_dir}/{file}: nothing to revert to"
            )));
        }
        let active_path = format!("{snap_dir}/{active}");
        let tmp = layout::tmp_path(&active_path);
        let backing = format!("{}.snap/{file}", a.short);
        Script::new()
            .cmd(&tools::RM.cmd().args(["-f", &tmp]))
            .cmd(&layout::qcow2_overlay(&backing, &info.format, &options, &tmp).cwd(&snap_dir))
            .cmd(&tools::MV.cmd().args(["-Tf", &tmp, &active_path]))
    };
    log::info!("Reverting {} to snapshot {id}", a.disk_loc);
    let what = format!(
        "Error reverting {} to snapshot {snap_dir}/{id} on {label}",
        a.disk_loc.path
    );
    super::run_script(host, s, &what)?;
    Ok(String::new())
}
