use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::transport::SshSettings;

fn me() -> LocalUser {
    LocalUser {
        home: PathBuf::from("/home/op"),
        name: "op".to_string(),
        uid: 1000,
    }
}

/// Resolves `host` against one config file holding `text` (plus any extra
/// files written under the same directory beforehand).
fn resolve_in(dir: &Path, host: &str, text: &str, settings: &SshSettings) -> Result<ResolvedHost> {
    let path = dir.join("config");
    std::fs::write(&path, text).unwrap();
    let file = ConfigFile {
        path,
        required: true,
        include_dir: dir.to_path_buf(),
    };
    resolve_with(host, &[file], settings, &me())
}

fn resolve_text(host: &str, text: &str) -> ResolvedHost {
    let dir = tempfile::tempdir().unwrap();
    resolve_in(dir.path(), host, text, &SshSettings::default()).unwrap()
}

fn paths(v: &[&str]) -> Vec<PathBuf> {
    v.iter().map(PathBuf::from).collect()
}

#[test]
fn without_a_config_everything_is_the_default() {
    let r = resolve_text("node1", "");
    assert_eq!(r.hostname, "node1");
    assert_eq!(r.port, 22);
    assert_eq!(r.user, "op");
    assert_eq!(
        r.identity_files,
        paths(&[
            "/home/op/.ssh/id_ed25519",
            "/home/op/.ssh/id_ecdsa",
            "/home/op/.ssh/id_rsa"
        ])
    );
    assert_eq!(
        r.known_hosts_files,
        paths(&["/home/op/.ssh/known_hosts", "/home/op/.ssh/known_hosts2"])
    );
    assert_eq!(r.strict, Strict::AcceptNew);
    assert_eq!(r.connect_timeout, Duration::from_secs(10));
    assert_eq!(r.keepalive, Duration::from_secs(10));
    assert_eq!(r.proxy, None);
    assert!(!r.identities_only);
}

#[test]
fn the_first_value_obtained_wins_and_identity_files_accumulate() {
    let text = "\
Host lab1
  HostName 10.0.0.1
  Port 2222
  User root
  IdentityFile ~/.ssh/lab_key
Host lab*
  Port 22
  User other
  HostName 10.9.9.9
Host *
  IdentityFile %d/.ssh/id_%r_%h_%p_%n_%u
  ConnectTimeout=7
  ServerAliveInterval 0
";
    let r = resolve_text("lab1", text);
    assert_eq!(r.hostname, "10.0.0.1");
    assert_eq!(r.port, 2222);
    assert_eq!(r.user, "root");
    assert_eq!(
        r.identity_files,
        paths(&[
            "/home/op/.ssh/lab_key",
            "/home/op/.ssh/id_root_10.0.0.1_2222_lab1_op"
        ])
    );
    assert_eq!(r.connect_timeout, Duration::from_secs(7));
    assert_eq!(r.keepalive, Duration::ZERO);

    let r = resolve_text("lab2", text);
    assert_eq!((r.hostname.as_str(), r.port), ("10.9.9.9", 22));
    assert_eq!(r.user, "other");
}

#[test]
fn patterns_match_with_wildcards_and_negation() {
    let text = "\
Host lab? !lab3
  Port 1001
Host *.example.org *.example.net
  Port 1002
Host * !bastion
  User everyone
";
    assert_eq!(resolve_text("lab1", text).port, 1001);
    assert_eq!(resolve_text("lab3", text).port, 22);
    assert_eq!(resolve_text("lab10", text).port, 22);
    assert_eq!(resolve_text("Node.EXAMPLE.net", text).port, 1002);
    assert_eq!(resolve_text("lab1", text).user, "everyone");
    assert_eq!(resolve_text("bastion", text).user, "op");

    assert!(wildcard("*", ""));
    assert!(wildcard("a*b*c", "axxbyyc"));
    assert!(!wildcard("a*b*c", "axxbyy"));
    assert!(!pattern_list(["!*"], "x"));
    assert!(!pattern_list(["!x", "*"], "x"));
}

#[test]
fn key_value_forms_quotes_case_and_comments() {
    let text = "\
# a comment
HOST=\"lab1\"
  hostname = \"node one\"  # trailing comment
  PORT=2200
\tuser\t\"root\"
  UserKnownHostsFile \"~/my known\" /etc/other # both
";
    let r = resolve_text("lab1", text);
    assert_eq!(r.hostname, "node one");
    assert_eq!(r.port, 2200);
    assert_eq!(r.user, "root");
    assert_eq!(
        r.known_hosts_files,
        paths(&["/home/op/my known", "/etc/other"])
    );
}

