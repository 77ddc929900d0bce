//! Numerical integration methods, as Brian2 defines them.
//!
//! Each method turns an [`OdeSystem`] (the right-hand sides of a group's
//! differential equations, split into a deterministic part `f` and noise
//! coefficients `g`) into kernel statements that advance every state
//! variable by one step. The explicit Runge–Kutta methods are data (a
//! Butcher tableau); the stochastic methods follow Brian2's stage formulas
//! literally; `exact` solves linear systems with a matrix exponential and
//! `exponential_euler` treats each equation as linear in its own variable.
//!
//! Every method reads start-of-step values only: new values go to locals
//! and are stored together at the end.

// Integrators index several parallel per-variable vectors at once; index
// loops say that more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

use crate::expr::{
    self, add, c, conditionally_linear, div, linear_form, load, local, mul, sub, Linear,
    NotConditionallyLinear, Sym,
};
use nalgebra::DMatrix;
use rheobase_kernel::{ArrayId, Expr, IndexSpace, LocalId, Stmt, UnaryOp};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The integration methods users can name in `method:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Exact,
    Euler,
    Rk2,
    Rk4,
    Heun,
    Milstein,
    ExponentialEuler,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Exact,
        Method::Euler,
        Method::Rk2,
        Method::Rk4,
        Method::Heun,
        Method::Milstein,
        Method::ExponentialEuler,
    ];

    /// Parses a method name as Brian2 accepts it (`linear` is `exact`).
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "exact" | "linear" => Method::Exact,
            "euler" => Method::Euler,
            "rk2" => Method::Rk2,
            "rk4" => Method::Rk4,
            "heun" => Method::Heun,
            "milstein" => Method::Milstein,
            "exponential_euler" => Method::ExponentialEuler,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Euler => "euler",
            Method::Rk2 => "rk2",
            Method::Rk4 => "rk4",
            Method::Heun => "heun",
            Method::Milstein => "milstein",
            Method::ExponentialEuler => "exponential_euler",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A system of differential equations `dx/dt = f(x, t) + Σ g_k(x, t)·xi_k`.
#[derive(Debug, Clone, PartialEq)]
pub struct OdeSystem {
    /// The integrated variables, in declaration order.
    pub vars: Vec<ArrayId>,
    /// The user's variable names, for messages.
    pub names: Vec<String>,
    /// Deterministic part of each right-hand side (subexpressions
    /// substituted), without the refractoriness factor.
    pub f: Vec<Expr>,
    /// Noise coefficients of each right-hand side, by noise local.
    pub g: Vec<BTreeMap<LocalId, Expr>>,
    /// Which variables are `(unless refractory)`.
    pub masked: Vec<bool>,
    /// `not_refractory` (1 or 0) when any variable is masked.
    pub not_refractory: Option<Expr>,
    /// Noise locals; the kernel sets each to `sqrt(dt)·randn()` (Brian2's
    /// `dW`) before the integrator's statements.
    pub noise: Vec<LocalId>,
}

/// Why a method cannot integrate a system, in the user's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

/// Hands out fresh locals to the integrators.
pub trait Locals {
    fn fresh(&mut self) -> LocalId;
}

impl OdeSystem {
    /// Adds the equation of `var` (called `name` in messages) whose
    /// right-hand side is `lin` split by the noise locals: its rest is the
    /// deterministic part, its coefficients of noise locals the noise
    /// terms (coefficients of arrays cannot occur: `lin` is linear in the
    /// noise only).
    pub fn push_equation(&mut self, var: ArrayId, name: String, lin: Linear, masked: bool) {
        self.vars.push(var);
        self.names.push(name);
        self.f.push(lin.rest);
        self.g.push(
            lin.coefficients
                .into_iter()
                .filter_map(|(s, e)| match s {
                    Sym::Local(l) => Some((l, e)),
                    Sym::Array(_) => None,
                })
                .collect(),
        );
        self.masked.push(masked);
    }

    fn is_stochastic(&self) -> bool {
        self.g.iter().any(|g| !g.is_empty())
    }

    fn state_syms(&self) -> Vec<Sym> {
        self.vars.iter().map(|&a| Sym::Array(a)).collect()
    }

    /// `f` with refractoriness applied, as Brian2's `add_refractoriness`
    /// does: the derivative of a masked variable is multiplied by
    /// `int(not_refractory)`.
    fn masked_f(&self, k: usize) -> Expr {
        self.mask(k, self.f[k].clone())
    }

    fn masked_g(&self, k: usize, xi: LocalId) -> Expr {
        let g = self.g[k].get(&xi).cloned().unwrap_or(c(0.0));
        self.mask(k, g)
    }

    fn mask(&self, k: usize, e: Expr) -> Expr {
        match (&self.not_refractory, self.masked[k]) {
            (Some(nr), true) => mul(nr.clone(), e),
            _ => e,
        }
    }
}

/// Per-run parameters (constants the file assigns again between runs) as
/// `integrate` sees them: model code reads each from a one-element array,
/// a load in the shared index space, whose value when the model is compiled
/// is in `values`.
pub struct RunTimeParameters<'a> {
    pub values: &'a HashMap<ArrayId, f64>,
    /// Makes a one-element array for one propagator coefficient of a
    /// [`ParametricBlock`], named after it; the caller gives it its value.
    pub new_array: &'a mut dyn FnMut(String) -> ArrayId,
    /// The blocks whose coefficients this integration made arrays for.
    pub blocks: Vec<ParametricBlock>,
}

/// `exact` equations whose matrix `M` depends on per-run parameters.
/// Brian2 solves them again when each run starts, and refuses a singular
/// `M` then; each new value of a parameter they read is checked here
/// (`coefficients`), and a block with its propagators in arrays gets them
/// computed again.
#[derive(Debug, Clone)]
pub struct ParametricBlock {
    /// The names of the block's variables, for messages.
    pub names: Vec<String>,
    pub solution: Solution,
}

/// How `exact` solves a [`ParametricBlock`].
#[derive(Debug, Clone)]
pub enum Solution {
    /// Coupled equations with a parameter in their coupling (adaptive
    /// LIF's `a` in `dw/dt = (a*v - w)/tauw`): the kernel reads their
    /// propagators from one-element arrays.
    Propagators {
        /// The block's rows and columns of `M`, with loads of parameters.
        m: Vec<Vec<Expr>>,
        dt: f64,
        /// One set of propagators per variant of the step: the rows of
        /// `M` zeroed in it (masked variables while refractory, or none),
        /// and the arrays of `Phi` and `Gamma`, row by row.
        variants: Vec<(Vec<bool>, Vec<ArrayId>, Vec<ArrayId>)>,
    },
    /// Equations solved in closed form (triangular `M`), reading the
    /// parameters at every step: nothing to store, but a decay rate that
    /// becomes zero makes `M` singular (and the closed form 0/0).
    ClosedForm {
        /// The diagonal of `M`, with loads of parameters.
        rates: Vec<Expr>,
    },
}

impl ParametricBlock {
    /// The arrays' values for the parameters' `values`, or why `exact`
    /// cannot solve the block with them (Brian2 refuses a singular `M`).
    pub fn coefficients(
        &self,
        values: &HashMap<ArrayId, f64>,
    ) -> Result<Vec<(ArrayId, f64)>, Unsupported> {
        let (m, dt, variants) = match &self.solution {
            Solution::ClosedForm { rates } => {
                return if rates
                    .iter()
                    .any(|e| is_zero(&with_parameter_values(e, values)))
                {
                    Err(singular_error(&self.names))
                } else {
                    Ok(Vec::new())
                };
            }
            Solution::Propagators { m, dt, variants } => (m, *dt, variants),
        };
        let n = m.len();
        let numbers: Option<Vec<f64>> = m
            .iter()
            .flatten()
            .map(|e| expr::as_const(&with_parameter_values(e, values)))
            .collect();
        let Some(numbers) = numbers else {
            return Err(Unsupported(format!(
                "a coefficient of {} is not a number",
                names_list(&self.names)
            )));
        };
        let m = DMatrix::from_row_slice(n, n, &numbers);
        if is_singular(&m) {
            return Err(singular_error(&self.names));
        }
        let mut out = Vec::new();
        for (zeroed, phi_arrays, gamma_arrays) in variants {
            let mut m = m.clone();
            for (r, &z) in zeroed.iter().enumerate() {
                if z {
                    m.row_mut(r).fill(0.0);
                }
            }
            let (phi, gamma) = propagators(&m, dt);
            for r in 0..n {
                for s in 0..n {
                    out.push((phi_arrays[r * n + s], phi[(r, s)]));
                    out.push((gamma_arrays[r * n + s], gamma[(r, s)]));
                }
            }
        }
        Ok(out)
    }

    /// Whether the block's matrix reads the array `parameter`.
    pub fn reads(&self, parameter: ArrayId) -> bool {
        let entries: Vec<&Expr> = match &self.solution {
            Solution::Propagators { m, .. } => m.iter().flatten().collect(),
            Solution::ClosedForm { rates } => rates.iter().collect(),
        };
        entries.into_iter().any(|e| {
            let mut found = false;
            e.visit_loads(&mut |a, space| found |= a == parameter && space == IndexSpace::Shared);
            found
        })
    }
}

/// `e` with every load of a per-run parameter replaced by its value in
/// `values`, for decisions that Brian2 makes with the values of a run.
pub fn with_parameter_values(e: &Expr, values: &HashMap<ArrayId, f64>) -> Expr {
    match e {
        Expr::Load(a, IndexSpace::Shared) => match values.get(a) {
            Some(v) => c(*v),
            None => e.clone(),
        },
        other => expr::map_folding(other, &mut |x| with_parameter_values(x, values)),
    }
}

/// Chooses a method as Brian2 does: the first of exact, euler and heun that
/// accepts the equations.
pub fn choose(system: &OdeSystem) -> Method {
    if check_exact(system).is_ok() {
        Method::Exact
    } else if !system.is_stochastic() || is_additive(system) {
        Method::Euler
    } else {
        Method::Heun
    }
}

fn is_additive(system: &OdeSystem) -> bool {
    let syms = system.state_syms();
    system
        .g
        .iter()
        .all(|g| g.values().all(|e| !expr::mentions(e, &syms)))
}

/// Generates the statements that advance `system` by one step.
///
/// `dt` is the simulation time step in seconds; `exact` computes its
/// propagators numerically for it (kernels receive the same value).
pub fn integrate(
    method: Method,
    system: &OdeSystem,
    dt: f64,
    locals: &mut dyn Locals,
) -> Result<Vec<Stmt>, Unsupported> {
    let mut no_array =
        |name: String| -> ArrayId { unreachable!("no per-run parameters, so no array for {name}") };
    let mut parameters = RunTimeParameters {
        values: &HashMap::new(),
        new_array: &mut no_array,
        blocks: Vec::new(),
    };
    integrate_with(method, system, dt, locals, &mut parameters)
}

/// [`integrate`] for a system that reads per-run `parameters`: `exact`
/// also solves coupled equations with a parameter in their coupling, from
/// propagators it leaves in arrays (`parameters.blocks`).
pub fn integrate_with(
    method: Method,
    system: &OdeSystem,
    dt: f64,
    locals: &mut dyn Locals,
    parameters: &mut RunTimeParameters<'_>,
) -> Result<Vec<Stmt>, Unsupported> {
    let mut out = Vec::new();
    let new_values = match method {
        Method::Euler => {
            if !is_additive(system) {
                return Err(Unsupported(
                    "`euler` integrates only additive noise (a noise term whose \
                     coefficient does not depend on the state variables); use `heun` \
                     or `milstein` for multiplicative noise"
                        .into(),
                ));
            }
            runge_kutta(&EULER, system, locals, &mut out)?
        }
        Method::Rk2 => runge_kutta(&RK2, system, locals, &mut out)?,
        Method::Rk4 => runge_kutta(&RK4, system, locals, &mut out)?,
        Method::Heun => heun(system, locals, &mut out),
        Method::Milstein => milstein(system, locals, &mut out)?,
        Method::Exact => exact(system, dt, locals, &mut out, parameters)?,
        Method::ExponentialEuler => exponential_euler(system, locals, &mut out)?,
    };
    // New values may read other variables' start-of-step values (coupled
    // `exact` systems do), so all are computed before any is stored.
    let mut finals = Vec::new();
    for value in new_values {
        match value {
            Expr::Local(l) => finals.push(l),
            other => {
                let l = locals.fresh();
                out.push(Stmt::SetLocal(l, other));
                finals.push(l);
            }
        }
    }
    for (k, l) in finals.into_iter().enumerate() {
        out.push(Stmt::Store(
            system.vars[k],
            rheobase_kernel::IndexSpace::Own,
            local(l),
        ));
    }
    Ok(out)
}

/// An explicit Runge–Kutta method: `k_s = dt·f(x + Σ_j a[s][j]·k_j,
/// t + c[s]·dt)`, `x_new = x + Σ_s b[s]·k_s`.
pub struct Tableau {
    pub method: Method,
    pub a: &'static [&'static [f64]],
    pub b: &'static [f64],
    pub c: &'static [f64],
}

