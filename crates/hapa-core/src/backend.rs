//! Which backend answers the next completion: the server (remote) or the bundled model (local).
//!
//! In `auto` mode the server is preferred while it answers, and not too slowly; after a failure
//! the local model takes over at once (no popup) and the server is tried again after a back-off
//! that doubles up to a minute; a success returns to the server. Times are passed in by the
//! caller (milliseconds on any monotonic clock), so this is a pure state machine.

/// The user's choice (setting `hapa.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The server while it is healthy and fast enough, else the local model.
    Auto,
    /// Only the server.
    Remote,
    /// Only the bundled model.
    Local,
}

/// Where one request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// hapa-server.
    Remote,
    /// The bundled model.
    Local,
}

/// First wait before trying a failed server again.
pub const FIRST_RETRY_MS: f64 = 5_000.0;
/// Longest wait before trying a failed server again.
pub const MAX_RETRY_MS: f64 = 60_000.0;
/// In `auto`, a server whose recent latency (smoothed) is above this is passed over for the
/// local model until the next retry.
pub const SLOW_REMOTE_MS: f64 = 1_500.0;

/// The failover state.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    mode: Mode,
    /// When the server may be tried again (it failed or was slow), if it is out of favour.
    retry_at: Option<f64>,
    retry_wait: f64,
    /// Smoothed latency of the server's successful answers.
    remote_latency: Option<f64>,
    last_used: Option<Backend>,
}

impl Failover {
    /// A fresh state: the server is presumed healthy.
    pub fn new(mode: Mode) -> Self {
        Self { mode, retry_at: None, retry_wait: FIRST_RETRY_MS, remote_latency: None, last_used: None }
    }

    /// Changes the mode (the setting changed), keeping what is known about the server.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// Where the next request should go.
    pub fn choose(&self, now: f64) -> Backend {
        match self.mode {
            Mode::Remote => Backend::Remote,
            Mode::Local => Backend::Local,
            Mode::Auto => match self.retry_at {
                Some(at) if now < at => Backend::Local,
                _ => Backend::Remote,
            },
        }
    }

    /// Whether a failed remote request should be answered by the local model instead.
    pub fn falls_back(&self) -> bool {
        self.mode == Mode::Auto
    }

    /// The server answered in `latency` ms.
    pub fn remote_succeeded(&mut self, now: f64, latency: f64) {
        let smoothed = self.remote_latency.map_or(latency, |old| 0.7 * old + 0.3 * latency);
        self.remote_latency = Some(smoothed);
        self.last_used = Some(Backend::Remote);
        if smoothed > SLOW_REMOTE_MS {
            self.retry_at = Some(now + self.retry_wait);
        } else {
            self.retry_at = None;
            self.retry_wait = FIRST_RETRY_MS;
        }
    }

    /// The server could not be reached, timed out or failed (5xx).
    pub fn remote_failed(&mut self, now: f64) {
        self.retry_at = Some(now + self.retry_wait);
        self.retry_wait = (self.retry_wait * 2.0).min(MAX_RETRY_MS);
    }

    /// The local model answered.
    pub fn local_used(&mut self) {
        self.last_used = Some(Backend::Local);
    }

    /// The status-bar words: `Remote 42 ms`, `Local`, or `Offline` when the server is out of
    /// favour and the mode forbids the local model.
    pub fn label(&self, now: f64) -> String {
        match (self.mode, self.choose(now), self.retry_at) {
            (Mode::Remote, _, Some(at)) if now < at => "Offline".to_owned(),
            (_, Backend::Remote, _) if self.last_used != Some(Backend::Local) => match self.remote_latency {
                Some(ms) => format!("Remote {} ms", ms.round()),
                None => "Remote".to_owned(),
            },
            (_, Backend::Remote, _) => "Remote".to_owned(),
            (_, Backend::Local, _) => "Local".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_the_server_and_falls_back_at_once_on_failure() {
        let mut state = Failover::new(Mode::Auto);
        assert_eq!(state.choose(0.0), Backend::Remote);
        state.remote_succeeded(0.0, 40.0);
        assert_eq!(state.label(0.0), "Remote 40 ms");
        state.remote_failed(1_000.0);
        assert_eq!(state.choose(1_001.0), Backend::Local);
        state.local_used();
        assert_eq!(state.label(1_001.0), "Local");
        // Tried again after the back-off; a success brings it back.
        assert_eq!(state.choose(1_000.0 + FIRST_RETRY_MS), Backend::Remote);
        state.remote_succeeded(7_000.0, 30.0);
        assert_eq!(state.choose(7_001.0), Backend::Remote);
    }

    #[test]
    fn the_back_off_doubles_up_to_a_minute_and_resets_on_success() {
        let mut state = Failover::new(Mode::Auto);
        let mut now = 0.0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            state.remote_failed(now);
            let mut t = now;
            while state.choose(t) == Backend::Local {
                t += 1_000.0;
            }
            waits.push(t - now);
            now = t;
        }
        assert_eq!(waits, vec![5_000.0, 10_000.0, 20_000.0, 40_000.0, 60_000.0, 60_000.0]);
        state.remote_succeeded(now, 10.0);
        state.remote_failed(now);
        assert_eq!(state.choose(now + FIRST_RETRY_MS - 1.0), Backend::Local);
        assert_eq!(state.choose(now + FIRST_RETRY_MS), Backend::Remote);
    }

    #[test]
    fn a_slow_server_is_passed_over_until_the_retry() {
        let mut state = Failover::new(Mode::Auto);
        state.remote_succeeded(0.0, 4_000.0);
        assert_eq!(state.choose(1.0), Backend::Local);
        assert_eq!(state.choose(FIRST_RETRY_MS), Backend::Remote);
    }

    #[test]
    fn fixed_modes_never_switch() {
        let mut remote = Failover::new(Mode::Remote);
        remote.remote_failed(0.0);
        assert_eq!(remote.choose(1.0), Backend::Remote);
        assert!(!remote.falls_back());
        assert_eq!(remote.label(1.0), "Offline");
        let local = Failover::new(Mode::Local);
        assert_eq!(local.choose(0.0), Backend::Local);
        assert_eq!(local.label(0.0), "Local");
    }
}
