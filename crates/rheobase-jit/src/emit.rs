//! The generated code of kernels as text, for people: `rheo compile
//! --emit clif|asm` prints it.
//!
//! Each kernel is translated exactly as [`Jit::compile_all`] translates
//! it and compiled with the same flags, but only into a code buffer: no
//! executable memory is mapped and nothing can be called, so showing code
//! needs no `unsafe`.

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{types, AbiParam, UserFuncName};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::Module;
use rheobase_kernel::Kernel;

use crate::codegen::{Imports, Translator};
use crate::runtime::{self, RtFn};
use crate::{validate, Jit, JitError};

/// What Cranelift made of one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelCode {
    /// The kernel's name, e.g. `G.state_update`.
    pub name: String,
    /// The Cranelift IR the kernel was translated into, before
    /// Cranelift's optimisations, in Cranelift's text format.
    pub clif: String,
    /// The machine instructions Cranelift emitted for the host CPU, one
    /// per line, in Cranelift's notation of the target's assembly.
    pub asm: String,
    /// Size of the machine code, bytes.
    pub code_bytes: usize,
}

impl Jit {
    /// Translates and compiles `kernels` as [`Jit::compile_all`] would,
    /// returning their code as text instead of callable functions.
    pub fn emit(&mut self, kernels: &[Kernel]) -> Result<Vec<KernelCode>, JitError> {
        let usages = kernels
            .iter()
            .map(validate::validate)
            .collect::<Result<Vec<_>, _>>()?;
        // A module only to declare the runtime functions kernels call;
        // nothing is defined in it, so it maps no memory.
        let mut builder =
            JITBuilder::with_isa(self.isa.clone(), cranelift_module::default_libcall_names());
        runtime::register_symbols(&mut builder);
        let mut module = JITModule::new(builder);
        let mut sig = module.make_signature();
        sig.params.push(AbiParam::new(types::I64));
        sig.returns.push(AbiParam::new(types::I64));
        let mut imports: Imports = [None; RtFn::ALL.len()];
        let mut out = Vec::with_capacity(kernels.len());
        for (k, (kernel, usage)) in kernels.iter().zip(&usages).enumerate() {
            self.ctx.clear();
            self.ctx.func.signature = sig.clone();
            self.ctx.func.name = UserFuncName::user(0, k as u32);
            self.ctx.set_disasm(true);
            let b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fb_ctx);
            Translator::translate(b, &mut module, &mut imports, kernel, usage);
            let clif = self.ctx.func.display().to_string();
            let compiled = self
                .ctx
                .compile(&*self.isa, &mut ControlPlane::default())
                .map_err(|e| JitError::Codegen {
                    kernel: kernel.name.clone(),
                    message: format!("{:?}", e.inner),
                })?;
            out.push(KernelCode {
                name: kernel.name.clone(),
                clif,
                asm: compiled.vcode.clone().unwrap_or_default(),
                code_bytes: compiled.code_buffer().len(),
            });
        }
        self.ctx.clear();
        Ok(out)
    }
}
