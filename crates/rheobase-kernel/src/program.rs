//! A lowered program: every kernel of a model plus the plan that says when
//! each one runs. This is the boundary between the `ir` crate (which builds
//! it from a checked model) and the `runtime` crate (which executes it).
//!
//! Everything here is in SI base units and free of names the user did not
//! write: group and variable names are kept only for output and messages.

use crate::{ArrayId, Kernel};

/// Index of a kernel in [`Program::kernels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(pub u32);

/// The type a value has in the user's model. Storage is always `f64`; this
/// decides how values are written to output files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Float,
    Integer,
    Boolean,
}

/// One state array of the program. [`ArrayId`] indexes
/// [`Program::arrays`], and kernels address arrays by that id.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayDecl {
    /// `GROUP.VARIABLE`, for messages and output.
    pub name: String,
    /// The group that owns the array, as an index into [`Program::groups`].
    pub group: usize,
    /// Number of elements: the group size, or 1 for shared variables.
    /// Ignored for synaptic arrays (see `synapses`).
    pub len: usize,
    /// Value of every element before any initialisation runs.
    pub initial: f64,
    pub kind: ValueKind,
    /// `Some(s)` for a per-synapse array of [`Program::synapses`]`[s]`:
    /// its length is that object's number of synapses, known only once
    /// its connections are made; new synapses start at `initial`.
    pub synapses: Option<usize>,
}

/// A whole model, lowered.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// The simulation's tick, seconds: `defaultclock.dt` when every object
    /// runs on it, otherwise the largest step of which every clock's `dt`
    /// is a whole multiple. Runs, monitor and `run_regularly` periods and
    /// `from_step`s count ticks.
    pub dt: f64,
    /// Brian2's clocks: `clocks[0]` is `defaultclock`, the others the
    /// distinct `dt:`s given to groups, Synapses objects and generators
    /// (objects with equal time steps share one, as Brian2 runs them
    /// together). A model with one clock runs every object at every tick.
    pub clocks: Vec<ClockPlan>,
    pub arrays: Vec<ArrayDecl>,
    pub kernels: Vec<Kernel>,
    pub groups: Vec<GroupPlan>,
    pub monitors: Vec<MonitorPlan>,
    /// What the file does, in file order: initialisations, `G.v = ...`
    /// statements and `run` segments.
    pub actions: Vec<Action>,
    pub synapses: Vec<SynapsesPlan>,
    /// Lookup tables (TimedArrays), indexed by [`crate::TableId`].
    pub tables: Vec<TableDecl>,
    /// PoissonInputs, run in the `synapses` slot after every `pre`
    /// pathway and before every `post` pathway (Brian2's orders -1, 0, +1).
    pub poisson_inputs: Vec<PoissonInputPlan>,
    /// `run_regularly:` code, each at its own place in the step.
    pub regular: Vec<RegularPlan>,
    /// The places of the groups' and Synapses objects' parts that are not
    /// at Brian2's default place (an `order:` of their object, or
    /// `S.pre.when = ...`); a later entry for the same part wins. Empty
    /// for most models.
    pub places: Vec<(Part, Slot)>,
    /// Places set after a `run` (`S.pre.when = ...` between runs), as
    /// `(run, part, slot)`: the part is there from the start of run
    /// number `run` (counting from 0, so 1 for a statement after the
    /// first `run`) on, over [`Program::places`], as Brian2 sorts its
    /// objects again when each run starts. A later entry for the same
    /// part wins. Empty for most models.
    pub later_places: Vec<(usize, Part, Slot)>,
}

/// One of Brian2's clocks: its time step and how many ticks
/// ([`Program::dt`]) it is. An object on it runs at the ticks that are
/// multiples of `every`, seeing its clock's `t = (tick / every) * dt`,
/// `dt` and step number `tick / every`, as Brian2's `Network._nextclocks`
/// runs each clock when its time is the network's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockPlan {
    pub dt: f64,
    pub every: u64,
}

