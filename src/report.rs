//! How the service's errors print with `{:?}`: the error, then each cause on its own line
//! (as `anyhow` does), so a log line or a test failure shows why, not only what.

use std::error::Error;
use std::fmt;

pub fn fmt_chain(error: &dyn Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut said = error.to_string();
    f.write_str(&said)?;
    let mut cause = error.source();
    while let Some(inner) = cause {
        // Messages that already quote their cause (`database query failed: …`) are not
        // repeated.
        let text = inner.to_string();
        if !said.contains(&text) {
            write!(f, "\n  caused by: {text}")?;
        }
        said = text;
        cause = inner.source();
    }
    Ok(())
}

/// `impl Debug` through [`fmt_chain`] for error types.
macro_rules! debug_as_chain {
    ($($error:ty),* $(,)?) => {$(
        impl std::fmt::Debug for $error {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::report::fmt_chain(self, f)
            }
        }
    )*};
}
pub(crate) use debug_as_chain;

#[cfg(test)]
mod tests {
    use crate::db::DbError;
    use crate::login::LoginError;

    #[test]
    fn debug_names_every_cause() {
        let error = LoginError::Db(DbError::Query(diesel::result::Error::NotFound));
        let printed = format!("{error:?}");
        assert!(printed.starts_with("the database failed"), "{printed}");
        assert!(
            printed.contains("caused by: database query failed: Record not found"),
            "{printed}"
        );
    }
}
