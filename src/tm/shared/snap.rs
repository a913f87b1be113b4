//! snap_create|snap_create_live <host:sysdir/disk.i> <snap_id> <vm_id> <ds_id>
//!
//! qcow2 snapshots are overlays (§11.7, §13.2-13.3): taking snapshot k
//! freezes the active layer and creates file `k+1` over it, then points
//! `disk.i` at it; reverting re-creates the active file as an empty overlay
//! over the snapshot. raw snapshots are full sparse copies. Files live in
//! `<disk>.snap/`, where `<disk>` is `sysdir/disk.i` for a clone and the
//! image SOURCE for a persistent disk. (`snap_revert.rs`, `snap_delete.rs`.)

pub use super::snap_delete::run as delete;
pub use super::snap_revert::run as revert;

use crate::command::{quote, Script};
use crate::dispatch::Invocation;
use crate::dump::Element;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, number, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

use super::chain::Chain;
use super::conf::{self, Virsh};
use super::disk::DiskAttrs;
use super::{layout, live, probe};

/// The parsed arguments and the disk they name.
pub struct SnapArgs {
    pub disk_loc: Location,
    pub id: u32,
    pub vm_id: String,
    pub vm: Element,
    pub disk: DiskAttrs,
    /// `sysdir/disk.i` (clone) or the re-rooted image SOURCE (persistent).
    pub base: String,
    /// How links and backing names spell the base: `disk.i` (relative, clones)
    /// or the absolute image path.
    pub short: String,
}

impl SnapArgs {
    pub fn load(inv: &Invocation) -> Result<(TmCtx, SnapArgs)> {
        expect_args(&inv.args, 4, 4)?;
        let disk_loc = Location::parse(&inv.args[0])?;
        let id: u32 = number(&inv.args[1], "snap_id")?;
        let vm_id = conf::vm_id(&inv.args[2])?.to_string();
        disk_loc.require_host()?;
        super::check_vm_path(&disk_loc, &vm_id)?;
        if !disk_loc.is_disk() {
            return Err(Error::Usage(format!(
                "'{disk_loc}' is not a disk: expected host:<sysdir>/disk.<id>"
            )));
        }
        let mut ctx = conf::load(inv)?;
        let vm = ctx.vm(&vm_id)?.clone();
        let disk = DiskAttrs::from_vm(&vm, &vm_id, disk_loc.disk_id())?;
        let base = super::disk_base(&disk, &disk_loc, &vm_id)?;
        let short = if disk.clone {
            disk_loc.name().to_string()
        } else {
            base.clone()
        };
        let a = SnapArgs {
            disk_loc,
            id,
            vm_id,
            vm,
            disk,
            base,
            short,
        };
        Ok((ctx, a))
    }

    pub fn snap_dir(&self) -> String {
        layout::snap_dir(&self.base)
    }
}

pub fn create(inv: &mut Invocation) -> Result<String> {
    create_any(inv, false)
}

pub fn create_live(inv: &mut Invocation) -> Result<String> {
    create_any(inv, true)
}

/// The running domain and its disks, for the live variant.
pub struct LiveVm {
    pub virsh: Virsh,
    pub domain: String,
    pub targets: Vec<String>,
    pub target: String,
}

