//! Native code generation for rheobase kernels with Cranelift.
//!
//! A [`Kernel`] (see `rheobase_kernel`) is a loop body over the elements of
//! a neuron group or synapse set. [`Jit`] compiles kernels into machine
//! code for the host CPU; each becomes a [`CompiledKernel`], a function
//! `extern "C" fn(*const KernelArgs) -> u64` that runs the body for the
//! elements `args.start..args.end` and returns the number of events it
//! emitted.
//!
//! How a kernel is compiled:
//!
//! 1. it is validated (local ids in range, at most one `Emit` per element,
//!    nesting depth, id limits), so
//!    that code generation itself cannot fail half-way;
//! 2. it is translated into Cranelift IR (module `codegen`): loop-invariant
//!    values (array base pointers, table descriptors, `t`, `dt`, random
//!    keys) are loaded once before the loop, locals become SSA variables,
//!    transcendental functions and random draws become calls to `extern
//!    "C"` Rust functions (module `runtime`);
//! 3. Cranelift optimizes (`opt_level = speed`) and emits machine code into
//!    a `JITModule`; one module is finalized per [`Jit::compile_all`] call,
//!    so compiling many kernels costs one `mprotect`, not one per kernel.
//!
//! Set the environment variable `RHEOBASE_JIT_DUMP` to print the Cranelift
//! IR and the machine code of every compiled kernel to stderr.
//!
//! The executable memory of a batch is freed when the last
//! [`CompiledKernel`] of that batch is dropped (each holds an `Arc` to it).
//! The [`Jit`] itself may be dropped at any time.
//!
//! # Example
//!
//! ```
//! use rheobase_jit::Jit;
//! use rheobase_kernel::{
//!     ArrayId, BinaryOp, Expr, IndexSpace, Iteration, Kernel, KernelArgs, Stmt,
//! };
//!
//! // v[i] = v[i] + dt * 2
//! let kernel = Kernel {
//!     name: "demo".into(),
//!     iteration: Iteration::Range,
//!     n_locals: 0,
//!     body: vec![Stmt::Store(
//!         ArrayId(0),
//!         IndexSpace::Own,
//!         Expr::Binary(
//!             BinaryOp::Add,
//!             Box::new(Expr::Load(ArrayId(0), IndexSpace::Own)),
//!             Box::new(Expr::Binary(
//!                 BinaryOp::Mul,
//!                 Box::new(Expr::Dt),
//!                 Box::new(Expr::Const(2.0)),
//!             )),
//!         ),
//!     )],
//! };
//! let mut jit = Jit::new()?;
//! let compiled = jit.compile(&kernel)?;
//!
//! let mut v = vec![1.0_f64; 4];
//! let arrays = [v.as_mut_ptr()];
//! let args = KernelArgs {
//!     arrays: arrays.as_ptr(),
//!     pre_index: std::ptr::null(),
//!     post_index: std::ptr::null(),
//!     elements: std::ptr::null(),
//!     start: 0,
//!     end: 4,
//!     events_out: std::ptr::null_mut(),
//!     tables: std::ptr::null(),
//!     t: 0.0,
//!     dt: 0.5,
//!     step: 0,
//!     seed: 0,
//!     stream: 0,
//!     index_offset: 0,
//! };
//! // SAFETY: the kernel touches only arrays[0][0..4], which `v` provides,
//! // and uses no other pointer.
//! let events = unsafe { compiled.call(&args) };
//! assert_eq!(events, 0);
//! assert_eq!(v, [2.0; 4]);
//! # Ok::<(), rheobase_jit::JitError>(())
//! ```

mod codegen;
mod emit;
mod runtime;
mod validate;

pub use emit::KernelCode;
pub use runtime::{binomial, exprel, BINOMIAL_MAX_RESTARTS};

use std::fmt;
use std::sync::{Arc, Mutex};

use cranelift_codegen::ir::{types, AbiParam, Signature, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Module};
use rheobase_kernel::{Kernel, KernelArgs};

use crate::codegen::{Imports, Translator};
use crate::runtime::RtFn;

