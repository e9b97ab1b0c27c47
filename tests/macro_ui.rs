//! Compile-time behaviour of `#[circuit_breaker]`: every diagnostic rule has a file in
//! `tests/ui/fail` with its expected `.stderr`, and every supported shape of function a
//! file in `tests/ui/pass`. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and
//! read the diff before committing.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
