//! Calling JIT-compiled kernels: the only `unsafe` code of the runtime.
//!
//! Three things live here, because their soundness arguments depend on
//! each other:
//! - [`ArrayStore`] owns the state arrays and the pointer table kernels
//!   index by [`ArrayId`]. A buffer moves only when it is resized (synaptic
//!   arrays, after a connection), which needs `&mut ArrayStore`, so never
//!   while a kernel runs; the table always holds the current pointers.
//! - [`PairIndex`] holds the pre- and postsynaptic neuron of each synapse
//!   (or candidate pair), and bounds that every stored index is below.
//! - [`Executor`] owns the compiled kernels (each keeps its machine code
//!   alive), each with the facts [`Access`] found in its body, and the
//!   lookup tables. Before every call it checks those facts against the
//!   current array lengths and the call's elements and pair index, so that
//!   every access of the compiled code is in bounds.
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
use rheobase_kernel::{rng, ArrayId, IndexSpace, Iteration, KernelArgs, TableDesc};

use crate::analysis::Access;
use crate::RuntimeError;

/// Elements per chunk of a parallel Range kernel. Fixed, so that the way a
/// range is cut (and therefore the order events are joined in) does not
/// depend on the number of threads. Large enough that a chunk's work
/// dwarfs the cost of handing it to a thread.
pub(crate) const CHUNK: usize = 2048;

/// The least estimated work (elements times [`Access::cost`]) for which a
/// Range call is split across threads. Waking the pool and joining it
/// costs about 6 us here, a few tens of thousands of cost units; below
/// about ten times that, a second thread saves less than it costs, and a
/// small network (CUBA's 4000 neurons) ran two to four times slower on two
/// threads than on one. Whether a call is split never changes its result
/// (chunks are element-wise and joined in order), only its speed.
const PARALLEL_MIN_WORK: u64 = 200_000;

/// The state arrays of a simulation.
///
/// Most arrays have a buffer of their own. The members of a record
/// ([`Program::records`]: the per-synapse arrays of plastic synapses)
/// share one buffer, interleaved: element `e` of the member in slot `m`
/// is value `e * stride + m`, so the members of one synapse lie in one
/// cache line. Kernels see each member through its pointer in the table
/// (the record's first value plus the slot) and the stride they were
/// compiled with; Rust code sees every array through [`Values`].
pub(crate) struct ArrayStore {
    /// One pointer per array, passed to kernels as `KernelArgs::arrays`.
    /// For an array of its own it comes from `Box::<[f64]>::into_raw` and
    /// is freed in `drop`; for a member it points into its record.
    ptrs: Vec<*mut f64>,
    /// Elements of each array.
    lens: Vec<usize>,
    /// Where each array's values are.
    places: Vec<Place>,
    /// The value new elements of each array start at.
    initials: Vec<f64>,
    records: Vec<Record>,
}

/// Where the values of an array are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In a buffer of its own, at `ptrs[id]`.
    Alone,
    /// In slot `slot` of `records[record]`.
    Member { record: usize, slot: usize },
}

/// The buffer of interleaved arrays.
struct Record {
    /// From `Box::<[f64]>::into_raw` with `buffer_len` values; freed in
    /// `drop`.
    buffer: *mut f64,
    buffer_len: usize,
    /// Values before the first record: the buffer is over-allocated so
    /// that records start at a multiple of [`RECORD_ALIGN`] bytes.
    offset: usize,
    stride: usize,
    /// Elements of every member.
    len: usize,
    members: Vec<ArrayId>,
}

/// Alignment of the first record of a buffer, bytes: a cache line, so
/// that a record of up to eight values never straddles two.
const RECORD_ALIGN: usize = 64;

// SAFETY: an `ArrayStore` owns its buffers exclusively, exactly like a
// `Vec<Box<[f64]>>`: the pointers are never shared outside it except for
// the duration of a kernel call made through `&mut ArrayStore`. Reading
// requires `&self` and writing `&mut self`, so Rust's usual rules apply.
unsafe impl Send for ArrayStore {}
// SAFETY: see `Send`; `&ArrayStore` only gives shared read access.
unsafe impl Sync for ArrayStore {}

/// The values of one array, read-only: a slice, or every `stride`-th value
/// of a record's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// From the array's first value to its last (empty when it has none).
    data: &'a [f64],
    stride: usize,
    len: usize,
}

