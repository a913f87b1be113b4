//! A small HTTP/1.1 file server on 127.0.0.1 for download tests: GET and
//! HEAD with Content-Length, Range and If-Range, an ETag, and injected
//! faults (503 for the next N requests, a body cut after K bytes).
//! One thread per connection; every response closes its connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    fail_next: usize,
    cut_next: usize,
    cut_after: usize,
    log: Vec<String>,
}

pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || handle(c, &st));
                }
            }
        });
        Server {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn serve(&self, path: &str, data: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), data);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next `n` requests get 503 Service Unavailable.
    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// The next `n` full or ranged bodies stop after `after` bytes.
    pub fn cut_next(&self, n: usize, after: usize) {
        let mut s = self.state.lock().unwrap();
        s.cut_next = n;
        s.cut_after = after;
    }

    /// "METHOD PATH [range]" per request, in arrival order.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut c: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() || request.is_empty() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let range = headers.get("range").cloned();

    let (data, fail, cut) = {
        let mut s = state.lock().unwrap();
        s.log.push(
            format!("{method} {path} {}", range.clone().unwrap_or_default())
                .trim()
                .to_string(),
        );
        let fail = s.fail_next > 0;
        if fail {
            s.fail_next -= 1;
        }
        let cut = (!fail && method == "GET" && s.cut_next > 0).then(|| {
            s.cut_next -= 1;
            s.cut_after
        });
        (s.files.get(&path).cloned(), fail, cut)
    };
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n")
    };
    if fail {
        let _ = c.write_all(head("503 Service Unavailable", "Content-Length: 0\r\n").as_bytes());
        return;
    }
    let Some(data) = data else {
        let _ = c.write_all(head("404 Not Found", "Content-Length: 0\r\n").as_bytes());
        return;
    };
    let etag = format!("\"len-{}\"", data.len());
    let if_range_ok = headers.get("if-range").is_none_or(|v| *v == etag);
    let (status, body, extra) = match range.as_deref().and_then(parse_range) {
        Some((a, b)) if if_range_ok && a < data.len() => {
            let b = b.unwrap_or(data.len() - 1).min(data.len() - 1);
            (
                "206 Partial Content",
                &data[a..=b],
                format!("Content-Range: bytes {a}-{b}/{}\r\n", data.len()),
            )
        }
        _ => ("200 OK", &data[..], String::new()),
    };
    let extra = format!(
        "{extra}Content-Length: {}\r\nETag: {etag}\r\nAccept-Ranges: bytes\r\n",
        body.len()
    );
    if c.write_all(head(status, &extra).as_bytes()).is_err() || method == "HEAD" {
        return;
    }
    match cut {
        Some(n) => {
            let _ = c.write_all(&body[..n.min(body.len())]);
            let _ = c.flush();
            let _ = c.shutdown(Shutdown::Both);
        }
        None => {
            let _ = c.write_all(body);
        }
    }
}

/// `bytes=A-` or `bytes=A-B`.
fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()))
}
