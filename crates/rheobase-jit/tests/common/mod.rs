//! Helpers shared by the integration tests: terse expression builders and
//! a `KernelArgs` constructor.
#![allow(dead_code)]

use rheobase_kernel::{
    ArrayId, BinaryOp, Expr, IndexSpace, Iteration, Kernel, KernelArgs, LocalId, Stmt, TableDesc,
    UnaryOp,
};

pub fn c(x: f64) -> Expr {
    Expr::Const(x)
}
pub fn ld(a: u32) -> Expr {
    Expr::Load(ArrayId(a), IndexSpace::Own)
}
pub fn ld_in(a: u32, space: IndexSpace) -> Expr {
    Expr::Load(ArrayId(a), space)
}
pub fn local(l: u32) -> Expr {
    Expr::Local(LocalId(l))
}
pub fn un(op: UnaryOp, a: Expr) -> Expr {
    Expr::Unary(op, Box::new(a))
}
pub fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
pub fn add(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Add, a, b)
}
pub fn sub(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Sub, a, b)
}
pub fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Mul, a, b)
}
pub fn div(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Div, a, b)
}
pub fn store(a: u32, e: Expr) -> Stmt {
    Stmt::Store(ArrayId(a), IndexSpace::Own, e)
}
pub fn store_in(a: u32, space: IndexSpace, e: Expr) -> Stmt {
    Stmt::Store(ArrayId(a), space, e)
}
pub fn set(l: u32, e: Expr) -> Stmt {
    Stmt::SetLocal(LocalId(l), e)
}

pub fn kernel(name: &str, iteration: Iteration, n_locals: u32, body: Vec<Stmt>) -> Kernel {
    Kernel {
        name: name.into(),
        iteration,
        n_locals,
        body,
    }
}

/// Arguments with every pointer null; tests fill in what they use.
pub fn args(arrays: &[*mut f64], start: u64, end: u64) -> KernelArgs {
    KernelArgs {
        arrays: arrays.as_ptr(),
        pre_index: std::ptr::null(),
        post_index: std::ptr::null(),
        elements: std::ptr::null(),
        start,
        end,
        events_out: std::ptr::null_mut(),
        tables: std::ptr::null::<TableDesc>(),
        t: 0.0,
        dt: 1e-4,
        step: 0,
        seed: 0,
        stream: 0,
        index_offset: 0,
    }
}

/// Equal, or both NaN.
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}
