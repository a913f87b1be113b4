//! The copy engine between two directories of this machine (two local hosts):
//! sparseness, renaming, the qcow2 layout fixups, atomic install, clean-up.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::copy::{Copy, Hooks, Route};
use super::listing::{self, Member};
use super::refs;
use crate::command::Cmd;
use crate::transport::Host;

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn sparse_file(p: &Path, apparent: u64, data_mib: u64) {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(apparent).unwrap();
    drop(f);
    let out = std::process::Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", "conv=notrunc", "status=none"])
        .arg(format!("of={}", p.display()))
        .arg(format!("count={data_mib}"))
        .arg("seek=8")
        .status()
        .unwrap();
    assert!(out.success());
}

fn copy_of(src: &Path, dst: &Path, members: Vec<Member>, sparse: bool) -> Copy {
    Copy {
        src_dir: s(src),
        members,
        dst_dir: s(dst),
        sparse,
        what: "test".into(),
    }
}

fn run(c: &Copy, hooks: &Hooks) -> crate::error::Result<()> {
    let (mut a, mut b) = (Host::local(), Host::local());
    let names: Vec<&str> = c.members.iter().map(|m| m.from.as_str()).collect();
    let expected = listing::list(&mut a, &c.src_dir, &names).unwrap();
    c.run(
        Route::Relay {
            src: &mut a,
            dst: &mut b,
        },
        &expected,
        hooks,
    )
}

#[test]
fn sparse_file_arrives_sparse_renamed_and_equal() {
    let d = tempfile::tempdir().unwrap();
    let (src, dst) = (d.path().join("src"), d.path().join("dst/0/42"));
    std::fs::create_dir(&src).unwrap();
    sparse_file(&src.join("abc"), 256 << 20, 2);
    let c = copy_of(&src, &dst, vec![Member::new("abc", "disk.0")], true);
    run(&c, &Hooks::default()).unwrap();
    let (a, b) = (src.join("abc"), dst.join("disk.0"));
    let (ma, mb) = (a.metadata().unwrap(), b.metadata().unwrap());
    assert_eq!(mb.len(), 256 << 20);
    assert!(
        mb.blocks() * 512 <= ma.blocks() * 512 + (1 << 20),
        "sparse: {} blocks",
        mb.blocks()
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(!Path::new(&c.stage()).exists(), "stage removed");
}

#[test]
fn not_sparse_means_fully_allocated() {
    let d = tempfile::tempdir().unwrap();
    let (src, dst) = (d.path().join("src"), d.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    sparse_file(&src.join("abc"), 16 << 20, 1);
    let c = copy_of(&src, &dst, vec![Member::new("abc", "disk.1")], false);
    run(&c, &Hooks::default()).unwrap();
    let m = dst.join("disk.1").metadata().unwrap();
    assert!(
        m.blocks() * 512 >= 16 << 20,
        "allocated: {}",
        m.blocks() * 512
    );
}

#[test]
fn qcow2_layout_is_renamed_and_still_opens() {
    let d = tempfile::tempdir().unwrap();
    let (src, dst) = (d.path().join("img"), d.path().join("vm"));
    std::fs::create_dir_all(src.join("h.snap")).unwrap();
    let sh = |script: &str| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&src)
            .status()
            .unwrap();
        assert!(st.success(), "{script}");
    };
    sh("qemu-img create -q -f qcow2 h.snap/0 8M && ln -s . h.snap/h.snap");
    sh(&format!(
        "qemu-img create -q -f qcow2 -F qcow2 -b {}/h.snap/0 h.snap/1 && ln -s h.snap/1 h",
        src.display()
    ));
    let members = vec![
        Member::new("h", "disk.0"),
        Member::new("h.snap", "disk.0.snap"),
    ];
    let mut a = Host::local();
    let expected = listing::list(&mut a, &s(&src), &["h", "h.snap"]).unwrap();
    let paths = vec![s(&src.join("h.snap/0")), s(&src.join("h.snap/1"))];
    let infos = super::qemu::infos(&mut a, &paths).unwrap();
    let backings: Vec<refs::Backing> = infos
        .iter()
        .zip(["h.snap/0", "h.snap/1"])
        .filter_map(|(i, p)| {
            Some(refs::Backing {
                path: p.into(),
                name: i.backing.clone()?,
                format: i.backing_format.clone().unwrap_or_default(),
            })
        })
        .collect();
    let hooks = Hooks {
        fixups: refs::plan(&expected, &members, &s(&src), &backings).unwrap(),
        ..Hooks::default()
    };
    let c = copy_of(&src, &dst, members, true);
    let mut b = Host::local();
    c.run(
        Route::Relay {
            src: &mut a,
            dst: &mut b,
        },
        &expected,
        &hooks,
    )
    .unwrap();
    // The source goes away: the copy must stand alone.
    std::fs::remove_dir_all(&src).unwrap();
    let info = b
        .run_stdout(
            &Cmd::new("qemu-img")
                .args(["info", "--backing-chain"])
                .arg(s(&dst.join("disk.0"))),
        )
        .unwrap();
    assert!(info.contains("backing file: disk.0.snap/0"), "{info}");
    assert_eq!(
        std::fs::read_link(dst.join("disk.0")).unwrap(),
        Path::new("disk.0.snap/1")
    );
    assert_eq!(
        std::fs::read_link(dst.join("disk.0.snap/disk.0.snap")).unwrap(),
        Path::new(".")
    );
}