impl<'a> Values<'a> {
    fn new(data: &'a [f64], stride: usize, len: usize) -> Values<'a> {
        Values { data, stride, len }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Values::len`].
    pub fn get(&self, i: usize) -> f64 {
        assert!(i < self.len, "index {i} of an array of {}", self.len);
        self.data[i * self.stride]
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = f64> + 'a {
        self.data
            .iter()
            .step_by(self.stride)
            .take(self.len)
            .copied()
    }

    /// The values as one slice, if they are stored contiguously.
    pub fn as_slice(&self) -> Option<&'a [f64]> {
        (self.stride == 1).then_some(self.data)
    }

    /// The values as a slice: borrowed where they are contiguous, copied
    /// out of their record otherwise.
    pub fn to_cow(&self) -> std::borrow::Cow<'a, [f64]> {
        match self.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.iter().collect()),
        }
    }
}

/// The values of one array, writable (see [`Values`]).
#[derive(Debug)]
pub struct ValuesMut<'a> {
    data: &'a mut [f64],
    stride: usize,
    len: usize,
}

impl ValuesMut<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets every element to `value`.
    pub fn fill(&mut self, value: f64) {
        self.iter_mut().for_each(|v| *v = value);
    }

    /// Sets the elements to `values`.
    ///
    /// # Panics
    /// If the lengths differ.
    pub fn copy_from_slice(&mut self, values: &[f64]) {
        assert_eq!(
            values.len(),
            self.len,
            "copying between arrays of different lengths"
        );
        for (v, &x) in self.iter_mut().zip(values) {
            *v = x;
        }
    }

    /// Sets element `i`.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn set(&mut self, i: usize, value: f64) {
        assert!(i < self.len, "element {i} of an array of {}", self.len);
        self.data[i * self.stride] = value;
    }

    /// The elements in order, for changing.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut f64> + '_ {
        self.data.iter_mut().step_by(self.stride).take(self.len)
    }
}

impl ArrayStore {
    /// Allocates every declared array, filled with its initial value,
    /// with the arrays of each of `records` interleaved in one buffer.
    ///
    /// # Panics
    /// If an array is in two records, or a record has more than
    /// [`rheobase_kernel::program::MAX_RECORD_MEMBERS`] members.
    pub fn new(decls: &[ArrayDecl], records: &[Vec<ArrayId>]) -> ArrayStore {
        let mut places = vec![Place::Alone; decls.len()];
        let mut store = ArrayStore {
            ptrs: Vec::with_capacity(decls.len()),
            lens: Vec::with_capacity(decls.len()),
            places: Vec::new(),
            initials: decls.iter().map(|d| d.initial).collect(),
            records: Vec::with_capacity(records.len()),
        };
        for (r, members) in records.iter().enumerate() {
            assert!(members.len() <= rheobase_kernel::program::MAX_RECORD_MEMBERS);
            for (slot, a) in members.iter().enumerate() {
                let place = &mut places[a.0 as usize];
                assert_eq!(*place, Place::Alone, "array {} in two records", a.0);
                *place = Place::Member { record: r, slot };
            }
        }
        for (decl, place) in decls.iter().zip(&places) {
            // Synaptic arrays start empty: there are no synapses yet.
            let len = if decl.synapses.is_some() { 0 } else { decl.len };
            match place {
                Place::Alone => {
                    let buffer = new_buffer(len, |v| v.resize(len, decl.initial));
                    store.ptrs.push(Box::into_raw(buffer).cast::<f64>());
                }
                // Placed once their record exists, below.
                Place::Member { .. } => store.ptrs.push(ptr::null_mut()),
            }
            store.lens.push(len);
        }
        store.places = places;
        for members in records {
            let len = members.first().map_or(0, |a| store.lens[a.0 as usize]);
            let stride = rheobase_kernel::program::record_stride(members.len()) as usize;
            store.records.push(Record {
                buffer: ptr::null_mut(),
                buffer_len: 0,
                offset: 0,
                stride,
                len: 0,
                members: members.clone(),
            });
            store.fill_record(store.records.len() - 1, len);
        }
        store
    }

    /// Gives record `r` a new buffer of `len` elements per member: the
    /// first `min(len, old length)` keep their values, the others start
    /// at their array's initial value. Frees the old buffer and updates
    /// the pointer table.
    fn fill_record(&mut self, r: usize, len: usize) {
        let (stride, old_len) = (self.records[r].stride, self.records[r].len);
        let align = RECORD_ALIGN / std::mem::size_of::<f64>();
        let total = len * stride + align - 1;
        let kept = old_len.min(len);
        let old = self.records[r].buffer;
        let old_offset = self.records[r].offset;
        let fresh: Vec<f64> = self.records[r]
            .members
            .iter()
            .map(|a| self.initials[a.0 as usize])
            .chain(std::iter::repeat(0.0))
            .take(stride)
            .collect();
        let mut buffer = new_buffer(total, |values| values.resize(total, 0.0));
        // Where the first record starts: the first value whose address is
        // a multiple of RECORD_ALIGN (taken from the buffer as it will stay).
        let misaligned = (buffer.as_ptr() as usize / std::mem::size_of::<f64>()) % align;
        let offset = (align - misaligned) % align;
        let blocks = &mut buffer[offset..offset + len * stride];
        if kept > 0 {
            // SAFETY: `old` is the live buffer of this record (`kept` > 0
            // means it holds `old_len >= kept` blocks after `old_offset`),
            // made by `Box::into_raw` and not yet freed; it is a different
            // allocation from `buffer`.
            let previous =
                unsafe { std::slice::from_raw_parts(old.add(old_offset), kept * stride) };
            blocks[..kept * stride].copy_from_slice(previous);
        }
        for block in blocks[kept * stride..].chunks_exact_mut(stride) {
            block.copy_from_slice(&fresh);
        }
        let record = &mut self.records[r];
        let (old_buffer, old_buffer_len) = (record.buffer, record.buffer_len);
        record.buffer_len = buffer.len();
        record.buffer = Box::into_raw(buffer).cast::<f64>();
        record.offset = offset;
        record.len = len;
        for (slot, a) in record.members.iter().enumerate() {
            // In bounds: offset + slot < offset + stride <= the buffer's
            // length whenever len > 0, and one past at most otherwise
            // (never dereferenced: the array has no elements).
            self.ptrs[a.0 as usize] = record.buffer.wrapping_add(offset + slot);
            self.lens[a.0 as usize] = len;
        }
        if !old_buffer.is_null() {
            // SAFETY: the old buffer was made by `Box::into_raw` with
            // `old_buffer_len` values, is no longer in the table, and is
            // freed exactly once, here.
            drop(unsafe {
                Box::from_raw(ptr::slice_from_raw_parts_mut(old_buffer, old_buffer_len))
            });
        }
    }

    /// Number of arrays.
    pub fn count(&self) -> usize {
        self.ptrs.len()
    }

    /// Bytes of all arrays.
    pub fn bytes(&self) -> usize {
        let alone: usize = (0..self.lens.len())
            .filter(|&i| self.places[i] == Place::Alone)
            .map(|i| self.lens[i])
            .sum();
        let records: usize = self.records.iter().map(|r| r.buffer_len).sum();
        (alone + records) * std::mem::size_of::<f64>()
    }

    pub fn len_of(&self, id: ArrayId) -> usize {
        self.lens[id.0 as usize]
    }

    /// Distance in values between consecutive elements of each array, for
    /// reading ahead (1 for arrays of their own).
    pub fn stride_of(&self, id: ArrayId) -> usize {
        match self.places[id.0 as usize] {
            Place::Alone => 1,
            Place::Member { record, .. } => self.records[record].stride,
        }
    }

    /// Where the cache lines of array `id` are, for reading ahead: a key
    /// shared by the members of one record (and by no other array), the
    /// address of the first element of the array's record (or of the
    /// array), and the stride.
    pub fn lines_of(&self, id: ArrayId) -> (usize, *const f64, usize) {
        match self.places[id.0 as usize] {
            Place::Alone => (id.0 as usize, self.ptrs[id.0 as usize], 1),
            Place::Member { record, .. } => {
                let r = &self.records[record];
                let first = r.buffer.wrapping_add(r.offset);
                (self.ptrs.len() + record, first, r.stride)
            }
        }
    }

    /// For a member of a record: the record's index and all its values
    /// (every member's, and zeros in the slots no member uses), for
    /// scanning them in one pass.
    pub fn record_span(&self, id: ArrayId) -> Option<(usize, &[f64])> {
        match self.places[id.0 as usize] {
            Place::Alone => None,
            Place::Member { record, .. } => {
                let r = &self.records[record];
                // SAFETY: the record's buffer is live (freed only through
                // `&mut self`) and holds `len * stride` values after
                // `offset`; `&self` excludes writers.
                let values =
                    unsafe { std::slice::from_raw_parts(r.buffer.add(r.offset), r.len * r.stride) };
                Some((record, values))
            }
        }
    }

    /// The stride of every array, by id, as the JIT needs them.
    pub fn strides(&self) -> Vec<u32> {
        (0..self.lens.len())
            .map(|i| self.stride_of(ArrayId(i as u32)) as u32)
            .collect()
    }

    /// The values of array `id`, wherever they are stored.
    pub fn values(&self, id: ArrayId) -> Values<'_> {
        let i = id.0 as usize;
        let (len, stride) = (self.lens[i], self.stride_of(id));
        let span = if len == 0 { 0 } else { (len - 1) * stride + 1 };
        // SAFETY: `ptrs[i]` points at the array's first value, inside a
        // live buffer (freed only in `drop` or when replaced by
        // `resize`, both through `&mut self`) that holds `span` values
        // from there on: `len` for an array alone; for a member, its
        // record's `len` blocks of `stride` values start at the record's
        // offset and the member's slot is below `stride`. `&self`
        // excludes writers.
        let data = unsafe { std::slice::from_raw_parts(self.ptrs[i], span) };
        Values::new(data, stride, len)
    }

    /// The values of array `id`, for writing.
    pub fn values_mut(&mut self, id: ArrayId) -> ValuesMut<'_> {
        let i = id.0 as usize;
        let (len, stride) = (self.lens[i], self.stride_of(id));
        let span = if len == 0 { 0 } else { (len - 1) * stride + 1 };
        // SAFETY: as in `values`; `&mut self` makes this the only access.
        let data = unsafe { std::slice::from_raw_parts_mut(self.ptrs[i], span) };
        ValuesMut { data, stride, len }
    }

    /// The values of an array stored on its own, as a slice.
    ///
    /// # Panics
    /// If `id` is interleaved in a record (only the arrays of `on_pre` and
    /// `on_post` code are; callers name others).
    pub fn get(&self, id: ArrayId) -> &[f64] {
        let i = id.0 as usize;
        assert_eq!(self.places[i], Place::Alone, "array {i} is interleaved");
        // SAFETY: `ptrs[i]` came from a live `Box<[f64]>` of `lens[i]`
        // elements (freed only in `drop` or `resize`), and `&self`
        // excludes writers.
        unsafe { std::slice::from_raw_parts(self.ptrs[i], self.lens[i]) }
    }

    /// As [`ArrayStore::get`], for writing.
    pub fn get_mut(&mut self, id: ArrayId) -> &mut [f64] {
        let i = id.0 as usize;
        assert_eq!(self.places[i], Place::Alone, "array {i} is interleaved");
        // SAFETY: as in `get`; `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs[i], self.lens[i]) }
    }

    /// Changes the length of an array to `len`, keeping the first
    /// `min(len, old length)` values and filling new elements with `fill`.
    /// A member of a record changes the length of every member; the new
    /// elements of the others start at their initial value. The buffer
    /// moves; the pointer table is updated.
    pub fn resize(&mut self, id: ArrayId, len: usize, fill: f64) {
        let i = id.0 as usize;
        let old_len = self.lens[i];
        if old_len == len {
            return;
        }
        if let Place::Member { record, .. } = self.places[i] {
            let previous = std::mem::replace(&mut self.initials[i], fill);
            self.fill_record(record, len);
            self.initials[i] = previous;
            return;
        }
        let buffer = new_buffer(len, |values| {
            values.extend_from_slice(&self.get(id)[..old_len.min(len)]);
            values.resize(len, fill);
        });
        let new_ptr = Box::into_raw(buffer).cast::<f64>();
        let old_ptr = std::mem::replace(&mut self.ptrs[i], new_ptr);
        self.lens[i] = len;
        // SAFETY: `old_ptr`/`old_len` described a box made by
        // `Box::into_raw` (in `new` or an earlier `resize`), no longer
        // referenced by the table; it is freed exactly once, here.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(old_ptr, old_len)) });
    }

    /// Array `read` for reading and array `write` for writing, at once.
    ///
    /// # Panics
    /// If they are the same array, or either is interleaved.
    pub fn read_write(&mut self, read: ArrayId, write: ArrayId) -> (&[f64], &mut [f64]) {
        assert_ne!(read, write, "reading and writing the same array");
        let (r, w) = (read.0 as usize, write.0 as usize);
        assert!(self.places[r] == Place::Alone && self.places[w] == Place::Alone);
        // SAFETY: two distinct live boxes (see `get`), so the slices do not
        // overlap; `&mut self` makes these the only accesses.
        unsafe {
            (
                std::slice::from_raw_parts(self.ptrs[r], self.lens[r]),
                std::slice::from_raw_parts_mut(self.ptrs[w], self.lens[w]),
            )
        }
    }

    /// The pointer table for `KernelArgs::arrays`.
    fn table(&mut self) -> *const *mut f64 {
        self.ptrs.as_ptr()
    }
}

