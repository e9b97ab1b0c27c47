//! Collecting every error of one expansion, so that a user sees all mistakes at once.

use proc_macro2::TokenStream;

/// Where an error belongs among the others: errors about the attribute's arguments are
/// ordered by the position of the key they concern, errors about the function come last.
pub(crate) type Position = usize;

/// The position of errors about the function itself.
pub(crate) const FUNCTION: Position = Position::MAX;

/// The errors found so far.
#[derive(Default)]
pub(crate) struct Errors(Vec<(Position, syn::Error)>);

impl Errors {
    /// Records an error about the key at `position` (0 for the first key).
    pub(crate) fn push(&mut self, position: Position, error: syn::Error) {
        self.0.push((position, error));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All errors in source order, combined into one `syn::Error`.
    fn combined(&self) -> Option<syn::Error> {
        let mut sorted: Vec<&(Position, syn::Error)> = self.0.iter().collect();
        sorted.sort_by_key(|(position, _)| *position);
        sorted
            .into_iter()
            .map(|(_, e)| e.clone())
            .reduce(|mut all, e| {
                all.combine(e);
                all
            })
    }

    /// One `compile_error!` per error, each spanned on its token.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.combined()
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    /// The messages, in source order, for tests.
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.combined()
            .into_iter()
            .flat_map(IntoIterator::into_iter)
            .map(|e| e.to_string())
            .collect()
    }
}
