//! A whole VM life with the shared driver, as oned would drive it: deploy
//! (clone + ln + context), disk snapshots, stop/resume, live migration
//! lab1 -> lab2, disk-saveas of a snapshot, terminate. After each step the
//! system and image datastores hold exactly what the reference drivers leave
//! (spec §13.2, §13.3).

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

/// Every entry under `dir`, sorted: `name` (file), `name/` (dir) or
/// `name -> target` (link), recursing into real directories only.
fn tree(dir: &str) -> Vec<String> {
    fn walk(base: &std::path::Path, rel: &str, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(base.join(rel)) else {
            return;
        };
        let mut names: Vec<String> = rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let r = if rel.is_empty() {
                n.clone()
            } else {
                format!("{rel}/{n}")
            };
            let p = base.join(&r);
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.push(format!(
                    "{r} -> {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if m.is_dir() {
                out.push(format!("{r}/"));
                walk(base, &r, out);
            } else {
                out.push(r);
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new(dir), "", &mut out);
    out
}

fn full_vm_lifecycle(t: Transport) {
    let fx = Fx::new(t);
    let h1 = fx.host.clone();
    let base = fx.qcow2_image("1/base", GIB, MIB);
    let pers = fx.qcow2_image("1/pers", GIB, MIB);
    let praw = fx.raw_image("1/praw", GIB, MIB);
    let disks = || {
        vec![
            Disk::new(0)
                .attr("SOURCE", &base)
                .attr("FORMAT", "qcow2")
                .attr("CLONE", "YES")
                .attr("TARGET", "vda")
                .attr("TM_MAD", "qcow2")
                .attr("SIZE", "1024")
                .attr("ORIGINAL_SIZE", "1024"),
            Disk::new(1)
                .attr("SOURCE", &pers)
                .attr("FORMAT", "qcow2")
                .attr("CLONE", "NO")
                .attr("SAVE", "YES")
                .attr("TARGET", "vdb")
                .attr("TM_MAD", "qcow2"),
            Disk::new(2)
                .attr("SOURCE", &praw)
                .attr("FORMAT", "raw")
                .attr("CLONE", "NO")
                .attr("SAVE", "YES")
                .attr("TARGET", "vdc")
                .attr("TM_MAD", "qcow2"),
        ]
    };
    let vm_on = |hist: &[&str]| {
        let mut vm = Vm::new(42);
        for h in hist {
            vm = vm.on(h, 0);
        }
        for d in disks() {
            vm = vm.disk(d);
        }
        vm
    };
    fx.vm(&vm_on(&[&h1]));
    let sys = fx.p("0/42");
    let d = |i: u32| format!("{sys}/disk.{i}");
    let at = |h: &str, p: &str| format!("{h}:{p}");

    // Prolog, then CONTEXT at deploy.
    fx.ok(
        "clone",
        &[&format!("fe:{base}"), &at(&h1, &d(0)), "42", "1"],
    );
    fx.ok("ln", &[&format!("fe:{pers}"), &at(&h1, &d(1)), "42", "1"]);
    fx.ok("ln", &[&format!("fe:{praw}"), &at(&h1, &d(2)), "42", "1"]);
    let ctx_sh = fx.env.dir.path().join("context.sh");
    std::fs::write(&ctx_sh, "ETH0_IP=10.0.0.42\n").unwrap();
    fx.ok(
        "context",
        &[ctx_sh.to_str().unwrap(), &at(&h1, &d(3)), "42", "0"],
    );
    let iso = std::fs::read(d(3)).unwrap();
    assert_eq!(
        &iso[0x8001..0x8006],
        b"CD001",
        "disk.3 is an ISO 9660 image"
    );
    let deployed = vec![
        "disk.0 -> disk.0.snap/0".to_string(),
        "disk.0.snap/".into(),
        "disk.0.snap/0".into(),
        "disk.0.snap/disk.0.snap -> .".into(),
        format!("disk.1 -> {pers}.snap/0"),
        format!("disk.2 -> {praw}"),
        "disk.3".into(),
    ];
    assert_eq!(tree(&sys), deployed);
    assert_eq!(
        tree(&format!("{pers}.snap")),
        [format!("0 -> {pers}"), "pers.snap -> .".into()]
    );

    // Disk snapshots (powered off): create, revert, create, delete.
    fx.write(&d(0), "qcow2", "0xab", "0", "64k");
    fx.ok("snap_create", &[&at(&h1, &d(0)), "0", "42", "1"]);
    fx.write(&d(0), "qcow2", "0xef", "0", "64k");
    fx.ok("snap_revert", &[&at(&h1, &d(0)), "0", "42", "1"]);
    assert!(fx.reads(&d(0), "qcow2", "0xab", "0", "64k"));
    fx.ok("snap_create", &[&at(&h1, &d(0)), "1", "42", "1"]);
    fx.ok("snap_delete", &[&at(&h1, &d(0)), "0", "42", "1"]);
    fx.ok("snap_create", &[&at(&h1, &d(1)), "0", "42", "1"]);
    let snapped = vec![
        "disk.0 -> disk.0.snap/2".to_string(),
        "disk.0.snap/".into(),
        "disk.0.snap/1".into(),
        "disk.0.snap/2".into(),
        "disk.0.snap/disk.0.snap -> .".into(),
        format!("disk.1 -> {pers}.snap/1"),
        format!("disk.2 -> {praw}"),
        "disk.3".into(),
    ];
    assert_eq!(tree(&sys), snapped);
    assert_eq!(
        fx.chain_summary(&d(0))[1].1.as_deref(),
        Some(base.as_str()),
        "1 now sits on the image"
    );
    assert_eq!(
        tree(&format!("{pers}.snap")),
        [format!("0 -> {pers}"), "1".into(), "pers.snap -> .".into()]
    );

    // stop (host -> front-end) and resume (front-end -> host): nothing moves.
    for i in 0..4 {
        fx.ok("mv", &[&at(&h1, &d(i)), &format!("fe:{}", d(i)), "42", "1"]);
    }
    fx.ok("mv", &[&at(&h1, &sys), &format!("fe:{sys}"), "42", "0"]);
    fx.ok("mv", &[&format!("fe:{sys}"), &at(&h1, &sys), "42", "0"]);
    assert_eq!(tree(&sys), snapped);

    // Live migration lab1 -> lab2.
    let vm = vm_on(&[&h1, "lab2"]);
    fx.vm(&vm);
    let b64 = vm.base64();
    for hook in ["premigrate", "postmigrate"] {
        let out = fx.env.run(
            &fx.lab,
            "shared",
            hook,
            &[&h1, "lab2", &sys, "42", "0"],
            b64.as_bytes(),
        );
        assert!(
            out.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(tree(&sys), snapped);

    // disk-saveas of snapshot 1 of disk.0 into a new image.
    let saved = fx.p("1/saved");
    fx.ok("cpds", &[&at(&h1, &d(0)), &saved, "1", "42", "1"]);
    assert_eq!(fx.chain_summary(&saved), vec![("qcow2".to_string(), None)]);
    assert!(fx.reads(&saved, "qcow2", "0xab", "0", "64k"));

    // Terminate: MVDS for persistent disks, DELETE for the others, then the directory.
    fx.ok("mvds", &[&at(&h1, &d(1)), &pers, "42", "1"]);
    fx.ok("mvds", &[&at(&h1, &d(2)), &praw, "42", "1"]);
    fx.ok("delete", &[&at(&h1, &d(0)), "42", "1"]);
    fx.ok("delete", &[&at(&h1, &d(3)), "42", "0"]);
    fx.ok("delete", &[&at(&h1, &sys), "42", "0"]);
    assert!(!exists(&sys));
    assert_eq!(
        tree(&fx.p("1")),
        [
            "base".to_string(),
            "pers".into(),
            "pers.snap/".into(),
            format!("pers.snap/0 -> {pers}"),
            "pers.snap/1".into(),
            "pers.snap/pers.snap -> .".into(),
            "praw".into(),
            "saved".into(),
        ]
    );
    fx.check(&format!("{pers}.snap/1"));
    assert!(
        fx.reads(&praw, "raw", "0xcd", "0", "1M"),
        "persistent images survive"
    );
}

crate::both_transports!(full_vm_lifecycle);
