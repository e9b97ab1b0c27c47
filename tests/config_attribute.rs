//! The attribute's breakers take the loaded configuration: the file's table of their name
//! and the environment's variables over the attribute's keys, `[defaults]` under them.
//! Loaded before the first call of each function, which makes its breaker.

use std::time::Duration;

use async_breaker::{
    Backoff, BreakerError, Jitter, TripPolicy, Window, circuit_breaker, config, registry,
};

#[circuit_breaker(name = "cfg_attr.named", timeout = "2s", consecutive_failures = 5)]
async fn named() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(timeout = "1s", max_requests = 2)]
async fn default_named() -> Result<(), BreakerError> {
    Ok(())
}

#[circuit_breaker(
    name = "cfg_attr.windowed",
    window = "1m",
    slow_call = "1s",
    jitter = "full",
    backoff = 2.0,
    max_reset_timeout = "10m"
)]
async fn windowed() -> Result<(), BreakerError> {
    Ok(())
}

#[tokio::test]
async fn attribute_breakers_take_the_file_and_the_environment_over_their_keys() {
    config::load_str(
        "attribute.toml",
        r#"
        [breakers."cfg_attr.named"]
        timeout = "3s"

        [breakers."config_attribute::default_named"]
        max_requests = 4
        "#,
    )
    .unwrap();
    config::load_vars([
        ("BREAKER_CFG_ATTR_NAMED_CONSECUTIVE_FAILURES", "2"),
        ("BREAKER_CONFIG_ATTRIBUTE__DEFAULT_NAMED_TIMEOUT", "250ms"),
    ])
    .unwrap();
    named().await.unwrap();
    default_named().await.unwrap();

    let s = registry::get("cfg_attr.named").unwrap().settings();
    assert_eq!(
        s.timeout,
        Some(Duration::from_secs(3)),
        "the file over the key"
    );
    assert!(
        matches!(s.trip_policy, TripPolicy::ConsecutiveFailures(2)),
        "the environment over the key"
    );
    let s = registry::get("config_attribute::default_named")
        .unwrap()
        .settings();
    assert_eq!(s.max_requests, 4);
    assert_eq!(s.timeout, Some(Duration::from_millis(250)));

    // The window, slow-call and backoff keys the same way. (One test: `validate` would see
    // the names of another test's configuration before it made their breakers.)
    config::load_str(
        "attribute-windows.toml",
        r#"
        [breakers."cfg_attr.windowed"]
        window_calls = 10
        slow_call = "2s"
        "#,
    )
    .unwrap();
    config::load_vars([("BREAKER_CFG_ATTR_WINDOWED_JITTER", "equal")]).unwrap();
    windowed().await.unwrap();
    let s = registry::get("cfg_attr.windowed").unwrap().settings();
    assert_eq!(
        s.window,
        Window::Calls { calls: 10 },
        "the file's window over the key's"
    );
    assert_eq!(s.slow_call, Some(Duration::from_secs(2)));
    assert_eq!(s.jitter, Jitter::Equal, "the environment over the key");
    assert_eq!(
        s.backoff,
        Some(Backoff {
            factor: 2.0,
            max_reset_timeout: Duration::from_secs(600)
        }),
        "the key where the configuration says nothing"
    );
    assert!(config::validate().is_ok(), "{:?}", config::validate());
}
