//! The copy engine against the plain pipelines it replaces (run by hand:
//! `cargo test --release --test tm_ssh bench -- --ignored --nocapture`).
//! Prints time and loopback bytes for a 4 GiB sparse image with 64 MiB of data.

use std::time::Instant;

use super::helpers::*;
use crate::common::cmd::run_ok;
use crate::tm_support::{Disk, Transport, Vm};

fn measure(what: &str, f: impl FnOnce()) {
    let (lo, t) = (loopback_bytes(), Instant::now());
    f();
    let (took, bytes) = (t.elapsed(), loopback_bytes() - lo);
    eprintln!(
        "{what:<48} {:>8.3} s {:>10.1} MiB on loopback",
        took.as_secs_f64(),
        bytes as f64 / MIB as f64
    );
}

#[test]
#[ignore]
fn bench_clone_4g_sparse_64m_data() {
    for t in [Transport::Ssh2, Transport::Cli] {
        let x = T::new(1, t);
        let img = x.on("fe", "1/img");
        sparse_file(&img, 4 << 30, 64);
        x.env.set_vm(
            7,
            &Vm::new(7)
                .disk(Disk::new(0).attr("FORMAT", "raw"))
                .on("lab1", 0)
                .xml(),
        );
        let dst = x.path("0/7").display().to_string();
        measure(&format!("one-storage tm ssh clone ({t:?})"), || {
            x.clone_from_fe(&img, "0/7/disk.0");
        });
        assert!(allocated(&x.on("lab1", "0/7/disk.0")) <= allocated(&img) + MIB);
        write(&x.on("fe", "1/tiny"), b"tiny");
        measure(
            &format!("one-storage tm ssh clone, 4-byte image ({t:?})"),
            || {
                x.ok(
                    "clone",
                    &[
                        &format!("fe:{}", x.path("1/tiny").display()),
                        &x.loc("lab1", "0/7/disk.1"),
                        "7",
                        "1",
                    ],
                );
            },
        );
        if t == Transport::Cli {
            continue;
        }
        let script = format!(
            "tar -cSf - -C {} img | ssh lab1 'mkdir -p {dst}.ref && tar -xSf - -C {dst}.ref'",
            x.path("1").display()
        );
        measure("tar -cSf - | ssh lab1 tar -xSf -", || {
            run_ok(x.lab.frontend_command("sh").arg("-c").arg(&script));
        });
        let script = format!("ssh lab1 'cat >/dev/null' < {}", img.display());
        measure("ssh lab1 'cat >/dev/null' < file (4 GiB)", || {
            run_ok(x.lab.frontend_command("sh").arg("-c").arg(&script));
        });
    }
}
