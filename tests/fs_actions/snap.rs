use std::os::unix::fs::symlink;
use std::path::PathBuf;

use crate::support::*;

const NAME: &str = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f";
const BLOCK: u64 = 64 << 10;

/// The persistent qcow2 layout of the qcow2/shared TM: SOURCE (qcow2,
/// first block 0x20), `SOURCE.snap/0` -> SOURCE, files 1..=n overlays backed
/// by `<name>.snap/<k-1>` through the self-link, file k writing 0x20+k.
/// File n is the active layer.
struct Chain {
    ds: Ds,
    src: PathBuf,
    dir: PathBuf,
}

impl Chain {
    fn new(n: u64) -> Chain {
        Chain::with_base(n, false)
    }

    /// `raw0`: file 0 is a standalone raw file instead of the link.
    fn with_base(n: u64, raw0: bool) -> Chain {
        let ds = Ds::new();
        std::fs::create_dir_all(&ds.base).unwrap();
        let src = ds.base.join(NAME);
        qemu_img(&["create", "-q", "-f", "qcow2", src.to_str().unwrap(), "4M"]);
        write_pattern(&src, "qcow2", 0x20, 0, BLOCK);
        let dir = ds.base.join(format!("{NAME}.snap"));
        std::fs::create_dir(&dir).unwrap();
        symlink(".", dir.join(format!("{NAME}.snap"))).unwrap();
        let zero_fmt = if raw0 {
            let z = dir.join("0");
            qemu_img(&[
                "convert",
                "-O",
                "raw",
                src.to_str().unwrap(),
                z.to_str().unwrap(),
            ]);
            "raw"
        } else {
            symlink(&src, dir.join("0")).unwrap();
            "qcow2"
        };
        for k in 1..=n {
            let f = dir.join(k.to_string());
            let fmt = if k == 1 { zero_fmt } else { "qcow2" };
            let b = format!("{NAME}.snap/{}", k - 1);
            qemu_img(&[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                fmt,
                "-b",
                &b,
                f.to_str().unwrap(),
            ]);
            write_pattern(&f, "qcow2", 0x20 + k as u8, 0, BLOCK);
        }
        std::fs::write(ds.base.join(format!("{NAME}.md5sum")), "cache\n").unwrap();
        Chain { ds, src, dir }
    }

    fn file(&self, k: u64) -> PathBuf {
        self.dir.join(k.to_string())
    }

    fn dump(&self, tm: &str, target: u64) -> Dump {
        self.ds
            .dump()
            .ds("TM_MAD", tm)
            .image("SOURCE", self.src.to_str().unwrap())
            .image("FORMAT", "qcow2")
            .image("TARGET_SNAPSHOT", &target.to_string())
    }

    fn run(&self, action: &str, tm: &str, target: u64) -> Run {
        self.ds.run(action, "7", &self.dump(tm, target))
    }

    fn md5sum_gone(&self) -> bool {
        !self.ds.base.join(format!("{NAME}.md5sum")).exists()
    }

    /// The active layer reads `byte` and the whole chain checks clean.
    fn active_reads(&self, k: u64, byte: u8) {
        let f = self.file(k);
        qemu_img(&["check", "-q", f.to_str().unwrap()]);
        qemu_img(&["info", "-U", "--backing-chain", f.to_str().unwrap()]);
        assert!(
            reads_pattern(&f, "qcow2", byte, 0, BLOCK),
            "{}",
            listing(&self.ds.base)
        );
    }
}

#[test]
fn revert_recreates_the_active_layer_over_the_snapshot_with_a_relative_name() {
    let c = Chain::new(3);
    assert_eq!(c.run("snap_revert", "qcow2", 1).ok(), "");
    let i = info(&c.file(3));
    assert_eq!(i["backing-filename"], format!("{NAME}.snap/1"), "{i}");
    assert_eq!(i["backing-filename-format"], "qcow2");
    c.active_reads(3, 0x21);
    assert!(
        reads_pattern(&c.src, "qcow2", 0x20, 0, BLOCK),
        "SOURCE itself is untouched"
    );
    assert!(c.md5sum_gone());
    let mut want: Vec<String> = ["0", "1", "2", "3"].map(String::from).to_vec();
    want.push(format!("{NAME}.snap"));
    want.sort();
    assert_eq!(names(&c.dir), want, "no temporaries left");
}

#[test]
fn revert_to_a_raw_snapshot_says_raw_as_backing_format() {
    let c = Chain::with_base(2, true);
    assert_eq!(c.run("snap_revert", "qcow2", 0).ok(), "");
    let i = info(&c.file(2));
    assert_eq!(i["backing-filename-format"], "raw", "{i}");
    c.active_reads(2, 0x20);
}

