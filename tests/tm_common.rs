//! The TM actions both drivers share (context, delete, mkimage/mkswap,
//! resize), run as oned runs them against real sshd hosts, once per SSH
//! transport. Assertions read the real state on the host: files, links,
//! `qemu-img info`, `blkid`, the ISO read back with isoinfo/xorriso.

mod common;
mod tm_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::process::{Command, Output};

use common::lab::Lab;
use tm_support::{evidence, reason, Disk, TmEnv, Transport, Vm};

/// One plain reason line on stderr that names what to fix.
fn assert_reason(out: &Output, needles: &[&str]) {
    let r = reason(out);
    assert_eq!(r.len(), 1, "one reason line expected: {r:?}");
    for n in needles {
        assert!(r[0].contains(n), "reason lacks {n:?}: {}", r[0]);
    }
    assert_ne!(out.status.code(), Some(0));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn loc(host: &str, p: &Path) -> String {
    format!("{host}:{}", p.display())
}

/// `qemu-img info` run on the host: (format, virtual size, allocated bytes).
fn image_info(lab: &Lab, host: &str, p: &Path) -> (String, u64, u64) {
    let out = lab.run_on(
        host,
        &["qemu-img", "info", "--output=json", p.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alloc = fs::metadata(lab.host_path(host, p)).unwrap().blocks() * 512;
    (
        v["format"].as_str().unwrap().to_string(),
        v["virtual-size"].as_u64().unwrap(),
        alloc,
    )
}

fn blkid(lab: &Lab, host: &str, p: &Path) -> String {
    let out = lab.run_on(host, &["blkid", "-p", "-o", "export", p.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------- context

/// Every file of the ISO (extracted with xorriso) and its content; links as `-> target`.
fn iso_tree(iso: &Path) -> BTreeMap<String, String> {
    let out_dir = tempfile::tempdir().unwrap();
    let root = out_dir.path().join("x");
    common::cmd::run_ok(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/"])
            .arg(&root),
    );
    let mut tree = BTreeMap::new();
    fn walk(dir: &Path, root: &Path, tree: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p, root, tree);
            } else if m.file_type().is_symlink() {
                tree.insert(rel, format!("-> {}", fs::read_link(&p).unwrap().display()));
            } else {
                tree.insert(rel, fs::read_to_string(&p).unwrap());
            }
        }
    }
    walk(&root, &root, &mut tree);
    tree
}

fn context_case(t: Transport) {
    let lab = Lab::start(2);
    let env = TmEnv::new(t, "");
    let fe = tempfile::tempdir().unwrap();
    let f = |n: &str| fe.path().join(n);
    fs::write(f("context.sh"), "ETH0_IP='10.0.0.2'\n").unwrap();
    fs::write(f("init.sh"), "echo one\n").unwrap();
    fs::write(f("image-hash"), "from the image datastore\n").unwrap();
    fs::create_dir_all(f("tree/sub")).unwrap();
    fs::write(f("tree/sub/deep"), "deep\n").unwrap();
    symlink("sub/deep", f("tree/link")).unwrap();
    let vm_dir = lab.ds_root().join("0/42");
    let dst = vm_dir.join("disk.3");
    let files_ds = format!("{}:'my file's name'", f("image-hash").display());
    let args_for = |dst: &str| -> Vec<String> {
        vec![
            f("context.sh").display().to_string(),
            f("init.sh").display().to_string(),
            f("tree").display().to_string(),
            files_ds.clone(),
            dst.to_string(),
            "42".into(),
            "0".into(),
        ]
    };
    let run = |args: &[String]| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run_ok(&lab, "ssh", "context", &a)
    };

    lab.reset_counts();
    run(&args_for(&loc("lab1", &dst)));
    assert_eq!(lab.ssh_connections("lab1"), 1, "one connection per action");
    assert_eq!(lab.ssh_commands("lab1"), 1, "one command");
    let iso = lab.host_path("lab1", &dst);
    assert!(fs::symlink_metadata(&iso).unwrap().is_file());
    assert_eq!(
        entries(&lab.host_path("lab1", &vm_dir)),
        ["disk.3"],
        "no temporaries"
    );
    assert!(
        !lab.host_path("lab2", &dst).exists() && !dst.exists(),
        "only on lab1"
    );
    let info = common::cmd::run_ok(Command::new("isoinfo").args(["-d", "-i"]).arg(&iso));
    let info = String::from_utf8_lossy(&info.stdout);
    for needle in ["Volume id: CONTEXT", "Joliet", "Rock Ridge"] {
        assert!(info.contains(needle), "{needle} missing: {info}");
    }
    let expect = |init: &str| -> BTreeMap<String, String> {
        [
            ("context.sh", "ETH0_IP='10.0.0.2'\n"),
            ("init.sh", init),
            ("my file's name", "from the image datastore\n"),
            ("tree/link", "-> sub/deep"),
            ("tree/sub/deep", "deep\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    assert_eq!(iso_tree(&iso), expect("echo one\n"));

    // Re-running (a NIC attach, a context update) overwrites DST.
    fs::write(f("init.sh"), "echo two\n").unwrap();
    run(&args_for(&loc("lab1", &dst)));
    assert_eq!(iso_tree(&iso), expect("echo two\n"));

    // A missing source fails before the host is touched.
    let other = vm_dir.join("disk.4");
    let mut args = args_for(&loc("lab1", &other));
    args[1] = f("gone.sh").display().to_string();
    lab.reset_counts();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run_fail(&lab, "ssh", "context", &a);
    assert_reason(
        &out,
        &[&f("gone.sh").display().to_string(), "does not exist"],
    );
    assert_eq!(lab.ssh_connections("lab1"), 0);
    assert_eq!(entries(&lab.host_path("lab1", &vm_dir)), ["disk.3"]);

    // The front-end as the host: written locally.
    let fe_dst = lab.ds_root().join("0/43/disk.1");
    let mut args = args_for(&loc("localhost", &fe_dst));
    args[5] = "43".into();
    run(&args);
    assert_eq!(iso_tree(&fe_dst), expect("echo two\n"));
}

#[test]
fn context_ssh2() {
    context_case(Transport::Ssh2);
}

#[test]
fn context_ssh_cli() {
    context_case(Transport::Cli);
}

// ---------------------------------------------------------------- delete

fn delete_case(t: Transport) {
    let lab = Lab::start(2);
    let env = TmEnv::new(t, "");
    let ds = lab.ds_root();
    let on1 = |p: &str| lab.host_path("lab1", &ds.join(p));
    fs::create_dir_all(on1("0/42/disk.0.snap")).unwrap();
    fs::create_dir_all(on1("0/43")).unwrap();
    fs::create_dir_all(on1("1")).unwrap();
    fs::write(on1("0/42/disk.0"), "disk").unwrap();
    fs::write(on1("0/42/disk.0.snap/0"), "snap").unwrap();
    fs::write(on1("0/43/disk.0"), "other vm").unwrap();
    fs::write(on1("1/image"), "persistent").unwrap();
    symlink(ds.join("1/image"), on1("0/42/disk.1")).unwrap();
    symlink(ds.join("1/gone"), on1("0/42/disk.2")).unwrap();
    let del = |p: &str, vm: &str| {
        let a = loc("lab1", &ds.join(p));
        env.run(&lab, "ssh", "delete", &[&a, vm, "0"], b"")
    };
    let ok = |p: &str| {
        let out = del(p, "42");
        assert!(
            out.status.success(),
            "{}",
            evidence("ssh", "delete", &[p], &out)
        );
        out
    };

    ok("0/42/disk.1");
    assert!(
        fs::symlink_metadata(on1("0/42/disk.1")).is_err(),
        "link removed"
    );
    assert_eq!(fs::read_to_string(on1("1/image")).unwrap(), "persistent");
    ok("0/42/disk.2");
    assert!(
        fs::symlink_metadata(on1("0/42/disk.2")).is_err(),
        "dangling link removed"
    );
    ok("0/42/disk.0.snap");
    assert!(!on1("0/42/disk.0.snap").exists());
    let out = ok("0/42/disk.9");
    assert!(
        stderr(&out).contains("does not exist: nothing to delete"),
        "{}",
        stderr(&out)
    );

    lab.reset_counts();
    for (p, vm) in [
        ("0/43", "42"),
        ("0/43/disk.0", "42"),
        ("0", "0"),
        ("1/image", "42"),
    ] {
        let out = del(p, vm);
        assert_reason(&out, &["refusing to delete", "VM"]);
    }
    let out = env.run(&lab, "ssh", "delete", &["lab1:/", "42", "0"], b"");
    assert_reason(&out, &["refusing to delete lab1:/"]);
    assert_eq!(lab.ssh_connections("lab1"), 0, "refused before connecting");

    ok("0/42");
    ok("0/42");
    assert!(!on1("0/42").exists());
    assert_eq!(fs::read_to_string(on1("0/43/disk.0")).unwrap(), "other vm");
    assert_eq!(fs::read_to_string(on1("1/image")).unwrap(), "persistent");
}

#[test]
fn delete_ssh2() {
    delete_case(Transport::Ssh2);
}

#[test]
fn delete_ssh_cli() {
    delete_case(Transport::Cli);
}

// ---------------------------------------------------------------- mkimage

fn mkimage_case(t: Transport) {
    let lab = Lab::start(2);
    let env = TmEnv::new(t, "FS_OPTS_ext4=\"-L data\"\nFS_OPTS_ext3=--no-such-option");
    let ds = lab.ds_root();
    let pwned = ds.join("pwned");
    let inject = format!("x;touch {}", pwned.display());
    env.set_vm(
        42,
        &Vm::new(42)
            .on("lab1", 0)
            .disk(Disk::new(0))
            .disk(Disk::new(1).attr("FS", "ext4"))
            .disk(Disk::new(2).attr("FS", &inject))
            .disk(Disk::new(3).attr("SPARSE", "no"))
            .disk(Disk::new(6).attr("FS", "ext3"))
            .xml(),
    );
    let disk = |i: u32| ds.join(format!("0/42/disk.{i}"));
    let mk = |args: &[&str]| env.run(&lab, "qcow2", args[0], &args[1..], b"");
    let ok = |args: &[&str]| {
        let out = mk(args);
        assert!(
            out.status.success(),
            "{}",
            evidence("qcow2", args[0], args, &out)
        );
    };
    let d = |i: u32| loc("lab1", &disk(i));

    ok(&["mkimage", "8", "raw", &d(0), "42", "0"]);
    assert_eq!(image_info(&lab, "lab1", &disk(0)).0, "raw");
    assert_eq!(image_info(&lab, "lab1", &disk(0)).1, 8 << 20);
    // Re-running overwrites, here with another format and size.
    ok(&["mkimage", "16", "qcow2", &d(0), "42", "0"]);
    assert_eq!(image_info(&lab, "lab1", &disk(0)).0, "qcow2");
    assert_eq!(image_info(&lab, "lab1", &disk(0)).1, 16 << 20);

    lab.reset_counts();
    ok(&["mkimage", "8", "raw", &d(1), "42", "0"]);
    assert_eq!(lab.ssh_connections("lab1"), 1);
    assert_eq!(lab.ssh_commands("lab1"), 1, "one host script");
    let id = blkid(&lab, "lab1", &disk(1));
    assert!(
        id.contains("TYPE=ext4") && id.contains("LABEL=data"),
        "{id}"
    );

    ok(&["mkswap", "8", &d(4), "42", "0"]);
    let id = blkid(&lab, "lab1", &disk(4));
    assert!(
        id.contains("TYPE=swap") && id.contains("LABEL=swap"),
        "{id}"
    );

    ok(&["mkimage", "8", "raw", &d(3), "42", "0"]);
    let (_, size, alloc) = image_info(&lab, "lab1", &disk(3));
    assert!(alloc >= size, "SPARSE=no preallocates: {alloc} of {size}");
    assert!(
        image_info(&lab, "lab1", &disk(0)).2 < 1 << 20,
        "sparse by default"
    );

    // A failure on the host: the old disk stays, no temporaries are left,
    // the script is logged and the reason says what failed where.
    fs::copy(
        lab.host_path("lab1", &disk(0)),
        lab.host_path("lab1", &disk(6)),
    )
    .unwrap();
    let out = mk(&["mkimage", "8", "raw", &d(6), "42", "0"]);
    assert_reason(
        &out,
        &[
            "cannot create the raw image lab1:",
            "/0/42/disk.6 (mkfs options",
            "mkfs.ext3: invalid option",
            "FS_OPTS_ext3='--no-such-option'",
        ],
    );
    assert!(
        stderr(&out).contains("ERROR: mkimage: command failed on lab1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        image_info(&lab, "lab1", &disk(6)).0,
        "qcow2",
        "the old disk.6 stays"
    );

    lab.reset_counts();
    let out = mk(&["mkimage", "8", "raw", &d(2), "42", "0"]);
    assert_reason(&out, &["'x;touch", "not supported", "SUPPORTED_FS"]);
    let out = mk(&["mkimage", "8", "vmdk", &d(5), "42", "0"]);
    assert_reason(&out, &["'vmdk'", "raw, qcow2 or swap"]);
    let out = mk(&["mkimage", "8", "raw", &d(5), "99", "0"]);
    assert_reason(&out, &["cannot read VM 99 from oned"]);
    assert_eq!(lab.ssh_connections("lab1"), 0, "refused before connecting");
    assert!(!lab.host_path("lab1", &pwned).exists() && !pwned.exists());
    assert!(!lab.host_path("lab1", &disk(2)).exists());
    assert_eq!(
        entries(&lab.host_path("lab1", &ds.join("0/42"))),
        ["disk.0", "disk.1", "disk.3", "disk.4", "disk.6"]
    );
}

#[test]
fn mkimage_ssh2() {
    mkimage_case(Transport::Ssh2);
}

#[test]
fn mkimage_ssh_cli() {
    mkimage_case(Transport::Cli);
}

// ---------------------------------------------------------------- resize

fn resize_case(t: Transport) {
    let lab = Lab::start(2);
    let env = TmEnv::new(t, "");
    let ds = lab.ds_root();
    let vm_dir = ds.join("0/42");
    let p = |n: &str| vm_dir.join(n);
    let ps = |n: &str| p(n).display().to_string();
    let setup = format!(
        "set -e; mkdir -p {snap}; cd {dir}\n\
         qemu-img create -q -f raw disk.0 8M\n\
         qemu-img create -q -f qcow2 disk.1.snap/0 8M\n\
         ln -s disk.1.snap/0 disk.1\n\
         qemu-img create -q -f raw disk.2 1M",
        snap = ps("disk.1.snap"),
        dir = vm_dir.display()
    );
    let out = lab.sh_on("lab1", &setup);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.set_vm(
        42,
        &Vm::new(42)
            .on("lab1", 0)
            .disk(Disk::new(2).attr("SPARSE", "NO"))
            .xml(),
    );
    env.set_vm(43, &Vm::new(43).on("lab1", 0).state(62).xml());
    let resize = |disk: &str, mb: &str, vm: &str| {
        env.run(
            &lab,
            "ssh",
            "resize",
            &[&loc("lab1", &p(disk)), mb, vm, "0"],
            b"",
        )
    };
    let ok = |disk: &str, mb: &str| {
        let out = resize(disk, mb, "42");
        assert!(
            out.status.success(),
            "{}",
            evidence("ssh", "resize", &[disk, mb], &out)
        );
    };

    lab.reset_counts();
    ok("disk.0", "16");
    assert_eq!(
        lab.ssh_connections("lab1"),
        1,
        "info and resize, one connection"
    );
    let (fmt, size, alloc) = image_info(&lab, "lab1", &p("disk.0"));
    assert_eq!((fmt.as_str(), size), ("raw", 16 << 20));
    assert!(alloc < 1 << 20, "still sparse: {alloc}");
    ok("disk.1", "20");
    assert_eq!(image_info(&lab, "lab1", &p("disk.1.snap/0")).1, 20 << 20);
    assert!(fs::symlink_metadata(lab.host_path("lab1", &p("disk.1")))
        .unwrap()
        .file_type()
        .is_symlink());
    ok("disk.2", "8");
    let (_, size, alloc) = image_info(&lab, "lab1", &p("disk.2"));
    assert_eq!(size, 8 << 20);
    assert!(
        alloc >= 7 << 20,
        "SPARSE=NO preallocates the new space: {alloc}"
    );

    let out = resize("disk.0", "4", "42");
    assert_reason(
        &out,
        &["cannot shrink", "from 16 MB to 4 MB", "at least 16 MB"],
    );
    assert_eq!(image_info(&lab, "lab1", &p("disk.0")).1, 16 << 20);
    let out = resize("disk.7", "4", "42");
    assert_reason(&out, &["disk.7", "does not exist on lab1"]);

    lab.reset_counts();
    let out = resize("disk.0", "32", "43");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("LCM_STATE 62"), "{}", stderr(&out));
    assert_eq!(lab.ssh_connections("lab1"), 0);
    assert_eq!(image_info(&lab, "lab1", &p("disk.0")).1, 16 << 20);
}

#[test]
fn resize_ssh2() {
    resize_case(Transport::Ssh2);
}

#[test]
fn resize_ssh_cli() {
    resize_case(Transport::Cli);
}