/// Brian2's schedule slots (`Network.schedule` with the automatic
/// `before_`/`after_` neighbours) in the order they run: Brian2's
/// `when_to_int` is the index here. [`Slot::when`] indexes this.
pub const SLOT_NAMES: [&str; 18] = [
    "before_start",
    "start",
    "after_start",
    "before_groups",
    "groups",
    "after_groups",
    "before_thresholds",
    "thresholds",
    "after_thresholds",
    "before_synapses",
    "synapses",
    "after_synapses",
    "before_resets",
    "resets",
    "after_resets",
    "before_end",
    "end",
    "after_end",
];

/// Where an object runs in a time step, as Brian2 places it: its slot
/// (`when`, an index into [`SLOT_NAMES`]) and its `order` there. Objects
/// of one slot and order run sorted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub when: u8,
    pub order: i64,
}

impl Slot {
    pub const START: u8 = 1;
    pub const GROUPS: u8 = 4;
    pub const THRESHOLDS: u8 = 7;
    pub const AFTER_THRESHOLDS: u8 = 8;
    pub const SYNAPSES: u8 = 10;
    pub const RESETS: u8 = 13;
    pub const AFTER_RESETS: u8 = 14;
    pub const END: u8 = 16;

    pub const fn new(when: u8, order: i64) -> Slot {
        Slot { when, order }
    }

    /// The slot's name (`before_groups`).
    pub fn when_name(self) -> &'static str {
        SLOT_NAMES
            .get(self.when as usize)
            .copied()
            .unwrap_or("start")
    }
}

/// A part of a group or Synapses object that runs in every step, as
/// named in [`Program::places`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The state updater of `Program::groups[g]` (Brian2's
    /// `G.state_updater`, default `groups`).
    GroupStateUpdater(usize),
    /// The state updater of `Program::synapses[s]`.
    SynapsesStateUpdater(usize),
    /// The thresholder of group `g`'s spikes (`None`, default
    /// `thresholds`) or of its custom event `Some(e)` (default
    /// `after_thresholds`); a SpikeGeneratorGroup's spikes are its
    /// spike thresholder.
    Thresholder(usize, Option<usize>),
    /// The resetter of group `g`'s spikes (default `resets`) or of its
    /// custom event (default `after_resets`).
    Resetter(usize, Option<usize>),
    /// A pathway of `Program::synapses[s]` triggered from `side`: `on_pre`
    /// or `on_post` (`None`), or `pathways[k]` (default `synapses`, order
    /// -1 from the source side, +1 from the target side).
    Pathway(usize, PathwaySide, Option<usize>),
    /// `Program::synapses[s].summed[m]` (default `groups`, the target
    /// group's order - 1).
    Summed(usize, usize),
}

impl Part {
    /// Brian2's place of the part when neither its object nor the part
    /// was given an order or slot.
    pub fn default_slot(self) -> Slot {
        match self {
            Part::GroupStateUpdater(_) | Part::SynapsesStateUpdater(_) => {
                Slot::new(Slot::GROUPS, 0)
            }
            Part::Thresholder(_, None) => Slot::new(Slot::THRESHOLDS, 0),
            Part::Thresholder(_, Some(_)) => Slot::new(Slot::AFTER_THRESHOLDS, 0),
            Part::Resetter(_, None) => Slot::new(Slot::RESETS, 0),
            Part::Resetter(_, Some(_)) => Slot::new(Slot::AFTER_RESETS, 0),
            Part::Pathway(_, PathwaySide::Pre, _) => Slot::new(Slot::SYNAPSES, -1),
            Part::Pathway(_, PathwaySide::Post, _) => Slot::new(Slot::SYNAPSES, 1),
            Part::Summed(..) => Slot::new(Slot::GROUPS, -1),
        }
    }
}

/// The most arrays interleaved into one record (eight `f64` fill one
/// 64-byte cache line).
pub const MAX_RECORD_MEMBERS: usize = 8;

impl Program {
    /// Where `part` runs in run number `run` (counting from 0;
    /// `usize::MAX` for the place after every statement of the file):
    /// the latest of [`Program::later_places`] that holds by then, else
    /// the latest of [`Program::places`], else Brian2's default.
    pub fn place_in_run(&self, part: Part, run: usize) -> Slot {
        let later = self
            .later_places
            .iter()
            .rev()
            .find(|(from, p, _)| *p == part && *from <= run)
            .map(|(_, _, slot)| *slot);
        later
            .or_else(|| {
                self.places
                    .iter()
                    .rev()
                    .find(|(p, _)| *p == part)
                    .map(|(_, slot)| *slot)
            })
            .unwrap_or(part.default_slot())
    }

