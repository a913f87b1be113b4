//! The `ssh` transfer-manager driver against the lab: real sshd hosts with
//! private datastores. Every scenario runs with both SSH transports
//! (`<module>::ssh2::<name>`, `<module>::cli::<name>`) and asserts the
//! state on each host: file types, apparent and allocated sizes, content,
//! qemu-img's view, connection counts, and the one-line failure reason.

mod common;
mod tm_support;

#[path = "tm_ssh/helpers.rs"]
mod helpers;

#[path = "tm_ssh/bench.rs"]
mod bench;
#[path = "tm_ssh/clone.rs"]
mod clone;
#[path = "tm_ssh/export.rs"]
mod export;
#[path = "tm_ssh/lifecycle.rs"]
mod lifecycle;
#[path = "tm_ssh/misc.rs"]
mod misc;
#[path = "tm_ssh/mv.rs"]
mod mv;
#[path = "tm_ssh/snap.rs"]
mod snap;
