//! clone: the §13.2 layout for qcow2 (overlay, standalone), sparse copies
//! for raw, resizing, re-runs after failures, one connection per host.

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn vm(fx: &Fx, disk: Disk) -> Vm {
    let vm = Vm::new(7).on(&fx.host, 0).disk(disk);
    fx.vm(&vm);
    vm
}

fn qcow2_disk(img: &str) -> Disk {
    Disk::new(0)
        .attr("SOURCE", img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES")
        .attr("TARGET", "vda")
}

fn clone_qcow2_overlay(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    vm(
        &fx,
        qcow2_disk(&img)
            .attr("SIZE", "2048")
            .attr("ORIGINAL_SIZE", "1024"),
    );
    let disk = fx.p("0/7/disk.0");
    std::fs::write(fx.p("0/.monitor"), "ssh\n").unwrap();
    fx.lab.reset_counts();
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(
        fx.lab.ssh_connections(&fx.host),
        1,
        "one connection per host"
    );
    assert_layout(&fx, &disk, &img, "qcow2");
    assert_eq!(
        fx.virtual_size(&disk),
        2 * GIB,
        "SIZE > ORIGINAL_SIZE grows the overlay"
    );
    assert!(
        !exists(&fx.p("0/.monitor")),
        "a shared system DS is monitored from the front-end"
    );
    assert!(allocated(&format!("{disk}.snap/0")) < MIB, "a thin overlay");

    // A failed run (the image is missing) says where and what, and changes nothing.
    let r = fx.fail(
        "clone",
        &[
            &format!("fe:{}", fx.p("1/missing")),
            &fx.at(&disk),
            "7",
            "1",
        ],
    );
    assert!(r.contains("1/missing") && r.contains(fx.label()), "{r}");
    assert_layout(&fx, &disk, &img, "qcow2");
    // Leftovers of a crashed run and old snapshots are replaced by a fresh layout.
    std::fs::create_dir_all(fx.p("0/7/.disk.0.snap.one-storage-tmp")).unwrap();
    std::fs::write(fx.p("0/7/disk.0.snap/1"), b"old").unwrap();
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_layout(&fx, &disk, &img, "qcow2");
    assert_eq!(names(&fx.p("0/7")), ["disk.0", "disk.0.snap"]);
}

/// `disk -> disk.0.snap/0`, the self-link, `0` over the absolute image path
/// with the probed backing format, data visible, a clean check.
fn assert_layout(fx: &Fx, disk: &str, img: &str, img_fmt: &str) {
    assert_eq!(link(disk), "disk.0.snap/0");
    assert_eq!(link(&format!("{disk}.snap/disk.0.snap")), ".");
    assert!(is_file(&format!("{disk}.snap/0")));
    assert_eq!(names(&format!("{disk}.snap")), ["0", "disk.0.snap"]);
    assert_eq!(
        fx.chain_summary(disk),
        vec![
            ("qcow2".to_string(), Some(img.to_string())),
            (img_fmt.to_string(), None)
        ]
    );
    assert_eq!(fx.chain(disk)[0]["backing-filename-format"], img_fmt);
    fx.check(disk);
    assert!(fx.reads(disk, "qcow2", "0xcd", "0", "1M"));
}

fn clone_probes_the_backing_format(t: Transport) {
    let fx = Fx::new(t);
    // FORMAT says qcow2 but the file is raw: the overlay records raw.
    let img = fx.raw_image("1/abc", GIB, MIB);
    vm(&fx, qcow2_disk(&img));
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_layout(&fx, &disk, &img, "raw");
    assert_eq!(fx.virtual_size(&disk), GIB);
}

fn clone_qcow2_standalone(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    vm(&fx, qcow2_disk(&img).attr("QCOW2_STANDALONE", "YES"));
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(link(&disk), "disk.0.snap/0");
    assert_eq!(link(&format!("{disk}.snap/disk.0.snap")), ".");
    assert_eq!(fx.chain_summary(&disk), vec![("qcow2".to_string(), None)]);
    assert!(fx.reads(&disk, "qcow2", "0xcd", "0", "1M"));
    let a = allocated(&format!("{disk}.snap/0"));
    assert!((MIB..4 * MIB).contains(&a), "sparse convert allocated {a}");
    fx.check(&disk);

    // SPARSE=no: every cluster is written (-S 0).
    let small = fx.qcow2_image("1/small", 16 * MIB, MIB);
    vm(
        &fx,
        qcow2_disk(&small)
            .attr("QCOW2_STANDALONE", "yes")
            .attr("SPARSE", "no"),
    );
    fx.ok("clone", &[&format!("fe:{small}"), &fx.at(&disk), "7", "1"]);
    assert!(allocated(&format!("{disk}.snap/0")) >= 16 * MIB);
    assert!(fx.reads(&disk, "qcow2", "0xcd", "0", "1M"));
}

fn clone_raw(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.raw_image("1/abc", GIB, MIB);
    let raw = |d: Disk| {
        d.attr("SOURCE", &img)
            .attr("FORMAT", "raw")
            .attr("CLONE", "YES")
    };
    vm(&fx, raw(Disk::new(0)));
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert!(is_file(&disk));
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), GIB);
    let a = allocated(&disk);
    assert!(
        (MIB..2 * MIB).contains(&a),
        "a sparse copy of 1 MiB of data allocated {a}"
    );
    assert!(fx.reads(&disk, "raw", "0xcd", "0", "1M"));
    assert_eq!(names(&fx.p("0/7")), ["disk.0"]);

    // Grown at clone, preallocated with SPARSE=no.
    let small = fx.raw_image("1/small", 8 * MIB, MIB);
    vm(
        &fx,
        Disk::new(0)
            .attr("SOURCE", &small)
            .attr("FORMAT", "raw")
            .attr("CLONE", "YES")
            .attr("SIZE", "16")
            .attr("ORIGINAL_SIZE", "8")
            .attr("SPARSE", "no"),
    );
    fx.ok("clone", &[&format!("fe:{small}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), 16 * MIB);
    assert!(allocated(&disk) >= 16 * MIB);
    assert!(fx.reads(&disk, "raw", "0xcd", "0", "1M"));

    // A kernel has no DISK: a plain copy.
    let kernel = fx.p("0/7/kernel");
    fx.ok(
        "clone",
        &[&format!("fe:{small}"), &fx.at(&kernel), "7", "1"],
    );
    assert!(is_file(&kernel));
}

crate::both_transports!(
    clone_qcow2_overlay,
    clone_probes_the_backing_format,
    clone_qcow2_standalone,
    clone_raw
);
