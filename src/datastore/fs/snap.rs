//! snap_delete | snap_revert | snap_flatten <image_id>  (DS_DRIVER_ACTION_DATA
//! on stdin): manage snapshot IMAGE/TARGET_SNAPSHOT of IMAGE/SOURCE, kept in
//! `<SOURCE>.snap/` (see [`super::snapdir`]); print nothing.
//!
//! Fixed against the reference: the real `<SOURCE>.md5sum` cache is removed
//! (not `/.md5sum`); TM_MAD `shared` is the qcow2 driver and gets its
//! layout; a revert builds the new active overlay under a temporary name,
//! relative to the self-link, with the backing format probed (a raw snapshot
//! 0 is not `qcow2`), and refuses to revert to the active layer itself;
//! deleting a file the active layer still reads is refused; results replace
//! SOURCE by an atomic rename only when complete. Deleting a snapshot that is
//! already gone succeeds.

use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::hostfs;
use crate::datastore::fs::qemu_info::image_info;
use crate::datastore::fs::rm::plain_path;
use crate::datastore::fs::snapdir::SnapDir;
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tools;
use crate::transport::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapArgs {
    pub snaps: SnapDir,
    pub id: u64,
    /// IMAGE/FORMAT is qcow2.
    pub qcow2: bool,
    /// The qcow2/shared TM chain layout (active layer = highest file).
    pub chain: bool,
}

impl SnapArgs {
    pub fn from_ctx(ctx: &FsCtx) -> Result<SnapArgs> {
        let image = ctx.image()?;
        let source = image.get("SOURCE").unwrap_or("");
        plain_path("IMAGE/SOURCE", source)?;
        let target = image.get("TARGET_SNAPSHOT").unwrap_or("");
        let id = target.parse::<u64>().map_err(|_| {
            Error::Input(format!(
                "IMAGE/TARGET_SNAPSHOT '{target}' is not a snapshot id: oned sent an incomplete action dump"
            ))
        })?;
        let format = image.get("FORMAT").unwrap_or("");
        let qcow2 = format == "qcow2";
        let tm = ctx.datastore()?.get("TM_MAD").unwrap_or("");
        Ok(SnapArgs {
            snaps: SnapDir::of(source),
            id,
            qcow2,
            chain: matches!(tm, "qcow2" | "shared") && (qcow2 || format.is_empty()),
        })
    }
}

type Action = fn(&mut Host, &SnapArgs, Option<&str>) -> Result<()>;

fn run_with(inv: &mut Invocation, action: Action) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let args = SnapArgs::from_ctx(&ctx)?;
    let bridge = ctx.bridge(ctx.image_key())?;
    let host = ctx.host(bridge.as_deref())?;
    action(host, &args, bridge.as_deref())?;
    let md5 = format!("{}.md5sum", args.snaps.source);
    hostfs::remove(host, &[&md5])?;
    Ok(String::new())
}

pub fn run_delete(inv: &mut Invocation) -> Result<String> {
    run_with(inv, delete)
}
pub fn run_revert(inv: &mut Invocation) -> Result<String> {
    run_with(inv, revert)
}
pub fn run_flatten(inv: &mut Invocation) -> Result<String> {
    run_with(inv, flatten)
}

fn missing(a: &SnapArgs, bridge: Option<&str>) -> Error {
    Error::Input(format!(
        "snapshot {} of {} does not exist: {} is missing",
        a.id,
        a.snaps.source,
        hostfs::at(bridge, &a.snaps.file(a.id))
    ))
}

pub fn delete(host: &mut Host, a: &SnapArgs, bridge: Option<&str>) -> Result<()> {
    let file = a.snaps.file(a.id);
    if !hostfs::present(host, &file)? {
        log::info!(
            "snapshot {} of {} is already gone",
            a.id,
            hostfs::at(bridge, &a.snaps.source)
        );
        return Ok(());
    }
    if a.chain {
        if let Some(active) = a.snaps.active(host)? {
            let used = a.snaps.in_active_chain(host, a.id, active).context(|| {
                format!(
                    "cannot check that snapshot {} of {} is unused",
                    a.id, a.snaps.source
                )
            })?;
            if used {
                return Err(Error::Input(format!(
                    "refusing to delete snapshot {} of {}: the active layer {} reads through it; delete its child snapshots or revert first",
                    a.id,
                    a.snaps.source,
                    a.snaps.file(active)
                )));
            }
        }
    }
    log::info!("Deleting snapshot {}", hostfs::at(bridge, &file));
    hostfs::remove(host, &[&file])
        .context(|| format!("Error deleting snapshot {}", hostfs::at(bridge, &file)))
}

