//! One binary, tuned from outside: settings from a TOML file and the environment, then a
//! breaker changed live.
//!
//! ```text
//! cargo run --example configured --features config
//! ```
//!
//! The example writes `breakers.toml` to a temporary directory and runs itself again as a
//! child process with two `BREAKER_*` variables in its environment (this workspace forbids
//! `unsafe` code, and setting a variable of the running process is `unsafe` in Rust 2024,
//! so the override comes the way an operator's would: from the environment the process
//! starts with). The child loads the file and the environment, shows which value won for
//! each setting, trips a breaker, reconfigures it live and shows the new settings in
//! force. Every step is checked; a wrong one exits non-zero.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_breaker::{
    BreakerError, Cause, State, StateChange, TripPolicy, circuit_breaker, config, registry,
};

/// Set in the child's environment, so that it knows it is the child.
const CHILD: &str = "CONFIGURED_EXAMPLE_CHILD";

/// What an operator sets for this deployment: `pricing` trips after 2 failures here (the
/// file says 4), and the default-named stock breaker gets a 250 ms deadline (its attribute
/// says 1 s). `configured::fetch_stock` becomes `CONFIGURED__FETCH_STOCK`.
const ENVIRONMENT: [(&str, &str); 2] = [
    ("BREAKER_PRICING_CONSECUTIVE_FAILURES", "2"),
    ("BREAKER_CONFIGURED__FETCH_STOCK_TIMEOUT", "250ms"),
];

const FILE: &str = r#"
# Fills what the code leaves unset, for every breaker.
[defaults]
reset_timeout = "45s"

# Wins over the attribute of the breaker named "pricing".
[breakers."pricing"]
timeout = "3s"
consecutive_failures = 4
"#;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

