//! NumPy's legacy global random stream (`np.random.seed`, `randint`,
//! `gamma`), draw for draw, so that a seed gives the prompts and arrival gaps
//! the Python benchmark gives.
//!
//! * MT19937 seeded with `init_genrand(seed)` (`mt19937_seed`), tempered
//!   32-bit outputs;
//! * [`RandomState::random`]: 53-bit doubles from two draws, `(a >> 5, b >> 6)`;
//! * [`RandomState::randint`]: numpy's legacy bounded integers: no draw when
//!   the range is a single value, masked rejection on 32-bit draws when the
//!   range fits 32 bits, on 64-bit draws (two 32-bit ones, high first)
//!   otherwise;
//! * [`RandomState::gamma`]: `legacy_gamma` — exponential for shape 1,
//!   Marsaglia–Tsang on the legacy polar Gaussian (with its cached second
//!   value) for shape > 1, Johnk-style rejection below 1.
//!
//! The vectors in the tests were produced by numpy 2.4.

use crate::mt::Mt19937;

/// `np.random.RandomState` with the legacy (pre-Generator) algorithms.
#[derive(Clone)]
pub struct RandomState {
    mt: Mt19937,
    /// The polar method makes Gaussians in pairs; numpy keeps the second.
    cached_gauss: Option<f64>,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState").finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.seed(seed)` for a seed in `0..2**32`.
    pub fn new(seed: u32) -> Self {
        RandomState {
            mt: Mt19937::from_seed(seed),
            cached_gauss: None,
        }
    }

    /// `np.random.RandomState(list_of_words)`: seeded with `init_by_array`.
    pub fn from_key(key: &[u32]) -> Self {
        RandomState {
            mt: Mt19937::from_key(key),
            cached_gauss: None,
        }
    }

    /// `get_state()[1][:4]`: the first four words of the state array,
    /// without advancing the stream.
    pub fn first_state_words(&self) -> [u32; 4] {
        let k = self.mt.key();
        [k[0], k[1], k[2], k[3]]
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        (high << 32) | u64::from(self.next_u32())
    }

    /// `np.random.random_sample()`: uniform in [0, 1) with 53 random bits.
    pub fn random(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// One `np.random.randint(low, high)` (`high` exclusive, `low < high`).
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        let range = high.wrapping_sub(low).wrapping_sub(1) as u64;
        if range == 0 {
            return low;
        }
        let mask = u64::MAX >> range.leading_zeros();
        let offset = if range <= u64::from(u32::MAX) {
            if range == u64::from(u32::MAX) {
                u64::from(self.next_u32())
            } else {
                loop {
                    let v = u64::from(self.next_u32()) & mask;
                    if v <= range {
                        break v;
                    }
                }
            }
        } else {
            loop {
                let v = self.next_u64() & mask;
                if v <= range {
                    break v;
                }
            }
        };
        low.wrapping_add(offset as i64)
    }

    /// `np.random.randint(low, high, size=n)`.
    pub fn randint_n(&mut self, low: i64, high: i64, n: usize) -> Vec<i64> {
        (0..n).map(|_| self.randint(low, high)).collect()
    }

    fn exponential(&mut self) -> f64 {
        -(1.0 - self.random()).ln()
    }

    fn gauss(&mut self) -> f64 {
        if let Some(g) = self.cached_gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random() - 1.0;
            let x2 = 2.0 * self.random() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    fn standard_gamma(&mut self, shape: f64) -> f64 {
        if shape == 1.0 {
            return self.exponential();
        }
        if shape == 0.0 {
            return 0.0;
        }
        if shape < 1.0 {
            loop {
                let u = self.random();
                let v = self.exponential();
                if u <= 1.0 - shape {
                    let x = u.powf(1.0 / shape);
                    if x <= v {
                        return x;
                    }
                } else {
                    let y = -((1.0 - u) / shape).ln();
                    let x = (1.0 - shape + shape * y).powf(1.0 / shape);
                    if x <= v + y {
                        return x;
                    }
                }
            }
        }
        let b = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * b).sqrt();
        loop {
            let (x, mut v) = loop {
                let x = self.gauss();
                let v = 1.0 + c * x;
                if v > 0.0 {
                    break (x, v);
                }
            };
            v = v * v * v;
            let u = self.random();
            if u < 1.0 - 0.0331 * (x * x) * (x * x) {
                return b * v;
            }
            if u.ln() < 0.5 * x * x + b * (1.0 - v + v.ln()) {
                return b * v;
            }
        }
    }

    /// `np.random.gamma(shape, scale)` (shape ≥ 0).
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        scale * self.standard_gamma(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::RandomState;

    #[test]
    fn raw_stream_matches_numpy() {
        let mut r = RandomState::new(0);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [2_357_136_044, 2_546_248_239, 3_071_714_933]
        );
        let mut r = RandomState::new(2);
        assert_eq!(
            [r.random(), r.random(), r.random()],
            [
                0.43599490214200376,
                0.025926231827891333,
                0.5496624778787091
            ]
        );
    }

    #[test]
    fn randint_matches_numpy() {
        let mut r = RandomState::new(0);
        assert_eq!(
            r.randint_n(0, 129_280, 6),
            [68268, 43567, 42613, 117952, 45891, 21243]
        );
        // A single-value range draws nothing: the stream continues unchanged.
        let mut r = RandomState::new(1);
        assert_eq!(r.randint_n(819, 1025, 6), [856, 959, 891, 956, 1022, 952]);
        assert_eq!(r.randint_n(0, 1, 3), [0, 0, 0]);
        assert_eq!(r.randint_n(5, 6, 2), [5, 5]);
        assert_eq!(r.randint_n(0, 129_280, 2), [117583, 21440]);
        let mut r = RandomState::new(u32::MAX);
        assert_eq!(r.randint_n(0, 1000, 3), [419, 290, 12]);
        let mut r = RandomState::new(9);
        assert_eq!(
            r.randint_n(0, 1 << 40, 3),
            [542_731_227_484, 543_309_627_893, 781_716_445_240]
        );
    }

    #[test]
    fn gamma_matches_numpy() {
        let draw = |shape: f64, scale: f64, n: usize| {
            let mut r = RandomState::new(7);
            (0..n).map(|_| r.gamma(shape, scale)).collect::<Vec<_>>()
        };
        assert_eq!(
            draw(0.5, 0.4, 6),
            [
                0.002329182010871834,
                0.07688106168503797,
                0.028823794415253113,
                0.20848002284133216,
                0.03321115456022511,
                0.018213323648970225
            ]
        );
        assert_eq!(
            draw(1.0, 0.1, 4),
            [
                0.00793769095214445,
                0.1513758674558787,
                0.05769818641565158,
                0.12854185268208107
            ]
        );
        assert_eq!(
            draw(2.5, 2.0, 5),
            [
                3.101292199817763,
                2.4010297771869547,
                4.339417060156882,
                8.072692535596431,
                6.352449052178549
            ]
        );
    }
}
