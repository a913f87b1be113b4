//! One VM's whole life on an ssh system datastore, step by step as oned
//! drives it, with the state of every host checked after each step:
//! deploy (clone + ln + context) on lab1, snapshots, stop (lab1 → front-end),
//! resume (front-end → lab2), cold migration (lab2 → lab3), live migration
//! hooks (lab3 → lab1), disk-saveas (cpds), terminate (mvds + delete).

use super::helpers::*;
use crate::tm_support::{Disk, Transport, Vm};

crate::both!(full_vm_lifecycle);

const VM: u32 = 42;

/// The VM as oned shows it after it was placed on `hosts` in turn.
fn vm(x: &T, hosts: &[&str], lcm: u32) -> Vm {
    let mut v = Vm::new(VM)
        .disk(
            Disk::new(0)
                .attr("FORMAT", "raw")
                .attr("SIZE", "96")
                .attr("ORIGINAL_SIZE", "64")
                .attr("CLONE", "YES"),
        )
        .disk(
            Disk::new(1)
                .attr("FORMAT", "raw")
                .attr("CLONE", "NO")
                .attr("SAVE", "YES"),
        )
        .disk(Disk::new(2).attr("TYPE", "CDROM"))
        .state(lcm);
    for h in hosts {
        v = v.on(h, 0);
    }
    x.env.set_vm(VM, &v.xml());
    v
}

/// Which of fe, lab1, lab2, lab3 hold the VM directory.
fn holders(x: &T) -> Vec<&'static str> {
    ["fe", "lab1", "lab2", "lab3"]
        .into_iter()
        .filter(|h| x.on(h, "0/42").exists())
        .collect()
}

