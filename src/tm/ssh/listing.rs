//! What a copy is checked against: the list of (relative path, type, apparent
//! size, symlink target) of the copied members, computed by one `find` on
//! each end, and the renaming of members (`<hash>` → `disk.0`) that the tar
//! stream applies to names and to symlink targets.
//!
//! Directory sizes are not compared: they depend on the filesystem.

use std::collections::BTreeMap;

use crate::command::{quote, Cmd, Script};
use crate::error::{Error, Result};
use crate::transport::Host;

/// `find -printf` format: path, type letter, size, link target; NUL-terminated.
const FIND_FORMAT: &str = "%p\\t%y\\t%s\\t%l\\0";

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `find`'s type letter: `f`, `d`, `l`, ...
    pub kind: char,
    pub size: u64,
    /// The symlink target (empty for anything else).
    pub target: String,
}

impl Entry {
    fn same_as(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.target == other.target
            && (self.kind == 'd' || self.size == other.size)
    }
}

/// Relative path → entry, sorted.
pub type Listing = BTreeMap<String, Entry>;

/// A member of a copy: `from` in the source directory becomes `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub from: String,
    pub to: String,
}

impl Member {
    pub fn new(from: &str, to: &str) -> Member {
        Member {
            from: from.to_string(),
            to: to.to_string(),
        }
    }

    /// Maps a relative path whose first component is `from`.
    fn map(&self, path: &str) -> Option<String> {
        if path == self.from {
            return Some(self.to.clone());
        }
        let rest = path.strip_prefix(&self.from)?.strip_prefix('/')?;
        Some(format!("{}/{rest}", self.to))
    }
}

/// Refuses member names tar or find would read as options or as paths.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('-') || name.contains('/') || name == "." || name == ".."
    {
        return Err(Error::Input(format!(
            "'{name}' cannot be copied: a file name must not be empty, start with '-' or contain '/'"
        )));
    }
    Ok(())
}

/// Applies the members' renaming the way the tar `--transform` rules do:
/// to the first component of a relative path. Anything else is unchanged.
pub fn map_path(members: &[Member], path: &str) -> String {
    members
        .iter()
        .find_map(|m| m.map(path))
        .unwrap_or_else(|| path.to_string())
}

/// The listing as it must look after the members were renamed.
pub fn renamed(listing: &Listing, members: &[Member]) -> Listing {
    listing
        .iter()
        .map(|(p, e)| {
            let mut e = e.clone();
            if e.kind == 'l' {
                // A link's size is its target's length.
                e.target = map_path(members, &e.target);
                e.size = e.target.len() as u64;
            }
            (map_path(members, p), e)
        })
        .collect()
}

/// The command listing the members of `dir` that exist (missing ones are skipped).
pub fn list_cmd(dir: &str, names: &[&str]) -> Cmd {
    // A missing directory lists nothing: its members do not exist either.
    let mut s = Script::new()
        .line(format!("[ -d {} ] || exit 0", quote(dir)))
        .cmd(&Cmd::new("cd").arg("--").arg(dir));
    for n in names {
        let find = crate::tools::FIND
            .cmd()
            .arg(*n)
            .arg("-printf")
            .arg(FIND_FORMAT);
        s = s.line(format!(
            "if [ -e {q} ] || [ -L {q} ]; then {find}; fi",
            q = quote(n)
        ));
    }
    s.into_cmd()
}

/// Lists the members `names` of `dir` on `host`.
pub fn list(host: &mut Host, dir: &str, names: &[&str]) -> Result<Listing> {
    let out = host.run(&list_cmd(dir, names)).map_err(|e| {
        e.context(format!(
            "cannot list {dir}/{} on {}",
            names.join(", "),
            host.label()
        ))
    })?;
    parse(&out.stdout_str())
}