/// Arrays at least this large are backed by transparent huge pages.
const HUGE_PAGE_MIN_BYTES: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// A buffer of `len` values filled by `fill` (which must push exactly
/// `len` values), on transparent huge pages when it is large.
///
/// Synaptic arrays (Brunel's 6.4M plastic synapses: 51 MB per variable)
/// are read at scattered positions by `on_post` code, one synapse per
/// postsynaptic spike: with 4 KiB pages nearly every access also misses
/// the TLB. Linux backs a range with 2 MiB pages only when asked
/// (`madvise(MADV_HUGEPAGE)`, the default `madvise` mode of
/// `transparent_hugepage`) and before the pages are first touched, so the
/// advice is given between reserving the memory and filling it. It is only
/// advice: where the kernel refuses it, nothing changes but speed.
fn new_buffer(len: usize, fill: impl FnOnce(&mut Vec<f64>)) -> Box<[f64]> {
    let mut values: Vec<f64> = Vec::with_capacity(len);
    let bytes = len * std::mem::size_of::<f64>();
    if bytes >= HUGE_PAGE_MIN_BYTES {
        let start = values.as_mut_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE);
        let end = (start + bytes) / HUGE_PAGE * HUGE_PAGE;
        if end > first {
            // SAFETY: `first..end` lies inside the allocation `values` owns
            // (its capacity is `bytes`), and MADV_HUGEPAGE changes neither
            // the contents nor the validity of the memory, only how the
            // kernel backs it.
            let _ = unsafe {
                rustix::mm::madvise(
                    first as *mut std::ffi::c_void,
                    end - first,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
    }
    fill(&mut values);
    debug_assert_eq!(values.len(), len);
    values.into_boxed_slice()
}

/// The presynaptic and postsynaptic neuron of each synapse (or candidate
/// pair of a connection), as passed to kernels in
/// `KernelArgs::pre_index`/`post_index`.
///
/// Invariant: every `pre` value is below `pre_bound` and every `post` value
/// below `post_bound` (checked on every write), and both vectors have the
/// same length. The executor relies on it to bound `Pre`/`Post` accesses.
#[derive(Debug, Clone)]
pub(crate) struct PairIndex {
    pre: Vec<u32>,
    post: Vec<u32>,
    pre_bound: usize,
    post_bound: usize,
}

impl PairIndex {
    /// An empty index whose neurons will lie below the given bounds.
    pub fn new(pre_bound: usize, post_bound: usize) -> PairIndex {
        PairIndex {
            pre: Vec::new(),
            post: Vec::new(),
            pre_bound,
            post_bound,
        }
    }

    pub fn len(&self) -> usize {
        self.pre.len()
    }

    pub fn pre(&self) -> &[u32] {
        &self.pre
    }

    pub fn post(&self) -> &[u32] {
        &self.post
    }

    /// Appends a pair.
    ///
    /// # Panics
    /// If a neuron is not below its bound.
    pub fn push(&mut self, pre: u32, post: u32) {
        assert!(
            (pre as usize) < self.pre_bound && (post as usize) < self.post_bound,
            "synapse {pre} -> {post} outside the bounds {} x {}",
            self.pre_bound,
            self.post_bound
        );
        self.pre.push(pre);
        self.post.push(post);
    }

    /// Sets the bounds anew, e.g. lower once a side's global indices
    /// have become local ones (`partition::synapse_sides`).
    ///
    /// # Panics
    /// If a pair already made is not below the new bounds.
    pub fn set_bounds(&mut self, pre_bound: usize, post_bound: usize) {
        assert!(
            self.pre.iter().all(|&p| (p as usize) < pre_bound)
                && self.post.iter().all(|&p| (p as usize) < post_bound),
            "synapses outside the new bounds {pre_bound} x {post_bound}"
        );
        self.pre_bound = pre_bound;
        self.post_bound = post_bound;
    }

    /// The bounds: `(pre, post)`.
    pub fn bounds(&self) -> (usize, usize) {
        (self.pre_bound, self.post_bound)
    }

    /// Appends pairs `(pre[k], post[k])` with the bounds checked.
    pub fn extend(&mut self, pre: &[u32], post: &[u32]) {
        assert_eq!(pre.len(), post.len());
        assert!(
            pre.iter().all(|&p| (p as usize) < self.pre_bound)
                && post.iter().all(|&p| (p as usize) < self.post_bound),
            "synapses outside the bounds {} x {}",
            self.pre_bound,
            self.post_bound
        );
        self.pre.extend_from_slice(pre);
        self.post.extend_from_slice(post);
    }

    /// Sets pair `k`.
    ///
    /// # Panics
    /// If `k` is out of range or a neuron is not below its bound.
    pub fn set(&mut self, k: usize, pre: u32, post: u32) {
        assert!(
            (pre as usize) < self.pre_bound && (post as usize) < self.post_bound,
            "pair {pre} -> {post} outside the bounds {} x {}",
            self.pre_bound,
            self.post_bound
        );
        self.pre[k] = pre;
        self.post[k] = post;
    }

    /// Bytes of the two index vectors.
    pub fn bytes(&self) -> usize {
        (self.pre.capacity() + self.post.capacity()) * std::mem::size_of::<u32>()
    }
}

impl Drop for ArrayStore {
    fn drop(&mut self) {
        for ((&p, &len), place) in self.ptrs.iter().zip(&self.lens).zip(&self.places) {
            if *place == Place::Alone {
                // SAFETY: `p` and `len` describe a box made by
                // `Box::into_raw` in `new` or `resize`, and each is freed
                // exactly once, here.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, len)) });
            }
        }
        for r in &self.records {
            if !r.buffer.is_null() {
                // SAFETY: made by `Box::into_raw` in `fill_record` with
                // `buffer_len` values, freed exactly once, here.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(r.buffer, r.buffer_len))
                });
            }
        }
    }
}

