//! Calling JIT-compiled kernels: the only `unsafe` code of the runtime.
//!
//! Three things live here, because their soundness arguments depend on
//! each other:
//! - [`ArrayStore`] owns the state arrays and the pointer table kernels
//!   index by [`ArrayId`]. The buffers are allocated once and never move,
//!   so the table stays valid for the whole simulation.
//! - [`Executor`] owns the compiled kernels (each keeps its machine code
//!   alive), each with the facts [`Access`] found in its body.
//!   Those facts are checked against the store once, when the kernel is
//!   prepared, so that every later call is in bounds.
//! - [`SharedArgs`], the `Send`/`Sync` wrapper that lets disjoint chunks of
//!   one kernel run on several threads.
//!
//! Parallel execution never changes results: a Range kernel is cut into
//! chunks of [`CHUNK`] elements whatever the thread count, each chunk
//! emits into its own slice of the event buffer, and the slices are joined
//! in chunk order. Random numbers are keyed by element index, not by
//! thread or call, so they do not depend on the split either.

use std::ptr;
use std::time::Instant;

use rayon::prelude::*;
use rheobase_jit::{CompiledKernel, Jit};
use rheobase_kernel::program::{ArrayDecl, KernelId, Program};
use rheobase_kernel::{rng, ArrayId, IndexSpace, Iteration, KernelArgs};

use crate::analysis::Access;
use crate::RuntimeError;

/// Elements per chunk of a parallel Range kernel. Fixed, so that the way a
/// range is cut (and therefore the order events are joined in) does not
/// depend on the number of threads. Large enough that a chunk's work
/// dwarfs the cost of handing it to a thread.
pub(crate) const CHUNK: usize = 2048;

/// The state arrays of a simulation.
pub(crate) struct ArrayStore {
    /// One pointer per array, passed to kernels as `KernelArgs::arrays`.
    /// Each comes from `Box::<[f64]>::into_raw` and is freed in `drop`.
    ptrs: Vec<*mut f64>,
    lens: Vec<usize>,
}

// SAFETY: an `ArrayStore` owns its buffers exclusively, exactly like a
// `Vec<Box<[f64]>>`: the pointers are never shared outside it except for
// the duration of a kernel call made through `&mut ArrayStore`. Reading
// requires `&self` and writing `&mut self`, so Rust's usual rules apply.
unsafe impl Send for ArrayStore {}
// SAFETY: see `Send`; `&ArrayStore` only gives shared read access.
unsafe impl Sync for ArrayStore {}

impl ArrayStore {
    /// Allocates every declared array, filled with its initial value.
    pub fn new(decls: &[ArrayDecl]) -> ArrayStore {
        let mut ptrs = Vec::with_capacity(decls.len());
        let mut lens = Vec::with_capacity(decls.len());
        for decl in decls {
            let buffer: Box<[f64]> = vec![decl.initial; decl.len].into_boxed_slice();
            lens.push(buffer.len());
            ptrs.push(Box::into_raw(buffer).cast::<f64>());
        }
        ArrayStore { ptrs, lens }
    }

    /// Number of arrays.
    pub fn count(&self) -> usize {
        self.ptrs.len()
    }

    pub fn len_of(&self, id: ArrayId) -> usize {
        self.lens[id.0 as usize]
    }

    pub fn get(&self, id: ArrayId) -> &[f64] {
        let i = id.0 as usize;
        // SAFETY: `ptrs[i]` came from a live `Box<[f64]>` of `lens[i]`
        // elements (freed only in `drop`), and `&self` excludes writers.
        unsafe { std::slice::from_raw_parts(self.ptrs[i], self.lens[i]) }
    }

    pub fn get_mut(&mut self, id: ArrayId) -> &mut [f64] {
        let i = id.0 as usize;
        // SAFETY: as in `get`; `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs[i], self.lens[i]) }
    }

    /// The pointer table for `KernelArgs::arrays`.
    fn table(&mut self) -> *const *mut f64 {
        self.ptrs.as_ptr()
    }
}

impl Drop for ArrayStore {
    fn drop(&mut self) {
        for (&p, &len) in self.ptrs.iter().zip(&self.lens) {
            // SAFETY: `p` and `len` describe a box made by `Box::into_raw`
            // in `new`, and each is freed exactly once, here.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, len)) });
        }
    }
}

