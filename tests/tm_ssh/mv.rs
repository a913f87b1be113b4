//! mv: cold migration host → host, stop (host → front-end), resume
//! (front-end → host), same storage, failures and re-runs.

use super::helpers::*;
use crate::tm_support::{Transport, Vm};

crate::both!(
    host_to_host_moves_the_whole_directory,
    failures_keep_the_source_and_a_rerun_completes,
    stop_to_frontend_and_resume_to_another_host,
    shared_storage_moves_nothing,
    a_host_that_cannot_reach_the_other_is_named,
);

/// A VM directory on `host`: a sparse disk, a snapshot, a relative link.
fn vm_dir(x: &T, host: &str, rel: &str) {
    sparse_file(&x.on(host, &format!("{rel}/disk.0")), 256 * MIB, 2);
    write(
        &x.on(host, &format!("{rel}/disk.0.snap/0")),
        b"snapshot zero",
    );
    std::os::unix::fs::symlink("disk.0.snap/0", x.on(host, &format!("{rel}/disk.3"))).unwrap();
}

fn same_vm_dir(x: &T, a: (&str, &str), b: (&str, &str)) {
    let (da, db) = (x.on(a.0, a.1), x.on(b.0, b.1));
    assert_eq!(
        head(&da.join("disk.0"), 16 * MIB),
        head(&db.join("disk.0"), 16 * MIB)
    );
    assert_eq!(apparent(&db.join("disk.0")), 256 * MIB);
    assert!(allocated(&db.join("disk.0")) < 4 * MIB, "sparse");
    assert_eq!(
        std::fs::read(db.join("disk.0.snap/0")).unwrap(),
        b"snapshot zero"
    );
    assert_eq!(
        std::fs::read_link(db.join("disk.3")).unwrap().to_str(),
        Some("disk.0.snap/0")
    );
}

fn host_to_host_moves_the_whole_directory(t: Transport) {
    let x = T::new(2, t);
    x.env
        .set_vm(7, &Vm::new(7).on("lab1", 0).on("lab2", 0).xml());
    vm_dir(&x, "lab1", "0/7");
    write(&x.on("lab1", "0/.monitor"), b"ssh\n");
    let reference = x.on("fe", "ref/7");
    std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(x.on("lab1", "0/7"))
        .arg(&reference)
        .status()
        .unwrap();
    assert!(st.success());

    // Per-disk lines do nothing: the directory line moves the disks.
    x.ok(
        "mv",
        &[
            &x.loc("lab1", "0/7/disk.0"),
            &x.loc("lab2", "0/7/disk.0"),
            "7",
            "1",
        ],
    );
    assert!(!x.on("lab2", "0/7").exists());

    x.lab.reset_counts();
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("lab2", "0/7"), "7", "0"],
    );
    same_vm_dir(&x, ("fe", "ref/7"), ("lab2", "0/7"));
    assert!(!x.on("lab1", "0/7").exists(), "source removed");
    assert_eq!(
        names(&x.on("lab2", "0")),
        [".monitor", "7"],
        "no temporaries, no probe"
    );
    assert_eq!(
        std::fs::read_to_string(x.on("lab2", "0/.monitor")).unwrap(),
        "ssh\n"
    );
    assert!(!x.on("lab2", ".monitor").exists(), "not one level too high");
    // One connection from the driver to each host; lab2 also gets lab1's push.
    assert_eq!(
        x.lab.ssh_connections("lab1"),
        1,
        "{}",
        x.lab.sshd_log("lab1")
    );
    assert_eq!(
        x.lab.ssh_connections("lab2"),
        2,
        "{}",
        x.lab.sshd_log("lab2")
    );

    // Re-run after success: the source is gone, the destination is there.
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("lab2", "0/7"), "7", "0"],
    );
    same_vm_dir(&x, ("fe", "ref/7"), ("lab2", "0/7"));
    // Nothing anywhere: a clear error.
    let out = x.fail(
        "mv",
        &[&x.loc("lab1", "0/8"), &x.loc("lab2", "0/8"), "7", "0"],
    );
    assert!(why(&out).contains("neither"), "{}", why(&out));
}

