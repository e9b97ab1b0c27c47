//! Settings from a file and the environment: precedence, keyed sets, and every error path.
//!
//! The loaded configuration is process-wide: each test uses names of its own, and none
//! loads a `[defaults]` table that another test's assertions depend on.

use std::time::Duration;

use breaker_runtime::config::{self, ConfigError, PartialSettings};
use breaker_runtime::{
    Backoff, BuildError, CircuitBreaker, Jitter, KeyedBreakers, Settings, SlowCallRatio,
    TripPolicy, Window,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_breakers_table_overrides_the_code_and_leaves_the_rest() {
    config::load_str(
        "a.toml",
        r#"
        [breakers."cfg-file"]
        timeout = "1m 30s"
        consecutive_failures = 9
        "#,
    )
    .unwrap();
    let b = CircuitBreaker::builder("cfg-file")
        .timeout(secs(2))
        .max_requests(3)
        .build()
        .unwrap();
    let s = b.settings();
    assert_eq!(s.timeout, Some(secs(90)));
    assert!(matches!(s.trip_policy, TripPolicy::ConsecutiveFailures(9)));
    assert_eq!(
        s.max_requests, 3,
        "the code's value where the file says nothing"
    );
}

#[test]
fn defaults_fill_only_what_the_code_left_unset() {
    // `interval` is asserted by no other test of this file.
    config::load_str("defaults.toml", "[defaults]\ninterval = \"7m\"\n").unwrap();
    let unset = CircuitBreaker::builder("cfg-defaults-unset")
        .build()
        .unwrap();
    assert_eq!(unset.settings().interval(), Some(secs(420)));
    let set = CircuitBreaker::builder("cfg-defaults-set")
        .interval(secs(5))
        .build()
        .unwrap();
    assert_eq!(
        set.settings().interval(),
        Some(secs(5)),
        "the code wins over [defaults]"
    );
}

#[test]
fn the_environment_wins_over_the_file_whatever_the_load_order() {
    config::load_str("p.toml", "[breakers.\"cfg-prec-a\"]\ntimeout = \"3s\"\n").unwrap();
    config::load_vars([("BREAKER_CFG_PREC_A_TIMEOUT", "4s")]).unwrap();
    config::load_vars([("BREAKER_CFG_PREC_B_TIMEOUT", "4s")]).unwrap();
    config::load_str("p.toml", "[breakers.\"cfg-prec-b\"]\ntimeout = \"3s\"\n").unwrap();
    for name in ["cfg-prec-a", "cfg-prec-b"] {
        let b = CircuitBreaker::builder(name)
            .timeout(secs(1))
            .build()
            .unwrap();
        assert_eq!(b.settings().timeout, Some(secs(4)), "{name}");
    }
}

#[test]
fn default_attribute_names_map_to_variables_with_double_underscores() {
    assert_eq!(
        config::env_name("my_app::client::fetch_price"),
        "MY_APP__CLIENT__FETCH_PRICE"
    );
    let loaded = config::load_vars([
        ("BREAKER_MY_APP__CLIENT__FETCH_PRICE_MAX_REQUESTS", "7"),
        ("BREAKER_MY_APP__CLIENT__FETCH_PRICE_RESET_TIMEOUT", "250ms"),
        ("PATH", "ignored: not a BREAKER_ variable"),
    ])
    .unwrap();
    assert_eq!(loaded.names, ["MY_APP__CLIENT__FETCH_PRICE"]);
    let b = CircuitBreaker::builder("my_app::client::fetch_price")
        .build()
        .unwrap();
    assert_eq!(b.settings().max_requests, 7);
    assert_eq!(b.settings().reset_timeout, Duration::from_millis(250));
}

#[test]
fn a_keyed_set_takes_its_names_settings() {
    config::load_str(
        "k.toml",
        "[breakers.\"cfg-keyed\"]\nmax_requests = 3\nfailure_ratio = 0.5\nmin_requests = 10\n",
    )
    .unwrap();
    let set: KeyedBreakers<String> =
        KeyedBreakers::new(CircuitBreaker::builder("cfg-keyed")).unwrap();
    let host = set.get("10.0.0.7");
    assert_eq!(host.name(), "cfg-keyed[10.0.0.7]");
    assert_eq!(host.settings().max_requests, 3);
    assert!(matches!(
        host.settings().trip_policy,
        TripPolicy::FailureRatio { ratio, min_requests: 10 } if ratio == 0.5
    ));
}

#[test]
fn shared_breakers_compare_their_configured_settings() {
    config::load_str("s.toml", "[breakers.\"cfg-shared\"]\ntimeout = \"9s\"\n").unwrap();
    let a = CircuitBreaker::builder("cfg-shared")
        .build_shared()
        .unwrap();
    let b = CircuitBreaker::builder("cfg-shared")
        .build_shared()
        .unwrap();
    b.force_open();
    assert!(a.is_forced(), "one breaker");
    assert_eq!(a.settings().timeout, Some(secs(9)));
}

#[test]
fn a_breaker_built_before_the_load_is_reported_and_keeps_its_values() {
    let early = CircuitBreaker::builder("cfg-early").build().unwrap();
    let loaded =
        config::load_str("late.toml", "[breakers.\"cfg-early\"]\nmax_requests = 5\n").unwrap();
    assert!(
        loaded.already_built.iter().any(|n| n == "cfg-early"),
        "{loaded:?}"
    );
    assert_eq!(early.settings().max_requests, 1, "left on its values");
    let later = CircuitBreaker::builder("cfg-early").build().unwrap();
    assert_eq!(later.settings().max_requests, 5);
    // A load that would not change it does not report it.
    let loaded = config::load_str(
        "late.toml",
        "[breakers.\"cfg-early-other\"]\nmax_requests = 5\n",
    )
    .unwrap();
    assert!(!loaded.already_built.iter().any(|n| n == "cfg-early"));
}

#[test]
fn validate_reports_a_name_no_breaker_has_with_the_closest_one() {
    config::load_str(
        "names.toml",
        "[breakers.\"cfg-validate-pricng\"]\ntimeout = \"1s\"\n",
    )
    .unwrap();
    config::load_vars([("BREAKER_CFG_VALIDATE_INVENTORI_TIMEOUT", "1s")]).unwrap();
    let _pricing = CircuitBreaker::builder("cfg-validate-pricing")
        .build()
        .unwrap();
    let _inventory = CircuitBreaker::builder("cfg-validate-inventory")
        .build()
        .unwrap();
    let errors = config::validate().unwrap_err();
    let file = errors
        .iter()
        .find(|e| e.breaker.as_deref() == Some("cfg-validate-pricng"))
        .expect("the misspelt name is reported");
    assert_eq!(file.origin, "names.toml");
    assert!(
        file.problem
            .contains("did you mean \"cfg-validate-pricing\""),
        "{file}"
    );
    let env = errors
        .iter()
        .find(|e| e.breaker.as_deref() == Some("CFG_VALIDATE_INVENTORI"))
        .expect("the misspelt variable is reported");
    assert_eq!(
        env.origin,
        "environment variable BREAKER_CFG_VALIDATE_INVENTORI_TIMEOUT"
    );
    assert!(env.problem.contains("cfg-validate-inventory"), "{env}");
}

fn file_error(text: &str) -> ConfigError {
    config::load_str("bad.toml", text).unwrap_err()
}

#[test]
fn a_syntax_error_names_the_file() {
    let e = file_error("[breakers.\"cfg-syntax\"\ntimeout = 2s\n");
    assert_eq!(e.origin, "bad.toml");
    assert!(e.problem.contains("not valid TOML"), "{e}");
    assert!(e.to_string().starts_with("bad.toml: "), "{e}");
}

#[test]
fn an_unknown_key_names_the_breaker_and_suggests_the_right_one() {
    let e = file_error("[breakers.\"cfg-typo\"]\ntimout = \"2s\"\n");
    assert_eq!(e.breaker.as_deref(), Some("cfg-typo"));
    assert_eq!(e.key.as_deref(), Some("timout"));
    assert!(e.problem.contains("did you mean `timeout`?"), "{e}");
    assert_eq!(
        e.to_string(),
        "bad.toml: breaker \"cfg-typo\": key `timout`: unknown key; did you mean `timeout`?"
    );
    let e = file_error("[defaults]\nmax_request = 2\n");
    assert_eq!(e.key.as_deref(), Some("defaults.max_request"));
    assert!(e.problem.contains("`max_requests`"), "{e}");
    let e = file_error("[breaker.\"cfg-typo\"]\ntimeout = \"2s\"\n");
    assert!(e.problem.contains("did you mean `breakers`?"), "{e}");
    let e = file_error("timeout = \"2s\"\n");
    assert!(e.problem.contains("settings go in a table"), "{e}");
}

#[test]
fn bad_values_say_what_is_wrong() {
    for (text, key, says) in [
        ("timeout = \"2 parsecs\"", "timeout", "is not a duration"),
        ("timeout = 2", "timeout", "written as a string like \"2s\""),
        (
            "reset_timeout = \"0s\"",
            "reset_timeout",
            "longer than zero",
        ),
        ("max_requests = 0", "max_requests", "at least 1"),
        ("max_requests = 5000000000", "max_requests", "at most"),
        ("max_requests = \"3\"", "max_requests", "whole number"),
        (
            "failure_ratio = 1.5\nmin_requests = 3",
            "failure_ratio",
            "(0, 1]",
        ),
        ("failure_ratio = 0.5", "failure_ratio", "needs min_requests"),
        (
            "min_requests = 5",
            "min_requests",
            "goes with failure_ratio",
        ),
        (
            "consecutive_failures = 3\nfailure_ratio = 0.5\nmin_requests = 2",
            "consecutive_failures",
            "one or the other",
        ),
    ] {
        let e = file_error(&format!("[breakers.\"cfg-bad\"]\n{text}\n"));
        assert_eq!(e.breaker.as_deref(), Some("cfg-bad"), "{text}");
        assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
        assert!(e.problem.contains(says), "{text}: {e}");
    }
}

#[test]
fn a_file_with_any_error_applies_nothing() {
    let e = file_error(
        "[breakers.\"cfg-all-or-nothing\"]\nmax_requests = 4\n\n[breakers.\"cfg-other\"]\nmax_requests = 0\n",
    );
    assert_eq!(e.breaker.as_deref(), Some("cfg-other"));
    let b = CircuitBreaker::builder("cfg-all-or-nothing")
        .build()
        .unwrap();
    assert_eq!(
        b.settings().max_requests,
        1,
        "the good table was not applied"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e = config::load_file("/nonexistent/breakers.toml").unwrap_err();
    assert_eq!(e.origin, "/nonexistent/breakers.toml");
    assert!(e.problem.contains("cannot be read"), "{e}");
}

#[test]
fn a_file_on_disk_loads() {
    let dir = std::env::temp_dir().join(format!("breaker-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("breakers.toml");
    std::fs::write(&path, "[breakers.\"cfg-disk\"]\nreset_timeout = \"45s\"\n").unwrap();
    let loaded = config::load_file(&path).unwrap();
    assert_eq!(loaded.names, ["cfg-disk"]);
    let b = CircuitBreaker::builder("cfg-disk").build().unwrap();
    assert_eq!(b.settings().reset_timeout, secs(45));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_variables_name_the_variable_the_breaker_and_the_key() {
    let e = config::load_vars([("BREAKER_CFG_ENV_TIMEOT", "2s")]).unwrap_err();
    assert_eq!(e.origin, "environment variable BREAKER_CFG_ENV_TIMEOT");
    assert!(
        e.problem.contains("did you mean BREAKER_CFG_ENV_TIMEOUT?"),
        "{e}"
    );
    let e = config::load_vars([("BREAKER_CFG_ENV_MAX_REQUESTS", "three")]).unwrap_err();
    assert_eq!(e.breaker.as_deref(), Some("CFG_ENV"));
    assert_eq!(e.key.as_deref(), Some("max_requests"));
    assert!(e.problem.contains("whole number"), "{e}");
    let e = config::load_vars([("BREAKER_CFG_ENV_FAILURE_RATIO", "0.5")]).unwrap_err();
    assert!(e.problem.contains("needs min_requests"), "{e}");
    // One bad variable applies none of the others.
    let e = config::load_vars([
        ("BREAKER_CFG_ENV_GOOD_MAX_REQUESTS", "6"),
        ("BREAKER_CFG_ENV_BAD_INTERVAL", "soon"),
    ])
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("interval"));
    let b = CircuitBreaker::builder("cfg-env-good").build().unwrap();
    assert_eq!(b.settings().max_requests, 1);
}

#[test]
fn partial_settings_parse_alone_and_apply_over_settings() {
    let p: PartialSettings = "timeout = \"1m 30s\"\nconsecutive_failures = 2"
        .parse()
        .unwrap();
    let s = p.apply(Settings::default());
    assert_eq!(s.timeout, Some(secs(90)));
    assert!(matches!(s.trip_policy, TripPolicy::ConsecutiveFailures(2)));
    let e = "timeuot = \"1s\"".parse::<PartialSettings>().unwrap_err();
    assert!(e.to_string().contains("did you mean `timeout`"), "{e}");
}

#[test]
fn the_window_slow_call_and_backoff_keys_come_from_a_breakers_table() {
    config::load_str(
        "new.toml",
        r#"
        [breakers."cfg-new-keys"]
        timeout = "2s"
        window = "1m"
        buckets = 12
        slow_call = "1s"
        slow_call_ratio = 0.5
        min_requests = 10
        backoff = 2.0
        max_reset_timeout = "10m"
        jitter = "full"
        "#,
    )
    .unwrap();
    let s = CircuitBreaker::builder("cfg-new-keys")
        .build()
        .unwrap()
        .settings();
    assert_eq!(
        s.window,
        Window::Rolling {
            length: secs(60),
            buckets: 12
        }
    );
    assert_eq!(s.slow_call, Some(secs(1)));
    assert_eq!(
        s.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.5,
            min_requests: 10
        })
    );
    assert!(
        matches!(s.trip_policy, TripPolicy::ConsecutiveFailures(5)),
        "min_requests beside slow_call_ratio alone leaves the trip policy: {:?}",
        s.trip_policy
    );
    assert_eq!(
        s.backoff,
        Some(Backoff {
            factor: 2.0,
            max_reset_timeout: secs(600)
        })
    );
    assert_eq!(s.jitter, Jitter::Full);
}

#[test]
fn min_requests_goes_to_both_ratios_and_a_window_alone_has_ten_buckets() {
    config::load_str(
        "ratios.toml",
        r#"
        [breakers."cfg-both-ratios"]
        window_calls = 100
        failure_ratio = 0.5
        slow_call = "1s"
        slow_call_ratio = 0.25
        min_requests = 20

        [breakers."cfg-ten-buckets"]
        window = "30s"
        "#,
    )
    .unwrap();
    let s = CircuitBreaker::builder("cfg-both-ratios")
        .build()
        .unwrap()
        .settings();
    assert_eq!(s.window, Window::Calls { calls: 100 });
    assert!(matches!(
        s.trip_policy,
        TripPolicy::FailureRatio { ratio, min_requests: 20 } if ratio == 0.5
    ));
    assert_eq!(
        s.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.25,
            min_requests: 20
        })
    );
    let s = CircuitBreaker::builder("cfg-ten-buckets")
        .build()
        .unwrap()
        .settings();
    assert_eq!(s.window, Window::rolling(secs(30)));
    assert_eq!(
        Window::rolling(secs(30)),
        Window::Rolling {
            length: secs(30),
            buckets: 10
        }
    );
}