/// The time of a kernel call, plus the run's seed: the parts of
/// [`KernelArgs`] that are the same for every kernel of a step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub t: f64,
    pub dt: f64,
    pub step: u64,
    pub seed: u64,
}

/// A compiled kernel and what the runtime knows about it.
struct Prepared {
    name: String,
    compiled: CompiledKernel,
    iteration: Iteration,
    stream: u64,
    emits: bool,
    chunkable: bool,
    /// Every array the kernel addresses at `Own` has at least this many
    /// elements, so any element index below it is in bounds.
    own_limit: usize,
}

impl Prepared {
    /// Checks the kernel's array accesses against the store. After this,
    /// a call is in bounds whenever its element indices are below
    /// `own_limit`, which `Executor` asserts before each call.
    fn new(
        kernel: &rheobase_kernel::Kernel,
        compiled: CompiledKernel,
        store: &ArrayStore,
        decls: &[ArrayDecl],
    ) -> Result<Prepared, String> {
        let access = Access::of(kernel);
        if access.uses_synapse_indices {
            return Err(format!(
                "kernel `{}` uses presynaptic or postsynaptic indices, which neuron kernels cannot",
                kernel.name
            ));
        }
        if access.uses_tables {
            return Err(format!(
                "kernel `{}` reads a lookup table, but the program declares none",
                kernel.name
            ));
        }
        let mut own_limit = usize::MAX;
        for (array, space) in access.all() {
            if array.0 as usize >= store.count() {
                return Err(format!(
                    "kernel `{}` uses array #{} but the program declares only {} arrays",
                    kernel.name,
                    array.0,
                    store.count()
                ));
            }
            let len = store.len_of(array);
            match space {
                IndexSpace::Own => own_limit = own_limit.min(len),
                IndexSpace::Shared if len == 0 => {
                    return Err(format!(
                        "kernel `{}` uses the shared value of `{}`, which is empty",
                        kernel.name, decls[array.0 as usize].name
                    ))
                }
                _ => {}
            }
        }
        Ok(Prepared {
            name: kernel.name.clone(),
            compiled,
            iteration: kernel.iteration,
            stream: rng::stream_of(&kernel.name),
            emits: access.emits,
            chunkable: access.chunkable(),
            own_limit,
        })
    }

    /// Panics unless this is a Range kernel whose arrays have room for
    /// elements `0..n`: the bounds condition of every Range call.
    fn check_range(&self, n: usize) {
        assert!(
            self.iteration == Iteration::Range && n <= self.own_limit,
            "kernel `{}` called over 0..{n}, beyond its arrays ({}) or not a Range kernel",
            self.name,
            self.own_limit
        );
    }
}

/// [`KernelArgs`] that several threads may use at once.
///
/// Only `Copy` values cross threads: each thread copies the arguments,
/// narrows them to its chunk and calls the kernel.
#[derive(Clone, Copy)]
struct SharedArgs(KernelArgs);

// SAFETY: `SharedArgs` is only built in `Executor::run_range` for kernels
// whose `Access::chunkable` holds: every store goes to the element's own
// slot and no written array is read at another slot. Chunks cover disjoint
// element ranges and emit into disjoint slices of the event buffer
// (`events_out + chunk start`, room for the chunk's length). So no two
// threads write the same memory, and nothing one thread writes is read by
// another. The arrays, pointer table and event buffer outlive the call
// because `run_range` holds `&mut` borrows of them until every chunk has
// finished (`ThreadPool::install` blocks).
unsafe impl Send for SharedArgs {}
// SAFETY: see `Send`; the wrapped value is never mutated in place.
unsafe impl Sync for SharedArgs {}

impl SharedArgs {
    /// The arguments for elements `start..end` of the full range.
    /// (A method, so closures capture the whole `Sync` wrapper rather than
    /// the raw-pointer field.)
    fn chunk(&self, start: usize, end: usize) -> KernelArgs {
        let mut args = self.0;
        args.start = start as u64;
        args.end = end as u64;
        if !args.events_out.is_null() {
            // SAFETY: the event buffer has room for the full range, and
            // `start` lies within it; stays in the same allocation.
            args.events_out = unsafe { args.events_out.add(start) };
        }
        args
    }
}

/// Runs compiled kernels, on a thread pool when that helps.
pub(crate) struct Executor {
    /// The compiled kernels, indexed by [`KernelId`].
    kernels: Vec<Prepared>,
    /// `None` runs everything on the calling thread.
    pool: Option<rayon::ThreadPool>,
    /// Per-chunk event counts of a parallel call, reused every call.
    counts: Vec<u64>,
    /// Sink for events nobody asked for (a kernel that emits but is not
    /// used as an event condition), so such a kernel never writes
    /// through a null pointer.
    discard: Vec<u32>,
}

