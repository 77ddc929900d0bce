//! A counter-based random number generator: Philox4x32-10 (Salmon et al.
//! 2011, "Parallel random numbers: as easy as 1, 2, 3").
//!
//! Every draw is a pure function of its key `(seed, stream, step, element,
//! draw)`. No generator state is carried between draws, so any thread may
//! draw neuron k's number in any order, and a model partitioned across
//! threads or (later) processes sees the same numbers.

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to
/// 128 random bits.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = u64::from(PHILOX_M0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M1) * u64::from(c[2]);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Mixes a seed and a stream id into the 64-bit Philox key, so that
/// different kernels (streams) are independent for the same seed.
fn key_of(seed: u64, stream: u64) -> [u32; 2] {
    // SplitMix64 finaliser: a bijection, so distinct (seed ^ rotated
    // stream) values give distinct keys.
    let mut z = seed ^ stream.rotate_left(32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    [z as u32, (z >> 32) as u32]
}

/// The Philox counter of a draw.
fn counter_of(step: u64, element: u64, draw: u64) -> [u32; 4] {
    // The draw id is small; fold it into the high bits of the element word
    // pair so the counter stays unique for element < 2^48, draw < 2^16.
    let elem_draw = element ^ (draw << 48);
    [
        step as u32,
        (step >> 32) as u32,
        elem_draw as u32,
        (elem_draw >> 32) as u32,
    ]
}

fn bits(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> [u32; 4] {
    philox4x32(counter_of(step, element, draw), key_of(seed, stream))
}

/// Number of Philox blocks computed side by side by the `fill_*`
/// functions.
const LANES: usize = 8;

/// Philox4x32-10 on [`LANES`] counters at once, word-major (`c[w][lane]`).
/// One block's ten rounds are a chain of dependent multiplications, so a
/// single block waits on multiplier latency; independent lanes fill those
/// waits (and the compiler can use vector multiplies), which makes a batch
/// several times faster per block than one block at a time.
// Each lane reads and writes the same position of four word arrays; an
// index says that more plainly than zipped iterators.
#[allow(clippy::needless_range_loop)]
fn philox_lanes(c: &mut [[u32; LANES]; 4], key: [u32; 2]) {
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        for l in 0..LANES {
            let p0 = u64::from(PHILOX_M0) * u64::from(c[0][l]);
            let p1 = u64::from(PHILOX_M1) * u64::from(c[2][l]);
            let next = [
                (p1 >> 32) as u32 ^ c[1][l] ^ k[0],
                p1 as u32,
                (p0 >> 32) as u32 ^ c[3][l] ^ k[1],
                p0 as u32,
            ];
            for (w, word) in next.into_iter().enumerate() {
                c[w][l] = word;
            }
        }
    }
}

/// Block 0 of the keys of `out.len()` consecutive elements from
/// `first_element`, [`LANES`] at a time; calls `emit(k, block)` for
/// element `first_element + k`.
#[allow(clippy::needless_range_loop)]
fn blocks(
    len: usize,
    seed: u64,
    stream: u64,
    step: u64,
    first_element: u64,
    draw: u64,
    mut emit: impl FnMut(usize, [u32; 4]),
) {
    let key = key_of(seed, stream);
    let mut start = 0;
    while start < len {
        let n = LANES.min(len - start);
        let mut c = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let w = counter_of(step, first_element + (start + l) as u64, draw);
            for (word, lanes) in w.into_iter().zip(c.iter_mut()) {
                lanes[l] = word;
            }
        }
        philox_lanes(&mut c, key);
        for l in 0..n {
            emit(start + l, [c[0][l], c[1][l], c[2][l], c[3][l]]);
        }
        start += n;
    }
}

/// `out[k] = uniform(seed, stream, step, first_element + k, draw)`,
/// computed several elements at a time.
pub fn fill_uniform(
    out: &mut [f64],
    seed: u64,
    stream: u64,
    step: u64,
    first_element: u64,
    draw: u64,
) {
    blocks(
        out.len(),
        seed,
        stream,
        step,
        first_element,
        draw,
        |k, b| {
            out[k] = to_unit(b[0], b[1]);
        },
    );
}

/// `out[k] = normal(seed, stream, step, first_element + k, draw)`,
/// computed several elements at a time: the ziggurat's first attempt uses
/// block 0 only, so it is taken from the batch; the rare draws it rejects
/// are recomputed one by one, which repeats that attempt and goes on.
pub fn fill_normal(
    out: &mut [f64],
    seed: u64,
    stream: u64,
    step: u64,
    first_element: u64,
    draw: u64,
) {
    let table = ziggurat();
    blocks(
        out.len(),
        seed,
        stream,
        step,
        first_element,
        draw,
        |k, b| {
            let u = 2.0 * to_unit(b[0], b[1]) - 1.0;
            let layer = (b[1] & 0x7F) as usize;
            out[k] = if u.abs() < table.ratio[layer] {
                u * table.x[layer]
            } else {
                normal(seed, stream, step, first_element + k as u64, draw)
            };
        },
    );
}

