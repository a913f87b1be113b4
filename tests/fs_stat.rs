//! `datastore/fs/stat` run through its symlink: sizes in MiB of local
//! files, compressed files, directories and http(s) URLs.

mod support;

use std::path::Path;

use support::http::Server;
use support::*;

fn stat(fs: &Fs, dump: &Dump) -> String {
    fs.run("stat", "3", &dump.b64()).success()
}

fn base(fs: &Fs) -> std::path::PathBuf {
    fs.path("ds")
}

#[test]
fn qcow2_reports_its_virtual_size_compressed_or_not() {
    let fs = Fs::new();
    let q = fs.path("a.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", q.to_str().unwrap(), "100M"]);
    assert_eq!(
        stat(&fs, &Dump::new(q.to_str().unwrap(), &base(&fs))),
        "100"
    );
    let data = std::fs::read(&q).unwrap();
    for (name, packed) in [("a.qcow2.gz", gzip(&data)), ("a.qcow2.xz", xz(&data))] {
        let p = fs.path(name);
        std::fs::write(&p, packed).unwrap();
        assert_eq!(
            stat(&fs, &Dump::new(p.to_str().unwrap(), &base(&fs))),
            "100",
            "{name}"
        );
    }
}

#[test]
fn raw_reports_file_or_uncompressed_size_rounded_up() {
    let fs = Fs::new();
    let r = fs.path("a.raw");
    raw_image(&r, (3 << 20) + 1, &[0]);
    assert_eq!(stat(&fs, &Dump::new(r.to_str().unwrap(), &base(&fs))), "4");
    let data = vec![7u8; 3 << 20];
    for (name, packed) in [
        ("b.gz", gzip(&data)),
        ("b.xz", xz(&data)),
        ("b.bz2", bzip2(&data)),
    ] {
        let p = fs.path(name);
        std::fs::write(&p, &packed).unwrap();
        assert_eq!(
            stat(&fs, &Dump::new(p.to_str().unwrap(), &base(&fs))),
            "3",
            "{name}"
        );
        // NO_DECOMPRESS: the file is taken as it is, so its own size counts.
        assert_eq!(
            stat(
                &fs,
                &Dump::new(p.to_str().unwrap(), &base(&fs)).ds("NO_DECOMPRESS", "yes")
            ),
            "1",
            "{name}"
        );
    }
    // A compressed raw image bigger than the head is counted to the end.
    let mut big = vec![0u8; 5 << 20];
    big[(5 << 20) - 1] = 1;
    let p = fs.path("big.gz");
    std::fs::write(&p, gzip(&big)).unwrap();
    assert_eq!(stat(&fs, &Dump::new(p.to_str().unwrap(), &base(&fs))), "5");
}

#[test]
fn directories_are_summed_like_du() {
    let fs = Fs::new();
    let d = fs.path("dir");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a"), b"abc").unwrap();
    assert_eq!(stat(&fs, &Dump::new(d.to_str().unwrap(), &base(&fs))), "1");
    std::fs::write(d.join("sub/b"), vec![1u8; 3 << 20]).unwrap();
    assert_eq!(stat(&fs, &Dump::new(d.to_str().unwrap(), &base(&fs))), "4");
}

#[test]
fn missing_restricted_and_empty_sources() {
    let fs = Fs::new();
    let p = fs.path("nonexist");
    fs.run(
        "stat",
        "3",
        &Dump::new(p.to_str().unwrap(), &base(&fs)).b64(),
    )
    .fails_with(&[&format!(
        "cannot access '{}' (No such file or directory)",
        p.display()
    )]);
    fs.run("stat", "3", &Dump::new("/etc/passwd", &base(&fs)).b64())
        .fails_with(&[
            "Not allowed to register image from /etc/passwd: it is under RESTRICTED_DIRS (/)",
        ]);
    let e = fs.path("empty");
    std::fs::write(&e, b"").unwrap();
    fs.run(
        "stat",
        "3",
        &Dump::new(e.to_str().unwrap(), &base(&fs)).b64(),
    )
    .fails_with(&["is empty (0 bytes)"]);
    fs.run("stat", "3", &Dump::new("lxd://images/x", &base(&fs)).b64())
        .fails_with(&["lxd:// scheme is not supported"]);
    // The reduced dump oned sends for STAT: IMAGE has only PATH.
    let r = fs.path("r.raw");
    std::fs::write(&r, vec![1u8; 10]).unwrap();
    let dump = Dump::new(r.to_str().unwrap(), &base(&fs))
        .without_image_field("ID")
        .without_image_field("TYPE");
    assert_eq!(fs.run_argv("stat", &dump.b64(), "3").success(), "1");
}

#[test]
fn http_sizes_from_content_length_or_the_image_header() {
    let fs = Fs::new();
    let srv = Server::start();
    srv.serve("/r.raw", vec![1u8; (3 << 20) + 5]);
    let q = fs.path("a.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", q.to_str().unwrap(), "100M"]);
    let qdata = std::fs::read(&q).unwrap();
    srv.serve("/a.qcow2", qdata.clone());
    srv.serve("/a.qcow2.gz", gzip(&qdata));
    srv.serve("/r.raw.gz", gzip(&vec![1u8; 3 << 20]));
    let b = base(&fs);
    assert_eq!(stat(&fs, &Dump::new(&srv.url("/r.raw"), &b)), "4");
    assert_eq!(stat(&fs, &Dump::new(&srv.url("/a.qcow2"), &b)), "100");
    assert_eq!(stat(&fs, &Dump::new(&srv.url("/a.qcow2.gz"), &b)), "100");
    fs.run("stat", "3", &Dump::new(&srv.url("/r.raw.gz"), &b).b64())
        .fails_with(&["Cannot tell the size of", "gzip-compressed raw data"]);
    fs.run("stat", "3", &Dump::new(&srv.url("/none"), &b).b64())
        .fails_with(&["404 Not Found"]);
    assert!(!Path::new(&b).exists());
}
