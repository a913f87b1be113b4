use std::path::{Path, PathBuf};

use crate::support::*;

/// A 64 MiB image with 1 MiB of data (pattern 0x5a at 8 MiB) in `dir`.
fn source(dir: &Path, name: &str, format: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    qemu_img(&["create", "-q", "-f", format, p.to_str().unwrap(), "64M"]);
    write_pattern(&p, format, 0x5a, 8 << 20, 1 << 20);
    p
}

/// Parses `<path> <format>`, checks the path is a new image in BASE_PATH.
fn cloned(ds: &Ds, out: &str) -> (PathBuf, String) {
    assert_eq!(out.lines().count(), 1, "{out}");
    let (path, format) = out
        .trim_end_matches('\n')
        .split_once(' ')
        .expect("<path> <format>");
    assert!(!format.is_empty() && !format.contains(' '), "{out:?}");
    let p = PathBuf::from(path);
    assert_eq!(p.parent().unwrap(), ds.base);
    (p, format.to_string())
}

fn assert_same_data(p: &Path, format: &str) {
    assert!(
        reads_pattern(p, format, 0x5a, 8 << 20, 1 << 20),
        "{} lost its data",
        p.display()
    );
    assert!(
        reads_pattern(p, format, 0, 0, 8 << 20),
        "{} gained data",
        p.display()
    );
    assert_eq!(virtual_size(p), 64 << 20);
}

#[test]
fn raw_without_driver_is_a_sparse_raw_copy() {
    let ds = Ds::new();
    let src = source(&ds.path("images"), "src", "raw");
    let out = ds
        .run(
            "clone",
            "9",
            &ds.dump().image("PATH", src.to_str().unwrap()),
        )
        .ok()
        .to_string();
    let (p, format) = cloned(&ds, &out);
    assert_eq!(
        format, "raw",
        "the real format, not the reference's trailing space"
    );
    assert_eq!(format_of(&p), "raw");
    assert_same_data(&p, "raw");
    assert!(
        allocated(&p) < 4 << 20,
        "not sparse: {} bytes allocated",
        allocated(&p)
    );
    assert!(src.exists(), "the source is only read");
    assert_eq!(ds.base_names().len(), 1, "{}", listing(&ds.base));
}

#[test]
fn qcow2_without_driver_stays_qcow2() {
    let ds = Ds::new();
    let src = source(&ds.path("images"), "src", "qcow2");
    let out = ds
        .run(
            "clone",
            "9",
            &ds.dump().image("PATH", src.to_str().unwrap()),
        )
        .ok()
        .to_string();
    let (p, format) = cloned(&ds, &out);
    assert_eq!(
        (format.as_str(), format_of(&p).as_str()),
        ("qcow2", "qcow2")
    );
    assert_same_data(&p, "qcow2");
    assert!(allocated(&p) < 4 << 20);
}

#[test]
fn driver_converts_both_ways_and_stays_sparse() {
    let ds = Ds::new();
    let raw = source(&ds.path("images"), "raw", "raw");
    let d = ds
        .dump()
        .ds_tpl("DRIVER", "qcow2")
        .image("PATH", raw.to_str().unwrap());
    let (p, format) = cloned(&ds, ds.run("clone", "9", &d).ok());
    assert_eq!(
        (format.as_str(), format_of(&p).as_str()),
        ("qcow2", "qcow2")
    );
    assert_same_data(&p, "qcow2");
    let q = source(&ds.path("images"), "q", "qcow2");
    let d = ds
        .dump()
        .ds_tpl("DRIVER", "raw")
        .image("PATH", q.to_str().unwrap());
    let (p, format) = cloned(&ds, ds.run("clone", "10", &d).ok());
    assert_eq!((format.as_str(), format_of(&p).as_str()), ("raw", "raw"));
    assert_same_data(&p, "raw");
    assert!(
        allocated(&p) < 4 << 20,
        "not sparse: {} bytes allocated",
        allocated(&p)
    );
}

#[test]
fn an_overlay_source_is_cloned_whole() {
    let ds = Ds::new();
    let dir = ds.path("images");
    let base = source(&dir, "base", "qcow2");
    let top = dir.join("top");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        "base",
        top.to_str().unwrap(),
    ]);
    let (p, format) = cloned(
        &ds,
        ds.run(
            "clone",
            "9",
            &ds.dump().image("PATH", top.to_str().unwrap()),
        )
        .ok(),
    );
    assert_eq!(format, "qcow2");
    assert!(
        info(&p).get("backing-filename").is_none(),
        "the clone still needs {}",
        base.display()
    );
    assert_same_data(&p, "qcow2");
    qemu_img(&["check", "-q", p.to_str().unwrap()]);
}

#[test]
fn a_missing_source_is_a_clear_error_and_leaves_nothing() {
    let ds = Ds::new();
    let missing = ds.path("images/nope");
    let line = ds
        .run(
            "clone",
            "9",
            &ds.dump().image("PATH", missing.to_str().unwrap()),
        )
        .fails_with("does not exist");
    assert!(
        line.contains(missing.to_str().unwrap()) && line.contains("IMAGE/PATH"),
        "{line}"
    );
    assert_eq!(
        ds.base_names(),
        Vec::<String>::new(),
        "{}",
        listing(ds.tmp.path())
    );
}
