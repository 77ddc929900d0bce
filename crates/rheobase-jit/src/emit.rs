//! The generated code of kernels as text, for people: `rheo compile
//! --emit clif|asm` prints it.
//!
//! Each kernel is translated exactly as [`Jit::compile_all`] translates
//! it and compiled with the same flags, but only into a code buffer: no
//! executable memory is mapped and nothing can be called, so showing code
//! needs no `unsafe`.

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::UserFuncName;
use cranelift_frontend::FunctionBuilder;
use rheobase_kernel::Kernel;

use crate::codegen::{Imports, Translator};
use crate::runtime::RtFn;
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
        let mut module = self.new_module();
        let sig = crate::kernel_signature(&module);
        let mut imports: Imports = [None; RtFn::ALL.len()];
        let mut out = Vec::with_capacity(kernels.len());
        for (k, (kernel, usage)) in kernels.iter().zip(&usages).enumerate() {
            self.ctx.clear();
            self.ctx.func.signature = sig.clone();
            self.ctx.func.name = UserFuncName::user(0, k as u32);
            self.ctx.set_disasm(true);
            let b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fb_ctx);
            Translator::translate(b, &mut module, &mut imports, kernel, usage, &self.strides);
            let clif = with_decimal_constants(&self.ctx.func.display().to_string());
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

/// `text` with each line holding an `f64const` in Cranelift's hexadecimal
/// notation followed by a comment giving its decimal value
/// (`f64const -0x1.47ae147ae147bp-5  ; -0.04`).
fn with_decimal_constants(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        out.push_str(line);
        let value = line
            .split_once("f64const ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(parse_hex_float);
        if let Some(v) = value {
            if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
                out.push_str(&format!("  ; {v}"));
            } else {
                out.push_str(&format!("  ; {v:e}"));
            }
        }
        out.push('\n');
    }
    out
}

/// A number in Cranelift's hexadecimal float notation: `0x1.8p3`,
/// `-0x1.0000000000000p0`, `0.0`, `-0.0`, `+Inf`, `NaN`.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match body {
        "0.0" => 0.0,
        "Inf" => f64::INFINITY,
        _ => {
            let hex = body.strip_prefix("0x")?;
            let (mantissa, exponent) = hex.split_once('p')?;
            let exponent: i32 = exponent.parse().ok()?;
            let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            let mut value = u64::from_str_radix(whole, 16).ok()? as f64;
            let mut scale = 1.0 / 16.0;
            for digit in fraction.chars() {
                value += f64::from(digit.to_digit(16)?) * scale;
                scale /= 16.0;
            }
            value * 2f64.powi(exponent)
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexadecimal_constants_read_back_exactly() {
        for v in [-0.04, 0.5, 1.0, 4.0, 1e-300, 6.02e23, -0.065, 0.0] {
            let text = format!(
                "{}",
                cranelift_codegen::ir::immediates::Ieee64::with_float(v)
            );
            assert_eq!(parse_hex_float(&text), Some(v), "{text}");
        }
        assert_eq!(parse_hex_float("NaN"), None);
        assert!(
            with_decimal_constants("v1 = f64const -0x1.47ae147ae147bp-5\n")
                .ends_with("  ; -0.04\n")
        );
    }
}
