//! clone <fe:SOURCE> <host:sysdir/disk.i> <vm_id> <ds_id>
//!
//! A non-persistent disk on shared storage, built on the destination host:
//! qcow2 images become the §13.2 layout (a thin overlay `disk.i.snap/0` over
//! the absolute image path, or a standalone full copy with
//! QCOW2_STANDALONE=yes); anything else is a sparse full copy. The new disk
//! is built under temporary names and renamed into place, so a re-run after
//! a failure starts clean and never leaves a half-copied `disk.i`.

use crate::command::Script;
use crate::dispatch::Invocation;
use crate::error::Result;
use crate::tm::args::{expect_args, Location};
use crate::tools;

use super::disk::DiskAttrs;
use super::{conf, layout, probe};

/// How the disk is made from the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// qcow2 overlay over the image, whose format was probed.
    Overlay { image_format: String },
    /// Full `qemu-img convert` to qcow2.
    Standalone { image_format: String },
    /// Sparse full copy (raw and any other format, kernels, initrds).
    Copy,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Overlay { image_format } => {
                write!(f, "qcow2 overlay over a {image_format} image")
            }
            Mode::Standalone { image_format } => {
                write!(f, "standalone qcow2 copy of a {image_format} image")
            }
            Mode::Copy => f.write_str("sparse copy"),
        }
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let src = Location::parse(&inv.args[0])?;
    let dst = Location::parse(&inv.args[1])?;
    let vm_id = conf::vm_id(&inv.args[2])?.to_string();
    dst.require_host()?;
    super::check_vm_path(&dst, &vm_id)?;
    let mut ctx = conf::load(inv)?;
    let options = conf::qcow2_options(&ctx)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let vm = ctx.vm(&vm_id)?.clone();
    let disk = DiskAttrs::from_vm(&vm, &vm_id, dst.disk_id())?;
    let image = layout::reroot(&src.path, &dst.path);
    let host = super::connect(&mut ctx, &dst)?;

    let mode = if disk.is_qcow2() && dst.is_disk() {
        let info = probe::image_info(host, &image, timeout)?;
        if disk.standalone {
            Mode::Standalone {
                image_format: info.format,
            }
        } else {
            Mode::Overlay {
                image_format: info.format,
            }
        }
    } else {
        Mode::Copy
    };
    log::info!("Cloning {image} in {dst}: {mode}");
    let s = script(&image, &dst.path, &mode, &disk, &options);
    super::run_script(host, s, &format!("Error copying {src} to {dst}"))?;
    Ok(String::new())
}

/// The one host-side script: clean leftovers, build under temporary names,
/// rename into place.
pub fn script(
    image: &str,
    disk: &str,
    mode: &Mode,
    attrs: &DiskAttrs,
    options: &[String],
) -> Script {
    let sysdir = crate::tm::args::parent(disk);
    let snap = layout::snap_dir(disk);
    let s = Script::new()
        .cmd(&tools::MKDIR.cmd().args(["-p", &sysdir]))
        // The shared system DS is monitored from the front-end (§14).
        .cmd(&tools::RM.cmd().args(["-f", &layout::monitor_file(&sysdir)]));
    match mode {
        Mode::Copy => {
            let tmp = layout::tmp_path(disk);
            let mut s = s.cmd(&tools::RM.cmd().args(["-f", &tmp]));
            s = layout::copy_file(s, image, &tmp, attrs.sparse);
            if let Some(size) = attrs.grow_to() {
                s = s.cmd(&layout::resize(&tmp, size, attrs.sparse));
            }
            s.cmd(&tools::RM.cmd().args(["-rf", &snap]))
                .cmd(&tools::MV.cmd().args(["-Tf", &tmp, disk]))
        }
        Mode::Overlay { .. } | Mode::Standalone { .. } => {
            let tmp = layout::tmp_path(&snap);
            let zero = format!("{tmp}/0");
            let make = match mode {
                Mode::Overlay { image_format } => {
                    layout::qcow2_overlay(image, image_format, options, &zero)
                }
                Mode::Standalone { image_format } => {
                    let mut c = tools::QEMU_IMG.cmd().args([
                        "convert",
                        "-q",
                        "-f",
                        image_format,
                        "-O",
                        "qcow2",
                    ]);
                    if !attrs.sparse {
                        c = c.args(["-S", "0"]);
                    }
                    c.args([image, zero.as_str()])
                }
                Mode::Copy => unreachable!("handled above"),
            };
            let mut s = s
                .cmd(&tools::RM.cmd().args(["-rf", &tmp]))
                .cmd(&tools::MKDIR.cmd().arg(&tmp))
                .cmd(&make);
            if let Some(size) = attrs.grow_to() {
                s = s.cmd(&layout::resize(&zero, size, attrs.sparse));
            }
            let self_name = format!("{}.snap", layout::name(disk));
            s = s
                .cmd(
                    &tools::LN
                        .cmd()
                        .args(["-s", ".", &format!("{tmp}/{self_name}")]),
                )
                .cmd(&tools::RM.cmd().args(["-rf", disk, &snap]))
                .cmd(&tools::MV.cmd().args(["-T", &tmp, &snap]));
            layout::relink(s, &format!("{self_name}/0"), disk)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_script_builds_the_layout_under_a_temporary_name() {
        let attrs = DiskAttrs {
            size_mb: Some(2048),
            original_size_mb: Some(1024),
            sparse: true,
            ..Default::default()
        };
        let s = script(
            "/ds/1/abc",
            "/ds/0/7/disk.0",
            &Mode::Overlay {
                image_format: "raw".into(),
            },
            &attrs,
            &["-o".into(), "compat=0.10".into()],
        )
        .text();
        let t = "/ds/0/7/.disk.0.snap.one-storage-tmp";
        let want = [
            "mkdir -p /ds/0/7".to_string(),
            "rm -f /ds/0/.monitor".into(),
            format!("rm -rf {t}"),
            format!("mkdir {t}"),
            format!(
                "qemu-img create -q -f qcow2 -o backing_fmt=raw -b /ds/1/abc -o compat=0.10 {t}/0"
            ),
            format!("qemu-img resize -q {t}/0 2048M"),
            format!("ln -s . {t}/disk.0.snap"),
            "rm -rf /ds/0/7/disk.0 /ds/0/7/disk.0.snap".into(),
            format!("mv -T {t} /ds/0/7/disk.0.snap"),
        ];
        for w in want {
            assert!(s.contains(&w), "missing {w:?} in\n{s}");
        }
        assert!(
            s.ends_with("mv -Tf /ds/0/7/.disk.0.one-storage-tmp /ds/0/7/disk.0"),
            "{s}"
        );
    }

    #[test]
    fn raw_copy_preallocates_only_for_sparse_no() {
        let attrs = DiskAttrs {
            sparse: false,
            ..Default::default()
        };
        let s = script("/ds/1/abc", "/ds/0/7/disk.0", &Mode::Copy, &attrs, &[]).text();
        assert!(
            s.contains("cp --sparse=always /ds/1/abc /ds/0/7/.disk.0.one-storage-tmp"),
            "{s}"
        );
        assert!(s.contains("fallocate --length"), "{s}");
        let sparse = DiskAttrs {
            sparse: true,
            ..Default::default()
        };
        let s = script("/ds/1/abc", "/ds/0/7/disk.0", &Mode::Copy, &sparse, &[]).text();
        assert!(!s.contains("fallocate"), "{s}");
    }
}
