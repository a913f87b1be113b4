//! monitor <ds_id> (base64 DS_DRIVER_ACTION_DATA on stdin); monitor_ds <ds_dir> (on a host)
//!
//! A shared system datastore is monitored from the front-end (§14): `df` of
//! `<DATASTORE_LOCATION>/<ds_id>` there, or on one BRIDGE_LIST host that
//! oned does not report off, in error or disabled. The result is one line,
//! byte for byte what the reference prints (`USED_MB=.. FREE_MB=.. TOTAL_MB=..`).
//!
//! MONITOR_VM_DISKS=1: the reference also sends per-VM disk sizes to
//! monitord over UDP. one-storage does not (no UDP client); it says so at
//! DEBUG level. The sizes are what `monitor_ds` prints on a host.

use crate::command::{quote, Cmd, Script};
use crate::dispatch::Invocation;
use crate::dump::DsAction;
use crate::error::{Error, Result};
use crate::tm::args::{normalise, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;

use super::conf;

pub fn monitor(inv: &mut Invocation) -> Result<String> {
    let action = DsAction::from_input(&inv.args, &mut inv.stdin)?;
    let mut ctx = conf::load(inv)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let location = match action.data.get("DATASTORE_LOCATION") {
        Some(l) => l.to_string(),
        None => ctx.ds_dir(),
    };
    let base = normalise(&format!("{location}/{}", action.id));
    if !base.starts_with('/') {
        return Err(Error::Input(format!(
            "DATASTORE_LOCATION '{location}' is not an absolute path"
        )));
    }
    if action.data.get("MONITOR_VM_DISKS") == Some("1") {
        log::debug!(
            "MONITOR_VM_DISKS=1: per-VM disk sizes are not sent to monitord (one-storage has no UDP client)"
        );
    }
    let bridges: Vec<String> = action
        .data
        .get("DATASTORE/TEMPLATE/BRIDGE_LIST")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let bridge = pick_bridge(&mut ctx, &bridges)?;
    let host = super::connect(&mut ctx, &Location::new(bridge.as_deref(), &base))?;
    let label = host.label();
    let s = Script::new()
        .line(format!("[ -d {b} ] || mkdir -p {b}", b = quote(&base)))
        .cmd(&tools::DF.cmd().args(["-B1M", "-P", &base]));
    let what = format!("Error monitoring {base} on {label}");
    let out = super::run_cmd(host, &s.into_cmd().timeout(timeout), &what)?.stdout_str();
    let (total, used, free) = parse_df(&out)
        .ok_or_else(|| Error::failed(format!("df of {base} on {label} printed no sizes: {out}")))?;
    Ok(format!("USED_MB={used} FREE_MB={free} TOTAL_MB={total}"))
}

pub fn monitor_ds(inv: &mut Invocation) -> Result<String> {
    crate::tm::monitor_ds::run(inv)
}

/// (total, used, free) in MB from `df -B1M -P` output.
pub fn parse_df(out: &str) -> Option<(u64, u64, u64)> {
    let line = out.lines().rfind(|l| !l.trim().is_empty())?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| f.get(i)?.trim_end_matches('M').parse().ok();
    Some((n(1)?, n(2)?, n(3)?))
}

/// A BRIDGE_LIST host oned does not report off, in error or disabled;
/// `None` (the front-end) without a BRIDGE_LIST. When oned cannot be asked
/// the list stands as is.
fn pick_bridge(ctx: &mut TmCtx, list: &[String]) -> Result<Option<String>> {
    if list.is_empty() {
        return Ok(None);
    }
    let cmd = Cmd::new(ctx.conf.get_or("ONEHOST", "onehost")).args([
        "list",
        "--operator",
        "OR",
        "--no-pager",
        "--csv",
        "--filter=STAT=off,STAT=err,STAT=dsbl",
        "--list=NAME,STAT",
    ]);
    let off: Vec<String> = match ctx.hosts.local().output(&cmd) {
        Ok(o) if o.status.success() => o
            .stdout_str()
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .map(|h| h.trim().to_string())
            .collect(),
        _ => {
            log::debug!("cannot ask oned for host states: using BRIDGE_LIST as is");
            Vec::new()
        }
    };
    let healthy: Vec<&String> = list.iter().filter(|h| !off.contains(h)).collect();
    if healthy.is_empty() {
        return Err(Error::failed(format!(
            "All hosts from BRIDGE_LIST are offline, error or disabled ({}): enable one in oned or fix BRIDGE_LIST",
            list.join(" ")
        )));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(0);
    Ok(Some(healthy[nanos % healthy.len()].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output() {
        let out = "Filesystem     1M-blocks  Used Available Capacity Mounted on\n/dev/vda          257933 14121     78612      16% /\n";
        assert_eq!(parse_df(out), Some((257933, 14121, 78612)));
        assert_eq!(parse_df("garbage"), None);
    }
}