#[test]
fn the_window_slow_call_and_backoff_keys_come_from_the_environment() {
    config::load_vars([
        ("BREAKER_CFG_ENV_NEW_WINDOW", "30s"),
        ("BREAKER_CFG_ENV_NEW_BUCKETS", "6"),
        ("BREAKER_CFG_ENV_NEW_SLOW_CALL", "500ms"),
        ("BREAKER_CFG_ENV_NEW_SLOW_CALL_RATIO", "0.5"),
        ("BREAKER_CFG_ENV_NEW_MIN_REQUESTS", "4"),
        ("BREAKER_CFG_ENV_NEW_BACKOFF", "1.5"),
        ("BREAKER_CFG_ENV_NEW_MAX_RESET_TIMEOUT", "5m"),
        ("BREAKER_CFG_ENV_NEW_JITTER", "equal"),
        ("BREAKER_CFG_ENV_CALLS_WINDOW_CALLS", "50"),
    ])
    .unwrap();
    let s = CircuitBreaker::builder("cfg-env-new")
        .interval(secs(5))
        .jitter(Jitter::Full)
        .build()
        .unwrap()
        .settings();
    assert_eq!(
        s.window,
        Window::Rolling {
            length: secs(30),
            buckets: 6
        },
        "the environment replaces the code's window"
    );
    assert_eq!(s.slow_call, Some(Duration::from_millis(500)));
    assert_eq!(
        s.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.5,
            min_requests: 4
        })
    );
    assert_eq!(
        s.backoff,
        Some(Backoff {
            factor: 1.5,
            max_reset_timeout: secs(300)
        })
    );
    assert_eq!(s.jitter, Jitter::Equal, "the environment over the code");
    let s = CircuitBreaker::builder("cfg-env-calls")
        .build()
        .unwrap()
        .settings();
    assert_eq!(s.window, Window::Calls { calls: 50 });
}

