//! Translation of one [`Kernel`] into Cranelift IR.
//!
//! The generated function has the shape
//!
//! ```text
//! entry(args):                      ; read the loop bounds
//!     k = start; count = 0
//!     if start < end goto preheader else exit
//! preheader:                        ; everything loop-invariant, once
//!     load array base pointers, table descriptors, t, dt, seed, ...
//!     goto body
//! body:                             ; one element per iteration
//!     e = k  (or elements[k]); pre = pre_index[e]; ...
//!     locals = 0.0
//!     <statements>                  ; If creates then/merge blocks
//!     k = k + 1
//!     if k < end goto body else exit
//! exit:
//!     return count
//! ```
//!
//! `k`, `count` and the kernel's locals are Cranelift [`Variable`]s: the
//! frontend's SSA construction turns their redefinitions (in the loop latch,
//! inside `If` blocks) into block parameters, so we never place phi nodes by
//! hand. Everything else is a plain SSA value; values defined in the
//! preheader dominate the loop and can be used in it directly, which keeps
//! the base pointers in registers instead of reloading them per element.

use std::collections::{BTreeMap, HashMap};
use std::mem::{offset_of, size_of};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::Endianness;
use cranelift_codegen::ir::{
    types, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use rheobase_kernel::{
    BinaryOp, Expr, IndexSpace, Iteration, Kernel, KernelArgs, RandKind, Stmt, TableDesc, UnaryOp,
};

use crate::runtime::RtFn;
use crate::validate::Usage;

mod vmath;

/// See [`crate::Jit::fuses_multiply_add`].
pub(crate) fn fuses_multiply_add(isa: &dyn cranelift_codegen::isa::TargetIsa) -> bool {
    vmath::supported(isa)
}

/// The runtime functions declared in one module, declared on first use so
/// a module that never calls `exp` does not import it.
pub(crate) type Imports = [Option<FuncId>; RtFn::ALL.len()];

/// Memory flags for every access we generate. `notrap`: the caller
/// guarantees the pointers are valid (that is the contract of
/// `CompiledKernel::call`), which lets Cranelift delete unused loads.
/// `aligned`: `f64`/`u32`/pointer arrays are naturally aligned.
fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags for reads of `KernelArgs` and `TableDesc`, which the kernel never
/// writes: `readonly` lets them be treated like constants.
fn readonly() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly()
}

fn offset(off: usize) -> i32 {
    // KernelArgs is ~100 bytes, so every field offset fits.
    off as i32
}

/// Loop-invariant values of one table, loaded in the preheader.
#[derive(Clone, Copy)]
struct TableVals {
    values: Value,
    /// `rows - 1`
    last_row: Value,
    columns: Value,
    /// `columns - 1`
    last_col: Value,
    dt: Value,
}

/// Values fixed for the whole call, all defined in the preheader.
struct Invariants {
    arrays: BTreeMap<u32, Value>,
    tables: BTreeMap<u32, TableVals>,
    elements: Value,
    pre_index: Value,
    post_index: Value,
    events_out: Value,
    t: Value,
    dt: Value,
    half_dt: Value,
    step: Value,
    seed: Value,
    stream: Value,
    index_offset: Value,
}

/// Values of the current element, defined at the top of the loop body
/// (which dominates the rest of the iteration).
#[derive(Clone, Copy)]
struct Element {
    /// Index in the iteration space, `i64`.
    e: Value,
    /// `pre_index[e]`, `post_index[e]` (zero-extended), if used.
    pre: Value,
    post: Value,
    /// In the two-element loop, the same for the second element `e + 1`.
    pre1: Value,
    post1: Value,
    /// `e + index_offset`: global index, random key.
    key: Value,
}

pub(crate) struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    module: &'a mut JITModule,
    imports: &'a mut Imports,
    /// Imports referenced from the current function.
    refs: [Option<FuncRef>; RtFn::ALL.len()],
    call_conv: CallConv,
    locals: BTreeMap<u32, Variable>,
    count: Variable,
    /// Values of calls to pure functions (`exp`, `exprel`, ...) already
    /// emitted for the current element, keyed by the printed expression.
    /// Cranelift does not merge calls, and Hodgkin–Huxley-type equations
    /// repeat the same rate functions; reusing the value halves the calls.
    /// Entries are dropped when a store or a reassigned local could change
    /// what they read, and entries made inside a conditional block do not
    /// outlive it (they would not dominate later uses).
    pure_calls: HashMap<String, Value>,
    /// Calls whose arguments do not change within one kernel call
    /// (`exp(-dt/tau)` of an exact integrator), evaluated once in the
    /// preheader as scalars and keyed like `pure_calls`.
    hoisted: HashMap<String, Value>,
    /// Locals assigned so far in the current element's code.
    assigned: std::collections::HashSet<u32>,
    /// For Range kernels with random draws: the buffer of each draw
    /// `(is_normal, draw id)`, holding the draws of the current batch.
    rand_buffers: BTreeMap<(bool, u32), Value>,
    /// First element of the current batch.
    batch_start: Option<Variable>,
    /// Whether the code being emitted handles two elements at once (`e`
    /// and `e + 1`): floats are `f64x2`, conditions `i64x2` masks.
    vector: bool,
    /// Whether the host has fused multiply-add: `exp` is then computed
    /// inline ([`vmath`]) instead of called, and products are fused into
    /// the sums they are added to.
    has_fma: bool,
    /// The locals as `f64x2` variables, for the two-element loop.
    vlocals: BTreeMap<u32, Variable>,
    /// Distance in `f64`s between consecutive elements of each array,
    /// indexed by array id (absent: 1); see `Jit::set_array_strides`.
    strides: &'a [u32],
}

/// Elements per batch of pre-computed random draws (see
/// `Translator::function`).
pub(crate) const RAND_BATCH: u32 = 256;

/// Range kernels with more distinct draws than this call the generator per
/// draw instead (the buffers live on the stack).
const MAX_BATCHED_DRAWS: usize = 8;

impl<'a, 'f> Translator<'a, 'f> {
    /// Emits the whole function for `kernel` into the builder's function,
    /// whose signature must be `fn(*const KernelArgs) -> u64`.
    ///
    /// Never fails: `usage` comes from validating `kernel`.
    pub(crate) fn translate(
        b: FunctionBuilder<'f>,
        module: &'a mut JITModule,
        imports: &'a mut Imports,
        kernel: &Kernel,
        usage: &Usage,
        strides: &'a [u32],
    ) {
        let call_conv = module.isa().default_call_conv();
        let has_fma = fuses_multiply_add(module.isa());
        let mut b = b;
        let count = b.declare_var(types::I64);
        let mut t = Translator {
            b,
            module,
            imports,
            refs: [None; RtFn::ALL.len()],
            call_conv,
            locals: BTreeMap::new(),
            pure_calls: HashMap::new(),
            hoisted: HashMap::new(),
            assigned: std::collections::HashSet::new(),
            rand_buffers: BTreeMap::new(),
            batch_start: None,
            vector: false,
            has_fma,
            vlocals: BTreeMap::new(),
            strides,
            count,
        };
        t.function(kernel, usage);
        // Sealing declares that a block's predecessors are all known, which
        // the SSA construction needs to resolve variables. Every block is
        // complete now, so seal them all at once.
        t.b.seal_all_blocks();
        let config = t.module.target_config();
        t.b.finalize(config);
    }

