//! Synapse storage: the neurons of each synapse, the indexes by source
//! and target neuron, delays, and propagation (which synapses a step's
//! spikes reach). Connections are made in [`connect`], spikes in flight
//! wait in [`queue`].

mod connect;
mod queue;

pub(crate) use connect::{
    make_connections, placed_by_row, ConnectBudget, OwnedTargets, CONNECT_INTERRUPTED,
};
use queue::SpikeQueue;

use rheobase_kernel::program::{PathwaySide, SynapsesPlan};
use rheobase_kernel::ArrayId;

use crate::exec::{ArrayStore, PairIndex};

/// Largest delay, in time steps, of a spike queue (a ring of this many
/// slots costs 24 bytes each even when empty).
pub(crate) const MAX_DELAY_STEPS: u64 = 1 << 24;

/// Bytes of one slot of the spike queue (an empty `Vec<u32>`).
const SLOT_BYTES: u64 = std::mem::size_of::<Vec<u32>>() as u64;

/// Which of a spike's synapses [`SynapsesState::push`] queues, by delay
/// in steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delays {
    All,
    /// Those with a delay below `k`, queued on time.
    Below(u32),
    /// Those with a delay of `k` or more, queued late.
    AtLeast(u32),
}

/// A compressed-row index: for each row (a neuron of the source or
/// target range), the synapses attached to it, in ascending synapse order.
///
/// Synapses made row by row (every `connect:` form that loops over
/// sources, Brian2's order) are already sorted by source: row `r` is then
/// the range `offsets[r]..offsets[r + 1]` itself, and the id list, 4 bytes
/// per synapse, is not stored. An index built only for its counts
/// (`N_incoming` of synapses without `on_post` code) stores no ids either.
#[derive(Debug, Default)]
pub(crate) struct Csr {
    /// `offsets[r]..offsets[r + 1]` is row `r`'s part of `ids` (or of the
    /// synapse ids themselves when `ids` is `Ids::Identity`).
    offsets: Vec<u32>,
    ids: Ids,
}

#[derive(Debug, Default)]
enum Ids {
    /// Row `r` holds synapses `offsets[r]..offsets[r + 1]`.
    #[default]
    Identity,
    Listed(Vec<u32>),
    /// Only the counts are kept ([`Csr::counts`]).
    CountsOnly,
}

/// The synapses of one row of a [`Csr`].
pub(crate) enum Row<'a> {
    Range(std::ops::Range<u32>),
    Listed(&'a [u32]),
}

impl Row<'_> {
    /// Appends the row's synapse ids to `out`, in ascending order.
    pub fn extend_into(&self, out: &mut Vec<u32>) {
        match self {
            Row::Range(r) => out.extend(r.clone()),
            Row::Listed(ids) => out.extend_from_slice(ids),
        }
    }

    /// Calls `f` with each synapse id of the row, in ascending order.
    pub fn for_each(&self, mut f: impl FnMut(u32)) {
        match self {
            Row::Range(r) => r.clone().for_each(f),
            Row::Listed(ids) => ids.iter().for_each(|&s| f(s)),
        }
    }
}

impl Csr {
    /// Groups synapse ids `0..keys.len()` by `keys[s] - base`, for `rows`
    /// rows (a stable counting sort: ids stay ascending within a row).
    fn build(keys: &[u32], base: usize, rows: usize) -> Csr {
        let offsets = Csr::offsets(keys, base, rows);
        if keys.windows(2).all(|w| w[0] <= w[1]) {
            return Csr {
                offsets,
                ids: Ids::Identity,
            };
        }
        let mut next = offsets.clone();
        let mut ids = vec![0u32; keys.len()];
        for (s, &k) in keys.iter().enumerate() {
            let r = k as usize - base;
            ids[next[r] as usize] = s as u32;
            next[r] += 1;
        }
        Csr {
            offsets,
            ids: Ids::Listed(ids),
        }
    }

