//! `datastore/fs/cp` with http(s) sources: a loopback HTTP server that can
//! fail or cut transfers, and `openssl s_server` for TLS.

mod support;

use std::path::Path;
use std::time::Duration;

use support::http::Server;
use support::*;

fn http_dump(url: &str, base: &Path) -> Dump {
    Dump::new(url, base).ds("DOWNLOAD_RETRY_DELAY", "0.1")
}

#[test]
fn http_download_is_streamed_and_checked() {
    let fs = Fs::new();
    let srv = Server::start();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    srv.serve("/img.raw", data.clone());
    srv.serve("/img.raw.gz", gzip(&data));
    let base = fs.path("ds");
    let out = fs.run(
        "cp",
        "7",
        &http_dump(&srv.url("/img.raw"), &base)
            .image_tmpl("MD5", &md5_hex(&data))
            .b64(),
    );
    let (img, format) = source_and_format(&out.success());
    assert_eq!(format, "raw");
    assert!(std::fs::read(&img).unwrap() == data);
    assert!(out.stderr().contains(&format!(
        "Downloading image {} to the image repository",
        srv.url("/img.raw")
    )));
    assert_eq!(
        srv.log(),
        vec!["GET /img.raw"],
        "one request, no second fetch to sniff the type"
    );
    std::fs::remove_file(&img).unwrap();

    let (img, _) = cp_ok(&fs, &http_dump(&srv.url("/img.raw.gz"), &base), &base);
    assert!(std::fs::read(&img).unwrap() == data);
}

#[test]
fn http_transient_errors_are_retried() {
    let fs = Fs::new();
    let srv = Server::start();
    srv.serve("/a", vec![4u8; 100_000]);
    srv.fail_next(2);
    let base = fs.path("ds");
    let out = fs.run("cp", "7", &http_dump(&srv.url("/a"), &base).b64());
    out.success();
    assert_eq!(srv.log(), vec!["GET /a"; 3]);
    assert!(
        out.stderr()
            .contains("503 Service Unavailable); retry 1 of 3"),
        "{}",
        out.stderr()
    );

    // Always failing: bounded by DOWNLOAD_RETRIES, then a clear error.
    srv.fail_next(100);
    let out = fs.run(
        "cp",
        "7",
        &http_dump(&srv.url("/a"), &base)
            .ds("DOWNLOAD_RETRIES", "2")
            .b64(),
    );
    out.fails_with(&[
        &format!(
            "Cannot download {}: the server answered 503 Service Unavailable",
            srv.url("/a")
        ),
        "gave up after 3 attempts",
    ]);
    assert_eq!(files_in(&base).len(), 1, "only the first image");
}

#[test]
fn http_404_fails_fast_and_leaves_nothing() {
    let fs = Fs::new();
    let srv = Server::start();
    let base = fs.path("ds");
    let out = fs.run("cp", "7", &http_dump(&srv.url("/missing.img"), &base).b64());
    out.fails_with(&[&format!(
        "Cannot download {}: the server answered 404 Not Found: check IMAGE/PATH",
        srv.url("/missing.img")
    )]);
    assert_eq!(srv.log().len(), 1, "no retries for 404");
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
    assert!(!base.exists());

    // Nobody listening: connection errors are retried, then reported.
    let dead = format!("http://127.0.0.1:{}/x", free_port());
    fs.run(
        "cp",
        "7",
        &http_dump(&dead, &base).ds("DOWNLOAD_RETRIES", "1").b64(),
    )
    .fails_with(&[
        &format!("Cannot download {dead}: the connection was refused"),
        "gave up after 2 attempts",
    ]);
}

#[test]
fn http_body_cut_midway_is_resumed_with_a_range() {
    let fs = Fs::new();
    let srv = Server::start();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    srv.serve("/img", data.clone());
    srv.cut_next(1, 300_000);
    let base = fs.path("ds");
    let out = fs.run(
        "cp",
        "7",
        &http_dump(&srv.url("/img"), &base)
            .image_tmpl("SHA1", &sha1_hex(&data))
            .b64(),
    );
    let (img, _) = source_and_format(&out.success());
    assert!(std::fs::read(&img).unwrap() == data);
    let log = srv.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].starts_with("GET /img bytes="), "{log:?}");

    // Cut every time: the retry budget ends it, and nothing is left.
    std::fs::remove_file(&img).unwrap();
    srv.cut_next(100, 1000);
    fs.run(
        "cp",
        "7",
        &http_dump(&srv.url("/img"), &base)
            .ds("DOWNLOAD_RETRIES", "2")
            .b64(),
    )
    .fails_with(&["Cannot download", "gave up after 3 attempts"]);
    assert_eq!(files_in(&base), Vec::<std::path::PathBuf>::new());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl s_server -WWW` serving a directory over TLS with a self-signed
/// certificate; killed on drop.
struct TlsServer {
    child: std::process::Child,
    url: String,
    ca: std::path::PathBuf,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl (package openssl) is needed for the https test");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // A CA, and a server certificate for 127.0.0.1 signed by it.
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    &p("ca.key"),
                    "-out",
                    &p("ca.pem"),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=one-storage test CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &p("key.pem"),
                    "-out",
                    &p("leaf.csr"),
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("cert.pem"),
            "-days",
            "2",
            "-copy_extensions",
            "copy",
        ]);
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let port = free_port();
        let child = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-WWW",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
            ])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer {
            child,
            url: format!("https://127.0.0.1:{port}"),
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_certificates_are_verified_unless_disabled() {
    let fs = Fs::new();
    let www = fs.path("www");
    std::fs::create_dir_all(&www).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 239) as u8).collect();
    std::fs::write(www.join("img.raw"), &data).unwrap();
    let srv = TlsServer::start(&www);
    let url = format!("{}/img.raw", srv.url);
    let base = fs.path("ds");
    fs.run("cp", "7", &http_dump(&url, &base).b64())
        .fails_with(&[
            &format!("Cannot download {url}: TLS failed (invalid peer certificate"),
            "DOWNLOAD_CA_FILE",
            "DOWNLOAD_TLS_VERIFY=no",
        ]);
    assert!(!base.exists());
    let (img, _) = cp_ok(
        &fs,
        &http_dump(&url, &base).ds("DOWNLOAD_TLS_VERIFY", "no"),
        &base,
    );
    assert!(std::fs::read(&img).unwrap() == data);
    std::fs::remove_file(&img).unwrap();
    let (img, _) = cp_ok(
        &fs,
        &http_dump(&url, &base).ds("DOWNLOAD_CA_FILE", srv.ca.to_str().unwrap()),
        &base,
    );
    assert!(std::fs::read(&img).unwrap() == data);
}
