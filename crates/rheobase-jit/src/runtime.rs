//! Host functions that compiled kernels call.
//!
//! Cranelift has instructions for arithmetic, `sqrt`, `abs`, `floor`,
//! `ceil` and `trunc`, but none for transcendental functions (`exp`, `log`,
//! `sin`, ...). Kernels call these plain `extern "C"` Rust functions
//! instead; `register_symbols` tells the JIT linker where they live, so a
//! call in generated code is resolved to the function's address when the
//! module is finalized. Using our own functions (rather than letting the
//! JIT find `exp` in the C library with `dlsym`) guarantees the JIT computes
//! exactly what Rust's `f64` methods compute.

use cranelift_codegen::ir::{types, AbiParam, Signature};
use cranelift_jit::JITBuilder;
use rheobase_kernel::rng::abi::{rheo_rand_normal, rheo_rand_uniform};
use rheobase_kernel::rng::{normal, uniform};

/// Shape of a runtime function's signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// `fn(f64) -> f64`
    Unary,
    /// `fn(f64, f64) -> f64`
    Binary,
    /// `fn(seed, stream, step, element, draw: u64) -> f64`
    Rand,
    /// `fn(seed, stream, step, element, draw, n: u64, p: f64) -> f64`
    Binomial,
    /// `fn(u: f64, seed, stream, step, element, draw, n: u64, p: f64) -> f64`
    BinomialFrom,
    /// `fn(out: *mut f64, count, seed, stream, step, first_element, draw: u64)`
    Fill,
}

/// A function that compiled kernels may call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RtFn {
    Exp,
    Log,
    Log10,
    Expm1,
    Log1p,
    Exprel,
    Sin,
    Cos,
    Tan,
    Sinh,
    Cosh,
    Tanh,
    Asin,
    Acos,
    Atan,
    Pow,
    RandUniform,
    RandNormal,
    RandBinomial,
    RandBinomialFrom,
    FillUniform,
    FillNormal,
}

impl RtFn {
    /// Every runtime function, in the order of their `index`.
    pub(crate) const ALL: [RtFn; 22] = [
        RtFn::Exp,
        RtFn::Log,
        RtFn::Log10,
        RtFn::Expm1,
        RtFn::Log1p,
        RtFn::Exprel,
        RtFn::Sin,
        RtFn::Cos,
        RtFn::Tan,
        RtFn::Sinh,
        RtFn::Cosh,
        RtFn::Tanh,
        RtFn::Asin,
        RtFn::Acos,
        RtFn::Atan,
        RtFn::Pow,
        RtFn::RandUniform,
        RtFn::RandNormal,
        RtFn::RandBinomial,
        RtFn::RandBinomialFrom,
        RtFn::FillUniform,
        RtFn::FillNormal,
    ];

