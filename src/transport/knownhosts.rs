//! known_hosts files, read and written as OpenSSH does: plain and hashed
//! (`|1|salt|hash`) names, `[host]:port` for ports other than 22, patterns
//! with `*`, `?` and `!`, and `@revoked` keys. `@cert-authority` lines and
//! lines that do not parse are skipped.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha1::{Digest, Sha1};

use super::sshconfig::pattern_list;
use crate::error::{Error, Result};

/// What the files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Match,
    /// A key of the same type is recorded and differs: possibly an attack.
    Changed {
        file: PathBuf,
        line: usize,
    },
    Revoked {
        file: PathBuf,
        line: usize,
    },
    Unknown,
}

#[derive(Debug, Clone)]
enum Names {
    Patterns(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone)]
struct Entry {
    file: PathBuf,
    line: usize,
    names: Names,
    revoked: bool,
    key: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// The name a key is recorded under: `host`, or `[host]:port` off port 22.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The algorithm name inside an SSH public key blob (`ssh-ed25519`, ...).
pub fn key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

impl KnownHosts {
    /// Reads every file that exists; unreadable ones are skipped (ssh does too).
    pub fn load(files: &[PathBuf]) -> KnownHosts {
        let mut k = KnownHosts::default();
        for f in files {
            match std::fs::read_to_string(f) {
                Ok(text) => k.parse(&text, f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::debug!("skipping known hosts file {}: {e}", f.display()),
            }
        }
        k
    }

    pub fn parse(&mut self, text: &str, file: &Path) {
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_whitespace().peekable();
            let revoked = match fields.peek() {
                None => continue,
                Some(f) if f.starts_with('#') || *f == "@cert-authority" => continue,
                Some(&"@revoked") => {
                    fields.next();
                    true
                }
                Some(_) => false,
            };
            let (Some(names), Some(_type), Some(key)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (Some(names), Ok(key)) = (parse_names(names), B64.decode(key)) else {
                log::debug!(
                    "{}, line {}: not a known_hosts entry",
                    file.display(),
                    n + 1
                );
                continue;
            };
            self.entries.push(Entry {
                file: file.to_path_buf(),
                line: n + 1,
                names,
                revoked,
                key,
            });
        }
    }

    fn for_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| names_match(&e.names, name))
    }

    /// Checks `key` (a public key blob) for the host recorded as `name`.
    pub fn check(&self, name: &str, key: &[u8]) -> Check {
        let kind = key_type(key);
        let mut changed = None;
        for e in self.for_name(name) {
            if e.revoked && e.key == key {
                return Check::Revoked {
                    file: e.file.clone(),
                    line: e.line,
                };
            }
        }
        for e in self.for_name(name).filter(|e| !e.revoked) {
            if e.key == key {
                return Check::Match;
            }
            if changed.is_none() && key_type(&e.key) == kind {
                changed = Some(Check::Changed {
                    file: e.file.clone(),
                    line: e.line,
                });
            }
        }
        changed.unwrap_or(Check::Unknown)
    }

    /// The key types recorded for `name`, first seen first: the host key
    /// algorithms to ask the server for, as ssh does.
    pub fn key_types(&self, name: &str) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for e in self.for_name(name).filter(|e| !e.revoked) {
            if let Some(t) = key_type(&e.key) {
                if !types.iter().any(|x| x == t) {
                    types.push(t.to_string());
                }
            }
        }
        types
    }
}

fn parse_names(field: &str) -> Option<Names> {
    match field.strip_prefix("|1|") {
        Some(rest) => {
            let (salt, hash) = rest.split_once('|')?;
            Some(Names::Hashed {
                salt: B64.decode(salt).ok()?,
                hash: B64.decode(hash).ok()?,
            })
        }
        None => Some(Names::Patterns(
            field.split(',').map(str::to_string).collect(),
        )),
    }
}

fn names_match(names: &Names, name: &str) -> bool {
    match names {
        Names::Patterns(p) => pattern_list(p.iter().map(String::as_str), name),
        Names::Hashed { salt, hash } => hmac_sha1(salt, name.as_bytes()).as_slice() == hash,
    }
}

/// HMAC-SHA1 (RFC 2104), the hash of hashed known_hosts names.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > k.len() {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha1::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(msg)
        .finalize();
    Sha1::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Appends `name type key` to `file` (hashing the name when asked), creating