pub const EULER: Tableau = Tableau {
    method: Method::Euler,
    a: &[&[]],
    b: &[1.0],
    c: &[0.0],
};

/// Brian2's `rk2` is the midpoint method.
pub const RK2: Tableau = Tableau {
    method: Method::Rk2,
    a: &[&[], &[0.5]],
    b: &[0.0, 1.0],
    c: &[0.0, 0.5],
};

pub const RK4: Tableau = Tableau {
    method: Method::Rk4,
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    c: &[0.0, 0.5, 0.5, 1.0],
};

fn runge_kutta(
    tableau: &Tableau,
    system: &OdeSystem,
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
) -> Result<Vec<Expr>, Unsupported> {
    if system.is_stochastic() && tableau.method != Method::Euler {
        return Err(Unsupported(format!(
            "`{}` cannot integrate stochastic equations (they use `xi`); use \
             `euler` for additive noise or `heun`/`milstein` for multiplicative noise",
            tableau.method
        )));
    }
    let n = system.vars.len();
    // stages[s][k] is the local holding k_s for variable k.
    let mut stages: Vec<Vec<LocalId>> = Vec::new();
    for (s, row) in tableau.a.iter().enumerate() {
        let mut map = BTreeMap::new();
        for k in 0..n {
            let mut arg = load(system.vars[k]);
            for (j, &a) in row.iter().enumerate() {
                if a != 0.0 {
                    arg = add(arg, mul(local(stages[j][k]), c(a)));
                }
            }
            map.insert(Sym::Array(system.vars[k]), arg);
        }
        let time = add(Expr::Time, mul(c(tableau.c[s]), Expr::Dt));
        let mut row_locals = Vec::new();
        for k in 0..n {
            let f = expr::substitute(&system.masked_f(k), &map, Some(&time));
            let l = locals.fresh();
            out.push(Stmt::SetLocal(l, mul(Expr::Dt, f)));
            row_locals.push(l);
        }
        stages.push(row_locals);
    }
    let mut result = Vec::new();
    for k in 0..n {
        let mut x = load(system.vars[k]);
        for (s, &b) in tableau.b.iter().enumerate() {
            if b != 0.0 {
                x = add(x, mul(c(b), local(stages[s][k])));
            }
        }
        // Euler–Maruyama: the noise enters as g·dW.
        for &xi in &system.noise {
            let g = system.masked_g(k, xi);
            if expr::as_const(&g) != Some(0.0) {
                x = add(x, mul(g, local(xi)));
            }
        }
        result.push(x);
    }
    Ok(result)
}