    /// Position in [`RtFn::ALL`], for per-function caches.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The linker symbol. Prefixed so that it cannot collide with a C
    /// library symbol the JIT would otherwise look up with `dlsym`.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            RtFn::Exp => "rheobase_jit_exp",
            RtFn::Log => "rheobase_jit_log",
            RtFn::Log10 => "rheobase_jit_log10",
            RtFn::Expm1 => "rheobase_jit_expm1",
            RtFn::Log1p => "rheobase_jit_log1p",
            RtFn::Exprel => "rheobase_jit_exprel",
            RtFn::Sin => "rheobase_jit_sin",
            RtFn::Cos => "rheobase_jit_cos",
            RtFn::Tan => "rheobase_jit_tan",
            RtFn::Sinh => "rheobase_jit_sinh",
            RtFn::Cosh => "rheobase_jit_cosh",
            RtFn::Tanh => "rheobase_jit_tanh",
            RtFn::Asin => "rheobase_jit_asin",
            RtFn::Acos => "rheobase_jit_acos",
            RtFn::Atan => "rheobase_jit_atan",
            RtFn::Pow => "rheobase_jit_pow",
            RtFn::RandUniform => "rheobase_jit_rand_uniform",
            RtFn::RandNormal => "rheobase_jit_rand_normal",
            RtFn::RandBinomial => "rheobase_jit_rand_binomial",
            RtFn::RandBinomialFrom => "rheobase_jit_rand_binomial_from",
            RtFn::FillUniform => "rheobase_jit_fill_uniform",
            RtFn::FillNormal => "rheobase_jit_fill_normal",
        }
    }

    pub(crate) fn shape(self) -> Shape {
        match self {
            RtFn::Pow => Shape::Binary,
            RtFn::RandUniform | RtFn::RandNormal => Shape::Rand,
            RtFn::RandBinomial => Shape::Binomial,
            RtFn::RandBinomialFrom => Shape::BinomialFrom,
            RtFn::FillUniform | RtFn::FillNormal => Shape::Fill,
            _ => Shape::Unary,
        }
    }

    /// The address the symbol resolves to.
    fn address(self) -> *const u8 {
        type F1 = extern "C" fn(f64) -> f64;
        type F2 = extern "C" fn(f64, f64) -> f64;
        type Fr = extern "C" fn(u64, u64, u64, u64, u64) -> f64;
        type Fb = extern "C" fn(u64, u64, u64, u64, u64, u64, f64) -> f64;
        type Fbu = extern "C" fn(f64, u64, u64, u64, u64, u64, u64, f64) -> f64;
        type Ff = extern "C" fn(*mut f64, u64, u64, u64, u64, u64, u64);
        let unary = |f: F1| f as *const u8;
        match self {
            RtFn::Exp => unary(rt_exp),
            RtFn::Log => unary(rt_log),
            RtFn::Log10 => unary(rt_log10),
            RtFn::Expm1 => unary(rt_expm1),
            RtFn::Log1p => unary(rt_log1p),
            RtFn::Exprel => unary(rt_exprel),
            RtFn::Sin => unary(rt_sin),
            RtFn::Cos => unary(rt_cos),
            RtFn::Tan => unary(rt_tan),
            RtFn::Sinh => unary(rt_sinh),
            RtFn::Cosh => unary(rt_cosh),
            RtFn::Tanh => unary(rt_tanh),
            RtFn::Asin => unary(rt_asin),
            RtFn::Acos => unary(rt_acos),
            RtFn::Atan => unary(rt_atan),
            RtFn::Pow => rt_pow as F2 as *const u8,
            RtFn::RandUniform => rheo_rand_uniform as Fr as *const u8,
            RtFn::RandNormal => rheo_rand_normal as Fr as *const u8,
            RtFn::RandBinomial => rheo_rand_binomial as Fb as *const u8,
            RtFn::RandBinomialFrom => rheo_rand_binomial_from as Fbu as *const u8,
            RtFn::FillUniform => rt_fill_uniform as Ff as *const u8,
            RtFn::FillNormal => rt_fill_normal as Ff as *const u8,
        }
    }

    /// The Cranelift signature matching the Rust function, in the
    /// platform's C calling convention (which is what `extern "C"` uses).
    pub(crate) fn signature(self, call_conv: cranelift_codegen::isa::CallConv) -> Signature {
        let mut sig = Signature::new(call_conv);
        match self.shape() {
            Shape::Unary => sig.params.push(AbiParam::new(types::F64)),
            Shape::Binary => {
                sig.params.push(AbiParam::new(types::F64));
                sig.params.push(AbiParam::new(types::F64));
            }
            Shape::Rand => {
                for _ in 0..5 {
                    sig.params.push(AbiParam::new(types::I64));
                }
            }
            Shape::Binomial => {
                for _ in 0..6 {
                    sig.params.push(AbiParam::new(types::I64));
                }
                sig.params.push(AbiParam::new(types::F64));
            }
            Shape::BinomialFrom => {
                sig.params.push(AbiParam::new(types::F64));
                for _ in 0..6 {
                    sig.params.push(AbiParam::new(types::I64));
                }
                sig.params.push(AbiParam::new(types::F64));
            }
            Shape::Fill => {
                for _ in 0..7 {
                    sig.params.push(AbiParam::new(types::I64));
                }
                return sig;
            }
        }
        sig.returns.push(AbiParam::new(types::F64));
        sig
    }
}

