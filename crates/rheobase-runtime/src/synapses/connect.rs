//! Making synapses: the `connect:` forms (explicit lists, conditions and
//! probabilities, generators), row by row in Brian2's order, under a
//! memory budget.

use std::collections::HashSet;

use rheobase_kernel::program::{ConnectPlan, KernelId, Multiplicity, SynapsesPlan};
use rheobase_kernel::{rng, ArrayId};

use crate::exec::{ArrayStore, Clock, Executor, PairIndex};
use crate::partition::{GlobalRun, Placement};

/// Makes the synapses of connection `which` of `plan` and returns them as
/// `(pre, post)` absolute neuron indices in creation order. An error is a
/// message in the user's terms (the caller names the object).
///
/// With `budget.owned_targets` (one rank of several), only synapses onto
/// those targets are kept, and the third value says where they lie in the
/// global numbering. A line whose rows hold their synapses in target order
/// ([`places_by_row`]) only evaluates the candidates onto its own targets
/// and returns each row's count (`Placement::Rows`), from which the ranks
/// together number the synapses; other lines walk every candidate of every
/// row (the draws are keyed by row, so the synapses made do not depend on
/// the rank count) and return which global index (counted from this
/// line's first) each kept synapse has, and how many synapses the line
/// made on all ranks (`Placement::Runs`).
pub(crate) fn make_connections(
    plan: &SynapsesPlan,
    which: usize,
    exec: &mut Executor,
    store: &mut ArrayStore,
    clock: Clock,
    budget: &ConnectBudget,
) -> Result<(Vec<u32>, Vec<u32>, Placement), String> {
    let n_src = plan.source_stop - plan.source_start;
    let n_tgt = plan.target_stop - plan.target_start;
    let connect = &plan.connect[which];
    // The candidates onto this rank's targets, as relative target indices.
    let own_targets = budget
        .owned_targets
        .as_ref()
        .and_then(OwnedTargets::neurons)
        .filter(|_| placed_by_row(plan, which))
        .map(|own| {
            let lo = (own.start as usize).clamp(plan.target_start, plan.target_stop);
            let hi = (own.end as usize).clamp(plan.target_start, plan.target_stop);
            lo - plan.target_start..hi - plan.target_start
        });
    let mut made = Made {
        pre: Vec::new(),
        post: Vec::new(),
        budget,
        seen: 0,
        runs: Vec::new(),
        rows: own_targets.as_ref().map(|_| vec![0; n_src]),
        row: 0,
    };
    let (filter, skip_if_invalid, n) = match connect {
        ConnectPlan::Explicit { i, j, n } => {
            explicit(plan, i, j, *n, &mut made)?;
            return Ok(made.finish());
        }
        ConnectPlan::Generator {
            over_targets,
            skip_if_invalid,
            ..
        } => {
            // A side made of synapses may have none (`target_synapses`):
            // without rows there is nothing to make, and without a result
            // element every candidate is out of range, as in Brian2 (the
            // candidates' placeholder element does not exist then).
            let (outer, result) = if *over_targets {
                (n_tgt, n_src)
            } else {
                (n_src, n_tgt)
            };
            if outer == 0 || (result == 0 && *skip_if_invalid) {
                return Ok(made.finish());
            }
            if result == 0 {
                return Err("its generator gives elements of a side that has none".to_string());
            }
            generator(plan, which, exec, store, clock, &mut made)?;
            return Ok(made.finish());
        }
        ConnectPlan::AllPairs { filter, n, .. } => (*filter, false, n),
        ConnectPlan::Mapping {
            filter,
            skip_if_invalid,
            n,
            ..
        } => (*filter, *skip_if_invalid, n),
    };
    if n_src == 0 {
        return Ok(made.finish());
    }
    let stream = rng::stream_of(&format!("{}.connect{which}", plan.name));
    // Per-source values: computed once, over the source range.
    if let ConnectPlan::Mapping { target_of, .. } = connect {
        let source_range = plan.source_start..plan.source_stop;
        exec.run_range(*target_of, store, source_range, clock, None, None);
    }

    let mut rows = Rows {
        filter,
        pairs: None,
        single: None,
        kept: vec![0; n_tgt],
        valid: Vec::new(),
        candidates: Vec::new(),
        own: own_targets.clone(),
    };
    if n_tgt > 0 {
        // Candidates are passed by relative target index j: element j of
        // a candidate kernel is pair (source, target_start + j), so that
        // the kernels' random draws are keyed by j. The source is set per
        // row.
        let mut pairs = PairIndex::new(plan.source_stop, plan.target_stop);
        for j in 0..n_tgt {
            pairs.push(plan.source_start as u32, (plan.target_start + j) as u32);
        }
        rows.pairs = Some(pairs);
    }

    // Candidates beyond this rank's targets need not be drawn: the draws
    // of a row's first positions do not depend on its length.
    let drawn = own_targets.as_ref().map_or(n_tgt, |own| own.end);
    for i in 0..n_src {
        budget.check_interrupt()?;
        let src = (plan.source_start + i) as u32;
        made.row = i;
        rows.candidates.clear();
        match connect {
            ConnectPlan::AllPairs { p, .. } => {
                let p = p.unwrap_or(1.0);
                bernoulli(p, drawn as u64, clock.seed, stream, i as u64, |pos| {
                    rows.candidates.push(pos as i64);
                })?;
            }
            ConnectPlan::Mapping { scratch, .. } => {
                let v = store.get(*scratch)[plan.source_start + i];
                rows.candidates.push(to_index(v));
            }
            ConnectPlan::Explicit { .. } | ConnectPlan::Generator { .. } => {
                unreachable!("handled above")
            }
        }
        let row_clock = Clock {
            step: i as u64,
            ..clock
        };
        let count =
            rows.filter_row(plan, i, src, n_tgt, skip_if_invalid, exec, store, row_clock)?;
        if let Some(pairs) = &rows.pairs {
            made.add(
                plan,
                n,
                &rows.kept[..count],
                pairs,
                (Repeats::Never, false),
                exec,
                store,
                row_clock,
            )?;
        }
    }
    Ok(made.finish())
}

