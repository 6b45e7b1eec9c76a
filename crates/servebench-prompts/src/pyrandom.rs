//! Python's `random` module (CPython 3), the stream vLLM's ShareGPT and
//! sonnet samplers draw from after `random.seed(args.seed)`: `init_by_array`
//! seeding, `getrandbits`, rejection-sampled `_randbelow`, `shuffle`,
//! `sample` (with CPython's choice between its pool and set algorithms) and
//! `choice`. The vectors in the tests were produced by CPython 3.11.

use crate::mt::Mt19937;

#[derive(Clone)]
pub struct PyRandom {
    mt: Mt19937,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom").finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.seed(seed)` for an integer seed (its absolute value, split
    /// into 32-bit words, low word first).
    pub fn new(seed: i128) -> Self {
        let mut a = seed.unsigned_abs();
        let mut key = Vec::new();
        while a > 0 {
            key.push(a as u32);
            a >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        PyRandom {
            mt: Mt19937::from_key(&key),
        }
    }

    /// `random.getrandbits(k)` for `1 <= k <= 64`.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.mt.next_u32() >> (32 - k));
        }
        let low = u64::from(self.mt.next_u32());
        let high = u64::from(self.mt.next_u32() >> (64 - k));
        (high << 32) | low
    }

    /// `random._randbelow(n)` for `n >= 1`.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.shuffle(items)`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `random.sample(population, k)`: indices into the population, in
    /// selection order. `None` when `k` exceeds the population.
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Option<Vec<usize>> {
        if k > n {
            return None;
        }
        let mut setsize = 21usize;
        if k > 5 {
            let exponent = ((k as f64 * 3.0).ln() / 4f64.ln()).ceil() as u32;
            setsize += 4usize.pow(exponent);
        }
        let mut result = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                result.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.randbelow(n as u64) as usize;
                }
                selected.insert(j);
                result.push(j);
            }
        }
        Some(result)
    }

    /// `random.choice(items)`.
    pub fn choice<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.randbelow(items.len() as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::PyRandom;

    #[test]
    fn matches_cpython() {
        let mut r = PyRandom::new(0);
        assert_eq!(
            [r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)],
            [3_626_764_237, 1_654_615_998, 3_255_389_356]
        );
        let mut r = PyRandom::new(42);
        let got: Vec<u64> = [10, 1000, 1, 1 << 31, 7]
            .iter()
            .map(|&n| r.randbelow(n))
            .collect();
        assert_eq!(got, [1, 25, 0, 1_051_802_512, 1]);
        let mut r = PyRandom::new(0);
        let mut x: Vec<u32> = (0..10).collect();
        r.shuffle(&mut x);
        assert_eq!(x, [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]);
        assert_eq!(
            PyRandom::new(3).sample_indices(20, 5),
            Some(vec![7, 18, 17, 4, 11])
        );
        assert_eq!(
            PyRandom::new(3).sample_indices(1000, 8),
            Some(vec![243, 606, 557, 133, 378, 937, 618, 485])
        );
        let mut r = PyRandom::new((1 << 40) + 5);
        assert_eq!(
            [r.getrandbits(32), r.getrandbits(32)],
            [2_166_296_868, 2_220_160_828]
        );
        let mut r = PyRandom::new(7);
        let picks: Vec<&str> = (0..5)
            .filter_map(|_| r.choice(&["a", "b", "c"]).copied())
            .collect();
        assert_eq!(picks, ["b", "a", "b", "c", "a"]);
        assert_eq!(PyRandom::new(1).getrandbits(40), 623_347_347_957);
        assert_eq!(PyRandom::new(1).sample_indices(3, 4), None);
    }
}