    /// The loop over the elements. A Range kernel with uniform or normal
    /// draws runs in batches of [`RAND_BATCH`] elements: before each batch
    /// one call per draw fills a stack buffer with that draw for every
    /// element of the batch, and the element code reads its value from the
    /// buffer. Generating many independent draws together lets the
    /// generator's dependent multiplications overlap, which one call per
    /// element cannot; the numbers are the same (draws are keyed by
    /// element, not by order), so this changes speed only.
    fn function(&mut self, kernel: &Kernel, usage: &Usage) {
        let k_var = self.b.declare_var(types::I64);
        for &l in &usage.locals {
            let var = self.b.declare_var(types::F64);
            self.locals.insert(l, var);
            let var = self.b.declare_var(types::F64X2);
            self.vlocals.insert(l, var);
        }
        let batched = kernel.iteration == Iteration::Range
            && !usage.draws.is_empty()
            && usage.draws.len() <= MAX_BATCHED_DRAWS;

        let entry = self.b.create_block();
        let preheader = self.b.create_block();
        let refill = self.b.create_block();
        let body = self.b.create_block();
        let batch_done = self.b.create_block();
        let exit = self.b.create_block();

        // entry: the function parameter becomes the entry block's parameter.
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        let args = self.b.block_params(entry)[0];
        let start = self.load_arg(types::I64, offset_of!(KernelArgs, start), args);
        let end = self.load_arg(types::I64, offset_of!(KernelArgs, end), args);
        self.b.def_var(k_var, start);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(self.count, zero);
        // An empty range dereferences nothing but `args`.
        let nonempty = self.b.ins().icmp(IntCC::UnsignedLessThan, start, end);
        self.b.ins().brif(nonempty, preheader, &[], exit, &[]);

        // preheader: load everything the loop needs that does not change.
        self.b.switch_to_block(preheader);
        let inv = self.invariants(args, kernel.iteration, usage);
        self.hoist_invariant_calls(kernel, &inv);
        let batch_end = self.b.declare_var(types::I64);
        if batched {
            let bytes = RAND_BATCH * 8 * usage.draws.len() as u32;
            let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                bytes,
                3,
            ));
            for (n, &draw) in usage.draws.iter().enumerate() {
                let at = (n as u32 * RAND_BATCH * 8) as i32;
                let addr = self.b.ins().stack_addr(types::I64, slot, at);
                self.rand_buffers.insert(draw, addr);
            }
            self.batch_start = Some(self.b.declare_var(types::I64));
            self.b.ins().jump(refill, &[]);