/// Whether the synapses of each row of a `connect:` line are made in
/// target order with a number per pair known before the pair is
/// evaluated: then, on one rank of several, a rank's synapses of a row
/// are one block, after those of the ranks before it (whose targets come
/// first), and the ranks can number them from each row's count alone
/// (`PartitionState::place_rows`), so that each rank evaluates only the
/// candidates onto its own targets. Conditions and probabilities over all
/// pairs, and mappings (`j = f(i)`, one target per row), are such lines.
/// Every rank decides this from the program alone, the same way.
pub(crate) fn places_by_row(connect: &ConnectPlan) -> bool {
    matches!(
        connect,
        ConnectPlan::AllPairs {
            n: Multiplicity::Constant(_),
            ..
        } | ConnectPlan::Mapping {
            n: Multiplicity::Constant(_),
            ..
        }
    )
}

/// Whether line `which` of `plan` is placed by row on one rank of several
/// ([`places_by_row`]): not when its targets are another object's
/// synapses, which are held by the ranks of their own targets, in no
/// order of rank (every candidate is walked, and each rank keeps the
/// synapses onto those it holds).
pub(crate) fn placed_by_row(plan: &SynapsesPlan, which: usize) -> bool {
    places_by_row(&plan.connect[which]) && plan.target_synapses.is_none()
}

/// The synapses made so far by one connection.
struct Made<'b> {
    pre: Vec<u32>,
    post: Vec<u32>,
    budget: &'b ConnectBudget,
    /// Synapses made by this line on all ranks together.
    seen: u64,
    /// Where the kept synapses lie among those (see `make_connections`).
    runs: Vec<GlobalRun>,
    /// For a line placed by row (`places_by_row`, on one rank of
    /// several): the synapses kept of each row, instead of `runs`.
    rows: Option<Vec<u32>>,
    /// The row being made (for `rows`).
    row: usize,
}

