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