    /// Per-synapse arrays stored interleaved, as records: element `s` of
    /// every member of one record lies in one block of `stride` values
    /// (`stride` the number of members rounded up to a power of two, so a
    /// block never straddles a cache line when the buffer is aligned).
    ///
    /// Why: `on_post` code visits the synapses onto a spiking neuron,
    /// which are scattered over arrays of tens of megabytes (synapses are
    /// stored in creation order, by source), and an STDP rule touches
    /// four of them (`w`, `Apre`, `Apost`, `lastupdate`): four cache
    /// misses per update in separate arrays, one in a record. `on_pre`
    /// code reads the same members of consecutive synapses, which stay
    /// consecutive in a record. So the members of a record are the
    /// per-synapse arrays that a Synapses object's `on_post` code reads
    /// or writes, and the ones its `on_pre` code uses with them, when
    /// there are at least two (named pathways count on their side); the
    /// delays are read by the runtime, not by the pathways, and are never
    /// members. Which arrays are records
    /// changes where values are stored, never a value.
    pub fn records(&self) -> Vec<Vec<ArrayId>> {
        let mut records = Vec::new();
        for (index, plan) in self.synapses.iter().enumerate() {
            let post_side = plan.on_post.into_iter().chain(
                plan.pathways
                    .iter()
                    .filter(|p| p.side == PathwaySide::Post)
                    .map(|p| p.kernel),
            );
            let pre_side = plan.on_pre.into_iter().chain(
                plan.pathways
                    .iter()
                    .filter(|p| p.side == PathwaySide::Pre)
                    .map(|p| p.kernel),
            );
            let delays: Vec<ArrayId> = std::iter::once(plan.delay)
                .chain(plan.pathways.iter().map(|p| p.delay))
                .collect();
            let mut members = std::collections::BTreeSet::new();
            let mut add = |kernel: KernelId| {
                self.kernels[kernel.0 as usize].visit_arrays(&mut |a, space| {
                    let decl = &self.arrays[a.0 as usize];
                    if space == crate::IndexSpace::Own
                        && decl.synapses == Some(index)
                        && !delays.contains(&a)
                        && Some(a) != plan.n_incoming
                        && Some(a) != plan.n_outgoing
                    {
                        members.insert(a);
                    }
                });
            };
            let mut any_post = false;
            for kernel in post_side {
                any_post = true;
                add(kernel);
            }
            if !any_post {
                continue;
            }
            for kernel in pre_side {
                add(kernel);
            }
            if members.len() >= 2 {
                records.push(members.into_iter().take(MAX_RECORD_MEMBERS).collect());
            }
        }
        records
    }

    /// The distance, in `f64` values, between consecutive elements of each
    /// array ([`Program::records`]): 1 for arrays stored on their own, the
    /// record's stride for its members. Indexed by [`ArrayId`].
    pub fn array_strides(&self) -> Vec<u32> {
        let mut strides = vec![1; self.arrays.len()];
        for record in self.records() {
            let stride = record_stride(record.len());
            for a in record {
                strides[a.0 as usize] = stride;
            }
        }
        strides
    }
}

/// The stride of a record of `members` arrays: their number rounded up to
/// a power of two.
pub fn record_stride(members: usize) -> u32 {
    members.next_power_of_two() as u32
}

/// Brian2's `run_regularly`: a kernel over all elements of a group or
/// Synapses object, run every `every` steps at one point of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct RegularPlan {
    /// Brian2's name for it (`G_run_regularly`, `G_run_regularly_1`, ...).
    pub name: String,
    /// A Range kernel over the elements of `target`.
    pub kernel: KernelId,
    pub target: RegularTarget,
    /// It runs in the steps that are multiples of `every` (its clock's
    /// `dt` in steps), from `from_step` (where it is declared) on.
    pub every: u64,
    pub from_step: u64,
    /// Its `when:`/`order:` (default `start`, 0).
    pub slot: Slot,
}

/// What a `run_regularly` kernel runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegularTarget {
    /// All neurons of `Program::groups[g]`.
    Group(usize),
    /// All synapses of `Program::synapses[s]`.
    Synapses(usize),
}

