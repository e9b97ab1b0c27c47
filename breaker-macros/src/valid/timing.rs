//! The checks of the keys about time beyond the deadline: the window (`interval`, `window`
//! with `buckets`, `window_calls`), slow calls (`slow_call`, `slow_call_ratio`) and the open
//! period (`backoff`, `max_reset_timeout`, `jitter`). Where two literal durations must
//! compare (`slow_call` below `timeout`, `max_reset_timeout` at least `reset_timeout`), they
//! are compared here; expressions are left to the builder.

use std::time::Duration;

use proc_macro2::Span;
use syn::LitInt;

use super::{DurationSetting, at_least_one, duration, ratio};
use crate::attr::{Arg, Args, Number};
use crate::errors::Errors;

/// What the counts of the closed breaker cover, when a window key is given.
pub(crate) enum WindowSetting {
    /// `interval`: the counts start over every interval.
    Fixed(DurationSetting),
    /// `window` with `buckets`: the last `length`, in `buckets` buckets.
    Rolling {
        length: DurationSetting,
        buckets: u32,
    },
    /// `window_calls`: the last this many outcomes.
    Calls(u32),
}

/// `jitter = "..."`: how the open period is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JitterSetting {
    None,
    Full,
    Equal,
}

impl JitterSetting {
    /// The runtime's variant of the same name.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            JitterSetting::None => "None",
            JitterSetting::Full => "Full",
            JitterSetting::Equal => "Equal",
        }
    }
}
/// `slow_call_ratio`: in (0, 1], beside a `slow_call`, with the shared `min_requests`.
pub(super) fn slow_call_ratio(
    args: &Args,
    min_requests: Option<u64>,
    errors: &mut Errors,
) -> Option<(f64, u64)> {
    let arg = args.slow_call_ratio.as_ref()?;
    if args.slow_call.is_none() {
        errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`slow_call_ratio` needs `slow_call`: add `slow_call = \"1s\"` (how long a call \
                 takes to count as slow), or remove `slow_call_ratio`",
            ),
        );
    }
    let ratio = ratio("slow_call_ratio", "slow", arg, errors)?;
    Some((ratio, min_requests?))
}

/// `slow_call`: a duration, below a literal `timeout`.
pub(super) fn slow_call(
    args: &mut Args,
    timeout: Option<&DurationSetting>,
    errors: &mut Errors,
) -> Option<DurationSetting> {
    let arg = args.slow_call.take()?;
    let (position, span) = (arg.position, arg.value.span());
    let slow_call = duration("slow_call", arg, errors)?;
    if let (DurationSetting::Fixed(slow), Some(DurationSetting::Fixed(timeout))) =
        (&slow_call, timeout)
        && slow >= timeout
    {
        errors.push(
            position,
            syn::Error::new(
                span,
                format!(
                    "slow_call (\"{}\") must be below timeout (\"{}\"): a call that reaches \
                     the timeout is slow already; lower `slow_call`, or remove it",
                    duration::canonical(slow.as_nanos()),
                    duration::canonical(timeout.as_nanos()),
                ),
            ),
        );
        return None;
    }
    Some(slow_call)
}

/// The reset timeout when none is given (the runtime's default).
const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(60);

