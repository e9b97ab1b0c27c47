//! Serialization of the snapshot types (feature `serde`): durations as seconds, enums as
//! objects with a `kind` (the window, the trip policy) or as their names (state, jitter).

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::{Backoff, Counts, Jitter, Name, Settings, SlowCallRatio, State, TripPolicy, Window};

pub(crate) fn seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs_f64()).serialize(s)
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Counts", 8)?;
        st.serialize_field("requests", &self.requests)?;
        st.serialize_field("total_successes", &self.total_successes)?;
        st.serialize_field("total_failures", &self.total_failures)?;
        st.serialize_field("total_ignored", &self.total_ignored)?;
        st.serialize_field("consecutive_successes", &self.consecutive_successes)?;
        st.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        st.serialize_field("slow_calls", &self.slow_calls)?;
        st.serialize_field("consecutive_slow_calls", &self.consecutive_slow_calls)?;
        st.end()
    }
}

impl Serialize for TripPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            TripPolicy::ConsecutiveFailures(n) => {
                let mut st = s.serialize_struct("TripPolicy", 2)?;
                st.serialize_field("kind", "consecutive_failures")?;
                st.serialize_field("consecutive_failures", &n)?;
                st.end()
            }
            TripPolicy::FailureRatio {
                ratio,
                min_requests,
            } => {
                let mut st = s.serialize_struct("TripPolicy", 3)?;
                st.serialize_field("kind", "failure_ratio")?;
                st.serialize_field("failure_ratio", &ratio)?;
                st.serialize_field("min_requests", &min_requests)?;
                st.end()
            }
            TripPolicy::Custom(_) => {
                let mut st = s.serialize_struct("TripPolicy", 1)?;
                st.serialize_field("kind", "custom")?;
                st.end()
            }
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Window::Fixed { interval } => {
                let mut st = s.serialize_struct("Window", 2)?;
                st.serialize_field("kind", "fixed")?;
                st.serialize_field("interval", &interval.map(|d| d.as_secs_f64()))?;
                st.end()
            }
            Window::Rolling { length, buckets } => {
                let mut st = s.serialize_struct("Window", 3)?;
                st.serialize_field("kind", "rolling")?;
                st.serialize_field("length", &length.as_secs_f64())?;
                st.serialize_field("buckets", &buckets)?;
                st.end()
            }
            Window::Calls { calls } => {
                let mut st = s.serialize_struct("Window", 2)?;
                st.serialize_field("kind", "calls")?;
                st.serialize_field("calls", &calls)?;
                st.end()
            }
        }
    }
}

impl Serialize for SlowCallRatio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SlowCallRatio", 2)?;
        st.serialize_field("ratio", &self.ratio)?;
        st.serialize_field("min_requests", &self.min_requests)?;
        st.end()
    }
}

impl Serialize for Backoff {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Backoff", 2)?;
        st.serialize_field("factor", &self.factor)?;
        st.serialize_field("max_reset_timeout", &self.max_reset_timeout.as_secs_f64())?;
        st.end()
    }
}

impl Serialize for Jitter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Settings", 9)?;
        st.serialize_field("timeout", &self.timeout.map(|d| d.as_secs_f64()))?;
        st.serialize_field("max_requests", &self.max_requests)?;
        st.serialize_field("window", &self.window)?;
        st.serialize_field("reset_timeout", &self.reset_timeout.as_secs_f64())?;
        st.serialize_field("trip_policy", &self.trip_policy)?;
        st.serialize_field("slow_call", &self.slow_call.map(|d| d.as_secs_f64()))?;
        st.serialize_field("slow_call_ratio", &self.slow_call_ratio)?;
        st.serialize_field("backoff", &self.backoff)?;
        st.serialize_field("jitter", &self.jitter)?;
        st.end()
    }
}