#[test]
fn a_failed_install_keeps_the_old_destination_and_the_source() {
    let d = tempfile::tempdir().unwrap();
    let (src, dst) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(src.join("42")).unwrap();
    std::fs::write(src.join("42/disk.0"), b"new").unwrap();
    std::fs::create_dir_all(dst.join("42")).unwrap();
    std::fs::write(dst.join("42/disk.0"), b"old").unwrap();
    let c = copy_of(&src, &dst, vec![Member::new("42", "42")], true);
    // The install fails before the member moves (say, a resize): the old
    // destination and the source stay, the stage is gone.
    let hooks = Hooks {
        before_install: vec!["false".into()],
        ..Hooks::default()
    };
    let e = run(&c, &hooks).unwrap_err().summary();
    assert!(
        e.starts_with("Error copying test: cannot put the copy in place"),
        "{e}"
    );
    assert_eq!(std::fs::read(dst.join("42/disk.0")).unwrap(), b"old");
    assert_eq!(std::fs::read(src.join("42/disk.0")).unwrap(), b"new");
    assert!(!Path::new(&c.stage()).exists());
    run(&c, &Hooks::default()).unwrap();
    assert_eq!(std::fs::read(dst.join("42/disk.0")).unwrap(), b"new");
    assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 1, "no leftovers");
}

#[test]
fn a_truncated_stream_fails_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (src, dst) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("x"), vec![7u8; 100_000]).unwrap();
    let c = copy_of(&src, &dst, vec![Member::new("x", "disk.0")], true);
    let (mut a, mut b) = (Host::local(), Host::local());
    let expected = listing::list(&mut a, &c.src_dir, &["x"]).unwrap();
    // Say the source changed under us: the verification catches it.
    std::fs::write(src.join("x"), vec![7u8; 99_000]).unwrap();
    let e = c
        .run(
            Route::Relay {
                src: &mut a,
                dst: &mut b,
            },
            &expected,
            &Hooks::default(),
        )
        .unwrap_err()
        .summary();
    assert!(
        e.contains("disk.0 is f of 99000 bytes, expected f of 100000 bytes"),
        "{e}"
    );
    assert!(!dst.join("disk.0").exists());
    assert!(!Path::new(&c.stage()).exists());
}

#[test]
fn tar_commands_are_pasteable() {
    let c = Copy {
        src_dir: "/ds/1".into(),
        members: vec![Member::new("a.b", "disk.0")],
        dst_dir: "/ds/0/7".into(),
        sparse: true,
        what: String::new(),
    };
    assert_eq!(
        c.tar_create().shell_line(),
        "tar --blocking-factor=256 -cSf - -C /ds/1 '--transform=s,^a\\.b$,disk.0,' '--transform=s,^a\\.b/,disk.0/,' -- a.b"
    );
    assert_eq!(
        c.tar_extract().shell_line(),
        "tar --blocking-factor=256 -xSf - -C /ds/0/7/.disk.0.part"
    );
}
