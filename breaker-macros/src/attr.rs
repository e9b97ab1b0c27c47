//! Parsing the attribute's `key = value, ...` list into [`Args`].
//!
//! This phase checks the syntax, the keys and the *kind* of each value (a string, an
//! integer, a path, ...). Ranges and combinations of keys are checked in `valid.rs`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprPath, ExprUnary, Lit, LitInt, LitStr, Path, Token, UnOp};

use crate::errors::{Errors, Position};

/// Every key the attribute knows, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "timeout",
    "max_requests",
    "interval",
    "window",
    "buckets",
    "window_calls",
    "reset_timeout",
    "backoff",
    "max_reset_timeout",
    "jitter",
    "consecutive_failures",
    "failure_ratio",
    "min_requests",
    "slow_call",
    "slow_call_ratio",
    "trip",
    "classify",
    "on_state_change",
    "fallback",
    "fallback_on",
    "fallback_reason",
    "key",
    "max_keys",
    "shared",
    "crate",
];

/// One `key = value`.
pub(crate) struct Arg<T> {
    /// The key's span, for errors about the key itself.
    pub(crate) key: Span,
    /// Where the key stood in the list (0 for the first): orders errors, and tells which
    /// of two conflicting keys came first.
    pub(crate) position: Position,
    pub(crate) value: T,
}

/// A duration as written: a human string to parse at compile time, or an expression of
/// type `std::time::Duration` to pass through.
pub(crate) enum DurationArg {
    Text(LitStr),
    Expr(Box<Expr>),
}

impl DurationArg {
    /// The span of the value: the string literal, or the expression.
    pub(crate) fn span(&self) -> Span {
        match self {
            DurationArg::Text(lit) => lit.span(),
            DurationArg::Expr(expr) => expr.span(),
        }
    }
}

/// A number literal (possibly negated), read as `f64`.
pub(crate) struct Number {
    pub(crate) value: f64,
    pub(crate) span: Span,
}

/// The attribute's arguments, each key at most once.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Arg<LitStr>>,
    pub(crate) timeout: Option<Arg<DurationArg>>,
    pub(crate) max_requests: Option<Arg<LitInt>>,
    pub(crate) interval: Option<Arg<DurationArg>>,
    pub(crate) window: Option<Arg<DurationArg>>,
    pub(crate) buckets: Option<Arg<LitInt>>,
    pub(crate) window_calls: Option<Arg<LitInt>>,
    pub(crate) reset_timeout: Option<Arg<DurationArg>>,
    pub(crate) backoff: Option<Arg<Number>>,
    pub(crate) max_reset_timeout: Option<Arg<DurationArg>>,
    pub(crate) jitter: Option<Arg<LitStr>>,
    pub(crate) consecutive_failures: Option<Arg<LitInt>>,
    pub(crate) failure_ratio: Option<Arg<Number>>,
    pub(crate) min_requests: Option<Arg<LitInt>>,
    pub(crate) slow_call: Option<Arg<DurationArg>>,
    pub(crate) slow_call_ratio: Option<Arg<Number>>,
    pub(crate) trip: Option<Arg<Path>>,
    pub(crate) classify: Option<Arg<Path>>,
    pub(crate) on_state_change: Option<Arg<Path>>,
    pub(crate) fallback: Option<Arg<Path>>,
    pub(crate) key: Option<Arg<Expr>>,
    pub(crate) max_keys: Option<Arg<LitInt>>,
    pub(crate) fallback_on: Option<Arg<LitStr>>,
    pub(crate) fallback_reason: Option<Arg<syn::LitBool>>,
    pub(crate) shared: Option<Arg<syn::LitBool>>,
    pub(crate) krate: Option<Arg<Path>>,
}

