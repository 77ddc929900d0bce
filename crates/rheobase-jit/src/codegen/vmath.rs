//! `exp` emitted inline, for one element (`f64`) or two (`f64x2`).
//!
//! Calling libm's `exp` costs a call per lane: the two lanes of the
//! two-element loop are taken apart, each goes through the C calling
//! convention (which spills every live vector register), and the results are
//! put together again. Hodgkin–Huxley-type models evaluate a dozen
//! exponentials per neuron and step, so those calls were most of their run
//! time. The code below computes `exp` with plain arithmetic on both lanes
//! at once, and it is the *same* instruction sequence for one element and
//! for two: an element's result never depends on whether it fell in a pair
//! or in the scalar tail, so results stay independent of how the elements
//! are split between threads.
//!
//! # Method
//!
//! `exp(x) = 2^k · exp(r)` with `k = round(x / ln 2)` and `r = x − k·ln 2`
//! (`|r| ≤ ln 2 / 2`), reduced with `ln 2` split in two parts and fused
//! multiply-adds. `exp(r) = 1 + r + r²·q(r)`, where `q` is a degree-9
//! polynomial fitted (Chebyshev, in 50-digit arithmetic) to
//! `(exp(r) − 1 − r)/r²` on the reduced interval: its own error is below
//! 0.08 ulp, so the result's error is that of the last additions. `2^k` is
//! applied as two exact powers of two, `2^⌊k/2⌉` and `2^(k−⌊k/2⌉)`, so that
//! results in the subnormal range are rounded once, and overflow gives
//! `inf` without a special case in the middle of the range.
//!
//! # Accuracy
//!
//! Within 1 ulp of the correctly rounded result over the whole range
//! (measured: see the tests in `tests/inline_exp.rs`, which compare against
//! a correctly rounded reference and against the platform's `exp`).
//! `exp(±0) = 1`, `exp(+inf) = inf`, `exp(-inf) = 0`, NaN stays NaN,
//! results above `709.78` are `inf` and below `−745.2` are `0`.
//!
//! Needs fused multiply-add in hardware (x86-64 with FMA, or AArch64); the
//! caller falls back to the libm call elsewhere.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_codegen::isa::TargetIsa;

use super::Translator;

/// Coefficients of `q(r) ≈ (exp(r) − 1 − r)/r²`, lowest degree first, for
/// `|r| ≤ 1.0001 · ln 2 / 2` (degree 9; its error is below 0.08 ulp).
const Q: [f64; 10] = [
    0.5000000000000001,
    0.16666666666666669,
    0.04166666666662413,
    0.008333333333330062,
    0.0013888888917213717,
    0.00019841269863053618,
    2.4801521295954376e-05,
    2.7557268459997064e-06,
    2.7620088445409746e-07,
    2.510038549551032e-08,
];

const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// `ln 2` rounded to `f64`, and what that rounding left out.
const LN2_HI: f64 = std::f64::consts::LN_2;
const LN2_LO: f64 = 2.3190468138462996e-17;
/// `1.5 · 2^52`: adding it to a number of magnitude below `2^51` rounds the
/// number to an integer, which then sits in the low mantissa bits.
const SHIFTER: f64 = 6755399441055744.0;
/// Above this, `exp` overflows to `inf`; below the other, it rounds to 0.
const OVERFLOW: f64 = 709.782712893384;
const UNDERFLOW: f64 = -745.2;

/// Whether `isa` has the instructions the inline `exp` is built from: fused
/// multiply-add (emulated by a call otherwise) and, on x86-64, SSE4.1's
/// rounding (for `trunc` on vectors).
pub(crate) fn supported(isa: &dyn TargetIsa) -> bool {
    let flag = |name: &str| {
        isa.isa_flags()
            .iter()
            .any(|f| f.name == name && f.as_bool() == Some(true))
    };
    match isa.name() {
        "x64" => flag("has_fma") && flag("has_sse41"),
        "aarch64" => true,
        _ => false,
    }
}

impl Translator<'_, '_> {
    /// `exp(x)` for the current element or element pair.
    pub(super) fn inline_exp(&mut self, x: Value) -> Value {
        let log2e = self.fconst(LOG2_E);
        let shifter = self.fconst(SHIFTER);
        // k = round(x · log2 e), as a float and in the low bits of `t`.
        let t = self.b.ins().fma(x, log2e, shifter);
        let k = self.b.ins().fsub(t, shifter);
        let minus_hi = self.fconst(-LN2_HI);
        let minus_lo = self.fconst(-LN2_LO);
        let r = self.b.ins().fma(k, minus_hi, x);
        let r = self.b.ins().fma(k, minus_lo, r);

        // q(r) by Estrin's scheme: pairs, then pairs of pairs, so that the
        // dependency chain is 4 operations deep instead of Horner's 9 (the
        // two-element loop has many exponentials in flight; their latency,
        // not their count, was the limit).
        let r2 = self.b.ins().fmul(r, r);
        let r4 = self.b.ins().fmul(r2, r2);
        let r8 = self.b.ins().fmul(r4, r4);
        let mut pairs = [x; 5];
        for (n, pair) in pairs.iter_mut().enumerate() {
            let low = self.fconst(Q[2 * n]);
            let high = self.fconst(Q[2 * n + 1]);
            *pair = self.b.ins().fma(high, r, low);
        }
        let q03 = self.b.ins().fma(pairs[1], r2, pairs[0]);
        let q47 = self.b.ins().fma(pairs[3], r2, pairs[2]);
        let q07 = self.b.ins().fma(q47, r4, q03);
        let q = self.b.ins().fma(pairs[4], r8, q07);
        let u = self.b.ins().fma(r2, q, r);
        let one = self.fconst(1.0);
        let p = self.b.ins().fadd(u, one);

        // 2^k as 2^k1 · 2^k2 with k1 = trunc(k/2), k2 = k − k1.
        let half = self.fconst(0.5);
        let k_half = self.b.ins().fmul(k, half);
        let k1 = self.b.ins().trunc(k_half);
        let k2 = self.b.ins().fsub(k, k1);
        let s1 = self.power_of_two(k1);
        let s2 = self.power_of_two(k2);
        let y = self.b.ins().fmul(p, s1);
        let y = self.b.ins().fmul(y, s2);

        // Out of range, `k` is meaningless: give the limits instead. NaN
        // compares false with both and passes through as NaN.
        let over = self.fconst(OVERFLOW);
        let under = self.fconst(UNDERFLOW);
        let inf = self.fconst(f64::INFINITY);
        let zero = self.fconst(0.0);
        let is_over = self.b.ins().fcmp(FloatCC::GreaterThan, x, over);
        let is_under = self.b.ins().fcmp(FloatCC::LessThan, x, under);
        let y = self.sel(is_over, inf, y);
        self.sel(is_under, zero, y)
    }

    /// `2^n` for an integral float `n` with `|n| ≤ 1022`: the biased
    /// exponent `n + 1023` is made an integer by the shifter trick and moved
    /// into the exponent field.
    fn power_of_two(&mut self, n: Value) -> Value {
        let biased = self.fconst(SHIFTER + 1023.0);
        let t = self.b.ins().fadd(n, biased);
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let (int_ty, float_ty) = if self.vector {
            (types::I64X2, types::F64X2)
        } else {
            (types::I64, types::F64)
        };
        let bits = self.b.ins().bitcast(int_ty, little, t);
        let bits = self.b.ins().ishl_imm_u(bits, 52);
        self.b.ins().bitcast(float_ty, little, bits)
    }
}