/// Parses `find -printf FIND_FORMAT` output.
pub fn parse(text: &str) -> Result<Listing> {
    let mut out = Listing::new();
    for rec in text.split('\0').filter(|r| !r.is_empty()) {
        let f: Vec<&str> = rec.splitn(4, '\t').collect();
        let (Some(p), Some(k), Some(s), Some(t)) = (f.first(), f.get(1), f.get(2), f.get(3)) else {
            return Err(Error::failed(format!("unexpected find output: {rec:?}")));
        };
        let size = s
            .parse()
            .map_err(|_| Error::failed(format!("unexpected size in find output: {rec:?}")))?;
        let entry = Entry {
            kind: k.chars().next().unwrap_or('?'),
            size,
            target: t.to_string(),
        };
        out.insert(p.to_string(), entry);
    }
    Ok(out)
}

/// Compares what arrived with what was sent; the error names the first
/// differences so that the operator sees what went wrong.
pub fn compare(expected: &Listing, got: &Listing) -> Result<()> {
    let mut diffs = Vec::new();
    for (p, e) in expected {
        match got.get(p) {
            None => diffs.push(format!("{p} is missing")),
            Some(g) if !e.same_as(g) => diffs.push(format!(
                "{p} is {} of {} bytes{}, expected {} of {} bytes{}",
                g.kind,
                g.size,
                arrow(&g.target),
                e.kind,
                e.size,
                arrow(&e.target)
            )),
            Some(_) => {}
        }
    }
    diffs.extend(
        got.keys()
            .filter(|p| !expected.contains_key(*p))
            .map(|p| format!("{p} was not sent")),
    );
    if diffs.is_empty() {
        return Ok(());
    }
    let more = diffs.len().saturating_sub(3);
    diffs.truncate(3);
    let tail = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    Err(Error::failed(format!(
        "the copy does not match the source: {}{tail}",
        diffs.join("; ")
    )))
}

fn arrow(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" -> {target}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: char, size: u64, target: &str) -> Entry {
        Entry {
            kind,
            size,
            target: target.into(),
        }
    }

    #[test]
    fn parses_find_output() {
        let l = parse("h\tf\t1024\t\0h.snap\td\t4096\t\0h.snap/h.snap\tl\t1\t.\0").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l["h"], e('f', 1024, ""));
        assert_eq!(l["h.snap/h.snap"], e('l', 1, "."));
        assert!(parse("garbage\0").is_err());
    }

    #[test]
    fn renaming_follows_tar_transform_rules() {
        let m = vec![
            Member::new("h", "disk.0"),
            Member::new("h.snap", "disk.0.snap"),
        ];
        assert_eq!(map_path(&m, "h"), "disk.0");
        assert_eq!(map_path(&m, "h.snap/3"), "disk.0.snap/3");
        assert_eq!(map_path(&m, "hx"), "hx");
        assert_eq!(map_path(&m, "../h"), "../h");
        let mut l = Listing::new();
        l.insert("h".into(), e('l', 8, "h.snap/3"));
        let r = renamed(&l, &m);
        assert_eq!(r["disk.0"], e('l', 13, "disk.0.snap/3"));
    }

    #[test]
    fn compare_ignores_directory_sizes_and_names_differences() {
        let mut a = Listing::new();
        a.insert("d".into(), e('d', 4096, ""));
        a.insert("d/f".into(), e('f', 10, ""));
        let mut b = a.clone();
        b.insert("d".into(), e('d', 60, ""));
        assert!(compare(&a, &b).is_ok());
        b.insert("d/f".into(), e('f', 9, ""));
        b.insert("d/x".into(), e('f', 1, ""));
        let msg = compare(&a, &b).unwrap_err().to_string();
        assert!(
            msg.contains("d/f is f of 9 bytes, expected f of 10 bytes"),
            "{msg}"
        );
        assert!(msg.contains("d/x was not sent"), "{msg}");
    }

    #[test]
    fn names_that_look_like_options_are_refused() {
        assert!(check_name("-rf").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name("0123abcd").is_ok());
    }

    #[test]
    fn list_command_lists_existing_members_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a b"), b"xyz").unwrap();
        let mut h = Host::local();
        let l = list(&mut h, dir.path().to_str().unwrap(), &["a b", "a b.snap"]).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l["a b"], e('f', 3, ""));
    }
}