/// `backoff` and `max_reset_timeout`: given together, a finite factor of at least 1, and
/// a cap of at least the (literal or default) `reset_timeout`.
pub(super) fn backoff(
    args: &mut Args,
    reset_timeout: Option<&DurationSetting>,
    errors: &mut Errors,
) -> Option<(f64, DurationSetting)> {
    let factor = args.backoff.take();
    let max = args.max_reset_timeout.take();
    match (&factor, &max) {
        (Some(arg), None) => errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`backoff` needs `max_reset_timeout`: add `max_reset_timeout = \"10m\"` (the \
                 longest the open period grows to), or remove `backoff`",
            ),
        ),
        (None, Some(arg)) => errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`max_reset_timeout` caps the open period that `backoff` grows: add \
                 `backoff = 2.0` (the factor per failed probe), or remove `max_reset_timeout`",
            ),
        ),
        _ => {}
    }
    let factor = factor.and_then(|arg| {
        let Number { value, span } = arg.value;
        if value.is_finite() && value >= 1.0 {
            Some(value)
        } else {
            errors.push(
                arg.position,
                syn::Error::new(
                    span,
                    format!(
                        "backoff must be a finite factor of at least 1.0, got {value:?}: each \
                         failed probe multiplies the open period by it, e.g. `backoff = 2.0` \
                         doubles it"
                    ),
                ),
            );
            None
        }
    });
    let max = max.and_then(|arg| {
        let (position, span) = (arg.position, arg.value.span());
        let max = duration("max_reset_timeout", arg, errors)?;
        let reset = match reset_timeout {
            None => Some(DEFAULT_RESET_TIMEOUT),
            Some(DurationSetting::Fixed(d)) => Some(*d),
            Some(DurationSetting::Expr(_)) => None,
        };
        if let (DurationSetting::Fixed(max), Some(reset)) = (&max, reset)
            && *max < reset
        {
            errors.push(
                position,
                syn::Error::new(
                    span,
                    format!(
                        "max_reset_timeout (\"{}\") must be at least reset_timeout (\"{}\"{}): \
                         it caps the open period that starts at reset_timeout",
                        duration::canonical(max.as_nanos()),
                        duration::canonical(reset.as_nanos()),
                        if reset_timeout.is_none() {
                            ", the default"
                        } else {
                            ""
                        },
                    ),
                ),
            );
            return None;
        }
        Some(max)
    });
    Some((factor?, max?))
}

/// `jitter = "none" | "full" | "equal"`.
pub(super) fn jitter(args: &Args, errors: &mut Errors) -> Option<JitterSetting> {
    let arg = args.jitter.as_ref()?;
    const NAMES: [(&str, JitterSetting); 3] = [
        ("none", JitterSetting::None),
        ("full", JitterSetting::Full),
        ("equal", JitterSetting::Equal),
    ];
    let given = arg.value.value();
    if let Some((_, jitter)) = NAMES.iter().find(|(name, _)| *name == given) {
        return Some(*jitter);
    }
    let close = crate::attr::closest(NAMES.iter().map(|(name, _)| *name), &given, 2)
        .map(|name| format!("; did you mean \"{name}\"?"))
        .unwrap_or_default();
    errors.push(
        arg.position,
        syn::Error::new(
            arg.value.span(),
            format!(
                "unknown jitter \"{given}\"{close}\nuse \"none\" (the default: exactly the open \
                 period), \"full\" (drawn from [0, period)) or \"equal\" (drawn from \
                 [period/2, period))"
            ),
        ),
    );
    None
}

/// The most buckets a rolling window may have (the runtime's `MAX_BUCKETS`).
const MAX_BUCKETS: u32 = 1024;
/// The most calls a count window may hold (the runtime's `MAX_WINDOW_CALLS`).
const MAX_WINDOW_CALLS: u32 = 1 << 16;
/// The buckets of a rolling window without `buckets` (the runtime's
/// `Window::DEFAULT_BUCKETS`).
const DEFAULT_BUCKETS: u32 = 10;

