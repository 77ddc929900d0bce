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

fn bits(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> [u32; 4] {
    // The draw id is small; fold it into the high bits of the element word
    // pair so the counter stays unique for element < 2^48, draw < 2^16.
    let elem_draw = element ^ (draw << 48);
    philox4x32(
        [
            step as u32,
            (step >> 32) as u32,
            elem_draw as u32,
            (elem_draw >> 32) as u32,
        ],
        key_of(seed, stream),
    )
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

/// A standard normal number for the given key (Box–Muller on the two
/// 53-bit uniforms of one Philox block).
pub fn normal(seed: u64, stream: u64, step: u64, element: u64, draw: u64) -> f64 {
    let b = bits(seed, stream, step, element, draw);
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - to_unit(b[0], b[1]);
    let u2 = to_unit(b[2], b[3]);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
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

    #[test]
    fn keys_give_independent_streams() {
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(2, 0, 0, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 1, 0, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 1, 0, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 0, 1, 0));
        assert_ne!(uniform(1, 0, 0, 0, 0), uniform(1, 0, 0, 0, 1));
    }
}
