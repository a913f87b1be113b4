//! `datastore/fs/cp` run as oned runs it: through a symlink named after the
//! action, with real files, real qemu-img, a real HTTP server on loopback.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

#[test]
fn raw_image_is_copied_sparse_and_reported_raw() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    let pattern = raw_image(&src, 1 << 30, &[0, 100, 1023]);
    let base = fs.path("ds/1");
    let out = fs.run("cp", "7", &Dump::new(src.to_str().unwrap(), &base).b64());
    let line = out.success();
    assert!(
        out.stderr().contains(&format!(
            "INFO: cp: Copying local image {} to the image repository",
            src.display()
        )),
        "{}",
        out.stderr()
    );
    let (img, format) = source_and_format(&line);
    assert_eq!(format, "raw");
    assert_eq!(files_in(&base), vec![img.clone()]);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 1 << 30);
    let a = allocated(&img);
    assert!((3 << 20..=4 << 20).contains(&a), "allocated {a}");
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(&img).unwrap();
    for m in [0u64, 100, 1023] {
        let mut buf = vec![0u8; 1 << 20];
        f.read_exact_at(&mut buf, m << 20).unwrap();
        assert!(buf == pattern, "MiB {m} differs");
    }
    let mut buf = vec![1u8; 1 << 20];
    f.read_exact_at(&mut buf, 50 << 20).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn sparse_no_writes_every_byte() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    raw_image(&src, 8 << 20, &[1]);
    let base = fs.path("ds");
    let dump = Dump::new(src.to_str().unwrap(), &base).ds("SPARSE", "NO");
    let (img, _) = cp_ok(&fs, &dump, &base);
    assert!(allocated(&img) >= 8 << 20, "allocated {}", allocated(&img));
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap());
}

#[test]
fn qcow2_image_keeps_its_format_and_virtual_size() {
    let fs = Fs::new();
    let src = fs.path("a.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", src.to_str().unwrap(), "100M"]);
    let base = fs.path("ds");
    let (img, format) = cp_ok(&fs, &Dump::new(src.to_str().unwrap(), &base), &base);
    assert_eq!(format, "qcow2");
    assert_eq!(qemu_info(&img), ("qcow2".into(), 100 << 20, None));
}

#[test]
fn driver_converts_and_cdrom_or_convert_no_do_not() {
    let fs = Fs::new();
    let src = fs.path("disk.raw");
    raw_image(&src, 16 << 20, &[2]);
    let base = fs.path("ds");
    let s = src.to_str().unwrap();
    let (img, format) = cp_ok(&fs, &Dump::new(s, &base).ds("DRIVER", "qcow2"), &base);
    assert_eq!(format, "qcow2");
    assert_eq!(qemu_info(&img), ("qcow2".into(), 16 << 20, None));
    std::fs::remove_file(&img).unwrap();

    for dump in [
        Dump::new(s, &base).ds("DRIVER", "qcow2").image("TYPE", "1"),
        Dump::new(s, &base)
            .ds("DRIVER", "qcow2")
            .ds("CONVERT", "no"),
        Dump::new(s, &base).ds("DRIVER", "vmdk"),
    ] {
        let (img, format) = cp_ok(&fs, &dump, &base);
        assert_eq!(format, "raw");
        assert_eq!(qemu_info(&img).0, "raw");
        std::fs::remove_file(&img).unwrap();
    }

    let q = fs.path("b.qcow2");
    qemu_img(&["convert", "-O", "qcow2", s, q.to_str().unwrap()]);
    let (img, format) = cp_ok(
        &fs,
        &Dump::new(q.to_str().unwrap(), &base).ds_plain("DRIVER", "raw"),
        &base,
    );
    assert_eq!(format, "raw");
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&src).unwrap());
}

#[test]
fn fs_conf_sets_defaults_the_template_overrides() {
    let fs = Fs::new();
    fs.conf("# site defaults\nDRIVER=qcow2\n");
    let src = fs.path("disk.raw");
    raw_image(&src, 4 << 20, &[0]);
    let base = fs.path("ds");
    let s = src.to_str().unwrap();
    let (img, format) = cp_ok(&fs, &Dump::new(s, &base), &base);
    assert_eq!(format, "qcow2");
    std::fs::remove_file(&img).unwrap();
    let (_, format) = cp_ok(&fs, &Dump::new(s, &base).ds("DRIVER", "raw"), &base);
    assert_eq!(format, "raw");
}