impl Executor {
    /// Compiles every kernel of `program` and prepares a pool of
    /// `threads` threads (0 = one per core). Returns the executor and the
    /// wall seconds spent compiling.
    pub fn new(
        program: &Program,
        store: &ArrayStore,
        threads: usize,
        max_elements: usize,
    ) -> Result<(Executor, f64), RuntimeError> {
        let started = Instant::now();
        // The compiler is dropped at the end of this function: each
        // compiled kernel keeps its machine code alive by itself.
        let mut jit = Jit::new().map_err(RuntimeError::Jit)?;
        let compiled = jit
            .compile_all(&program.kernels)
            .map_err(RuntimeError::Jit)?;
        let compile_seconds = started.elapsed().as_secs_f64();
        if compiled.len() != program.kernels.len() {
            return Err(RuntimeError::InvalidProgram(format!(
                "the JIT returned {} kernels for {}",
                compiled.len(),
                program.kernels.len()
            )));
        }
        let kernels = program
            .kernels
            .iter()
            .zip(compiled)
            .map(|(k, c)| Prepared::new(k, c, store, &program.arrays))
            .collect::<Result<Vec<_>, _>>()
            .map_err(RuntimeError::InvalidProgram)?;

        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("rheobase-worker-{i}"))
                    .build()
                    .map_err(|e| RuntimeError::ThreadPool {
                        threads,
                        message: e.to_string(),
                    })?,
            )
        } else {
            None
        };
        let executor = Executor {
            kernels,
            pool,
            counts: vec![0; max_elements.div_ceil(CHUNK)],
            discard: vec![0; max_elements],
        };
        Ok((executor, compile_seconds))
    }

    /// Number of threads kernels run on.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(1, rayon::ThreadPool::current_num_threads)
    }

    pub fn iteration(&self, kernel: KernelId) -> Iteration {
        self.kernels[kernel.0 as usize].iteration
    }

    /// The number of elements a Range call of `kernel` may cover.
    pub fn own_limit(&self, kernel: KernelId) -> usize {
        self.kernels[kernel.0 as usize].own_limit
    }

    /// Runs Range kernel `kernel` over elements `0..n`. When `events` is
    /// given (with room for `n` indices), the emitted indices are left in
    /// `events[..count]` in ascending order and `count` is returned;
    /// otherwise emitted indices are discarded.
    ///
    /// # Panics
    /// If the kernel is not a Range kernel, `n` exceeds its arrays, or the
    /// kernel reports more events than elements (a JIT bug).
    pub fn run_range(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        n: usize,
        clock: Clock,
        events: Option<&mut [u32]>,
    ) -> usize {
        let Executor {
            kernels,
            pool,
            counts,
            discard,
            ..
        } = self;
        let k = &kernels[kernel.0 as usize];
        k.check_range(n);
        // Every emitting kernel gets a buffer with room for the range.
        let events: Option<&mut [u32]> = match events {
            Some(buffer) => {
                assert!(buffer.len() >= n, "event buffer too small");
                Some(buffer)
            }
            None if k.emits => {
                if discard.len() < n {
                    discard.resize(n, 0);
                }
                Some(&mut discard[..])
            }
            None => None,
        };
        let Some(events) = events else {
            // No events: no buffer, and nothing to join.
            let args = base_args(k, store, clock, 0, n, ptr::null_mut());
            run_chunks(k, pool.as_ref(), counts, SharedArgs(args), n);
            return 0;
        };
        let args = base_args(k, store, clock, 0, n, events.as_mut_ptr());
        let chunks = run_chunks(k, pool.as_ref(), counts, SharedArgs(args), n);
        // Join the chunks' events in chunk order. Chunk c wrote its
        // events at the start of its own slice `c*CHUNK..`, and the write
        // position never passes the read position, so this compacts in
        // place.
        let mut total = 0;
        for (c, &count) in chunks.iter().enumerate() {
            let start = c * CHUNK;
            let count = count as usize;
            events.copy_within(start..start + count, total);
            total += count;
        }
        total
    }

    /// Runs List kernel `kernel` over the given element indices, on the
    /// calling thread (lists are spikes of one step: short).
    ///
    /// # Panics
    /// If the kernel is not a List kernel or an element is beyond its
    /// arrays.
    pub fn run_list(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        elements: &[u32],
        clock: Clock,
    ) {
        let Executor {
            kernels, discard, ..
        } = self;
        let k = &kernels[kernel.0 as usize];
        assert!(
            k.iteration == Iteration::List && elements.iter().all(|&e| (e as usize) < k.own_limit),
            "kernel `{}` called over elements beyond its arrays or not a List kernel",
            k.name
        );
        if elements.is_empty() {
            return;
        }
        let events_out = if k.emits {
            if discard.len() < elements.len() {
                discard.resize(elements.len(), 0);
            }
            discard.as_mut_ptr()
        } else {
            ptr::null_mut()
        };
        let mut args = base_args(k, store, clock, 0, elements.len(), events_out);
        args.elements = elements.as_ptr();
        // SAFETY: `Prepared::new` checked that every array the kernel
        // addresses exists, that shared ones have a slot 0 and that no
        // pre/post indices or tables are used; the assertion above puts
        // every element below the length of all arrays addressed at `Own`.
        // `elements` is valid for `elements.len()` reads, `events_out` has
        // room for as many events as elements, and `&mut ArrayStore`
        // guarantees nobody else reads or writes the arrays meanwhile.
        let count = unsafe { k.compiled.call(&args) };
        assert!(
            count as usize <= elements.len(),
            "kernel `{}` reported more events than elements",
            k.name
        );
    }
}