#[test]
fn the_window_is_replaced_whole_by_each_layer() {
    config::load_str(
        "w.toml",
        r#"
        [breakers."cfg-window-layers"]
        window = "1m"
        buckets = 12

        [breakers."cfg-window-interval"]
        interval = "45s"
        "#,
    )
    .unwrap();
    config::load_vars([("BREAKER_CFG_WINDOW_LAYERS_WINDOW_CALLS", "25")]).unwrap();
    let s = CircuitBreaker::builder("cfg-window-layers")
        .build()
        .unwrap()
        .settings();
    assert_eq!(
        s.window,
        Window::Calls { calls: 25 },
        "the environment's count window over the file's rolling one"
    );
    let s = CircuitBreaker::builder("cfg-window-interval")
        .window(Window::Calls { calls: 9 })
        .build()
        .unwrap()
        .settings();
    assert_eq!(
        s.window,
        Window::Fixed {
            interval: Some(secs(45))
        },
        "the file's interval over the code's count window"
    );
}

#[test]
fn settings_that_only_together_with_the_code_are_invalid_fail_the_build() {
    config::load_str(
        "layers.toml",
        r#"
        [breakers."cfg-slow-over-timeout"]
        slow_call = "5s"

        [breakers."cfg-ratio-beside-code"]
        slow_call_ratio = 0.5
        min_requests = 3
        "#,
    )
    .unwrap();
    let e = CircuitBreaker::builder("cfg-slow-over-timeout")
        .timeout(secs(2))
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        BuildError::SlowCallNotBelowTimeout {
            slow_call: secs(5),
            timeout: secs(2)
        }
    );
    let e = CircuitBreaker::builder("cfg-ratio-beside-code")
        .build()
        .unwrap_err();
    assert_eq!(e, BuildError::SlowCallRatioWithoutSlowCall);
    let s = CircuitBreaker::builder("cfg-ratio-beside-code")
        .slow_call(secs(1))
        .build()
        .unwrap()
        .settings();
    assert_eq!(s.slow_call, Some(secs(1)), "the code's slow_call");
    assert_eq!(
        s.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.5,
            min_requests: 3
        }),
        "the file's ratio beside it"
    );
}

