//! The report: markdown tables, the targets (met or missed, with the
//! numbers), the curves for the plot, and the short summary on stdout.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

#[derive(Default)]
pub struct Report {
    /// Markdown, one section after the other.
    body: String,
    targets: Vec<Target>,
    pub curves: Vec<Curve>,
    notes: Vec<String>,
}

pub struct Target {
    pub name: String,
    pub measured: String,
    /// None: not measurable in this build (say why in `measured`).
    pub met: Option<bool>,
}

/// One line of the plot: (x, y) points; `panel` 0 = monitor, 1 = copy.
pub struct Curve {
    pub panel: usize,
    pub title: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut s = line(&self.head);
        s += &line(&vec!["---".to_string(); self.head.len()]);
        for r in &self.rows {
            s += &line(r);
        }
        s
    }
}

impl Report {
    pub fn section(&mut self, title: &str, intro: &str) {
        let _ = write!(self.body, "\n## {title}\n\n");
        if !intro.is_empty() {
            let _ = write!(self.body, "{intro}\n\n");
        }
    }

    pub fn table(&mut self, t: &Table) {
        self.body += &t.markdown();
        self.body += "\n";
    }

    pub fn text(&mut self, s: &str) {
        self.body += s;
        self.body += "\n\n";
    }

    pub fn target(&mut self, name: &str, measured: String, met: Option<bool>) {
        self.targets.push(Target {
            name: name.to_string(),
            measured,
            met,
        });
    }

    /// A line for the "how this run went" list (skipped sections, load).
    pub fn note(&mut self, s: String) {
        if !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }

    pub fn curve(&mut self, panel: usize, title: &str, points: Vec<(f64, f64)>) {
        if !points.is_empty() {
            self.curves.push(Curve {
                panel,
                title: title.to_string(),
                points,
            });
        }
    }

    fn targets_table(&self) -> String {
        let mut t = Table::new(&["target", "measured", "verdict"]);
        for x in &self.targets {
            let verdict = match x.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            t.row(vec![
                x.name.clone(),
                x.measured.clone(),
                verdict.to_string(),
            ]);
        }
        t.markdown()
    }

    /// Writes `<doc>` (markdown) and, when gnuplot is installed, `<png>`.
    pub fn write(&self, doc: &Path, png: &Path, header: &str) {
        let mut s = String::from(header);
        s += "\n## Targets\n\n";
        s += &self.targets_table();
        if !self.notes.is_empty() {
            s += "\nThis run:\n\n";
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s += "\nWhy the missed targets are missed, the profiles behind it and what was \
              tried: [performance-analysis.md](performance-analysis.md) (written by hand from \
              a run of this benchmark).\n";
        let _ = write!(
            s,
            "\n![scaling curves]({})\n",
            png.file_name().unwrap_or_default().to_string_lossy()
        );
        s += &self.body;
        std::fs::write(doc, s).unwrap_or_else(|e| panic!("write {}: {e}", doc.display()));
        self.plot(png);
    }

    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for t in &self.targets {
            let v = match t.met {
                Some(true) => "met   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(s, "  [{v}] {}: {}", t.name, t.measured);
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        s
    }

    fn plot(&self, png: &Path) {
        let mut gp = format!(
            "set terminal pngcairo size 1400,560 font 'DejaVu Sans,11'\nset output '{}'\n\
             set termoption noenhanced\nset multiplot layout 1,2\nset grid\nset key top left\nset logscale xy\n",
            png.display()
        );
        let panels = [
            (
                "Monitor time against images in the datastore",
                "images",
                "median time (ms)",
            ),
            (
                "Copy time against image size",
                "image size (MiB)",
                "median time (s)",
            ),
        ];
        for (p, (title, x, y)) in panels.iter().enumerate() {
            let _ = writeln!(
                gp,
                "set title '{title}'\nset xlabel '{x}'\nset ylabel '{y}'"
            );
            let curves: Vec<&Curve> = self.curves.iter().filter(|c| c.panel == p).collect();
            if curves.is_empty() {
                gp += "set label 1 'not measured in this run' at graph 0.3,0.5\nplot 1/0 notitle\nunset label 1\n";
                continue;
            }
            let plots: Vec<String> = curves
                .iter()
                .map(|c| {
                    let data: String = c.points.iter().map(|(x, y)| format!("{x} {y}\n")).collect();
                    format!(
                        "'-' using 1:2 with linespoints lw 2 title '{}'\n{data}e",
                        c.title.replace('\'', "")
                    )
                })
                .collect();
            // Inline data: each '-' reads the block that follows the plot line.
            let (specs, blocks): (Vec<String>, Vec<String>) = plots
                .iter()
                .map(|p| {
                    let (spec, data) = p.split_once('\n').unwrap_or((p, ""));
                    (spec.to_string(), data.to_string())
                })
                .unzip();
            let _ = writeln!(gp, "plot {}", specs.join(", "));
            for b in blocks {
                let _ = writeln!(gp, "{b}");
            }
        }
        gp += "unset multiplot\n";
        let script = png.with_extension("gp");
        let _ = std::fs::write(&script, &gp);
        match Command::new("gnuplot").arg(&script).output() {
            Ok(o) if o.status.success() => {
                let _ = std::fs::remove_file(&script);
            }
            Ok(o) => eprintln!(
                "gnuplot failed ({}); the script is {}",
                String::from_utf8_lossy(&o.stderr).trim(),
                script.display()
            ),
            Err(e) => eprintln!(
                "gnuplot not available ({e}): no plot; the script is {}",
                script.display()
            ),
        }
    }
}

/// Milliseconds with one decimal.
pub fn ms(secs: f64) -> String {
    format!("{:.1} ms", secs * 1e3)
}

/// Seconds with two decimals.
pub fn s(secs: f64) -> String {
    format!("{secs:.2} s")
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// `a / b` as `1.23x`.
pub fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}