/// Parses the attribute's arguments. Every mistake is pushed to `errors`, and parsing goes
/// on after each, so that all of them are reported at once; only a syntax error (a missing
/// comma, a value that is no expression) ends it early.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Args {
    let mut out = Args::default();
    let mut position = 0;
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.span();
        let at = position;
        position += 1;
        let Some(value) = value_of(&meta, at, errors)? else {
            return Ok(());
        };
        let Some(ident) = meta.path.get_ident() else {
            errors.push(at, unknown_key(&meta.path));
            return Ok(());
        };
        let name = ident.to_string();
        let mut slot = Slot {
            name: &name,
            key,
            position: at,
            errors: &mut *errors,
        };
        match name.as_str() {
            "name" => slot.set(&mut out.name, string(&name, &value)),
            "timeout" => slot.set(&mut out.timeout, duration(&name, value)),
            "interval" => slot.set(&mut out.interval, duration(&name, value)),
            "window" => slot.set(&mut out.window, duration(&name, value)),
            "buckets" => slot.set(&mut out.buckets, integer(&name, &value)),
            "window_calls" => slot.set(&mut out.window_calls, integer(&name, &value)),
            "reset_timeout" => slot.set(&mut out.reset_timeout, duration(&name, value)),
            "backoff" => slot.set(&mut out.backoff, number(&name, &value, FACTOR)),
            "max_reset_timeout" => slot.set(&mut out.max_reset_timeout, duration(&name, value)),
            "jitter" => slot.set(&mut out.jitter, string(&name, &value)),
            "slow_call" => slot.set(&mut out.slow_call, duration(&name, value)),
            "slow_call_ratio" => {
                slot.set(&mut out.slow_call_ratio, number(&name, &value, RATIO));
            }
            "max_requests" => slot.set(&mut out.max_requests, integer(&name, &value)),
            "consecutive_failures" => {
                slot.set(&mut out.consecutive_failures, integer(&name, &value));
            }
            "min_requests" => slot.set(&mut out.min_requests, integer(&name, &value)),
            "failure_ratio" => slot.set(&mut out.failure_ratio, number(&name, &value, RATIO)),
            "trip" => slot.set(
                &mut out.trip,
                path(&name, value, "a function `fn(&Counts) -> bool`"),
            ),
            "classify" => slot.set(
                &mut out.classify,
                path(&name, value, "a function `fn(&Result<T, E>) -> Outcome`"),
            ),
            "on_state_change" => slot.set(
                &mut out.on_state_change,
                path(&name, value, "a function `fn(&str, State, State)`"),
            ),
            "fallback" => slot.set(&mut out.fallback, path(&name, value, "an `async fn`")),
            "key" => slot.set(&mut out.key, Ok(value)),
            "max_keys" => slot.set(&mut out.max_keys, integer(&name, &value)),
            "fallback_on" => slot.set(&mut out.fallback_on, string(&name, &value)),
            "fallback_reason" => slot.set(&mut out.fallback_reason, boolean(&name, &value)),
            "shared" => slot.set(&mut out.shared, boolean(&name, &value)),
            "crate" => slot.set(&mut out.krate, crate_path(&value)),
            _ => errors.push(at, unknown_key(&meta.path)),
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(position, error);
    }
    out
}

/// Stores a key's value unless the key was given before (the one place that detects
/// duplicate keys).
struct Slot<'a> {
    name: &'a str,
    key: Span,
    position: Position,
    errors: &'a mut Errors,
}

impl Slot<'_> {
    fn set<T>(&mut self, slot: &mut Option<Arg<T>>, value: syn::Result<T>) {
        if slot.is_some() {
            self.errors.push(
                self.position,
                syn::Error::new(
                    self.key,
                    format!(
                        "duplicate key `{}`: each key may be given once; remove one of them",
                        self.name
                    ),
                ),
            );
            return;
        }
        match value {
            Ok(value) => {
                *slot = Some(Arg {
                    key: self.key,
                    position: self.position,
                    value,
                });
            }
            Err(error) => self.errors.push(self.position, error),
        }
    }
}

/// The value after `key =`. A key without `= value` is reported (and its parenthesized
/// list, if any, skipped), giving `None`.
fn value_of(
    meta: &ParseNestedMeta<'_>,
    at: Position,
    errors: &mut Errors,
) -> syn::Result<Option<Expr>> {
    if meta.input.peek(Token![=]) {
        return meta.value()?.parse().map(Some);
    }
    let key = meta.path.span();
    let shown = path_text(&meta.path);
    if meta.input.peek(syn::token::Paren) {
        let _skipped: TokenStream = meta.input.parse::<proc_macro2::Group>()?.stream();
        errors.push(
            at,
            syn::Error::new(key, format!("write `{shown} = value`, not `{shown}(...)`")),
        );
    } else if KEYS.contains(&shown.as_str()) {
        errors.push(
            at,
            syn::Error::new(key, format!("`{shown}` needs a value: `{shown} = ...`")),
        );
    } else {
        errors.push(at, unknown_key(&meta.path));
    }
    Ok(None)
}

