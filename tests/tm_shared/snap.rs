//! Snapshots: create -> revert -> delete round trips where the data really
//! reverts and survives rebases, for clones, persistent images and raw disks.

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn setup(fx: &Fx, img: &str, fmt: &str, clone: bool) -> String {
    let d = Disk::new(0)
        .attr("SOURCE", img)
        .attr("FORMAT", fmt)
        .attr("CLONE", if clone { "YES" } else { "NO" })
        .attr("TARGET", "vda");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d));
    let disk = fx.p("0/7/disk.0");
    fx.ok(
        if clone { "clone" } else { "ln" },
        &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"],
    );
    disk
}

fn snap(fx: &Fx, action: &str, disk: &str, id: &str) {
    fx.lab.reset_counts();
    fx.ok(action, &[&fx.at(disk), id, "7", "1"]);
    assert_eq!(
        fx.lab.ssh_connections(&fx.host),
        1,
        "{action}: one connection"
    );
}

fn backing(fx: &Fx, file: &str) -> Option<String> {
    fx.chain_summary(file)[0].1.clone()
}

fn snapshots_of_a_qcow2_clone(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    let disk = setup(&fx, &img, "qcow2", true);
    let sd = format!("{disk}.snap");
    let q = |pat: &str, off: &str| fx.reads(&disk, "qcow2", pat, off, "64k");

    fx.write(&disk, "qcow2", "0xab", "0", "64k");
    snap(&fx, "snap_create", &disk, "0");
    assert_eq!(link(&disk), "disk.0.snap/1");
    assert_eq!(
        backing(&fx, &format!("{sd}/1")).as_deref(),
        Some("disk.0.snap/0"),
        "relative backing name"
    );
    fx.write(&disk, "qcow2", "0xef", "0", "64k");
    assert!(q("0xef", "0"));
    snap(&fx, "snap_revert", &disk, "0");
    assert_eq!(link(&disk), "disk.0.snap/1", "revert keeps the link");
    assert!(q("0xab", "0"), "the data reverted");
    assert_eq!(
        backing(&fx, &format!("{sd}/1")).as_deref(),
        Some("disk.0.snap/0")
    );

    fx.write(&disk, "qcow2", "0x11", "1M", "64k");
    snap(&fx, "snap_create", &disk, "1");
    fx.write(&disk, "qcow2", "0x22", "2M", "64k");
    snap(&fx, "snap_create", &disk, "2");
    assert_eq!(link(&disk), "disk.0.snap/3");
    assert_eq!(names(&sd), ["0", "1", "2", "3", "disk.0.snap"]);
    let all_data = || q("0xab", "0") && q("0x11", "1M") && q("0x22", "2M") && q("0xcd", "64k");
    assert!(all_data());

    // A snapshot in the middle: its child is rebased, the data stays.
    snap(&fx, "snap_delete", &disk, "1");
    assert_eq!(names(&sd), ["0", "2", "3", "disk.0.snap"]);
    assert_eq!(
        backing(&fx, &format!("{sd}/2")).as_deref(),
        Some("disk.0.snap/0"),
        "still relative"
    );
    assert!(all_data());
    // The snapshot under the active layer (oned's ACTIVE=YES).
    snap(&fx, "snap_delete", &disk, "2");
    assert_eq!(names(&sd), ["0", "3", "disk.0.snap"]);
    assert_eq!(
        backing(&fx, &format!("{sd}/3")).as_deref(),
        Some("disk.0.snap/0")
    );
    assert!(all_data());
    // The first one: the active layer now sits on the image itself.
    snap(&fx, "snap_delete", &disk, "0");
    assert_eq!(names(&sd), ["3", "disk.0.snap"]);
    assert_eq!(backing(&fx, &disk).as_deref(), Some(img.as_str()));
    assert!(all_data());
    fx.check(&disk);
    // Deleting it again is a success: it is gone.
    snap(&fx, "snap_delete", &disk, "0");

    // Re-running a create that succeeded changes nothing.
    snap(&fx, "snap_create", &disk, "2");
    assert_eq!(names(&sd), ["3", "disk.0.snap"]);
    // A leftover of a failed create (file 4, not in any chain) is replaced.
    fx.on_host(&[
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        &format!("{sd}/4"),
        "1M",
    ]);
    snap(&fx, "snap_create", &disk, "3");
    assert_eq!(link(&disk), "disk.0.snap/4");
    assert_eq!(
        backing(&fx, &format!("{sd}/4")).as_deref(),
        Some("disk.0.snap/3")
    );
    assert!(all_data());
    fx.check(&disk);
    // A file the chain uses is never replaced: a clear error.
    let r = fx.fail("snap_create", &[&fx.at(&disk), "2", "7", "1"]);
    assert!(
        r.contains("already exists") && r.contains(&format!("{sd}/3")),
        "{r}"
    );
    assert!(all_data());
}