    /// An index that knows how many synapses each row has, and not which.
    fn counts(keys: &[u32], base: usize, rows: usize) -> Csr {
        Csr {
            offsets: Csr::offsets(keys, base, rows),
            ids: Ids::CountsOnly,
        }
    }

    fn offsets(keys: &[u32], base: usize, rows: usize) -> Vec<u32> {
        let mut offsets = vec![0u32; rows + 1];
        for &k in keys {
            offsets[k as usize - base + 1] += 1;
        }
        for r in 0..rows {
            offsets[r + 1] += offsets[r];
        }
        offsets
    }

    /// The synapses of row `r`.
    ///
    /// # Panics
    /// If the index was built with [`Csr::counts`].
    pub fn row(&self, r: usize) -> Row<'_> {
        let (from, to) = (self.offsets[r], self.offsets[r + 1]);
        match &self.ids {
            Ids::Identity => Row::Range(from..to),
            Ids::Listed(ids) => Row::Listed(&ids[from as usize..to as usize]),
            Ids::CountsOnly => panic!("the synapses of a row were asked of a count-only index"),
        }
    }

    pub fn count(&self, r: usize) -> u32 {
        self.offsets[r + 1] - self.offsets[r]
    }

    fn bytes(&self) -> usize {
        let ids = match &self.ids {
            Ids::Listed(ids) => ids.capacity(),
            Ids::Identity | Ids::CountsOnly => 0,
        };
        (self.offsets.capacity() + ids) * std::mem::size_of::<u32>()
    }
}

/// The runtime state of one Synapses object.
pub(crate) struct SynapsesState {
    /// `pre[s]`, `post[s]`: absolute neuron indices, bounded by the
    /// source and target ranges' ends.
    pub pairs: PairIndex,
    /// The object's per-synapse arrays and their initial values.
    arrays: Vec<(ArrayId, f64)>,
    /// Synapses by source neuron (row = index relative to `source_start`)
    /// and by target neuron (relative to `target_start`).
    pub by_source: Csr,
    pub by_target: Csr,
    /// The `on_pre` pathway's delays and spikes in flight.
    pre: Delivery,
    /// The same for each of `SynapsesPlan::pathways`.
    extra: Vec<Delivery>,
    /// Synapses of this step's `post` pathway, reused every step.
    post_list: Vec<u32>,
    pub connect_seconds: f64,
    /// Synaptic events processed (`on_pre` and `on_post` runs).
    pub events: u64,
}

