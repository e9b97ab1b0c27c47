//! Semantic checks: value ranges, combinations of keys, settings that would read a call's
//! arguments, and the annotated function's shape. Turns [`Args`] into the [`Config`] that
//! `expand.rs` generates code from.

use std::collections::BTreeSet;
use std::time::Duration;

use proc_macro2::{Span, TokenTree};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{
    Expr, FnArg, GenericParam, Ident, ItemFn, LitInt, LitStr, Path, ReturnType, Signature, Type,
};

use crate::attr::{Arg, Args, DurationArg, Number};
use crate::duration;
use crate::errors::{Errors, FUNCTION};

mod timing;

pub(crate) use timing::{JitterSetting, WindowSetting};
use timing::{backoff, jitter, slow_call, slow_call_ratio, window};

/// A duration setting.
pub(crate) enum DurationSetting {
    /// Parsed at compile time; never zero.
    Fixed(Duration),
    /// A `std::time::Duration` expression, checked by the builder at first use.
    Expr(Box<Expr>),
}

/// The trip policy, when one is given.
pub(crate) enum Policy {
    ConsecutiveFailures(u32),
    FailureRatio { ratio: f64, min_requests: u64 },
    Custom(Path),
}

/// The validated settings of one annotated function.
pub(crate) struct Config {
    /// The path of the `async-breaker` crate.
    pub(crate) krate: Path,
    pub(crate) name: Option<LitStr>,
    pub(crate) timeout: Option<DurationSetting>,
    pub(crate) window: Option<WindowSetting>,
    pub(crate) reset_timeout: Option<DurationSetting>,
    pub(crate) max_requests: Option<u32>,
    pub(crate) policy: Option<Policy>,
    /// `slow_call`: calls that take at least this long are slow.
    pub(crate) slow_call: Option<DurationSetting>,
    /// `slow_call_ratio` and the `min_requests` it shares with `failure_ratio`.
    pub(crate) slow_call_ratio: Option<(f64, u64)>,
    /// `backoff` and `max_reset_timeout`.
    pub(crate) backoff: Option<(f64, DurationSetting)>,
    pub(crate) jitter: Option<JitterSetting>,
    pub(crate) classify: Option<Path>,
    pub(crate) on_state_change: Option<Path>,
    pub(crate) fallback: Option<Path>,
    /// `key = ...`: one breaker per value of this expression over the arguments.
    pub(crate) key: Option<Expr>,
    /// How many keyed breakers the function's set holds (with `key` only).
    pub(crate) max_keys: Option<usize>,
    /// `fallback_on = "error"`: the fallback also answers failed and timed-out calls.
    pub(crate) fallback_on_error: bool,
    /// `fallback_reason = true`: the fallback takes a last `FallbackReason` argument.
    pub(crate) fallback_reason: bool,
    /// `shared = true`: the span of the key, where a facade built without its `redis`
    /// feature reports that it needs it. `None` for `shared = false` and by default.
    pub(crate) shared: Option<Span>,
}

