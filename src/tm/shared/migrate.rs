//! premigrate|postmigrate|failmigrate <src_host> <dst_host> <vm_dir> <vm_id> <ds_id> [tm]  (base64 VM XML on stdin)
//!
//! Live migration on shared storage moves no data: both hosts see the VM
//! directory. premigrate prepares nothing; postmigrate removes the old VM
//! directory only when the system datastore changed (on the source host,
//! computed from `vm_dir`'s DATASTORE_LOCATION, not the front-end's DS_DIR);
//! nothing on shared storage is ever removed because the hosts differ.
//!
//! Then, like the reference's `migrate_other`, the same hook of every other
//! TM driver the VM's disks use runs with this driver's name as a 6th
//! argument (which stops the recursion: with a 6th argument no other driver
//! is called). one-storage's own drivers run in-process, any other driver
//! as `<remotes>/tm/<tm>/<hook>` with the VM XML on stdin. Unlike the
//! reference, their exit status counts: a failing premigrate stops the
//! migration before it starts; postmigrate and failmigrate run every driver
//! and then fail naming each one that failed.

use std::io::Read;

use crate::command::Cmd;
use crate::dispatch::{find_driver, Invocation, Kind};
use crate::error::{Context, Error, Result};
use crate::tm::args::{expect_args, normalise, number, parent, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;
use crate::transport::{check_host_name, Io};

use super::conf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Pre,
    Post,
    Fail,
}

impl Hook {
    pub fn action(self) -> &'static str {
        match self {
            Hook::Pre => "premigrate",
            Hook::Post => "postmigrate",
            Hook::Fail => "failmigrate",
        }
    }
}

pub fn pre(inv: &mut Invocation) -> Result<String> {
    run(inv, Hook::Pre)
}

pub fn post(inv: &mut Invocation) -> Result<String> {
    run(inv, Hook::Post)
}

pub fn fail(inv: &mut Invocation) -> Result<String> {
    run(inv, Hook::Fail)
}

fn run(inv: &mut Invocation, hook: Hook) -> Result<String> {
    expect_args(&inv.args, 5, 6)?;
    let (src, dst) = (inv.args[0].clone(), inv.args[1].clone());
    check_host_name(&src)?;
    check_host_name(&dst)?;
    let vm_id = conf::vm_id(&inv.args[3])?.to_string();
    let vm_dir = Location::new(None, &inv.args[2]);
    if !inv.args[2].starts_with('/') {
        return Err(Error::Usage(format!(
            "vm_dir '{}' is not an absolute path",
            inv.args[2]
        )));
    }
    super::check_vm_dir(&vm_dir, &vm_id)?;
    let ds_id: u64 = number(&inv.args[4], "ds_id")?;
    let called_by = inv.args.get(5).cloned();
    let mut b64 = String::new();
    inv.stdin
        .read_to_string(&mut b64)
        .context(|| "reading the VM template from stdin".into())?;
    let mut ctx = conf::load(inv)?;
    let vm = ctx.vm_from_stdin(&vm_id, &mut b64.as_bytes())?.clone();

    if hook == Hook::Post {
        let orig = vm.get("HISTORY_RECORDS/HISTORY[last()-1]/DS_ID");
        if let Some(orig) = orig.filter(|o| *o != ds_id.to_string()) {
            remove_old_dir(&mut ctx, &src, &vm_dir.path, orig, &vm_id)?;
        } else if src == dst {
            log::info!("Not moving {src} to {dst}, they are the same host");
            return Ok(String::new());
        }
    } else if src == dst {
        log::info!("Not moving {src} to {dst}, they are the same host");
        return Ok(String::new());
    }
    if let Some(by) = called_by {
        log::debug!("called by the {by} driver: not calling other drivers");
        return Ok(String::new());
    }
    migrate_other(&mut ctx, inv, hook, &vm, &b64)?;
    Ok(String::new())
}

