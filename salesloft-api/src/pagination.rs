//! One page stream for every list operation: yields items, follows
//! `metadata.paging.next_page`, and stops on a missing `paging`, a null `next_page` or an
//! empty page. At most one page is held in memory.

use crate::error::ApiError;
use crate::types::{ErrorBody, ListMetadata};
use futures_util::Stream;
use progenitor_client::ResponseValue;
use std::collections::VecDeque;
use std::future::Future;

/// A `{data: [...], metadata}` envelope (implemented for every list envelope of the spec).
pub trait ListEnvelope {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<ListMetadata>);
}

/// The page after this one, if the metadata says there is one.
pub fn next_page(metadata: Option<&ListMetadata>) -> Option<i64> {
    metadata?.paging.as_ref()?.next_page
}

/// Every item of a list, page after page. `fetch(page)` sends the list request for that page:
///
/// ```no_run
/// # async fn f(client: salesloft_api::Client) -> Result<(), salesloft_api::ApiError> {
/// use futures::TryStreamExt;
/// let people = salesloft_api::pagination::items(|page| client.list_people().per_page(100).page(page).send());
/// futures::pin_mut!(people);
/// while let Some(person) = people.try_next().await? {
///     println!("{:?}", person.email_address);
/// }
/// # Ok(()) }
/// ```
pub fn items<E, F, Fut>(fetch: F) -> impl Stream<Item = Result<E::Item, ApiError>>
where
    E: ListEnvelope,
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<ResponseValue<E>, progenitor_client::Error<ErrorBody>>>,
{
    struct State<F, T> {
        fetch: F,
        next: Option<i64>,
        buffer: VecDeque<T>,
    }
    let state = State {
        fetch,
        next: Some(1),
        buffer: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.buffer.pop_front() {
                return Some((Ok(item), state));
            }
            let page = state.next.take()?;
            match (state.fetch)(page).await {
                Err(e) => return Some((Err(ApiError::from(e)), state)),
                Ok(response) => {
                    let (data, metadata) = response.into_inner().into_parts();
                    if !data.is_empty() {
                        // A service that repeats a page number would loop: only go forward.
                        state.next = next_page(metadata.as_ref()).filter(|n| *n > page);
                    }
                    state.buffer = data.into();
                }
            }
        }
    })
}
