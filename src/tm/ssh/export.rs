//! A VM disk on a host back into the image datastore (mvds, cpds).
//!
//! The file lands next to SOURCE under a temporary name and is renamed over
//! SOURCE only once complete and verified: an interrupted copy never leaves
//! a corrupt persistent image (the reference writes in place). A disk that
//! is a symlink or has a backing file is first flattened on the host into a
//! temporary file with `qemu-img convert`, in its own format (raw stays raw);
//! the host's disk itself is never changed nor removed here.

use super::copy::{Copy, Hooks};
use super::listing::{self, Member};
use super::setup::{self, describe, place};
use super::{hosts, qemu};
use crate::error::{Error, Result};
use crate::tm::args::Location;
use crate::tm::ctx::TmCtx;
use crate::tools;

/// What to send back.
pub struct Export<'a> {
    /// The disk file on the host (`disk.i`, or `disk.i.snap/<id>`).
    pub disk: &'a Location,
    /// The image path (a bare SOURCE on the front-end).
    pub source: &'a Location,
    /// Send `disk.i.snap/` too, as `SOURCE.snap` (mvds).
    pub with_snapshots: bool,
    /// A file on the host already holding the data to send (a live
    /// blockcopy export); removed afterwards like a flattened copy.
    pub prepared: Option<String>,
}

pub fn export(ctx: &mut TmCtx, x: &Export<'_>) -> Result<()> {
    let (sp, dp) = (place(ctx, x.disk), place(ctx, x.source));
    let what = format!(
        "{} to {}",
        describe(&sp, &x.disk.path),
        describe(&dp, &x.source.path)
    );
    let dir = x.disk.dir();
    let name = x.disk.name();
    let qcow2_opts = qemu::qcow2_options(ctx.conf.get("QCOW2_OPTIONS"));
    let host = ctx.hosts.at(sp.as_deref())?;

    let mut temp = x.prepared.clone();
    let mut first = None;
    if temp.is_none() {
        let snap = format!("{name}.snap");
        let names: &[&str] = if x.with_snapshots {
            &[name, &snap]
        } else {
            &[name]
        };
        let found = listing::list(host, &dir, names)?;
        let Some(top) = found.get(name) else {
            return Err(Error::failed(format!(
                "Error copying {what}: {} does not exist on {}",
                x.disk.path,
                host.label()
            )));
        };
        let info = qemu::infos(host, std::slice::from_ref(&x.disk.path))?.remove(0);
        if top.kind == 'l' || info.backing.is_some() {
            let flat = format!("{dir}/.{name}.flat");
            log::info!(
                "{}: flattening the chain into {flat} ({})",
                x.disk.path,
                info.format
            );
            host.run(&qemu::flatten_cmd(
                &x.disk.path,
                &flat,
                &info.format,
                &qcow2_opts,
            ))
            .map_err(|e| {
                e.context(format!(
                    "Error copying {what}: cannot flatten {}",
                    x.disk.path
                ))
            })?;
            temp = Some(flat);
        } else {
            first = Some(found);
        }
    }
    let (from_dir, from) = match &temp {
        Some(t) => (
            crate::tm::args::parent(t),
            t.rsplit('/').next().unwrap_or("").to_string(),
        ),
        None => (dir.clone(), name.to_string()),
    };
    let to = x.source.name();
    let snap = format!("{from}.snap");
    let with_snaps = x.with_snapshots && temp.is_none();
    let names: Vec<&str> = if with_snaps {
        vec![&from, &snap]
    } else {
        vec![&from]
    };
    let found = match first {
        Some(f) => f,
        None => listing::list(ctx.hosts.at(sp.as_deref())?, &from_dir, &names)?,
    };
    let mut members = vec![Member::new(&from, to)];
    if with_snaps && found.contains_key(&snap) {
        members.push(Member::new(&snap, &format!("{to}.snap")));
    }
    let copy = Copy {
        src_dir: from_dir,
        members,
        dst_dir: x.source.dir(),
        sparse: true,
        what,
    };
    let md5 = tools::RM
        .cmd()
        .args(["-f", "--"])
        .arg(format!("{}.md5sum", x.source.path));
    let hooks = Hooks {
        after_install: vec![md5.shell_line()],
        ..Hooks::default()
    };
    let opts = setup::host_ssh_options(ctx)?;
    let copied = copy.run(hosts::route(ctx, &sp, &dp, &opts)?, &found, &hooks);
    if let Some(t) = &temp {
        let host = ctx.hosts.at(sp.as_deref())?;
        if let Err(e) = host.run(&tools::RM.cmd().args(["-f", "--"]).arg(t)) {
            log::warn!(
                "cannot remove the temporary file {t} on {}: {}",
                host.label(),
                e.summary()
            );
        }
    }
    copied
}