fn path_text(path: &Path) -> String {
    let mut text = String::new();
    if path.leading_colon.is_some() {
        text.push_str("::");
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            text.push_str("::");
        }
        text.push_str(&segment.ident.to_string());
    }
    text
}

fn unknown_key(path: &Path) -> syn::Error {
    let shown = path_text(path);
    let suggestion = closest(KEYS.iter().copied(), &shown, 2)
        .map(|close| format!("; did you mean `{close}`?"))
        .unwrap_or_default();
    let valid = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    syn::Error::new(
        path.span(),
        format!("unknown key `{shown}`{suggestion}\nthe valid keys are: {valid}"),
    )
}

/// The candidate nearest to `given`, if one is within `most` edits: the "did you mean" of
/// every message about an unknown word.
pub(crate) fn closest<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    given: &str,
    most: usize,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(c, given), c))
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, attrs }) if attrs.is_empty() => Some(lit),
        _ => None,
    }
}

fn string(key: &str, value: &Expr) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(lit)) => Ok(lit.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!(
                "`{key}` takes a string literal: `{key} = \"{}\"`",
                match key {
                    "fallback_on" => "error",
                    "jitter" => "full",
                    _ => "pricing",
                }
            ),
        )),
    }
}

fn boolean(key: &str, value: &Expr) -> syn::Result<syn::LitBool> {
    match literal(value) {
        Some(Lit::Bool(lit)) => Ok(lit.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{key}` takes `true` or `false`: `{key} = true`"),
        )),
    }
}

fn duration(key: &str, value: Expr) -> syn::Result<DurationArg> {
    match literal(&value) {
        Some(Lit::Str(lit)) => Ok(DurationArg::Text(lit.clone())),
        Some(Lit::Int(_) | Lit::Float(_)) => Err(syn::Error::new(
            value.span(),
            format!(
                "a bare number has no unit: write `{key} = \"{}s\"` (or \"250ms\", \"1m 30s\"), \
                 or a `std::time::Duration` expression",
                number_text(&value)
            ),
        )),
        Some(_) => Err(syn::Error::new(
            value.span(),
            format!(
                "`{key}` takes a duration: a string like `{key} = \"2s\"`, \"250ms\" or \
                 \"1m 30s\", or a `std::time::Duration` expression"
            ),
        )),
        None => Ok(DurationArg::Expr(Box::new(value))),
    }
}

fn number_text(value: &Expr) -> String {
    match literal(value) {
        Some(Lit::Int(lit)) => lit.base10_digits().to_owned(),
        Some(Lit::Float(lit)) => lit.base10_digits().to_owned(),
        _ => String::new(),
    }
}

