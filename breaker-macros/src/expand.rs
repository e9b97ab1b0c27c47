//! Code generation: the annotated function, re-emitted with its signature verbatim and its
//! body moved into a future that runs under the breaker.
//!
//! Generated names start with `__breaker`; generated paths are absolute (`::core::...`) or
//! go through the facade's `__private` module, so nothing depends on the user's names.
//! Checks on types (the return type, the fallback, the classifier) are left to the type
//! checker, with the generated code spanned so that its errors land on the user's tokens.

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    AttrStyle, FnArg, GenericArgument, ItemFn, Pat, PatIdent, PathArguments, ReturnType, Signature,
    Type, TypeInfer,
};

use crate::valid::{Config, DurationSetting, Policy, WindowSetting};

/// A span that points at `at` in error messages but resolves names and is linted like the
/// rest of the expansion (so users' lints don't fire on generated code).
fn located(at: Span) -> Span {
    Span::call_site().located_at(at)
}

/// Gives every token of `tokens` the span `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                TokenTree::Group(new)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The return type as it may be written in an expression: `impl Trait` becomes `_`.
fn nameable(ty: &Type) -> Type {
    struct Infer;
    impl VisitMut for Infer {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(it) = ty {
                *ty = Type::Infer(TypeInfer {
                    underscore_token: syn::Token![_](it.impl_token.span),
                });
            } else {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Infer.visit_type_mut(&mut ty);
    ty
}

/// The arguments the fallback is called with. Parameters bound by a pattern other than a
/// plain name are renamed `__breaker_argN` in the signature and destructured at the top of
/// the body, so that the fallback can receive them whole.
struct Params {
    idents: Vec<Ident>,
    destructure: Vec<TokenStream>,
}

fn params(sig: &mut Signature) -> Params {
    let mut out = Params {
        idents: Vec::new(),
        destructure: Vec::new(),
    };
    for (i, input) in sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = input else {
            continue;
        };
        match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                out.idents.push(p.ident.clone());
            }
            _ => {
                let ident = format_ident!("__breaker_arg{}", i);
                let pat = std::mem::replace(
                    &mut *typed.pat,
                    Pat::Ident(PatIdent {
                        attrs: Vec::new(),
                        by_ref: None,
                        mutability: None,
                        ident: ident.clone(),
                        subpat: None,
                    }),
                );
                out.destructure.push(quote!(let #pat = #ident;));
                out.idents.push(ident);
            }
        }
    }
    out
}

fn duration(setting: &DurationSetting) -> TokenStream {
    match setting {
        DurationSetting::Fixed(d) => {
            let secs = Literal::u64_unsuffixed(d.as_secs());
            let nanos = Literal::u32_unsuffixed(d.subsec_nanos());
            quote!(::core::time::Duration::new(#secs, #nanos))
        }
        DurationSetting::Expr(expr) => quote!(#expr),
    }
}

/// The builder calls for the settings given (the others keep the builder's defaults).
fn settings(config: &Config, private: &TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(d) = &config.timeout {
        let d = duration(d);
        out.extend(quote!(.timeout(#d)));
    }
    if let Some(n) = config.max_requests {
        let n = Literal::u32_unsuffixed(n);
        out.extend(quote!(.max_requests(#n)));
    }
    match &config.window {
        None => {}
        Some(WindowSetting::Fixed(d)) => {
            let d = duration(d);
            out.extend(quote!(.interval(#d)));
        }
        Some(WindowSetting::Rolling { length, buckets }) => {
            let length = duration(length);
            let buckets = Literal::u32_unsuffixed(*buckets);
            out.extend(
                quote!(.window(#private::Window::Rolling { length: #length, buckets: #buckets })),
            );
        }
        Some(WindowSetting::Calls(calls)) => {
            let calls = Literal::u32_unsuffixed(*calls);
            out.extend(quote!(.window(#private::Window::Calls { calls: #calls })));
        }
    }
    if let Some(d) = &config.reset_timeout {
        let d = duration(d);
        out.extend(quote!(.reset_timeout(#d)));
    }
    if let Some((factor, max)) = &config.backoff {
        let factor = Literal::f64_unsuffixed(*factor);
        let max = duration(max);
        out.extend(quote!(.backoff(#factor, #max)));
    }
    if let Some(jitter) = config.jitter {
        let variant = Ident::new(jitter.variant(), Span::call_site());
        out.extend(quote!(.jitter(#private::Jitter::#variant)));
    }
    if let Some(d) = &config.slow_call {
        let d = duration(d);
        out.extend(quote!(.slow_call(#d)));
    }
    if let Some((ratio, min_requests)) = config.slow_call_ratio {
        let ratio = Literal::f64_unsuffixed(ratio);
        let min = Literal::u64_unsuffixed(min_requests);
        out.extend(quote!(.slow_call_ratio(#ratio, #min)));
    }
    let policy = match &config.policy {
        None => None,
        Some(Policy::ConsecutiveFailures(n)) => {
            let n = Literal::u32_unsuffixed(*n);
            Some(quote!(#private::TripPolicy::ConsecutiveFailures(#n)))
        }
        Some(Policy::FailureRatio {
            ratio,
            min_requests,
        }) => {
            let ratio = Literal::f64_unsuffixed(*ratio);
            let min = Literal::u64_unsuffixed(*min_requests);
            Some(quote!(#private::TripPolicy::FailureRatio { ratio: #ratio, min_requests: #min }))
        }
        Some(Policy::Custom(path)) => Some(quote!(#private::TripPolicy::Custom(#path))),
    };
    if let Some(policy) = policy {
        out.extend(quote!(.trip_policy(#policy)));
    }
    if let Some(hook) = &config.on_state_change {
        out.extend(quote!(.on_state_change(#hook)));
    }
    out
}

/// `Builder::new(#name)` with the settings given. With `shared = true` it goes through the
/// facade's `join_fleet!`, spanned on the `shared` key: that adds `.shared(true)`, or, in a
/// facade built without its `redis` feature (which the attribute cannot see), is the
/// compile error [`NEEDS_REDIS`] there, in place of the builder (so no error about the
/// missing `Builder::shared` follows it).
fn builder(config: &Config, private: &TokenStream, name: TokenStream) -> TokenStream {
    let settings = settings(config, private);
    let builder = quote!(#private::Builder::new(#name) #settings);
    let Some(key) = config.shared else {
        return builder;
    };
    let at = located(key);
    let private = respan(private.clone(), at);
    let mut needs_redis = Literal::string(NEEDS_REDIS);
    needs_redis.set_span(at);
    quote_spanned!(at=> #private::join_fleet!(#builder, #needs_redis))
}

/// The error of `shared = true` when the facade was built without its `redis` feature.
const NEEDS_REDIS: &str = concat!(
    "`shared = true` shares the breaker's state with the service's other replicas through \
     Redis, which needs the `redis` feature of async-breaker; enable it in Cargo.toml: \
     `async-breaker = { version = \"",
    env!("CARGO_PKG_VERSION_MAJOR"),
    ".",
    env!("CARGO_PKG_VERSION_MINOR"),
    "\", features = [\"redis\"] }`"
);

/// What the pieces of the expansion need to know about the function.
struct Context {
    /// `::async_breaker::__private`, or the same under the `crate = "..."` path.
    private: TokenStream,
    /// The return type as it may be written in expressions.
    ret: Type,
    /// `<#ret as __private::ReturnType>`, every token spanned on the return type: each use
    /// of it is then the same obligation at the same place, which the type checker reports
    /// once for a return type that is not a `Result`.
    return_type: TokenStream,
    /// Does the function take `self`?
    receiver: bool,
    /// The arguments to hand to a fallback (after the receiver).
    args: Vec<Ident>,
}

/// The expansion of a function that passed every check.
pub(crate) fn generate(config: &Config, func: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let Params {
        idents,
        destructure,
    } = params(&mut sig);
    let krate = &config.krate;
    let private = quote!(#krate::__private);
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => nameable(ty),
        // Rejected by `valid::function`; `()` keeps this total.
        ReturnType::Default => syn::parse_quote!(()),
    };
    let return_type = respan(quote!(<#ret as #private::ReturnType>), located(ret.span()));
    let cx = Context {
        private,
        ret,
        return_type,
        receiver: sig.receiver().is_some(),
        args: idents,
    };
    let reject = reject(&cx);
    let fake_return = fake_return(&cx);
    let (rejected, on_reject) = on_reject(config, &cx);
    let stmts = &block.stmts;
    let body = quote! {
        async move {
            #fake_return
            #(#destructure)*
            #(#stmts)*
        }
    };

    if config.key.is_none() && !config.fallback_on_error {
        // The common case, as a plain `fn` returning the runtime's hand-written future,
        // whose poll inlines into the caller's: the breaker decides at the first poll, and
        // the arguments go to the body when it admits the call, or to the fallback when it
        // refuses it.
        let output = match &sig.output {
            ReturnType::Type(_, ty) => quote!(#ty),
            ReturnType::Default => quote!(()),
        };
        let private = &cx.private;
        sig.asyncness = None;
        // Spanned as the call is (see `classify_and_run`): an error type without
        // `From<BreakerError>` also leaves the returned future without `Future`, and the
        // two are one error, there.
        let at = error_span(&cx.ret);
        let future = respan(quote!(#private::future!), at);
        let mut output = Group::new(proc_macro2::Delimiter::Parenthesis, output);
        output.set_span(at);
        sig.output = syn::parse_quote!(-> #future #output);
        let breaker = breaker(config, &cx, &sig.ident.unraw().to_string());
        // With a fallback, the future is made from the decision. Without one, the body is
        // made when the call is admitted, and a rejection is the function's error at once.
        let (classify, run) = if config.fallback.is_some() {
            let start = quote! {
                move |__breaker_admission| match __breaker_admission {
                    ::core::result::Result::Ok(()) => #private::Decided::Admitted(#body),
                    ::core::result::Result::Err(#rejected) => {
                        #private::Decided::Refused(async move { #on_reject })
                    }
                }
            };
            classify_and_run(config, &cx, Run::Decide, quote!(__breaker), start)
        } else {
            let make = quote!(move || #body);
            classify_and_run(config, &cx, Run::Call, quote!(__breaker), make)
        };
        return quote! {
            #(#outer_attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #reject
                #classify
                #breaker
                #run
            }
        };
    }

    // With a key, or a fallback that also answers failures, an `async fn` as written: the
    // breaker is found, and the call admitted, at its first poll.
    let (classify, run) = classify_and_run(
        config,
        &cx,
        Run::Permit,
        quote!(__breaker_permit),
        quote!(__breaker_call),
    );
    let (keep_args, run) = match on_error(config, &cx) {
        Some((keep_args, run)) => (keep_args, run),
        None => (TokenStream::new(), run),
    };
    let breaker = breaker(config, &cx, &sig.ident.unraw().to_string());
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #reject
            #classify
            #breaker
            let __breaker_permit = match __breaker.try_acquire() {
                ::core::result::Result::Ok(__breaker_permit) => __breaker_permit,
                ::core::result::Result::Err(#rejected) => return #on_reject,
            };
            #keep_args
            let __breaker_call = #body;
            #run
        }
    }
}

/// The one place that checks the return type, and what a rejected call returns:
/// `__breaker_reject(error)` is `Err(E::from(error))`.
///
/// `ReturnType::err` is spanned on the return type: a type that is not a `Result` is an
/// error there. `From::from` is spanned on the error type when the return type is written
/// `Result<T, E>`: an error type without `From<BreakerError>` is rustc's own error about
/// that trait, on `E`.
fn reject(cx: &Context) -> TokenStream {
    let Context {
        ret, return_type, ..
    } = cx;
    let at = located(ret.span());
    let private = respan(cx.private.clone(), at);
    let error = respan(
        quote!(::core::convert::From::from(__breaker_error)),
        error_span(ret),
    );
    quote_spanned! {at=>
        let __breaker_reject = |__breaker_error: #private::BreakerError| -> #ret {
            #return_type::err(#error)
        };
    }
}

/// Where an error type without `From<BreakerError>` is best pointed out: on `E` in a
/// return type written `Result<T, E>`, on the whole return type otherwise.
fn error_span(ret: &Type) -> Span {
    located(error_type(ret).map_or_else(|| ret.span(), Spanned::span))
}

/// `E` in a return type written `Result<T, E>`: where an error type without
/// `From<BreakerError>` is best pointed out.
fn error_type(ret: &Type) -> Option<&Type> {
    let Type::Path(path) = ret else {
        return None;
    };
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match (last.ident == "Result", args.args.len(), args.args.last()) {
        (true, 2, Some(GenericArgument::Type(error))) => Some(error),
        _ => None,
    }
}

/// Pins the body's type to the declared return type, so that `?` converts into the
/// function's error type and type errors land on the user's code.
fn fake_return(cx: &Context) -> TokenStream {
    let Context { ret, .. } = cx;
    quote_spanned! {located(ret.span())=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __breaker_fake_return: #ret = loop {};
            return __breaker_fake_return;
        }
    }
}

/// The statements that bind `__breaker` to the call's breaker: the function's own static
/// breaker, or, with `key = ...`, the breaker of this call's key in the function's static
/// set. Either way a breaker that could not be made (an invalid setting) is the call's
/// rejection.
fn breaker(config: &Config, cx: &Context, fn_name: &str) -> TokenStream {
    let private = &cx.private;
    let Some(key) = &config.key else {
        let init = init(config, cx, fn_name);
        return quote! {
            static __BREAKER: #private::Slot = #private::Slot::new();
            let __breaker = __BREAKER.get_or_init(|| #init);
        };
    };
    let name = match &config.name {
        Some(name) => {
            quote!(<#private::Name as ::core::convert::From<&'static str>>::from(#name))
        }
        None => default_name(cx, fn_name),
    };
    let builder = builder(config, private, quote!(__breaker_name));
    let max_keys = config.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
    // The key's type is checked where it is written, as a message about the key.
    let at = located(key.span());
    let checked_key = quote_spanned!(at=> <_ as #private::BreakerKey>::key(#key));
    quote! {
        static __BREAKER: #private::KeyedSlot = #private::KeyedSlot::new();
        let __breaker = match #private::keyed(
            &__BREAKER,
            #checked_key,
            || #name,
            |__breaker_name| #builder,
            #max_keys,
        ) {
            ::core::result::Result::Ok(__breaker) => __breaker,
            ::core::result::Result::Err(__breaker_error) => {
                return __breaker_reject(__breaker_error);
            }
        };
        let __breaker = &__breaker;
    }
}

/// How many keyed breakers a function keeps unless `max_keys` says otherwise (the
/// runtime's default).
const DEFAULT_MAX_KEYS: usize = 1024;

/// The default name of the function's breaker: its module path and name, or for a method
/// its `Self` type without generic arguments and its name.
fn default_name(cx: &Context, fn_name: &str) -> TokenStream {
    let private = &cx.private;
    if cx.receiver {
        quote!(#private::method_name(::core::any::type_name::<Self>(), #fn_name))
    } else {
        quote!(<#private::Name as ::core::convert::From<&'static str>>::from(
            ::core::concat!(::core::module_path!(), "::", #fn_name)
        ))
    }
}

/// Creates the breaker: shared by name when named, the function's own otherwise.
fn init(config: &Config, cx: &Context, fn_name: &str) -> TokenStream {
    let private = &cx.private;
    let default_name = match (&config.name, cx.receiver) {
        (Some(name), _) => {
            // The functions a shared breaker must agree on, beyond its settings (the
            // hook identifies itself through `on_state_change`).
            let trip = match &config.policy {
                Some(Policy::Custom(path)) => Some(quote!(.trip_identity(&#path))),
                _ => None,
            };
            let classify = config.classify.as_ref().map(|classify| {
                let ret = &cx.ret;
                quote!(.classify_identity::<#ret, _>(&#classify))
            });
            let builder = builder(config, private, quote!(#name));
            return quote!(#private::shared(#builder #trip #classify));
        }
        (None, _) => default_name(cx, fn_name),
    };
    let builder = builder(config, private, quote!(__breaker_name));
    quote! {
        #private::own(#default_name, |__breaker_name| #builder)
    }
}

/// The pattern for the rejection, and what a rejected call returns: the fallback (spanned
/// on the `fallback = ...` path, so that a fallback that doesn't fit is an error there),
/// or the rejection as the function's error.
fn on_reject(config: &Config, cx: &Context) -> (TokenStream, TokenStream) {
    let Some(path) = &config.fallback else {
        return (
            quote!(__breaker_rejected),
            quote!(__breaker_reject(__breaker_rejected)),
        );
    };
    let at = located(path.span());
    let receiver = cx.receiver.then(|| quote_spanned!(at=> self));
    let private = &cx.private;
    // Read before the rejection moves into the guard below.
    let (reason, read_reason) = if config.fallback_reason {
        (
            Some(quote!(__breaker_reason)),
            quote!(let __breaker_reason = #private::rejection_reason(&__breaker_rejected);),
        )
    } else {
        (None, TokenStream::new())
    };
    let fallback = fallback_call(path, cx, receiver, reason);
    // Guarded against a fallback that calls its own function again while it is open. A
    // breaker that could not be made refuses with its reason, which is no reason for the
    // fallback.
    (
        quote!(__breaker_rejected),
        quote! {
            match #private::FallbackReason::of_rejection(&__breaker_rejected) {
                ::core::option::Option::None => __breaker_reject(__breaker_rejected),
                ::core::option::Option::Some(_) => {
                    #read_reason
                    #private::nested_fallback(__breaker_rejected, __breaker_reject, async {
                        #fallback
                    })
                    .await
                }
            }
        },
    )
}

/// The call of the fallback at `path` with the function's arguments (after `receiver`,
/// for a method), and `reason` last when the fallback takes one, awaited and checked to
/// return the function's type. Spanned on the `fallback = ...` path, so that a fallback
/// that does not fit is an error there.
fn fallback_call(
    path: &syn::Path,
    cx: &Context,
    receiver: Option<TokenStream>,
    reason: Option<TokenStream>,
) -> TokenStream {
    let Context { ret, .. } = cx;
    let at = located(path.span());
    let private = respan(cx.private.clone(), at);
    let callee = match (cx.receiver, path.get_ident()) {
        (true, Some(_)) => quote_spanned!(at=> Self::#path),
        _ => quote!(#path),
    };
    let receiver = receiver.map(|r| quote_spanned!(at=> #r,));
    let args = cx.args.iter().map(|ident| {
        let mut ident = ident.clone();
        ident.set_span(at);
        ident
    });
    let reason = reason.map(|r| {
        let r = respan(r, at);
        quote_spanned!(at=> , #r)
    });
    quote_spanned! {at=>
        <_ as #private::Same<#ret>>::same(
            <_ as #private::Fallback>::future(#callee(#receiver #(#args),* #reason)).await
        )
    }
}

/// With `fallback_on = "error"`: the arguments kept for the fallback (cloned before the
/// call takes them, each spanned on its own parameter so that one that is not `Clone` is
/// an error there), and the admitted call run with the fallback answering a failure or a
/// timeout after it was recorded.
fn on_error(config: &Config, cx: &Context) -> Option<(TokenStream, TokenStream)> {
    if !config.fallback_on_error {
        return None;
    }
    let path = config.fallback.as_ref()?;
    let private = &cx.private;
    let receiver = cx.receiver.then(|| quote!(self));
    let kept = receiver
        .iter()
        .cloned()
        .chain(cx.args.iter().map(|ident| quote!(#ident)));
    let clones = kept.map(|arg| {
        let at = located(arg.span());
        quote_spanned!(at=> ::core::clone::Clone::clone(&#arg))
    });
    let keep = quote! {
        let __breaker_fallback_args = (#(#clones,)*);
    };
    let self_pat = cx.receiver.then(|| quote!(__breaker_self,));
    let args = &cx.args;
    let reason = config.fallback_reason.then(|| quote!(__breaker_reason));
    let fallback = fallback_call(
        path,
        cx,
        cx.receiver.then(|| quote!(__breaker_self)),
        reason,
    );
    let classify = if config.classify.is_some() {
        quote!(::core::option::Option::Some(__breaker_classify))
    } else {
        quote!(::core::option::Option::None)
    };
    let Context {
        ret, return_type, ..
    } = cx;
    let at = error_span(ret);
    let return_type = respan(return_type.clone(), at);
    let run = quote_spanned! {at=>
        #return_type::run_or_else(
            __breaker_permit,
            __breaker_call,
            #classify,
            move |__breaker_reason: #private::FallbackReason| async move {
                let (#self_pat #(#args,)*) = __breaker_fallback_args;
                #fallback
            },
        )
        .await
    };
    Some((keep, run))
}

/// How [`classify_and_run`] runs a call.
#[derive(Clone, Copy)]
enum Run {
    /// `ReturnType::call(breaker, make_body, reject)`: the runtime's
    /// `CircuitBreaker::call_with`, the body made when the call is admitted.
    Call,
    /// `ReturnType::decide(breaker, start, reject)`: the runtime's
    /// `CircuitBreaker::call_deciding`.
    Decide,
    /// `ReturnType::run(permit, body).await`: the runtime's public `Permit::run`.
    Permit,
}

/// Running the call as `how` says, or with the `_with` form and the classifier. The call is
/// spanned where [`reject`] puts its `From::from`, so that a `From<BreakerError>` bound is
/// the same obligation at the same place, reported once. The classifier becomes a function
/// pointer first, spanned on the `classify = ...` path: a classifier of the wrong type is
/// then one error, there.
fn classify_and_run(
    config: &Config,
    cx: &Context,
    how: Run,
    first: TokenStream,
    second: TokenStream,
) -> (TokenStream, TokenStream) {
    let Context {
        ret, return_type, ..
    } = cx;
    let at = error_span(ret);
    let return_type = respan(return_type.clone(), at);
    let Some(classify) = &config.classify else {
        let run = match how {
            Run::Call => quote_spanned!(at=> #return_type::call(#first, #second, __breaker_reject)),
            Run::Decide => {
                quote_spanned!(at=> #return_type::decide(#first, #second, __breaker_reject))
            }
            Run::Permit => quote_spanned!(at=> #return_type::run(#first, #second).await),
        };
        return (TokenStream::new(), run);
    };
    let classify_at = located(classify.span());
    let private_classify = respan(cx.private.clone(), classify_at);
    let run = match how {
        Run::Call => quote_spanned! {at=>
            #return_type::call_with(#first, #second, __breaker_reject, __breaker_classify)
        },
        Run::Decide => quote_spanned! {at=>
            #return_type::decide_with(#first, #second, __breaker_reject, __breaker_classify)
        },
        Run::Permit => quote_spanned! {at=>
            #return_type::run_with(#first, #second, __breaker_classify).await
        },
    };
    (
        quote_spanned! {classify_at=>
            let __breaker_classify: fn(&#ret) -> #private_classify::Outcome = #classify;
        },
        run,
    )
}

#[cfg(test)]
mod tests {
    //! Structural checks of the expansion: the output is parsed with syn and inspected, so
    //! that these tests do not depend on how tokens print. What the generated code does is
    //! proved by the trybuild pass cases and `tests/macro_behaviour.rs`.

    use super::*;
    use syn::visit::{self, Visit};
    use syn::{Expr, ExprCall, ExprMethodCall, Local, parse_quote};

    use crate::errors::Errors;
    use crate::{attr, valid};

    /// The expansion of a function that passes every check, parsed back.
    fn expand(args: TokenStream, item: ItemFn) -> ItemFn {
        let mut errors = Errors::default();
        let args = attr::parse(args, &mut errors);
        let config = valid::config(args, Some(&item), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.messages());
        syn::parse2(generate(&config, item)).expect("the expansion parses as a function")
    }

    /// Everything of interest in an expansion, collected by one walk.
    #[derive(Default)]
    struct Found {
        paths: Vec<syn::Path>,
        calls: Vec<ExprCall>,
        method_calls: Vec<ExprMethodCall>,
        locals: Vec<Local>,
        qualified_self_types: Vec<Type>,
        macros: Vec<syn::Macro>,
    }

    impl Visit<'_> for Found {
        fn visit_path(&mut self, path: &syn::Path) {
            self.paths.push(path.clone());
            visit::visit_path(self, path);
        }
        fn visit_expr_call(&mut self, call: &ExprCall) {
            self.calls.push(call.clone());
            visit::visit_expr_call(self, call);
        }
        fn visit_expr_method_call(&mut self, call: &ExprMethodCall) {
            self.method_calls.push(call.clone());
            visit::visit_expr_method_call(self, call);
        }
        fn visit_local(&mut self, local: &Local) {
            self.locals.push(local.clone());
            visit::visit_local(self, local);
        }
        fn visit_qself(&mut self, qself: &syn::QSelf) {
            self.qualified_self_types.push((*qself.ty).clone());
            visit::visit_qself(self, qself);
        }
        fn visit_macro(&mut self, mac: &syn::Macro) {
            self.macros.push(mac.clone());
            visit::visit_macro(self, mac);
        }
    }

    fn found(func: &ItemFn) -> Found {
        let mut found = Found::default();
        found.visit_item_fn(func);
        found
    }

    fn segments(path: &syn::Path) -> Vec<String> {
        path.segments.iter().map(|s| s.ident.to_string()).collect()
    }

    /// The calls whose callee is a path ending in `last`.
    fn calls_to<'a>(found: &'a Found, last: &str) -> Vec<&'a ExprCall> {
        found
            .calls
            .iter()
            .filter(|call| {
                matches!(&*call.func, Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == last))
            })
            .collect()
    }

    #[test]
    fn the_signature_and_attributes_are_kept() {
        let item: ItemFn = parse_quote! {
            /// Docs.
            #[inline]
            pub(crate) async fn fetch<'a, T: Copy>(sku: &'a str, t: T) -> Result<u32, E>
            where
                T: Send,
            {
                Ok(1)
            }
        };
        let out = expand(quote!(timeout = "2s"), item.clone());
        // A plain `fn` returning the future, everything else as written.
        let expected: Signature = parse_quote! {
            fn fetch<'a, T: Copy>(sku: &'a str, t: T)
                -> ::async_breaker::__private::future!(Result<u32, E>)
            where
                T: Send,
        };
        assert_eq!(out.sig, expected);
        assert_eq!(out.attrs, item.attrs);
        assert_eq!(out.vis, item.vis);

        // With a key, the `async fn` is kept as written.
        let out = expand(quote!(key = sku), item.clone());
        assert_eq!(out.sig, item.sig);
        assert_eq!(out.attrs, item.attrs);
    }

    #[test]
    fn settings_become_builder_calls_with_durations_fixed_at_compile_time() {
        let out = expand(
            quote!(timeout = "1m 30s", max_requests = 3, failure_ratio = 0.5),
            parse_quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let found = found(&out);
        let method = |name: &str| {
            found
                .method_calls
                .iter()
                .find(|call| call.method == name)
                .unwrap_or_else(|| panic!("no `.{name}(...)` call"))
        };
        let timeout = &method("timeout").args[0];
        let Expr::Call(duration) = timeout else {
            panic!("the timeout is not a call");
        };
        let Expr::Path(callee) = &*duration.func else {
            panic!("the timeout is not `Duration::new`");
        };
        assert_eq!(segments(&callee.path), ["core", "time", "Duration", "new"]);
        assert_eq!(duration.args, parse_quote!(90, 0));
        let max: Expr = parse_quote!(3);
        assert_eq!(method("max_requests").args[0], max);
        let policy: Expr = method("trip_policy").args[0].clone();
        let Expr::Struct(policy) = policy else {
            panic!("the policy is not `TripPolicy::FailureRatio {{ .. }}`");
        };
        assert_eq!(segments(&policy.path).last().unwrap(), "FailureRatio");
    }

    /// The arguments of the builder call `.name(...)` in the expansion of `args`.
    fn builder_args(args: TokenStream, name: &str) -> Vec<Expr> {
        let out = expand(
            args,
            parse_quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let found = found(&out);
        let call = found
            .method_calls
            .iter()
            .find(|call| call.method == name)
            .unwrap_or_else(|| panic!("no `.{name}(...)` call"));
        call.args.iter().cloned().collect()
    }

    fn duration_args(expr: &Expr) -> syn::punctuated::Punctuated<Expr, syn::Token![,]> {
        let Expr::Call(call) = expr else {
            panic!("not `Duration::new(..)`")
        };
        call.args.clone()
    }

    #[test]
    fn windows_become_window_calls() {
        let args = builder_args(quote!(window = "1m", buckets = 12), "window");
        let Expr::Struct(window) = &args[0] else {
            panic!("not `Window::Rolling {{ .. }}`");
        };
        assert_eq!(segments(&window.path)[2..], ["Window", "Rolling"]);
        let fields: Vec<String> = window
            .fields
            .iter()
            .map(|f| quote::ToTokens::to_token_stream(&f.member).to_string())
            .collect();
        assert_eq!(fields, ["length", "buckets"]);
        assert_eq!(duration_args(&window.fields[0].expr), parse_quote!(60, 0));
        let twelve: Expr = parse_quote!(12);
        assert_eq!(window.fields[1].expr, twelve);

        let args = builder_args(quote!(window = "1m"), "window");
        let Expr::Struct(window) = &args[0] else {
            unreachable!()
        };
        let ten: Expr = parse_quote!(10);
        assert_eq!(window.fields[1].expr, ten, "10 buckets by default");

        let args = builder_args(quote!(window_calls = 100), "window");
        let Expr::Struct(window) = &args[0] else {
            panic!("not `Window::Calls {{ .. }}`");
        };
        assert_eq!(segments(&window.path)[2..], ["Window", "Calls"]);
        let hundred: Expr = parse_quote!(100);
        assert_eq!(window.fields[0].expr, hundred);

        let args = builder_args(quote!(interval = "1s"), "interval");
        assert_eq!(duration_args(&args[0]), parse_quote!(1, 0));
    }

    #[test]
    fn slow_calls_backoff_and_jitter_become_builder_calls() {
        let keys = quote!(
            timeout = "2s",
            slow_call = "1500ms",
            slow_call_ratio = 0.5,
            failure_ratio = 0.25,
            min_requests = 20,
            backoff = 2,
            max_reset_timeout = "10m",
            jitter = "full"
        );
        let args = builder_args(keys.clone(), "slow_call");
        assert_eq!(duration_args(&args[0]), parse_quote!(1, 500000000));
        let args = builder_args(keys.clone(), "slow_call_ratio");
        let expected: [Expr; 2] = [parse_quote!(0.5), parse_quote!(20)];
        assert_eq!(args, expected, "min_requests goes to both ratios");
        let args = builder_args(keys.clone(), "backoff");
        let factor: Expr = parse_quote!(2.0);
        assert_eq!(args[0], factor);
        assert_eq!(duration_args(&args[1]), parse_quote!(600, 0));
        let args = builder_args(keys, "jitter");
        let Expr::Path(jitter) = &args[0] else {
            panic!("not `Jitter::Full`");
        };
        assert_eq!(
            segments(&jitter.path),
            ["async_breaker", "__private", "Jitter", "Full"]
        );
        let args = builder_args(
            quote!(slow_call = SLOW, max_reset_timeout = MAX, backoff = 1.5),
            "slow_call",
        );
        let slow: Expr = parse_quote!(SLOW);
        assert_eq!(args[0], slow, "an expression passes through");
    }

    /// The builder handed to the facade's `join_fleet!` in the expansion of `args`, and
    /// the message given with it; `None` without one.
    fn joined(args: TokenStream) -> Option<(Expr, syn::LitStr)> {
        let out = expand(
            args,
            parse_quote!(
                async fn f(id: u32) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let found = found(&out);
        assert!(
            !found
                .method_calls
                .iter()
                .any(|call| call.method == "shared"),
            "`.shared(true)` is the facade's to add"
        );
        let mut joins = found.macros.iter().filter(|mac| {
            segments(&mac.path)
                .last()
                .is_some_and(|s| s == "join_fleet")
        });
        let join = joins.next()?;
        assert!(joins.next().is_none(), "one builder per expansion");
        assert_eq!(
            segments(&join.path),
            ["async_breaker", "__private", "join_fleet"]
        );
        let body = join
            .parse_body_with(|input: syn::parse::ParseStream<'_>| {
                let builder: Expr = input.parse()?;
                input.parse::<syn::Token![,]>()?;
                Ok((builder, input.parse()?))
            })
            .expect("`join_fleet!(builder, \"message\")`");
        Some(body)
    }

    #[test]
    fn shared_true_hands_the_builder_to_the_facade() {
        for args in [
            quote!(shared = true, timeout = "2s"),
            quote!(name = "pricing", shared = true, timeout = "2s"),
            quote!(key = id, shared = true, timeout = "2s"),
        ] {
            let (builder, message) = joined(args.clone()).expect("a `join_fleet!`");
            // The whole builder with its settings: `Builder::new(..).timeout(..)`.
            let Expr::MethodCall(timeout) = &builder else {
                panic!(
                    "{args}: not a builder with its settings: {}",
                    quote!(#builder)
                );
            };
            assert_eq!(timeout.method, "timeout");
            let Expr::Call(new) = &*timeout.receiver else {
                panic!("{args}: not `Builder::new(..)`");
            };
            let Expr::Path(new) = &*new.func else {
                unreachable!()
            };
            assert_eq!(segments(&new.path)[2..], ["Builder", "new"]);
            assert_eq!(message.value(), NEEDS_REDIS);
        }
        assert!(joined(quote!(shared = false, timeout = "2s")).is_none());
        assert!(joined(quote!(timeout = "2s")).is_none());
    }

    #[test]
    fn the_redis_message_says_how_to_enable_the_feature() {
        assert!(NEEDS_REDIS.starts_with("`shared = true` shares the breaker's state"));
        assert!(
            NEEDS_REDIS.ends_with(
                "enable it in Cargo.toml: `async-breaker = { version = \"0.1\", features = [\"redis\"] }`"
            ),
            "{NEEDS_REDIS}"
        );
    }

    #[test]
    fn methods_call_the_fallback_on_self_with_the_arguments() {
        let out = expand(
            quote!(fallback = cached),
            parse_quote!(
                async fn get(&self, id: u32) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let found = found(&out);
        let fallback = calls_to(&found, "cached");
        assert_eq!(fallback.len(), 1);
        let Expr::Path(callee) = &*fallback[0].func else {
            unreachable!()
        };
        assert_eq!(segments(&callee.path), ["Self", "cached"]);
        assert_eq!(fallback[0].args, parse_quote!(self, id));
    }

    #[test]
    fn patterns_are_renamed_and_destructured() {
        let out = expand(
            quote!(fallback = other::fb),
            parse_quote!(
                async fn f((a, b): (u32, u32), _: u8, mut c: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        let expected: Signature = parse_quote!(fn f(__breaker_arg0: (u32, u32), __breaker_arg1: u8, mut c: u8) -> ::async_breaker::__private::future!(Result<(), E>));
        assert_eq!(out.sig, expected);
        let found = found(&out);
        let destructured: Vec<Local> = found
            .locals
            .iter()
            .filter(|l| matches!(l.pat, Pat::Tuple(_) | Pat::Wild(_)))
            .cloned()
            .collect();
        let local = |stmt: syn::Stmt| match stmt {
            syn::Stmt::Local(local) => local,
            _ => unreachable!(),
        };
        let expected = [
            local(parse_quote!(let (a, b) = __breaker_arg0;)),
            local(parse_quote!(let _ = __breaker_arg1;)),
        ];
        assert_eq!(destructured, expected);
        let fallback = calls_to(&found, "fb");
        assert_eq!(
            fallback[0].args,
            parse_quote!(__breaker_arg0, __breaker_arg1, c)
        );
    }

    #[test]
    fn every_support_path_goes_through_the_crate_path() {
        for (args, prefix) in [
            (quote!(fallback = fb), ["async_breaker"]),
            (quote!(crate = "my::reexport", fallback = fb), ["my"]),
        ] {
            let out = expand(
                args,
                parse_quote!(
                    async fn f() -> Result<(), E> {
                        Ok(())
                    }
                ),
            );
            let found = found(&out);
            let private: Vec<&syn::Path> = found
                .paths
                .iter()
                .filter(|p| p.segments.iter().any(|s| s.ident == "__private"))
                .collect();
            assert!(!private.is_empty());
            for path in private {
                assert_eq!(segments(path)[..1], prefix, "{}", quote!(#path));
            }
        }
    }

    #[test]
    fn impl_trait_in_the_return_type_is_inferred() {
        let out = expand(
            TokenStream::new(),
            parse_quote!(
                async fn f() -> Result<impl Display, E> {
                    Ok(1)
                }
            ),
        );
        let found = found(&out);
        let inferred: Type = parse_quote!(Result<_, E>);
        assert!(found.qualified_self_types.contains(&inferred));
        assert!(!found.qualified_self_types.iter().any(|t| matches!(t, Type::Path(p)
            if p.path.segments.iter().any(|s| matches!(&s.arguments, PathArguments::AngleBracketed(a)
                if a.args.iter().any(|a| matches!(a, GenericArgument::Type(Type::ImplTrait(_)))))))));
    }

    #[test]
    fn the_error_type_is_found_in_result_only() {
        let ty = |t: TokenStream| syn::parse2::<Type>(t).unwrap();
        let error = |t| error_type(&ty(t)).cloned();
        assert_eq!(
            error(quote!(Result<u32, ShopError>)),
            Some(parse_quote!(ShopError))
        );
        assert_eq!(
            error(quote!(std::result::Result<(), E>)),
            Some(parse_quote!(E))
        );
        assert_eq!(error(quote!(io::Result<u32>)), None);
        assert_eq!(error(quote!(u32)), None);
    }

    #[test]
    fn respan_reaches_into_groups() {
        let span = Span::call_site();
        let out = respan(quote!(a::b(c, [d])), span);
        let parsed: Expr = syn::parse2(out).unwrap();
        assert_eq!(parsed, parse_quote!(a::b(c, [d])));
    }
}