            // refill: the draws of elements k..min(k + RAND_BATCH, end).
            self.b.switch_to_block(refill);
            let k = self.b.use_var(k_var);
            let limit = self.b.ins().iadd_imm_s(k, i64::from(RAND_BATCH));
            let stop = self.b.ins().umin(limit, end);
            self.b.def_var(batch_end, stop);
            if let Some(var) = self.batch_start {
                self.b.def_var(var, k);
            }
            let n = self.b.ins().isub(stop, k);
            let first = self.b.ins().iadd(k, inv.index_offset);
            let buffers: Vec<((bool, u32), Value)> =
                self.rand_buffers.iter().map(|(&d, &v)| (d, v)).collect();
            for ((normal, draw), addr) in buffers {
                let f = if normal {
                    RtFn::FillNormal
                } else {
                    RtFn::FillUniform
                };
                let draw = self.b.ins().iconst(types::I64, i64::from(draw));
                let r = self.runtime_fn(f);
                self.b
                    .ins()
                    .call(r, &[addr, n, inv.seed, inv.stream, inv.step, first, draw]);
            }
            self.b.ins().jump(body, &[]);
        } else {
            self.b.def_var(batch_end, end);
            self.b.ins().jump(body, &[]);
            // Unreachable in this mode; it still needs a terminator.
            self.b.switch_to_block(refill);
            self.b.ins().jump(exit, &[]);
        }

        // The element loops. A straight-line Range kernel first runs two
        // elements per iteration with `f64x2` arithmetic: lane-wise IEEE
        // operations round exactly as the scalar ones, so the results are
        // bit-identical; the scalar loop takes the odd element left.
        let single_check = self.b.create_block();
        self.b.switch_to_block(body);
        // Vector rounding (`roundpd`) needs SSE4.1 on x86-64.
        let rounding = self
            .module
            .isa()
            .isa_flags()
            .iter()
            .any(|f| f.name == "has_sse41" && f.as_bool() == Some(true))
            || !cfg!(target_arch = "x86_64");
        // Two consecutive elements of an interleaved array are not
        // adjacent, so a kernel using one runs an element at a time.
        let strided = usage.arrays.iter().any(|&a| self.stride(a) > 1);
        let pairs = if strided {
            None
        } else if vectorizable(kernel, usage, batched, rounding) {
            Some(None)
        } else {
            guard_of(kernel, usage, batched, rounding).map(Some)
        };
        if let Some(guard) = pairs {
            let pair_check = self.b.create_block();
            let pair_body = self.b.create_block();
            let pair_next = self.b.create_block();
            self.b.ins().jump(pair_check, &[]);
            self.b.switch_to_block(pair_check);
            let k = self.b.use_var(k_var);
            let k2 = self.b.ins().iadd_imm_s(k, 2);
            let stop = self.b.use_var(batch_end);
            let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, k2, stop);
            self.b.ins().brif(fits, pair_body, &[], single_check, &[]);

            self.b.switch_to_block(pair_body);
            self.vector = true;
            std::mem::swap(&mut self.locals, &mut self.vlocals);
            self.begin_element();
            let k = self.b.use_var(k_var);
            let el = self.element(&inv, k, usage);
            match guard {
                // Straight-line code: both elements at once.
                None => {
                    let zero_v = self.fconst(0.0);
                    for var in self.locals.values() {
                        self.b.def_var(*var, zero_v);
                    }
                    self.stmts(&kernel.body, &inv, &el);
                    std::mem::swap(&mut self.locals, &mut self.vlocals);
                    self.vector = false;
                    self.b.ins().jump(pair_next, &[]);
                }
                // One `if`: its condition for both elements at once, and
                // only when it holds for either, each element's code in
                // order. A threshold is false for almost every neuron in
                // almost every step, so most pairs cost one vector test.
                Some(cond) => {
                    let zero_v = self.fconst(0.0);
                    for var in self.locals.values() {
                        self.b.def_var(*var, zero_v);
                    }
                    let mask = self.cond(cond, &inv, &el);
                    std::mem::swap(&mut self.locals, &mut self.vlocals);
                    self.vector = false;
                    let any = self.b.ins().vany_true(mask);
                    let slow = self.b.create_block();
                    self.b.ins().brif(any, slow, &[], pair_next, &[]);
                    self.b.switch_to_block(slow);
                    self.scalar_element(kernel, &inv, usage, k);
                    let k1 = self.b.ins().iadd_imm_s(k, 1);
                    self.scalar_element(kernel, &inv, usage, k1);
                    self.b.ins().jump(pair_next, &[]);
                }
            }
            self.b.switch_to_block(pair_next);
            let next = self.b.ins().iadd_imm_s(k, 2);
            self.b.def_var(k_var, next);
            self.b.ins().jump(pair_check, &[]);
        } else {
            self.b.ins().jump(single_check, &[]);
        }
        let single_body = self.b.create_block();
        self.b.switch_to_block(single_check);
        let k = self.b.use_var(k_var);
        let stop = self.b.use_var(batch_end);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, k, stop);
        self.b.ins().brif(more, single_body, &[], batch_done, &[]);

        // single_body: one element.
        self.b.switch_to_block(single_body);
        let k = self.b.use_var(k_var);
        let e = match kernel.iteration {
            Iteration::Range => k,
            Iteration::List => {
                let p = self.element_addr(inv.elements, k, 2);
                self.b.ins().uload32(trusted(), p, 0)
            }
        };
        self.scalar_element(kernel, &inv, usage, e);
        let next = self.b.ins().iadd_imm_s(k, 1);
        self.b.def_var(k_var, next);
        self.b.ins().jump(single_check, &[]);

        // batch_done: another batch, or the end.
        self.b.switch_to_block(batch_done);
        let k = self.b.use_var(k_var);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, k, end);
        self.b.ins().brif(more, refill, &[], exit, &[]);

        self.b.switch_to_block(exit);
        let count = self.b.use_var(self.count);
        self.b.ins().return_(&[count]);
    }

    /// The code of element `e`, one element at a time.
    fn scalar_element(&mut self, kernel: &Kernel, inv: &Invariants, usage: &Usage, e: Value) {
        self.begin_element();
        let el = self.element(inv, e, usage);
        // Locals start at 0.0 every iteration: a read before any write is
        // then well defined (and cannot leak values between elements).
        let zero_f = self.b.ins().f64const(0.0);
        for var in self.locals.values() {
            self.b.def_var(*var, zero_f);
        }
        self.stmts(&kernel.body, inv, &el);
    }

    /// Forgets the cached calls and assignments of the previous element's
    /// code: the two loops' bodies do not dominate each other.
    fn begin_element(&mut self) {
        self.pure_calls.clear();
        self.assigned.clear();
    }

    /// A float constant (both lanes in the two-element loop).
    fn fconst(&mut self, c: f64) -> Value {
        let v = self.b.ins().f64const(c);
        self.widen(v)
    }

    /// A scalar used by both lanes.
    fn widen(&mut self, v: Value) -> Value {
        if self.vector {
            self.b.ins().splat(types::F64X2, v)
        } else {
            v
        }
    }

    /// `if c { a } else { b }`, per lane.
    fn sel(&mut self, c: Value, a: Value, b: Value) -> Value {
        if self.vector {
            // A lane-type-changing bitcast must state its byte order.
            let little = MemFlagsData::new().with_endianness(Endianness::Little);
            let mask = self.b.ins().bitcast(types::F64X2, little, c);
            self.b.ins().bitselect(mask, a, b)
        } else {
            self.b.ins().select(c, a, b)
        }
    }

    fn load_arg(&mut self, ty: types::Type, off: usize, args: Value) -> Value {
        self.b.ins().load(ty, readonly(), args, offset(off))
    }

    /// `base + index << shift`: the address of element `index` of an array
    /// of `1 << shift`-byte items. (x86-64 folds this into the addressing
    /// mode of the load or store.)
    fn element_addr(&mut self, base: Value, index: Value, shift: i64) -> Value {
        let scaled = self.b.ins().ishl_imm_u(index, shift);
        self.b.ins().iadd(base, scaled)
    }

    fn invariants(&mut self, args: Value, iteration: Iteration, usage: &Usage) -> Invariants {
        let ptr = types::I64;
        // Placeholder for values the kernel does not use; never read, and
        // removed as dead code.
        let null = self.b.ins().iconst(ptr, 0);
        let nullf = self.b.ins().f64const(0.0);
        let field = |t: &mut Self, used: bool, ty: types::Type, off: usize| {
            if !used {
                if ty == types::F64 {
                    nullf
                } else {
                    null
                }
            } else {
                t.load_arg(ty, off, args)
            }
        };
        let list = iteration == Iteration::List;
        let elements = field(self, list, ptr, offset_of!(KernelArgs, elements));
        let pre_index = field(self, usage.pre, ptr, offset_of!(KernelArgs, pre_index));
        let post_index = field(self, usage.post, ptr, offset_of!(KernelArgs, post_index));
        let events_out = field(self, usage.emit, ptr, offset_of!(KernelArgs, events_out));
        let t = field(self, usage.time, types::F64, offset_of!(KernelArgs, t));
        let dt = field(self, usage.dt, types::F64, offset_of!(KernelArgs, dt));
        let step = field(self, usage.rand, ptr, offset_of!(KernelArgs, step));
        let seed = field(self, usage.rand, ptr, offset_of!(KernelArgs, seed));
        let stream = field(self, usage.rand, ptr, offset_of!(KernelArgs, stream));
        let index_offset = field(self, usage.key, ptr, offset_of!(KernelArgs, index_offset));
        let half_dt = if usage.tables.is_empty() {
            nullf
        } else {
            let half = self.b.ins().f64const(0.5);
            self.b.ins().fmul(dt, half)
        };

        let mut arrays = BTreeMap::new();
        if !usage.arrays.is_empty() {
            let table = self.load_arg(ptr, offset_of!(KernelArgs, arrays), args);
            for &id in &usage.arrays {
                // `arrays[id]`: ids are < 2^24 (validated), so the byte
                // offset fits the load's 32-bit immediate.
                let off = id as usize * size_of::<*mut f64>();
                let base = self.b.ins().load(ptr, readonly(), table, offset(off));
                arrays.insert(id, base);
            }
        }
        let mut tables = BTreeMap::new();
        if !usage.tables.is_empty() {
            let descs = self.load_arg(ptr, offset_of!(KernelArgs, tables), args);
            for &id in &usage.tables {
                let at = |f: usize| offset(id as usize * size_of::<TableDesc>() + f);
                let ro = readonly();
                let values = self
                    .b
                    .ins()
                    .load(ptr, ro, descs, at(offset_of!(TableDesc, values)));
                let rows = self
                    .b
                    .ins()
                    .load(ptr, ro, descs, at(offset_of!(TableDesc, rows)));
                let columns = self
                    .b
                    .ins()
                    .load(ptr, ro, descs, at(offset_of!(TableDesc, columns)));
                let tdt = self
                    .b
                    .ins()
                    .load(types::F64, ro, descs, at(offset_of!(TableDesc, dt)));
                let last_row = self.b.ins().iadd_imm_s(rows, -1);
                let last_col = self.b.ins().iadd_imm_s(columns, -1);
                tables.insert(
                    id,
                    TableVals {
                        values,
                        last_row,
                        columns,
                        last_col,
                        dt: tdt,
                    },
                );
            }
        }
        Invariants {
            arrays,
            tables,
            elements,
            pre_index,
            post_index,
            events_out,
            t,
            dt,
            half_dt,
            step,
            seed,
            stream,
            index_offset,
        }
    }

    fn element(&mut self, inv: &Invariants, e: Value, usage: &Usage) -> Element {
        let mut el = Element {
            e,
            pre: e,
            post: e,
            pre1: e,
            post1: e,
            key: e,
        };
        // Loaded once per element even if only used inside an `If`: one
        // cache-friendly load, and the value then dominates every use.
        if usage.pre {
            let p = self.element_addr(inv.pre_index, e, 2);
            el.pre = self.b.ins().uload32(trusted(), p, 0);
            if self.vector {
                el.pre1 = self.b.ins().uload32(trusted(), p, 4);
            }
        }
        if usage.post {
            let p = self.element_addr(inv.post_index, e, 2);
            el.post = self.b.ins().uload32(trusted(), p, 0);
            if self.vector {
                el.post1 = self.b.ins().uload32(trusted(), p, 4);
            }
        }
        if usage.key {
            el.key = self.b.ins().iadd(e, inv.index_offset);
        }
        el
    }

    fn stmts(&mut self, stmts: &[Stmt], inv: &Invariants, el: &Element) {
        for stmt in stmts {
            match stmt {
                Stmt::SetLocal(l, e) => {
                    let v = self.expr(e, inv, el);
                    if !self.assigned.insert(l.0) {
                        // A reassigned local may be read by cached calls.
                        self.pure_calls.clear();
                    }
                    if let Some(&var) = self.locals.get(&l.0) {
                        self.b.def_var(var, v);
                    }
                }
                Stmt::Store(a, space, e) => {
                    let v = self.expr(e, inv, el);
                    let p = self.array_addr(inv, a.0, *space, el);
                    let flags = if self.vector {
                        lanes_flags()
                    } else {
                        trusted()
                    };
                    self.b.ins().store(flags, v, p, 0);
                    self.pure_calls.clear();
                }
                Stmt::If { cond, then } => {
                    let c = self.cond(cond, inv, el);
                    let then_block = self.b.create_block();
                    let merge = self.b.create_block();
                    self.b.ins().brif(c, then_block, &[], merge, &[]);
                    self.b.switch_to_block(then_block);
                    let before = self.pure_calls.clone();
                    self.stmts(then, inv, el);
                    // Values made in the branch do not dominate the merge;
                    // a store in the branch invalidates the rest as well.
                    self.pure_calls = before;
                    if contains_writes(then) {
                        self.pure_calls.clear();
                    }
                    self.b.ins().jump(merge, &[]);
                    self.b.switch_to_block(merge);
                }
                Stmt::Emit => {
                    let n = self.b.use_var(self.count);
                    let p = self.element_addr(inv.events_out, n, 2);
                    // Store the low 32 bits of e (indices are u32).
                    self.b.ins().istore32(trusted(), el.e, p, 0);
                    let n1 = self.b.ins().iadd_imm_s(n, 1);
                    self.b.def_var(self.count, n1);
                }
            }
        }
    }

    fn array_addr(&mut self, inv: &Invariants, id: u32, space: IndexSpace, el: &Element) -> Value {
        let base = match inv.arrays.get(&id) {
            Some(&v) => v,
            // Validation collects every array id of the kernel.
            None => unreachable!("array {id} missing from the usage"),
        };
        let index = match space {
            IndexSpace::Own => el.e,
            IndexSpace::Pre => el.pre,
            IndexSpace::Post => el.post,
            IndexSpace::Shared => return base,
            IndexSpace::Via(via) => {
                // The index array holds whole numbers below the source's
                // size (checked by the lowering): its value at the own
                // element is the source element.
                let p = self.array_addr(inv, via.0, IndexSpace::Own, el);
                let x = self.b.ins().load(types::F64, trusted(), p, 0);
                self.b.ins().fcvt_to_sint_sat(types::I64, x)
            }
        };
        // Strides are powers of two: element `i` is `i * stride` values
        // from the array's first.
        let shift = 3 + i64::from(self.stride(id).trailing_zeros());
        self.element_addr(base, index, shift)
    }

    /// The stride of array `id` (1 unless it is interleaved).
    fn stride(&self, id: u32) -> u32 {
        self.strides.get(id as usize).copied().unwrap_or(1)
    }

    fn runtime_fn(&mut self, f: RtFn) -> FuncRef {
        if let Some(r) = self.refs[f.index()] {
            return r;
        }
        let id = match self.imports[f.index()] {
            Some(id) => id,
            None => {
                let sig = f.signature(self.call_conv);
                // An import: resolved to the address registered with the
                // JITBuilder when the module is finalized. Declaring the
                // same name twice with the same signature cannot fail, and
                // our names are unique, so an error here is a bug.
                let id = match self
                    .module
                    .declare_function(f.symbol(), Linkage::Import, &sig)
                {
                    Ok(id) => id,
                    Err(e) => unreachable!("declaring {}: {e}", f.symbol()),
                };
                self.imports[f.index()] = Some(id);
                id
            }
        };
        // Makes the import callable from this function (a FuncRef is local
        // to the function being built).
        let r = self.module.declare_func_in_func(id, self.b.func);
        self.refs[f.index()] = Some(r);
        r
    }

    /// Calls `f`; in the two-element loop, once per lane (the callees are
    /// scalar functions).
    /// `a ± b` as one `fma` when `b` (or, for `+`, `a`) is a product.
    fn fused_multiply_add(
        &mut self,
        op: BinaryOp,
        a: &Expr,
        b: &Expr,
        inv: &Invariants,
        el: &Element,
    ) -> Option<Value> {
        fn product(e: &Expr) -> Option<(&Expr, &Expr)> {
            match e {
                Expr::Binary(BinaryOp::Mul, x, y) => Some((x, y)),
                _ => None,
            }
        }
        if let Some((x, y)) = product(b) {
            // a + x*y, or a - x*y = a + (-x)*y (negation is exact).
            let a = self.expr(a, inv, el);
            let x = self.expr(x, inv, el);
            let y = self.expr(y, inv, el);
            let x = if op == BinaryOp::Sub {
                self.b.ins().fneg(x)
            } else {
                x
            };
            return Some(self.b.ins().fma(x, y, a));
        }
        if let Some((x, y)) = product(a) {
            // x*y + b, or x*y - b = x*y + (-b).
            let x = self.expr(x, inv, el);
            let y = self.expr(y, inv, el);
            let b = self.expr(b, inv, el);
            let b = if op == BinaryOp::Sub {
                self.b.ins().fneg(b)
            } else {
                b
            };
            return Some(self.b.ins().fma(x, y, b));
        }
        None
    }

    /// Emits, in the preheader, every call of a pure function whose
    /// argument is the same for all elements of this kernel call (made of
    /// constants, `t` and `dt` only), so that the loop reads its value
    /// instead of computing it per element. The value is the same scalar
    /// the loop would have computed, so results do not change.
    fn hoist_invariant_calls(&mut self, kernel: &Kernel, inv: &Invariants) {
        let mut calls = Vec::new();
        for s in &kernel.body {
            invariant_calls_in_stmt(s, &mut calls);
        }
        if calls.is_empty() {
            return;
        }
        // Invariant expressions read no element value; these placeholders
        // are never used.
        let zero = self.b.ins().iconst(types::I64, 0);
        let el = Element {
            e: zero,
            pre: zero,
            post: zero,
            pre1: zero,
            post1: zero,
            key: zero,
        };
        for call in calls {
            let key = call.to_string();
            if !self.hoisted.contains_key(&key) {
                let v = self.expr(call, inv, &el);
                self.hoisted.insert(key, v);
            }
        }
        // The cache of per-element calls must not hand these scalars to the
        // two-element loop.
        self.pure_calls.clear();
    }

    fn call(&mut self, f: RtFn, args: &[Value]) -> Value {
        let r = self.runtime_fn(f);
        if !self.vector {
            let inst = self.b.ins().call(r, args);
            return self.b.inst_results(inst)[0];
        }
        let mut lanes = [None; 2];
        for (lane, result) in lanes.iter_mut().enumerate() {
            let scalar: Vec<Value> = args
                .iter()
                .map(|&a| self.b.ins().extractlane(a, lane as u8))
                .collect();
            let inst = self.b.ins().call(r, &scalar);
            *result = Some(self.b.inst_results(inst)[0]);
        }
        match lanes {
            [Some(x0), Some(x1)] => {
                let v = self.b.ins().splat(types::F64X2, x0);
                self.b.ins().insertlane(v, x1, 1)
            }
            _ => unreachable!("both lanes were called"),
        }
    }

    fn bool_to_f64(&mut self, c: Value) -> Value {
        let one = self.fconst(1.0);
        let zero = self.fconst(0.0);
        self.sel(c, one, zero)
    }

    /// Translates `expr` as a condition: an `i8` that is 1 when the value
    /// is nonzero (NaN counts as nonzero, like C and Python). Comparisons
    /// and logic produce the flag directly instead of going through 1.0/0.0.
    fn cond(&mut self, expr: &Expr, inv: &Invariants, el: &Element) -> Value {
        match expr {
            Expr::Binary(op, a, b) => {
                if let Some(cc) = float_cc(*op) {
                    let a = self.expr(a, inv, el);
                    let b = self.expr(b, inv, el);
                    return self.b.ins().fcmp(cc, a, b);
                }
                match op {
                    BinaryOp::And => {
                        let a = self.cond(a, inv, el);
                        let b = self.cond(b, inv, el);
                        return self.b.ins().band(a, b);
                    }
                    BinaryOp::Or => {
                        let a = self.cond(a, inv, el);
                        let b = self.cond(b, inv, el);
                        return self.b.ins().bor(a, b);
                    }
                    _ => {}
                }
            }
            Expr::Unary(UnaryOp::Not, a) => {
                let a = self.cond(a, inv, el);
                return if self.vector {
                    self.b.ins().bnot(a)
                } else {
                    self.b.ins().bxor_imm_u(a, 1)
                };
            }
            _ => {}
        }
        let v = self.expr(expr, inv, el);
        let zero = self.fconst(0.0);
        self.b.ins().fcmp(FloatCC::NotEqual, v, zero)
    }

    fn expr(&mut self, expr: &Expr, inv: &Invariants, el: &Element) -> Value {
        match expr {
            Expr::Const(c) => self.fconst(*c),
            Expr::Load(a, space) => {
                let p = self.array_addr(inv, a.0, *space, el);
                if self.vector && *space == IndexSpace::Own {
                    self.b.ins().load(types::F64X2, lanes_flags(), p, 0)
                } else if self.vector && matches!(space, IndexSpace::Pre | IndexSpace::Post) {
                    // The two elements' neurons are anywhere: two loads.
                    let second = Element {
                        pre: el.pre1,
                        post: el.post1,
                        ..*el
                    };
                    let p1 = self.array_addr(inv, a.0, *space, &second);
                    let x0 = self.b.ins().load(types::F64, trusted(), p, 0);
                    let x1 = self.b.ins().load(types::F64, trusted(), p1, 0);
                    let v = self.b.ins().splat(types::F64X2, x0);
                    self.b.ins().insertlane(v, x1, 1)
                } else {
                    let v = self.b.ins().load(types::F64, trusted(), p, 0);
                    self.widen(v)
                }
            }
            Expr::Local(l) => match self.locals.get(&l.0) {
                Some(&var) => self.b.use_var(var),
                None => unreachable!("local {} missing from the usage", l.0),
            },
            Expr::Index(space) => {
                // Indices are far below 2^63, so the signed conversion (one
                // instruction on x86-64, unlike the unsigned one) is exact.
                let i = match space {
                    IndexSpace::Own => el.key,
                    IndexSpace::Pre => el.pre,
                    IndexSpace::Post => el.post,
                    IndexSpace::Shared => return self.fconst(0.0),
                    // Validation refuses it.
                    IndexSpace::Via(_) => unreachable!("an index through an index array"),
                };
                let x = self.b.ins().fcvt_from_sint(types::F64, i);
                if self.vector {
                    let i1 = match space {
                        IndexSpace::Pre => el.pre1,
                        IndexSpace::Post => el.post1,
                        _ => self.b.ins().iadd_imm_s(i, 1),
                    };
                    let x1 = self.b.ins().fcvt_from_sint(types::F64, i1);
                    let v = self.b.ins().splat(types::F64X2, x);
                    self.b.ins().insertlane(v, x1, 1)
                } else {
                    x
                }
            }
            Expr::Time => self.widen(inv.t),
            Expr::Dt => self.widen(inv.dt),
            Expr::Unary(op, a) => {
                if *op == UnaryOp::Not {
                    let c = self.cond(expr, inv, el);
                    return self.bool_to_f64(c);
                }
                let is_call = is_call_op(*op);
                let key = is_call.then(|| expr.to_string());
                if let Some(&v) = key.as_ref().and_then(|k| self.hoisted.get(k)) {
                    return self.widen(v);
                }
                if let Some(v) = key.as_ref().and_then(|k| self.pure_calls.get(k)) {
                    return *v;
                }
                let a = self.expr(a, inv, el);
                let v = self.unary(*op, a);
                if let Some(k) = key {
                    self.pure_calls.insert(k, v);
                }
                v
            }
            Expr::Binary(op, a, b) => {
                if float_cc(*op).is_some() || matches!(op, BinaryOp::And | BinaryOp::Or) {
                    let c = self.cond(expr, inv, el);
                    return self.bool_to_f64(c);
                }
                // Division by a constant is multiplication by its
                // reciprocal, as g++ -ffast-math compiles Brian2's C++: a
                // division costs several multiplications' throughput (and
                // `x / tau` is in nearly every equation). The product is
                // within 1 ulp of the quotient, and exact when the constant
                // is a power of two.
                if *op == BinaryOp::Div {
                    if let Expr::Const(k) = **b {
                        if let Some(r) = reciprocal(k) {
                            let x = self.expr(a, inv, el);
                            let r = self.fconst(r);
                            return self.b.ins().fmul(x, r);
                        }
                    }
                }
                // A product added to or subtracted from something is one
                // fused multiply-add, rounded once, as g++ contracts
                // Brian2's C++ (GCC's default `-ffp-contract=fast`, with
                // FMA in `-march=native`): shorter dependency chains and
                // fewer instructions, and never less accurate.
                if self.has_fma && matches!(op, BinaryOp::Add | BinaryOp::Sub) {
                    if let Some(v) = self.fused_multiply_add(*op, a, b, inv, el) {
                        return v;
                    }
                }
                // Small whole powers are products: `v**2` is `v*v` exactly
                // (as correctly rounded as `pow`), and far cheaper than a
                // call.
                if *op == BinaryOp::Pow {
                    if let Expr::Const(k) = **b {
                        if k == 1.0 || k == 2.0 || k == 3.0 || k == 4.0 {
                            let x = self.expr(a, inv, el);
                            let mut acc = x;
                            for _ in 1..(k as u32) {
                                acc = self.b.ins().fmul(acc, x);
                            }
                            return acc;
                        }
                    }
                }
                let a = self.expr(a, inv, el);
                let b = self.expr(b, inv, el);
                self.binary(*op, a, b)
            }
            Expr::Select(c, a, b) => {
                // Both sides are side-effect free, so evaluating both and
                // picking one (no branch) is equivalent and branch-free.
                let c = self.cond(c, inv, el);
                let a = self.expr(a, inv, el);
                let b = self.expr(b, inv, el);
                self.sel(c, a, b)
            }
            Expr::Rand { kind, draw } => {
                let normal = *kind == RandKind::Normal;
                if let (Some(&buffer), Some(var)) =
                    (self.rand_buffers.get(&(normal, *draw)), self.batch_start)
                {
                    let first = self.b.use_var(var);
                    let at = self.b.ins().isub(el.e, first);
                    let p = self.element_addr(buffer, at, 3);
                    return if self.vector {
                        self.b.ins().load(types::F64X2, lanes_flags(), p, 0)
                    } else {
                        self.b.ins().load(types::F64, trusted(), p, 0)
                    };
                }
                let f = match kind {
                    RandKind::Uniform => RtFn::RandUniform,
                    RandKind::Normal => RtFn::RandNormal,
                };
                let draw = self.b.ins().iconst(types::I64, i64::from(*draw));
                self.call(f, &[inv.seed, inv.stream, inv.step, el.key, draw])
            }
            Expr::Binomial { n, p, draw } => {
                let approximation = crate::runtime::binomial_normal_approximation(*n, *p);
                if let (Some(&buffer), Some(var)) = (
                    self.rand_buffers.get(&(approximation.is_some(), *draw)),
                    self.batch_start,
                ) {
                    // The element's first number, drawn ahead.
                    let first = self.b.use_var(var);
                    let at = self.b.ins().isub(el.e, first);
                    let addr = self.element_addr(buffer, at, 3);
                    let x = self.b.ins().load(types::F64, trusted(), addr, 0);
                    if let Some((scale, loc)) = approximation {
                        // `x * scale + loc`, rounded twice as `binomial`
                        // rounds it (no fused multiply-add).
                        let scale = self.b.ins().f64const(scale);
                        let loc = self.b.ins().f64const(loc);
                        let scaled = self.b.ins().fmul(x, scale);
                        return self.b.ins().fadd(scaled, loc);
                    }
                    let draw = self.b.ins().iconst(types::I64, i64::from(*draw));
                    let n = self.b.ins().iconst(types::I64, *n as i64);
                    let p = self.b.ins().f64const(*p);
                    return self.call(
                        RtFn::RandBinomialFrom,
                        &[x, inv.seed, inv.stream, inv.step, el.key, draw, n, p],
                    );
                }
                // Constants reinterpreted as i64: the callee reads u64.
                let draw = self.b.ins().iconst(types::I64, i64::from(*draw));
                let n = self.b.ins().iconst(types::I64, *n as i64);
                let p = self.b.ins().f64const(*p);
                self.call(
                    RtFn::RandBinomial,
                    &[inv.seed, inv.stream, inv.step, el.key, draw, n, p],
                )
            }
            Expr::Table {
                table,
                time,
                column,
            } => {
                let tv = match inv.tables.get(&table.0) {
                    Some(&tv) => tv,
                    None => unreachable!("table {} missing from the usage", table.0),
                };
                let time = self.expr(time, inv, el);
                let shifted = self.b.ins().fadd(time, inv.half_dt);
                let x = self.b.ins().fdiv(shifted, tv.dt);
                let row = self.clamped_index(x, tv.last_row);
                // A column outside the table (or NaN) reads NaN: Brian2
                // raises an IndexError there, and a clamped column would
                // silently be another neuron's value. The divergence watch
                // then stops the run. Times stay clamped, as in Brian2.
                let (index, column_valid) = match column {
                    None => (row, None),
                    Some(c) => {
                        let c = self.expr(c, inv, el);
                        let raw = self.b.ins().fcvt_to_sint_sat(types::I64, c);
                        let col = self.clamped_index(c, tv.last_col);
                        let same = self.b.ins().icmp(IntCC::Equal, raw, col);
                        let number = self.b.ins().fcmp(FloatCC::Ordered, c, c);
                        let valid = self.b.ins().band(same, number);
                        let r = self.b.ins().imul(row, tv.columns);
                        (self.b.ins().iadd(r, col), Some(valid))
                    }
                };
                let p = self.element_addr(tv.values, index, 3);
                let value = self.b.ins().load(types::F64, trusted(), p, 0);
                match column_valid {
                    None => value,
                    Some(valid) => {
                        let nan = self.b.ins().f64const(f64::NAN);
                        self.b.ins().select(valid, value, nan)
                    }
                }
            }
        }
    }

    /// `trunc(x)` clamped to `0..=last`, as an `i64`. The saturating
    /// conversion maps NaN to 0 and ±inf to the extreme integers, so no
    /// input can trap or index outside the table (given `last >= 0`).
    fn clamped_index(&mut self, x: Value, last: Value) -> Value {
        let i = self.b.ins().fcvt_to_sint_sat(types::I64, x);
        let zero = self.b.ins().iconst(types::I64, 0);
        let i = self.b.ins().smin(i, last);
        self.b.ins().smax(i, zero)
    }

    fn unary(&mut self, op: UnaryOp, a: Value) -> Value {
        match op {
            UnaryOp::Neg => self.b.ins().fneg(a),
            UnaryOp::Abs => self.b.ins().fabs(a),
            UnaryOp::Floor => self.b.ins().floor(a),
            UnaryOp::Ceil => self.b.ins().ceil(a),
            UnaryOp::Trunc => self.b.ins().trunc(a),
            UnaryOp::Sqrt => self.b.ins().sqrt(a),
            UnaryOp::Sign => {
                // 1 above zero, -1 below, the operand itself otherwise
                // (±0 stays ±0, NaN stays NaN), like numpy's sign.
                let zero = self.fconst(0.0);
                let one = self.fconst(1.0);
                let minus_one = self.fconst(-1.0);
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                let lt = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
                let r = self.sel(lt, minus_one, a);
                self.sel(gt, one, r)
            }
            UnaryOp::Not => {
                // Handled by `cond`; kept total for robustness.
                let zero = self.fconst(0.0);
                let c = self.b.ins().fcmp(FloatCC::Equal, a, zero);
                self.bool_to_f64(c)
            }
            UnaryOp::Exp if self.has_fma => self.inline_exp(a),
            UnaryOp::Exp => self.call(RtFn::Exp, &[a]),
            UnaryOp::Log => self.call(RtFn::Log, &[a]),
            UnaryOp::Log10 => self.call(RtFn::Log10, &[a]),
            UnaryOp::Expm1 => self.call(RtFn::Expm1, &[a]),
            UnaryOp::Log1p => self.call(RtFn::Log1p, &[a]),
            UnaryOp::Exprel => self.call(RtFn::Exprel, &[a]),
            UnaryOp::Sin => self.call(RtFn::Sin, &[a]),
            UnaryOp::Cos => self.call(RtFn::Cos, &[a]),
            UnaryOp::Tan => self.call(RtFn::Tan, &[a]),
            UnaryOp::Sinh => self.call(RtFn::Sinh, &[a]),
            UnaryOp::Cosh => self.call(RtFn::Cosh, &[a]),
            UnaryOp::Tanh => self.call(RtFn::Tanh, &[a]),
            UnaryOp::Arcsin => self.call(RtFn::Asin, &[a]),
            UnaryOp::Arccos => self.call(RtFn::Acos, &[a]),
            UnaryOp::Arctan => self.call(RtFn::Atan, &[a]),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        match op {
            BinaryOp::Add => self.b.ins().fadd(a, b),
            BinaryOp::Sub => self.b.ins().fsub(a, b),
            BinaryOp::Mul => self.b.ins().fmul(a, b),
            BinaryOp::Div => self.b.ins().fdiv(a, b),
            BinaryOp::Pow => self.call(RtFn::Pow, &[a, b]),
            // f64::min/max semantics: a NaN operand is ignored. (Cranelift's
            // fmin/fmax propagate NaN instead.)
            BinaryOp::Min => self.min_max(FloatCC::LessThan, a, b),
            BinaryOp::Max => self.min_max(FloatCC::GreaterThan, a, b),
            BinaryOp::FloorDiv => {
                let q = self.b.ins().fdiv(a, b);
                self.b.ins().floor(q)
            }
            BinaryOp::Mod => {
                // a - floor(a/b)*b: the result has the sign of b (Python).
                let q = self.b.ins().fdiv(a, b);
                let f = self.b.ins().floor(q);
                let m = self.b.ins().fmul(f, b);
                self.b.ins().fsub(a, m)
            }
            BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::And
            | BinaryOp::Or => {
                // Handled by `cond`; kept total for robustness.
                let zero = self.fconst(0.0);
                let c = match float_cc(op) {
                    Some(cc) => self.b.ins().fcmp(cc, a, b),
                    None => {
                        let ca = self.b.ins().fcmp(FloatCC::NotEqual, a, zero);
                        let cb = self.b.ins().fcmp(FloatCC::NotEqual, b, zero);
                        if op == BinaryOp::And {
                            self.b.ins().band(ca, cb)
                        } else {
                            self.b.ins().bor(ca, cb)
                        }
                    }
                };
                self.bool_to_f64(c)
            }
        }
    }

    /// `if b is NaN { a } else if a <cc> b { a } else { b }`.
    fn min_max(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        let b_nan = self.b.ins().fcmp(FloatCC::Unordered, b, b);
        let a_wins = self.b.ins().fcmp(cc, a, b);
        let r = self.sel(a_wins, a, b);
        self.sel(b_nan, a, r)
    }
}