/// Checks the arguments, and, when the function could be parsed, that no setting reads its
/// arguments, `self` or generic parameters. Every problem is pushed to `errors`; the
/// returned config is only meaningful when none was.
pub(crate) fn config(mut args: Args, func: Option<&ItemFn>, errors: &mut Errors) -> Config {
    if let Some(func) = func {
        per_breaker(&args, &func.sig, errors);
    }
    let min_requests = min_requests(&args, errors);
    let policy = policy(&args, min_requests, errors);
    if let Some(arg) = &args.name
        && arg.value.value().is_empty()
    {
        errors.push(
            arg.position,
            syn::Error::new(
                arg.value.span(),
                "the breaker's name must not be empty; leave `name` out for the default \
                 (module path and function name)",
            ),
        );
    }
    if let (Some(arg), None) = (&args.max_keys, &args.key) {
        errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`max_keys` bounds the breakers made per `key`; add `key = <expression over \
                 the arguments>` (a host, a tenant) or remove `max_keys`",
            ),
        );
    }
    let (fallback_on_error, fallback_reason) = fallback_mode(&args, func, errors);
    let slow_call_ratio = slow_call_ratio(&args, min_requests, errors);
    let jitter = jitter(&args, errors);
    let window = window(&mut args, errors);
    let timeout = args
        .timeout
        .take()
        .and_then(|arg| duration("timeout", arg, errors));
    let reset_timeout = args
        .reset_timeout
        .take()
        .and_then(|arg| duration("reset_timeout", arg, errors));
    let slow_call = slow_call(&mut args, timeout.as_ref(), errors);
    let backoff = backoff(&mut args, reset_timeout.as_ref(), errors);
    let name = args.name.map(|arg| arg.value);
    let shared = args
        .shared
        .as_ref()
        .filter(|arg| arg.value.value)
        .map(|arg| arg.key);
    Config {
        krate: args.krate.map_or_else(default_crate_path, |arg| arg.value),
        name,
        timeout,
        window,
        reset_timeout,
        slow_call,
        slow_call_ratio,
        backoff,
        jitter,
        max_requests: args.max_requests.and_then(|arg| {
            at_least_one::<u32>(
                &arg,
                errors,
                "max_requests must be at least 1: it is the number of probe calls a \
                 half-open breaker admits, and of successes that close it",
            )
        }),
        policy,
        classify: args.classify.map(|arg| arg.value),
        on_state_change: args.on_state_change.map(|arg| arg.value),
        fallback: args.fallback.map(|arg| arg.value),
        key: args.key.map(|arg| arg.value),
        max_keys: args.max_keys.and_then(|arg| {
            at_least_one::<usize>(
                &arg,
                errors,
                "max_keys must be at least 1: it is how many keyed breakers the function \
                 keeps (default 1024)",
            )
        }),
        fallback_on_error,
        fallback_reason,
        shared,
    }
}

/// `fallback_on` and `fallback_reason`: known values, only beside a `fallback`, and for
/// `"error"` arguments the fallback can get again after the call used them.
fn fallback_mode(args: &Args, func: Option<&ItemFn>, errors: &mut Errors) -> (bool, bool) {
    let mut on_error = false;
    if let Some(arg) = &args.fallback_on {
        match arg.value.value().as_str() {
            "rejected" => {}
            "error" => on_error = true,
            other => {
                let close = crate::attr::closest(["rejected", "error"], other, 3)
                    .map(|v| format!("; did you mean \"{v}\"?"))
                    .unwrap_or_default();
                errors.push(
                    arg.position,
                    syn::Error::new(
                        arg.value.span(),
                        format!(
                            "unknown fallback_on value \"{other}\"{close}\n`fallback_on = \"rejected\"` \
                             (the default) calls the fallback when the breaker refuses a call; \
                             `fallback_on = \"error\"` also when an admitted call fails or times out"
                        ),
                    ),
                );
            }
        }
    }
    let reason = args
        .fallback_reason
        .as_ref()
        .is_some_and(|arg| arg.value.value);
    if args.fallback.is_none() {
        for (key, arg) in [
            (
                "fallback_on",
                args.fallback_on.as_ref().map(|a| (a.key, a.position)),
            ),
            (
                "fallback_reason",
                args.fallback_reason.as_ref().map(|a| (a.key, a.position)),
            ),
        ] {
            if let Some((span, position)) = arg {
                errors.push(
                    position,
                    syn::Error::new(
                        span,
                        format!(
                            "`{key}` says how the fallback is called, but there is no fallback: \
                             add `fallback = your_async_fn`, or remove `{key}`"
                        ),
                    ),
                );
            }
        }
    }
    if on_error && let Some(func) = func {
        for input in &func.sig.inputs {
            let mutable = match input {
                FnArg::Receiver(r) => r.reference.is_some() && r.mutability.is_some(),
                FnArg::Typed(t) => matches!(&*t.ty, Type::Reference(r) if r.mutability.is_some()),
            };
            if mutable {
                let position = args.fallback_on.as_ref().map_or(0, |a| a.position);
                errors.push(
                    position,
                    syn::Error::new(
                        input.span(),
                        "with `fallback_on = \"error\"` the fallback gets the arguments after \
                         the call used them, so each is cloned before the call; a `&mut` \
                         argument cannot be: take it by `&` or by value, or use \
                         `fallback_on = \"rejected\"`",
                    ),
                );
            }
        }
    }
    (on_error, reason)
}