/// What one `connect:` line may use: making synapses is the one place
/// where a model's memory use is not known before the run (filtered
/// connections), so it is checked as they are made, and a long connection
/// phase can be interrupted.
pub(crate) struct ConnectBudget {
    /// Synapses this line may still make before the memory available to
    /// the simulation is used up.
    pub max_synapses: usize,
    /// Bytes one synapse takes once made (its arrays, indices, indexes).
    pub bytes_per_synapse: usize,
    /// Bytes available for candidates while a row is built.
    pub free_bytes: u64,
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// On one rank of several: the targets whose synapses this rank keeps.
    pub owned_targets: Option<OwnedTargets>,
}

/// The targets whose synapses one rank of several keeps.
#[derive(Debug, Clone)]
pub(crate) enum OwnedTargets {
    /// A range of the target group's neurons (`partition::owned_range`).
    Neurons(std::ops::Range<u32>),
    /// The synapses of the target Synapses object this rank holds, as
    /// ascending ranges of their global indices: a synapse onto a
    /// synapse lives where that synapse does, so that its effects on it
    /// are local writes.
    Synapses(Vec<std::ops::Range<u32>>),
}

impl OwnedTargets {
    fn neurons(&self) -> Option<&std::ops::Range<u32>> {
        match self {
            OwnedTargets::Neurons(r) => Some(r),
            OwnedTargets::Synapses(_) => None,
        }
    }

    fn contains(&self, j: u32) -> bool {
        match self {
            OwnedTargets::Neurons(r) => r.contains(&j),
            OwnedTargets::Synapses(runs) => {
                let at = runs.partition_point(|r| r.end <= j);
                runs.get(at).is_some_and(|r| r.contains(&j))
            }
        }
    }
}

/// The message of a connection phase stopped by the interrupt flag.
pub(crate) const CONNECT_INTERRUPTED: &str = "interrupted";

impl ConnectBudget {
    fn check_interrupt(&self) -> Result<(), String> {
        match &self.interrupt {
            Some(flag) if flag.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(CONNECT_INTERRUPTED.to_string())
            }
            _ => Ok(()),
        }
    }

    fn too_many(&self, made: usize) -> String {
        format!(
            "connecting would make more than {made} synapses, which need about {} ({} bytes \
             each), more than the {} of memory left to the simulation; use a lower \
             connection probability or fewer neurons",
            human_bytes(made as f64 * self.bytes_per_synapse as f64),
            self.bytes_per_synapse,
            human_bytes(self.free_bytes as f64)
        )
    }
}

/// Bytes in the unit a person would use for them.
pub(crate) fn human_bytes(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.0} MB", bytes / 1e6)
    } else {
        format!("{:.0} kB", bytes / 1e3)
    }
}

/// Whether one row of candidates may hold the same pair twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeats {
    Never,
    Maybe,
}

