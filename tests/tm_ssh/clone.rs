//! clone / ln: front-end image → host disk, sparse, verified, renamed.

use std::time::Instant;

use super::helpers::*;
use crate::tm_support::{Disk, Transport, Vm};

crate::both!(
    sparse_raw_sends_only_data,
    sparse_no_is_fully_allocated_and_preallocated_on_resize,
    qcow2_file_and_snap_chain,
    resize_grows_the_disk,
    missing_image_fails_cleanly,
    from_another_host_and_within_a_host,
);

fn vm(x: &T, disk: Disk) {
    x.env.set_vm(7, &Vm::new(7).disk(disk).on("lab1", 0).xml());
}

fn sparse_raw_sends_only_data(t: Transport) {
    let x = T::new(1, t);
    let img = x.on("fe", "1/0123abcd");
    sparse_file(&img, 4 << 30, 8);
    vm(
        &x,
        Disk::new(0)
            .attr("FORMAT", "raw")
            .attr("SIZE", "4096")
            .attr("ORIGINAL_SIZE", "4096"),
    );
    x.lab.reset_counts();
    let (lo, start) = (loopback_bytes(), Instant::now());
    x.clone_from_fe(&img, "0/7/disk.0");
    let (took, sent) = (start.elapsed(), loopback_bytes() - lo);

    let disk = x.on("lab1", "0/7/disk.0");
    assert_eq!(apparent(&disk), 4 << 30);
    assert!(
        allocated(&disk) >= 8 * MIB && allocated(&disk) <= allocated(&img) + MIB,
        "allocated {}",
        allocated(&disk)
    );
    assert_eq!(head(&disk, 32 * MIB), head(&img, 32 * MIB));
    // A full copy moves 4 GiB over loopback (several seconds); holes never travel.
    assert!(
        sent < 256 * MIB,
        "{sent} bytes on loopback for 8 MiB of data"
    );
    assert!(took.as_secs() < 20, "took {took:?}");
    assert_eq!(
        x.lab.ssh_connections("lab1"),
        1,
        "{}",
        x.lab.sshd_log("lab1")
    );
    assert_eq!(
        std::fs::read_to_string(x.on("lab1", "0/.monitor")).unwrap(),
        "ssh\n"
    );
    assert_eq!(
        names(&x.on("lab1", "0/7")),
        ["disk.0"],
        "no temporaries left"
    );
    // ln is the same copy for ssh; re-running overwrites.
    x.ok(
        "ln",
        &[
            &format!("fe:{}", img.display()),
            &x.loc("lab1", "0/7/disk.0"),
            "7",
            "1",
        ],
    );
    assert_eq!(
        head(&x.on("lab1", "0/7/disk.0"), 32 * MIB),
        head(&img, 32 * MIB)
    );
    eprintln!("clone of 4 GiB apparent / 8 MiB data: {took:?}, {sent} bytes on loopback");
}

fn sparse_no_is_fully_allocated_and_preallocated_on_resize(t: Transport) {
    let x = T::new(1, t);
    let img = x.on("fe", "1/img");
    sparse_file(&img, 16 * MIB, 1);
    vm(
        &x,
        Disk::new(0)
            .attr("SPARSE", "NO")
            .attr("FORMAT", "raw")
            .attr("SIZE", "16")
            .attr("ORIGINAL_SIZE", "16"),
    );
    x.clone_from_fe(&img, "0/7/disk.0");
    let disk = x.on("lab1", "0/7/disk.0");
    assert!(allocated(&img) < 4 * MIB);
    assert!(
        allocated(&disk) >= 16 * MIB,
        "allocated {}",
        allocated(&disk)
    );
    vm(
        &x,
        Disk::new(1)
            .attr("SPARSE", "no")
            .attr("FORMAT", "raw")
            .attr("SIZE", "40")
            .attr("ORIGINAL_SIZE", "16"),
    );
    x.clone_from_fe(&img, "0/7/disk.1");
    let disk = x.on("lab1", "0/7/disk.1");
    assert_eq!(apparent(&disk), 40 * MIB);
    assert!(
        allocated(&disk) >= 40 * MIB,
        "falloc: allocated {}",
        allocated(&disk)
    );
}

