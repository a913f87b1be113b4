//! `datastore/fs/cp` with BRIDGE_LIST: the image is written on the bridge
//! host (a lab sshd host with a private datastore directory), never on the
//! front-end; one body per SSH transport.

mod common;
mod support;

use std::path::{Path, PathBuf};

use common::lab::Lab;
use support::*;

/// Runs cp `id` as the front-end of `lab` (its ssh config is /root/.ssh).
fn cp_via(lab: &Lab, fs: &Fs, id: &str, dump: &Dump) -> Out {
    let mut c = lab.frontend_command(fs.remotes.join("datastore/fs/cp"));
    c.arg(id)
        .env_remove("ONE_LOCATION")
        .env("ONE_STORAGE_LOG", "info")
        .current_dir(fs.dir.path());
    Out::of(&mut c, Some(dump.b64().as_bytes()))
}

fn lab_fs(transport: &str) -> (Lab, Fs) {
    let lab = Lab::start(2);
    let fs = Fs::new();
    fs.conf(&format!("SSH_TRANSPORT={transport}\nCOMMAND_TIMEOUT=60\n"));
    (lab, fs)
}

fn on_host_files(lab: &Lab, host: &str, base: &Path) -> Vec<PathBuf> {
    files_in(&lab.host_path(host, base))
}

fn writes_on_the_bridge_only(transport: &str) {
    let (lab, fs) = lab_fs(transport);
    let src = fs.path("disk.raw");
    raw_image(&src, 64 << 20, &[0, 40]);
    let base = lab.ds_root().join("1");
    let dump = Dump::new(src.to_str().unwrap(), &base).ds("BRIDGE_LIST", "lab1 lab2");

    // Image 8: 8 % 2 hosts = the first, lab1.
    lab.reset_counts();
    let out = cp_via(&lab, &fs, "8", &dump.clone().image("ID", "8"));
    let (img, format) = source_and_format(&out.success());
    assert_eq!(format, "raw");
    assert_eq!(img.parent().unwrap(), base);
    let on1 = lab.host_path("lab1", &img);
    assert_eq!(
        on_host_files(&lab, "lab1", &base),
        vec![on1.clone()],
        "no temporary left on lab1"
    );
    assert!(!base.exists(), "nothing on the front-end");
    assert!(
        on_host_files(&lab, "lab2", &base).is_empty(),
        "nothing on lab2"
    );
    assert!(std::fs::read(&on1).unwrap() == std::fs::read(&src).unwrap());
    assert!(
        allocated(&on1) <= 3 << 20,
        "sparse on lab1: {}",
        allocated(&on1)
    );
    let info = lab.run_on(
        "lab1",
        &["qemu-img", "info", "--output=json", img.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&info.stdout).contains("\"format\": \"raw\""));
    assert_eq!(
        lab.ssh_connections("lab1"),
        1,
        "one connection per host per action"
    );
    assert_eq!(lab.ssh_connections("lab2"), 0);

    // Image 7 goes to lab2, converted there to DRIVER=qcow2.
    let out = cp_via(&lab, &fs, "7", &dump.clone().ds("DRIVER", "qcow2"));
    let (img, format) = source_and_format(&out.success());
    assert_eq!(format, "qcow2");
    let on2 = lab.host_path("lab2", &img);
    assert_eq!(on_host_files(&lab, "lab2", &base), vec![on2.clone()]);
    assert_eq!(qemu_info(&on2), ("qcow2".into(), 64 << 20, None));

    // A checksum mismatch removes the partial file on the bridge.
    let out = cp_via(
        &lab,
        &fs,
        "8",
        &dump
            .clone()
            .image("ID", "8")
            .image_tmpl("MD5", &"0".repeat(32)),
    );
    out.fails_with(&["Checksum mismatch for"]);
    assert_eq!(on_host_files(&lab, "lab1", &base), vec![on1]);
}

#[test]
fn ssh2_bridge_writes_on_the_bridge_only() {
    writes_on_the_bridge_only("ssh2");
}

#[test]
fn ssh_cli_bridge_writes_on_the_bridge_only() {
    writes_on_the_bridge_only("ssh");
}

#[test]
fn no_usable_bridge_is_an_error_and_nothing_is_written() {
    let (lab, fs) = lab_fs("ssh2");
    let src = fs.path("disk.raw");
    std::fs::write(&src, vec![1u8; 100_000]).unwrap();
    let base = lab.ds_root().join("1");

    // oned (a fake onehost, named by ONEHOST) says every bridge is off.
    let onehost = fs.path("onehost");
    std::fs::write(
        &onehost,
        "#!/bin/sh\necho NAME,STAT\necho lab1,off\necho lab2,err\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&onehost, std::fs::Permissions::from_mode(0o755)).unwrap();
    // ONEHOST names a program: only fs.conf may set it, never the template.
    fs.conf(&format!("ONEHOST={}\n", onehost.display()));
    lab.reset_counts();
    let dump = Dump::new(src.to_str().unwrap(), &base).ds("BRIDGE_LIST", "lab1 lab2");
    cp_via(&lab, &fs, "7", &dump)
        .fails_with(&["All hosts from BRIDGE_LIST are offline, error or disabled (lab1 lab2)"]);
    assert_eq!(lab.ssh_connections("lab1") + lab.ssh_connections("lab2"), 0);

    // A bridge nobody can reach.
    let dump = Dump::new(src.to_str().unwrap(), &base).ds("BRIDGE_LIST", "nosuchhost.invalid");
    cp_via(&lab, &fs, "7", &dump)
        .fails_with(&["Cannot reach nosuchhost.invalid, the bridge chosen from BRIDGE_LIST"]);

    assert!(!base.exists());
    for h in ["lab1", "lab2"] {
        assert!(on_host_files(&lab, h, &base).is_empty(), "{h}");
    }
}
