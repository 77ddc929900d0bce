//! The spike exchange of a simulation split over MPI ranks, over the
//! system's MPI through rsmpi: [`MpiExchange`] implements the runtime's
//! `Exchange` with `MPI_Allgatherv` (spikes), `MPI_Allreduce` (the stop
//! and failure flags) and `MPI_Gatherv` (recordings onto rank 0).
//!
//! Without the `mpi` feature the crate is empty, so that the workspace
//! builds and tests on machines without MPI.

#[cfg(feature = "mpi")]
mod world;

#[cfg(feature = "mpi")]
pub use world::{init, MpiExchange, MpiWorld};
