//! References inside a copied image: symlink targets and qcow2 backing file
//! names. Renaming `<hash>` to `disk.0` (and `<hash>.snap` to `disk.0.snap`)
//! breaks any reference that names the old member or an absolute path on the
//! source; this module works out, from the source listing alone, which
//! references must be rewritten on the destination and to what, and refuses
//! images that reference files outside the copied members (the host would
//! not have them).
//!
//! Paths are relative to the copy's root (the source directory, the
//! destination's staging directory). A symlink whose target is `.` (the
//! qcow2 layout's `X.snap/X.snap` self-link) is followed lexically.

use std::collections::BTreeSet;

use super::listing::{map_path, Listing, Member};
use crate::error::{Error, Result};

/// A change made on the destination before the copy is put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fixup {
    /// Point the symlink `path` at `target`.
    Relink { path: String, target: String },
    /// Write `backing` into the qcow2 header of `path` (metadata only).
    Rebase {
        path: String,
        backing: String,
        backing_format: String,
    },
    /// Add the self-link `path` → `.` of a renamed `X.snap` directory.
    DotLink { path: String },
}

/// The backing file of a regular file, as its header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backing {
    pub path: String,
    pub name: String,
    /// The backing file's format as the header records it (empty: unknown).
    pub format: String,
}

/// The fixups that keep every reference of the copied members working after
/// the renaming; an error for references outside them.
pub fn plan(
    listing: &Listing,
    members: &[Member],
    src_dir: &str,
    backings: &[Backing],
) -> Result<Vec<Fixup>> {
    let froms: BTreeSet<&str> = members.iter().map(|m| m.from.as_str()).collect();
    let renamed: BTreeSet<&str> = members
        .iter()
        .filter(|m| m.from != m.to)
        .map(|m| m.from.as_str())
        .collect();
    let src_dots: BTreeSet<String> = dot_links(listing);
    let mut fixups = Vec::new();
    let mut dst_dots: BTreeSet<String> = src_dots.iter().map(|d| map_path(members, d)).collect();
    for d in &src_dots {
        // `X.snap/X.snap` renamed to `disk.0.snap/X.snap`: add `disk.0.snap/disk.0.snap`.
        if let Some((dir, name)) = d.split_once('/') {
            let new_dir = map_path(members, dir);
            if dir == name && new_dir != dir && !name.contains('/') {
                let p = format!("{new_dir}/{new_dir}");
                dst_dots.insert(p.clone());
                fixups.push(Fixup::DotLink { path: p });
            }
        }
    }
    let inside = |r: &Option<String>| {
        r.as_deref()
            .and_then(|p| p.split('/').next())
            .is_some_and(|first| froms.contains(first))
    };
    for (path, e) in listing.iter().filter(|(_, e)| e.kind == 'l') {
        if e.target == "." {
            continue;
        }
        let r = resolve(parent(path), &e.target, Some(src_dir), &src_dots);
        if !inside(&r) {
            return Err(outside("symbolic link", path, &e.target));
        }
        let want = map_path(members, r.as_deref().unwrap_or_default());
        let new_path = map_path(members, path);
        let after_tar = map_path(members, &e.target);
        let got = resolve(parent(&new_path), &after_tar, None, &dst_dots);
        if got.as_deref() != Some(want.as_str()) {
            fixups.push(Fixup::Relink {
                target: relative(parent(&new_path), &want),
                path: new_path,
            });
        }
    }
    for b in backings {
        let r = resolve(parent(&b.path), &b.name, Some(src_dir), &src_dots);
        if !inside(&r) {
            return Err(outside("qcow2 image", &b.path, &b.name));
        }
        let names_old = b.name.starts_with('/') || b.name.split('/').any(|c| renamed.contains(c));
        if !names_old {
            continue;
        }
        let want = map_path(members, r.as_deref().unwrap_or_default());
        let new_path = map_path(members, &b.path);
        let dir = parent(&new_path);
        // The layout's convention: names relative to the VM directory, which
        // also resolve from inside `X.snap/` through its self-link.
        let self_link = format!("{dir}/{}", dir.rsplit('/').next().unwrap_or(""));
        let backing = if dir.is_empty() || dst_dots.contains(&self_link) {
            want
        } else {
            relative(dir, &want)
        };
        fixups.push(Fixup::Rebase {
            path: new_path,
            backing,
            backing_format: b.format.clone(),
        });
    }
    Ok(fixups)
}

fn outside(what: &str, path: &str, target: &str) -> Error {
    Error::Input(format!(
        "the {what} {path} refers to {target}, outside the files being copied: the host would \
         not have it; flatten the image first (qemu-img convert) or copy it with its backing files"
    ))
}

/// Self-links (`X.snap/X.snap` → `.`).
fn dot_links(listing: &Listing) -> BTreeSet<String> {
    listing
        .iter()
        .filter(|(_, e)| e.kind == 'l' && (e.target == "." || e.target == "./"))
        .map(|(p, _)| p.clone())
        .collect()
}

