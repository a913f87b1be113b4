//! The live actions against a fake `virsh` on the host's PATH (libvirt is not
//! installed here). The fake records every call, fails a subcommand when a
//! `fail-<subcommand>` file holds its error, and emulates what the driver
//! relies on: `blockcopy` (a flattened copy) and `blockpull` (a rebase of the
//! active layer); `snapshot-create` records its XML.

use std::os::unix::fs::PermissionsExt;

use crate::fx::*;
use crate::tm_support::{Disk, Transport, Vm};

const FAKE_VIRSH: &str = r#"#!/bin/bash
d=$(dirname "$0")/virsh.d
echo "virsh $*" >> "$d/log"
[ "$1" = -c ] && shift 2
cmd=$1; shift
if [ -f "$d/fail-$cmd" ]; then cat "$d/fail-$cmd" >&2; exit 1; fi
case $cmd in
  snapshot-create) while [ $# -gt 0 ]; do [ "$1" = --xmlfile ] && cat "$2" >> "$d/log"; shift; done ;;
  dumpxml) cat "$d/domain.xml" ;;
  blockcopy) qemu-img convert -q -U -O "$(cat "$d/format")" "$(cat "$d/disk-$2")" "$3" ;;
  blockpull) act=$(readlink -f "$(cat "$d/disk-$2")")
             if [ "$3" = --base ]; then qemu-img rebase -q -F qcow2 -b "$4" "$act"
             else qemu-img rebase -q -b "" "$act"; fi ;;
  blockcommit) act=$(readlink -f "$(cat "$d/disk-$2")")
             qemu-img commit -q -b "$6" "$4" && qemu-img rebase -q -u -F qcow2 -b "$6" "$act" ;;
esac
exit 0
"#;

/// Installs the fake on the host only (so it proves virsh ran there, never on
/// the front-end); returns its state directory.
fn fake_virsh(fx: &Fx, disk: &str, format: &str) -> String {
    let state = fx.env.dir.path().join("virsh.d");
    std::fs::create_dir_all(&state).unwrap();
    let bin = fx.lab.host_bin(&fx.host);
    std::os::unix::fs::symlink(&state, bin.join("virsh.d")).unwrap();
    std::fs::write(bin.join("virsh"), FAKE_VIRSH).unwrap();
    std::fs::set_permissions(bin.join("virsh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(state.join("disk-vda"), disk).unwrap();
    std::fs::write(state.join("format"), format).unwrap();
    state.to_str().unwrap().to_string()
}

fn log(state: &str) -> String {
    std::fs::read_to_string(format!("{state}/log")).unwrap_or_default()
}

fn set(state: &str, file: &str, text: &str) {
    std::fs::write(format!("{state}/{file}"), text).unwrap();
}

fn unset(state: &str, file: &str) {
    let _ = std::fs::remove_file(format!("{state}/{file}"));
}

/// A running VM with two disks (vda is ours), cloned.
fn running(fx: &Fx, lcm: u32) -> (String, String) {
    let img = fx.qcow2_image("1/abc", GIB, MIB);
    let d0 = Disk::new(0)
        .attr("SOURCE", &img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES")
        .attr("TARGET", "vda");
    let d1 = Disk::new(1).attr("FORMAT", "raw").attr("TARGET", "vdb");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d0.clone()).disk(d1.clone()));
    let disk = fx.p("0/7/disk.0");
    fx.ok("clone", &[&format!("fe:{img}"), &fx.at(&disk), "7", "1"]);
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d0).disk(d1).state(lcm));
    (img, disk)
}

fn snap_create_live_freezes_and_switches_the_domain(t: Transport) {
    let fx = Fx::new(t);
    let (_, disk) = running(&fx, 3);
    let state = fake_virsh(&fx, &disk, "qcow2");
    let sd = format!("{disk}.snap");
    fx.lab.reset_counts();
    fx.ok("snap_create_live", &[&fx.at(&disk), "0", "7", "1"]);
    assert_eq!(fx.lab.ssh_connections(&fx.host), 1);
    let l = log(&state);
    let at = |s: &str| l.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{l}"));
    assert!(at("domfsfreeze one-7") < at("snapshot-create one-7 --disk-only --atomic --no-metadata --reuse-external --xmlfile"));
    assert!(
        at("--reuse-external") < at("domfsthaw one-7"),
        "thawed after the switch"
    );
    assert!(
        l.contains(&format!(
            "<disk name='vda' snapshot='external'>\n      <source file='{sd}/1'/>"
        )),
        "{l}"
    );
    assert!(
        l.contains("<disk name='vdb' snapshot='no'/>") && l.contains("<name>0-0</name>"),
        "{l}"
    );
    assert_eq!(link(&disk), "disk.0.snap/1");
    assert_eq!(
        fx.chain_summary(&format!("{sd}/1"))[0].1.as_deref(),
        Some("disk.0.snap/0")
    );

    // No guest agent: suspend, then resume.
    set(
        &state,
        "fail-domfsfreeze",
        "error: Guest agent is not responding",
    );
    fx.ok("snap_create_live", &[&fx.at(&disk), "1", "7", "1"]);
    let l = log(&state);
    assert!(
        l.contains("suspend one-7") && l.contains("resume one-7"),
        "{l}"
    );
    assert_eq!(link(&disk), "disk.0.snap/2");

    // libvirt refuses the snapshot: a clear error, the disk still on file 2;
    // the re-run replaces the leftover file 3 and succeeds.
    unset(&state, "fail-domfsfreeze");
    set(
        &state,
        "fail-snapshot-create",
        "error: unsupported configuration",
    );
    let r = fx.fail("snap_create_live", &[&fx.at(&disk), "2", "7", "1"]);
    assert!(
        r.contains("Error creating snapshot 2") && r.contains("unsupported configuration"),
        "{r}"
    );
    assert_eq!(link(&disk), "disk.0.snap/2");
    assert!(
        log(&state).ends_with("virsh -c qemu:///system domfsthaw one-7\n"),
        "thawed after a failure too"
    );
    unset(&state, "fail-snapshot-create");
    fx.ok("snap_create_live", &[&fx.at(&disk), "2", "7", "1"]);
    assert_eq!(link(&disk), "disk.0.snap/3");

    // Neither freeze nor suspend: nothing changes.
    set(&state, "fail-domfsfreeze", "error: agent");
    set(&state, "fail-suspend", "error: domain is not running");
    let r = fx.fail("snap_create_live", &[&fx.at(&disk), "3", "7", "1"]);
    assert!(
        r.contains("Could not domfsfreeze or suspend domain one-7"),
        "{r}"
    );
    assert_eq!(names(&sd), ["0", "1", "2", "3", "disk.0.snap"]);
}

