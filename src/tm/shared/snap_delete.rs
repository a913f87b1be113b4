//! snap_delete <host:sysdir/disk.i> <snap_id> <vm_id> <ds_id>
//!
//! raw: removes the full copy. qcow2 (§11.8): files backed by the snapshot
//! are rebased onto the snapshot's own backing file (data-preserving
//! `qemu-img rebase`), then the snapshot file goes. A running VM in
//! DISK_SNAPSHOT_DELETE (LCM_STATE 59) whose libvirt chain holds the
//! snapshot is changed by libvirt instead: `blockpull` into the active layer,
//! or `blockcommit` of the child into the snapshot, recording the move in a
//! `<child>.current` file. A snapshot that is already gone is a success.

use crate::command::{quote, Script};
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tools;

use super::chain::{plan_delete, Chain, Step};
use super::conf::{self, Virsh};
use super::snap::SnapArgs;
use super::{layout, live, probe};

/// LCM_STATE of a running VM deleting a disk snapshot.
const DISK_SNAPSHOT_DELETE: &str = "59";

pub fn run(inv: &mut Invocation) -> Result<String> {
    let (mut ctx, a) = SnapArgs::load(inv)?;
    let timeout = conf::probe_timeout(&ctx)?;
    let virsh = Virsh::from_ctx(&ctx)?;
    let running = a.vm.get("LCM_STATE") == Some(DISK_SNAPSHOT_DELETE);
    let domain = a.vm.get("DEPLOY_ID").unwrap_or("").to_string();
    let target = a.disk.target.clone().unwrap_or_default();
    let host = super::connect(&mut ctx, &a.disk_loc)?;
    let label = host.label();
    let snap_dir = a.snap_dir();
    let id = a.id.to_string();

    let script = if !a.disk.is_qcow2() {
        Script::new().cmd(&tools::RM.cmd().args(["-f", &format!("{snap_dir}/{id}")]))
    } else {
        let prev = probe::read_link(host, &a.disk_loc.path, timeout)?;
        let dir = probe::scan_snap_dir(host, &snap_dir, timeout)?;
        let chain = Chain::new(&dir, &snap_dir);
        let active = prev.as_deref().and_then(|p| chain.resolve(p));
        let live_chain = if running && !domain.is_empty() && !target.is_empty() {
            let xml = host
                .run_stdout(&virsh.cmd(["dumpxml", &domain]).timeout(timeout))
                .map_err(|e| e.context(format!("cannot read the domain {domain} on {label}")))?;
            Some(backing_files(&xml, &target)?)
        } else {
            None
        };
        let steps = plan_delete(&chain, &id, active.as_deref(), live_chain.as_deref())?;
        if steps.is_empty() {
            log::info!("Snapshot {id} of {} is already gone", a.disk_loc.path);
            return Ok(String::new());
        }
        log::debug!("snapshot delete plan: {steps:?}");
        script(&steps, &snap_dir, &virsh, &domain, &target)
    };
    log::info!("Deleting snapshot {id} of {}", a.disk_loc);
    let what = format!("Error deleting snapshot {snap_dir}/{id} on {label}");
    super::run_script(host, script, &what)?;
    Ok(String::new())
}

/// The host script for a plan; file names are relative to the snap dir,
/// where it runs (relative backing names resolve there).
pub fn script(steps: &[Step], snap_dir: &str, v: &Virsh, domain: &str, target: &str) -> Script {
    let mut s = Script::new().cmd(&crate::command::Cmd::new("cd").arg(snap_dir));
    for step in steps {
        s = match step {
            Step::Rebase {
                child,
                backing,
                backing_format,
            } => {
                let mut c = tools::QEMU_IMG.cmd().args(["rebase", "-q", "-U"]);
                if let (Some(_), Some(f)) = (backing, backing_format) {
                    c = c.args(["-F", f]);
                }
                c = c.args(["-b", backing.as_deref().unwrap_or("")]);
                s.cmd(&c.arg(format!("./{child}")))
            }
            Step::Remove(f) => s.cmd(&tools::RM.cmd().args(["-f", &format!("./{f}")])),
            Step::BlockPull { base } => {
                let mut job = v.cmd(["blockpull", domain, target]);
                if let Some(b) = base {
                    job = job.args(["--base", b]);
                }
                live::block_job(s, v, &job.arg("--wait")).raw("[ \"$ok\" = 1 ]")
            }
            Step::BlockCommit { top, base } => {
                let job = v.cmd([
                    "blockcommit",
                    domain,
                    target,
                    "--top",
                    top,
                    "--base",
                    base,
                    "--wait",
                ]);
                live::block_job(s, v, &job).raw("[ \"$ok\" = 1 ]")
            }
            Step::WriteCurrent { file, path } => s.line(format!(
                "printf '%s\\n' {} > {}",
                quote(path),
                quote(&format!("./{file}"))
            )),
        };
    }
    s
}

/// The file names of the backing chain libvirt runs for disk `target`.
pub fn backing_files(domain_xml: &str, target: &str) -> Result<Vec<String>> {
    let doc = roxmltree::Document::parse(domain_xml)
        .map_err(|e| Error::Input(format!("virsh dumpxml printed invalid XML: {e}")))?;
    let disk = doc.descendants().find(|n| {
        n.has_tag_name("disk")
            && n.children()
                .any(|c| c.has_tag_name("target") && c.attribute("dev") == Some(target))
    });
    Ok(disk
        .into_iter()
        .flat_map(|d| d.descendants())
        .filter(|n| n.has_tag_name("backingStore"))
        .filter_map(|b| {
            b.children()
                .find(|c| c.has_tag_name("source"))?
                .attribute("file")
        })
        .map(|f| layout::name(f).to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backing_files_of_one_disk_only() {
        let xml = r#"<domain><devices>
          <disk type='file'><source file='/ds/0/7/disk.0.snap/2'/>
            <backingStore type='file'><source file='/ds/0/7/disk.0.snap/1'/>
              <backingStore type='file'><source file='/ds/1/abc'/><backingStore/></backingStore>
            </backingStore><target dev='vda'/></disk>
          <disk type='file'><source file='/ds/0/7/disk.1.snap/3'/>
            <backingStore type='file'><source file='/ds/0/7/disk.1.snap/2'/></backingStore>
            <target dev='vdb'/></disk></devices></domain>"#;
        assert_eq!(backing_files(xml, "vda").unwrap(), vec!["1", "abc"]);
        assert_eq!(backing_files(xml, "vdb").unwrap(), vec!["2"]);
        assert!(backing_files(xml, "vdz").unwrap().is_empty());
    }

    #[test]
    fn rebase_keeps_the_backing_name_as_written() {
        let v = Virsh::default();
        let steps = vec![
            Step::Rebase {
                child: "2".into(),
                backing: Some("disk.0.snap/0".into()),
                backing_format: Some("qcow2".into()),
            },
            Step::Rebase {
                child: "1".into(),
                backing: None,
                backing_format: None,
            },
            Step::Remove("1".into()),
        ];
        let t = script(&steps, "/ds/0/7/disk.0.snap", &v, "one-7", "vda").text();
        assert!(t.contains("cd /ds/0/7/disk.0.snap\n"), "{t}");
        assert!(
            t.contains("qemu-img rebase -q -U -F qcow2 -b disk.0.snap/0 ./2"),
            "{t}"
        );
        assert!(t.contains("qemu-img rebase -q -U -b '' ./1"), "{t}");
        assert!(t.ends_with("rm -f ./1"), "{t}");
    }
}