/// A TimedArray's values.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    pub name: String,
    /// Row-major `rows × columns` values in SI units; `rows, columns >= 1`.
    pub values: Vec<f64>,
    pub rows: usize,
    pub columns: usize,
    /// Time between rows, seconds.
    pub dt: f64,
}

/// A PoissonInput: a Range kernel over all neurons of `group`, run once per
/// step in the `synapses` slot.
#[derive(Debug, Clone, PartialEq)]
pub struct PoissonInputPlan {
    pub name: String,
    /// Brian2's name of it (`poissoninput`, `poissoninput_1`, ... in the
    /// order of declaration), which orders PoissonInputs of one slot.
    pub brian_name: String,
    pub group: usize,
    pub kernel: KernelId,
}

/// Fixed spike times of a SpikeGeneratorGroup.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorPlan {
    /// Spikes as `(step, neuron)`, sorted by step then neuron, with no
    /// neuron twice in one step. Steps count from 0 within one period.
    pub spikes: Vec<(u64, u32)>,
    /// Repeat every `period` steps (0: no repetition). Spike `(k, n)`
    /// occurs at every step `k + m·period`, m = 0, 1, ...
    pub period: u64,
    /// The step at which the group was declared (0 before the first
    /// `run`). As in Brian2, spikes whose time lies before it never
    /// occur; a group with a period declared in the middle of a period
    /// follows Brian2's bookkeeping (see the runtime's `GeneratorState`).
    pub from_step: u64,
}

/// A Synapses object.
///
/// Synapse `s` connects neuron `pre[s]` of group `source` to neuron
/// `post[s]` of group `target` (absolute indices in those groups; both
/// lie in the declared ranges). Synapse indices follow creation order, as
/// in Brian2. Kernels of this object see `IndexSpace::Own` = the synapse,
/// `Pre`/`Post` = its neurons (`KernelArgs::pre_index`/`post_index` are the
/// runtime's `pre`/`post` arrays).
#[derive(Debug, Clone, PartialEq)]
pub struct SynapsesPlan {
    pub name: String,
    pub source: usize,
    pub source_start: usize,
    pub source_stop: usize,
    pub target: usize,
    pub target_start: usize,
    pub target_stop: usize,
    /// `Some(k)`: the source (resp. target) is not a neuron group but the
    /// synapses of [`Program::synapses`]`[k]`, as Brian2 lets a Synapses
    /// object be the source or target of another (`Synapses(dopamine,
    /// synapse_stdp, ...)`): `Pre` (`Post`) indices are then synapse
    /// indices of `k`, its range is `0..` its number of synapses, which
    /// the runtime sets in `source_stop` (`target_stop`) before this
    /// object's first connection (`k` is declared earlier, so its
    /// synapses are all made by then), and `source` (`target`) is only
    /// the group owning `k`'s arrays. Such a side has no spikes: the
    /// lowering gives it no pathway.
    pub source_synapses: Option<usize>,
    pub target_synapses: Option<usize>,
    /// The clock of its state updater (an index into
    /// [`Program::clocks`]); its pathways run on their triggering side's
    /// clock and its summed variables on their target's, as in Brian2.
    pub clock: usize,
    /// User-visible per-synapse variables (including `delay`, and
    /// `lastupdate` when there are event-driven equations).
    pub variables: Vec<(String, ArrayId)>,
    /// The `connect:` lines, executed by [`Action::Connect`].
    pub connect: Vec<ConnectPlan>,
    /// Per-synapse delay of the `pre` pathway in seconds; the runtime
    /// rounds it to steps as Brian2 does (`int(delay/dt + 0.5)`) at the
    /// start of every run, so it may change between runs.
    pub delay: ArrayId,
    /// `on_pre` (triggered by spikes of the source, after the delay) then
    /// `on_post` (triggered by spikes of the target, no delay): List
    /// kernels over synapse indices.
    pub on_pre: Option<KernelId>,
    pub on_post: Option<KernelId>,
    /// The events that trigger `on_pre` and `on_post`: `None` for spikes,
    /// `Some(e)` for the custom event `groups[source].events[e]` (resp.
    /// the target's), Brian2's `on_event={'pre': 'custom'}`.
    pub pre_event: Option<usize>,
    pub post_event: Option<usize>,
    /// Further pathways (Brian2's `on_pre={'up': ..., 'down': ...}`), each
    /// with its own code, trigger and delay, in declaration order.
    pub pathways: Vec<PathwayPlan>,
    /// Clock-driven equations: a Range kernel over all synapses, run in
    /// the `groups` slot after the neuron groups' state updates.
    pub state_update: Option<KernelId>,
    /// `(summed)` variables, updated in the `groups` slot before any state
    /// update (Brian2's order -1).
    pub summed: Vec<SummedPlan>,
    /// Filled by the runtime after each connection: for each synapse, the
    /// number of synapses onto its target / from its source (Brian2's
    /// `N_incoming`, `N_outgoing`).
    pub n_incoming: Option<ArrayId>,
    pub n_outgoing: Option<ArrayId>,
    /// Filled by the runtime after each connection: a one-element array
    /// holding the object's number of synapses on all ranks together
    /// (Brian2's `N` of a Synapses object), when some code reads it.
    pub n_synapses: Option<ArrayId>,
}