#[test]
fn compressed_sources_are_decompressed() {
    let fs = Fs::new();
    let raw = fs.path("disk.raw");
    raw_image(&raw, 4 << 20, &[0, 3]);
    let data = std::fs::read(&raw).unwrap();
    let base = fs.path("ds");
    for (name, packed) in [
        ("d.gz", gzip(&data)),
        ("d.xz", xz(&data)),
        ("d.bz2", bzip2(&data)),
    ] {
        let p = fs.path(name);
        std::fs::write(&p, &packed).unwrap();
        let out = fs.run("cp", "7", &Dump::new(p.to_str().unwrap(), &base).b64());
        let (img, format) = source_and_format(&out.success());
        assert_eq!(format, "raw", "{name}");
        assert!(
            std::fs::read(&img).unwrap() == data,
            "{name}: content differs"
        );
        assert!(
            out.stderr().contains("-compressed: decompressing it"),
            "{}",
            out.stderr()
        );
        std::fs::remove_file(&img).unwrap();
    }
    // qcow2.gz becomes a qcow2 image.
    let q = fs.path("a.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", q.to_str().unwrap(), "100M"]);
    let qgz = fs.path("a.qcow2.gz");
    std::fs::write(&qgz, gzip(&std::fs::read(&q).unwrap())).unwrap();
    let (img, format) = cp_ok(&fs, &Dump::new(qgz.to_str().unwrap(), &base), &base);
    assert_eq!(format, "qcow2");
    assert_eq!(qemu_info(&img).1, 100 << 20);
}

#[test]
fn no_decompress_and_files_datastores_store_the_bytes_as_they_are() {
    let fs = Fs::new();
    let p = fs.path("d.gz");
    let packed = gzip(&vec![5u8; 1 << 20]);
    std::fs::write(&p, &packed).unwrap();
    let base = fs.path("ds");
    let s = p.to_str().unwrap();
    let (img, _) = cp_ok(&fs, &Dump::new(s, &base).ds("NO_DECOMPRESS", "yes"), &base);
    assert_eq!(std::fs::read(&img).unwrap(), packed);
    std::fs::remove_file(&img).unwrap();
    let (img, _) = cp_ok(
        &fs,
        &Dump::new(s, &base)
            .ds_field("TYPE", "2")
            .ds("DRIVER", "qcow2"),
        &base,
    );
    assert_eq!(
        std::fs::read(&img).unwrap(),
        packed,
        "files DS: no decompression, no conversion"
    );
}

