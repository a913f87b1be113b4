//! mkimage: the plan from conf and disk, the exact host script, and that
//! script run for real on local files (qemu-img, mkfs, mkswap).

use std::path::Path;
use std::process::Command;

use super::*;
use crate::config::{Config, Origin};
use crate::tm::ctx::COMMON_DEFAULTS;
use crate::transport::Host;

fn conf(extra: &[(&str, &str)]) -> Config {
    let mut c = Config::with_defaults(COMMON_DEFAULTS);
    for (k, v) in extra {
        c.set(k, v, Origin::Default);
    }
    c
}

fn disk(attrs: &[(&str, &str)]) -> Element {
    let mut xml = String::from("<DISK><DISK_ID>0</DISK_ID>");
    for (k, v) in attrs {
        xml.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    xml.push_str("</DISK>");
    Element::parse(&xml, "disk").unwrap()
}

fn plan(dst: &Path, format: Format, c: &Config, d: &[(&str, &str)]) -> Result<MkImage> {
    let loc = Location::parse(&format!("h:{}", dst.display())).unwrap();
    MkImage::plan(c, &disk(d), loc, 8, format)
}

/// Runs the plan's script locally at `dst`; returns its output.
fn build(p: &MkImage) -> crate::transport::Output {
    Host::local().output(&p.script(&temp_path(&p.dst))).unwrap()
}

fn qemu_info(p: &Path) -> (String, u64, u64) {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(p)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fmt = v["format"].as_str().unwrap().to_string();
    let alloc = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(p).unwrap()) * 512;
    (fmt, v["virtual-size"].as_u64().unwrap(), alloc)
}

fn blkid_type(p: &Path) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-s", "TYPE", "-o", "value"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn formats_are_an_allow_list() {
    assert_eq!(Format::parse("QCOW2").unwrap(), Format::Qcow2);
    assert_eq!(Format::parse("raw").unwrap(), Format::Raw);
    let e = Format::parse("vmdk").unwrap_err().to_string();
    assert!(
        e.contains("'vmdk'") && e.contains("raw, qcow2 or swap"),
        "{e}"
    );
}

#[test]
fn fs_is_checked_before_anything_runs() {
    let c = conf(&[]);
    let dst = Path::new("/ds/0/42/disk.0");
    let e = plan(dst, Format::Raw, &c, &[("FS", "x;touch /tmp/pwned")]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("'x;touch /tmp/pwned'"), "{msg}");
    assert!(msg.contains("ext2, ext3, ext4, xfs"), "{msg}");
    assert!(msg.contains("SUPPORTED_FS"), "{msg}");
    assert!(plan(dst, Format::Raw, &c, &[("FS", "btrfs")]).is_err());
    let c = conf(&[
        ("SUPPORTED_FS", "ext4 btrfs"),
        ("FS_OPTS_btrfs", "-m  single"),
    ]);
    let p = plan(dst, Format::Raw, &c, &[("FS", "btrfs")]).unwrap();
    assert_eq!(p.fs.as_deref(), Some("btrfs"));
    assert_eq!(p.fs_opts, ["-m", "single"]);
    // Swap ignores FS, even an unsupported one.
    let p = plan(dst, Format::Swap, &c, &[("FS", "zfs"), ("SPARSE", "NO")]).unwrap();
    assert_eq!(p.fs, None);
    assert!(p.preallocate);
}

#[test]
fn the_script_is_exact_for_a_file_system_in_qcow2() {
    let c = conf(&[
        ("QCOW2_OPTIONS", "-o compat=1.1"),
        ("FS_OPTS_ext4", "-L data"),
    ]);
    let p = plan(
        Path::new("/ds/0/42/disk.1"),
        Format::Qcow2,
        &c,
        &[("FS", "ext4")],
    )
    .unwrap();
    let cmd = p.script("/ds/0/42/.t");
    let text = &cmd.get_args()[1];
    assert_eq!(
        text,
        "set -o pipefail\nset -e\nexport PATH=\"/usr/sbin:/sbin:$PATH\"\n\
         tmp=/ds/0/42/.t raw=/ds/0/42/.t.raw\n\
         trap 'rm -f -- \"$tmp\" \"$raw\"' EXIT\n\
         mkdir -p -- /ds/0/42\n\
         qemu-img create -f raw /ds/0/42/.t.raw 8M\n\
         mkfs -t ext4 -F -L data /ds/0/42/.t.raw\n\
         qemu-img convert -f raw -O qcow2 -o compat=1.1 /ds/0/42/.t.raw /ds/0/42/.t\n\
         mv -fT -- /ds/0/42/.t /ds/0/42/disk.1"
    );
}

#[test]
fn images_are_built_for_real_and_replace_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let vm = dir.path().join("0/42");
    let dst = vm.join("disk.0");
    let c = conf(&[]);

    let p = plan(&dst, Format::Qcow2, &c, &[]).unwrap();
    assert!(build(&p).status.success());
    assert_eq!(qemu_info(&dst).0, "qcow2");
    assert_eq!(qemu_info(&dst).1, 8 << 20);

    // Re-running overwrites: now raw with ext4, preallocated.
    let p = plan(&dst, Format::Raw, &c, &[("FS", "ext4"), ("SPARSE", "no")]).unwrap();
    let out = build(&p);
    assert!(out.status.success(), "{}", out.stderr_str());
    let (fmt, size, alloc) = qemu_info(&dst);
    assert_eq!((fmt.as_str(), size), ("raw", 8 << 20));
    assert!(alloc >= 8 << 20, "preallocated: {alloc} bytes allocated");
    assert_eq!(blkid_type(&dst), "ext4");

    let p = plan(&dst, Format::Qcow2, &c, &[("FS", "ext3")]).unwrap();
    assert!(build(&p).status.success());
    assert_eq!(qemu_info(&dst).0, "qcow2");
    let back = dir.path().join("back.raw");
    let st = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .args([&dst, &back])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(blkid_type(&back), "ext3");

    let p = plan(&dst, Format::Swap, &c, &[]).unwrap();
    assert!(build(&p).status.success());
    assert_eq!(blkid_type(&dst), "swap");
    assert!(qemu_info(&dst).2 < 1 << 20, "sparse swap");
    assert!(leftovers(&vm).is_empty(), "{:?}", leftovers(&vm));
}

#[test]
fn a_failed_build_keeps_the_old_destination_and_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let vm = dir.path().join("0/42");
    std::fs::create_dir_all(&vm).unwrap();
    let dst = vm.join("disk.0");
    std::fs::write(&dst, "old").unwrap();
    let c = conf(&[("FS_OPTS_ext4", "--no-such-option")]);
    for format in [Format::Raw, Format::Qcow2] {
        let p = plan(&dst, format, &c, &[("FS", "ext4")]).unwrap();
        let out = build(&p);
        assert!(!out.status.success());
        assert_eq!(std::fs::read_to_string(&dst).unwrap(), "old");
        assert!(leftovers(&vm).is_empty(), "{:?}", leftovers(&vm));
    }
}