fn create_any(inv: &Invocation, live: bool) -> Result<String> {
    let (mut ctx, a) = SnapArgs::load(inv)?;
    let options = conf::qcow2_options(&ctx)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let live = if live { Some(live_vm(&ctx, &a)?) } else { None };
    let host = super::connect(&mut ctx, &a.disk_loc)?;
    let label = host.label();
    let snap_dir = a.snap_dir();
    let file = |n: &str| format!("{snap_dir}/{n}");
    let mut s = Script::new();
    if !a.disk.is_qcow2() {
        let tmp = layout::tmp_path(&file(&a.id.to_string()));
        s = s
            .cmd(&tools::MKDIR.cmd().args(["-p", &snap_dir]))
            .cmd(&tools::RM.cmd().args(["-f", &tmp]));
        if let Some(l) = &live {
            s = live::quiesce(s, &l.virsh, &l.domain);
        }
        s = layout::copy_file(s, &a.base, &tmp, true).cmd(&tools::MV.cmd().args([
            "-Tf",
            &tmp,
            &file(&a.id.to_string()),
        ]));
    } else {
        let next = (a.id + 1).to_string();
        let prev = probe::read_link(host, &a.disk_loc.path, timeout)?.ok_or_else(|| {
            Error::failed(format!(
                "{} on {label} is not a link to the disk's active file: was it made by the shared/qcow2 driver (clone or ln)?",
                a.disk_loc.path
            ))
        })?;
        let dir = probe::scan_snap_dir(host, &snap_dir, timeout)?;
        let chain = Chain::new(&dir, &snap_dir);
        let active = chain.resolve(&prev);
        if dir.files.contains_key(&next) {
            if active.as_deref() == Some(next.as_str()) {
                log::info!(
                    "{} already points to {}: snapshot {} was taken",
                    a.disk_loc.path,
                    file(&next),
                    a.id
                );
                return Ok(String::new());
            }
            if chain.referenced(&next, active.as_deref()) {
                return Err(Error::failed(format!(
                    "Snapshot file {} already exists on {label} and the disk's chain uses it: remove snapshot {} first or check the snapshot ids",
                    file(&next),
                    a.id
                )));
            }
            log::info!(
                "Removing {}, the leftover of a failed snapshot",
                file(&next)
            );
            s = s.cmd(&tools::RM.cmd().args(["-f", &file(&next)]));
        }
        let prev_format = active
            .as_deref()
            .and_then(|n| chain.info(n))
            .map_or("qcow2".to_string(), |i| i.format.clone());
        let tmp = layout::tmp_path(&file(&next));
        s = layout::ensure_snap_dir(s, &a.base).cmd(&tools::RM.cmd().args(["-f", &tmp]));
        if let Some(l) = &live {
            s = live::quiesce(s, &l.virsh, &l.domain);
        }
        s = s
            .cmd(&layout::qcow2_overlay(&prev, &prev_format, &options, &tmp).cwd(&snap_dir))
            .cmd(&tools::MV.cmd().args(["-T", &tmp, &file(&next)]));
        if let Some(l) = &live {
            s = snapshot_create(s, l, &a, &file(&next));
        }
        s = layout::relink(s, &format!("{}.snap/{next}", a.short), &a.disk_loc.path);
    }
    log::info!("Creating snapshot {} of {}", a.id, a.disk_loc);
    let what = format!(
        "Error creating snapshot {} of {} on {label}",
        a.id, a.disk_loc.path
    );
    super::run_script(host, s, &what)?;
    Ok(String::new())
}

/// Tells the running domain to switch disk `target` to `file`.
fn snapshot_create(s: Script, l: &LiveVm, a: &SnapArgs, file: &str) -> Script {
    let disk_id = a.disk.id.unwrap_or_default();
    let targets: Vec<&str> = l.targets.iter().map(String::as_str).collect();
    let xml = live::snapshot_xml(&format!("{disk_id}-{}", a.id), &targets, &l.target, file);
    let template = format!("/tmp/one-snapshot-{}-{disk_id}-{}.XXXXXX", a.vm_id, a.id);
    let create = l.virsh.cmd([
        "snapshot-create",
        &l.domain,
        "--disk-only",
        "--atomic",
        "--no-metadata",
        "--reuse-external",
        "--xmlfile",
    ]);
    s.line(format!("x=$(mktemp {})", quote(&template)))
        .line(format!("printf '%s' {} > \"$x\"", quote(&xml)))
        .line(format!(
            "if {create} \"$x\"; then rm -f \"$x\"; else rm -f \"$x\"; exit 1; fi"
        ))
}

fn live_vm(ctx: &TmCtx, a: &SnapArgs) -> Result<LiveVm> {
    let mad =
        a.vm.get("HISTORY_RECORDS/HISTORY[last()]/VM_MAD")
            .unwrap_or("kvm");
    if mad == "lxc" && a.disk.is_qcow2() {
        return Err(Error::failed(format!(
            "Live snapshots of qcow2 disks are not supported on lxc (VM {})",
            a.vm_id
        )));
    }
    Ok(LiveVm {
        virsh: Virsh::from_ctx(ctx)?,
        domain: a.vm.require("DEPLOY_ID")?.to_string(),
        targets: a
            .vm
            .get_all("TEMPLATE/DISK/TARGET")
            .into_iter()
            .map(str::to_string)
            .collect(),
        target: a.disk.target.clone().ok_or_else(|| {
            Error::Input(format!(
                "DISK {} of VM {} has no TARGET",
                a.disk_loc.name(),
                a.vm_id
            ))
        })?,
    })
}
