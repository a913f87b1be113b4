//! Section 3 (copy throughput and bytes on the wire, front-end to host and
//! host to host, against `tar -S | ssh tar -xS` and `ssh cat >/dev/null`)
//! and section 5 (binary size, peak memory of a 4 GiB copy).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixed::TmCase;
use crate::measure::{fe_sh, median, run_ok, tool, Wire, GIB, MIB};
use crate::report::{mib, ratio, s, Report, Table};
use crate::tm_support::{Disk, Transport, Vm};
use crate::{short, Bench, TRANSPORTS};
use one_storage::command::Cmd;
use one_storage::transport::{pipe, Hosts, SshSettings, TransportKind};

/// A test image: its files (relative to the image datastore `1/`), the
/// first one being what oned names, and its disk format.
pub struct Image {
    pub name: &'static str,
    pub files: Vec<String>,
    pub format: &'static str,
    /// Allocated bytes of all files (what must cross the wire).
    pub allocated: u64,
    pub apparent: u64,
}

/// Random data from one shared 64 MiB block (fast to write, incompressible
/// enough for ssh, which does not compress here anyway).
pub fn random_block(b: &Bench) -> PathBuf {
    let p = b.scratch.path().join("random-64m");
    if !p.exists() {
        run_ok(
            tool(
                "dd",
                &[
                    "if=/dev/urandom",
                    &format!("of={}", p.display()),
                    "bs=1M",
                    "count=64",
                    "status=none",
                ],
            ),
            b"",
        );
    }
    p
}

/// A file of `apparent` bytes with `data` bytes of random data spread in 64
/// MiB extents over it (dense when data == apparent).
pub fn make_file(b: &Bench, p: &Path, apparent: u64, data: u64) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let block = random_block(b);
    std::fs::File::create(p).unwrap().set_len(apparent).unwrap();
    let extents = data.div_ceil(64 * MIB).max(1);
    let stride = apparent / extents;
    for i in 0..extents {
        let n = (data - i * 64 * MIB).min(64 * MIB);
        run_ok(
            tool(
                "dd",
                &[
                    &format!("if={}", block.display()),
                    &format!("of={}", p.display()),
                    "bs=1M",
                    &format!("count={}", n / MIB),
                    &format!("seek={}", i * stride / MIB),
                    "conv=notrunc",
                    "status=none",
                ],
            ),
            b"",
        );
    }
}

/// Allocated bytes of a regular file (0 for links and directories).
pub fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p)
        .map(|m| if m.is_file() { m.blocks() * 512 } else { 0 })
        .unwrap_or(0)
}

/// The three images of section 3, in `<ds_root>/1` on the front-end.
fn images(b: &Bench) -> Vec<Image> {
    let dir = b.lab.ds_root().join("1");
    let p = |n: &str| dir.join(n);
    make_file(b, &p("sparse"), 4 * GIB, 256 * MIB);
    make_file(b, &p("dense"), GIB, GIB);
    // qcow2 in the datastore's snapshot layout: `chain -> chain.snap/1`, an
    // overlay (64 MiB of data) on `chain.snap/0` (1 GiB virtual, 128 MiB).
    let snap = p("chain.snap");
    let _ = std::fs::remove_dir_all(&snap);
    std::fs::create_dir_all(&snap).unwrap();
    make_file(b, &p("base.raw"), GIB, 128 * MIB);
    let (base, top) = (snap.join("0"), snap.join("1"));
    run_ok(
        qemu_img(&["convert", "-O", "qcow2"], &[&p("base.raw"), &base]),
        b"",
    );
    let _ = std::fs::remove_file(p("base.raw"));
    run_ok(
        qemu_img(
            &["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"],
            &[&base, &top],
        ),
        b"",
    );
    run_ok(
        tool(
            "qemu-io",
            &["-c", "write -P 0x5a 256M 64M", &top.display().to_string()],
        ),
        b"",
    );
    std::os::unix::fs::symlink(".", snap.join("chain.snap")).unwrap();
    let _ = std::fs::remove_file(p("chain"));
    std::os::unix::fs::symlink("chain.snap/1", p("chain")).unwrap();
    let image = |name, files: Vec<&str>, format| {
        let files: Vec<String> = files.into_iter().map(String::from).collect();
        let allocated = files.iter().map(|f| allocated(&p(f))).sum();
        let apparent = files
            .iter()
            .map(|f| {
                std::fs::symlink_metadata(p(f))
                    .map(|m| if m.is_file() { m.len() } else { 0 })
                    .unwrap_or(0)
            })
            .sum();
        Image {
            name,
            files,
            format,
            allocated,
            apparent,
        }
    };
    vec![
        image("(a) 4 GiB raw, 256 MiB of data", vec!["sparse"], "raw"),
        image("(b) 1 GiB raw, random data", vec!["dense"], "raw"),
        image(
            "(c) qcow2 chain (chain -> chain.snap/1 on chain.snap/0)",
            vec![
                "chain",
                "chain.snap/1",
                "chain.snap/0",
                "chain.snap/chain.snap",
            ],
            "qcow2",
        ),
    ]
}

