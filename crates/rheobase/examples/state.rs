//! Reads and writes state variables between runs: starts every neuron at
//! a different potential, runs, reads the potentials back, clamps them
//! and runs again.
//!
//! ```text
//! cargo run -p rheobase --example state
//! ```

use rheobase::{Model, Options};

const MODEL: &str = "\
El = -70*mV
NeuronGroup G(5):
    model:
        dv/dt = (El - v)/(10*ms) : volt
    method: exact
";

fn main() -> Result<(), rheobase::Error> {
    let model = Model::from_source("state.model", MODEL)?;
    let mut sim = model.simulation(Options::seed(1))?;
    // Values are in SI base units: volts, not millivolts.
    let start: Vec<f64> = (0..5).map(|k| -0.070 + 0.005 * k as f64).collect();
    sim.set("G", "v", &start)?;
    sim.run(0.010)?;
    let v = sim.get("G", "v")?;
    println!("after 10 ms (one time constant), v in mV:");
    for (k, value) in v.iter().enumerate() {
        println!("  neuron {k}: {:8.3}", value * 1e3);
    }
    // A wrong length is an error, not a silent truncation.
    if let Err(e) = sim.set("G", "v", &[0.0; 3]) {
        println!("as expected: {e}");
    }
    sim.fill("G", "v", -0.050)?;
    sim.run(0.010)?;
    println!(
        "t = {:.3} s, v[0] = {:.3} mV",
        sim.t(),
        sim.get("G", "v")?[0] * 1e3
    );
    Ok(())
}