fn to_unit(hi: u32, lo: u32) -> f64 {
    // 53 random bits → [0, 1).
    let x = (u64::from(hi) << 32 | u64::from(lo)) >> 11;
    x as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform number on `[0, 1)` for the given key.
pub fn uniform(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> f64 {
    let b = bits(seed, stream, step, element, draw);
    to_unit(b[0], b[1])
}

/// A standard normal number for the given key, by the ziggurat method
/// (Marsaglia and Tsang 2000, in Doornik's 2005 formulation with 128
/// layers and one uniform per attempt).
///
/// About 98.8% of draws take one Philox block, one table lookup and one
/// multiplication; only the rest evaluate `exp` (wedges) or `ln` (tail).
/// Box–Muller would call `ln`, `sqrt` and `cos` for every draw, which made
/// noise-driven models spend most of their time in libm. Later attempts,
/// when needed, take further Philox blocks of the same key, so the result
/// is still a pure function of the key.
pub fn normal(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> f64 {
    let table = ziggurat();
    let mut words = Words::new(seed, stream, step, element, draw);
    loop {
        let (hi, lo) = (words.next(), words.next());
        // 53 bits for the uniform, the low bits of the same 64 for the
        // layer: disjoint bits, so the two are independent.
        let u = 2.0 * to_unit(hi, lo) - 1.0;
        let layer = (lo & 0x7F) as usize;
        if u.abs() < table.ratio[layer] {
            return u * table.x[layer];
        }
        if layer == 0 {
            return normal_tail(&mut words, u < 0.0);
        }
        let x = u * table.x[layer];
        let f0 = (-0.5 * (table.x[layer] * table.x[layer] - x * x)).exp();
        let f1 = (-0.5 * (table.x[layer + 1] * table.x[layer + 1] - x * x)).exp();
        let v = to_unit(words.next(), words.next());
        if f1 + v * (f0 - f1) < 1.0 {
            return x;
        }
    }
}

/// A sample from the normal tail beyond `ZIGGURAT_R` (Marsaglia 1964).
fn normal_tail(words: &mut Words, negative: bool) -> f64 {
    loop {
        // 1 - u lies in (0, 1], so the logarithms are finite.
        let x = (1.0 - to_unit(words.next(), words.next())).ln() / ZIGGURAT_R;
        let y = (1.0 - to_unit(words.next(), words.next())).ln();
        if -2.0 * y >= x * x {
            return if negative {
                x - ZIGGURAT_R
            } else {
                ZIGGURAT_R - x
            };
        }
    }
}

/// The 32-bit words of the Philox blocks of one key: block 0 is the one
/// [`uniform`] uses; block b > 0 uses the key with `b` folded in, which is
/// as independent as another stream.
struct Words {
    counter: [u32; 4],
    key: [u32; 2],
    block: u32,
    words: [u32; 4],
    used: usize,
}

impl Words {
    fn new(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> Words {
        let counter = counter_of(step, element, draw);
        let key = key_of(seed, stream);
        Words {
            counter,
            key,
            block: 0,
            words: philox4x32(counter, key),
            used: 0,
        }
    }

    fn next(&mut self) -> u32 {
        if self.used == 4 {
            self.block += 1;
            let key = [
                self.key[0],
                self.key[1] ^ self.block.wrapping_mul(0x9E37_79B9),
            ];
            self.words = philox4x32(self.counter, key);
            self.used = 0;
        }
        self.used += 1;
        self.words[self.used - 1]
    }
}

/// Where the ziggurat's base layer starts its tail, and the common area
/// of its 128 layers (Doornik 2005, table 1).
const ZIGGURAT_R: f64 = 3.442_619_855_899;
const ZIGGURAT_V: f64 = 9.912_563_035_262_17e-3;

/// The layer edges `x` (x[0] = V/f(R) for the base layer with its tail,
/// x[1] = R, ..., x[128] = 0) and `ratio[i] = x[i+1]/x[i]`, the part of
/// layer i that lies entirely under the density.
struct Ziggurat {
    x: [f64; 129],
    ratio: [f64; 128],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x = [0.0; 129];
        let mut f = (-0.5 * ZIGGURAT_R * ZIGGURAT_R).exp();
        x[0] = ZIGGURAT_V / f;
        x[1] = ZIGGURAT_R;
        // Each layer has area V: x[i] follows from x[i-1] and f(x[i-1]).
        for i in 2..128 {
            x[i] = (-2.0 * (ZIGGURAT_V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        x[128] = 0.0;
        let mut ratio = [0.0; 128];
        for i in 0..128 {
            ratio[i] = x[i + 1] / x[i];
        }
        Ziggurat { x, ratio }
    })
}

/// The random stream id of a kernel, from its name (FNV-1a), so that a
/// kernel's numbers do not change when unrelated parts of a model change.
pub fn stream_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `extern "C"` entry points that JIT-compiled kernels call.
pub mod abi {
    /// Uniform draw for kernels.
    pub extern "C" fn rheo_rand_uniform(
        seed: u64,
        stream: u64,
        step: u64,
        element: u64,
        draw: u64,
    ) -> f64 {
        super::uniform(seed, stream, step, element, draw)
    }

    /// Normal draw for kernels.
    pub extern "C" fn rheo_rand_normal(
        seed: u64,
        stream: u64,
        step: u64,
        element: u64,
        draw: u64,
    ) -> f64 {
        super::normal(seed, stream, step, element, draw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_the_published_known_answer() {
        // Known-answer test from the Random123 distribution (kat_vectors):
        // philox4x32 10 rounds, counter = key = 0.
        assert_eq!(
            philox4x32([0, 0, 0, 0], [0, 0]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        // Counter = key = all ones.
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

    #[test]
    fn uniform_moments_are_right() {
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|k| uniform(7, 3, 11, k, 0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "var {var}");
    }

    #[test]
    fn normal_moments_are_right() {
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|k| normal(1, 0, k, 5, 2)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    /// The ziggurat's draws follow the normal distribution: a chi-square
    /// test over 40 equiprobable-width bins from -5 to 5 plus both tails,
    /// with the bin probabilities from erf, over a million draws.
    #[test]
    fn normal_histogram_matches_the_density() {
        fn cdf(x: f64) -> f64 {
            // Abramowitz–Stegun 7.1.26 is too coarse for a million draws;
            // integrate the density with Simpson's rule instead.
            let n = 2000;
            let (a, b) = (-9.0, x);
            if b <= a {
                return 0.0;
            }
            let h = (b - a) / n as f64;
            let f = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let mut s = f(a) + f(b);
            for k in 1..n {
                let t = a + k as f64 * h;
                s += if k % 2 == 1 { 4.0 * f(t) } else { 2.0 * f(t) };
            }
            s * h / 3.0
        }
        let n = 1_000_000u64;
        let edges: Vec<f64> = (0..=40).map(|k| -5.0 + 0.25 * k as f64).collect();
        let mut counts = vec![0u64; edges.len() + 1];
        let mut tail = 0u64;
        for k in 0..n {
            let x = normal(11, 5, k / 1000, k % 1000, 1);
            assert!(x.is_finite());
            if x.abs() > ZIGGURAT_R {
                tail += 1;
            }
            counts[edges.partition_point(|&e| e <= x)] += 1;
        }
        let mut chi2 = 0.0;
        for (bin, &observed) in counts.iter().enumerate() {
            let lo = if bin == 0 { -9.0 } else { edges[bin - 1] };
            let hi = if bin == edges.len() { 9.0 } else { edges[bin] };
            let expected = (cdf(hi) - cdf(lo)) * n as f64;
            if expected > 5.0 {
                chi2 += (observed as f64 - expected).powi(2) / expected;
            }
        }
        // About 40 degrees of freedom: the 99.99th percentile is near 80.
        assert!(chi2 < 80.0, "chi-square {chi2}");
        // P(|x| > R) = 5.77e-4: the tail path is taken and right.
        let expected_tail = 2.0 * (1.0 - cdf(ZIGGURAT_R)) * n as f64;
        assert!(
            (tail as f64 - expected_tail).abs() < 5.0 * expected_tail.sqrt(),
            "{tail} draws beyond R, expected {expected_tail}"
        );
    }

    /// The batched fills give exactly the one-at-a-time draws, for any
    /// length (whole and partial lane groups) and offset.
    #[test]
    fn fills_equal_single_draws() {
        for len in [0, 1, 7, 8, 9, 100, 1000] {
            let mut u = vec![0.0; len];
            let mut z = vec![0.0; len];
            fill_uniform(&mut u, 9, 4, 123, 5000, 3);
            fill_normal(&mut z, 9, 4, 123, 5000, 3);
            for k in 0..len {
                assert_eq!(
                    u[k].to_bits(),
                    uniform(9, 4, 123, 5000 + k as u64, 3).to_bits()
                );
                assert_eq!(
                    z[k].to_bits(),
                    normal(9, 4, 123, 5000 + k as u64, 3).to_bits()
                );
            }
        }
    }

    #[test]
    fn keys_give_independent_streams() {
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(2, 0, 0, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 1, 0, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 1, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 0, 1, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 0, 0, 1));
    }
}