fn integer(key: &str, value: &Expr) -> syn::Result<LitInt> {
    match literal(value) {
        Some(Lit::Int(lit)) => Ok(lit.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{key}` takes an integer literal of at least 1: `{key} = 3`"),
        )),
    }
}

/// What a number key takes, for the message about a value that is no number: a ratio, or
/// a factor.
const RATIO: &str = "a number in (0, 1]: `{key} = 0.5`";
const FACTOR: &str = "a number of at least 1.0: `{key} = 2.0`";

fn number(key: &str, value: &Expr, what: &str) -> syn::Result<Number> {
    let span = value.span();
    let (negated, inner) = match value {
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            attrs,
        }) if attrs.is_empty() => (true, &**expr),
        other => (false, other),
    };
    let parsed = match literal(inner) {
        Some(Lit::Float(lit)) => lit.base10_parse::<f64>().ok(),
        Some(Lit::Int(lit)) => lit.base10_parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(value) => Ok(Number {
            value: if negated { -value } else { value },
            span,
        }),
        None => Err(syn::Error::new(
            span,
            format!("`{key}` takes {}", what.replace("{key}", key)),
        )),
    }
}

fn path(key: &str, value: Expr, what: &str) -> syn::Result<Path> {
    match value {
        Expr::Path(ExprPath {
            attrs,
            qself: None,
            path,
        }) if attrs.is_empty() => Ok(path),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a path to {what}, like `{key} = my_{key}`"),
        )),
    }
}

fn crate_path(value: &Expr) -> syn::Result<Path> {
    let message = "`crate` takes the path of the `async-breaker` crate as a string: `crate = \"::my_breaker\"`";
    match literal(value) {
        Some(Lit::Str(lit)) => lit
            .parse::<Path>()
            .map_err(|_| syn::Error::new(lit.span(), message)),
        _ => Err(syn::Error::new(value.span(), message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parsed(args: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse(args, &mut errors);
        (args, errors.messages())
    }

    #[test]
    fn every_key_parses() {
        let (args, errors) = parsed(quote! {
            name = "pricing", timeout = "2s", max_requests = 3, interval = "1m",
            reset_timeout = ::std::time::Duration::from_secs(30), failure_ratio = 0.5,
            min_requests = 10, classify = self::classify, on_state_change = hooks::log,
            fallback = cached, crate = "::renamed"
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.name.unwrap().value.value(), "pricing");
        assert!(matches!(args.timeout.unwrap().value, DurationArg::Text(t) if t.value() == "2s"));
        assert!(matches!(
            args.reset_timeout.unwrap().value,
            DurationArg::Expr(_)
        ));
        assert_eq!(args.max_requests.unwrap().value.base10_digits(), "3");
        let ratio = args.failure_ratio.unwrap();
        assert!((ratio.value.value - 0.5).abs() < f64::EPSILON);
        assert_eq!(ratio.position, 5);
        assert_eq!(path_text(&args.classify.unwrap().value), "self::classify");
        assert_eq!(path_text(&args.krate.unwrap().value), "::renamed");
        assert!(args.trip.is_none() && args.consecutive_failures.is_none());
    }

    #[test]
    fn the_window_slow_call_and_backoff_keys_parse() {
        let (args, errors) = parsed(quote! {
            window = "1m", buckets = 12, window_calls = 100, slow_call = "1s",
            slow_call_ratio = 0.25, backoff = 2, max_reset_timeout = MAX, jitter = "full"
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(args.window.unwrap().value, DurationArg::Text(t) if t.value() == "1m"));
        assert_eq!(args.buckets.unwrap().value.base10_digits(), "12");
        assert_eq!(args.window_calls.unwrap().value.base10_digits(), "100");
        assert!(matches!(args.slow_call.unwrap().value, DurationArg::Text(t) if t.value() == "1s"));
        assert!((args.slow_call_ratio.unwrap().value.value - 0.25).abs() < f64::EPSILON);
        assert!((args.backoff.unwrap().value.value - 2.0).abs() < f64::EPSILON);
        assert!(matches!(
            args.max_reset_timeout.unwrap().value,
            DurationArg::Expr(_)
        ));
        let jitter = args.jitter.unwrap();
        assert_eq!(jitter.value.value(), "full");
        assert_eq!(jitter.position, 7);
    }

    #[test]
    fn the_new_keys_take_values_of_their_kind() {
        let (_, errors) = parsed(quote! {
            window = 60, buckets = "10", window_calls = 1.5, slow_call = true,
            slow_call_ratio = "half", backoff = "double", max_reset_timeout = 600, jitter = full
        });
        assert_eq!(errors.len(), 8, "{errors:#?}");
        assert!(errors[0].contains("a bare number has no unit: write `window = \"60s\"`"));
        assert!(errors[1].contains("`buckets` takes an integer literal"));
        assert!(errors[2].contains("`window_calls` takes an integer literal"));
        assert!(errors[3].contains("`slow_call` takes a duration"));
        assert!(errors[4].contains("`slow_call_ratio` takes a number in (0, 1]"));
        assert!(errors[5].contains("`backoff` takes a number of at least 1.0: `backoff = 2.0`"));
        assert!(errors[6].contains("write `max_reset_timeout = \"600s\"`"));
        assert!(errors[7].contains("`jitter` takes a string literal: `jitter = \"full\"`"));
    }

    #[test]
    fn the_valid_keys_include_the_new_ones() {
        let (_, errors) = parsed(quote!(windw = "1m"));
        assert!(errors[0].starts_with("unknown key `windw`; did you mean `window`?"));
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
            assert!(
                errors[0].contains(&format!("`{key}`")),
                "{key}: {}",
                errors[0]
            );
        }
    }

    #[test]
    fn shared_takes_true_or_false() {
        for (value, on) in [(quote!(true), true), (quote!(false), false)] {
            let (args, errors) = parsed(quote!(shared = #value));
            assert!(errors.is_empty(), "{errors:?}");
            let shared = args.shared.unwrap();
            assert_eq!(shared.value.value, on);
            assert_eq!(shared.position, 0);
        }
        for value in [quote!("true"), quote!(1), quote!(yes), quote!(!false)] {
            let (_, errors) = parsed(quote!(shared = #value));
            assert_eq!(
                errors,
                ["`shared` takes `true` or `false`: `shared = true`"]
            );
        }
        let (_, errors) = parsed(quote!(shraed = true));
        assert!(
            errors[0].starts_with("unknown key `shraed`; did you mean `shared`?"),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].contains("`max_keys`, `shared`, `crate`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn empty_arguments_are_all_defaults() {
        let (args, errors) = parsed(TokenStream::new());
        assert!(errors.is_empty());
        assert!(args.name.is_none() && args.fallback.is_none() && args.krate.is_none());
    }

    #[test]
    fn unknown_key_lists_the_valid_keys_and_suggests() {
        let (_, errors) = parsed(quote!(max_request = 3));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("unknown key `max_request`; did you mean `max_requests`?"));
        assert!(errors[0].contains("`name`, `timeout`"), "{}", errors[0]);
        let (_, errors) = parsed(quote!(retries = 3));
        assert!(!errors[0].contains("did you mean"), "{}", errors[0]);
    }

    #[test]
    fn duplicate_keys_are_reported_once_each() {
        let (args, errors) = parsed(quote!(timeout = "1s", timeout = "2s", timeout = "3s"));
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("duplicate key `timeout`"));
        assert!(matches!(args.timeout.unwrap().value, DurationArg::Text(t) if t.value() == "1s"));
    }

    #[test]
    fn values_of_the_wrong_kind() {
        let (_, errors) = parsed(quote! {
            max_requests = "3", name = pricing, fallback = "cached", timeout = 2,
            failure_ratio = "half", crate = breaker, interval = true
        });
        assert_eq!(errors.len(), 7, "{errors:#?}");
        assert!(errors[0].contains("`max_requests` takes an integer literal"));
        assert!(errors[1].contains("`name` takes a string literal"));
        assert!(errors[2].contains("`fallback` takes a path to an `async fn`"));
        assert!(errors[3].contains("a bare number has no unit: write `timeout = \"2s\"`"));
        assert!(errors[4].contains("`failure_ratio` takes a number in (0, 1]"));
        assert!(errors[5].contains("`crate` takes the path"));
        assert!(errors[6].contains("`interval` takes a duration"));
    }

    #[test]
    fn keys_without_values() {
        let (_, errors) = parsed(quote!(timeout, fallback(cached), whatever));
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].contains("`timeout` needs a value"));
        assert!(errors[1].contains("write `fallback = value`, not `fallback(...)`"));
        assert!(errors[2].starts_with("unknown key `whatever`"));
    }

    #[test]
    fn negative_numbers_are_read() {
        let (args, errors) = parsed(quote!(failure_ratio = -0.5));
        assert!(errors.is_empty());
        assert!((args.failure_ratio.unwrap().value.value + 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn syntax_errors_are_kept_with_earlier_ones() {
        let (_, errors) = parsed(quote!(bogus = 1, timeout = "2s" max_requests = 3));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("unknown key"));
        assert!(errors[1].contains("expected `,`"), "{}", errors[1]);
    }

    #[test]
    fn multi_segment_keys_are_unknown() {
        let (_, errors) = parsed(quote!(async_breaker::timeout = "2s"));
        assert!(errors[0].starts_with("unknown key `async_breaker::timeout`"));
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("timeout", "timeout"), 0);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
