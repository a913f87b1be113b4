//! The TM test support and the lab work together: a TM action reaches a lab host.

mod common;
mod tm_support;

use common::lab::Lab;
use tm_support::{reason, TmEnv, Transport, Vm};

#[test]
fn an_action_one_storage_lacks_is_not_supported_through_a_lab_frontend() {
    let lab = Lab::start(1);
    let env = TmEnv::new(Transport::Ssh2, "");
    env.set_vm(7, &Vm::new(7).on("lab1", 0).xml());
    // A link oned could call that one-storage has no action for.
    std::os::unix::fs::symlink("../../bin/one-storage", env.action_path("ssh", "nonsense"))
        .unwrap();
    let out = env.run(&lab, "ssh", "nonsense", &[], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        reason(&out),
        vec!["nonsense: Operation not supported".to_string()]
    );
}
