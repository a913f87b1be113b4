use crate::support::*;

/// (used, free, total) from the last line of `df -B1M -P dir`.
fn df(dir: &std::path::Path) -> (i64, i64, i64) {
    let out = sh("df", &["-B1M", "-P", dir.to_str().unwrap()]);
    let f: Vec<i64> = out
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    (f[1], f[2], f[0])
}

#[test]
fn three_lines_with_what_df_says() {
    let ds = Ds::new();
    let before = df(ds.tmp.path());
    let out = ds.run("monitor", "100", &ds.dump()).ok().to_string();
    let after = df(&ds.base);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let value = |i: usize, key: &str| -> i64 {
        let (k, v) = lines[i].split_once('=').unwrap();
        assert_eq!(k, key, "{out}");
        v.parse().unwrap()
    };
    let (used, free, total) = (
        value(0, "USED_MB"),
        value(1, "FREE_MB"),
        value(2, "TOTAL_MB"),
    );
    assert!(ds.base.is_dir(), "monitor creates BASE_PATH");
    assert_eq!(total, after.2);
    // Other processes write to this file system meanwhile: the numbers must
    // lie within what df said just before and just after.
    let near = |v: i64, a: i64, b: i64| v >= a.min(b) - 8 && v <= a.max(b) + 8;
    assert!(
        near(used, before.0, after.0),
        "USED_MB={used}, df said {before:?} then {after:?}"
    );
    assert!(
        near(free, before.1, after.1),
        "FREE_MB={free}, df said {before:?} then {after:?}"
    );
}

#[test]
fn a_failure_is_an_error_line_not_stdout() {
    let ds = Ds::new();
    let file = ds.path("a-file");
    std::fs::write(&file, "").unwrap();
    let d = ds
        .dump()
        .ds("BASE_PATH", &format!("{}/100", file.display()));
    let line = ds
        .run("monitor", "100", &d)
        .fails_with("cannot create the datastore directory");
    assert!(line.contains("BASE_PATH"), "{line}");
    assert!(
        line.contains("Not a directory"),
        "the cause is shown: {line}"
    );
}

/// On the front-end monitor creates BASE_PATH and measures it in-process:
/// with `mkdir` and `df` in PATH failing loudly, it still answers.
#[test]
fn the_front_end_needs_no_mkdir_or_df() {
    use std::os::unix::fs::PermissionsExt;
    let ds = Ds::new();
    let bin = ds.path("bin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["mkdir", "df"] {
        let p = bin.join(tool);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho '{tool} was run' >&2\nexit 99\n"),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = std::process::Command::new(ds.action("monitor"));
    cmd.env("PATH", &bin);
    let out = ds.run_cmd(cmd, "100", &ds.dump()).ok().to_string();
    assert!(ds.base.is_dir(), "monitor creates BASE_PATH");
    let (used, free, total) = df(&ds.base);
    assert!(out.starts_with("USED_MB="), "{out}");
    assert!(
        out.contains(&format!("TOTAL_MB={total}\n")),
        "{out} vs df {used} {free} {total}"
    );
}

/// BASE_PATH that cannot be a directory: one line naming the path, the
/// setting and the system's reason.
#[test]
fn impossible_base_paths_say_why_on_one_line() {
    let ds = Ds::new();
    let file = ds.path("a-file");
    std::fs::write(&file, "").unwrap();
    let long = format!("{}/{}", ds.tmp.path().display(), "x".repeat(300));
    for (base, why) in [
        (file.display().to_string(), "File exists"),
        (long, "File name too long"),
    ] {
        let d = ds.dump().ds("BASE_PATH", &base);
        let line = ds
            .run("monitor", "100", &d)
            .fails_with("cannot create the datastore directory");
        assert!(line.contains(&base), "{line}");
        assert!(line.contains("DATASTORE/BASE_PATH"), "{line}");
        assert!(line.contains(why), "{line}");
    }
}
