//! premigrate|postmigrate|failmigrate <src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]  (base64 VM XML on stdin)
//!
//! Live migration with a non-shared system datastore: the hypervisor driver
//! copies the disks itself. premigrate clears a stale VM directory on the
//! destination, postmigrate removes the VM directory left on the source,
//! failmigrate removes a partial copy on the destination. None of them
//! removes anything that is the same storage as the running VM's directory
//! (the reference's premigrate would): a random file made in one directory
//! is looked for in the other, and when in doubt nothing is removed.
//! Then each other TM the VM's disks use gets the same call (`migrate_other`).

use super::hosts;
use super::other::migrate_other;
use super::setup;
use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, number, parent, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

struct MigrateArgs {
    src: Option<String>,
    dst: Option<String>,
    vm_dir: String,
    vm_id: String,
}

/// Reads the arguments and the VM from stdin; the raw stdin is returned for
/// `migrate_other`.
fn load(inv: &mut Invocation) -> Result<(TmCtx, MigrateArgs, Vec<u8>)> {
    expect_args(&inv.args, 5, 6)?;
    for h in &inv.args[..2] {
        crate::transport::check_host_name(h)?;
    }
    let vm_dir = Location::parse(&inv.args[2])?.path;
    let vm_id = number::<u64>(&inv.args[3], "vm_id")?.to_string();
    number::<u64>(&inv.args[4], "ds_id")?;
    let mut ctx = setup::load(inv)?;
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut inv.stdin, &mut raw)
        .map_err(|e| crate::error::Error::io("reading the VM template from stdin", e))?;
    ctx.vm_from_stdin(&vm_id, &mut raw.as_slice())?;
    let host = |s: &str| (!ctx.is_frontend(s)).then(|| s.to_string());
    let a = MigrateArgs {
        src: host(&inv.args[0]),
        dst: host(&inv.args[1]),
        vm_dir,
        vm_id,
    };
    Ok((ctx, a, raw))
}

pub fn pre(inv: &mut Invocation) -> Result<String> {
    let (mut ctx, a, raw) = load(inv)?;
    if a.src == a.dst {
        log::info!("premigrate: source and destination are the same host, nothing to do");
        return Ok(String::new());
    }
    remove_unless_shared(
        &mut ctx,
        &a.src,
        &a.vm_dir,
        &a.dst,
        &a.vm_dir,
        "stale VM directory",
    )?;
    migrate_other(inv, &raw, "premigrate");
    Ok(String::new())
}

pub fn post(inv: &mut Invocation) -> Result<String> {
    let (mut ctx, a, raw) = load(inv)?;
    let vm = ctx.vm(&a.vm_id)?;
    let cur_ds = vm
        .get("HISTORY_RECORDS/HISTORY[last()]/DS_ID")
        .map(str::to_string);
    let orig_ds = vm
        .get("HISTORY_RECORDS/HISTORY[last()-1]/DS_ID")
        .map(str::to_string);
    // The old directory, under the same datastore location as the new one.
    let old_dir = match &orig_ds {
        Some(ds) => format!("{}/{ds}/{}", parent(&parent(&a.vm_dir)), a.vm_id),
        None => a.vm_dir.clone(),
    };
    if orig_ds == cur_ds && a.src == a.dst {
        return Ok(String::new());
    }
    migrate_other(inv, &raw, "postmigrate");
    remove_unless_shared(
        &mut ctx,
        &a.dst,
        &a.vm_dir,
        &a.src,
        &old_dir,
        "old VM directory",
    )?;
    Ok(String::new())
}

pub fn fail(inv: &mut Invocation) -> Result<String> {
    let (mut ctx, a, raw) = load(inv)?;
    if a.src != a.dst {
        remove_unless_shared(
            &mut ctx,
            &a.src,
            &a.vm_dir,
            &a.dst,
            &a.vm_dir,
            "partial copy",
        )?;
    }
    migrate_other(inv, &raw, "failmigrate");
    Ok(String::new())
}

/// Removes `victim_dir` on `victim` unless it is the same directory as
/// `keep_dir` on `keeper` (where the VM's disks are in use). When `keep_dir`
/// is missing on `keeper` nothing can be proven, and nothing is removed.
fn remove_unless_shared(
    ctx: &mut TmCtx,
    keeper: &Option<String>,
    keep_dir: &str,
    victim: &Option<String>,
    victim_dir: &str,
    what: &str,
) -> Result<()> {
    let on = |h: &Option<String>, p: &str| setup::describe(h, p);
    if keeper == victim && keep_dir == victim_dir {
        return Ok(());
    }
    let same = if keeper == victim {
        let h = ctx.hosts.at(keeper.as_deref())?;
        let probe = hosts::probe_create(h, keep_dir)?;
        let seen = match &probe {
            Some(n) => Some(hosts::probe_seen(h, victim_dir, n)?),
            None => None,
        };
        if let Some(n) = &probe {
            hosts::probe_remove(h, keep_dir, n)?;
        }
        seen
    } else {
        let (k, v) = ctx.hosts.pair(keeper.as_deref(), victim.as_deref())?;
        hosts::same_dir(k, keep_dir, v, victim_dir)?
    };
    match same {
        Some(false) => {
            log::info!("removing the {what} {}", on(victim, victim_dir));
            let h = ctx.hosts.at(victim.as_deref())?;
            h.run(&tools::RM.cmd().args(["-rf", "--"]).arg(victim_dir))
                .map(drop)
                .map_err(|e| {
                    e.context(format!(
                        "Error removing the {what} {}",
                        on(victim, victim_dir)
                    ))
                })
        }
        Some(true) => {
            log::info!(
                "{} is the same storage as {}: not removed",
                on(victim, victim_dir),
                on(keeper, keep_dir)
            );
            Ok(())
        }
        None => {
            log::warn!(
                "{} does not exist, so {} is kept: remove it by hand if it is stale",
                on(keeper, keep_dir),
                on(victim, victim_dir)
            );
            Ok(())
        }
    }
}
