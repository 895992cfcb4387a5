//! A small fixed-window rate limiter for enrollment, keyed by peer address or organisation
//! (DESIGN decision 8). Bounded: when the table is full, the oldest windows are forgotten first.

use std::collections::HashMap;
use std::sync::Mutex;

/// Allows `per_minute` events per key per 60-second window.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

const MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key` at `now_ms`; false when the key is over its budget.
    pub fn allow(&self, key: &str, now_ms: i64) -> bool {
        let window = now_ms.div_euclid(60_000);
        let Ok(mut map) = self.windows.lock() else {
            return false;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_key_and_window() {
        let l = RateLimiter::new(2);
        assert!(l.allow("a", 0) && l.allow("a", 1));
        assert!(!l.allow("a", 2));
        assert!(l.allow("b", 2));
        assert!(l.allow("a", 60_000));
    }
}
