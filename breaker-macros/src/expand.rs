//! Code generation: the annotated function, re-emitted with its signature verbatim and its
//! body moved into a future that runs under the breaker.
//!
//! Generated names start with `__breaker`; generated paths are absolute (`::core::...`) or
//! go through the facade's `__private` module, so nothing depends on the user's names.

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    AttrStyle, FnArg, GenericArgument, ItemFn, Pat, PatIdent, PathArguments, ReturnType, Signature,
    Type, TypeInfer,
};

use crate::errors::{Errors, FUNCTION};
use crate::valid::{Config, DurationSetting, Policy};
use crate::{attr, valid};

/// The whole attribute: parse, check, generate. On any error the function is emitted
/// unchanged, followed by one `compile_error!` per problem, so that a mistake in the
/// attribute does not turn into a cascade of errors at every call of the function.
pub(crate) fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let config = valid::config(args, &mut errors);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => {
            valid::function(&func, &mut errors);
            Some(func)
        }
        Err(e) => {
            errors.push(
                FUNCTION,
                syn::Error::new(
                    e.span(),
                    format!("`#[circuit_breaker]` goes on an `async fn` with a body ({e})"),
                ),
            );
            None
        }
    };
    match func {
        Some(func) if errors.is_empty() => generate(&config, func),
        _ => {
            let errors = errors.to_compile_errors();
            quote!(#item #errors)
        }
    }
}

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
    if let Some(d) = &config.interval {
        let d = duration(d);
        out.extend(quote!(.interval(#d)));
    }
    if let Some(d) = &config.reset_timeout {
        let d = duration(d);
        out.extend(quote!(.reset_timeout(#d)));
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

/// What the pieces of the expansion need to know about the function.
struct Context {
    /// `::async_breaker::__private`, or the same under the `crate = "..."` path.
    private: TokenStream,
    /// The return type as it may be written in expressions.
    ret: Type,
    /// Does the function take `self`?
    receiver: bool,
    /// The arguments to hand to a fallback (after the receiver).
    args: Vec<Ident>,
}

fn generate(config: &Config, func: ItemFn) -> TokenStream {
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
    let cx = Context {
        private: quote!(#krate::__private),
        ret: match &sig.output {
            ReturnType::Type(_, ty) => nameable(ty),
            // Rejected by `valid::function`; `()` keeps this total.
            ReturnType::Default => syn::parse_quote!(()),
        },
        receiver: sig.receiver().is_some(),
        args: idents,
    };
    let private = &cx.private;
    let kind = kind(&cx);
    let fake_return = fake_return(&cx);
    let init = init(config, &cx, &sig.ident.unraw().to_string());
    let (rejected, on_reject) = on_reject(config, &cx);
    let (classify, run) = classify_and_run(config, &cx);
    let stmts = &block.stmts;

    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            static __BREAKER: #private::Slot = #private::Slot::new();
            let __breaker_kind = #kind;
            #classify
            let __breaker = match __BREAKER.get_or_init(|| #init) {
                ::core::result::Result::Ok(__breaker) => __breaker,
                ::core::result::Result::Err(__breaker_error) => {
                    return __breaker_kind.error(::core::clone::Clone::clone(__breaker_error));
                }
            };
            let __breaker_permit = match __breaker.try_acquire() {
                ::core::result::Result::Ok(__breaker_permit) => __breaker_permit,
                ::core::result::Result::Err(#rejected) => return #on_reject,
            };
            let __breaker_call = async move {
                #fake_return
                #(#destructure)*
                #(#stmts)*
            };
            #run
        }
    }
}

/// The one place that checks the return type: a `Result` whose error type can hold a
/// `BreakerError` (or an `io::Result`). Spanned on the return type.
fn kind(cx: &Context) -> TokenStream {
    let Context { ret, .. } = cx;
    let at = located(error_type(ret).map_or_else(|| ret.span(), Spanned::span));
    let private = respan(cx.private.clone(), at);
    quote_spanned!(at=> #private::Select::<#ret>::new().__breaker_select())
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

/// Creates the breaker: shared by name when named, the function's own otherwise.
fn init(config: &Config, cx: &Context, fn_name: &str) -> TokenStream {
    let private = &cx.private;
    let settings = settings(config, private);
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
            return quote!(#private::shared(#private::Builder::new(#name) #settings #trip #classify));
        }
        (None, false) => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
        (None, true) => {
            quote!(#private::method_name(::core::any::type_name::<Self>(), #fn_name))
        }
    };
    quote! {
        #private::own(
            #default_name,
            |__breaker_name| #private::Builder::new(__breaker_name) #settings,
        )
    }
}

/// The pattern for the rejection, and what a rejected call returns: the fallback (spanned
/// on the `fallback = ...` path, so that a fallback that doesn't fit is an error there),
/// or the rejection as the function's error.
fn on_reject(config: &Config, cx: &Context) -> (TokenStream, TokenStream) {
    let Some(path) = &config.fallback else {
        return (
            quote!(__breaker_rejected),
            quote!(__breaker_kind.error(__breaker_rejected)),
        );
    };
    let Context { ret, .. } = cx;
    let at = located(path.span());
    let private = respan(cx.private.clone(), at);
    let callee = match (cx.receiver, path.get_ident()) {
        (true, Some(_)) => quote_spanned!(at=> Self::#path),
        _ => quote!(#path),
    };
    let receiver = cx.receiver.then(|| quote_spanned!(at=> self,));
    let args = cx.args.iter().map(|ident| {
        let mut ident = ident.clone();
        ident.set_span(at);
        ident
    });
    let fallback = quote_spanned! {at=>
        #private::fallback::<#ret, _>(#callee(#receiver #(#args),*))
    };
    // Guarded against a fallback that calls its own function again while it is open.
    let nested = &cx.private;
    (
        quote!(__breaker_rejected),
        quote!(#nested::nested_fallback(__breaker_kind, __breaker_rejected, #fallback).await),
    )
}

/// Running the admitted call. A classifier becomes a function pointer first, spanned on the
/// `classify = ...` path: a classifier of the wrong type is then one error, there.
fn classify_and_run(config: &Config, cx: &Context) -> (TokenStream, TokenStream) {
    let private = &cx.private;
    let Some(classify) = &config.classify else {
        return (
            TokenStream::new(),
            quote!(#private::run(__breaker_permit, __breaker_call, __breaker_kind).await),
        );
    };
    let Context { ret, .. } = cx;
    let at = located(classify.span());
    let private_at = respan(private.clone(), at);
    (
        quote_spanned! {at=>
            let __breaker_classify: fn(&#ret) -> #private_at::Outcome = #classify;
        },
        quote! {
            #private::run_with(
                __breaker_permit, __breaker_call, __breaker_classify, __breaker_kind,
            ).await
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        circuit_breaker(args, item).to_string()
    }

    #[test]
    fn free_function_gets_a_module_path_name_and_absolute_paths() {
        let out = expand(
            quote!(timeout = "2s", max_requests = 3),
            quote!(
                pub(crate) async fn fetch(sku: &str) -> Result<u32, E> {
                    Ok(1)
                }
            ),
        );
        assert!(out.starts_with("pub (crate) async fn fetch (sku : & str) -> Result < u32 , E >"));
        assert!(
            out.contains(":: core :: concat ! (:: core :: module_path ! () , \"::\" , \"fetch\")")
        );
        assert!(out.contains(". timeout (:: core :: time :: Duration :: new (2 , 0))"));
        assert!(out.contains(". max_requests (3)"));
        assert!(out.contains(":: async_breaker :: __private :: run (__breaker_permit"));
        assert!(!out.contains("compile_error"));
    }

    #[test]
    fn explicit_name_shares_the_breaker() {
        let out = expand(
            quote!(name = "pricing", failure_ratio = 0.5, min_requests = 4),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains(":: async_breaker :: __private :: shared (:: async_breaker :: __private :: Builder :: new (\"pricing\")"));
        assert!(out.contains("TripPolicy :: FailureRatio { ratio : 0.5 , min_requests : 4 }"));
    }

    #[test]
    fn methods_are_named_after_self_and_call_the_fallback_on_self() {
        let out = expand(
            quote!(fallback = cached, classify = classify),
            quote!(
                async fn get(&self, id: u32) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("method_name (:: core :: any :: type_name :: < Self > () , \"get\")"));
        assert!(out.contains("Self :: cached (self , id)"));
        assert!(out.contains(
            "let __breaker_classify : fn (& Result < () , E >) -> :: async_breaker :: __private :: \
             Outcome = classify ;"
        ));
        assert!(out.contains(
            "run_with (__breaker_permit , __breaker_call , __breaker_classify , __breaker_kind ,)"
        ));
    }

    #[test]
    fn patterns_are_renamed_and_destructured() {
        let out = expand(
            quote!(fallback = other::fb),
            quote!(
                async fn f((a, b): (u32, u32), _: u8, mut c: u8) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains(
            "async fn f (__breaker_arg0 : (u32 , u32) , __breaker_arg1 : u8 , mut c : u8)"
        ));
        assert!(out.contains("let (a , b) = __breaker_arg0 ;"));
        assert!(out.contains("let _ = __breaker_arg1 ;"));
        assert!(out.contains("other :: fb (__breaker_arg0 , __breaker_arg1 , c)"));
    }

    #[test]
    fn renamed_crate_is_used_everywhere() {
        let out = expand(
            quote!(crate = "my::reexport", fallback = fb),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(!out.contains(":: breaker"), "{out}");
        assert!(out.contains("my :: reexport :: __private :: fallback"));
    }

    #[test]
    fn impl_trait_in_the_return_type_is_inferred() {
        let out = expand(
            TokenStream::new(),
            quote!(
                async fn f() -> Result<impl Display, E> {
                    Ok(1)
                }
            ),
        );
        assert!(
            out.contains("Select :: < Result < _ , E > > :: new ()"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_the_function_unchanged() {
        let item = quote!(
            fn f() -> Result<(), E> {
                Ok(())
            }
        );
        let out = expand(quote!(max_requests = 0), item.clone());
        assert!(out.starts_with(&item.to_string()));
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(!out.contains("__BREAKER"));
    }

    #[test]
    fn items_that_are_not_functions() {
        let out = expand(
            TokenStream::new(),
            quote!(
                struct S;
            ),
        );
        assert!(out.starts_with("struct S ;"));
        assert!(out.contains("goes on an `async fn` with a body"));
    }

    #[test]
    fn the_error_type_is_found_in_result_only() {
        let ty = |t: TokenStream| syn::parse2::<Type>(t).unwrap();
        let error = |t| error_type(&ty(t)).map(|e| quote!(#e).to_string());
        assert_eq!(
            error(quote!(Result<u32, ShopError>)),
            Some("ShopError".into())
        );
        assert_eq!(error(quote!(std::result::Result<(), E>)), Some("E".into()));
        assert_eq!(error(quote!(io::Result<u32>)), None);
        assert_eq!(error(quote!(u32)), None);
    }

    #[test]
    fn respan_reaches_into_groups() {
        let span = Span::call_site();
        let out = respan(quote!(a::b(c, [d])), span);
        assert_eq!(out.to_string(), quote!(a::b(c, [d])).to_string());
    }
}
