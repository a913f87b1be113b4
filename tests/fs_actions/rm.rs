use std::os::unix::fs::symlink;

use crate::support::*;

/// An image with the qcow2 snapshot layout, a checksum cache, and a symlink
/// inside `.snap` that leads out of the datastore (rm must not follow it).
fn image_with_snapshots(ds: &Ds) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(&ds.base).unwrap();
    let img = ds.base.join("0123456789abcdef0123456789abcdef");
    qemu_img(&["create", "-q", "-f", "qcow2", img.to_str().unwrap(), "1M"]);
    let snap = ds.base.join("0123456789abcdef0123456789abcdef.snap");
    std::fs::create_dir(&snap).unwrap();
    symlink(".", snap.join("0123456789abcdef0123456789abcdef.snap")).unwrap();
    symlink(&img, snap.join("0")).unwrap();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        "0123456789abcdef0123456789abcdef.snap/0",
        snap.join("1").to_str().unwrap(),
    ]);
    std::fs::write(
        ds.base.join("0123456789abcdef0123456789abcdef.md5sum"),
        "x\n",
    )
    .unwrap();
    let outside = ds.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "precious").unwrap();
    symlink(&outside, snap.join("escape")).unwrap();
    (img, outside)
}

#[test]
fn removes_image_snapshots_and_checksum_but_nothing_outside() {
    let ds = Ds::new();
    let (img, outside) = image_with_snapshots(&ds);
    std::fs::write(ds.base.join("other"), "another image").unwrap();
    let d = ds.dump().image("SOURCE", img.to_str().unwrap());
    assert_eq!(ds.run("rm", "7", &d).ok(), "");
    assert_eq!(ds.base_names(), vec!["other"], "{}", listing(&ds.base));
    assert_eq!(
        std::fs::read_to_string(outside.join("keep")).unwrap(),
        "precious"
    );
}

#[test]
fn an_image_already_gone_is_removed() {
    let ds = Ds::new();
    std::fs::create_dir_all(&ds.base).unwrap();
    let gone = ds.base.join("ffffffffffffffffffffffffffffffff");
    // What a half-finished earlier rm may have left.
    std::fs::create_dir(ds.base.join("ffffffffffffffffffffffffffffffff.snap")).unwrap();
    let r = ds.run(
        "rm",
        "7",
        &ds.dump().image("SOURCE", gone.to_str().unwrap()),
    );
    assert_eq!(r.ok(), "");
    assert!(r.stderr.contains("already gone"), "{}", r.stderr);
    assert_eq!(ds.base_names(), Vec::<String>::new());
    // And again, with nothing at all left.
    assert_eq!(
        ds.run(
            "rm",
            "7",
            &ds.dump().image("SOURCE", gone.to_str().unwrap())
        )
        .ok(),
        ""
    );
}

#[test]
fn sources_outside_base_path_are_refused_and_survive() {
    let ds = Ds::new();
    std::fs::create_dir_all(&ds.base).unwrap();
    let outside = ds.path("victim");
    std::fs::write(&outside, "precious").unwrap();
    let base = ds.base_str();
    let refused = [
        outside.to_str().unwrap().to_string(),
        format!("{base}/../../victim"),
        format!("{base}/.."),
        "/".to_string(),
        base.to_string(),
        format!("{base}/"),
        String::new(),
    ];
    for src in &refused {
        let r = ds.run("rm", "7", &ds.dump().image("SOURCE", src));
        let line = r.fails_with(
            if src.contains("..") || src.ends_with('/') || src.is_empty() {
                "is not an image path"
            } else {
                "refusing to remove"
            },
        );
        assert!(
            line.contains("IMAGE/SOURCE") || line.contains("BASE_PATH"),
            "{line}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    assert!(ds.base.is_dir());
    // A directory inside the datastore that links out of it is outside too.
    symlink(ds.tmp.path(), ds.base.join("up")).unwrap();
    let r = ds.run(
        "rm",
        "7",
        &ds.dump().image("SOURCE", &format!("{base}/up/victim")),
    );
    r.fails_with("refusing to remove");
    assert!(outside.exists());
}

#[test]
fn a_datastore_reached_through_a_changed_location_symlink_still_works() {
    let ds = Ds::new();
    // The image was registered under /old/100; DATASTORE_LOCATION is now
    // /new, a symlink to the same storage.
    let old = ds.path("old/100");
    std::fs::create_dir_all(&old).unwrap();
    symlink(ds.path("old"), ds.path("new")).unwrap();
    let img = old.join("abc");
    std::fs::write(&img, "data").unwrap();
    let d = ds
        .dump()
        .ds("BASE_PATH", ds.path("new/100").to_str().unwrap())
        .image("SOURCE", img.to_str().unwrap());
    assert_eq!(ds.run("rm", "7", &d).ok(), "");
    assert!(!img.exists());
}