impl Made<'_> {
    /// The synapses made and where they lie in the global numbering.
    fn finish(self) -> (Vec<u32>, Vec<u32>, Placement) {
        let place = match self.rows {
            Some(rows) => Placement::Rows(rows),
            None => Placement::Runs((self.runs, self.seen)),
        };
        (self.pre, self.post, place)
    }

    fn push(&mut self, pre: u32, post: u32, times: u32) -> Result<(), String> {
        let global = self.seen;
        self.seen += u64::from(times);
        if let Some(rows) = &mut self.rows {
            // Only candidates onto this rank's targets reach here.
            rows[self.row] += times;
        } else if let Some(owned) = &self.budget.owned_targets {
            if !owned.contains(post) {
                return Ok(());
            }
            let local = self.pre.len();
            match self.runs.last_mut() {
                Some(run)
                    if run.local + run.len == local && run.global + run.len as u64 == global =>
                {
                    run.len += times as usize;
                }
                _ => self.runs.push(GlobalRun {
                    local,
                    global,
                    len: times as usize,
                }),
            }
        }
        if self.pre.len() + times as usize > self.budget.max_synapses {
            return Err(self.budget.too_many(self.pre.len() + times as usize));
        }
        for _ in 0..times {
            self.pre.push(pre);
            self.post.push(post);
        }
        if self.pre.len() > u32::MAX as usize {
            return Err(format!("more than {} synapses", u32::MAX));
        }
        Ok(())
    }

    /// Makes the synapses of one row's kept candidates, in order: element
    /// `e` of `kept` is pair `e` of `pairs`, made `n` times. A per-pair
    /// `n` is stored at the pair's source neuron if `result_is_pre`, else
    /// at its target.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        plan: &SynapsesPlan,
        n: &Multiplicity,
        kept: &[u32],
        pairs: &PairIndex,
        (repeats, result_is_pre): (Repeats, bool),
        exec: &mut Executor,
        store: &mut ArrayStore,
        row_clock: Clock,
    ) -> Result<(), String> {
        let pair = |e: u32| (pairs.pre()[e as usize], pairs.post()[e as usize]);
        let (kernel, scratch) = match n {
            Multiplicity::Constant(n) => {
                for &e in kept {
                    let (a, b) = pair(e);
                    self.push(a, b, *n)?;
                }
                return Ok(());
            }
            Multiplicity::PerPair { kernel, scratch } => (*kernel, *scratch),
        };
        // The kernel stores each pair's number at its result neuron; a
        // row that may hold one result neuron twice is evaluated one pair
        // at a time, so that no value is overwritten before it is read.
        let result = |(a, b): (u32, u32)| if result_is_pre { a } else { b } as usize;
        let read = |made: &mut Made, e: u32, store: &ArrayStore| -> Result<(), String> {
            let (a, b) = pair(e);
            let v = store.get(scratch)[result((a, b))];
            if !(v >= 0.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0) {
                return Err(format!(
                    "`n` for the pair i={}, j={} is {v}; it must be a whole number from 0 to {}",
                    a as usize - plan.source_start,
                    b as usize - plan.target_start,
                    u32::MAX
                ));
            }
            made.push(a, b, v as u32)
        };
        if repeats == Repeats::Never {
            exec.run_list(kernel, store, kept, row_clock, Some(pairs), None);
            for &e in kept {
                read(self, e, store)?;
            }
        } else {
            for &e in kept {
                exec.run_list(kernel, store, &[e], row_clock, Some(pairs), None);
                read(self, e, store)?;
            }
        }
        Ok(())
    }
}

/// Explicit pairs, each made `n` times.
fn explicit(
    plan: &SynapsesPlan,
    i: &[u32],
    j: &[u32],
    n: u32,
    made: &mut Made,
) -> Result<(), String> {
    let n_src = plan.source_stop - plan.source_start;
    let n_tgt = plan.target_stop - plan.target_start;
    if i.len() != j.len() {
        return Err(format!(
            "the source and target index lists have different lengths ({} and {})",
            i.len(),
            j.len()
        ));
    }
    for (&a, &b) in i.iter().zip(j) {
        if a as usize >= n_src {
            return Err(format!(
                "source index i={a} is outside the source range 0..{n_src}"
            ));
        }
        if b as usize >= n_tgt {
            return Err(format!(
                "target index j={b} is outside the target range 0..{n_tgt}"
            ));
        }
        made.push(
            (plan.source_start + a as usize) as u32,
            (plan.target_start + b as usize) as u32,
            n,
        )?;
    }
    Ok(())
}