/// Substitutes variable `k` of the system by `value` in `e`.
fn with_var(system: &OdeSystem, k: usize, value: Expr, e: &Expr, time: Option<&Expr>) -> Expr {
    let mut map = BTreeMap::new();
    map.insert(Sym::Array(system.vars[k]), value);
    expr::substitute(e, &map, time)
}

/// Brian2's stochastic Heun method (Stratonovich):
/// `x_support = x + g·dW; g_support = g(x_support, t+dt);
/// x_new = x + dt·f + ½·dW·(g + g_support)`.
fn heun(system: &OdeSystem, locals: &mut dyn Locals, out: &mut Vec<Stmt>) -> Vec<Expr> {
    let n = system.vars.len();
    let t_next = add(Expr::Time, Expr::Dt);
    let mut result = Vec::new();
    for k in 0..n {
        let x = load(system.vars[k]);
        let mut new = add(x.clone(), mul(Expr::Dt, system.masked_f(k)));
        for &xi in &system.noise {
            let g = system.masked_g(k, xi);
            if expr::as_const(&g) == Some(0.0) {
                continue;
            }
            let support = locals.fresh();
            out.push(Stmt::SetLocal(
                support,
                add(x.clone(), mul(g.clone(), local(xi))),
            ));
            let g_support = with_var(system, k, local(support), &g, Some(&t_next));
            new = add(new, mul(mul(c(0.5), local(xi)), add(g, g_support)));
        }
        let l = locals.fresh();
        out.push(Stmt::SetLocal(l, new));
        result.push(local(l));
    }
    result
}

