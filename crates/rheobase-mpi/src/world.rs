//! MPI's world communicator as a runtime `Exchange`.

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use mpi::Threading;
use rheobase_runtime::Exchange;
use std::sync::atomic::{AtomicU64, Ordering};

/// MPI, initialised: dropping it finalises MPI, so it must outlive every
/// [`MpiExchange`] call (keep it until the process ends).
pub struct MpiWorld {
    _universe: Universe,
}

/// The world communicator of an initialised MPI.
///
/// It holds no MPI handle (the world communicator is fetched for each
/// call), so it is `Send` and `Sync` as the runtime requires; only the
/// thread that initialised MPI calls it (the simulation's own thread;
/// worker threads never do), as `MPI_THREAD_FUNNELED` allows.
pub struct MpiExchange {
    rank: usize,
    ranks: usize,
    /// Counted through a shared reference: a window's collective may be
    /// in flight while others are made (`all_gather_fixed_during`).
    collectives: AtomicU64,
}

/// Initialises MPI, if this process was started by `mpirun` (or as a
/// singleton), and returns it with the world's exchange. A panic on any
/// rank then aborts every rank instead of leaving the others waiting in a
/// collective.
///
/// # Errors
/// When MPI cannot be initialised, or was already.
pub fn init() -> Result<(MpiWorld, MpiExchange), String> {
    let (universe, _threading) = mpi::initialize_with_threading(Threading::Funneled)
        .ok_or_else(|| "MPI could not be initialised (or was already)".to_string())?;
    let world = universe.world();
    let exchange = MpiExchange {
        rank: usize::try_from(world.rank()).unwrap_or(0),
        ranks: usize::try_from(world.size()).unwrap_or(1),
        collectives: AtomicU64::new(0),
    };
    if exchange.ranks > 1 {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            SimpleCommunicator::world().abort(70);
        }));
    }
    Ok((
        MpiWorld {
            _universe: universe,
        },
        exchange,
    ))
}

impl MpiExchange {
    fn count(&self, collectives: u64) {
        self.collectives.fetch_add(collectives, Ordering::Relaxed);
    }

    /// Every rank's count of `n`.
    fn gather_counts(&self, n: usize) -> Vec<i32> {
        let world = SimpleCommunicator::world();
        let n = i32::try_from(n).expect("an MPI message of more than 2^31 elements");
        let mut counts = vec![0; self.ranks];
        self.count(1);
        world.all_gather_into(&n, &mut counts[..]);
        counts
    }

    /// `MPI_Allgatherv` of `local` into `out`, with every rank's length
    /// in `counts`.
    fn gather_varcount(&self, local: &[u32], counts: &[i32], out: &mut Vec<u32>) {
        let displs = displacements(counts);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        out.clear();
        out.resize(total, 0);
        let mut partition = PartitionMut::new(&mut out[..], counts, &displs[..]);
        self.count(1);
        SimpleCommunicator::world().all_gather_varcount_into(local, &mut partition);
    }
}

/// Offsets of consecutive blocks of `counts` elements.
fn displacements(counts: &[i32]) -> Vec<i32> {
    counts
        .iter()
        .scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect()
}

impl Exchange for MpiExchange {
    fn ranks(&self) -> usize {
        self.ranks
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn all_gather(&self, local: &[u32], counts: &mut Vec<usize>, out: &mut Vec<u32>) {
        let lengths = self.gather_counts(local.len());
        self.gather_varcount(local, &lengths, out);
        counts.clear();
        counts.extend(lengths.iter().map(|&c| c as usize));
    }

    fn all_gather_fixed(&self, block: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.resize(block.len() * self.ranks, 0);
        self.count(1);
        SimpleCommunicator::world().all_gather_into(block, &mut out[..]);
    }

    fn all_gather_fixed_during(
        &self,
        block: &[u32],
        out: &mut Vec<u32>,
        during: &mut dyn FnMut(&mut dyn FnMut()),
    ) {
        out.clear();
        out.resize(block.len() * self.ranks, 0);
        self.count(1);
        let world = SimpleCommunicator::world();
        // The request borrows the buffers for the scope, which ends only
        // once it has completed; `during` (the step's work, which may make
        // blocking collectives of its own, after this one's start on every
        // rank) runs while it travels. Open MPI moves a collective's
        // rounds only inside MPI calls: `advance` tests it, which moves
        // the next round if its messages have arrived.
        mpi::request::scope(|scope| {
            let mut pending = Some(world.immediate_all_gather_into(scope, block, &mut out[..]));
            let mut advance = || {
                if let Some(request) = pending.take() {
                    pending = request.test().err();
                }
            };
            during(&mut advance);
            if let Some(request) = pending {
                request.wait();
            }
        });
    }

    fn all_gather_known(&self, local: &[u32], counts: &[usize], out: &mut Vec<u32>) {
        let counts: Vec<i32> = counts
            .iter()
            .map(|&c| i32::try_from(c).expect("an MPI message of more than 2^31 elements"))
            .collect();
        self.gather_varcount(local, &counts, out);
    }

    fn collectives(&self) -> u64 {
        self.collectives.load(Ordering::Relaxed)
    }

    fn any(&self, flags: u32) -> u32 {
        self.count(1);
        let mut all = 0u32;
        SimpleCommunicator::world().all_reduce_into(
            &flags,
            &mut all,
            SystemOperation::bitwise_or(),
        );
        all
    }

    fn gather(&self, local: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        // An all-gather rather than `MPI_Gatherv` to the root: the same
        // result on rank 0, and it is used only when recordings are
        // flushed and at the end of a run, where its extra traffic does not
        // count.
        // Each message carries one byte more than `local`: an empty
        // `Vec<u8>` points at address 1, which Open MPI reads as
        // `MPI_IN_PLACE`.
        let mut local = local;
        local.push(0);
        let counts = self.gather_counts(local.len());
        let displs = displacements(&counts);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut all = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            self.count(1);
            SimpleCommunicator::world().all_gather_varcount_into(&local[..], &mut partition);
        }
        if self.rank != 0 {
            return None;
        }
        Some(
            counts
                .iter()
                .zip(&displs)
                .map(|(&c, &d)| all[d as usize..(d + c - 1) as usize].to_vec())
                .collect(),
        )
    }
}
