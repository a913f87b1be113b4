//! Section 4: monitor cost against the number of images (DS monitor, TM
//! monitor on the front-end, TM monitor_ds as a host runs it) and copy
//! time against image size; both become the curves of the plot.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;

use crate::copy::{allocated, clean_dst, clone_case, make_file, Image};
use crate::measure::{fe_sh, median, run, run_ok, GIB, MIB};
use crate::report::{mib, ms, ratio, s, Report, Table};
use crate::{short, unsupported, Bench, TRANSPORTS};

const COUNTS: [usize; 4] = [10, 100, 1_000, 10_000];

/// Builds the command (and its stdin) measuring a datastore at a root.
type MakeCmd<'a> = dyn Fn(&Path) -> (Command, Vec<u8>) + 'a;

/// `<root>/0/<vm>/disk.0` for `n` VMs (4 KiB of data in a 1 MiB file each)
/// and `<root>/100/<image>` for `n` images; returns `root`.
fn datastores(b: &Bench, n: usize) -> PathBuf {
    let root = b.scratch.path().join(format!("scale-{n}"));
    for i in 0..n {
        let vm = root.join("0").join(i.to_string());
        std::fs::create_dir_all(&vm).unwrap();
        let f = std::fs::File::create(vm.join("disk.0")).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[1u8; 4096], 0).unwrap();
        f.set_len(MIB).unwrap();
        let img = root.join("100").join(format!("{i:032x}"));
        std::fs::create_dir_all(img.parent().unwrap()).unwrap();
        std::fs::File::create(img).unwrap().set_len(MIB).unwrap();
    }
    root
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(s)
        .into_bytes()
}

/// Median seconds of `reps` runs of `mk()`; Err when the action is missing.
fn time(reps: usize, mk: &dyn Fn() -> (Command, Vec<u8>)) -> Result<f64, String> {
    let mut v = Vec::new();
    for _ in 0..reps {
        let (c, stdin) = mk();
        let program = Path::new(c.get_program());
        let name = program
            .iter()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<PathBuf>()
            .display()
            .to_string();
        let r = run(c, &stdin);
        if !r.ok() {
            return Err(if unsupported(&r.stderr) {
                format!("`{name}` is not implemented in this build")
            } else {
                format!("`{name}` failed: {}", r.reason())
            });
        }
        v.push(r.secs);
    }
    Ok(median(&v))
}