#[test]
fn user_at_host_brackets_and_hostname_tokens() {
    let text = "Host node1\n  User root\n  HostName %h.example.org\n";
    let r = resolve_text("oneadmin@node1", text);
    assert_eq!(r.user, "oneadmin");
    assert_eq!(r.alias, "node1");
    assert_eq!(r.hostname, "node1.example.org");

    let r = resolve_text("[fd00::1]", "");
    assert_eq!(r.hostname, "fd00::1");
    let r = resolve_text("fd00::1", "Host fd00::1\n  Port 2022\n");
    assert_eq!((r.hostname.as_str(), r.port), ("fd00::1", 2022));
}

#[test]
fn includes_are_read_in_place_with_globs_and_only_where_they_apply() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/10-lab.conf"), "Host lab1\n  Port 1010\n").unwrap();
    std::fs::write(
        d.join("conf.d/20-all.conf"),
        "Host *\n  Port 2020\n  User inc\n",
    )
    .unwrap();
    std::fs::write(d.join("conf.d/.hidden.conf"), "Host *\n  Port 9999\n").unwrap();
    std::fs::write(d.join("other"), "User other\n").unwrap();
    let text = "\
Host nomatch
  Include other
Host *
  Include conf.d/*.conf
  User late
";
    let s = SshSettings::default();
    let r = resolve_in(d, "lab1", text, &s).unwrap();
    assert_eq!((r.port, r.user.as_str()), (1010, "inc"));
    let r = resolve_in(d, "lab2", text, &s).unwrap();
    assert_eq!(r.port, 2020);
    // A Host line inside an included file ends with that file.
    let r = resolve_in(d, "x", "Include conf.d/10-lab.conf\nUser after\n", &s).unwrap();
    assert_eq!(r.user, "after");
}

#[test]
fn match_all_and_host_apply_other_match_blocks_are_skipped() {
    let text = "\
Host lab1
  HostName 10.0.0.1
Match exec \"true\"
  Port 1111
Match host 10.0.0.* user root
  Port 2222
Match originalhost lab1 !localuser nobody
  User root
Match all
  IdentityFile /keys/all
";
    // `Match host` sees the HostName obtained so far; user is still unset there.
    let r = resolve_text("lab1", text);
    assert_eq!(r.port, 22);
    assert_eq!(r.user, "root");
    assert_eq!(r.identity_files, paths(&["/keys/all"]));
    let r = resolve_text("root@lab1", text);
    assert_eq!(r.port, 2222);
}

#[test]
fn host_key_policy_and_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let no = SshSettings {
        strict_host_key_checking: Strict::No,
        ..SshSettings::default()
    };
    let r = resolve_in(dir.path(), "a", "", &no).unwrap();
    assert_eq!(r.strict, Strict::No, "the driver conf is the default");
    let text = "StrictHostKeyChecking ask\n";
    let r = resolve_in(dir.path(), "a", text, &no).unwrap();
    assert_eq!(r.strict, Strict::Yes, "ssh_config wins; ask means yes");

    let text = "Host a\n  ProxyJump bastion\nHost *\n  ProxyCommand nc %h %p\n";
    assert_eq!(
        resolve_text("a", text).proxy.as_deref(),
        Some("ProxyJump bastion")
    );
    assert_eq!(
        resolve_text("b", text).proxy.as_deref(),
        Some("ProxyCommand nc %h %p")
    );
    let text = "Host a\n  ProxyJump none\nHost *\n  ProxyJump bastion\n";
    assert_eq!(resolve_text("a", text).proxy, None);
}

#[test]
fn bad_values_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = SshSettings::default();
    let e = resolve_in(dir.path(), "a", "Host *\n  Port twenty\n", &s).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("config, line 2: Port twenty is not a port number"),
        "{msg}"
    );
    let e = resolve_in(dir.path(), "a", "User \"root\n", &s).unwrap_err();
    assert!(e.to_string().contains("unterminated quote"), "{e}");
    // A bad value in a block that does not apply is not our business.
    assert!(resolve_in(dir.path(), "a", "Host b\n  Port x\n", &s).is_ok());
}

#[test]
fn an_explicit_config_file_replaces_the_standard_ones_and_must_exist() {
    let s = SshSettings {
        config_file: Some(PathBuf::from("/nonexistent/ssh_config")),
        ..SshSettings::default()
    };
    let files = config_files(&s, &me());
    assert_eq!(files.len(), 1);
    let e = resolve_with("a", &files, &s, &me()).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read the ssh configuration /nonexistent/ssh_config"),
        "{e}"
    );
    let files = config_files(&SshSettings::default(), &me());
    assert_eq!(
        files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
        paths(&["/home/op/.ssh/config", "/etc/ssh/ssh_config"])
    );
}