#[test]
fn bad_window_slow_call_and_backoff_values_say_what_is_wrong() {
    for (text, key, says) in [
        ("buckets = 6", "buckets", "goes with window"),
        (
            "interval = \"1m\"\nwindow = \"1m\"",
            "window",
            "as interval does",
        ),
        (
            "window = \"1m\"\nwindow_calls = 10",
            "window_calls",
            "as window does",
        ),
        (
            "interval = \"1m\"\nwindow_calls = 10",
            "window_calls",
            "give one of interval",
        ),
        ("window = \"0s\"", "window", "longer than zero"),
        ("window = \"1m\"\nbuckets = 0", "buckets", "at least 1"),
        ("window_calls = 0", "window_calls", "at least 1"),
        (
            "window = \"1h\"\nbuckets = 2000",
            "buckets",
            "at most 1024 buckets, got 2000",
        ),
        (
            "window_calls = 70000",
            "window_calls",
            "at most 65536 calls, got 70000",
        ),
        (
            "window = \"1001ms\"",
            "window",
            "does not split into 10 buckets of whole milliseconds",
        ),
        (
            "window = \"1s\"\nbuckets = 3",
            "window",
            "does not split into 3 buckets",
        ),
        (
            "timeout = \"2s\"\nslow_call = \"2s\"",
            "slow_call",
            "must be below timeout",
        ),
        ("slow_call = \"0ms\"", "slow_call", "longer than zero"),
        (
            "slow_call_ratio = 1.5\nmin_requests = 3",
            "slow_call_ratio",
            "(0, 1], got 1.5",
        ),
        (
            "slow_call_ratio = 0.5",
            "slow_call_ratio",
            "needs min_requests",
        ),
        (
            "backoff = 0.5\nmax_reset_timeout = \"1h\"",
            "backoff",
            "at least 1.0, got 0.5",
        ),
        (
            "backoff = inf\nmax_reset_timeout = \"1h\"",
            "backoff",
            "finite factor",
        ),
        (
            "backoff = \"2\"\nmax_reset_timeout = \"1h\"",
            "backoff",
            "must be a number",
        ),
        ("backoff = 2.0", "backoff", "needs max_reset_timeout"),
        (
            "max_reset_timeout = \"1h\"",
            "max_reset_timeout",
            "goes with backoff",
        ),
        (
            "reset_timeout = \"2m\"\nbackoff = 2.0\nmax_reset_timeout = \"1m\"",
            "max_reset_timeout",
            "must be at least reset_timeout",
        ),
        (
            "jitter = \"half\"",
            "jitter",
            "unknown jitter \"half\"; use \"none\", \"full\" or \"equal\"",
        ),
        ("jitter = 1", "jitter", "must be a string"),
    ] {
        let e = file_error(&format!("[breakers.\"cfg-bad-new\"]\n{text}\n"));
        assert_eq!(e.origin, "bad.toml", "{text}");
        assert_eq!(e.breaker.as_deref(), Some("cfg-bad-new"), "{text}");
        assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
        assert!(e.problem.contains(says), "{text}: {e}");
    }
    let e = file_error("[defaults]\njitter = \"ful\"\n");
    assert_eq!(e.key.as_deref(), Some("defaults.jitter"), "{e}");
    let e = file_error("[breakers.\"cfg-bad-new\"]\nwindw = \"1m\"\n");
    assert!(e.problem.contains("did you mean `window`?"), "{e}");
    let e = file_error("[breakers.\"cfg-bad-new\"]\nretries = 3\n");
    for key in [
        "window",
        "buckets",
        "window_calls",
        "slow_call",
        "slow_call_ratio",
        "backoff",
        "max_reset_timeout",
        "jitter",
    ] {
        assert!(e.problem.contains(key), "{key}: {e}");
    }
    let b = CircuitBreaker::builder("cfg-bad-new").build().unwrap();
    assert_eq!(b.settings().jitter, Jitter::None, "nothing was applied");
}