/// Why compiling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JitError {
    /// The kernel breaks a rule of the kernel language (or a limit of this
    /// compiler); nothing was compiled.
    InvalidKernel { kernel: String, reason: String },
    /// The host CPU or OS cannot run Cranelift code (unsupported
    /// architecture, not 64-bit, bad settings).
    UnsupportedHost(String),
    /// Cranelift rejected the generated function. This is a bug in this
    /// crate; `message` includes the IR.
    Codegen { kernel: String, message: String },
    /// Declaring, linking or finalizing the module failed (e.g. the OS
    /// refused executable memory).
    Module(String),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::InvalidKernel { kernel, reason } => {
                write!(f, "invalid kernel `{kernel}`: {reason}")
            }
            JitError::UnsupportedHost(msg) => write!(f, "unsupported host for the JIT: {msg}"),
            JitError::Codegen { kernel, message } => {
                write!(f, "code generation failed for kernel `{kernel}`: {message}")
            }
            JitError::Module(msg) => write!(f, "JIT module error: {msg}"),
        }
    }
}

impl std::error::Error for JitError {}

/// The compiler. Holds the target description and Cranelift's scratch
/// contexts, which are reused for every kernel (allocating them per kernel
/// would dominate the compile time of small kernels).
pub struct Jit {
    isa: OwnedTargetIsa,
    /// Holds the function being compiled and the compiler's working data.
    ctx: cranelift_codegen::Context,
    /// The frontend's SSA-construction state.
    fb_ctx: FunctionBuilderContext,
    /// Print IR and machine code of every kernel to stderr (set by the
    /// `RHEOBASE_JIT_DUMP` environment variable).
    dump: bool,
    /// Distance in `f64`s between consecutive elements of each array, by
    /// array id (see [`Jit::set_array_strides`]).
    strides: Vec<u32>,
}

impl fmt::Debug for Jit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jit")
            .field("isa", &self.isa.name())
            .field("triple", &self.isa.triple().to_string())
            .finish()
    }
}