/// The ordered/unordered condition code of a comparison operator. `Ne` is
/// true for NaN operands and the others false, as in IEEE 754 and Python.
fn float_cc(op: BinaryOp) -> Option<FloatCC> {
    Some(match op {
        BinaryOp::Lt => FloatCC::LessThan,
        BinaryOp::Le => FloatCC::LessThanOrEqual,
        BinaryOp::Gt => FloatCC::GreaterThan,
        BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
        BinaryOp::Eq => FloatCC::Equal,
        BinaryOp::Ne => FloatCC::NotEqual,
        _ => return None,
    })
}

/// `1/k` where multiplying by it is a faithful stand-in for dividing by
/// `k`: `k` and `1/k` both normal numbers (so no overflow, underflow or
/// division by zero is hidden).
fn reciprocal(k: f64) -> Option<f64> {
    let r = 1.0 / k;
    (k.is_normal() && r.is_normal()).then_some(r)
}

/// Whether `e` has the same value for every element of one kernel call.
fn is_invariant(e: &Expr) -> bool {
    match e {
        Expr::Load(..)
        | Expr::Local(_)
        | Expr::Index(_)
        | Expr::Rand { .. }
        | Expr::Binomial { .. }
        | Expr::Table { .. } => false,
        _ => e.operands().all(is_invariant),
    }
}

