//! cpds (disk-saveas) and mvds: flattened copies into the image datastore
//! through temporary names; persistent disks need no copy back.

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn disk_vm(fx: &Fx, img: &str, fmt: &str, clone: bool, lcm: u32) {
    let d = Disk::new(0)
        .attr("SOURCE", img)
        .attr("FORMAT", fmt)
        .attr("CLONE", if clone { "YES" } else { "NO" })
        .attr("TARGET", "vda");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d).state(lcm));
}

fn cpds_flattens_chains_and_snapshots(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    disk_vm(&fx, &img, "qcow2", true, 3);
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    fx.write(&disk, "qcow2", "0xab", "0", "64k");
    fx.ok("snap_create", &[&fx.at(&disk), "0", "7", "1"]);
    fx.write(&disk, "qcow2", "0xef", "0", "64k");

    let new = fx.p("1/new");
    fx.lab.reset_counts();
    fx.ok("cpds", &[&fx.at(&disk), &new, "-1", "7", "1"]);
    assert_eq!(fx.lab.ssh_connections(&fx.host), 1);
    assert_eq!(
        fx.chain_summary(&new),
        vec![("qcow2".to_string(), None)],
        "flattened"
    );
    assert!(fx.reads(&new, "qcow2", "0xef", "0", "64k"));
    assert!(fx.reads(&new, "qcow2", "0xcd", "64k", "64k"));
    assert_eq!(fx.virtual_size(&new), GIB);
    fx.check(&new);

    let snap0 = fx.p("1/snap0");
    fx.ok("cpds", &[&fx.at(&disk), &snap0, "0", "7", "1"]);
    assert!(
        fx.reads(&snap0, "qcow2", "0xab", "0", "64k"),
        "the snapshot's data"
    );
    // Re-running overwrites the same image.
    fx.ok("cpds", &[&fx.at(&disk), &snap0, "0", "7", "1"]);
    assert!(fx.reads(&snap0, "qcow2", "0xab", "0", "64k"));
    // `.current` says which file snapshot 5 lives in (§13.3).
    std::fs::write(
        fx.p("0/7/disk.0.snap/5.current"),
        format!("{disk}.snap/0\n"),
    )
    .unwrap();
    let snap5 = fx.p("1/snap5");
    fx.ok("cpds", &[&fx.at(&disk), &snap5, "5", "7", "1"]);
    assert!(fx.reads(&snap5, "qcow2", "0xab", "0", "64k"));

    // A snapshot that does not exist: one line, nothing left in the datastore.
    let r = fx.fail("cpds", &[&fx.at(&disk), &fx.p("1/x"), "9", "7", "1"]);
    assert!(
        r.contains("does not exist") && r.contains("snapshot id 9"),
        "{r}"
    );
    assert_eq!(names(&fx.p("1")), ["abc", "new", "snap0", "snap5"]);

    // A running VM that is not kvm cannot be saved live.
    let d = Disk::new(0)
        .attr("SOURCE", &img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES");
    let mut vm = Vm::new(7).on(&fx.host, 0).disk(d).state(26);
    vm.deploy_id = "one-7".into();
    let xml = vm
        .xml()
        .replace("<VM_MAD>kvm</VM_MAD>", "<VM_MAD>lxc</VM_MAD>");
    fx.env.set_vm(7, &xml);
    let r = fx.fail("cpds", &[&fx.at(&disk), &fx.p("1/y"), "-1", "7", "1"]);
    assert!(r.contains("Live operation not supported on lxc"), "{r}");
}

fn cpds_raw_and_persistent(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.raw_image("1/abc", GIB, MIB);
    disk_vm(&fx, &img, "raw", true, 3);
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    let new = fx.p("1/new");
    fx.ok("cpds", &[&fx.at(&disk), &new, "-1", "7", "1"]);
    assert!(is_file(&new));
    assert!(allocated(&new) < 2 * MIB, "a sparse copy");
    assert!(fx.reads(&new, "raw", "0xcd", "0", "1M"));

    // A persistent raw disk saved onto its own image: same file, nothing moves.
    let p = fx.raw_image("1/p", GIB, MIB);
    disk_vm(&fx, &p, "raw", false, 3);
    std::fs::remove_dir_all(fx.p("0/7")).unwrap();
    fx.ok("ln", &[&format!("fe:{p}"), &fx.at(&disk), "7", "1"]);
    let out = fx.ok("cpds", &[&fx.at(&disk), &p, "-1", "7", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("they are the same"));
    assert!(fx.reads(&p, "raw", "0xcd", "0", "1M"));
    assert!(
        !names(&fx.p("1")).iter().any(|n| n.starts_with('.')),
        "no temporary left"
    );

    // mvds: the persistent image is used in place; nothing moves or changes.
    let before = std::fs::metadata(&p).unwrap().len();
    fx.ok("mvds", &[&fx.at(&disk), &p, "7", "1"]);
    assert_eq!(link(&disk), p);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), before);
}

crate::both_transports!(cpds_flattens_chains_and_snapshots, cpds_raw_and_persistent);