/// Fills `count` slots at `out` with `fill`'s draws of elements
/// `first_element..first_element + count`: what a Range kernel with
/// random draws does before each batch of elements.
///
/// # Safety
///
/// Called only through [`rt_fill_uniform`] and [`rt_fill_normal`] by
/// compiled kernels, with `out` pointing at a stack buffer the kernel
/// reserved for at least `count` (at most `RAND_BATCH`) `f64`s, aligned,
/// not otherwise referenced during the call.
fn fill_buffer(
    out: *mut f64,
    count: u64,
    key: (u64, u64, u64, u64, u64),
    fill: fn(&mut [f64], u64, u64, u64, u64, u64),
) {
    // SAFETY: see the function's contract: the caller owns `count` valid,
    // aligned, unaliased f64 slots at `out`.
    let out = unsafe { std::slice::from_raw_parts_mut(out, count as usize) };
    let (seed, stream, step, first_element, draw) = key;
    fill(out, seed, stream, step, first_element, draw);
}

/// Uniform draws for a batch (see [`fill_buffer`]).
extern "C" fn rt_fill_uniform(
    out: *mut f64,
    count: u64,
    seed: u64,
    stream: u64,
    step: u64,
    first_element: u64,
    draw: u64,
) {
    let key = (seed, stream, step, first_element, draw);
    fill_buffer(out, count, key, rheobase_kernel::rng::fill_uniform);
}

/// Normal draws for a batch (see [`fill_buffer`]).
extern "C" fn rt_fill_normal(
    out: *mut f64,
    count: u64,
    seed: u64,
    stream: u64,
    step: u64,
    first_element: u64,
    draw: u64,
) {
    let key = (seed, stream, step, first_element, draw);
    fill_buffer(out, count, key, rheobase_kernel::rng::fill_normal);
}

/// Registers every runtime function, plus the libm-style names Cranelift
/// uses for its own libcalls (`floor`, `ceil`, `trunc`, `nearbyint`: on
/// x86-64 without SSE4.1 the rounding instructions are lowered to calls),
/// so that no symbol has to be found with `dlsym`.
pub(crate) fn register_symbols(builder: &mut JITBuilder) {
    for f in RtFn::ALL {
        builder.symbol(f.symbol(), f.address());
    }
    type F1 = extern "C" fn(f64) -> f64;
    builder.symbol("floor", rt_floor as F1 as *const u8);
    builder.symbol("ceil", rt_ceil as F1 as *const u8);
    builder.symbol("trunc", rt_trunc as F1 as *const u8);
    builder.symbol("nearbyint", rt_nearbyint as F1 as *const u8);
}

/// Number of bits of a binomial draw id: the inversion sampler may need
/// more than one uniform number, and draws the `k`-th (k = 1, 2, ...) with
/// the draw id `draw | k << BINOMIAL_DRAW_BITS`. Binomial draw ids must
/// therefore be below `2^BINOMIAL_DRAW_BITS`, and the random key's draw
/// field (16 bits, see `rheobase_kernel::rng`) leaves room for
/// [`BINOMIAL_MAX_RESTARTS`] restarts.
pub(crate) const BINOMIAL_DRAW_BITS: u32 = 10;

/// Restarts of the inversion sampler before it gives up (see
/// [`binomial`]). A restart happens when the count passes
/// `n·p + 10·sqrt(n·p·q + 1)`, a ten-sigma event, so even one is rare.
pub const BINOMIAL_MAX_RESTARTS: u64 = (1 << (16 - BINOMIAL_DRAW_BITS)) - 1;