/// A named pathway of a Synapses object besides its `on_pre`/`on_post`
/// (Brian2's `SynapticPathway` named `S_NAME`): List kernels over synapse
/// indices, triggered by an event of the source (`Pre`) or target (`Post`)
/// neurons, delivered after the pathway's own delay.
#[derive(Debug, Clone, PartialEq)]
pub struct PathwayPlan {
    /// The pathway's name (`up`); Brian2 sorts it as `S_up`.
    pub name: String,
    /// Which neurons trigger it.
    pub side: PathwaySide,
    /// `None`: their spikes; `Some(e)`: their custom event `events[e]`.
    pub event: Option<usize>,
    pub kernel: KernelId,
    /// The pathway's delay in seconds, per synapse or one value (an array
    /// of length 1 that is not per synapse), rounded to steps at the start
    /// of every run as `SynapsesPlan::delay` is.
    pub delay: ArrayId,
}

/// Which neurons of a Synapses object trigger a pathway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathwaySide {
    /// The source neurons (Brian2's `on_pre`), run at order -1 of `synapses`.
    Pre,
    /// The target neurons (`on_post`), run at order +1 of `synapses`.
    Post,
}

impl SynapsesPlan {
    /// Brian2's names of the object's pathways triggered from `side`, with
    /// what identifies each: `None` for `on_pre`/`on_post`, `Some(k)` for
    /// `pathways[k]`. Objects of one slot and order run sorted by these.
    pub fn pathway_names(&self, side: PathwaySide) -> Vec<(String, Option<usize>)> {
        let default = match side {
            PathwaySide::Pre => self.on_pre.map(|_| format!("{}_pre", self.name)),
            PathwaySide::Post => self.on_post.map(|_| format!("{}_post", self.name)),
        };
        default
            .map(|n| (n, None))
            .into_iter()
            .chain(
                self.pathways
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.side == side)
                    .map(|(k, p)| (format!("{}_{}", self.name, p.name), Some(k))),
            )
            .collect()
    }
}

/// `x_post = EXPR (summed)`: every step, the target variable of each
/// neuron of the target range is set to the sum of `value` over the
/// synapses onto it (0 for neurons without synapses).
#[derive(Debug, Clone, PartialEq)]
pub struct SummedPlan {
    /// A Range kernel over synapses that stores each synapse's term in
    /// `scratch` (a synaptic array).
    pub kernel: KernelId,
    pub scratch: ArrayId,
    /// The target group's array receiving the sums.
    pub target: ArrayId,
    /// The first step in which the sums are written: a Synapses object
    /// declared after `run`s does not exist in Brian2 during them, so it
    /// must not overwrite its target then.
    pub from_step: u64,
}

/// How many synapses each kept pair of a connection gets (`n=`).
#[derive(Debug, Clone, PartialEq)]
pub enum Multiplicity {
    /// The same number for every pair (`n=3`, or no `n=`: 1).
    Constant(u32),
    /// `n='EXPR'`: a candidate kernel (see below) run over the kept
    /// candidates of a row stores each pair's number into `scratch` at the
    /// pair's *result* neuron (`Post` for `j=` and condition forms, `Pre`
    /// for `i=` forms); the runtime reads it back right away. A negative or
    /// non-whole number is an error at run time.
    PerPair { kernel: KernelId, scratch: ArrayId },
}

