//! A fixed-size log-linear latency histogram: no allocation after construction, O(1) record.
//!
//! Values below 16 get a bucket each; above, every power of two is split into 16 linear
//! sub-buckets, so a reported percentile is within about 3% of the true value (it is the
//! middle of its bucket, clamped to the smallest and largest value recorded).

/// Linear sub-buckets per power of two (2^SUB_BITS).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Buckets needed for the whole `u64` range.
pub const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Latency histogram in nanoseconds (any `u64` value).
#[derive(Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .finish()
    }
}

/// Bucket index of `v`.
#[inline]
pub fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let sub = (v >> shift) as usize & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// Smallest and largest value of bucket `b`.
pub fn bucket_range(b: usize) -> (u64, u64) {
    if b < SUB {
        return (b as u64, b as u64);
    }
    let shift = (b / SUB - 1) as u32;
    let lo = ((SUB + b % SUB) as u64) << shift;
    (lo, lo + ((1u64 << shift) - 1))
}

impl Histogram {
    /// An empty histogram (about 8 KiB; box it inside NF structs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket_of(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Forget every value.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value recorded (None when empty).
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value recorded (None when empty).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Mean of the values (None when empty).
    pub fn mean(&self) -> Option<u64> {
        (self.count > 0).then(|| (self.sum / u128::from(self.count)) as u64)
    }

    /// The value below or at which a fraction `q` (0..=1) of the values lie (None when empty).
    pub fn percentile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let target = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                let (lo, hi) = bucket_range(b);
                let mid = lo + (hi - lo) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_and_are_ordered() {
        for v in (0..5000u64).chain([u64::MAX, u64::MAX / 3, 1 << 40, (1 << 40) - 1]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS);
            let (lo, hi) = bucket_range(b);
            assert!(lo <= v && v <= hi, "{v} in bucket {b} = {lo}..={hi}");
        }
        let mut prev_hi = None;
        for b in 0..BUCKETS {
            let (lo, hi) = bucket_range(b);
            if let Some(p) = prev_hi {
                assert_eq!(lo, p + 1, "bucket {b} follows the previous one");
            }
            prev_hi = Some(hi);
        }
        assert_eq!(prev_hi, Some(u64::MAX));
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(0.5), None);
        for v in 1..=1000u64 {
            h.record(v * 100);
        }
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.035;
        assert!(
            near(h.percentile(0.5).unwrap(), 50_000),
            "{:?}",
            h.percentile(0.5)
        );
        assert!(near(h.percentile(0.99).unwrap(), 99_000));
        assert!(near(h.percentile(0.999).unwrap(), 99_900));
        assert_eq!(h.percentile(1.0), Some(100_000));
        assert!((100..=103).contains(&h.percentile(0.0).unwrap()));
        assert_eq!(
            (h.min(), h.max(), h.mean(), h.count()),
            (Some(100), Some(100_000), Some(50_050), 1000)
        );
        h.reset();
        assert_eq!(h.count(), 0);
        h.record(7);
        assert_eq!(h.percentile(0.999), Some(7));
    }
}
