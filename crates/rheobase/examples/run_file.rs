//! Runs a model file as `rheo run` would and prints what each monitor
//! recorded.
//!
//! ```text
//! cargo run -p rheobase --example run_file -- spec-examples/lif.model
//! ```

use rheobase::{Model, MonitorData, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spec-examples/lif.model".to_string());
    // Errors print as `FILE:LINE:COL: error: ...` with the source line.
    let model = match Model::load(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut sim = model.simulation(Options::default())?;
    sim.run_script()?;
    println!("{path}: simulated {:.3} s (seed {})", sim.t(), sim.seed());
    for (group, spikes) in sim.spike_counts() {
        println!("  group {group}: {spikes} spikes");
    }
    for monitor in sim.monitors() {
        match monitor {
            MonitorData::Spike { name, t, .. } => println!("  {name}: {} spikes", t.len()),
            MonitorData::State {
                name, t, variables, ..
            } => println!(
                "  {name}: {} samples of {}",
                t.len(),
                variables
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            MonitorData::Rate { name, rate, .. } => {
                let mean = rate.iter().sum::<f64>() / rate.len().max(1) as f64;
                println!("  {name}: mean rate {mean:.2} Hz");
            }
        }
    }
    Ok(())
}
