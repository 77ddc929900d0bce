//! The spike exchange of a simulation split over MPI ranks, over the
//! system's MPI through rsmpi: [`MpiExchange`] implements the runtime's
//! `Exchange` with `MPI_Allgather` of fixed blocks (each window's spikes
//! and stop flags), `MPI_Allgatherv` (overflows, presynaptic values,
//! recordings onto rank 0) and `MPI_Allreduce` (the flags agreed apart).
//!
//! Without the `mpi` feature the crate is empty, so that the workspace
//! builds and tests on machines without MPI.

#[cfg(feature = "mpi")]
mod world;

#[cfg(feature = "mpi")]
pub use world::{init, MpiExchange, MpiWorld};
