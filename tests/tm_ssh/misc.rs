//! monitor, monitor_ds, live-migration hooks, and bad arguments.

use base64::Engine;

use super::helpers::*;
use crate::common::cmd::expect_ok;
use crate::tm_support::{Transport, Vm};

crate::both!(
    migration_hooks_remove_only_what_is_not_shared,
    bad_arguments_give_one_clear_reason,
);

#[test]
fn monitor_ds_reports_disks_and_snapshots_from_the_host() {
    let x = T::new(1, Transport::Ssh2);
    sparse_file(&x.on("lab1", "0/7/disk.0"), 256 * MIB, 3);
    write(&x.on("lab1", "0/7/disk.0.snap/0"), &vec![1u8; 2 << 20]);
    write(&x.on("lab1", "0/7/disk.0.snap/11"), &vec![1u8; 1 << 20]);
    write(&x.on("lab1", "0/8/disk.2"), &vec![1u8; 5 << 20]);
    std::fs::create_dir_all(x.on("lab1", "0/9")).unwrap();
    let ds = x.path("0").display().to_string();
    let bin = env!("CARGO_BIN_EXE_one-storage");
    let out = expect_ok(
        x.lab.run_on("lab1", &[bin, "tm", "ssh", "monitor_ds", &ds]),
        "monitor_ds",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let decode = |line: &str, id: u32| {
        let prefix = format!("VM = [ ID = {id}, MONITOR = \"");
        let b64 = line
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix("\"]"))
            .unwrap_or_else(|| panic!("{line}"));
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        decode(lines[0], 7),
        "DISK_SIZE = [ ID=0, SIZE=3]\nSNAPSHOT_SIZE = [ ID=0, DISK_ID=0, SIZE=2]\nSNAPSHOT_SIZE = [ ID=11, DISK_ID=0, SIZE=1]\n"
    );
    assert_eq!(decode(lines[1], 8), "DISK_SIZE = [ ID=2, SIZE=5]\n");
    // monitor (front-end) drains its input and says nothing.
    let out = x.run_stdin(
        "monitor",
        &["0"],
        b"PERBVEFTVE9SRV9EUklWRVJfQUNUSU9OX0RBVEE+",
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

fn migration_hooks_remove_only_what_is_not_shared(t: Transport) {
    let x = T::new(3, t);
    let vm = Vm::new(7).on("lab3", 0).on("lab1", 0);
    let stdin = vm.base64();
    let dir = x.path("0/7").display().to_string();
    let args = ["lab3", "lab1", dir.as_str(), "7", "0"];
    write(&x.on("lab3", "0/7/disk.0"), b"running");
    write(&x.on("lab1", "0/7/disk.0"), b"stale");

    let out = x.run_stdin("premigrate", &args, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    assert!(!x.on("lab1", "0/7").exists(), "stale destination removed");
    assert!(x.on("lab3", "0/7/disk.0").exists(), "source untouched");

    // The hypervisor copied the disks; failmigrate removes that partial copy.
    write(&x.on("lab1", "0/7/disk.0"), b"partial");
    let out = x.run_stdin("failmigrate", &args, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    assert!(!x.on("lab1", "0/7").exists());
    assert!(x.on("lab3", "0/7/disk.0").exists());

    // A successful migration: postmigrate removes the source's directory.
    write(&x.on("lab1", "0/7/disk.0"), b"running");
    let out = x.run_stdin("postmigrate", &args, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    assert!(!x.on("lab3", "0/7").exists());
    assert!(x.on("lab1", "0/7/disk.0").exists());

    // Same host: nothing at all.
    let same = ["lab1", "lab1", dir.as_str(), "7", "0", "qcow2"];
    let out = x.run_stdin("premigrate", &same, stdin.as_bytes());
    assert!(out.status.success(), "{}", why(&out));
    assert!(x.on("lab1", "0/7/disk.0").exists());

    // Shared storage: neither premigrate nor postmigrate removes the live disks.
    let s = T::shared(2, t);
    write(&s.on("fe", "0/7/disk.0"), b"running");
    let shared_stdin = Vm::new(7).on("lab1", 0).on("lab2", 0).base64();
    let dir = s.path("0/7").display().to_string();
    for hook in ["premigrate", "postmigrate", "failmigrate"] {
        let out = s.run_stdin(
            hook,
            &["lab1", "lab2", &dir, "7", "0"],
            shared_stdin.as_bytes(),
        );
        assert!(out.status.success(), "{hook}: {}", why(&out));
        assert!(
            s.on("fe", "0/7/disk.0").exists(),
            "{hook} removed shared disks"
        );
    }
    assert_eq!(names(&s.on("fe", "0/7")), ["disk.0"], "no probe left");
}

fn bad_arguments_give_one_clear_reason(t: Transport) {
    let x = T::new(1, t);
    x.env.set_vm(7, &Vm::new(7).on("lab1", 0).xml());
    let d = x.loc("lab1", "0/7/disk.0");
    let src = format!("fe:{}", x.path("1/a").display());
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("clone", vec![&src, &d, "7"], "expected 4 arguments, got 3"),
        (
            "clone",
            vec![&src, &d, "x7", "1"],
            "vm_id 'x7' is not a number",
        ),
        (
            "clone",
            vec!["fe:relative/a", &d, "7", "1"],
            "the path is not absolute",
        ),
        ("mv", vec!["lab1", &d, "7", "1"], "not a valid location"),
        (
            "mvds",
            vec![&d, "/ds/../etc/passwd", "7", "1"],
            "'..' is not allowed",
        ),
        ("cpds", vec![&d, "/ds/1/x", "-5", "7", "1"], "snap_id -5"),
        (
            "snap_create",
            vec![&d, "one", "7", "1"],
            "snap_id 'one' is not a number",
        ),
        (
            "premigrate",
            vec!["lab1", "-oProxyCommand=x", "/ds/0/7", "7", "0"],
            "not a valid host name",
        ),
        ("monitor_ds", vec![], "expected 1 arguments, got 0"),
    ];
    for (action, args, want) in cases {
        let out = x.fail(action, &args);
        let r = why(&out);
        assert!(r.contains(want), "{action} {args:?}: {r}");
        assert_ne!(out.status.code(), Some(0));
    }
    // An unknown VM: the oned error is in the reason.
    let out = x.fail("clone", &[&src, &d, "99", "1"]);
    assert!(why(&out).contains("cannot read VM 99"), "{}", why(&out));
}