/// Brian2's derivative-free Milstein method (diagonal noise only).
fn milstein(
    system: &OdeSystem,
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
) -> Result<Vec<Expr>, Unsupported> {
    // Diagonal noise: every equation has at most one noise term and no
    // noise variable appears in two equations.
    let mut seen = Vec::new();
    for g in &system.g {
        if g.len() > 1 {
            return Err(Unsupported(
                "`milstein` needs diagonal noise: each equation may contain at most one \
                 noise variable; use `heun`"
                    .into(),
            ));
        }
        for xi in g.keys() {
            if seen.contains(xi) {
                return Err(Unsupported(
                    "`milstein` needs diagonal noise: a noise variable may appear in only \
                     one equation; use `heun`"
                        .into(),
                ));
            }
            seen.push(*xi);
        }
    }
    let sqrt_dt = Expr::Unary(UnaryOp::Sqrt, Box::new(Expr::Dt));
    let mut result = Vec::new();
    for k in 0..system.vars.len() {
        let x = load(system.vars[k]);
        let f = system.masked_f(k);
        let mut new = add(x.clone(), mul(Expr::Dt, f.clone()));
        for &xi in &system.noise {
            let g = system.masked_g(k, xi);
            if expr::as_const(&g) == Some(0.0) {
                continue;
            }
            let support = locals.fresh();
            out.push(Stmt::SetLocal(
                support,
                add(
                    add(x.clone(), mul(Expr::Dt, f.clone())),
                    mul(sqrt_dt.clone(), g.clone()),
                ),
            ));
            let g_support = with_var(system, k, local(support), &g, None);
            let dw2 = mul(local(xi), local(xi));
            let correction = mul(
                div(c(1.0), mul(c(2.0), sqrt_dt.clone())),
                mul(sub(g_support, g.clone()), dw2),
            );
            new = add(add(new, mul(g, local(xi))), correction);
        }
        let l = locals.fresh();
        out.push(Stmt::SetLocal(l, new));
        result.push(local(l));
    }
    Ok(result)
}

/// The linear structure `dX/dt = M·X + B` of a system, as `exact` needs it.
struct LinearSystem {
    m: Vec<Vec<Expr>>,
    b: Vec<Expr>,
}

/// `system` as `dX/dt = M·X + B`, or why `exact` cannot see it so.
fn linear_system(system: &OdeSystem) -> Result<LinearSystem, Unsupported> {
    if system.is_stochastic() {
        return Err(Unsupported(
            "`exact` cannot integrate stochastic equations (they use `xi`)".into(),
        ));
    }
    let syms = system.state_syms();
    let n = system.vars.len();
    let mut m = Vec::new();
    let mut b = Vec::new();
    for k in 0..n {
        let lin = linear_form(&system.f[k], &syms).ok_or_else(|| {
            Unsupported(format!(
                "`exact` needs linear equations, but the equation for `{}` is not linear \
                 in the state variables",
                system.names[k]
            ))
        })?;
        let row: Vec<Expr> = syms.iter().map(|&s| lin.coefficient(s)).collect();
        for e in row.iter().chain(std::iter::once(&lin.rest)) {
            if expr::varies_within_step(e) {
                return Err(Unsupported(format!(
                    "`exact` needs coefficients that are constant over a time step, but \
                     the equation for `{}` depends on `t` or draws random numbers",
                    system.names[k]
                )));
            }
        }
        m.push(row);
        b.push(lin.rest);
    }
    Ok(LinearSystem { m, b })
}

fn check_exact(system: &OdeSystem) -> Result<LinearSystem, Unsupported> {
    let lin = linear_system(system)?;
    check_solvable(system, &lin.m)?;
    Ok(lin)
}

