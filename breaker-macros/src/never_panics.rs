//! Property tests: the attribute never panics, whatever tokens it is given. Arbitrary token
//! streams, and `key = value` lists built from real and made-up keys and every kind of
//! value, go through parsing, validation and code generation; the result must be tokens
//! (the expansion, or the function with `compile_error!`s), never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proc_macro2::TokenStream;
use proptest::prelude::*;

use crate::attr::KEYS;
use crate::expand_circuit_breaker as circuit_breaker;

/// Keys the attribute does not know, mixed in with the ones it does (`attr::KEYS`).
const MADE_UP_KEYS: &[&str] = &["timout", "self", "r#type", "a::b", ""];

const VALUES: &[&str] = &[
    "\"2s\"",
    "\"250ms\"",
    "\"1m 30s\"",
    "\"0s\"",
    "\"2x\"",
    "\"\"",
    "\"99999999999999999999999h\"",
    "0",
    "1",
    "3",
    "-1",
    "18446744073709551616",
    "0.5",
    "1.5",
    "0.0",
    "-0.0",
    "1e309",
    "NaN",
    "true",
    "'c'",
    "b\"bytes\"",
    "cached",
    "Self::cached",
    "::core::time::Duration::from_secs(2)",
    "std::time::Duration::ZERO",
    "Duration::from_millis(x)",
    "self.timeout",
    "T::TIMEOUT",
    "pick!(x, self)",
    "\"1.5s\"",
    "\" 2s\"",
    "\"2 seconds\"",
    "\"1m  30s\"",
    "\"100y\"",
    "\"2.5 s\"",
    "\"99999999999999999999999d\"",
    "\"1d 2h 3m 4s 5ms 6us 7ns\"",
    "|x| x",
    "[1, 2]",
    "(\"2s\")",
    "{ 3 }",
    "\"::async_breaker\"",
    "\"not a path!\"",
    "\"full\"",
    "\"1001ms\"",
    "1025",
    "65537",
    "2.0",
    "1e400",
    "",
];

const FUNCTIONS: &[&str] = &[
    "async fn f(x: u32) -> Result<u32, E> { Ok(x) }",
    "async fn m(&self, (a, b): (u8, u8)) -> io::Result<()> { Ok(()) }",
    "pub(crate) async fn g<T: Clone>(t: impl Into<T>) -> anyhow::Result<T> { todo() }",
    "fn not_async() -> Result<(), E> { Ok(()) }",
    "fn f<'life0, 'async_trait>(&'life0 self) -> Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'async_trait>> { todo() }",
    "const async fn c() -> Result<(), E> { Ok(()) }",
    "async fn no_return() {}",
    "struct NotAFunction;",
    "async fn f(",
    "",
];

fn item() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(FUNCTIONS)
}

/// `key = value` lists, sometimes with a separator or an `=` missing.
fn attribute() -> impl Strategy<Value = String> {
    let keys: Vec<&'static str> = KEYS.iter().chain(MADE_UP_KEYS).copied().collect();
    let pair = (
        proptest::sample::select(keys),
        proptest::sample::select(VALUES),
        0u8..10,
    )
        .prop_map(|(k, v, shape)| match shape {
            0 => k.to_owned(),
            1 => format!("{k} {v}"),
            2 => format!("{k} == {v}"),
            3 => format!("{k}({v})"),
            _ => format!("{k} = {v}"),
        });
    (proptest::collection::vec(pair, 0..8), any::<bool>())
        .prop_map(|(pairs, semicolons)| pairs.join(if semicolons { "; " } else { ", " }))
}

/// Arbitrary token streams: any text that lexes as Rust tokens.
fn tokens() -> impl Strategy<Value = TokenStream> {
    "[a-z_0-9=,;:.'\"(){}\\[\\]<>#!&|+*/ -]{0,60}"
        .prop_filter_map("does not lex", |text| text.parse::<TokenStream>().ok())
}

fn expands_without_panicking(args: TokenStream, item: TokenStream) -> Result<(), TestCaseError> {
    let expanded = catch_unwind(AssertUnwindSafe(|| circuit_breaker(args, item)));
    prop_assert!(expanded.is_ok(), "the attribute panicked");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn key_value_lists_never_panic(args in attribute(), item in item()) {
        let args: TokenStream = args.parse().unwrap_or_default();
        let item: TokenStream = item.parse().unwrap_or_default();
        expands_without_panicking(args, item)?;
    }

    #[test]
    fn arbitrary_tokens_never_panic(args in tokens(), item in tokens()) {
        expands_without_panicking(args, item)?;
    }

    #[test]
    fn arbitrary_arguments_on_a_real_function_never_panic(args in tokens(), item in item()) {
        let item: TokenStream = item.parse().unwrap_or_default();
        expands_without_panicking(args, item)?;
    }
}

#[test]
fn bad_input_is_reported_not_swallowed() {
    let args: TokenStream = "timeout = \"2x\", max_requests = 0, bogus = 1"
        .parse()
        .unwrap();
    let item: TokenStream = FUNCTIONS[0].parse().unwrap();
    let out = circuit_breaker(args, item).to_string();
    assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    assert!(
        out.contains("async fn f"),
        "the function is still emitted: {out}"
    );
}