impl Jit {
    /// A compiler for the host CPU (all its detected features enabled),
    /// optimizing for speed.
    pub fn new() -> Result<Jit, JitError> {
        let host = |e: &dyn fmt::Display| JitError::UnsupportedHost(e.to_string());
        let mut flags = settings::builder();
        let settings = [
            ("opt_level", "speed"),
            // Required by cranelift-jit: code is placed at arbitrary
            // addresses, so calls to host functions need absolute
            // relocations, and the code is not position independent.
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
            // The IR verifier catches translation bugs but costs compile
            // time; run it in debug builds only.
            (
                "enable_verifier",
                if cfg!(debug_assertions) {
                    "true"
                } else {
                    "false"
                },
            ),
        ];
        for (name, value) in settings {
            flags.set(name, value).map_err(|e| host(&e))?;
        }
        // Detects the host's ISA extensions (SSE4.1, AVX, ...), so that e.g.
        // floor/ceil are single instructions.
        let isa_builder = cranelift_native::builder().map_err(|e| host(&e))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| host(&e))?;
        // The generated code addresses KernelArgs fields and arrays with
        // 64-bit pointers.
        if isa.pointer_type() != types::I64 {
            return Err(JitError::UnsupportedHost(format!(
                "{} has {}-bit pointers; only 64-bit targets are supported",
                isa.triple(),
                isa.pointer_bits()
            )));
        }
        Ok(Jit {
            isa,
            ctx: cranelift_codegen::Context::new(),
            fb_ctx: FunctionBuilderContext::new(),
            dump: std::env::var_os("RHEOBASE_JIT_DUMP").is_some(),
            strides: Vec::new(),
        })
    }

    /// Whether this host has fused multiply-add, so that kernels compute
    /// `exp` inline and fuse `a*b + c` into one rounding (as g++ compiles
    /// Brian2's C++); elsewhere they call libm and round twice. Tests that
    /// pin exact bits against plain Rust ask this.
    pub fn fuses_multiply_add(&self) -> bool {
        codegen::fuses_multiply_add(&*self.isa)
    }

    /// Sets how arrays are laid out for the kernels compiled from now on:
    /// element `i` of array `a` is `i * strides[a]` values after the
    /// pointer of `a` in `KernelArgs::arrays` (arrays beyond `strides`:
    /// stride 1). Interleaved arrays (the runtime's records, see
    /// `Program::records`) have strides above 1; kernels using them run
    /// one element at a time.
    ///
    /// # Errors
    /// If a stride is not a power of two up to 8, the largest record.
    pub fn set_array_strides(&mut self, strides: &[u32]) -> Result<(), JitError> {
        if let Some(bad) = strides.iter().find(|&&s| {
            !s.is_power_of_two() || s as usize > rheobase_kernel::program::MAX_RECORD_MEMBERS
        }) {
            return Err(JitError::Module(format!(
                "array stride {bad} is not a power of two up to {}",
                rheobase_kernel::program::MAX_RECORD_MEMBERS
            )));
        }
        self.strides = strides.to_vec();
        Ok(())
    }

    /// Compiles one kernel. Prefer [`Jit::compile_all`] for several.
    pub fn compile(&mut self, kernel: &Kernel) -> Result<CompiledKernel, JitError> {
        let mut v = self.compile_all(std::slice::from_ref(kernel))?;
        match v.pop() {
            Some(k) => Ok(k),
            None => Err(JitError::Module("no function produced".into())),
        }
    }

    /// A module for one batch of kernels, with the runtime functions they
    /// may call registered.
    fn new_module(&self) -> JITModule {
        let mut builder =
            JITBuilder::with_isa(self.isa.clone(), cranelift_module::default_libcall_names());
        runtime::register_symbols(&mut builder);
        JITModule::new(builder)
    }

    /// Compiles kernels into one code module, returned in the same order.
    /// Every kernel is validated before any is compiled; on error nothing
    /// is returned and the memory already used is freed.
    pub fn compile_all(&mut self, kernels: &[Kernel]) -> Result<Vec<CompiledKernel>, JitError> {
        let usages = kernels
            .iter()
            .map(validate::validate)
            .collect::<Result<Vec<_>, _>>()?;

        // A fresh module per batch (sharing the ISA, which is an Arc): the
        // batch's code can then be freed as a unit when its last kernel is
        // dropped. Creating a module is cheap; it allocates nothing until
        // code is defined.
        // Owned by a CodeMemory from the start, so that an error below also
        // frees whatever was allocated.
        let mut code = CodeMemory {
            module: Mutex::new(Some(self.new_module())),
        };
        let module = code.module_mut();
        let sig = kernel_signature(module);

        let mut imports: Imports = [None; RtFn::ALL.len()];
        let mut ids: Vec<FuncId> = Vec::with_capacity(kernels.len());
        let mut sizes: Vec<usize> = Vec::with_capacity(kernels.len());
        for (kernel, usage) in kernels.iter().zip(&usages) {
            let id = module
                .declare_anonymous_function(&sig)
                .map_err(|e| JitError::Module(e.to_string()))?;
            // Reuse the context's allocations; only the signature and name
            // are new.
            self.ctx.clear();
            self.ctx.func.signature = sig.clone();
            self.ctx.func.name = UserFuncName::user(0, id.as_u32());
            self.ctx.set_disasm(self.dump);
            let b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fb_ctx);
            Translator::translate(b, module, &mut imports, kernel, usage, &self.strides);
            if self.dump {
                eprintln!(
                    "; kernel {}\n{kernel}\n{}",
                    kernel.name,
                    self.ctx.func.display()
                );
            }
            // Optimizes, allocates registers, emits machine code and copies
            // it into the module's memory (not yet executable).
            if let Err(e) = module.define_function(id, &mut self.ctx) {
                let message = format!("{e}\n{}", self.ctx.func.display());
                self.ctx.clear();
                return Err(JitError::Codegen {
                    kernel: kernel.name.clone(),
                    message,
                });
            }
            if let Some(asm) = self.ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
                eprintln!("; machine code of {}\n{asm}", kernel.name);
            }
            let size = self
                .ctx
                .compiled_code()
                .map_or(0, |c| c.code_info().total_size);
            sizes.push(size as usize);
            ids.push(id);
        }
        self.ctx.clear();

        // Resolves calls to runtime functions and makes the code executable.
        module
            .finalize_definitions()
            .map_err(|e| JitError::Module(e.to_string()))?;
        let addresses: Vec<*const u8> = ids
            .iter()
            .map(|&id| module.get_finalized_function(id))
            .collect();

        let code = Arc::new(code);
        Ok(addresses
            .into_iter()
            .zip(kernels)
            .zip(sizes)
            .map(|((address, kernel), code_size)| {
                // SAFETY: `address` is the entry of a finalized function
                // defined with the signature `(i64) -> i64` in the ISA's
                // default calling convention, which on the supported 64-bit
                // targets is the C ABI of `extern "C" fn(*const KernelArgs)
                // -> u64` (pointers and u64 are passed as i64). The code
                // stays mapped while `code` is alive, which the returned
                // kernel guarantees by holding an Arc to it.
                let func = unsafe { std::mem::transmute::<*const u8, KernelFn>(address) };
                CompiledKernel {
                    func,
                    code_size,
                    name: Arc::from(kernel.name.as_str()),
                    _code: Arc::clone(&code),
                }
            })
            .collect())
    }
}