#[test]
fn bad_new_variables_name_the_variable_the_breaker_and_the_key() {
    let e = config::load_vars([("BREAKER_CFG_ENV_BAD_NEW_JITTER", "half")]).unwrap_err();
    assert_eq!(
        e.origin,
        "environment variable BREAKER_CFG_ENV_BAD_NEW_JITTER"
    );
    assert_eq!(e.breaker.as_deref(), Some("CFG_ENV_BAD_NEW"));
    assert_eq!(e.key.as_deref(), Some("jitter"));
    assert!(e.problem.contains("\"equal\""), "{e}");
    let e = config::load_vars([("BREAKER_CFG_ENV_BAD_NEW_BUCKETS", "6")]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("buckets"));
    assert!(e.problem.contains("goes with window"), "{e}");
    // A problem between two variables names the variable of the key it is about.
    let e = config::load_vars([
        ("BREAKER_CFG_ENV_BAD_NEW_RESET_TIMEOUT", "2m"),
        ("BREAKER_CFG_ENV_BAD_NEW_BACKOFF", "2"),
        ("BREAKER_CFG_ENV_BAD_NEW_MAX_RESET_TIMEOUT", "1m"),
    ])
    .unwrap_err();
    assert_eq!(
        e.origin,
        "environment variable BREAKER_CFG_ENV_BAD_NEW_MAX_RESET_TIMEOUT"
    );
    assert_eq!(e.key.as_deref(), Some("max_reset_timeout"));
    assert!(e.problem.contains("must be at least reset_timeout"), "{e}");
    let e = config::load_vars([("BREAKER_CFG_ENV_BAD_NEW_WINDOW", "1001ms")]).unwrap_err();
    assert_eq!(
        e.origin,
        "environment variable BREAKER_CFG_ENV_BAD_NEW_WINDOW"
    );
    assert!(e.problem.contains("does not split"), "{e}");
    let e = config::load_vars([("BREAKER_CFG_ENV_BAD_NEW_SLOW_CALL_RATI", "0.5")]).unwrap_err();
    assert!(
        e.problem
            .contains("did you mean BREAKER_CFG_ENV_BAD_NEW_SLOW_CALL_RATIO?"),
        "{e}"
    );
    let b = CircuitBreaker::builder("cfg-env-bad-new").build().unwrap();
    assert_eq!(b.settings().backoff, None, "nothing was applied");
}

