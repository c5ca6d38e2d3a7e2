//! One line for an error and its causes.

use std::error::Error;

/// Formats `error` and its [`source`](Error::source) chain on one line, `: `-separated.
///
/// Many errors (the AWS SDK's, `postgres::Error`) show only their top level in `Display` ("service
/// error", "db error"); the cause that says what happened is further down. A cause whose text the
/// line already contains is not repeated, and line breaks become spaces, so the result fits one
/// log line.
///
/// ```
/// use std::io;
/// let inner = io::Error::new(io::ErrorKind::Other, "connection refused");
/// let outer = io::Error::new(io::ErrorKind::Other, inner);
/// // io::Error's Display already shows its custom inner error: not repeated.
/// assert_eq!(kx_events::error_chain(&outer), "connection refused");
/// ```
pub fn error_chain(error: &(dyn Error + '_)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::error_chain;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn every_cause_once_on_one_line() {
        let e = Layer(
            "service error",
            Some(Box::new(Layer(
                "dispatch failure",
                Some(Box::new(Layer("io error:\nconnection refused", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "service error: dispatch failure: io error: connection refused"
        );
        let repeated = Layer(
            "db error: duplicate key",
            Some(Box::new(Layer("duplicate key", None))),
        );
        assert_eq!(error_chain(&repeated), "db error: duplicate key");
    }
}