pub fn monitor(b: &Bench, r: &mut Report) {
    let reps = b.reps.max(3);
    let remotes = &b.env("ssh", crate::tm_support::Transport::Ssh2).remotes;
    let action = |p: &str| remotes.join(p);
    let kinds: [(&str, &MakeCmd<'_>); 3] = [
        ("DS `datastore/fs/monitor` (df of BASE_PATH)", &|root| {
            let dump = format!(
                "<DS_DRIVER_ACTION_DATA><DATASTORE><ID>100</ID><DS_MAD>fs</DS_MAD><TM_MAD>ssh</TM_MAD>\
                 <TYPE>0</TYPE><BASE_PATH>{}</BASE_PATH><TEMPLATE/></DATASTORE></DS_DRIVER_ACTION_DATA>",
                root.join("100").display()
            );
            let mut c = Command::new(action("datastore/fs/monitor"));
            c.arg("100");
            (c, b64(&dump))
        }),
        (
            "TM `tm/shared/monitor` (front-end, MONITOR_VM_DISKS)",
            &|root| {
                let data = format!(
                "<DS_DRIVER_ACTION_DATA><DATASTORE_LOCATION>{}</DATASTORE_LOCATION><DATASTORE><ID>0</ID>\
                 <TEMPLATE><BRIDGE_LIST></BRIDGE_LIST></TEMPLATE></DATASTORE>\
                 <MONITOR_VM_DISKS>1</MONITOR_VM_DISKS></DS_DRIVER_ACTION_DATA>",
                root.display()
            );
                let mut c = Command::new(action("tm/shared/monitor"));
                c.arg("0");
                (c, b64(&data))
            },
        ),
        ("TM `tm/ssh/monitor_ds` (as a host runs it)", &|root| {
            let mut c = Command::new(action("tm/ssh/monitor_ds"));
            c.arg(root.join("0"));
            (c, Vec::new())
        }),
    ];
    let mut t = Table::new(&["images", kinds[0].0, kinds[1].0, kinds[2].0]);
    let mut curves: Vec<Vec<(f64, f64)>> = vec![Vec::new(); kinds.len()];
    for n in COUNTS {
        let root = datastores(b, n);
        let mut row = vec![n.to_string()];
        for (k, (_, mk)) in kinds.iter().enumerate() {
            match time(reps, &|| mk(&root)) {
                Ok(secs) => {
                    row.push(ms(secs));
                    curves[k].push((n as f64, secs * 1e3));
                }
                Err(e) => {
                    row.push("-".into());
                    r.note(format!("not measured: {e}"));
                }
            }
        }
        t.row(row);
        let _ = std::fs::remove_dir_all(&root);
    }
    r.section(
        "4. Scaling",
        "Monitor cost against the number of images: a system datastore with one VM directory per \
         image (`0/<vm>/disk.0`, 4 KiB of data each) and an image datastore with as many files. \
         Each run is a whole process, started through the installed symlink.",
    );
    r.table(&t);
    let names = ["DS monitor", "TM shared monitor", "TM monitor_ds"];
    let mut verdict: Option<(bool, String)> = None;
    for (k, c) in curves.iter().enumerate() {
        r.curve(0, names[k], c.clone());
        if k == 0 || c.len() < COUNTS.len() {
            continue;
        }
        let (t10k, t1k, t100) = (c[3].1, c[2].1, c[1].1);
        // Linear: the cost per image added stays the same order (or falls).
        let per_big = (t10k - t1k) / 9000.0;
        let per_mid = ((t1k - t100) / 900.0).max(1e-6);
        let linear = per_big <= 3.0 * per_mid + 0.002;
        let ok = linear && t10k < 200.0;
        let msg = format!(
            "{}: {t10k:.1} ms at 10 000 images, {:.1} µs per image (100→1000: {:.1} µs)",
            names[k],
            per_big * 1e3,
            per_mid * 1e3
        );
        verdict = Some(match verdict {
            None => (ok, msg),
            Some((o, m)) => (o && ok, format!("{m}; {msg}")),
        });
    }
    match verdict {
        Some((ok, msg)) => r.target(
            "monitor linear in the images, under 200 ms at 10 000",
            msg,
            Some(ok),
        ),
        None => r.target(
            "monitor linear in the images, under 200 ms at 10 000",
            "TM monitor not implemented in this build".into(),
            None,
        ),
    }
}

/// Copy time (fe → lab1) against size, dense and sparse (1/16 data), for
/// tm/ssh/clone over each transport, with the `ssh cat` stream as baseline.
pub fn copy_sizes(b: &Bench, r: &mut Report) {
    let reps = b.reps.clamp(1, 3);
    let mut sizes = vec![64 * MIB, 256 * MIB, GIB, 4 * GIB];
    if b.quick {
        sizes.truncate(3);
    }
    let mut t = Table::new(&[
        "size",
        "data",
        "method",
        "median time",
        "MiB/s of data",
        "vs baseline",
    ]);
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    // (transport, data bytes, dense?) -> clone seconds, to compare equal data.
    let mut by_data: Vec<(&str, u64, bool, f64)> = Vec::new();
    let mut push = |name: String, x: f64, y: f64| match curves.iter_mut().find(|c| c.0 == name) {
        Some(c) => c.1.push((x, y)),
        None => curves.push((name, vec![(x, y)])),
    };
    for &size in &sizes {
        for (density, data) in [("dense", size), ("1/16", size / 16)] {
            let name = format!("size-{}-{}", size / MIB, data / MIB);
            let p = b.lab.ds_root().join("1").join(&name);
            make_file(b, &p, size, data);
            let alloc = allocated(&p);
            // From 1 GiB of data on, a run takes 5-30 s: once.
            let n = if data >= GIB { 1 } else { reps };
            // Dense: the `ssh cat` stream; sparse: `tar -S` (cat would send the holes).
            let (base_name, script) = if data == size {
                (
                    "ssh cat",
                    format!("ssh lab1 'cat > /dev/null' < {}", p.display()),
                )
            } else {
                (
                    "tar -S",
                    format!(
                        "tar -cSf - -C {} {name} | ssh lab1 'mkdir -p {d} && tar -xSf - -C {d}'",
                        p.parent().unwrap().display(),
                        d = b.lab.ds_root().join("0/7").display()
                    ),
                )
            };
            // Median seconds of `n` runs of a pipeline from the front-end.
            let timed = |script: &str| {
                let v: Vec<f64> = (0..n)
                    .map(|_| {
                        let secs = run_ok(fe_sh(&b.lab, script), b"").secs;
                        clean_dst(b);
                        secs
                    })
                    .collect();
                median(&v)
            };
            let base_s = timed(&script);
            let x = size as f64 / MIB as f64;
            let row = |t: &mut Table, method: String, secs: f64| {
                t.row(vec![
                    mib(size),
                    format!("{density} ({})", mib(alloc)),
                    method,
                    s(secs),
                    format!("{:.0}", alloc as f64 / MIB as f64 / secs),
                    format!("{} of {base_name}", ratio(secs, base_s)),
                ]);
            };
            row(&mut t, format!("baseline `{base_name}` over ssh"), base_s);
            push(format!("{base_name}, {density}"), x, base_s);
            if data == size {
                // What any copy that writes the file on lab1 cannot beat.
                let write = format!(
                    "ssh lab1 'mkdir -p {d} && cat > {d}/cat.out' < {}",
                    p.display(),
                    d = b.lab.ds_root().join("0/7").display()
                );
                let w = timed(&write);
                row(&mut t, "baseline `ssh cat > file` over ssh".into(), w);
                push(format!("ssh cat > file, {density}"), x, w);
            }
            let img = Image {
                name: "",
                files: vec![name.clone()],
                format: "raw",
                allocated: alloc,
                apparent: size,
            };
            let case = clone_case(b, &img, "fe");
            for tr in TRANSPORTS {
                let v: Result<Vec<f64>, String> = (0..n).map(|_| case.run_once(b, tr)).collect();
                match v {
                    Ok(v) => {
                        let m = median(&v);
                        row(&mut t, format!("`tm/ssh/clone` over {}", short(tr)), m);
                        push(format!("tm/ssh/clone {}, {density}", short(tr)), x, m);
                        by_data.push((short(tr), data, data == size, m));
                    }
                    Err(e) => r.note(format!("not measured: {e}")),
                }
            }
            let _ = std::fs::remove_file(&p);
        }
    }
    r.text("Copy time against image size, front-end to lab1 (the right-hand plot):");
    r.table(&t);
    // Sparse: the same data in a 16 times larger file must not take longer.
    let mut worst: Option<(f64, String)> = None;
    for (tr, data, dense, secs) in &by_data {
        if *dense {
            continue;
        }
        if let Some((.., d)) = by_data.iter().find(|x| x.0 == *tr && x.1 == *data && x.2) {
            let rel = secs / d;
            if worst.as_ref().is_none_or(|w| rel > w.0) {
                worst = Some((
                    rel,
                    format!(
                        "{} in a {} file vs dense, over {tr}",
                        mib(*data),
                        mib(data * 16)
                    ),
                ));
            }
        }
    }
    r.target(
        "sparse copy time follows allocated bytes, not apparent size",
        worst
            .as_ref()
            .map_or("tm/ssh/clone not measured".into(), |(rel, what)| {
                format!("worst {rel:.2}x the time of the same data dense ({what})")
            }),
        worst.map(|(rel, _)| rel <= 1.25),
    );
    for (name, points) in curves {
        r.curve(1, &name, points);
    }
}