/// Whether `exact` solves `dX/dt = M·X + B`: `M` of constants, or
/// triangular (`one_level`), and invertible, as Brian2 requires.
fn check_solvable(system: &OdeSystem, m: &[Vec<Expr>]) -> Result<(), Unsupported> {
    let n = m.len();
    let numeric = m.iter().flatten().all(|e| expr::as_const(e).is_some());
    if !numeric && !(0..n).all(|r| one_level(m, r, system)) {
        return Err(Unsupported(
            "`exact` supports coupled linear equations only when their coefficients are \
             the same for every neuron (constants), or when each equation depends only on \
             itself and on variables whose equations depend only on themselves (with a \
             decay rate that is not zero); here a coupling coefficient depends on a \
             per-neuron variable. Use `rk4` or `euler`"
                .into(),
        ));
    }
    // Brian2's `exact` (LinearStateUpdater) solves `M·b = B` for the
    // system's fixed point and gives up when M is singular ("Cannot solve
    // the given equations with this stateupdater"): an equation without a
    // decay, `dx/dt = (1 + i)/(4*ms)`, is refused there, and Brian2's
    // automatic choice moves on to `euler`. We follow it, although our
    // propagators could integrate such a system, so that `method: exact`
    // is refused where Brian2 refuses it and an automatic choice is the
    // method Brian2 would pick.
    // A triangular M (uncoupled or one-level equations, the common case)
    // is singular exactly when a diagonal entry is zero; only a coupled
    // system needs the SVD, which for thousands of uncoupled equations
    // would make checking cubic in their number.
    let triangular = (0..n).all(|r| (r + 1..n).all(|s| is_zero(&m[r][s])))
        || (0..n).all(|r| (0..r).all(|s| is_zero(&m[r][s])));
    let singular = if triangular {
        (0..n).any(|r| is_zero(&m[r][r]))
    } else if numeric {
        is_singular(&DMatrix::from_fn(n, n, |r, s| {
            expr::as_const(&m[r][s]).unwrap_or(0.0)
        }))
    } else {
        // Per-neuron coefficients are admitted only in triangular form
        // (`one_level`), whose determinant is the product of the decay
        // rates: singular exactly when one of them is the constant zero.
        (0..n).any(|r| is_zero(&m[r][r]))
    };
    if singular {
        return Err(singular_error(&system.names));
    }
    Ok(())
}

/// Whether a matrix of numbers is singular, to Brian2's tolerance.
fn is_singular(m: &DMatrix<f64>) -> bool {
    let svd = m.clone().svd(false, false);
    let largest = svd.singular_values.max();
    m.nrows() > 0 && (largest == 0.0 || svd.rank(largest * 1e-12) < m.nrows())
}

/// The variables `names` as a list in messages: "`v`, `w`".
fn names_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn singular_error(names: &[String]) -> Unsupported {
    Unsupported(format!(
        "`exact` cannot solve the equations for {}: Brian2's `exact` solves a linear \
         system dX/dt = M·X + B only when M is invertible, and refuses (\"Cannot solve \
         the given equations with this stateupdater\") one with an equation that does not \
         decay, such as `dx/dt = (1 + i)/(4*ms)`. Use `euler`, which Brian2 picks for \
         them when no `method:` is given",
        names_list(names)
    ))
}

/// Whether an entry of `M` is the constant zero (no coupling).
fn is_zero(e: &Expr) -> bool {
    expr::as_const(e) == Some(0.0)
}

/// Whether variable `r` of `dX/dt = M·X + B` can be solved in closed form
/// with per-neuron coefficients: it depends on itself and on variables
/// that depend only on themselves (Tsodyks' recovered resources `x`, driven
/// by the active `y`), and every decay rate involved is not a constant zero
/// (the closed form divides by it). Both sides of a coupling are masked by
/// refractoriness alike, so that one effective time step serves both.
fn one_level(m: &[Vec<Expr>], r: usize, system: &OdeSystem) -> bool {
    let n = m.len();
    let sources: Vec<usize> = (0..n).filter(|&s| s != r && !is_zero(&m[r][s])).collect();
    sources.is_empty()
        || (!is_zero(&m[r][r])
            && sources.iter().all(|&s| {
                (0..n).all(|q| q == s || is_zero(&m[s][q]))
                    && !is_zero(&m[s][s])
                    && system.masked[s] == system.masked[r]
            }))
}

/// `Phi = exp(M·dt)` and `Gamma = ∫₀^dt exp(M·s) ds`, from the exponential
/// of the augmented matrix `[[M, I], [0, 0]]·dt` (Van Loan's method), so
/// that `x(t+dt) = Phi·x + Gamma·B` also when `M` is singular.
fn propagators(m: &DMatrix<f64>, dt: f64) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = m.nrows();
    let mut aug = DMatrix::<f64>::zeros(2 * n, 2 * n);
    for r in 0..n {
        for s in 0..n {
            aug[(r, s)] = m[(r, s)] * dt;
        }
        aug[(r, n + r)] = dt;
    }
    let e = aug.exp();
    let phi = e.view((0, 0), (n, n)).into_owned();
    let gamma = e.view((0, n), (n, n)).into_owned();
    (phi, gamma)
}

