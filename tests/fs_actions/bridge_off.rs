//! BRIDGE_LIST hosts that oned reports off: a clear error, no fallback to
//! the front-end, nothing written, no connection tried.

use crate::support::*;

#[test]
fn all_bridges_off_is_a_clear_error_and_nothing_is_written() {
    let ds = Ds::new();
    let asked = ds.path("asked");
    ds.fake_onehost(&format!(
        "echo \"$@\" > '{}'\necho NAME,STAT\necho lab1,off\necho lab2,err",
        asked.display()
    ));
    let src = ds.path("src");
    std::fs::write(&src, "data").unwrap();
    let d = ds
        .dump()
        .ds_tpl("BRIDGE_LIST", "lab1 lab2")
        .image("SIZE", "1")
        .image("SOURCE", &format!("{}/abc", ds.base_str()))
        .image("PATH", src.to_str().unwrap())
        .image("TARGET_SNAPSHOT", "0");
    for action in ["mkfs", "rm", "clone", "monitor", "export", "snap_delete"] {
        let line = ds
            .run(action, "7", &d)
            .fails_with("All hosts from BRIDGE_LIST are offline");
        assert!(line.contains("lab1 lab2"), "{action}: {line}");
    }
    let args = std::fs::read_to_string(&asked).unwrap();
    assert!(
        args.contains("--filter=STAT=off,STAT=err,STAT=dsbl"),
        "{args}"
    );
    assert!(!ds.base.exists(), "{}", listing(ds.tmp.path()));
    assert_eq!(std::fs::read_to_string(&src).unwrap(), "data");
}

#[test]
fn source_bridges_off_names_source_bridge_list() {
    let ds = Ds::new();
    ds.fake_onehost("echo NAME,STAT\necho src1,dsbl");
    let d = ds
        .dump()
        .top("SOURCE_BRIDGE_LIST", "src1")
        .image("PATH", "/elsewhere/abc");
    ds.run("clone", "7", &d)
        .fails_with("All hosts from SOURCE_BRIDGE_LIST are offline");
    assert!(!ds.base.exists());
}
