//! MPI's world communicator as a runtime `Exchange`.

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use mpi::Threading;
use rheobase_runtime::Exchange;

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
    counts: Vec<i32>,
    collectives: u64,
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
        counts: Vec::new(),
        collectives: 0,
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
    /// Every rank's count of `n`, into `self.counts`.
    fn gather_counts(&mut self, n: usize) {
        let world = SimpleCommunicator::world();
        let n = i32::try_from(n).expect("an MPI message of more than 2^31 elements");
        self.counts.resize(self.ranks, 0);
        self.collectives += 1;
        world.all_gather_into(&n, &mut self.counts[..]);
    }

    /// `MPI_Allgatherv` of `local` into `out`, with every rank's length
    /// already in `self.counts`.
    fn gather_varcount(&mut self, local: &[u32], out: &mut Vec<u32>) {
        let displs = displacements(&self.counts);
        let total: usize = self.counts.iter().map(|&c| c as usize).sum();
        out.clear();
        out.resize(total, 0);
        let mut partition = PartitionMut::new(&mut out[..], &self.counts[..], &displs[..]);
        self.collectives += 1;
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

    fn all_gather(&mut self, local: &[u32], counts: &mut Vec<usize>, out: &mut Vec<u32>) {
        self.gather_counts(local.len());
        self.gather_varcount(local, out);
        counts.clear();
        counts.extend(self.counts.iter().map(|&c| c as usize));
    }

    fn all_gather_fixed(&mut self, block: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.resize(block.len() * self.ranks, 0);
        self.collectives += 1;
        SimpleCommunicator::world().all_gather_into(block, &mut out[..]);
    }

    fn all_gather_known(&mut self, local: &[u32], counts: &[usize], out: &mut Vec<u32>) {
        self.counts.clear();
        self.counts.extend(
            counts
                .iter()
                .map(|&c| i32::try_from(c).expect("an MPI message of more than 2^31 elements")),
        );
        self.gather_varcount(local, out);
    }

    fn collectives(&self) -> u64 {
        self.collectives
    }

    fn any(&mut self, flags: u32) -> u32 {
        self.collectives += 1;
        let mut all = 0u32;
        SimpleCommunicator::world().all_reduce_into(
            &flags,
            &mut all,
            SystemOperation::bitwise_or(),
        );
        all
    }

    fn gather(&mut self, local: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        // An all-gather rather than `MPI_Gatherv` to the root: the same
        // result on rank 0, and it is used only when recordings are
        // flushed and at the end of a run, where its extra traffic does not
        // count.
        // Each message carries one byte more than `local`: an empty
        // `Vec<u8>` points at address 1, which Open MPI reads as
        // `MPI_IN_PLACE`.
        let mut local = local;
        local.push(0);
        self.gather_counts(local.len());
        let displs = displacements(&self.counts);
        let total: usize = self.counts.iter().map(|&c| c as usize).sum();
        let mut all = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &self.counts[..], &displs[..]);
            self.collectives += 1;
            SimpleCommunicator::world().all_gather_varcount_into(&local[..], &mut partition);
        }
        if self.rank != 0 {
            return None;
        }
        Some(
            self.counts
                .iter()
                .zip(&displs)
                .map(|(&c, &d)| all[d as usize..(d + c - 1) as usize].to_vec())
                .collect(),
        )
    }
}