impl Multiplicity {
    /// The constant number, if it is one.
    pub fn constant(&self) -> Option<u32> {
        match self {
            Multiplicity::Constant(n) => Some(*n),
            Multiplicity::PerPair { .. } => None,
        }
    }
}

/// One `connect:` line.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectPlan {
    /// Explicit pairs `i=[...]`, `j=[...]` (relative to the source and
    /// target ranges; the lists have equal length), each made `n` times.
    Explicit { i: Vec<u32>, j: Vec<u32>, n: u32 },
    /// Every pair of the ranges, in row-major order (source, then target),
    /// kept with probability `p` (a constant; `None` = always) — drawn by
    /// the runtime with geometric skips so that sparse connectivity costs
    /// O(synapses), not O(pairs) — and then filtered by `filter`, if any.
    /// Each kept pair gets `n` synapses.
    AllPairs {
        p: Option<f64>,
        filter: Option<KernelId>,
        n: Multiplicity,
    },
    /// `j='EXPR [if COND]'`: for each source neuron, the Range kernel
    /// `target_of` (run over the absolute elements
    /// `source_start..source_stop` of the source group, whose arrays it
    /// reads; it writes `scratch`, an array of the source group) computes
    /// one relative target index; out-of-range targets are an error unless
    /// `skip_if_invalid`; pairs are then filtered by `filter`, if any.
    Mapping {
        target_of: KernelId,
        scratch: ArrayId,
        filter: Option<KernelId>,
        skip_if_invalid: bool,
        n: Multiplicity,
    },
    /// `j='ELEMENT for k in range(A, B, S) if COND'`, `sample(...)`, and
    /// the same with `i=` (`over_targets`; `i='EXPR [if COND]'` is the
    /// generator `EXPR for _ in range(1)`, as in Brian2).
    ///
    /// Rows are the *outer* neurons: the source neurons, or the target
    /// neurons when `over_targets`. For each row, the Range kernel
    /// `bounds` (run over the outer range of the outer group, like
    /// `Mapping::target_of`) stores `A`, `B`, `S` into `start`, `stop`,
    /// `step` (arrays of the outer group). Candidates are the *positions*
    /// `p` of that range (`k = A + p·S`); if `sample_p` is set each is
    /// kept with that probability (geometric skips), if `sample_size` is
    /// set that many distinct positions are drawn (an error if the range
    /// is smaller, unless `skip_if_invalid`). The result index (`j`, or
    /// `i` when `over_targets`) is `k`, or with `element` the value its
    /// kernel stores. Out-of-range results are an error unless
    /// `skip_if_invalid`; then `filter`, then `n`. Synapses are made row
    /// by row, in candidate order, as Brian2 makes them.
    Generator {
        over_targets: bool,
        bounds: KernelId,
        start: ArrayId,
        stop: ArrayId,
        step: ArrayId,
        element: Option<GeneratorElement>,
        sample_p: Option<f64>,
        sample_size: Option<u64>,
        filter: Option<KernelId>,
        skip_if_invalid: bool,
        n: Multiplicity,
    },
}

/// The element expression of a generator (`i + k for k in ...`): a
/// candidate kernel over the row's candidate positions, with the pair
/// index holding the row's outer neuron and a placeholder result neuron
/// (the kernel reads only the outer side). It stores the relative result
/// index of each position into `values[position]`, an array the runtime
/// grows to the longest range.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorElement {
    pub kernel: KernelId,
    pub values: ArrayId,
}

// Candidate kernels (`filter`, `GeneratorElement::kernel`,
// `Multiplicity::PerPair`) are `Iteration::List` kernels over the
// candidates of one row. `pre_index`/`post_index` (indexed by element)
// give the absolute source and target neurons of each candidate, and
// `Index(Pre)`/`Index(Post)` are absolute neuron indices. The elements
// are the relative target indices `j` for `AllPairs` and `Mapping`, and
// the candidate positions for `Generator` (whose kernels compute `k` from
// the position and the row's `start`/`step`). Random draws are keyed by
// `step` = the row's relative outer index and element = the element.
// A filter emits the candidates it keeps and writes nothing; it may read
// `Own` only from a generator's element values. When a filter does not
// use the result side (`Post` for `j=`, `Pre` for `i=`), the runtime also
// evaluates it for out-of-range results (with a placeholder neuron), and
// such a result is an error only if the filter keeps it — Brian2's rule.

