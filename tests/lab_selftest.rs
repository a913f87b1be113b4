//! Self-test of the lab (tests/common/lab.rs): each test fails if the lab stops
//! isolating hosts, counting connections, or cleaning up after itself.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::cmd::{expect_ok, run_fail, run_ok};
use common::lab::Lab;

/// `ssh <host> <script>` from the front-end; panics with the evidence on failure.
fn fe_ssh(lab: &Lab, host: &str, script: &str) -> Output {
    run_ok(lab.frontend_command("ssh").arg(host).arg(script))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn files_written_over_ssh_stay_on_their_host() {
    let lab = Lab::start(3);
    let f = lab.ds_root().join("made-on-lab1");
    fe_ssh(&lab, "lab1", &format!("echo lab1 > {}", f.display()));
    assert_eq!(read(&lab.host_path("lab1", &f)), "lab1\n");
    assert!(!lab.host_path("lab2", &f).exists(), "lab2 sees lab1's file");
    assert!(!lab.host_path("lab3", &f).exists(), "lab3 sees lab1's file");
    assert!(!f.exists(), "the front-end's ds_root sees lab1's file");

    // The raw address works too, and reaches the same host as its name.
    let addr = lab.host("lab2").addr.clone();
    let g = lab.ds_root().join("made-by-address");
    fe_ssh(&lab, &addr, &format!("echo lab2 > {}", g.display()));
    assert_eq!(read(&lab.host_path("lab2", &g)), "lab2\n");
    assert!(!lab.host_path("lab1", &g).exists());
}

#[test]
fn hosts_ssh_to_each_other_with_their_own_config() {
    let lab = Lab::start(2);
    let ds = lab.ds_root().display().to_string();
    lab.reset_counts();
    fe_ssh(&lab, "lab1", &format!("ssh lab2 'echo hi > {ds}/x'"));
    assert_eq!(
        read(&lab.host_path("lab2", &lab.ds_root().join("x"))),
        "hi\n"
    );
    assert!(!lab.host_path("lab1", &lab.ds_root().join("x")).exists());
    assert!(!lab.ds_root().join("x").exists());
    assert_eq!(lab.ssh_connections("lab1"), 1, "{}", lab.sshd_log("lab1"));
    assert_eq!(lab.ssh_connections("lab2"), 1, "{}", lab.sshd_log("lab2"));

    // The copy pattern of the ssh transfer driver: tar on the source, piped to the target.
    expect_ok(
        lab.sh_on("lab1", &format!("echo payload > {ds}/disk.0")),
        "seed lab1",
    );
    fe_ssh(
        &lab,
        "lab1",
        &format!("tar -C {ds} -cf - disk.0 | ssh lab2 tar -C {ds} -xf -"),
    );
    assert_eq!(
        read(&lab.host_path("lab2", &lab.ds_root().join("disk.0"))),
        "payload\n"
    );
}

/// Every entry of `dir` (not recursive): name, mode, contents. Missing dir: empty.
fn snapshot(dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<_> = entries
        .map(|e| {
            let e = e.expect("read_dir entry");
            let meta = e.metadata().expect("metadata");
            let data = if meta.is_file() {
                fs::read(e.path()).expect("read")
            } else {
                Vec::new()
            };
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.permissions().mode(),
                data,
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn the_machines_ssh_set_up_is_untouched() {
    let real = Path::new("/root/.ssh");
    let before = snapshot(real);
    let etc_before = snapshot(Path::new("/etc/ssh"));
    let lab = Lab::start(2);
    // Writes that would land in the real /root/.ssh if a bind mount were missing.
    fe_ssh(&lab, "lab1", "touch ~/.ssh/written-on-lab1");
    run_ok(lab.frontend_command("ssh").args([
        "-o",
        "UserKnownHostsFile=~/.ssh/known_hosts_probe",
        "lab2",
        "true",
    ]));
    expect_ok(
        lab.sh_on("lab1", "test -e /root/.ssh/written-on-lab1"),
        "marker in lab1's ~/.ssh",
    );
    assert!(lab.fe_ssh_dir().join("known_hosts_probe").exists());
    assert_eq!(snapshot(real), before, "{} changed", real.display());
    assert_eq!(
        snapshot(Path::new("/etc/ssh")),
        etc_before,
        "/etc/ssh changed"
    );
}

#[test]
fn connections_and_commands_are_counted() {
    let lab = Lab::start(2);
    fe_ssh(&lab, "lab1", "true");
    lab.reset_counts();
    assert_eq!(lab.ssh_connections("lab1"), 0);
    fe_ssh(&lab, "lab1", "true");
    fe_ssh(&lab, "lab1", "echo two");
    let log = lab.sshd_log("lab1");
    assert_eq!(lab.ssh_connections("lab1"), 2, "sshd log:\n{log}");
    assert_eq!(lab.ssh_commands("lab1"), 2, "sshd log:\n{log}");
    assert_eq!(lab.ssh_connections("lab2"), 0);
    lab.reset_counts();
    assert_eq!(lab.ssh_commands("lab1"), 0);
}

#[test]
fn run_on_sees_the_hosts_namespace() {
    let lab = Lab::start(3);
    let base = lab.ds_root().join("base.qcow2");
    let top = lab.ds_root().join("a.qcow2");
    let (b, t) = (base.to_str().unwrap(), top.to_str().unwrap());
    expect_ok(
        lab.run_on(
            "lab3",
            &["qemu-img", "create", "-q", "-f", "qcow2", b, "1M"],
        ),
        "qemu-img create base on lab3",
    );
    expect_ok(
        lab.run_on(
            "lab3",
            &[
                "qemu-img", "create", "-q", "-f", "qcow2", "-b", b, "-F", "qcow2", t,
            ],
        ),
        "qemu-img create overlay on lab3",
    );
    let info = expect_ok(
        lab.run_on("lab3", &["qemu-img", "info", "--backing-chain", t]),
        "qemu-img info on lab3",
    );
    assert!(String::from_utf8_lossy(&info.stdout).contains(&format!("backing file: {b}")));
    for other in ["lab1", "lab2"] {
        assert!(
            !lab.host_path(other, &top).exists(),
            "{other} has lab3's image"
        );
    }
    assert!(!top.exists(), "the front-end has lab3's image");
    // Outside lab3's namespace the absolute backing path does not resolve.
    let real_top = lab.host_path("lab3", &top);
    run_fail(
        std::process::Command::new("qemu-img")
            .arg("info")
            .arg("--backing-chain")
            .arg(real_top),
    );
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(raw) = fs::read(e.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            if line.contains(needle) && e.file_name() != "self" {
                found.push(format!("{}: {line}", e.file_name().to_string_lossy()));
            }
        }
    }
    found.retain(|p| !p.starts_with(&format!("{}:", std::process::id())));
    found
}

#[test]
fn drop_leaves_no_process_mount_or_directory() {
    let lab = Lab::start(2);
    let dir: PathBuf = lab.dir().to_path_buf();
    let needle = dir.display().to_string();
    // A session still running when the lab goes away; its remote shell names the dir.
    let mut lingering = lab
        .frontend_command("ssh")
        .arg("lab1")
        .arg(format!("sleep 300; echo {needle}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lingering ssh");
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.ssh_commands("lab1") == 0 {
        assert!(
            Instant::now() < deadline,
            "session never started:\n{}",
            lab.sshd_log("lab1")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sshds = processes_mentioning(&format!("{needle}/hosts/"));
    assert_eq!(sshds.len(), 2, "expected the 2 sshd listeners: {sshds:#?}");

    drop(lab);

    // The client sees its connection die with the remote session.
    let deadline = Instant::now() + Duration::from_secs(5);
    while lingering.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            lingering.kill().unwrap();
            lingering.wait().unwrap();
            panic!("the lingering ssh session outlived the lab");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&needle), "mounts left behind:\n{mounts}");
}

#[test]
fn two_labs_coexist() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Lab::start(1));
        let b = s.spawn(|| Lab::start(1));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.host("lab1").port, b.host("lab1").port);
    for (lab, word) in [(&a, "a"), (&b, "b")] {
        let f = lab.ds_root().join("which");
        fe_ssh(lab, "lab1", &format!("echo {word} > {}", f.display()));
        assert_eq!(read(&lab.host_path("lab1", &f)), format!("{word}\n"));
    }
}

#[test]
fn command_failures_carry_their_evidence() {
    let err = std::panic::catch_unwind(|| {
        run_ok(std::process::Command::new("sh").args([
            "-c",
            "echo out; echo err >&2; exit 3",
            "it's",
        ]))
    })
    .expect_err("run_ok accepted exit status 3");
    let msg = err
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    for part in [
        "sh -c 'echo out; echo err >&2; exit 3' 'it'\\''s'",
        "exit status 3",
        "out",
        "err",
    ] {
        assert!(msg.contains(part), "{part:?} missing from:\n{msg}");
    }
}

#[test]
fn shared_lab_hosts_see_the_front_ends_datastore() {
    let lab = Lab::start_shared(2);
    let f = lab.ds_root().join("seen-by-all");
    std::fs::write(&f, "x").unwrap();
    for h in ["lab1", "lab2"] {
        let out = lab.sh_on(h, &format!("cat {}", f.display()));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "x", "{h}");
        assert_eq!(lab.host_path(h, &f), f);
    }
}