/// The directory part of a root-relative path (`""` at the root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Lexically resolves `target` seen from directory `from` (root-relative).
/// Absolute targets count only under `abs_root`. `None` when it leaves the root.
fn resolve(
    from: &str,
    target: &str,
    abs_root: Option<&str>,
    dots: &BTreeSet<String>,
) -> Option<String> {
    let mut cur: Vec<&str> = Vec::new();
    let rest = if let Some(abs) = target.strip_prefix('/') {
        let root = abs_root?.trim_start_matches('/');
        let r = abs.strip_prefix(root)?;
        if !(r.is_empty() || r.starts_with('/')) {
            return None;
        }
        r
    } else {
        cur.extend(from.split('/').filter(|c| !c.is_empty()));
        target
    };
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                cur.pop()?;
            }
            c => {
                cur.push(c);
                if dots.contains(&cur.join("/")) {
                    cur.pop();
                }
            }
        }
    }
    (!cur.is_empty()).then(|| cur.join("/"))
}

/// `to` (root-relative) as seen from directory `from` (root-relative).
fn relative(from: &str, to: &str) -> String {
    let f: Vec<&str> = from.split('/').filter(|c| !c.is_empty()).collect();
    let t: Vec<&str> = to.split('/').filter(|c| !c.is_empty()).collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; f.len() - common];
    parts.extend(&t[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::super::listing::Entry;
    use super::*;

    fn l(entries: &[(&str, char, &str)]) -> Listing {
        entries
            .iter()
            .map(|(p, k, t)| {
                let e = Entry {
                    kind: *k,
                    size: 1,
                    target: t.to_string(),
                };
                (p.to_string(), e)
            })
            .collect()
    }

    fn members() -> Vec<Member> {
        vec![
            Member::new("h", "disk.0"),
            Member::new("h.snap", "disk.0.snap"),
        ]
    }

    #[test]
    fn paths() {
        let none = BTreeSet::new();
        assert_eq!(relative("a/b", "a/c/d"), "../c/d");
        assert_eq!(relative("", "x.snap/1"), "x.snap/1");
        assert_eq!(relative("a", "a"), ".");
        assert_eq!(resolve("h.snap", "../h", None, &none).as_deref(), Some("h"));
        assert_eq!(resolve("", "../etc", None, &none), None);
        assert_eq!(
            resolve("", "/ds/1/h", Some("/ds/1"), &none).as_deref(),
            Some("h")
        );
        assert_eq!(resolve("", "/ds/10/h", Some("/ds/1"), &none), None);
        let dots: BTreeSet<String> = ["h.snap/h.snap".to_string()].into();
        assert_eq!(
            resolve("h.snap", "h.snap/2", None, &dots).as_deref(),
            Some("h.snap/2")
        );
    }

    #[test]
    fn a_plain_file_needs_nothing() {
        let f = plan(&l(&[("h", 'f', "")]), &members()[..1], "/ds/1", &[]).unwrap();
        assert!(f.is_empty());
    }

    #[test]
    fn qcow2_layout_keeps_working_after_the_rename() {
        let src = l(&[
            ("h", 'l', "h.snap/2"),
            ("h.snap", 'd', ""),
            ("h.snap/h.snap", 'l', "."),
            ("h.snap/0", 'l', "../h-base"),
            ("h.snap/1", 'f', ""),
            ("h.snap/2", 'f', ""),
        ]);
        // 0 points outside the members: refused.
        assert!(plan(&src, &members(), "/ds/1", &[]).is_err());
        let mut src = src;
        src.insert("h.snap/0".into(), src["h.snap/1"].clone());
        let backings = vec![
            Backing {
                path: "h.snap/1".into(),
                name: "/ds/1/h.snap/0".into(),
                format: "qcow2".into(),
            },
            Backing {
                path: "h.snap/2".into(),
                name: "h.snap/1".into(),
                format: "qcow2".into(),
            },
        ];
        let f = plan(&src, &members(), "/ds/1", &backings).unwrap();
        assert_eq!(
            f,
            vec![
                Fixup::DotLink {
                    path: "disk.0.snap/disk.0.snap".into()
                },
                Fixup::Rebase {
                    path: "disk.0.snap/1".into(),
                    backing: "disk.0.snap/0".into(),
                    backing_format: "qcow2".into()
                },
                Fixup::Rebase {
                    path: "disk.0.snap/2".into(),
                    backing: "disk.0.snap/1".into(),
                    backing_format: "qcow2".into()
                },
            ]
        );
    }

    #[test]
    fn absolute_and_untransformed_links_are_rewritten() {
        let src = l(&[
            ("h", 'l', "/ds/1/h.snap/0"),
            ("h.snap", 'd', ""),
            ("h.snap/0", 'f', ""),
            ("h.snap/cur", 'l', "../h"),
        ]);
        let f = plan(&src, &members(), "/ds/1", &[]).unwrap();
        assert!(f.contains(&Fixup::Relink {
            path: "disk.0".into(),
            target: "disk.0.snap/0".into()
        }));
        assert!(f.contains(&Fixup::Relink {
            path: "disk.0.snap/cur".into(),
            target: "../disk.0".into()
        }));
    }

    #[test]
    fn backing_outside_is_refused_with_the_fix() {
        let b = vec![Backing {
            path: "h".into(),
            name: "/etc/shadow".into(),
            format: "raw".into(),
        }];
        let e = plan(&l(&[("h", 'f', "")]), &members(), "/ds/1", &b).unwrap_err();
        assert!(
            e.to_string()
                .contains("qcow2 image h refers to /etc/shadow"),
            "{e}"
        );
    }
}
