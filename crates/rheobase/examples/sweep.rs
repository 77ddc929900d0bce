//! A parameter sweep: the same model compiled with several values of a
//! constant, each run with the same seed, printing the firing rate.
//!
//! ```text
//! cargo run -p rheobase --example sweep
//! ```

use rheobase::{Model, Options};

const MODEL: &str = "\
I0 = 150*pA
NeuronGroup G(10):
    model:
        dv/dt = (-70*mV - v + 100*Mohm*I0*(1 + 0.1*i))/(10*ms) : volt
    threshold: v > -50*mV
    reset: v = -70*mV
    method: exact
    init:
        v = -70*mV
SpikeMonitor spikes(G)
";

fn main() -> Result<(), rheobase::Error> {
    let model = Model::from_source("sweep.model", MODEL)?;
    println!("I0      mean rate");
    for current in ["150*pA", "200*pA", "250*pA", "300*pA"] {
        // Recompiling is fast; each value is checked like the file (a
        // value in the wrong unit is an error naming the constant).
        let mut sim = model
            .with_overrides(&[("I0", current)])?
            .simulation(Options::seed(1))?;
        sim.run(0.5)?;
        let spikes = sim.spikes("spikes")?;
        let rate = spikes.t.len() as f64 / 10.0 / 0.5;
        println!("{current:7} {rate:6.1} Hz");
    }
    Ok(())
}