impl SynapsesState {
    pub fn new(plan: &SynapsesPlan, arrays: Vec<(ArrayId, f64)>) -> SynapsesState {
        SynapsesState {
            pairs: PairIndex::new(plan.source_stop, plan.target_stop),
            arrays,
            by_source: Csr::build(&[], 0, plan.source_stop - plan.source_start),
            by_target: Csr::build(&[], 0, plan.target_stop - plan.target_start),
            pre: Delivery::default(),
            extra: plan.pathways.iter().map(|_| Delivery::default()).collect(),
            post_list: Vec::new(),
            connect_seconds: 0.0,
            events: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Sizes the indexes for the plan's ranges again, before any synapse
    /// is made: a side made of another object's synapses has its range
    /// only once they are made (`SynapsesPlan::target_synapses`).
    pub fn resize_sides(&mut self, plan: &SynapsesPlan) {
        debug_assert_eq!(self.len(), 0, "sides resized after synapses were made");
        self.pairs = PairIndex::new(plan.source_stop, plan.target_stop);
        self.by_source = Csr::build(&[], 0, plan.source_stop - plan.source_start);
        self.by_target = Csr::build(&[], 0, plan.target_stop - plan.target_start);
    }

    /// Memory of the connectivity: synaptic arrays, neuron indices, the
    /// indexes, delays and the spike queue.
    pub fn bytes(&self) -> usize {
        self.arrays.len() * self.len() * 8
            + self.pairs.bytes()
            + self.by_source.bytes()
            + self.by_target.bytes()
            + self.pre.bytes()
            + self.extra.iter().map(Delivery::bytes).sum::<usize>()
    }

    /// Appends synapses `pre[k] -> post[k]` (absolute neurons, inside the
    /// ranges), grows the synaptic arrays (new elements at their initial
    /// value), rebuilds the indexes and refreshes `N_incoming` and
    /// `N_outgoing` and `N`.
    pub fn append(
        &mut self,
        plan: &SynapsesPlan,
        pre: &[u32],
        post: &[u32],
        store: &mut ArrayStore,
    ) -> Result<(), String> {
        let total = self.len() + pre.len();
        if u32::try_from(total).is_err() {
            return Err(format!(
                "{total} synapses are more than the {} a Synapses object can hold",
                u32::MAX
            ));
        }
        self.pairs.extend(pre, post);
        for &(id, initial) in &self.arrays {
            store.resize(id, total, initial);
        }
        self.by_source = Csr::build(
            self.pairs.pre(),
            plan.source_start,
            plan.source_stop - plan.source_start,
        );
        // Synapses by target are listed only for `on_post` code; the
        // counts serve `N_incoming`.
        let index = if plan.on_post.is_some()
            || plan.pathways.iter().any(|p| p.side == PathwaySide::Post)
        {
            Csr::build
        } else {
            Csr::counts
        };
        self.by_target = index(
            self.pairs.post(),
            plan.target_start,
            plan.target_stop - plan.target_start,
        );
        if let Some(id) = plan.n_incoming {
            let values = store.get_mut(id);
            for (v, &j) in values.iter_mut().zip(self.pairs.post()) {
                *v = f64::from(self.by_target.count(j as usize - plan.target_start));
            }
        }
        if let Some(id) = plan.n_outgoing {
            let values = store.get_mut(id);
            for (v, &i) in values.iter_mut().zip(self.pairs.pre()) {
                *v = f64::from(self.by_source.count(i as usize - plan.source_start));
            }
        }
        // On a split run the count of every rank replaces this one once
        // the line is placed (`PartitionState::count_synapses`).
        if let Some(id) = plan.n_synapses {
            store.get_mut(id)[0] = total as f64;
        }
        Ok(())
    }

    /// Converts the `delay` values (seconds) of the `on_pre` pathway
    /// (`which == None`) or of `pathways[k]` (`Some(k)`) to steps as Brian2
    /// does, `int(delay/dt + 0.5)` (negative and NaN delays are errors),
    /// and grows its queue for the largest. `step` is the current step.
    /// The ring is refused, before it is allocated, when its new slots
    /// need more than `free_bytes`.
    pub fn prepare_delays(
        &mut self,
        which: Option<usize>,
        delay: &[f64],
        dt: f64,
        step: u64,
        free_bytes: u64,
    ) -> Result<(), String> {
        let n = self.len();
        let delivery = match which {
            None => &mut self.pre,
            Some(k) => &mut self.extra[k],
        };
        delivery.prepare(delay, n, dt, step, free_bytes)
    }

    /// Queues the synapses of the neurons `spikes` (ascending absolute
    /// indices; those outside the triggering range are ignored) of the
    /// `on_pre` pathway (`which == None`) or of `pathways[k]`, at step
    /// `step` + their delay, then returns this step's slot for delivery:
    /// call [`SynapsesState::clear_due`] after delivering.
    pub fn push_and_take_due(
        &mut self,
        plan: &SynapsesPlan,
        which: Option<usize>,
        spikes: &[u32],
        step: u64,
    ) -> std::vec::Vec<u32> {
        self.push(plan, which, spikes, step, Delays::All);
        self.take_due(which, step)
    }

    /// Queues the synapses of the neurons `spikes` of step `step` of the
    /// `on_pre` pathway (`which == None`) or of `pathways[k]` (ascending
    /// absolute indices; those outside the triggering range are ignored)
    /// whose delay `delays` selects, at step `step` + their delay.
    /// [`Delays::AtLeast`] marks them as pushed late (see [`SpikeQueue`]):
    /// it must be called only after every push of a later step than
    /// `step` into the slots it fills.
    pub fn push(
        &mut self,
        plan: &SynapsesPlan,
        which: Option<usize>,
        spikes: &[u32],
        step: u64,
        delays: Delays,
    ) {
        let side = which.map_or(PathwaySide::Pre, |k| plan.pathways[k].side);
        let (index, start, stop) = match side {
            PathwaySide::Pre => (&self.by_source, plan.source_start, plan.source_stop),
            PathwaySide::Post => (&self.by_target, plan.target_start, plan.target_stop),
        };
        let delivery = match which {
            None => &mut self.pre,
            Some(k) => &mut self.extra[k],
        };
        if delivery.queue.is_unsized() {
            delivery.queue.reserve(0, step);
        }
        // The delays kept and whether they are pushed late.
        let (late, keep) = match delays {
            Delays::All => (false, 0..u64::MAX),
            Delays::Below(k) => (false, 0..u64::from(k)),
            Delays::AtLeast(k) => (true, u64::from(k)..u64::MAX),
        };
        let (min, max) = delivery.delay_range;
        if !keep.contains(&u64::from(min)) && !keep.contains(&u64::from(max)) {
            // Every delay lies in `min..=max`, and `keep` is open at one end.
            return;
        }
        let lo = spikes.partition_point(|&n| (n as usize) < start);
        let hi = spikes.partition_point(|&n| (n as usize) < stop);
        let marking = delivery.queue.keeps_steps();
        for &n in &spikes[lo..hi] {
            let row = index.row(n as usize - start);
            match delivery.uniform_delay {
                Some(d) => {
                    let due = step + u64::from(d);
                    if marking {
                        delivery.queue.mark(due, step, late);
                    }
                    let slot = if late {
                        delivery.queue.late_slot(due)
                    } else {
                        delivery.queue.slot(due)
                    };
                    row.extend_into(slot);
                }
                // A queue keeping its spikes' steps marks each synapse's
                // slot; the others take the loop below, unchanged.
                None if marking => row.for_each(|s| {
                    let d = delivery.delays[s as usize];
                    if keep.contains(&u64::from(d)) {
                        let due = step + u64::from(d);
                        delivery.queue.mark(due, step, late);
                        if late {
                            delivery.queue.late_slot(due).push(s);
                        } else {
                            delivery.queue.slot(due).push(s);
                        }
                    }
                }),
                None => row.for_each(|s| {
                    let d = delivery.delays[s as usize];
                    if keep.contains(&u64::from(d)) {
                        let due = step + u64::from(d);
                        if late {
                            delivery.queue.late_slot(due).push(s);
                        } else {
                            delivery.queue.slot(due).push(s);
                        }
                    }
                }),
            }
        }
    }

    /// This step's slot of a pathway (see [`SynapsesState::push`]), for
    /// delivery: call [`SynapsesState::clear_due`] after delivering.
    pub fn take_due(&mut self, which: Option<usize>, step: u64) -> Vec<u32> {
        let delivery = match which {
            None => &mut self.pre,
            Some(k) => &mut self.extra[k],
        };
        if delivery.queue.is_unsized() {
            delivery.queue.reserve(0, step);
        }
        delivery.queue.take(step)
    }

    /// The shortest delay, in steps, of the `on_pre` pathway (`which ==
    /// None`) or of `pathways[k]` (`Some(k)`, a pathway from the source
    /// side), of the synapses whose source neuron is outside `local`
    /// (absolute indices of the source group), as set by the last
    /// [`SynapsesState::prepare_delays`]; `None` when there is no such
    /// synapse.
    pub fn min_delay_from_outside(
        &self,
        which: Option<usize>,
        local: &std::ops::Range<usize>,
    ) -> Option<u32> {
        let delivery = match which {
            None => &self.pre,
            Some(k) => &self.extra[k],
        };
        let outside = |s: usize| !local.contains(&(self.pairs.pre()[s] as usize));
        match delivery.uniform_delay {
            Some(d) => (0..self.len()).any(outside).then_some(d),
            None => (0..self.len())
                .filter(|&s| outside(s))
                .map(|s| delivery.delays[s])
                .min(),
        }
    }

    /// Makes the queue of the `on_pre` pathway (`which == None`) or of
    /// `pathways[k]` keep the step of every queued synapse's spike
    /// ([`SynapsesState::due_steps`]): on one rank of several, for a
    /// pathway changing presynaptic variables, whose changes are applied
    /// in the order of those steps. Other queues carry nothing more.
    pub fn keep_spike_steps(&mut self, which: Option<usize>) {
        match which {
            None => self.pre.queue.keep_steps(),
            Some(k) => self.extra[k].queue.keep_steps(),
        }
    }

    /// The spike steps of the slot last taken ([`SynapsesState::take_due`])
    /// of a queue keeping them ([`SynapsesState::keep_spike_steps`]):
    /// marks `(step, start)`, the synapses from position `start` of the
    /// slot on (to the next mark) were queued for spikes of step `step`.
    pub fn due_steps(&self, which: Option<usize>) -> &[(u64, u32)] {
        match which {
            None => self.pre.queue.taken_steps(),
            Some(k) => self.extra[k].queue.taken_steps(),
        }
    }

    /// Puts the delivered slot back (emptied, keeping its capacity).
    pub fn clear_due(&mut self, which: Option<usize>, due: Vec<u32>, step: u64) {
        let delivery = match which {
            None => &mut self.pre,
            Some(k) => &mut self.extra[k],
        };
        delivery.queue.put_back(step, due);
    }

    /// The synapses whose target is among `spikes` (ascending absolute
    /// indices), by target then synapse index.
    pub fn post_synapses(&mut self, plan: &SynapsesPlan, spikes: &[u32]) -> Vec<u32> {
        let mut list = std::mem::take(&mut self.post_list);
        list.clear();
        let lo = spikes.partition_point(|&n| (n as usize) < plan.target_start);
        let hi = spikes.partition_point(|&n| (n as usize) < plan.target_stop);
        for &n in &spikes[lo..hi] {
            self.by_target
                .row(n as usize - plan.target_start)
                .extend_into(&mut list);
        }
        list
    }

    /// Gives back the list of [`SynapsesState::post_synapses`] for reuse.
    pub fn return_post_list(&mut self, list: Vec<u32>) {
        self.post_list = list;
    }
}

/// A delayed pathway's delays in steps and its spikes in flight.
#[derive(Debug)]
struct Delivery {
    /// Delay of each synapse in steps, set at the start of each run.
    delays: Vec<u32>,
    /// `Some(d)` when every synapse has delay `d` (then a spike's
    /// synapses go to one slot in one copy).
    uniform_delay: Option<u32>,
    /// The shortest and longest delay in steps.
    delay_range: (u32, u32),
    queue: SpikeQueue,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            delays: Vec::new(),
            uniform_delay: Some(0),
            delay_range: (0, 0),
            queue: SpikeQueue::default(),
        }
    }
}

