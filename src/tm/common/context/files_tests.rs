//! Context sources: names, staging, downloads from a loopback HTTP server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use super::*;

fn file(path: &str, name: &str) -> Source {
    Source::File {
        path: PathBuf::from(path),
        name: name.to_string(),
    }
}

#[test]
fn names_from_paths_quotes_and_urls() {
    let p = |a: &str| parse_source(a).unwrap();
    assert_eq!(
        p("/var/lib/one/vms/42/context.sh"),
        file("/var/lib/one/vms/42/context.sh", "context.sh")
    );
    assert_eq!(p("/srv/dir/"), file("/srv/dir/", "dir"));
    assert_eq!(p("/ds/1/abc:'my file'"), file("/ds/1/abc", "my file"));
    assert_eq!(p("/ds/1/abc:'it's here'"), file("/ds/1/abc", "it's here"));
    assert_eq!(p("/ds/1/abc:plain"), file("/ds/1/abc", "plain"));
    assert_eq!(p("/ds/1/abc:'one"), file("/ds/1/abc", "'one"));
    assert_eq!(
        p("https://example.com:8443/a/init.sh?x=1"),
        Source::Url {
            url: "https://example.com:8443/a/init.sh?x=1".into(),
            name: "init.sh".into()
        }
    );
    assert_eq!(p("http://example.com").name(), "index.html");
    assert_eq!(p("http://example.com/d/").name(), "index.html");
}

#[test]
fn bad_names_are_refused() {
    for (arg, needle) in [
        ("/ds/1/abc:'../x'", "not a file name"),
        ("/ds/1/abc:''", "not a file name"),
        ("/ds/1/abc:a/b", "not a file name"),
        ("/", "not a file name"),
        ("relative/file", "not an absolute path"),
    ] {
        let e = parse_source(arg).unwrap_err().to_string();
        assert!(e.contains(needle), "{arg}: {e}");
    }
}

#[test]
fn staging_copies_files_trees_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("tree/sub")).unwrap();
    fs::write(src.join("a"), "A").unwrap();
    fs::write(src.join("tree/sub/b"), "B").unwrap();
    std::os::unix::fs::symlink("sub/b", src.join("tree/link")).unwrap();
    std::os::unix::fs::symlink(src.join("a"), src.join("alink")).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let s = |p: &str, n: &str| file(src.join(p).to_str().unwrap(), n);
    stage(
        &[
            s("a", "first"),
            s("tree", "tree"),
            s("alink", "it's a name"),
            s("a", "first"),
        ],
        &out,
    )
    .unwrap();
    assert_eq!(fs::read_to_string(out.join("first")).unwrap(), "A");
    assert_eq!(fs::read_to_string(out.join("tree/sub/b")).unwrap(), "B");
    assert_eq!(
        fs::read_link(out.join("tree/link")).unwrap(),
        Path::new("sub/b")
    );
    // The source link itself is followed.
    let m = fs::symlink_metadata(out.join("it's a name")).unwrap();
    assert!(m.file_type().is_file());
}

#[test]
fn a_missing_source_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = stage(&[file("/nonexistent/ctx/file", "f")], dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/ctx/file does not exist on the front-end"),
        "{msg}"
    );
}

/// Serves `responses` in turn, one per connection, on a loopback port.
fn serve(responses: Vec<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for r in responses {
            let (mut s, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ = s.write_all(r.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn downloads_retry_server_errors_and_stop_at_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let busy = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let base = serve(vec![busy, ok]);
    let src = parse_source(&format!("{base}/files/init.sh")).unwrap();
    stage(&[src], dir.path()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("init.sh")).unwrap(),
        "hello"
    );

    let missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let base = serve(vec![missing]);
    let e = download(&format!("{base}/x"), &dir.path().join("x")).unwrap_err();
    assert!(e.to_string().contains("HTTP status 404"), "{e}");
}
