//! A snap dir's backing chains, worked out from what qemu-img says about
//! each file (see `probe::scan_snap_dir`), and the plan of `snap_delete`.
//!
//! The reference decides with oned's ACTIVE flag, read without filtering by
//! disk (§16), and rebases only one child. Here the files decide: every file
//! backed by the snapshot is rebased onto the snapshot's own backing file
//! before it goes, so no chain is left dangling, and the snapshot under the
//! active layer is exactly the reference's ACTIVE=YES case.

use crate::error::{Error, Result};
use crate::tm::args::{normalise, parent};

use super::layout;
use super::probe::{ImageInfo, SnapDir};

pub struct Chain<'a> {
    pub dir: &'a SnapDir,
    /// The snap dir's absolute path, normalised.
    pub snap_dir: String,
}

impl<'a> Chain<'a> {
    pub fn new(dir: &'a SnapDir, snap_dir: &str) -> Chain<'a> {
        Chain {
            dir,
            snap_dir: normalise(snap_dir),
        }
    }

    pub fn info(&self, name: &str) -> Option<&ImageInfo> {
        self.dir.files.get(name).and_then(Option::as_ref)
    }

    /// The file of this snap dir a backing name designates: relative names
    /// (`disk.0.snap/3`) go through the self-link, absolute ones must sit in
    /// the snap dir. `None` for files outside it (the image).
    pub fn resolve(&self, backing: &str) -> Option<String> {
        let n = normalise(backing);
        let base = layout::name(&n).to_string();
        let inside = if n.starts_with('/') {
            let p = parent(&n);
            p == self.snap_dir || p == layout::self_link(self.snap_dir.trim_end_matches(".snap"))
        } else {
            true
        };
        (inside && self.dir.files.contains_key(&base)).then_some(base)
    }

    /// The file `name` is backed by, when it is in this snap dir.
    pub fn parent_of(&self, name: &str) -> Option<String> {
        self.resolve(self.info(name)?.backing.as_deref()?)
    }

    /// Every file backed by `name`.
    pub fn children(&self, name: &str) -> Vec<String> {
        self.dir
            .files
            .keys()
            .filter(|f| self.parent_of(f).as_deref() == Some(name))
            .cloned()
            .collect()
    }

    /// `name`, its backing file, that one's, ... (within the snap dir).
    pub fn lineage(&self, name: &str) -> Vec<String> {
        let mut out = vec![name.to_string()];
        while let Some(p) = self.parent_of(out.last().expect("not empty")) {
            if out.contains(&p) {
                break;
            }
            out.push(p);
        }
        out
    }

    /// The file snapshot `id` lives in: `<id>.current` names it after a live
    /// delete (§13.3), else the file `<id>`.
    pub fn file_of(&self, id: &str) -> String {
        match self.dir.current.get(id) {
            Some(p) => layout::name(&normalise(p)).to_string(),
            None => id.to_string(),
        }
    }

    /// True when some chain still needs `name`: the active layer's lineage,
    /// a file backed by it, or a `.current` naming it.
    pub fn referenced(&self, name: &str, active: Option<&str>) -> bool {
        active.is_some_and(|a| self.lineage(a).iter().any(|f| f == name))
            || !self.children(name).is_empty()
            || self
                .dir
                .current
                .values()
                .any(|p| layout::name(&normalise(p)) == name)
    }
}

/// One step of a snapshot delete, on file names relative to the snap dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `qemu-img rebase -U [-F fmt] -b <backing|""> <child>` (data-preserving).
    Rebase {
        child: String,
        backing: Option<String>,
        backing_format: Option<String>,
    },
    Remove(String),
    /// `virsh blockpull` into the running VM's active layer, down to `base`.
    BlockPull {
        base: Option<String>,
    },
    /// `virsh blockcommit --top <top> --base <base>` in the running VM.
    BlockCommit {
        top: String,
        base: String,
    },
    /// Records that the snapshot whose `.current` file this is now lives in `path`.
    WriteCurrent {
        file: String,
        path: String,
    },
}

/// What deleting snapshot `id` takes. `active` is the file `disk.i` points
/// to; `live_chain` the file names of the running VM's backing chain of this
/// disk (`None` when the VM is not running a live delete).
pub fn plan_delete(
    c: &Chain<'_>,
    id: &str,
    active: Option<&str>,
    live_chain: Option<&[String]>,
) -> Result<Vec<Step>> {
    let file = c.file_of(id);
    let mut steps = Vec::new();
    if c.dir.files.contains_key(&file) {
        if Some(file.as_str()) == active {
            return Err(Error::failed(format!(
                "snapshot {id} is the disk's active layer {}/{file}: refusing to delete it",
                c.snap_dir
            )));
        }
        let info = c.info(&file);
        let backing = info.and_then(|i| i.backing.clone());
        let backing_format = info.and_then(|i| i.backing_format.clone());
        let abs = |n: &str| format!("{}/{n}", c.snap_dir);
        let parent_abs = backing.as_deref().map(|b| match c.resolve(b) {
            Some(n) => abs(&n),
            None => b.to_string(),
        });
        let children = c.children(&file);
        let rebase = |child: &str| Step::Rebase {
            child: child.to_string(),
            backing: backing.clone(),
            backing_format: backing_format.clone(),
        };
        let in_live = live_chain.is_some_and(|l| l.contains(&file));
        match active.filter(|a| in_live && children.iter().any(|ch| ch == a)) {
            Some(a) => {
                steps.push(Step::BlockPull { base: parent_abs });
                steps.extend(children.iter().filter(|ch| *ch != a).map(|ch| rebase(ch)));
                steps.push(Step::Remove(file.clone()));
            }
            None if in_live => {
                let [child] = children.as_slice() else {
                    return Err(Error::failed(format!(
                        "snapshot {id} ({}/{file}) is in the running VM's chain and has {} files over it: delete it with the VM powered off",
                        c.snap_dir,
                        children.len()
                    )));
                };
                let named = c
                    .dir
                    .current
                    .iter()
                    .find(|(_, p)| layout::name(&normalise(p)) == child)
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| child.clone());
                steps.push(Step::BlockCommit {
                    top: abs(child),
                    base: abs(&file),
                });
                steps.push(Step::WriteCurrent {
                    file: format!("{named}.current"),
                    path: abs(&file),
                });
                steps.push(Step::Remove(child.clone()));
            }
            None => {
                steps.extend(children.iter().map(|ch| rebase(ch)));
                steps.push(Step::Remove(file.clone()));
            }
        }
    }
    if c.dir.current.contains_key(id) {
        steps.push(Step::Remove(format!("{id}.current")));
    }
    Ok(steps)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