pub fn revert(host: &mut Host, a: &SnapArgs, bridge: Option<&str>) -> Result<()> {
    let file = a.snaps.file(a.id);
    let fail = || {
        format!(
            "Error reverting {} to snapshot {}",
            hostfs::at(bridge, &a.snaps.source),
            a.id
        )
    };
    if !a.chain {
        if !hostfs::exists(host, &file)? {
            return Err(missing(a, bridge));
        }
        let tmp = hostfs::temp_name(&a.snaps.source, "revert");
        return hostfs::or_discard(host, &[&tmp], |h| {
            h.run(&tools::CP.cmd().args(["--sparse=always", "--", &file, &tmp]))?;
            hostfs::rename(h, &tmp, &a.snaps.source)
        })
        .context(fail);
    }
    let ids = a.snaps.ids(host).context(fail)?;
    if !ids.contains(&a.id) {
        return Err(missing(a, bridge));
    }
    let active = *ids.last().expect("contains a.id");
    let active_file = a.snaps.file(active);
    // The same file under another name (a symlink) counts as the active layer.
    let real = hostfs::canonical(host, &[&file, &active_file])?;
    if active == a.id || real[0] == real[1] {
        return Err(Error::Input(format!(
            "refusing to revert {} to snapshot {}: file {} is the active layer itself, and reverting to it would delete its own backing file; revert to an older snapshot",
            a.snaps.source, a.id, file
        )));
    }
    let format = image_info(host, &file).context(fail)?.format;
    let backing = a.snaps.backing_name(host, a.id)?;
    let tmp = hostfs::temp_name(&active_file, "revert");
    log::info!(
        "Reverting {} to snapshot {}: new active layer {active_file} over {backing}",
        hostfs::at(bridge, &a.snaps.source),
        a.id
    );
    hostfs::or_discard(host, &[&tmp], |h| {
        let create = [
            "create", "-q", "-f", "qcow2", "-F", &format, "-b", &backing, &tmp,
        ];
        h.run(&tools::QEMU_IMG.cmd().args(create))?;
        hostfs::rename(h, &tmp, &active_file)
    })
    .context(fail)
}

pub fn flatten(host: &mut Host, a: &SnapArgs, bridge: Option<&str>) -> Result<()> {
    let file = a.snaps.file(a.id);
    let source = a.snaps.source.as_str();
    let fail = || {
        format!(
            "Error flattening {} to snapshot {}",
            hostfs::at(bridge, source),
            a.id
        )
    };
    if !hostfs::exists(host, &file)? {
        return Err(missing(a, bridge));
    }
    if a.qcow2 {
        let format = image_info(host, &file).context(fail)?.format;
        let tmp = hostfs::temp_name(source, "flatten");
        hostfs::or_discard(host, &[&tmp], |h| {
            let convert = ["convert", "-q", "-f", &format, "-O", "qcow2", &file, &tmp];
            h.run(&tools::QEMU_IMG.cmd().args(convert))?;
            hostfs::rename(h, &tmp, source)
        })
        .context(fail)?;
    } else {
        let real = hostfs::canonical(host, &[&file, source])?;
        if real[0] != real[1] {
            hostfs::rename(host, &file, source).context(fail)?;
        }
    }
    log::info!(
        "{} is now snapshot {}; removing {}",
        hostfs::at(bridge, source),
        a.id,
        a.snaps.dir
    );
    hostfs::remove(host, &[&a.snaps.dir]).context(|| {
        format!(
            "{source} was flattened to snapshot {}, but removing {} failed",
            a.id, a.snaps.dir
        )
    })
}
