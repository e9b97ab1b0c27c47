//! Serialization of the snapshot types (feature `serde`): durations as seconds.

use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::{Counts, Name, Settings, State, TripPolicy};

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

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Settings", 5)?;
        st.serialize_field("timeout", &self.timeout.map(|d| d.as_secs_f64()))?;
        st.serialize_field("max_requests", &self.max_requests)?;
        st.serialize_field("interval", &self.interval().map(|d| d.as_secs_f64()))?;
        st.serialize_field("reset_timeout", &self.reset_timeout.as_secs_f64())?;
        st.serialize_field("trip_policy", &self.trip_policy)?;
        st.end()
    }
}