#[derive(Debug, thiserror::Error)]
enum ShopError {
    #[error(transparent)]
    Breaker(#[from] BreakerError),
    #[error("pricing service answered 503")]
    Unavailable,
}

#[circuit_breaker(name = "pricing", timeout = "2s", consecutive_failures = 5)]
async fn fetch_price(up: bool) -> Result<u64, ShopError> {
    if up {
        Ok(1999)
    } else {
        Err(ShopError::Unavailable)
    }
}

#[circuit_breaker(timeout = "1s")]
async fn fetch_stock(delay: Duration) -> Result<u32, ShopError> {
    tokio::time::sleep(delay).await;
    Ok(42)
}

fn main() -> ExitCode {
    let outcome = if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Into::into)
            .and_then(|rt| rt.block_on(child()))
    } else {
        parent()
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("configured: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs this example again with the operator's environment.
fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let mut child = std::process::Command::new(std::env::current_exe()?);
    child.env(CHILD, "1");
    for (var, value) in ENVIRONMENT {
        println!("environment: {var}={value}");
        child.env(var, value);
    }
    let status = child.status()?;
    check!(status.success(), "the configured process failed: {status}");
    Ok(())
}

async fn child() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Load the file and the environment at start-up, before the first call.
    let dir = std::env::temp_dir().join(format!("configured-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("breakers.toml");
    std::fs::write(&path, FILE)?;
    let from_file = config::load_file(&path)?;
    let from_env = config::load_env()?;
    std::fs::remove_dir_all(&dir)?;
    println!("loaded {}: {:?}", path.display(), from_file.names);
    println!("loaded the environment: {:?}", from_env.names);

    // 2. The first calls make the breakers, with the loaded settings over the attributes'.
    check!(fetch_price(true).await? == 1999, "a healthy price");
    check!(
        fetch_stock(Duration::ZERO).await? == 42,
        "a healthy stock level"
    );
    let pricing = registry::get("pricing").ok_or("the pricing breaker exists")?;
    let stock = registry::get("configured::fetch_stock").ok_or("the stock breaker exists")?;
    let p = pricing.settings();
    let s = stock.settings();
    println!(
        "pricing: timeout {:?} (attribute 2s, file 3s), trip {:?} (attribute 5, file 4, environment 2), reset_timeout {:?} ([defaults])",
        p.timeout, p.trip_policy, p.reset_timeout
    );
    println!(
        "configured::fetch_stock: timeout {:?} (attribute 1s, environment 250ms), reset_timeout {:?} ([defaults])",
        s.timeout, s.reset_timeout
    );
    check!(
        p.timeout == Some(Duration::from_secs(3)),
        "the file wins over the attribute"
    );
    check!(
        matches!(p.trip_policy, TripPolicy::ConsecutiveFailures(2)),
        "the environment wins over the file"
    );
    check!(
        p.reset_timeout == Duration::from_secs(45),
        "[defaults] fills what the attribute left unset"
    );
    check!(
        s.timeout == Some(Duration::from_millis(250)),
        "the environment wins over the attribute"
    );
    check!(
        config::validate().is_ok(),
        "every configured name has its breaker"
    );

    // 3. The values take effect: a 500 ms stock lookup now times out at 250 ms, and two
    //    failures (not five) open the pricing breaker.
    let slow = fetch_stock(Duration::from_millis(500)).await;
    println!("a 500ms stock lookup: {slow:?}");
    check!(
        matches!(slow, Err(ShopError::Breaker(BreakerError::Timeout { .. }))),
        "the 250ms deadline applies"
    );
    for _ in 0..2 {
        let _ = fetch_price(false).await;
    }
    println!("after two failures, pricing is {}", pricing.state());
    check!(pricing.state() == State::Open, "two failures trip it");
    check!(
        pricing.retry_after() > Some(Duration::from_secs(40)),
        "open for the configured 45s"
    );

    // 4. During the incident: the pricing service is back, and nobody wants to wait 45s.
    //    Reconfigure live: a short reset_timeout, counted afresh from now.
    let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let log = Arc::clone(&seen);
    let listener = registry::on_state_change(move |change| {
        if change.name == "pricing" {
            log.lock().unwrap().push(change.clone());
        }
    });
    let mut settings = pricing.settings();
    settings.reset_timeout = Duration::from_millis(100);
    let changed = registry::reconfigure("pricing", settings)?;
    println!(
        "reconfigured {changed} breaker: reset_timeout 100ms, retry after {:?}",
        pricing.retry_after()
    );
    check!(changed == 1, "one breaker named pricing");
    check!(
        pricing.retry_after() <= Some(Duration::from_millis(100)),
        "the new period counts from the reconfiguration"
    );
    // Invalid settings are refused and change nothing.
    let mut bad = settings;
    bad.max_requests = 0;
    let refused = pricing.reconfigure(bad);
    println!("max_requests = 0: {refused:?}");
    check!(refused.is_err(), "invalid settings are refused");
    check!(pricing.settings().max_requests == 1, "and change nothing");
    tokio::time::sleep(Duration::from_millis(150)).await;
    check!(
        fetch_price(true).await? == 1999,
        "the probe goes through after 100ms"
    );
    check!(pricing.state() == State::Closed, "and closes the breaker");
    registry::remove_listener(listener);
    let causes: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to, c.cause))
        .collect();
    println!("pricing's changes since: {causes:?}");
    check!(
        causes.first() == Some(&(State::Open, State::Open, Cause::Reconfigured)),
        "listeners hear the reconfiguration: {causes:?}"
    );

    // 5. A mistake in a file is an error that names it, and applies nothing.
    let typo = config::load_str("typo.toml", "[breakers.\"pricing\"]\ntimout = \"1s\"\n");
    match typo {
        Err(e) => {
            println!("a typo: {e}");
            check!(
                e.to_string().contains("did you mean `timeout`"),
                "the error suggests the key"
            );
        }
        Ok(_) => check!(false, "a typo must be an error"),
    }

    println!("configured: every check passed");
    Ok(())
}
