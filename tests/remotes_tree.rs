//! The committed `remotes/` tree is exactly what `one-storage install`
//! creates from the action table (regenerate it with `scripts/gen-remotes`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use one_storage::install::{conf_files, links, BIN, SCRIPTS_COMMON};

fn tree(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn expected() -> BTreeSet<PathBuf> {
    let mut want: BTreeSet<PathBuf> = links().into_iter().map(|(p, _)| p).collect();
    want.extend(conf_files().into_iter().map(|(p, _)| p));
    want.insert(PathBuf::from(SCRIPTS_COMMON));
    want
}

#[test]
fn committed_tree_matches_the_action_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("remotes");
    let mut have = tree(&root);
    have.remove(Path::new(BIN));
    assert_eq!(
        have,
        expected(),
        "run scripts/gen-remotes and commit remotes/"
    );
    for (rel, target) in links() {
        assert_eq!(
            std::fs::read_link(root.join(&rel)).unwrap(),
            target,
            "{}",
            rel.display()
        );
    }
    for (rel, text) in conf_files() {
        assert_eq!(
            std::fs::read_to_string(root.join(&rel)).unwrap(),
            text,
            "{}",
            rel.display()
        );
    }
}

#[test]
fn install_creates_the_tree_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let remotes = dir.path().join("remotes");
    let bin = env!("CARGO_BIN_EXE_one-storage");
    let run = || {
        Command::new(bin)
            .args(["install", "--remotes"])
            .arg(&remotes)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut want = expected();
    want.insert(PathBuf::from(BIN));
    assert_eq!(tree(&remotes), want);
    // An operator's edit of a conf file survives a re-install.
    let conf = remotes.join("etc/datastore/fs/fs.conf");
    std::fs::write(&conf, "SSH_TRANSPORT=ssh\n").unwrap();
    let second = run();
    assert!(second.status.success());
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        format!("{} is up to date", remotes.display())
    );
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "SSH_TRANSPORT=ssh\n"
    );
    // The installed links dispatch on their own path.
    let out = Command::new(remotes.join("tm/ssh/clone"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: tm ssh clone <fe:SOURCE>"));
}