/// Whether `op` is computed by a call (or the inline `exp`) rather than a
/// single instruction: the operations worth hoisting out of the loop.
fn is_call_op(op: UnaryOp) -> bool {
    !matches!(
        op,
        UnaryOp::Neg
            | UnaryOp::Abs
            | UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Trunc
            | UnaryOp::Sqrt
            | UnaryOp::Sign
            | UnaryOp::Not
    )
}

/// Collects the largest loop-invariant calls of `e` (see
/// [`Translator::hoist_invariant_calls`]).
fn invariant_calls<'k>(e: &'k Expr, out: &mut Vec<&'k Expr>) {
    if let Expr::Unary(op, a) = e {
        if is_call_op(*op) && is_invariant(a) {
            out.push(e);
            return;
        }
    }
    for operand in e.operands() {
        invariant_calls(operand, out);
    }
}

fn invariant_calls_in_stmt<'k>(s: &'k Stmt, out: &mut Vec<&'k Expr>) {
    match s {
        Stmt::SetLocal(_, e) | Stmt::Store(_, _, e) => invariant_calls(e, out),
        Stmt::If { cond, then } => {
            invariant_calls(cond, out);
            for s in then {
                invariant_calls_in_stmt(s, out);
            }
        }
        Stmt::Emit => {}
    }
}