/// A computed neuron index as an integer; `i64::MIN` (never in range)
/// for NaN, infinities and values too large to be an index.
fn to_index(v: f64) -> i64 {
    if v.is_finite() && v.abs() <= 1e18 {
        v.trunc() as i64
    } else {
        i64::MIN
    }
}

/// A generator connection (`ConnectPlan::Generator`): row by row over the
/// outer neurons, candidates in the order of their positions in the
/// row's range, as Brian2 makes them.
fn generator(
    plan: &SynapsesPlan,
    which: usize,
    exec: &mut Executor,
    store: &mut ArrayStore,
    clock: Clock,
    made: &mut Made,
) -> Result<(), String> {
    let ConnectPlan::Generator {
        over_targets,
        bounds,
        start,
        stop,
        step,
        element,
        sample_p,
        sample_size,
        filter,
        skip_if_invalid,
        n,
    } = &plan.connect[which]
    else {
        unreachable!("called for generators only")
    };
    let over = *over_targets;
    let (outer_start, outer_stop, result_start, result_stop) = if over {
        let p = plan;
        (p.target_start, p.target_stop, p.source_start, p.source_stop)
    } else {
        let p = plan;
        (p.source_start, p.source_stop, p.target_start, p.target_stop)
    };
    let n_outer = outer_stop - outer_start;
    let n_result = result_stop - result_start;
    if n_outer == 0 {
        return Ok(());
    }
    let (outer_name, result_name, side) = if over {
        ("j", "i", "source")
    } else {
        ("i", "j", "target")
    };
    let invalid = |r: i64| r < 0 || r >= n_result as i64;
    let error = |r: i64, o: usize| {
        let r = if r == i64::MIN {
            "not a number".to_string()
        } else {
            r.to_string()
        };
        format!(
            "{side} index {result_name}={r} for {outer_name}={o} is outside the {side} range \
             0..{n_result} (use `skip_if_invalid` to skip such pairs)"
        )
    };
    // Pairs are (source, target) absolute neurons.
    let pair_of = |outer: usize, result: usize| {
        if over {
            (result as u32, outer as u32)
        } else {
            (outer as u32, result as u32)
        }
    };
    exec.run_range(*bounds, store, outer_start..outer_stop, clock, None, None);
    let stream = rng::stream_of(&format!("{}.connect{which}", plan.name));
    // A filter that reads the result side cannot be evaluated for an
    // out-of-range result; otherwise it is, and decides (Brian2's rule).
    let result_side_used = filter.is_some_and(|f| {
        if over {
            exec.uses_pre(f)
        } else {
            exec.uses_post(f)
        }
    });
    let repeats = if element.is_some() {
        Repeats::Maybe
    } else {
        Repeats::Never
    };
    let mut pairs = PairIndex::new(plan.source_stop, plan.target_stop);
    let mut positions: Vec<u32> = Vec::new();
    let mut results: Vec<i64> = Vec::new();
    let mut candidates: Vec<u32> = Vec::new();
    let mut emitted: Vec<u32> = Vec::new();
    let mut kept: Vec<u32> = Vec::new();
    let mut chosen = HashSet::new();
    let mut sorted = Vec::new();
    for o in 0..n_outer {
        made.budget.check_interrupt()?;
        let at = outer_start + o;
        let value = |a: ArrayId, what: &str| -> Result<i64, String> {
            let v = store.get(a)[at];
            if v.is_finite() && v.abs() < 1e18 {
                Ok(v.trunc() as i64)
            } else {
                Err(format!("the range {what} for {outer_name}={o} is {v}"))
            }
        };
        let (a, b, s) = (
            value(*start, "start")?,
            value(*stop, "stop")?,
            value(*step, "step")?,
        );
        if s == 0 {
            return Err(format!("the range step for {outer_name}={o} is zero"));
        }
        let len = range_len(a, b, s);
        // Each candidate of a row is held while the row is built (its
        // position, pair and result: about 24 bytes).
        if len.saturating_mul(24) > made.budget.free_bytes {
            return Err(format!(
                "the range for {outer_name}={o} has {len} values; holding them needs about \
                 {}, more than the {} of memory left to the simulation",
                human_bytes(len as f64 * 24.0),
                human_bytes(made.budget.free_bytes as f64)
            ));
        }
        if len > u64::from(u32::MAX) {
            return Err(format!(
                "the range for {outer_name}={o} has {len} values, more than {}",
                u32::MAX
            ));
        }
        positions.clear();
        if let Some(size) = sample_size {
            let size = if *size > len {
                if *skip_if_invalid {
                    len
                } else {
                    return Err(format!(
                        "the sample size {size} for {outer_name}={o} is larger than the {len} \
                         candidates (use `skip_if_invalid` to take them all)"
                    ));
                }
            } else {
                *size
            };
            floyd_sample(
                len,
                size,
                clock.seed,
                stream,
                o as u64,
                &mut chosen,
                &mut sorted,
            );
            positions.extend(sorted.iter().map(|&p| p as u32));
        } else if let Some(p) = sample_p {
            bernoulli(*p, len, clock.seed, stream, o as u64, |pos| {
                positions.push(pos as u32);
            })?;
        } else {
            positions.extend(0..len as u32);
        }
        let Some(&last) = positions.last() else {
            continue;
        };
        let row_clock = Clock {
            step: o as u64,
            ..clock
        };
        // Candidate kernels index the pair index by position; until a
        // candidate's result is known, its pair holds a placeholder
        // result neuron (slices are never empty, so one exists).
        let limit = last as usize + 1;
        let placeholder = pair_of(at, result_start);
        while pairs.len() < limit {
            pairs.push(placeholder.0, placeholder.1);
        }
        results.clear();
        match element {
            None => results.extend(positions.iter().map(|&p| a + i64::from(p) * s)),
            Some(el) => {
                for &p in &positions {
                    pairs.set(p as usize, placeholder.0, placeholder.1);
                }
                if store.len_of(el.values) < limit {
                    store.resize(el.values, limit, 0.0);
                }
                exec.run_list(el.kernel, store, &positions, row_clock, Some(&pairs), None);
                let values = store.get(el.values);
                results.extend(positions.iter().map(|&p| to_index(values[p as usize])));
            }
        }
        kept.clear();
        candidates.clear();
        for (&p, &r) in positions.iter().zip(&results) {
            if invalid(r) {
                if filter.is_none() || result_side_used {
                    if *skip_if_invalid {
                        continue;
                    }
                    return Err(error(r, o));
                }
                // Evaluated with the placeholder; decided after the filter.
                pairs.set(p as usize, placeholder.0, placeholder.1);
            } else {
                let (x, y) = pair_of(at, result_start + r as usize);
                pairs.set(p as usize, x, y);
            }
            candidates.push(p);
        }
        match filter {
            None => kept.extend_from_slice(&candidates),
            Some(f) => {
                emitted.resize(candidates.len(), 0);
                let count = exec.run_list(
                    *f,
                    store,
                    &candidates,
                    row_clock,
                    Some(&pairs),
                    Some(&mut emitted),
                );
                for &p in &emitted[..count] {
                    // Positions ascend, so the candidate's result is found
                    // by bisection.
                    let r = positions
                        .binary_search(&p)
                        .map_or(i64::MIN, |idx| results[idx]);
                    if invalid(r) {
                        if *skip_if_invalid {
                            continue;
                        }
                        return Err(error(r, o));
                    }
                    kept.push(p);
                }
            }
        }
        made.add(
            plan,
            n,
            &kept,
            &pairs,
            (repeats, over),
            exec,
            store,
            row_clock,
        )?;
    }
    Ok(())
}

