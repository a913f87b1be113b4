//! resize <host:DISK> <size_mb> <vm_id> <ds_id>
//!
//! Grows a disk of a VM that is not running. In LCM_STATE 62 (DISK_RESIZE of
//! a running VM) the hypervisor's `resize_disk` does the work and this is a
//! no-op. DISK may be a link to the active qcow2 overlay: qemu-img follows
//! it, so the overlay's virtual size grows. A disk with SPARSE=no gets its new
//! space allocated (`--preallocation=falloc`). Shrinking is refused: it would
//! destroy data, and qemu-img's `--shrink` is never passed.

use crate::command::{quote, Cmd, Script};
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::qemu::ImageInfo;
use crate::tm::args::{expect_args, Location};
use crate::tm::ctx::TmCtx;
use crate::tools::QEMU_IMG;
use crate::transport::{Host, Status};

use super::{check_script, id, size_mb};

/// LCM_STATE of a running VM whose disk is being resized by the hypervisor.
const DISK_RESIZE: &str = "62";

/// Exit status of the info script when DISK does not exist.
const MISSING: i32 = 3;

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let disk = Location::parse(&inv.args[0])?;
    let size = size_mb(&inv.args[1])?;
    let vm_id = id(&inv.args[2], "vm_id")?;
    id(&inv.args[3], "ds_id")?;

    let mut ctx = TmCtx::for_invocation(inv, &[])?;
    let lcm_state = ctx.vm(&vm_id)?.get("LCM_STATE").map(str::to_string);
    if lcm_state.as_deref() == Some(DISK_RESIZE) {
        log::info!(
            "VM {vm_id} is running (LCM_STATE {DISK_RESIZE}): the hypervisor resizes {disk}, \
             nothing to do here"
        );
        return Ok(String::new());
    }
    let attrs = match disk.disk_id() {
        Some(i) => ctx.disk(&vm_id, i)?,
        None => None,
    };
    let sparse_no = attrs
        .as_ref()
        .and_then(|d| d.get("SPARSE"))
        .is_some_and(|s| s.eq_ignore_ascii_case("no"));

    let host = ctx.host(&disk)?;
    let current = virtual_size(host, &disk)?;
    let wanted = size << 20;
    if wanted < current.virtual_size {
        return Err(Error::Input(format!(
            "cannot shrink {disk} from {} MB to {size} MB: disks only grow; \
             give a size of at least {} MB",
            current.virtual_size >> 20,
            current.virtual_size.div_ceil(1 << 20)
        )));
    }
    let mut cmd = QEMU_IMG
        .cmd()
        .args(["resize", "-f", current.format.as_str()]);
    if sparse_no {
        cmd = cmd.arg("--preallocation=falloc");
    }
    let cmd = cmd.args([disk.path.clone(), format!("{size}M")]);
    log::info!(
        "growing {disk} ({}) from {} to {size} MB{}",
        current.format,
        current.virtual_size >> 20,
        if sparse_no { ", preallocated" } else { "" }
    );
    host.run(&cmd)
        .context(|| format!("cannot resize {disk} to {size} MB"))?;
    Ok(String::new())
}

/// `qemu-img info --output=json DISK`, exiting [`MISSING`] when DISK is not there.
pub fn info_script(path: &str) -> Cmd {
    let info = crate::qemu::info_cmd(path);
    Script::new()
        .line(format!(
            "if [ ! -e {} ]; then exit {MISSING}; fi",
            quote(path)
        ))
        .cmd(&info)
        .into_cmd()
}

fn virtual_size(host: &mut Host, disk: &Location) -> Result<ImageInfo> {
    let cmd = info_script(&disk.path);
    let out = host.output(&cmd)?;
    if out.status == Status::Code(MISSING) {
        return Err(Error::Input(format!(
            "cannot resize {disk}: the disk does not exist on {}; check that the VM's \
             files are on that host",
            host.label()
        )));
    }
    let out = check_script(host, &cmd, out, &format!("cannot read {}", disk))?;
    ImageInfo::from_json(&out.stdout_str()).ok_or_else(|| {
        Error::failed(format!(
            "qemu-img info on {} printed no format or virtual-size for {}",
            host.label(),
            disk.path
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_disks_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0/42/disk.0");
        let loc = Location::parse(p.to_str().unwrap()).unwrap();
        let e = virtual_size(&mut Host::local(), &loc)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist on the front-end"), "{e}");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![0u8; 3 << 20]).unwrap();
        let s = virtual_size(&mut Host::local(), &loc).unwrap();
        assert_eq!((s.format.as_str(), s.virtual_size), ("raw", 3 << 20));
    }
}