impl Delivery {
    fn bytes(&self) -> usize {
        self.delays.capacity() * 4 + self.queue.bytes()
    }

    /// See [`SynapsesState::prepare_delays`]; `n` is the number of synapses.
    fn prepare(
        &mut self,
        delay: &[f64],
        n: usize,
        dt: f64,
        step: u64,
        free_bytes: u64,
    ) -> Result<(), String> {
        self.delays.clear();
        let to_steps = |d: f64| -> Result<u32, String> {
            // A delay is never silently replaced: negative and NaN delays
            // are errors, not 0.
            if d.is_nan() || d < 0.0 {
                return Err(format!(
                    "a synapse has a delay of {d} s; delays must be 0 s or more"
                ));
            }
            let steps = (d / dt + 0.5).floor();
            if steps >= MAX_DELAY_STEPS as f64 {
                return Err(format!(
                    "a delay of {} s is {} time steps, more than the {MAX_DELAY_STEPS} supported",
                    short_number(d),
                    short_number(steps)
                ));
            }
            Ok(steps as u32)
        };
        // A delay shared by every synapse (Brian2's `delay=D` on the
        // object, or one value everywhere) is kept once, not per synapse.
        let uniform = if delay.len() == 1 && n != 1 {
            Some(to_steps(delay[0])?)
        } else {
            for &d in &delay[..n] {
                self.delays.push(to_steps(d)?);
            }
            let first = self.delays.first().copied().unwrap_or(0);
            self.delays.iter().all(|&d| d == first).then_some(first)
        };
        let (min, max) = match uniform {
            Some(d) => (d, d),
            None => (
                self.delays.iter().copied().min().unwrap_or(0),
                self.delays.iter().copied().max().unwrap_or(0),
            ),
        };
        if uniform.is_some() {
            self.delays = Vec::new();
        }
        // A slot (an empty list) per step of the longest delay: 1000 s of
        // random delays at 0.1 ms is 240 MB for however few synapses.
        let ring_bytes = (u64::from(max) + 1).saturating_mul(SLOT_BYTES);
        let held = self.queue.slot_count().saturating_mul(SLOT_BYTES);
        if ring_bytes > held && ring_bytes - held > free_bytes {
            return Err(format!(
                "the longest delay, {} s, is {max} time steps; the spike queue holds a slot per \
                 step, {} in all, more than the {} of memory left to the simulation",
                short_number(f64::from(max) * dt),
                connect::human_bytes(ring_bytes as f64),
                connect::human_bytes(free_bytes as f64)
            ));
        }
        self.uniform_delay = uniform;
        self.delay_range = (min, max);
        self.queue.reserve(u64::from(max), step);
        Ok(())
    }
}

