//! The few lines `rheo run` ends with: what ran, how many spikes each
//! group fired, where the wall time went and where the results are, so
//! that a user need not open run.json to know whether the run did what
//! they meant.

use std::path::Path;

/// One neuron group's part of the summary.
pub struct GroupSpikes {
    pub name: String,
    pub neurons: usize,
    pub spikes: u64,
}

/// Everything the summary says.
pub struct Closing<'a> {
    /// run.json's status: completed, interrupted or failed.
    pub status: &'a str,
    /// Simulated time, seconds.
    pub simulated: f64,
    /// Wall time of the simulation (all actions), seconds.
    pub wall: f64,
    pub threads: usize,
    pub groups: Vec<GroupSpikes>,
    /// Wall time of each phase, seconds, in the order they ran.
    pub phases: Vec<(&'static str, f64)>,
    pub out: &'a Path,
    /// The files written into `out`, run.json first.
    pub files: Vec<String>,
}

/// The summary, one line per topic, each ending in a newline.
pub fn render(c: &Closing) -> String {
    let mut text = format!(
        "{}: {} of simulated time in {}",
        c.status,
        crate::progress::seconds(c.simulated),
        seconds(c.wall)
    );
    if c.wall > 0.0 && c.simulated > 0.0 {
        text.push_str(&format!(
            " ({}× real time",
            crate::progress::significant(c.simulated / c.wall)
        ));
        text.push_str(&format!(
            ", {} thread{})",
            c.threads,
            if c.threads == 1 { "" } else { "s" }
        ));
    }
    text.push('\n');
    if !c.groups.is_empty() {
        let groups: Vec<String> = c
            .groups
            .iter()
            .map(|g| {
                let rate = if c.simulated > 0.0 && g.neurons > 0 {
                    format!(
                        " ({} Hz per neuron)",
                        crate::progress::significant(
                            g.spikes as f64 / g.neurons as f64 / c.simulated
                        )
                    )
                } else {
                    String::new()
                };
                format!("{} {}{rate}", g.name, g.spikes)
            })
            .collect();
        text.push_str(&format!("  spikes: {}\n", groups.join(", ")));
    }
    let phases: Vec<String> = c
        .phases
        .iter()
        .map(|(name, s)| format!("{name} {}", seconds(*s)))
        .collect();
    text.push_str(&format!("  wall time: {}\n", phases.join(", ")));
    text.push_str(&format!(
        "  results: {} ({})\n",
        c.out.display(),
        c.files.join(", ")
    ));
    text
}

/// A duration for people: `12 ms`, `1.5 s`, `< 1 ms`.
fn seconds(s: f64) -> String {
    if s < 1e-3 {
        "< 1 ms".to_string()
    } else if s < 1.0 {
        format!("{} ms", (s * 1e3).round())
    } else {
        format!("{} s", crate::progress::significant(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_run_reads_in_four_lines() {
        let text = render(&Closing {
            status: "completed",
            simulated: 1.0,
            wall: 2.0,
            threads: 2,
            groups: vec![GroupSpikes {
                name: "G".into(),
                neurons: 10,
                spikes: 50,
            }],
            phases: vec![("parse", 0.0002), ("simulate", 1.5)],
            out: Path::new("out"),
            files: vec!["run.json".into(), "spikes.npz".into()],
        });
        assert_eq!(
            text,
            "completed: 1 s of simulated time in 2 s (0.5× real time, 2 threads)\n\
             \x20 spikes: G 50 (5 Hz per neuron)\n\
             \x20 wall time: parse < 1 ms, simulate 1.5 s\n\
             \x20 results: out (run.json, spikes.npz)\n"
        );
    }
}
