//! mv <hostA:pathA> <hostB:pathB> <vm_id> <ds_id>
//!
//! Moves a VM directory: cold migration (host → host), stop/undeploy
//! (host → front-end), resume (front-end → host), system datastore changes.
//! Per-disk lines are no-ops: disks move with their directory.
//!
//! The directory is copied next to pathB, verified, renamed into pathB (a
//! leftover pathB of a failed run is replaced only then), and only after
//! that is pathA removed on hostA. Nothing moves when both paths are the
//! same storage (a random file made on hostB is seen on hostA). Re-running
//! converges from any point: source gone and destination present is success.
//! `.monitor` follows the directory to `<dirname(pathB)>/.monitor` on hostB
//! (the reference writes it one level too high).

use super::copy::{Copy, Hooks};
use super::hosts;
use super::listing::{self, Member};
use super::setup::{self, describe, place};
use super::stage::write_if_changed;
use crate::command::Script;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, number, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let src = Location::parse(&inv.args[0])?;
    let dst = Location::parse(&inv.args[1])?;
    let vm_id = number::<u64>(&inv.args[2], "vm_id")?.to_string();
    number::<u64>(&inv.args[3], "ds_id")?;
    if dst.is_disk() {
        log::debug!("{dst}: disks move with their VM directory");
        return Ok(String::new());
    }
    let mut ctx = setup::load(inv)?;
    if let Some(s @ ("60" | "61")) = ctx.vm(&vm_id)?.get("LCM_STATE") {
        log::info!(
            "Not moving files from {src} to {dst}: the VM is being recreated (LCM_STATE {s})"
        );
        return Ok(String::new());
    }
    move_dir(&mut ctx, &src, &dst)?;
    Ok(String::new())
}

pub fn move_dir(ctx: &mut TmCtx, src: &Location, dst: &Location) -> Result<()> {
    let (a, b) = (place(ctx, src), place(ctx, dst));
    let (dir_a, dir_b) = (src.dir(), dst.dir());
    let what = format!("{} to {}", describe(&a, &src.path), describe(&b, &dst.path));
    if a == b && src.path == dst.path {
        log::info!("{what}: the same path, nothing to move");
        return Ok(());
    }

    ctx.hosts.connect_all(&[a.as_deref(), b.as_deref()])?;
    // Same storage? A random file made in hostB's directory, looked for on hostA.
    let probe = if a != b && dir_a == dir_b {
        let hb = ctx.hosts.at(b.as_deref())?;
        hb.run(&tools::MKDIR.cmd().args(["-p", "--"]).arg(&dir_b))
            .and_then(|_| hosts::probe_create(hb, &dir_b))
            .map_err(|e| {
                e.context(format!(
                    "Error moving {what}: cannot write in {dir_b} on {}",
                    hb.label()
                ))
            })?
    } else {
        None
    };
    let ha = ctx.hosts.at(a.as_deref())?;
    let shared = match &probe {
        Some(name) => hosts::probe_seen(ha, &dir_a, name)?,
        None => false,
    };
    let monitor = read_monitor(ha, &dir_a)?;
    let found = listing::list(ha, &dir_a, &[src.name()])?;
    if let Some(name) = &probe {
        hosts::probe_remove(ctx.hosts.at(b.as_deref())?, &dir_b, name)?;
    }
    if shared {
        log::info!("{what}: they are the same path (shared storage), nothing to move");
        return Ok(());
    }

    if found.is_empty() {
        let hb = ctx.hosts.at(b.as_deref())?;
        if hosts::probe_seen(hb, &dir_b, dst.name())? {
            log::info!(
                "{what}: the source is gone and the destination exists: moved by an earlier run"
            );
            return Ok(());
        }
        return Err(Error::failed(format!(
            "Error moving {what}: neither {} nor {} exists",
            describe(&a, &src.path),
            describe(&b, &dst.path)
        )));
    }

    let copy = Copy {
        src_dir: dir_a.clone(),
        members: vec![Member::new(src.name(), dst.name())],
        dst_dir: dir_b.clone(),
        sparse: true,
        what: what.clone(),
    };
    let mut hooks = Hooks::default();
    if b.is_some() {
        let value = monitor.unwrap_or_else(|| "ssh".to_string());
        hooks
            .prepare
            .push(write_if_changed(&format!("{dir_b}/.monitor"), &value));
    }
    let opts = setup::host_ssh_options(ctx)?;
    copy.run(hosts::route(ctx, &a, &b, &opts)?, &found, &hooks)?;

    let ha = ctx.hosts.at(a.as_deref())?;
    ha.run(&tools::RM.cmd().args(["-rf", "--"]).arg(&src.path))
        .map_err(|e| {
            e.context(format!(
                "{what}: the copy is complete but the source could not be removed (re-run to finish)"
            ))
        })?;
    Ok(())
}

/// The content of `<dir>/.monitor` on `host`, if any.
fn read_monitor(host: &mut crate::transport::Host, dir: &str) -> Result<Option<String>> {
    let cat = tools::CAT.cmd().arg("--").arg(format!("{dir}/.monitor"));
    let script = Script::new()
        .line(format!("{cat} 2>/dev/null || true"))
        .into_cmd();
    let v = host.run_stdout(&script)?;
    let v = v.trim();
    Ok((!v.is_empty()).then(|| v.to_string()))
}
