//! The process-wide order of `clientId` sources: the request's own (headers, query, body) before
//! the authorizer context, or the verified authorizer context first
//! ([`Config::with_authorizer_first`](crate::Config::with_authorizer_first), or
//! `EVENTS_AUTHORIZER_FIRST`).
//!
//! The lookups behind [`TrackingContext`](super::TrackingContext) take no configuration, so the
//! switch is process-wide: the global publisher sets it when it is installed, and until then the
//! first lookup reads `EVENTS_AUTHORIZER_FIRST`.

/// The process-wide order of `clientId` sources: unset (read `EVENTS_AUTHORIZER_FIRST` on first
/// use), request first, or authorizer first.
static ORDER: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(ORDER_UNSET);
const ORDER_UNSET: u8 = 0;
const ORDER_REQUEST_FIRST: u8 = 1;
const ORDER_AUTHORIZER_FIRST: u8 = 2;

/// Sets the order of `clientId` sources for the whole process (the global publisher's
/// [`Config::with_authorizer_first`](crate::Config::with_authorizer_first)).
pub(crate) fn set_authorizer_first(on: bool) {
    let order = if on {
        ORDER_AUTHORIZER_FIRST
    } else {
        ORDER_REQUEST_FIRST
    };
    ORDER.store(order, std::sync::atomic::Ordering::Release);
}

/// Whether the authorizer context's `clientId` wins over the request's.
pub(super) fn authorizer_first() -> bool {
    use std::sync::atomic::Ordering;
    match ORDER.load(Ordering::Acquire) {
        ORDER_UNSET => {
            let on = crate::config::authorizer_first_from_env();
            // `init` may have set it meanwhile: keep that.
            let _ = ORDER.compare_exchange(
                ORDER_UNSET,
                if on {
                    ORDER_AUTHORIZER_FIRST
                } else {
                    ORDER_REQUEST_FIRST
                },
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            ORDER.load(Ordering::Acquire) == ORDER_AUTHORIZER_FIRST
        }
        order => order == ORDER_AUTHORIZER_FIRST,
    }
}
