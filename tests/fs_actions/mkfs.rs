use std::path::Path;

use crate::support::*;

/// The one path mkfs prints: a fresh `BASE_PATH/<md5>`.
fn created(ds: &Ds, out: &str) -> std::path::PathBuf {
    let p = Path::new(out.trim_end());
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(p.parent().unwrap(), ds.base, "{out}");
    let name = p.file_name().unwrap().to_str().unwrap();
    assert!(
        name.len() == 32 && name.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );
    p.to_path_buf()
}

#[test]
fn raw_and_qcow2_datablocks_have_the_asked_size() {
    let ds = Ds::new();
    let raw = created(
        &ds,
        ds.run(
            "mkfs",
            "7",
            &ds.dump().image("FORMAT", "raw").image("SIZE", "20"),
        )
        .ok(),
    );
    assert_eq!(format_of(&raw), "raw");
    assert_eq!(virtual_size(&raw), 20 << 20);
    assert!(allocated(&raw) < 1 << 20, "a new raw datablock is sparse");
    let q = created(
        &ds,
        ds.run(
            "mkfs",
            "8",
            &ds.dump().image("FORMAT", "qcow2").image("SIZE", "30"),
        )
        .ok(),
    );
    assert_eq!(format_of(&q), "qcow2");
    assert_eq!(virtual_size(&q), 30 << 20);
    // Nothing else: no temporaries left beside the images.
    assert_eq!(ds.base_names().len(), 2, "{}", listing(&ds.base));
}

#[test]
fn ext4_datablock_with_fs_opts_from_the_conf_file() {
    let ds = Ds::new();
    ds.conf("FS_OPTS_ext4=\"-L 'my data' -m 0\"\n");
    let d = ds.dump().image("FS", "ext4").image("SIZE", "16");
    let raw = created(
        &ds,
        ds.run("mkfs", "7", &d.clone().image("FORMAT", "raw")).ok(),
    );
    let blkid = sh("blkid", &["-o", "export", raw.to_str().unwrap()]);
    assert!(blkid.contains("TYPE=ext4"), "{blkid}");
    assert!(
        blkid.contains("LABEL=my\\ data") || blkid.contains("LABEL=my data"),
        "{blkid}"
    );
    // qcow2: formatted raw, then converted.
    let q = created(&ds, ds.run("mkfs", "8", &d.image("FORMAT", "qcow2")).ok());
    assert_eq!(format_of(&q), "qcow2");
    assert_eq!(virtual_size(&q), 16 << 20);
    let flat = ds.path("flat");
    qemu_img(&[
        "convert",
        "-O",
        "raw",
        q.to_str().unwrap(),
        flat.to_str().unwrap(),
    ]);
    let blkid = sh("blkid", &["-o", "export", flat.to_str().unwrap()]);
    assert!(blkid.contains("TYPE=ext4"), "{blkid}");
    assert_eq!(ds.base_names().len(), 2, "{}", listing(&ds.base));
}

#[test]
fn swap_datablock_is_labelled_swap() {
    let ds = Ds::new();
    let p = created(
        &ds,
        ds.run(
            "mkfs",
            "7",
            &ds.dump().image("FORMAT", "swap").image("SIZE", "8"),
        )
        .ok(),
    );
    let blkid = sh("blkid", &["-o", "export", p.to_str().unwrap()]);
    assert!(
        blkid.contains("TYPE=swap") && blkid.contains("LABEL=swap"),
        "{blkid}"
    );
    assert_eq!(virtual_size(&p), 8 << 20);
}

#[test]
fn save_as_prints_a_path_and_creates_nothing() {
    let ds = Ds::new();
    let r = ds.run(
        "mkfs",
        "7",
        &ds.dump().image("FORMAT", "save_as").image("SIZE", "20"),
    );
    let p = created(&ds, r.ok());
    assert!(!p.exists());
    assert!(!ds.base.exists(), "save_as must not even create BASE_PATH");
}

#[test]
fn fs_injection_is_refused_before_anything_runs() {
    let ds = Ds::new();
    let marker = ds.path("pwned");
    let onehost_ran = ds.path("onehost-ran");
    // Were the host list consulted, this fake onehost would leave a mark.
    ds.fake_onehost(&format!("touch '{}'", onehost_ran.display()));
    for fs in [
        format!("x;touch {}", marker.display()),
        format!("$(touch {})", marker.display()),
    ] {
        let d = ds
            .dump()
            .image("FS", &fs)
            .image("SIZE", "1")
            .ds_tpl("BRIDGE_LIST", "lab1");
        let line = ds.run("mkfs", "7", &d).fails_with("SUPPORTED_FS");
        assert!(line.contains("is not a supported file system"), "{line}");
        assert!(line.contains(&fs), "the message names the value: {line}");
    }
    assert!(!marker.exists(), "the FS value was run");
    assert!(!onehost_ran.exists(), "something ran before FS was checked");
    assert!(!ds.base.exists());
}

#[test]
fn unsupported_fs_names_the_list_and_where_it_is_set() {
    let ds = Ds::new();
    let line = ds
        .run("mkfs", "7", &ds.dump().image("FS", "btrfs"))
        .fails_with("IMAGE/FS 'btrfs'");
    assert!(
        line.contains("SUPPORTED_FS is ext2,ext3,ext4,xfs (set in the built-in default)"),
        "{line}"
    );
    ds.conf("SUPPORTED_FS=ext4\n");
    let line = ds
        .run("mkfs", "7", &ds.dump().image("FS", "ext3"))
        .fails_with("SUPPORTED_FS is ext4");
    assert!(line.contains("fs.conf"), "{line}");
    assert!(!ds.base.exists());
}

#[test]
fn a_failed_mkfs_leaves_nothing() {
    let ds = Ds::new();
    // mkfs.ext4 cannot format a zero-sized file: the half-built image goes.
    let d = ds.dump().image("FS", "ext4").image("SIZE", "0");
    let line = ds
        .run("mkfs", "7", &d)
        .fails_with("Unable to create image with format raw in");
    assert!(
        line.contains("mkfs -F -t ext4"),
        "the failed command is shown: {line}"
    );
    assert_eq!(
        ds.base_names(),
        Vec::<String>::new(),
        "{}",
        listing(&ds.base)
    );
    ds.run("mkfs", "7", &ds.dump().image("SIZE", "ten"))
        .fails_with("IMAGE/SIZE 'ten'");
}