fn failures_keep_the_source_and_a_rerun_completes(t: Transport) {
    let x = T::new(2, t);
    x.env
        .set_vm(7, &Vm::new(7).on("lab1", 0).on("lab2", 0).xml());
    vm_dir(&x, "lab1", "0/7");
    let (src, dst) = (x.loc("lab1", "0/7"), x.loc("lab2", "0/7"));
    let data = head(&x.on("lab1", "0/7/disk.0"), 16 * MIB);

    // 1. The destination datastore cannot be written.
    std::fs::create_dir_all(x.on("lab2", "0")).unwrap();
    immutable(&x.on("lab2", "0"), true);
    let out = x.fail("mv", &[&src, &dst, "7", "0"]);
    immutable(&x.on("lab2", "0"), false);
    assert!(
        why(&out).contains("cannot write in") && why(&out).contains("on lab2"),
        "{}",
        why(&out)
    );
    assert_eq!(
        head(&x.on("lab1", "0/7/disk.0"), 16 * MIB),
        data,
        "source kept"
    );
    assert!(x.on("lab1", "0/7/disk.0.snap/0").exists(), "source kept");
    assert!(!x.on("lab2", "0/7").exists());

    // 2. A leftover of an earlier run that cannot be replaced: the failure
    //    comes after the copy was made and verified.
    write(&x.on("lab2", "0/7/disk.0"), b"half");
    immutable(&x.on("lab2", "0/7"), true);
    let out = x.fail("mv", &[&src, &dst, "7", "0"]);
    immutable(&x.on("lab2", "0/7"), false);
    assert!(why(&out).contains("in place"), "{}", why(&out));
    assert!(x.on("lab1", "0/7/disk.0.snap/0").exists(), "source kept");
    assert_eq!(
        std::fs::read(x.on("lab2", "0/7/disk.0")).unwrap(),
        b"half",
        "leftover untouched"
    );
    assert_eq!(
        names(&x.on("lab2", "0")),
        [".monitor", "7"],
        "staging removed"
    );

    // 3. The re-run replaces the leftover, then removes the source.
    x.ok("mv", &[&src, &dst, "7", "0"]);
    assert_eq!(head(&x.on("lab2", "0/7/disk.0"), 16 * MIB), data);
    assert_eq!(
        std::fs::read(x.on("lab2", "0/7/disk.0.snap/0")).unwrap(),
        b"snapshot zero"
    );
    assert!(!x.on("lab1", "0/7").exists());
}

fn stop_to_frontend_and_resume_to_another_host(t: Transport) {
    let x = T::new(2, t);
    x.env.set_vm(7, &Vm::new(7).on("lab1", 0).xml());
    vm_dir(&x, "lab1", "0/7");
    let data = head(&x.on("lab1", "0/7/disk.0"), 16 * MIB);
    x.lab.reset_counts();
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("fe", "0/7"), "7", "0"],
    );
    assert_eq!(x.lab.ssh_connections("lab1"), 1);
    assert!(!x.on("lab1", "0/7").exists());
    assert_eq!(head(&x.on("fe", "0/7/disk.0"), 16 * MIB), data);
    assert!(
        allocated(&x.on("fe", "0/7/disk.0")) < 4 * MIB,
        "sparse on the front-end"
    );
    assert!(
        !x.on("fe", "0/.monitor").exists(),
        "the front-end is not monitored as a host"
    );

    x.lab.reset_counts();
    x.ok(
        "mv",
        &[&x.loc("fe", "0/7"), &x.loc("lab2", "0/7"), "7", "0"],
    );
    assert_eq!(x.lab.ssh_connections("lab2"), 1);
    assert!(!x.on("fe", "0/7").exists());
    assert_eq!(head(&x.on("lab2", "0/7/disk.0"), 16 * MIB), data);
    assert_eq!(
        std::fs::read_to_string(x.on("lab2", "0/.monitor")).unwrap(),
        "ssh\n"
    );
}

fn shared_storage_moves_nothing(t: Transport) {
    let x = T::shared(2, t);
    x.env.set_vm(7, &Vm::new(7).on("lab1", 0).xml());
    vm_dir(&x, "fe", "0/7");
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("lab2", "0/7"), "7", "0"],
    );
    assert!(x.on("fe", "0/7/disk.0.snap/0").exists(), "nothing removed");
    assert_eq!(names(&x.on("fe", "0")), ["7"], "no probe, no staging left");
    // The front-end shares it too (stop): nothing moves.
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("fe", "0/7"), "7", "0"],
    );
    assert!(x.on("fe", "0/7/disk.0").exists());
    // Fault-tolerance recreation (LCM_STATE 60): nothing moves either.
    x.env.set_vm(8, &Vm::new(8).state(60).on("lab1", 0).xml());
    x.ok(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("lab2", "0/9"), "8", "0"],
    );
    assert!(!x.on("fe", "0/9").exists());
}

fn a_host_that_cannot_reach_the_other_is_named(t: Transport) {
    let x = T::with_conf(2, t, "HOST_SSH_OPTIONS=\"-o BatchMode=yes -o Port=1\"");
    x.env
        .set_vm(7, &Vm::new(7).on("lab1", 0).on("lab2", 0).xml());
    vm_dir(&x, "lab1", "0/7");
    let out = x.fail(
        "mv",
        &[&x.loc("lab1", "0/7"), &x.loc("lab2", "0/7"), "7", "0"],
    );
    let r = why(&out);
    assert!(r.starts_with("Error copying lab1:"), "{r}");
    assert!(
        r.contains("lab1 pushes the data with its own ssh to lab2"),
        "{r}"
    );
    assert!(
        r.contains("Connection refused"),
        "the ssh error itself: {r}"
    );
    assert!(x.on("lab1", "0/7/disk.0.snap/0").exists(), "source kept");
    assert_eq!(names(&x.on("lab2", "0")), [".monitor"], "staging removed");
}