/// A binomial draw (successes in `n` trials of probability `p`) keyed like
/// [`uniform`]: exactly what compiled kernels compute for
/// `Expr::Binomial`.
///
/// Brian2's `BinomialFunction` (`brian2/input/binomial.py`, C++ version):
///
/// - if `n·p > 5` and `n·(1-p) > 5`, the normal approximation
///   `randn·sqrt(n·p·(1-p)) + n·p`, *not* rounded or clipped (Brian2
///   returns it as a C `float`; we keep the `f64`);
/// - otherwise numpy's inversion algorithm (`rk_binomial_inversion`) with
///   `P = min(p, 1-p)`, returning `n - X` when `p > 0.5`. Its rare
///   restarts draw a fresh uniform with the draw id
///   `draw | k << BINOMIAL_DRAW_BITS`; after [`BINOMIAL_MAX_RESTARTS`]
///   restarts (never seen in practice) the sampler returns the largest
///   count within the bound.
///
/// `draw` must be below `2^BINOMIAL_DRAW_BITS` and `p` in `[0, 1]`
/// (checked when a kernel is compiled).
pub fn binomial(seed: u64, stream: u64, step: u64, element: u64, draw: u64, n: u64, p: f64) -> f64 {
    if let Some((scale, loc)) = binomial_normal_approximation(n, p) {
        return normal(seed, stream, step, element, draw) * scale + loc;
    }
    let u = uniform(seed, stream, step, element, draw);
    binomial_inversion(u, seed, stream, step, element, draw, n, p)
}

/// `Some((scale, loc))` when [`binomial`] draws `n` trials of probability
/// `p` from the normal approximation `randn·scale + loc`; `None` when it
/// uses inversion. Compiled kernels ask this to draw the normal (or
/// uniform) numbers of many elements at once.
pub(crate) fn binomial_normal_approximation(n: u64, p: f64) -> Option<(f64, f64)> {
    let nf = n as f64;
    (nf * p > 5.0 && nf * (1.0 - p) > 5.0).then(|| (((nf * p * (1.0 - p)).sqrt()), nf * p))
}

/// The inversion branch of [`binomial`], with `u` the first uniform
/// number it draws (`uniform(seed, stream, step, element, draw)`); only
/// its rare restarts draw more.
#[allow(clippy::too_many_arguments)]
pub(crate) fn binomial_inversion(
    u: f64,
    seed: u64,
    stream: u64,
    step: u64,
    element: u64,
    draw: u64,
    n: u64,
    p: f64,
) -> f64 {
    let reverse = p > 0.5;
    let pp = if reverse { 1.0 - p } else { p };
    let q = 1.0 - pp;
    let x = INVERSION.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.n != n || cache.pp_bits != pp.to_bits() {
            *cache = InversionTable::new(n, pp, q);
        }
        let px = &cache.px;
        let mut x = 0usize;
        let mut u = u;
        let mut restarts = 0;
        // numpy's loop `while u > px: x += 1; u -= px; px = next(px)`,
        // reading each px from the table instead of computing it.
        while u > px[x] {
            x += 1;
            if x == px.len() {
                // Past the bound.
                if restarts == BINOMIAL_MAX_RESTARTS {
                    x -= 1;
                    break;
                }
                restarts += 1;
                x = 0;
                u = uniform(
                    seed,
                    stream,
                    step,
                    element,
                    draw | restarts << BINOMIAL_DRAW_BITS,
                );
            } else {
                u -= px[x - 1];
            }
        }
        x as u64
    });
    if reverse {
        (n - x) as f64
    } else {
        x as f64
    }
}

/// The probabilities the inversion sampler steps through for `n` trials
/// of probability `pp` (`q = 1 - pp`): `px[x]` is `P(X = x)` exactly as
/// numpy's recurrence computes it (`q^n`, then
/// `px·(n - x + 1)·pp / (x·q)`), for every `x` up to the search bound
/// `n·pp + 10·sqrt(n·pp·q + 1)` (at most 30 values: inversion is used
/// only when `n·pp <= 5`). A PoissonInput draws with the same `n` and `p`
/// for every neuron and step, and a division per step of the search cost
/// more than the rest of a draw; a table of the same values, computed
/// once per thread, gives the same counts.
struct InversionTable {
    n: u64,
    pp_bits: u64,
    px: Vec<f64>,
}

impl InversionTable {
    fn new(n: u64, pp: f64, q: f64) -> InversionTable {
        let nf = n as f64;
        let bound = nf.min(nf * pp + 10.0 * (nf * pp * q + 1.0).sqrt());
        let mut px = vec![(nf * q.ln()).exp()];
        let mut x = 1u64;
        while x as f64 <= bound {
            let previous = px[px.len() - 1];
            px.push(((nf - x as f64 + 1.0) * pp * previous) / (x as f64 * q));
            x += 1;
        }
        InversionTable {
            n,
            pp_bits: pp.to_bits(),
            px,
        }
    }
}