fn qcow2_file_and_snap_chain(t: Transport) {
    let x = T::new(1, t);
    let raw = x.on("fe", "1/raw");
    sparse_file(&raw, 64 * MIB, 2);
    let sh = |s: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(s)
            .current_dir(x.on("fe", "1"))
            .status()
            .unwrap();
        assert!(st.success(), "{s}");
    };
    // A standalone qcow2 image.
    sh("qemu-img convert -q -f raw -O qcow2 raw q");
    vm(&x, Disk::new(0).attr("FORMAT", "qcow2"));
    x.ok(
        "clone",
        &[
            &format!("fe:{}", x.path("1/q").display()),
            &x.loc("lab1", "0/7/disk.0"),
            "7",
            "1",
        ],
    );
    let info = x.qemu_info("lab1", "0/7/disk.0", false);
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 64 * MIB);
    let same = std::process::Command::new("qemu-img")
        .args(["compare", "-q"])
        .arg(x.on("fe", "1/q"))
        .arg(x.on("lab1", "0/7/disk.0"))
        .status()
        .unwrap();
    assert!(same.success(), "content differs");

    // The qcow2 layout: h -> h.snap/1 (overlay, absolute backing) on h.snap/0.
    sh(&format!(
        "mkdir h.snap && qemu-img convert -q -O qcow2 raw h.snap/0 && ln -s . h.snap/h.snap && \
         qemu-img create -q -f qcow2 -F qcow2 -b {}/h.snap/0 h.snap/1 && ln -s h.snap/1 h",
        x.path("1").display()
    ));
    vm(&x, Disk::new(1).attr("FORMAT", "qcow2"));
    x.ok(
        "clone",
        &[
            &format!("fe:{}", x.path("1/h").display()),
            &x.loc("lab1", "0/7/disk.1"),
            "7",
            "1",
        ],
    );
    assert_eq!(
        std::fs::read_link(x.on("lab1", "0/7/disk.1"))
            .unwrap()
            .to_str(),
        Some("disk.1.snap/1")
    );
    let chain = x.qemu_info("lab1", "0/7/disk.1", true);
    assert_eq!(chain.as_array().map(Vec::len), Some(2), "{chain}");
    assert_eq!(chain[0]["backing-filename"], "disk.1.snap/0");
    // The copy stands alone: the front-end's chain can go.
    std::fs::remove_dir_all(x.on("fe", "1/h.snap")).unwrap();
    let same = std::process::Command::new("qemu-img")
        .args(["compare", "-q", "-f", "raw"])
        .arg(&raw)
        .arg(x.on("lab1", "0/7/disk.1"))
        .status()
        .unwrap();
    assert!(same.success(), "chain content differs");
}

fn resize_grows_the_disk(t: Transport) {
    let x = T::new(1, t);
    let img = x.on("fe", "1/img");
    sparse_file(&img, 16 * MIB, 1);
    vm(
        &x,
        Disk::new(2)
            .attr("FORMAT", "raw")
            .attr("SIZE", "48")
            .attr("ORIGINAL_SIZE", "16"),
    );
    x.clone_from_fe(&img, "0/7/disk.2");
    let disk = x.on("lab1", "0/7/disk.2");
    assert_eq!(apparent(&disk), 48 * MIB);
    assert!(
        allocated(&disk) < 4 * MIB,
        "stays sparse: {}",
        allocated(&disk)
    );
    assert_eq!(
        x.qemu_info("lab1", "0/7/disk.2", false)["virtual-size"],
        48 * MIB
    );
}

fn missing_image_fails_cleanly(t: Transport) {
    let x = T::new(1, t);
    vm(&x, Disk::new(0));
    let out = x.fail(
        "clone",
        &[
            &format!("fe:{}", x.path("1/nope").display()),
            &x.loc("lab1", "0/7/disk.0"),
            "7",
            "1",
        ],
    );
    let r = why(&out);
    assert!(
        r.contains("does not exist on the front-end") && r.contains("1/nope"),
        "{r}"
    );
    assert!(
        names(&x.on("lab1", "0/7")).is_empty(),
        "nothing on the host"
    );
}

fn from_another_host_and_within_a_host(t: Transport) {
    let x = T::new(2, t);
    let img = x.on("lab2", "1/img");
    sparse_file(&img, 512 * MIB, 2);
    vm(&x, Disk::new(0));
    // lab2 pushes to lab1 with its own ssh.
    x.lab.reset_counts();
    x.ok(
        "clone",
        &[
            &x.loc("lab2", "1/img"),
            &x.loc("lab1", "0/7/disk.0"),
            "7",
            "1",
        ],
    );
    let disk = x.on("lab1", "0/7/disk.0");
    assert_eq!(head(&disk, 16 * MIB), head(&img, 16 * MIB));
    assert!(allocated(&disk) < 4 * MIB, "sparse: {}", allocated(&disk));
    assert_eq!(x.lab.ssh_connections("lab2"), 1);
    assert_eq!(
        x.lab.ssh_connections("lab1"),
        2,
        "the driver's and lab2's push"
    );
    // The image on the destination host itself: a copy within lab1.
    sparse_file(&x.on("lab1", "1/img"), 64 * MIB, 1);
    x.lab.reset_counts();
    x.ok(
        "clone",
        &[
            &x.loc("lab1", "1/img"),
            &x.loc("lab1", "0/7/disk.1"),
            "7",
            "1",
        ],
    );
    assert_eq!(
        head(&x.on("lab1", "0/7/disk.1"), 16 * MIB),
        head(&x.on("lab1", "1/img"), 16 * MIB)
    );
    assert_eq!(x.lab.ssh_connections("lab1"), 1);
    assert_eq!(names(&x.on("lab1", "0/7")), ["disk.0", "disk.1"]);
}