#[test]
fn partial_settings_carry_the_new_keys_as_settings() {
    let p: PartialSettings = "window_calls = 10\nslow_call = \"1s\"\nslow_call_ratio = 0.5\n\
                              min_requests = 2\nbackoff = 3\nmax_reset_timeout = \"1h\"\n\
                              jitter = \"equal\""
        .parse()
        .unwrap();
    assert_eq!(p.window, Some(Window::Calls { calls: 10 }));
    assert_eq!(p.interval, None);
    assert_eq!(
        p.slow_call_ratio,
        Some(SlowCallRatio {
            ratio: 0.5,
            min_requests: 2
        })
    );
    assert_eq!(p.min_requests, None, "only the slow-call ratio's");
    assert_eq!(
        p.backoff,
        Some(Backoff {
            factor: 3.0,
            max_reset_timeout: secs(3600)
        })
    );
    assert_eq!(p.jitter, Some(Jitter::Equal));
    let s = p.apply(Settings::default());
    assert_eq!(s.window, Window::Calls { calls: 10 });
    assert_eq!(s.slow_call, Some(secs(1)));
    assert_eq!(s.jitter, Jitter::Equal);
    assert_eq!(s.validate(), Ok(()));
}

proptest::proptest! {
    /// Loading never panics, whatever the text or the variables: it applies or it is an
    /// error. (The file's table and the variables name breakers no test makes.)
    #[test]
    fn loading_never_panics(text in "\\PC{0,80}", key in "[A-Z_]{0,24}", value in "\\PC{0,12}") {
        let _ = text.parse::<PartialSettings>();
        let _ = config::load_str("prop.toml", &format!("[breakers.\"cfg-prop\"]\n{text}"));
        let _ = config::load_vars([(format!("BREAKER_CFGPROP_{key}"), value)]);
    }
}