#[test]
fn tar_archives_are_stored_as_one_file() {
    let fs = Fs::new();
    std::fs::write(fs.path("inner.txt"), "hello").unwrap();
    let tar = fs.path("a.tar");
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(fs.dir.path())
        .arg("inner.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let base = fs.path("ds");
    let out = fs.run("cp", "7", &Dump::new(tar.to_str().unwrap(), &base).b64());
    let (img, format) = source_and_format(&out.success());
    assert_eq!(format, "raw");
    assert!(img.is_file());
    assert_eq!(std::fs::read(&img).unwrap(), std::fs::read(&tar).unwrap());
    assert!(
        out.stderr()
            .contains("is a tar archive: stored as one file"),
        "{}",
        out.stderr()
    );
}

#[test]
fn checksums_any_case_over_the_compressed_bytes() {
    let fs = Fs::new();
    let p = fs.path("d.gz");
    let packed = gzip(&vec![9u8; 300_000]);
    std::fs::write(&p, &packed).unwrap();
    let base = fs.path("ds");
    let s = p.to_str().unwrap();
    let md5 = md5_hex(&packed);
    let sha1 = sha1_hex(&packed);
    for dump in [
        Dump::new(s, &base).image_tmpl("MD5", &md5.to_uppercase()),
        Dump::new(s, &base).image_tmpl("SHA1", &sha1),
        Dump::new(s, &base)
            .image_tmpl("MD5", &md5)
            .image_tmpl("SHA1", &sha1.to_uppercase()),
    ] {
        let (img, _) = cp_ok(&fs, &dump, &base);
        assert_eq!(std::fs::metadata(&img).unwrap().len(), 300_000);
        std::fs::remove_file(&img).unwrap();
    }
}

#[test]
fn checksum_mismatch_names_both_sums_and_leaves_nothing() {
    let fs = Fs::new();
    let p = fs.path("d.raw");
    std::fs::write(&p, vec![1u8; 200_000]).unwrap();
    let base = fs.path("ds");
    let wrong = "0".repeat(32);
    let good_sha1 = sha1_hex(&std::fs::read(&p).unwrap());
    let out = fs.run(
        "cp",
        "7",
        &Dump::new(p.to_str().unwrap(), &base)
            .image_tmpl("MD5", &wrong)
            .image_tmpl("SHA1", &good_sha1)
            .b64(),
    );
    let actual = md5_hex(&std::fs::read(&p).unwrap());
    out.fails_with(&[
        "Checksum mismatch for",
        &format!("MD5 expected {wrong}, got {actual}"),
    ]);
    assert!(!out.failure().contains("SHA1 expected"));
    assert_eq!(files_in(&base), Vec::<std::path::PathBuf>::new());

    let out = fs.run(
        "cp",
        "7",
        &Dump::new(p.to_str().unwrap(), &base)
            .image_tmpl("MD5", "xyz")
            .b64(),
    );
    out.fails_with(&["IMAGE/TEMPLATE/MD5 'xyz' is not a valid MD5 checksum"]);
}

#[test]
fn restricted_dirs_are_judged_on_the_canonical_path() {
    let fs = Fs::new();
    let safe = fs.path("safe");
    let other = fs.path("safefoo");
    std::fs::create_dir_all(&safe).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x.raw"), vec![1u8; 4096]).unwrap();
    std::fs::write(safe.join("ok.raw"), vec![1u8; 4096]).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", safe.join("link.raw")).unwrap();
    let base = fs.path("ds");
    let dump = |p: &Path| {
        Dump::new(p.to_str().unwrap(), &base)
            .ds("SAFE_DIRS", safe.to_str().unwrap())
            .ds("RESTRICTED_DIRS", "/")
    };

    // A sibling whose name extends the safe directory's is not inside it.
    let x = other.join("x.raw");
    let line = fs.run("cp", "7", &dump(&x).b64()).fails_with(&[
        &format!(
            "Not allowed to copy image from {}: it is under RESTRICTED_DIRS (/)",
            x.display()
        ),
        &format!("SAFE_DIRS ({})", safe.display()),
        "add its directory to SAFE_DIRS in the datastore template",
    ]);
    assert!(!line.contains("resolves to"), "{line}");
    // A symlink from the safe directory to a restricted file.
    fs.run("cp", "7", &dump(&safe.join("link.raw")).b64())
        .fails_with(&[
            "Not allowed to copy image from",
            "which resolves to /etc/hostname",
        ]);
    // oned's own directories are restricted even when the template says nothing.
    let out = fs.run(
        "cp",
        "7",
        &Dump::new("/etc/one/oned.conf", &base)
            .ds("SAFE_DIRS", "")
            .ds("RESTRICTED_DIRS", "")
            .b64(),
    );
    out.fails_with(&[
        "Not allowed to copy image from /etc/one/oned.conf",
        "/etc/one/ [built in]",
    ]);
    assert!(!base.exists(), "nothing is created for a refused source");
    // And the safe file itself is fine.
    cp_ok(&fs, &dump(&safe.join("ok.raw")), &base);
}

#[test]
fn missing_source_and_unsupported_schemes() {
    let fs = Fs::new();
    let base = fs.path("ds");
    let missing = fs.path("nope.raw");
    fs.run(
        "cp",
        "7",
        &Dump::new(missing.to_str().unwrap(), &base).b64(),
    )
    .fails_with(&[&format!(
        "cannot access '{}' (No such file or directory)",
        missing.display()
    )]);
    fs.run("cp", "7", &Dump::new("s3://bucket/x.img", &base).b64())
        .fails_with(&["s3:// scheme is not supported by one-storage's fs driver"]);
    fs.run("cp", "7", &Dump::new("ssh://host:/x.img", &base).b64())
        .fails_with(&["ssh:// scheme is not supported"]);
    let dir = fs.path("adir");
    std::fs::create_dir(&dir).unwrap();
    fs.run("cp", "7", &Dump::new(dir.to_str().unwrap(), &base).b64())
        .fails_with(&[&format!(
            "IMAGE/PATH {} is not a regular file",
            dir.display()
        )]);
    assert!(!base.exists());
}

#[test]
fn backing_files_outside_the_datastore_are_refused() {
    let fs = Fs::new();
    let base = fs.path("ds");
    std::fs::create_dir_all(&base).unwrap();
    let outside = fs.path("secret.raw");
    raw_image(&outside, 1 << 20, &[0]);
    let overlay = fs.path("overlay.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        outside.to_str().unwrap(),
        overlay.to_str().unwrap(),
    ]);
    fs.run(
        "cp",
        "7",
        &Dump::new(overlay.to_str().unwrap(), &base)
            .ds("DRIVER", "raw")
            .b64(),
    )
    .fails_with(&[
        "Refusing image",
        &format!("refers to {}", outside.display()),
        "outside the datastore",
    ]);
    assert_eq!(files_in(&base), Vec::<std::path::PathBuf>::new());

    // A backing file inside the datastore may stay.
    let inside = base.join("base-image");
    raw_image(&inside, 1 << 20, &[0]);
    let overlay2 = fs.path("overlay2.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "raw",
        "-b",
        inside.to_str().unwrap(),
        overlay2.to_str().unwrap(),
    ]);
    let line = fs
        .run(
            "cp",
            "7",
            &Dump::new(overlay2.to_str().unwrap(), &base).b64(),
        )
        .success();
    let (img, format) = source_and_format(&line);
    assert_eq!(format, "qcow2");
    assert_eq!(qemu_info(&img).2.as_deref(), inside.to_str());
}