/// The window: at most one of `interval`, `window` (with `buckets`) and `window_calls`.
pub(super) fn window(args: &mut Args, errors: &mut Errors) -> Option<WindowSetting> {
    // At most one of the three; later ones are reported against the first.
    let mut given: Vec<(usize, Span, &str)> = [
        (
            "interval",
            args.interval.as_ref().map(|a| (a.position, a.key)),
        ),
        ("window", args.window.as_ref().map(|a| (a.position, a.key))),
        (
            "window_calls",
            args.window_calls.as_ref().map(|a| (a.position, a.key)),
        ),
    ]
    .into_iter()
    .filter_map(|(key, arg)| arg.map(|(position, span)| (position, span, key)))
    .collect();
    given.sort_by_key(|(position, _, _)| *position);
    if let Some(((_, _, first), rest)) = given.split_first() {
        for (position, span, key) in rest {
            errors.push(
                *position,
                syn::Error::new(
                    *span,
                    format!(
                        "`{key}` conflicts with `{first}`: a breaker has one window (`interval` \
                         for counts that start over, `window` with `buckets` for a rolling \
                         window, or `window_calls` for the last calls); remove one of them"
                    ),
                ),
            );
        }
    }
    if let (Some(arg), None) = (&args.buckets, &args.window) {
        errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`buckets` splits a rolling `window`: add `window = \"60s\"` (how far back the \
                 counts reach), or remove `buckets`",
            ),
        );
    }
    let buckets = match &args.buckets {
        None => Some(DEFAULT_BUCKETS),
        Some(arg) => at_most(
            arg,
            MAX_BUCKETS,
            errors,
            "buckets must be at least 1: the window moves by one bucket at a time (10 is \
             usual)",
            |n| {
                format!(
                    "a rolling window has at most {MAX_BUCKETS} buckets, got {n}; use fewer, \
                     longer buckets"
                )
            },
        ),
    };
    let calls = args.window_calls.as_ref().and_then(|arg| {
        at_most(
            arg,
            MAX_WINDOW_CALLS,
            errors,
            "window_calls must be at least 1: it is how many of the last outcomes are counted",
            |n| {
                format!(
                    "a count window holds at most {MAX_WINDOW_CALLS} calls, got {n}; use a \
                     rolling `window` for more"
                )
            },
        )
    });
    let interval = args
        .interval
        .take()
        .and_then(|arg| duration("interval", arg, errors));
    let rolling = args.window.take().and_then(|arg| {
        let (position, span) = (arg.position, arg.value.span());
        let length = duration("window", arg, errors)?;
        let buckets = buckets?;
        if let DurationSetting::Fixed(d) = &length
            && d.as_nanos() % (u128::from(buckets) * 1_000_000) != 0
        {
            errors.push(
                position,
                syn::Error::new(
                    span,
                    format!(
                        "a rolling window of \"{}\" does not split into {buckets} buckets of \
                         whole milliseconds: pick a window that is a multiple of {buckets}ms, \
                         or other `buckets`",
                        duration::canonical(d.as_nanos()),
                    ),
                ),
            );
            return None;
        }
        Some(WindowSetting::Rolling { length, buckets })
    });
    let (_, _, first) = given.first()?;
    match *first {
        "interval" => interval.map(WindowSetting::Fixed),
        "window" => rolling,
        _ => calls.map(WindowSetting::Calls),
    }
}

