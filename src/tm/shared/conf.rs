//! The shared driver's configuration: built-in defaults (documented in
//! `tm/shared/shared.conf`, read for both names `shared` and `qcow2`) and the
//! few settings every action shares.

use std::time::Duration;

use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::ctx::TmCtx;

/// Built-in defaults; `tm/shared/shared.conf` lists them commented out.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("LIBVIRT_URI", "qemu:///system"),
    ("VIRSH_TIMEOUT", "60"),
    ("BLOCKJOB_RETRIES", "3"),
    ("BLOCKJOB_RETRY_SLEEP", "5"),
    ("ONEHOST", "onehost"),
    ("PROBE_TIMEOUT", "120"),
];

/// Layers defaults < `etc/tm/shared/shared.conf` < environment (tmrc).
pub fn load(inv: &Invocation) -> Result<TmCtx> {
    TmCtx::load(inv, "shared", DEFAULTS)
}

/// `QCOW2_OPTIONS` (tmrc or conf), split into words: appended to every
/// `qemu-img create -f qcow2` (clone overlays, snapshots, reverts).
pub fn qcow2_options(ctx: &TmCtx) -> Result<Vec<String>> {
    let raw = ctx.conf.get("QCOW2_OPTIONS").unwrap_or("");
    let words: Vec<String> = raw.split_whitespace().map(str::to_string).collect();
    if words.iter().any(|w| w.contains(['$', '`', ';', '|', '&'])) {
        return Err(ctx.conf.invalid(
            "QCOW2_OPTIONS",
            "qemu-img create options such as -o compat=0.10",
        ));
    }
    Ok(words)
}

/// What the live actions need to drive libvirt on a host.
#[derive(Debug, Clone)]
pub struct Virsh {
    pub uri: String,
    /// Bound on `domfsfreeze` (VIRSH_TIMEOUT, the reference's kvmrc value).
    pub freeze_timeout: Duration,
    /// Tries of a block job that finds another one active, and the pause between.
    pub retries: u32,
    pub retry_sleep: Duration,
}

impl Virsh {
    pub fn from_ctx(ctx: &TmCtx) -> Result<Virsh> {
        let c = &ctx.conf;
        let retries = c
            .get("BLOCKJOB_RETRIES")
            .unwrap_or("3")
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| c.invalid("BLOCKJOB_RETRIES", "a number of tries from 1 to 100"))?;
        let uri = c.get("LIBVIRT_URI").unwrap_or("qemu:///system").to_string();
        if uri.chars().any(char::is_whitespace) {
            return Err(c.invalid("LIBVIRT_URI", "a libvirt URI such as qemu:///system"));
        }
        Ok(Virsh {
            uri,
            freeze_timeout: c.seconds("VIRSH_TIMEOUT", 60)?,
            retries,
            retry_sleep: c.seconds("BLOCKJOB_RETRY_SLEEP", 5)?,
        })
    }
}

impl Default for Virsh {
    fn default() -> Virsh {
        Virsh {
            uri: "qemu:///system".to_string(),
            freeze_timeout: Duration::from_secs(60),
            retries: 3,
            retry_sleep: Duration::from_secs(5),
        }
    }
}

/// Deadline of the read-only probes (qemu-img info, listings) on a host.
pub fn probe_timeout(ctx: &TmCtx) -> Result<Duration> {
    ctx.conf.seconds("PROBE_TIMEOUT", 120)
}

/// The VM id argument, checked before it names anything.
pub fn vm_id(arg: &str) -> Result<&str> {
    if arg.is_empty() || !arg.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Usage(format!(
            "vm_id '{arg}' is not a VM id: expected a number"
        )));
    }
    Ok(arg)
}
