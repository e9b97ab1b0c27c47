//! Settings from a file and the environment: precedence, keyed sets, and every error path.
//!
//! The loaded configuration is process-wide: each test uses names of its own, and none
//! loads a `[defaults]` table that another test's assertions depend on.

use std::time::Duration;

use breaker_runtime::config::{self, ConfigError, PartialSettings};
use breaker_runtime::{CircuitBreaker, KeyedBreakers, Settings, TripPolicy};

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
