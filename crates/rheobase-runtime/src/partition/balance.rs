//! Where each group's neurons are split over ranks: contiguous ranges of
//! global index, ascending in rank order, chosen so that every rank holds
//! about the same share of the work and memory that scale with the rank
//! count.
//!
//! Each synapse lives on its target's rank, so a group whose neurons
//! receive unequal numbers of synapses (the excitatory part of a group
//! receiving plastic synapses, the inhibitory part static ones) split
//! into equal ranges leaves one rank with more synapses to hold and
//! update than the others, and the others waiting for it at every window.
//! The split weighs each neuron by what it costs its rank: its own state
//! (updated every step) and the bytes of the synapses expected onto it,
//! expected before connecting from the `connect:` rules over all pairs
//! (`p=`, with or without a condition, which is taken to keep the same
//! share of every target's candidates) and explicit `i=`/`j=` lists. A
//! group onto which some synapses come from other rules (`j='...'`
//! generators, `n='...'`), or whose neurons all weigh the same, keeps the
//! even split
//! ([`owned_range`]); so does every group whose arrays kernels of another
//! group of the same size read element by element, since those reads
//! need both groups split alike.
//!
//! The split is a function of the program and the rank count only, so
//! every rank computes the same one; results never depend on it (every
//! random draw is keyed by global index and merged lists are in global
//! order).

use std::ops::Range;

use rheobase_kernel::program::{ConnectPlan, Multiplicity, Program};
use rheobase_kernel::IndexSpace;

use super::{owned_range, walk};

/// Bytes a synapse costs besides its arrays: the pre/post indices and the
/// two indexes, the delay in steps, and the lists the connection is built
/// in (the memory budget's figure, `Simulation::connect_budget`).
pub(crate) const SYNAPSE_OVERHEAD_BYTES: usize = 28;

/// How every group's neurons are split over the ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    ranks: usize,
    /// Per group: `ranks + 1` ascending bounds from 0 to the group's size,
    /// or empty for the even split.
    bounds: Vec<Vec<usize>>,
    sizes: Vec<usize>,
}

impl Split {
    /// Groups of `sizes` split into ranges of equal length
    /// ([`owned_range`]).
    pub fn even(sizes: Vec<usize>, ranks: usize) -> Split {
        Split {
            ranks: ranks.max(1),
            bounds: vec![Vec::new(); sizes.len()],
            sizes,
        }
    }

    /// The split balanced by each neuron's expected cost (see the module).
    pub fn balanced(program: &Program, ranks: usize) -> Split {
        let sizes = program.groups.iter().map(|g| g.size).collect();
        let mut split = Split::even(sizes, ranks);
        if split.ranks == 1 {
            return split;
        }
        let coupled = coupled_groups(program);
        for (g, bounds) in split.bounds.iter_mut().enumerate() {
            if coupled[g] {
                continue;
            }
            if let Some(weights) = neuron_weights(program, g) {
                *bounds = weighted_bounds(&weights, split.ranks);
            }
        }
        split
    }

    /// The neurons of group `group` that rank `rank` owns.
    pub fn range(&self, group: usize, rank: usize) -> Range<usize> {
        match &self.bounds[group] {
            b if b.is_empty() => owned_range(self.sizes[group], self.ranks, rank),
            b => b[rank]..b[rank + 1],
        }
    }

    /// The rank that owns neuron `index` of group `group`.
    pub fn owner(&self, group: usize, index: usize) -> usize {
        // The last rank whose range starts at or before `index` (ranges
        // may be empty, when a group has fewer neurons than ranks).
        let starts = (0..self.ranks).map(|r| self.range(group, r).start);
        let first_after = starts.take_while(|&s| s <= index).count();
        first_after.saturating_sub(1)
    }
}

/// Per group: whether some kernel run over another group of the same size
/// reads its arrays (or its kernels read another's) element by element,
/// so both must be split alike: such groups keep the even split.
fn coupled_groups(program: &Program) -> Vec<bool> {
    let mut coupled = vec![false; program.groups.len()];
    for (gi, g) in program.groups.iter().enumerate() {
        let mut kernels = Vec::new();
        kernels.extend(g.state_update);
        for e in g.spike.iter().chain(&g.events) {
            kernels.push(e.condition);
            kernels.extend(e.effect);
        }
        kernels.extend(program.regular.iter().filter_map(|r| {
            matches!(r.target, rheobase_kernel::program::RegularTarget::Group(t) if t == gi)
                .then_some(r.kernel)
        }));
        kernels.extend(
            program
                .poisson_inputs
                .iter()
                .filter(|p| p.group == gi)
                .map(|p| p.kernel),
        );
        for k in kernels {
            let (mut loads, mut stores) = (Vec::new(), Vec::new());
            walk(
                &program.kernels[k.0 as usize],
                &mut |e| {
                    if let rheobase_kernel::Expr::Load(a, IndexSpace::Own) = e {
                        loads.push(*a);
                    }
                },
                &mut |a, space| {
                    if space == IndexSpace::Own {
                        stores.push(a);
                    }
                },
            );
            for a in loads.into_iter().chain(stores) {
                let d = &program.arrays[a.0 as usize];
                if d.synapses.is_none() && d.group != gi {
                    coupled[gi] = true;
                    coupled[d.group] = true;
                }
            }
        }
    }
    coupled
}