#[test]
fn revert_to_the_active_layer_or_a_missing_snapshot_is_refused() {
    let c = Chain::new(3);
    let line = c
        .run("snap_revert", "qcow2", 3)
        .fails_with("refusing to revert");
    assert!(line.contains("active layer"), "{line}");
    c.active_reads(3, 0x23);
    // The active layer under another name (4 -> 3) is the active layer too.
    symlink(c.file(3), c.file(4)).unwrap();
    c.run("snap_revert", "qcow2", 3)
        .fails_with("is the active layer itself");
    std::fs::remove_file(c.file(4)).unwrap();
    let line = c
        .run("snap_revert", "shared", 7)
        .fails_with("snapshot 7 of");
    assert!(
        line.contains("does not exist") && line.contains(&format!("{NAME}.snap/7")),
        "{line}"
    );
    assert!(!c.md5sum_gone(), "nothing changed");
}

#[test]
fn shared_is_the_qcow2_driver_and_delete_keeps_the_chain_whole() {
    let c = Chain::new(3);
    // The reference took the copy branch for "shared" and copied an overlay
    // over SOURCE; here SOURCE stays a standalone qcow2.
    assert_eq!(c.run("snap_revert", "shared", 1).ok(), "");
    assert!(info(&c.src).get("backing-filename").is_none());
    c.active_reads(3, 0x21);
    // 2 is now a leaf off the active chain: it can go.
    std::fs::write(c.ds.base.join(format!("{NAME}.md5sum")), "cache\n").unwrap();
    assert_eq!(c.run("snap_delete", "shared", 2).ok(), "");
    assert!(!c.file(2).exists());
    assert!(c.md5sum_gone(), "the real SOURCE.md5sum goes");
    // 1 and 0 are read by the active layer, 3 is it: refused, kept.
    for k in [1, 0, 3] {
        c.run("snap_delete", "shared", k)
            .fails_with("refusing to delete snapshot");
        assert!(c.file(k).exists());
    }
    c.active_reads(3, 0x21);
    // Deleting what is already gone succeeds.
    let r = c.run("snap_delete", "shared", 2);
    assert_eq!(r.ok(), "");
    assert!(r.stderr.contains("already gone"), "{}", r.stderr);
}

#[test]
fn flatten_qcow2_makes_the_snapshot_the_standalone_image() {
    let c = Chain::new(3);
    assert_eq!(c.run("snap_flatten", "qcow2", 2).ok(), "");
    assert_eq!(format_of(&c.src), "qcow2");
    assert!(info(&c.src).get("backing-filename").is_none());
    assert!(reads_pattern(&c.src, "qcow2", 0x22, 0, BLOCK));
    qemu_img(&["check", "-q", c.src.to_str().unwrap()]);
    assert!(!c.dir.exists());
    assert_eq!(
        c.ds.base_names(),
        vec![NAME.to_string()],
        "{}",
        listing(&c.ds.base)
    );
}

/// The copies layout (ssh TM, raw): SOURCE is the data, snapshots are copies.
fn copies() -> (Ds, PathBuf) {
    let ds = Ds::new();
    std::fs::create_dir_all(ds.base.join(format!("{NAME}.snap"))).unwrap();
    let src = ds.base.join(NAME);
    qemu_img(&["create", "-q", "-f", "raw", src.to_str().unwrap(), "4M"]);
    write_pattern(&src, "raw", 0x20, 0, BLOCK);
    for k in 0..2u64 {
        let f = ds.base.join(format!("{NAME}.snap/{k}"));
        qemu_img(&["create", "-q", "-f", "raw", f.to_str().unwrap(), "4M"]);
        write_pattern(&f, "raw", 0x30 + k as u8, 0, BLOCK);
    }
    std::fs::write(ds.base.join(format!("{NAME}.md5sum")), "cache\n").unwrap();
    (ds, src)
}

#[test]
fn raw_copies_revert_and_flatten_replace_source() {
    let (ds, src) = copies();
    let d = |t: &str| {
        ds.dump()
            .ds("TM_MAD", "ssh")
            .image("SOURCE", src.to_str().unwrap())
            .image("FORMAT", "raw")
            .image("TARGET_SNAPSHOT", t)
    };
    assert_eq!(ds.run("snap_revert", "7", &d("0")).ok(), "");
    assert!(reads_pattern(&src, "raw", 0x30, 0, BLOCK));
    assert!(
        ds.base.join(format!("{NAME}.snap/0")).exists(),
        "the snapshot stays"
    );
    assert!(!ds.base.join(format!("{NAME}.md5sum")).exists());
    assert_eq!(
        ds.base_names(),
        vec![NAME.to_string(), format!("{NAME}.snap")]
    );
    assert_eq!(ds.run("snap_flatten", "7", &d("1")).ok(), "");
    assert!(reads_pattern(&src, "raw", 0x31, 0, BLOCK));
    assert_eq!(ds.base_names(), vec![NAME.to_string()]);
    ds.run("snap_flatten", "7", &d("1"))
        .fails_with("snapshot 1 of");
}