fn full_vm_lifecycle(t: Transport) {
    let x = T::new(3, t);
    let base = x.on("fe", "1/base");
    let pers = x.on("fe", "1/pers");
    sparse_file(&base, 64 * MIB, 2);
    sparse_file(&pers, 32 * MIB, 1);
    let base_data = head(&base, 16 * MIB);
    let pers_data = head(&pers, 16 * MIB);
    let ctx_sh = x.on("fe", "vms/42/context.sh");
    write(&ctx_sh, b"ETH0_IP=\"10.0.0.42\"\n");
    let d = |h: &str, i: u32| x.loc(h, &format!("0/42/disk.{i}"));
    let dir = |h: &str| x.loc(h, "0/42");
    let fe = |p: &std::path::Path| format!("fe:{}", p.display());

    // Deploy on lab1: prolog (clone, ln), then the VMM's context.
    vm(&x, &["lab1"], 1);
    x.ok("clone", &[&fe(&base), &d("lab1", 0), "42", "1"]);
    x.ok("ln", &[&fe(&pers), &d("lab1", 1), "42", "1"]);
    x.ok(
        "context",
        &[ctx_sh.to_str().unwrap(), &d("lab1", 2), "42", "0"],
    );
    let disk0 = x.on("lab1", "0/42/disk.0");
    assert_eq!(apparent(&disk0), 96 * MIB, "grown to SIZE");
    assert_eq!(head(&disk0, 16 * MIB), base_data);
    assert!(allocated(&disk0) < 8 * MIB, "sparse");
    assert_eq!(head(&x.on("lab1", "0/42/disk.1"), 16 * MIB), pers_data);
    let iso = std::fs::read(x.on("lab1", "0/42/disk.2")).unwrap();
    assert_eq!(&iso[0x8001..0x8006], b"CD001", "an ISO 9660 context disk");
    assert_eq!(
        std::fs::read_to_string(x.on("lab1", "0/.monitor")).unwrap(),
        "ssh\n"
    );
    assert_eq!(holders(&x), ["lab1"]);

    // Snapshots while powered off: 0 = the image, 1 = new data; revert to 0.
    vm(&x, &["lab1"], 3);
    x.ok("snap_create", &[&d("lab1", 0), "0", "42", "1"]);
    sparse_file(&disk0, 96 * MIB, 1);
    let changed = head(&disk0, 16 * MIB);
    x.ok("snap_create", &[&d("lab1", 0), "1", "42", "1"]);
    x.ok("snap_revert", &[&d("lab1", 0), "0", "42", "1"]);
    assert_eq!(head(&disk0, 16 * MIB), base_data, "reverted");
    x.ok("snap_delete", &[&d("lab1", 0), "0", "42", "1"]);
    assert_eq!(names(&x.on("lab1", "0/42/disk.0.snap")), ["1"]);

    // Stop: every disk line (no-ops), then the directory to the front-end.
    for i in 0..3 {
        x.ok("mv", &[&d("lab1", i), &d("fe", i), "42", "0"]);
    }
    x.ok("mv", &[&dir("lab1"), &dir("fe"), "42", "0"]);
    assert_eq!(holders(&x), ["fe"]);
    assert_eq!(head(&x.on("fe", "0/42/disk.0"), 16 * MIB), base_data);
    assert_eq!(head(&x.on("fe", "0/42/disk.0.snap/1"), 16 * MIB), changed);

    // Resume on lab2.
    vm(&x, &["lab1", "lab2"], 1);
    x.ok("mv", &[&dir("fe"), &dir("lab2"), "42", "0"]);
    assert_eq!(holders(&x), ["lab2"]);
    assert_eq!(
        std::fs::read_to_string(x.on("lab2", "0/.monitor")).unwrap(),
        "ssh\n"
    );

    // Cold migration lab2 → lab3.
    vm(&x, &["lab1", "lab2", "lab3"], 1);
    x.ok("mv", &[&dir("lab2"), &dir("lab3"), "42", "0"]);
    assert_eq!(holders(&x), ["lab3"]);
    assert_eq!(head(&x.on("lab3", "0/42/disk.1"), 16 * MIB), pers_data);
    assert!(
        allocated(&x.on("lab3", "0/42/disk.0")) < 8 * MIB,
        "still sparse"
    );

    // Live migration lab3 → lab1: premigrate, the hypervisor copies, postmigrate.
    let v = vm(&x, &["lab1", "lab2", "lab3", "lab1"], 3);
    let stdin = v.base64();
    let vm_dir = x.path("0/42").display().to_string();
    let hook = ["lab3", "lab1", vm_dir.as_str(), "42", "0"];
    let out = x.run_stdin("premigrate", &hook, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(x.on("lab3", "0/42"))
        .arg(x.on("lab1", "0/"))
        .status()
        .unwrap();
    assert!(st.success(), "the hypervisor's copy");
    let out = x.run_stdin("postmigrate", &hook, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    assert_eq!(holders(&x), ["lab1"]);

    // disk-saveas of disk 0 (and of its snapshot 1) into new images.
    x.ok(
        "cpds",
        &[
            &d("lab1", 0),
            &x.path("1/saved").display().to_string(),
            "-1",
            "42",
            "1",
        ],
    );
    assert_eq!(head(&x.on("fe", "1/saved"), 16 * MIB), base_data);
    x.ok(
        "cpds",
        &[
            &d("lab1", 0),
            &x.path("1/saved-snap").display().to_string(),
            "1",
            "42",
            "1",
        ],
    );
    assert_eq!(head(&x.on("fe", "1/saved-snap"), 16 * MIB), changed);

    // Terminate: the persistent disk goes back (new data first), the rest is deleted.
    sparse_file(&x.on("lab1", "0/42/disk.1"), 32 * MIB, 1);
    let pers_new = head(&x.on("lab1", "0/42/disk.1"), 16 * MIB);
    x.ok("mvds", &[&d("lab1", 1), pers.to_str().unwrap(), "42", "1"]);
    assert_eq!(
        head(&pers, 16 * MIB),
        pers_new,
        "the persistent image has the VM's data"
    );
    for i in [0, 2] {
        x.ok("delete", &[&d("lab1", i), "42", "1"]);
    }
    x.ok("delete", &[&dir("lab1"), "42", "0"]);
    x.ok("delete", &[&dir("lab1"), "42", "0"]);
    assert!(holders(&x).is_empty());
    assert_eq!(
        names(&x.on("fe", "1")),
        ["base", "pers", "saved", "saved-snap"]
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            names(&x.on(h, "0")),
            [".monitor"],
            "{h}: only the monitoring mark left"
        );
    }
}