fn snap_delete_live_uses_block_jobs(t: Transport) {
    let fx = Fx::new(t);
    let (img, disk) = running(&fx, 3);
    let sd = format!("{disk}.snap");
    fx.write(&disk, "qcow2", "0xab", "0", "64k");
    fx.ok("snap_create", &[&fx.at(&disk), "0", "7", "1"]);
    fx.write(&disk, "qcow2", "0x11", "1M", "64k");
    fx.ok("snap_create", &[&fx.at(&disk), "1", "7", "1"]);
    fx.write(&disk, "qcow2", "0x22", "2M", "64k");
    let state = fake_virsh(&fx, &disk, "qcow2");
    let d0 = Disk::new(0)
        .attr("SOURCE", &img)
        .attr("FORMAT", "qcow2")
        .attr("CLONE", "YES")
        .attr("TARGET", "vda");
    fx.vm(&Vm::new(7).on(&fx.host, 0).disk(d0).state(59));
    let domain = |chain: &[&str]| {
        let mut x = format!("<domain><devices><disk type='file'><source file='{sd}/2'/>");
        for f in chain {
            x.push_str(&format!("<backingStore type='file'><source file='{f}'/>"));
        }
        x.push_str(&"</backingStore>".repeat(chain.len()));
        x + "<target dev='vda'/></disk></devices></domain>"
    };
    let data = || {
        fx.reads(&disk, "qcow2", "0xab", "0", "64k")
            && fx.reads(&disk, "qcow2", "0x11", "1M", "64k")
            && fx.reads(&disk, "qcow2", "0x22", "2M", "64k")
    };
    // Snapshot 0 under file 1 in the running chain: commit 1 into 0.
    set(
        &state,
        "domain.xml",
        &domain(&[&format!("{sd}/1"), &format!("{sd}/0"), &img]),
    );
    fx.ok("snap_delete", &[&fx.at(&disk), "0", "7", "1"]);
    let l = log(&state);
    assert!(
        l.contains(&format!(
            "blockcommit one-7 vda --top {sd}/1 --base {sd}/0 --wait"
        )),
        "{l}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{sd}/1.current")).unwrap(),
        format!("{sd}/0\n")
    );
    assert_eq!(names(&sd), ["0", "1.current", "2", "disk.0.snap"]);

    // Snapshot 1 now lives in file 0 (1.current), under the active layer:
    // blockpull down to the image, then the file and its .current go.
    assert!(data(), "the data survived the commit");
    unset(&state, "log");
    set(&state, "domain.xml", &domain(&[&format!("{sd}/0"), &img]));
    fx.ok("snap_delete", &[&fx.at(&disk), "1", "7", "1"]);
    let l = log(&state);
    assert!(
        l.contains(&format!("blockpull one-7 vda --base {img} --wait")),
        "{l}"
    );
    assert_eq!(names(&sd), ["2", "disk.0.snap"]);
    assert!(data(), "the data survived");
    fx.check(&disk);
}

fn cpds_live_uses_blockcopy_then_a_frozen_copy(t: Transport) {
    let fx = Fx::with_conf(t, "BLOCKJOB_RETRY_SLEEP=0");
    let (_, disk) = running(&fx, 26);
    fx.write(&disk, "qcow2", "0xab", "0", "64k");
    let state = fake_virsh(&fx, &disk, "qcow2");
    let new = fx.p("1/new");
    fx.ok("cpds", &[&fx.at(&disk), &new, "-1", "7", "1"]);
    assert!(log(&state).contains(&format!(
        "blockcopy one-7 vda {} --wait --finish",
        fx.p("1/.new.one-storage-tmp")
    )));
    assert_eq!(fx.chain_summary(&new), vec![("qcow2".to_string(), None)]);
    assert!(fx.reads(&new, "qcow2", "0xab", "0", "64k"));

    // Another block job stays active: 3 tries, then a copy while frozen.
    unset(&state, "log");
    set(
        &state,
        "fail-blockcopy",
        "error: block copy still active: disk 'vda' already in active block job",
    );
    let again = fx.p("1/again");
    fx.ok("cpds", &[&fx.at(&disk), &again, "-1", "7", "1"]);
    let l = log(&state);
    assert_eq!(l.matches("blockcopy").count(), 3, "{l}");
    assert!(
        l.find("domfsfreeze").unwrap() < l.find("domfsthaw").unwrap(),
        "{l}"
    );
    assert!(fx.reads(&again, "qcow2", "0xab", "0", "64k"));
    assert!(
        !names(&fx.p("1")).iter().any(|n| n.starts_with('.')),
        "no temporary left"
    );
}

crate::both_transports!(
    snap_create_live_freezes_and_switches_the_domain,
    snap_delete_live_uses_block_jobs,
    cpds_live_uses_blockcopy_then_a_frozen_copy
);