fn base_args(
    k: &Prepared,
    store: &mut ArrayStore,
    clock: Clock,
    start: usize,
    end: usize,
    events_out: *mut u32,
) -> KernelArgs {
    KernelArgs {
        arrays: store.table(),
        pre_index: ptr::null(),
        post_index: ptr::null(),
        elements: ptr::null(),
        start: start as u64,
        end: end as u64,
        events_out,
        tables: ptr::null(),
        t: clock.t,
        dt: clock.dt,
        step: clock.step,
        seed: clock.seed,
        stream: k.stream,
        // Reserved for partitioning a group across processes; a chunk's
        // range already carries global indices.
        index_offset: 0,
    }
}

/// Calls a Range kernel over `0..n`, in chunks on `pool` when the kernel
/// allows it and the range has at least two chunks, else in one call on
/// this thread. Returns the per-chunk event counts (one entry when run
/// in one call); chunk `c` starts at element `c * CHUNK`.
///
/// The caller must have checked `n` against the kernel's arrays
/// (`Prepared::check_range`) and made `args.events_out` either null (for
/// kernels that do not emit) or room for `n` indices, with `&mut` borrows
/// of the store and the event buffer held for the duration of this call.
fn run_chunks<'c>(
    k: &Prepared,
    pool: Option<&rayon::ThreadPool>,
    counts: &'c mut Vec<u64>,
    args: SharedArgs,
    n: usize,
) -> &'c [u64] {
    let chunks = n.div_ceil(CHUNK);
    let parallel = match pool {
        Some(pool) if k.chunkable && chunks >= 2 => Some(pool),
        _ => None,
    };
    let check = |count: u64, len: usize| {
        assert!(
            count as usize <= len,
            "kernel `{}` reported more events than elements",
            k.name
        );
        count
    };
    match parallel {
        None => {
            if counts.is_empty() {
                counts.push(0);
            }
            // SAFETY: see the function's contract and `Prepared::new`:
            // every index the kernel uses on `0..n` is in bounds, the event
            // buffer (if any) has room for `n` indices, and the `&mut`
            // borrows held by the caller exclude other accesses.
            counts[0] = check(unsafe { k.compiled.call(&args.chunk(0, n)) }, n);
            &counts[..1]
        }
        Some(pool) => {
            if counts.len() < chunks {
                counts.resize(chunks, 0);
            }
            let counts = &mut counts[..chunks];
            pool.install(|| {
                counts.par_iter_mut().enumerate().for_each(|(c, count)| {
                    let start = c * CHUNK;
                    let end = (start + CHUNK).min(n);
                    // SAFETY: as in the single-call case for the sub-range
                    // `start..end` of `0..n`; concurrent chunks do not
                    // conflict because the kernel is chunkable (see
                    // `SharedArgs`).
                    *count = check(
                        unsafe { k.compiled.call(&args.chunk(start, end)) },
                        end - start,
                    );
                });
            });
            counts
        }
    }
}
