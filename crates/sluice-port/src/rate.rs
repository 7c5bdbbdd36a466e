//! Token bucket pacing the synthetic receive ports (generator, pcap replay) to a frame rate,
//! driven by the caller's clock reading: it never sleeps and never reads the clock itself.

/// A token bucket of frames. Tokens accrue at `rate` per second of the clock passed to
/// [`TokenBucket::take`]; the bucket holds at most one burst (the caller's `want`), so a
/// port that is not polled for a while does not send a flood afterwards.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_ns: f64,
    tokens: f64,
    /// Clock of the last refill; 0 before the first call.
    last_ns: u64,
}

impl TokenBucket {
    /// A bucket for `rate_pps` frames per second (`rate_pps > 0`, finite). It starts empty at
    /// the first [`take`](Self::take).
    pub(crate) fn new(rate_pps: f64) -> TokenBucket {
        TokenBucket {
            per_ns: rate_pps / 1e9,
            tokens: 0.0,
            last_ns: 0,
        }
    }

    /// Refill up to `now_ns` and take up to `want` whole tokens; returns how many were taken.
    #[inline]
    pub(crate) fn take(&mut self, now_ns: u64, want: usize) -> usize {
        if self.last_ns == 0 {
            self.last_ns = now_ns;
            return 0;
        }
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns;
        let cap = want.max(1) as f64;
        self.tokens = (self.tokens + elapsed as f64 * self.per_ns).min(cap);
        let n = (self.tokens as usize).min(want);
        self.tokens -= n as f64;
        n
    }

    /// Return `n` tokens that were taken but not used (e.g. no free buffer).
    #[inline]
    pub(crate) fn give_back(&mut self, n: usize) {
        self.tokens += n as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn accrues_at_the_rate_and_caps_at_one_burst() {
        let mut b = TokenBucket::new(1000.0); // one per millisecond
        assert_eq!(b.take(1_000_000, 32), 0);
        assert_eq!(b.take(1_500_000, 32), 0); // half a token
        assert_eq!(b.take(2_000_000, 32), 1);
        assert_eq!(b.take(12_000_000, 32), 10);
        assert_eq!(b.take(1_000_000_000, 32), 32); // capped at the burst
        assert_eq!(b.take(1_000_000_000, 32), 0);
        b.give_back(3);
        assert_eq!(b.take(1_000_000_000, 32), 3);
        assert_eq!(b.take(1_000_000_000, 32), 0);
    }
}