/// A neuron group and the kernels that advance it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    pub name: String,
    pub size: usize,
    /// Its clock, an index into [`Program::clocks`] (0: `defaultclock`).
    /// Its state updater, thresholder, resets, events, PoissonInputs,
    /// summed variables onto it, pathways from it and its SpikeMonitors
    /// run on it.
    pub clock: usize,
    /// The user-visible state variables (parameters and differential
    /// equation variables, plus `lastspike`/`not_refractory`), in declaration
    /// order.
    pub variables: Vec<(String, ArrayId)>,
    /// The integration method, as reported in run.json (`None` when the
    /// group has no differential equations).
    pub method: Option<String>,
    /// Runs in the `groups` slot over `0..size`: refractoriness bookkeeping,
    /// then the integrator.
    pub state_update: Option<KernelId>,
    /// The `spike` event: the threshold (runs in `thresholds`, emits the
    /// spiking neurons and updates `lastspike`/`not_refractory`) and the
    /// reset (runs in `resets` over the emitted list).
    pub spike: Option<EventPlan>,
    /// For a SpikeGeneratorGroup: its spikes are taken from here in the
    /// `thresholds` slot (and `spike` is `None`).
    pub generator: Option<GeneratorPlan>,
    /// Custom events: conditions in `after_thresholds`, effects in
    /// `after_resets`, in declaration order.
    pub events: Vec<EventPlan>,
}

/// An event of a group: its condition and what happens when it occurs.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPlan {
    pub name: String,
    /// A [`crate::Iteration::Range`] kernel that emits the indices for
    /// which the event occurs.
    pub condition: KernelId,
    /// A [`crate::Iteration::List`] kernel run over the emitted indices.
    pub effect: Option<KernelId>,
}

/// A monitor and what it records.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorPlan {
    /// Records `(i, t)` of every spike of neurons `start..stop` of `group`
    /// (indices relative to `start`), and the given variables at spike time.
    Spike {
        name: String,
        group: usize,
        start: usize,
        stop: usize,
        variables: Vec<RecordedVariable>,
        /// `Some(e)`: an EventMonitor of a custom event instead of spikes.
        event: Option<MonitoredEvent>,
        /// Brian2's `record=`: whether each event's `i` and `t` are kept
        /// (`false`: only the counts and the recorded `variables`).
        record: bool,
        /// `None`: at Brian2's default place, right after the event's
        /// thresholder; otherwise where its `when:`/`order:` put it. It
        /// records the list the event's thresholder last made: at a point
        /// before the thresholder, the previous step's.
        schedule: Option<Slot>,
        /// The first step this monitor records: Brian2 adds an object to
        /// the network where it is declared, so a monitor declared after
        /// `run`s totalling this many steps sees nothing before them.
        from_step: u64,
    },
    /// Records variables of the neurons `record` (absolute indices in
    /// `group`) at the start of every `every`-th step.
    State {
        name: String,
        /// The group recorded, or the owning group index unused when
        /// `synapses` is set.
        group: usize,
        /// `Some(s)`: the monitor records synapses of
        /// [`Program::synapses`]`[s]`, and `record` holds synapse indices.
        synapses: Option<usize>,
        /// The first neuron of the monitored slice (`G[a:b]` → `a`; 0 for
        /// whole groups and synapses): `record` minus this is what the user
        /// numbered, as in Brian2's `StateMonitor.record`.
        source_start: usize,
        variables: Vec<RecordedVariable>,
        record: Vec<usize>,
        every: u64,
        /// Computes recorded subexpressions into their arrays before a
        /// recording (a Range kernel over the group).
        prepare: Option<KernelId>,
        /// `record: all` on synapses made by rules whose count is known only
        /// when they are made: `record` is then empty, and the runtime
        /// records every synapse that exists at the monitor's first sample
        /// (Brian2's `record=True`: the synapses made before the monitor,
        /// which are all of them, since connections are made in the
        /// Synapses declaration).
        record_all_synapses: bool,
        /// `record: S[i, :]`, `S[:, j]`, `S[i, j]` (source and target
        /// neuron relative to the Synapses object's sides, `None` for
        /// `:`): `record` is then empty, and the runtime records, in
        /// creation order, the synapses with these neurons that exist at
        /// the monitor's first sample (Brian2's `record=S[i, :]`, whose
        /// synapses are made before the monitor).
        record_pairs: Option<(Option<usize>, Option<usize>)>,
        /// `None`: at the start of the step, with the other StateMonitors
        /// (Brian2's default `when='start'`, `order=0`); otherwise where
        /// its `when:`/`order:` put it.
        schedule: Option<Slot>,
        /// The first step this monitor records: Brian2 adds an object to
        /// the network where it is declared, so a monitor declared after
        /// `run`s totalling this many steps sees nothing before them.
        from_step: u64,
    },
    /// Records the fraction of neurons `start..stop` of `group` that
    /// spiked in each step, divided by `dt`.
    Rate {
        name: String,
        group: usize,
        start: usize,
        stop: usize,
        /// The first step this monitor records: Brian2 adds an object to
        /// the network where it is declared, so a monitor declared after
        /// `run`s totalling this many steps sees nothing before them.
        from_step: u64,
    },
}