/// The keys that each choose a trip policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PolicyKey {
    ConsecutiveFailures,
    FailureRatio,
    Trip,
}

impl PolicyKey {
    fn key(self) -> &'static str {
        match self {
            PolicyKey::ConsecutiveFailures => "consecutive_failures",
            PolicyKey::FailureRatio => "failure_ratio",
            PolicyKey::Trip => "trip",
        }
    }
}

fn policy(args: &Args, min_requests: Option<u64>, errors: &mut Errors) -> Option<Policy> {
    // At most one of the three; later ones are reported against the first.
    let mut given: Vec<(usize, Span, PolicyKey)> = Vec::new();
    if let Some(arg) = &args.consecutive_failures {
        given.push((arg.position, arg.key, PolicyKey::ConsecutiveFailures));
    }
    if let Some(arg) = &args.failure_ratio {
        given.push((arg.position, arg.key, PolicyKey::FailureRatio));
    }
    if let Some(arg) = &args.trip {
        given.push((arg.position, arg.key, PolicyKey::Trip));
    }
    given.sort_by_key(|(position, _, _)| *position);
    if let Some(((_, _, first), rest)) = given.split_first() {
        let first = first.key();
        for (position, key, name) in rest {
            let name = name.key();
            errors.push(
                *position,
                syn::Error::new(
                    *key,
                    format!(
                        "`{name}` conflicts with `{first}`: a breaker has one trip policy \
                         (`consecutive_failures`, `failure_ratio` with `min_requests`, or \
                         `trip`); remove one of them"
                    ),
                ),
            );
        }
    }
    let consecutive = args.consecutive_failures.as_ref().and_then(|arg| {
        at_least_one::<u32>(
            arg,
            errors,
            "consecutive_failures must be at least 1: with 0 the breaker could never stay closed",
        )
    });
    let ratio = args
        .failure_ratio
        .as_ref()
        .and_then(|arg| ratio("failure_ratio", "failed", arg, errors));

    let (_, _, first) = given.first()?;
    match first {
        PolicyKey::ConsecutiveFailures => consecutive.map(Policy::ConsecutiveFailures),
        PolicyKey::FailureRatio => Some(Policy::FailureRatio {
            ratio: ratio?,
            min_requests: min_requests?,
        }),
        PolicyKey::Trip => args
            .trip
            .as_ref()
            .map(|arg| Policy::Custom(arg.value.clone())),
    }
}

/// `min_requests`, which belongs to a ratio (`failure_ratio`, `slow_call_ratio` or both,
/// which share it): `Some(1)` when absent, `None` when invalid (reported).
fn min_requests(args: &Args, errors: &mut Errors) -> Option<u64> {
    let Some(arg) = &args.min_requests else {
        return Some(1);
    };
    if args.failure_ratio.is_none() && args.slow_call_ratio.is_none() {
        errors.push(
            arg.position,
            syn::Error::new(
                arg.key,
                "`min_requests` belongs to a ratio: add `failure_ratio = 0.5` or \
                 `slow_call_ratio = 0.5` (or the ratio you want), or remove `min_requests`",
            ),
        );
    }
    at_least_one::<u64>(
        arg,
        errors,
        "min_requests must be at least 1: it is how many calls the counts need before \
         a ratio (`failure_ratio`, `slow_call_ratio`) counts",
    )
}

/// A ratio in (0, 1]: the share of `what` calls that trips the breaker.
fn ratio(key: &str, what: &str, arg: &Arg<Number>, errors: &mut Errors) -> Option<f64> {
    let Number { value, span } = arg.value;
    if value > 0.0 && value <= 1.0 {
        Some(value)
    } else {
        errors.push(
            arg.position,
            syn::Error::new(
                span,
                format!(
                    "{key} must be in (0, 1], got {value:?}: it is the share of {what} \
                     calls that trips the breaker, e.g. `{key} = 0.5` for half"
                ),
            ),
        );
        None
    }
}

