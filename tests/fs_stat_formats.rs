//! `datastore/fs/stat` on a local image of every format this qemu-img can
//! create: the size is always qemu-img's virtual size in MiB (rounded up),
//! and plain raw and qcow2 files are sized without starting qemu-img.
//!
//! qemu-img is reached through a wrapper first in PATH that logs each call
//! and runs the real one, so the test sees which images needed it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::*;

/// 5 MiB + 1 KiB: whole sectors, not whole MiB, so rounding shows.
const SIZE: &str = "5243904";

struct Counted {
    fs: Fs,
    bin: PathBuf,
    log: PathBuf,
}

impl Counted {
    fn new() -> Counted {
        let fs = Fs::new();
        let bin = fs.path("bin");
        let log = fs.path("qemu-img.log");
        std::fs::create_dir(&bin).unwrap();
        let real = which("qemu-img");
        let wrapper = bin.join("qemu-img");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Counted { fs, bin, log }
    }

    fn dump(&self, image: &Path) -> Dump {
        Dump::new(image.to_str().unwrap(), &self.fs.path("ds"))
    }

    /// stat's answer for `image` and how many times it ran qemu-img.
    fn stat(&self, image: &Path) -> (String, usize) {
        self.stat_dump(&self.dump(image))
    }

    fn stat_dump(&self, dump: &Dump) -> (String, usize) {
        let _ = std::fs::remove_file(&self.log);
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
        let mut c = self.fs.command("stat");
        c.env("PATH", path).arg("3");
        let out = Out::of(&mut c, Some(dump.b64().as_bytes())).success();
        let calls = std::fs::read_to_string(&self.log).unwrap_or_default();
        (out, calls.lines().count())
    }
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not in PATH"))
}

fn mib_of_qemu_img(p: &Path) -> String {
    qemu_info(p).1.div_ceil(1 << 20).to_string()
}

#[test]
fn every_format_sizes_like_qemu_img_and_only_odd_ones_run_it() {
    let t = Counted::new();
    let secret = "secret,id=s0,data=pw";
    // (file, qemu-img create options, sized in-process?)
    let images: &[(&str, &[&str], bool)] = &[
        ("qcow2-v2", &["-f", "qcow2", "-o", "compat=0.10"], true),
        ("qcow2-v3", &["-f", "qcow2", "-o", "compat=1.1"], true),
        (
            "qcow2-zstd",
            &["-f", "qcow2", "-o", "compression_type=zstd"],
            true,
        ),
        ("qcow", &["-f", "qcow"], false),
        ("qed", &["-f", "qed"], false),
        ("sparse.vmdk", &["-f", "vmdk"], false),
        (
            "stream.vmdk",
            &["-f", "vmdk", "-o", "subformat=streamOptimized"],
            false,
        ),
        (
            "flat.vmdk",
            &["-f", "vmdk", "-o", "subformat=monolithicFlat"],
            false,
        ),
        ("vdi", &["-f", "vdi"], false),
        ("vpc", &["-f", "vpc"], false),
        // A fixed VHD has its footer at the end only: qemu-img calls it raw.
        ("vpc-fixed", &["-f", "vpc", "-o", "subformat=fixed"], true),
        ("vhdx", &["-f", "vhdx"], false),
        ("parallels", &["-f", "parallels"], false),
        (
            "luks",
            &[
                "--object",
                secret,
                "-f",
                "luks",
                "-o",
                "key-secret=s0,iter-time=10",
            ],
            false,
        ),
        ("raw", &["-f", "raw"], true),
    ];
    for (name, opts, in_process) in images {
        let p = t.fs.path(name);
        let mut args = vec!["create", "-q"];
        args.extend_from_slice(opts);
        args.extend([p.to_str().unwrap(), SIZE]);
        qemu_img(&args);
        let (size, calls) = t.stat(&p);
        assert_eq!(size, mib_of_qemu_img(&p), "{name}");
        if *in_process {
            assert_eq!(calls, 0, "{name} is sized without qemu-img");
        } else {
            assert!(calls > 0, "{name} is left to qemu-img");
        }
    }
    // An external data file is for qemu-img to judge.
    let p = t.fs.path("qcow2-data-file");
    let data = format!("data_file={}", t.fs.path("data.raw").display());
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &data,
        p.to_str().unwrap(),
        SIZE,
    ]);
    let (size, calls) = t.stat(&p);
    assert_eq!((size.as_str(), calls > 0), ("6", true));
    // A qcow2 overlay is sized by its own header, with or without its base.
    let base = t.fs.path("qcow2-v3");
    let over = t.fs.path("overlay");
    let b = base.to_str().unwrap();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        b,
        "-F",
        "qcow2",
        over.to_str().unwrap(),
        "8M",
    ]);
    assert_eq!(t.stat(&over), ("8".to_string(), 0));
    std::fs::remove_file(&base).unwrap();
    assert_eq!(t.stat(&over), ("8".to_string(), 0));
}

#[test]
fn raw_data_of_any_kind_is_its_length_without_qemu_img() {
    let t = Counted::new();
    let cases: &[(&str, Vec<u8>)] = &[
        ("tiny", vec![1u8; 10]),
        ("one-mib", vec![0u8; 1 << 20]),
        (
            "mbr",
            [&[0x33, 0xed, 0x90, 0x90][..], &[7u8; 3000]].concat(),
        ),
        ("gzip-kept", gzip(&[5u8; 4000])),
    ];
    for (name, data) in cases {
        let p = t.fs.path(name);
        std::fs::write(&p, data).unwrap();
        let mut dump = t.dump(&p);
        if *name == "gzip-kept" {
            // NO_DECOMPRESS: the compressed file is the image, raw to qemu-img.
            dump = dump.ds("NO_DECOMPRESS", "yes");
        }
        let (size, calls) = t.stat_dump(&dump);
        assert_eq!(size, mib_of_qemu_img(&p), "{name}");
        assert_eq!(calls, 0, "{name} is sized without qemu-img");
    }
    // Text a vmdk descriptor could start with goes to qemu-img, which says raw.
    let p = t.fs.path("notes.txt");
    std::fs::write(&p, "# just notes\nhello\n").unwrap();
    assert_eq!(t.stat(&p), ("1".to_string(), 1));
}
