//! The command line an operator types: long form, --help, usage errors,
//! unknown drivers and actions. Exit codes: 0, 1 failure, 2 usage, never 42.

use std::process::{Command, Output};

fn one_storage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_one-storage"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn long_form_help_prints_the_signature() {
    let out = one_storage(&["tm", "ssh", "clone", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout)
            .starts_with("usage: tm ssh clone <fe:SOURCE> <host:DST> <vm_id> <ds_id>\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn wrong_argument_count_is_one_line_with_the_signature_and_exit_2() {
    let out = one_storage(&["tm", "qcow2", "delete", "lab1:/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "expected 3 arguments, got 1; usage: tm qcow2 delete <host:PATH> <vm_id> <ds_id>\n"
    );
}

#[test]
fn unknown_action_and_driver() {
    let out = one_storage(&["datastore", "fs", "frobnicate", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "frobnicate: Operation not supported\n");
    let out = one_storage(&["datastore", "ceph", "cp", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "'ceph' is not a datastore driver of one-storage: use one of fs\n"
    );
}

#[test]
fn actions_lists_every_driver() {
    let out = one_storage(&["actions"]);
    let t = text(&out.stdout);
    assert!(t.contains("datastore fs cp <id>"), "{t}");
    assert!(
        t.contains("tm shared|qcow2 snap_revert <host:DISK> <snap_id> <vm_id> <ds_id>"),
        "{t}"
    );
    assert!(t.contains("tm ssh monitor_ds <ds_dir>"), "{t}");
}