/// the file 0600 and its directory 0700 when they do not exist.
pub fn append(file: &Path, name: &str, key: &[u8], hashed: bool) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |e| {
        Error::io(
            format!("cannot record the host key of {name} in {}", file.display()),
            e,
        )
    };
    let kind = key_type(key).unwrap_or("unknown");
    let names = if hashed {
        let mut salt = [0u8; 20];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut r| r.read_exact(&mut salt))
            .map_err(io)?;
        let hash = hmac_sha1(&salt, name.as_bytes());
        format!("|1|{}|{}", B64.encode(salt), B64.encode(hash))
    } else {
        name.to_string()
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o600)
        .open(file)
        .map_err(io)?;
    let mut text = String::new();
    let len = f.metadata().map_err(io)?.len();
    if len > 0 {
        // Never glue our line onto a last line that lacks its newline.
        use std::io::{Seek, SeekFrom};
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1)).map_err(io)?;
        f.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            text.push('\n');
        }
    }
    text.push_str(&format!("{names} {kind} {}\n", B64.encode(key)));
    f.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake key blob of type `t`.
    fn blob(t: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (t.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(t.as_bytes());
        b.extend_from_slice(body);
        b
    }

    fn line(names: &str, key: &[u8]) -> String {
        format!("{names} {} {}\n", key_type(key).unwrap(), B64.encode(key))
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        let h = hmac_sha1(&[0x0b; 20], b"Hi There");
        assert_eq!(hex::encode(h), "b617318655057264e28bc0b6fb378c8ef146be00");
    }

    #[test]
    fn checks_names_ports_patterns_and_types() {
        let ed = blob("ssh-ed25519", b"one");
        let ed2 = blob("ssh-ed25519", b"two");
        let ec = blob("ecdsa-sha2-nistp256", b"three");
        let text = format!(
            "# comment\n{}{}{}garbage line\n@cert-authority * {}",
            line("node1,10.0.0.1", &ed),
            line("[node1]:2222", &ed2),
            line("*.lab,!bad.lab", &ec),
            line("x", &ed)
        );
        let mut k = KnownHosts::default();
        k.parse(&text, Path::new("/kh"));
        assert_eq!(k.check("node1", &ed), Check::Match);
        assert_eq!(k.check("10.0.0.1", &ed), Check::Match);
        assert_eq!(
            k.check("node1", &ed2),
            Check::Changed {
                file: PathBuf::from("/kh"),
                line: 2
            }
        );
        assert_eq!(k.check(&host_name("node1", 2222), &ed2), Check::Match);
        // A key of another type is not a change: the host may have several.
        assert_eq!(k.check("node1", &ec), Check::Unknown);
        assert_eq!(k.check("a.lab", &ec), Check::Match);
        assert_eq!(k.check("bad.lab", &ec), Check::Unknown);
        assert_eq!(k.key_types("node1"), vec!["ssh-ed25519"]);
        assert_eq!(k.check("x", &ed), Check::Unknown, "CA lines are not keys");
    }

    #[test]
    fn appended_keys_are_found_again_hashed_or_not_and_revoked_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new/.ssh/known_hosts");
        let ed = blob("ssh-ed25519", b"k");
        append(&file, "[node1]:2222", &ed, false).unwrap();
        append(&file, "fd00::1", &ed, true).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("[node1]:2222 ssh-ed25519 "), "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("|1|"), "{text}");
        let k = KnownHosts::load(&[file.clone(), dir.path().join("missing")]);
        assert_eq!(k.check("[node1]:2222", &ed), Check::Match);
        assert_eq!(k.check("fd00::1", &ed), Check::Match);
        assert_eq!(k.check("node1", &ed), Check::Unknown);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);

        let mut k = KnownHosts::default();
        k.parse(&format!("@revoked {}", line("*", &ed)), Path::new("/r"));
        k.parse(&line("node1", &ed), Path::new("/kh"));
        assert!(matches!(k.check("node1", &ed), Check::Revoked { .. }));
    }

    #[test]
    fn appending_after_a_last_line_without_newline_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, "other ssh-ed25519 AAAA").unwrap();
        append(&file, "n", &blob("ssh-ed25519", b"k"), false).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