/// Whether any statement (at any depth) writes an array or a local.
fn contains_writes(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Store(..) | Stmt::SetLocal(..) => true,
        Stmt::If { then, .. } => contains_writes(then),
        Stmt::Emit => false,
    })
}

/// Flags for the `f64x2` accesses of the two-element loop: like
/// [`trusted`] but not `aligned`, since element pairs start at any 8-byte
/// boundary.
fn lanes_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// The condition of a Range kernel that is one `if` whose condition (not
/// its body) the two-element loop can evaluate, as thresholds are: the
/// loop then tests pairs of elements at once and runs the body one element
/// at a time only where the condition holds.
fn guard_of<'k>(
    kernel: &'k Kernel,
    usage: &Usage,
    batched: bool,
    rounding: bool,
) -> Option<&'k Expr> {
    let [Stmt::If { cond, then }] = kernel.body.as_slice() else {
        return None;
    };
    // The pair's conditions are evaluated before the first element's body
    // runs, so that body must not write anything the second element's
    // condition could read: only its own slots.
    fn own_writes_only(stmts: &[Stmt]) -> bool {
        stmts.iter().all(|s| match s {
            Stmt::Store(_, space, _) => *space == IndexSpace::Own,
            Stmt::If { then, .. } => own_writes_only(then),
            Stmt::SetLocal(..) | Stmt::Emit => true,
        })
    }
    let simple = own_writes_only(then)
        && kernel.iteration == Iteration::Range
        && !usage.pre
        && !usage.post
        && (usage.draws.is_empty() || batched);
    (simple && expr_ok(cond, rounding)).then_some(cond)
}

