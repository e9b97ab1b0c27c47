//! Support for the code `#[circuit_breaker]` generates. Not a stable API: anything here
//! may change in any release.

pub use breaker_runtime::registry::shared;
pub use once_cell::sync::OnceCell;
