//! The front end's copy of a lowered program, without its bulk data.
//!
//! `rheo run` keeps a copy of the program for names, sizes and monitors
//! (run.json, the archives' metadata) while the simulation owns the
//! original. A TimedArray's values and a SpikeGeneratorGroup's spikes can
//! be most of a model's memory; the memory estimate counts the program's
//! copy and the simulation's, so this third one must not hold them.

use rheobase::kernel::program::Program;

/// A copy of `program` without table values and generator spike lists
/// (empty in the copy), made without ever holding them twice.
pub fn copy_without_data(program: &mut Program) -> Program {
    let tables: Vec<Vec<f64>> = program
        .tables
        .iter_mut()
        .map(|t| std::mem::take(&mut t.values))
        .collect();
    let spikes: Vec<Option<Vec<(u64, u32)>>> = program
        .groups
        .iter_mut()
        .map(|g| g.generator.as_mut().map(|p| std::mem::take(&mut p.spikes)))
        .collect();
    let copy = program.clone();
    for (t, values) in program.tables.iter_mut().zip(tables) {
        t.values = values;
    }
    for (g, list) in program.groups.iter_mut().zip(spikes) {
        if let (Some(plan), Some(list)) = (g.generator.as_mut(), list) {
            plan.spikes = list;
        }
    }
    copy
}
