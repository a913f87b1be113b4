//! The actions on BRIDGE_LIST hosts of the lab (sshd in mount namespaces):
//! files appear on the bridge only, one connection per host per action,
//! the rm path check holds on the bridge, and clone streams between two
//! bridges through the front-end. Each body runs with both SSH transports.

use std::path::{Path, PathBuf};

use crate::common::lab::Lab;
use crate::support::*;

fn bridge_ds(lab: &Lab, transport: &str) -> Ds {
    let ds = Ds::with_base(lab.ds_root().join("100"));
    ds.conf(&format!("SSH_TRANSPORT={transport}\n"));
    ds.fake_onehost("echo NAME,STAT");
    ds
}

fn run(lab: &Lab, ds: &Ds, action: &str, id: &str, d: &Dump) -> Run {
    ds.run_cmd(lab.frontend_command(ds.action(action)), id, d)
}

/// `qemu-img info` of `p` as host `name` sees it.
fn info_on(lab: &Lab, name: &str, p: &Path) -> serde_json::Value {
    let out = lab.run_on(
        name,
        &[
            "qemu-img",
            "info",
            "-U",
            "--output=json",
            p.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stdout_on(lab: &Lab, name: &str, argv: &[&str]) -> String {
    let out = lab.run_on(name, argv);
    assert!(
        out.status.success(),
        "{argv:?} on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn actions_run_on_the_bridge_only(transport: &str) {
    let lab = Lab::start(2);
    let ds = bridge_ds(&lab, transport);
    let d = ds.dump().ds_tpl("BRIDGE_LIST", "lab1");

    lab.reset_counts();
    let out = run(
        &lab,
        &ds,
        "mkfs",
        "7",
        &d.clone().image("FORMAT", "qcow2").image("SIZE", "20"),
    )
    .ok()
    .to_string();
    let img = PathBuf::from(out.trim_end());
    assert_eq!(img.parent().unwrap(), ds.base);
    assert!(
        lab.host_path("lab1", &img).is_file(),
        "{}",
        listing(lab.dir())
    );
    assert!(
        !img.exists() && !lab.host_path("lab2", &img).exists(),
        "lab1 only"
    );
    let i = info_on(&lab, "lab1", &img);
    assert_eq!(
        (i["format"].as_str(), i["virtual-size"].as_u64()),
        (Some("qcow2"), Some(20 << 20))
    );
    assert_eq!(
        lab.ssh_connections("lab1"),
        1,
        "one connection per host per action"
    );
    assert_eq!(lab.ssh_connections("lab2"), 0);

    lab.reset_counts();
    let out = run(&lab, &ds, "monitor", "100", &d).ok().to_string();
    let df = stdout_on(&lab, "lab1", &["df", "-B1M", "-P", ds.base_str()]);
    let total = df
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert_eq!(
        out.lines().nth(2),
        Some(format!("TOTAL_MB={total}").as_str()),
        "{out}"
    );
    assert_eq!(lab.ssh_connections("lab1"), 1);

    lab.reset_counts();
    let out = run(
        &lab,
        &ds,
        "clone",
        "8",
        &d.clone().image("PATH", img.to_str().unwrap()),
    )
    .ok()
    .to_string();
    let (copy, format) = out.trim_end().split_once(' ').unwrap();
    assert_eq!(format, "qcow2");
    let copy = PathBuf::from(copy);
    assert_eq!(
        info_on(&lab, "lab1", &copy)["virtual-size"].as_u64(),
        Some(20 << 20)
    );
    assert!(!copy.exists());
    assert_eq!(lab.ssh_connections("lab1"), 1);

    let out = run(
        &lab,
        &ds,
        "export",
        "3",
        &d.clone()
            .image("SOURCE", img.to_str().unwrap())
            .image("SIZE", "20"),
    )
    .ok()
    .to_string();
    assert!(
        out.contains(&format!(
            "<IMPORT_SOURCE><![CDATA[ssh://lab1:{}]]>",
            img.display()
        )),
        "{out}"
    );
    let md5 = stdout_on(&lab, "lab1", &["md5sum", img.to_str().unwrap()]);
    assert!(
        out.contains(&format!(
            "<MD5><![CDATA[{}]]>",
            md5.split_whitespace().next().unwrap()
        )),
        "{out}"
    );

    // rm: the path check runs on the bridge too.
    let victim = lab.ds_root().join("victim");
    std::fs::write(lab.host_path("lab1", &victim), "precious").unwrap();
    let r = run(
        &lab,
        &ds,
        "rm",
        "8",
        &d.clone().image("SOURCE", victim.to_str().unwrap()),
    );
    let line = r.fails_with("refusing to remove");
    assert!(line.contains("on lab1"), "{line}");
    assert!(lab.host_path("lab1", &victim).exists());
    assert_eq!(
        run(
            &lab,
            &ds,
            "rm",
            "8",
            &d.clone().image("SOURCE", copy.to_str().unwrap())
        )
        .ok(),
        ""
    );
    assert!(!lab.host_path("lab1", &copy).exists());
    assert!(lab.host_path("lab1", &img).exists());
    assert_eq!(
        names(lab.ds_root()),
        Vec::<String>::new(),
        "nothing on the front-end"
    );
}

fn clone_streams_between_bridges(transport: &str) {
    let lab = Lab::start(2);
    let ds = bridge_ds(&lab, transport);
    let src = lab.ds_root().join("200/src");
    let on1 = lab.host_path("lab1", &src);
    std::fs::create_dir_all(on1.parent().unwrap()).unwrap();
    qemu_img(&["create", "-q", "-f", "raw", on1.to_str().unwrap(), "64M"]);
    write_pattern(&on1, "raw", 0x5a, 8 << 20, 1 << 20);
    let d = ds
        .dump()
        .ds_tpl("BRIDGE_LIST", "lab2")
        .top("SOURCE_BRIDGE_LIST", "lab1")
        .image("PATH", src.to_str().unwrap());
    for (driver, want) in [(None, "raw"), (Some("qcow2"), "qcow2")] {
        let d = match driver {
            Some(v) => d.clone().ds_tpl("DRIVER", v),
            None => d.clone(),
        };
        lab.reset_counts();
        let out = run(&lab, &ds, "clone", "9", &d).ok().to_string();
        let (path, format) = out.trim_end().split_once(' ').unwrap();
        assert_eq!(format, want);
        let on2 = lab.host_path("lab2", Path::new(path));
        assert_eq!(format_of(&on2), want);
        assert!(reads_pattern(&on2, want, 0x5a, 8 << 20, 1 << 20));
        assert!(reads_pattern(&on2, want, 0, 0, 8 << 20));
        assert!(
            allocated(&on2) < 4 << 20,
            "holes kept: {} bytes",
            allocated(&on2)
        );
        assert!(!lab.host_path("lab1", Path::new(path)).exists());
        assert_eq!(
            (lab.ssh_connections("lab1"), lab.ssh_connections("lab2")),
            (1, 1)
        );
    }
    assert_eq!(
        names(&lab.host_path("lab2", &ds.base)).len(),
        2,
        "no temporaries left"
    );
    assert_eq!(
        names(lab.ds_root()),
        Vec::<String>::new(),
        "nothing on the front-end"
    );
}

#[test]
fn bridge_actions_ssh2() {
    actions_run_on_the_bridge_only("ssh2");
}

#[test]
fn bridge_actions_system_ssh() {
    actions_run_on_the_bridge_only("ssh");
}

#[test]
fn bridge_clone_streams_ssh2() {
    clone_streams_between_bridges("ssh2");
}

#[test]
fn bridge_clone_streams_system_ssh() {
    clone_streams_between_bridges("ssh");
}