/// The time of a kernel call, plus the run's seed: the parts of
/// [`KernelArgs`] that are the same for every kernel of a step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// `t`, `dt` and the step number of the clock the kernel runs on.
    pub t: f64,
    pub dt: f64,
    pub step: u64,
    pub seed: u64,
    /// The simulation's tick (`Simulation::step`), which `from_step`s and
    /// the periods of monitors and `run_regularly` code count; `step`
    /// itself with one clock.
    pub tick: u64,
}

/// A compiled kernel and what the runtime knows about it.
struct Prepared {
    name: String,
    compiled: CompiledKernel,
    iteration: Iteration,
    stream: u64,
    emits: bool,
    chunkable: bool,
    /// Estimated cost of one element ([`Access::cost`]).
    cost: u64,
    /// Arrays addressed at `Own`, `Pre`, `Post` and `Shared`.
    own: Vec<ArrayId>,
    pre: Vec<ArrayId>,
    post: Vec<ArrayId>,
    shared: Vec<ArrayId>,
    /// The kernel reads `pre_index`/`post_index`.
    uses_pairs: bool,
    /// The kernel uses the `Post` index.
    uses_post: bool,
    /// The kernel uses the `Pre` index.
    uses_pre: bool,
    /// The arrays the kernel writes.
    written: Vec<ArrayId>,
    /// (array, index array) of every `Via` address: each value of the
    /// index array must be an element of the array.
    via: Vec<(ArrayId, ArrayId)>,
}