/// Reused buffers of the per-source loop of a connection.
struct Rows {
    filter: Option<KernelId>,
    /// The candidates' pair index: entry j is (current source, target j).
    pairs: Option<PairIndex>,
    /// A one-pair index for evaluating the filter on an invalid target.
    single: Option<PairIndex>,
    /// The kept relative target indices.
    kept: Vec<u32>,
    /// Valid candidates of the row (relative target indices).
    valid: Vec<u32>,
    /// Candidates of the row (relative target indices, maybe invalid).
    candidates: Vec<i64>,
    /// On one rank of several, for a line placed by row: the relative
    /// target indices of this rank's targets, the only candidates
    /// evaluated (every candidate is still checked against the target
    /// range, so that every rank finds the same errors).
    own: Option<std::ops::Range<usize>>,
}

impl Rows {
    /// Checks the row's candidates against the target range, points the
    /// pair index at them and runs the filter; leaves the kept relative
    /// target indices, in candidate order, in `kept[..count]`.
    #[allow(clippy::too_many_arguments)]
    fn filter_row(
        &mut self,
        plan: &SynapsesPlan,
        i: usize,
        src: u32,
        n_tgt: usize,
        skip_if_invalid: bool,
        exec: &mut Executor,
        store: &mut ArrayStore,
        row_clock: Clock,
    ) -> Result<usize, String> {
        self.valid.clear();
        for &j in &self.candidates {
            if j >= 0 && (j as u64) < n_tgt as u64 {
                if self
                    .own
                    .as_ref()
                    .is_none_or(|own| own.contains(&(j as usize)))
                {
                    self.valid.push(j as u32);
                }
                continue;
            }
            if skip_if_invalid {
                continue;
            }
            let error = || {
                let j = if j == i64::MIN {
                    "not a number".to_string()
                } else {
                    j.to_string()
                };
                format!(
                    "target index j={j} for i={i} is outside the target range 0..{n_tgt} \
                     (use `skip_if_invalid` to skip such pairs)"
                )
            };
            // As in Brian2, an invalid target is an error only if the
            // condition keeps it, unless the condition needs the target
            // (then it cannot be evaluated, and it is an error at once).
            match self.filter {
                Some(f) if !exec.uses_post(f) && n_tgt > 0 => {
                    let single = self.single.get_or_insert_with(|| {
                        let mut p = PairIndex::new(plan.source_stop, plan.target_stop);
                        p.push(plan.source_start as u32, plan.target_start as u32);
                        p
                    });
                    single.set(0, src, plan.target_start as u32);
                    let mut out = [0u32];
                    let kept =
                        exec.run_list(f, store, &[0], row_clock, Some(single), Some(&mut out));
                    if kept > 0 {
                        return Err(error());
                    }
                }
                _ => return Err(error()),
            }
        }
        if self.valid.is_empty() {
            return Ok(0);
        }
        let Some(pairs) = self.pairs.as_mut() else {
            unreachable!("the pair index exists when there are targets")
        };
        for &j in &self.valid {
            pairs.set(j as usize, src, (plan.target_start + j as usize) as u32);
        }
        let Some(f) = self.filter else {
            self.kept[..self.valid.len()].copy_from_slice(&self.valid);
            return Ok(self.valid.len());
        };
        Ok(exec.run_list(
            f,
            store,
            &self.valid,
            row_clock,
            Some(pairs),
            Some(&mut self.kept),
        ))
    }
}

