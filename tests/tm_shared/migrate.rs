//! mv and the live-migration hooks: nothing moves on shared storage except
//! for a system datastore change; other drivers' hooks run once each.

use std::os::unix::fs::PermissionsExt;

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn mv_moves_only_between_system_datastores(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    let d = Disk::new(0)
        .attr("SOURCE", &img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d));
    let dir = fx.p("0/7");
    let disk = format!("{dir}/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    // Disk lines and same-path lines (stop, resume, migrate) are no-ops.
    fx.ok("mv", &[&fx.at(&disk), &format!("lab2:{disk}"), "7", "1"]);
    fx.ok("mv", &[&fx.at(&dir), &format!("fe:{dir}"), "7", "0"]);
    fx.ok(
        "mv",
        &[&format!("fe:{dir}"), &format!("lab2:{dir}/"), "7", "0"],
    );
    assert_eq!(link(&disk), "disk.0.snap/0");

    // Another system datastore: the directory moves, links stay valid.
    let new = fx.p("100/7");
    fx.lab.reset_counts();
    fx.ok("mv", &[&fx.at(&dir), &fx.at(&new), "7", "100"]);
    assert_eq!(fx.lab.ssh_connections(&fx.host), 1);
    assert!(!exists(&dir));
    assert_eq!(link(&format!("{new}/disk.0")), "disk.0.snap/0");
    assert!(
        fx.reads(&format!("{new}/disk.0"), "qcow2", "0xcd", "0", "1M"),
        "relative names survive the move"
    );
    // Re-running after it succeeded is a success.
    fx.ok("mv", &[&fx.at(&dir), &fx.at(&new), "7", "100"]);
    // Neither side there: one clear line.
    let r = fx.fail(
        "mv",
        &[&fx.at(&fx.p("5/7")), &fx.at(&fx.p("6/7")), "7", "6"],
    );
    assert!(
        r.contains("Error moving VM files to another system datastore") && r.contains(fx.label()),
        "{r}"
    );
    // A path that is not this VM's directory is refused before anything runs.
    let r = fx.fail("mv", &[&fx.at(&new), &fx.at(&fx.p("0/8")), "7", "0"]);
    assert!(r.contains("not in the directory of VM 7"), "{r}");
}

/// A third-party driver whose hooks record their arguments and stdin.
fn fake_driver(fx: &Fx, name: &str, rc: i32) -> String {
    let dir = fx.env.remotes.join("tm").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let log = fx.env.dir.path().join(format!("{name}.log"));
    for hook in ["premigrate", "postmigrate", "failmigrate"] {
        let p = dir.join(hook);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{hook} $*\" >> '{log}'\ncat >> '{log}'\necho >> '{log}'\necho 'ERROR: {hook}: boom' >&2\nexit {rc}\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    log.to_str().unwrap().to_string()
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn migrate_hooks_run_other_drivers(t: Transport) {
    let fx = Fx::new(t);
    let ok_log = fake_driver(&fx, "fakeok", 0);
    let bad_log = fake_driver(&fx, "fakebad", 1);
    let disk = |i: u32, tm: &str| Disk::new(i).attr("TM_MAD", tm).attr("CLONE", "YES");
    let vm = Vm::new(7)
        .on("lab1", 0)
        .on("lab2", 0)
        .disk(disk(0, "shared"))
        .disk(disk(1, "fakeok"))
        .disk(disk(2, "qcow2"))
        .disk(disk(3, "fakeok"));
    let b64 = vm.base64();
    let dir = fx.p("0/7");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/disk.0"), b"data").unwrap();
    let run = |hook: &str, args: &[&str]| fx.env.run(&fx.lab, "shared", hook, args, b64.as_bytes());
    let args = ["lab1", "lab2", dir.as_str(), "7", "0"];

    for hook in ["premigrate", "postmigrate", "failmigrate"] {
        let out = run(hook, &args);
        assert!(
            out.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = read(&ok_log);
    for hook in ["premigrate", "postmigrate", "failmigrate"] {
        let want = format!("{hook} lab1 lab2 {dir} 7 0 shared\n{b64}\n");
        assert_eq!(
            log.matches(&want).count(),
            1,
            "{hook} once, with the VM on stdin:\n{log}"
        );
    }
    assert!(
        exists(&format!("{dir}/disk.0")),
        "nothing on shared storage is removed"
    );

    // Same host, or called by another driver (6th argument): nobody else runs.
    std::fs::remove_file(&ok_log).unwrap();
    assert!(run("premigrate", &["lab1", "lab1", &dir, "7", "0"])
        .status
        .success());
    assert!(run("postmigrate", &["lab1", "lab2", &dir, "7", "0", "ssh"])
        .status
        .success());
    assert_eq!(read(&ok_log), "");

    // A failing premigrate stops the migration, naming the driver.
    let vm2 = vm.clone().disk(disk(4, "fakebad"));
    let b64 = vm2.base64();
    let out = fx
        .env
        .run(&fx.lab, "shared", "premigrate", &args, b64.as_bytes());
    assert!(!out.status.success());
    let r = crate::tm_support::reason(&out);
    assert!(
        r.len() == 1 && r[0].contains("premigrate of the fakebad driver failed"),
        "{r:?}"
    );
    // postmigrate runs every driver, then fails naming the one that failed.
    std::fs::remove_file(&ok_log).unwrap();
    let out = fx
        .env
        .run(&fx.lab, "shared", "postmigrate", &args, b64.as_bytes());
    assert!(!out.status.success());
    assert!(
        read(&ok_log).contains("postmigrate lab1 lab2"),
        "the others still ran"
    );
    assert!(read(&bad_log).contains("postmigrate lab1 lab2"));
    let r = crate::tm_support::reason(&out);
    assert!(r.len() == 1 && r[0].contains("fakebad"), "{r:?}");

    // Bad input: one line each.
    let out = fx
        .env
        .run(&fx.lab, "shared", "premigrate", &args, b"not base64!");
    assert!(!out.status.success());
    assert_eq!(crate::tm_support::reason(&out).len(), 1);
}

fn postmigrate_after_a_system_datastore_change(t: Transport) {
    let fx = Fx::new(t);
    let vm = Vm::new(7).on(&fx.host, 0).on("lab2", 100);
    let old = fx.p("0/7");
    let new = fx.p("100/7");
    for d in [&old, &new] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(format!("{d}/disk.0"), b"x").unwrap();
    }
    let args = [fx.host.as_str(), "lab2", new.as_str(), "7", "100"];
    fx.lab.reset_counts();
    let out = fx.env.run(
        &fx.lab,
        "shared",
        "postmigrate",
        &args,
        vm.base64().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!exists(&old), "the old system datastore's copy is gone");
    assert_eq!(
        fx.lab.ssh_connections(&fx.host),
        1,
        "removed on the source host"
    );
    assert_eq!(fx.lab.ssh_connections("lab2"), 0);
    assert!(exists(&format!("{new}/disk.0")));
}

crate::both_transports!(
    mv_moves_only_between_system_datastores,
    migrate_hooks_run_other_drivers,
    postmigrate_after_a_system_datastore_change
);