/// `x` with at most four significant digits, as a person writes it
/// (`1e304`, `2.5e7`, `16.5`): a message never prints the 17 digits of an
/// f64's rounding error.
fn short_number(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if (1e-3..1e6).contains(&x.abs()) {
        let decimals = (3 - x.abs().log10().floor() as i32).max(0) as usize;
        let text = format!("{x:.decimals$}");
        return if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        };
    }
    let text = format!("{x:.3e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            if exponent == "0" {
                mantissa.to_string()
            } else {
                format!("{mantissa}e{exponent}")
            }
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_in_messages_are_short() {
        use super::short_number;
        assert_eq!(short_number(1e300), "1e300");
        assert_eq!(short_number(1.0000000000000001e304), "1e304");
        assert_eq!(short_number(748.8083), "748.8");
        assert_eq!(short_number(16.5), "16.5");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(2.5e7), "2.5e7");
        assert_eq!(short_number(1e-5), "1e-5");
    }

    use super::*;

    #[test]
    fn csr_groups_in_synapse_order() {
        let keys = [3, 1, 3, 2, 1];
        let csr = Csr::build(&keys, 1, 4);
        let row = |r| {
            let mut out = Vec::new();
            csr.row(r).extend_into(&mut out);
            out
        };
        assert_eq!(row(0), [1, 4]);
        assert_eq!(row(1), [3]);
        assert_eq!(row(2), [0, 2]);
        assert_eq!(row(3), [] as [u32; 0]);
        assert_eq!(csr.count(2), 2);
        assert!(matches!(csr.ids, Ids::Listed(_)));
    }

    #[test]
    fn csr_of_sorted_keys_stores_no_ids() {
        let keys = [1, 1, 2, 4, 4, 4];
        let csr = Csr::build(&keys, 1, 4);
        assert!(matches!(csr.ids, Ids::Identity));
        let mut rows = Vec::new();
        for r in 0..4 {
            let mut out = Vec::new();
            csr.row(r).for_each(|s| out.push(s));
            rows.push(out);
        }
        assert_eq!(rows, [vec![0, 1], vec![2], vec![], vec![3, 4, 5]]);
        assert_eq!(csr.bytes(), 5 * 4);
        let counts = Csr::counts(&[3, 1, 3], 1, 3);
        assert_eq!(
            (counts.count(0), counts.count(1), counts.count(2)),
            (1, 0, 2)
        );
    }
}