/// Number of values of Python's `range(a, b, s)` (`s != 0`).
fn range_len(a: i64, b: i64, s: i64) -> u64 {
    let (a, b, s) = (i128::from(a), i128::from(b), i128::from(s));
    let len = if s > 0 {
        (b - a + s - 1).div_euclid(s)
    } else {
        (a - b - s - 1).div_euclid(-s)
    };
    len.max(0) as u64
}

/// Calls `keep(pos)` for the positions of `0..len` kept with probability
/// `p`, in ascending order, using geometric skips (O(kept) draws): the
/// gap before the next kept position is `floor(log(u)/log(1-p))`. Draws
/// are keyed by `(seed, stream, row, counter)`.
fn bernoulli(
    p: f64,
    len: u64,
    seed: u64,
    stream: u64,
    row: u64,
    mut keep: impl FnMut(u64),
) -> Result<(), String> {
    if p.is_nan() {
        return Err("the connection probability is not a number".into());
    }
    if p >= 1.0 {
        (0..len).for_each(keep);
        return Ok(());
    }
    let log_q = (-p).ln_1p();
    if p <= 0.0 || log_q == 0.0 {
        return Ok(());
    }
    let mut pos: u64 = 0;
    let mut counter: u64 = 0;
    while pos < len {
        // 1 - u lies in (0, 1], so the logarithm is finite and <= 0.
        let u = 1.0 - rng::uniform(seed, stream, row, counter, 0);
        counter += 1;
        let gap = (u.ln() / log_q).floor();
        if gap >= (len - pos) as f64 {
            break;
        }
        pos += gap as u64;
        keep(pos);
        pos += 1;
    }
    Ok(())
}