impl Prepared {
    /// Checks that every array and table the kernel uses exists. Lengths
    /// are checked before each call ([`Prepared::check_call`]), since
    /// synaptic arrays grow.
    fn new(
        kernel: &rheobase_kernel::Kernel,
        compiled: CompiledKernel,
        store: &ArrayStore,
        n_tables: usize,
    ) -> Result<Prepared, String> {
        let access = Access::of(kernel);
        if let Some(t) = access.tables.iter().find(|t| t.0 as usize >= n_tables) {
            return Err(format!(
                "kernel `{}` reads lookup table #{} but the program declares {n_tables}",
                kernel.name, t.0
            ));
        }
        let (mut own, mut pre, mut post, mut shared) = (vec![], vec![], vec![], vec![]);
        let mut via = vec![];
        for (array, space) in access.all() {
            if array.0 as usize >= store.count() {
                return Err(format!(
                    "kernel `{}` uses array #{} but the program declares only {} arrays",
                    kernel.name,
                    array.0,
                    store.count()
                ));
            }
            match space {
                IndexSpace::Own => own.push(array),
                IndexSpace::Pre => pre.push(array),
                IndexSpace::Post => post.push(array),
                IndexSpace::Shared => shared.push(array),
                IndexSpace::Via(index) => via.push((array, index)),
            }
        }
        via.sort_unstable();
        via.dedup();
        for list in [&mut own, &mut pre, &mut post, &mut shared] {
            list.sort_unstable();
            list.dedup();
        }
        Ok(Prepared {
            name: kernel.name.clone(),
            compiled,
            iteration: kernel.iteration,
            stream: rng::stream_of(&kernel.name),
            emits: access.emits,
            chunkable: access.chunkable(),
            cost: access.cost,
            own,
            pre,
            post,
            shared,
            via,
            uses_pairs: access.uses_synapse_indices,
            uses_post: access.uses_post,
            uses_pre: access.uses_pre,
            written: {
                let mut w: Vec<ArrayId> = access.stores.iter().map(|s| s.0).collect();
                w.dedup();
                w
            },
        })
    }

