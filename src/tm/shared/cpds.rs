//! cpds <host:sysdir/disk.i> <SOURCE> <snap_id|-1> <vm_id> <ds_id>
//!
//! disk-saveas: copies a disk, or one of its snapshots, to a new image
//! SOURCE in the image datastore. qcow2 chains are flattened with
//! `qemu-img convert`, anything else is a sparse copy. The copy goes to a
//! temporary name beside SOURCE and is renamed at the end, so the image
//! datastore never holds a partial image. A running VM (LCM_STATE 26,
//! HOTPLUG_SAVEAS, snap -1) is copied with `virsh blockcopy`, falling back to
//! a copy while the guest is frozen or suspended.

use crate::command::{quote, Script};
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, number, Location};
use crate::tools;

use super::conf::{self, Virsh};
use super::disk::DiskAttrs;
use super::{layout, live};

/// LCM_STATE of a running VM saving a disk (HOTPLUG_SAVEAS).
const HOTPLUG_SAVEAS: &str = "26";

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 5, 5)?;
    let disk_loc = Location::parse(&inv.args[0])?;
    let new_source = Location::parse(&inv.args[1])?;
    let snap: i64 = number(&inv.args[2], "snap_id")?;
    if snap < -1 {
        return Err(Error::Usage(format!(
            "snap_id '{snap}' must be -1 or a snapshot id"
        )));
    }
    let vm_id = conf::vm_id(&inv.args[3])?.to_string();
    disk_loc.require_host()?;
    super::check_vm_path(&disk_loc, &vm_id)?;
    let mut ctx = conf::load(inv)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let virsh = Virsh::from_ctx(&ctx)?;
    let vm = ctx.vm(&vm_id)?.clone();
    let disk = DiskAttrs::from_vm(&vm, &vm_id, disk_loc.disk_id())?;
    let dst = layout::reroot(&new_source.path, &disk_loc.path);
    let src = if snap == -1 {
        disk_loc.path.clone()
    } else {
        let base = super::disk_base(&disk, &disk_loc, &vm_id)?;
        format!("{}/{snap}", layout::snap_dir(&base))
    };
    let live = if vm.get("LCM_STATE") == Some(HOTPLUG_SAVEAS) {
        let mad = vm
            .get("HISTORY_RECORDS/HISTORY[last()]/VM_MAD")
            .unwrap_or("");
        if mad != "kvm" {
            return Err(Error::failed(format!(
                "cpds: Live operation not supported on {mad}: power the VM off to save its disk"
            )));
        }
        (snap == -1)
            .then(|| -> Result<Live> {
                Ok(Live {
                    virsh: virsh.clone(),
                    domain: vm.require("DEPLOY_ID")?.to_string(),
                    target: disk.target.clone().ok_or_else(|| {
                        Error::Input(format!("DISK {:?} of VM {vm_id} has no TARGET", disk.id))
                    })?,
                })
            })
            .transpose()?
    } else {
        None
    };

    let host = super::connect(&mut ctx, &disk_loc)?;
    let label = host.label();
    let found = probe(host, &src, &dst, timeout)?;
    let Some(real_src) = found.source else {
        return Err(Error::failed(format!(
            "Cannot save {src} on {label}: it does not exist (check the snapshot id {snap} of disk {})",
            disk_loc.name()
        )));
    };
    if found.same_file {
        log::info!("Not moving files to image repo, they are the same: {real_src} is {dst}");
        return Ok(String::new());
    }
    log::info!("Copying {real_src} to datastore as {dst}");
    let s = script(&real_src, &dst, disk.is_qcow2(), live.as_ref());
    let what = format!("Could not save {real_src} as the image {dst} on {label}");
    super::run_script(host, s, &what)?;
    Ok(String::new())
}

/// A running VM's disk is read by libvirt.
pub struct Live {
    pub virsh: Virsh,
    pub domain: String,
    pub target: String,
}

struct Found {
    /// The file to copy after the `.current` indirection; `None` when missing.
    source: Option<String>,
    /// The source is a link to the destination itself.
    same_file: bool,
}

