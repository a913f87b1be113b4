//! ln: persistent images used in place through absolute links (§13.3).

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn persistent(fx: &Fx, img: &str, fmt: &str) {
    let d = Disk::new(0)
        .attr("SOURCE", img)
        .attr("FORMAT", fmt)
        .attr("CLONE", "NO")
        .attr("TARGET", "vda");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d));
}

fn ln_raw(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.raw_image("1/abc", GIB, MIB);
    persistent(&fx, &img, "raw");
    let disk = fx.p("0/7/disk.0");
    // A stale snap dir of an earlier incarnation goes.
    std::fs::create_dir_all(fx.p("0/7/disk.0.snap")).unwrap();
    fx.lab.reset_counts();
    fx.ok("ln", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(fx.lab.ssh_connections(&fx.host), 1);
    assert_eq!(link(&disk), img);
    assert_eq!(names(&fx.p("0/7")), ["disk.0"]);
    assert!(
        !exists(&format!("{img}.snap")),
        "raw images get no snap dir"
    );
    // Re-running changes nothing.
    fx.ok("ln", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(link(&disk), img);
    assert!(fx.reads(&disk, "raw", "0xcd", "0", "1M"));
}

fn ln_qcow2(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    persistent(&fx, &img, "qcow2");
    let disk = fx.p("0/7/disk.0");
    fx.ok("ln", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    let snap = format!("{img}.snap");
    assert_eq!(
        link(&disk),
        format!("{snap}/0"),
        "absolute link to the active file"
    );
    assert_eq!(
        link(&format!("{snap}/0")),
        img,
        "0 -> the image when there is no snapshot"
    );
    assert_eq!(link(&format!("{snap}/abc.snap")), ".", "the self-link");
    assert_eq!(names(&snap), ["0", "abc.snap"]);
    assert_eq!(names(&fx.p("0/7")), ["disk.0"]);
    assert!(fx.reads(&disk, "qcow2", "0xcd", "0", "1M"));
    fx.ok("ln", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(names(&snap), ["0", "abc.snap"]);

    // With snapshots already beside the image, the link follows the highest.
    for (n, b) in [("1", "0"), ("12", "1")] {
        fx.on_host(&[
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            "-b",
            &format!("{snap}/{b}"),
            &format!("{snap}/{n}"),
        ]);
    }
    std::fs::write(format!("{snap}/2.current"), format!("{snap}/1\n")).unwrap();
    fx.ok("ln", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    assert_eq!(link(&disk), format!("{snap}/12"));
    assert_eq!(link(&format!("{snap}/0")), img);
    fx.check(&disk);

    // A missing image: one line naming it and the host.
    let r = fx.fail(
        "ln",
        &[&format!("fe:{}", fx.p("1/nope")), &fx.at(&disk), "7", "1"],
    );
    assert!(r.contains("1/nope") && r.contains(fx.label()), "{r}");
    assert_eq!(
        link(&disk),
        format!("{snap}/12"),
        "a failed ln changes nothing"
    );
}

crate::both_transports!(ln_raw, ln_qcow2);