thread_local! {
    /// The table of the last `(n, pp)` drawn from on this thread.
    static INVERSION: std::cell::RefCell<InversionTable> = const {
        std::cell::RefCell::new(InversionTable {
            n: u64::MAX,
            pp_bits: 0,
            px: Vec::new(),
        })
    };
}

/// [`binomial_inversion`] for compiled kernels, which draw the first
/// uniform number of each element ahead, with the uniform draws of a
/// batch (see `Translator::function`).
#[allow(clippy::too_many_arguments)]
extern "C" fn rheo_rand_binomial_from(
    u: f64,
    seed: u64,
    stream: u64,
    step: u64,
    element: u64,
    draw: u64,
    n: u64,
    p: f64,
) -> f64 {
    binomial_inversion(u, seed, stream, step, element, draw, n, p)
}

extern "C" fn rheo_rand_binomial(
    seed: u64,
    stream: u64,
    step: u64,
    element: u64,
    draw: u64,
    n: u64,
    p: f64,
) -> f64 {
    binomial(seed, stream, step, element, draw, n, p)
}

extern "C" fn rt_exp(x: f64) -> f64 {
    x.exp()
}
extern "C" fn rt_log(x: f64) -> f64 {
    x.ln()
}
extern "C" fn rt_log10(x: f64) -> f64 {
    x.log10()
}
extern "C" fn rt_expm1(x: f64) -> f64 {
    x.exp_m1()
}
extern "C" fn rt_log1p(x: f64) -> f64 {
    x.ln_1p()
}
/// `(exp(x) - 1) / x`, computed through `expm1` for accuracy near 0, and 1
/// at 0 (its limit). This is exactly what compiled kernels compute for
/// `UnaryOp::Exprel`, exported so that reference implementations (e.g. an
/// interpreter or tests) can match it bit for bit.
pub fn exprel(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        x.exp_m1() / x
    }
}
extern "C" fn rt_exprel(x: f64) -> f64 {
    exprel(x)
}
extern "C" fn rt_sin(x: f64) -> f64 {
    x.sin()
}
extern "C" fn rt_cos(x: f64) -> f64 {
    x.cos()
}
extern "C" fn rt_tan(x: f64) -> f64 {
    x.tan()
}
extern "C" fn rt_sinh(x: f64) -> f64 {
    x.sinh()
}
extern "C" fn rt_cosh(x: f64) -> f64 {
    x.cosh()
}
extern "C" fn rt_tanh(x: f64) -> f64 {
    x.tanh()
}
extern "C" fn rt_asin(x: f64) -> f64 {
    x.asin()
}
extern "C" fn rt_acos(x: f64) -> f64 {
    x.acos()
}
extern "C" fn rt_atan(x: f64) -> f64 {
    x.atan()
}
extern "C" fn rt_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}
extern "C" fn rt_floor(x: f64) -> f64 {
    x.floor()
}
extern "C" fn rt_ceil(x: f64) -> f64 {
    x.ceil()
}
extern "C" fn rt_trunc(x: f64) -> f64 {
    x.trunc()
}
extern "C" fn rt_nearbyint(x: f64) -> f64 {
    x.round_ties_even()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_the_table() {
        for (i, f) in RtFn::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }

    /// Mean and variance of many draws against `n·p` and `n·p·(1-p)`.
    fn check_moments(n: u64, p: f64) {
        let count = 100_000u64;
        let xs: Vec<f64> = (0..count)
            .map(|k| binomial(3, 17, k / 1000, k % 1000, 2, n, p))
            .collect();
        let mean = xs.iter().sum::<f64>() / count as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / count as f64;
        let (m, v) = (n as f64 * p, n as f64 * p * (1.0 - p));
        // The standard error of the mean is sqrt(v / count); of the
        // variance about v * sqrt(2 / count) (plus a kurtosis term).
        let mean_tol = 5.0 * (v / count as f64).sqrt() + 1e-12;
        let var_tol = 8.0 * v * (2.0 / count as f64).sqrt() + 1e-12;
        assert!(
            (mean - m).abs() <= mean_tol,
            "n={n} p={p}: mean {mean} vs {m}"
        );
        assert!((var - v).abs() <= var_tol, "n={n} p={p}: var {var} vs {v}");
        let exact = !(n as f64 * p > 5.0 && n as f64 * (1.0 - p) > 5.0);
        if exact {
            assert!(
                xs.iter()
                    .all(|&x| x.fract() == 0.0 && (0.0..=n as f64).contains(&x)),
                "n={n} p={p}: non-integer or out-of-range draw"
            );
        }
    }

    #[test]
    fn binomial_moments_are_right() {
        for (n, p) in [
            (1, 0.5),
            (10, 0.1),
            (20, 0.2),
            (40, 0.1),
            (10, 0.9),
            (1000, 0.001),
            (100_000, 2e-5),
            (1000, 0.05),
            (200, 0.5),
            (50, 0.97),
        ] {
            check_moments(n, p);
        }
    }

    /// numpy's `rk_binomial_inversion` as written, one division per step
    /// of the search: the table-driven sampler must give the same count
    /// for every key.
    fn inversion_by_recurrence(key: (u64, u64, u64, u64, u64), n: u64, p: f64) -> f64 {
        let (seed, stream, step, element, draw) = key;
        let nf = n as f64;
        let reverse = p > 0.5;
        let pp = if reverse { 1.0 - p } else { p };
        let q = 1.0 - pp;
        let qn = (nf * q.ln()).exp();
        let bound = nf.min(nf * pp + 10.0 * (nf * pp * q + 1.0).sqrt());
        let (mut x, mut px, mut restarts) = (0u64, qn, 0);
        let mut u = uniform(seed, stream, step, element, draw);
        while u > px {
            x += 1;
            if x as f64 > bound {
                if restarts == BINOMIAL_MAX_RESTARTS {
                    x -= 1;
                    break;
                }
                restarts += 1;
                x = 0;
                px = qn;
                u = uniform(
                    seed,
                    stream,
                    step,
                    element,
                    draw | restarts << BINOMIAL_DRAW_BITS,
                );
            } else {
                u -= px;
                px = ((nf - x as f64 + 1.0) * pp * px) / (x as f64 * q);
            }
        }
        if reverse {
            (n - x) as f64
        } else {
            x as f64
        }
    }

    #[test]
    fn the_inversion_table_gives_the_recurrences_counts() {
        for (n, p) in [
            (800, 0.0025),
            (10, 0.2),
            (40, 0.95),
            (1, 0.5),
            (3, 1.0),
            (7, 0.0),
        ] {
            assert!(binomial_normal_approximation(n, p).is_none());
            for k in 0..20_000u64 {
                let key = (11, 5, k / 100, k % 100, 3);
                let got = binomial(key.0, key.1, key.2, key.3, key.4, n, p);
                assert_eq!(got, inversion_by_recurrence(key, n, p), "n={n} p={p} k={k}");
            }
        }
    }

    #[test]
    fn binomial_edge_probabilities() {
        for k in 0..100 {
            assert_eq!(binomial(1, 2, 3, k, 0, 7, 0.0), 0.0);
            assert_eq!(binomial(1, 2, 3, k, 0, 7, 1.0), 7.0);
            assert_eq!(binomial(1, 2, 3, k, 0, 0, 0.3), 0.0);
        }
    }

    #[test]
    fn binomial_is_a_pure_function_of_its_key() {
        let a = binomial(9, 8, 7, 6, 5, 30, 0.1);
        assert_eq!(a, binomial(9, 8, 7, 6, 5, 30, 0.1));
        let draws: Vec<f64> = (0..64).map(|d| binomial(9, 8, 7, 6, d, 30, 0.1)).collect();
        assert!(draws.iter().any(|&x| x != a));
    }

    #[test]
    fn exprel_is_one_at_zero_and_continuous() {
        assert_eq!(exprel(0.0), 1.0);
        assert!((exprel(1e-12) - 1.0).abs() < 1e-11);
        assert!((exprel(1.0) - (std::f64::consts::E - 1.0)).abs() < 1e-15);
    }
}
