//! mvds / cpds: a host disk back into the image datastore on the front-end,
//! atomically, flattening chains on the host.

use super::helpers::*;
use crate::tm_support::{Disk, Transport, Vm};

crate::both!(
    mvds_replaces_the_image_atomically,
    cpds_of_a_snapshot_and_of_a_chain,
    cpds_live_without_libvirt_fails_cleanly,
);

fn mvds_replaces_the_image_atomically(t: Transport) {
    let x = T::new(1, t);
    x.env
        .set_vm(7, &Vm::new(7).disk(Disk::new(0)).on("lab1", 0).xml());
    sparse_file(&x.on("lab1", "0/7/disk.0"), 64 * MIB, 2);
    write(&x.on("lab1", "0/7/disk.0.snap/0"), b"snap 0");
    write(&x.on("fe", "1/abc"), b"old image");
    write(&x.on("fe", "1/abc.md5sum"), b"0123");
    let source = x.path("1/abc").display().to_string();
    let disk = x.loc("lab1", "0/7/disk.0");

    // The image datastore cannot be written: the image stays as it was.
    immutable(&x.on("fe", "1"), true);
    let out = x.fail("mvds", &[&disk, &source, "7", "1"]);
    immutable(&x.on("fe", "1"), false);
    assert!(why(&out).starts_with("cannot prepare"), "{}", why(&out));
    assert_eq!(std::fs::read(x.on("fe", "1/abc")).unwrap(), b"old image");

    x.lab.reset_counts();
    x.ok("mvds", &[&disk, &source, "7", "1"]);
    assert_eq!(x.lab.ssh_connections("lab1"), 1);
    let img = x.on("fe", "1/abc");
    assert_eq!(apparent(&img), 64 * MIB);
    assert!(allocated(&img) < 4 * MIB, "sparse");
    assert_eq!(
        head(&img, 16 * MIB),
        head(&x.on("lab1", "0/7/disk.0"), 16 * MIB)
    );
    assert_eq!(
        std::fs::read(x.on("fe", "1/abc.snap/0")).unwrap(),
        b"snap 0"
    );
    assert_eq!(
        names(&x.on("fe", "1")),
        ["abc", "abc.snap"],
        "md5sum and staging gone"
    );
    assert!(
        x.on("lab1", "0/7/disk.0").exists(),
        "the host copy stays for delete"
    );
}

fn cpds_of_a_snapshot_and_of_a_chain(t: Transport) {
    let x = T::with_conf(1, t, "QCOW2_OPTIONS=\"-o compat=0.10\"");
    x.env
        .set_vm(7, &Vm::new(7).disk(Disk::new(0)).on("lab1", 0).xml());
    write(&x.on("lab1", "0/7/disk.0"), b"current");
    write(&x.on("lab1", "0/7/disk.0.snap/2"), b"snapshot two");
    x.ok(
        "cpds",
        &[
            &x.loc("lab1", "0/7/disk.0"),
            &x.path("1/new").display().to_string(),
            "2",
            "7",
            "1",
        ],
    );
    assert_eq!(std::fs::read(x.on("fe", "1/new")).unwrap(), b"snapshot two");
    x.ok(
        "cpds",
        &[
            &x.loc("lab1", "0/7/disk.0"),
            &x.path("1/cur").display().to_string(),
            "-1",
            "7",
            "1",
        ],
    );
    assert_eq!(std::fs::read(x.on("fe", "1/cur")).unwrap(), b"current");

    // A qcow2 chain on the host: disk.1 -> disk.1.snap/1 over disk.1.snap/0.
    let raw = x.on("fe", "raw");
    sparse_file(&raw, 32 * MIB, 1);
    std::fs::copy(&raw, x.on("lab1", "0/7/raw")).unwrap();
    let script = format!(
        "set -e; cd {}; mkdir disk.1.snap; qemu-img convert -q -f raw -O qcow2 raw disk.1.snap/0; \
         ln -s . disk.1.snap/disk.1.snap; \
         qemu-img create -q -f qcow2 -F qcow2 -b disk.1.snap/0 disk.1.snap/1; ln -s disk.1.snap/1 disk.1",
        x.path("0/7").display()
    );
    crate::common::cmd::expect_ok(x.lab.sh_on("lab1", &script), "make a chain on lab1");
    x.ok(
        "cpds",
        &[
            &x.loc("lab1", "0/7/disk.1"),
            &x.path("1/flat").display().to_string(),
            "-1",
            "7",
            "1",
        ],
    );
    let info: serde_json::Value = serde_json::from_slice(
        &std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(x.on("fe", "1/flat"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "standalone: {info}");
    assert_eq!(
        info["format-specific"]["data"]["compat"], "0.10",
        "QCOW2_OPTIONS: {info}"
    );
    let same = std::process::Command::new("qemu-img")
        .args(["compare", "-q", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(x.on("fe", "1/flat"))
        .status()
        .unwrap();
    assert!(same.success(), "flattened content differs");
    assert_eq!(
        names(&x.on("lab1", "0/7")),
        ["disk.0", "disk.0.snap", "disk.1", "disk.1.snap", "raw"],
        "no temporary left on the host"
    );
}

fn cpds_live_without_libvirt_fails_cleanly(t: Transport) {
    let x = T::new(1, t);
    let mut vm = Vm::new(7)
        .disk(Disk::new(0).attr("TARGET", "vda"))
        .on("lab1", 0)
        .state(26);
    vm.deploy_id = "one-7".into();
    x.env.set_vm(7, &vm.xml());
    write(&x.on("lab1", "0/7/disk.0"), b"live");
    let out = x.fail(
        "cpds",
        &[
            &x.loc("lab1", "0/7/disk.0"),
            &x.path("1/new").display().to_string(),
            "-1",
            "7",
            "1",
        ],
    );
    assert!(why(&out).contains("Error exporting"), "{}", why(&out));
    assert!(!x.on("fe", "1/new").exists());
    assert_eq!(
        names(&x.on("lab1", "0/7")),
        ["disk.0"],
        "no export left behind"
    );
}