/// The custom event `groups[group].events[index]` of an EventMonitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitoredEvent {
    pub index: usize,
    /// Brian2 2.9 schedules an EventMonitor of a whole group right after
    /// the event's thresholder (`after_thresholds`, order 1), but one of
    /// a subgroup (`G[1:3]`) at the subgroup's own place, `thresholds`
    /// order 2: before the event is evaluated, so it records the events
    /// of the previous step, with this step's time and values. `true` for
    /// the latter, which the runtime reproduces.
    pub before_evaluation: bool,
}

/// A variable as recorded by a monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedVariable {
    /// The name the user wrote, used as the array name in the output.
    pub name: String,
    pub array: ArrayId,
    pub kind: ValueKind,
}

/// One step of the file's top-level statements.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Runs a Range kernel over all `0..size` neurons of `group`, once, at
    /// the current time (an `init:` block or a `G.v = ...` statement).
    Initialise { kernel: KernelId, group: usize },
    /// Advances the simulation by `steps` time steps.
    Run { steps: u64 },
    /// Makes the connections of `synapses[synapses].connect[connect]`,
    /// appending synapses (new synaptic array elements start at their
    /// `initial` value), then refreshes `N_incoming`/`N_outgoing`.
    Connect { synapses: usize, connect: usize },
    /// Runs a Range kernel over all synapses of `synapses[synapses]`, once
    /// (an `init:` block, a `delay:` expression, `S.w = ...`).
    InitialiseSynapses { kernel: KernelId, synapses: usize },
    /// Brian2's length check of an array assigned to a synaptic variable
    /// whose number of synapses is known only once they are made
    /// (`connect: p=0.1`, then `S.w = [...]` or `S.w = A*mV`): fails the
    /// run unless `synapses[synapses]` has exactly `values` synapses (over
    /// all ranks). `variable` is the variable set, for the message.
    CheckSynapseCount {
        synapses: usize,
        values: usize,
        variable: String,
    },
}

impl MonitorPlan {
    pub fn name(&self) -> &str {
        match self {
            MonitorPlan::Spike { name, .. }
            | MonitorPlan::State { name, .. }
            | MonitorPlan::Rate { name, .. } => name,
        }
    }

    /// Where a `when:`/`order:` put the monitor (`None`: its default
    /// place).
    pub fn schedule(&self) -> Option<Slot> {
        match self {
            MonitorPlan::Spike { schedule, .. } | MonitorPlan::State { schedule, .. } => *schedule,
            MonitorPlan::Rate { .. } => None,
        }
    }

    /// Whether the monitor records in step `step` (see `from_step`).
    pub fn active_at(&self, step: u64) -> bool {
        match self {
            MonitorPlan::Spike { from_step, .. }
            | MonitorPlan::State { from_step, .. }
            | MonitorPlan::Rate { from_step, .. } => step >= *from_step,
        }
    }
}
