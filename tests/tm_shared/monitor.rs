//! monitor (front-end or BRIDGE_LIST host) and monitor_ds (on a host).

use base64::Engine;

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn action_data(location: &str, bridge: &str) -> String {
    b64(&format!(
        "<DS_DRIVER_ACTION_DATA><DATASTORE_LOCATION>{location}</DATASTORE_LOCATION>\
         <DATASTORE><ID>0</ID><TEMPLATE><BRIDGE_LIST>{bridge}</BRIDGE_LIST></TEMPLATE></DATASTORE>\
         <MONITOR_VM_DISKS>1</MONITOR_VM_DISKS></DS_DRIVER_ACTION_DATA>"
    ))
}

/// (used, free, total) from the one line monitor prints.
fn parse(out: &[u8]) -> (u64, u64, u64) {
    let s = String::from_utf8_lossy(out);
    assert_eq!(s.lines().count(), 1, "{s}");
    let v: Vec<u64> = s
        .split_whitespace()
        .zip(["USED_MB=", "FREE_MB=", "TOTAL_MB="])
        .map(|(kv, k)| {
            kv.strip_prefix(k)
                .unwrap_or_else(|| panic!("{s}"))
                .parse()
                .unwrap()
        })
        .collect();
    (v[0], v[1], v[2])
}

fn df_total(path: &str) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1M", "-P", path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = text.lines().last().unwrap().to_string();
    last.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn monitor_reports_df_of_the_system_datastore(t: Transport) {
    let fx = Fx::new(t);
    let root = fx.lab.ds_root().to_str().unwrap().to_string();
    let run = |bridge: &str, id: &str| {
        let d = action_data(&root, bridge);
        fx.env
            .run(&fx.lab, "shared", "monitor", &[id], d.as_bytes())
    };
    let out = run("", "0");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (used, free, total) = parse(&out.stdout);
    assert_eq!(total, df_total(&fx.p("0")));
    assert!(used <= total && free <= total);
    // Through a BRIDGE_LIST host; a missing datastore dir is created first.
    fx.lab.reset_counts();
    let out = run(&fx.host, "55");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(parse(&out.stdout).2, total);
    assert!(exists(&fx.p("55")));
    assert_eq!(fx.lab.ssh_connections(&fx.host), 1);
    // No action data: one line saying what is missing.
    let out = fx.env.run(&fx.lab, "shared", "monitor", &["0"], b"");
    assert!(!out.status.success());
    let r = crate::tm_support::reason(&out);
    assert!(r.len() == 1 && r[0].contains("base64"), "{r:?}");
}

fn monitor_ds_reports_disks_and_snapshots(t: Transport) {
    let fx = Fx::new(t);
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    let d = Disk::new(0)
        .attr("SOURCE", &img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d));
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    fx.write(&disk, "qcow2", "0xab", "0", "3M");
    for id in 0..11 {
        fx.ok("snap_create", &[&fx.at(&disk), &id.to_string(), "7", "1"]);
    }
    std::fs::create_dir_all(fx.p("0/8")).unwrap();
    let bin = fx.env.action_path("shared", "monitor_ds");
    let out = fx.on_host(&[bin.to_str().unwrap(), &fx.p("0")]);
    assert_eq!(out.lines().count(), 1, "only VMs with disks: {out}");
    let line = out.trim_end();
    let b = line
        .strip_prefix("VM = [ ID = 7, MONITOR = \"")
        .and_then(|r| r.strip_suffix("\"]"))
        .unwrap_or_else(|| panic!("{line}"));
    let text =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap();
    let mb = |p: &str| allocated(p).div_ceil(MIB);
    let mut want = format!("DISK_SIZE = [ ID=0, SIZE={}]\n", mb(&disk));
    for s in 0..12 {
        let size = mb(&format!("{disk}.snap/{s}"));
        want.push_str(&format!(
            "SNAPSHOT_SIZE = [ ID={s}, DISK_ID=0, SIZE={size}]\n"
        ));
    }
    assert_eq!(text, want, "every snapshot id, two-digit ones too");
    assert!(
        text.contains("SNAPSHOT_SIZE = [ ID=0, DISK_ID=0, SIZE=4]"),
        "3 MiB of data + metadata: {text}"
    );
}

crate::both_transports!(
    monitor_reports_df_of_the_system_datastore,
    monitor_ds_reports_disks_and_snapshots
);
