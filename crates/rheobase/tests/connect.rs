//! Synapse creation by `connect:` forms that need Brian2's exact rules:
//! generator elements, `i=` strings and `n=` expressions. Expected pairs
//! were produced by Brian2 2.9 (Cython target, which implements these
//! rules without the numpy target's quirks), and errors must be clear
//! diagnostics or run-time messages, never panics.

use rheobase::runtime::Simulation;
use rheobase::{compile, RunConfig};

/// A 5-neuron source `G` (`v = 10*i`) and a 4-neuron target `H`
/// (`v = 100*i`) connected by one `connect:` line.
fn model(connect: &str) -> String {
    format!(
        "NeuronGroup G(5):\n    model:\n        v : 1\n    init:\n        v = i*10\n\
         NeuronGroup H(4):\n    model:\n        v : 1\n    init:\n        v = i*100\n\
         Synapses S(G -> H):\n    model:\n        w : 1\n    connect: {connect}\n\
         run 0.1*ms\n"
    )
}

/// The synapses made, as (i, j) pairs in synapse order, for 1 and 2
/// threads (which must agree), or the error message.
fn pairs(connect: &str) -> Result<Vec<(u32, u32)>, String> {
    let source = model(connect);
    let compiled = compile(&source).map_err(|d| {
        d.iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut results = Vec::new();
    for threads in [1, 2] {
        let mut sim = Simulation::new(compiled.program.clone(), RunConfig { seed: 3, threads })
            .map_err(|e| e.to_string())?;
        sim.run_all().map_err(|e| e.to_string())?;
        let (pre, post) = sim.connections(0);
        results.push(
            pre.iter()
                .copied()
                .zip(post.iter().copied())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(results[0], results[1], "thread count changed the synapses");
    Ok(results.swap_remove(0))
}

fn expect(connect: &str, want: &[(u32, u32)]) {
    assert_eq!(pairs(connect).as_deref(), Ok(want), "{connect}");
}

fn expect_error(connect: &str, needle: &str) {
    match pairs(connect) {
        Ok(p) => panic!("{connect}: expected an error, made {p:?}"),
        Err(e) => assert!(e.contains(needle), "{connect}: {e}"),
    }
}

#[test]
fn generator_elements_follow_brian2() {
    expect(
        "j='i + k for k in range(-2, 3) if i + k >= 0', skip_if_invalid=True",
        &[
            (0, 0),
            (0, 1),
            (0, 2),
            (1, 0),
            (1, 1),
            (1, 2),
            (1, 3),
            (2, 0),
            (2, 1),
            (2, 2),
            (2, 3),
            (3, 1),
            (3, 2),
            (3, 3),
            (4, 2),
            (4, 3),
        ],
    );
    // Candidate order, not sorted by target.
    expect(
        "j='(i+k) % N_post for k in range(-1, 2)'",
        &[
            (0, 3),
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
            (3, 0),
            (4, 3),
            (4, 0),
            (4, 1),
        ],
    );
    // A condition on `j` alone is evaluated for out-of-range `j`.
    expect(
        "j='i + k for k in range(-1, 2) if j >= 0 and j < N_post'",
        &[
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
            (4, 3),
        ],
    );
    // A condition on a postsynaptic variable: invalid targets are skipped
    // first.
    expect(
        "j='i + k for k in range(-1, 2) if v_post > 50', skip_if_invalid=True",
        &[
            (0, 1),
            (1, 1),
            (1, 2),
            (2, 1),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
            (4, 3),
        ],
    );
    expect(
        "j='int(v_pre/10) - k for k in range(2)', skip_if_invalid=True",
        &[
            (0, 0),
            (1, 1),
            (1, 0),
            (2, 2),
            (2, 1),
            (3, 3),
            (3, 2),
            (4, 3),
        ],
    );
}

#[test]
fn i_strings_make_synapses_target_by_target() {
    expect("i='j+1'", &[(1, 0), (2, 1), (3, 2), (4, 3)]);
    expect("i='j+1 if j % 2 == 0'", &[(1, 0), (3, 2)]);
    expect("i='j*2', skip_if_invalid=True", &[(0, 0), (2, 1), (4, 2)]);
    expect(
        "i='k for k in range(int(v_post/100))'",
        &[(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)],
    );
    // Brian2 2.9 refuses `j` in the range of an `i=` generator; the
    // meaning is the mirror image of `j='k for k in range(i - 1, i + 2)'`.
    expect(
        "i='k for k in range(j - 1, j + 2)', skip_if_invalid=True",
        &[
            (0, 0),
            (1, 0),
            (0, 1),
            (1, 1),
            (2, 1),
            (1, 2),
            (2, 2),
            (3, 2),
            (2, 3),
            (3, 3),
            (4, 3),
        ],
    );
    expect(
        "i='j + k for k in range(-1, 2) if i != j', skip_if_invalid=True",
        &[(1, 0), (0, 1), (2, 1), (1, 2), (3, 2), (2, 3), (4, 3)],
    );
    expect(
        "i='k for k in range(N_pre) if v_pre < v_post/10'",
        &[(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)],
    );
}

#[test]
fn n_expressions_repeat_pairs() {
    expect("j='i', n=0, skip_if_invalid=True", &[]);
    expect(
        "j='i', n='i', skip_if_invalid=True",
        &[(1, 1), (2, 2), (2, 2), (3, 3), (3, 3), (3, 3)],
    );
    expect(
        "j='i', n='j', skip_if_invalid=True",
        &[(1, 1), (2, 2), (2, 2), (3, 3), (3, 3), (3, 3)],
    );
    expect(
        "condition='i != j', n='(i+j) % 3'",
        &[
            (0, 1),
            (0, 2),
            (0, 2),
            (1, 0),
            (1, 3),
            (2, 0),
            (2, 0),
            (2, 3),
            (2, 3),
            (3, 1),
            (3, 2),
            (3, 2),
            (4, 0),
            (4, 1),
            (4, 1),
            (4, 3),
        ],
    );
    expect(
        "condition='i == 0', n='int(v_post/100)'",
        &[(0, 1), (0, 2), (0, 2), (0, 3), (0, 3), (0, 3)],
    );
    expect(
        "i='k for k in range(2)', n='i + 1'",
        &[
            (0, 0),
            (1, 0),
            (1, 0),
            (0, 1),
            (1, 1),
            (1, 1),
            (0, 2),
            (1, 2),
            (1, 2),
            (0, 3),
            (1, 3),
            (1, 3),
        ],
    );
}

#[test]
fn bad_connections_are_reported() {
    // Run-time: indices out of range, negative multiplicities.
    expect_error(
        "i='j*2'",
        "source index i=6 for j=3 is outside the source range 0..5",
    );
    expect_error(
        "j='i + k for k in range(-1, 2)'",
        "target index j=-1 for i=0",
    );
    expect_error(
        "j='i + k for k in range(-1, 2) if v_post > 50'",
        "target index j=-1 for i=0",
    );
    expect_error(
        "condition='i == 0', n='j - 1'",
        "`n` for the pair i=0, j=0 is -1",
    );
    // Compile time.
    expect_error("j='i', n=-1", "`n=` must be between 0 and 4294967295");
    expect_error(
        "condition='i == 0', n='j*0.7'",
        "`n=` must be a whole number or an integer expression",
    );
    expect_error("j='v_post + k for k in range(2)'", "cannot use `v_post`");
    expect_error(
        "j='j + k for k in range(2)'",
        "computes `j`, so it cannot use `j`",
    );
    expect_error("i='v_pre'", "cannot use `v_pre`");
    expect_error(
        "j='i/2 + k for k in range(2)'",
        "the element of a generator is a neuron index",
    );
    expect_error("j='i', p=0.5", "`p=` cannot be combined");
    expect_error("i=[0, 1]", "a list for `i=` needs a list for `j=`");
    expect_error("i='j', j='i'", "cannot be combined with the other index");
    expect_error("i=[0], j=[1], n='i'", "`n=` must be a number");
    expect_error("j='i', n='w'", "cannot use the synaptic variable `w`");
    expect_error("condition='w > 0'", "cannot use the synaptic variable `w`");
}