/// The VM moved to another system datastore: its old directory, on the
/// same DATASTORE_LOCATION as `vm_dir`, goes on the source host.
fn remove_old_dir(
    ctx: &mut TmCtx,
    src: &str,
    vm_dir: &str,
    orig_ds: &str,
    vm_id: &str,
) -> Result<()> {
    if orig_ds.is_empty() || !orig_ds.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Input(format!(
            "the previous history record of VM {vm_id} has DS_ID='{orig_ds}': expected a datastore id"
        )));
    }
    let old = normalise(&format!("{}/{orig_ds}/{vm_id}", parent(&parent(vm_dir))));
    if old == normalise(vm_dir) {
        return Ok(());
    }
    let host = super::connect(ctx, &Location::new(Some(src), &old))?;
    log::info!(
        "Removing {old}, the VM directory in the previous system datastore, on {}",
        host.label()
    );
    host.run(&tools::RM.cmd().args(["-rf", &old]))
        .map_err(|e| e.context(format!("Error removing {old} on {src} after the migration")))?;
    Ok(())
}

/// The other TM drivers of the VM's disks, each once, in disk order.
pub fn other_drivers(vm: &crate::dump::Element, me: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tm in vm.get_all("TEMPLATE/DISK/TM_MAD") {
        let tm = tm.trim();
        if !tm.is_empty() && !me.contains(&tm) && !out.iter().any(|t| t == tm) {
            out.push(tm.to_string());
        }
    }
    out
}

fn migrate_other(
    ctx: &mut TmCtx,
    inv: &Invocation,
    hook: Hook,
    vm: &crate::dump::Element,
    b64: &str,
) -> Result<()> {
    let me = super::DRIVER.names;
    let mut failures = Vec::new();
    for tm in other_drivers(vm, me) {
        let res = run_other(ctx, inv, hook, &tm, b64);
        match res {
            Ok(()) => {}
            Err(e) if hook == Hook::Pre => {
                return Err(e.context(format!("{} of the {tm} driver failed", hook.action())))
            }
            Err(e) => {
                log::error!(
                    "{} of the {tm} driver failed: {}",
                    hook.action(),
                    e.summary()
                );
                failures.push(format!("{tm}: {}", e.summary()));
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "{} of other drivers failed: {}",
        hook.action(),
        failures.join("; ")
    )))
}

fn run_other(ctx: &mut TmCtx, inv: &Invocation, hook: Hook, tm: &str, b64: &str) -> Result<()> {
    if !tm
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || tm.starts_with('.')
    {
        return Err(Error::Input(format!(
            "DISK/TM_MAD '{tm}' is not a driver name"
        )));
    }
    let mut args: Vec<String> = inv.args[..5].to_vec();
    args.push(inv.driver.clone());
    if let Some(spec) = find_driver(Kind::Tm, tm).and_then(|d| d.action(hook.action())) {
        log::info!("Running {} of the {tm} driver", hook.action());
        let mut child = Invocation {
            kind: Kind::Tm,
            driver: tm.to_string(),
            action: spec.name.to_string(),
            args,
            remotes: inv.remotes.clone(),
            stdin: Box::new(std::io::Cursor::new(b64.as_bytes().to_vec())),
        };
        return (spec.run)(&mut child).map(|_| ());
    }
    let path = inv.remotes.join("tm").join(tm).join(hook.action());
    if !path.exists() {
        log::info!(
            "{} does not exist: the {tm} driver has no {} step",
            path.display(),
            hook.action()
        );
        return Ok(());
    }
    log::info!("Running {}", path.display());
    let mut input = b64.as_bytes();
    let cmd = Cmd::new(path.to_string_lossy()).args(args);
    let out = ctx.hosts.local().run_io(
        &cmd,
        Io {
            stdin: Some((&mut input).into()),
            stdout: None,
        },
    )?;
    for line in out.stderr_str().lines().filter(|l| !l.trim().is_empty()) {
        log::debug!("{tm}: {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_drivers_are_distinct_and_never_this_one() {
        let vm = crate::dump::Element::parse(
            "<VM><TEMPLATE><DISK><TM_MAD>shared</TM_MAD></DISK><DISK><TM_MAD>ssh</TM_MAD></DISK>\
             <DISK><TM_MAD>qcow2</TM_MAD></DISK><DISK><TM_MAD>ceph</TM_MAD></DISK>\
             <DISK><TM_MAD>ssh</TM_MAD></DISK><DISK/></TEMPLATE></VM>",
            "vm",
        )
        .unwrap();
        assert_eq!(
            other_drivers(&vm, &["shared", "qcow2"]),
            vec!["ssh", "ceph"]
        );
    }
}