#[test]
fn unreadable_formats_fail_cleanly() {
    let fs = Fs::new();
    let p = fs.path("bad.qcow2");
    let mut data = b"QFI\xfb\0\0\0\x63".to_vec();
    data.resize(4096, 0xff);
    std::fs::write(&p, data).unwrap();
    let base = fs.path("ds");
    fs.run("cp", "7", &Dump::new(p.to_str().unwrap(), &base).b64())
        .fails_with(&[
            &format!(
                "Cannot tell the format of the image copied from {}",
                p.display()
            ),
            "qemu-img",
        ]);
    assert_eq!(files_in(&base), Vec::<std::path::PathBuf>::new());
}

#[test]
fn limit_transfer_bw_slows_local_copies() {
    let fs = Fs::new();
    let p = fs.path("d.raw");
    std::fs::write(&p, vec![3u8; 2 << 20]).unwrap();
    let base = fs.path("ds");
    let out = fs.run(
        "cp",
        "7",
        &Dump::new(p.to_str().unwrap(), &base)
            .ds("LIMIT_TRANSFER_BW", "1M")
            .b64(),
    );
    out.success();
    assert!(
        out.elapsed >= Duration::from_millis(1500),
        "took {:?}",
        out.elapsed
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    fs.run(
        "cp",
        "7",
        &Dump::new(p.to_str().unwrap(), &base)
            .ds("LIMIT_TRANSFER_BW", "fast")
            .b64(),
    )
    .fails_with(&["LIMIT_TRANSFER_BW=fast (set in the datastore template) is not valid"]);
}

#[test]
fn both_input_conventions_and_malformed_dumps() {
    let fs = Fs::new();
    let p = fs.path("d.raw");
    std::fs::write(&p, vec![3u8; 4096]).unwrap();
    let base = fs.path("ds");
    let dump = Dump::new(p.to_str().unwrap(), &base);
    let (img, _) = source_and_format(&fs.run_argv("cp", &dump.b64(), "7").success());
    assert_eq!(std::fs::read(&img).unwrap(), vec![3u8; 4096]);
    std::fs::remove_dir_all(&base).unwrap();

    let cases: Vec<(String, &str)> = vec![
        ("%%% not base64 %%%".into(), "not valid base64"),
        (b64("<DS_DRIVER_ACTION_DATA><IMAGE>"), "not valid XML"),
        (
            b64(&dump
                .xml()
                .replace(&format!("<PATH>{}</PATH>", p.display()), "")),
            "has no PATH",
        ),
        (
            Dump::new(p.to_str().unwrap(), &base)
                .without_ds_field("BASE_PATH")
                .b64(),
            "has no BASE_PATH",
        ),
        (
            Dump::new(p.to_str().unwrap(), Path::new("relative/ds")).b64(),
            "is not an absolute path",
        ),
        (String::new(), "stdin"),
    ];
    for (input, needle) in &cases {
        fs.run("cp", "7", input).fails_with(&[needle]);
        assert!(!base.exists(), "{needle}: nothing may be created");
    }
    fs.run_argv("cp", "!!notbase64!!", "7")
        .fails_with(&["not valid base64"]);
    fs.run("cp", "x7", &dump.b64())
        .fails_with(&["'x7' is not an object id"]);
    assert!(!base.exists());
}