/// Each neuron's expected cost to its rank, in bytes: its own per-neuron
/// state plus the synapses expected onto it. `None` when the expectation
/// is unknown for some synapses onto the group, or every neuron weighs
/// the same (the even split is then the balanced one).
fn neuron_weights(program: &Program, group: usize) -> Option<Vec<f64>> {
    let size = program.groups[group].size;
    let state = program
        .arrays
        .iter()
        .filter(|a| a.group == group && a.synapses.is_none() && a.len == size && size > 1)
        .count();
    let mut weights = vec![(8 * state.max(1)) as f64; size];
    for (k, s) in program.synapses.iter().enumerate() {
        if s.target != group || s.target_synapses.is_some() {
            continue;
        }
        let arrays = program
            .arrays
            .iter()
            .filter(|a| a.synapses == Some(k))
            .count();
        let bytes = (arrays * 8 + SYNAPSE_OVERHEAD_BYTES) as f64;
        let targets = s.target_start..s.target_stop.min(size);
        let sources = s.source_stop.saturating_sub(s.source_start) as f64;
        if s.source_synapses.is_some() {
            return None;
        }
        for plan in &s.connect {
            match plan {
                // A condition (`i != j`) is taken to keep the same share
                // of every target's candidates: an estimate, which only
                // moves the bounds.
                ConnectPlan::AllPairs {
                    p,
                    n: Multiplicity::Constant(n),
                    ..
                } => {
                    let each = p.unwrap_or(1.0) * sources * f64::from(*n) * bytes;
                    for w in &mut weights[targets.clone()] {
                        *w += each;
                    }
                }
                ConnectPlan::Explicit { j, n, .. } => {
                    for &t in j {
                        let t = targets.start + t as usize;
                        if let Some(w) = weights.get_mut(t) {
                            *w += f64::from(*n) * bytes;
                        }
                    }
                }
                _ => return None,
            }
        }
    }
    let first = *weights.first()?;
    weights.iter().any(|&w| w != first).then_some(weights)
}

/// `ranks + 1` ascending bounds cutting `weights` into contiguous parts of
/// nearly equal sums: bound `r` is where the running sum comes closest to
/// `r/ranks` of the total.
fn weighted_bounds(weights: &[f64], ranks: usize) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    let mut bounds = Vec::with_capacity(ranks + 1);
    bounds.push(0);
    let mut at = 0;
    let mut sum = 0.0;
    for r in 1..ranks {
        let goal = total * r as f64 / ranks as f64;
        while at < weights.len() && sum + weights[at] / 2.0 < goal {
            sum += weights[at];
            at += 1;
        }
        bounds.push(at);
    }
    bounds.push(weights.len());
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_cut_where_the_even_split_does() {
        for size in [0, 1, 2, 5, 10, 1001] {
            for ranks in 1..5 {
                let bounds = weighted_bounds(&vec![3.0; size], ranks);
                for r in 0..ranks {
                    let even = owned_range(size, ranks, r);
                    let cut = bounds[r]..bounds[r + 1];
                    assert!(
                        cut.len().abs_diff(even.len()) <= 1,
                        "size {size}, {ranks} ranks: {cut:?} vs {even:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn heavy_neurons_get_smaller_ranges() {
        // 8 neurons of weight 3 then 8 of weight 1: half the total (16)
        // lies after 5.33 heavy neurons.
        let mut weights = vec![3.0; 8];
        weights.extend(vec![1.0; 8]);
        assert_eq!(weighted_bounds(&weights, 2), vec![0, 5, 16]);
        let b = weighted_bounds(&weights, 3);
        assert_eq!(b.first(), Some(&0));
        assert_eq!(b.last(), Some(&16));
        assert!(b.windows(2).all(|w| w[0] <= w[1]));
    }
}