/// An integer of at least 1 and at most `max`.
fn at_most(
    arg: &Arg<LitInt>,
    max: u32,
    errors: &mut Errors,
    zero: &str,
    over: impl Fn(u32) -> String,
) -> Option<u32> {
    let n = at_least_one::<u32>(arg, errors, zero)?;
    if n > max {
        errors.push(arg.position, syn::Error::new(arg.value.span(), over(n)));
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::valid::tests::{checked, errors_of};
    use quote::quote;

    fn fixed(d: &DurationSetting) -> Duration {
        match d {
            DurationSetting::Fixed(d) => *d,
            DurationSetting::Expr(_) => panic!("not a fixed duration"),
        }
    }

    #[test]
    fn windows() {
        let (config, errors) = checked(quote!(window = "1m"));
        assert!(errors.is_empty(), "{errors:?}");
        let Some(WindowSetting::Rolling { length, buckets }) = &config.window else {
            panic!("not a rolling window");
        };
        assert_eq!((fixed(length), *buckets), (Duration::from_secs(60), 10));
        let (config, errors) = checked(quote!(buckets = 1024, window = "1024ms"));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(
            config.window,
            Some(WindowSetting::Rolling { buckets: 1024, .. })
        ));
        let (config, errors) = checked(quote!(window = WINDOW, buckets = 7));
        assert!(
            errors.is_empty(),
            "an expression is not checked: {errors:?}"
        );
        assert!(matches!(
            config.window,
            Some(WindowSetting::Rolling {
                length: DurationSetting::Expr(_),
                buckets: 7
            })
        ));
        let (config, errors) = checked(quote!(window_calls = 65536));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(config.window, Some(WindowSetting::Calls(65536))));
    }

    #[test]
    fn window_mistakes() {
        let errors = errors_of(quote!(buckets = 6));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("`buckets` splits a rolling `window`"));
        let errors = errors_of(quote!(window_calls = 100, interval = "1m", window = "1m"));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0]
                .starts_with("`interval` conflicts with `window_calls`: a breaker has one window")
        );
        assert!(errors[1].starts_with("`window` conflicts with `window_calls`"));
        let errors = errors_of(quote!(window = "0s", buckets = 0));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("window must be longer than zero"));
        assert!(errors[1].starts_with("buckets must be at least 1"));
        let errors = errors_of(quote!(window_calls = 0));
        assert!(errors[0].starts_with("window_calls must be at least 1"));
        let errors = errors_of(quote!(window = "1h", buckets = 1025));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].starts_with("a rolling window has at most 1024 buckets, got 1025;"),
            "{}",
            errors[0]
        );
        let errors = errors_of(quote!(window_calls = 65537));
        assert!(errors[0].starts_with("a count window holds at most 65536 calls"));
        let errors = errors_of(quote!(window = "1001ms"));
        assert_eq!(
            errors,
            [
                "a rolling window of \"1s 1ms\" does not split into 10 buckets of whole \
              milliseconds: pick a window that is a multiple of 10ms, or other `buckets`"
            ]
        );
        let errors = errors_of(quote!(window = "7s", buckets = 3));
        assert!(errors[0].contains("into 3 buckets"), "{errors:?}");
    }

    #[test]
    fn slow_calls() {
        let (config, errors) = checked(quote!(timeout = "2s", slow_call = "1999ms"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            fixed(config.slow_call.as_ref().unwrap()),
            Duration::from_millis(1999)
        );
        assert!(config.slow_call_ratio.is_none());
        let errors = errors_of(quote!(timeout = "2s", slow_call = "2s"));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with(
            "slow_call (\"2s\") must be below timeout (\"2s\"): a call that reaches the \
             timeout is slow already"
        ));
        let errors = errors_of(quote!(timeout = TIMEOUT, slow_call = "1h"));
        assert!(
            errors.is_empty(),
            "an expression is left to the builder: {errors:?}"
        );
        let errors = errors_of(quote!(slow_call_ratio = 0.5));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("`slow_call_ratio` needs `slow_call`"));
        for bad in [quote!(0.0), quote!(-0.5), quote!(1.5)] {
            let errors = errors_of(quote!(slow_call = "1s", slow_call_ratio = #bad));
            assert_eq!(errors.len(), 1, "{errors:#?}");
            assert!(
                errors[0].starts_with("slow_call_ratio must be in (0, 1]"),
                "{errors:?}"
            );
        }
        let errors = errors_of(quote!(slow_call = "0ms"));
        assert!(errors[0].starts_with("slow_call must be longer than zero"));
    }

    #[test]
    fn backoff_and_jitter() {
        let (config, errors) = checked(quote!(
            backoff = 2,
            max_reset_timeout = "10m",
            jitter = "equal"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let (factor, max) = config.backoff.as_ref().unwrap();
        assert_eq!((*factor, fixed(max)), (2.0, Duration::from_secs(600)));
        assert_eq!(config.jitter, Some(JitterSetting::Equal));
        let (config, errors) = checked(quote!(
            reset_timeout = "1s",
            backoff = 1.0,
            max_reset_timeout = "1s",
            jitter = "none"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(config.backoff.is_some());
        assert_eq!(config.jitter, Some(JitterSetting::None));

        let errors = errors_of(quote!(backoff = 2.0));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("`backoff` needs `max_reset_timeout`"));
        let errors = errors_of(quote!(max_reset_timeout = "10m"));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("`max_reset_timeout` caps the open period"));
        for bad in [quote!(0.5), quote!(-2), quote!(1e400)] {
            let errors = errors_of(quote!(backoff = #bad, max_reset_timeout = "1h"));
            assert_eq!(errors.len(), 1, "{errors:#?}");
            assert!(errors[0].starts_with("backoff must be a finite factor of at least 1.0"));
        }
        let errors = errors_of(quote!(backoff = 2.0, max_reset_timeout = "59s"));
        assert_eq!(
            errors,
            [
                "max_reset_timeout (\"59s\") must be at least reset_timeout (\"1m\", the \
              default): it caps the open period that starts at reset_timeout"
            ]
        );
        let errors = errors_of(quote!(
            reset_timeout = "2m",
            backoff = 2.0,
            max_reset_timeout = "90s"
        ));
        assert!(errors[0].contains("reset_timeout (\"2m\"):"), "{errors:?}");
        let errors = errors_of(quote!(
            reset_timeout = RESET,
            backoff = 2.0,
            max_reset_timeout = "1s"
        ));
        assert!(
            errors.is_empty(),
            "an expression is left to the builder: {errors:?}"
        );

        let errors = errors_of(quote!(jitter = "ful"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("unknown jitter \"ful\"; did you mean \"full\"?\nuse \"none\"")
        );
        let errors = errors_of(quote!(jitter = "random"));
        assert!(
            errors[0].starts_with("unknown jitter \"random\"\nuse"),
            "{errors:?}"
        );
    }
}