/// Whether the two-element loop can evaluate `e`.
fn expr_ok(e: &Expr, rounding: bool) -> bool {
    let ok = |e: &Expr| expr_ok(e, rounding);
    match e {
        Expr::Const(_) | Expr::Local(_) | Expr::Time | Expr::Dt | Expr::Rand { .. } => true,
        // Values read through an index array are loaded one element at a
        // time.
        Expr::Load(_, IndexSpace::Via(_)) => false,
        // Pre/Post values are loaded lane by lane; `vectorizable` checks
        // that no element writes what another reads through them.
        Expr::Load(..) | Expr::Index(_) => true,
        // Vector rounding needs SSE4.1, which not every x86-64 has.
        Expr::Unary(UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Trunc, a) => rounding && ok(a),
        Expr::Binary(BinaryOp::FloorDiv | BinaryOp::Mod, a, b) => rounding && ok(a) && ok(b),
        Expr::Unary(_, a) => ok(a),
        Expr::Binary(_, a, b) => ok(a) && ok(b),
        Expr::Select(c, a, b) => ok(c) && ok(a) && ok(b),
        Expr::Binomial { .. } | Expr::Table { .. } => false,
    }
}

/// Whether the two-element loop can run `kernel`: a Range kernel of
/// straight-line code (no `if`, no events) that reads and writes only its
/// own element's slots or shared values, and whose random draws come from
/// the batch buffers. Such code is the same function of each element, so
/// running it on two elements side by side changes nothing but speed.
fn vectorizable(kernel: &Kernel, usage: &Usage, batched: bool, rounding: bool) -> bool {
    // Clock-driven synapses read their neurons' values (`v_post`) and write
    // only their own slots. Two synapses at once are the same as one after
    // the other as long as no array the kernel writes is read through a
    // neuron index (a synapse could then read a value the other one of the
    // pair has written, or not yet).
    let mut stored = std::collections::BTreeSet::new();
    for stmt in &kernel.body {
        if let Stmt::Store(a, _, _) = stmt {
            stored.insert(a.0);
        }
    }
    let mut neuron_reads_stored = false;
    for stmt in &kernel.body {
        if let Stmt::SetLocal(_, e) | Stmt::Store(_, _, e) = stmt {
            e.visit_loads(&mut |a, space| {
                if matches!(space, IndexSpace::Pre | IndexSpace::Post) && stored.contains(&a.0) {
                    neuron_reads_stored = true;
                }
            });
        }
    }
    kernel.iteration == Iteration::Range
        && !neuron_reads_stored
        && !usage.emit
        && (usage.draws.is_empty() || batched)
        && kernel.body.iter().all(|stmt| match stmt {
            Stmt::SetLocal(_, e) => expr_ok(e, rounding),
            Stmt::Store(_, space, e) => *space == IndexSpace::Own && expr_ok(e, rounding),
            Stmt::If { .. } | Stmt::Emit => false,
        })
}