fn qemu_img(args: &[&str], paths: &[&Path]) -> Command {
    let mut c = Command::new("qemu-img");
    c.args(args).args(paths);
    c
}

/// Where a copy starts: the front-end, or lab2 (a host pushing to lab1).
#[derive(Clone, Copy, PartialEq)]
enum From {
    Frontend,
    Lab2,
}

/// One measured way of copying: median seconds, bytes on the wire.
struct Figure {
    secs: f64,
    bytes: u64,
}

/// What a figure of section 3 measures.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Tar,
    Cat,
    Ssh2Cat,
    Write,
    Clone(Transport),
}

/// One way of copying, run `reps` times.
struct Method<'a> {
    which: Which,
    reps: usize,
    once: Box<dyn FnMut() -> Result<f64, String> + 'a>,
}

impl<'a> Method<'a> {
    fn new(which: Which, reps: usize, once: impl FnMut() -> Result<f64, String> + 'a) -> Self {
        Method {
            which,
            reps,
            once: Box::new(once),
        }
    }
}

/// Runs the methods in turn, one repetition of each at a time (ABCABC...),
/// so that the machine's slow and fast phases fall on all of them alike:
/// the ratios between them are what the targets judge.
fn measure_in_turn(
    b: &Bench,
    clean: &dyn Fn(),
    mut methods: Vec<Method<'_>>,
) -> Vec<(Which, Result<Figure, String>)> {
    let mut got: Vec<(Vec<f64>, Vec<f64>, Option<String>)> = methods
        .iter()
        .map(|_| (Vec::new(), Vec::new(), None))
        .collect();
    let most = methods.iter().map(|m| m.reps).max().unwrap_or(0);
    for rep in 0..most {
        for (m, g) in methods.iter_mut().zip(got.iter_mut()) {
            if rep >= m.reps || g.2.is_some() {
                continue;
            }
            clean();
            let wire = Wire::start(&b.lab);
            match (m.once)() {
                Ok(secs) => {
                    g.0.push(secs);
                    g.1.push(wire.stop().bytes as f64);
                }
                Err(e) => g.2 = Some(e),
            }
        }
    }
    clean();
    methods
        .iter()
        .zip(got)
        .map(|(m, (times, bytes, err))| {
            let fig = match err {
                Some(e) => Err(e),
                None => Ok(Figure {
                    secs: median(&times),
                    bytes: median(&bytes) as u64,
                }),
            };
            (m.which, fig)
        })
        .collect()
}

/// The destination directory on lab1 for baselines and clones.
fn dst_dir(b: &Bench) -> PathBuf {
    b.lab.ds_root().join("0/7")
}

pub fn clean_dst(b: &Bench) {
    let d = b.lab.host_path("lab1", &dst_dir(b));
    let _ = std::fs::remove_dir_all(&d);
}

/// The clone action for `img` from `from` to lab1.
pub fn clone_case(b: &Bench, img: &Image, from: &str) -> TmCase {
    let src = format!(
        "{from}:{}",
        Bench::path(&b.lab, &format!("1/{}", img.files[0]))
    );
    let dst = format!("lab1:{}", dst_dir(b).join("disk.0").display());
    let disk = Disk::new(0)
        .attr("FORMAT", img.format)
        .attr("SIZE", &(img.apparent / MIB).to_string());
    for t in TRANSPORTS {
        let vm = Vm::new(7).disk(disk.clone()).on("lab1", 0);
        b.env("ssh", t).set_vm(7, &vm.xml());
    }
    TmCase {
        driver: "ssh",
        action: "clone",
        args: vec![src, dst, "7".into(), "1".into()],
        prep: Box::new(clean_dst),
        peak: (img.apparent >= 4 * GIB).then(|| {
            format!(
                "`tm/ssh/clone` {from} → lab1, {} apparent, {} allocated",
                mib(img.apparent),
                mib(img.allocated)
            )
        }),
    }
}