fn exact(
    system: &OdeSystem,
    dt: f64,
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
    parameters: &mut RunTimeParameters<'_>,
) -> Result<Vec<Expr>, Unsupported> {
    let lin = linear_system(system)?;
    let n = system.vars.len();
    // A per-run parameter in the coupling of equations that depend on each
    // other makes `M` neither numbers nor triangular; with the parameters'
    // values it is numbers, and its blocks that read a parameter get their
    // propagators from arrays (`ParametricBlock`).
    let fixed: Vec<Vec<Expr>> = lin
        .m
        .iter()
        .map(|row| {
            row.iter()
                .map(|e| with_parameter_values(e, parameters.values))
                .collect()
        })
        .collect();
    let parametric = fixed != lin.m && check_solvable(system, &lin.m).is_err();
    if parametric {
        check_solvable(system, &fixed)?;
    } else {
        check_solvable(system, &lin.m)?;
        if fixed != lin.m {
            // Solved in closed form with the parameters read at every
            // step; their values must keep every decay rate non-zero.
            parameters.blocks.push(ParametricBlock {
                names: system.names.clone(),
                solution: Solution::ClosedForm {
                    rates: (0..n).map(|r| lin.m[r][r].clone()).collect(),
                },
            });
        }
    }
    let m_of = if parametric { &fixed } else { &lin.m };
    let numeric: Option<Vec<Vec<f64>>> = m_of
        .iter()
        .map(|row| row.iter().map(expr::as_const).collect())
        .collect();
    match numeric {
        Some(rows) => {
            // B's entries may be per-neuron expressions: compute each once.
            let b_locals: Vec<Expr> = lin
                .b
                .iter()
                .map(|e| {
                    if expr::as_const(e).is_some() {
                        e.clone()
                    } else {
                        let l = locals.fresh();
                        out.push(Stmt::SetLocal(l, e.clone()));
                        local(l)
                    }
                })
                .collect();
            // An entry that reads a parameter couples its variables
            // whatever its value now (`a = 0` before a run with `a = 4`).
            let pattern: Vec<Vec<f64>> = (0..n)
                .map(|r| {
                    (0..n)
                        .map(|s| {
                            if lin.m[r][s] != fixed[r][s] {
                                1.0
                            } else {
                                rows[r][s]
                            }
                        })
                        .collect()
                })
                .collect();
            // Variables that do not influence each other are solved
            // separately: a model of 1600 uncoupled variables is 1600
            // exponentials of 2x2 matrices, not one of 3200x3200 (which
            // takes minutes and a gigabyte). A system that is one block is
            // solved as a whole, exactly as before.
            let mut result = vec![c(0.0); n];
            for block in coupled_blocks(&pattern) {
                let m = DMatrix::from_fn(block.len(), block.len(), |r, s| rows[block[r]][block[s]]);
                let reads_parameter = parametric
                    && block
                        .iter()
                        .any(|&r| block.iter().any(|&s| lin.m[r][s] != fixed[r][s]));
                let any_masked = block.iter().any(|&k| system.masked[k]);
                let refractory_rows: Option<Vec<bool>> = match (&system.not_refractory, any_masked)
                {
                    // While refractory, masked variables have derivative
                    // zero: their rows of M and B vanish.
                    (Some(_), true) => Some(block.iter().map(|&k| system.masked[k]).collect()),
                    _ => None,
                };
                let [full, refractory] = if reads_parameter {
                    let mut variants = vec![vec![false; block.len()]];
                    variants.extend(refractory_rows.clone());
                    let mut coefficients = Vec::new();
                    let mut arrays = Vec::new();
                    for (v, zeroed) in variants.into_iter().enumerate() {
                        let mut array = |kind: &str, r: usize, s: usize| {
                            (parameters.new_array)(format!(
                                "exact {kind}{} [{}, {}]",
                                if v == 0 { "" } else { " (refractory)" },
                                system.names[block[r]],
                                system.names[block[s]]
                            ))
                        };
                        let k = block.len();
                        let phi: Vec<ArrayId> =
                            (0..k * k).map(|i| array("Phi", i / k, i % k)).collect();
                        let gamma: Vec<ArrayId> =
                            (0..k * k).map(|i| array("Gamma", i / k, i % k)).collect();
                        let load_all = |a: &[ArrayId]| -> Vec<Vec<Option<Expr>>> {
                            (0..k)
                                .map(|r| {
                                    (0..k)
                                        .map(|s| Some(Expr::Load(a[r * k + s], IndexSpace::Shared)))
                                        .collect()
                                })
                                .collect()
                        };
                        coefficients.push((load_all(&phi), load_all(&gamma)));
                        arrays.push((zeroed, phi, gamma));
                    }
                    parameters.blocks.push(ParametricBlock {
                        names: block.iter().map(|&k| system.names[k].clone()).collect(),
                        solution: Solution::Propagators {
                            m: block
                                .iter()
                                .map(|&r| block.iter().map(|&s| lin.m[r][s].clone()).collect())
                                .collect(),
                            dt,
                            variants: arrays,
                        },
                    });
                    let mut applied =
                        coefficients
                            .into_iter()
                            .enumerate()
                            .map(|(v, (phi, gamma))| {
                                let zero_b: &[bool] = if v == 0 { &[] } else { &system.masked };
                                apply_propagators(system, &phi, &gamma, &block, &b_locals, zero_b)
                            });
                    let full = applied.next().unwrap_or_default();
                    [full, applied.next().unwrap_or_default()]
                } else {
                    let (phi, gamma) = constant_propagators(&m, dt);
                    let full = apply_propagators(system, &phi, &gamma, &block, &b_locals, &[]);
                    let refractory = match &refractory_rows {
                        Some(zeroed) => {
                            let mut m_ref = m.clone();
                            for (r, &z) in zeroed.iter().enumerate() {
                                if z {
                                    m_ref.row_mut(r).fill(0.0);
                                }
                            }
                            let (phi, gamma) = constant_propagators(&m_ref, dt);
                            apply_propagators(
                                system,
                                &phi,
                                &gamma,
                                &block,
                                &b_locals,
                                &system.masked,
                            )
                        }
                        None => Vec::new(),
                    };
                    [full, refractory]
                };
                let solved = match (&system.not_refractory, refractory_rows.is_some()) {
                    (Some(nr), true) => full
                        .into_iter()
                        .zip(refractory)
                        .map(|(a, b)| {
                            if a == b {
                                a
                            } else {
                                Expr::Select(Box::new(nr.clone()), Box::new(a), Box::new(b))
                            }
                        })
                        .collect(),
                    _ => full,
                };
                for (k, e) in block.into_iter().zip(solved) {
                    result[k] = e;
                }
            }
            Ok(result)
        }
        None => {
            // Decoupled equations with per-neuron coefficients:
            // x(t+dt) = -B/A + (x + B/A)·exp(A·dt), as Brian2's solution of
            // dx/dt = A·x + B reads; an equation driven by such variables
            // (`check_exact` admits no deeper coupling) is solved in closed
            // form from their starting values, before any is overwritten.
            let mut result = Vec::new();
            for k in 0..n {
                let sources: Vec<usize> = (0..n)
                    .filter(|&s| s != k && !is_zero(&lin.m[k][s]))
                    .collect();
                result.push(if sources.is_empty() {
                    let a = lin.m[k][k].clone();
                    let b = lin.b[k].clone();
                    scalar_linear_step(system, k, a, b, locals, out)
                } else {
                    driven_linear_step(system, &lin, k, &sources, locals, out)
                });
            }
            Ok(result)
        }
    }
}