/// The entry point of a compiled kernel.
type KernelFn = unsafe extern "C" fn(*const KernelArgs) -> u64;

/// Owns the executable memory of one compiled batch.
///
/// `JITModule` does not free its code when dropped (it leaks it on purpose,
/// since function pointers may survive it), so this frees it explicitly
/// once no [`CompiledKernel`] can call into it any more. The mutex only
/// makes the module `Sync` (it is never locked concurrently: after
/// finalization the module is not touched until drop).
struct CodeMemory {
    module: Mutex<Option<JITModule>>,
}

impl CodeMemory {
    fn module_mut(&mut self) -> &mut JITModule {
        let slot = match self.module.get_mut() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        match slot {
            Some(module) => module,
            None => unreachable!("the module is only taken on drop"),
        }
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let slot = match self.module.get_mut() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(module) = slot.take() {
            // SAFETY: function pointers into this module exist only inside
            // `CompiledKernel`s, each holding an `Arc<CodeMemory>`; this
            // runs when the last of them is gone, so none can be called
            // again, and none is executing (a call borrows its kernel).
            // On a compile error no `CompiledKernel` was created at all.
            unsafe { module.free_memory() };
        }
    }
}

/// A compiled kernel: a native function plus shared ownership of the code
/// memory it lives in. Cheap to clone (an `Arc` increment), `Send` and
/// `Sync`, so clones may be called from several threads at once (on
/// disjoint elements; see [`CompiledKernel::call`]).
#[derive(Clone)]
pub struct CompiledKernel {
    func: KernelFn,
    /// Bytes of machine code from `func` on.
    code_size: usize,
    name: Arc<str>,
    _code: Arc<CodeMemory>,
}

impl fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledKernel")
            .field("name", &self.name)
            .field("address", &(self.func as *const u8))
            .finish()
    }
}

impl CompiledKernel {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the kernel's machine code lies: its first byte's address and
    /// its length in bytes. Profilers need this to name JIT code (a perf
    /// map, `/tmp/perf-PID.map`, lists one such range per symbol).
    pub fn code_range(&self) -> (usize, usize) {
        (self.func as usize, self.code_size)
    }

    /// Runs the kernel for positions `args.start..args.end` and returns the
    /// number of indices written to `args.events_out` by `Emit`.
    ///
    /// Does nothing (and dereferences no pointer in `args`) when
    /// `start >= end`.
    ///
    /// # Safety
    ///
    /// The generated code does no bounds checking. For every position `k`
    /// in `start..end`, with element `e = k` (`Iteration::Range`) or
    /// `e = elements[k]` (`Iteration::List`), the caller must guarantee:
    ///
    /// - `arrays` points to at least `max(ArrayId) + 1` pointers, and each
    ///   array the kernel uses is valid for reads and writes of an `f64` at
    ///   every index the kernel touches: `e` for `Own`, `pre_index[e]` for
    ///   `Pre`, `post_index[e]` for `Post`, `0` for `Shared`;
    /// - `elements` (list kernels) is valid for reads at `start..end`;
    /// - `pre_index` / `post_index` (if the kernel uses `Pre` / `Post`) are
    ///   valid for reads at every `e`;
    /// - `events_out` (if the kernel emits) has room for `end - start`
    ///   `u32`s (validation ensures at most one `Emit` per element);
    /// - `tables` points to at least `max(TableId) + 1` descriptors, each
    ///   with `rows >= 1`, `columns >= 1`, and `values` valid for
    ///   `rows * columns` reads;
    /// - no other thread reads or writes the elements this call writes, or
    ///   writes the elements it reads, while it runs (e.g. partitions of
    ///   one group on different threads must not share `Own` elements;
    ///   synapse kernels writing `Pre`/`Post` arrays must not run
    ///   concurrently on synapses with the same target).
    ///
    /// Pointers the kernel does not use (e.g. `pre_index` of a neuron
    /// kernel) may be null.
    pub unsafe fn call(&self, args: &KernelArgs) -> u64 {
        // SAFETY: the function was compiled for this signature (see
        // `compile_all`); its code is alive because `self` holds it; memory
        // safety of what it touches is the caller's contract above.
        unsafe { (self.func)(args) }
    }
}

/// `fn(args: *const KernelArgs) -> u64`, in the platform's C calling
/// convention: the signature of every kernel.
fn kernel_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn compiled_kernel_is_send_and_sync() {
        assert_send_sync::<CompiledKernel>();
        assert_send_sync::<JitError>();
        assert_send::<Jit>();
    }
}