/// Draws `size` distinct positions of `0..len` uniformly (Floyd's
/// algorithm, O(size) draws keyed by `(seed, stream, row, counter)`) and
/// leaves them in `sorted`, ascending.
fn floyd_sample(
    len: u64,
    size: u64,
    seed: u64,
    stream: u64,
    row: u64,
    chosen: &mut HashSet<u64>,
    sorted: &mut Vec<u64>,
) {
    chosen.clear();
    sorted.clear();
    if size >= len {
        sorted.extend(0..len);
        return;
    }
    for (counter, top) in (len - size..len).enumerate() {
        let u = rng::uniform(seed, stream, row, counter as u64, 0);
        let t = ((u * (top + 1) as f64) as u64).min(top);
        if !chosen.insert(t) {
            chosen.insert(top);
        }
    }
    sorted.extend(chosen.iter().copied());
    sorted.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_range_lengths() {
        for (a, b, s) in [
            (0, 10, 1),
            (0, 10, 3),
            (5, 0, -1),
            (5, 0, -2),
            (3, 3, 1),
            (4, 1, 1),
            (-3, 4, 2),
        ] {
            let expected = if s > 0 {
                (a..b).step_by(s as usize).count()
            } else {
                (b + 1..=a).rev().step_by((-s) as usize).count()
            };
            assert_eq!(range_len(a, b, s), expected as u64, "range({a}, {b}, {s})");
        }
    }

    #[test]
    fn bernoulli_keeps_a_fraction_p() {
        let mut kept = 0u64;
        let mut last = None;
        for row in 0..100 {
            bernoulli(0.05, 10_000, 1, 2, row, |pos| {
                kept += 1;
                if let Some(l) = last {
                    assert!(pos > l || row > 0);
                }
                last = Some(pos);
                assert!(pos < 10_000);
            })
            .unwrap();
            last = None;
        }
        let expected = 0.05 * 1e6;
        let sd = (1e6 * 0.05 * 0.95_f64).sqrt();
        assert!((kept as f64 - expected).abs() < 4.0 * sd, "{kept}");
    }

    #[test]
    fn floyd_draws_distinct_sorted_positions() {
        let mut chosen = HashSet::new();
        let mut sorted = Vec::new();
        let mut hits = vec![0u32; 10];
        for row in 0..10_000 {
            floyd_sample(10, 3, 5, 6, row, &mut chosen, &mut sorted);
            assert_eq!(sorted.len(), 3);
            assert!(sorted.windows(2).all(|w| w[0] < w[1]));
            for &p in &sorted {
                hits[p as usize] += 1;
            }
        }
        // Each position is chosen with probability 3/10.
        for h in hits {
            assert!((f64::from(h) - 3000.0).abs() < 4.0 * 45.8, "{h}");
        }
    }
}