    /// The number of elements the `Own` arrays have room for.
    fn own_limit(&self, store: &ArrayStore) -> usize {
        self.own
            .iter()
            .map(|&a| store.len_of(a))
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Panics unless a call over elements below `limit` (of iteration
    /// `iteration`) with the pair index `pairs` is in bounds: every `Own`
    /// array has `limit` elements, every shared one a slot 0, and, for a
    /// kernel using `Pre`/`Post`, the pair index covers the elements and
    /// its bounds fit the `Pre`/`Post` arrays. This is the bounds
    /// condition of every call.
    fn check_call(
        &self,
        store: &ArrayStore,
        iteration: Iteration,
        limit: usize,
        pairs: Option<&PairIndex>,
    ) {
        assert!(
            self.iteration == iteration,
            "kernel `{}` called as a {iteration:?} kernel",
            self.name
        );
        let own_limit = self.own_limit(store);
        assert!(
            limit <= own_limit,
            "kernel `{}` called over elements up to {limit}, beyond its arrays ({own_limit})",
            self.name
        );
        assert!(
            self.shared.iter().all(|&a| store.len_of(a) >= 1),
            "kernel `{}` reads an empty shared value",
            self.name
        );
        // An index array is constant, made by the lowering; checking its
        // values at every call keeps the bounds condition local.
        assert!(
            self.via.iter().all(|&(a, index)| {
                let len = store.len_of(a) as f64;
                store
                    .values(index)
                    .iter()
                    .take(limit)
                    .all(|x| x >= 0.0 && x < len && x.fract() == 0.0)
            }),
            "kernel `{}` reads through an index outside its array",
            self.name
        );
        if self.uses_pairs {
            let Some(pairs) = pairs else {
                panic!(
                    "kernel `{}` uses synapse indices but was called without them",
                    self.name
                )
            };
            assert!(
                limit <= pairs.len()
                    && self.pre.iter().all(|&a| store.len_of(a) >= pairs.pre_bound)
                    && self
                        .post
                        .iter()
                        .all(|&a| store.len_of(a) >= pairs.post_bound),
                "kernel `{}`: synapse indices out of the bounds of its arrays",
                self.name
            );
        }
    }
}

/// The lookup tables of a program, in the layout kernels read.
struct Tables {
    /// The values; `descs[k].values` points into `values[k]`. The boxes
    /// are never changed, so the pointers stay valid while `self` lives.
    _values: Vec<Box<[f64]>>,
    descs: Vec<TableDesc>,
}

// SAFETY: `Tables` owns the buffers its descriptors point to and never
// writes them after construction; sharing or sending it is like sharing
// or sending a `Vec<Box<[f64]>>`.
unsafe impl Send for Tables {}
// SAFETY: see `Send`: read-only after construction.
unsafe impl Sync for Tables {}

impl Tables {
    fn new(program: &Program) -> Result<Tables, String> {
        let mut values = Vec::with_capacity(program.tables.len());
        let mut descs = Vec::with_capacity(program.tables.len());
        for t in &program.tables {
            let len = t.rows.checked_mul(t.columns);
            if t.rows == 0 || t.columns == 0 || len != Some(t.values.len()) {
                return Err(format!(
                    "table `{}` is {}x{} but has {} values",
                    t.name,
                    t.rows,
                    t.columns,
                    t.values.len()
                ));
            }
            if !(t.dt.is_finite() && t.dt > 0.0) {
                return Err(format!("table `{}` has a time step of {} s", t.name, t.dt));
            }
            let buffer: Box<[f64]> = t.values.clone().into_boxed_slice();
            descs.push(TableDesc {
                values: buffer.as_ptr(),
                rows: t.rows as u64,
                columns: t.columns as u64,
                dt: t.dt,
            });
            values.push(buffer);
        }
        Ok(Tables {
            _values: values,
            descs,
        })
    }

    fn ptr(&self) -> *const TableDesc {
        if self.descs.is_empty() {
            ptr::null()
        } else {
            self.descs.as_ptr()
        }
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
    /// The arguments for elements `start..end` of the full range, whose
    /// events go to position `event_offset` of the event buffer. (A
    /// method, so closures capture the whole `Sync` wrapper rather than
    /// the raw-pointer field.)
    fn chunk(&self, start: usize, end: usize, event_offset: usize) -> KernelArgs {
        let mut args = self.0;
        args.start = start as u64;
        args.end = end as u64;
        if !args.events_out.is_null() {
            // SAFETY: the event buffer has room for the full range, and
            // `event_offset` (the chunk's start relative to the range's)
            // lies within it; stays in the same allocation.
            args.events_out = unsafe { args.events_out.add(event_offset) };
        }
        args
    }
}

/// Runs compiled kernels, on a thread pool when that helps.
pub(crate) struct Executor {
    /// The compiled kernels, indexed by [`KernelId`].
    kernels: Vec<Prepared>,
    tables: Tables,
    /// `None` runs everything on the calling thread.
    pool: Option<rayon::ThreadPool>,
    /// Per-chunk event counts of a parallel call, reused every call.
    counts: Vec<u64>,
    /// Sink for events nobody asked for (a kernel that emits but is not
    /// used as an event condition), so such a kernel never writes
    /// through a null pointer.
    discard: Vec<u32>,
}

/// Where one kernel's machine code lies, for profilers (see
/// [`crate::Simulation::kernel_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelCode {
    /// The kernel's name, e.g. `P.state_update`.
    pub name: String,
    /// Address of the first byte of its machine code.
    pub address: usize,
    /// Length of its machine code in bytes.
    pub size: usize,
}

impl Executor {
    /// Where each compiled kernel's machine code lies, in kernel order.
    pub fn kernel_code(&self) -> Vec<KernelCode> {
        self.kernels
            .iter()
            .map(|k| {
                let (address, size) = k.compiled.code_range();
                KernelCode {
                    name: k.name.clone(),
                    address,
                    size,
                }
            })
            .collect()
    }

    /// Compiles every kernel of `program` and prepares a pool of
    /// `threads` threads (0 = one per core). Returns the executor and the
    /// wall seconds spent compiling.
    pub fn new(
        program: &Program,
        store: &ArrayStore,
        threads: usize,
        max_elements: usize,
    ) -> Result<(Executor, f64), RuntimeError> {
        let tables = Tables::new(program).map_err(RuntimeError::InvalidProgram)?;
        let started = Instant::now();
        // The compiler is dropped at the end of this function: each
        // compiled kernel keeps its machine code alive by itself.
        let mut jit = Jit::new().map_err(RuntimeError::Jit)?;
        // Kernels address the arrays as the store lays them out.
        jit.set_array_strides(&store.strides())
            .map_err(RuntimeError::Jit)?;
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
            .map(|(k, c)| Prepared::new(k, c, store, program.tables.len()))
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
            tables,
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

    /// The number of elements a Range call of `kernel` may cover now.
    pub fn own_limit(&self, kernel: KernelId, store: &ArrayStore) -> usize {
        self.kernels[kernel.0 as usize].own_limit(store)
    }

    /// Arrays the kernel addresses at `Own`, `Pre`, `Post` and `Shared`.
    pub fn arrays_by_space(&self, kernel: KernelId) -> [&[ArrayId]; 4] {
        let k = &self.kernels[kernel.0 as usize];
        [&k.own, &k.pre, &k.post, &k.shared]
    }

    /// Whether the kernel uses `pre_index`/`post_index`.
    pub fn uses_pairs(&self, kernel: KernelId) -> bool {
        self.kernels[kernel.0 as usize].uses_pairs
    }

    /// Whether the kernel uses the `Post` index (an array or the index).
    pub fn uses_post(&self, kernel: KernelId) -> bool {
        self.kernels[kernel.0 as usize].uses_post
    }

    /// Whether the kernel uses the `Pre` index (an array or the index).
    pub fn uses_pre(&self, kernel: KernelId) -> bool {
        self.kernels[kernel.0 as usize].uses_pre
    }

    /// The arrays the kernel writes.
    pub fn writes(&self, kernel: KernelId) -> &[ArrayId] {
        &self.kernels[kernel.0 as usize].written
    }

    /// Runs Range kernel `kernel` over elements `range`. `pairs` gives the
    /// synapses' neurons for a kernel over synapses. When `events` is
    /// given (with room for `range.len()` indices), the emitted element
    /// indices are left in `events[..count]` in ascending order and
    /// `count` is returned; otherwise emitted indices are discarded.
    ///
    /// # Panics
    /// If the call would not be in bounds (see `Prepared::check_call`),
    /// the event buffer is too small, or the kernel reports more events
    /// than elements (a JIT bug).
    pub fn run_range(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        range: std::ops::Range<usize>,
        clock: Clock,
        pairs: Option<&PairIndex>,
        events: Option<&mut [u32]>,
    ) -> usize {
        self.run_range_at(kernel, store, range, clock, pairs, events, 0)
    }

    /// [`Executor::run_range`] with `index_offset` added to each element's
    /// index for its random key and `Index(Own)`: a rank's synapses whose
    /// global indices are `offset + local index` draw what one process
    /// draws for them.
    #[allow(clippy::too_many_arguments)]
    pub fn run_range_at(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        range: std::ops::Range<usize>,
        clock: Clock,
        pairs: Option<&PairIndex>,
        events: Option<&mut [u32]>,
        index_offset: u64,
    ) -> usize {
        let Executor {
            kernels,
            tables,
            pool,
            counts,
            discard,
        } = self;
        let k = &kernels[kernel.0 as usize];
        let (start, end) = (range.start, range.end.max(range.start));
        let n = end - start;
        k.check_call(store, Iteration::Range, end, pairs);
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
            let mut args = base_args(k, store, tables, clock, pairs, ptr::null_mut());
            args.index_offset = index_offset;
            run_chunks(k, pool.as_ref(), counts, SharedArgs(args), start, end);
            return 0;
        };
        let mut args = base_args(k, store, tables, clock, pairs, events.as_mut_ptr());
        args.index_offset = index_offset;
        let chunks = run_chunks(k, pool.as_ref(), counts, SharedArgs(args), start, end);
        // Join the chunks' events in chunk order. Chunk c wrote its
        // events at the start of its own slice `c*CHUNK..`, and the write
        // position never passes the read position, so this compacts in
        // place.
        let mut total = 0;
        for (c, &count) in chunks.iter().enumerate() {
            let from = c * CHUNK;
            let count = count as usize;
            events.copy_within(from..from + count, total);
            total += count;
        }
        total
    }

    /// Runs List kernel `kernel` over the given element indices, on the
    /// calling thread (lists are spikes of one step, or candidates of one
    /// row of a connection: short). `pairs` gives the synapses' (or
    /// candidates') neurons for a kernel that uses them. Emitted element
    /// indices go to `events[..count]` if given (room for one per
    /// element), and `count` is returned.
    ///
    /// # Panics
    /// If the call would not be in bounds (see `Prepared::check_call`).
    pub fn run_list(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        elements: &[u32],
        clock: Clock,
        pairs: Option<&PairIndex>,
        events: Option<&mut [u32]>,
    ) -> usize {
        self.run_list_at(kernel, store, elements, clock, pairs, events, 0)
    }

    /// [`Executor::run_list`] with `index_offset` added to each element's
    /// index for its random key and `Index(Own)` (see
    /// [`Executor::run_range_at`]): a rank's synapses whose global indices
    /// are `offset + local index` draw what one process draws for them.
    #[allow(clippy::too_many_arguments)]
    pub fn run_list_at(
        &mut self,
        kernel: KernelId,
        store: &mut ArrayStore,
        elements: &[u32],
        clock: Clock,
        pairs: Option<&PairIndex>,
        events: Option<&mut [u32]>,
        index_offset: u64,
    ) -> usize {
        let Executor {
            kernels,
            tables,
            discard,
            ..
        } = self;
        let k = &kernels[kernel.0 as usize];
        let limit = elements.iter().max().map_or(0, |&e| e as usize + 1);
        k.check_call(store, Iteration::List, limit, pairs);
        if elements.is_empty() {
            return 0;
        }
        let events_out = match events {
            Some(buffer) => {
                assert!(buffer.len() >= elements.len(), "event buffer too small");
                buffer.as_mut_ptr()
            }
            None if k.emits => {
                if discard.len() < elements.len() {
                    discard.resize(elements.len(), 0);
                }
                discard.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        let mut args = base_args(k, store, tables, clock, pairs, events_out);
        args.index_offset = index_offset;
        // Lists over large arrays (a spiking neuron's synapses, scattered
        // over tens of megabytes) are run in pieces, and the memory the
        // next piece will touch is requested while this one runs: the
        // kernel's own arithmetic leaves the processor too few loads in
        // flight to hide the cache misses. Running a list in consecutive
        // pieces runs the same elements in the same order.
        // At most a few arrays are read ahead, gathered without allocating:
        // this runs for every List call of every step.
        // The members of a record share their cache lines: one read ahead
        // per record.
        let mut ahead = [(ptr::null::<f64>(), 0usize); PREFETCH_MAX_ARRAYS];
        let mut keys = [usize::MAX; PREFETCH_MAX_ARRAYS];
        let mut n_ahead = 0;
        for &a in &k.own {
            if n_ahead < PREFETCH_MAX_ARRAYS && store.len_of(a) >= PREFETCH_MIN_LEN {
                let (key, first, stride) = store.lines_of(a);
                if !keys[..n_ahead].contains(&key) {
                    keys[n_ahead] = key;
                    ahead[n_ahead] = (first, stride);
                    n_ahead += 1;
                }
            }
        }
        let scattered = &ahead[..n_ahead];
        // A list made of long runs of consecutive elements (the synapses
        // of the neurons that spiked, for `on_pre` code) is streamed by the
        // processor's own prefetcher: it runs in one call. Counting the
        // breaks costs far less than the kernel.
        let streamed = scattered.is_empty()
            || elements
                .windows(2)
                .filter(|w| w[1] != w[0].wrapping_add(1))
                .count()
                < elements.len() / STREAMED_RUN;
        let (piece, ahead_pieces) = if streamed {
            (elements.len(), 0)
        } else {
            (PREFETCH_PIECE, PREFETCH_AHEAD / PREFETCH_PIECE)
        };
        let mut count = 0usize;
        // `ahead` runs `ahead_pieces` pieces in front of the piece run.
        let mut ahead = elements.chunks(piece);
        for p in ahead.by_ref().take(ahead_pieces) {
            prefetch(scattered, p);
        }
        for part in elements.chunks(piece) {
            if ahead_pieces > 0 {
                if let Some(next) = ahead.next() {
                    prefetch(scattered, next);
                }
            }
            args.end = part.len() as u64;
            args.elements = part.as_ptr();
            if !events_out.is_null() {
                // Events of this piece go after those of the earlier ones
                // (`count` of them, at most the elements already run).
                args.events_out = events_out.wrapping_add(count);
            }
            // SAFETY: `check_call` put every element below the length of
            // all arrays addressed at `Own` and of the pair index (if the
            // kernel uses one), made the pair index's bounds fit every
            // `Pre`/`Post` array (and `PairIndex` keeps every stored neuron
            // below its bounds), and gave every shared array a slot 0;
            // `Prepared::new` checked that the arrays and tables exist.
            // `part` is valid for `part.len()` reads; `events_out` has room
            // for one event per element of the whole list, so room for
            // `part.len()` after the `count` events written so far (count
            // never exceeds the elements already run, checked below); and
            // `&mut ArrayStore` guarantees nobody else reads or writes the
            // arrays meanwhile.
            let emitted = unsafe { k.compiled.call(&args) } as usize;
            assert!(
                emitted <= part.len(),
                "kernel `{}` reported more events than elements",
                k.name
            );
            count += emitted;
        }
        count
    }
}

/// Arrays of at least this many elements (4 MiB) are read ahead by
/// [`Executor::run_list`]; smaller ones stay in the caches anyway.
const PREFETCH_MIN_LEN: usize = 1 << 19;

/// Arrays read ahead per List call (the plastic synapse of an STDP rule
/// has four: the weight, two traces and the last update).
const PREFETCH_MAX_ARRAYS: usize = 8;

/// Elements per piece of a List call that reads ahead, and how many
/// elements ahead of the piece being run the memory is requested. Each
/// kernel call runs a few elements while the lines of the next few dozen
/// arrive: requesting a whole large piece at once, then running it, left
/// compute and memory waiting on each other in turn. On Brunel+STDP's
/// `on_post` (a random cache line per update), pieces of 256 took 11.7 s
/// of CPU, pieces of 4 with 32 elements ahead 9.8 s; 1 element per call
/// costs more in calls than it saves (23 s), and 16 or 64 ahead was no
/// better than 32 (measured with a temporary setting, 2026-12-03).
const PREFETCH_PIECE: usize = 4;
const PREFETCH_AHEAD: usize = 32;

/// A list with fewer breaks between consecutive elements than one per
/// this many elements is run without reading ahead (see `run_list`).
const STREAMED_RUN: usize = 64;

/// Asks the processor to bring element `e` of every array of `arrays`
/// (its first element and its stride) into the cache, for each `e` of
/// `elements`. Only a hint: it never
/// faults and changes no value.
fn prefetch(arrays: &[(*const f64, usize)], elements: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    for &(base, stride) in arrays {
        for &e in elements {
            let p = base.wrapping_add(e as usize * stride).cast::<i8>();
            // SAFETY: a prefetch is a hint that never dereferences its
            // address in a way that can fault or be observed; any address
            // is allowed.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (arrays, elements);
}

fn base_args(
    k: &Prepared,
    store: &mut ArrayStore,
    tables: &Tables,
    clock: Clock,
    pairs: Option<&PairIndex>,
    events_out: *mut u32,
) -> KernelArgs {
    let (pre_index, post_index) = match pairs {
        Some(p) => (p.pre.as_ptr(), p.post.as_ptr()),
        None => (ptr::null(), ptr::null()),
    };
    KernelArgs {
        arrays: store.table(),
        pre_index,
        post_index,
        elements: ptr::null(),
        start: 0,
        end: 0,
        events_out,
        tables: tables.ptr(),
        t: clock.t,
        dt: clock.dt,
        step: clock.step,
        seed: clock.seed,
        stream: k.stream,
        // A chunk's range carries global neuron indices; only a rank's
        // synapses need an offset (`Executor::run_range_at`).
        index_offset: 0,
    }
}

/// Calls a Range kernel over `start..end`, in chunks of [`CHUNK`] elements
/// (from `start`) on `pool` when the kernel allows it, the range has at
/// least two chunks and enough work to pay for the threads
/// ([`PARALLEL_MIN_WORK`]), else in one call on this thread. Returns the
/// per-chunk event counts (one entry when run in one call); chunk `c`
/// covers `start + c*CHUNK..` and emits into `events_out + c*CHUNK`.
///
/// The caller must have checked the call (`Prepared::check_call` with
/// limit `end`) and made `args.events_out` either null (for kernels that
/// do not emit) or room for `end - start` indices, with `&mut` borrows of
/// the store and the event buffer held for the duration of this call.
fn run_chunks<'c>(
    k: &Prepared,
    pool: Option<&rayon::ThreadPool>,
    counts: &'c mut Vec<u64>,
    args: SharedArgs,
    start: usize,
    end: usize,
) -> &'c [u64] {
    let n = end - start;
    let chunks = n.div_ceil(CHUNK);
    let parallel = match pool {
        Some(pool)
            if k.chunkable
                && chunks >= 2
                && (n as u64).saturating_mul(k.cost) >= PARALLEL_MIN_WORK =>
        {
            Some(pool)
        }
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
            // SAFETY: see the function's contract and `Prepared::check_call`:
            // every index the kernel uses on `start..end` is in bounds, the
            // event buffer (if any) has room for `n` indices, and the `&mut`
            // borrows held by the caller exclude other accesses.
            counts[0] = check(unsafe { k.compiled.call(&args.chunk(start, end, 0)) }, n);
            &counts[..1]
        }
        Some(pool) => {
            if counts.len() < chunks {
                counts.resize(chunks, 0);
            }
            let counts = &mut counts[..chunks];
            pool.install(|| {
                counts.par_iter_mut().enumerate().for_each(|(c, count)| {
                    let from = start + c * CHUNK;
                    let to = (from + CHUNK).min(end);
                    // SAFETY: as in the single-call case for the sub-range
                    // `from..to` of `start..end`; concurrent chunks do not
                    // conflict because the kernel is chunkable (see
                    // `SharedArgs`).
                    *count = check(
                        unsafe { k.compiled.call(&args.chunk(from, to, c * CHUNK)) },
                        to - from,
                    );
                });
            });
            counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rheobase_kernel::program::ValueKind;

    fn decl(name: &str, synapses: Option<usize>, len: usize, initial: f64) -> ArrayDecl {
        ArrayDecl {
            name: name.into(),
            group: 0,
            len,
            initial,
            kind: ValueKind::Float,
            synapses,
        }
    }

    /// Three synaptic arrays interleaved (stride 4) beside one of its own:
    /// growing keeps every value, new elements start at each member's own
    /// initial value, the first record is cache-line aligned, and the
    /// kernel pointers step through the record by the stride.
    #[test]
    fn records_grow_and_keep_each_members_values() {
        let decls = [
            decl("S.w", Some(0), 0, 1.0),
            decl("G.v", None, 3, -1.0),
            decl("S.Apre", Some(0), 0, 2.0),
            decl("S.lastupdate", Some(0), 0, 3.0),
        ];
        let members = vec![ArrayId(0), ArrayId(2), ArrayId(3)];
        let mut store = ArrayStore::new(&decls, std::slice::from_ref(&members));
        assert_eq!(store.strides(), [4, 1, 4, 4]);
        assert!(store.values(ArrayId(0)).is_empty());
        store.resize(ArrayId(0), 5, 1.0);
        store.resize(ArrayId(2), 5, 2.0);
        store.resize(ArrayId(3), 5, 3.0);
        for (a, initial) in [(0, 1.0), (2, 2.0), (3, 3.0)] {
            assert_eq!(
                store.values(ArrayId(a)).iter().collect::<Vec<_>>(),
                [initial; 5]
            );
        }
        let mut w = store.values_mut(ArrayId(0));
        w.copy_from_slice(&[10.0, 11.0, 12.0, 13.0, 14.0]);
        store.values_mut(ArrayId(3)).fill(7.0);
        // Grow with a fill for `w` that differs from its initial value.
        store.resize(ArrayId(0), 8, 9.0);
        assert_eq!(store.len_of(ArrayId(2)), 8, "the whole record grew");
        assert_eq!(
            store.values(ArrayId(0)).to_cow().as_ref(),
            [10.0, 11.0, 12.0, 13.0, 14.0, 9.0, 9.0, 9.0]
        );
        assert_eq!(
            store.values(ArrayId(2)).iter().collect::<Vec<_>>(),
            [2.0; 8]
        );
        assert_eq!(
            store.values(ArrayId(3)).iter().collect::<Vec<_>>(),
            [7.0, 7.0, 7.0, 7.0, 7.0, 3.0, 3.0, 3.0]
        );
        assert_eq!(store.get(ArrayId(1)), [-1.0; 3]);
        let (key, first, stride) = store.lines_of(ArrayId(2));
        assert_eq!((key, stride), (4, 4));
        assert_eq!(first as usize % RECORD_ALIGN, 0, "records are aligned");
        assert_eq!(store.ptrs[2], first.wrapping_add(1).cast_mut());
        assert_eq!(store.ptrs[3], first.wrapping_add(2).cast_mut());
        // Shrinking keeps the first values.
        store.resize(ArrayId(3), 2, 0.0);
        assert_eq!(
            store.values(ArrayId(0)).iter().collect::<Vec<_>>(),
            [10.0, 11.0]
        );
        assert!(store.bytes() >= (3 + 4 * 2) * 8);
    }

    #[test]
    #[should_panic(expected = "interleaved")]
    fn a_member_is_not_a_slice() {
        let decls = [decl("S.w", Some(0), 0, 1.0), decl("S.x", Some(0), 0, 1.0)];
        let store = ArrayStore::new(&decls, &[vec![ArrayId(0), ArrayId(1)]]);
        let _ = store.get(ArrayId(1));
    }
}