/// Resolves `<src>.current` (§13.3) and compares the source with the destination.
fn probe(
    host: &mut crate::transport::Host,
    src: &str,
    dst: &str,
    t: std::time::Duration,
) -> Result<Found> {
    let s = Script::new()
        .line(format!("src={}", quote(src)))
        .line(format!(
            "if [ -f {c} ]; then src=$(head -n 1 -- {c}); fi",
            c = quote(&format!("{src}.current"))
        ))
        .raw("if [ -e \"$src\" ]; then printf '%s\\n' \"$src\"; else echo; fi")
        .raw("if [ -L \"$src\" ]; then readlink -f -- \"$src\"; else echo; fi")
        .line(format!("readlink -f -- {} || echo", quote(dst)));
    let out = host.run_stdout(&s.into_cmd().timeout(t))?;
    let mut l = out.lines().map(str::trim);
    let source = l.next().filter(|x| !x.is_empty()).map(str::to_string);
    let resolved = l.next().unwrap_or("");
    let dst_resolved = l.next().unwrap_or("");
    Ok(Found {
        source,
        same_file: !resolved.is_empty() && resolved == dst_resolved,
    })
}

/// Copy (or blockcopy) into a temporary name beside `dst`, then rename.
pub fn script(src: &str, dst: &str, qcow2: bool, live: Option<&Live>) -> Script {
    let tmp = layout::tmp_path(dst);
    let copy = |s: Script| -> Script {
        if qcow2 {
            s.cmd(
                &tools::QEMU_IMG
                    .cmd()
                    .args(["convert", "-q", "-U", "-O", "qcow2", src, &tmp]),
            )
        } else {
            layout::copy_file(s, src, &tmp, true)
        }
    };
    let mut s = Script::new().cmd(&tools::RM.cmd().args(["-f", &tmp]));
    // A failed copy leaves no temporary file behind.
    s = s.line(format!(
        "trap {} ERR",
        quote(&format!("rm -f {}", quote(&tmp)))
    ));
    match live {
        None => s = copy(s),
        Some(l) => {
            s = s.cmd(&tools::TOUCH.cmd().arg(&tmp));
            let job = l.virsh.cmd([
                "blockcopy",
                &l.domain,
                &l.target,
                &tmp,
                "--wait",
                "--finish",
            ]);
            s = live::block_job(s, &l.virsh, &job).raw("if [ \"$ok\" != 1 ]; then");
            s = copy(live::quiesce(s, &l.virsh, &l.domain)).raw("fi");
        }
    }
    s.cmd(&tools::MV.cmd().args(["-Tf", &tmp, dst]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_qcow2_is_flattened_into_a_temporary_name() {
        let t = script("/ds/0/7/disk.0.snap/2", "/ds/1/new", true, None).text();
        assert!(
            t.contains(
                "qemu-img convert -q -U -O qcow2 /ds/0/7/disk.0.snap/2 /ds/1/.new.one-storage-tmp"
            ),
            "{t}"
        );
        assert!(
            t.ends_with("mv -Tf /ds/1/.new.one-storage-tmp /ds/1/new"),
            "{t}"
        );
        assert!(!t.contains("virsh"), "{t}");
    }

    #[test]
    fn live_copy_uses_blockcopy_then_falls_back_to_a_frozen_copy() {
        let l = Live {
            virsh: Virsh {
                uri: "qemu:///system".into(),
                freeze_timeout: std::time::Duration::from_secs(60),
                retries: 3,
                retry_sleep: std::time::Duration::from_secs(5),
            },
            domain: "one-7".into(),
            target: "vda".into(),
        };
        let t = script("/ds/0/7/disk.0", "/ds/1/new", false, Some(&l)).text();
        let bc = t
            .find("blockcopy one-7 vda /ds/1/.new.one-storage-tmp --wait --finish")
            .unwrap();
        let fr = t.find("domfsfreeze one-7").unwrap();
        let cp = t
            .find("cp --sparse=always /ds/0/7/disk.0 /ds/1/.new.one-storage-tmp")
            .unwrap();
        assert!(bc < fr && fr < cp, "{t}");
    }
}
