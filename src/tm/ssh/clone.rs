//! clone <fe:SOURCE> <host:sysdir/disk.i> <vm_id> <ds_id>
//!
//! Copies an image (and its `SOURCE.snap` directory, when there is one) to
//! the host's system datastore as `disk.i` (and `disk.i.snap`), through the
//! copy engine: sparse, verified, renamed into place only when complete.
//! Marks the host's datastore directory for local monitoring (`.monitor` =
//! `ssh`) and grows the disk when its SIZE exceeds the image's ORIGINAL_SIZE.
//! SOURCE may be on the front-end or on another host (`host:path`).
//!
//! The `.monitor` file goes to the directory holding the VM directory, which
//! is `<DATASTORE_LOCATION>/<sys_ds>` on every host as oned writes the path.

use super::copy::{Copy, Hooks};
use super::listing::{self, Listing, Member};
use super::setup::{self, describe, place, DiskAttrs};
use super::stage::write_if_changed;
use super::{hosts, qemu, refs};
use crate::command::Cmd;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, number, parent, Location};
use crate::tm::ctx::TmCtx;
use crate::tools;
use crate::transport::Host;

/// `clone` (and `ln`) arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneArgs {
    pub src: Location,
    pub dst: Location,
    pub vm_id: String,
}

impl CloneArgs {
    pub fn parse(args: &[String]) -> Result<CloneArgs> {
        expect_args(args, 4, 4)?;
        let src = Location::parse(&args[0])?;
        let dst = Location::parse(&args[1])?;
        dst.require_host()?;
        number::<u64>(&args[2], "vm_id")?;
        number::<u64>(&args[3], "ds_id")?;
        Ok(CloneArgs {
            src,
            dst,
            vm_id: args[2].clone(),
        })
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let args = CloneArgs::parse(&inv.args)?;
    let mut ctx = setup::load(inv)?;
    clone(&mut ctx, &args)?;
    Ok(String::new())
}

pub fn clone(ctx: &mut TmCtx, a: &CloneArgs) -> Result<()> {
    let attrs = match a.dst.disk_id() {
        Some(i) => DiskAttrs::from_disk(ctx.disk(&a.vm_id, i)?.as_ref())?,
        None => DiskAttrs::from_disk(None)?,
    };
    let (sp, dp) = (place(ctx, &a.src), place(ctx, &a.dst));
    let what = format!("{} to {}", describe(&sp, &a.src.path), a.dst);
    let (from, to) = (a.src.name(), a.dst.name());
    let snap = format!("{from}.snap");
    let src_dir = a.src.dir();

    ctx.hosts.connect_all(&[sp.as_deref(), dp.as_deref()])?;
    let src_host = ctx.hosts.at(sp.as_deref())?;
    let found = listing::list(src_host, &src_dir, &[from, &snap])?;
    if !found.contains_key(from) {
        return Err(Error::failed(format!(
            "Error copying {what}: the image {} does not exist on {}: check the image's SOURCE",
            a.src.path,
            src_host.label()
        )));
    }
    let mut members = vec![Member::new(from, to)];
    if found.contains_key(&snap) {
        members.push(Member::new(&snap, &format!("{to}.snap")));
    }
    let backings = backings(src_host, &src_dir, &found, &attrs)?;
    let fixups = refs::plan(&found, &members, &src_dir, &backings)
        .map_err(|e| e.context(format!("Error copying {what}")))?;

    let copy = Copy {
        src_dir,
        members,
        dst_dir: a.dst.dir(),
        sparse: attrs.sparse,
        what,
    };
    let mut hooks = Hooks {
        prepare: vec![write_if_changed(
            &format!("{}/.monitor", parent(&a.dst.dir())),
            "ssh",
        )],
        fixups,
        ..Hooks::default()
    };
    if let Some(mb) = attrs.grow_to() {
        hooks
            .before_install
            .push(resize_cmd(&copy.staged(to), mb, &attrs).shell_line());
    }
    if !found.contains_key(&snap) && a.dst.is_disk() {
        // A snapshot directory of an earlier life of this VM directory.
        let stale = tools::RM
            .cmd()
            .args(["-rf", "--"])
            .arg(format!("{}.snap", a.dst.path));
        hooks.after_install.push(stale.shell_line());
    }
    let opts = setup::host_ssh_options(ctx)?;
    let route = hosts::route(ctx, &sp, &dp, &opts)?;
    copy.run(route, &found, &hooks)
}

/// The backing files the copied images name (none for a raw disk).
fn backings(
    host: &mut Host,
    dir: &str,
    found: &Listing,
    attrs: &DiskAttrs,
) -> Result<Vec<refs::Backing>> {
    let files: Vec<&String> = found
        .iter()
        .filter(|(_, e)| e.kind == 'f')
        .map(|(p, _)| p)
        .collect();
    if attrs.format.as_deref() == Some("raw") && files.len() == found.len() {
        return Ok(Vec::new());
    }
    let paths: Vec<String> = files.iter().map(|p| format!("{dir}/{p}")).collect();
    let infos = qemu::infos(host, &paths)?;
    Ok(files
        .into_iter()
        .zip(infos)
        .filter_map(|(p, i)| {
            Some(refs::Backing {
                path: p.clone(),
                name: i.backing?,
                format: i.backing_format.unwrap_or_default(),
            })
        })
        .collect())
}

/// `qemu-img resize [-f FORMAT] [--preallocation=falloc] -- <path> <mb>M`.
pub fn resize_cmd(path: &str, mb: u64, attrs: &DiskAttrs) -> Cmd {
    let mut c = tools::QEMU_IMG.cmd().arg("resize");
    if let Some(f @ ("raw" | "qcow2")) = attrs.format.as_deref() {
        c = c.args(["-f", f]);
    }
    if !attrs.sparse {
        c = c.arg("--preallocation=falloc");
    }
    c.arg("--").arg(path).arg(format!("{mb}M"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let a =
            CloneArgs::parse(&args(&["fe:/ds/1/abc", "lab1:/ds/0/7/disk.0", "7", "1"])).unwrap();
        assert_eq!(a.src.path, "/ds/1/abc");
        assert_eq!(a.dst.host.as_deref(), Some("lab1"));
        for bad in [
            &["fe:/ds/1/abc", "lab1:/ds/0/7/disk.0", "7"][..],
            &["fe:/ds/1/abc", "/ds/0/7/disk.0", "7", "1"],
            &["fe:/ds/1/abc", "lab1:/ds/0/7/disk.0", "seven", "1"],
            &["fe:ds/1/abc", "lab1:/ds/0/7/disk.0", "7", "1"],
        ] {
            assert!(CloneArgs::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resize_honours_sparse_and_format() {
        let mut a = DiskAttrs {
            sparse: false,
            format: Some("raw".into()),
            ..DiskAttrs::default()
        };
        assert_eq!(
            resize_cmd("/s/disk.0", 200, &a).shell_line(),
            "qemu-img resize -f raw --preallocation=falloc -- /s/disk.0 200M"
        );
        a.sparse = true;
        a.format = None;
        assert_eq!(
            resize_cmd("/s/d", 5, &a).shell_line(),
            "qemu-img resize -- /s/d 5M"
        );
    }
}
