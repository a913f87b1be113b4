//! RESTRICTED_DIRS and SAFE_DIRS: which local files may be registered.
//!
//! The source is judged by its canonical path (symlinks resolved) and by
//! whole path components: `/var/tmpfoo` is not under `/var/tmp`, as it was
//! for the reference's regex prefix match. SAFE_DIRS wins over
//! RESTRICTED_DIRS. Built in, as in the reference: oned's var and etc
//! directories (`/var/lib/one/`, `/etc/one/`, or under `$ONE_LOCATION`) and
//! the driver user's `$HOME/`.

use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
struct Entry {
    text: String,
    builtin: bool,
}

#[derive(Debug, Clone)]
pub struct Dirs {
    restricted: Vec<Entry>,
    safe: Vec<Entry>,
}

impl Dirs {
    pub fn from_conf(conf: &Config) -> Dirs {
        let list = |key: &str, builtin: bool| -> Vec<Entry> {
            conf.get(key)
                .unwrap_or("")
                .split_whitespace()
                .map(|t| Entry {
                    text: t.to_string(),
                    builtin,
                })
                .collect()
        };
        let mut restricted: Vec<Entry> = builtins()
            .into_iter()
            .map(|text| Entry {
                text,
                builtin: true,
            })
            .collect();
        restricted.extend(list("RESTRICTED_DIRS", false));
        Dirs {
            restricted,
            safe: list("SAFE_DIRS", false),
        }
    }

    /// The canonical path of `src`, or the error saying why it may not be
    /// used. `what` completes "Not allowed to ...": `copy image from`.
    pub fn check(&self, src: &Path, what: &str) -> Result<PathBuf> {
        let canon = canonical(src);
        let matching = |list: &[Entry]| -> Vec<String> {
            list.iter()
                .filter(|e| under(&canon, &e.text))
                .map(|e| {
                    if e.builtin {
                        format!("{} [built in]", e.text)
                    } else {
                        e.text.clone()
                    }
                })
                .collect()
        };
        if !matching(&self.safe).is_empty() {
            return Ok(canon);
        }
        let hit = matching(&self.restricted);
        if hit.is_empty() {
            return Ok(canon);
        }
        let resolved = if canon != src {
            format!(" (which resolves to {})", canon.display())
        } else {
            String::new()
        };
        let safe: Vec<&str> = self.safe.iter().map(|e| e.text.as_str()).collect();
        Err(Error::failed(format!(
            "Not allowed to {what} {}{resolved}: it is under RESTRICTED_DIRS ({}) and not under SAFE_DIRS ({}) \
             — add its directory to SAFE_DIRS in the datastore template or register it from an allowed directory",
            src.display(),
            hit.join(" "),
            if safe.is_empty() { "empty".to_string() } else { safe.join(" ") },
        )))
    }
}

/// oned's own directories and the driver user's home.
fn builtins() -> Vec<String> {
    let mut v = match std::env::var("ONE_LOCATION") {
        Ok(l) if !l.is_empty() => vec![
            format!("{}/var/", l.trim_end_matches('/')),
            format!("{}/etc/", l.trim_end_matches('/')),
        ],
        _ => vec!["/var/lib/one/".to_string(), "/etc/one/".to_string()],
    };
    match std::env::var("HOME") {
        Ok(h) if !h.trim_end_matches('/').is_empty() => {
            v.push(format!("{}/", h.trim_end_matches('/')))
        }
        _ => {}
    }
    v
}

/// Whether `canon` is `dir` or below it, by whole components. The entry is
/// compared as written and, when it exists, resolved.
fn under(canon: &Path, dir: &str) -> bool {
    let d = Path::new(dir);
    d.is_absolute()
        && (canon.starts_with(d) || std::fs::canonicalize(d).is_ok_and(|c| canon.starts_with(c)))
}

/// `realpath -m`: resolves symlinks of the longest existing prefix and keeps
/// the rest as written (so a missing file is judged by where it would be).
pub fn canonical(p: &Path) -> PathBuf {
    let comps: Vec<Component> = p.components().collect();
    for k in (1..=comps.len()).rev() {
        let prefix: PathBuf = comps[..k].iter().collect();
        if let Ok(mut c) = std::fs::canonicalize(&prefix) {
            for comp in &comps[k..] {
                match comp {
                    Component::ParentDir => {
                        c.pop();
                    }
                    Component::CurDir => {}
                    other => c.push(other),
                }
            }
            return c;
        }
    }
    p.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    fn dirs(restricted: &str, safe: &str) -> Dirs {
        let mut c = Config::new();
        c.set("RESTRICTED_DIRS", restricted, Origin::Template("datastore"));
        c.set("SAFE_DIRS", safe, Origin::Template("datastore"));
        Dirs::from_conf(&c)
    }

    #[test]
    fn whole_components_and_safe_wins() {
        let d = dirs("/", "/var/tmp");
        assert!(d
            .check(Path::new("/var/tmp/x.img"), "copy image from")
            .is_ok());
        let e = d
            .check(Path::new("/var/tmpfoo/x.img"), "copy image from")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "Not allowed to copy image from /var/tmpfoo/x.img: it is under RESTRICTED_DIRS ("
            ),
            "{e}"
        );
        assert!(e.contains("SAFE_DIRS (/var/tmp)"), "{e}");
        assert!(dirs("", "").check(Path::new("/srv/x"), "c").is_ok());
        assert!(dirs("", "")
            .check(Path::new("/etc/one/oned.conf"), "c")
            .is_err());
    }

    #[test]
    fn symlinks_are_judged_by_their_target() {
        let t = tempfile::tempdir().unwrap();
        let safe = t.path().join("safe");
        std::fs::create_dir(&safe).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", safe.join("link")).unwrap();
        let d = dirs("/etc", &safe.to_string_lossy());
        let e = d
            .check(&safe.join("link"), "copy image from")
            .unwrap_err()
            .to_string();
        assert!(e.contains("which resolves to /etc/hostname"), "{e}");
        assert_eq!(
            canonical(&safe.join("missing/../x")),
            safe.canonicalize().unwrap().join("x")
        );
    }
}