/// Puts the image files on lab2 too (same path), for host-to-host copies.
fn place_on_lab2(b: &Bench, img: &Image) {
    for f in &img.files {
        let src = b.lab.ds_root().join("1").join(f);
        let dst = b.lab.host_path("lab2", &src);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        if std::fs::symlink_metadata(&dst).is_ok() {
            continue;
        }
        run_ok(
            tool(
                "cp",
                &[Path::new("-a"), Path::new("--sparse=always"), &src, &dst],
            ),
            b"",
        );
    }
}

pub fn throughput(b: &Bench, r: &mut Report) {
    let reps = b.reps.clamp(1, 3);
    let imgs = images(b);
    let mut t = Table::new(&[
        "image",
        "from",
        "method",
        "median time",
        "MiB/s of allocated data",
        "bytes on the wire",
        "time vs tar -S",
        "time vs ssh cat",
    ]);
    let mut dense_ratio: Vec<(String, f64)> = Vec::new();
    let mut sparse_ok: Vec<(String, f64)> = Vec::new();
    let mut dense_ssh2: Vec<(String, f64)> = Vec::new();
    let mut dense_write: Vec<(String, f64)> = Vec::new();
    for img in &imgs {
        place_on_lab2(b, img);
        for from in [From::Frontend, From::Lab2] {
            let who = if from == From::Frontend {
                "front-end"
            } else {
                "lab2"
            };
            let dir = Bench::path(&b.lab, "1");
            let dst = dst_dir(b).display().to_string();
            let files = img.files.join(" ");
            let tar = format!(
                "tar -cSf - -C {dir} {files} | ssh lab1 'mkdir -p {dst} && tar -xSf - -C {dst}'"
            );
            let data_files: Vec<&str> = img
                .files
                .iter()
                .map(String::as_str)
                .filter(|f| {
                    std::fs::symlink_metadata(b.lab.ds_root().join("1").join(f))
                        .is_ok_and(|m| m.is_file())
                })
                .collect();
            // The ceiling, `ssh host 'cat > /dev/null' < file`: ssh
            // reads the file itself. Several files (a chain) go through cat.
            let cat = match data_files.as_slice() {
                [one] => format!("cd {dir} && ssh lab1 'cat > /dev/null' < {one}"),
                many => format!(
                    "cd {dir} && cat {} | ssh lab1 'cat > /dev/null'",
                    many.join(" ")
                ),
            };
            // From lab2, the baselines run as the front-end would start them:
            // `ssh lab2 '<pipeline>'` (one system-ssh connection more).
            let sh = |script: &str| match from {
                From::Frontend => fe_sh(&b.lab, script),
                From::Lab2 => fe_sh(&b.lab, &format!("ssh lab2 {}", sq(script))),
            };
            let clean = || clean_dst(b);
            // The 4 GiB of zeros of (a) take ~20 s through `cat`: once, from
            // the front-end only (host to host it is the same stream).
            let sparse = img.allocated * 2 < img.apparent;
            let dense_raw = !sparse && img.format == "raw";
            let cat_reps = if sparse { 1 } else { reps };
            let files_abs: Vec<PathBuf> = data_files
                .iter()
                .map(|f| b.lab.ds_root().join("1").join(f))
                .collect();
            // A dense copy also writes every byte on lab1: the same stream
            // into a file shows what that write costs on these 2 cores.
            let to_file = format!(
                "cd {dir} && ssh lab1 'mkdir -p {dst} && cat > {dst}/cat.out' < {}",
                data_files.join(" ")
            );
            let case = clone_case(b, img, if from == From::Frontend { "fe" } else { "lab2" });
            let mut methods: Vec<Method> = vec![Method::new(Which::Tar, reps, || {
                Ok(run_ok(sh(&tar), b"").secs)
            })];
            if !(sparse && from == From::Lab2) {
                methods.push(Method::new(Which::Cat, cat_reps, || {
                    Ok(run_ok(sh(&cat), b"").secs)
                }));
            }
            // The ssh2 transport encrypts in this process with libssh2: its
            // own stream ceiling, the same `cat > /dev/null` fed through it.
            if from == From::Frontend && dense_raw {
                methods.push(Method::new(Which::Ssh2Cat, reps, || {
                    Ok(libssh2_cat(b, &files_abs))
                }));
            }
            if dense_raw {
                methods.push(Method::new(Which::Write, reps, || {
                    Ok(run_ok(sh(&to_file), b"").secs)
                }));
            }
            for tr in TRANSPORTS {
                let case = &case;
                methods.push(Method::new(Which::Clone(tr), reps, move || {
                    case.run_once(b, tr)
                }));
            }
            let figs = measure_in_turn(b, &clean, methods);
            let fig = |w: Which| {
                figs.iter()
                    .find(|(x, _)| *x == w)
                    .and_then(|(_, f)| f.as_ref().ok())
            };
            let tar_fig = fig(Which::Tar).expect("the tar baseline ran");
            let cat_fig = fig(Which::Cat);
            let row = |t: &mut Table, method: String, f: &Figure| {
                t.row(vec![
                    img.name.to_string(),
                    who.to_string(),
                    method,
                    s(f.secs),
                    format!("{:.0}", img.allocated as f64 / MIB as f64 / f.secs),
                    mib(f.bytes),
                    ratio(f.secs, tar_fig.secs),
                    cat_fig.map_or("-".into(), |c| ratio(f.secs, c.secs)),
                ]);
            };
            for (w, f) in &figs {
                let f = match f {
                    Ok(f) => f,
                    Err(e) => {
                        r.note(format!("not measured: {e}"));
                        continue;
                    }
                };
                let method = match w {
                    Which::Tar => "baseline `tar -cSf - | ssh lab1 tar -xSf -`".to_string(),
                    Which::Cat => "baseline `ssh lab1 'cat > /dev/null' < file`".to_string(),
                    Which::Ssh2Cat => "baseline `cat > /dev/null` on lab1 through the ssh2 \
                                       transport (libssh2, in-process)"
                        .to_string(),
                    Which::Write => {
                        "baseline `ssh lab1 'cat > file' < file` (also writes on lab1)".to_string()
                    }
                    Which::Clone(tr) => format!("`tm/ssh/clone` over {}", short(*tr)),
                };
                row(&mut t, method, f);
                let Which::Clone(tr) = *w else { continue };
                let what = format!("{} from {who} over {}", img.name, short(tr));
                if sparse {
                    sparse_ok.push((what, f.secs / tar_fig.secs));
                } else if let (Some(c), true) = (cat_fig, dense_raw) {
                    dense_ratio.push((what.clone(), c.secs / f.secs));
                    if let Some(wf) = fig(Which::Write) {
                        dense_write.push((what.clone(), wf.secs / f.secs));
                    }
                    if let (Some(c2), Transport::Ssh2) = (fig(Which::Ssh2Cat), tr) {
                        dense_ssh2.push((what, c2.secs / f.secs));
                    }
                }
            }
        }
    }
    r.section(
        "3. Copy throughput",
        &format!(
            "Images: {}. \"From lab2\" is a host-to-host copy: the front-end tells lab2 to push \
             to lab1; its baselines run from the front-end as `ssh lab2 '<pipeline>'`, as a \
             driver must start them. Bytes on the wire are counted by the kernel: an nftables \
             counter (input hook) on every packet to or from the labs' sshd ports, both \
             directions, IP and TCP headers and SSH encryption included; other loopback \
             traffic on the machine is not counted. MiB/s is allocated \
             data over time. Files are in the page cache for every method alike. The methods \
             of one image and route run in turn, one repetition of each at a time, so that the \
             machine's slow and fast phases fall on all of them alike.",
            imgs.iter()
                .map(|i| format!(
                    "{} ({} allocated of {} apparent)",
                    i.name,
                    mib(i.allocated),
                    mib(i.apparent)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    r.table(&t);
    verdicts(r, &dense_ratio, &dense_ssh2, &dense_write, &sparse_ok);
}

/// `s` single-quoted for sh.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Seconds to stream `files` into `cat > /dev/null` on lab1 through the
/// ssh2 transport from this process, connection included (as `ssh cat`).
fn libssh2_cat(b: &Bench, files: &[PathBuf]) -> f64 {
    let settings = SshSettings {
        kind: TransportKind::Ssh2,
        config_file: Some(in_process_ssh_config(b)),
        ..SshSettings::default()
    };
    let start = std::time::Instant::now();
    let mut hosts = Hosts::new(settings);
    let (fe, lab1) = hosts.pair(None, Some("lab1")).expect("libssh2 to lab1");
    let cat = Cmd::new("cat")
        .arg("--")
        .args(files.iter().map(|f| f.display().to_string()));
    pipe(fe, &cat, lab1, &Cmd::shell("cat > /dev/null")).expect("libssh2 stream to lab1");
    start.elapsed().as_secs_f64()
}

/// An ssh_config for this process (not the wrapper): the lab's hosts with
/// its key and known_hosts by absolute path.
fn in_process_ssh_config(b: &Bench) -> PathBuf {
    let p = b.scratch.path().join("ssh2-config");
    if !p.exists() {
        let fe = b.lab.fe_ssh_dir();
        let mut c = String::new();
        for h in b.lab.hosts() {
            c += &format!(
                "Host {}\n  HostName {}\n  Port {}\n  User root\n",
                h.name, h.addr, h.port
            );
        }
        c += &format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n",
            fe.join("id_ed25519").display(),
            fe.join("known_hosts").display()
        );
        std::fs::write(&p, c).expect("writing the in-process ssh_config");
    }
    p
}

fn verdicts(
    r: &mut Report,
    dense: &[(String, f64)],
    dense_ssh2: &[(String, f64)],
    dense_write: &[(String, f64)],
    sparse: &[(String, f64)],
) {
    // The worst case of each transport (tm/ssh's default, the system ssh,
    // first); the verdict is the worst of all.
    let worst = |v: &[(String, f64)], lowest: bool, show: &dyn Fn(f64) -> String| {
        let pick = |t: &str| {
            v.iter()
                .filter(|(w, _)| w.ends_with(&format!("over {t}")))
                .cloned()
                .reduce(|a, x| if (x.1 < a.1) == lowest { x } else { a })
        };
        let per: Vec<(String, f64)> = ["ssh", "ssh2"].iter().filter_map(|t| pick(t)).collect();
        let all = per
            .iter()
            .map(|x| x.1)
            .reduce(|a, x| if (x < a) == lowest { x } else { a })?;
        let text = per
            .iter()
            .map(|(w, f)| format!("{} ({w})", show(*f)))
            .collect::<Vec<_>>()
            .join("; ");
        Some((all, format!("worst {text}")))
    };
    let mut line = |name: &str, v: &[(String, f64)], lowest: bool, limit: f64| {
        let show = |f: f64| {
            if lowest {
                format!("{:.0}%", f * 100.0)
            } else {
                format!("{f:.2}x the tar time")
            }
        };
        match worst(v, lowest, &show) {
            Some((f, text)) => {
                let met = if lowest { f >= limit } else { f <= limit };
                r.target(name, text, Some(met));
            }
            None => r.target(name, "tm/ssh/clone not measured in this run".into(), None),
        }
    };
    line(
        "dense copy: at least 90% of the `ssh cat` stream",
        dense,
        true,
        0.9,
    );
    line(
        "dense copy: at least 90% of the `ssh cat > file` stream (the same stream writing the file on lab1)",
        dense_write,
        true,
        0.9,
    );
    line(
        "dense copy over ssh2: at least 90% of the same stream through libssh2",
        dense_ssh2,
        true,
        0.9,
    );
    line(
        "sparse copy: at least as fast as `tar -S` over ssh",
        sparse,
        false,
        1.0,
    );
}

/// Copy actions for section 2 (connections per action).
pub fn count_cases(b: &Bench) -> Vec<TmCase> {
    let small = b.lab.ds_root().join("1/small");
    make_file(b, &small, 64 * MIB, MIB);
    let img = Image {
        name: "small",
        files: vec!["small".into()],
        format: "raw",
        allocated: MIB,
        apparent: 64 * MIB,
    };
    place_on_lab2(b, &img);
    vec![clone_case(b, &img, "fe"), clone_case(b, &img, "lab2")]
}

/// Section 5: binary size and peak memory of 4 GiB copies.
pub fn footprint(b: &Bench, r: &mut Report) {
    let size = std::fs::metadata(&b.bin).map(|m| m.len()).unwrap_or(0);
    let file = run_ok(tool("file", &[&b.bin]), b"").stdout;
    let stripped = file.contains(", stripped");
    let mut t = Table::new(&["what", "value"]);
    t.row(vec![
        format!(
            "binary size (release{})",
            if stripped {
                ", stripped"
            } else {
                ", NOT stripped"
            }
        ),
        mib(size),
    ]);
    let mut peak: Option<u64> = None;
    let mut seen: Vec<(String, u64, f64)> = Vec::new();
    for (what, rss, secs) in b.peaks.borrow().iter() {
        match seen.iter_mut().find(|x| x.0 == *what) {
            Some(x) => x.1 = x.1.max(*rss),
            None => seen.push((what.clone(), *rss, *secs)),
        }
    }
    for (what, rss, secs) in seen {
        t.row(vec![
            format!("peak RSS of {what} (a {} run)", s(secs)),
            mib(rss),
        ]);
        peak = Some(peak.unwrap_or(0).max(rss));
    }
    r.section(
        "5. Binary size and peak memory",
        "Peak RSS is `ru_maxrss` from wait4 on the action's process: the largest resident set of \
         the action and of the children it waited for (the system ssh client, qemu-img), on the \
         front-end.",
    );
    r.table(&t);
    r.target(
        "peak memory of a 4 GiB copy bounded (streaming)",
        peak.map_or("tm/ssh/clone not implemented in this build".into(), mib),
        peak.map(|p| p < 64 * MIB),
    );
}
