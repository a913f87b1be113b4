//! ln <fe:SOURCE> <host:sysdir/disk.i> <vm_id> <ds_id>
//!
//! A persistent disk on shared storage is used in place: `disk.i` is an
//! absolute link to the image (raw), or to the active file of the image's own
//! snap dir `<image>.snap/` (qcow2, §13.3), which keeps its snapshots in the
//! image datastore. The image format is probed with qemu-img on the host.

use crate::command::Script;
use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, parent, Location};
use crate::tools;

use super::{conf, layout, probe};

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let src = Location::parse(&inv.args[0])?;
    let dst = Location::parse(&inv.args[1])?;
    let vm_id = conf::vm_id(&inv.args[2])?.to_string();
    dst.require_host()?;
    super::check_vm_path(&dst, &vm_id)?;
    let mut ctx = conf::load(inv)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let image = layout::reroot(&src.path, &dst.path);
    let host = super::connect(&mut ctx, &dst)?;

    let info = probe::image_info(host, &image, timeout)?;
    let script = if info.format == "raw" {
        raw_script(&image, &dst.path)
    } else {
        let names = probe::list_dir(host, &layout::snap_dir(&image), timeout)?;
        let active = probe::max_numeric(names.iter().map(String::as_str));
        qcow2_script(&image, &dst.path, active)
    };
    log::info!("Linking {image} in {dst} ({} image)", info.format);
    super::run_script(host, script, &format!("Error linking {src} to {dst}"))?;
    Ok(String::new())
}

/// `disk.i -> <image>` (absolute); a stale `disk.i.snap` goes.
pub fn raw_script(image: &str, disk: &str) -> Script {
    let s = Script::new()
        .cmd(&tools::MKDIR.cmd().args(["-p", &parent(disk)]))
        .cmd(&tools::RM.cmd().args(["-rf", &layout::snap_dir(disk)]));
    layout::relink(s, image, disk)
}

/// `<image>.snap/` with its self-link, `0 -> <image>` when it holds no
/// snapshot yet, and `disk.i -> <image>.snap/<active>` (absolute).
pub fn qcow2_script(image: &str, disk: &str, active: Option<u64>) -> Script {
    let snap = layout::snap_dir(image);
    let mut s = Script::new().cmd(&tools::MKDIR.cmd().args(["-p", &parent(disk)]));
    s = layout::ensure_snap_dir(s, image);
    if active.is_none() {
        s = layout::relink(s, image, &format!("{snap}/0"));
    }
    s = s.cmd(&tools::RM.cmd().args(["-rf", &layout::snap_dir(disk)]));
    layout::relink(s, &format!("{snap}/{}", active.unwrap_or(0)), disk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: Script) {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(s.into_cmd().shell_line())
            .status()
            .unwrap();
        assert!(st.success());
    }

    #[test]
    fn qcow2_layout_on_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let image = format!("{d}/1/abc");
        std::fs::create_dir_all(format!("{d}/1")).unwrap();
        std::fs::write(&image, b"x").unwrap();
        let disk = format!("{d}/0/7/disk.0");
        std::fs::create_dir_all(format!("{disk}.snap")).unwrap();
        run(qcow2_script(&image, &disk, None));
        let rl = |p: &str| std::fs::read_link(p).unwrap().to_str().unwrap().to_string();
        assert_eq!(rl(&disk), format!("{image}.snap/0"));
        assert_eq!(rl(&format!("{image}.snap/0")), image);
        assert_eq!(rl(&format!("{image}.snap/abc.snap")), ".");
        assert!(!std::path::Path::new(&format!("{disk}.snap")).exists());
        // Again, with snapshots: the link follows the highest one.
        run(qcow2_script(&image, &disk, Some(3)));
        assert_eq!(rl(&disk), format!("{image}.snap/3"));
    }
}