/// The variables of `dX/dt = M·X + B` grouped into blocks that influence
/// each other (connected components of M's off-diagonal non-zeros, in
/// either direction), each block ascending and the blocks in the order of
/// their first variable. One coupled system is one block of all variables.
fn coupled_blocks(m: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let n = m.len();
    // Union-find with path halving: near-linear in the non-zeros.
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut k: usize) -> usize {
        while parent[k] != k {
            parent[k] = parent[parent[k]];
            k = parent[k];
        }
        k
    }
    for (r, row) in m.iter().enumerate() {
        for (s, &v) in row.iter().enumerate() {
            if r != s && v != 0.0 {
                let (a, b) = (root(&mut parent, r), root(&mut parent, s));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut block_of_root = vec![usize::MAX; n];
    for k in 0..n {
        let r = root(&mut parent, k);
        if block_of_root[r] == usize::MAX {
            block_of_root[r] = blocks.len();
            blocks.push(Vec::new());
        }
        blocks[block_of_root[r]].push(k);
    }
    blocks
}

/// `Phi` and `Gamma` of a matrix of numbers as coefficients of the step,
/// `None` for an entry that is zero (its term is left out).
type Coefficients = Vec<Vec<Option<Expr>>>;

fn constant_propagators(m: &DMatrix<f64>, dt: f64) -> (Coefficients, Coefficients) {
    let (phi, gamma) = propagators(m, dt);
    let entries = |p: &DMatrix<f64>| -> Coefficients {
        (0..p.nrows())
            .map(|r| {
                (0..p.ncols())
                    .map(|s| (p[(r, s)] != 0.0).then(|| c(p[(r, s)])))
                    .collect()
            })
            .collect()
    };
    (entries(&phi), entries(&gamma))
}

/// The new values of the variables `block` (the system's indices of the
/// rows and columns of `phi` and `gamma`), from their propagators; `b` and
/// `zero_b` are indexed by the system's variables.
fn apply_propagators(
    system: &OdeSystem,
    phi: &Coefficients,
    gamma: &Coefficients,
    block: &[usize],
    b: &[Expr],
    zero_b: &[bool],
) -> Vec<Expr> {
    let mut result = Vec::new();
    for r in 0..block.len() {
        let mut e = c(0.0);
        for (s, &k) in block.iter().enumerate() {
            if let Some(p) = &phi[r][s] {
                e = add(e, mul(p.clone(), load(system.vars[k])));
            }
        }
        for (s, &k) in block.iter().enumerate() {
            if zero_b.get(k).copied().unwrap_or(false) {
                continue;
            }
            let bs = &b[k];
            if let Some(g) = &gamma[r][s] {
                if expr::as_const(bs) != Some(0.0) {
                    e = add(e, mul(g.clone(), bs.clone()));
                }
            }
        }
        result.push(e);
    }
    result
}

/// One step of `dx/dt = A·x + B` for variable `k`, with `A` and `B` held
/// constant over the step (exact for linear equations, the exponential
/// Euler step otherwise).
fn scalar_linear_step(
    system: &OdeSystem,
    k: usize,
    a: Expr,
    b: Expr,
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
) -> Expr {
    let x = load(system.vars[k]);
    let nr = match (&system.not_refractory, system.masked[k]) {
        (Some(nr), true) => Some(nr.clone()),
        _ => None,
    };
    let dt_eff = match &nr {
        Some(nr) => mul(Expr::Dt, nr.clone()),
        None => Expr::Dt,
    };
    if expr::as_const(&a) == Some(0.0) {
        return add(x, mul(dt_eff, b));
    }
    let growth = Expr::Unary(UnaryOp::Exp, Box::new(mul(dt_eff, a.clone())));
    if expr::as_const(&b) == Some(0.0) {
        // Brian2's solution of `dx/dt = a·x` is `x·exp(a·dt)`, finite where
        // a per-neuron `a` is zero; `-B/A` would be 0/0 there. Elsewhere
        // the two give the same bits (`-0 + x·g` is `x·g`).
        let l = locals.fresh();
        out.push(Stmt::SetLocal(l, mul(x, growth)));
        return local(l);
    }
    let ba = locals.fresh();
    out.push(Stmt::SetLocal(ba, div(b, a)));
    let value = add(expr::neg(local(ba)), mul(add(local(ba), x), growth));
    let l = locals.fresh();
    out.push(Stmt::SetLocal(l, value));
    local(l)
}

/// One exact step of `dx/dt = a·x + Σ b_s·y_s + c` for variable `k`, where
/// each `y_s` obeys `dy/dt = d_s·y + e_s` on its own (coefficients held
/// over the step, `a` and every `d_s` not zero). With `y_s(t) = Y0_s +
/// Y1_s·exp(d_s·t)`, `Y0_s = -e_s/d_s` and `Y1_s = y_s - Y0_s`, the
/// solution is
///
/// ```text
/// x·exp(a·dt) + Σ b_s·Y1_s·(exp(d_s·dt) - exp(a·dt))/(d_s - a)
///             + (Σ b_s·Y0_s + c)·(exp(a·dt) - 1)/a
/// ```
///
/// the formula Brian2's sympy solution of such a system simplifies to (it
/// too divides by `d_s - a`, so equal rates give no number there either).
fn driven_linear_step(
    system: &OdeSystem,
    lin: &LinearSystem,
    k: usize,
    sources: &[usize],
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
) -> Expr {
    let dt_eff = match (&system.not_refractory, system.masked[k]) {
        (Some(nr), true) => mul(Expr::Dt, nr.clone()),
        _ => Expr::Dt,
    };
    let mut fresh = |e: Expr, out: &mut Vec<Stmt>| {
        let l = locals.fresh();
        out.push(Stmt::SetLocal(l, e));
        local(l)
    };
    let a = fresh(lin.m[k][k].clone(), out);
    let growth = fresh(
        Expr::Unary(UnaryOp::Exp, Box::new(mul(dt_eff.clone(), a.clone()))),
        out,
    );
    let mut value = mul(load(system.vars[k]), growth.clone());
    let mut constant = lin.b[k].clone();
    for &s in sources {
        let d = fresh(lin.m[s][s].clone(), out);
        let coupling = lin.m[k][s].clone();
        let (y0, y1) = if is_zero(&lin.b[s]) {
            (c(0.0), load(system.vars[s]))
        } else {
            let y0 = fresh(expr::neg(div(lin.b[s].clone(), d.clone())), out);
            (y0.clone(), sub(load(system.vars[s]), y0))
        };
        let decay = Expr::Unary(UnaryOp::Exp, Box::new(mul(dt_eff.clone(), d.clone())));
        value = add(
            value,
            div(
                mul(mul(coupling.clone(), y1), sub(decay, growth.clone())),
                sub(d, a.clone()),
            ),
        );
        if !is_zero(&y0) {
            constant = add(constant, mul(coupling, y0));
        }
    }
    if !is_zero(&constant) {
        value = add(value, div(mul(constant, sub(growth, c(1.0))), a));
    }
    fresh(value, out)
}

fn exponential_euler(
    system: &OdeSystem,
    locals: &mut dyn Locals,
    out: &mut Vec<Stmt>,
) -> Result<Vec<Expr>, Unsupported> {
    if system.is_stochastic() {
        return Err(Unsupported(
            "`exponential_euler` cannot integrate stochastic equations (they use `xi`)".into(),
        ));
    }
    let mut result = Vec::new();
    for k in 0..system.vars.len() {
        let own = [Sym::Array(system.vars[k])];
        // A right-hand side linear in its variable keeps the simple form
        // (constant coefficients folded); otherwise it is expanded and
        // collected as Brian2 does, into `A·x + B` where `A` and `B` may
        // contain nonlinear functions of `x`, evaluated at the current
        // state.
        let (a, b) = match linear_form(&system.f[k], &own) {
            Some(lin) => (lin.coefficient(own[0]), lin.rest),
            None => conditionally_linear(&system.f[k], own[0]).map_err(|why| {
                let name = &system.names[k];
                let detail = match why {
                    NotConditionallyLinear::Power(p) => {
                        format!("expanded, the equation for `{name}` has a term in `{name}**{p}`")
                    }
                    NotConditionallyLinear::NoLinearTerm => format!(
                        "the equation for `{name}` has no term linear in `{name}` \
                         (it appears only inside functions)"
                    ),
                };
                Unsupported(format!(
                    "`exponential_euler` can only solve conditionally linear systems \
                     (each equation `A*{name} + B`, where `A` and `B` may be nonlinear \
                     functions of the state): {detail}"
                ))
            })?,
        };
        result.push(scalar_linear_step(system, k, a, b, locals, out));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagators_of_a_decay_are_exponentials() {
        let m = DMatrix::from_row_slice(1, 1, &[-10.0]);
        let (phi, gamma) = propagators(&m, 0.1);
        assert!((phi[(0, 0)] - (-1.0f64).exp()).abs() < 1e-14);
        // ∫₀^0.1 exp(-10 s) ds = (1 - e^-1)/10
        assert!((gamma[(0, 0)] - (1.0 - (-1.0f64).exp()) / 10.0).abs() < 1e-14);
    }

    #[test]
    fn propagators_handle_singular_matrices() {
        let m = DMatrix::from_row_slice(1, 1, &[0.0]);
        let (phi, gamma) = propagators(&m, 0.5);
        assert!((phi[(0, 0)] - 1.0).abs() < 1e-15);
        assert!((gamma[(0, 0)] - 0.5).abs() < 1e-15);
    }
}