fn snapshots_of_a_persistent_qcow2(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    let disk = setup(&fx, &img, "qcow2", false);
    let sd = format!("{img}.snap");
    fx.write(&disk, "qcow2", "0xab", "0", "64k");
    snap(&fx, "snap_create", &disk, "0");
    assert_eq!(
        link(&disk),
        format!("{sd}/1"),
        "absolute link for persistent images"
    );
    assert_eq!(
        backing(&fx, &format!("{sd}/1")),
        Some(format!("{sd}/0")),
        "absolute backing name"
    );
    fx.write(&disk, "qcow2", "0xef", "0", "64k");
    snap(&fx, "snap_revert", &disk, "0");
    assert!(fx.reads(&disk, "qcow2", "0xab", "0", "64k"));
    assert!(
        !exists(&fx.p("0/7/disk.0.snap")),
        "snapshots live beside the image"
    );
    snap(&fx, "snap_delete", &disk, "0");
    assert_eq!(names(&sd), ["1", "abc.snap"]);
    assert!(
        is_file(&img),
        "deleting snapshot 0 removes the 0 link, never the image"
    );
    assert!(fx.reads(&disk, "qcow2", "0xab", "0", "64k"));
    assert!(fx.reads(&disk, "qcow2", "0xcd", "64k", "64k"));
    fx.check(&disk);
}

fn snapshots_of_raw_disks(t: Transport) {
    let fx = Fx::new(t);
    for clone in [true, false] {
        let img = fx.raw_image(if clone { "1/c" } else { "1/p" }, GIB, MIB);
        let disk = setup(&fx, &img, "raw", clone);
        let sd = format!("{}.snap", if clone { disk.clone() } else { img.clone() });
        fx.write(&disk, "raw", "0xab", "0", "64k");
        snap(&fx, "snap_create", &disk, "0");
        assert!(is_file(&format!("{sd}/0")));
        assert!(
            allocated(&format!("{sd}/0")) < 2 * MIB,
            "a sparse full copy"
        );
        fx.write(&disk, "raw", "0xef", "0", "64k");
        snap(&fx, "snap_revert", &disk, "0");
        assert!(fx.reads(&disk, "raw", "0xab", "0", "64k"), "clone={clone}");
        if !clone {
            assert_eq!(link(&disk), img, "the persistent image itself reverted");
            assert!(fx.reads(&img, "raw", "0xab", "0", "64k"));
        }
        snap(&fx, "snap_delete", &disk, "0");
        assert!(!exists(&format!("{sd}/0")));
        snap(&fx, "snap_delete", &disk, "0");
        std::fs::remove_dir_all(fx.p("0/7")).unwrap();
    }
}

fn snapshot_arguments(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, 0);
    let disk = setup(&fx, &img, "qcow2", true);
    for (args, want) in [
        (
            vec![fx.at(&disk), "x".into(), "7".into(), "1".into()],
            "snap_id 'x' is not a number",
        ),
        (
            vec![fx.at(&disk), "0".into(), "7".into()],
            "expected 4 arguments, got 3",
        ),
        (
            vec![
                fx.at(&fx.p("0/8/disk.0")),
                "0".into(),
                "7".into(),
                "1".into(),
            ],
            "is not in the directory of VM 7",
        ),
        (
            vec![disk.clone(), "0".into(), "7".into(), "1".into()],
            "has no host part",
        ),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        for action in ["snap_create", "snap_revert", "snap_delete"] {
            let r = fx.fail(action, &a);
            assert!(r.contains(want), "{action}: {r}");
        }
    }
    // Reverting to a snapshot that does not exist names it.
    let r = fx.fail("snap_revert", &[&fx.at(&disk), "5", "7", "1"]);
    assert!(
        r.contains("Snapshot 5") && r.contains("does not exist"),
        "{r}"
    );
}

crate::both_transports!(
    snapshots_of_a_qcow2_clone,
    snapshots_of_a_persistent_qcow2,
    snapshots_of_raw_disks,
    snapshot_arguments
);