fn at_least_one<N>(arg: &Arg<LitInt>, errors: &mut Errors, zero: &str) -> Option<N>
where
    N: std::str::FromStr + PartialEq + From<u8>,
    N::Err: std::fmt::Display,
{
    let lit = &arg.value;
    match lit.base10_parse::<N>() {
        Ok(n) if n == N::from(0) => {
            errors.push(arg.position, syn::Error::new(lit.span(), zero));
            None
        }
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(
                arg.position,
                syn::Error::new(
                    lit.span(),
                    format!(
                        "{e}: the value must fit in a `{}`",
                        std::any::type_name::<N>()
                    ),
                ),
            );
            None
        }
    }
}

fn duration(key: &str, arg: Arg<DurationArg>, errors: &mut Errors) -> Option<DurationSetting> {
    let position = arg.position;
    let text = match arg.value {
        DurationArg::Expr(expr) => return Some(DurationSetting::Expr(expr)),
        DurationArg::Text(text) => text,
    };
    match duration::parse(&text.value()) {
        Ok(d) if d.is_zero() => {
            errors.push(
                position,
                syn::Error::new(
                    text.span(),
                    format!(
                        "{key} must be longer than zero; leave `{key}` out for the default, \
                         or write a duration such as \"250ms\" or \"2s\""
                    ),
                ),
            );
            None
        }
        Ok(d) => Some(DurationSetting::Fixed(d)),
        Err(e) => {
            errors.push(
                position,
                syn::Error::new(
                    text.span(),
                    format!("malformed duration {:?} for `{key}`: {e}", text.value()),
                ),
            );
            None
        }
    }
}

/// What a setting must not read: the function's arguments and `self` (values of one call),
/// and `Self` and the function's generic parameters (one instantiation's types). A setting
/// is evaluated once, when the breaker is made on the first call, and kept for every later
/// call; reading any of these would silently keep the first call's value.
struct CallNames {
    /// Arguments and `self`: read by a path of one segment (`ms`, `self.timeout`).
    values: BTreeSet<String>,
    /// `Self` and generic parameters: read by a path starting with one (`T::TIMEOUT`).
    types: BTreeSet<String>,
}

fn call_names(sig: &Signature) -> CallNames {
    struct Bindings<'a>(&'a mut BTreeSet<String>);
    impl Visit<'_> for Bindings<'_> {
        fn visit_pat_ident(&mut self, pat: &syn::PatIdent) {
            self.0.insert(pat.ident.to_string());
            visit::visit_pat_ident(self, pat);
        }
        // Paths in patterns (`Point { x, .. }`, `Some(v)`) name types, not bindings.
        fn visit_path(&mut self, _: &Path) {}
        fn visit_type(&mut self, _: &Type) {}
    }
    let mut values = BTreeSet::from([String::from("self")]);
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            Bindings(&mut values).visit_pat(&typed.pat);
        }
    }
    let mut types = BTreeSet::from([String::from("Self")]);
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(ty) => types.insert(ty.ident.to_string()),
            GenericParam::Const(c) => values.insert(c.ident.to_string()),
            GenericParam::Lifetime(_) => false,
        };
    }
    CallNames { values, types }
}

/// Finds the first name of a [`CallNames`] that a setting reads: in a path (`ms`,
/// `self.timeout`, `T::TIMEOUT`, `<Self as Tr>::X`), or among the tokens of a macro call,
/// which are not parsed.
struct Reads<'a> {
    names: &'a CallNames,
    found: Option<Ident>,
}

impl<'a> Reads<'a> {
    fn new(names: &'a CallNames) -> Self {
        Reads { names, found: None }
    }

    fn check(&mut self, ident: &Ident, single: bool) {
        let name = ident.to_string();
        let reads =
            (single && self.names.values.contains(&name)) || self.names.types.contains(&name);
        if self.found.is_none() && reads {
            self.found = Some(ident.clone());
        }
    }

    fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let mut trees = tokens.into_iter().peekable();
        while let Some(tree) = trees.next() {
            match tree {
                TokenTree::Ident(ident) => {
                    let path =
                        matches!(trees.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                    self.check(&ident, !path);
                }
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }
}

impl Visit<'_> for Reads<'_> {
    fn visit_path(&mut self, path: &Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            self.check(&first.ident, path.segments.len() == 1);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &syn::Macro) {
        self.tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }
}

/// Settings are per breaker, not per call: an expression or a path that reads the
/// function's arguments, `self`, `Self` or generic parameters is an error on it.
fn per_breaker(args: &Args, sig: &Signature, errors: &mut Errors) {
    let names = call_names(sig);
    let durations = [
        ("timeout", &args.timeout),
        ("interval", &args.interval),
        ("window", &args.window),
        ("reset_timeout", &args.reset_timeout),
        ("max_reset_timeout", &args.max_reset_timeout),
        ("slow_call", &args.slow_call),
    ];
    let mut found = Vec::new();
    for (key, arg) in durations {
        if let Some(
            arg @ Arg {
                value: DurationArg::Expr(expr),
                ..
            },
        ) = arg
        {
            let mut reads = Reads::new(&names);
            reads.visit_expr(expr);
            let Some(ident) = reads.found else { continue };
            found.push((
                key,
                arg.position,
                quote::ToTokens::to_token_stream(expr),
                ident,
            ));
        }
    }
    for (key, arg) in [
        ("trip", &args.trip),
        ("on_state_change", &args.on_state_change),
    ] {
        if let Some(arg) = arg {
            let mut reads = Reads::new(&names);
            reads.visit_path(&arg.value);
            let Some(ident) = reads.found else { continue };
            found.push((
                key,
                arg.position,
                quote::ToTokens::to_token_stream(&arg.value),
                ident,
            ));
        }
    }
    for (key, position, tokens, ident) in found {
        let generic = sig.generics.params.iter().any(|p| match p {
            GenericParam::Type(t) => t.ident == ident,
            GenericParam::Const(c) => c.ident == ident,
            GenericParam::Lifetime(_) => false,
        });
        let what = match ident.to_string().as_str() {
            "self" => String::from("`self`"),
            "Self" => String::from("`Self`"),
            name if generic => format!("the generic parameter `{name}`"),
            name => format!("the argument `{name}`"),
        };
        errors.push(
            position,
            syn::Error::new_spanned(
                tokens,
                format!(
                    "`{key}` cannot depend on {what}: settings belong to the breaker, which is \
                     made once, on the first call, so every later call would get that call's \
                     value. Use an expression that reads no argument, such as a `const` or \
                     `Duration::from_secs(2)`; for a setting that varies per call, build \
                     breakers with the runtime API (`CircuitBreaker::builder`)"
                ),
            ),
        );
    }
}

/// Checks that the annotated function can take a breaker: an `async fn`, not `const`,
/// returning something (a `Result`, which the type checker confirms).
pub(crate) fn function(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(token) = &sig.constness {
        errors.push(
            FUNCTION,
            syn::Error::new(
                token.span,
                "`#[circuit_breaker]` cannot go on a `const fn`: the breaker lives in a static \
                 that is created at run time; remove `const` and make it an `async fn`",
            ),
        );
    } else if sig.asyncness.is_none() && rewritten_by_async_trait(sig) {
        errors.push(
            FUNCTION,
            syn::Error::new(
                sig.ident.span(),
                "`#[circuit_breaker]` sees this method after `#[async_trait]` made it a `fn` \
                 returning `Pin<Box<dyn Future>>`: the attribute of an `impl` or `trait` block \
                 expands before those of its methods. Remove `#[async_trait]` (trait methods \
                 can be `async fn` without it, unless you need `dyn Trait`), or move the body \
                 into an inherent `#[circuit_breaker] async fn` and call that from the method",
            ),
        );
    } else if sig.asyncness.is_none() {
        errors.push(
            FUNCTION,
            syn::Error::new(
                sig.fn_token.span,
                "`#[circuit_breaker]` needs an `async fn`: the call runs under the breaker's \
                 deadline; write `async fn`",
            ),
        );
    }
    if let ReturnType::Default = sig.output {
        errors.push(
            FUNCTION,
            syn::Error::new(
                sig.paren_token.span.join(),
                "a `#[circuit_breaker]` function must return `Result<T, E>` with \
                 `E: From<async_breaker::BreakerError>`, so that it can report rejections and \
                 timeouts; add a return type such as `-> Result<(), MyError>`",
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(
            FUNCTION,
            syn::Error::new(
                variadic.span(),
                "`#[circuit_breaker]` cannot go on a variadic function",
            ),
        );
    }
}

/// Whether `#[async_trait]` made this signature out of an `async fn`: it adds a lifetime
/// `'async_trait` that the future it returns is bound by.
fn rewritten_by_async_trait(sig: &Signature) -> bool {
    sig.generics
        .lifetimes()
        .any(|param| param.lifetime.ident == "async_trait")
}

/// The path of the facade crate as the user's `Cargo.toml` names it: `::async_breaker`, or
/// `::renamed` for `renamed = { package = "async-breaker", ... }`. When the manifest cannot
/// be read or does not list the crate (a crate that reaches it through a re-export), the
/// package's own name is the best guess; `crate = "..."` overrides it.
fn default_crate_path() -> syn::Path {
    use proc_macro_crate::FoundCrate;
    match proc_macro_crate::crate_name("async-breaker") {
        Ok(FoundCrate::Name(name)) => {
            let ident = syn::Ident::new(&name, proc_macro2::Span::call_site());
            syn::parse_quote!(::#ident)
        }
        Ok(FoundCrate::Itself) | Err(_) => syn::parse_quote!(::async_breaker),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr;
    use proc_macro2::TokenStream;
    use quote::quote;

    pub(super) fn checked(args: TokenStream) -> (Config, Vec<String>) {
        let mut errors = Errors::default();
        let parsed = attr::parse(args, &mut errors);
        let config = config(parsed, None, &mut errors);
        (config, errors.messages())
    }

    pub(super) fn errors_of(args: TokenStream) -> Vec<String> {
        checked(args).1
    }

    #[test]
    fn durations_are_parsed_at_compile_time() {
        let (config, errors) = checked(quote!(
            timeout = "250ms",
            interval = "1m 30s",
            reset_timeout = "2s"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let fixed = |d: Option<DurationSetting>| match d {
            Some(DurationSetting::Fixed(d)) => d,
            _ => panic!("not a fixed duration"),
        };
        assert_eq!(fixed(config.timeout), Duration::from_millis(250));
        let Some(WindowSetting::Fixed(interval)) = config.window else {
            panic!("not a fixed window");
        };
        assert_eq!(fixed(Some(interval)), Duration::from_secs(90));
        assert_eq!(fixed(config.reset_timeout), Duration::from_secs(2));
    }

    #[test]
    fn malformed_and_zero_durations() {
        let errors = errors_of(quote!(timeout = "2x", interval = "0s", reset_timeout = ""));
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("malformed duration \"2x\" for `timeout`"));
        assert!(errors[0].contains("\"1m 30s\""));
        assert!(errors[1].starts_with("interval must be longer than zero"));
        assert!(errors[2].starts_with("malformed duration \"\" for `reset_timeout`"));
    }

    #[test]
    fn integers_must_be_at_least_one_and_fit() {
        let errors = errors_of(quote!(max_requests = 0, consecutive_failures = 0));
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("max_requests must be at least 1"));
        assert!(errors[1].starts_with("consecutive_failures must be at least 1"));
        let errors = errors_of(quote!(max_requests = 5_000_000_000));
        assert!(errors[0].contains("must fit in a `u32`"), "{errors:?}");
        let errors = errors_of(quote!(failure_ratio = 0.5, min_requests = 0));
        assert!(errors[0].starts_with("min_requests must be at least 1"));
    }

    #[test]
    fn ratio_range() {
        for bad in [quote!(0.0), quote!(-0.5), quote!(1.5), quote!(2)] {
            let errors = errors_of(quote!(failure_ratio = #bad));
            assert_eq!(errors.len(), 1);
            assert!(
                errors[0].starts_with("failure_ratio must be in (0, 1]"),
                "{errors:?}"
            );
        }
        for good in [quote!(1), quote!(1.0), quote!(0.01)] {
            let (config, errors) = checked(quote!(failure_ratio = #good));
            assert!(errors.is_empty());
            assert!(matches!(
                config.policy,
                Some(Policy::FailureRatio {
                    min_requests: 1,
                    ..
                })
            ));
        }
    }

    #[test]
    fn one_trip_policy_only() {
        let errors = errors_of(quote!(
            trip = t,
            consecutive_failures = 3,
            failure_ratio = 0.5
        ));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("`consecutive_failures` conflicts with `trip`"));
        assert!(errors[1].starts_with("`failure_ratio` conflicts with `trip`"));
    }

    #[test]
    fn min_requests_needs_a_ratio() {
        let errors = errors_of(quote!(min_requests = 10));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`min_requests` belongs to a ratio"));
        let (config, errors) = checked(quote!(min_requests = 10, failure_ratio = 0.25));
        assert!(errors.is_empty());
        assert!(matches!(
            config.policy,
            Some(Policy::FailureRatio { min_requests: 10, ratio }) if (ratio - 0.25).abs() < 1e-12
        ));
    }

    #[test]
    fn min_requests_applies_to_both_ratios() {
        let (config, errors) = checked(quote!(
            slow_call = "1s",
            slow_call_ratio = 0.25,
            min_requests = 20
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(config.policy.is_none(), "no failure policy is implied");
        assert_eq!(config.slow_call_ratio, Some((0.25, 20)));
        let (config, errors) = checked(quote!(
            failure_ratio = 0.5,
            slow_call = "1s",
            slow_call_ratio = 1,
            min_requests = 4
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(matches!(
            config.policy,
            Some(Policy::FailureRatio {
                min_requests: 4,
                ..
            })
        ));
        assert_eq!(config.slow_call_ratio, Some((1.0, 4)));
        let (config, _) = checked(quote!(slow_call = "1s", slow_call_ratio = 0.5));
        assert_eq!(
            config.slow_call_ratio,
            Some((0.5, 1)),
            "min_requests 1 by default"
        );
    }

    #[test]
    fn policies_and_paths() {
        let (config, _) = checked(quote!(consecutive_failures = 7));
        assert!(matches!(
            config.policy,
            Some(Policy::ConsecutiveFailures(7))
        ));
        let (config, _) = checked(quote!(trip = my::trip));
        assert!(matches!(config.policy, Some(Policy::Custom(_))));
        let (config, _) = checked(TokenStream::new());
        assert!(config.policy.is_none());
        let krate = &config.krate;
        assert_eq!(
            quote!(#krate).to_string(),
            quote!(::async_breaker).to_string()
        );
    }

    #[test]
    fn shared_true_keeps_the_key_and_false_is_the_default() {
        let (config, errors) = checked(quote!(name = "pricing", shared = true));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(config.shared.is_some());
        for args in [quote!(shared = false), TokenStream::new()] {
            let (config, errors) = checked(args);
            assert!(errors.is_empty(), "{errors:?}");
            assert!(config.shared.is_none());
        }
    }

    #[test]
    fn empty_name() {
        let errors = errors_of(quote!(name = ""));
        assert!(errors[0].starts_with("the breaker's name must not be empty"));
    }

    #[test]
    fn many_mistakes_at_once() {
        let errors = errors_of(quote! {
            timeout = "2x", max_requests = 0, colour = "red", timeout = "1s",
            failure_ratio = 3.0, min_requests = 0
        });
        assert_eq!(errors.len(), 6, "{errors:#?}");
        // In the order of the keys they concern.
        assert!(errors[0].starts_with("malformed duration"));
        assert!(errors[1].starts_with("max_requests must be at least 1"));
        assert!(errors[2].starts_with("unknown key `colour`"));
        assert!(errors[3].starts_with("duplicate key `timeout`"));
        assert!(errors[4].starts_with("failure_ratio must be in (0, 1], got 3.0"));
        assert!(errors[5].starts_with("min_requests must be at least 1"));
    }

    fn per_call_errors(args: TokenStream, item: TokenStream) -> Vec<String> {
        let func: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        let parsed = attr::parse(args, &mut errors);
        let _ = config(parsed, Some(&func), &mut errors);
        errors.messages()
    }

    #[test]
    fn settings_that_read_arguments_self_or_generics_are_rejected() {
        let errors = per_call_errors(
            quote!(timeout = Duration::from_millis(ms)),
            quote!(
                async fn f(ms: u64) -> Result<(), E> {}
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "`timeout` cannot depend on the argument `ms`: settings belong to the \
                 breaker, which is made once, on the first call"
            ),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("`CircuitBreaker::builder`"));

        let errors = per_call_errors(
            quote!(interval = self.interval, reset_timeout = Self::RESET),
            quote!(
                async fn f(&self) -> Result<(), E> {}
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("`interval` cannot depend on `self`"));
        assert!(errors[1].starts_with("`reset_timeout` cannot depend on `Self`"));

        let errors = per_call_errors(
            quote!(
                window = Duration::from_secs(s),
                slow_call = self.slow,
                backoff = 2.0,
                max_reset_timeout = T::MAX
            ),
            quote!(
                async fn f<T>(&self, s: u64) -> Result<(), E> {}
            ),
        );
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("`window` cannot depend on the argument `s`"));
        assert!(errors[1].starts_with("`slow_call` cannot depend on `self`"));
        assert!(
            errors[2].starts_with("`max_reset_timeout` cannot depend on the generic parameter `T`")
        );

        let errors = per_call_errors(
            quote!(
                timeout = T::TIMEOUT,
                interval = Duration::from_secs(N),
                trip = policy
            ),
            quote!(
                async fn f<T: Tr, const N: u64>(
                    (a, policy): (u8, fn(&Counts) -> bool),
                ) -> Result<(), E> {
                }
            ),
        );
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("`timeout` cannot depend on the generic parameter `T`"));
        assert!(errors[1].starts_with("`interval` cannot depend on the generic parameter `N`"));
        assert!(errors[2].starts_with("`trip` cannot depend on the argument `policy`"));

        // Inside a macro call too.
        let errors = per_call_errors(
            quote!(timeout = Duration::from_millis(pick!(ms, 5))),
            quote!(
                async fn f(ms: u64) -> Result<(), E> {}
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:#?}");
    }

    #[test]
    fn settings_that_read_no_argument_are_accepted() {
        let errors = per_call_errors(
            quote!(
                timeout = Duration::from_secs(2),
                interval = TIMEOUT,
                reset_timeout = self::config::RESET.with(ms::ONE),
                trip = self::trip,
                on_state_change = hooks::log
            ),
            quote!(
                async fn f(&self, ms: u64, timeout: u8) -> Result<(), E> {}
            ),
        );
        assert!(errors.is_empty(), "{errors:#?}");
    }

    fn fn_errors(item: TokenStream) -> Vec<String> {
        let func: ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        function(&func, &mut errors);
        errors.messages()
    }

    #[test]
    fn function_shape() {
        assert!(
            fn_errors(quote!(
                async fn f() -> Result<(), E> {}
            ))
            .is_empty()
        );
        let errors = fn_errors(quote!(
            fn f() -> Result<(), E> {}
        ));
        assert!(errors[0].starts_with("`#[circuit_breaker]` needs an `async fn`"));
        let errors = fn_errors(quote!(
            fn f<'life0, 'async_trait>(
                &'life0 self,
            ) -> Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
            }
        ));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("`#[circuit_breaker]` sees this method after `#[async_trait]`")
        );
        let errors = fn_errors(quote!(
            const fn f() -> Result<(), E> {}
        ));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`#[circuit_breaker]` cannot go on a `const fn`"));
        let errors = fn_errors(quote!(
            async fn f() {}
        ));
        assert!(
            errors[0].starts_with("a `#[circuit_breaker]` function must return `Result<T, E>`")
        );
    }
}
